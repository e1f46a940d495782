// make_plan(): the whole lowering pipeline, Graph → Plan.
#pragma once

#include "scheduler/plan.h"

namespace tj::sched {

/// split_reductions → fuse → lower → coalesce → tile → name → verify.
Plan make_plan(const ir::Graph& g, const Target& target);

}  // namespace tj::sched
