// Movement ops. On a computed tensor they return a view (same storage, new
// shape/strides/offset) whenever the layout allows; on a pending tensor they
// record a node, which later becomes index arithmetic inside a kernel.
#include <algorithm>
#include <numeric>

#include "trace/autograd.h"
#include "trace/ops_util.h"

namespace tj {

using ir::Op;

namespace {

trace::TensorImpl::Ptr get(const Tensor& x, std::string_view op) { return trace::impl_of(x, op); }

/// A view of the computed tensor `src`, which is `op` (with `attrs`) of it:
/// autograd records it as that op.
Tensor view_of(const trace::TensorImpl::Ptr& src, Op op, const std::vector<int64_t>& attrs,
               Shape shape, Strides strides, int64_t offset) {
  const trace::TensorImpl& x = *src;
  BufferView v = x.value;
  v.shape = std::move(shape);
  v.strides = std::move(strides);
  v.offset = offset;
  Tensor out(trace::make_ready(std::move(v), x.device));
  trace::autograd::on_record(op, {src}, attrs, out);
  return out;
}

Shape resolve_shape(std::string_view op, const Shape& from, const Shape& to) {
  Shape s = to;
  int64_t infer = -1, known = 1;
  bool overflow = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) fail("{}: only one dimension can be -1, got {}", op, shape_str(to));
      infer = static_cast<int64_t>(i);
    } else if (s[i] < 0) {
      fail("{}: invalid size {} in {}", op, s[i], shape_str(to));
    } else {
      overflow = overflow || __builtin_mul_overflow(known, s[i], &known);
    }
  }
  int64_t n = shape_numel(from);
  if (infer >= 0) {
    if (overflow || known == 0 || n % known != 0)
      fail("{}: cannot reshape a tensor of shape {} ({} elements) to {}", op, shape_str(from), n,
           shape_str(to));
    s[infer] = n / known;
  }
  if (checked_numel(op, s) != n)
    fail("{}: cannot reshape a tensor of shape {} ({} elements) to {} ({} elements)", op,
         shape_str(from), n, shape_str(s), shape_numel(s));
  return s;
}

}  // namespace

Tensor Tensor::reshape(const Shape& shape) const {
  const auto& x = get(*this, "reshape");
  Shape to = resolve_shape("reshape", x->shape, shape);
  if (to == x->shape) return *this;
  if (x->is_ready())
    if (auto st = reshape_strides(x->shape, x->value.strides, to))
      return view_of(x, Op::Reshape, {}, to, *st, x->value.offset);
  // A reshape of a pending reshape is one reshape of its input: a kernel can
  // index [8, 5] -> [40] -> [8, 5] without a buffer, not each step alone.
  trace::TensorImpl::Ptr inner;
  {
    std::lock_guard lock(x->mu);
    if (!x->is_ready() && x->op == Op::Reshape && x->inputs.size() == 1 && !x->autograd)
      inner = x->inputs[0];
  }
  if (inner) return Tensor(inner).reshape(to);
  return trace::record(Op::Reshape, {*this}, {.shape = to}, "reshape");
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  const auto& x = get(*this, "flatten");
  int64_t r = static_cast<int64_t>(x->shape.size());
  if (r == 0) return reshape({1});
  int64_t s = normalize_axis("flatten", start_dim, r), e = normalize_axis("flatten", end_dim, r);
  if (s > e) fail("flatten: start_dim {} comes after end_dim {}", start_dim, end_dim);
  Shape out(x->shape.begin(), x->shape.begin() + s);
  int64_t m = 1;
  for (int64_t d = s; d <= e; ++d) m *= x->shape[d];
  out.push_back(m);
  out.insert(out.end(), x->shape.begin() + e + 1, x->shape.end());
  return reshape(out);
}

Tensor Tensor::permute(const Axes& dims) const {
  const auto& x = get(*this, "permute");
  int64_t r = static_cast<int64_t>(x->shape.size());
  std::vector<int64_t> perm;
  if (static_cast<int64_t>(dims.size()) != r)
    fail("permute: {} is not a permutation of the {} dimensions of a tensor of shape {}",
         shape_str(dims), r, shape_str(x->shape));
  for (int64_t d : dims) perm.push_back(normalize_axis("permute", d, r));
  ir::TypeShape ts =
      ir::infer(Op::Permute, {ir::TypeRef{x->dtype, x->shape}}, {.attrs = perm}, "permute");
  bool identity = true;
  for (int64_t i = 0; i < r; ++i) identity = identity && perm[i] == i;
  if (identity) return *this;
  if (x->is_ready()) {
    Strides st(r);
    for (int64_t i = 0; i < r; ++i) st[i] = x->value.strides[perm[i]];
    return view_of(x, Op::Permute, perm, ts.shape, st, x->value.offset);
  }
  return trace::record(Op::Permute, {*this}, {.attrs = perm}, "permute");
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  const auto& x = get(*this, "transpose");
  int64_t r = static_cast<int64_t>(x->shape.size());
  if (r == 0) {
    normalize_axis("transpose", dim0, r);
    normalize_axis("transpose", dim1, r);
    return *this;
  }
  int64_t a = normalize_axis("transpose", dim0, r), b = normalize_axis("transpose", dim1, r);
  Axes perm(r);
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[a], perm[b]);
  return permute(perm);
}

Tensor Tensor::t() const {
  const auto& x = get(*this, "t");
  if (x->shape.size() > 2)
    fail("t: expects a tensor with at most 2 dimensions, got shape {}; use transpose(dim0, dim1)",
         shape_str(x->shape));
  return x->shape.size() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::expand(const Shape& shape) const {
  const auto& x = get(*this, "expand");
  const Shape& in = x->shape;
  if (shape.size() < in.size())
    fail("expand: cannot expand shape {} to {}: the target has fewer dimensions", shape_str(in),
         shape_str(shape));
  Shape to = shape;
  size_t lead = to.size() - in.size();
  for (size_t i = 0; i < to.size(); ++i) {
    if (to[i] != -1) continue;
    if (i < lead)
      fail("expand: -1 is not allowed for a new leading dimension in {}", shape_str(shape));
    to[i] = in[i - lead];
  }
  ir::TypeShape ts = ir::infer(Op::Expand, {ir::TypeRef{x->dtype, in}}, {.shape = to}, "expand");
  if (to == in) return *this;
  if (x->is_ready()) {
    Strides st(to.size(), 0);
    for (size_t i = 0; i < in.size(); ++i)
      st[lead + i] = in[i] == to[lead + i] ? x->value.strides[i] : 0;
    return view_of(x, Op::Expand, {}, to, st, x->value.offset);
  }
  return trace::record(Op::Expand, {*this}, {.shape = to}, "expand");
}

Tensor Tensor::squeeze() const {
  const auto& x = get(*this, "squeeze");
  Shape s;
  for (int64_t d : x->shape)
    if (d != 1) s.push_back(d);
  return reshape(s);
}

Tensor Tensor::squeeze(int64_t dim) const {
  const auto& x = get(*this, "squeeze");
  int64_t r = static_cast<int64_t>(x->shape.size());
  int64_t d = normalize_axis("squeeze", dim, r);
  if (r == 0 || x->shape[d] != 1) return *this;
  Shape s = x->shape;
  s.erase(s.begin() + d);
  return reshape(s);
}

Tensor Tensor::unsqueeze(int64_t dim) const {
  const auto& x = get(*this, "unsqueeze");
  int64_t r = static_cast<int64_t>(x->shape.size());
  int64_t d = normalize_axis("unsqueeze", dim, r + 1);
  Shape s = x->shape;
  s.insert(s.begin() + d, 1);
  return reshape(s);
}

Tensor Tensor::slice(int64_t dim, int64_t start, int64_t end, int64_t step) const {
  const auto& x = get(*this, "slice");
  int64_t r = static_cast<int64_t>(x->shape.size());
  if (r == 0) fail("slice: cannot slice a 0-d tensor");
  int64_t d = normalize_axis("slice", dim, r);
  if (step <= 0) fail("slice: step must be positive, got {}", step);
  int64_t n = x->shape[d];
  auto clampi = [n](int64_t i) {
    if (i < 0) i += n;
    return std::clamp<int64_t>(i, 0, n);
  };
  int64_t s = clampi(start), e = clampi(end);
  const int64_t len = e > s ? 1 + (e - s - 1) / step : 0;  // no overflow for any step
  if (len <= 1) step = 1;  // one element (or none): the step means nothing
  if (s == 0 && len == n && step == 1) return *this;
  Shape out = x->shape;
  out[d] = len;
  if (len == 0) s = 0;
  std::vector<int64_t> attrs(2 * r, 0);
  for (int64_t i = 0; i < r; ++i) attrs[r + i] = 1;
  attrs[d] = s;
  attrs[r + d] = step;
  if (x->is_ready()) {
    Strides st = x->value.strides;
    int64_t off = x->value.offset + s * st[d];
    st[d] *= step;
    return view_of(x, Op::Slice, attrs, out, st, off);
  }
  return trace::record(Op::Slice, {*this}, {.attrs = attrs, .shape = out}, "slice");
}

Tensor Tensor::contiguous() const {
  const auto& x = get(*this, "contiguous");
  if (!x->is_ready() || x->value.contiguous()) return *this;
  return trace::record(Op::Copy, {*this}, {}, "contiguous");
}

Tensor reshape(const Tensor& x, const Shape& shape) { return x.reshape(shape); }
Tensor permute(const Tensor& x, const Axes& dims) { return x.permute(dims); }
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) { return x.transpose(d0, d1); }
Tensor expand(const Tensor& x, const Shape& shape) { return x.expand(shape); }
Tensor broadcast_to(const Tensor& x, const Shape& shape) { return x.expand(shape); }
Tensor squeeze(const Tensor& x) { return x.squeeze(); }
Tensor squeeze(const Tensor& x, int64_t dim) { return x.squeeze(dim); }
Tensor unsqueeze(const Tensor& x, int64_t dim) { return x.unsqueeze(dim); }
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  return x.slice(dim, start, end, step);
}
Tensor contiguous(const Tensor& x) { return x.contiguous(); }
Shape broadcast_shapes(const Shape& a, const Shape& b) {
  return tj::broadcast_shapes("broadcast_shapes", a, b);
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  if (tensors.empty()) fail("cat: needs at least one tensor");
  std::vector<trace::Operand> ops;
  for (const Tensor& t : tensors) ops.emplace_back(t);
  DType dt = trace::result_type("cat", ops);
  const auto& first = trace::impl_of(tensors[0], "cat");
  int64_t r = static_cast<int64_t>(first->shape.size());
  if (r == 0) fail("cat: zero-dimensional tensors cannot be concatenated; use stack");
  int64_t axis = normalize_axis("cat", dim, r);
  std::vector<Tensor> parts;
  for (const Tensor& t : tensors) {
    const auto& impl = trace::impl_of(t, "cat");
    if (static_cast<int64_t>(impl->shape.size()) != r)
      fail("cat: all tensors need the same number of dimensions; got {} and {}",
           shape_str(first->shape), shape_str(impl->shape));
    if (impl->shape[axis] == 0) continue;
    parts.push_back(trace::cast_to(t, dt));
  }
  for (const Tensor& t : tensors) {
    for (int64_t d = 0; d < r; ++d)
      if (d != axis && t.shape()[d] != first->shape[d])
        fail("cat: shapes must match except in dimension {}; got {} and {}", axis,
             shape_str(first->shape), shape_str(t.shape()));
  }
  if (parts.empty()) {
    Shape s = first->shape;
    s[axis] = 0;
    return zeros(s, TensorOptions(dt).device(first->device));
  }
  if (parts.size() == 1) return parts[0];
  return trace::record(Op::Cat, parts, {.attrs = {axis}}, "cat");
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  if (tensors.empty()) fail("stack: needs at least one tensor");
  const Shape& s0 = trace::impl_of(tensors[0], "stack")->shape;
  int64_t axis = normalize_axis("stack", dim, static_cast<int64_t>(s0.size()) + 1);
  std::vector<Tensor> parts;
  for (const Tensor& t : tensors) {
    if (trace::impl_of(t, "stack")->shape != s0)
      fail("stack: all tensors need the same shape; got {} and {}", shape_str(s0),
           shape_str(t.shape()));
    parts.push_back(t.unsqueeze(axis));
  }
  if (parts.size() == 1) return parts[0].contiguous();
  return cat(parts, axis);
}

}  // namespace tj
