// A small CIFAR-10-shaped convolutional network on random weights: three
// blocks of conv2d (3x3, padding 1) -> batch_norm (evaluation, running
// statistics) -> relu -> max_pool2d (2x2), then a linear classifier over the
// flattened 4x4 maps. It runs a synthetic batch of 32x32 RGB images lazily
// (traced and fused) and eagerly (one kernel per op), checks both against a
// plain loop written here in double precision, and prints images/s for each.
//
// Usage: cnn [batch] [iterations]
#include <tilejit/tilejit.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

struct Block {
  tj::Tensor w, b, mean, var, gamma, beta;  // conv [O, C, 3, 3] and batch-norm parameters
};

struct Net {
  std::vector<Block> blocks;
  tj::Tensor fc_w, fc_b;  // [10, 128 * 4 * 4]
};

Net make_net() {
  Net n;
  int64_t c = 3;
  for (int64_t o : {32, 64, 128}) {
    Block b;
    b.w = tj::randn({o, c, 3, 3}) * (1.0 / std::sqrt(9.0 * static_cast<double>(c)));
    b.b = tj::randn({o}) * 0.1;
    b.mean = tj::randn({o}) * 0.1;
    b.var = tj::rand({o}) + 0.5;
    b.gamma = tj::rand({o}) + 0.5;
    b.beta = tj::randn({o}) * 0.1;
    n.blocks.push_back(b);
    c = o;
  }
  n.fc_w = tj::randn({10, 128 * 16}) * (1.0 / std::sqrt(128.0 * 16));
  n.fc_b = tj::randn({10}) * 0.1;
  return n;
}

tj::Tensor forward(const Net& n, tj::Tensor x) {
  for (const Block& b : n.blocks) {
    x = tj::conv2d(x, b.w, b.b, {1}, {1});
    x = tj::relu(tj::batch_norm(x, b.mean, b.var, b.gamma, b.beta));
    x = tj::max_pool2d(x, {2});
  }
  return tj::linear(x.flatten(1), n.fc_w, n.fc_b);
}

// ---- the same network as plain loops ----------------------------------------------
using Vec = std::vector<double>;

Vec values(const tj::Tensor& t) { return t.to_vector<double>(); }

Vec reference(const Net& n, Vec x, int64_t batch) {
  int64_t c = 3, hw = 32;
  for (const Block& blk : n.blocks) {
    const Vec w = values(blk.w), b = values(blk.b), m = values(blk.mean), v = values(blk.var),
              g = values(blk.gamma), be = values(blk.beta);
    const int64_t o = blk.w.shape()[0];
    Vec y(static_cast<size_t>(batch * o * hw * hw));
    for (int64_t i = 0; i < batch; ++i)
      for (int64_t k = 0; k < o; ++k)
        for (int64_t r = 0; r < hw; ++r)
          for (int64_t s = 0; s < hw; ++s) {
            double acc = b[k];
            for (int64_t ch = 0; ch < c; ++ch)
              for (int64_t p = 0; p < 3; ++p)
                for (int64_t q = 0; q < 3; ++q) {
                  const int64_t h = r + p - 1, ww = s + q - 1;
                  if (h < 0 || h >= hw || ww < 0 || ww >= hw) continue;
                  acc += x[((i * c + ch) * hw + h) * hw + ww] * w[((k * c + ch) * 3 + p) * 3 + q];
                }
            acc = (acc - m[k]) / std::sqrt(v[k] + 1e-5) * g[k] + be[k];
            y[((i * o + k) * hw + r) * hw + s] = std::max(acc, 0.0);
          }
    const int64_t h2 = hw / 2;
    Vec z(static_cast<size_t>(batch * o * h2 * h2));
    for (int64_t i = 0; i < batch * o; ++i)
      for (int64_t r = 0; r < h2; ++r)
        for (int64_t s = 0; s < h2; ++s) {
          double mx = -INFINITY;
          for (int64_t p = 0; p < 2; ++p)
            for (int64_t q = 0; q < 2; ++q)
              mx = std::max(mx, y[(i * hw + 2 * r + p) * hw + 2 * s + q]);
          z[(i * h2 + r) * h2 + s] = mx;
        }
    x = std::move(z);
    c = o;
    hw = h2;
  }
  const Vec w = values(n.fc_w), b = values(n.fc_b);
  const int64_t f = c * hw * hw;
  Vec out;
  for (int64_t i = 0; i < batch; ++i)
    for (int64_t k = 0; k < 10; ++k) {
      double acc = b[k];
      for (int64_t j = 0; j < f; ++j) acc += x[i * f + j] * w[k * f + j];
      out.push_back(acc);
    }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t batch = argc > 1 ? std::atoll(argv[1]) : 32;
  const int iters = argc > 2 ? std::atoi(argv[2]) : 10;
  if (batch < 1 || iters < 1) {
    std::cerr << "usage: cnn [batch >= 1] [iterations >= 1]\n";
    return 2;
  }
  tj::manual_seed(7);
  const Net net = make_net();
  const tj::Tensor images = tj::randn({batch, 3, 32, 32});
  const Vec want = reference(net, values(images), batch);
  double scale = 0;
  for (double v : want) scale = std::max(scale, std::fabs(v));

  bool ok = true;
  for (bool lazy : {true, false}) {
    tj::ConfigGuard g;
    g->lazy = lazy;
    Vec got = values(forward(net, images));  // warm-up: compiles the kernels
    double err = 0;
    for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::fabs(got[i] - want[i]));
    const auto t0 = std::chrono::steady_clock::now();
    for (int it = 0; it < iters; ++it) got = values(forward(net, images));
    const double s = seconds_since(t0) / iters;
    std::cout << (lazy ? "lazy " : "eager") << ": " << static_cast<int64_t>(batch / s)
              << " images/s (" << s * 1e3 << " ms per batch of " << batch
              << "), max error vs the loop " << err << " (of " << scale << ")\n";
    if (!(err <= 1e-4 * std::max(scale, 1.0))) ok = false;
  }
  if (!ok) {
    std::cerr << "cnn: tilejit's output differs from the plain loop\n";
    return 1;
  }
  return 0;
}
