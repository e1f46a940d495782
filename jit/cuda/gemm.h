// Matmul kernels of a plan on CUDA: cuBLASLt where it can take the dtypes
// and layout (jit/cuda/cublaslt.h), and the pointwise epilogues it can
// compute in the same call (bias, ReLU, GELU-tanh), which then replace the
// plan's next step.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "jit/cuda/cublaslt.h"
#include "jit/gemm_epilogue.h"
#include "scheduler/plan.h"

namespace tj::jit::cuda {

/// Whether step `s + 1` of `p` is an epilogue cuBLASLt can apply to the
/// GEMM of step `s` (jit/gemm_epilogue.h): f32, f16 or bf16, no batch
/// dimensions, GELU only in its tanh form (cuBLASLt's).
std::optional<FusedGemm> match_epilogue(const sched::Plan& p, size_t s);

/// The name of the epilogue match_epilogue finds for step `s` ("bias",
/// "relu", "bias_relu", "gelu", "bias_gelu"), or "" (for tests and logs).
std::string gemm_epilogue_name(const sched::Plan& p, size_t s);

/// Runs matmul kernel `k` with cuBLASLt on buffers `ptrs` (one per kernel
/// argument), with `epilogue` and `bias`; false when cuBLASLt cannot.
bool run_cublaslt(const ir::Kernel& k, const std::vector<void*>& ptrs, int dev, bool allow_tf32,
                  Epilogue epilogue = Epilogue::none, const void* bias = nullptr);

}  // namespace tj::jit::cuda
