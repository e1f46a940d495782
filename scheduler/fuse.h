// fuse(): partitions a graph into kernels.
//
// Pre: g passed ir::verify. Post: every graph output and every matmul and
// cat result is materialized; every group's roots are materialized; every
// non-materialized reduction belongs to exactly one row group; groups are in
// an order where each reads only buffers written by earlier groups.
//
// Rules, in the order they are applied:
//  1. Outputs, matmul and cat results are materialized. A matmul operand that
//     is computed (not a view of a buffer) is materialized, and so is one
//     whose strides a GEMM cannot take. The source of a gather (an indirect
//     load) is read from memory too: a computed one is materialized; its
//     index is an ordinary inlined value.
//  2. Views are index arithmetic. A reshape that merges dims of a computed
//     value (not affine in the kernel's index) materializes that value; a
//     reshape of a buffer view whose strides do not allow it materializes
//     the view (a copy).
//  3. Reductions are never recomputed. A reduction joins the row kernel of
//     its consumers when they run over the same rows (same input shape and
//     axes): reduce -> broadcast -> pointwise -> reduce chains (softmax,
//     layer_norm, var) become one kernel. Otherwise it is materialized: when
//     a value of another row space flows in, when a view other than
//     broadcasting or size-1 reshapes is applied to it, or when its consumer
//     does not run over those rows. A reduction used by two kernels is
//     materialized.
//  4. Pointwise producers are recomputed in every kernel that uses them
//     (memory traffic costs more than arithmetic) unless a producer shared
//     by several kernels has more than kRecomputeBudget ops beneath it.
//  5. A kernel inlines at most kMaxKernelOps ops.
//  6. Materialized nodes with the same domain (or the same rows) and no
//     dependency between them share one kernel (horizontal fusion).
//  7. A pointwise kernel whose results a later pointwise kernel of the same
//     domain reads element for element (at the index it computes) is
//     computed in that kernel, which stores both (vertical fusion): a
//     gradient that is kept, the optimizer moments computed from it and
//     the parameter they update are one kernel. Not across a dependency on
//     a third kernel, a view or broadcast of the results, or a kernel a
//     backend may run as a GEMM's epilogue.
#pragma once

#include <optional>

#include "ir/graph.h"
#include "scheduler/schedule.h"

namespace tj::sched {

inline constexpr int kRecomputeBudget = 16;
/// At most this many inlined ops per kernel: longer chains are cut by
/// materializing a value every kMaxKernelOps ops (keeps sources and compile
/// times small; one extra memory pass per 128 ops costs little).
inline constexpr int kMaxKernelOps = 128;

Schedule fuse(const ir::Graph& g);

/// Strides of a movement chain over a buffer (a graph input or a
/// materialized node), over the node's own dims; nullopt when the chain
/// reaches a computed node or a reshape the layout cannot express.
struct BufferRef {
  ir::NodeId buffer = -1;  // the Buffer leaf or materialized node
  Strides strides;
  int64_t offset = 0;
};
/// With skip_self, n itself is looked through even when it is materialized
/// (used when computing n).
std::optional<BufferRef> buffer_view(const ir::Graph& g, const std::vector<char>& materialized,
                                     ir::NodeId n, bool skip_self = false);

}  // namespace tj::sched
