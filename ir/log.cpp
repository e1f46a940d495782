#include "ir/log.h"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace tj {

namespace {

LogLevel from_environment() {
  const char* v = std::getenv("TILEJIT_LOG");
  if (!v) return LogLevel::warn;
  return parse_log_level(v).value_or(LogLevel::warn);  // the tracer warns about a bad value
}

std::atomic<LogLevel>& process_level() {
  static std::atomic<LogLevel> level{from_environment()};
  return level;
}

thread_local int t_override = -1;

}  // namespace

LogLevel log_level() {
  const int t = t_override;
  return t >= 0 ? static_cast<LogLevel>(t) : process_level().load(std::memory_order_relaxed);
}

void set_log_level(LogLevel level) { process_level().store(level, std::memory_order_relaxed); }

void set_thread_log_level(std::optional<LogLevel> level) {
  t_override = level ? static_cast<int>(*level) : -1;
}

std::optional<LogLevel> thread_log_level() {
  if (t_override < 0) return std::nullopt;
  return static_cast<LogLevel>(t_override);
}

std::optional<LogLevel> parse_log_level(std::string_view s) {
  std::string l(s);
  for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "error") return LogLevel::error;
  if (l == "warn" || l == "warning") return LogLevel::warn;
  if (l == "info") return LogLevel::info;
  if (l == "debug") return LogLevel::debug;
  return std::nullopt;
}

void log_line(LogLevel level, std::string_view msg) {
  static std::mutex mu;
  const char* tag = level == LogLevel::error  ? "error: "
                    : level == LogLevel::warn ? "warning: "
                                              : "";
  std::lock_guard lock(mu);
  std::fprintf(stderr, "tilejit: %s%.*s\n", tag, static_cast<int>(msg.size()), msg.data());
}

}  // namespace tj
