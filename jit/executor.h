// Executes a graph: plan cache lookup (or schedule, lower, compile), then
// the plan's launches on the CPU thread pool.
//
// Pre: `g` passed ir::verify. Post: one contiguous BufferView per output, in
// the output's dtype and shape, on the host; outputs that are the same node
// share a buffer.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace tj::jit {

std::vector<BufferView> execute(const ir::Graph& g);

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

}  // namespace tj::jit
