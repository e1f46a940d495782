// step_provenance(): what each step of a plan computes, as nodes of the
// graph make_plan was given (for TILEJIT_TRACE and TILEJIT_DUMP_DIR, which
// show the user's ops and where they were called). No kernel's name or
// source depends on it.
//
// Pre: p = lower(split.graph, s) (steps know their group), s = fuse(split.graph).
// Post: one StepOps per step of p, nodes and writes sorted, leaves left out.
#pragma once

#include <vector>

#include "scheduler/plan.h"
#include "scheduler/schedule.h"
#include "scheduler/split_reductions.h"

namespace tj::sched {

std::vector<StepOps> step_provenance(const SplitGraph& split, const Schedule& s, const Plan& p);

}  // namespace tj::sched
