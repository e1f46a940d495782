// matmul (torch.matmul semantics: 1-D, 2-D, batched, broadcast batch dims) and
// linear (x w^T + b). Expected values come from a plain triple loop in
// float64 written here. Every suite runs in lazy and in eager mode.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "test_util.h"
#include "tilejit_build_config.h"

namespace {

using tj::DType;
using tj::Shape;
using tj::Tensor;
using namespace tj::testing;  // test_util.h

// ---- helpers --------------------------------------------------------------------

/// tol_for, but a matmul output sums many products: f64 allows atol 1e-10.
Tol matmul_tol(DType dt) { return dt == DType::f64 ? Tol{1e-10, 1e-10} : tol_for(dt); }

/// Random-ish values every dtype stores exactly: multiples of 1/64 in [-1, 1)
/// for floating dtypes, integers in [-5, 5] for integer ones.
std::vector<double> rand_values(int64_t n, uint32_t seed, DType dt) {
  std::vector<double> v(n);
  uint32_t s = seed * 2654435761u + 777u;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    uint32_t r = s >> 8;
    v[i] = tj::is_floating(dt) ? static_cast<double>(static_cast<int64_t>(r % 128) - 64) / 64.0
                               : static_cast<double>(static_cast<int64_t>(r % 11) - 5);
  }
  return v;
}

struct Ref {
  Shape shape;
  std::vector<double> v;
};

/// torch.matmul in float64 with plain loops.
Ref ref_matmul(const std::vector<double>& a, Shape as, const std::vector<double>& b, Shape bs) {
  bool a1 = as.size() == 1, b1 = bs.size() == 1;
  if (a1) as.insert(as.begin(), 1);  // [k] -> [1, k]
  if (b1) bs.push_back(1);           // [k] -> [k, 1]
  int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  Shape abatch(as.begin(), as.end() - 2), bbatch(bs.begin(), bs.end() - 2);
  size_t nb = std::max(abatch.size(), bbatch.size());
  abatch.insert(abatch.begin(), nb - abatch.size(), 1);
  bbatch.insert(bbatch.begin(), nb - bbatch.size(), 1);
  Shape batch(nb);
  for (size_t i = 0; i < nb; ++i) batch[i] = abatch[i] == 1 ? bbatch[i] : abatch[i];
  auto ast = row_major(abatch), bst = row_major(bbatch);
  Ref r;
  for_each_index(batch, [&](int64_t, const std::vector<int64_t>& idx) {
    int64_t ao = 0, bo = 0;
    for (size_t k = 0; k < nb; ++k) {
      ao += (abatch[k] == 1 ? 0 : idx[k]) * ast[k];
      bo += (bbatch[k] == 1 ? 0 : idx[k]) * bst[k];
    }
    const double* A = a.data() + ao * M * K;
    const double* B = b.data() + bo * K * N;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += A[i * K + k] * B[k * N + j];
        r.v.push_back(acc);
      }
  });
  r.shape = batch;
  if (!a1) r.shape.push_back(M);
  if (!b1) r.shape.push_back(N);
  return r;
}

class MatmulTest : public ModeTest {};

// ---- operands in several layouts ----------------------------------------------------

/// How an operand is laid out in memory; its logical value is always the same.
enum class Layout {
  contiguous,
  transposed,  // stored as the transpose of its last two dims, then .transpose(-1, -2)
  strided,     // every other element of a tensor twice as wide in the last dim
  pending,     // a not-yet-computed (lazy) tensor: (values - 1) + 1
};

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::contiguous:
      return "contig";
    case Layout::transposed:
      return "trans";
    case Layout::strided:
      return "strided";
    case Layout::pending:
      return "pending";
  }
  return "?";
}

Tensor operand(const std::vector<double>& d, const Shape& s, DType dt, Layout l) {
  switch (l) {
    case Layout::contiguous:
      return make(d, s, dt);
    case Layout::pending: {
      auto m = d;
      for (auto& v : m) v -= 1;
      return make(m, s, dt) + 1;
    }
    case Layout::transposed: {
      if (s.size() < 2) return make(d, s, dt);
      Shape ts = s;
      std::swap(ts[ts.size() - 1], ts[ts.size() - 2]);
      std::vector<double> td(d.size());
      auto st = row_major(ts);
      for_each_index(s, [&](int64_t i, const std::vector<int64_t>& idx) {
        auto j = idx;
        std::swap(j[j.size() - 1], j[j.size() - 2]);
        int64_t off = 0;
        for (size_t k = 0; k < j.size(); ++k) off += j[k] * st[k];
        td[off] = d[i];
      });
      return make(td, ts, dt).transpose(-1, -2);
    }
    case Layout::strided: {
      Shape ws = s;
      int64_t last = s.back();
      ws.back() = 2 * last;
      std::vector<double> wd(numel_of(ws));
      for (size_t i = 0; i < d.size(); ++i) {
        int64_t row = static_cast<int64_t>(i) / last, col = static_cast<int64_t>(i) % last;
        wd[row * 2 * last + 2 * col] = d[i];
        wd[row * 2 * last + 2 * col + 1] = 99;  // junk between the elements
      }
      return make(wd, ws, dt).slice(-1, 0, 2 * last, 2);
    }
  }
  return {};
}

// ---- the matmul table -----------------------------------------------------------------

struct MatmulCase {
  std::string name;
  Shape a, b, want;
  DType dtype;
  Layout la, lb;
};

void PrintTo(const MatmulCase& c, std::ostream* os) { *os << c.name; }

std::string shape_name(const Shape& s) {
  std::string r;
  for (auto d : s) r += std::to_string(d) + "x";
  if (!s.empty()) r.pop_back();
  return r.empty() ? "scalar" : r;
}

std::vector<MatmulCase> matmul_cases() {
  struct Shapes {
    Shape a, b, want;
  };
  const std::vector<Shapes> shapes = {
      // 2-D
      {{1, 1}, {1, 1}, {1, 1}},
      {{4, 5}, {5, 3}, {4, 3}},
      {{7, 33}, {33, 1}, {7, 1}},
      {{33, 7}, {7, 33}, {33, 33}},
      {{1, 33}, {33, 7}, {1, 7}},
      {{7, 1}, {1, 7}, {7, 7}},
      {{65, 70}, {70, 63}, {65, 63}},
      // 1-D operands
      {{7}, {7, 33}, {33}},
      {{33, 7}, {7}, {33}},
      {{33}, {33}, {}},
      {{1}, {1}, {}},
      {{4}, {2, 4, 3}, {2, 3}},
      {{2, 3, 4}, {4}, {2, 3}},
      // batched
      {{3, 7, 5}, {3, 5, 2}, {3, 7, 2}},
      {{2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}},
      {{1, 3, 4}, {2, 4, 5}, {2, 3, 5}},
      {{2, 3, 4}, {4, 5}, {2, 3, 5}},
      {{3, 4}, {2, 4, 5}, {2, 3, 5}},
      {{2, 2, 33, 7}, {2, 1, 7, 1}, {2, 2, 33, 1}},
      // larger, odd sizes: several tiles and ragged edges
      {{128, 256}, {256, 96}, {128, 96}},
      {{100, 300}, {300, 50}, {100, 50}},
      {{4, 65, 33}, {4, 33, 129}, {4, 65, 129}},
      {{257}, {257, 31}, {31}},
  };
  std::vector<MatmulCase> cases;
  auto add = [&](const Shapes& s, DType dt, Layout la, Layout lb) {
    std::string name =
        shape_name(s.a) + "_at_" + shape_name(s.b) + "_" + std::string(tj::dtype_name(dt));
    if (la != Layout::contiguous || lb != Layout::contiguous)
      name += std::string("_") + layout_name(la) + "_" + layout_name(lb);
    cases.push_back({name, s.a, s.b, s.want, dt, la, lb});
  };
  for (const auto& s : shapes) add(s, tj::f32, Layout::contiguous, Layout::contiguous);
  for (const auto& s : shapes) {
    if (s.a.size() >= 2 || s.b.size() >= 2) add(s, tj::f32, Layout::transposed, Layout::transposed);
    add(s, tj::f32, Layout::strided, Layout::contiguous);
    add(s, tj::f32, Layout::pending, Layout::strided);
    if (s.a.size() >= 2) add(s, tj::f32, Layout::transposed, Layout::pending);
  }
  for (DType dt : {tj::f16, tj::bf16, tj::f64, tj::i32}) {
    for (size_t i : {1u, 3u, 7u, 9u, 14u, 15u, 20u, 21u})
      add(shapes[i], dt, Layout::contiguous, Layout::contiguous);
    add(shapes[3], dt, Layout::transposed, Layout::contiguous);
    add(shapes[15], dt, Layout::contiguous, Layout::transposed);
  }
  return cases;
}

class MatmulTableTest : public ModeCaseTest<MatmulCase> {};

TEST_P(MatmulTableTest, MatchesTripleLoop) {
  const auto& c = param();
  auto ad = rand_values(numel_of(c.a), 1, c.dtype);
  auto bd = rand_values(numel_of(c.b), 2, c.dtype);
  Ref want = ref_matmul(ad, c.a, bd, c.b);
  ASSERT_EQ(want.shape, c.want) << "the test's reference disagrees with its table";

  auto a = operand(ad, c.a, c.dtype, c.la);
  auto b = operand(bd, c.b, c.dtype, c.lb);
  ASSERT_EQ(a.shape(), c.a);
  ASSERT_EQ(b.shape(), c.b);
  ASSERT_EQ(a.dtype(), c.dtype);
  auto y = tj::matmul(a, b);
  EXPECT_EQ(y.shape(), c.want);
  EXPECT_EQ(y.dtype(), c.dtype);
  Tol tol = matmul_tol(c.dtype);
  // Rounding in an f32 dot product of length K grows with K (|terms| <= 1 here).
  int64_t K = c.a.back();
  if (c.dtype == tj::f32) tol.atol = std::max(tol.atol, 1e-7 * static_cast<double>(K));
  EXPECT_TRUE(all_close(y, want.v, tol.rtol, tol.atol));
  // The method form agrees.
  EXPECT_EQ(a.matmul(b).to_vector<double>(), y.to_vector<double>());
}

INSTANTIATE_TEST_SUITE_P(Ops, MatmulTableTest,
                         ::testing::Combine(::testing::Bool(), ::testing::ValuesIn(matmul_cases())),
                         [](const auto& info) { return case_name(info); });

// ---- linear ---------------------------------------------------------------------------

struct LinearCase {
  std::string name;
  Shape x;  // [..., in]
  int64_t out;
  bool bias;
  DType dtype;
  bool w_transposed_view;  // w given as a .t() of an [in, out] tensor
};

void PrintTo(const LinearCase& c, std::ostream* os) { *os << c.name; }

std::vector<LinearCase> linear_cases() {
  std::vector<LinearCase> cases;
  auto add = [&](Shape x, int64_t out, bool bias, DType dt, bool wt) {
    cases.push_back({"x" + shape_name(x) + "_out" + std::to_string(out) + (bias ? "_bias" : "") +
                         (wt ? "_wview" : "") + "_" + std::string(tj::dtype_name(dt)),
                     x, out, bias, dt, wt});
  };
  for (bool bias : {false, true}) {
    add({1, 1}, 1, bias, tj::f32, false);
    add({7, 33}, 5, bias, tj::f32, false);
    add({33, 7}, 1, bias, tj::f32, false);
    add({4, 16}, 33, bias, tj::f32, false);
    add({2, 3, 7}, 33, bias, tj::f32, false);
    add({7}, 33, bias, tj::f32, false);
    add({7, 33}, 7, bias, tj::f32, true);
    add({7, 33}, 5, bias, tj::f16, false);
    add({2, 7, 33}, 7, bias, tj::bf16, false);
    add({7, 33}, 5, bias, tj::f64, false);
  }
  return cases;
}

/// linear's weight [out, in] from row-major values `wd`, made directly or as
/// the .t() view of an [in, out] tensor.
Tensor linear_weight(const std::vector<double>& wd, int64_t out, int64_t in, DType dt,
                     bool transposed_view) {
  if (!transposed_view) return make(wd, {out, in}, dt);
  std::vector<double> wt(wd.size());  // [in, out]
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) wt[i * out + o] = wd[o * in + i];
  return make(wt, {in, out}, dt).t();
}

class LinearTableTest : public ModeCaseTest<LinearCase> {};

TEST_P(LinearTableTest, MatchesXWtPlusB) {
  const auto& c = param();
  int64_t in = c.x.back();
  auto xd = rand_values(numel_of(c.x), 3, c.dtype);
  auto wd = rand_values(c.out * in, 4, c.dtype);  // [out, in]
  auto bd = rand_values(c.out, 5, c.dtype);

  // Reference: y[..., o] = sum_i x[..., i] w[o, i] + b[o].
  int64_t rows = numel_of(c.x) / in;
  std::vector<double> want;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < c.out; ++o) {
      double acc = c.bias ? bd[o] : 0;
      for (int64_t i = 0; i < in; ++i) acc += xd[r * in + i] * wd[o * in + i];
      want.push_back(acc);
    }
  Shape want_shape(c.x.begin(), c.x.end() - 1);
  want_shape.push_back(c.out);

  auto x = make(xd, c.x, c.dtype);
  Tensor w = linear_weight(wd, c.out, in, c.dtype, c.w_transposed_view);
  ASSERT_EQ(w.shape(), (Shape{c.out, in}));
  auto y = c.bias ? tj::linear(x, w, make(bd, {c.out}, c.dtype)) : tj::linear(x, w);
  EXPECT_EQ(y.shape(), want_shape);
  EXPECT_EQ(y.dtype(), c.dtype);
  Tol tol = matmul_tol(c.dtype);
  EXPECT_TRUE(all_close(y, want, tol.rtol, tol.atol));
}

INSTANTIATE_TEST_SUITE_P(Ops, LinearTableTest,
                         ::testing::Combine(::testing::Bool(), ::testing::ValuesIn(linear_cases())),
                         [](const auto& info) { return case_name(info); });

// ---- GEMM epilogues ----------------------------------------------------------------------
//
// act(x w^T + b) and act(x w^T): what oneDNN (CPU) and cuBLASLt (CUDA)
// compute in the GEMM's own call. Each row runs end to end against a float64
// reference; in lazy mode on a CPU build with oneDNN the GEMM and its
// epilogue are one launch, and patterns no library takes stay correct.

enum class Act { none, relu, gelu_tanh, gelu_erf, relu_times_3 };

const char* act_name(Act a) {
  switch (a) {
    case Act::none:
      return "none";
    case Act::relu:
      return "relu";
    case Act::gelu_tanh:
      return "gelu_tanh";
    case Act::gelu_erf:
      return "gelu_erf";
    case Act::relu_times_3:
      return "relu_times_3";
  }
  return "?";
}

struct EpilogueCase {
  std::string name;
  Shape x;
  int64_t out;
  bool bias;
  Act act;
  DType dtype;
  bool w_transposed_view;
};

void PrintTo(const EpilogueCase& c, std::ostream* os) { *os << c.name; }

std::vector<EpilogueCase> epilogue_cases() {
  std::vector<EpilogueCase> cases;
  auto add = [&](Shape x, int64_t out, bool bias, Act act, DType dt, bool wt) {
    cases.push_back({"x" + shape_name(x) + "_out" + std::to_string(out) + (bias ? "_bias_" : "_") +
                         act_name(act) + (wt ? "_wview" : "") + "_" +
                         std::string(tj::dtype_name(dt)),
                     x, out, bias, act, dt, wt});
  };
  for (DType dt : {tj::f32, tj::bf16, tj::f16})
    for (Act act : {Act::none, Act::relu, Act::gelu_tanh, Act::gelu_erf})
      for (bool bias : {false, true}) {
        if (act == Act::none && !bias) continue;  // a plain GEMM: the tables above
        add({37, 70}, 29, bias, act, dt, false);
      }
  for (Act act : {Act::relu, Act::gelu_erf}) {
    add({3, 5, 40}, 17, true, act, tj::f32, false);  // batched rows
    add({64, 96}, 48, true, act, tj::f32, true);     // w as a transposed view
    add({1, 1}, 1, true, act, tj::f32, false);
    add({9, 33}, 130, true, act, tj::bf16, false);
  }
  add({37, 70}, 29, true, Act::relu_times_3, tj::f32, false);  // no library fuses this
  add({37, 70}, 29, true, Act::gelu_erf, tj::f64, false);      // nor f64
  return cases;
}

double act_ref(Act a, double v) {
  switch (a) {
    case Act::none:
      return v;
    case Act::relu:
      return std::max(v, 0.0);
    case Act::gelu_tanh:
      return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    case Act::gelu_erf:
      return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    case Act::relu_times_3:
      return std::max(v, 0.0) * 3;
  }
  return v;
}

Tensor act_of(Act a, const Tensor& y) {
  switch (a) {
    case Act::none:
      return y;
    case Act::relu:
      return tj::relu(y);
    case Act::gelu_tanh:
      return tj::gelu(y, "tanh");
    case Act::gelu_erf:
      return tj::gelu(y);
    case Act::relu_times_3:
      return tj::relu(y) * 3.0;
  }
  return y;
}

class EpilogueTableTest : public ModeCaseTest<EpilogueCase> {};

TEST_P(EpilogueTableTest, MatchesActOfXWtPlusB) {
  const auto& c = param();
  const int64_t in = c.x.back(), rows = numel_of(c.x) / in;
  auto xd = rand_values(numel_of(c.x), 6, c.dtype);
  auto wd = rand_values(c.out * in, 7, c.dtype);  // [out, in]
  auto bd = rand_values(c.out, 8, c.dtype);
  std::vector<double> want;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < c.out; ++o) {
      double acc = c.bias ? bd[o] : 0;
      for (int64_t i = 0; i < in; ++i) acc += xd[r * in + i] * wd[o * in + i];
      want.push_back(act_ref(c.act, acc));
    }
  auto x = make(xd, c.x, c.dtype);
  Tensor w = linear_weight(wd, c.out, in, c.dtype, c.w_transposed_view);
  Tensor b = make(bd, {c.out}, c.dtype);
  x.eval();
  w.eval();
  b.eval();
  tj::sync();
  tj::reset_stats();
  Tensor y = act_of(c.act, c.bias ? tj::linear(x, w, b) : tj::linear(x, w));
  y.eval();
  tj::sync();
  const tj::Stats st = tj::stats();
  Shape want_shape(c.x.begin(), c.x.end() - 1);
  want_shape.push_back(c.out);
  EXPECT_EQ(y.shape(), want_shape);
  EXPECT_EQ(y.dtype(), c.dtype);
  Tol tol = matmul_tol(c.dtype);
  // The activation of a rounded sum: a half-precision ulp of the sum, times
  // GELU's slope (at most 1.13).
  if (c.dtype != tj::f64) tol.atol = std::max(tol.atol, 2e-6 * static_cast<double>(in));
  EXPECT_TRUE(all_close(y, want, tol.rtol, tol.atol));
  // oneDNN has an optimized f32 matmul on every x86 CPU; bf16 and f16 only
  // where the CPU has their instructions (elsewhere the generated kernel runs).
  const bool library_fuses = TJ_HAVE_ONEDNN && c.dtype == tj::f32 && c.act != Act::relu_times_3 &&
                             !tj::default_device().is_cuda();
  if (lazy()) {
    EXPECT_LE(st.kernels_launched, 2);
    if (library_fuses) {
      EXPECT_EQ(st.kernels_launched, 1) << "the GEMM and its epilogue are one oneDNN call";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, EpilogueTableTest,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::ValuesIn(epilogue_cases())),
                         [](const auto& info) { return case_name(info); });

// ---- hand-written cases -----------------------------------------------------------------

INSTANTIATE_TEST_SUITE_P(Ops, MatmulTest, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

TEST_P(MatmulTest, HandWritten) {
  auto a = make({1, 2, 3, 4, 5, 6}, {2, 3});     // [[1 2 3] [4 5 6]]
  auto b = make({7, 8, 9, 10, 11, 12}, {3, 2});  // [[7 8] [9 10] [11 12]]
  auto c = tj::matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 2}));
  EXPECT_TRUE(all_close(c, {58, 64, 139, 154}, 0, 0));
  // 1-D x 1-D: a dot product, 0-d.
  auto d = tj::matmul(make({1, 2, 3}, {3}), make({4, 5, 6}, {3}));
  EXPECT_EQ(d.shape(), Shape{});
  EXPECT_EQ(d.dim(), 0);
  EXPECT_EQ(d.item<float>(), 32.0f);
  // 1-D x 2-D and 2-D x 1-D.
  auto e = tj::matmul(make({1, 1}, {2}), a);
  EXPECT_EQ(e.shape(), (Shape{3}));
  EXPECT_TRUE(all_close(e, {5, 7, 9}, 0, 0));
  auto f = tj::matmul(a, make({1, 0, -1}, {3}));
  EXPECT_EQ(f.shape(), (Shape{2}));
  EXPECT_TRUE(all_close(f, {-2, -2}, 0, 0));
  // a^T a with a transposed view.
  auto g = tj::matmul(a.t(), a);
  EXPECT_TRUE(all_close(g, {17, 22, 27, 22, 29, 36, 27, 36, 45}, 0, 0));
  // linear: x w^T + b.
  auto x = make({1, 2}, {1, 2});
  auto w = make({1, 0, 0, 1, 1, 1}, {3, 2});
  auto y = tj::linear(x, w, make({10, 20, 30}, {3}));
  EXPECT_EQ(y.shape(), (Shape{1, 3}));
  EXPECT_TRUE(all_close(y, {11, 22, 33}, 0, 0));
  EXPECT_TRUE(all_close(tj::linear(x, w), {1, 2, 3}, 0, 0));
  // Integers stay integers.
  std::vector<int32_t> ia{1, 2, 3, 4}, ib{5, 6, 7, 8};
  auto ic = tj::matmul(tj::from_vector(ia, {2, 2}), tj::from_vector(ib, {2, 2}));
  EXPECT_EQ(ic.dtype(), tj::i32);
  EXPECT_EQ(ic.to_vector<int32_t>(), (std::vector<int32_t>{19, 22, 43, 50}));
}

TEST_P(MatmulTest, EmptyDims) {
  // K = 0: the sum over nothing is zero.
  auto z = tj::matmul(tj::zeros({2, 0}), tj::zeros({0, 3}));
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_TRUE(all_close(z, std::vector<double>(6, 0.0), 0, 0));
  // M = 0 and a zero batch.
  EXPECT_EQ(tj::matmul(tj::zeros({0, 4}), tj::ones({4, 3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(tj::matmul(tj::zeros({0, 2, 4}), tj::ones({4, 3})).shape(), (Shape{0, 2, 3}));
  EXPECT_TRUE(tj::matmul(tj::zeros({0, 4}), tj::ones({4, 3})).to_vector<double>().empty());
  // linear with in_features = 0 gives the bias.
  auto y = tj::linear(tj::zeros({2, 0}), tj::zeros({3, 0}), make({1, 2, 3}, {3}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_TRUE(all_close(y, {1, 2, 3, 1, 2, 3}, 0, 0));
}

TEST_P(MatmulTest, FusesWithPointwiseAroundIt) {
  auto ad = rand_values(7 * 33, 8, tj::f32);
  auto bd = rand_values(33 * 5, 9, tj::f32);
  auto ref = ref_matmul(ad, {7, 33}, bd, {33, 5});
  std::vector<double> want;
  for (double v : ref.v) want.push_back(std::max(0.0, 2 * v + 0.5));
  // Inputs computed by pointwise ops, output consumed by pointwise ops.
  auto a = make(ad, {7, 33}) * 2.0f;
  auto b = make(bd, {33, 5}) + 0.0f;
  auto y = tj::relu(tj::matmul(a, b) + 0.5f);
  EXPECT_TRUE(all_close(y, want, 1e-5, 1e-5));
  // Matmul of a matmul.
  auto cd = rand_values(5 * 3, 10, tj::f32);
  auto ref2 = ref_matmul(ref.v, {7, 5}, cd, {5, 3});
  auto y2 = tj::matmul(tj::matmul(make(ad, {7, 33}), make(bd, {33, 5})), make(cd, {5, 3}));
  EXPECT_TRUE(all_close(y2, ref2.v, 1e-5, 1e-5));
  // Reduction of a matmul.
  double total = 0;
  for (double v : ref.v) total += v;
  EXPECT_TRUE(
      all_close(tj::matmul(make(ad, {7, 33}), make(bd, {33, 5})).sum(), {total}, 1e-5, 1e-5));
}

TEST_P(MatmulTest, ExpandedOperands) {
  // An operand broadcast with expand (stride-0 batch and row dims).
  auto ad = rand_values(3 * 4, 11, tj::f32);
  auto bd = rand_values(2 * 4 * 5, 12, tj::f32);
  auto a = make(ad, {3, 4}).expand({2, 3, 4});
  auto b = make(bd, {2, 4, 5});
  auto want = ref_matmul(ad, {3, 4}, bd, {2, 4, 5});
  EXPECT_TRUE(all_close(tj::matmul(a, b), want.v, 1e-5, 1e-5));
  auto row = make({1, 2, 3, 4}, {1, 4}).expand({3, 4});  // every row the same
  auto r = tj::matmul(row, make(std::vector<double>(4 * 2, 1.0), {4, 2}));
  EXPECT_TRUE(all_close(r, {10, 10, 10, 10, 10, 10}, 0, 0));
}

TEST_P(MatmulTest, BadShapesThrow) {
  auto a = tj::ones({2, 3});
  EXPECT_TRUE(throws_error([&] { tj::matmul(a, tj::ones({4, 2})).eval(); }, {"matmul"}));
  EXPECT_TRUE(throws_error([&] { tj::matmul(a, tj::ones({2})).eval(); }, {"matmul"}));
  EXPECT_TRUE(throws_error([&] { tj::matmul(tj::ones({}), a).eval(); }, {"matmul"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::matmul(tj::ones({2, 2, 3}), tj::ones({3, 3, 4})).eval();
      },
      {"matmul"}));
  EXPECT_TRUE(throws_error([&] { tj::linear(a, tj::ones({4, 2})).eval(); }, {"linear"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::linear(a, tj::ones({4, 3}), tj::ones({3})).eval();
      },
      {"linear"}));
  // Still usable.
  EXPECT_TRUE(all_close(tj::matmul(a, tj::ones({3, 1})), {3, 3}, 0, 0));
}

}  // namespace
