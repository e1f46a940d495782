// GEMM epilogues a library computes in the same call as the GEMM (cuBLASLt's
// epilogues on CUDA, oneDNN's post-ops on the CPU): which plan steps are a
// matmul followed by a pointwise kernel of the form act(C + bias) or act(C).
// A backend that takes the match runs both steps in one call, and the GEMM's
// own output is never allocated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/dtype.h"
#include "scheduler/plan.h"

namespace tj::jit {

/// What a library applies to C = A @ B before storing it.
enum class Epilogue : uint8_t {
  none,
  bias,           // C + bias (bias broadcast over rows)
  relu,           // relu(C)
  bias_relu,      // relu(C + bias)
  gelu,           // gelu_tanh(C)
  bias_gelu,      // gelu_tanh(C + bias)
  gelu_erf,       // gelu(C), the erf form
  bias_gelu_erf,  // gelu(C + bias)
};

bool has_bias(Epilogue e);
/// "bias", "relu", "bias_relu", "gelu", "bias_gelu", "gelu_erf", "bias_gelu_erf" or "none".
const char* epilogue_name(Epilogue e);

/// What one library can fuse.
struct EpilogueRules {
  std::vector<DType> dtypes;  // of A, B, C, the bias and the output
  bool gelu_erf = false;      // the erf form of GELU (cuBLASLt has only the tanh form)
  bool batched = false;       // GEMMs with batch dimensions
  bool f32_bias = false;      // an f32 bias the epilogue rounds to C's dtype (autocast's
                              // linear): the backend rounds its N values before the call
};

/// A GEMM whose pointwise epilogue the library computes in the same call.
struct FusedGemm {
  Epilogue epilogue = Epilogue::none;
  int32_t bias_arg = -1;          // argument of the epilogue kernel holding the bias
  int32_t out_arg = -1;           // argument of the epilogue kernel it stores to
  DType bias_dtype = DType::f32;  // C's dtype, or f32 (EpilogueRules::f32_bias)
};

/// Whether step `s + 1` of `p` is an epilogue `rules` allow for the GEMM of
/// step `s`: the GEMM's output is a temporary only that step reads, and the
/// step computes act(C + bias) or act(C) with act one of relu, gelu_tanh
/// (and gelu when the rules allow it), a bias broadcast over rows, stored
/// densely in C's dtype.
std::optional<FusedGemm> match_epilogue(const sched::Plan& p, size_t s, const EpilogueRules& rules);

}  // namespace tj::jit
