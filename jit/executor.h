// Executes a graph: plan cache lookup (or schedule, lower, compile), then
// the plan's launches on the CPU thread pool or a CUDA device's stream.
//
// Pre: `g` passed ir::verify. Post: one contiguous BufferView per output, in
// the output's dtype and shape, on the graph's device; outputs that are the same node
// share a buffer.
#pragma once

#include <functional>
#include <vector>

#include "ir/graph.h"
#include "scheduler/plan.h"

namespace tj::jit {

/// Runs on `device` (the device of the graph's tensors).
std::vector<BufferView> execute(const ir::Graph& g, Device device = Device::cpu());

struct JitStats {
  int64_t plan_hits = 0, plan_misses = 0, kernels_compiled = 0, kernels_launched = 0;
  int64_t disk_hits = 0, mem_hits = 0;
  double compile_ms = 0;
};
JitStats jit_stats();
/// True when a plan for this structural hash is in memory (the lookup a
/// plan-cache hit performs; used to measure it).
bool plan_cached(uint64_t graph_hash);
void reset_jit_stats();

/// Called with every new plan, after scheduling and before its kernels are
/// compiled (test support: the test suite compiles each kernel's CUDA form
/// with NVRTC through it). Not thread-safe to change while flushes run.
void set_new_plan_hook(std::function<void(const sched::Plan&)> hook);

}  // namespace tj::jit
