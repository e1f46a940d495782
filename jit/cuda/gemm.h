// Matmul kernels of a plan on CUDA: cuBLASLt where it can take the dtypes
// and layout (jit/cuda/cublaslt.h), and the pointwise epilogues it can
// compute in the same call (bias, ReLU, GELU-tanh), which then replace the
// plan's next step.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "jit/cuda/cublaslt.h"
#include "scheduler/plan.h"

namespace tj::jit::cuda {

/// A GEMM whose pointwise epilogue cuBLASLt computes in the same call.
struct FusedGemm {
  Epilogue epilogue = Epilogue::none;
  int32_t bias_arg = -1;  // argument of the epilogue kernel holding the bias
  int32_t out_arg = -1;   // argument of the epilogue kernel it stores to
};

/// Whether step `s + 1` of `p` is an epilogue cuBLASLt can apply to the
/// GEMM of step `s`: the GEMM's output is a temporary only that step reads,
/// and the step computes act(C + bias) or act(C) with act in {none, relu,
/// gelu-tanh} (cuBLASLt's GELU is the tanh form), a bias broadcast over
/// rows, stored densely in C's dtype.
std::optional<FusedGemm> match_epilogue(const sched::Plan& p, size_t s);

/// The name of the epilogue match_epilogue finds for step `s` ("bias",
/// "relu", "bias_relu", "gelu", "bias_gelu"), or "" (for tests and logs).
std::string gemm_epilogue_name(const sched::Plan& p, size_t s);

/// Runs matmul kernel `k` with cuBLASLt on buffers `ptrs` (one per kernel
/// argument), with `epilogue` and `bias`; false when cuBLASLt cannot.
bool run_cublaslt(const ir::Kernel& k, const std::vector<void*>& ptrs, int dev, bool allow_tf32,
                  Epilogue epilogue = Epilogue::none, const void* bias = nullptr);

}  // namespace tj::jit::cuda
