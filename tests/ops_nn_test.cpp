// Convolution: conv1d, conv2d (stride, padding, dilation, groups, depthwise,
// "same"/"valid"), conv_transpose2d. Expected values come from plain f64 loops
// of torch's definitions; every test runs lazily and eagerly, through oneDNN
// (when the build has it) and through the generated kernel. fusion_test runs
// conv kernels against the reference evaluator on the CPU and the CUDA emulator.
#include <cmath>
#include <cstdint>
#include <vector>

#include "test_util.h"

namespace {

using tj::DType;
using tj::Shape;
using tj::Tensor;
using namespace tj::testing;  // test_util.h

class ConvTest : public ModeTest {};
INSTANTIATE_TEST_SUITE_P(Ops, ConvTest, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

struct ConvArgs {
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
};

/// torch.nn.functional.conv2d in f64: x [N, C, H, W], w [O, C/g, KH, KW].
std::vector<double> conv_ref(const std::vector<double>& x, const Shape& xs,
                             const std::vector<double>& w, const Shape& ws,
                             const std::vector<double>* b, const ConvArgs& a, Shape* out) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], Cg = ws[1], KH = ws[2],
                KW = ws[3];
  const int64_t OH = (H + 2 * a.ph - a.dh * (KH - 1) - 1) / a.sh + 1;
  const int64_t OW = (W + 2 * a.pw - a.dw * (KW - 1) - 1) / a.sw + 1;
  *out = {N, O, OH, OW};
  std::vector<double> y;
  const int64_t Og = O / a.groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          double s = b ? (*b)[o] : 0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t p = 0; p < KH; ++p)
              for (int64_t q = 0; q < KW; ++q) {
                const int64_t h = i * a.sh - a.ph + p * a.dh, v = j * a.sw - a.pw + q * a.dw;
                if (h < 0 || h >= H || v < 0 || v >= W) continue;
                s += x[((n * C + (o / Og) * Cg + c) * H + h) * W + v] *
                     w[((o * Cg + c) * KH + p) * KW + q];
              }
          y.push_back(s);
        }
  return y;
}

std::vector<double> pseudo_random(int64_t n, int seed) {
  std::vector<double> v(static_cast<size_t>(n));
  uint64_t s = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(seed + 1);
  for (double& e : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    e = static_cast<double>(static_cast<int64_t>(s >> 40) % 17 - 8) / 8.0;  // exact in bf16
  }
  return v;
}

/// Runs `fn` through oneDNN and through the generated kernels.
template <class Fn>
void both_paths(Fn&& fn) {
  for (bool onednn : {true, false}) {
    SCOPED_TRACE(onednn ? "oneDNN" : "generated kernel");
    tj::ConfigGuard g;
    g->onednn = onednn;
    fn();
  }
}

TEST_P(ConvTest, Conv2dMatchesTheDefinition) {
  struct Case {
    Shape xs, ws;
    ConvArgs a;
    bool bias;
  };
  const std::vector<Case> cases = {
      {{2, 3, 7, 9}, {4, 3, 3, 3}, {}, true},
      {{1, 4, 8, 8}, {6, 4, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, false},   // padding 1 ("same" 3x3)
      {{2, 4, 9, 11}, {6, 2, 3, 2}, {2, 1, 1, 2, 1, 2, 2}, true},   // stride, dilation, groups
      {{1, 8, 10, 10}, {8, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 8}, true},  // depthwise
      {{3, 5, 6, 7}, {2, 5, 1, 1}, {}, true},                       // 1x1
      {{1, 2, 17, 5}, {3, 2, 5, 5}, {3, 2, 2, 2, 2, 1, 1}, false},  // large kernel, stride 3
      {{1, 3, 4, 4}, {2, 3, 4, 4}, {}, true},                       // one output
      {{2, 16, 12, 12}, {32, 16, 3, 3}, {2, 2, 1, 1, 1, 1, 1}, true},
  };
  both_paths([&] {
    for (size_t k = 0; k < cases.size(); ++k) {
      const Case& c = cases[k];
      SCOPED_TRACE("case " + std::to_string(k));
      const auto xv = pseudo_random(numel_of(c.xs), 1), wv = pseudo_random(numel_of(c.ws), 2),
                 bv = pseudo_random(c.ws[0], 3);
      for (DType t : {tj::f32, tj::f64, tj::bf16}) {
        Tensor y = tj::conv2d(make(xv, c.xs, t), make(wv, c.ws, t),
                              c.bias ? make(bv, {c.ws[0]}, t) : Tensor(), {c.a.sh, c.a.sw},
                              {c.a.ph, c.a.pw}, {c.a.dh, c.a.dw}, c.a.groups);
        Shape out;
        const auto want = conv_ref(xv, c.xs, wv, c.ws, c.bias ? &bv : nullptr, c.a, &out);
        EXPECT_EQ(y.shape(), out);
        EXPECT_EQ(y.dtype(), t);
        const Tol tol = tol_for(t);
        EXPECT_TRUE(all_close(y, want, tol.rtol, t == tj::bf16 ? 0.1 : tol.atol)) << dtype_name(t);
      }
    }
  });
}

TEST_P(ConvTest, Conv2dOfComputedAndStridedOperands) {
  both_paths([&] {
    const Shape xs{2, 3, 6, 8};
    const auto xv = pseudo_random(numel_of(xs), 4), wv = pseudo_random(5 * 3 * 3 * 3, 5);
    // The input a permuted view ([N, H, W, C] in memory), the weight computed.
    Tensor xh = make(xv, xs).permute({0, 2, 3, 1}).contiguous();
    Tensor x = xh.permute({0, 3, 1, 2});
    Tensor w = make(wv, {5, 3, 3, 3}) * 2.0;
    Tensor y = tj::relu(tj::conv2d(x + 1.0, w, {}, {1}, {1}));
    std::vector<double> xp(xv.size()), w2(wv.size());
    for (size_t i = 0; i < xv.size(); ++i) xp[i] = xv[i] + 1;
    for (size_t i = 0; i < wv.size(); ++i) w2[i] = wv[i] * 2;
    Shape out;
    auto want = conv_ref(xp, xs, w2, {5, 3, 3, 3}, nullptr, {1, 1, 1, 1, 1, 1, 1}, &out);
    for (double& v : want) v = std::max(v, 0.0);
    EXPECT_TRUE(all_close(y, want));
  });
}

TEST_P(ConvTest, Conv2dPaddingSameValidAndUnbatched) {
  both_paths([&] {
    const Shape xs{1, 2, 7, 6};
    const auto xv = pseudo_random(numel_of(xs), 6), wv = pseudo_random(3 * 2 * 4 * 3, 7);
    Tensor x = make(xv, xs), w = make(wv, {3, 2, 4, 3});
    // "same" with an even kernel: torch pads 1 before and 2 after in H.
    Tensor s = tj::conv2d(x, w, {}, {1}, "same");
    EXPECT_EQ(s.shape(), (Shape{1, 3, 7, 6}));
    std::vector<double> xpad;  // x padded by (1, 2) rows and (1, 1) columns
    const Shape ps{1, 2, 10, 8};
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t h = -1; h < 9; ++h)
        for (int64_t v = -1; v < 7; ++v)
          xpad.push_back(h >= 0 && h < 7 && v >= 0 && v < 6 ? xv[(c * 7 + h) * 6 + v] : 0);
    Shape out;
    EXPECT_TRUE(all_close(s, conv_ref(xpad, ps, wv, {3, 2, 4, 3}, nullptr, {}, &out)));
    Tensor v = tj::conv2d(x, w, {}, {1}, "valid");
    EXPECT_TRUE(all_close(v, conv_ref(xv, xs, wv, {3, 2, 4, 3}, nullptr, {}, &out)));
    EXPECT_EQ(v.shape(), (Shape{1, 3, 4, 4}));
    Tensor u = tj::conv2d(x.squeeze(0), w);  // [C, H, W]
    EXPECT_EQ(u.shape(), (Shape{3, 4, 4}));
    EXPECT_TRUE(all_close(u, v.to_vector<double>()));
  });
}

TEST_P(ConvTest, Conv1d) {
  both_paths([&] {
    const auto xv = pseudo_random(2 * 4 * 13, 8), wv = pseudo_random(6 * 2 * 3, 9),
               bv = pseudo_random(6, 10);
    Tensor x = make(xv, {2, 4, 13}), w = make(wv, {6, 2, 3}), b = make(bv, {6});
    Tensor y = tj::conv1d(x, w, b, {2}, {1}, {2}, 2);
    Shape out;
    const auto want =
        conv_ref(xv, {2, 4, 1, 13}, wv, {6, 2, 1, 3}, &bv, {1, 2, 0, 1, 1, 2, 2}, &out);
    EXPECT_EQ(y.shape(), (Shape{2, 6, out[3]}));
    EXPECT_TRUE(all_close(y, want));
    Tensor s = tj::conv1d(x, make(wv, {6, 2, 3}), {}, {1}, "same", {1}, 2);
    EXPECT_EQ(s.shape(), (Shape{2, 6, 13}));
    EXPECT_EQ(tj::conv1d(x.select(0, 1), w, b, {2}, {1}, {2}, 2).shape(), (Shape{6, out[3]}));
  });
}

/// torch.nn.functional.conv_transpose2d in f64: x [N, C, H, W], w [C, O/g, KH, KW].
std::vector<double> conv_transpose_ref(const std::vector<double>& x, const Shape& xs,
                                       const std::vector<double>& w, const Shape& ws,
                                       const std::vector<double>* b, int64_t s, int64_t p,
                                       int64_t op, int64_t g, int64_t d, Shape* out) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], Og = ws[1], KH = ws[2], KW = ws[3];
  const int64_t O = Og * g, Cg = C / g;
  const int64_t OH = (H - 1) * s - 2 * p + d * (KH - 1) + op + 1;
  const int64_t OW = (W - 1) * s - 2 * p + d * (KW - 1) + op + 1;
  *out = {N, O, OH, OW};
  std::vector<double> y(static_cast<size_t>(N * O * OH * OW), 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) y[((n * O + o) * OH + i) * OW + j] = b ? (*b)[o] : 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t v = 0; v < W; ++v)
          for (int64_t oo = 0; oo < Og; ++oo)
            for (int64_t a = 0; a < KH; ++a)
              for (int64_t e = 0; e < KW; ++e) {
                const int64_t i = h * s - p + a * d, j = v * s - p + e * d;
                if (i < 0 || i >= OH || j < 0 || j >= OW) continue;
                const int64_t o = (c / Cg) * Og + oo;
                y[((n * O + o) * OH + i) * OW + j] +=
                    x[((n * C + c) * H + h) * W + v] * w[((c * Og + oo) * KH + a) * KW + e];
              }
  return y;
}

TEST_P(ConvTest, ConvTranspose2d) {
  struct Case {
    Shape xs, ws;
    int64_t s, p, op, g, d;
  };
  const std::vector<Case> cases = {
      {{1, 2, 3, 4}, {2, 3, 3, 3}, 1, 0, 0, 1, 1},
      {{2, 4, 5, 3}, {4, 3, 3, 2}, 2, 1, 1, 2, 1},
      {{1, 3, 4, 4}, {3, 2, 2, 2}, 2, 0, 0, 1, 1},  // upsampling by 2
      {{1, 2, 4, 5}, {2, 1, 3, 3}, 3, 2, 0, 1, 2},  // dilation, padding crops
  };
  both_paths([&] {
    for (size_t k = 0; k < cases.size(); ++k) {
      const Case& c = cases[k];
      SCOPED_TRACE("case " + std::to_string(k));
      const auto xv = pseudo_random(numel_of(c.xs), 11), wv = pseudo_random(numel_of(c.ws), 12),
                 bv = pseudo_random(c.ws[1] * c.g, 13);
      Tensor y = tj::conv_transpose2d(make(xv, c.xs), make(wv, c.ws), make(bv, {c.ws[1] * c.g}),
                                      {c.s}, {c.p}, {c.op}, c.g, {c.d});
      Shape out;
      const auto want = conv_transpose_ref(xv, c.xs, wv, c.ws, &bv, c.s, c.p, c.op, c.g, c.d, &out);
      EXPECT_EQ(y.shape(), out);
      EXPECT_TRUE(all_close(y, want));
    }
  });
}

TEST_P(ConvTest, EmptyBatchAndZeroChannels) {
  both_paths([&] {
    Tensor y = tj::conv2d(tj::zeros({0, 3, 5, 5}), tj::ones({2, 3, 3, 3}));
    EXPECT_EQ(y.shape(), (Shape{0, 2, 3, 3}));
    EXPECT_EQ(y.to_vector<float>().size(), 0u);
    // No input channels: every output is the bias.
    Tensor z = tj::conv2d(tj::zeros({1, 0, 4, 4}), tj::zeros({2, 0, 3, 3}),
                          tj::from_vector<float>({1.5f, -2.f}));
    EXPECT_TRUE(all_close(z, {1.5, 1.5, 1.5, 1.5, -2, -2, -2, -2}));
  });
}

TEST_P(ConvTest, BadInputIsAClearError) {
  Tensor x = tj::ones({1, 4, 8, 8}), w = tj::ones({6, 4, 3, 3});
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::conv2d(x, tj::ones({6, 3, 3, 3}));
      },
      {"conv2d", "weight [6, 3, 3, 3]", "expects 3 input channels", "has 4"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::conv2d(x, w, {}, {1}, {0}, {1}, 3); },
                           {"conv2d", "groups (3) must divide", "input channels (4)"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::conv2d(x, w, tj::ones({5})); },
                           {"conv2d", "bias must have shape [6]", "[5]"}));
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::conv2d(x, tj::ones({6, 4, 9, 3}));
      },
      {"conv2d", "larger than the padded input", "[1, 4, 8, 8]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::conv2d(x, w, {}, {0}); },
                           {"conv2d", "stride must be positive"}));
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::conv2d(x, w, {}, {1, 2, 3});
      },
      {"conv2d", "stride needs 1 or 2 values, got 3"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::conv2d(x, w, {}, {2}, "same"); },
                           {"conv2d", "\"same\" needs stride 1"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::conv2d(x, w, {}, {1}, "full"); },
                           {"conv2d", "\"same\", \"valid\"", "\"full\""}));
  EXPECT_TRUE(throws_error([&] { (void)tj::conv2d(x.to(tj::i64), w.to(tj::i64)); },
                           {"conv2d", "floating-point", "i64"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::conv2d(x, w.to(tj::f64)); }, {"conv2d", "one dtype"}));
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::conv2d(tj::ones({4, 8}), w);
      },
      {"conv2d", "4-d input"}));
  EXPECT_TRUE(throws_error([&] { tj::conv1d(x, w); }, {"conv1d", "3-d input"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::conv_transpose2d(x, tj::ones({3, 2, 3, 3}));
      },
      {"conv_transpose2d", "expects 3 input channels", "has 4"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::conv_transpose2d(x, tj::ones({4, 2, 3, 3}), {}, {2}, {0}, {2});
      },
      {"conv_transpose2d", "output_padding"}));
  // The process keeps working.
  EXPECT_EQ(tj::conv2d(x, w).shape(), (Shape{1, 6, 6, 6}));
}

}  // namespace

namespace {

using tj::DType;
using tj::Shape;
using tj::Tensor;
using namespace tj::testing;

class PoolTest : public ModeTest {};
INSTANTIATE_TEST_SUITE_P(Ops, PoolTest, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

/// max (or mean) pooling of [N, C, H, W] in f64 with torch's windows and divisors.
std::vector<double> pool_ref(const std::vector<double>& x, const Shape& xs, int64_t k, int64_t s,
                             int64_t p, int64_t d, bool ceil_mode, bool is_max,
                             bool count_include_pad, Shape* out) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], eff = d * (k - 1) + 1;
  auto osize = [&](int64_t in) {
    const int64_t span = in + 2 * p - eff;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p) --o;
    return o;
  };
  const int64_t OH = osize(H), OW = osize(W);
  *out = {N, C, OH, OW};
  std::vector<double> y;
  for (int64_t n = 0; n < N * C; ++n)
    for (int64_t a = 0; a < OH; ++a)
      for (int64_t b = 0; b < OW; ++b) {
        double m = -INFINITY, sum = 0;
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < k; ++j) {
            const int64_t h = a * s - p + i * d, w = b * s - p + j * d;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            const double v = x[(n * H + h) * W + w];
            m = std::isnan(v) || std::isnan(m) ? NAN : std::max(m, v);
            sum += v;
          }
        int64_t hs = a * s - p, ws = b * s - p;
        int64_t he = std::min(hs + k, H + p), we = std::min(ws + k, W + p);
        const int64_t full = (he - hs) * (we - ws);
        hs = std::max<int64_t>(hs, 0), ws = std::max<int64_t>(ws, 0);
        he = std::min(he, H), we = std::min(we, W);
        y.push_back(
            is_max ? m
                   : sum / static_cast<double>(count_include_pad ? full : (he - hs) * (we - ws)));
      }
  return y;
}

TEST_P(PoolTest, MaxAndAvgPool2dMatchTorchsWindows) {
  struct Case {
    Shape xs;
    int64_t k, s, p, d;
    bool ceil_mode;
  };
  const std::vector<Case> cases = {{{2, 3, 8, 8}, 2, 2, 0, 1, false},
                                   {{1, 2, 7, 9}, 3, 2, 1, 1, false},
                                   {{1, 2, 7, 9}, 3, 2, 1, 1, true},
                                   {{1, 1, 10, 6}, 3, 1, 1, 2, false},
                                   {{2, 2, 5, 5}, 2, 3, 1, 1, true}};
  for (size_t c = 0; c < cases.size(); ++c) {
    const Case& cs = cases[c];
    SCOPED_TRACE("case " + std::to_string(c));
    std::vector<double> xv(static_cast<size_t>(numel_of(cs.xs)));
    for (size_t i = 0; i < xv.size(); ++i) xv[i] = std::sin(0.7 * static_cast<double>(i)) * 4;
    Tensor x = make(xv, cs.xs);
    Shape out;
    const auto mx = pool_ref(xv, cs.xs, cs.k, cs.s, cs.p, cs.d, cs.ceil_mode, true, true, &out);
    Tensor m = tj::max_pool2d(x, {cs.k}, {cs.s}, {cs.p}, {cs.d}, cs.ceil_mode);
    EXPECT_EQ(m.shape(), out);
    EXPECT_TRUE(all_close(m, mx));
    if (cs.d != 1) continue;
    for (bool include : {true, false}) {
      Tensor a = tj::avg_pool2d(x, {cs.k}, {cs.s}, {cs.p}, cs.ceil_mode, include);
      EXPECT_EQ(a.shape(), out);
      EXPECT_TRUE(all_close(
          a, pool_ref(xv, cs.xs, cs.k, cs.s, cs.p, 1, cs.ceil_mode, false, include, &out)));
    }
  }
  // NaN propagates, dtypes are kept, unbatched input, divisor_override.
  Tensor x =
      tj::from_vector<double>({1, NAN, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 4, 4});
  Tensor m = tj::max_pool2d(x.to(tj::bf16), {2});
  EXPECT_EQ(m.dtype(), tj::bf16);
  EXPECT_EQ(m.shape(), (Shape{1, 2, 2}));
  auto mv = m.to_vector<double>();
  EXPECT_TRUE(std::isnan(mv[0]));
  EXPECT_EQ(mv[1], 8);
  EXPECT_EQ(mv[3], 16);
  EXPECT_TRUE(all_close(tj::avg_pool2d(x.slice(1, 2, 4), {2}, {2}, {0}, false, true, 1),
                        {9 + 10 + 13 + 14, 11 + 12 + 15 + 16}));
}

TEST_P(PoolTest, AdaptiveAvgPool2d) {
  std::vector<double> xv(2 * 3 * 7 * 10);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<double>(i % 13) - 6;
  Tensor x = make(xv, {2, 3, 7, 10});
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{1, 1}, {7, 5}, {3, 4}, {5, 10}}) {
    std::vector<double> want;
    for (int64_t n = 0; n < 6; ++n)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          const int64_t h0 = i * 7 / oh, h1 = ((i + 1) * 7 + oh - 1) / oh;
          const int64_t w0 = j * 10 / ow, w1 = ((j + 1) * 10 + ow - 1) / ow;
          double s = 0;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) s += xv[(n * 7 + h) * 10 + w];
          want.push_back(s / static_cast<double>((h1 - h0) * (w1 - w0)));
        }
    Tensor y = tj::adaptive_avg_pool2d(x, {oh, ow});
    EXPECT_EQ(y.shape(), (Shape{2, 3, oh, ow}));
    EXPECT_TRUE(all_close(y, want, 1e-5, 1e-5)) << oh << "x" << ow;
  }
}

TEST_P(PoolTest, BatchNormTrainingAndEvaluation) {
  const Shape xs{4, 3, 2, 5};
  std::vector<double> xv(static_cast<size_t>(numel_of(xs)));
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = std::cos(1.3 * static_cast<double>(i)) * 3 + 1;
  Tensor x = make(xv, xs);
  Tensor w = tj::from_vector<float>({1.5f, -1.f, 2.f}),
         b = tj::from_vector<float>({0.f, 1.f, -2.f});
  Tensor rm = tj::from_vector<float>({0.5f, 0.f, 1.f}),
         rv = tj::from_vector<float>({1.f, 2.f, 3.f});
  std::vector<double> mean(3, 0), var(3, 0);
  const double cnt = 4 * 2 * 5;
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t k = 0; k < 10; ++k) mean[c] += xv[(n * 3 + c) * 10 + k] / cnt;
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t k = 0; k < 10; ++k) {
        const double d = xv[(n * 3 + c) * 10 + k] - mean[c];
        var[c] += d * d / cnt;
      }
  const double W[3] = {1.5, -1, 2}, B[3] = {0, 1, -2}, RM[3] = {0.5, 0, 1}, RV[3] = {1, 2, 3};
  auto norm = [&](const double* m, const double* v) {
    std::vector<double> y;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t k = 0; k < 10; ++k)
          y.push_back((xv[(n * 3 + c) * 10 + k] - m[c]) / std::sqrt(v[c] + 1e-5) * W[c] + B[c]);
    return y;
  };
  Tensor y = tj::batch_norm(x, rm, rv, w, b, /*training=*/true, 0.1);
  EXPECT_TRUE(all_close(y, norm(mean.data(), var.data()), 1e-5, 1e-5));
  std::vector<double> want_rm, want_rv;
  for (int c = 0; c < 3; ++c) {
    want_rm.push_back(0.9 * RM[c] + 0.1 * mean[c]);
    want_rv.push_back(0.9 * RV[c] + 0.1 * var[c] * cnt / (cnt - 1));
  }
  EXPECT_TRUE(all_close(rm, want_rm, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(rv, want_rv, 1e-5, 1e-6));
  // Evaluation uses the (updated) running statistics.
  Tensor e = tj::batch_norm(x, rm, rv, w, b);
  std::vector<double> m2(want_rm), v2(want_rv);
  EXPECT_TRUE(all_close(e, norm(m2.data(), v2.data()), 1e-5, 1e-5));
  // bf16 input, statistics in f32, result bf16.
  Tensor h = tj::batch_norm(x.to(tj::bf16), {}, {}, {}, {}, true);
  EXPECT_EQ(h.dtype(), tj::bf16);
  EXPECT_TRUE(throws_error([&] { (void)tj::batch_norm(x, rm, {}); },
                           {"batch_norm", "needs running_mean and running_var"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::batch_norm(x, tj::zeros({4}), rv); },
                           {"batch_norm", "running_mean must have shape [3]", "[4]"}));
}

TEST_P(PoolTest, GroupNorm) {
  const Shape xs{2, 6, 3};
  std::vector<double> xv(36);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<double>((i * 7) % 11);
  Tensor w = tj::arange(1, 7, 1, tj::f32), b = tj::full({6}, 0.5);
  Tensor y = tj::group_norm(make(xv, xs), 2, w, b);
  std::vector<double> want(36);
  for (int n = 0; n < 2; ++n)
    for (int g = 0; g < 2; ++g) {
      double m = 0, v = 0;
      for (int k = 0; k < 9; ++k) m += xv[n * 18 + g * 9 + k] / 9;
      for (int k = 0; k < 9; ++k) v += std::pow(xv[n * 18 + g * 9 + k] - m, 2) / 9;
      for (int k = 0; k < 9; ++k) {
        const int c = g * 3 + k / 3;
        want[n * 18 + g * 9 + k] =
            (xv[n * 18 + g * 9 + k] - m) / std::sqrt(v + 1e-5) * (c + 1) + 0.5;
      }
    }
  EXPECT_TRUE(all_close(y, want, 1e-5, 1e-5));
  EXPECT_TRUE(throws_error([&] { (void)tj::group_norm(make(xv, xs), 4); },
                           {"group_norm", "num_groups (4) must divide", "(6)"}));
}

TEST_P(PoolTest, InterpolateNearestAndBilinear) {
  Tensor x = tj::from_vector<float>({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
  Tensor n = tj::interpolate(x, {4, 6});
  EXPECT_EQ(n.shape(), (Shape{1, 1, 4, 6}));
  EXPECT_TRUE(
      all_close(n, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6}));
  EXPECT_TRUE(all_close(tj::interpolate(x, {}, {1.5}), {1, 1, 2, 3, 1, 1, 2, 3, 4, 4, 5, 6}));
  // Bilinear from torch: F.interpolate(x, size=(3, 5), mode="bilinear") and align_corners=True.
  auto bil = [](double h, double w, bool corners) {  // the 2x3 grid 1..6 sampled at (h, w)
    (void)corners;
    const int h0 = std::min(static_cast<int>(std::floor(h)), 1),
              w0 = std::min(static_cast<int>(std::floor(w)), 2);
    const int h1 = std::min(h0 + 1, 1), w1 = std::min(w0 + 1, 2);
    const double lh = h - h0, lw = w - w0;
    auto v = [](int a, int b) { return 1.0 + a * 3 + b; };
    return (1 - lh) * ((1 - lw) * v(h0, w0) + lw * v(h0, w1)) +
           lh * ((1 - lw) * v(h1, w0) + lw * v(h1, w1));
  };
  std::vector<double> want_half, want_corners;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j) {
      want_half.push_back(bil(std::max((i + 0.5) * 2 / 3 - 0.5, 0.0),
                              std::max((j + 0.5) * 3 / 5 - 0.5, 0.0), false));
      want_corners.push_back(bil(i * 1.0 / 2, j * 2.0 / 4, true));
    }
  EXPECT_TRUE(all_close(tj::interpolate(x, {3, 5}, {}, "bilinear"), want_half));
  EXPECT_TRUE(all_close(tj::interpolate(x, {3, 5}, {}, "bilinear", true), want_corners));
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::interpolate(x, {3, 5}, {2.0});
      },
      {"interpolate", "exactly one of size and scale_factor"}));
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::interpolate(x, {3, 5}, {}, "bicubic");
      },
      {"interpolate", "\"bicubic\""}));
}

TEST_P(PoolTest, BadPoolingIsAClearError) {
  Tensor x = tj::ones({1, 2, 5, 5});
  EXPECT_TRUE(throws_error([&] { (void)tj::max_pool2d(x, {3}, {1}, {2}); },
                           {"max_pool2d", "padding (2)", "at most half"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::max_pool2d(x, {7}); },
                           {"max_pool2d", "larger than the padded input"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::avg_pool2d(x.to(tj::i64), {2}); },
                           {"avg_pool2d", "floating-point", "i64"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::max_pool2d(x, {}); },
                           {"max_pool2d", "kernel_size needs 1 or 2 values, got 0"}));
  EXPECT_EQ(tj::max_pool2d(x, {2}).shape(), (Shape{1, 2, 2, 2}));
}

}  // namespace
