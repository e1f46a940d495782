// tj::optim: parameter updates as traced ops under NoGradGuard; the
// in-place forms keep each parameter's identity (trace/autograd.h).
#include "tilejit/optim.h"

#include <cmath>
#include <limits>

#include "ir/check.h"
#include "tilejit/autograd.h"
#include "tilejit/ops.h"
#include "trace/ops_util.h"

namespace tj::optim {

Optimizer::Optimizer(std::vector<Tensor> params, const char* name) : params_(std::move(params)) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p.defined()) fail("{}: parameter {} is an undefined tensor", name, i);
    if (!p.requires_grad() || !p.is_leaf())
      fail(
          "{}: parameter {} ({} {}) is not a leaf that requires grad; call requires_grad_() on "
          "the tensor you created (not on a result computed from it)",
          name, i, dtype_name(p.dtype()), shape_str(p.shape()));
  }
}

Optimizer::~Optimizer() = default;

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (Tensor& p : params_) {
    Tensor& g = p.mutable_grad();
    if (!g.defined()) continue;
    g = set_to_none ? Tensor() : zeros_like(g);
  }
}

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : Optimizer(std::move(params), "SGD"), options_(options) {
  if (!(options_.lr() >= 0)) fail("SGD: lr must be >= 0, got {}", options_.lr());
  if (options_.nesterov() && (options_.momentum() <= 0 || options_.dampening() != 0))
    fail("SGD: nesterov needs a momentum > 0 and dampening 0 (got momentum {}, dampening {})",
         options_.momentum(), options_.dampening());
  momentum_.resize(params_.size());
}

void SGD::step() {
  NoGradGuard no_grad;
  const SGDOptions& o = options_;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (o.weight_decay() != 0) g = g + p * o.weight_decay();
    if (o.momentum() != 0) {
      Tensor& buf = momentum_[i];
      buf = buf.defined() ? buf * o.momentum() + g * (1.0 - o.dampening()) : g;
      g = o.nesterov() ? g + buf * o.momentum() : buf;
    }
    p -= g * o.lr();
  }
}

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(std::move(params), options, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, AdamOptions options, bool decoupled, const char* name)
    : Optimizer(std::move(params), name), options_(options), decoupled_(decoupled) {
  const auto [b1, b2] = options_.betas();
  if (!(options_.lr() >= 0)) fail("{}: lr must be >= 0, got {}", name, options_.lr());
  if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1))
    fail("{}: betas must be in [0, 1), got ({}, {})", name, b1, b2);
  if (!(options_.eps() >= 0)) fail("{}: eps must be >= 0, got {}", name, options_.eps());
  exp_avg_.resize(params_.size());
  exp_avg_sq_.resize(params_.size());
  max_exp_avg_sq_.resize(params_.size());
}

void Adam::step() {
  NoGradGuard no_grad;
  const AdamOptions& o = options_;
  const auto [b1, b2] = o.betas();
  ++step_;
  // Host scalars: run-time kernel arguments, so every step replays one plan.
  const double c1 = 1.0 - std::pow(b1, static_cast<double>(step_));
  const double c2 = 1.0 - std::pow(b2, static_cast<double>(step_));
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (o.weight_decay() != 0) {
      if (decoupled_)
        p *= 1.0 - o.lr() * o.weight_decay();
      else
        g = g + p * o.weight_decay();
    }
    Tensor& m = exp_avg_[i];
    Tensor& v = exp_avg_sq_[i];
    m = m.defined() ? m * b1 + g * (1.0 - b1) : g * (1.0 - b1);
    v = v.defined() ? v * b2 + g * g * (1.0 - b2) : g * g * (1.0 - b2);
    Tensor second = v;
    if (o.amsgrad()) {
      Tensor& vmax = max_exp_avg_sq_[i];
      vmax = vmax.defined() ? maximum(vmax, v) : v;
      second = vmax;
    }
    p -= m / (sqrt(second / c2) + o.eps()) * (o.lr() / c1);
  }
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions o)
    : Adam(std::move(params),
           AdamOptions(o.lr())
               .betas(o.betas())
               .eps(o.eps())
               .weight_decay(o.weight_decay())
               .amsgrad(o.amsgrad()),
           true, "AdamW") {}

}  // namespace tj::optim

namespace tj {

GradScaler::GradScaler() : GradScaler(GradScalerOptions{}) {}

GradScaler::GradScaler(GradScalerOptions options) : options_(options), scale_(options.init_scale) {
  if (!(scale_ > 0) || !(options_.growth_factor > 1) || !(options_.backoff_factor > 0) ||
      !(options_.backoff_factor < 1) || options_.growth_interval < 1)
    fail(
        "GradScaler: needs init_scale > 0, growth_factor > 1, backoff_factor in (0, 1) and "
        "growth_interval >= 1; got {}, {}, {}, {}",
        scale_, options_.growth_factor, options_.backoff_factor, options_.growth_interval);
}

Tensor GradScaler::scale(const Tensor& loss) const {
  if (!options_.enabled) return loss;
  return loss * scale_;
}

void GradScaler::unscale_(optim::Optimizer& opt) {
  if (!options_.enabled || unscaled_) return;
  NoGradGuard no_grad;
  Tensor bad;  // the count of non-finite gradient elements, one reduction per gradient
  for (const Tensor& p : opt.parameters()) {
    Tensor& g = const_cast<Tensor&>(p).mutable_grad();
    if (!g.defined()) continue;
    g = g * (1.0 / scale_);
    Tensor gf = g.cast(DType::f32);
    Tensor n = logical_or(gf != gf, abs(gf) == std::numeric_limits<double>::infinity())
                   .cast(DType::f32)
                   .sum();
    bad = bad.defined() ? bad + n : n;
  }
  found_inf_ = bad.defined() && bad.item<float>() > 0;
  unscaled_ = true;
}

bool GradScaler::step(optim::Optimizer& opt) {
  if (!options_.enabled) {
    opt.step();
    return true;
  }
  unscale_(opt);
  stepped_ = !found_inf_;
  if (stepped_) opt.step();
  return stepped_;
}

void GradScaler::update() {
  if (!options_.enabled) return;
  if (found_inf_) {
    scale_ *= options_.backoff_factor;
    good_steps_ = 0;
  } else if (++good_steps_ >= options_.growth_interval) {
    scale_ *= options_.growth_factor;
    good_steps_ = 0;
  }
  unscaled_ = found_inf_ = stepped_ = false;
}

}  // namespace tj
