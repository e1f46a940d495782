// Real programs: every flush they make, in lazy and in eager mode, computes
// what the reference evaluator computes for its graph.
#include <gtest/gtest.h>

#include <functional>

#include "check_flush.h"
#include "test_util.h"

namespace tj {
namespace {

using Program = std::function<std::vector<Tensor>()>;

struct Case {
  const char* name;
  Program run;
};

std::vector<Tensor> softmax_program() {
  manual_seed(1);
  Tensor x = randn({16, 33}) * 3;
  return {softmax(x, -1), log_softmax(x, 0)};
}

std::vector<Tensor> layer_norm_program() {
  manual_seed(2);
  Tensor x = randn({4, 8, 32});
  Tensor w = rand({32}) + 0.5, b = randn({32});
  return {layer_norm(x, {32}, w, b), layer_norm(x, {8, 32}), rms_norm(x, {32}, w)};
}

std::vector<Tensor> mlp_program() {
  manual_seed(3);
  Tensor x = randn({8, 64});
  Tensor w1 = randn({128, 64}) * 0.125, b1 = randn({128}) * 0.1;
  Tensor w2 = randn({10, 128}) * 0.088, b2 = randn({10}) * 0.1;
  Tensor h = gelu(linear(x, w1, b1), "tanh");
  h = layer_norm(h, {128});
  Tensor logits = linear(h, w2, b2);
  return {softmax(logits, -1), argmax(logits, 1), logits.mean(), logits.std({0})};
}

std::vector<Tensor> in_place_loop_program() {
  manual_seed(4);
  Tensor p = randn({32, 16});
  Tensor v = zeros({32, 16});
  Tensor g = randn({32, 16});
  for (int step = 0; step < 50; ++step) {  // SGD with momentum on a quadratic
    Tensor grad = p * 0.1 + g * 0.01;
    v *= 0.9;
    v += grad;
    p -= v * 0.05;
  }
  return {p, v, (p * p).sum()};
}

std::vector<Tensor> mixed_dtype_program() {
  Tensor i = arange(0, 24).reshape({2, 3, 4});
  Tensor h = (i.cast(f16) * 0.25).permute({2, 0, 1});
  Tensor m = where(h > 1.0, h, -h).cast(bf16);
  return {m, sum(i, {0, 2}), (i % 5 == 0).cast(i32).sum(), cat({m.cast(f32), h.cast(f32)}, 1)};
}

class ProgramsTest : public ::testing::TestWithParam<Case> {};

TEST_P(ProgramsTest, EveryFlushMatchesTheReference) {
  for (bool lazy : {true, false}) {
    testing::CheckEveryFlush check;
    ConfigGuard g;
    g->lazy = lazy;
    std::vector<Tensor> outs = GetParam().run();
    for (const Tensor& t : outs) t.eval();
    EXPECT_GT(check.flushes, 0) << (lazy ? "lazy" : "eager");
    EXPECT_GT(check.elements, 0) << (lazy ? "lazy" : "eager");
    // Eager mode computes every op on its own: many more flushes.
    if (!lazy) {
      EXPECT_GE(check.flushes, static_cast<int>(outs.size()));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Programs, ProgramsTest,
                         ::testing::Values(Case{"softmax", softmax_program},
                                           Case{"layer_norm", layer_norm_program},
                                           Case{"mlp", mlp_program},
                                           Case{"in_place_loop", in_place_loop_program},
                                           Case{"mixed_dtypes", mixed_dtype_program}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ProgramsTest, SoftmaxRowsSumToOne) {
  manual_seed(5);
  Tensor p = softmax(randn({8, 100}) * 10, 1);
  EXPECT_TRUE(testing::all_close(p.sum({1}), std::vector<double>(8, 1.0), 1e-5, 1e-6));
}

TEST(ProgramsTest, RandomStreamsAreReproducible) {
  manual_seed(123);
  auto a = rand({1000}).to_vector<double>();
  auto b = randn({1000}).to_vector<double>();
  manual_seed(123);
  EXPECT_EQ(rand({1000}).to_vector<double>(), a);
  EXPECT_EQ(randn({1000}).to_vector<double>(), b);
  double mean = 0, var = 0;
  for (double v : b) mean += v / 1000;
  for (double v : b) var += (v - mean) * (v - mean) / 999;
  EXPECT_NEAR(mean, 0, 0.1);
  EXPECT_NEAR(var, 1, 0.15);
  for (double v : a) {
    EXPECT_GE(v, 0);
    EXPECT_LT(v, 1);
  }
}

}  // namespace
}  // namespace tj
