// Autograd (tilejit/autograd.h): every differentiable op's gradient against
// central finite differences in f64, on the CPU end to end; the rules of
// requires_grad, backward, accumulation, retain_graph, NoGradGuard, detach
// and in-place updates; and a training step (forward, backward, update)
// traced as one graph that later iterations replay.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "test_util.h"
#include "tilejit/tilejit.h"

namespace tj {
namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradCase {
  std::string name;
  std::vector<Shape> shapes;  // the differentiated inputs (f64)
  Fn f;
  double lo = -1.5, hi = 1.5;  // input values are drawn from [lo, hi]
};

std::vector<Tensor> make_inputs(const std::vector<std::vector<double>>& vals,
                                const std::vector<Shape>& shapes, bool grad) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < shapes.size(); ++i) {
    in.push_back(testing::make(vals[i], shapes[i], f64));
    if (grad) in.back().requires_grad_();
  }
  return in;
}

/// L = sum(f(x) * w) for fixed random weights w: d L / d x against central
/// differences, every element of every input.
void check_gradients(const GradCase& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(c.lo, c.hi);
  std::vector<std::vector<double>> vals;
  for (const Shape& s : c.shapes) {
    std::vector<double> v(static_cast<size_t>(testing::numel_of(s)));
    for (double& x : v) x = u(rng);
    vals.push_back(std::move(v));
  }
  Tensor probe = c.f(make_inputs(vals, c.shapes, false));
  std::uniform_real_distribution<double> uw(-1, 1);
  std::vector<double> wv(static_cast<size_t>(probe.numel()));
  for (double& x : wv) x = uw(rng);
  const Tensor w = testing::make(wv, probe.shape(), f64);
  auto loss = [&](const std::vector<Tensor>& in) { return (c.f(in).cast(f64) * w).sum(); };

  std::vector<Tensor> in = make_inputs(vals, c.shapes, true);
  Tensor l = loss(in);
  ASSERT_TRUE(l.requires_grad()) << c.name;
  l.backward();
  const double eps = 1e-6;
  for (size_t i = 0; i < in.size(); ++i) {
    const Tensor& g = in[i].grad();
    if (vals[i].empty()) {
      if (g.defined()) {
        EXPECT_EQ(g.numel(), 0) << c.name;
      }
      continue;
    }
    ASSERT_TRUE(g.defined()) << c.name << ": input " << i << " got no gradient";
    ASSERT_EQ(g.shape(), c.shapes[i]) << c.name;
    ASSERT_EQ(g.dtype(), f64) << c.name;
    const std::vector<double> got = g.to_vector<double>();
    for (size_t j = 0; j < vals[i].size(); ++j) {
      std::vector<std::vector<double>> plus = vals, minus = vals;
      plus[i][j] += eps;
      minus[i][j] -= eps;
      const double lp = loss(make_inputs(plus, c.shapes, false)).item<double>();
      const double lm = loss(make_inputs(minus, c.shapes, false)).item<double>();
      const double want = (lp - lm) / (2 * eps);
      EXPECT_NEAR(got[j], want, 1e-6 + 1e-5 * std::abs(want))
          << c.name << ": input " << i << " element " << j;
    }
  }
}

Tensor index_i64(const std::vector<int64_t>& v, const Shape& s) { return from_vector(v, s); }

std::vector<GradCase> cases() {
  std::vector<GradCase> c;
  auto unary = [&](std::string name, Tensor (*fn)(const Tensor&), double lo = -1.5,
                   double hi = 1.5) {
    c.push_back({name, {{3, 4}}, [fn](const std::vector<Tensor>& x) { return fn(x[0]); }, lo, hi});
  };
  // Unary math, each row of the op table.
  unary("exp", exp);
  unary("exp2", exp2);
  unary("log", log, 0.2, 3);
  unary("log2", log2, 0.2, 3);
  unary("log1p", log1p, -0.5, 3);
  unary("expm1", expm1);
  unary("sqrt", sqrt, 0.2, 3);
  unary("rsqrt", rsqrt, 0.2, 3);
  unary("sin", sin);
  unary("cos", cos);
  unary("atan", atan);
  unary("tanh", tanh);
  unary("sigmoid", sigmoid);
  unary("silu", silu);
  unary("erf", erf);
  unary("abs", abs);
  unary("relu", relu);
  unary("reciprocal", reciprocal, 0.3, 2);
  unary("square", square);
  unary("neg", [](const Tensor& x) { return -x; });
  unary("floor", [](const Tensor& x) { return floor(x) + x; });
  c.push_back({"gelu_erf", {{5, 3}}, [](auto& x) { return gelu(x[0]); }});
  c.push_back({"gelu_tanh", {{5, 3}}, [](auto& x) { return gelu(x[0], "tanh"); }});
  // Binary, with broadcasting (a size-1 dim and a missing leading dim).
  c.push_back({"add_broadcast", {{3, 1, 4}, {5, 1}}, [](auto& x) { return x[0] + x[1]; }});
  c.push_back({"sub_broadcast", {{3, 4}, {4}}, [](auto& x) { return x[0] - x[1]; }});
  c.push_back({"mul_broadcast", {{2, 3, 4}, {3, 1}}, [](auto& x) { return x[0] * x[1]; }});
  c.push_back({"div", {{3, 4}, {1, 4}}, [](auto& x) { return x[0] / (x[1] * x[1] + 0.5); }});
  c.push_back({"scalar_ops", {{6}}, [](auto& x) {
                 return (x[0] * 3.0 - 1.0) / 2.0 + 4.0 / (x[0] * x[0] + 1.0);
               }});
  c.push_back({"pow", {{3, 4}, {3, 4}}, [](auto& x) { return pow(x[0], x[1]); }, 0.3, 2});
  c.push_back({"pow_scalar", {{3, 4}}, [](auto& x) { return pow(x[0], 3.0); }});
  c.push_back({"maximum", {{3, 4}, {4}}, [](auto& x) { return maximum(x[0], x[1]); }});
  c.push_back({"minimum", {{3, 4}, {3, 4}}, [](auto& x) { return minimum(x[0], x[1]); }});
  c.push_back({"atan2", {{3, 4}, {3, 4}}, [](auto& x) { return atan2(x[0], x[1]); }});
  c.push_back({"remainder", {{3, 4}}, [](auto& x) { return remainder(x[0] * 3.0, 0.7); }});
  c.push_back({"where", {{3, 4}, {3, 4}}, [](auto& x) {
                 return where(x[0] > x[1], x[0] * 2.0, x[1] * x[1]);
               }});
  c.push_back(
      {"masked_fill", {{4, 4}}, [](auto& x) { return x[0].masked_fill(x[0] < 0, -1.0) * x[0]; }});
  c.push_back({"tril", {{4, 5}}, [](auto& x) { return tril(x[0]) + triu(x[0], 2) * 3.0; }});
  // Reductions.
  c.push_back({"sum_axes", {{3, 4, 5}}, [](auto& x) { return x[0].sum({0, 2}); }});
  c.push_back({"sum_all", {{3, 4}}, [](auto& x) { return x[0].sum(); }});
  c.push_back({"mean_keepdim", {{3, 4}}, [](auto& x) { return x[0].mean({1}, true) * x[0]; }});
  c.push_back({"prod", {{3, 4}}, [](auto& x) { return x[0].prod({1}); }});
  c.push_back({"max_axis", {{3, 5}}, [](auto& x) { return x[0].max({1}); }});
  c.push_back({"min_all", {{3, 5}}, [](auto& x) { return x[0].min(); }});
  c.push_back({"var", {{4, 6}}, [](auto& x) { return x[0].var({1}); }});
  c.push_back({"std", {{4, 6}}, [](auto& x) { return x[0].std({0}, false); }});
  c.push_back({"logsumexp", {{3, 7}}, [](auto& x) {
                 Tensor m = x[0].max({1}, true);
                 return log(exp(x[0] - m).sum({1})) + m.squeeze(1);
               }});
  // Rows.
  c.push_back({"softmax", {{4, 6}}, [](auto& x) { return softmax(x[0], -1); }});
  c.push_back({"log_softmax", {{4, 6}}, [](auto& x) { return log_softmax(x[0], 0); }});
  c.push_back({"layer_norm", {{4, 6}, {6}, {6}}, [](auto& x) {
                 return layer_norm(x[0], {6}, x[1], x[2]);
               }});
  c.push_back({"rms_norm", {{4, 6}, {6}}, [](auto& x) { return rms_norm(x[0], {6}, x[1]); }});
  // Movement.
  c.push_back({"reshape_permute", {{2, 3, 4}}, [](auto& x) {
                 return x[0].reshape({6, 4}).t().permute({1, 0}) * 2.0;
               }});
  c.push_back({"expand", {{3, 1}}, [](auto& x) { return x[0].expand({3, 5}) * 1.0; }});
  c.push_back(
      {"slice_step", {{7, 6}}, [](auto& x) { return x[0].slice(0, 1, 7, 2).slice(1, 0, 5, 3); }});
  c.push_back(
      {"narrow_select", {{4, 5}}, [](auto& x) { return x[0].narrow(1, 1, 3).select(0, 2); }});
  c.push_back({"cat_stack", {{2, 3}, {4, 3}}, [](auto& x) {
                 return cat({x[0], x[1], x[0]}, 0) + stack({x[1], x[1]}).sum({0}).slice(0, 0, 1);
               }});
  c.push_back({"flip_roll_repeat", {{3, 4}}, [](auto& x) {
                 return flip(x[0], {1}) + roll(x[0], {1}, {0}) + x[0].repeat({2, 1}).slice(0, 0, 3);
               }});
  c.push_back({"pad", {{2, 3}}, [](auto& x) { return pad(x[0], {1, 2}); }});
  c.push_back({"split_chunk", {{6, 2}}, [](auto& x) {
                 auto p = x[0].chunk(3);
                 return p[0] * p[2] + x[0].split(4)[1].sum();
               }});
  // Matmul and linear, with batch broadcasting.
  c.push_back({"matmul", {{3, 4}, {4, 2}}, [](auto& x) { return matmul(x[0], x[1]); }});
  c.push_back(
      {"matmul_batch_broadcast", {{2, 3, 4}, {4, 5}}, [](auto& x) { return matmul(x[0], x[1]); }});
  c.push_back({"matmul_vector", {{4}, {3, 4, 2}}, [](auto& x) { return matmul(x[0], x[1]); }});
  c.push_back({"linear", {{5, 4}, {3, 4}, {3}}, [](auto& x) { return linear(x[0], x[1], x[2]); }});
  // Indexing and scatter.
  c.push_back({"gather", {{3, 4}}, [](auto& x) {
                 return x[0].gather(1, index_i64({0, 3, 3, 1, 2, 0}, {3, 2}));
               }});
  c.push_back({"index_select_repeats", {{5, 3}}, [](auto& x) {
                 return x[0].index_select(0, index_i64({4, 0, 4, 1}, {4}));
               }});
  c.push_back({"embedding", {{6, 3}}, [](auto& x) {
                 return embedding(x[0], index_i64({1, 5, 1, 0}, {2, 2}));
               }});
  c.push_back({"take", {{3, 4}}, [](auto& x) { return x[0].take(index_i64({11, 0, 5}, {3})); }});
  c.push_back({"scatter_add", {{4, 3}, {2, 3}}, [](auto& x) {
                 return x[0].scatter_add(0, index_i64({1, 0, 3, 1, 1, 2}, {2, 3}), x[1]);
               }});
  c.push_back({"scatter", {{4, 3}, {2, 3}}, [](auto& x) {
                 return x[0].scatter(0, index_i64({1, 0, 3, 2, 1, 2}, {2, 3}), x[1]);
               }});
  c.push_back({"index_add_copy", {{5, 2}, {2, 2}}, [](auto& x) {
                 Tensor i = index_i64({4, 1}, {2});
                 return x[0].index_add(0, i, x[1]) + x[0].index_copy(0, i, x[1] * 2.0);
               }});
  c.push_back({"cumsum", {{3, 5}}, [](auto& x) { return cumsum(x[0], 1) + cumsum(x[0], 0); }});
  // Composites a model uses.
  c.push_back({"mlp", {{4, 3}, {5, 3}, {5}, {2, 5}}, [](auto& x) {
                 return log_softmax(linear(gelu(linear(x[0], x[1], x[2])), x[3]), -1);
               }});
  c.push_back({"attention", {{2, 4, 3}, {2, 4, 3}, {2, 4, 3}}, [](auto& x) {
                 return scaled_dot_product_attention(x[0], x[1], x[2], {}, 0.0, true);
               }});
  // Convolution, pooling, normalization, resizing.
  c.push_back({"conv2d", {{2, 3, 5, 6}, {4, 3, 3, 2}, {4}}, [](auto& x) {
                 return conv2d(x[0], x[1], x[2], {1}, {1, 0});
               }});
  c.push_back({"conv2d_stride_dilation", {{1, 2, 7, 7}, {3, 2, 2, 3}}, [](auto& x) {
                 return conv2d(x[0], x[1], {}, {2, 3}, {1}, {2, 1});
               }});
  c.push_back({"conv2d_groups", {{2, 4, 5, 5}, {6, 2, 3, 3}}, [](auto& x) {
                 return conv2d(x[0], x[1], {}, {1}, {1}, {1}, 2);
               }});
  c.push_back({"conv2d_depthwise_same", {{1, 3, 4, 5}, {3, 1, 3, 3}}, [](auto& x) {
                 return conv2d(x[0], x[1], {}, {1}, kSame, {1}, 3);
               }});
  c.push_back({"conv1d", {{2, 2, 9}, {3, 2, 3}, {3}}, [](auto& x) {
                 return conv1d(x[0], x[1], x[2], {2}, {1});
               }});
  c.push_back({"conv_transpose2d", {{1, 2, 3, 4}, {2, 3, 3, 3}}, [](auto& x) {
                 return conv_transpose2d(x[0], x[1], {}, {2}, {1}, {1});
               }});
  c.push_back({"max_pool2d", {{1, 2, 5, 6}}, [](auto& x) {
                 return max_pool2d(x[0], {3, 2}, {2}, {1});
               }});
  c.push_back({"avg_pool2d", {{1, 2, 5, 6}}, [](auto& x) {
                 return avg_pool2d(x[0], {2}, {2}, {1}, true, false);
               }});
  c.push_back({"adaptive_avg_pool2d", {{2, 1, 5, 7}}, [](auto& x) {
                 return adaptive_avg_pool2d(x[0], {2, 3});
               }});
  c.push_back({"batch_norm_training", {{3, 2, 2, 2}, {2}, {2}}, [](auto& x) {
                 return batch_norm(x[0], {}, {}, x[1], x[2], /*training=*/true);
               }});
  c.push_back({"group_norm", {{2, 4, 3}, {4}, {4}}, [](auto& x) {
                 return group_norm(x[0], 2, x[1], x[2]);
               }});
  c.push_back({"interpolate_bilinear", {{1, 1, 3, 4}}, [](auto& x) {
                 return interpolate(x[0], {5, 7}, {}, "bilinear", true);
               }});
  c.push_back({"interpolate_nearest", {{1, 2, 2, 3}}, [](auto& x) {
                 return interpolate(x[0], {4, 5});
               }});
  c.push_back({"dropout_fixed_mask", {{4, 5}}, [](auto& x) {
                 manual_seed(3);
                 return dropout(x[0], 0.4);
               }});
  // Losses.
  c.push_back({"mse_loss", {{4, 3}, {3}}, [](auto& x) { return mse_loss(x[0], x[1]); }});
  c.push_back({"cross_entropy", {{5, 4}}, [](auto& x) {
                 return cross_entropy(x[0], index_i64({3, 0, -100, 1, 3}, {5}));
               }});
  c.push_back({"cross_entropy_weight_smoothing", {{5, 4}, {4}}, [](auto& x) {
                 return cross_entropy(x[0], index_i64({3, 0, 2, 1, -100}, {5}), exp(x[1]), -100,
                                      Reduction::mean, 0.2);
               }});
  c.push_back({"cross_entropy_probabilities", {{3, 4}, {3, 4}}, [](auto& x) {
                 return cross_entropy(x[0], softmax(x[1], 1), {}, -100, Reduction::sum, 0.1);
               }});
  c.push_back(
      {"cross_entropy_spatial", {{2, 3, 2}}, [](auto& x) {
         return cross_entropy(x[0], index_i64({0, 2, 1, 1}, {2, 2}), {}, -100, Reduction::none);
       }});
  c.push_back(
      {"nll_loss_sum", {{4, 3}}, [](auto& x) {
         return nll_loss(log_softmax(x[0], 1), index_i64({2, 2, 0, 1}, {4}), {}, 1, Reduction::sum);
       }});
  c.push_back(
      {"bce_with_logits", {{3, 4}, {4}}, [](auto& x) {
         Tensor t = from_vector(std::vector<double>{1, 0, 1, 1, 0, 0, 1, 0, 0.5, 1, 0, 1}, {3, 4});
         return binary_cross_entropy_with_logits(x[0] * 4.0, t, {}, Reduction::mean, exp(x[1]));
       }});
  c.push_back({"size_zero", {{0, 3}, {3}}, [](auto& x) { return (x[0] * x[1]).sum({0}) + x[1]; }});
  c.push_back({"size_one", {{1, 1}}, [](auto& x) { return exp(x[0]).expand({2, 3}) * x[0]; }});
  return c;
}

class GradcheckTest : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradcheckTest, MatchesCentralDifferences) { check_gradients(GetParam(), 17); }

INSTANTIATE_TEST_SUITE_P(Ops, GradcheckTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(AutogradTest, EagerModeGivesTheSameGradients) {
  ConfigGuard g;
  g->lazy = false;
  for (const GradCase& c : cases())
    if (c.name == "mlp" || c.name == "layer_norm" || c.name == "gather") check_gradients(c, 5);
}

TEST(AutogradTest, EmbeddingPaddingRowGetsNoGradient) {
  Tensor w = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2}).requires_grad_();
  Tensor e = embedding(w, from_vector(std::vector<int64_t>{2, 1, 2, 0}), /*padding_idx=*/2);
  EXPECT_TRUE(testing::all_close(e, {5, 6, 3, 4, 5, 6, 1, 2}, 0, 0));  // it reads the row
  (e * 2.0f).sum().backward();
  EXPECT_TRUE(testing::all_close(w.grad(), {2, 2, 2, 2, 0, 0}, 0, 0));
  EXPECT_TRUE(testing::throws_error(
      [&] { embedding(w, from_vector(std::vector<int64_t>{0}), -1, /*scale_grad_by_freq=*/true); },
      {"embedding", "scale_grad_by_freq"}));
}

TEST(AutogradTest, GradientsAccumulateAndCanBeCleared) {
  Tensor w = from_vector(std::vector<float>{1, 2, 3}).requires_grad_();
  EXPECT_TRUE(w.is_leaf());
  EXPECT_FALSE(w.grad().defined());
  (w * w).sum().backward();
  EXPECT_TRUE(testing::all_close(w.grad(), {2, 4, 6}, 1e-6, 1e-6));
  (w * 3.0f).sum().backward();  // added to the first gradient
  EXPECT_TRUE(testing::all_close(w.grad(), {5, 7, 9}, 1e-6, 1e-6));
  w.mutable_grad() = Tensor();
  w.sum().backward();
  EXPECT_TRUE(testing::all_close(w.grad(), {1, 1, 1}, 0, 0));
}

TEST(AutogradTest, ExplicitGradientAndRetainGraph) {
  Tensor x = from_vector(std::vector<double>{1, -2}).requires_grad_();
  Tensor y = x * x * 2.0;
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(y.requires_grad());
  y.backward(from_vector(std::vector<double>{1, 10}), /*retain_graph=*/true);
  EXPECT_TRUE(testing::all_close(x.grad(), {4, -80}, 1e-12, 1e-12));
  y.backward(from_vector(std::vector<double>{1, 0}));
  EXPECT_TRUE(testing::all_close(x.grad(), {8, -80}, 1e-12, 1e-12));
  EXPECT_TRUE(testing::throws_error([&] { y.backward(ones({2}, f64)); },
                                    {"backward", "released", "retain_graph=true"}));
}

TEST(AutogradTest, ClearErrors) {
  Tensor i = from_vector(std::vector<int64_t>{1, 2});
  EXPECT_TRUE(testing::throws_error([&] { i.requires_grad_(); },
                                    {"requires_grad_", "floating-point", "i64"}));
  Tensor x = from_vector(std::vector<float>{1, 2, 3});
  EXPECT_TRUE(testing::throws_error([&] { (x * 2.0f).sum().backward(); },
                                    {"backward", "does not require grad"}));
  x.requires_grad_();
  EXPECT_TRUE(
      testing::throws_error([&] { (x * 2.0f).backward(); }, {"backward", "one element", "[3]"}));
  EXPECT_TRUE(
      testing::throws_error([&] { x.sum().backward(ones({2})); }, {"backward", "[2]", "[]"}));
  EXPECT_TRUE(testing::throws_error([&] { x += 1.0f; }, {"add_", "leaf", "NoGradGuard"}));
  EXPECT_TRUE(testing::throws_error([&] { cumprod(x, 0).sum().backward(); },
                                    {"backward", "cumprod", "not available yet"}));
  EXPECT_TRUE(testing::throws_error([&] { (x * 2.0f).requires_grad_(false); },
                                    {"requires_grad_(false)", "detach()"}));
  // The process keeps working: the same tensor still differentiates.
  (x * x).sum().backward();
  EXPECT_TRUE(testing::all_close(x.grad(), {2, 4, 6}, 1e-6, 1e-6));
}

TEST(AutogradTest, NoGradGuardDetachAndIntegerResults) {
  Tensor x = from_vector(std::vector<float>{0.5f, -1.0f}).requires_grad_();
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(GradMode::is_enabled());
    EXPECT_FALSE((x * 2.0f).requires_grad());
    {
      AutoGradMode on(true);
      EXPECT_TRUE((x * 2.0f).requires_grad());
    }
  }
  EXPECT_TRUE(GradMode::is_enabled());
  Tensor d = (x * 3.0f).detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_TRUE(testing::all_close(d, {1.5, -3}, 1e-6, 1e-6));
  EXPECT_FALSE(x.argmax().requires_grad());
  EXPECT_FALSE((x > 0).requires_grad());
  // A detached factor is a constant.
  (x * x.detach()).sum().backward();
  EXPECT_TRUE(testing::all_close(x.grad(), {0.5, -1}, 1e-6, 1e-6));
}

TEST(AutogradTest, InPlaceUpdateUnderNoGradKeepsTheLeaf) {
  Tensor w = from_vector(std::vector<float>{1, 2}).requires_grad_();
  (w * w).sum().backward();
  {
    NoGradGuard no_grad;
    w -= w.grad() * 0.25f;  // [0.5, 1]
  }
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(testing::all_close(w, {0.5, 1}, 1e-6, 1e-6));
  EXPECT_TRUE(testing::all_close(w.grad(), {2, 4}, 1e-6, 1e-6));  // the same leaf's gradient
  w.mutable_grad() = Tensor();
  (w * w).sum().backward();
  EXPECT_TRUE(testing::all_close(w.grad(), {1, 2}, 1e-6, 1e-6));
  // copy_ from another tensor under NoGradGuard does not make that one a leaf.
  Tensor other = from_vector(std::vector<float>{7, 8});
  {
    NoGradGuard no_grad;
    w.copy_(other);
  }
  EXPECT_TRUE(w.requires_grad());
  EXPECT_FALSE(other.requires_grad());
  EXPECT_TRUE(testing::all_close(w, {7, 8}, 0, 0));
}

TEST(AutogradTest, MixedPrecisionGradientsComeBackInTheLeafDtype) {
  Tensor w = from_vector(std::vector<float>{0.5f, 1.5f}).requires_grad_();
  Tensor y = (w.cast(bf16) * w.cast(bf16)).cast(f32).sum();
  y.backward();
  EXPECT_EQ(w.grad().dtype(), f32);
  EXPECT_TRUE(testing::all_close(w.grad(), {1, 3}, 1e-2, 1e-2));
}

TEST(AutogradTest, ALongChainIsReleasedWithoutRecursion) {
  Tensor x = from_vector(std::vector<float>{1.0f}).requires_grad_();
  {
    ConfigGuard g;
    g->max_trace = 1 << 20;
    Tensor y = x;
    for (int i = 0; i < 200000; ++i) y = y * 1.0f;
    // y, its 200000 nodes and their saved tensors are freed here.
  }
  SUCCEED();
}

/// Forward, backward and an SGD update of a small regression, flushed once
/// per iteration: from the second iteration on the step is a plan-cache hit
/// that compiles nothing, and the loss goes down.
TEST(AutogradTest, ATrainingStepIsOneReplayedGraph) {
  std::mt19937_64 rng(3);
  std::normal_distribution<float> n01;
  std::vector<float> xv(64 * 8), wt(8);
  for (float& v : xv) v = n01(rng);
  for (float& v : wt) v = n01(rng);
  Tensor x = from_vector(xv, {64, 8});
  Tensor y = matmul(x, from_vector(wt, {8, 1}));
  sync();
  Tensor w = zeros({8, 1}).requires_grad_();
  Tensor b = zeros({1}).requires_grad_();
  std::vector<double> losses;
  reset_stats();
  for (int it = 0; it < 6; ++it) {
    const Stats before = stats();
    Tensor loss = square(linear(x, w.t(), b) - y).mean();
    loss.backward();
    {
      NoGradGuard no_grad;
      w -= w.grad() * 0.1f;
      b -= b.grad() * 0.1f;
      w.mutable_grad() = Tensor();
      b.mutable_grad() = Tensor();
    }
    Tensor l = loss.detach();
    sync();
    const Stats after = stats();
    losses.push_back(l.item<double>());
    EXPECT_EQ(after.flushes - before.flushes, 1) << "iteration " << it;
    if (it >= 2) {
      EXPECT_EQ(after.plan_hits - before.plan_hits, 1) << "iteration " << it;
      EXPECT_EQ(after.kernels_compiled - before.kernels_compiled, 0) << "iteration " << it;
    }
  }
  for (size_t i = 1; i < losses.size(); ++i) EXPECT_LT(losses[i], losses[i - 1]) << i;
  EXPECT_LT(losses.back(), 0.5 * losses.front());
}

TEST(LossTest, ValuesMatchTheirDefinitions) {
  // logits [2, 3], targets {2, ignored}: the mean over the one counted target.
  std::vector<double> z = {0.5, -1.0, 2.0, 0.1, 0.2, 0.3};
  Tensor x = from_vector(z, {2, 3});
  Tensor t = from_vector(std::vector<int64_t>{2, -100});
  const double lse0 = std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(2.0));
  EXPECT_NEAR(cross_entropy(x, t).item<double>(), lse0 - 2.0, 1e-12);
  // Label smoothing 0.3 over 3 classes: 0.7 nll + 0.1 sum of -log p.
  const double smooth = 3 * lse0 - (0.5 - 1.0 + 2.0);
  EXPECT_NEAR(cross_entropy(x, t, {}, -100, Reduction::mean, 0.3).item<double>(),
              0.7 * (lse0 - 2.0) + 0.1 * smooth, 1e-12);
  // Class weights: the mean divides by the counted targets' weights.
  Tensor w = from_vector(std::vector<double>{1, 2, 4});
  Tensor t2 = from_vector(std::vector<int64_t>{2, 1});
  const double lse1 = std::log(std::exp(0.1) + std::exp(0.2) + std::exp(0.3));
  EXPECT_NEAR(cross_entropy(x, t2, w).item<double>(), (4 * (lse0 - 2.0) + 2 * (lse1 - 0.2)) / 6.0,
              1e-12);
  EXPECT_NEAR(mse_loss(x, zeros({3}, f64), Reduction::sum).item<double>(),
              0.25 + 1 + 4 + 0.01 + 0.04 + 0.09, 1e-12);
  Tensor logit = from_vector(std::vector<double>{-30, 0, 30});
  Tensor y = from_vector(std::vector<double>{1, 1, 0});
  EXPECT_TRUE(testing::all_close(binary_cross_entropy_with_logits(logit, y, {}, Reduction::none),
                                 {30, std::log(2.0), 30}, 1e-12, 1e-12));
  EXPECT_TRUE(testing::throws_error(
      [&] {
        cross_entropy(x, from_vector(std::vector<int64_t>{3, 0}));
      },
      {"cross_entropy", "target 3", "3 classes"}));
  EXPECT_TRUE(testing::throws_error([&] { cross_entropy(x, from_vector(std::vector<int64_t>{1})); },
                                    {"cross_entropy", "[2]", "[1]"}));
  EXPECT_TRUE(testing::throws_error([&] { cross_entropy(x, t, zeros({2}, f64)); },
                                    {"cross_entropy", "weight", "[3]"}));
}

/// Three steps of each optimizer against the update rule written out on the host.
TEST(OptimTest, StepsMatchTheUpdateRules) {
  const std::vector<double> w0 = {0.5, -1.5, 2.0};
  // d/dw of sum(w^3) = 3 w^2
  auto grad = [](const std::vector<double>& w) {
    std::vector<double> g;
    for (double x : w) g.push_back(3 * x * x);
    return g;
  };
  auto run = [&](auto make, auto host_step) {
    Tensor w = from_vector(w0).requires_grad_();
    Tensor alias = w;  // another handle of the same parameter
    auto opt = make(std::vector<Tensor>{w});
    std::vector<double> hw = w0;
    for (int it = 1; it <= 3; ++it) {
      opt.zero_grad();
      (w * w * w).sum().backward();
      opt.step();
      host_step(hw, grad(hw), it);
      EXPECT_TRUE(testing::all_close(w, hw, 1e-12, 1e-12)) << "step " << it;
      EXPECT_TRUE(testing::all_close(alias, hw, 1e-12, 1e-12)) << "step " << it;
      EXPECT_TRUE(w.is_leaf() && w.requires_grad());
    }
  };
  {
    std::vector<double> buf;
    bool first = true;
    run(
        [](std::vector<Tensor> p) {
          return optim::SGD(p,
                            optim::SGDOptions(0.01).momentum(0.9).nesterov(true).weight_decay(0.1));
        },
        [&](std::vector<double>& w, std::vector<double> g, int) {
          if (buf.empty()) buf.assign(w.size(), 0);
          for (size_t i = 0; i < w.size(); ++i) {
            g[i] += 0.1 * w[i];
            buf[i] = first ? g[i] : buf[i] * 0.9 + g[i];
            w[i] -= 0.01 * (g[i] + 0.9 * buf[i]);
          }
          first = false;
        });
  }
  for (bool decoupled : {false, true}) {
    std::vector<double> m(3, 0), v(3, 0), vmax(3, 0);
    const double lr = 0.05, b1 = 0.8, b2 = 0.9, eps = 1e-8, wd = 0.2;
    auto host = [&](std::vector<double>& w, std::vector<double> g, int t) {
      for (size_t i = 0; i < w.size(); ++i) {
        if (decoupled)
          w[i] *= 1 - lr * wd;
        else
          g[i] += wd * w[i];
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        vmax[i] = std::max(vmax[i], v[i]);
        const double mh = m[i] / (1 - std::pow(b1, t)), vh = vmax[i] / (1 - std::pow(b2, t));
        w[i] -= lr * mh / (std::sqrt(vh) + eps);
      }
    };
    if (decoupled)
      run(
          [&](std::vector<Tensor> p) {
            return optim::AdamW(
                p, optim::AdamWOptions(lr).betas({b1, b2}).eps(eps).weight_decay(wd).amsgrad(true));
          },
          host);
    else
      run(
          [&](std::vector<Tensor> p) {
            return optim::Adam(
                p, optim::AdamOptions(lr).betas({b1, b2}).eps(eps).weight_decay(wd).amsgrad(true));
          },
          host);
  }
  EXPECT_TRUE(testing::throws_error(
      [] { optim::SGD({from_vector(std::vector<float>{1})}, optim::SGDOptions(0.1)); },
      {"SGD", "parameter 0", "requires_grad_()"}));
}

/// The update is the parameter's value for every handle, however the
/// handles that took part die: the optimizer first, then the one the
/// update went through.
TEST(OptimTest, UpdatedParametersKeepTheirValueWhenOtherHandlesDie) {
  for (bool lazy : {false, true}) {
    SCOPED_TRACE(testing::mode_name(lazy));
    ConfigGuard g;
    g->lazy = lazy;
    Tensor keep;
    {
      Tensor w = from_vector(std::vector<double>{1.0, 2.0}).requires_grad_();
      keep = w;
      {
        optim::SGD opt({w}, optim::SGDOptions(0.5));
        (w * w).sum().backward();
        opt.step();  // w - 0.5 * 2w = 0
      }
      sync();  // computes the update: a handle still reaches it
      EXPECT_TRUE(keep.is_materialized());
      EXPECT_TRUE(testing::all_close(keep, {0.0, 0.0}, 0, 0));
    }
    EXPECT_TRUE(testing::all_close(keep, {0.0, 0.0}, 0, 0));
    {
      optim::SGD opt({keep}, optim::SGDOptions(1.0));
      opt.zero_grad();                // the first gradient is still there
      (keep - 3.0).sum().backward();  // gradient 1
      opt.step();
    }
    EXPECT_TRUE(testing::all_close(keep, {-1.0, -1.0}, 0, 0));
    EXPECT_TRUE(keep.is_leaf() && keep.requires_grad());
  }
}

/// An inf gradient skips the step and halves the scale; good steps grow it
/// after growth_interval; the unscaled gradient is the true one.
TEST(GradScalerTest, SkipsInfStepsAndAdjustsTheScale) {
  Tensor w = from_vector(std::vector<float>{1.0f, 2.0f}).requires_grad_();
  optim::SGD opt({w}, optim::SGDOptions(0.5));
  GradScaler scaler(GradScalerOptions{.init_scale = 1024, .growth_interval = 2});
  auto run_step = [&](const Tensor& factor) {
    opt.zero_grad();
    scaler.scale((w * factor).sum()).backward();
    const bool stepped = scaler.step(opt);
    scaler.update();
    return stepped;
  };
  // d/dw = factor; scaled by 1024 in f16 that overflows only for a huge factor.
  EXPECT_TRUE(run_step(from_vector(std::vector<float>{1.0f, -1.0f})));
  EXPECT_TRUE(testing::all_close(w, {0.5, 2.5}, 1e-6, 1e-6));  // the unscaled gradient
  EXPECT_EQ(scaler.get_scale(), 1024);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(run_step(from_vector(std::vector<float>{inf, 1.0f})));
  EXPECT_TRUE(testing::all_close(w, {0.5, 2.5}, 0, 0));  // skipped
  EXPECT_EQ(scaler.get_scale(), 512);
  EXPECT_TRUE(run_step(from_vector(std::vector<float>{1.0f, 1.0f})));
  EXPECT_TRUE(run_step(from_vector(std::vector<float>{1.0f, 1.0f})));
  EXPECT_EQ(scaler.get_scale(), 1024);  // grown after 2 good steps
  EXPECT_TRUE(testing::all_close(w, {-0.5, 1.5}, 1e-6, 1e-6));
  GradScaler off(GradScalerOptions{.enabled = false});
  EXPECT_EQ(off.get_scale(), 1.0);
  EXPECT_TRUE(testing::throws_error([] { GradScaler(GradScalerOptions{.growth_factor = 0.5}); },
                                    {"GradScaler", "growth_factor"}));
}

/// Gaussian blobs, 4 classes in 2-D: a 3-layer MLP trained with AdamW and
/// cross_entropy reaches an accuracy a broken gradient cannot.
double train_blobs(bool zero_gradients) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> n01;
  const int n = 256, classes = 4;
  const float centers[4][2] = {{-2, -2}, {2, -2}, {-2, 2}, {2, 2}};
  std::vector<float> xv;
  std::vector<int64_t> yv;
  for (int i = 0; i < n; ++i) {
    const int c = i % classes;
    xv.push_back(centers[c][0] + 0.7f * n01(rng));
    xv.push_back(centers[c][1] + 0.7f * n01(rng));
    yv.push_back(c);
  }
  Tensor x = from_vector(xv, {n, 2});
  Tensor y = from_vector(yv);
  manual_seed(5);
  auto param = [](Shape s, double scale) { return (randn(s) * scale).eval().requires_grad_(); };
  Tensor w1 = param({32, 2}, 0.7), b1 = zeros({32}).requires_grad_();
  Tensor w2 = param({32, 32}, 0.2), b2 = zeros({32}).requires_grad_();
  Tensor w3 = param({classes, 32}, 0.2), b3 = zeros({classes}).requires_grad_();
  optim::AdamW opt({w1, b1, w2, b2, w3, b3}, optim::AdamWOptions(0.02));
  auto model = [&](const Tensor& in) {
    return linear(gelu(linear(relu(linear(in, w1, b1)), w2, b2)), w3, b3);
  };
  for (int epoch = 0; epoch < 60; ++epoch) {
    opt.zero_grad();
    cross_entropy(model(x), y).backward();
    if (zero_gradients) {
      NoGradGuard no_grad;
      for (Tensor p : opt.parameters()) p.mutable_grad() = zeros_like(p);
    }
    opt.step();
    sync();  // one flush per step: from the third on, a replay
  }
  NoGradGuard no_grad;
  std::vector<int64_t> pred = model(x).argmax(1).to_vector<int64_t>();
  int right = 0;
  for (int i = 0; i < n; ++i) right += pred[i] == yv[i];
  return static_cast<double>(right) / n;
}

TEST(TrainingTest, AnMlpLearnsSeparableBlobsAndAZeroGradientDoesNot) {
  EXPECT_GT(train_blobs(false), 0.95);
  EXPECT_LT(train_blobs(true), 0.5);
}

}  // namespace
}  // namespace tj
