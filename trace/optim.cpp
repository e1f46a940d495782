// tj::optim: parameter updates as traced ops under NoGradGuard; the
// in-place forms keep each parameter's identity (trace/autograd.h).
#include "tilejit/optim.h"

#include <cmath>
#include <limits>

#include "ir/check.h"
#include "tilejit/autograd.h"
#include "tilejit/ops.h"
#include "trace/ops_util.h"
#include "trace/state_file.h"

namespace tj::optim {

Optimizer::Optimizer(std::vector<Tensor> params, const char* name)
    : params_(std::move(params)), name_(name) {
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

void Optimizer::save(const std::string& path) const {
  trace::NamedTensors entries;
  const std::string kind = name_;
  entries.emplace_back(kind + ".parameters",
                       scalar_tensor(static_cast<int64_t>(params_.size()), DType::i64));
  for (const Slot& s : const_cast<Optimizer*>(this)->slots()) {
    if (s.count)
      entries.emplace_back(kind + "." + s.name, scalar_tensor(*s.count, DType::i64));
    else if (s.tensor->defined())
      entries.emplace_back(kind + "." + s.name, *s.tensor);
  }
  trace::write_state_file(path, entries, "save");
}

void Optimizer::load(const std::string& path) {
  const trace::NamedTensors entries = trace::read_state_file(path, Device::cpu(), "load");
  const std::string kind = std::string(name_) + ".";
  std::vector<Slot> slots = this->slots();
  std::vector<const Tensor*> found(slots.size(), nullptr);
  bool counted = false;
  for (const auto& [name, v] : entries) {
    if (name.rfind(kind, 0) != 0)
      fail("load: {} holds \"{}\", which is not the state of {} (entries start with \"{}\")", path,
           name, name_, kind);
    const std::string key = name.substr(kind.size());
    if (key == "parameters") {
      const int64_t n = v.dtype() == DType::i64 && v.dim() == 0 ? v.item<int64_t>() : -1;
      if (n != static_cast<int64_t>(params_.size()))
        fail("load: {} is the state of {} over {} parameters; this one has {}", path, name_, n,
             params_.size());
      counted = true;
      continue;
    }
    size_t i = 0;
    while (i < slots.size() && slots[i].name != key) ++i;
    if (i == slots.size())
      fail("load: {} holds \"{}\", which {} with these options does not have", path, name, name_);
    const Slot& s = slots[i];
    if (s.count) {
      if (v.dtype() != DType::i64 || v.dim() != 0 || v.item<int64_t>() < 0)
        fail("load: {}: \"{}\" must be a non-negative i64 scalar, got {} {}", path, name,
             dtype_name(v.dtype()), shape_str(v.shape()));
    } else {
      const Tensor& p = params_[static_cast<size_t>(s.param)];
      if (v.dtype() != p.dtype() || v.shape() != p.shape())
        fail("load: {}: \"{}\" is {} {} but parameter {} is {} {}", path, name,
             dtype_name(v.dtype()), shape_str(v.shape()), s.param, dtype_name(p.dtype()),
             shape_str(p.shape()));
    }
    found[i] = &v;
  }
  if (!counted)
    fail("load: {} has no \"{}parameters\" entry: it is not an optimizer state", path, kind);
  // Everything checked: only now is the state replaced.
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].count)
      *slots[i].count = found[i] ? found[i]->item<int64_t>() : 0;
    else
      *slots[i].tensor =
          found[i] ? found[i]->to(params_[static_cast<size_t>(slots[i].param)].device()).eval()
                   : Tensor();
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

std::vector<Optimizer::Slot> SGD::slots() {
  std::vector<Slot> s;
  for (size_t i = 0; i < params_.size(); ++i)
    s.push_back({std::to_string(i) + ".momentum_buffer", &momentum_[i], static_cast<int64_t>(i)});
  return s;
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

std::vector<Optimizer::Slot> Adam::slots() {
  std::vector<Slot> s = {{"step", nullptr, -1, &step_}};
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string n = std::to_string(i);
    const auto p = static_cast<int64_t>(i);
    s.push_back({n + ".exp_avg", &exp_avg_[i], p});
    s.push_back({n + ".exp_avg_sq", &exp_avg_sq_[i], p});
    if (options_.amsgrad()) s.push_back({n + ".max_exp_avg_sq", &max_exp_avg_sq_[i], p});
  }
  return s;
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
  for (Tensor& p : opt.parameters()) {
    Tensor& g = p.mutable_grad();
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
