// Readable text form of a graph, one node per line:
//
//   graph: 4 nodes, 1 output, hash 9c1f0a7e2b44d310
//     %0 = buffer f32[2, 3] in0 strides=[3, 1]
//     %1 = scalar f32[] s0=1.5
//     %2 = mul f32[2, 3] %0, %1
//     %3 = sum f32[2, 1] %2 axes=[1]
//   outputs: %3
#pragma once

#include <string>

#include "ir/graph.h"

namespace tj::ir {

std::string to_string(const Graph& g);
/// One node without the leading "%N = ".
std::string node_str(const Graph& g, NodeId id);

}  // namespace tj::ir
