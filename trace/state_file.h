// The state file of nn::Module::save and optim::Optimizer::save: named
// tensors with their dtypes and shapes, and a checksum (the format is
// documented in include/tilejit/nn.h).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tilejit/tensor.h"

namespace tj::trace {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// Writes `entries` to `path`: into a new file beside it, flushed to the
/// disk, then renamed over `path`, so a crash or a full disk leaves the old
/// file whole. `op` names the caller in errors ("save").
void write_state_file(const std::string& path, const NamedTensors& entries, std::string_view op);

/// Reads and checks a whole file (magic, version, checksum, every field in
/// range) and returns its tensors on `device`. Throws tj::Error naming
/// `op` and `path` for a file that is not one or is damaged.
NamedTensors read_state_file(const std::string& path, Device device, std::string_view op);

}  // namespace tj::trace
