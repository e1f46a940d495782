#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "ir/check.h"
#include "ir/log.h"
#include "jit/observe/observe.h"
#include "tilejit/config.h"
#include "trace/config_sync.h"

extern char** environ;

namespace tj {

namespace {

// Every variable tilejit reads. A TILEJIT_* variable not listed here gets a
// warning: a typo must not silently do nothing.
constexpr const char* kKnownVars[] = {
    "TILEJIT_LAZY",
    "TILEJIT_DEVICE",
    "TILEJIT_MAX_TRACE",
    "TILEJIT_LOG",
    "TILEJIT_CACHE",
    "TILEJIT_CACHE_DIR",
    "TILEJIT_CACHE_MAX_BYTES",
    "TILEJIT_CACHE_SHARED",
    "TILEJIT_CXX",
    "TILEJIT_TRACE",
    "TILEJIT_DUMP_DIR",
    "TILEJIT_TIMELINE",
    "TILEJIT_STATS",
    "TILEJIT_CUDA_HOME",
    "TILEJIT_ALLOW_TF32",
    "TILEJIT_COMPILE_TIMEOUT",
    "TILEJIT_PLAN_CACHE_SIZE",
    "TILEJIT_ONEDNN",
    "TILEJIT_DYNAMIC",
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
    if (std::optional<LogLevel> l = parse_log_level(v))
      c.log_level = *l;
    else
      warn_invalid("TILEJIT_LOG", v, "error, warn (default), info, debug");
  }
  if (const char* v = std::getenv("TILEJIT_CXX")) c.cxx = v;
  if (const char* v = std::getenv("TILEJIT_PLAN_CACHE_SIZE")) {
    char* end = nullptr;
    const long long n = std::strtoll(v, &end, 10);
    if (end && *end == 0 && end != v && n >= 1)
      c.plan_cache_size = n;
    else
      warn_invalid("TILEJIT_PLAN_CACHE_SIZE", v, "a positive number of plans (default 1024)");
  }
  if (const char* v = std::getenv("TILEJIT_COMPILE_TIMEOUT")) {
    char* end = nullptr;
    const double t = std::strtod(v, &end);
    if (end && *end == 0 && end != v && t >= 0 && t <= 1e6)
      c.compile_timeout = t;
    else
      warn_invalid("TILEJIT_COMPILE_TIMEOUT", v,
                   "seconds a kernel compile may take (default 300), 0 for no limit");
  }
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
  if (const char* v = std::getenv("TILEJIT_ONEDNN")) {
    std::string s = lower(v);
    if (s == "1" || s == "true" || s == "on")
      c.onednn = true;
    else if (s == "0" || s == "false" || s == "off")
      c.onednn = false;
    else
      warn_invalid("TILEJIT_ONEDNN", v,
                   "1 (CPU matmuls through oneDNN, the default) or 0 (without it)");
  }
  if (const char* v = std::getenv("TILEJIT_DYNAMIC")) {
    std::string s = lower(v);
    if (s == "auto" || s == "1" || s == "on")
      c.dynamic = true;
    else if (s == "static" || s == "0" || s == "off")
      c.dynamic = false;
    else
      warn_invalid("TILEJIT_DYNAMIC", v,
                   "auto (a changing size becomes a symbol, the default) or static "
                   "(compile every new size)");
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

/// TILEJIT_TIMELINE and TILEJIT_STATS are written here, at exit, from the
/// process-wide configuration.
void at_exit();

Config& process_config() {
  // Never destroyed: the exit hook reads it after static destructors may
  // have run.
  static Config* c = [] {
    auto* p = new Config(from_environment());
    set_log_level(p->log_level);
    jit::set_default_options(trace::jit_options_of(*p));
    std::atexit(at_exit);
    return p;
  }();
  return *c;
}

thread_local Config* t_guarded = nullptr;  // the innermost ConfigGuard of this thread

void at_exit() {
  const Config& c = process_config();
  if (!c.timeline.empty()) obs::write_timeline(c.timeline);
  if (c.stats) std::fprintf(stderr, "%s\n", stats_line(stats()).c_str());
}

}  // namespace

Config& config() { return t_guarded ? *t_guarded : process_config(); }

ConfigGuard::ConfigGuard() : mine_(config()), outer_(t_guarded) { t_guarded = &mine_; }

ConfigGuard::~ConfigGuard() { t_guarded = outer_; }

namespace trace {

Config config_from_environment() { return from_environment(); }

jit::Options jit_options_of(const Config& c) {
  jit::Options o;
  o.cxx = c.cxx;
  o.cuda_home = c.cuda_home;
  o.allow_tf32 = c.allow_tf32;
  o.onednn = c.onednn;
  o.dynamic = c.dynamic;
  o.compile_timeout_s = c.compile_timeout;
  o.plan_cache_size = c.plan_cache_size;
  o.trace = c.trace;
  o.dump_dir = c.dump_dir;
  o.timeline = c.timeline;
  return o;
}

namespace {

thread_local jit::Options t_jit_options;

const jit::Options& synced_jit_options() {
  const Config& c = config();
  jit::Options& o = t_jit_options;
  // Usually nothing changed since the last call: compare, copy only when needed.
  if (o.cxx != c.cxx || o.cuda_home != c.cuda_home || o.allow_tf32 != c.allow_tf32 ||
      o.onednn != c.onednn || o.dynamic != c.dynamic || o.compile_timeout_s != c.compile_timeout ||
      o.plan_cache_size != c.plan_cache_size || o.trace != c.trace || o.dump_dir != c.dump_dir ||
      o.timeline != c.timeline)
    o = jit_options_of(c);
  return o;
}

}  // namespace

JitScope::JitScope() : scope_(synced_jit_options()), outer_level_(thread_log_level()) {
  set_thread_log_level(config().log_level);
}

JitScope::~JitScope() { set_thread_log_level(outer_level_); }

}  // namespace trace

}  // namespace tj
