// Child program for observability_test: runs a known workload so the test
// can read what TILEJIT_TRACE, TILEJIT_DUMP_DIR, TILEJIT_TIMELINE and
// TILEJIT_STATS produce (set by the test in the environment).
//
//   observability_child chain     8 pointwise ops on one tensor, then a host read
//   observability_child reasons   one flush of each reason: host read, sync,
//                                 trace limit, eager
//   observability_child located   a softmax and two pointwise ops in one flush;
//                                 prints the source lines of the calls
//   observability_child refused   a computed matmul operand (fusion refuses to
//                                 inline it) and a reduction used twice
//   observability_child matmuls   three linear layers of different sizes
//   observability_child three     one flush of three kernels: a softmax, a
//                                 pointwise chain, a sum
//   observability_child one       the softmax of `three` alone
#include <cstdio>
#include <string>

#include "tilejit/tilejit.h"

namespace {

void chain() {
  tj::Tensor x = tj::from_vector(std::vector<float>(1000, 0.5f));
  for (int i = 0; i < 8; ++i) x = tj::sin(x);
  std::printf("%.6f\n", x.to_vector<float>()[0]);
}

void reasons() {
  tj::Tensor x = tj::from_vector(std::vector<float>(64, 0.25f));
  tj::Tensor a = tj::sin(x) * 2.0;
  std::printf("%.6f\n", a.to_vector<float>()[0]);  // host read
  tj::Tensor b = tj::cos(x);
  tj::sync();  // sync
  {
    tj::ConfigGuard g;
    g->max_trace = 3;
    tj::Tensor c = x;
    for (int i = 0; i < 5; ++i) c = tj::exp(c) * 0.5;  // trace limit
    tj::sync();
  }
  {
    tj::ConfigGuard g;
    g->lazy = false;
    tj::Tensor d = tj::tanh(x);  // eager
    std::printf("%.6f\n", d.to_vector<float>()[0]);
  }
}

void located() {
  tj::Tensor x = tj::from_vector(std::vector<float>(256, 0.5f)).reshape({16, 16});
  tj::Tensor y = tj::exp(x);  // each op and the line that called it
  const int exp_line = __LINE__ - 1;
  tj::Tensor z = y * 3.0;
  const int mul_line = __LINE__ - 1;
  tj::Tensor s = tj::softmax(z, -1);
  const int softmax_line = __LINE__ - 1;
  std::printf("%.6f\n", s.to_vector<float>()[0]);
  std::printf("lines exp=%d mul=%d softmax=%d\n", exp_line, mul_line, softmax_line);
}

void refused() {
  tj::Tensor x = tj::from_vector(std::vector<float>(64, 0.5f)).reshape({8, 8});
  tj::Tensor y = tj::matmul(tj::exp(x), x);  // exp(x) must be written for the GEMM
  tj::Tensor u;
  {
    tj::Tensor s = x.sum({1}, true);  // no handle left at the flush: not an output
    u = (x - s).t() * 2.0 + s.t();    // the sum, through a transpose
  }
  std::printf("%.6f %.6f\n", y.to_vector<float>()[0], u.to_vector<float>()[0]);
}

void matmuls() {
  for (int64_t n : {8, 16, 24}) {
    tj::Tensor x = tj::full({n, 32}, 0.5f), w = tj::full({n, 32}, 0.25f), b = tj::full({n}, 1.0f);
    std::printf("%.6f\n", tj::relu(tj::linear(x, w, b)).to_vector<float>()[0]);
  }
}

tj::Tensor softmax_part() {
  return tj::softmax(tj::from_vector(std::vector<float>(24 * 40, 0.5f)).reshape({24, 40}), -1);
}

void three() {
  tj::Tensor a = softmax_part();
  tj::Tensor b = tj::sin(tj::from_vector(std::vector<float>(77, 0.25f))) * 2.0;
  tj::Tensor c = tj::from_vector(std::vector<float>(300, 1.0f)).sum();
  tj::sync();
  std::printf("%.6f %.6f %.6f\n", a.to_vector<float>()[0], b.to_vector<float>()[0],
              c.item<float>());
}

void one() { std::printf("%.6f\n", softmax_part().to_vector<float>()[0]); }

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "chain";
  if (mode == "chain") {
    chain();
  } else if (mode == "reasons") {
    reasons();
  } else if (mode == "located") {
    located();
  } else if (mode == "refused") {
    refused();
  } else if (mode == "matmuls") {
    matmuls();
  } else if (mode == "three") {
    three();
  } else if (mode == "one") {
    one();
  } else {
    std::fprintf(stderr,
                 "usage: observability_child chain|reasons|located|refused|matmuls|three|one\n");
    return 2;
  }
  return 0;
}
