// The graph verifier: checks every invariant of a Graph.
//
// Pre: none. Post: returns normally when the graph is valid; otherwise throws
// an internal error (a bug in whatever built the graph) naming the node.
// Checked: topological order, arity, every node's dtype and shape equal what
// ir::infer gives for its inputs and attributes, leaf slots in range and
// consistent with their data, outputs in range, no duplicate nodes.
#pragma once

#include "ir/graph.h"

namespace tj::ir {

void verify(const Graph& g);

}  // namespace tj::ir
