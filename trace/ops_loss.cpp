// Losses, composed of traced ops (so they fuse, and autograd differentiates
// them through their primitives).
#include "trace/ops_util.h"

namespace tj {

namespace {

Tensor reduce(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::none:
      return loss;
    case Reduction::sum:
      return loss.sum();
    case Reduction::mean:
      return loss.mean();
  }
  return loss;
}

void check_floating(const Tensor& x, std::string_view op, std::string_view what) {
  const auto& i = trace::impl_of(x, op);
  if (!is_floating(i->dtype))
    fail("{}: {} must be floating-point, got {} {}", op, what, dtype_name(i->dtype),
         shape_str(i->shape));
}

/// Classes along dim 1 of [N, C, d...] (dim 0 of [C]) and targets of the
/// shape without that dim: the class axis, checked.
int64_t class_axis(std::string_view op, const Tensor& input, const Tensor& target) {
  const Shape& in = input.shape();
  const Shape& t = target.shape();
  if (in.empty())
    fail("{}: the input needs a class dimension ([N, C] or [C]), got a 0-d tensor", op);
  const int64_t axis = in.size() == 1 ? 0 : 1;
  Shape want = in;
  want.erase(want.begin() + axis);
  if (t != want)
    fail(
        "{}: the input of shape {} has its classes in dim {}, so the target must have shape {}, "
        "got {}",
        op, shape_str(in), axis, shape_str(want), shape_str(t));
  if (is_floating(target.dtype()) || target.dtype() == DType::bool_)
    fail(
        "{}: class targets must be integers (i64 or i32), got {} (class probabilities need the "
        "input's shape)",
        op, dtype_name(target.dtype()));
  return axis;
}

/// A computed CPU target's classes are within [0, C) or ignore_index.
void check_targets(std::string_view op, const Tensor& target, int64_t classes,
                   int64_t ignore_index) {
  if (!target.is_materialized() || target.device() != Device::cpu()) return;
  for (int64_t v : target.to_vector<int64_t>())
    if (v != ignore_index && (v < 0 || v >= classes))
      fail("{}: target {} is out of range for {} classes (valid: 0 to {}, or ignore_index {})", op,
           v, classes, classes - 1, ignore_index);
}

/// The weight ([C]) of each target's class, laid out like the target.
Tensor class_weights(const Tensor& weight, const Tensor& safe_target, std::string_view op,
                     int64_t classes) {
  if (weight.shape() != Shape{classes})
    fail("{}: weight must have one value per class, shape [{}], got {}", op, classes,
         shape_str(weight.shape()));
  return weight.take(safe_target);
}

/// The per-target negative log-likelihood, weights and counted mask.
struct Picked {
  Tensor loss;    // per target (0 where ignored)
  Tensor weight;  // per target (0 where ignored)
};

Picked pick(std::string_view op, const Tensor& logp, const Tensor& target, const Tensor& weight,
            int64_t ignore_index, int64_t axis) {
  const int64_t classes = logp.shape()[static_cast<size_t>(axis)];
  check_targets(op, target, classes, ignore_index);
  Tensor counted = target != ignore_index;
  Tensor safe = where(counted, target.cast(DType::i64), 0);  // a readable class where ignored
  Tensor nll = -logp.gather(axis, safe.unsqueeze(axis)).squeeze(axis);
  Tensor w = counted.cast(logp.dtype());
  if (weight.defined()) w = w * class_weights(weight, safe, op, classes).cast(logp.dtype());
  return {where(counted, nll * w, 0.0), w};
}

Tensor reduce_weighted(const Picked& p, Reduction r) {
  if (r == Reduction::mean) return p.loss.sum() / p.weight.sum();
  return reduce(p.loss, r);
}

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_floating(input, "mse_loss", "the input");
  return reduce(square(input - target.cast(input.dtype()).expand(input.shape())), reduction);
}

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight,
                int64_t ignore_index, Reduction reduction) {
  constexpr std::string_view op = "nll_loss";
  check_floating(input, op, "the input");
  const int64_t axis = class_axis(op, input, target);
  return reduce_weighted(pick(op, input, target, weight, ignore_index, axis), reduction);
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                     int64_t ignore_index, Reduction reduction, double label_smoothing) {
  constexpr std::string_view op = "cross_entropy";
  check_floating(input, op, "the input");
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    fail("{}: label_smoothing must be in [0, 1], got {}", op, label_smoothing);
  const Shape& in = input.shape();
  const int64_t axis = in.size() == 1 ? 0 : 1;
  Tensor logp = log_softmax(input, axis);
  if (!in.empty() && target.shape() == in && is_floating(target.dtype())) {
    // Class probabilities.
    const int64_t classes = in[static_cast<size_t>(axis)];
    Tensor t = target.cast(input.dtype());
    if (label_smoothing > 0) t = t * (1.0 - label_smoothing) + label_smoothing / classes;
    Tensor lw = logp;
    if (weight.defined()) {
      if (weight.shape() != Shape{classes})
        fail("{}: weight must have one value per class, shape [{}], got {}", op, classes,
             shape_str(weight.shape()));
      Shape ws(in.size(), 1);
      ws[static_cast<size_t>(axis)] = classes;
      lw = logp * weight.cast(input.dtype()).reshape(ws);
    }
    Tensor loss = -(lw * t).sum({axis});
    // The mean is over the positions (every dim but the classes), as torch.
    return reduce(loss, reduction);
  }
  class_axis(op, input, target);
  Picked p = pick(op, logp, target, weight, ignore_index, axis);
  if (label_smoothing == 0.0) return reduce_weighted(p, reduction);
  // torch: (1 - e) nll + e / C * (-sum over classes of w_c log p_c), ignored targets 0.
  const int64_t classes = in[static_cast<size_t>(axis)];
  Tensor lw = logp;
  if (weight.defined()) {
    Shape ws(in.size(), 1);
    ws[static_cast<size_t>(axis)] = classes;
    lw = logp * weight.cast(input.dtype()).reshape(ws);
  }
  Tensor smooth = where(target != ignore_index, -lw.sum({axis}), 0.0);
  if (reduction == Reduction::mean) {
    Tensor denom = p.weight.sum();
    return (p.loss.sum() * (1.0 - label_smoothing) + smooth.sum() * (label_smoothing / classes)) /
           denom;
  }
  return reduce(p.loss * (1.0 - label_smoothing) + smooth * (label_smoothing / classes), reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight, Reduction reduction,
                                        const Tensor& pos_weight) {
  constexpr std::string_view op = "binary_cross_entropy_with_logits";
  check_floating(input, op, "the input");
  if (target.shape() != input.shape())
    fail("{}: the target must have the input's shape {}, got {}", op, shape_str(input.shape()),
         shape_str(target.shape()));
  const Tensor& x = input;
  Tensor t = target.cast(input.dtype());
  // log(1 + exp(-|x|)) + max(-x, 0) = -log(sigmoid(x)), without overflow.
  Tensor log_sig_neg = log1p(exp(-abs(x))) + relu(-x);
  Tensor loss;
  if (pos_weight.defined()) {
    Tensor pw = pos_weight.cast(input.dtype());
    loss = (1.0 - t) * x + ((pw - 1.0) * t + 1.0) * log_sig_neg;
  } else {
    loss = (1.0 - t) * x + log_sig_neg;
  }
  if (weight.defined()) loss = loss * weight.cast(input.dtype());
  return reduce(loss, reduction);
}

}  // namespace tj
