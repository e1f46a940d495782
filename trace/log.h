// Logging to stderr, filtered by TILEJIT_LOG (tj::config().log_level).
// Normal events are logged at info/debug and never read as errors.
#pragma once

#include <fmt/format.h>

#include <string_view>

#include "tilejit/config.h"

namespace tj {

void log_line(LogLevel level, std::string_view msg);

template <class... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (level > config().log_level) return;
  log_line(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace tj
