// Optimizers, as libtorch's torch::optim: each step() updates every
// parameter that has a gradient, in place (every handle of a parameter sees
// the new value), recorded into the lazy trace like any other op, so the
// update of a training step fuses with its forward and backward passes.
//
//   tj::optim::AdamW opt({w1, b1, w2, b2}, tj::optim::AdamWOptions(1e-3));
//   for (...) {
//     opt.zero_grad();
//     tj::Tensor loss = tj::cross_entropy(model(x), y);
//     loss.backward();
//     opt.step();
//   }
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tilejit/tensor.h"

namespace tj::optim {

// Options read as opts.lr() and set as opts.lr(0.1), chainable, as libtorch's.
#define TJ_OPTIM_ARG(T, name, ...)          \
 public:                                    \
  auto& name(T v) {                         \
    name##_ = std::move(v);                 \
    return *this;                           \
  }                                         \
  const T& name() const { return name##_; } \
                                            \
 private:                                   \
  T name##_ = __VA_ARGS__;

/// Adam's (beta1, beta2).
using Betas = std::pair<double, double>;

struct SGDOptions {
  explicit SGDOptions(double lr) : lr_(lr) {}
  TJ_OPTIM_ARG(double, lr, 0)
  TJ_OPTIM_ARG(double, momentum, 0)
  TJ_OPTIM_ARG(double, dampening, 0)
  TJ_OPTIM_ARG(double, weight_decay, 0)
  TJ_OPTIM_ARG(bool, nesterov, false)
};

struct AdamOptions {
  explicit AdamOptions(double lr = 1e-3) : lr_(lr) {}
  TJ_OPTIM_ARG(double, lr, 1e-3)
  TJ_OPTIM_ARG(Betas, betas, std::make_pair(0.9, 0.999))
  TJ_OPTIM_ARG(double, eps, 1e-8)
  TJ_OPTIM_ARG(double, weight_decay, 0)
  TJ_OPTIM_ARG(bool, amsgrad, false)
};

struct AdamWOptions {
  explicit AdamWOptions(double lr = 1e-3) : lr_(lr) {}
  TJ_OPTIM_ARG(double, lr, 1e-3)
  TJ_OPTIM_ARG(Betas, betas, std::make_pair(0.9, 0.999))
  TJ_OPTIM_ARG(double, eps, 1e-8)
  TJ_OPTIM_ARG(double, weight_decay, 1e-2)
  TJ_OPTIM_ARG(bool, amsgrad, false)
};

#undef TJ_OPTIM_ARG

class Optimizer {
 public:
  /// Every parameter must be a floating-point leaf that requires grad.
  Optimizer(std::vector<Tensor> params, const char* name);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter whose grad() is defined (recorded with
  /// gradients off).
  virtual void step() = 0;
  /// Clears every parameter's gradient: undefined (set_to_none, torch's
  /// default), or zeros.
  void zero_grad(bool set_to_none = true);
  const std::vector<Tensor>& parameters() const { return params_; }
  std::vector<Tensor>& parameters() { return params_; }

  /// Writes the optimizer's state (momentum buffers, moments, the step
  /// count) to `path`, in nn::Module::save's file format, entries named
  /// "AdamW.step", "AdamW.0.exp_avg", ... (parameter 0's first moment).
  void save(const std::string& path) const;
  /// Reads the state back. The file must come from an optimizer of the same
  /// kind over as many parameters of the same shapes and dtypes; anything
  /// else is refused before the state is touched.
  void load(const std::string& path);

 protected:
  /// One piece of state: a tensor shaped like parameter `param` (undefined
  /// before that parameter's first step), or a count.
  struct Slot {
    std::string name;
    Tensor* tensor = nullptr;
    int64_t param = -1;
    int64_t* count = nullptr;
  };
  virtual std::vector<Slot> slots() = 0;

  std::vector<Tensor> params_;
  const char* name_;
};

/// Stochastic gradient descent with momentum (dampening, nesterov) and L2
/// weight decay, as torch.optim.SGD.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  void step() override;
  SGDOptions& options() { return options_; }

 protected:
  std::vector<Slot> slots() override;

 private:
  SGDOptions options_;
  std::vector<Tensor> momentum_;  // per parameter, after its first step with momentum
};

/// Adam (L2 weight decay added to the gradient) or, with decoupled weight
/// decay, AdamW; as torch.optim.Adam and AdamW (amsgrad too).
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options);
  void step() override;
  AdamOptions& options() { return options_; }
  int64_t steps() const { return step_; }

 protected:
  Adam(std::vector<Tensor> params, AdamOptions options, bool decoupled, const char* name);
  std::vector<Slot> slots() override;

 private:
  AdamOptions options_;
  bool decoupled_ = false;
  int64_t step_ = 0;
  std::vector<Tensor> exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options);
};

}  // namespace tj::optim

namespace tj {

/// Loss scaling for f16 training, as torch.amp.GradScaler: scale() the loss
/// before backward(), then step(optimizer) unscales the gradients, checks
/// them for inf/NaN in one fused reduction and skips the step (lowering the
/// scale by backoff_factor) when any is found; update() raises the scale by
/// growth_factor after growth_interval steps in a row without one.
/// step() reads that check on the host (one flush per step, as PyTorch's).
struct GradScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;
};

class GradScaler {
 public:
  GradScaler();
  explicit GradScaler(GradScalerOptions options);
  /// loss * scale (the loss itself when disabled).
  Tensor scale(const Tensor& loss) const;
  /// Divides the optimizer's gradients by the scale (once per step).
  void unscale_(optim::Optimizer& opt);
  /// Unscales if not done yet; runs opt.step() unless a gradient is inf or
  /// NaN. Returns whether it stepped.
  bool step(optim::Optimizer& opt);
  /// Adjusts the scale after step().
  void update();
  double get_scale() const { return options_.enabled ? scale_ : 1.0; }
  bool is_enabled() const { return options_.enabled; }

 private:
  GradScalerOptions options_;
  double scale_;
  int64_t good_steps_ = 0;
  bool unscaled_ = false, found_inf_ = false, stepped_ = false;
};

}  // namespace tj
