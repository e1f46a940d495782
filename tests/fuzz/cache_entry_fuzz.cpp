// libFuzzer target: one database row with fuzzed fields (what a shared
// cache's other writer, or a forger, can put there): key, names, sizes,
// checksum, MAC, source and binary. get() and verify() must treat anything
// that is not a genuine entry as a miss, and never load it.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cache/kernel_store.h"
#include "cache_test_util.h"

namespace {

std::vector<std::string> split(const uint8_t* data, size_t size, size_t parts) {
  std::vector<std::string> out(parts);
  size_t k = 0;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0xff && k + 1 < parts) {
      ++k;
      continue;
    }
    out[k] += static_cast<char>(data[i]);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tj::cache;
  set_log_sink([](Severity, std::string_view) {});
  char root[] = "/tmp/tj_cache_entry_fuzz_XXXXXX";
  if (!::mkdtemp(root)) return 0;
  const std::string dir = std::string(root) + "/cache";
  StoreOptions o;
  o.dir = dir;
  o.key_file = std::string(root) + "/key";
  const Entry genuine = testing::fake_entry("genuine", 256);
  {
    Store s(o);
    s.put(genuine);
  }
  const std::vector<std::string> f = split(data, size, 9);
  const std::string db = dir + "/kernels-v" + std::to_string(kFormatVersion) + ".db";
  sqlite3* h = nullptr;
  if (sqlite3_open(db.c_str(), &h) == SQLITE_OK) {
    const std::string key = f[0].size() == 32 ? f[0] : genuine.key.hex();
    const char* sql[] = {
        "INSERT OR REPLACE INTO entries(key, backend, target, compiler, options, name, summary, "
        "signature, lib_version, source_bytes, binary_bytes, size, compile_ms, created, "
        "last_used_ns, hits) VALUES(?1, ?2, ?3, ?4, ?5, 'n', 's', 'sig', '0', ?6, ?7, 0, 0, 0, "
        "0, 0)",
        "INSERT OR REPLACE INTO payloads(key, checksum, mac, source, binary) VALUES(?1, ?8, ?9, "
        "?10, ?11)"};
    for (const char* q : sql) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(h, q, -1, &st, nullptr) != SQLITE_OK) continue;
      sqlite3_bind_text(st, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
      for (int i = 0; i < 4; ++i)
        sqlite3_bind_text(st, 2 + i, f[1 + i].data(), static_cast<int>(f[1 + i].size()),
                          SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 6, static_cast<int64_t>(f[6].size()));
      sqlite3_bind_int64(st, 7, static_cast<int64_t>(f[7].size()) - (size % 3));
      sqlite3_bind_int64(st, 8, static_cast<int64_t>(payload_checksum(f[6], f[7])));
      sqlite3_bind_blob(st, 9, f[8].data(), static_cast<int>(f[8].size()), SQLITE_TRANSIENT);
      sqlite3_bind_blob(st, 10, f[6].data(), static_cast<int>(f[6].size()), SQLITE_TRANSIENT);
      sqlite3_bind_blob(st, 11, f[7].data(), static_cast<int>(f[7].size()), SQLITE_TRANSIENT);
      sqlite3_step(st);
      sqlite3_finalize(st);
    }
    sqlite3_close(h);
  }
  {
    Store s(o);
    for (const Entry& e : s.list(false)) {
      std::optional<Entry> got = s.get(e.key);
      // Only what this user's key signed is ever handed out.
      if (got && got->binary != genuine.binary) __builtin_trap();
    }
    (void)s.verify(true);
  }
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return 0;
}
