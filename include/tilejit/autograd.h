// Reverse-mode automatic differentiation, as in libtorch.
//
//   tj::Tensor w = tj::randn({4, 3}).requires_grad_();
//   tj::Tensor loss = tj::relu(tj::matmul(x, w)).sum();
//   loss.backward();          // w.grad() now holds d loss / d w
//   {
//     tj::NoGradGuard no_grad;
//     w -= 0.1 * w.grad();    // an update that is not differentiated
//   }
//   w.mutable_grad() = tj::Tensor();  // or an optimizer's zero_grad()
//
// The backward pass is traced like any other code: its ops join the lazy
// trace of the forward ops, so a forward pass, its backward pass and an
// optimizer step flushed together are one graph that fuses, and a training
// loop replays one cached plan. Values the backward pass needs are saved
// when an op is recorded (they are written out if a flush happens before
// backward()) and released by backward() unless retain_graph is true.
//
// Gradients are defined for floating-point tensors. An op whose gradient is
// not available yet records nothing special: backward() through it throws a
// tj::Error naming it.
#pragma once

namespace tj {

/// Whether ops record the graph backward() walks (thread-local; on by default).
struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

/// Turns gradient recording off in this thread for its lifetime (restores the
/// previous mode at the end): for optimizer updates and inference.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

/// The same with the mode given: AutoGradMode(true) turns recording back on
/// inside a NoGradGuard.
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled);
  ~AutoGradMode();
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};

}  // namespace tj
