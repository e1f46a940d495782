// libFuzzer target: a kernel cache database file with any bytes (a damaged
// disk, a truncated copy, an attacker's file in the user's own directory).
// Opening, listing, reading, verifying, writing and pruning must not crash,
// and the store must keep working (a damaged file is moved aside).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cache/kernel_store.h"
#include "cache_test_util.h"

// With TILEJIT_FUZZ_SEED_DIR set, a genuine small database (three entries,
// with their MACs) is written there first, so that mutation starts from a
// file SQLite opens rather than from bytes it rejects at the header.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace tj::cache;
  const char* seed_dir = std::getenv("TILEJIT_FUZZ_SEED_DIR");
  if (!seed_dir || !*seed_dir) return 0;
  set_log_sink([](Severity, std::string_view) {});
  char root[] = "/tmp/tj_cache_db_seed_XXXXXX";
  if (!::mkdtemp(root)) return 0;
  const std::string dir = std::string(root) + "/cache";
  {
    StoreOptions o;
    o.dir = dir;
    o.key_file = std::string(root) + "/key";
    Store s(o);
    s.put(testing::fake_entry("void tj_a() {}", 300));
    s.put(testing::fake_entry("void tj_b() {}", 200, "cuda", "softmax"));
    s.put(testing::fake_entry("void tj_c() {}", 100, "cpu", "sum"));
  }
  std::error_code ec;
  std::filesystem::copy_file(dir + "/kernels-v" + std::to_string(kFormatVersion) + ".db",
                             std::string(seed_dir) + "/seed-genuine.db",
                             std::filesystem::copy_options::overwrite_existing, ec);
  std::filesystem::remove_all(root, ec);
  return 0;
}

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
