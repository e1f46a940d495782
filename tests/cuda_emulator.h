// Runs a graph's CUDA plan on the CPU: the CUDA printer's kernels compiled
// as C++ with tests/cuda_emulation.h, launched block by block with the same
// grid, block size, parameters and vector/scalar entry choice as the CUDA
// executor (GEMMs run the generated matmul kernel, never cuBLASLt).
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "scheduler/plan.h"

namespace tj::testing {

struct EmulatedRun {
  std::vector<BufferView> outputs;  // host buffers, one per graph output
  int launches = 0;
  std::string error;  // compile failure (with the source), empty on success
};

/// `force_scalar`: launch every kernel's scalar entry even where its
/// arguments are aligned for the vector one.
EmulatedRun run_cuda_emulated(const ir::Graph& g, bool force_scalar);
/// The same with a given plan of `g` (made for emulated_target()), e.g. one
/// whose kernels read their sizes at launch.
EmulatedRun run_cuda_emulated(const ir::Graph& g, const sched::Plan& p, bool force_scalar);

/// The scheduler's target of the emulated GPU (an H100's 132 SMs).
sched::Target emulated_target();

}  // namespace tj::testing
