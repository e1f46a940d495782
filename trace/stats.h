// Internal counters behind tj::stats().
#pragma once

#include <cstdint>

#include "ir/graph.h"
#include "tilejit/config.h"

namespace tj::trace {

void count_op();
void record_flush(FlushReason reason, int64_t graph_nodes, const ir::Graph& g,
                  int64_t tensors_materialized);

}  // namespace tj::trace
