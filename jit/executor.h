// The executor: runs a graph on a device. The plan cache (plans by graph
// structure and backend) is looked up first; a miss schedules and lowers
// the graph (scheduler/make_plan.h) and has the backend prepare its
// kernels; then the plan runner (jit/run_plan.h) launches the steps.
//
// Pre: `g` passed ir::verify. Post: one contiguous BufferView per output, in
// the output's dtype and shape, on `device`; outputs that are the same node
// share a buffer.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "scheduler/plan.h"

namespace tj::jit {

/// Runs g's plan (made, or found in the plan cache). An out-of-range gather
/// index goes to `index_error` when given (the outputs are still returned;
/// see run_plan), else it is thrown as a tj::Error.
std::vector<BufferView> execute(const ir::Graph& g, Device device = Device::cpu(),
                                std::string* index_error = nullptr);

struct JitStats {
  int64_t plan_hits = 0, plan_misses = 0, kernels_compiled = 0, kernels_launched = 0;
  int64_t disk_hits = 0, mem_hits = 0, buffers_donated = 0;
  int64_t dynamic_compiles = 0, dynamic_hits = 0;
  double compile_ms = 0;
};
JitStats jit_stats();
void reset_jit_stats();
/// True when a CPU plan for this structural hash is in memory (the lookup a
/// plan-cache hit performs; used to measure it).
bool plan_cached(uint64_t graph_hash);
/// Plans held by the plan cache (at most options().plan_cache_size).
size_t plans_in_memory();

/// Called with every new plan, after scheduling and before its kernels are
/// compiled (test support: the test suite compiles each kernel's CUDA form
/// with NVRTC through it). Not thread-safe to change while flushes run.
/// Returns the hook it replaces.
std::function<void(const sched::Plan&)> set_new_plan_hook(
    std::function<void(const sched::Plan&)> hook);

/// Called after every execute() with the graph and its outputs, on the
/// device (test support: programs_test and the fuzzer check every flush
/// against the reference evaluator through it). The inputs that an output
/// was allowed to overwrite are copies taken before the run. Not thread-safe to change while
/// flushes run.
void set_executed_hook(std::function<void(const ir::Graph&, const std::vector<BufferView>&)> hook);

}  // namespace tj::jit
