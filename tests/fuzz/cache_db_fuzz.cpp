// libFuzzer target: a kernel cache database file with any bytes (a damaged
// disk, a truncated copy, an attacker's file in the user's own directory).
// Opening, listing, reading, verifying, writing and pruning must not crash,
// and the store must keep working (a damaged file is moved aside).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "cache/kernel_store.h"
#include "cache_test_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tj::cache;
  set_log_sink([](Severity, std::string_view) {});
  char root[] = "/tmp/tj_cache_db_fuzz_XXXXXX";
  if (!::mkdtemp(root)) return 0;
  const std::string dir = std::string(root) + "/cache";
  ::mkdir(dir.c_str(), 0700);
  std::ofstream(dir + "/kernels-v" + std::to_string(kFormatVersion) + ".db", std::ios::binary)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  {
    StoreOptions o;
    o.dir = dir;
    o.key_file = std::string(root) + "/key";
    Store s(o);
    for (const Entry& e : s.list(true)) (void)s.get(e.key, e.key_fields());
    (void)s.verify(false);
    Entry e = testing::fake_entry("after the fuzzed file", 512);
    (void)s.put(e);
    (void)s.get(e.key);
    (void)s.totals();
    (void)s.prune(int64_t{1} << 20, std::nullopt);
    (void)s.verify(true);
  }
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return 0;
}
