// Executes a graph and returns its outputs as computed buffers.
//
// Pre: `g` passed ir::verify. Post: one contiguous BufferView per output, in
// the output's dtype and shape, on the host; outputs that are the same node
// share a buffer.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace tj::jit {

std::vector<BufferView> execute(const ir::Graph& g);

}  // namespace tj::jit
