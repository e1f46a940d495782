// Source locations of traced ops, for TILEJIT_TRACE and TILEJIT_DUMP_DIR
// (see observe.h): where in the user's program each graph node was traced.
// Internal to jit/observe/observe.cpp and jit/observe/origins.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace tj::obs {

/// Where an op was called in the user's program; empty when unknown.
struct Location {
  std::string file, func;
  int line = 0;
  bool known() const { return !file.empty() || !func.empty(); }
};

/// Symbolizes the stacks `ids` (those not done yet) and returns where each
/// was called from.
std::unordered_map<uint32_t, Location> locate(std::vector<uint32_t> ids);
/// Locations of every node of g that has one.
std::unordered_map<uint32_t, Location> locate(const ir::Graph& g);
/// "file.cpp:12" (or the function without debug information).
std::string short_where(const Location& l);
/// "/path/to/file.cpp:12 (function)".
std::string long_where(const Location& l);
/// The location of node `n` of `g` in `locs`, nullptr when unknown.
const Location* where(const std::unordered_map<uint32_t, Location>& locs, const ir::Graph& g,
                      ir::NodeId n);

}  // namespace tj::obs
