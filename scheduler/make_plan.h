// make_plan(): the whole lowering pipeline, Graph → Plan, as a list of
// passes. Each pass is a function in its own file (scheduler/<pass>.h)
// whose header states what it takes and gives.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "scheduler/plan.h"

namespace tj::sched {

/// Called after each pass with its name and its result as text (the graph,
/// the fusion decision or the kernels): TILEJIT_DUMP_DIR writes them.
using PassDump = std::function<void(std::string_view pass, const std::string& text)>;

/// split_reductions → fuse → lower → coalesce → tile → name → verify.
Plan make_plan(const ir::Graph& g, const Target& target, const PassDump& dump = {});

}  // namespace tj::sched
