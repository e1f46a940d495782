// split_reductions(): rewrites large reductions with few results into two
// stages so that every core has work.
//
// Pre: g passed ir::verify. Post: an equivalent graph (same outputs, same
// input and scalar slots) where each Sum/Prod/Max/Min with fewer than
// 2 x threads results, at least kSplitMinElements reduced elements per
// result, one reduced axis (or a buffer input) and an f32/f64/integer dtype
// reduces [.., S, R/S] over the last axis and then over S. S is the largest
// divisor of R not above 8 x threads with R/S >= 1024; without one the
// reduction is left alone. The origin map says which input node each node
// of the result stands for (the reshapes and both partial reductions of a
// split stand for the reduction they replace).
#pragma once

#include <vector>

#include "ir/graph.h"
#include "scheduler/plan.h"

namespace tj::sched {

inline constexpr int64_t kSplitMinElements = 32768;

struct SplitGraph {
  ir::Graph graph;
  /// Per node of `graph`: the node of the input graph it computes (all or,
  /// for the parts of a split reduction, part of it).
  std::vector<ir::NodeId> origin;
};

SplitGraph split_reductions(const ir::Graph& g, const Target& t);

/// Per node of `g`: the S its reduction is split into (0: not split). A
/// dynamic plan holds only for sizes that split alike (scheduler/dynamic.h):
/// a split changes a long reduction's accuracy, not only its speed.
std::vector<int64_t> split_choices(const ir::Graph& g, const Target& t);

}  // namespace tj::sched
