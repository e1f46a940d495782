// Trains a 3-layer MLP classifier on two interleaved spirals the program
// makes itself, with AdamW, cross_entropy, autocast (bf16 GEMMs) and a
// GradScaler, all written as eager C++. tilejit traces each training step
// (forward, backward, update) into one graph, fuses it and replays the
// compiled plan from the third step on. It prints the loss per epoch, the
// final accuracy, and the time per step lazily (traced) and eagerly (one
// kernel per op), and exits non-zero if the model did not learn.
//
// Usage: train_mlp [epochs] [points]
#include <tilejit/tilejit.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace {

struct Data {
  tj::Tensor x, y;  // [n, 2] f32, [n] i64
  std::vector<int64_t> labels;
};

/// Two spirals, one per class, with a little noise.
Data spirals(int64_t n) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.08f);
  std::vector<float> xs;
  Data d;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 2;
    const float t = 0.5f + 3.0f * static_cast<float>(i / 2) / static_cast<float>(n / 2);
    const float a = t * 2.2f + static_cast<float>(c) * 3.14159265f;
    xs.push_back(t * std::cos(a) / 3.5f + noise(rng));
    xs.push_back(t * std::sin(a) / 3.5f + noise(rng));
    d.labels.push_back(c);
  }
  d.x = tj::from_vector(xs, {n, 2});
  d.y = tj::from_vector(d.labels);
  return d;
}

struct Mlp {
  tj::Tensor w1, b1, w2, b2, w3, b3;
  std::vector<tj::Tensor> parameters() const { return {w1, b1, w2, b2, w3, b3}; }
  tj::Tensor operator()(const tj::Tensor& x) const {
    tj::Tensor h = tj::relu(tj::linear(x, w1, b1));
    h = tj::gelu(tj::linear(h, w2, b2));
    return tj::linear(h, w3, b3);
  }
};

Mlp make_mlp(int64_t hidden) {
  tj::manual_seed(1);
  auto param = [](tj::Shape s) {
    const double fan_in = static_cast<double>(s[1]);
    return (tj::randn(s) * std::sqrt(2.0 / fan_in)).eval().requires_grad_();
  };
  auto bias = [](int64_t n) { return tj::zeros({n}).requires_grad_(); };
  return {param({hidden, 2}), bias(hidden),       param({hidden, hidden}),
          bias(hidden),       param({2, hidden}), bias(2)};
}

struct Run {
  double first_loss = 0, last_loss = 0, accuracy = 0, ms_per_step = 0;
};

Run train(const Data& d, int epochs, bool lazy, bool print) {
  tj::ConfigGuard cfg;
  cfg->lazy = lazy;
  Mlp net = make_mlp(64);
  tj::optim::AdamW opt(net.parameters(), tj::optim::AdamWOptions(0.01).weight_decay(1e-4));
  tj::GradScaler scaler;
  Run r;
  double ms = 0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    opt.zero_grad();
    tj::Tensor loss;
    {
      tj::autocast guard(tj::bf16);  // GEMMs in bf16, softmax and the loss in f32
      loss = tj::cross_entropy(net(d.x), d.y);
    }
    scaler.scale(loss).backward();
    scaler.step(opt);  // reads the inf/NaN check: the step's flush
    scaler.update();
    const double l = loss.item<double>();
    const double step_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (epoch >= 3) ms += step_ms;  // after the compiles
    if (epoch == 0) r.first_loss = l;
    r.last_loss = l;
    if (print && (epoch % 25 == 0 || epoch == epochs - 1))
      std::printf("epoch %4d  loss %.4f  (%.2f ms)\n", epoch, l, step_ms);
  }
  r.ms_per_step = ms / std::max(1, epochs - 3);
  tj::NoGradGuard no_grad;
  std::vector<int64_t> pred = net(d.x).argmax(1).to_vector<int64_t>();
  int64_t right = 0;
  for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == d.labels[i];
  r.accuracy = static_cast<double>(right) / static_cast<double>(pred.size());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const int epochs = argc > 1 ? std::atoi(argv[1]) : 300;
  const int64_t points = argc > 2 ? std::atoll(argv[2]) : 1024;
  if (epochs < 4 || points < 4) {
    std::fprintf(stderr, "usage: train_mlp [epochs >= 4] [points >= 4]\n");
    return 2;
  }
  const Data d = spirals(points);
  std::printf("two spirals, %lld points, MLP 2-64-64-2, AdamW, bf16 autocast, GradScaler\n",
              static_cast<long long>(points));
  const Run lazy = train(d, epochs, /*lazy=*/true, /*print=*/true);
  const Run eager = train(d, std::min(epochs, 20), /*lazy=*/false, /*print=*/false);
  std::printf("accuracy %.1f%%  loss %.4f -> %.4f\n", 100 * lazy.accuracy, lazy.first_loss,
              lazy.last_loss);
  std::printf("per step: lazy %.2f ms, eager %.2f ms (%.1fx)\n", lazy.ms_per_step,
              eager.ms_per_step, eager.ms_per_step / lazy.ms_per_step);
  const bool learned = lazy.accuracy > 0.9 && lazy.last_loss < 0.5 * lazy.first_loss;
  if (!learned) std::printf("the model did not learn the spirals\n");
  return learned ? 0 : 1;
}
