// A model served to requests of any batch size: warm up once, then serve
// without compiling.
//
//   serve [requests]
//
// The model (a 2-layer MLP classifier) is warmed up with batches of 1, 8 and
// 16 rows: the first two sizes of its structure make its plan dynamic, so a
// request of any other size is planned and compiled from nothing. Exits 1 if
// serving compiled or scheduled anything.
#include <tilejit/tilejit.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace {

struct Model {
  tj::Tensor w1 = tj::randn({128, 64}) * 0.125, b1 = tj::zeros({128});
  tj::Tensor w2 = tj::randn({10, 128}) * 0.09, b2 = tj::zeros({10});
  tj::Tensor operator()(const tj::Tensor& x) const {
    return tj::softmax(tj::linear(tj::gelu(tj::linear(x, w1, b1)), w2, b2), -1);
  }
};

/// A request's input as it arrives: rows of 64 features from outside tilejit.
tj::Tensor request(int64_t rows, std::mt19937& rng) {
  std::normal_distribution<float> feature;
  std::vector<float> data(static_cast<size_t>(rows * 64));
  for (float& v : data) v = feature(rng);
  return tj::from_vector(data, {rows, 64});
}

}  // namespace

int main(int argc, char** argv) {
  const int requests = argc > 1 ? std::atoi(argv[1]) : 40;
  tj::manual_seed(0);
  Model model;
  for (tj::Tensor* p : {&model.w1, &model.b1, &model.w2, &model.b2}) p->eval();

  // One request: the class probabilities, reduced to one number to print.
  auto answer = [&](const tj::Tensor& x) { return model(x).sum(); };
  auto step = [&](const std::vector<tj::Tensor>& in) {
    return std::vector<tj::Tensor>{answer(in[0])};
  };
  std::mt19937 rng(7);
  std::vector<std::vector<tj::Tensor>> examples;
  for (int64_t rows : {1, 8, 16}) examples.push_back({request(rows, rng)});
  const tj::WarmupReport w = tj::warmup(step, examples);
  std::printf(
      "warm-up: %lld plans, %lld kernels compiled, %lld from the disk cache, %lld made "
      "dynamic, %.0f ms\n",
      static_cast<long long>(w.plans), static_cast<long long>(w.kernels_compiled),
      static_cast<long long>(w.kernels_from_disk), static_cast<long long>(w.dynamic_compiles),
      w.ms);

  std::uniform_int_distribution<int64_t> batch(1, 96);
  const tj::Stats before = tj::stats();
  const auto t0 = std::chrono::steady_clock::now();
  double checksum = 0;
  for (int r = 0; r < requests; ++r) {
    checksum += answer(request(batch(rng), rng)).item<double>();
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const tj::Stats after = tj::stats();
  const long long plans = after.plan_misses - before.plan_misses;
  const long long compiled = (after.kernels_compiled - before.kernels_compiled) +
                             (after.cache_disk_hits - before.cache_disk_hits);
  std::printf(
      "served %d requests of 1..96 rows in %.1f ms: %lld plans scheduled, %lld kernels "
      "compiled or loaded (rows sum to %.1f)\n",
      requests, ms, plans, compiled, checksum);
  return plans == 0 && compiled == 0 ? 0 : 1;
}
