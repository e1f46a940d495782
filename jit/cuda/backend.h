// The CUDA half of the executor: compiles a plan's kernels with NVRTC (or
// loads them from the kernel cache), loads them on a device, and runs a
// plan there: buffers from the caching device allocator, kernels launched
// in order on the device's stream, GEMMs through cuBLASLt where it can take
// them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ir/graph.h"
#include "scheduler/plan.h"

namespace tj::jit {

/// A plan's kernels, loaded on one device.
struct CudaPlan;

struct CudaPrepareStats {
  int64_t compiled = 0, disk_hits = 0, mem_hits = 0;
  double compile_ms = 0;
};

/// The epilogue cuBLASLt computes with the GEMM of step `step` ("bias",
/// "relu", "bias_relu", "gelu", "bias_gelu": the next step is then not
/// launched), or "" when that step runs as planned.
std::string cuda_gemm_epilogue(const sched::Plan& p, size_t step);

/// The scheduler's view of device `dev`.
sched::Target cuda_target(int dev);

/// Compiles (or finds) and loads every kernel of `p` on device `dev`.
std::shared_ptr<const CudaPlan> cuda_prepare(const sched::Plan& p, int dev,
                                             CudaPrepareStats* stats);

/// Runs plan `p` for graph `g` on device `dev`; returns one contiguous
/// device buffer per output, as `execute` does on the CPU. `launches`
/// receives the number of kernels and GEMM calls queued.
std::vector<BufferView> cuda_run(const ir::Graph& g, const sched::Plan& p, const CudaPlan& cp,
                                 int dev, int64_t* launches);

}  // namespace tj::jit
