// Reductions and the composites built from them (softmax, norms, var).
//
// Every reduction is recorded keeping the reduced axes as size 1; without
// keepdim a reshape drops them. Composites are written in primitive ops so
// the scheduler sees (and fuses) reduce -> broadcast -> pointwise chains.
// f16/bf16 composites compute in f32 and cast the result back. Under
// tj::autocast, the ops on its f32 list take f16/bf16 inputs as f32
// (trace::autocast_f32) and so return f32.
#include <algorithm>

#include "tilejit/autograd.h"
#include "trace/autocast.h"
#include "trace/ops_util.h"

namespace tj {

using ir::Op;

namespace {

Tensor reduce(Op op, std::string_view name, const Tensor& x, const Axes& axes, bool keepdim) {
  const auto& xi = trace::impl_of(x, name);
  std::vector<int64_t> ax = trace::reduce_axes(name, axes, static_cast<int64_t>(xi->shape.size()));
  Tensor in = x;
  if ((op == Op::Sum || op == Op::Prod) && !is_floating(xi->dtype))
    in = trace::cast_to(x, DType::i64);
  if (op == Op::Max || op == Op::Min || op == Op::ArgMax || op == Op::ArgMin) {
    for (int64_t a : ax)
      if (xi->shape[a] == 0)
        fail(
            "{}: cannot reduce over dimension {} of size 0 (shape {}); there is no identity "
            "for {}",
            name, a, shape_str(xi->shape), name);
  }
  Tensor r = trace::record(op, {in}, {.attrs = ax}, name);
  return keepdim ? r : trace::drop_axes(r, ax);
}

int64_t reduced_count(const Shape& s, const std::vector<int64_t>& ax) {
  int64_t n = 1;
  for (int64_t a : ax) n *= s[a];
  return n;
}

void require_floating(std::string_view name, const Tensor& x) {
  DType t = trace::impl_of(x, name)->dtype;
  if (!is_floating(t))
    fail("{}: needs a floating-point tensor, got {}; cast it first, e.g. x.cast(tj::f32)", name,
         dtype_name(t));
}

/// Computation dtype for composites: f16/bf16 work in f32.
DType work_dtype(DType t) { return t == DType::f16 || t == DType::bf16 ? DType::f32 : t; }

Tensor arg_reduce(Op op, std::string_view name, const Tensor& x, std::optional<int64_t> dim,
                  bool keepdim) {
  const auto& xi = trace::impl_of(x, name);
  const int64_t rank = static_cast<int64_t>(xi->shape.size());
  if (dim) return reduce(op, name, x, {*dim}, keepdim);
  if (xi->shape.empty()) return reduce(op, name, x, {}, keepdim);
  Tensor r = reduce(op, name, x.reshape({-1}), {0}, false);
  return keepdim ? r.reshape(Shape(rank, 1)) : r;
}

}  // namespace

Tensor sum(const Tensor& x, const Axes& axes, bool keepdim) {
  return reduce(Op::Sum, "sum", trace::autocast_for(Op::Sum, x), axes, keepdim);
}
Tensor sum(const Tensor& x, int64_t dim, bool keepdim) { return sum(x, Axes{dim}, keepdim); }
Tensor prod(const Tensor& x, const Axes& axes, bool keepdim) {
  return reduce(Op::Prod, "prod", trace::autocast_for(Op::Prod, x), axes, keepdim);
}
Tensor max(const Tensor& x, const Axes& axes, bool keepdim) {
  return reduce(Op::Max, "max", x, axes, keepdim);
}
Tensor max(const Tensor& x, int64_t dim, bool keepdim) { return max(x, Axes{dim}, keepdim); }
Tensor min(const Tensor& x, const Axes& axes, bool keepdim) {
  return reduce(Op::Min, "min", x, axes, keepdim);
}
Tensor min(const Tensor& x, int64_t dim, bool keepdim) { return min(x, Axes{dim}, keepdim); }
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_reduce(Op::ArgMax, "argmax", x, dim, keepdim);
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_reduce(Op::ArgMin, "argmin", x, dim, keepdim);
}

Tensor mean(const Tensor& x_in, const Axes& axes, bool keepdim) {
  const Tensor x = trace::autocast_f32(x_in);
  require_floating("mean", x);
  const auto& xi = trace::impl_of(x, "mean");
  std::vector<int64_t> ax =
      trace::reduce_axes("mean", axes, static_cast<int64_t>(xi->shape.size()));
  DType wt = work_dtype(xi->dtype);
  Tensor s = trace::record(Op::Sum, {trace::cast_to(x, wt)}, {.attrs = ax}, "mean");
  Tensor m = trace::cast_to(s / static_cast<double>(reduced_count(xi->shape, ax)), xi->dtype);
  return keepdim ? m : trace::drop_axes(m, ax);
}
Tensor mean(const Tensor& x, int64_t dim, bool keepdim) { return mean(x, Axes{dim}, keepdim); }

Tensor var(const Tensor& x_in, const Axes& axes, bool unbiased, bool keepdim) {
  const Tensor x = trace::autocast_f32(x_in);
  require_floating("var", x);
  const auto& xi = trace::impl_of(x, "var");
  std::vector<int64_t> ax = trace::reduce_axes("var", axes, static_cast<int64_t>(xi->shape.size()));
  Tensor w = trace::cast_to(x, work_dtype(xi->dtype));
  Tensor d = w - mean(w, ax, true);
  Tensor ss = trace::record(Op::Sum, {d * d}, {.attrs = ax}, "var");
  // As PyTorch: the divisor is max(N - correction, 0), so too few elements
  // (none, or one when unbiased) give NaN.
  double n =
      std::max(static_cast<double>(reduced_count(xi->shape, ax)) - (unbiased ? 1.0 : 0.0), 0.0);
  Tensor v = trace::cast_to(ss / n, xi->dtype);
  return keepdim ? v : trace::drop_axes(v, ax);
}

Tensor std(const Tensor& x_in, const Axes& axes, bool unbiased, bool keepdim) {
  const Tensor x = trace::autocast_f32(x_in);
  require_floating("std", x);
  DType t = x.dtype();
  return trace::cast_to(sqrt(var(trace::cast_to(x, work_dtype(t)), axes, unbiased, keepdim)), t);
}

namespace {

/// softmax's input: cast to `dtype` when given, else it must be floating.
Tensor softmax_input(std::string_view name, const Tensor& x, std::optional<DType> dtype) {
  const auto& xi = trace::impl_of(x, name);
  if (dtype) {
    if (!is_floating(*dtype))
      fail("{}: dtype must be a floating type, got {}", name, dtype_name(*dtype));
    return trace::cast_to(x, *dtype);
  }
  if (!is_floating(xi->dtype))
    fail(
        "{}: the input is {} (shape {}); softmax needs a floating input: cast it first "
        "(x.to(tj::f32)) or pass a dtype ({}(x, dim, tj::f32))",
        name, dtype_name(xi->dtype), shape_str(xi->shape), name);
  return x;
}

/// The largest value along `d` (kept), which softmax subtracts for range
/// only: the result does not depend on it, so no gradient flows through it
/// (as JAX's stop_gradient in logsumexp). The backward pass is then
/// g - softmax * sum(g), without the max's tie counting.
Tensor row_max(const Tensor& w, int64_t d) {
  NoGradGuard no_grad;
  return max(w, Axes{d}, true);
}

}  // namespace

Tensor softmax(const Tensor& x_arg, int64_t dim, std::optional<DType> dtype) {
  const Tensor x = trace::autocast_f32(softmax_input("softmax", x_arg, dtype));
  const auto& xi = trace::impl_of(x, "softmax");
  int64_t d = normalize_axis("softmax", dim, static_cast<int64_t>(xi->shape.size()));
  DType out = is_floating(xi->dtype) ? xi->dtype : DType::f32;
  Tensor w = trace::cast_to(x, work_dtype(out));
  if (xi->shape.empty()) return trace::cast_to(exp(w - w), out);
  if (xi->shape[d] == 0) return trace::cast_to(w, out);  // an empty axis: nothing to normalize
  Tensor e = exp(w - row_max(w, d));
  return trace::cast_to(e / sum(e, Axes{d}, true), out);
}

Tensor log_softmax(const Tensor& x_arg, int64_t dim, std::optional<DType> dtype) {
  const Tensor x = trace::autocast_f32(softmax_input("log_softmax", x_arg, dtype));
  const auto& xi = trace::impl_of(x, "log_softmax");
  int64_t d = normalize_axis("log_softmax", dim, static_cast<int64_t>(xi->shape.size()));
  DType out = is_floating(xi->dtype) ? xi->dtype : DType::f32;
  Tensor w = trace::cast_to(x, work_dtype(out));
  if (xi->shape.empty()) return trace::cast_to(w - w, out);
  if (xi->shape[d] == 0) return trace::cast_to(w, out);  // an empty axis: nothing to normalize
  Tensor shifted = w - row_max(w, d);
  return trace::cast_to(shifted - log(sum(exp(shifted), Axes{d}, true)), out);
}

namespace {

std::vector<int64_t> norm_axes(std::string_view name, const Tensor& x, const Shape& normalized) {
  const Shape& s = trace::impl_of(x, name)->shape;
  bool ok = !normalized.empty() && normalized.size() <= s.size();
  for (size_t i = 0; ok && i < normalized.size(); ++i)
    ok = s[s.size() - normalized.size() + i] == normalized[i];
  if (!ok)
    fail(
        "{}: normalized_shape {} must match the trailing dimensions of the input, which has "
        "shape {}",
        name, shape_str(normalized), shape_str(s));
  std::vector<int64_t> ax;
  for (size_t i = s.size() - normalized.size(); i < s.size(); ++i)
    ax.push_back(static_cast<int64_t>(i));
  return ax;
}

void check_param(std::string_view name, std::string_view what, const Tensor& p,
                 const Shape& normalized) {
  if (p.defined() && p.shape() != normalized)
    fail("{}: {} has shape {} but normalized_shape is {}; they must be equal", name, what,
         shape_str(p.shape()), shape_str(normalized));
}

}  // namespace

Tensor layer_norm(const Tensor& x_in, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  const Tensor x = trace::autocast_f32(x_in);
  require_floating("layer_norm", x);
  std::vector<int64_t> ax = norm_axes("layer_norm", x, normalized_shape);
  check_param("layer_norm", "weight", weight, normalized_shape);
  check_param("layer_norm", "bias", bias, normalized_shape);
  DType t = x.dtype(), wt = work_dtype(t);
  Tensor w = trace::cast_to(x, wt);
  Tensor d = w - mean(w, ax, true);
  Tensor y = d * rsqrt(mean(d * d, ax, true) + eps);
  if (weight.defined()) y = y * trace::cast_to(weight, wt);
  if (bias.defined()) y = y + trace::cast_to(bias, wt);
  return trace::cast_to(y, t);
}

Tensor rms_norm(const Tensor& x_in, const Shape& normalized_shape, const Tensor& weight,
                double eps) {
  const Tensor x = trace::autocast_f32(x_in);
  require_floating("rms_norm", x);
  std::vector<int64_t> ax = norm_axes("rms_norm", x, normalized_shape);
  check_param("rms_norm", "weight", weight, normalized_shape);
  DType t = x.dtype(), wt = work_dtype(t);
  Tensor w = trace::cast_to(x, wt);
  Tensor y = w * rsqrt(mean(w * w, ax, true) + eps);
  if (weight.defined()) y = y * trace::cast_to(weight, wt);
  return trace::cast_to(y, t);
}

}  // namespace tj
