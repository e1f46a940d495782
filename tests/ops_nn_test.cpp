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
