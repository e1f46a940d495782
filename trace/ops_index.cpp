// Indexing ops: reads at positions another tensor gives (gather,
// index_select, take, embedding). Each records one Gather node (ir/ops.def):
// an indirect load that fuses into the kernel consuming it, with the index
// computed in that kernel too. Indices of a computed CPU tensor are checked
// here, so that a bad one is an error at the call; others are checked by the
// kernel and reported when the flush that ran it ends.
#include "tilejit/autograd.h"
#include "trace/autograd.h"
#include "trace/ops_util.h"

namespace tj {

using ir::IndexApi;
using ir::Op;

namespace trace {

void check_known_indices(const Tensor& index, IndexApi api, int64_t dim, int64_t size, bool wrap) {
  const trace::TensorImpl::Ptr& impl = index.impl();
  if (!impl->is_ready() || impl->device.type != DeviceType::cpu) return;
  const BufferView& v = impl->value;
  const int64_t n = v.numel();
  if (n == 0) return;
  const size_t r = v.shape.size();
  std::vector<int64_t> at(r, 0);
  const char* base = static_cast<const char*>(v.data());
  const size_t es = dtype_size(v.dtype);
  for (int64_t k = 0; k < n; ++k) {
    int64_t off = 0;
    for (size_t d = 0; d < r; ++d) off += at[d] * v.strides[d];
    const int64_t raw =
        v.dtype == DType::i32
            ? *reinterpret_cast<const int32_t*>(base + off * static_cast<int64_t>(es))
            : *reinterpret_cast<const int64_t*>(base + off * static_cast<int64_t>(es));
    const int64_t j = wrap && raw < 0 ? raw + size : raw;
    if (j < 0 || j >= size) fail("{}", ir::index_error(api, raw, dim, size, wrap));
    for (size_t d = r; d-- > 0;) {
      if (++at[d] < v.shape[d]) break;
      at[d] = 0;
    }
  }
}

void check_index_dtype(const Tensor& index, std::string_view op) {
  const DType t = trace::impl_of(index, op)->dtype;
  if (t != DType::i64 && t != DType::i32)
    fail("{}: indices must be i64 or i32, got {} (cast them with .to(tj::kLong))", op,
         dtype_name(t));
}

}  // namespace trace

using trace::check_index_dtype;
using trace::check_known_indices;

namespace {

/// The Gather node: src and index of one rank, read along `axis`.
Tensor gather_node(const Tensor& src, int64_t axis, const Tensor& index, IndexApi api, bool wrap,
                   int64_t user_dim) {
  const std::string_view name = ir::index_api_name(api);
  const int64_t size = src.shape()[static_cast<size_t>(axis)];
  check_known_indices(index, api, user_dim, size, wrap);
  return trace::record(Op::Gather, {src, index},
                       {.attrs = {axis, static_cast<int64_t>(api), wrap ? 1 : 0}}, name);
}

}  // namespace

Tensor masked_scatter(const Tensor& input, const Tensor& mask, const Tensor& source) {
  constexpr std::string_view op = "masked_scatter";
  const auto& x = trace::impl_of(input, op);
  const auto& m = trace::impl_of(mask, op);
  const auto& s = trace::impl_of(source, op);
  if (m->dtype != DType::bool_)
    fail("{}: the mask must be a bool tensor, got {} (shape {}); compare it first, e.g. x > 0", op,
         dtype_name(m->dtype), shape_str(m->shape));
  if (s->dtype != x->dtype)
    fail("{}: the source must have the input's dtype: got {} for a {} input (cast it with .to())",
         op, dtype_name(s->dtype), dtype_name(x->dtype));
  Shape b;
  try {
    b = broadcast_shapes(m->shape, x->shape);
  } catch (const Error&) {
    b.clear();
  }
  if (b != x->shape)
    fail("{}: the mask of shape {} does not broadcast to the input's shape {}", op,
         shape_str(m->shape), shape_str(x->shape));
  const Tensor mk = mask.expand(x->shape);
  if (shape_numel(s->shape) == 0) {
    // Nothing to read: the mask must select nothing (checked now, on the host).
    if (sum(mk).item<int64_t>() != 0)
      fail("{}: the mask selects elements but the source (shape {}) is empty", op,
           shape_str(s->shape));
    return input;
  }
  // The k-th selected element (row-major) takes source element k.
  Tensor k = cumsum(mk.reshape({-1}), 0) - 1;
  Tensor at = where(mk.reshape({-1}), k, Scalar(0));
  Tensor v = gather_node(source.reshape({-1}), 0, at, IndexApi::masked_scatter, false, 0);
  return where(mk, v.reshape(x->shape), input);
}

Tensor Tensor::masked_scatter(const Tensor& mask, const Tensor& source) const {
  return tj::masked_scatter(*this, mask, source);
}
Tensor& Tensor::masked_scatter_(const Tensor& mask, const Tensor& source) {
  return trace::autograd::rebind(*this, tj::masked_scatter(*this, mask, source), "masked_scatter_");
}

Tensor gather(const Tensor& input, int64_t dim, const Tensor& index) {
  const auto& x = trace::impl_of(input, "gather");
  const auto& ix = trace::impl_of(index, "gather");
  check_index_dtype(index, "gather");
  const int64_t r = static_cast<int64_t>(x->shape.size());
  if (static_cast<int64_t>(ix->shape.size()) != r && !(r <= 1 && ix->shape.size() <= 1))
    fail(
        "gather: the index must have as many dimensions as the input; got an index of shape {} "
        "for an input of shape {}",
        shape_str(ix->shape), shape_str(x->shape));
  if (r == 0 || ix->shape.empty()) {  // 0-d operands: as 1-element vectors
    int64_t axis = normalize_axis("gather", dim, std::max<int64_t>(r, 1));
    Tensor out =
        gather_node(r == 0 ? input.reshape({1}) : input, axis,
                    ix->shape.empty() ? index.reshape({1}) : index, IndexApi::gather, false, axis);
    return ix->shape.empty() ? out.reshape({}) : out;
  }
  const int64_t axis = normalize_axis("gather", dim, r);
  return gather_node(input, axis, index, IndexApi::gather, false, axis);
}

Tensor index_select(const Tensor& input, int64_t dim, const Tensor& index) {
  const auto& x = trace::impl_of(input, "index_select");
  const auto& ix = trace::impl_of(index, "index_select");
  check_index_dtype(index, "index_select");
  if (ix->shape.size() > 1)
    fail("index_select: the index must be a vector (0 or 1 dimensions), got shape {}",
         shape_str(ix->shape));
  const int64_t r = static_cast<int64_t>(x->shape.size());
  const int64_t n = shape_numel(ix->shape);
  if (r == 0) {
    normalize_axis("index_select", dim, 1);
    if (n != 1) fail("index_select: a 0-dimensional input takes exactly one index, got {}", n);
    return gather_node(input.reshape({1}), 0, index.reshape({1}), IndexApi::index_select, false, 0)
        .reshape({});
  }
  const int64_t axis = normalize_axis("index_select", dim, r);
  Shape out = x->shape, lone(static_cast<size_t>(r), 1);
  out[static_cast<size_t>(axis)] = n;
  lone[static_cast<size_t>(axis)] = n;
  return gather_node(input, axis, index.reshape(lone).expand(out), IndexApi::index_select, false,
                     axis);
}

Tensor take(const Tensor& input, const Tensor& index) {
  trace::impl_of(input, "take");
  const auto& ix = trace::impl_of(index, "take");
  check_index_dtype(index, "take");
  const Shape shape = ix->shape;
  Tensor flat = input.reshape({-1});
  if (shape.empty())
    return gather_node(flat, 0, index.reshape({1}), IndexApi::take, true, 0).reshape({});
  // The flat input as [1, ..., 1, N] broadcast to index's leading dims, read
  // along its last: a computed index keeps its shape (reshaping it would
  // need a buffer).
  const size_t k = shape.size();
  Shape lone(k, 1), wide = shape;
  lone[k - 1] = flat.numel();
  wide[k - 1] = flat.numel();
  return gather_node(flat.reshape(lone).expand(wide), static_cast<int64_t>(k - 1), index,
                     IndexApi::take, true, 0);
}

Tensor embedding(const Tensor& weight, const Tensor& indices, int64_t padding_idx,
                 bool scale_grad_by_freq, bool sparse) {
  (void)sparse;  // gradients are dense
  const auto& w = trace::impl_of(weight, "embedding");
  const auto& ix = trace::impl_of(indices, "embedding");
  check_index_dtype(indices, "embedding");
  if (w->shape.size() != 2)
    fail("embedding: the weight must be a [num_embeddings, embedding_dim] matrix, got shape {}",
         shape_str(w->shape));
  const int64_t rows = w->shape[0], width = w->shape[1];
  if (padding_idx != -1 && (padding_idx < -rows || padding_idx >= rows))
    fail("embedding: padding_idx {} is out of range for {} embeddings", padding_idx, rows);
  Shape out = ix->shape;
  out.push_back(width);
  const int64_t n = shape_numel(ix->shape);
  Tensor flat = indices.reshape({n, 1}).expand({n, width});
  auto rows_of = [&](const Tensor& from) {
    return gather_node(from, 0, flat, IndexApi::embedding, false, 0).reshape(out);
  };
  if (!weight.requires_grad() || !GradMode::is_enabled()) return rows_of(weight);
  if (scale_grad_by_freq)
    fail(
        "embedding: scale_grad_by_freq=true is not available yet for a weight that requires "
        "grad; leave it false");
  if (padding_idx == -1) return rows_of(weight);
  // The padding row reads the weight but passes no gradient to it, as in torch.
  Shape mask_shape = ix->shape;
  mask_shape.push_back(1);
  Tensor at_pad =
      (indices == (padding_idx < 0 ? padding_idx + rows : padding_idx)).reshape(mask_shape);
  return where(at_pad, rows_of(weight.detach()), rows_of(weight));
}

Tensor Tensor::gather(int64_t dim, const Tensor& index) const {
  return tj::gather(*this, dim, index);
}
Tensor Tensor::index_select(int64_t dim, const Tensor& index) const {
  return tj::index_select(*this, dim, index);
}
Tensor Tensor::take(const Tensor& index) const { return tj::take(*this, index); }

}  // namespace tj
