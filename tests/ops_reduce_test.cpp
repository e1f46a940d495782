// Reductions (sum, mean, max, min, prod, argmax, argmin, var, std) and the
// composites built on them (softmax, log_softmax, layer_norm, rms_norm).
//
// Expected values come from a small float64 reference written here with plain
// loops, for random-ish inputs that every dtype stores exactly, plus
// hand-written cases. Every suite runs in lazy and in eager mode.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "test_util.h"

namespace {

using tj::Axes;
using tj::DType;
using tj::Shape;
using tj::Tensor;
using namespace tj::testing;  // test_util.h

// ---- helpers ------------------------------------------------------------------

/// Random-ish multiples of 1/64 in [lo, hi): exact in f16, bf16, f32, f64.
std::vector<double> rand_values(int64_t n, uint32_t seed, double lo = -2, double hi = 2) {
  std::vector<double> v(n);
  uint32_t s = seed * 2654435761u + 12345u;
  int64_t steps = static_cast<int64_t>((hi - lo) * 64);
  for (int64_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    v[i] = lo + static_cast<double>((s >> 8) % steps) / 64.0;
  }
  return v;
}

class ReduceTest : public ModeTest {};

// ---- float64 reference for reductions -----------------------------------------------

enum class Red { sum, mean, max, min, prod, var, var_biased, std, std_biased };

const char* red_name(Red r) {
  switch (r) {
    case Red::sum:
      return "sum";
    case Red::mean:
      return "mean";
    case Red::max:
      return "max";
    case Red::min:
      return "min";
    case Red::prod:
      return "prod";
    case Red::var:
      return "var";
    case Red::var_biased:
      return "var_biased";
    case Red::std:
      return "std";
    case Red::std_biased:
      return "std_biased";
  }
  return "?";
}

double combine(Red op, const std::vector<double>& g) {
  double n = static_cast<double>(g.size());
  switch (op) {
    case Red::sum: {
      double s = 0;
      for (double x : g) s += x;
      return s;
    }
    case Red::mean: {
      double s = 0;
      for (double x : g) s += x;
      return s / n;
    }
    case Red::prod: {
      double s = 1;
      for (double x : g) s *= x;
      return s;
    }
    case Red::max: {
      double m = -kInf;
      for (double x : g) {
        if (std::isnan(x)) return kNaN;
        m = std::max(m, x);
      }
      return m;
    }
    case Red::min: {
      double m = kInf;
      for (double x : g) {
        if (std::isnan(x)) return kNaN;
        m = std::min(m, x);
      }
      return m;
    }
    case Red::var:
    case Red::var_biased:
    case Red::std:
    case Red::std_biased: {
      double mean = 0;
      for (double x : g) mean += x;
      mean /= n;
      double ss = 0;
      for (double x : g) ss += (x - mean) * (x - mean);
      bool unbiased = op == Red::var || op == Red::std;
      double v = ss / (unbiased ? n - 1 : n);
      return (op == Red::std || op == Red::std_biased) ? std::sqrt(v) : v;
    }
  }
  return kNaN;
}

struct Ref {
  Shape shape;
  std::vector<double> v;
};

/// Reduces `x` (row-major, `shape`) over `axes` (empty = all, negative allowed).
Ref ref_reduce(const std::vector<double>& x, const Shape& shape, Axes axes, bool keepdim, Red op) {
  int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<bool> red(rank, axes.empty());
  for (auto a : axes) red[a < 0 ? a + rank : a] = true;
  Shape keep_shape, out_shape;
  for (int64_t k = 0; k < rank; ++k) {
    keep_shape.push_back(red[k] ? 1 : shape[k]);
    if (!red[k]) out_shape.push_back(shape[k]);
  }
  auto kst = row_major(keep_shape);
  std::vector<std::vector<double>> groups(numel_of(keep_shape));
  for_each_index(shape, [&](int64_t i, const std::vector<int64_t>& idx) {
    int64_t o = 0;
    for (int64_t k = 0; k < rank; ++k)
      if (!red[k]) o += idx[k] * kst[k];
    groups[o].push_back(x[i]);
  });
  Ref r{keepdim ? keep_shape : out_shape, {}};
  for (const auto& g : groups) r.v.push_back(combine(op, g));
  return r;
}

Tensor apply(Red op, const Tensor& x, const Axes& axes, bool keepdim) {
  switch (op) {
    case Red::sum:
      return x.sum(axes, keepdim);
    case Red::mean:
      return x.mean(axes, keepdim);
    case Red::max:
      return x.max(axes, keepdim);
    case Red::min:
      return x.min(axes, keepdim);
    case Red::prod:
      return x.prod(axes, keepdim);
    case Red::var:
      return x.var(axes, true, keepdim);
    case Red::var_biased:
      return tj::var(x, axes, false, keepdim);
    case Red::std:
      return tj::std(x, axes, true, keepdim);
    case Red::std_biased:
      return x.std(axes, false, keepdim);
  }
  return {};
}

// ---- the reduction table ---------------------------------------------------------------

struct ReduceCase {
  std::string name;
  Red op;
  Shape shape;
  Axes axes;
  bool keepdim;
  DType dtype;
};

void PrintTo(const ReduceCase& c, std::ostream* os) { *os << c.name; }

std::string axes_name(const Axes& axes) {
  if (axes.empty()) return "all";
  std::string s = "ax";
  for (auto a : axes) s += a < 0 ? "m" + std::to_string(-a) : std::to_string(a);
  return s;
}

std::string shape_name(const Shape& s) {
  std::string r = "s";
  for (auto d : s) r += std::to_string(d) + "x";
  if (!s.empty()) r.pop_back();
  return r;
}

std::vector<ReduceCase> reduce_cases() {
  std::vector<ReduceCase> cases;
  const Red ops[] = {Red::sum, Red::mean,       Red::max, Red::min,       Red::prod,
                     Red::var, Red::var_biased, Red::std, Red::std_biased};
  auto add = [&](Red op, Shape shape, Axes axes, bool keepdim, DType dt) {
    cases.push_back({std::string(red_name(op)) + "_" + shape_name(shape) + "_" + axes_name(axes) +
                         (keepdim ? "_keep" : "") + "_" + std::string(tj::dtype_name(dt)),
                     op, shape, axes, keepdim, dt});
  };
  const std::vector<Axes> axis_sets = {{0},    {1},     {2},    {-1},      {-2},
                                       {0, 2}, {-1, 0}, {1, 2}, {0, 1, 2}, {}};
  for (Red op : ops)
    for (const auto& axes : axis_sets)
      for (bool keepdim : {false, true}) add(op, {2, 3, 4}, axes, keepdim, tj::f32);
  for (Red op : ops)
    for (DType dt : {tj::f16, tj::bf16, tj::f64}) {
      add(op, {2, 3, 4}, {1}, false, dt);
      add(op, {2, 3, 4}, {}, false, dt);
      add(op, {2, 3, 4}, {-1, 0}, true, dt);
    }
  for (Red op : ops) {
    add(op, {7}, {0}, false, tj::f32);
    add(op, {7}, {}, true, tj::f32);
    add(op, {1, 5, 1}, {1}, false, tj::f32);
    add(op, {33, 17}, {0}, false, tj::f32);
    add(op, {33, 17}, {1}, true, tj::f32);
    add(op, {2, 3, 4, 5}, {1, 3}, false, tj::f32);
    add(op, {2, 3, 4, 5}, {0, -2}, true, tj::f64);
  }
  // Larger, odd sizes: several tiles and ragged edges.
  for (Red op : {Red::sum, Red::mean, Red::max, Red::min, Red::var, Red::std_biased}) {
    add(op, {257, 129}, {0}, false, tj::f32);
    add(op, {257, 129}, {1}, true, tj::f32);
    add(op, {257, 129}, {}, false, tj::f32);
    add(op, {3, 1000}, {-1}, false, tj::f32);
    add(op, {9, 65, 33}, {0, 2}, false, tj::f32);
    add(op, {257, 129}, {0}, false, tj::f16);
  }
  add(Red::prod, {257, 129}, {0}, false, tj::f32);
  add(Red::prod, {9, 65, 33}, {1}, true, tj::f32);
  return cases;
}

class ReduceTableTest : public ModeCaseTest<ReduceCase> {};

TEST_P(ReduceTableTest, MatchesFloat64Reference) {
  const auto& c = param();
  int64_t n = numel_of(c.shape);
  // prod: values near 1 (a few negative) so that the product stays in range.
  std::vector<double> data;
  if (c.op == Red::prod) {
    data = rand_values(n, 7, 0.75, 1.5);
    for (int64_t i = 0; i < n; i += 5) data[i] = -data[i];
  } else {
    data = rand_values(n, 3);
  }
  Ref want = ref_reduce(data, c.shape, c.axes, c.keepdim, c.op);
  Tol tol = tol_for(c.dtype);
  if (c.op == Red::prod && n > 100) tol.rtol *= 10;  // many roundings in a long product

  auto x = make(data, c.shape, c.dtype);
  auto y = apply(c.op, x, c.axes, c.keepdim);
  EXPECT_EQ(y.shape(), want.shape);
  EXPECT_EQ(y.dtype(), c.dtype) << "floating reductions keep the input dtype";
  EXPECT_TRUE(all_close(y, want.v, tol.rtol, tol.atol)) << "computed input";

  // The same on a pending input and on a non-contiguous view of the same values.
  auto pending = make(data, c.shape, c.dtype) + 0.0;
  auto y2 = apply(c.op, pending, c.axes, c.keepdim);
  EXPECT_EQ(y2.shape(), want.shape);
  EXPECT_TRUE(all_close(y2, want.v, tol.rtol, tol.atol)) << "pending input";

  if (c.shape.size() >= 2) {
    // Store the transpose of the last two dims, then transpose it back: a strided view.
    Shape ts = c.shape;
    std::swap(ts[ts.size() - 1], ts[ts.size() - 2]);
    std::vector<double> tdata(n);
    auto st = row_major(ts);
    for_each_index(c.shape, [&](int64_t i, const std::vector<int64_t>& idx) {
      auto j = idx;
      std::swap(j[j.size() - 1], j[j.size() - 2]);
      int64_t off = 0;
      for (size_t k = 0; k < j.size(); ++k) off += j[k] * st[k];
      tdata[off] = data[i];
    });
    auto view = make(tdata, ts, c.dtype).transpose(-1, -2);
    ASSERT_EQ(view.shape(), c.shape);
    auto y3 = apply(c.op, view, c.axes, c.keepdim);
    EXPECT_EQ(y3.shape(), want.shape);
    EXPECT_TRUE(all_close(y3, want.v, tol.rtol, tol.atol)) << "transposed view input";
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, ReduceTableTest,
                         ::testing::Combine(::testing::Bool(), ::testing::ValuesIn(reduce_cases())),
                         [](const auto& info) { return case_name(info); });

// ---- hand-written cases ---------------------------------------------------------------

INSTANTIATE_TEST_SUITE_P(Ops, ReduceTest, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

TEST_P(ReduceTest, HandWrittenSmall) {
  auto x = make({1, 2, 3, 4, 5, 6}, {2, 3});
  struct Row {
    const char* what;
    Tensor got;
    Shape shape;
    std::vector<double> want;
  };
  std::vector<Row> rows = {
      {"sum()", x.sum(), {}, {21}},
      {"sum({0})", x.sum({0}), {3}, {5, 7, 9}},
      {"sum({1})", x.sum({1}), {2}, {6, 15}},
      {"sum({1}, keep)", x.sum({1}, true), {2, 1}, {6, 15}},
      {"sum({}, keep)", x.sum({}, true), {1, 1}, {21}},
      {"sum({-1})", x.sum({-1}), {2}, {6, 15}},
      {"sum({0,1})", x.sum({0, 1}), {}, {21}},
      {"sum(x, 1)", tj::sum(x, 1), {2}, {6, 15}},
      {"sum(x, 0, keep)", tj::sum(x, 0, true), {1, 3}, {5, 7, 9}},
      {"mean()", x.mean(), {}, {3.5}},
      {"mean({0})", x.mean({0}), {3}, {2.5, 3.5, 4.5}},
      {"mean(x, 1, keep)", tj::mean(x, 1, true), {2, 1}, {2, 5}},
      {"max()", x.max(), {}, {6}},
      {"max({0})", x.max({0}), {3}, {4, 5, 6}},
      {"max(x, -1)", tj::max(x, -1), {2}, {3, 6}},
      {"min()", tj::min(x), {}, {1}},
      {"min({1})", x.min({1}), {2}, {1, 4}},
      {"min(x, 0, keep)", tj::min(x, 0, true), {1, 3}, {1, 2, 3}},
      {"prod()", x.prod(), {}, {720}},
      {"prod({1})", tj::prod(x, {1}), {2}, {6, 120}},
      {"prod({0}, keep)", x.prod({0}, true), {1, 3}, {4, 10, 18}},
      {"var()", x.var(), {}, {3.5}},
      {"var(biased)", x.var({}, false), {}, {17.5 / 6}},
      {"var({1})", x.var({1}), {2}, {1, 1}},
      {"var({1}, biased, keep)", x.var({1}, false, true), {2, 1}, {2.0 / 3, 2.0 / 3}},
      {"var({0})", tj::var(x, {0}), {3}, {4.5, 4.5, 4.5}},
      {"std()", x.std(), {}, {std::sqrt(3.5)}},
      {"std(biased)", tj::std(x, {}, false), {}, {std::sqrt(17.5 / 6)}},
      {"std({0}, keep)",
       x.std({0}, true, true),
       {1, 3},
       {std::sqrt(4.5), std::sqrt(4.5), std::sqrt(4.5)}},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(r.got.shape(), r.shape) << r.what;
    EXPECT_EQ(r.got.dtype(), tj::f32) << r.what;
    EXPECT_TRUE(all_close(r.got, r.want, 1e-6, 1e-6)) << r.what;
  }
}

TEST_P(ReduceTest, ReduceThenPointwiseAndPointwiseThenReduce) {
  auto x = make({1, 2, 3, 4, 5, 6}, {2, 3});
  auto centered = x - x.mean({1}, true);
  EXPECT_TRUE(all_close(centered, {-1, 0, 1, -1, 0, 1}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close((x * 2.0f).sum({0}), {10, 14, 18}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close((x * x).sum({1}).sqrt(), {std::sqrt(14.0), std::sqrt(77.0)}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(x / x.sum(), {1 / 21.0, 2 / 21.0, 3 / 21.0, 4 / 21.0, 5 / 21.0, 6 / 21.0},
                        1e-6, 1e-7));
  // Two reductions of the same input and one of another reduction.
  auto a = x.max({1});
  auto b = x.min({1});
  EXPECT_TRUE(all_close(a - b, {2, 2}, 0, 0));
  EXPECT_TRUE(all_close(x.sum({1}).max(), {15}, 0, 0));
  EXPECT_TRUE(all_close(x.t().sum({1}), {5, 7, 9}, 0, 0));
}

TEST_P(ReduceTest, IntegerAndBoolSumsGiveI64) {
  std::vector<int32_t> iv{2000000000, 2000000000, -1, 7, 8, 9};
  auto xi = tj::from_vector(iv, {2, 3});
  auto s = xi.sum();
  EXPECT_EQ(s.dtype(), tj::i64);
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.item<int64_t>(), 4000000023LL) << "an i32 sum is accumulated in i64";
  auto s1 = xi.sum({1});
  EXPECT_EQ(s1.dtype(), tj::i64);
  EXPECT_EQ(s1.to_vector<int64_t>(), (std::vector<int64_t>{3999999999LL, 24}));
  auto s0 = tj::sum(xi, 0, true);
  EXPECT_EQ(s0.dtype(), tj::i64);
  EXPECT_EQ(s0.shape(), (Shape{1, 3}));
  EXPECT_EQ(s0.to_vector<int64_t>(), (std::vector<int64_t>{2000000007LL, 2000000008LL, 8}));

  auto xb = make({1, 0, 1, 1, 0, 1, 1, 0}, {2, 4}, tj::bool_);
  auto sb = xb.sum();
  EXPECT_EQ(sb.dtype(), tj::i64);
  EXPECT_EQ(sb.item<int64_t>(), 5);
  auto sb1 = xb.sum({1});
  EXPECT_EQ(sb1.dtype(), tj::i64);
  EXPECT_EQ(sb1.to_vector<int64_t>(), (std::vector<int64_t>{3, 2}));

  // i64 sums are exact beyond 2^53 (no float64 accumulation).
  std::vector<int64_t> lv{int64_t{1} << 53, 1, 1, 3};
  auto sl = tj::from_vector(lv).sum();
  EXPECT_EQ(sl.dtype(), tj::i64);
  EXPECT_EQ(sl.item<int64_t>(), (int64_t{1} << 53) + 5);

  // prod of integers is i64 as well.
  std::vector<int32_t> pv{100000, 100000, 3};
  auto p = tj::from_vector(pv).prod();
  EXPECT_EQ(p.dtype(), tj::i64);
  EXPECT_EQ(p.item<int64_t>(), 30000000000LL);

  // Comparisons summed: counting.
  auto f = make({0.5, -1, 2, 3, -4}, {5});
  auto count = (f > 0.0f).sum();
  EXPECT_EQ(count.dtype(), tj::i64);
  EXPECT_EQ(count.item<int64_t>(), 3);
}

TEST_P(ReduceTest, IntegerMaxMinKeepDType) {
  std::vector<int32_t> iv{5, -7, 3, 9, 0, -2};
  auto xi = tj::from_vector(iv, {2, 3});
  auto mx = xi.max({1});
  EXPECT_EQ(mx.dtype(), tj::i32);
  EXPECT_EQ(mx.to_vector<int32_t>(), (std::vector<int32_t>{5, 9}));
  auto mn = xi.min();
  EXPECT_EQ(mn.dtype(), tj::i32);
  EXPECT_EQ(mn.item<int32_t>(), -7);

  // i64 max is exact for values a double can't tell apart.
  std::vector<int64_t> lv{(int64_t{1} << 53) + 1, (int64_t{1} << 53) + 3, (int64_t{1} << 53) + 2};
  auto xl = tj::from_vector(lv);
  EXPECT_EQ(xl.max().dtype(), tj::i64);
  EXPECT_EQ(xl.max().item<int64_t>(), (int64_t{1} << 53) + 3);
  EXPECT_EQ(xl.min().item<int64_t>(), (int64_t{1} << 53) + 1);
  EXPECT_EQ(xl.argmax().item<int64_t>(), 1);
  EXPECT_EQ(xl.argmin().item<int64_t>(), 0);
}

TEST_P(ReduceTest, HalfPrecisionKeepsDType) {
  auto d = rand_values(24, 11);
  for (DType dt : {tj::f16, tj::bf16}) {
    auto x = make(d, {4, 6}, dt);
    auto m = x.mean({1});
    EXPECT_EQ(m.dtype(), dt) << "mean of " << dt << " stays " << dt;
    EXPECT_TRUE(all_close(m, ref_reduce(d, {4, 6}, {1}, false, Red::mean).v, 1e-2, 1e-2)) << dt;
    EXPECT_EQ(x.mean().dtype(), dt);
    EXPECT_EQ(x.sum().dtype(), dt);
    EXPECT_EQ(x.max().dtype(), dt);
    EXPECT_EQ(x.var({0}).dtype(), dt);
    EXPECT_EQ(x.std().dtype(), dt);
  }
  // Accumulation is in f32: 4096 ones in f16 sum to 4096 (an f16 accumulator stops at 2048).
  auto ones = tj::ones({4096}, tj::f16);
  auto s = ones.sum();
  EXPECT_EQ(s.dtype(), tj::f16);
  EXPECT_TRUE(all_close(s, {4096}, 0, 0));
  auto bones = tj::ones({1024}, tj::bf16);
  EXPECT_TRUE(all_close(bones.sum(), {1024}, 0, 0)) << "a bf16 accumulator stops at 256";
  EXPECT_TRUE(all_close(tj::ones({3000}, tj::f16).mean(), {1}, 0, 0));
}

TEST_P(ReduceTest, MeanAndVarNeedFloatingInput) {
  std::vector<int32_t> iv{1, 2, 3};
  auto xi = tj::from_vector(iv);
  EXPECT_TRUE(throws_error([&] { xi.mean().eval(); }, {"mean"}));
  EXPECT_TRUE(throws_error([&] { xi.var().eval(); }, {"var"}));
  EXPECT_TRUE(throws_error([&] { xi.std().eval(); }, {"std"}));
  // Casting first works.
  EXPECT_TRUE(all_close(xi.cast(tj::f32).mean(), {2}, 0, 0));
}

TEST_P(ReduceTest, ArgmaxArgminFirstIndex) {
  // [[1 5 5]
  //  [7 0 7]]
  auto x = make({1, 5, 5, 7, 0, 7}, {2, 3});
  auto a = x.argmax();
  EXPECT_EQ(a.dtype(), tj::i64);
  EXPECT_EQ(a.shape(), Shape{});
  EXPECT_EQ(a.item<int64_t>(), 3) << "first maximum of the flattened tensor";
  EXPECT_EQ(tj::argmin(x).item<int64_t>(), 4);

  auto a1 = x.argmax(1);
  EXPECT_EQ(a1.dtype(), tj::i64);
  EXPECT_EQ(a1.shape(), (Shape{2}));
  EXPECT_EQ(a1.to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  auto a1k = tj::argmax(x, 1, true);
  EXPECT_EQ(a1k.shape(), (Shape{2, 1}));
  EXPECT_EQ(a1k.to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(x.argmax(-1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(x.argmax(0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(x.argmin(0, true).shape(), (Shape{1, 3}));
  EXPECT_EQ(x.argmin(0).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(x.argmin(1).to_vector<int64_t>(), (std::vector<int64_t>{0, 1}));

  // All equal: index 0.
  auto same = tj::full({2, 4}, 3.0f);
  EXPECT_EQ(same.argmax().item<int64_t>(), 0);
  EXPECT_EQ(same.argmin(1).to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));

  // Other dtypes.
  std::vector<int32_t> iv{3, 9, 9, -4};
  EXPECT_EQ(tj::from_vector(iv).argmax().item<int64_t>(), 1);
  EXPECT_EQ(tj::from_vector(iv).argmin().item<int64_t>(), 3);
  EXPECT_EQ(make({0.5, -2, 0.5, 3}, {4}, tj::f16).argmax().item<int64_t>(), 3);
  EXPECT_EQ(make({0.5, -2, 0.5, 3}, {4}, tj::bf16).argmin().item<int64_t>(), 1);
  EXPECT_EQ(make({-kInf, -kInf}, {2}, tj::f64).argmax().item<int64_t>(), 0);

  // On a view: argmax of x^T along dim 1 equals argmax of x along dim 0.
  EXPECT_EQ(x.t().argmax(1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  // The flattened index is over the logical (row-major) order of the view.
  EXPECT_EQ(x.t().argmax().item<int64_t>(), 1);  // x^T = [[1 7] [5 0] [5 7]]
}

TEST_P(ReduceTest, ArgmaxMatchesReferenceWithTies) {
  Shape shape{3, 4, 5};
  std::vector<double> d(60);
  for (int i = 0; i < 60; ++i) d[i] = static_cast<double>((i * 7) % 4);  // many ties
  auto x = make(d, shape);
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    int64_t ad = dim < 0 ? dim + 3 : dim;
    for (bool is_max : {true, false}) {
      Shape out = shape;
      out[ad] = 1;
      std::vector<int64_t> want;
      for_each_index(out, [&](int64_t, const std::vector<int64_t>& idx) {
        auto j = idx;
        int64_t best = 0;
        double bv = 0;
        for (int64_t k = 0; k < shape[ad]; ++k) {
          j[ad] = k;
          double v = d[j[0] * 20 + j[1] * 5 + j[2]];
          if (k == 0 || (is_max ? v > bv : v < bv)) {
            best = k;
            bv = v;
          }
        }
        want.push_back(best);
      });
      auto got = is_max ? x.argmax(dim) : x.argmin(dim);
      Shape squeezed = shape;
      squeezed.erase(squeezed.begin() + ad);
      EXPECT_EQ(got.shape(), squeezed) << "dim " << dim;
      EXPECT_EQ(got.to_vector<int64_t>(), want) << (is_max ? "argmax" : "argmin") << " dim " << dim;
    }
  }
}

TEST_P(ReduceTest, MaxMinPropagateNaN) {
  auto x = make({1, kNaN, 3, 2, 5, 4}, {2, 3});
  EXPECT_TRUE(std::isnan(x.max().item<double>()));
  EXPECT_TRUE(std::isnan(x.min().item<double>()));
  EXPECT_TRUE(all_close(x.max({1}), {kNaN, 5}, 0, 0));
  EXPECT_TRUE(all_close(x.min({1}), {kNaN, 2}, 0, 0));
  EXPECT_TRUE(all_close(x.max({0}), {2, kNaN, 4}, 0, 0));
  EXPECT_TRUE(all_close(x.min({0}), {1, kNaN, 3}, 0, 0));
  EXPECT_TRUE(all_close(x.sum({1}), {kNaN, 11}, 0, 0));
  // NaN first or last in the reduced run.
  auto y = make({kNaN, 1, 2, 3, 4, kNaN}, {2, 3}, tj::f64);
  EXPECT_TRUE(all_close(y.max({1}), {kNaN, kNaN}, 0, 0));
  EXPECT_TRUE(all_close(y.min({1}), {kNaN, kNaN}, 0, 0));
  auto h = make({1, kNaN, 3}, {3}, tj::f16);
  EXPECT_TRUE(std::isnan(h.max().item<double>()));
  // Infinities are ordinary values.
  auto z = make({-kInf, 2, kInf, -1}, {4});
  EXPECT_TRUE(all_close(z.max(), {kInf}, 0, 0));
  EXPECT_TRUE(all_close(z.min(), {-kInf}, 0, 0));
  EXPECT_TRUE(all_close(make({-kInf, -kInf}, {2}).max(), {-kInf}, 0, 0));
}

TEST_P(ReduceTest, ArgmaxOfNaNIsItsIndex) {
  // As torch.argmax/argmin: NaN counts as the extreme value.
  auto x = make({1, 7, kNaN, 3, kNaN}, {5});
  EXPECT_EQ(x.argmax().item<int64_t>(), 2);
  EXPECT_EQ(x.argmin().item<int64_t>(), 2);
}

TEST_P(ReduceTest, EmptyReductions) {
  auto e = tj::zeros({0});
  auto s = e.sum();
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_TRUE(all_close(s, {0}, 0, 0));
  EXPECT_TRUE(all_close(e.prod(), {1}, 0, 0));
  EXPECT_TRUE(std::isnan(e.mean().item<double>())) << "mean of nothing is NaN, as in PyTorch";

  auto e2 = tj::zeros({2, 0});
  auto s1 = e2.sum({1});
  EXPECT_EQ(s1.shape(), (Shape{2}));
  EXPECT_TRUE(all_close(s1, {0, 0}, 0, 0));
  auto s1k = e2.sum({1}, true);
  EXPECT_EQ(s1k.shape(), (Shape{2, 1}));
  EXPECT_TRUE(all_close(s1k, {0, 0}, 0, 0));
  EXPECT_TRUE(all_close(e2.prod({1}), {1, 1}, 0, 0));
  EXPECT_TRUE(all_close(e2.sum(), {0}, 0, 0));
  // Reducing the non-empty dim leaves an empty result.
  auto s0 = e2.sum({0});
  EXPECT_EQ(s0.shape(), (Shape{0}));
  EXPECT_TRUE(s0.to_vector<double>().empty());

  // Integer empties: sum is an i64 zero.
  auto ei = tj::zeros({0, 3}, tj::i32);
  auto si = ei.sum({0});
  EXPECT_EQ(si.dtype(), tj::i64);
  EXPECT_EQ(si.to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0}));

  // An empty slice of a real tensor.
  auto x = make({1, 2, 3, 4}, {2, 2});
  EXPECT_TRUE(all_close(x.slice(1, 1, 1).sum({1}), {0, 0}, 0, 0));
  EXPECT_TRUE(all_close(x.slice(0, 2, 2).prod(), {1}, 0, 0));

  // max/min/argmax have no identity: an error, as in PyTorch.
  EXPECT_TRUE(throws_error([&] { e.max().eval(); }, {}));
  EXPECT_TRUE(throws_error([&] { e2.min({1}).eval(); }, {}));
  EXPECT_TRUE(throws_error([&] { e.argmax().eval(); }, {}));
}

TEST_P(ReduceTest, ZeroDimAndSizeOneInputs) {
  auto s = tj::full({}, 2.5f);
  EXPECT_EQ(s.sum().shape(), Shape{});
  EXPECT_TRUE(all_close(s.sum(), {2.5}, 0, 0));
  EXPECT_TRUE(all_close(s.max(), {2.5}, 0, 0));
  EXPECT_TRUE(all_close(s.mean(), {2.5}, 0, 0));
  EXPECT_EQ(s.argmax().item<int64_t>(), 0);
  // Unbiased variance of one element divides by zero: NaN, as in PyTorch.
  auto one = make({3}, {1});
  EXPECT_TRUE(std::isnan(one.var().item<double>()));
  EXPECT_TRUE(all_close(one.var({}, false), {0}, 0, 0));
  EXPECT_TRUE(all_close(one.std({}, false), {0}, 0, 0));
}

TEST_P(ReduceTest, LongReductionsAreAccurate) {
  // 2^20 values of 0.1: a plain f32 running sum is off by about 1%; PyTorch's
  // (and any blocked/pairwise f32) sum is within 1e-5.
  const int64_t n = int64_t{1} << 20;
  auto x = tj::full({n}, 0.1f);
  double want = static_cast<double>(0.1f) * static_cast<double>(n);
  EXPECT_TRUE(all_close(x.sum(), {want}, 1e-4, 0));
  EXPECT_TRUE(all_close(x.mean(), {static_cast<double>(0.1f)}, 1e-4, 0));
  // Long rows.
  auto rows = tj::full({4, 1 << 16}, 0.1f);
  auto rs = rows.sum({1});
  double row_want = static_cast<double>(0.1f) * (1 << 16);
  EXPECT_TRUE(all_close(rs, {row_want, row_want, row_want, row_want}, 1e-4, 0));
  // Variance of a long constant-plus-offset vector (catastrophic cancellation guard).
  auto d = rand_values(1 << 14, 5);
  for (auto& v : d) v += 1000;
  auto xv = make(d, {static_cast<int64_t>(d.size())});
  auto want_var = ref_reduce(d, {static_cast<int64_t>(d.size())}, {}, false, Red::var).v;
  EXPECT_TRUE(all_close(xv.var(), want_var, 1e-3, 0));
}

TEST_P(ReduceTest, BadAxesThrow) {
  auto x = make({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_TRUE(throws_error([&] { x.sum({2}).eval(); }, {"sum"}));
  EXPECT_TRUE(throws_error([&] { x.sum({-3}).eval(); }, {"sum"}));
  EXPECT_TRUE(throws_error([&] { x.max({0, 0}).eval(); }, {"max"}));
  EXPECT_TRUE(throws_error([&] { x.mean({1, -1}).eval(); }, {"mean"}));
  EXPECT_TRUE(throws_error([&] { x.argmax(2).eval(); }, {"argmax"}));
  EXPECT_TRUE(throws_error([&] { tj::softmax(x, 2).eval(); }, {"softmax"}));
  EXPECT_TRUE(all_close(x.sum(), {21}, 0, 0));
}

// ---- composites -----------------------------------------------------------------------

/// softmax / log_softmax along `dim` in float64.
std::vector<double> ref_softmax(const std::vector<double>& x, const Shape& shape, int64_t dim,
                                bool log) {
  int64_t rank = static_cast<int64_t>(shape.size());
  dim = dim < 0 ? dim + rank : dim;
  auto st = row_major(shape);
  std::vector<double> out(x.size());
  Shape outer = shape;
  outer[dim] = 1;
  for_each_index(outer, [&](int64_t, const std::vector<int64_t>& idx) {
    int64_t base = 0;
    for (int64_t k = 0; k < rank; ++k) base += idx[k] * st[k];
    double m = -kInf;
    for (int64_t j = 0; j < shape[dim]; ++j) m = std::max(m, x[base + j * st[dim]]);
    double s = 0;
    for (int64_t j = 0; j < shape[dim]; ++j) s += std::exp(x[base + j * st[dim]] - m);
    for (int64_t j = 0; j < shape[dim]; ++j) {
      double v = x[base + j * st[dim]] - m;
      out[base + j * st[dim]] = log ? v - std::log(s) : std::exp(v) / s;
    }
  });
  return out;
}

/// layer_norm (rms = false) or rms_norm (rms = true) over the trailing `norm_dims` dims.
std::vector<double> ref_norm(const std::vector<double>& x, const Shape& shape, size_t norm_dims,
                             const std::vector<double>* w, const std::vector<double>* b, double eps,
                             bool rms) {
  int64_t inner = 1;
  for (size_t k = shape.size() - norm_dims; k < shape.size(); ++k) inner *= shape[k];
  int64_t outer = static_cast<int64_t>(x.size()) / inner;
  std::vector<double> out(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    const double* row = x.data() + o * inner;
    double mean = 0;
    if (!rms) {
      for (int64_t i = 0; i < inner; ++i) mean += row[i];
      mean /= static_cast<double>(inner);
    }
    double ss = 0;
    for (int64_t i = 0; i < inner; ++i) ss += (row[i] - mean) * (row[i] - mean);
    double denom = std::sqrt(ss / static_cast<double>(inner) + eps);
    for (int64_t i = 0; i < inner; ++i) {
      double v = (row[i] - mean) / denom;
      if (w) v *= (*w)[i];
      if (b) v += (*b)[i];
      out[o * inner + i] = v;
    }
  }
  return out;
}

struct CompositeCase {
  std::string name;
  Shape shape;
  DType dtype;
  /// Applies the op to the input (weights are made inside from weight_values()).
  std::function<Tensor(const Tensor&)> op;
  /// The float64 expectation from the input values.
  std::function<std::vector<double>(const std::vector<double>&, const Shape&)> ref;
};

void PrintTo(const CompositeCase& c, std::ostream* os) { *os << c.name; }

std::vector<double> weight_values(int64_t n) { return rand_values(n, 99, 0.5, 1.5); }
std::vector<double> bias_values(int64_t n) { return rand_values(n, 42, -1, 1); }

std::vector<CompositeCase> composite_cases() {
  std::vector<CompositeCase> cases;
  for (DType dt : {tj::f32, tj::f16, tj::bf16, tj::f64}) {
    std::string sfx = "_" + std::string(tj::dtype_name(dt));
    std::vector<int64_t> dims = {0, 1, 2, -1, -2};
    if (dt != tj::f32) dims = {-1, 1};
    for (int64_t dim : dims) {
      std::string dn = dim < 0 ? "m" + std::to_string(-dim) : std::to_string(dim);
      for (bool log : {false, true}) {
        cases.push_back({std::string(log ? "log_softmax" : "softmax") + "_dim" + dn + sfx,
                         {2, 3, 4},
                         dt,
                         [dim, log](const Tensor& x) {
                           return log ? tj::log_softmax(x, dim) : tj::softmax(x, dim);
                         },
                         [dim, log](const std::vector<double>& x, const Shape& s) {
                           return ref_softmax(x, s, dim, log);
                         }});
      }
    }
    // layer_norm: normalized_shape of 1 and 2 dims, with/without weight and bias, eps.
    struct LN {
      const char* name;
      size_t nd;
      bool w, b;
      double eps;
    };
    for (LN ln : {LN{"1d", 1, false, false, 1e-5}, LN{"1d_wb", 1, true, true, 1e-5},
                  LN{"1d_w", 1, true, false, 1e-5}, LN{"1d_b", 1, false, true, 1e-5},
                  LN{"2d", 2, false, false, 1e-5}, LN{"2d_wb", 2, true, true, 1e-5},
                  LN{"1d_eps_half", 1, false, false, 0.5}, LN{"2d_wb_eps_1", 2, true, true, 1.0}}) {
      if (dt != tj::f32 && std::string(ln.name) != "1d_wb" && std::string(ln.name) != "2d")
        continue;
      Shape shape{2, 3, 4};
      Shape ns(shape.end() - static_cast<int64_t>(ln.nd), shape.end());
      int64_t inner = numel_of(ns);
      cases.push_back({std::string("layer_norm_") + ln.name + sfx, shape, dt,
                       [ln, ns, inner, dt](const Tensor& x) {
                         Tensor w = ln.w ? make(weight_values(inner), ns, dt) : Tensor();
                         Tensor b = ln.b ? make(bias_values(inner), ns, dt) : Tensor();
                         if (ln.eps == 1e-5 && !ln.w && !ln.b)
                           return tj::layer_norm(x, ns);  // defaults
                         return tj::layer_norm(x, ns, w, b, ln.eps);
                       },
                       [ln, inner](const std::vector<double>& x, const Shape& s) {
                         auto w = weight_values(inner);
                         auto b = bias_values(inner);
                         return ref_norm(x, s, ln.nd, ln.w ? &w : nullptr, ln.b ? &b : nullptr,
                                         ln.eps, false);
                       }});
    }
    struct RN {
      const char* name;
      size_t nd;
      bool w;
      double eps;
    };
    for (RN rn : {RN{"1d", 1, false, 1e-6}, RN{"1d_w", 1, true, 1e-6}, RN{"2d_w", 2, true, 1e-6},
                  RN{"2d", 2, false, 1e-6}, RN{"1d_eps_half", 1, true, 0.5}}) {
      if (dt != tj::f32 && std::string(rn.name) != "1d_w") continue;
      Shape shape{2, 3, 4};
      Shape ns(shape.end() - static_cast<int64_t>(rn.nd), shape.end());
      int64_t inner = numel_of(ns);
      cases.push_back({std::string("rms_norm_") + rn.name + sfx, shape, dt,
                       [rn, ns, inner, dt](const Tensor& x) {
                         Tensor w = rn.w ? make(weight_values(inner), ns, dt) : Tensor();
                         if (rn.eps == 1e-6 && !rn.w) return tj::rms_norm(x, ns);  // defaults
                         return tj::rms_norm(x, ns, w, rn.eps);
                       },
                       [rn, inner](const std::vector<double>& x, const Shape& s) {
                         auto w = weight_values(inner);
                         return ref_norm(x, s, rn.nd, rn.w ? &w : nullptr, nullptr, rn.eps, true);
                       }});
    }
  }
  // Other shapes: 1-D, a single row, a long row, size-1 dim.
  cases.push_back(
      {"softmax_1d",
       {7},
       tj::f32,
       [](const Tensor& x) { return tj::softmax(x, 0); },
       [](const std::vector<double>& x, const Shape& s) { return ref_softmax(x, s, 0, false); }});
  cases.push_back(
      {"log_softmax_long_row",
       {3, 1000},
       tj::f32,
       [](const Tensor& x) { return tj::log_softmax(x, -1); },
       [](const std::vector<double>& x, const Shape& s) { return ref_softmax(x, s, 1, true); }});
  cases.push_back(
      {"softmax_long_col",
       {513, 2},
       tj::f32,
       [](const Tensor& x) { return tj::softmax(x, 0); },
       [](const std::vector<double>& x, const Shape& s) { return ref_softmax(x, s, 0, false); }});
  cases.push_back(
      {"softmax_size1_dim",
       {3, 1},
       tj::f32,
       [](const Tensor& x) { return tj::softmax(x, 1); },
       [](const std::vector<double>& x, const Shape& s) { return ref_softmax(x, s, 1, false); }});
  cases.push_back({"layer_norm_long_row",
                   {3, 777},
                   tj::f32,
                   [](const Tensor& x) { return tj::layer_norm(x, {777}); },
                   [](const std::vector<double>& x, const Shape& s) {
                     return ref_norm(x, s, 1, nullptr, nullptr, 1e-5, false);
                   }});
  cases.push_back({"rms_norm_long_row",
                   {2, 1025},
                   tj::f32,
                   [](const Tensor& x) { return tj::rms_norm(x, {1025}); },
                   [](const std::vector<double>& x, const Shape& s) {
                     return ref_norm(x, s, 1, nullptr, nullptr, 1e-6, true);
                   }});
  cases.push_back({"layer_norm_all_dims",
                   {3, 4},
                   tj::f32,
                   [](const Tensor& x) {
                     return tj::layer_norm(x, {3, 4});
                   },
                   [](const std::vector<double>& x, const Shape& s) {
                     return ref_norm(x, s, 2, nullptr, nullptr, 1e-5, false);
                   }});
  cases.push_back(
      {"softmax_of_transposed_view",
       {4, 3},
       tj::f32,
       [](const Tensor& x) { return tj::softmax(x.t().contiguous().t(), 1); },
       [](const std::vector<double>& x, const Shape& s) { return ref_softmax(x, s, 1, false); }});
  return cases;
}

class CompositeTableTest : public ModeCaseTest<CompositeCase> {};

TEST_P(CompositeTableTest, MatchesFloat64Reference) {
  const auto& c = param();
  auto data = rand_values(numel_of(c.shape), 17, -4, 4);
  auto want = c.ref(data, c.shape);
  Tol tol = tol_for(c.dtype);
  auto x = make(data, c.shape, c.dtype);
  auto y = c.op(x);
  EXPECT_EQ(y.shape(), c.shape);
  EXPECT_EQ(y.dtype(), c.dtype);
  EXPECT_TRUE(all_close(y, want, tol.rtol, tol.atol));
  // Pending input.
  auto y2 = c.op(make(data, c.shape, c.dtype) * 1.0);
  EXPECT_TRUE(all_close(y2, want, tol.rtol, tol.atol)) << "pending input";
}

INSTANTIATE_TEST_SUITE_P(Ops, CompositeTableTest,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::ValuesIn(composite_cases())),
                         [](const auto& info) { return case_name(info); });

TEST_P(ReduceTest, SoftmaxRowsSumToOne) {
  auto d = rand_values(5 * 6 * 7, 23, -4, 4);
  auto x = make(d, {5, 6, 7});
  for (int64_t dim : {0, 1, 2, -1}) {
    auto s = tj::softmax(x * 3.0f, dim).sum({dim});
    std::vector<double> ones(s.numel(), 1.0);
    EXPECT_TRUE(all_close(s, ones, 1e-5, 1e-6)) << "dim " << dim;
    auto ls = tj::log_softmax(x, dim).exp().sum({dim});
    EXPECT_TRUE(all_close(ls, ones, 1e-5, 1e-6)) << "log_softmax dim " << dim;
  }
}

TEST_P(ReduceTest, SoftmaxLargeInputsDoNotOverflow) {
  auto x = make({1000, 1001, 1002, -1000, -1000, -1000, 1000, -1000, 0}, {3, 3});
  auto s = tj::softmax(x, 1);
  EXPECT_TRUE(all_close(s,
                        {0.090030573170380462, 0.24472847105479764, 0.66524095577481771, 1.0 / 3,
                         1.0 / 3, 1.0 / 3, 1, 0, 0},
                        1e-5, 1e-7));
  auto ls = tj::log_softmax(x, 1);
  EXPECT_TRUE(all_close(ls,
                        {-2.4076059644443806, -1.4076059644443806, -0.40760596444438063,
                         -std::log(3.0), -std::log(3.0), -std::log(3.0), 0, -2000, -1000},
                        1e-5, 1e-5));
  // Same in f16 and bf16, with values each stores exactly (bf16 has a spacing
  // of 4 around 1000).
  for (DType dt : {tj::f16, tj::bf16}) {
    std::vector<double> v = dt == tj::f16 ? std::vector<double>{1000, 1001, 1002}
                                          : std::vector<double>{1000, 1004, 1008};
    auto h = make(v, {3}, dt);
    EXPECT_TRUE(all_close(tj::softmax(h, 0), ref_softmax(v, {3}, 0, false), 1e-2, 1e-2)) << dt;
    EXPECT_TRUE(all_close(tj::log_softmax(h, 0), ref_softmax(v, {3}, 0, true), 1e-2, 1e-2)) << dt;
  }
  // Masking with -inf: the masked entries get probability 0.
  auto m = make({0, -kInf, 0, 2}, {4});
  EXPECT_TRUE(all_close(
      tj::softmax(m, 0),
      {1 / (2 + std::exp(2.0)), 0, 1 / (2 + std::exp(2.0)), std::exp(2.0) / (2 + std::exp(2.0))},
      1e-5, 1e-7));
  auto lm = tj::log_softmax(m, 0).to_vector<double>();
  EXPECT_TRUE(std::isinf(lm[1]) && lm[1] < 0) << lm[1];
  EXPECT_NEAR(lm[3], 2 - std::log(2 + std::exp(2.0)), 1e-5);
}

TEST_P(ReduceTest, SoftmaxHandWritten) {
  auto x = make({0, 0, std::log(2.0), std::log(3.0)}, {2, 2});
  EXPECT_TRUE(all_close(tj::softmax(x, 1), {0.5, 0.5, 0.4, 0.6}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(tj::softmax(x, 0), {1.0 / 3, 0.25, 2.0 / 3, 0.75}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(tj::softmax(x, -2), {1.0 / 3, 0.25, 2.0 / 3, 0.75}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(tj::log_softmax(x, 1),
                        {std::log(0.5), std::log(0.5), std::log(0.4), std::log(0.6)}, 1e-6, 1e-6));
}

TEST_P(ReduceTest, LayerNormHandWritten) {
  // Row [1 2 3 4]: mean 2.5, biased var 1.25.
  auto x = make({1, 2, 3, 4, 2, 2, 2, 2}, {2, 4});
  double s = std::sqrt(1.25 + 1e-5);
  auto y = tj::layer_norm(x, {4});
  EXPECT_TRUE(all_close(y, {-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, 0, 0, 0, 0}, 1e-5, 1e-5));
  auto w = make({1, 2, 3, 4}, {4});
  auto b = make({0.5, 0.5, -0.5, -0.5}, {4});
  auto yw = tj::layer_norm(x, {4}, w, b, 0.75);
  double s2 = std::sqrt(1.25 + 0.75);
  EXPECT_TRUE(all_close(
      yw, {-1.5 / s2 + 0.5, -1.0 / s2 + 0.5, 1.5 / s2 - 0.5, 6.0 / s2 - 0.5, 0.5, 0.5, -0.5, -0.5},
      1e-5, 1e-5));
  // rms_norm of [3 4]: rms = sqrt(12.5).
  auto r = tj::rms_norm(make({3, 4}, {1, 2}), {2}, make({1, 2}, {2}), 0.0);
  EXPECT_TRUE(all_close(r, {3 / std::sqrt(12.5), 8 / std::sqrt(12.5)}, 1e-5, 1e-6));
  // Constant row: layer_norm gives zeros (not NaN) thanks to eps.
  auto c = tj::layer_norm(tj::full({3, 5}, 7.0f), {5});
  EXPECT_TRUE(all_close(c, std::vector<double>(15, 0.0), 0, 1e-3));
}

TEST_P(ReduceTest, NormBadShapesThrow) {
  auto x = tj::ones({2, 3, 4});
  EXPECT_TRUE(throws_error([&] { tj::layer_norm(x, {3}).eval(); }, {"layer_norm"}));
  EXPECT_TRUE(throws_error([&] { tj::layer_norm(x, {4}, tj::ones({3})).eval(); }, {"layer_norm"}));
  EXPECT_TRUE(throws_error([&] { tj::rms_norm(x, {2, 4}).eval(); }, {"rms_norm"}));
}

}  // namespace
