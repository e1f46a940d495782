// A two-layer MLP forward pass on random input: linear → gelu → layer_norm →
// linear → softmax, followed by a few reductions over the result.
#include <tilejit/tilejit.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>

namespace {

// y = x @ w^T + b, with weights scaled by 1/sqrt(in) as a trained layer would be.
struct Linear {
  tj::Tensor w;
  tj::Tensor b;

  Linear(int64_t in, int64_t out)
      : w(tj::randn({out, in}) * (1.0 / std::sqrt(static_cast<double>(in)))),
        b(tj::randn({out}) * 0.1) {}

  tj::Tensor operator()(const tj::Tensor& x) const { return tj::linear(x, w, b); }
};

std::string shape_str(const tj::Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

int main() {
  try {
    const int64_t batch = 8, in = 64, hidden = 128, classes = 10;
    tj::manual_seed(42);
    Linear fc1(in, hidden);
    Linear fc2(hidden, classes);
    tj::Tensor ln_weight = tj::ones({hidden});
    tj::Tensor ln_bias = tj::zeros({hidden});

    tj::Tensor x = tj::randn({batch, in});
    tj::Tensor h = tj::layer_norm(tj::gelu(fc1(x)), {hidden}, ln_weight, ln_bias);
    tj::Tensor logits = fc2(h);
    tj::Tensor probs = tj::softmax(logits, -1);

    std::cout << "device: " << tj::default_device() << "\n";
    std::cout << "probs: " << shape_str(probs.shape()) << " " << probs.dtype() << "\n";
    std::cout << "first 3 rows:\n" << probs.slice(0, 0, 3) << "\n";
    std::cout << "row sums (all 1): " << probs.sum({1}) << "\n";
    std::cout << "predicted class: " << tj::argmax(probs, 1) << "\n";
    std::cout << "hidden mean " << h.mean().item<float>() << ", std " << h.std().item<float>()
              << "\n";
    std::cout << "largest logit: " << logits.max().item<float>() << "\n";

    tj::Stats s = tj::stats();
    std::cout << "ops traced: " << s.ops_traced << ", flushes: " << s.flushes << "\n";
  } catch (const tj::Error& e) {
    std::cerr << "demo: " << e.what() << "\n";
    return 1;
  }
}
