// Attention and dropout, composed of the ops below them: scores by one
// batched GEMM (the scale joins its epilogue), the mask and softmax one row
// kernel, the weighted sum a second GEMM. The score matrix is written once
// and read once; a flash-style kernel that never writes it is not built yet.
#include <cmath>

#include "trace/ops_util.h"

namespace tj {

Tensor dropout(const Tensor& x, double p, bool training) {
  const auto& xi = trace::impl_of(x, "dropout");
  if (!(p >= 0.0 && p <= 1.0)) fail("dropout: p must be in [0, 1], got {}", p);
  if (!is_floating(xi->dtype))
    fail("dropout: needs a floating-point input, got {}", dtype_name(xi->dtype));
  if (!training || p == 0.0) return x;
  const TensorOptions opts = TensorOptions(xi->dtype).device(xi->device);
  if (p == 1.0) return zeros(xi->shape, opts);
  // Philox uniforms: the same manual_seed gives the same mask on every backend.
  Tensor keep = rand(xi->shape, TensorOptions(DType::f32).device(xi->device)) >= p;
  return where(keep, x * (1.0 / (1.0 - p)), trace::scalar_tensor(0, xi->dtype, xi->device));
}

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale, bool enable_gqa) {
  constexpr std::string_view op = "scaled_dot_product_attention";
  const auto& q = trace::impl_of(query, op);
  const auto& k = trace::impl_of(key, op);
  const auto& v = trace::impl_of(value, op);
  if (q->shape.size() < 2 || k->shape.size() != q->shape.size() ||
      v->shape.size() != q->shape.size())
    fail(
        "{}: query, key and value must have one rank >= 2 ([..., L, E], [..., S, E], [..., S, "
        "Ev]), got {}, {} and {}",
        op, shape_str(q->shape), shape_str(k->shape), shape_str(v->shape));
  if (!is_floating(q->dtype) || k->dtype != q->dtype || v->dtype != q->dtype)
    fail("{}: query, key and value must have one floating dtype, got {}, {} and {}", op,
         dtype_name(q->dtype), dtype_name(k->dtype), dtype_name(v->dtype));
  const size_t r = q->shape.size();
  const int64_t L = q->shape[r - 2], E = q->shape[r - 1], S = k->shape[r - 2];
  if (k->shape[r - 1] != E)
    fail("{}: query and key must have the same embedding size, got {} and {}", op,
         shape_str(q->shape), shape_str(k->shape));
  if (v->shape[r - 2] != S)
    fail("{}: key and value must have the same sequence length, got {} and {}", op,
         shape_str(k->shape), shape_str(v->shape));
  if (is_causal && attn_mask.defined()) fail("{}: give attn_mask or is_causal, not both", op);
  if (!(dropout_p >= 0.0 && dropout_p <= 1.0))
    fail("{}: dropout_p must be in [0, 1], got {}", op, dropout_p);
  Tensor kk = key, vv = value;
  if (r >= 3) {
    const int64_t hq = q->shape[r - 3], hk = k->shape[r - 3], hv = v->shape[r - 3];
    if (hk != hq || hv != hq) {
      if (!enable_gqa)
        fail(
            "{}: query has {} heads but key and value {} and {}; pass enable_gqa = true to "
            "share key/value heads among query heads",
            op, hq, hk, hv);
      if (hk != hv || hk == 0 || hq % hk != 0)
        fail(
            "{}: with enable_gqa the query's heads ({}) must be a multiple of the key's and "
            "value's ({} and {}, which must be equal)",
            op, hq, hk, hv);
      kk = repeat_interleave(key, hq / hk, static_cast<int64_t>(r) - 3);
      vv = repeat_interleave(value, hq / hk, static_cast<int64_t>(r) - 3);
    }
  }
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(E)));
  Tensor scores = matmul(query, kk.transpose(-2, -1)) * s;
  if (is_causal) {
    // The keys after each query, as 1.0f in an f32 [L, S] tensor made on the
    // host (a leaf of the trace, so every call has one graph structure): read
    // as floats, the softmax's row kernel vectorizes, where a mask computed
    // from i64 positions inside it keeps the CPU loops scalar (5x slower at
    // 8x1024x1024). The last one made is kept per thread: a model attends with
    // one shape many times.
    thread_local Tensor cached;
    thread_local std::tuple<int64_t, int64_t, Device> cached_for{-1, -1, Device::cpu()};
    if (!cached.defined() || cached_for != std::tuple{L, S, q->device}) {
      std::vector<float> m(static_cast<size_t>(L * S), 0.0f);
      for (int64_t i = 0; i < L; ++i)
        for (int64_t j = i + 1; j < S; ++j) m[i * S + j] = 1.0f;
      cached = from_vector(m, {L, S}).to(q->device);
      cached_for = {L, S, q->device};
    }
    scores = masked_fill(scores, cached > 0.5, -INFINITY);
  } else if (attn_mask.defined()) {
    const auto& m = trace::impl_of(attn_mask, op);
    Shape want = scores.shape();
    try {
      if (broadcast_shapes(m->shape, want) != want) throw Error("");
    } catch (const Error&) {
      fail("{}: attn_mask of shape {} does not broadcast to the scores' shape {}", op,
           shape_str(m->shape), shape_str(want));
    }
    if (m->dtype == DType::bool_)
      scores = masked_fill(scores, logical_not(attn_mask), -INFINITY);
    else if (is_floating(m->dtype))
      scores = scores + attn_mask.to(q->dtype);
    else
      fail("{}: attn_mask must be bool (true: attend) or floating (added to the scores), got {}",
           op, dtype_name(m->dtype));
  }
  Tensor weights = softmax(scores, -1);
  if (dropout_p > 0.0) weights = dropout(weights, dropout_p, true);
  return matmul(weights, vv);
}

}  // namespace tj
