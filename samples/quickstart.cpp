#include <tilejit/tilejit.h>

#include <iostream>

int main() {
  tj::manual_seed(0);
  tj::Tensor x = tj::randn({4, 8});
  tj::Tensor w = tj::randn({3, 8});
  tj::Tensor b = tj::zeros({3});

  // Traced, not computed yet.
  tj::Tensor y = tj::softmax(tj::gelu(tj::linear(x, w, b)) * 0.5f, -1);

  // Reading a value computes everything it depends on.
  std::cout << y << "\n";
  std::cout << "row sums: " << y.sum({1}) << "\n";
  std::cout << "argmax of row 0: " << y.argmax(1).to_vector<int64_t>()[0] << "\n";
}
