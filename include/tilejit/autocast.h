// tilejit — automatic mixed precision (autocast).
//
//   {
//     tj::autocast guard(tj::bf16);   // or tj::f16
//     auto y = tj::linear(x, w, b);   // GEMM in bf16, f32 accumulation; y is bf16
//     auto p = tj::softmax(y, -1);    // computed in f32; p is f32
//   }                                 // the previous setting is back
//
// While a guard is alive, ops of the calling thread pick their compute dtype
// from two lists modelled on PyTorch's CUDA autocast lists:
//
//  * Lower precision — matmul, linear (and Tensor::matmul). f32 inputs and
//    the other half type are cast to the autocast dtype and the result has
//    that dtype; f64 inputs are left as they are, as in PyTorch (an op with
//    an f64 operand then computes in f64). The GEMM accumulates in f32, as every f16/bf16
//    matmul in tilejit does. linear casts its bias too.
//  * f32 — exp, expm1, log, log2, log1p, reciprocal, rsqrt, pow (all three
//    overloads), sum, prod, cumsum, cumprod, mean, var, std, softmax,
//    log_softmax, layer_norm and rms_norm (with their weight and bias).
//    f16/bf16 inputs are cast to f32
//    first and the result is f32 (where these ops normally return the half
//    type). f32 and f64 inputs are left as they are.
//  * Every other op is unchanged: its inputs keep their dtypes and the usual
//    type promotion applies (so, e.g., bf16 + f32 is f32, and max/min, relu,
//    gelu or tanh of a bf16 tensor stay bf16).
//
// Integer and bool inputs are never cast by autocast. The casts are ordinary
// traced casts: lazily they fuse into the kernels that produce or consume the
// values, so a cast of an input computed by a pointwise op, or of a bias, costs
// no extra kernel. A weight stored in f32 is cast on every call (one small
// kernel); keep weights in the autocast dtype to avoid it.
//
// The setting is per thread: a guard affects only ops recorded by the thread
// that created it (tensors may still be passed between threads). Guards nest;
// the innermost wins, and destroying a guard restores the setting it found.
// A guard made with enabled = false turns autocast off within its scope (a
// no-op outside any other guard), as torch.autocast(enabled=False) does.
// Autocast does not depend on the device: it applies to CPU and CUDA tensors
// alike, and works the same in lazy and in eager mode.
#pragma once

#include "tilejit/dtype.h"

namespace tj {

/// RAII guard that enables (or, with enabled = false, disables) autocast
/// for the calling thread until it is destroyed. `dtype` must be f16 or bf16;
/// anything else throws tj::Error. Not copyable or movable: create and destroy
/// it in the same thread, in scope order.
class autocast {
 public:
  explicit autocast(DType dtype = DType::bf16, bool enabled = true);
  ~autocast();
  autocast(const autocast&) = delete;
  autocast& operator=(const autocast&) = delete;

 private:
  bool prev_enabled_;
  DType prev_dtype_;
};

/// Whether autocast is on in the calling thread.
bool is_autocast_enabled();

/// The lower-precision dtype of the innermost guard in the calling thread
/// (also when that guard is disabled); bf16 outside any guard.
DType autocast_dtype();

}  // namespace tj
