// scaled_dot_product_attention and dropout against loops written here from
// PyTorch's definitions (f64 on the host); every test runs lazily and eagerly.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using tj::DType;
using tj::Shape;
using tj::Tensor;
using namespace tj::testing;  // test_util.h

class AttentionTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { guard_->lazy = GetParam(); }
  tj::ConfigGuard guard_;
};

INSTANTIATE_TEST_SUITE_P(Ops, AttentionTest, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

std::vector<double> randoms(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.5, 1.5);
  std::vector<double> v(n);
  for (double& x : v) x = u(rng);
  return v;
}

/// Attention of [B, H, L, E] queries over [B, Hkv, S, E] keys and [B, Hkv, S, Ev] values,
/// query head h using key head h / (H / Hkv); mask(b, h, l, s): -inf to drop, else added.
template <class Mask>
std::vector<double> ref_attention(const std::vector<double>& q, const std::vector<double>& k,
                                  const std::vector<double>& v, int64_t B, int64_t H, int64_t Hkv,
                                  int64_t L, int64_t S, int64_t E, int64_t Ev, double scale,
                                  Mask&& mask) {
  std::vector<double> out(static_cast<size_t>(B * H * L * Ev));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t hk = h / (H / Hkv);
      for (int64_t l = 0; l < L; ++l) {
        std::vector<double> w(static_cast<size_t>(S));
        double mx = -INFINITY;
        for (int64_t s = 0; s < S; ++s) {
          double dot = 0;
          for (int64_t e = 0; e < E; ++e)
            dot += q[static_cast<size_t>(((b * H + h) * L + l) * E + e)] *
                   k[static_cast<size_t>(((b * Hkv + hk) * S + s) * E + e)];
          w[static_cast<size_t>(s)] = dot * scale + mask(b, h, l, s);
          mx = std::max(mx, w[static_cast<size_t>(s)]);
        }
        double sum = 0;
        for (double& x : w) sum += (x = std::exp(x - mx));
        for (int64_t d = 0; d < Ev; ++d) {
          double acc = 0;
          for (int64_t s = 0; s < S; ++s)
            acc += w[static_cast<size_t>(s)] / sum *
                   v[static_cast<size_t>(((b * Hkv + hk) * S + s) * Ev + d)];
          out[static_cast<size_t>(((b * H + h) * L + l) * Ev + d)] = acc;
        }
      }
    }
  return out;
}

TEST_P(AttentionTest, MatchesTheDefinition) {
  const int64_t B = 2, H = 3, L = 5, S = 7, E = 8, Ev = 4;
  auto qv = randoms(B * H * L * E, 1), kv = randoms(B * H * S * E, 2),
       vv = randoms(B * H * S * Ev, 3);
  Tensor q = make(qv, {B, H, L, E}), k = make(kv, {B, H, S, E}), v = make(vv, {B, H, S, Ev});
  auto none = [](int64_t, int64_t, int64_t, int64_t) { return 0.0; };
  Tensor o = tj::scaled_dot_product_attention(q, k, v);
  EXPECT_EQ(o.shape(), (Shape{B, H, L, Ev}));
  EXPECT_TRUE(all_close(
      o, ref_attention(qv, kv, vv, B, H, H, L, S, E, Ev, 1 / std::sqrt(8.0), none), 1e-5, 1e-6));
  // An explicit scale; causal (top-left: query l sees keys 0..l).
  Tensor os = tj::scaled_dot_product_attention(q, k, v, {}, 0.0, false, 0.3);
  EXPECT_TRUE(
      all_close(os, ref_attention(qv, kv, vv, B, H, H, L, S, E, Ev, 0.3, none), 1e-5, 1e-6));
  Tensor oc = tj::scaled_dot_product_attention(q, k, v, {}, 0.0, true);
  auto causal = [](int64_t, int64_t, int64_t l, int64_t s) { return s > l ? -INFINITY : 0.0; };
  EXPECT_TRUE(all_close(
      oc, ref_attention(qv, kv, vv, B, H, H, L, S, E, Ev, 1 / std::sqrt(8.0), causal), 1e-5, 1e-6));
}

TEST_P(AttentionTest, MasksAndGroupedQueryHeads) {
  const int64_t B = 1, H = 4, Hkv = 2, L = 3, S = 6, E = 4, Ev = 5;
  auto qv = randoms(B * H * L * E, 4), kv = randoms(B * Hkv * S * E, 5),
       vv = randoms(B * Hkv * S * Ev, 6);
  Tensor q = make(qv, {B, H, L, E}), k = make(kv, {B, Hkv, S, E}), v = make(vv, {B, Hkv, S, Ev});
  const double sc = 0.5;
  // A bool mask [L, S] broadcast over batch and heads: true attends.
  std::vector<double> keep(static_cast<size_t>(L * S));
  for (size_t i = 0; i < keep.size(); ++i) keep[i] = (i * 7 % 3) != 0 || i % S == 0;
  Tensor mb = make(keep, {L, S}, tj::bool_);
  Tensor o = tj::scaled_dot_product_attention(q, k, v, mb, 0.0, false, sc, true);
  auto bmask = [&](int64_t, int64_t, int64_t l, int64_t s) {
    return keep[static_cast<size_t>(l * S + s)] != 0 ? 0.0 : -INFINITY;
  };
  EXPECT_TRUE(
      all_close(o, ref_attention(qv, kv, vv, B, H, Hkv, L, S, E, Ev, sc, bmask), 1e-5, 1e-6));
  // A float mask per head [H, L, S], added to the scores.
  auto add = randoms(static_cast<size_t>(H * L * S), 7);
  Tensor mf = make(add, {H, L, S});
  Tensor of = tj::scaled_dot_product_attention(q, k, v, mf, 0.0, false, sc, true);
  auto fmask = [&](int64_t, int64_t h, int64_t l, int64_t s) {
    return add[static_cast<size_t>((h * L + l) * S + s)];
  };
  EXPECT_TRUE(
      all_close(of, ref_attention(qv, kv, vv, B, H, Hkv, L, S, E, Ev, sc, fmask), 1e-5, 1e-6));
  // bf16 inputs give bf16 results close to the f64 definition.
  Tensor ob = tj::scaled_dot_product_attention(q.to(tj::bf16), k.to(tj::bf16), v.to(tj::bf16), {},
                                               0.0, false, sc, true);
  EXPECT_EQ(ob.dtype(), tj::bf16);
  auto none = [](int64_t, int64_t, int64_t, int64_t) { return 0.0; };
  EXPECT_TRUE(
      all_close(ob, ref_attention(qv, kv, vv, B, H, Hkv, L, S, E, Ev, sc, none), 3e-2, 3e-2));
}

TEST_P(AttentionTest, BadArgumentsNameTheProblem) {
  Tensor q = tj::ones({1, 4, 3, 8}), k = tj::ones({1, 2, 5, 8}), v = tj::ones({1, 2, 5, 8});
  const char* op = "scaled_dot_product_attention";
  EXPECT_TRUE(throws_error([&] { tj::scaled_dot_product_attention(q, k, v); },
                           {op, "4 heads", "enable_gqa"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::scaled_dot_product_attention(q, tj::ones({1, 3, 5, 8}), tj::ones({1, 3, 5, 8}), {}, 0.0,
                                         false, {}, true);
      },
      {op, "multiple"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::scaled_dot_product_attention(q, tj::ones({1, 4, 5, 6}), tj::ones({1, 4, 5, 6}));
      },
      {op, "same embedding size"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::scaled_dot_product_attention(q, q, q, tj::ones({3, 3}, tj::bool_), 0.0, true);
      },
      {op, "not both"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::scaled_dot_product_attention(q, q, q, tj::ones({2, 3}));
      },
      {op, "attn_mask of shape [2, 3]", "[1, 4, 3, 3]"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::scaled_dot_product_attention(q, q, q, tj::ones({3, 3}, tj::i64));
      },
      {op, "bool", "i64"}));
  EXPECT_TRUE(throws_error(
      [&] { tj::scaled_dot_product_attention(q.to(tj::i32), q.to(tj::i32), q.to(tj::i32)); },
      {op, "floating"}));
  EXPECT_TRUE(
      throws_error([&] { tj::scaled_dot_product_attention(q, q, q, {}, 1.5); }, {op, "dropout_p"}));
}

TEST_P(AttentionTest, DropoutZeroesAFractionPAndScalesTheRest) {
  const int64_t n = 200000;
  Tensor x = tj::full({n}, 2.0);
  tj::manual_seed(11);
  Tensor y = tj::dropout(x, 0.3);
  std::vector<double> v = y.to_vector<double>();
  int64_t zeros = 0;
  for (double e : v) {
    if (e == 0) {
      ++zeros;
    } else {
      EXPECT_NEAR(e, 2.0 / 0.7, 1e-6);
    }
  }
  // 0.3 n zeros give or take 5 standard deviations (sqrt(n p (1 - p)) = 205).
  EXPECT_NEAR(static_cast<double>(zeros), 0.3 * n, 5 * 205.0);
  tj::manual_seed(11);
  EXPECT_EQ(tj::dropout(x, 0.3).to_vector<double>(), v);  // the seed fixes the mask
  EXPECT_EQ(tj::dropout(x, 0.3, false).to_vector<double>(), x.to_vector<double>());
  EXPECT_EQ(tj::dropout(x, 1.0).sum().item<double>(), 0.0);
  EXPECT_TRUE(throws_error([&] { tj::dropout(x, -0.1); }, {"dropout", "[0, 1]"}));
  EXPECT_TRUE(throws_error([&] { tj::dropout(x.to(tj::i64), 0.5); }, {"dropout", "floating"}));
  // Attention over 64 equal keys: each weight is 1/64, kept ones become 2/64,
  // so with values of 1 every output is (kept keys) / 32, the same in each column.
  Tensor q = tj::ones({1, 1, 4, 2}), vv = tj::ones({1, 1, 64, 3});
  Tensor o = tj::scaled_dot_product_attention(q, tj::ones({1, 1, 64, 2}), vv, {}, 0.5);
  EXPECT_EQ(o.shape(), (Shape{1, 1, 4, 3}));
  std::vector<double> ov = o.to_vector<double>();
  for (size_t i = 0; i < ov.size(); ++i) {
    EXPECT_NEAR(ov[i] * 32, std::round(ov[i] * 32), 1e-4) << i;
    EXPECT_GT(ov[i], 0.2) << i;  // about 32 of 64 keys kept
    EXPECT_LT(ov[i], 1.8) << i;
    EXPECT_EQ(ov[i], ov[i / 3 * 3]) << i;
  }
}

}  // namespace
