// Store options from the environment, sizes, durations and the log sink.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "cache/cache_log.h"
#include "cache/kernel_store.h"
#include "ir/bytes.h"
#include "ir/log.h"

namespace tj::cache {

namespace {

std::mutex& sink_mutex() {
  static std::mutex mu;
  return mu;
}

LogSink& sink() {
  static LogSink s;
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Splits "12.5G" into 12.5 and "g"; false when the number part is bad.
bool split_number(std::string_view in, double* value, std::string* unit) {
  std::string s = trim(in);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return false;
  std::string num = s.substr(0, i);
  if (num.find('.') != num.rfind('.')) return false;
  char* end = nullptr;
  *value = std::strtod(num.c_str(), &end);
  if (!end || *end != 0 || !std::isfinite(*value)) return false;
  *unit = lower(trim(std::string_view(s).substr(i)));
  return true;
}

}  // namespace

namespace detail {

void emit(Severity s, std::string_view msg) {
  std::lock_guard lock(sink_mutex());
  if (sink()) {
    sink()(s, msg);
    return;
  }
  const LogLevel level = s == Severity::warn   ? LogLevel::warn
                         : s == Severity::info ? LogLevel::info
                                               : LogLevel::debug;
  if (log_enabled(level)) log_line(level, msg);
}

}  // namespace detail

void set_log_sink(LogSink s) {
  std::lock_guard lock(sink_mutex());
  sink() = std::move(s);
}

std::string_view mode_name(Mode m) {
  switch (m) {
    case Mode::off:
      return "off";
    case Mode::readonly:
      return "readonly";
    case Mode::on:
      return "on";
  }
  return "?";
}

std::optional<int64_t> parse_size(std::string_view s) {
  double v = 0;
  std::string unit;
  if (!split_number(s, &v, &unit)) return std::nullopt;
  double mult = 1;
  if (unit.empty() || unit == "b")
    mult = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib")
    mult = 1024.0;
  else if (unit == "m" || unit == "mb" || unit == "mib")
    mult = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tb" || unit == "tib")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else
    return std::nullopt;
  double bytes = v * mult;
  if (bytes > 9.0e18) return std::nullopt;
  return static_cast<int64_t>(std::llround(bytes));
}

std::optional<int64_t> parse_duration(std::string_view s) {
  double v = 0;
  std::string unit;
  if (!split_number(s, &v, &unit)) return std::nullopt;
  double mult = 0;
  if (unit.empty() || unit == "s" || unit == "sec" || unit == "secs")
    mult = 1;
  else if (unit == "m" || unit == "min" || unit == "mins")
    mult = 60;
  else if (unit == "h" || unit == "hour" || unit == "hours")
    mult = 3600;
  else if (unit == "d" || unit == "day" || unit == "days")
    mult = 86400;
  else if (unit == "w" || unit == "week" || unit == "weeks")
    mult = 7 * 86400;
  else
    return std::nullopt;
  return static_cast<int64_t>(std::llround(v * mult));
}

std::string format_size(int64_t bytes) {
  return format_bytes(static_cast<uint64_t>(std::max<int64_t>(bytes, 0)));
}

std::string default_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg == '/') return std::string(xdg) + "/tilejit";
  const char* home = std::getenv("HOME");
  if (home && *home == '/') return std::string(home) + "/.cache/tilejit";
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* out = nullptr;
  if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &out) == 0 && out && out->pw_dir &&
      out->pw_dir[0] == '/')
    return std::string(out->pw_dir) + "/.cache/tilejit";
  return {};
}

StoreOptions options_from_env() {
  StoreOptions o;
  if (const char* v = std::getenv("TILEJIT_CACHE")) {
    std::string s = lower(trim(v));
    if (s == "on" || s == "1" || s == "true")
      o.mode = Mode::on;
    else if (s == "readonly" || s == "ro" || s == "read-only")
      o.mode = Mode::readonly;
    else if (s == "off" || s == "0" || s == "false")
      o.mode = Mode::off;
    else
      detail::log(Severity::warn,
                  "ignoring TILEJIT_CACHE={}; valid values: on (the default), readonly, off", v);
  }
  if (const char* v = std::getenv("TILEJIT_CACHE_DIR"); v && *v) o.dir = v;
  if (o.dir.empty()) o.dir = default_dir();
  if (const char* v = std::getenv("TILEJIT_CACHE_SHARED")) {
    std::string s = lower(trim(v));
    if (s == "1" || s == "on" || s == "true")
      o.shared = true;
    else if (s == "0" || s == "off" || s == "false")
      o.shared = false;
    else
      detail::log(Severity::warn,
                  "ignoring TILEJIT_CACHE_SHARED={}; valid values: 1 (a cache several users share, "
                  "who are all trusted: see cache/README.md) or 0 (your own cache, the default)",
                  v);
  }
  if (const char* v = std::getenv("TILEJIT_CACHE_MAX_BYTES")) {
    auto n = parse_size(v);
    if (n && *n > 0)
      o.max_bytes = *n;
    else
      detail::log(Severity::warn,
                  "ignoring TILEJIT_CACHE_MAX_BYTES={}; valid values: a positive size in bytes "
                  "with an optional K, M, G or T suffix, e.g. 500M or 2G (default 1G)",
                  v);
  }
  return o;
}

}  // namespace tj::cache
