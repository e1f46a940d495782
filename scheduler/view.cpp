#include "scheduler/view.h"

#include "ir/check.h"

namespace tj::sched {

View View::identity(size_t domain_rank, const std::vector<int64_t>& order) {
  View v;
  v.dims = domain_rank;
  v.coef.assign(order.size(), std::vector<int64_t>(domain_rank, 0));
  v.base.assign(order.size(), 0);
  for (size_t j = 0; j < order.size(); ++j) v.coef[j][order[j]] = 1;
  return v;
}

bool View::invariant_in(size_t d) const {
  for (const auto& row : coef)
    if (row[d] != 0) return false;
  return true;
}

namespace {

std::vector<int64_t> zero_row(size_t n) { return std::vector<int64_t>(n, 0); }

size_t domain_rank(const View& v, size_t) { return v.dims; }

}  // namespace

View through_broadcast(const View& v, const Shape& out, const Shape& x) {
  const size_t n = domain_rank(v, 0);
  View r;
  r.dims = n;
  const size_t lead = out.size() - x.size();
  for (size_t j = 0; j < x.size(); ++j) {
    if (x[j] == 1 && out[lead + j] != 1) {
      r.coef.push_back(zero_row(n));
      r.base.push_back(0);
    } else {
      r.coef.push_back(v.coef[lead + j]);
      r.base.push_back(v.base[lead + j]);
    }
  }
  return r;
}

namespace {

/// Reshape: groups of dims with equal products on both sides. A group that
/// maps several output dims onto one input dim is affine (idx = sum of
/// out_idx * inner size); one output dim onto several input dims is not,
/// unless its index is constant.
std::optional<View> through_reshape(const View& v, const Shape& out, const Shape& in) {
  const size_t n = domain_rank(v, 0);
  View r;
  r.dims = n;
  r.coef.assign(in.size(), zero_row(n));
  r.base.assign(in.size(), 0);
  if (shape_numel(in) == 0) return r;  // nothing is ever read
  // Non-size-1 dims on each side.
  std::vector<size_t> od, id;
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i] != 1) od.push_back(i);
  for (size_t j = 0; j < in.size(); ++j)
    if (in[j] != 1) id.push_back(j);
  size_t a = 0, b = 0;
  while (a < od.size() || b < id.size()) {
    if (a >= od.size() || b >= id.size()) return std::nullopt;
    size_t a0 = a, b0 = b;
    int64_t pa = out[od[a++]], pb = in[id[b++]];
    while (pa != pb) {
      if (pa < pb) {
        if (a >= od.size()) return std::nullopt;
        pa *= out[od[a++]];
      } else {
        if (b >= id.size()) return std::nullopt;
        pb *= in[id[b++]];
      }
    }
    if (b - b0 == 1) {  // several (or one) out dims -> one in dim: affine
      size_t j = id[b0];
      int64_t inner = 1;
      for (size_t k = a; k-- > a0;) {
        size_t i = od[k];
        for (size_t d = 0; d < n; ++d) r.coef[j][d] += v.coef[i][d] * inner;
        r.base[j] += v.base[i] * inner;
        inner *= out[i];
      }
      continue;
    }
    // One out dim split over several in dims: only when its index is constant.
    if (a - a0 != 1) return std::nullopt;
    size_t i = od[a0];
    for (int64_t c : v.coef[i])
      if (c != 0) return std::nullopt;
    int64_t flat = v.base[i];
    for (size_t k = b; k-- > b0;) {
      size_t j = id[k];
      r.base[j] = flat % in[j];
      flat /= in[j];
    }
  }
  return r;
}

}  // namespace

std::optional<View> through_movement(const View& v, const ir::Node& m, const Shape& in) {
  const size_t n = domain_rank(v, 0);
  switch (m.op) {
    case ir::Op::Expand:
      return through_broadcast(v, m.shape, in);
    case ir::Op::Permute: {
      View r;
      r.dims = n;
      r.coef.assign(in.size(), zero_row(n));
      r.base.assign(in.size(), 0);
      for (size_t i = 0; i < m.attrs.size(); ++i) {
        r.coef[m.attrs[i]] = v.coef[i];
        r.base[m.attrs[i]] = v.base[i];
      }
      return r;
    }
    case ir::Op::Slice: {
      const size_t rank = in.size();
      View r = v;
      for (size_t j = 0; j < rank; ++j) {
        int64_t start = m.attrs[j], step = m.attrs[rank + j];
        for (auto& c : r.coef[j]) c *= step;
        r.base[j] = start + v.base[j] * step;
      }
      return r;
    }
    case ir::Op::Reshape:
      return through_reshape(v, m.shape, in);
    case ir::Op::Cat:  // not a view: the scheduler materializes cat results
      break;
#define TJ_OP(name, ...) \
  case ir::Op::name:     \
    ir::not_a(m.op, "movement op");
#define TJ_MOVEMENT(name, ...)
#include "ir/ops.def"
  }
  TJ_CHECK(false, "{} is not a view op", ir::op_name(m.op));
}

void to_access(const View& v, const Strides& strides, Strides* out, int64_t* offset) {
  const size_t n = domain_rank(v, 0);
  out->assign(n, 0);
  *offset = 0;
  for (size_t j = 0; j < v.coef.size(); ++j) {
    for (size_t d = 0; d < n; ++d) (*out)[d] += v.coef[j][d] * strides[j];
    *offset += v.base[j] * strides[j];
  }
}

}  // namespace tj::sched
