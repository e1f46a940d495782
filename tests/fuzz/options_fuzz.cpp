// libFuzzer target: every text tilejit reads from the environment or a
// file it does not own. The input is split at NUL bytes into values for
// TILEJIT_* variables and the parsers behind them (sizes, durations, log
// levels, cache keys), and written as a cache key file: none may crash,
// hang or throw anything but tj::Error.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "cache/kernel_store.h"
#include "cache/trust.h"
#include "ir/log.h"
#include "trace/config_sync.h"

namespace {

const char* const kVars[] = {"TILEJIT_LAZY",
                             "TILEJIT_DEVICE",
                             "TILEJIT_MAX_TRACE",
                             "TILEJIT_LOG",
                             "TILEJIT_CACHE",
                             "TILEJIT_CACHE_MAX_BYTES",
                             "TILEJIT_CACHE_SHARED",
                             "TILEJIT_TRACE",
                             "TILEJIT_DUMP_DIR",
                             "TILEJIT_TIMELINE",
                             "TILEJIT_STATS",
                             "TILEJIT_ALLOW_TF32",
                             "TILEJIT_COMPILE_TIMEOUT",
                             "TILEJIT_PLAN_CACHE_SIZE",
                             "TILEJIT_ONEDNN"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0)
      parts.emplace_back();
    else
      parts.back() += static_cast<char>(data[i]);
  }
  tj::cache::set_log_sink([](tj::cache::Severity, std::string_view) {});
  for (const std::string& p : parts) {
    (void)tj::cache::parse_size(p);
    (void)tj::cache::parse_duration(p);
    (void)tj::parse_log_level(p);
    (void)tj::cache::Key::from_hex(p);
  }
  for (size_t i = 0; i < std::size(kVars); ++i)
    ::setenv(kVars[i], parts[i % parts.size()].c_str(), 1);
  ::setenv("TILEJIT_CACHE_DIR", "/nonexistent/tilejit-fuzz", 1);
  std::FILE* saved = stderr;  // invalid values warn: keep the fuzzer's output readable
  stderr = std::fopen("/dev/null", "w");
  (void)tj::trace::config_from_environment();
  (void)tj::cache::options_from_env();
  std::fclose(stderr);
  stderr = saved;
  // A key file with these bytes.
  char dir[] = "/tmp/tj_options_fuzz_XXXXXX";
  if (::mkdtemp(dir)) {
    const std::string key = std::string(dir) + "/cache.key";
    std::ofstream(key, std::ios::binary)
        .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    ::chmod(key.c_str(), 0600);
    std::string err;
    (void)tj::cache::load_key(key, false, false, &err);
    ::unlink(key.c_str());
    ::rmdir(dir);
  }
  return 0;
}
