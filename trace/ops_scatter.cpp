// Writes at positions another tensor gives (scatter, scatter_add, index_copy,
// index_add, index_fill, index_put, slice_scatter, select_scatter). Each
// records one Scatter node (ir/ops.def): a copy of the destination, then a
// kernel that walks each line of the written dimension in order, so that a
// repeated index gives the same result on every backend and every run (the
// last write wins; sums are taken in index order). The values written and the
// indices are computed in that kernel. The in-place forms rebind the handle,
// as every in-place form does (tilejit/tensor.h).
#include "trace/autograd.h"
#include "trace/ops_util.h"

namespace tj {

using ir::IndexApi;
using ir::Op;

namespace {

/// The Scatter node: dst, index and src of one rank, written along `axis`.
Tensor scatter_node(const Tensor& dst, int64_t axis, const Tensor& index, const Tensor& src,
                    IndexApi api, bool wrap, bool accumulate, int64_t user_dim) {
  const std::string_view name = ir::index_api_name(api);
  const int64_t size = dst.shape()[static_cast<size_t>(axis)];
  trace::check_known_indices(index, api, user_dim, size, wrap);
  return trace::record(
      Op::Scatter, {dst, index, src},
      {.attrs = {axis, static_cast<int64_t>(api), wrap ? 1 : 0, accumulate ? 1 : 0}}, name);
}

/// A value for every point of `shape`, of dst's dtype and device.
Tensor filled(const Tensor& dst, const Shape& shape, Scalar value) {
  return full(shape, value, TensorOptions(dst.dtype()).device(dst.device()));
}

/// scatter / scatter_add: index and src have input's rank (0-d: one element).
Tensor scatter_impl(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src,
                    IndexApi api, bool accumulate) {
  const std::string_view name = ir::index_api_name(api);
  const auto& x = trace::impl_of(input, name);
  const auto& ix = trace::impl_of(index, name);
  const auto& sx = trace::impl_of(src, name);
  trace::check_index_dtype(index, name);
  const int64_t r = static_cast<int64_t>(x->shape.size());
  if (r == 0 || ix->shape.empty()) {
    if (r > 1 || ix->shape.size() > 1 || sx->shape.size() > 1)
      fail("{}: a 0-dimensional index needs a 0- or 1-dimensional tensor and source", name);
    const int64_t axis = normalize_axis(name, dim, 1);
    Tensor out = scatter_node(input.reshape({-1}), axis, index.reshape({-1}), src.reshape({-1}),
                              api, false, accumulate, axis);
    return out.reshape(x->shape);
  }
  if (static_cast<int64_t>(ix->shape.size()) != r || static_cast<int64_t>(sx->shape.size()) != r)
    fail(
        "{}: the index and the source must have as many dimensions as the tensor; got an index "
        "of shape {} and a source of shape {} for a tensor of shape {}",
        name, shape_str(ix->shape), shape_str(sx->shape), shape_str(x->shape));
  const int64_t axis = normalize_axis(name, dim, r);
  return scatter_node(input, axis, index, src, api, false, accumulate, axis);
}

/// index_copy / index_add / index_fill: `source` has input's shape except
/// `dim`, which has the index's length.
Tensor index_write(const Tensor& input, int64_t dim, const Tensor& index, const Tensor* source,
                   Scalar fill, IndexApi api, bool accumulate, bool wrap) {
  const std::string_view name = ir::index_api_name(api);
  const auto& x = trace::impl_of(input, name);
  const auto& ix = trace::impl_of(index, name);
  trace::check_index_dtype(index, name);
  if (ix->shape.size() > 1)
    fail("{}: the index must be a vector (0 or 1 dimensions), got shape {}", name,
         shape_str(ix->shape));
  const int64_t n = shape_numel(ix->shape);
  if (x->shape.empty()) {
    normalize_axis(name, dim, 1);
    Shape one{n};
    if (source) trace::impl_of(*source, name);
    Tensor src = source ? source->reshape({-1}) : filled(input, one, fill);
    if (src.shape() != one)
      fail("{}: a 0-dimensional tensor takes a source of {} element(s), got shape {}", name, n,
           shape_str(source->shape()));
    return scatter_node(input.reshape({1}), 0, index.reshape({n}), src, api, wrap, accumulate, 0)
        .reshape({});
  }
  const int64_t r = static_cast<int64_t>(x->shape.size());
  const int64_t axis = normalize_axis(name, dim, r);
  Shape want = x->shape, lone(static_cast<size_t>(r), 1);
  want[static_cast<size_t>(axis)] = n;
  lone[static_cast<size_t>(axis)] = n;
  Tensor src = source ? *source : filled(input, want, fill);
  if (source && trace::impl_of(*source, name)->shape != want)
    fail(
        "{}: the source must have shape {} (the tensor's, with dimension {} the index's length "
        "{}), got {}",
        name, shape_str(want), axis, n, shape_str(source->shape()));
  return scatter_node(input, axis, index.reshape(lone).expand(want), src, api, wrap, accumulate,
                      axis);
}

/// Positions of the true entries of a bool tensor, flattened row-major (a
/// flush: the count decides the result's shape).
std::vector<int64_t> true_positions(const Tensor& mask) {
  std::vector<bool> m = mask.to_vector<bool>();
  std::vector<int64_t> at;
  for (size_t k = 0; k < m.size(); ++k)
    if (m[k]) at.push_back(static_cast<int64_t>(k));
  return at;
}

}  // namespace

Tensor scatter(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(input, dim, index, src, IndexApi::scatter, false);
}
Tensor scatter(const Tensor& input, int64_t dim, const Tensor& index, Scalar value) {
  trace::impl_of(input, "scatter");
  return scatter_impl(input, dim, index,
                      filled(input, trace::impl_of(index, "scatter")->shape, value),
                      IndexApi::scatter, false);
}
Tensor scatter_add(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(input, dim, index, src, IndexApi::scatter_add, true);
}

Tensor index_copy(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& source) {
  return index_write(input, dim, index, &source, 0, IndexApi::index_copy, false, false);
}
Tensor index_add(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& source,
                 Scalar alpha) {
  trace::impl_of(source, "index_add_");
  const bool one = alpha.to_double() == 1.0;
  if (!one && !is_floating(source.dtype()) && alpha.kind() == Scalar::Kind::floating)
    fail("index_add_: alpha must be an integer for a {} source, got {}", dtype_name(source.dtype()),
         alpha.str());
  const Tensor scaled = one ? source : trace::cast_to(source * alpha, source.dtype());
  return index_write(input, dim, index, &scaled, 0, IndexApi::index_add, true, false);
}
Tensor index_fill(const Tensor& input, int64_t dim, const Tensor& index, Scalar value) {
  return index_write(input, dim, index, nullptr, value, IndexApi::index_fill, false, true);
}

Tensor index_put(const Tensor& input, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate) {
  const char* name = "index_put_";
  const auto& x = trace::impl_of(input, name);
  trace::impl_of(values, name);
  if (values.dtype() != x->dtype)
    fail(
        "index_put_: the values must have the tensor's dtype: got {} for a {} tensor (cast them "
        "with .to())",
        dtype_name(values.dtype()), dtype_name(x->dtype));
  // One index tensor; the entries before it select everything (undefined tensors).
  int64_t at = -1;
  for (size_t k = 0; k < indices.size(); ++k) {
    if (!indices[k].defined()) continue;
    if (at >= 0)
      fail(
          "index_put_: only one index tensor is supported, got index tensors for dimensions {} "
          "and {} (index one dimension at a time, or combine them into one flat index with "
          "reshape)",
          at, k);
    at = static_cast<int64_t>(k);
  }
  if (at < 0) {  // x[...] = values: everything
    Tensor out = input;
    return accumulate ? trace::cast_to(input + values.expand(x->shape), x->dtype)
                      : out.copy_(values);
  }
  const Tensor& index = indices[static_cast<size_t>(at)];
  const auto& ix = trace::impl_of(index, name);
  const int64_t r = static_cast<int64_t>(x->shape.size());
  const int64_t m = ix->dtype == DType::bool_ ? static_cast<int64_t>(ix->shape.size()) : 1;
  if (indices.size() > static_cast<size_t>(r) || at + m > r)
    fail("index_put_: {} indices for a tensor of shape {}", indices.size(), shape_str(x->shape));
  const Shape lead(x->shape.begin(), x->shape.begin() + at);
  const Shape rest(x->shape.begin() + at + m, x->shape.end());
  if (ix->dtype == DType::bool_) {
    // A mask over dims [at, at + m): the true entries, in row-major order.
    for (int64_t d = 0; d < m; ++d)
      if (ix->shape[static_cast<size_t>(d)] != x->shape[static_cast<size_t>(at + d)])
        fail(
            "index_put_: the mask of shape {} does not match the tensor of shape {} at dimension "
            "{}",
            shape_str(ix->shape), shape_str(x->shape), at + d);
    if (!accumulate && shape_numel(values.shape()) == 1) {
      Shape lone(lead.size(), 1);
      for (int64_t d : ix->shape) lone.push_back(d);
      for (size_t d = 0; d < rest.size(); ++d) lone.push_back(1);
      return where(index.reshape(lone).expand(x->shape), values.reshape({}).expand(x->shape),
                   input);
    }
    const std::vector<int64_t> pos = true_positions(index);
    Shape flat = lead;
    flat.push_back(shape_numel(ix->shape));
    for (int64_t d : rest) flat.push_back(d);
    Tensor idx = from_vector(pos, {static_cast<int64_t>(pos.size())}, x->device);
    std::vector<Tensor> sub(static_cast<size_t>(at) + 1);
    sub[static_cast<size_t>(at)] = idx;
    return index_put(input.reshape(flat), sub, values, accumulate).reshape(x->shape);
  }
  trace::check_index_dtype(index, name);
  // Advanced indexing: values broadcast to lead + index.shape + rest.
  Shape target = lead;
  for (int64_t d : ix->shape) target.push_back(d);
  for (int64_t d : rest) target.push_back(d);
  const Shape vb = broadcast_shapes(values.shape(), target);
  if (vb != target)
    fail("index_put_: values of shape {} cannot be broadcast to the indexed shape {}",
         shape_str(values.shape()), shape_str(target));
  const int64_t n = shape_numel(ix->shape);
  Shape src_shape = lead, lone(lead.size(), 1);
  src_shape.push_back(n);
  lone.push_back(n);
  for (int64_t d : rest) {
    src_shape.push_back(d);
    lone.push_back(1);
  }
  Tensor src = values.expand(target).reshape(src_shape);
  Tensor idx = index.reshape(lone).expand(src_shape);
  return scatter_node(input, at, idx, src, IndexApi::index_put, true, accumulate, at);
}

Tensor slice_scatter(const Tensor& input, const Tensor& src, int64_t dim,
                     std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) {
  const char* name = "slice_scatter";
  const auto& x = trace::impl_of(input, name);
  const auto& sx = trace::impl_of(src, name);
  const int64_t r = static_cast<int64_t>(x->shape.size());
  if (r == 0) fail("slice_scatter: needs a tensor with at least one dimension");
  const int64_t axis = normalize_axis(name, dim, r);
  if (step <= 0) fail("slice_scatter: step must be positive, got {}", step);
  const int64_t size = x->shape[static_cast<size_t>(axis)];
  auto clampi = [size](int64_t i) {
    if (i < 0) i += size;
    return std::clamp<int64_t>(i, 0, size);
  };
  const int64_t s0 = clampi(start.value_or(0)), e0 = clampi(end.value_or(size));
  const int64_t n = e0 > s0 ? 1 + (e0 - s0 - 1) / step : 0;
  Shape part = x->shape;
  part[static_cast<size_t>(axis)] = n;
  if (sx->shape != part)
    fail("slice_scatter: the source must have the slice's shape {}, got {}", shape_str(part),
         shape_str(sx->shape));
  if (sx->dtype != x->dtype)
    fail("slice_scatter: the source must have the tensor's dtype: got {} for a {} tensor",
         dtype_name(sx->dtype), dtype_name(x->dtype));
  if (n == 0) return input;
  Shape lone(static_cast<size_t>(r), 1);
  lone[static_cast<size_t>(axis)] = n;
  Tensor idx = arange(s0, s0 + n * step, step, TensorOptions(DType::i64).device(x->device));
  return scatter_node(input, axis, idx.reshape(lone).expand(sx->shape), src, IndexApi::index_copy,
                      false, false, axis);
}

Tensor select_scatter(const Tensor& input, const Tensor& src, int64_t dim, int64_t index) {
  const char* name = "select_scatter";
  const auto& x = trace::impl_of(input, name);
  const int64_t r = static_cast<int64_t>(x->shape.size());
  if (r == 0) fail("select_scatter: needs a tensor with at least one dimension");
  const int64_t axis = normalize_axis(name, dim, r);
  const Tensor part = input.select(axis, index);  // checks the index
  if (trace::impl_of(src, name)->shape != part.shape())
    fail("select_scatter: the source must have the selected slice's shape {}, got {}",
         shape_str(part.shape()), shape_str(src.shape()));
  const int64_t at = index < 0 ? index + x->shape[static_cast<size_t>(axis)] : index;
  Shape one = x->shape;
  one[static_cast<size_t>(axis)] = 1;
  return slice_scatter(input, src.reshape(one), axis, at, at + 1, 1);
}

// ---- method and in-place forms -------------------------------------------------------
Tensor Tensor::scatter(int64_t dim, const Tensor& index, const Tensor& src) const {
  return tj::scatter(*this, dim, index, src);
}
Tensor Tensor::scatter(int64_t dim, const Tensor& index, Scalar value) const {
  return tj::scatter(*this, dim, index, value);
}
Tensor Tensor::scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const {
  return tj::scatter_add(*this, dim, index, src);
}
Tensor Tensor::index_copy(int64_t dim, const Tensor& index, const Tensor& source) const {
  return tj::index_copy(*this, dim, index, source);
}
Tensor Tensor::index_add(int64_t dim, const Tensor& index, const Tensor& source,
                         Scalar alpha) const {
  return tj::index_add(*this, dim, index, source, alpha);
}
Tensor Tensor::index_fill(int64_t dim, const Tensor& index, Scalar value) const {
  return tj::index_fill(*this, dim, index, value);
}
Tensor Tensor::index_put(const std::vector<Tensor>& indices, const Tensor& values,
                         bool accumulate) const {
  return tj::index_put(*this, indices, values, accumulate);
}
Tensor Tensor::slice_scatter(const Tensor& src, int64_t dim, std::optional<int64_t> start,
                             std::optional<int64_t> end, int64_t step) const {
  return tj::slice_scatter(*this, src, dim, start, end, step);
}
Tensor Tensor::select_scatter(const Tensor& src, int64_t dim, int64_t index) const {
  return tj::select_scatter(*this, src, dim, index);
}

Tensor& Tensor::scatter_(int64_t dim, const Tensor& index, const Tensor& src) {
  return trace::autograd::rebind(*this, tj::scatter(*this, dim, index, src), "scatter_");
}
Tensor& Tensor::scatter_(int64_t dim, const Tensor& index, Scalar value) {
  return trace::autograd::rebind(*this, tj::scatter(*this, dim, index, value), "scatter_");
}
Tensor& Tensor::scatter_add_(int64_t dim, const Tensor& index, const Tensor& src) {
  return trace::autograd::rebind(*this, tj::scatter_add(*this, dim, index, src), "scatter_add_");
}
Tensor& Tensor::index_copy_(int64_t dim, const Tensor& index, const Tensor& source) {
  return trace::autograd::rebind(*this, tj::index_copy(*this, dim, index, source), "index_copy_");
}
Tensor& Tensor::index_add_(int64_t dim, const Tensor& index, const Tensor& source, Scalar alpha) {
  return trace::autograd::rebind(*this, tj::index_add(*this, dim, index, source, alpha),
                                 "index_add_");
}
Tensor& Tensor::index_fill_(int64_t dim, const Tensor& index, Scalar value) {
  return trace::autograd::rebind(*this, tj::index_fill(*this, dim, index, value), "index_fill_");
}
Tensor& Tensor::index_put_(const std::vector<Tensor>& indices, const Tensor& values,
                           bool accumulate) {
  return trace::autograd::rebind(*this, tj::index_put(*this, indices, values, accumulate),
                                 "index_put_");
}

}  // namespace tj
