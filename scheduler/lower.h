// lower(): turns each group of a Schedule into a Kernel and the whole into a
// Plan (buffers and launch order).
//
// Pre: s = fuse(g). Post: one step per group (kernels deduplicated when two
// groups lower to identical Kernel IR); kernels have uncoalesced domains and
// no tile config yet (see coalesce() and choose_tile()). Views become
// accesses with compile-time strides; inlined producers are recomputed in
// the kernel; inlined reductions become stages of their row kernel.
#pragma once

#include "scheduler/plan.h"
#include "scheduler/schedule.h"

namespace tj::sched {

Plan lower(const ir::Graph& g, const Schedule& s);

}  // namespace tj::sched
