// Dynamic sizes: one plan, and one compiled kernel each, for every value of
// a size that changes from flush to flush (a batch, a number of tokens, the
// length of a KV cache read through a view).
//
// The first flush of a graph structure is planned with constant sizes (the
// fastest code). When a graph of the same shape class (ir::Graph::shape_class:
// the same structure with every size erased, strides kept) is flushed with
// other sizes, the executor plans it too and generalize() compares the two plans. When they
// are the same plan except for sizes (of graph nodes, kernels' domains and
// buffers, strides and offsets), and every value that changed is a linear
// function a * s0 + b of one symbol s0 (the first size that changed), the
// result is a DynamicPlan: the kernels whose values changed mark them
// ir::Kernel::dynamic and read them at launch, so each compiles once for
// every value of s0. Anything else that changed (a split reduction, code
// that depends on a size, a kernel that is another kernel) keeps the
// structure static, with a reason.
//
// Two sizes fix a multiple of s0 (b = 0) and check it, but they fit any
// line: a plan with a value a * s0 + b, b != 0 (a KV cache grown with cat
// holds len and len + 1), is `affine` and the executor makes it dynamic
// only when a third size gives the same lines (rules_differ); sizes that
// change independently ([n, n * n]) stay static then.
//
// instantiate() makes the plan of another graph of the class without
// scheduling, after its guards hold: every size is the line of s0 or the
// constant it was in both plans, and every symbolic size, stride and offset
// is at least 2 (sizes 0 and 1 broadcast and get plans of their own, as
// Inductor specializes them). Strides and offsets that changed are lines
// of s0 checked like sizes (by two sizes for a multiple, by three for an
// affine plan); since every node's size is checked against its rule, a
// size that is not linear in s0 (s0 * s0) fails a guard instead of running. The tile of rows
// or elements a launch covers is chosen again for the instance's sizes (on
// the CPU it is the thread pool's grain, not part of the code); whatever
// else was decided for the first two sizes (splitting, fusion) is kept.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "scheduler/plan.h"

namespace tj::sched {

/// A size as s0 * num / den + constant (num != 0), or a constant (num == 0).
struct SymSize {
  int64_t num = 0, den = 1;
  int64_t constant = 0;
  bool symbolic() const { return num != 0; }
  /// The size for s0 = `s`; -1 when s0 * num / den is not a whole number.
  int64_t at(int64_t s) const;
  bool operator==(const SymSize&) const = default;
};

struct DynamicPlan {
  Plan plan;               // its dynamic kernels named for s0, sized for the graph it came from
  ir::NodeId symbol = -1;  // s0 is dim `symbol_dim` of this graph node
  int symbol_dim = 0;
  std::vector<std::vector<SymSize>> node_dims;  // per graph node, per dim
  // per kernel: each value it binds at launch, in ir::for_each_symbol's order
  std::vector<std::vector<SymSize>> kernel_symbols;
  std::vector<SymSize> buffer_numel;
  std::vector<int64_t> splits;  // sched::split_choices of both graphs: the others' must match
  int dynamic_kernels = 0;
  bool affine = false;  // some value is a * s0 + b with b != 0: a third size must confirm it
};

/// Empty when `a` and `b` (of one shape class) have the same symbol and the
/// same rule for every value (a third size confirms an affine plan so);
/// otherwise the first value whose rule differs.
std::string rules_differ(const DynamicPlan& a, const DynamicPlan& b);

struct Generalized {
  std::optional<DynamicPlan> plan;
  std::string why_not;  // when no plan: what kept the graph static
  // No plan because of this pair only (a size of 0 or 1 in one of them): a
  // later pair may generalize.
  bool try_again = false;
  // The first change: dim `dim` of node `node` went from `from` to `to`.
  ir::NodeId node = -1;
  int dim = 0;
  int64_t from = 0, to = 0;
};

/// Compares plan `pa` of graph `ga` with plan `pb` of graph `gb` (the same
/// shape class, other sizes) and makes the dynamic plan both are instances
/// of, sized for `gb`.
Generalized generalize(const ir::Graph& ga, const Plan& pa, const ir::Graph& gb, const Plan& pb,
                       const Target& target);

/// The plan of `g` (of `d`'s shape class) from `d`, or nothing when a guard
/// fails (`why_not` says which).
std::optional<Plan> instantiate(const DynamicPlan& d, const ir::Graph& g, const Target& target,
                                std::string* why_not = nullptr);

}  // namespace tj::sched
