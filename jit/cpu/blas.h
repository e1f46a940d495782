// GEMM on the CPU through CBLAS (OpenBLAS or another), when the build found
// one: f32 and f64 matmul kernels whose operand layouts a GEMM can read.
#pragma once

#include <vector>

#include "ir/kernel.h"

namespace tj::jit::cpu {

/// Runs matmul kernel `k` on buffers `ptrs` (one per kernel argument) with
/// CBLAS; false, with nothing written, when there is no CBLAS or it cannot
/// take these dtypes or strides (the generated kernel then runs).
bool run_blas(const ir::Kernel& k, const std::vector<void*>& ptrs);

/// Whether this build has a CBLAS.
bool have_blas();

}  // namespace tj::jit::cpu
