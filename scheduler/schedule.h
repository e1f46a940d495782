// Schedule: the fusion decision for one graph.
//
// Every graph node is either *materialized* (its value is written to a
// buffer: graph outputs, matmul, cat, scatter, scan and sort results, and whatever fusion
// decided must not be recomputed) or *inlined* into the kernels that use it.
// A group is one kernel: its roots are materialized nodes computed together
// over one domain. Pointwise groups run over the roots' shape; row groups run
// over a reduction's input shape with its reduced axes innermost; matmul
// groups are one GEMM.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace tj::sched {

struct Group {
  // scatter_init writes a Scatter node's destination into its buffer, over
  // the destination's shape; scatter then writes the source at the indices,
  // over the index's shape (see ir::Kernel::Kind::scatter). A scan group
  // computes its one root, a scan node, over its shape; a sort group its one
  // ArgSort node.
  enum class Kind : uint8_t {
    pointwise,
    row,
    matmul,
    conv,
    cat_part,
    scatter_init,
    scatter,
    scan,
    sort
  };
  Kind kind = Kind::pointwise;
  std::vector<ir::NodeId> roots;  // materialized nodes this kernel writes
  Shape shape;                    // pointwise: the domain; row: the reduced input shape (F)
  std::vector<int64_t> axes;      // row: the reduced axes of F
  ir::NodeId cat = -1;            // cat_part: the cat node and which input it copies
  int cat_input = -1;
  ir::NodeId scatter = -1;    // scatter_init, scatter: the Scatter node
  int epoch = 0;              // groups of one epoch only read buffers of earlier epochs
  bool reshape_copy = false;  // the root is a reshape computed over its input's shape
};

struct Schedule {
  std::vector<char> materialized;  // per node
  std::vector<Group> groups;       // in execution order
  /// Per node: why fusion materialized it instead of computing it inside
  /// the kernels that use it (empty for nodes it did not refuse: inlined
  /// ones, leaves, and values that are always written: outputs, matmul
  /// and cat results), as Inductor's WhyNoFuse.
  std::vector<std::string> why;
};

/// Readable summary: one line per group, then one per refused fusion.
std::string to_string(const ir::Graph& g, const Schedule& s);
/// "%7 (exp) materialized: <why>" for each refused fusion, in node order.
std::vector<std::string> refusals(const ir::Graph& g, const Schedule& s);

}  // namespace tj::sched
