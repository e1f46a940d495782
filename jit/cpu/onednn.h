// GEMM on the CPU through oneDNN, when the build found it: matmul kernels
// whose dtypes and layouts oneDNN's optimized (not reference) matmul takes,
// with the pointwise epilogue (bias, ReLU, GELU) applied as post-ops in the
// same call. A primitive is made once per plan step and kept with the plan.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/kernel.h"
#include "jit/gemm_epilogue.h"

namespace tj::jit::cpu {

/// "oneDNN 2.6.3" when matmul runs through oneDNN in this build, else "".
std::string onednn_version();

/// A oneDNN matmul for one kernel and epilogue.
struct OnednnGemm;

/// The primitive for matmul kernel `k` with epilogue `e`; null when the
/// build has no oneDNN or oneDNN has no optimized matmul for these dtypes,
/// strides or sizes (the generated kernel then runs).
std::shared_ptr<const OnednnGemm> onednn_gemm(const ir::Kernel& k, Epilogue e);

/// What a oneDNN epilogue can fuse on this machine (jit/gemm_epilogue.h).
const EpilogueRules& onednn_epilogue_rules();

/// Runs `g` on buffers `ptrs` (one per kernel argument; C's may be the
/// epilogue's output) with `bias` (N values of C's dtype) when the epilogue
/// has one.
void run_onednn(const OnednnGemm& g, const ir::Kernel& k, const std::vector<void*>& ptrs,
                const void* bias);

/// A oneDNN convolution for one conv kernel (ir::Kernel's conv kernels).
struct OnednnConv;

/// The primitive for conv kernel `k`; null when the build has no oneDNN or
/// oneDNN has no optimized convolution for its dtype (the generated kernel
/// then runs).
std::shared_ptr<const OnednnConv> onednn_conv(const ir::Kernel& k);

/// Runs `c` on buffers `ptrs` (one per kernel argument).
void run_onednn(const OnednnConv& c, const ir::Kernel& k, const std::vector<void*>& ptrs);

}  // namespace tj::jit::cpu
