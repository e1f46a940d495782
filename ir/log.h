// Logging to stderr, shared by every layer: "tilejit: warning: ..." lines
// filtered by a level. The process-wide level starts as TILEJIT_LOG says
// (warn by default); the tracer sets it from tj::config() (and a thread's
// ConfigGuard) before it calls into the lower layers. Normal events are
// logged at info/debug and never read as errors.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string_view>

#include "tilejit/log.h"

namespace tj {

/// The level in effect in the calling thread: its override if one is set,
/// else the process-wide level.
LogLevel log_level();
inline bool log_enabled(LogLevel level) { return level <= log_level(); }
void set_log_level(LogLevel level);
/// Overrides the level for the calling thread (nullopt removes the override).
void set_thread_log_level(std::optional<LogLevel> level);
/// The calling thread's override, if any.
std::optional<LogLevel> thread_log_level();

/// "error", "warn"/"warning", "info", "debug" (any case); nullopt otherwise.
std::optional<LogLevel> parse_log_level(std::string_view s);

/// Writes one line "tilejit: [error: |warning: ]msg" to stderr, whatever the level.
void log_line(LogLevel level, std::string_view msg);

template <class... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (!log_enabled(level)) return;
  log_line(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace tj
