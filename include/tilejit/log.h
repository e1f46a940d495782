// tilejit — how much is written to stderr (TILEJIT_LOG, tj::config().log_level).
#pragma once

#include <cstdint>

namespace tj {

/// error: only errors; warn (default): also warnings; info: also compiles
/// and cache events; debug: also every flushed graph, plan and kernel.
enum class LogLevel : uint8_t { error, warn, info, debug };

}  // namespace tj
