// Scans (cumsum, cumprod, logcumsumexp) and the sampling built on them
// (multinomial, bernoulli). A scan records one node (ir/ops.def) that a scan
// kernel computes: one running value per line of the dimension, walked in
// order, with the ops that produce its input fused into it. multinomial is a
// cumulative sum and a count of the bins below a Philox uniform: sampling a
// row of logits after softmax is three kernels and no host round trip.
#include <cmath>

#include "trace/autocast.h"
#include "trace/autograd.h"
#include "trace/ops_util.h"

namespace tj {

using ir::Op;

namespace {

/// The input of cumsum / cumprod: cast to `dtype` when given, integers and
/// bool to i64 (as torch), f16/bf16 to f32 under autocast.
Tensor scan_input(Op op, std::string_view name, const Tensor& x, std::optional<DType> dtype) {
  const auto& xi = trace::impl_of(x, name);
  if (dtype) {
    if (*dtype == DType::bool_)
      fail("{}: dtype cannot be bool; use an integer or floating type", name);
    return trace::cast_to(x, *dtype);
  }
  if (!is_floating(xi->dtype)) return trace::cast_to(x, DType::i64);
  return trace::autocast_for(op, x);
}

Tensor scan(Op op, std::string_view name, const Tensor& x, int64_t dim) {
  const auto& xi = trace::impl_of(x, name);
  const int64_t rank = static_cast<int64_t>(xi->shape.size());
  // A 0-d tensor scans as one element, as in torch (dim 0 or -1).
  const int64_t d = normalize_axis(name, dim, std::max<int64_t>(rank, 1));
  if (rank == 0) return trace::record(op, {x.reshape({1})}, {.attrs = {0}}, name).reshape({});
  return trace::record(op, {x}, {.attrs = {d}}, name);
}

/// Host-side checks of weights that are already computed on the host (those
/// still pending in the trace are sampled unchecked: see ops.h).
void check_known_weights(const Tensor& probs, int64_t num_samples, bool replacement) {
  const auto& impl = probs.impl();
  if (!impl->is_ready() || impl->device.type != DeviceType::cpu) return;
  const std::vector<double> w = probs.to_vector<double>();
  const int64_t n = probs.shape().back();
  for (size_t r = 0; n > 0 && r < w.size() / static_cast<size_t>(n); ++r) {
    double total = 0;
    int64_t positive = 0;
    for (int64_t j = 0; j < n; ++j) {
      const double p = w[r * static_cast<size_t>(n) + static_cast<size_t>(j)];
      if (!std::isfinite(p) || p < 0)
        fail(
            "multinomial: weights must be finite and non-negative; row {} has {} at {} (shape "
            "{})",
            r, p, j, shape_str(probs.shape()));
      total += p;
      positive += p > 0;
    }
    if (total <= 0)
      fail(
          "multinomial: row {} of the weights (shape {}) sums to 0; every row needs a positive "
          "weight",
          r, shape_str(probs.shape()));
    if (!replacement && positive < num_samples)
      fail(
          "multinomial: row {} has {} positive weights, too few to draw {} samples without "
          "replacement (pass replacement=true)",
          r, positive, num_samples);
  }
}

/// One draw per entry of `u` ([..., S, 1], uniforms in [0, 1)) from the rows
/// of `w` ([..., 1, V]): the first bin whose running sum exceeds u * total,
/// never past the last positive weight (u * total can round up to total).
Tensor draw(const Tensor& w, const Tensor& u) {
  const int64_t v = w.shape().back();
  Tensor cdf = cumsum(w, -1);
  Tensor total = cdf.narrow(-1, v - 1, 1);
  Tensor below = sum((cdf <= u * total).to(DType::i64), -1);
  Tensor bins = arange(0, v, 1, TensorOptions(DType::i64).device(w.device()));
  Tensor last = max(where(w > 0, bins, Scalar(0)), Axes{-1});
  return minimum(below, last);
}

}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  return scan(Op::CumSum, "cumsum", scan_input(Op::CumSum, "cumsum", x, dtype), dim);
}

Tensor cumprod(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  return scan(Op::CumProd, "cumprod", scan_input(Op::CumProd, "cumprod", x, dtype), dim);
}

Tensor logcumsumexp(const Tensor& x, int64_t dim) {
  const auto& xi = trace::impl_of(x, "logcumsumexp");
  if (!is_floating(xi->dtype))
    fail(
        "logcumsumexp: needs a floating-point tensor, got {} (shape {}); cast it first "
        "(x.to(tj::f32))",
        dtype_name(xi->dtype), shape_str(xi->shape));
  return scan(Op::LogCumSumExp, "logcumsumexp", x, dim);
}

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  const auto& pi = trace::impl_of(probs, "multinomial");
  const size_t r = pi->shape.size();
  if (r != 1 && r != 2)
    fail(
        "multinomial: the weights must be 1-D or 2-D ([categories] or [rows, categories]), got "
        "shape {}",
        shape_str(pi->shape));
  if (!is_floating(pi->dtype))
    fail("multinomial: the weights must be floating-point, got {}; cast them (p.to(tj::f32))",
         dtype_name(pi->dtype));
  const int64_t v = pi->shape.back();
  if (v == 0) fail("multinomial: the weights (shape {}) have no categories", shape_str(pi->shape));
  if (num_samples <= 0) fail("multinomial: num_samples must be positive, got {}", num_samples);
  if (!replacement && num_samples > v)
    fail(
        "multinomial: cannot draw {} samples from {} categories without replacement (pass "
        "replacement=true)",
        num_samples, v);
  check_known_weights(probs, num_samples, replacement);
  const int64_t rows = r == 1 ? 1 : pi->shape[0];
  Tensor w = trace::cast_to(probs, pi->dtype == DType::f64 ? DType::f64 : DType::f32)
                 .reshape({rows, 1, v});
  const TensorOptions uopts = TensorOptions(w.dtype()).device(pi->device);
  Tensor out;
  if (replacement || num_samples == 1) {
    out = draw(w, rand({rows, num_samples, 1}, uopts));
  } else {
    // One draw at a time, each from the weights with the earlier draws zeroed.
    std::vector<Tensor> got;
    for (int64_t s = 0; s < num_samples; ++s) {
      Tensor k = draw(w, rand({rows, 1, 1}, uopts));  // [rows, 1]
      got.push_back(k);
      if (s + 1 < num_samples) w = w.scatter(2, k.reshape({rows, 1, 1}), 0.0);
    }
    out = cat(got, 1);
  }
  return r == 1 ? out.reshape({num_samples}) : out;
}

Tensor bernoulli(const Tensor& p) {
  const auto& pi = trace::impl_of(p, "bernoulli");
  if (!is_floating(pi->dtype))
    fail("bernoulli: the probabilities must be floating-point, got {}; cast them (p.to(tj::f32))",
         dtype_name(pi->dtype));
  Tensor u = rand(pi->shape, TensorOptions(DType::f32).device(pi->device));
  return (u < p).to(pi->dtype);
}

Tensor bernoulli(const Tensor& x, double p) {
  const auto& xi = trace::impl_of(x, "bernoulli");
  if (!(p >= 0.0 && p <= 1.0)) fail("bernoulli: p must be in [0, 1], got {}", p);
  if (!is_floating(xi->dtype))
    fail("bernoulli: needs a floating-point tensor, got {}", dtype_name(xi->dtype));
  Tensor u = rand(xi->shape, TensorOptions(DType::f32).device(xi->device));
  return (u < p).to(xi->dtype);
}

Tensor Tensor::cumsum(int64_t dim, std::optional<DType> dtype) const {
  return tj::cumsum(*this, dim, dtype);
}
Tensor Tensor::cumprod(int64_t dim, std::optional<DType> dtype) const {
  return tj::cumprod(*this, dim, dtype);
}
Tensor Tensor::logcumsumexp(int64_t dim) const { return tj::logcumsumexp(*this, dim); }
Tensor Tensor::multinomial(int64_t num_samples, bool replacement) const {
  return tj::multinomial(*this, num_samples, replacement);
}
Tensor Tensor::bernoulli() const { return tj::bernoulli(*this); }
Tensor& Tensor::cumsum_(int64_t dim) { return *this = tj::cumsum(*this, dim, dtype()).to(dtype()); }
Tensor& Tensor::cumprod_(int64_t dim) {
  return trace::autograd::rebind(*this, tj::cumprod(*this, dim, dtype()).to(dtype()), "cumprod_");
}
Tensor& Tensor::bernoulli_(double p) { return *this = tj::bernoulli(*this, p); }

}  // namespace tj
