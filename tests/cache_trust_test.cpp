// Who the kernel cache trusts (cache/trust.h), tried as an attacker would:
// another user's or a world-writable cache directory is refused, a forged
// entry (a valid checksum, no valid MAC) is never run, and a shared cache is
// possible only when asked for. The end-to-end case plants a kernel with a
// constructor in the cache of a real program and checks that it never runs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "cache/kernel_store.h"
#include "cache/trust.h"
#include "cache_test_util.h"
#include "jit/cpu/process.h"

namespace tj::cache {
namespace {

namespace fs = std::filesystem;
using testing::fake_entry;

class TrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tj_trust_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    set_log_sink([this](Severity s, std::string_view msg) {
      std::lock_guard lock(mu_);
      if (s == Severity::warn) warnings_.emplace_back(msg);
    });
  }
  void TearDown() override {
    set_log_sink({});
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  StoreOptions opts(const std::string& dir, const std::string& key = "key") {
    StoreOptions o;
    o.dir = dir;
    o.key_file = root_ + "/config/" + key;
    return o;
  }
  std::string all_warnings() {
    std::lock_guard lock(mu_);
    std::string s;
    for (const auto& w : warnings_) s += w + "\n";
    return s;
  }
  std::string root_;
  std::mutex mu_;
  std::vector<std::string> warnings_;
};

void raw_sql(const std::string& db, const std::string& sql,
             const std::vector<std::string>& blobs = {}) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
  for (size_t i = 0; i < blobs.size(); ++i)
    sqlite3_bind_blob(st, static_cast<int>(i + 1), blobs[i].data(),
                      static_cast<int>(blobs[i].size()), SQLITE_TRANSIENT);
  EXPECT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(h);
  sqlite3_finalize(st);
  sqlite3_close(h);
}

std::string db_of(const std::string& dir) {
  return dir + "/kernels-v" + std::to_string(kFormatVersion) + ".db";
}

TEST_F(TrustTest, NewDirectoriesAndTheKeyArePrivate) {
  const std::string dir = root_ + "/a/b/cache";
  Store s(opts(dir));
  EXPECT_EQ(s.effective_mode(), Mode::on) << s.status();
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((root_ + "/config/key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
}

TEST_F(TrustTest, WorldWritableDirectoryIsRefused) {
  const std::string dir = root_ + "/open";
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::all);  // 0777, as the attacker left it
  Store s(opts(dir));
  EXPECT_EQ(s.effective_mode(), Mode::off);
  EXPECT_NE(s.status().find("writable by everyone"), std::string::npos) << s.status();
  EXPECT_NE(all_warnings().find("refusing the cache directory"), std::string::npos)
      << all_warnings();
  EXPECT_NE(all_warnings().find("TILEJIT_CACHE_SHARED"), std::string::npos) << all_warnings();
  // Memory-only, and working.
  Entry e = fake_entry("k");
  EXPECT_FALSE(s.put(e));
  EXPECT_TRUE(s.get(e.key).has_value());
  EXPECT_FALSE(fs::exists(db_of(dir)));
}

TEST_F(TrustTest, GroupWritableDirectoryIsRefusedUnlessShared) {
  const std::string dir = root_ + "/group";
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_all);  // 0770
  {
    Store s(opts(dir));
    EXPECT_EQ(s.effective_mode(), Mode::off);
    EXPECT_NE(s.status().find("writable by its group"), std::string::npos) << s.status();
  }
  StoreOptions o = opts(dir);
  o.shared = true;
  Store s(o);
  EXPECT_EQ(s.effective_mode(), Mode::on) << s.status();
  Entry e = fake_entry("shared");
  ASSERT_TRUE(s.put(e));
  EXPECT_TRUE(s.get(e.key).has_value());
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/cache.key").c_str(), &st), 0) << "a shared cache keeps its key inside";
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  // Even shared, a directory everyone can write is refused.
  fs::permissions(dir, fs::perms::all);
  Store open(o);
  EXPECT_EQ(open.effective_mode(), Mode::off);
  EXPECT_NE(open.status().find("writable by everyone"), std::string::npos) << open.status();
}

TEST_F(TrustTest, AnotherUsersDirectoryIsRefused) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root to make a directory of another user";
  const std::string dir = root_ + "/theirs";
  fs::create_directories(dir);
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  fs::permissions(dir, fs::perms::owner_all);
  Store s(opts(dir));
  EXPECT_EQ(s.effective_mode(), Mode::off);
  EXPECT_NE(s.status().find("belongs to uid 65534"), std::string::npos) << s.status();
}

TEST_F(TrustTest, WritableParentIsRefused) {
  const std::string parent = root_ + "/parent";
  fs::create_directories(parent + "/cache");
  fs::permissions(parent + "/cache", fs::perms::owner_all);
  fs::permissions(parent, fs::perms::all);  // anyone could rename the cache away
  Store s(opts(parent + "/cache"));
  EXPECT_EQ(s.effective_mode(), Mode::off);
  EXPECT_NE(s.status().find("above the cache"), std::string::npos) << s.status();
  fs::permissions(parent, fs::perms::all | fs::perms::sticky_bit);  // like /tmp: fine
  Store sticky(opts(parent + "/cache"));
  EXPECT_EQ(sticky.effective_mode(), Mode::on) << sticky.status();
}

TEST_F(TrustTest, KeyReadableByOthersIsRefused) {
  const std::string dir = root_ + "/cache";
  { Store s(opts(dir)); }
  fs::permissions(root_ + "/config/key", fs::perms::owner_read | fs::perms::owner_write |
                                             fs::perms::group_read | fs::perms::others_read);
  Store s(opts(dir));
  EXPECT_EQ(s.effective_mode(), Mode::off);
  EXPECT_NE(s.status().find("chmod 600"), std::string::npos) << s.status();
}

// The attacker can write the database (a shared cache, a copied file, a
// backup restored) and recompute the XXH3 checksum, but not the MAC.
TEST_F(TrustTest, ForgedEntryIsAMissRemovedAndReported) {
  const std::string dir = root_ + "/cache";
  Entry good = fake_entry("genuine kernel", 2000);
  {
    Store s(opts(dir));
    ASSERT_TRUE(s.put(good));
  }
  const std::string forged =
      "\x7f"
      "ELF forged kernel with a constructor";
  raw_sql(db_of(dir),
          "UPDATE payloads SET binary = ?1, checksum = " +
              std::to_string(static_cast<int64_t>(payload_checksum(good.source, forged))) +
              " WHERE key = '" + good.key.hex() + "'",
          {forged});
  raw_sql(db_of(dir), "UPDATE entries SET binary_bytes = " + std::to_string(forged.size()) +
                          ", size = " + std::to_string(forged.size() + good.source.size()));
  {
    Store s(opts(dir));
    Store::VerifyResult v = s.verify(/*remove_bad=*/false);
    EXPECT_EQ(v.bad, 1);
    ASSERT_EQ(v.problems.size(), 1u);
    EXPECT_NE(v.problems[0].find("not signed with your key"), std::string::npos) << v.problems[0];
    EXPECT_FALSE(s.get(good.key).has_value());
    EXPECT_NE(all_warnings().find("not signed with your key"), std::string::npos) << all_warnings();
    EXPECT_NE(all_warnings().find("it was not run"), std::string::npos) << all_warnings();
    EXPECT_EQ(s.verify(false).checked, 0) << "the forged entry was not removed";
    // The store keeps working.
    ASSERT_TRUE(s.put(good));
    EXPECT_TRUE(s.get(good.key).has_value());
  }
  // Another user's key (or none of theirs) signs nothing of ours.
  Store other(opts(dir, "other-key"));
  EXPECT_FALSE(other.get(good.key).has_value());
}

TEST_F(TrustTest, NoHomeMeansNoGuessableDirectory) {
  const char* home = std::getenv("HOME");
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const std::string saved_home = home ? home : "", saved_xdg = xdg ? xdg : "";
  ::unsetenv("HOME");
  ::unsetenv("XDG_CACHE_HOME");
  const std::string d = default_dir();
  if (!saved_home.empty()) ::setenv("HOME", saved_home.c_str(), 1);
  if (!saved_xdg.empty()) ::setenv("XDG_CACHE_HOME", saved_xdg.c_str(), 1);
  EXPECT_NE(d.rfind("/tmp", 0), 0u) << d;
  if (!d.empty()) {
    EXPECT_NE(d.find("/.cache/tilejit"), std::string::npos) << d;
  }
}

// End to end: a cache directory another user prepared (world-writable),
// filled with kernels that run code when loaded, for a real program's
// kernels. The program refuses the directory; then, from a directory of its
// own whose database the attacker edited, it refuses the forged entries.
TEST_F(TrustTest, PlantedKernelsNeverRunInAProgram) {
  const std::string dir = root_ + "/victim-cache", marker = root_ + "/PWNED";
  const std::string config = root_ + "/config-home";
  auto run_child = [&] {
    return jit::cpu::run_process({"env", "TILEJIT_CACHE_DIR=" + dir, "XDG_CONFIG_HOME=" + config,
                                  "TILEJIT_LOG=warn", TJ_COMPILER_CHILD},
                                 120);
  };
  jit::cpu::ProcessResult first = run_child();  // fills the cache honestly
  ASSERT_TRUE(first.ok()) << first.output;
  ASSERT_TRUE(fs::exists(db_of(dir))) << first.output;
  // The attacker's "kernel": a shared object whose constructor leaves a mark.
  const std::string evil_src = root_ + "/evil.cpp", evil_so = root_ + "/evil.so";
  std::ofstream(evil_src) << "#include <cstdio>\n__attribute__((constructor)) static void pwn() {"
                             " if (FILE* f = std::fopen(\""
                          << marker << "\", \"w\")) std::fclose(f); }\n";
  ASSERT_TRUE(
      jit::cpu::run_process({"c++", "-shared", "-fPIC", "-o", evil_so, evil_src}, 120).ok());
  std::ifstream in(evil_so, std::ios::binary);
  const std::string evil((std::istreambuf_iterator<char>(in)), {});
  // Every entry now holds the evil object with a checksum that matches.
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db_of(dir).c_str(), &h), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(h, "SELECT key, source FROM payloads", -1, &st, nullptr);
    std::vector<std::pair<std::string, std::string>> rows;
    while (sqlite3_step(st) == SQLITE_ROW)
      rows.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                        std::string(static_cast<const char*>(sqlite3_column_blob(st, 1)),
                                    static_cast<size_t>(sqlite3_column_bytes(st, 1))));
    sqlite3_finalize(st);
    sqlite3_close(h);
    ASSERT_FALSE(rows.empty());
    for (const auto& [key, source] : rows) {
      raw_sql(db_of(dir),
              "UPDATE payloads SET binary = ?1, checksum = " +
                  std::to_string(static_cast<int64_t>(payload_checksum(source, evil))) +
                  " WHERE key = '" + key + "'",
              {evil});
      raw_sql(db_of(dir), "UPDATE entries SET binary_bytes = " + std::to_string(evil.size()) +
                              " WHERE key = '" + key + "'");
    }
  }
  // 1. The directory is the victim's own: the forged entries are refused.
  jit::cpu::ProcessResult forged = run_child();
  ASSERT_TRUE(forged.ok()) << forged.output;
  EXPECT_FALSE(fs::exists(marker)) << "a forged kernel ran: " << forged.output;
  EXPECT_NE(forged.output.find("not signed with your key"), std::string::npos) << forged.output;
  std::istringstream lines(forged.output);
  int ok = 0;
  for (std::string l; std::getline(lines, l);) ok += l.rfind("ok ", 0) == 0;
  EXPECT_EQ(ok, 2) << forged.output;
  // 2. The attacker owns (here: opened up) the directory: refused unread.
  fs::permissions(dir, fs::perms::all);
  jit::cpu::ProcessResult open = run_child();
  ASSERT_TRUE(open.ok()) << open.output;
  EXPECT_FALSE(fs::exists(marker)) << open.output;
  EXPECT_NE(open.output.find("refusing the cache directory"), std::string::npos) << open.output;
}

}  // namespace
}  // namespace tj::cache
