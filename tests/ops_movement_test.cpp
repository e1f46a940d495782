// Movement ops: reshape/view, flatten, permute, transpose, t, expand,
// squeeze/unsqueeze, slice, contiguous, cat, stack.
//
// Values are checked against a tiny row-major reference written here (Ref),
// shapes against hand-written expectations. Every suite runs in lazy and in
// eager mode, and every table row runs on a pending input and on a computed
// one, which must give identical values.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
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

// ---- a tiny reference ----------------------------------------------------------

int64_t wrap(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }

struct Ref {
  Shape shape;
  std::vector<double> v;
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
};

Ref r_reshape(const Ref& r, Shape s) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1)
      infer = static_cast<int64_t>(i);
    else
      known *= s[i];
  }
  if (infer >= 0) s[infer] = known == 0 ? 0 : numel_of(r.shape) / known;
  return {s, r.v};
}

Ref r_permute(const Ref& r, const Axes& dims) {
  Shape out(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) out[i] = r.shape[wrap(dims[i], r.rank())];
  auto st = row_major(r.shape);
  Ref o{out, std::vector<double>(numel_of(out))};
  for_each_index(out, [&](int64_t i, const std::vector<int64_t>& idx) {
    int64_t off = 0;
    for (size_t k = 0; k < dims.size(); ++k) off += idx[k] * st[wrap(dims[k], r.rank())];
    o.v[i] = r.v[off];
  });
  return o;
}

Ref r_transpose(const Ref& r, int64_t d0, int64_t d1) {
  Axes dims(r.shape.size());
  for (size_t i = 0; i < dims.size(); ++i) dims[i] = static_cast<int64_t>(i);
  std::swap(dims[wrap(d0, r.rank())], dims[wrap(d1, r.rank())]);
  return r_permute(r, dims);
}

Ref r_expand(const Ref& r, Shape s) {
  int64_t lead = static_cast<int64_t>(s.size()) - r.rank();
  for (int64_t k = 0; k < r.rank(); ++k)
    if (s[k + lead] == -1) s[k + lead] = r.shape[k];
  auto st = row_major(r.shape);
  Ref o{s, std::vector<double>(numel_of(s))};
  for_each_index(s, [&](int64_t i, const std::vector<int64_t>& idx) {
    int64_t off = 0;
    for (int64_t k = 0; k < r.rank(); ++k)
      if (r.shape[k] != 1) off += idx[k + lead] * st[k];
    o.v[i] = r.v[off];
  });
  return o;
}

Ref r_slice(const Ref& r, int64_t dim, int64_t start, int64_t end, int64_t step) {
  dim = wrap(dim, r.rank());
  int64_t n = r.shape[dim];
  auto norm = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  start = norm(start);
  end = norm(end);
  int64_t len = end > start ? (end - start + step - 1) / step : 0;
  Shape s = r.shape;
  s[dim] = len;
  auto st = row_major(r.shape);
  Ref o{s, std::vector<double>(numel_of(s))};
  for_each_index(s, [&](int64_t i, const std::vector<int64_t>& idx) {
    int64_t off = 0;
    for (int64_t k = 0; k < r.rank(); ++k)
      off += (k == dim ? start + idx[k] * step : idx[k]) * st[k];
    o.v[i] = r.v[off];
  });
  return o;
}

Ref r_cat(const std::vector<Ref>& rs, int64_t dim) {
  dim = wrap(dim, rs[0].rank());
  Shape s = rs[0].shape;
  s[dim] = 0;
  for (const auto& r : rs) s[dim] += r.shape[dim];
  Ref o{s, std::vector<double>(numel_of(s))};
  for_each_index(s, [&](int64_t i, const std::vector<int64_t>& idx) {
    int64_t j = idx[dim];
    for (const auto& r : rs) {
      if (j < r.shape[dim]) {
        auto st = row_major(r.shape);
        int64_t off = 0;
        for (int64_t k = 0; k < r.rank(); ++k) off += (k == dim ? j : idx[k]) * st[k];
        o.v[i] = r.v[off];
        return;
      }
      j -= r.shape[dim];
    }
  });
  return o;
}

Ref r_unsqueeze(const Ref& r, int64_t dim) {
  Ref o = r;
  dim = wrap(dim, r.rank() + 1);
  o.shape.insert(o.shape.begin() + dim, 1);
  return o;
}

Ref r_stack(const std::vector<Ref>& rs, int64_t dim) {
  std::vector<Ref> u;
  for (const auto& r : rs) u.push_back(r_unsqueeze(r, dim));
  return r_cat(u, wrap(dim, rs[0].rank() + 1));
}

Ref r_squeeze(const Ref& r) {
  Ref o{{}, r.v};
  for (auto d : r.shape)
    if (d != 1) o.shape.push_back(d);
  return o;
}

Ref r_squeeze(const Ref& r, int64_t dim) {
  Ref o = r;
  dim = wrap(dim, r.rank());
  if (r.shape[dim] == 1) o.shape.erase(o.shape.begin() + dim);
  return o;
}

Ref r_flatten(const Ref& r, int64_t start = 0, int64_t end = -1) {
  if (r.rank() == 0) return {{1}, r.v};
  start = wrap(start, r.rank());
  end = wrap(end, r.rank());
  Shape s(r.shape.begin(), r.shape.begin() + start);
  int64_t n = 1;
  for (int64_t k = start; k <= end; ++k) n *= r.shape[k];
  s.push_back(n);
  s.insert(s.end(), r.shape.begin() + end + 1, r.shape.end());
  return {s, r.v};
}

template <class F>
Ref r_map(const Ref& r, F f) {
  Ref o = r;
  for (auto& x : o.v) x = f(x);
  return o;
}

template <class F>
Ref r_zip(const Ref& a, const Ref& b, F f) {  // same shapes only
  Ref o = a;
  for (size_t i = 0; i < o.v.size(); ++i) o.v[i] = f(a.v[i], b.v[i]);
  return o;
}

Ref r_affine(const Ref& r, double mul, double add) {
  return r_map(r, [=](double v) { return v * mul + add; });
}

// ---- tensors from host values ------------------------------------------------

Ref ref_of(const std::vector<double>& d, const Shape& s) { return {s, d}; }

/// Distinct values, exact in f32: -3, -2.5, -2, ...
std::vector<double> seq(int64_t n, double start = -3, double step = 0.5) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + step * static_cast<double>(i);
  return v;
}

// ---- fixtures: every suite runs lazy and eager -----------------------------------

class MovementTest : public ModeTest {};

// ---- the table: one row per movement case ------------------------------------------

struct MoveCase {
  std::string name;
  Shape in_shape;
  Shape want_shape;
  std::function<Tensor(const Tensor&)> op;  // the op under test, on input x
  std::function<Ref(const Ref&)> ref;       // the same on the reference r
};

// One table row per line pair: OP(expression of x), REF(expression of r).
#define OP(...) [](const Tensor& x) -> Tensor { return __VA_ARGS__; }
#define REF(...) [](const Ref& r) -> Ref { return __VA_ARGS__; }

void PrintTo(const MoveCase& c, std::ostream* os) { *os << c.name; }

// clang-format off
const std::vector<MoveCase>& move_cases() {
  static const std::vector<MoveCase> cases = {
      // reshape / view
      {"reshape_4x6", {2, 3, 4}, {4, 6},
       OP(x.reshape({4, 6})), REF(r_reshape(r, {4, 6}))},
      {"reshape_infer_first", {2, 3, 4}, {6, 4},
       OP(x.reshape({-1, 4})), REF(r_reshape(r, {-1, 4}))},
      {"reshape_infer_middle", {2, 3, 4}, {2, 6, 2},
       OP(x.reshape({2, -1, 2})), REF(r_reshape(r, {2, -1, 2}))},
      {"reshape_infer_all", {2, 3, 4}, {24},
       OP(x.reshape({-1})), REF(r_reshape(r, {-1}))},
      {"reshape_free_fn", {2, 3, 4}, {3, 8},
       OP(tj::reshape(x, {3, 8})), REF(r_reshape(r, {3, 8}))},
      {"reshape_to_0d", {1}, {},
       OP(x.reshape({})), REF(r_reshape(r, {}))},
      {"reshape_from_0d", {}, {1, 1},
       OP(x.reshape({1, 1})), REF(r_reshape(r, {1, 1}))},
      {"reshape_add_ones", {6}, {1, 2, 1, 3, 1},
       OP(x.reshape({1, 2, 1, 3, 1})), REF(r_reshape(r, {1, 2, 1, 3, 1}))},
      {"view_24", {2, 3, 4}, {24},
       OP(x.view({24})), REF(r_reshape(r, {24}))},
      {"view_infer_last", {4, 6}, {8, 3},
       OP(x.view({8, -1})), REF(r_reshape(r, {8, -1}))},
      // flatten
      {"flatten_all", {2, 3, 4}, {24},
       OP(x.flatten()), REF(r_flatten(r))},
      {"flatten_from_1", {2, 3, 4}, {2, 12},
       OP(x.flatten(1)), REF(r_flatten(r, 1))},
      {"flatten_0_1", {2, 3, 4}, {6, 4},
       OP(x.flatten(0, 1)), REF(r_flatten(r, 0, 1))},
      {"flatten_negative", {2, 3, 4, 5}, {2, 12, 5},
       OP(x.flatten(-3, -2)), REF(r_flatten(r, -3, -2))},
      {"flatten_single_dim", {2, 3, 4}, {2, 3, 4},
       OP(x.flatten(1, 1)), REF(r_flatten(r, 1, 1))},
      {"flatten_0d", {}, {1},
       OP(x.flatten()), REF(r_flatten(r))},
      // permute / transpose / t
      {"permute_201", {2, 3, 4}, {4, 2, 3},
       OP(x.permute({2, 0, 1})), REF(r_permute(r, {2, 0, 1}))},
      {"permute_negative", {2, 3, 4}, {4, 2, 3},
       OP(x.permute({-1, -3, -2})), REF(r_permute(r, {2, 0, 1}))},
      {"permute_identity", {2, 3, 4}, {2, 3, 4},
       OP(tj::permute(x, {0, 1, 2})), REF(r)},
      {"permute_4d", {2, 3, 4, 5}, {5, 3, 2, 4},
       OP(x.permute({3, 1, 0, 2})), REF(r_permute(r, {3, 1, 0, 2}))},
      {"transpose_0_2", {2, 3, 4}, {4, 3, 2},
       OP(x.transpose(0, 2)), REF(r_transpose(r, 0, 2))},
      {"transpose_negative", {2, 3, 4}, {2, 4, 3},
       OP(x.transpose(-1, -2)), REF(r_transpose(r, 1, 2))},
      {"transpose_same_dim", {2, 3, 4}, {2, 3, 4},
       OP(tj::transpose(x, 1, 1)), REF(r)},
      {"t_2d", {3, 5}, {5, 3},
       OP(x.t()), REF(r_transpose(r, 0, 1))},
      {"t_1d", {5}, {5},
       OP(x.t()), REF(r)},
      {"t_0d", {}, {},
       OP(x.t()), REF(r)},
      {"t_t", {3, 5}, {3, 5},
       OP(x.t().t()), REF(r)},
      // expand / broadcast_to
      {"expand_col", {3, 1}, {3, 4},
       OP(x.expand({3, 4})), REF(r_expand(r, {3, 4}))},
      {"expand_row", {1, 3}, {4, 3},
       OP(x.expand({4, 3})), REF(r_expand(r, {4, 3}))},
      {"expand_new_leading", {3, 1}, {2, 3, 4},
       OP(x.expand({2, 3, 4})), REF(r_expand(r, {2, 3, 4}))},
      {"expand_minus1", {3, 1}, {3, 4},
       OP(x.expand({-1, 4})), REF(r_expand(r, {-1, 4}))},
      {"expand_minus1_and_leading", {1, 3, 1}, {2, 2, 3, 2},
       OP(x.expand({2, 2, -1, 2})), REF(r_expand(r, {2, 2, -1, 2}))},
      {"expand_same", {2, 3}, {2, 3},
       OP(x.expand({2, 3})), REF(r)},
      {"expand_1d_to_2d", {1}, {2, 3},
       OP(tj::expand(x, {2, 3})), REF(r_expand(r, {2, 3}))},
      {"broadcast_to_0d", {}, {2, 2},
       OP(x.broadcast_to({2, 2})), REF(r_expand(r, {2, 2}))},
      {"broadcast_to_free_fn", {4}, {3, 4},
       OP(tj::broadcast_to(x, {3, 4})), REF(r_expand(r, {3, 4}))},
      // squeeze / unsqueeze
      {"squeeze_all", {1, 3, 1, 2}, {3, 2},
       OP(x.squeeze()), REF(r_squeeze(r))},
      {"squeeze_0", {1, 3, 1, 2}, {3, 1, 2},
       OP(x.squeeze(0)), REF(r_squeeze(r, 0))},
      {"squeeze_negative", {1, 3, 1, 2}, {1, 3, 2},
       OP(x.squeeze(-2)), REF(r_squeeze(r, -2))},
      {"squeeze_non_one_is_noop", {1, 3, 1, 2}, {1, 3, 1, 2},
       OP(x.squeeze(1)), REF(r)},
      {"squeeze_to_0d", {1, 1}, {},
       OP(tj::squeeze(x)), REF(r_squeeze(r))},
      {"squeeze_free_fn_dim", {2, 1}, {2},
       OP(tj::squeeze(x, 1)), REF(r_squeeze(r, 1))},
      {"unsqueeze_0", {2, 3}, {1, 2, 3},
       OP(x.unsqueeze(0)), REF(r_unsqueeze(r, 0))},
      {"unsqueeze_1", {2, 3}, {2, 1, 3},
       OP(x.unsqueeze(1)), REF(r_unsqueeze(r, 1))},
      {"unsqueeze_end", {2, 3}, {2, 3, 1},
       OP(x.unsqueeze(2)), REF(r_unsqueeze(r, 2))},
      {"unsqueeze_minus1", {2, 3}, {2, 3, 1},
       OP(x.unsqueeze(-1)), REF(r_unsqueeze(r, -1))},
      {"unsqueeze_minus3", {2, 3}, {1, 2, 3},
       OP(tj::unsqueeze(x, -3)), REF(r_unsqueeze(r, -3))},
      {"unsqueeze_0d", {}, {1},
       OP(x.unsqueeze(0)), REF(r_unsqueeze(r, 0))},
      // slice
      {"slice_rows", {5, 4}, {2, 4},
       OP(x.slice(0, 1, 3)), REF(r_slice(r, 0, 1, 3, 1))},
      {"slice_cols_step2", {5, 4}, {5, 2},
       OP(x.slice(1, 0, 4, 2)), REF(r_slice(r, 1, 0, 4, 2))},
      {"slice_cols_odd", {5, 4}, {5, 2},
       OP(x.slice(1, 1, 4, 2)), REF(r_slice(r, 1, 1, 4, 2))},
      {"slice_step3_uneven", {5, 7}, {5, 3},
       OP(x.slice(1, 0, 7, 3)), REF(r_slice(r, 1, 0, 7, 3))},
      {"slice_negative_bounds", {5, 4}, {2, 4},
       OP(x.slice(0, -3, -1)), REF(r_slice(r, 0, -3, -1, 1))},
      {"slice_negative_dim", {5, 4}, {5, 2},
       OP(x.slice(-1, 1, 3)), REF(r_slice(r, 1, 1, 3, 1))},
      {"slice_end_past_size", {5, 4}, {3, 4},
       OP(x.slice(0, 2, 100)), REF(r_slice(r, 0, 2, 100, 1))},
      {"slice_start_before_0", {5, 4}, {2, 4},
       OP(x.slice(0, -100, 2)), REF(r_slice(r, 0, -100, 2, 1))},
      {"slice_whole", {5, 4}, {5, 4},
       OP(x.slice(0, 0, 5)), REF(r)},
      {"slice_empty_reversed", {5, 4}, {0, 4},
       OP(x.slice(0, 3, 1)), REF(r_slice(r, 0, 3, 1, 1))},
      {"slice_empty_at_end", {5, 4}, {0, 4},
       OP(x.slice(0, 5, 9)), REF(r_slice(r, 0, 5, 9, 1))},
      {"slice_empty_start_eq_end", {5, 4}, {5, 0},
       OP(x.slice(1, 2, 2)), REF(r_slice(r, 1, 2, 2, 1))},
      {"slice_step_past_end", {5, 4}, {5, 1},
       OP(x.slice(1, 1, 4, 5)), REF(r_slice(r, 1, 1, 4, 5))},
      {"slice_1d_negative_step2", {9}, {4},
       OP(tj::slice(x, 0, -8, 9, 2)), REF(r_slice(r, 0, -8, 9, 2))},
      {"slice_middle_dim", {2, 6, 3}, {2, 3, 3},
       OP(x.slice(1, 1, 6, 2)), REF(r_slice(r, 1, 1, 6, 2))},
      {"slice_of_slice", {10}, {3},
       OP(x.slice(0, 1, 9, 2).slice(0, 1, 4)), REF(r_slice(r_slice(r, 0, 1, 9, 2), 0, 1, 4, 1))},
      // contiguous
      {"contiguous_of_contiguous", {2, 3}, {2, 3},
       OP(x.contiguous()), REF(r)},
      {"contiguous_of_transpose", {2, 3}, {3, 2},
       OP(x.t().contiguous()), REF(r_transpose(r, 0, 1))},
      {"contiguous_free_fn", {3, 4}, {3, 2},
       OP(tj::contiguous(x.slice(1, 1, 4, 2))), REF(r_slice(r, 1, 1, 4, 2))},
      // views of views
      {"slice_of_t_of_reshape", {24}, {2, 4},
       OP(x.reshape({4, 6}).t().slice(0, 1, 5, 2)),
       REF(r_slice(r_transpose(r_reshape(r, {4, 6}), 0, 1), 0, 1, 5, 2))},
      {"reshape_of_permute", {2, 3, 4}, {4, 6},
       OP(x.permute({2, 0, 1}).reshape({4, 6})), REF(r_reshape(r_permute(r, {2, 0, 1}), {4, 6}))},
      {"flatten_of_transpose", {2, 3, 4}, {24},
       OP(x.transpose(0, 1).flatten()), REF(r_flatten(r_transpose(r, 0, 1)))},
      {"view_of_slice_step", {4, 6}, {12},
       OP(x.slice(1, 0, 6, 2).reshape({-1})), REF(r_reshape(r_slice(r, 1, 0, 6, 2), {-1}))},
      {"expand_then_slice_then_t", {3, 1}, {2, 3},
       OP(x.expand({3, 5}).slice(1, 1, 5, 2).t()),
       REF(r_transpose(r_slice(r_expand(r, {3, 5}), 1, 1, 5, 2), 0, 1))},
      {"unsqueeze_expand_of_slice", {4, 5}, {2, 3, 4},
       OP(x.slice(1, 0, 5, 2).t().unsqueeze(0).expand({2, 3, 4})),
       REF(r_expand(r_unsqueeze(r_transpose(r_slice(r, 1, 0, 5, 2), 0, 1), 0), {2, 3, 4}))},
      {"permute_of_expand", {3, 1}, {4, 2, 3},
       OP(x.expand({2, 3, 4}).permute({2, 0, 1})),
       REF(r_permute(r_expand(r, {2, 3, 4}), {2, 0, 1}))},
      {"reshape_of_expand", {3, 1}, {2, 6},
       OP(x.expand({3, 4}).reshape({2, 6})), REF(r_reshape(r_expand(r, {3, 4}), {2, 6}))},
      {"squeeze_of_slice", {4, 5}, {5},
       OP(x.slice(0, 2, 3).squeeze(0)), REF(r_squeeze(r_slice(r, 0, 2, 3, 1), 0))},
      {"slice_of_transpose_3d", {2, 3, 4}, {1, 2, 2},
       OP(x.transpose(0, 2).slice(0, -1, 4).slice(1, 0, 3, 2)),
       REF(r_slice(r_slice(r_transpose(r, 0, 2), 0, -1, 4, 1), 1, 0, 3, 2))},
      // larger, odd sizes (several tiles, ragged edges)
      {"t_large", {67, 131}, {131, 67},
       OP(x.t()), REF(r_transpose(r, 0, 1))},
      {"permute_large", {5, 33, 65}, {65, 5, 33},
       OP(x.permute({2, 0, 1})), REF(r_permute(r, {2, 0, 1}))},
      {"slice_large_step3", {100, 301}, {100, 99},
       OP(x.slice(1, 5, 300, 3)), REF(r_slice(r, 1, 5, 300, 3))},
      {"expand_large", {1, 257}, {129, 257},
       OP(x.expand({129, 257})), REF(r_expand(r, {129, 257}))},
      {"cat_large", {64, 100}, {64, 150},
       OP(tj::cat({x.slice(1, 3, 100, 2), x.t().t(), x.slice(1, 0, 1)}, 1)),
       REF(r_cat({r_slice(r, 1, 3, 100, 2), r, r_slice(r, 1, 0, 1, 1)}, 1))},
      {"t_reshape_large", {96, 130}, {65, 192},
       OP(x.t().reshape({65, -1}) * 2.0f),
       REF(r_affine(r_reshape(r_transpose(r, 0, 1), {65, -1}), 2, 0))},
      // pointwise ops on non-contiguous views
      {"pointwise_on_t", {3, 4}, {4, 3},
       OP(x.t() * 2.0f + 1.0f),
       REF(r_affine(r_transpose(r, 0, 1), 2, 1))},
      {"pointwise_t_plus_self_square", {4, 4}, {4, 4},
       OP(x.t() + x),
       REF(r_zip(r_transpose(r, 0, 1), r, std::plus<>()))},
      {"pointwise_two_strided_views", {4, 6}, {4, 3},
       OP(x.slice(1, 0, 6, 2) * x.slice(1, 1, 6, 2)),
       REF(r_zip(r_slice(r, 1, 0, 6, 2), r_slice(r, 1, 1, 6, 2), std::multiplies<>()))},
      {"pointwise_broadcast_slice", {3, 4}, {3, 4},
       OP(x - x.slice(1, 0, 1)),
       REF(r_zip(r, r_expand(r_slice(r, 1, 0, 1, 1), {3, 4}), std::minus<>()))},
      {"pointwise_on_expand", {3, 1}, {3, 2},
       OP(tj::abs(x.expand({3, 2}))),
       REF(r_map(r_expand(r, {3, 2}), [](double v) { return std::abs(v); }))},
      {"pointwise_on_permute", {2, 3, 4}, {3, 4, 2},
       OP(tj::neg(x.permute({1, 2, 0}))),
       REF(r_affine(r_permute(r, {1, 2, 0}), -1, 0))},
      {"pointwise_then_view", {3, 4}, {2, 3},
       OP((x * 3.0f).t().slice(0, 1, 3)),
       REF(r_slice(r_transpose(r_affine(r, 3, 0), 0, 1), 0, 1, 3, 1))},
      // cat / stack built from views of the input
      {"cat_views_dim0", {4, 3}, {7, 3},
       OP(tj::cat({x.slice(0, 0, 1), x.slice(0, 2, 4), x}, 0)),
       REF(r_cat({r_slice(r, 0, 0, 1, 1), r_slice(r, 0, 2, 4, 1), r}, 0))},
      {"cat_views_dim1_with_empty", {4, 3}, {4, 5},
       OP(tj::cat({x.slice(1, 0, 0), x.t().t(), x.slice(1, 2, 2), x.slice(1, 0, 3, 2)}, 1)),
       REF(r_cat({r_slice(r, 1, 0, 0, 1), r, r_slice(r, 1, 2, 2, 1), r_slice(r, 1, 0, 3, 2)}, 1))},
      {"cat_transposed_inputs", {3, 4}, {4, 6},
       OP(tj::cat({x.t(), x.t() * 2.0f}, -1)),
       REF(r_cat({r_transpose(r, 0, 1), r_affine(r_transpose(r, 0, 1), 2, 0)}, 1))},
      {"stack_views_dim0", {2, 3}, {3, 2, 3},
       OP(tj::stack({x, x.slice(1, 0, 3), x + 1.0f}, 0)),
       REF(r_stack({r, r, r_affine(r, 1, 1)}, 0))},
      {"stack_views_last", {2, 3}, {2, 3, 2},
       OP(tj::stack({x, x * 2.0f}, -1)),
       REF(r_stack({r, r_affine(r, 2, 0)}, 2))},
      {"stack_of_t", {2, 2}, {2, 2, 2},
       OP(tj::stack({x.t(), x}, 1)), REF(r_stack({r_transpose(r, 0, 1), r}, 1))},
  };
  return cases;
}
// clang-format on

class MovementTableTest : public ModeCaseTest<MoveCase> {};

TEST_P(MovementTableTest, ValuesShapesAndPendingVsComputed) {
  const auto& c = param();
  auto data = seq(numel_of(c.in_shape));
  Ref want = c.ref(ref_of(data, c.in_shape));
  ASSERT_EQ(numel_of(want.shape), static_cast<int64_t>(want.v.size()));
  ASSERT_EQ(want.shape, c.want_shape) << "the test's reference disagrees with its table";

  // Computed input.
  Tensor computed = make(data, c.in_shape);
  computed.eval();
  ASSERT_TRUE(computed.is_materialized());
  Tensor from_computed = c.op(computed);
  EXPECT_EQ(from_computed.shape(), c.want_shape);
  EXPECT_EQ(from_computed.dtype(), tj::f32);
  EXPECT_EQ(from_computed.numel(), numel_of(c.want_shape));
  EXPECT_EQ(from_computed.dim(), static_cast<int64_t>(c.want_shape.size()));
  auto got_computed = from_computed.to_vector<double>();
  EXPECT_TRUE(all_close(got_computed, want.v, 0, 0)) << "on a computed input";

  // Pending input: (data - 1) + 1 is exact for these values.
  auto minus_one = data;
  for (auto& v : minus_one) v -= 1;
  Tensor pending = make(minus_one, c.in_shape) + 1.0f;
  if (lazy()) {
    EXPECT_FALSE(pending.is_materialized());
  }
  Tensor from_pending = c.op(pending);
  EXPECT_EQ(from_pending.shape(), c.want_shape);
  auto got_pending = from_pending.to_vector<double>();
  EXPECT_TRUE(all_close(got_pending, want.v, 0, 0)) << "on a pending input";
  EXPECT_EQ(got_pending, got_computed);

  // Reading again gives the same values (nothing was consumed by the first read).
  EXPECT_EQ(from_computed.to_vector<double>(), got_computed);
}

INSTANTIATE_TEST_SUITE_P(Ops, MovementTableTest,
                         ::testing::Combine(::testing::Bool(), ::testing::ValuesIn(move_cases())),
                         [](const auto& info) { return case_name(info); });

// ---- every dtype through movement ops ---------------------------------------------

/// Values that every dtype stores exactly, distinct where the dtype allows.
std::vector<double> dtype_values(DType dt, int64_t n) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) {
    switch (dt) {
      case DType::f32:
      case DType::f64:
        v[i] = 0.25 * static_cast<double>(i) - 2.5;
        break;
      case DType::f16:
      case DType::bf16:
        v[i] = 0.25 * static_cast<double>((i * 7) % 23) - 2.75;
        break;
      case DType::i32:
        v[i] = (i % 2 ? -1.0 : 1.0) * (1000000000.0 + static_cast<double>(i));
        break;
      case DType::i64:
        v[i] = (i % 2 ? -1.0 : 1.0) * (1099511627776.0 + static_cast<double>(i));  // 2^40 + i
        break;
      case DType::bool_:
        v[i] = (i * 5) % 3 == 0 ? 1 : 0;
        break;
    }
  }
  return v;
}

struct DTypeMoveCase {
  std::string name;
  Shape in_shape;
  std::function<Tensor(const Tensor&)> op;
  std::function<Ref(const Ref&)> ref;
};

void PrintTo(const DTypeMoveCase& c, std::ostream* os) { *os << c.name; }

// clang-format off
const std::vector<DTypeMoveCase>& dtype_move_cases() {
  static const std::vector<DTypeMoveCase> cases = {
      {"transpose_contiguous", {3, 4},
       OP(x.t().contiguous()), REF(r_transpose(r, 0, 1))},
      {"permute_reshape", {2, 3, 4},
       OP(x.permute({1, 2, 0}).reshape({-1, 2})), REF(r_reshape(r_permute(r, {1, 2, 0}), {-1, 2}))},
      {"slice_step", {4, 6},
       OP(x.slice(1, -5, 6, 2).slice(0, 1, 4)), REF(r_slice(r_slice(r, 1, -5, 6, 2), 0, 1, 4, 1))},
      {"expand_leading", {3, 1},
       OP(x.expand({2, 3, 4})), REF(r_expand(r, {2, 3, 4}))},
      {"squeeze_unsqueeze", {1, 4, 1},
       OP(x.squeeze().unsqueeze(-1).unsqueeze(0)),
       REF(r_unsqueeze(r_unsqueeze(r_squeeze(r), -1), 0))},
      {"cat_dim1", {2, 3},
       OP(tj::cat({x, x.slice(1, 0, 2), x.slice(1, 0, 0)}, 1)),
       REF(r_cat({r, r_slice(r, 1, 0, 2, 1), r_slice(r, 1, 0, 0, 1)}, 1))},
      {"stack_dim1", {2, 3},
       OP(tj::stack({x, x.t().t()}, 1)), REF(r_stack({r, r}, 1))},
      {"flatten_transpose", {2, 3, 2},
       OP(x.transpose(0, 2).flatten()), REF(r_flatten(r_transpose(r, 0, 2)))},
  };
  return cases;
}
// clang-format on

using DTypeParam = std::tuple<DType, DTypeMoveCase>;

template <class Info>
std::string dtype_case_name(const Info& info) {
  const DTypeParam& p = std::get<1>(info.param);
  return mode_name(std::get<0>(info.param)) + "_" + std::string(tj::dtype_name(std::get<0>(p))) +
         "_" + std::get<1>(p).name;
}

class MovementDTypeTest : public ModeCaseTest<DTypeParam> {};

TEST_P(MovementDTypeTest, KeepsDTypeAndValues) {
  DType dt = std::get<0>(param());
  const auto& c = std::get<1>(param());
  auto data = dtype_values(dt, numel_of(c.in_shape));
  Ref want = c.ref(ref_of(data, c.in_shape));

  Tensor computed = make(data, c.in_shape, dt);
  ASSERT_EQ(computed.dtype(), dt);
  computed.eval();
  Tensor a = c.op(computed);
  EXPECT_EQ(a.dtype(), dt);
  EXPECT_EQ(a.shape(), want.shape);
  auto got_a = a.to_vector<double>();
  EXPECT_TRUE(all_close(got_a, want.v, 0, 0)) << "computed input, dtype " << dt;

  // Pending input of the same dtype: (f64 values * 1).cast(dt).
  Tensor pending = (make(data, c.in_shape, tj::f64) * 1.0).cast(dt);
  ASSERT_EQ(pending.dtype(), dt);
  if (lazy()) {
    EXPECT_FALSE(pending.is_materialized());
  }
  Tensor b = c.op(pending);
  EXPECT_EQ(b.dtype(), dt);
  EXPECT_EQ(b.shape(), want.shape);
  auto got_b = b.to_vector<double>();
  EXPECT_TRUE(all_close(got_b, want.v, 0, 0)) << "pending input, dtype " << dt;
  EXPECT_EQ(got_a, got_b);

  if (dt == tj::i64) {  // exact beyond 2^31 and 2^24, read as integers
    auto ints = b.to_vector<int64_t>();
    ASSERT_EQ(ints.size(), want.v.size());
    for (size_t i = 0; i < ints.size(); ++i) EXPECT_EQ(ints[i], static_cast<int64_t>(want.v[i]));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ops, MovementDTypeTest,
    ::testing::Combine(::testing::Bool(),
                       ::testing::Combine(::testing::Values(tj::f32, tj::f16, tj::bf16, tj::f64,
                                                            tj::i32, tj::i64, tj::bool_),
                                          ::testing::ValuesIn(dtype_move_cases()))),
    [](const auto& info) { return dtype_case_name(info); });

// ---- hand-written values (independent of the reference) -----------------------------

INSTANTIATE_TEST_SUITE_P(Ops, MovementTest, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

std::vector<double> iota(int64_t n, double start = 0) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i);
  return v;
}

TEST_P(MovementTest, HandWrittenValues) {
  auto x = make(iota(6), {2, 3});  // [[0 1 2] [3 4 5]]
  EXPECT_TRUE(all_close(x.t(), {0, 3, 1, 4, 2, 5}, 0, 0));
  EXPECT_TRUE(all_close(x.reshape({3, -1}), {0, 1, 2, 3, 4, 5}, 0, 0));
  EXPECT_EQ(x.reshape({3, -1}).shape(), (Shape{3, 2}));
  EXPECT_TRUE(all_close(x.slice(1, 1, 3), {1, 2, 4, 5}, 0, 0));
  EXPECT_TRUE(all_close(x.slice(1, -1, 3), {2, 5}, 0, 0));
  EXPECT_TRUE(all_close(x.slice(1, 0, 3, 2), {0, 2, 3, 5}, 0, 0));
  EXPECT_TRUE(all_close(x.t().slice(0, 1, 3).reshape({-1}), {1, 4, 2, 5}, 0, 0));
  EXPECT_TRUE(all_close(x.slice(0, 1, 2).expand({3, 3}), {3, 4, 5, 3, 4, 5, 3, 4, 5}, 0, 0));
  EXPECT_TRUE(all_close(x.slice(1, 2, 3).expand({2, 2}), {2, 2, 5, 5}, 0, 0));
  EXPECT_TRUE(all_close(tj::cat({x, x.slice(0, 0, 1)}, 0), {0, 1, 2, 3, 4, 5, 0, 1, 2}, 0, 0));
  EXPECT_TRUE(all_close(tj::cat({x, x.slice(1, 0, 1)}, 1), {0, 1, 2, 0, 3, 4, 5, 3}, 0, 0));
  EXPECT_TRUE(all_close(tj::stack({x, x}, 2), {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5}, 0, 0));

  auto y = make(iota(24), {2, 3, 4});
  auto p = y.permute({2, 0, 1});  // p[k][i][j] = y[i][j][k] = 12 i + 4 j + k
  ASSERT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_TRUE(all_close(p.slice(0, 1, 2).reshape({-1}), {1, 5, 9, 13, 17, 21}, 0, 0));
  EXPECT_TRUE(all_close(y.transpose(0, 2).slice(0, 3, 4).flatten(), {3, 15, 7, 19, 11, 23}, 0, 0));
}

TEST_P(MovementTest, CatSeveralInputsAnyDim) {
  auto a = make(iota(3, 0), {1, 3});
  auto b = make(iota(6, 10), {2, 3});
  auto c = make(iota(9, 20), {3, 3});
  auto r0 = tj::cat({a, b, c}, 0);
  EXPECT_EQ(r0.shape(), (Shape{6, 3}));
  EXPECT_TRUE(
      all_close(r0, {0, 1, 2, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25, 26, 27, 28}, 0, 0));

  auto d = make(iota(2, 0), {2, 1});
  auto e = make(iota(6, 10), {2, 3});
  auto f = make(iota(4, 20), {2, 2});
  auto r1 = tj::cat({d, e, f}, 1);
  EXPECT_EQ(r1.shape(), (Shape{2, 6}));
  EXPECT_TRUE(all_close(r1, {0, 10, 11, 12, 20, 21, 1, 13, 14, 15, 22, 23}, 0, 0));
  auto r1n = tj::cat({d, e, f}, -1);
  EXPECT_EQ(r1n.shape(), (Shape{2, 6}));
  EXPECT_EQ(r1n.to_vector<double>(), r1.to_vector<double>());

  // 3-D along the middle dim.
  auto g = make(iota(4, 0), {2, 1, 2});
  auto h = make(iota(8, 100), {2, 2, 2});
  auto r2 = tj::cat({g, h}, 1);
  EXPECT_EQ(r2.shape(), (Shape{2, 3, 2}));
  EXPECT_TRUE(all_close(r2, {0, 1, 100, 101, 102, 103, 2, 3, 104, 105, 106, 107}, 0, 0));
  auto r2n = tj::cat({g, h}, -2);
  EXPECT_EQ(r2n.to_vector<double>(), r2.to_vector<double>());

  // 1-D, default dim.
  auto r3 = tj::cat({make({1, 2}, {2}), make({3}, {1}), make({4, 5, 6}, {3})});
  EXPECT_EQ(r3.shape(), (Shape{6}));
  EXPECT_TRUE(all_close(r3, {1, 2, 3, 4, 5, 6}, 0, 0));

  // A single input.
  auto r4 = tj::cat({b}, 1);
  EXPECT_EQ(r4.shape(), (Shape{2, 3}));
  EXPECT_TRUE(all_close(r4, iota(6, 10), 0, 0));
}

TEST_P(MovementTest, CatWithEmptyInputs) {
  auto a = make(iota(4), {2, 2});
  auto empty = tj::zeros({2, 0});
  auto r = tj::cat({empty, a, empty, make({9, 8}, {2, 1}), empty}, 1);
  EXPECT_EQ(r.shape(), (Shape{2, 3}));
  EXPECT_TRUE(all_close(r, {0, 1, 9, 2, 3, 8}, 0, 0));

  auto rows = tj::cat({tj::zeros({0, 3}), make(iota(3), {1, 3}), tj::zeros({0, 3})}, 0);
  EXPECT_EQ(rows.shape(), (Shape{1, 3}));
  EXPECT_TRUE(all_close(rows, {0, 1, 2}, 0, 0));

  auto all_empty = tj::cat({empty, empty}, 1);
  EXPECT_EQ(all_empty.shape(), (Shape{2, 0}));
  EXPECT_EQ(all_empty.numel(), 0);
  EXPECT_TRUE(all_empty.to_vector<double>().empty());

  // Empty along another dim: the result is empty too.
  auto e2 = tj::cat({tj::zeros({0, 2}), tj::zeros({0, 3})}, 1);
  EXPECT_EQ(e2.shape(), (Shape{0, 5}));
}

TEST_P(MovementTest, CatMixesPendingComputedAndViews) {
  auto x = make(iota(6), {2, 3});
  x.eval();
  auto pending = x * 10.0f;
  auto view = x.slice(1, 1, 3);
  auto r = tj::cat({pending, x, view}, 1);
  EXPECT_EQ(r.shape(), (Shape{2, 8}));
  EXPECT_TRUE(all_close(r, {0, 10, 20, 0, 1, 2, 1, 2, 30, 40, 50, 3, 4, 5, 4, 5}, 0, 0));
  // And cat's result feeds further ops.
  auto s = (r + 1.0f).slice(1, 6, 8).t();
  EXPECT_TRUE(all_close(s, {2, 5, 3, 6}, 0, 0));
}

TEST_P(MovementTest, CatPromotesDTypes) {
  // As torch.cat: the result has the promoted dtype of the inputs.
  std::vector<int32_t> iv{1, 2};
  auto a = tj::from_vector(iv, {2});
  auto b = make({0.5, 1.5}, {2});
  auto r = tj::cat({a, b});
  EXPECT_EQ(r.dtype(), tj::f32);
  EXPECT_TRUE(all_close(r, {1, 2, 0.5, 1.5}, 0, 0));
}

TEST_P(MovementTest, StackAnyDim) {
  auto a = make(iota(6), {2, 3});
  auto b = make(iota(6, 10), {2, 3});
  auto c = make(iota(6, 20), {2, 3});
  struct Row {
    int64_t dim;
    Shape shape;
    std::vector<double> want;
  };
  std::vector<Row> rows = {
      {0, {3, 2, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25}},
      {-3, {3, 2, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25}},
      {1, {2, 3, 3}, {0, 1, 2, 10, 11, 12, 20, 21, 22, 3, 4, 5, 13, 14, 15, 23, 24, 25}},
      {-2, {2, 3, 3}, {0, 1, 2, 10, 11, 12, 20, 21, 22, 3, 4, 5, 13, 14, 15, 23, 24, 25}},
      {2, {2, 3, 3}, {0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23, 4, 14, 24, 5, 15, 25}},
      {-1, {2, 3, 3}, {0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23, 4, 14, 24, 5, 15, 25}},
  };
  for (const auto& row : rows) {
    auto s = tj::stack({a, b, c}, row.dim);
    EXPECT_EQ(s.shape(), row.shape) << "dim " << row.dim;
    EXPECT_TRUE(all_close(s, row.want, 0, 0)) << "dim " << row.dim;
  }
  // Stacking 0-d tensors gives a vector.
  auto v = tj::stack({make({1}, {}), make({2}, {}), make({3}, {})});
  EXPECT_EQ(v.shape(), (Shape{3}));
  EXPECT_TRUE(all_close(v, {1, 2, 3}, 0, 0));
  // A single input gets a new size-1 dim.
  auto one = tj::stack({a}, 1);
  EXPECT_EQ(one.shape(), (Shape{2, 1, 3}));
  EXPECT_TRUE(all_close(one, iota(6), 0, 0));
}

// ---- layout of computed views -------------------------------------------------------

TEST_P(MovementTest, TransposeOfComputedIsAView) {
  auto x = make(iota(6), {2, 3});
  x.eval();
  ASSERT_TRUE(x.is_materialized());
  EXPECT_TRUE(x.is_contiguous());
  EXPECT_EQ(x.strides(), (Shape{3, 1}));

  auto y = x.t();
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_TRUE(y.is_materialized()) << "a view of a computed tensor needs no computation";
  EXPECT_FALSE(y.is_contiguous());
  EXPECT_EQ(y.strides(), (Shape{1, 3}));
  EXPECT_TRUE(all_close(y, {0, 3, 1, 4, 2, 5}, 0, 0));

  auto z = y.contiguous();
  z.eval();
  EXPECT_TRUE(z.is_contiguous());
  EXPECT_EQ(z.strides(), (Shape{2, 1}));
  EXPECT_EQ(z.to_vector<double>(), y.to_vector<double>());
  // The view is unchanged by making a contiguous copy of it.
  EXPECT_FALSE(y.is_contiguous());
  EXPECT_EQ(y.strides(), (Shape{1, 3}));

  // contiguous() of a contiguous tensor keeps its layout.
  auto xc = x.contiguous();
  EXPECT_TRUE(xc.is_contiguous());
  EXPECT_EQ(xc.strides(), (Shape{3, 1}));
}

TEST_P(MovementTest, StridesOfComputedViews) {
  auto x = make(iota(24), {2, 3, 4});
  x.eval();
  EXPECT_EQ(x.strides(), (Shape{12, 4, 1}));

  auto p = x.permute({2, 0, 1});
  EXPECT_TRUE(p.is_materialized());
  EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
  EXPECT_FALSE(p.is_contiguous());

  auto tr = x.transpose(-1, -2);
  EXPECT_EQ(tr.strides(), (Shape{12, 1, 4}));
  EXPECT_FALSE(tr.is_contiguous());

  auto r = x.reshape({6, 4});
  EXPECT_TRUE(r.is_materialized()) << "reshape of a contiguous computed tensor is a view";
  EXPECT_TRUE(r.is_contiguous());
  EXPECT_EQ(r.strides(), (Shape{4, 1}));

  auto m = make(iota(24), {4, 6});
  m.eval();
  auto cols = m.slice(1, 1, 5, 2);
  EXPECT_TRUE(cols.is_materialized());
  EXPECT_EQ(cols.shape(), (Shape{4, 2}));
  EXPECT_EQ(cols.strides(), (Shape{6, 2}));
  EXPECT_FALSE(cols.is_contiguous());
  EXPECT_TRUE(all_close(cols, {1, 3, 7, 9, 13, 15, 19, 21}, 0, 0));

  auto rows = m.slice(0, 1, 3);
  EXPECT_EQ(rows.strides(), (Shape{6, 1}));
  EXPECT_TRUE(rows.is_contiguous()) << "a run of whole rows has no gaps";
  EXPECT_TRUE(all_close(rows, iota(12, 6), 0, 0));

  auto c = make({1, 2, 3}, {3, 1});
  c.eval();
  auto e = c.expand({2, 3, 4});
  EXPECT_TRUE(e.is_materialized());
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  EXPECT_FALSE(e.is_contiguous());
  auto ec = e.contiguous();
  ec.eval();
  EXPECT_TRUE(ec.is_contiguous());
  EXPECT_EQ(ec.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(ec.to_vector<double>(), e.to_vector<double>());

  // Reshaping a non-contiguous view must copy; the values follow row-major order.
  auto rt = m.t().reshape({-1});
  EXPECT_EQ(rt.shape(), (Shape{24}));
  std::vector<double> want;
  for (int j = 0; j < 6; ++j)
    for (int i = 0; i < 4; ++i) want.push_back(i * 6 + j);
  EXPECT_TRUE(all_close(rt, want, 0, 0));
  rt.eval();
  EXPECT_TRUE(rt.is_contiguous());
}

TEST_P(MovementTest, PendingTensorsReportRowMajorLayout) {
  auto x = make(iota(6), {2, 3});
  auto p = x + 1.0f;
  if (!p.is_materialized()) {
    EXPECT_TRUE(lazy());
    EXPECT_TRUE(p.is_contiguous());
    EXPECT_EQ(p.strides(), (Shape{3, 1}));
  } else {
    EXPECT_FALSE(lazy()) << "lazy mode computed x + 1 without a reason";
  }
  auto q = p.t();
  if (!q.is_materialized()) {
    EXPECT_TRUE(q.is_contiguous());
    EXPECT_EQ(q.strides(), (Shape{2, 1}));
  }
  EXPECT_TRUE(all_close(q, {1, 4, 2, 5, 3, 6}, 0, 0));
  q.eval();
  EXPECT_TRUE(q.is_materialized());
  EXPECT_TRUE(all_close(q.contiguous(), {1, 4, 2, 5, 3, 6}, 0, 0));
}

TEST_P(MovementTest, ViewsKeepTheirValueWhenTheBaseIsRebound) {
  auto x = make(iota(6), {2, 3});
  x.eval();
  auto v = x.t();
  auto s = x.slice(1, 1, 3);
  x += 100.0f;
  EXPECT_TRUE(all_close(x, {100, 101, 102, 103, 104, 105}, 0, 0));
  EXPECT_TRUE(all_close(v, {0, 3, 1, 4, 2, 5}, 0, 0));
  EXPECT_TRUE(all_close(s, {1, 2, 4, 5}, 0, 0));

  auto y = make(iota(6), {2, 3}) * 1.0f;  // pending in lazy mode
  auto yv = y.t();
  y.copy_(make({7}, {1}));
  EXPECT_TRUE(all_close(y, {7, 7, 7, 7, 7, 7}, 0, 0));
  EXPECT_TRUE(all_close(yv, {0, 3, 1, 4, 2, 5}, 0, 0));

  // Rebinding a view leaves its base alone (value semantics, unlike torch).
  auto z = make(iota(6), {2, 3});
  z.eval();
  auto zt = z.t();
  zt += 1.0f;
  EXPECT_TRUE(all_close(zt, {1, 4, 2, 5, 3, 6}, 0, 0));
  EXPECT_TRUE(all_close(z, iota(6), 0, 0));
  auto zs = z.slice(1, 0, 3, 2);
  zs.copy_(make({-1}, {}));
  EXPECT_EQ(zs.shape(), (Shape{2, 2}));
  EXPECT_TRUE(all_close(zs, {-1, -1, -1, -1}, 0, 0));
  EXPECT_TRUE(all_close(z, iota(6), 0, 0));
}

TEST_P(MovementTest, MovementOnPendingEqualsOnComputedLongChain) {
  auto data = seq(60, -7, 0.25);
  auto chain = [](const Tensor& t) {
    auto a = t.reshape({3, 4, 5}).permute({2, 0, 1});                // [5,3,4]
    auto b = a.slice(0, 1, 5, 2).slice(2, -3, 4);                    // [2,3,3]
    auto c = b.transpose(0, 1).unsqueeze(1).expand({3, 2, 2, 3});    // [3,2,2,3]
    return tj::cat({c, c.slice(3, 0, 1) * 2.0f}, -1).flatten(1, 2);  // [3,4,4]
  };
  auto computed = make(data, {60});
  computed.eval();
  auto pending = make(data, {60}) + 0.0f;
  auto a = chain(computed);
  auto b = chain(pending);
  EXPECT_EQ(a.shape(), (Shape{3, 4, 4}));
  EXPECT_EQ(b.shape(), (Shape{3, 4, 4}));
  auto r = r_reshape(ref_of(data, {60}), {3, 4, 5});
  r = r_permute(r, {2, 0, 1});
  r = r_slice(r_slice(r, 0, 1, 5, 2), 2, -3, 4, 1);
  r = r_expand(r_unsqueeze(r_transpose(r, 0, 1), 1), {3, 2, 2, 3});
  r = r_flatten(r_cat({r, r_map(r_slice(r, 3, 0, 1, 1), [](double v) { return v * 2; })}, 3), 1, 2);
  ASSERT_EQ(r.shape, (Shape{3, 4, 4}));
  EXPECT_TRUE(all_close(a, r.v, 0, 0));
  EXPECT_TRUE(all_close(b, r.v, 0, 0));
}

TEST_P(MovementTest, ChainWithTinyTraceLimit) {
  // The trace flushes on its own every couple of ops, so the chain mixes
  // pending and computed tensors at arbitrary points; the values must not change.
  tj::ConfigGuard g;
  g->max_trace = 2;
  auto data = seq(60, -7, 0.25);
  auto x = make(data, {60}) + 0.0f;
  auto a = x.reshape({3, 4, 5}).permute({2, 0, 1}) * 1.0f;           // [5,3,4]
  auto b = a.slice(0, 1, 5, 2).slice(2, -3, 4) + 0.0f;               // [2,3,3]
  auto c = b.transpose(0, 1).unsqueeze(1).expand({3, 2, 2, 3});      // [3,2,2,3]
  auto y = tj::cat({c, c.slice(3, 0, 1) * 2.0f}, -1).flatten(1, 2);  // [3,4,4]
  auto r = r_permute(r_reshape(ref_of(data, {60}), {3, 4, 5}), {2, 0, 1});
  r = r_slice(r_slice(r, 0, 1, 5, 2), 2, -3, 4, 1);
  r = r_expand(r_unsqueeze(r_transpose(r, 0, 1), 1), {3, 2, 2, 3});
  r = r_flatten(r_cat({r, r_map(r_slice(r, 3, 0, 1, 1), [](double v) { return v * 2; })}, 3), 1, 2);
  EXPECT_EQ(y.shape(), (Shape{3, 4, 4}));
  EXPECT_TRUE(all_close(y, r.v, 0, 0));
}

TEST_P(MovementTest, ReductionAndMatmulOnViews) {
  auto x = make(iota(6), {2, 3});  // [[0 1 2] [3 4 5]]
  EXPECT_TRUE(all_close(x.t().sum({1}), {3, 5, 7}, 0, 0));
  EXPECT_TRUE(all_close(x.slice(1, 0, 3, 2).sum(), {10}, 0, 0));
  EXPECT_TRUE(all_close(x.expand({2, 2, 3}).sum({0}), {0, 2, 4, 6, 8, 10}, 0, 0));
  // x^T x = [[9 12 15] [12 17 22] [15 22 29]]
  EXPECT_TRUE(all_close(tj::matmul(x.t(), x), {9, 12, 15, 12, 17, 22, 15, 22, 29}, 1e-6, 0));
}

TEST_P(MovementTest, ZeroSizeTensors) {
  auto e = tj::zeros({0, 3});
  EXPECT_EQ(e.t().shape(), (Shape{3, 0}));
  EXPECT_EQ(e.reshape({3, 0, 5}).shape(), (Shape{3, 0, 5}));
  EXPECT_EQ(e.reshape({-1, 3}).shape(), (Shape{0, 3}));
  EXPECT_EQ(e.unsqueeze(1).shape(), (Shape{0, 1, 3}));
  EXPECT_EQ(e.expand({2, 0, 3}).shape(), (Shape{2, 0, 3}));
  EXPECT_EQ(e.flatten().shape(), (Shape{0}));
  EXPECT_EQ(e.slice(1, 1, 3).shape(), (Shape{0, 2}));
  EXPECT_TRUE((e.t() + 1.0f).to_vector<double>().empty());
  // A size-1 dim expands to 0.
  auto one = make({5, 6}, {1, 2});
  EXPECT_EQ(one.expand({0, 2}).shape(), (Shape{0, 2}));
}

TEST_P(MovementTest, EveryDTypeStack) {
  for (DType dt : {tj::f32, tj::f16, tj::bf16, tj::f64, tj::i32, tj::i64, tj::bool_}) {
    auto d = dtype_values(dt, 4);
    auto a = make(d, {2, 2}, dt);
    auto s = tj::stack({a, a.t()}, -1);
    EXPECT_EQ(s.dtype(), dt) << dt;
    EXPECT_EQ(s.shape(), (Shape{2, 2, 2})) << dt;
    EXPECT_TRUE(all_close(s, {d[0], d[0], d[1], d[2], d[2], d[1], d[3], d[3]}, 0, 0)) << dt;
  }
}

// ---- user errors -----------------------------------------------------------------

TEST_P(MovementTest, BadArgumentsThrow) {
  auto x = make(iota(24), {2, 3, 4});
  EXPECT_TRUE(throws_error([&] { x.reshape({5, 5}).eval(); }, {"reshape"}));
  EXPECT_TRUE(throws_error([&] { x.reshape({-1, -1}).eval(); }, {"reshape"}));
  EXPECT_TRUE(throws_error([&] { x.reshape({-1, 5}).eval(); }, {"reshape"}));
  EXPECT_TRUE(throws_error([&] { x.permute({0, 0, 1}).eval(); }, {"permute"}));
  EXPECT_TRUE(throws_error([&] { x.permute({0, 1}).eval(); }, {"permute"}));
  EXPECT_TRUE(throws_error([&] { x.permute({0, 1, 3}).eval(); }, {"permute"}));
  EXPECT_TRUE(throws_error([&] { x.transpose(0, 3).eval(); }, {"transpose"}));
  EXPECT_TRUE(throws_error([&] { x.expand({2, 3, 5}).eval(); }, {"expand"}));
  EXPECT_TRUE(throws_error([&] { x.expand({3, 4}).eval(); }, {"expand"}));
  EXPECT_TRUE(throws_error([&] { x.expand({-1, 2, 3, 4}).eval(); }, {"expand"}));
  EXPECT_TRUE(throws_error([&] { x.squeeze(3).eval(); }, {"squeeze"}));
  EXPECT_TRUE(throws_error([&] { x.unsqueeze(4).eval(); }, {"unsqueeze"}));
  EXPECT_TRUE(throws_error([&] { x.unsqueeze(-5).eval(); }, {"unsqueeze"}));
  EXPECT_TRUE(throws_error([&] { x.slice(0, 0, 2, 0).eval(); }, {"slice"}));
  EXPECT_TRUE(throws_error([&] { x.slice(0, 0, 2, -1).eval(); }, {"slice"}));
  EXPECT_TRUE(throws_error([&] { x.slice(3, 0, 1).eval(); }, {"slice"}));
  EXPECT_TRUE(throws_error([&] { x.flatten(2, 1).eval(); }, {"flatten"}));
  EXPECT_TRUE(throws_error([&] { tj::cat({}, 0).eval(); }, {"cat"}));
  EXPECT_TRUE(throws_error([&] { tj::cat({x, x.reshape({6, 4})}, 0).eval(); }, {"cat"}));
  EXPECT_TRUE(throws_error([&] { tj::cat({x, x.slice(1, 0, 2)}, 0).eval(); }, {"cat"}));
  EXPECT_TRUE(throws_error([&] { tj::cat({x, x}, 3).eval(); }, {"cat"}));
  EXPECT_TRUE(throws_error([&] { tj::stack({x, x.slice(0, 0, 1)}, 0).eval(); }, {"stack"}));
  EXPECT_TRUE(throws_error([&] { tj::stack({}, 0).eval(); }, {"stack"}));
  EXPECT_TRUE(throws_error([&] { Tensor().reshape({1}); }, {}));
  // The library is still usable.
  EXPECT_TRUE(all_close(x.slice(0, 1, 2).reshape({-1}).slice(0, 0, 3), {12, 13, 14}, 0, 0));
}

}  // namespace
