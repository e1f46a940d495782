#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "ir/check.h"
#include "jit/observe/observe.h"
#include "tilejit/config.h"
#include "trace/log.h"

extern char** environ;

namespace tj {

namespace {

// Every variable tilejit reads. A TILEJIT_* variable not listed here gets a
// warning: a typo must not silently do nothing.
constexpr const char* kKnownVars[] = {
    "TILEJIT_LAZY",  "TILEJIT_DEVICE",    "TILEJIT_MAX_TRACE",       "TILEJIT_LOG",
    "TILEJIT_CACHE", "TILEJIT_CACHE_DIR", "TILEJIT_CACHE_MAX_BYTES", "TILEJIT_CXX",
    "TILEJIT_TRACE", "TILEJIT_DUMP_DIR",  "TILEJIT_TIMELINE",        "TILEJIT_STATS",
    "TILEJIT_CUDA_HOME", "TILEJIT_ALLOW_TF32",
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void warn_invalid(const char* var, const std::string& value, const char* valid) {
  std::fprintf(stderr, "tilejit: warning: ignoring %s=%s; valid values: %s\n", var, value.c_str(),
               valid);
}

std::optional<Device> parse_device(const std::string& v) {
  if (v == "cpu") return Device::cpu();
  if (v == "cuda") return Device::cuda(0);
  if (v.rfind("cuda:", 0) == 0) {
    char* end = nullptr;
    long idx = std::strtol(v.c_str() + 5, &end, 10);
    if (end && *end == 0 && end != v.c_str() + 5 && idx >= 0)
      return Device::cuda(static_cast<int>(idx));
  }
  throw Error("bad device");
}

Config from_environment() {
  Config c;
  if (const char* v = std::getenv("TILEJIT_LAZY")) {
    std::string s = lower(v);
    if (s == "1" || s == "true" || s == "on")
      c.lazy = true;
    else if (s == "0" || s == "false" || s == "off")
      c.lazy = false;
    else
      warn_invalid("TILEJIT_LAZY", v, "1 (lazy tracing, the default) or 0 (eager)");
  }
  if (const char* v = std::getenv("TILEJIT_DEVICE")) {
    std::string s = lower(v);
    if (s != "auto" && !s.empty()) {
      try {
        c.device = parse_device(s);
      } catch (const Error&) {
        warn_invalid("TILEJIT_DEVICE", v, "auto, cpu, cuda, cuda:N");
      }
    }
  }
  if (const char* v = std::getenv("TILEJIT_MAX_TRACE")) {
    char* end = nullptr;
    long long n = std::strtoll(v, &end, 10);
    if (end && *end == 0 && end != v && n >= 1)
      c.max_trace = n;
    else
      warn_invalid("TILEJIT_MAX_TRACE", v, "a positive number of ops (default 4096)");
  }
  if (const char* v = std::getenv("TILEJIT_LOG")) {
    std::string s = lower(v);
    if (s == "error")
      c.log_level = LogLevel::error;
    else if (s == "warn" || s == "warning")
      c.log_level = LogLevel::warn;
    else if (s == "info")
      c.log_level = LogLevel::info;
    else if (s == "debug")
      c.log_level = LogLevel::debug;
    else
      warn_invalid("TILEJIT_LOG", v, "error, warn (default), info, debug");
  }
  if (const char* v = std::getenv("TILEJIT_CXX")) c.cxx = v;
  if (const char* v = std::getenv("TILEJIT_TRACE")) {
    std::string s = lower(v);
    if (s == "1" || s == "true" || s == "on" || s == "stderr")
      c.trace = "stderr";
    else if (s == "0" || s == "false" || s == "off" || s.empty())
      c.trace.clear();
    else
      c.trace = v;  // a file path
  }
  if (const char* v = std::getenv("TILEJIT_DUMP_DIR")) {
    std::string s = lower(v);
    if (s == "1" || s == "true" || s == "on")
      warn_invalid("TILEJIT_DUMP_DIR", v, "a directory path (created when missing), or 0 (off)");
    else if (s != "0" && s != "off" && s != "false")
      c.dump_dir = v;
  }
  if (const char* v = std::getenv("TILEJIT_TIMELINE")) {
    std::string s = lower(v);
    if (s == "1" || s == "true" || s == "on")
      warn_invalid("TILEJIT_TIMELINE", v, "a file path such as timeline.json, or 0 (off)");
    else if (s != "0" && s != "off" && s != "false")
      c.timeline = v;
  }
  if (const char* v = std::getenv("TILEJIT_STATS")) {
    std::string s = lower(v);
    if (s == "1" || s == "true" || s == "on")
      c.stats = true;
    else if (s == "0" || s == "false" || s == "off")
      c.stats = false;
    else
      warn_invalid("TILEJIT_STATS", v, "1 (print a stats line at exit) or 0 (off, the default)");
  }
  if (const char* v = std::getenv("TILEJIT_CUDA_HOME")) c.cuda_home = v;
  if (const char* v = std::getenv("TILEJIT_ALLOW_TF32")) {
    std::string s = lower(v);
    if (s == "1" || s == "true" || s == "on")
      c.allow_tf32 = true;
    else if (s == "0" || s == "false" || s == "off")
      c.allow_tf32 = false;
    else
      warn_invalid("TILEJIT_ALLOW_TF32", v,
                   "1 (f32 matmuls on CUDA may use TF32) or 0 (full f32, the default)");
  }
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "TILEJIT_", 8) != 0) continue;
    std::string name(*e, std::strcspn(*e, "="));
    bool known = false;
    for (const char* k : kKnownVars) known = known || name == k;
    if (!known) {
      std::string list;
      for (const char* k : kKnownVars) list += std::string(list.empty() ? "" : ", ") + k;
      std::fprintf(stderr, "tilejit: warning: unknown variable %s is ignored; known: %s\n",
                   name.c_str(), list.c_str());
    }
  }
  return c;
}

}  // namespace

Config& config() {
  // Never destroyed: the exit hook (TILEJIT_STATS, TILEJIT_TIMELINE) reads it
  // after static destructors may have run.
  static Config* c = [] {
    auto* p = new Config(from_environment());
    obs::install_exit_hook();
    return p;
  }();
  return *c;
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
