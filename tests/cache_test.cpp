// The kernel cache: keys, the on-disk store, concurrency (threads and
// processes), fault injection, degraded modes and LRU eviction.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "cache/kernel_store.h"
#include "cache_test_util.h"

extern char** environ;

namespace tj::cache {
namespace {

namespace fs = std::filesystem;
using testing::fake_entry;

std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string& p, const std::string& data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Runs SQL on a database with a separate raw connection (another "process").
void raw_sql(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  sqlite3_busy_timeout(h, 5000);
  char* err = nullptr;
  int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

// Flips the byte `offset` bytes after the binary marker of `e` in the first
// of `files` that holds it. True when found.
bool flip_in_files(const std::vector<std::string>& files, const Entry& e, size_t offset) {
  std::string marker = e.binary.substr(0, 24);
  for (const std::string& f : files) {
    std::string data = read_file(f);
    size_t at = data.find(marker);
    if (at == std::string::npos) continue;
    data[at + offset] = static_cast<char>(data[at + offset] ^ 0x5a);
    int fd = ::open(f.c_str(), O_WRONLY);
    if (fd < 0) return false;
    bool ok = ::pwrite(fd, &data[at + offset], 1, static_cast<off_t>(at + offset)) == 1;
    ::close(fd);
    return ok;
  }
  return false;
}

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tj_cache_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/cache";
    set_log_sink([this](Severity s, std::string_view msg) {
      std::lock_guard lock(mu_);
      if (s == Severity::warn) warnings_.emplace_back(msg);
    });
  }
  void TearDown() override {
    set_log_sink({});
    if (std::getenv("TJ_CACHE_TEST_VERBOSE"))
      for (const std::string& w : warnings_) std::printf("  warning: %s\n", w.c_str());
    for (const std::string& m : mounts_) ::umount2(m.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::permissions(root_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(root_, ec);
  }

  StoreOptions opts(int64_t max_bytes = int64_t{1} << 30) {
    StoreOptions o;
    o.dir = dir_;
    o.max_bytes = max_bytes;
    return o;
  }
  std::string db() const { return dir_ + "/kernels-v" + std::to_string(kFormatVersion) + ".db"; }
  std::vector<std::string> warnings() {
    std::lock_guard lock(mu_);
    return warnings_;
  }
  int count_warnings(const std::string& needle) {
    int n = 0;
    for (const std::string& w : warnings()) n += w.find(needle) != std::string::npos;
    return n;
  }
  void clear_warnings() {
    std::lock_guard lock(mu_);
    warnings_.clear();
  }
  // Mounts a tmpfs at `path`; false (test should skip) when not permitted.
  bool mount_tmpfs(const std::string& path, const std::string& options) {
    fs::create_directories(path);
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) != 0) return false;
    mounts_.push_back(path);
    return true;
  }
  void expect_store_works(Store& s, const std::string& tag) {
    Entry e = fake_entry("after fault: " + tag, 3000);
    EXPECT_TRUE(s.put(e)) << s.status();
    auto got = s.get(e.key);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->binary, e.binary);
  }

  std::string root_, dir_;
  std::mutex mu_;
  std::vector<std::string> warnings_;
  std::vector<std::string> mounts_;
};

// ---- keys -------------------------------------------------------------------

TEST(CacheKey, ChangesWithEveryFieldThatChangesTheBinary) {
  KeyFields base{"cpu", "x86_64 -march=native (skylake-avx512)", "g++ 12.2.0", "-O3", "void k(){}"};
  Key k0 = make_key(base);
  EXPECT_EQ(make_key(base), k0) << "keys must be deterministic";
  std::vector<std::pair<const char*, KeyFields>> variants;
  for (auto field : {&KeyFields::backend, &KeyFields::target, &KeyFields::compiler,
                     &KeyFields::options, &KeyFields::source}) {
    KeyFields f = base;
    f.*field += "x";
    variants.emplace_back("appended", f);
    f = base;
    (f.*field).clear();
    variants.emplace_back("cleared", f);
  }
  std::vector<Key> seen{k0};
  for (auto& [how, f] : variants) {
    Key k = make_key(f);
    for (const Key& s : seen) EXPECT_FALSE(k == s) << how;
    seen.push_back(k);
  }
  // Length-prefixed: moving a character from one field to the next changes the key.
  KeyFields a = base, b = base;
  a.target = "sm_9";
  a.compiler = "0nvrtc";
  b.target = "sm_90";
  b.compiler = "nvrtc";
  EXPECT_FALSE(make_key(a) == make_key(b));
}

TEST(CacheKey, IgnoresFieldsForPeople) {
  Entry a = fake_entry("same source"), b = fake_entry("same source");
  b.name = "other_name";
  b.summary = "exp";
  b.signature = "f16[2] -> f16[2]";
  b.compile_ms = 99;
  b.binary = "different bytes from a nondeterministic compiler";
  EXPECT_EQ(make_key(a.key_fields()), make_key(b.key_fields()));
}

TEST(CacheKey, HexRoundTrip) {
  Key k = make_key({"cuda", "sm_90", "nvrtc 13.0", "", "src"});
  std::string h = k.hex();
  EXPECT_EQ(h.size(), 32u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  auto back = Key::from_hex(h);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, k);
  EXPECT_FALSE(Key::from_hex("xyz").has_value());
  EXPECT_FALSE(Key::from_hex(h.substr(1)).has_value());
  EXPECT_EQ(library_version(), "0.1.0");
}

TEST(CacheOptions, SizesAndDurations) {
  EXPECT_EQ(parse_size("500M"), int64_t{500} << 20);
  EXPECT_EQ(parse_size("2G"), int64_t{2} << 30);
  EXPECT_EQ(parse_size("2gb"), int64_t{2} << 30);
  EXPECT_EQ(parse_size("64k"), 65536);
  EXPECT_EQ(parse_size("1.5K"), 1536);
  EXPECT_EQ(parse_size("1024"), 1024);
  EXPECT_FALSE(parse_size("").has_value());
  EXPECT_FALSE(parse_size("abc").has_value());
  EXPECT_FALSE(parse_size("-5").has_value());
  EXPECT_FALSE(parse_size("5X").has_value());
  EXPECT_EQ(parse_duration("30s"), 30);
  EXPECT_EQ(parse_duration("10m"), 600);
  EXPECT_EQ(parse_duration("2h"), 7200);
  EXPECT_EQ(parse_duration("7d"), 7 * 86400);
  EXPECT_EQ(parse_duration("1w"), 7 * 86400);
  EXPECT_EQ(parse_duration("45"), 45);
  EXPECT_FALSE(parse_duration("soon").has_value());
  EXPECT_FALSE(parse_duration("3y").has_value());
  EXPECT_EQ(format_size(512), "512 B");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
}

TEST_F(CacheTest, OptionsFromEnvironment) {
  setenv("TILEJIT_CACHE", "readonly", 1);
  setenv("TILEJIT_CACHE_DIR", dir_.c_str(), 1);
  setenv("TILEJIT_CACHE_MAX_BYTES", "500M", 1);
  StoreOptions o = options_from_env();
  EXPECT_EQ(o.mode, Mode::readonly);
  EXPECT_EQ(o.dir, dir_);
  EXPECT_EQ(o.max_bytes, int64_t{500} << 20);
  EXPECT_TRUE(warnings().empty());

  setenv("TILEJIT_CACHE", "sometimes", 1);
  setenv("TILEJIT_CACHE_MAX_BYTES", "lots", 1);
  unsetenv("TILEJIT_CACHE_DIR");
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  o = options_from_env();
  EXPECT_EQ(o.mode, Mode::on);
  EXPECT_EQ(o.max_bytes, int64_t{1} << 30);
  EXPECT_EQ(o.dir, "/xdg/tilejit");
  ASSERT_EQ(warnings().size(), 2u);
  EXPECT_NE(warnings()[0].find("on (the default), readonly, off"), std::string::npos)
      << warnings()[0];
  EXPECT_NE(warnings()[1].find("500M or 2G"), std::string::npos) << warnings()[1];
  unsetenv("TILEJIT_CACHE");
  unsetenv("TILEJIT_CACHE_MAX_BYTES");
  unsetenv("XDG_CACHE_HOME");
}

// ---- basic behaviour ----------------------------------------------------------

TEST_F(CacheTest, MissingDirIsCreatedAndPutGetRoundTrips) {
  dir_ = root_ + "/a/b/c";
  Store s(opts());
  EXPECT_EQ(s.effective_mode(), Mode::on) << s.status();
  EXPECT_TRUE(fs::is_directory(dir_));
  Entry e = fake_entry("kernel one", 200000);
  EXPECT_FALSE(s.get(e.key).has_value());
  EXPECT_TRUE(s.put(e));
  EXPECT_TRUE(s.put(e)) << "storing twice is fine";
  auto got = s.get(e.key);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->source, e.source);
  EXPECT_EQ(got->binary, e.binary);
  EXPECT_EQ(got->name, e.name);
  EXPECT_EQ(got->summary, e.summary);
  EXPECT_EQ(got->signature, e.signature);
  EXPECT_EQ(got->target, e.target);
  EXPECT_EQ(got->compiler, e.compiler);
  EXPECT_DOUBLE_EQ(got->compile_ms, e.compile_ms);
  EXPECT_EQ(got->hits, 1);
  EXPECT_GT(got->created, 1600000000);

  // A second store (the next process) hits on disk.
  Store s2(opts());
  auto again = s2.get(e.key);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->binary, e.binary);
  EXPECT_EQ(again->hits, 2);
  auto l = s2.list();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_TRUE(l[0].binary.empty());
  EXPECT_EQ(l[0].binary_bytes, 200000);
  EXPECT_EQ(s2.list(true)[0].binary, e.binary);
  Store::Totals t = s2.totals();
  EXPECT_EQ(t.entries, 1);
  EXPECT_EQ(t.hits, 2);
  EXPECT_DOUBLE_EQ(t.compile_ms_saved, 2 * e.compile_ms);
  EXPECT_TRUE(warnings().empty());
}

TEST_F(CacheTest, StaleFieldsAreAMiss) {
  Store s(opts());
  Entry e = fake_entry("kernel");
  ASSERT_TRUE(s.put(e));
  KeyFields other = e.key_fields();
  other.compiler = "g++ 13.1.0";
  EXPECT_FALSE(s.get(e.key, other).has_value());
  EXPECT_TRUE(s.get(e.key, e.key_fields()).has_value());
  // An entry whose key is not make_key() of its fields is refused.
  Entry bad = e;
  bad.key.lo ^= 1;
  EXPECT_FALSE(s.put(bad));
}

TEST_F(CacheTest, FindPrefixAndRemove) {
  Store s(opts());
  std::vector<Entry> es;
  for (int i = 0; i < 40; ++i) {
    es.push_back(fake_entry("k" + std::to_string(i), 100));
    ASSERT_TRUE(s.put(es.back()));
  }
  std::string err;
  auto e = s.find_prefix(es[3].key.hex().substr(0, 12), &err);
  ASSERT_TRUE(e.has_value()) << err;
  EXPECT_EQ(e->key, es[3].key);
  EXPECT_EQ(e->source, es[3].source);
  EXPECT_FALSE(s.find_prefix("", &err).has_value());
  EXPECT_FALSE(s.find_prefix("zz", &err).has_value());
  EXPECT_NE(err.find("not a key"), std::string::npos);
  // 40 keys over 16 first digits: some digit is shared.
  std::map<char, int> first;
  for (auto& x : es) first[x.key.hex()[0]]++;
  for (auto& [c, n] : first) {
    if (n < 2) continue;
    EXPECT_FALSE(s.find_prefix(std::string(1, c), &err).has_value());
    EXPECT_NE(err.find("ambiguous"), std::string::npos) << err;
    break;
  }
  std::string missing = es[0].key.hex();
  missing[31] = missing[31] == '0' ? '1' : '0';
  EXPECT_FALSE(s.find_prefix(missing, &err).has_value());
  EXPECT_NE(err.find("no entry"), std::string::npos) << err;
  EXPECT_TRUE(s.remove(es[3].key));
  EXPECT_FALSE(s.remove(es[3].key));
  EXPECT_FALSE(s.get(es[3].key).has_value());
  EXPECT_EQ(s.list().size(), 39u);
}

TEST_F(CacheTest, ModeOffTouchesNothing) {
  StoreOptions o = opts();
  o.mode = Mode::off;
  Store s(o);
  EXPECT_EQ(s.effective_mode(), Mode::off);
  Entry e = fake_entry("k");
  EXPECT_FALSE(s.put(e));
  EXPECT_FALSE(s.get(e.key).has_value());
  EXPECT_FALSE(fs::exists(dir_));
  EXPECT_TRUE(warnings().empty());
}

// ---- concurrency ------------------------------------------------------------

TEST_F(CacheTest, ManyThreadsOneStore) {
  Store s(opts());
  constexpr int kThreads = 8, kKernels = 40, kShared = 20;
  std::atomic<int> errors{0}, compiles{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < kKernels; ++i) {
          std::string src =
              i < kShared ? fmt::format("shared {}", i) : fmt::format("t{} k{}", t, i);
          Entry want = fake_entry(src, 1000 + static_cast<size_t>(i) * 100);
          auto got = s.get(want.key);
          if (got) {
            if (got->binary != want.binary) errors++;
            continue;
          }
          if (round == 1) errors++;
          compiles++;
          if (!s.put(want)) errors++;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_LE(compiles.load(), kThreads * kKernels);
  EXPECT_EQ(s.list().size(), static_cast<size_t>(kShared + kThreads * (kKernels - kShared)));
  Store::VerifyResult v = s.verify(false);
  EXPECT_EQ(v.bad, 0);
  EXPECT_TRUE(warnings().empty());
}

// Spawns `n` cache_stress processes at once on one directory.
void run_processes(const std::string& dir, int n, int kernels, int shared) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> args = {TJ_CACHE_STRESS, dir, std::to_string(i),
                                     std::to_string(kernels), std::to_string(shared)};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, TJ_CACHE_STRESS, nullptr, nullptr, argv.data(), environ), 0)
        << "cannot start " << TJ_CACHE_STRESS;
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "a cache_stress process failed (its output is above)";
  }
}

class CacheProcesses : public CacheTest, public ::testing::WithParamInterface<int> {};

TEST_P(CacheProcesses, SameAndDifferentKernelsNothingLost) {
  const int procs = GetParam(), kernels = 60, shared = 30;
  run_processes(dir_, procs, kernels, shared);
  Store s(opts());
  EXPECT_EQ(s.list().size(), static_cast<size_t>(shared + procs * (kernels - shared)));
  Store::VerifyResult v = s.verify(false);
  EXPECT_EQ(v.bad, 0) << (v.problems.empty() ? "" : v.problems[0]);
  EXPECT_EQ(v.checked, shared + procs * (kernels - shared));
  // A second wave compiles nothing: every kernel is a disk hit.
  run_processes(dir_, procs, kernels, shared);
  EXPECT_EQ(s.list().size(), static_cast<size_t>(shared + procs * (kernels - shared)));
}

INSTANTIATE_TEST_SUITE_P(Cache, CacheProcesses, ::testing::Values(2, 8));

// ---- fault injection ----------------------------------------------------------

TEST_F(CacheTest, FlippedByteInBinaryIsAMissWarnedOnceAndRemoved) {
  Entry e = fake_entry("victim", 50000), other = fake_entry("bystander", 50000);
  {
    Store s(opts());
    ASSERT_TRUE(s.put(e));
    ASSERT_TRUE(s.put(other));
  }  // closing the last connection checkpoints the WAL into the db
  ASSERT_TRUE(flip_in_files({db(), db() + "-wal"}, e, 30000));
  Store s(opts());
  EXPECT_FALSE(s.get(e.key).has_value());
  EXPECT_EQ(count_warnings("damaged (checksum mismatch)"), 1)
      << ::testing::PrintToString(warnings());
  EXPECT_FALSE(s.get(e.key).has_value());
  EXPECT_EQ(warnings().size(), 1u) << "warned once";
  auto ok = s.get(other.key);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->binary, other.binary);
  EXPECT_EQ(s.list().size(), 1u) << "the damaged entry was removed";
  EXPECT_TRUE(s.put(e));
  EXPECT_EQ(s.get(e.key)->binary, e.binary);
  EXPECT_EQ(s.verify(false).bad, 0);
}

TEST_F(CacheTest, FlippedByteUnderARunningStore) {
  Store s(opts());
  Entry e = fake_entry("victim", 50000);
  ASSERT_TRUE(s.put(e));
  raw_sql(db(), "PRAGMA wal_checkpoint(TRUNCATE)");
  ASSERT_TRUE(flip_in_files({db(), db() + "-wal"}, e, 20000));
  auto got = s.get(e.key);  // its page cache may still hold the good bytes
  if (got) {
    EXPECT_EQ(got->binary, e.binary);
  }
  Store fresh(opts());
  EXPECT_FALSE(fresh.get(e.key).has_value());
  EXPECT_GE(count_warnings("checksum mismatch"), 1);
  expect_store_works(s, "running");
  expect_store_works(fresh, "fresh");
}

TEST_F(CacheTest, GarbageRowsAreMisses) {
  Store s(opts());
  Entry a = fake_entry("a"), b = fake_entry("b"), c = fake_entry("c"), d = fake_entry("d");
  for (auto* e : {&a, &b, &c, &d}) ASSERT_TRUE(s.put(*e));
  raw_sql(db(), "UPDATE payloads SET binary = randomblob(10) WHERE key = '" + a.key.hex() + "'");
  raw_sql(db(), "UPDATE payloads SET checksum = 42 WHERE key = '" + b.key.hex() + "'");
  raw_sql(db(), "UPDATE entries SET target = 'sm_52' WHERE key = '" + c.key.hex() + "'");
  raw_sql(db(), "DELETE FROM payloads WHERE key = '" + d.key.hex() + "'");
  Store::VerifyResult v = s.verify(false);
  EXPECT_EQ(v.checked, 4);
  EXPECT_EQ(v.bad, 4);
  EXPECT_FALSE(s.get(a.key).has_value());
  EXPECT_EQ(count_warnings("truncated"), 1);
  EXPECT_FALSE(s.get(b.key).has_value());
  EXPECT_EQ(count_warnings("checksum mismatch"), 1);
  EXPECT_FALSE(s.get(c.key).has_value());
  EXPECT_EQ(count_warnings("do not hash to its key"), 1);
  EXPECT_FALSE(s.get(d.key).has_value());
  EXPECT_EQ(count_warnings("payload is missing"), 1);
  EXPECT_EQ(s.list().size(), 0u);
  EXPECT_EQ(s.verify(false).bad, 0);
  expect_store_works(s, "rows");
}

TEST_F(CacheTest, TruncatedDatabase) {
  Entry e = fake_entry("victim", 300000);
  {
    Store s(opts());
    ASSERT_TRUE(s.put(e));
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(s.put(fake_entry("filler " + std::to_string(i), 100000)));
  }
  Store running(opts());
  ASSERT_TRUE(running.get(e.key).has_value());
  fs::resize_file(db(), fs::file_size(db()) / 3);
  auto got = running.get(e.key);
  if (got) {
    EXPECT_EQ(got->binary, e.binary);
  }
  Store fresh(opts());
  auto got2 = fresh.get(e.key);
  if (got2) {
    EXPECT_EQ(got2->binary, e.binary);
  }
  Store::VerifyResult v = fresh.verify(false);
  (void)v;  // may or may not see the damage depending on which pages were cut
  expect_store_works(running, "running");
  expect_store_works(fresh, "fresh");
}

TEST_F(CacheTest, GarbageDatabaseFileIsMovedAside) {
  {
    Store s(opts());
    ASSERT_TRUE(s.put(fake_entry("x")));
  }
  std::string garbage(100000, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 131 + 7) & 0xff);
  write_file(db(), garbage);
  Store s(opts());
  EXPECT_EQ(s.effective_mode(), Mode::on) << s.status();
  EXPECT_EQ(count_warnings("is damaged"), 1) << ::testing::PrintToString(warnings());
  EXPECT_TRUE(fs::exists(db() + ".corrupt"));
  EXPECT_EQ(s.list().size(), 0u);
  expect_store_works(s, "garbage");
  EXPECT_EQ(warnings().size(), 1u);
}

TEST_F(CacheTest, GarbageWrittenUnderARunningStore) {
  Store s(opts());
  Entry e = fake_entry("victim", 20000);
  ASSERT_TRUE(s.put(e));
  raw_sql(db(), "PRAGMA wal_checkpoint(TRUNCATE)");
  {
    int fd = ::open(db().c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    std::string junk(8192, 'J');
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 0), static_cast<ssize_t>(junk.size()));
    ::close(fd);
  }
  for (int i = 0; i < 3; ++i) {
    auto got = s.get(e.key);
    if (got) {
      EXPECT_EQ(got->binary, e.binary);
    }
    Entry n = fake_entry("new " + std::to_string(i), 5000);
    s.put(n);  // may be refused while the damage is being dealt with
  }
  expect_store_works(s, "junk");
  Store fresh(opts());
  expect_store_works(fresh, "fresh");
}

TEST_F(CacheTest, EntriesDeletedUnderARunningStore) {
  Store s(opts());
  Entry e = fake_entry("gone", 10000);
  ASSERT_TRUE(s.put(e));
  raw_sql(db(), "DELETE FROM entries; DELETE FROM payloads;");
  EXPECT_FALSE(s.get(e.key).has_value());
  ASSERT_TRUE(s.put(e));
  // Now delete the files themselves, then the whole directory.
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db() + suffix);
  EXPECT_FALSE(s.get(e.key).has_value());
  expect_store_works(s, "files deleted");
  fs::remove_all(dir_);
  EXPECT_FALSE(s.get(e.key).has_value());
  expect_store_works(s, "dir deleted");
  Store next(opts());
  EXPECT_TRUE(next.get(fake_entry("after fault: dir deleted", 3000).key).has_value())
      << "the entry stored after the deletion is on disk for the next process";
  EXPECT_TRUE(warnings().empty()) << ::testing::PrintToString(warnings());
}

// ---- degraded modes -------------------------------------------------------------

TEST_F(CacheTest, ReadonlyModeReadsButNeverWrites) {
  Entry old = fake_entry("old");
  {
    Store s(opts());
    ASSERT_TRUE(s.put(old));
  }
  StoreOptions o = opts();
  o.mode = Mode::readonly;
  Store ro(o);
  EXPECT_EQ(ro.effective_mode(), Mode::readonly);
  auto got = ro.get(old.key);
  ASSERT_TRUE(got.has_value());
  Entry fresh = fake_entry("new");
  EXPECT_FALSE(ro.put(fresh));
  EXPECT_TRUE(ro.get(fresh.key).has_value()) << "kept in memory for this process";
  Store rw(opts());
  EXPECT_FALSE(rw.get(fresh.key).has_value()) << "readonly must not write the disk";
  EXPECT_EQ(rw.list()[0].hits, 0) << "readonly does not record hits";
  EXPECT_TRUE(warnings().empty()) << "readonly was asked for: nothing to warn about";
}

TEST_F(CacheTest, FileInPlaceOfTheDirectoryMeansMemoryOnlyWithOneWarning) {
  write_file(dir_, "not a directory");
  Store s(opts());
  EXPECT_EQ(s.effective_mode(), Mode::off);
  EXPECT_NE(s.status().find("memory-only"), std::string::npos) << s.status();
  ASSERT_EQ(warnings().size(), 1u);
  EXPECT_NE(warnings()[0].find("cannot create the cache directory"), std::string::npos)
      << warnings()[0];
  EXPECT_NE(warnings()[0].find("TILEJIT_CACHE_DIR"), std::string::npos) << "says what to do";
  for (int i = 0; i < 5; ++i) {
    Entry e = fake_entry("k" + std::to_string(i));
    EXPECT_FALSE(s.put(e));
    auto got = s.get(e.key);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->binary, e.binary);
  }
  EXPECT_EQ(warnings().size(), 1u) << "one warning, not one per kernel";
}

TEST_F(CacheTest, UnwritableDirectoryIsReadOnlyWithOneWarning) {
  Entry old = fake_entry("old");
  std::string mnt = root_ + "/ro";
  if (geteuid() == 0) {
    // chmod does not restrict root: use a tmpfs remounted read-only.
    if (!mount_tmpfs(mnt, "size=4m")) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
    dir_ = mnt + "/cache";
    {
      Store s(opts());
      ASSERT_TRUE(s.put(old));
    }
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) != 0)
      GTEST_SKIP() << "cannot remount the tmpfs read-only";
  } else {
    {
      Store s(opts());
      ASSERT_TRUE(s.put(old));
    }
    fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
    fs::permissions(db(), fs::perms::owner_read);
  }
  Store s(opts());
  EXPECT_EQ(s.effective_mode(), Mode::readonly) << s.status();
  auto got = s.get(old.key);
  ASSERT_TRUE(got.has_value()) << s.status();
  EXPECT_EQ(got->binary, old.binary);
  for (int i = 0; i < 3; ++i) {
    Entry e = fake_entry("new" + std::to_string(i));
    EXPECT_FALSE(s.put(e));
    EXPECT_TRUE(s.get(e.key).has_value());
  }
  EXPECT_EQ(count_warnings("cannot write"), 1) << ::testing::PrintToString(warnings());
  EXPECT_EQ(warnings().size(), 1u) << ::testing::PrintToString(warnings());
}

TEST_F(CacheTest, FullDiskDegradesWithOneWarning) {
  std::string mnt = root_ + "/small";
  if (!mount_tmpfs(mnt, "size=256k"))
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs root)";
  dir_ = mnt + "/cache";
  Store s(opts());
  ASSERT_EQ(s.effective_mode(), Mode::on) << s.status();
  std::vector<Entry> es;
  int stored = 0;
  for (int i = 0; i < 20; ++i) {
    es.push_back(fake_entry("big " + std::to_string(i), 40000));
    stored += s.put(es.back());
  }
  EXPECT_GT(stored, 0);
  EXPECT_LT(stored, 20) << "256 KiB cannot hold 800 KB";
  EXPECT_EQ(count_warnings("full"), 1) << ::testing::PrintToString(warnings());
  EXPECT_EQ(warnings().size(), 1u) << ::testing::PrintToString(warnings());
  for (const Entry& e : es) {
    auto got = s.get(e.key);
    ASSERT_TRUE(got.has_value()) << "on disk or in memory";
    EXPECT_EQ(got->binary, e.binary);
  }
}

TEST_F(CacheTest, EntryLargerThanTheBoundIsNotStored) {
  Store s(opts(10000));
  Entry big = fake_entry("big", 20000);
  EXPECT_FALSE(s.put(big));
  EXPECT_EQ(count_warnings("more than the cache bound"), 1);
  EXPECT_FALSE(s.get(big.key).has_value());
  EXPECT_TRUE(s.put(fake_entry("small", 1000)));
}

// ---- eviction -----------------------------------------------------------------

TEST_F(CacheTest, LruEvictionKeepsTheBoundAndDropsTheLeastRecentlyUsed) {
  std::vector<Entry> es;
  for (int i = 0; i < 6; ++i) es.push_back(fake_entry("kernel " + std::to_string(i), 4000));
  int64_t one = es[0].binary.size() + es[0].source.size();
  Store s(opts(5 * one));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s.put(es[i]));
  EXPECT_EQ(s.totals().entries, 5);
  ASSERT_TRUE(s.get(es[0].key).has_value());  // 0 is now the most recent; 1 is the oldest
  ASSERT_TRUE(s.put(es[5]));
  EXPECT_LE(s.totals().bytes, 5 * one);
  EXPECT_FALSE(s.get(es[1].key).has_value()) << "least recently used is evicted";
  for (int i : {0, 2, 3, 4, 5}) EXPECT_TRUE(s.get(es[i].key).has_value()) << i;
  // Another process with the same bound sees the same state.
  Store s2(opts(5 * one));
  EXPECT_EQ(s2.list().size(), 5u);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(s2.put(fake_entry("more " + std::to_string(i), 4000)));
  EXPECT_LE(s2.totals().bytes, 5 * one);
  EXPECT_EQ(s2.counters().evicted, 30);
}

TEST_F(CacheTest, PruneAndClear) {
  Store s(opts());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s.put(fake_entry("k" + std::to_string(i), 10000)));
  EXPECT_EQ(s.prune(std::nullopt, 3600), 0) << "nothing is an hour old";
  raw_sql(db(), "UPDATE entries SET last_used_ns = last_used_ns - 7200000000000 WHERE rowid <= 3");
  EXPECT_EQ(s.prune(std::nullopt, 3600), 3);
  EXPECT_EQ(s.totals().entries, 7);
  int64_t per = s.list()[0].bytes();
  EXPECT_EQ(s.prune(4 * per, std::nullopt), 3);
  EXPECT_EQ(s.totals().entries, 4);
  EXPECT_EQ(s.clear(), 4);
  EXPECT_EQ(s.totals().entries, 0);
  expect_store_works(s, "cleared");
  EXPECT_EQ(s.verify(false).bad, 0);
}

}  // namespace
}  // namespace tj::cache
