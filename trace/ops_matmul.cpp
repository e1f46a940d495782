// matmul with torch.matmul's rules for 1-D and batched operands, and linear.
#include "trace/autocast.h"
#include "trace/ops_util.h"

namespace tj {

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  // Autocast: floating operands in the lower precision (f32 accumulation).
  const Tensor a = trace::autocast_for(ir::Op::Matmul, a_in),
               b = trace::autocast_for(ir::Op::Matmul, b_in);
  const auto& ai = trace::impl_of(a, "matmul");
  const auto& bi = trace::impl_of(b, "matmul");
  const Shape sa = ai->shape, sb = bi->shape;
  if (sa.empty() || sb.empty())
    fail("matmul: both operands need at least 1 dimension, got shapes {} and {}", shape_str(sa),
         shape_str(sb));
  const int64_t ka = sa.back(), kb = sb.size() == 1 ? sb[0] : sb[sb.size() - 2];
  if (ka != kb)
    fail(
        "matmul: shapes {} and {} cannot be multiplied: the last dimension of the first ({}) "
        "must equal the {} of the second ({})",
        shape_str(sa), shape_str(sb), ka, sb.size() == 1 ? "size" : "second-to-last dimension", kb);
  DType t = trace::result_type("matmul", {a, b});
  if (t == DType::bool_) fail("matmul: not defined for bool tensors; cast them to a number type");

  // Promote 1-D operands to matrices, remember which dims to drop.
  Tensor x = trace::cast_to(a, t), y = trace::cast_to(b, t);
  bool drop_m = false, drop_n = false;
  if (sa.size() == 1) {
    x = x.unsqueeze(0);
    drop_m = true;
  }
  if (sb.size() == 1) {
    y = y.unsqueeze(1);
    drop_n = true;
  }
  Shape xs = x.shape(), ys = y.shape();
  Shape bx(xs.begin(), xs.end() - 2), by(ys.begin(), ys.end() - 2);
  Shape batch = broadcast_shapes("matmul", bx, by);
  Shape xt = batch, yt = batch;
  xt.insert(xt.end(), xs.end() - 2, xs.end());
  yt.insert(yt.end(), ys.end() - 2, ys.end());
  Tensor r = trace::record(ir::Op::Matmul, {x.expand(xt), y.expand(yt)}, {}, "matmul");
  Shape out = batch;
  if (!drop_m) out.push_back(xs[xs.size() - 2]);
  if (!drop_n) out.push_back(ys.back());
  return r.reshape(out);
}

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in) {
  // Autocast: the GEMM's operands and the bias in the lower precision.
  const Tensor x = trace::autocast_for(ir::Op::Matmul, x_in),
               w = trace::autocast_for(ir::Op::Matmul, w_in),
               b = trace::autocast_for(ir::Op::Matmul, b_in);
  const auto& wi = trace::impl_of(w, "linear");
  const auto& xi = trace::impl_of(x, "linear");
  if (wi->shape.size() != 2)
    fail("linear: the weight must be 2-D [out_features, in_features], got shape {}",
         shape_str(wi->shape));
  if (xi->shape.empty() || xi->shape.back() != wi->shape[1])
    fail(
        "linear: the input's last dimension must be in_features = {} (weight shape {}), got input "
        "shape {}",
        wi->shape[1], shape_str(wi->shape), shape_str(xi->shape));
  Tensor y = matmul(x, w.t());
  if (!b.defined()) return y;
  if (b.shape() != Shape{wi->shape[0]})
    fail("linear: the bias must have shape [{}] (out_features), got {}", wi->shape[0],
         shape_str(b.shape()));
  return y + b;
}

Tensor Tensor::matmul(const Tensor& other) const { return tj::matmul(*this, other); }

}  // namespace tj
