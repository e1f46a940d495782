// The plan runner: one loop that runs a plan on any backend.
//
// Pre: `prepared` = backend.prepare(p) and p was made for the structure of
// `g` (the plan cache's promise). Post: one contiguous BufferView per graph
// output on the backend's device, outputs that are the same node sharing a
// buffer. Graph inputs are bound by slot and outputs allocated before the
// first step; a temporary is allocated when a step first asks for it and
// released after the last step that uses it, so the backend's caching
// allocator hands its memory to later temporaries (on a GPU, stream order
// makes the reuse safe).
#pragma once

#include <string>
#include <vector>

#include "jit/backend.h"

namespace tj::jit {

/// `calls` (when given) receives the launches and library calls queued.
/// A plan with gathers (Plan::check_buffer) waits for its run to read its
/// check cell: an out-of-range index is put in `index_error` (when given;
/// the outputs are complete, with 0 where the index was bad) or thrown as
/// a tj::Error.
/// `donated`: how many outputs and temporaries were written into the memory
/// of an input the graph allows it for (ir::Graph::donatable,
/// sched::PlanBuffer::donor).
std::vector<BufferView> run_plan(const ir::Graph& g, const sched::Plan& p,
                                 const PreparedPlan& prepared, Backend& backend,
                                 int64_t* calls = nullptr, std::string* index_error = nullptr,
                                 int64_t* donated = nullptr);

}  // namespace tj::jit
