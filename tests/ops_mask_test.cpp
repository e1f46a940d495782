// Masks and the small ops models need around attention: masked_fill, tril,
// triu, scalar_tensor, softmax's dtype argument, the method forms, and
// from_blob (weights used in place). The
// expected values are written here from the definitions (torch semantics);
// every test runs lazily and eagerly.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using tj::DType;
using tj::Shape;
using tj::Tensor;
using namespace tj::testing;  // test_util.h

class MaskTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { guard_->lazy = GetParam(); }
  tj::ConfigGuard guard_;
};

INSTANTIATE_TEST_SUITE_P(Ops, MaskTest, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

std::vector<double> iota(int64_t n, double start = 1) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<double>(i);
  return v;
}

/// tril (lower) / triu of row-major values of shape [batch..., rows, cols].
std::vector<double> ref_triangle(const std::vector<double>& v, int64_t rows, int64_t cols,
                                 int64_t diagonal, bool lower) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const int64_t c = static_cast<int64_t>(i) % cols, r = static_cast<int64_t>(i) / cols % rows;
    const bool keep = lower ? c - r <= diagonal : c - r >= diagonal;
    out[i] = keep ? v[i] : 0;
  }
  return out;
}

TEST_P(MaskTest, TrilAndTriuKeepTheirTriangle) {
  for (DType dt : {tj::f32, tj::f16, tj::i32, tj::i64, tj::f64}) {
    for (int64_t diagonal : {-2, -1, 0, 1, 3, 9, -9}) {
      const std::vector<double> v = iota(5 * 7);
      Tensor x = make(v, {5, 7}, dt);
      Tensor lo = tj::tril(x, diagonal), up = tj::triu(x, diagonal);
      EXPECT_EQ(lo.dtype(), dt);
      EXPECT_EQ(lo.shape(), (Shape{5, 7}));
      EXPECT_TRUE(all_close(lo, ref_triangle(v, 5, 7, diagonal, true), 0, 0))
          << tj::dtype_name(dt) << " tril " << diagonal;
      EXPECT_TRUE(all_close(up, ref_triangle(v, 5, 7, diagonal, false), 0, 0))
          << tj::dtype_name(dt) << " triu " << diagonal;
      // The method forms are the same ops.
      EXPECT_EQ(x.tril(diagonal).to_vector<double>(), lo.to_vector<double>());
      EXPECT_EQ(x.triu(diagonal).to_vector<double>(), up.to_vector<double>());
    }
  }
  // Batched, over the last two dims; a transposed view; bool; empty.
  const std::vector<double> v = iota(2 * 3 * 4);
  Tensor b = make(v, {2, 3, 4});
  EXPECT_TRUE(all_close(tj::tril(b), ref_triangle(v, 3, 4, 0, true), 0, 0));
  Tensor t = make(iota(12), {4, 3}).t();  // [3, 4], not contiguous
  EXPECT_TRUE(all_close(tj::triu(t, 1),
                        ref_triangle(t.contiguous().to_vector<double>(), 3, 4, 1, false), 0, 0));
  Tensor m = tj::ones({3, 3}, tj::bool_);
  EXPECT_EQ(tj::triu(m, 1).dtype(), tj::bool_);
  EXPECT_EQ(tj::triu(m, 1).to_vector<bool>(),
            (std::vector<bool>{false, true, true, false, false, true, false, false, false}));
  EXPECT_EQ(tj::tril(tj::zeros({0, 3})).shape(), (Shape{0, 3}));
  EXPECT_TRUE(throws_error([] { tj::tril(tj::ones({4})).eval(); },
                           {"tril", "at least 2 dimensions", "[4]"}));
}

TEST_P(MaskTest, MaskedFillBroadcastsAndKeepsTheDtype) {
  Tensor x = make(iota(12), {3, 4});
  Tensor mask = make({1, 0, 0, 1}, {4}, tj::bool_);  // broadcast over rows
  Tensor y = tj::masked_fill(x, mask, -1.5);
  EXPECT_EQ(y.dtype(), tj::f32);
  EXPECT_TRUE(all_close(y, {-1.5, 2, 3, -1.5, -1.5, 6, 7, -1.5, -1.5, 10, 11, -1.5}, 0, 0));
  EXPECT_EQ(x.masked_fill(mask, -1.5).to_vector<double>(), y.to_vector<double>());
  // A mask of more dims broadcasts x (as torch's out-of-place masked_fill).
  Tensor col = make({1, 2, 3}, {3, 1});
  Tensor wide = tj::masked_fill(col, make({0, 1}, {2, 1, 1}, tj::bool_), 0);
  EXPECT_EQ(wide.shape(), (Shape{2, 3, 1}));
  EXPECT_TRUE(all_close(wide, {1, 2, 3, 0, 0, 0}, 0, 0));
  // -inf, an integer tensor with a float value (converted to its dtype, as
  // torch does), a 0-dim tensor value.
  Tensor inf = tj::masked_fill(x, x > 10.0, -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isinf(inf.to_vector<double>()[11]));
  Tensor xi = make(iota(4), {4}, tj::i64);
  Tensor yi = tj::masked_fill(xi, xi >= 3, 7);
  EXPECT_EQ(yi.dtype(), tj::i64);
  EXPECT_EQ(yi.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 7, 7}));
  Tensor yv = xi.masked_fill(xi < 2, tj::scalar_tensor(-3, tj::i32));
  EXPECT_EQ(yv.dtype(), tj::i64);
  EXPECT_EQ(yv.to_vector<int64_t>(), (std::vector<int64_t>{-3, 2, 3, 4}));
  Tensor h = tj::masked_fill(make(iota(3), {3}, tj::bf16), make({0, 1, 0}, {3}, tj::bool_), 0.5);
  EXPECT_EQ(h.dtype(), tj::bf16);
  EXPECT_TRUE(all_close(h, {1, 0.5, 3}, 0, 0));
  // Bad input names the op and the fix.
  EXPECT_TRUE(throws_error([&] { tj::masked_fill(x, x, 0).eval(); },
                           {"masked_fill", "bool", "f32", "[3, 4]"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::masked_fill(x, mask, make({1, 2}, {2})).eval();
      },
      {"masked_fill", "0-dim", "[2]"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::masked_fill(x, make({1, 0, 1}, {3}, tj::bool_), 0).eval();
      },
      {"masked_fill", "[3, 4]", "[3]"}));
}

TEST_P(MaskTest, ScalarTensorIsZeroDim) {
  Tensor s = tj::scalar_tensor(2.5);
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.dtype(), tj::f32);  // torch::scalar_tensor's default
  EXPECT_EQ(s.item<float>(), 2.5f);
  EXPECT_EQ(tj::scalar_tensor(3).dtype(), tj::f32);
  Tensor i = tj::scalar_tensor(-7, tj::i64);
  EXPECT_EQ(i.dtype(), tj::i64);
  EXPECT_EQ(i.item<int64_t>(), -7);
  EXPECT_TRUE(all_close(make(iota(3), {3}) * s, {2.5, 5, 7.5}, 0, 0));
}

TEST_P(MaskTest, SoftmaxNeedsAFloatingInputOrADtype) {
  Tensor xi = make({1, 2, 3, 4}, {2, 2}, tj::i64);
  EXPECT_TRUE(throws_error([&] { tj::softmax(xi, 1).eval(); },
                           {"softmax", "i64", "[2, 2]", "x.to(tj::f32)", "dtype"}));
  EXPECT_TRUE(throws_error([&] { tj::log_softmax(xi, 1).eval(); }, {"log_softmax", "i64"}));
  EXPECT_TRUE(
      throws_error([&] { tj::softmax(make({1}, {1}, tj::bool_), 0).eval(); }, {"softmax", "bool"}));
  EXPECT_TRUE(throws_error([&] { tj::softmax(xi, 1, tj::i32).eval(); },
                           {"softmax", "dtype must be a floating type", "i32"}));
  // With a dtype the input is cast first, as torch.softmax(x, dim, dtype).
  const double e = std::exp(1.0);
  Tensor p = tj::softmax(xi, 1, tj::f64);
  EXPECT_EQ(p.dtype(), tj::f64);
  EXPECT_TRUE(all_close(p, {1 / (1 + e), e / (1 + e), 1 / (1 + e), e / (1 + e)}, 1e-12, 1e-14));
  Tensor lp = xi.log_softmax(1, tj::f32);
  EXPECT_EQ(lp.dtype(), tj::f32);
  EXPECT_TRUE(all_close(lp, {-std::log1p(e), 1 - std::log1p(e), -std::log1p(e), 1 - std::log1p(e)},
                        1e-6, 1e-6));
  Tensor h = make({0, 1}, {2}, tj::f16).softmax(0, tj::f32);  // f16 input, f32 result
  EXPECT_EQ(h.dtype(), tj::f32);
  EXPECT_TRUE(all_close(h, {1 / (1 + e), e / (1 + e)}, 1e-6, 1e-7));
}

TEST_P(MaskTest, MethodFormsMatchTheFunctions) {
  Tensor x = make({-1.5, -0.25, 0.5, 2}, {2, 2});
  EXPECT_EQ(x.softmax(-1).to_vector<double>(), tj::softmax(x, -1).to_vector<double>());
  EXPECT_EQ(x.log_softmax(0).to_vector<double>(), tj::log_softmax(x, 0).to_vector<double>());
  EXPECT_EQ(x.gelu().to_vector<double>(), tj::gelu(x).to_vector<double>());
  EXPECT_EQ(x.gelu("tanh").to_vector<double>(), tj::gelu(x, "tanh").to_vector<double>());
  EXPECT_EQ(x.pow(2).to_vector<double>(), tj::pow(x, 2).to_vector<double>());
  Tensor pos = x.abs();
  EXPECT_EQ(pos.pow(x).to_vector<double>(), tj::pow(pos, x).to_vector<double>());
  EXPECT_EQ(x.silu().to_vector<double>(), tj::silu(x).to_vector<double>());
  EXPECT_EQ(x.sigmoid().to_vector<double>(), tj::sigmoid(x).to_vector<double>());
}

// The causal attention pattern: scores masked above the diagonal, softmax
// over the keys. Lazily the mask, the fill and the softmax are one kernel.
TEST_P(MaskTest, CausalSoftmaxIsOneKernel) {
  const int64_t T = 6;
  std::vector<double> v(T * T);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.7 * static_cast<double>(i));
  Tensor scores = make(v, {1, T, T});
  scores.eval();
  tj::sync();
  tj::reset_stats();
  // (A mask kept in a handle would be an output of its own.)
  Tensor p = scores
                 .masked_fill(tj::triu(tj::ones({T, T}, tj::bool_), 1),
                              -std::numeric_limits<double>::infinity())
                 .softmax(-1);
  p.eval();
  tj::sync();
  if (GetParam()) {
    EXPECT_EQ(tj::stats().kernels_launched, 1);
  }
  std::vector<double> want(v.size(), 0);
  for (int64_t r = 0; r < T; ++r) {
    double m = -1e300, s = 0;
    for (int64_t c = 0; c <= r; ++c) m = std::max(m, v[static_cast<size_t>(r * T + c)]);
    for (int64_t c = 0; c <= r; ++c) s += std::exp(v[static_cast<size_t>(r * T + c)] - m);
    for (int64_t c = 0; c <= r; ++c)
      want[static_cast<size_t>(r * T + c)] = std::exp(v[static_cast<size_t>(r * T + c)] - m) / s;
  }
  EXPECT_TRUE(all_close(p, want, 1e-5, 1e-7));
}

TEST_P(MaskTest, FromBlobWrapsHostMemoryWithoutACopy) {
  std::vector<float> w = {1, 2, 3, 4, 5, 6};
  Tensor t = tj::from_blob(w.data(), {2, 3});
  EXPECT_EQ(t.dtype(), tj::f32);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_TRUE(all_close(t * 2.0, {2, 4, 6, 8, 10, 12}, 0, 0));
  // Not a copy: the wrapped memory is what is read.
  w[0] = -1;
  EXPECT_EQ(t.to_vector<float>()[0], -1.0f);
  // Value semantics: an in-place op rebinds the handle, the memory is left alone.
  Tensor u = t;
  u += 1.0;
  EXPECT_EQ(w[1], 2.0f);
  EXPECT_EQ(u.to_vector<float>()[1], 3.0f);
  // Strides in elements: a column-major [3, 2] view of the same six values.
  Tensor cm = tj::from_blob(w.data(), {3, 2}, {1, 3});
  EXPECT_TRUE(all_close(cm, {-1, 4, 2, 5, 3, 6}, 0, 0));
  EXPECT_TRUE(all_close(tj::matmul(t, cm),
                        {-1 * -1 + 2 * 2 + 3 * 3, -1 * 4 + 2 * 5 + 3 * 6, 4 * -1 + 5 * 2 + 6 * 3,
                         4 * 4 + 5 * 5 + 6 * 6},
                        1e-6, 1e-6));
  // Other dtypes; a deleter runs once nothing refers to the memory, pending
  // work included.
  auto* ints = new int64_t[4]{7, 8, 9, 10};
  int deleted = 0;
  Tensor sum;
  {
    Tensor i = tj::from_blob(
        ints, {4},
        [&](void* p) {
          delete[] static_cast<int64_t*>(p);
          ++deleted;
        },
        tj::i64);
    EXPECT_EQ(i.dtype(), tj::i64);
    sum = i.sum();  // pending (lazily): holds the memory
  }
  EXPECT_EQ(sum.item<int64_t>(), 34);
  sum = Tensor();
  tj::sync();
  EXPECT_EQ(deleted, 1);
  // Bad input.
  EXPECT_TRUE(throws_error([] { tj::from_blob(nullptr, {2}); }, {"from_blob", "null", "[2]"}));
  EXPECT_TRUE(throws_error([&] { tj::from_blob(reinterpret_cast<char*>(w.data()) + 1, {2}); },
                           {"from_blob", "aligned", "4-byte f32"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::from_blob(w.data(), {2, 3}, {1});
      },
      {"from_blob", "1 strides", "[2, 3]"}));
  EXPECT_TRUE(throws_error([&] { tj::from_blob(w.data(), {2}, {-1}); }, {"from_blob", "negative"}));
  EXPECT_TRUE(throws_error([&] { tj::from_blob(w.data(), {2}, tj::Device::cuda(0)); },
                           {"from_blob", "host memory", "cuda:0"}));
  EXPECT_EQ(tj::from_blob(nullptr, {0, 3}).numel(), 0);
}

}  // namespace
