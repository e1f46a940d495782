// tilejit-cache against a populated cache: tables, filters, --json parsed
// back (with python3 when present), key prefixes, verify/prune/clear, exit codes.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "cache/kernel_store.h"
#include "cache_test_util.h"

namespace tj::cache {
namespace {

namespace fs = std::filesystem;
using testing::fake_entry;

struct CliRun {
  int rc = -1;
  std::string out;  // stdout (stderr too when asked)
};

CliRun run(const std::string& args, bool with_stderr = false) {
  std::string cmd = std::string(TJ_CACHE_CLI) + " " + args + " </dev/null" +
                    (with_stderr ? " 2>&1" : " 2>/dev/null");
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool have_python() { return std::system("python3 -c 'import json' >/dev/null 2>&1") == 0; }

// Pipes `json` into a python3 snippet that reads it as `d` and prints `expr`.
std::string py(const std::string& json, const std::string& expr) {
  char tmpl[] = "/tmp/tj_cli_json_XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return "mkstemp failed";
  ::close(fd);
  std::ofstream(tmpl) << json;
  CliRun r;
  setenv("TJ_PY_EXPR", expr.c_str(), 1);
  std::string cmd = std::string(
                        "python3 -c 'import json,os,sys; d=json.load(open(sys.argv[1])); "
                        "print(eval(os.environ[\"TJ_PY_EXPR\"]))' ") +
                    tmpl + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  pclose(p);
  fs::remove(tmpl);
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

class CacheCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(TJ_CACHE_CLI)) << "tilejit-cache was not built at " << TJ_CACHE_CLI;
    char tmpl[] = "/tmp/tj_cache_cli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    StoreOptions o;
    o.dir = dir_;
    Store s(o);
    for (int i = 0; i < 6; ++i) {
      entries_.push_back(fake_entry("cpu softmax " + std::to_string(i), 3000 + 100 * i, "cpu",
                                    "max, sub, exp, sum, div"));
      entries_.push_back(
          fake_entry("cuda gelu " + std::to_string(i), 5000 + 100 * i, "cuda", "mul, add, tanh"));
    }
    entries_.push_back(fake_entry("cpu add", 1000, "cpu", "add \"quoted\"\tand\\slash"));
    for (const Entry& e : entries_) ASSERT_TRUE(s.put(e));
    ASSERT_TRUE(s.get(entries_[0].key).has_value());  // one hit
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string d() const { return "--dir " + dir_ + " "; }

  std::string dir_;
  std::vector<Entry> entries_;
};

TEST_F(CacheCli, ListTableAndFilters) {
  CliRun r = run(d() + "list");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("KEY"), std::string::npos);
  EXPECT_NE(r.out.find("LAST USED"), std::string::npos);
  EXPECT_NE(r.out.find("just now"), std::string::npos);
  EXPECT_NE(r.out.find("13 kernels"), std::string::npos) << r.out;
  for (const Entry& e : entries_)
    EXPECT_NE(r.out.find(e.key.hex().substr(0, 12)), std::string::npos);
  EXPECT_NE(r.out.find("cuda/sm_90"), std::string::npos);

  r = run(d() + "list --backend cuda");
  EXPECT_NE(r.out.find("6 kernels"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("cpu/"), std::string::npos) << r.out;
  r = run(d() + "list --op exp");
  EXPECT_NE(r.out.find("6 kernels"), std::string::npos) << r.out;
  r = run(d() + "list --newer-than 1h");
  EXPECT_NE(r.out.find("13 kernels"), std::string::npos) << r.out;
  r = run(d() + "list --older-than 1h");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("no cached kernels match"), std::string::npos) << r.out;
  r = run(d() + "list --older-than soon", true);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("not a duration"), std::string::npos) << r.out;
}

TEST_F(CacheCli, JsonParsesBack) {
  if (!have_python()) GTEST_SKIP() << "python3 is needed to parse the JSON";
  CliRun r = run(d() + "list --json");
  ASSERT_EQ(r.rc, 0);
  EXPECT_EQ(py(r.out, "len(d)"), "13") << r.out;
  EXPECT_EQ(py(r.out, "sorted(set(e['backend'] for e in d))"), "['cpu', 'cuda']");
  EXPECT_EQ(py(r.out, "[e['summary'] for e in d if e['source_bytes'] == 7][0]"),
            "add \"quoted\"\tand\\slash");
  EXPECT_EQ(py(r.out, "sum(e['hits'] for e in d)"), "1");
  EXPECT_EQ(py(r.out, "all(len(e['key']) == 32 for e in d)"), "True");

  r = run(d() + "list --backend cpu --json");
  EXPECT_EQ(py(r.out, "len(d)"), "7");

  const Entry& e = entries_[3];
  r = run(d() + "show " + e.key.hex().substr(0, 10) + " --json");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(py(r.out, "d['key']"), e.key.hex());
  EXPECT_EQ(py(r.out, "d['source']"), e.source);
  EXPECT_EQ(py(r.out, "d['binary_bytes']"), std::to_string(e.binary.size()));
  EXPECT_EQ(py(r.out, "d['signature']"), e.signature);

  r = run(d() + "stats --json");
  ASSERT_EQ(r.rc, 0);
  EXPECT_EQ(py(r.out, "d['entries']"), "13");
  EXPECT_EQ(py(r.out, "d['hits']"), "1");
  EXPECT_EQ(py(r.out, "d['backends']['cuda']['entries']"), "6");
  EXPECT_EQ(py(r.out, "d['compile_ms_saved']"), "12.5");

  r = run(d() + "verify --json");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(py(r.out, "(d['checked'], d['bad'], d['problems'])"), "(13, 0, [])");
}

TEST_F(CacheCli, ShowSourceBinaryAndPrefixes) {
  const Entry& e = entries_[5];
  std::string prefix = e.key.hex().substr(0, 8);
  CliRun r = run(d() + "show " + prefix);
  ASSERT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find(e.key.hex()), std::string::npos);
  EXPECT_NE(r.out.find(e.name), std::string::npos);
  EXPECT_NE(r.out.find("nvrtc 13.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("integrity"), std::string::npos);

  r = run(d() + "source " + prefix);
  ASSERT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, e.source + "\n");

  std::string out = dir_ + "/k.bin";
  r = run(d() + "binary " + prefix + " -o " + out);
  ASSERT_EQ(r.rc, 0);
  std::ifstream f(out, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(bytes, e.binary);

  // An ambiguous prefix, a missing key, a bad key.
  std::map<char, int> first;
  for (auto& x : entries_) first[x.key.hex()[0]]++;
  for (auto& [c, n] : first) {
    if (n < 2) continue;
    r = run(d() + "show " + std::string(1, c), true);
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find("ambiguous"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("more digits"), std::string::npos) << r.out;
    break;
  }
  std::string missing = e.key.hex();
  missing[31] = missing[31] == '0' ? '1' : '0';
  r = run(d() + "show " + missing, true);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("no entry"), std::string::npos) << r.out;
  r = run(d() + "source xyz", true);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("not a key"), std::string::npos) << r.out;
  r = run(d() + "binary " + prefix, true);
  EXPECT_EQ(r.rc, 2) << "binary needs -o";
}

TEST_F(CacheCli, VerifyFindsAndRemovesDamage) {
  {
    sqlite3* h = nullptr;
    std::string db = dir_ + "/kernels-v" + std::to_string(kFormatVersion) + ".db";
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    std::string sql =
        "UPDATE payloads SET checksum = 7 WHERE key = '" + entries_[2].key.hex() + "'";
    ASSERT_EQ(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(h);
  }
  CliRun r = run(d() + "verify");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("checksum mismatch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("verify --remove"), std::string::npos) << "says what to do";
  r = run(d() + "show " + entries_[2].key.hex().substr(0, 12), true);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("damaged"), std::string::npos) << r.out;
  r = run(d() + "verify --remove");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("1 removed"), std::string::npos) << r.out;
  r = run(d() + "verify");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("checked 12 entries: 0 damaged"), std::string::npos) << r.out;
}

TEST_F(CacheCli, StatsPruneClear) {
  CliRun r = run(d() + "stats");
  ASSERT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("entries       13"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hit rate"), std::string::npos);

  r = run(d() + "prune", true);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("--max-bytes"), std::string::npos) << r.out;
  r = run(d() + "prune --max-bytes lots", true);
  EXPECT_EQ(r.rc, 2);
  r = run(d() + "prune --older-than 1d");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("removed 0 entries; 13 left"), std::string::npos) << r.out;
  r = run(d() + "prune --max-bytes 20K");
  EXPECT_EQ(r.rc, 0);
  StoreOptions o;
  o.dir = dir_;
  EXPECT_LE(Store(o).totals().bytes, 20 * 1024);

  r = run(d() + "clear", true);
  EXPECT_EQ(r.rc, 2) << "clear without --yes and without a terminal refuses";
  EXPECT_NE(r.out.find("--yes"), std::string::npos) << r.out;
  r = run(d() + "clear --yes");
  EXPECT_EQ(r.rc, 0);
  r = run(d() + "list");
  EXPECT_NE(r.out.find("no cached kernels in"), std::string::npos) << r.out;
}

TEST_F(CacheCli, HelpUsageAndMissingDir) {
  CliRun r = run("--help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("exit status"), std::string::npos);
  for (const char* c : {"list", "show", "source", "binary", "stats", "verify", "prune", "clear"}) {
    r = run(std::string(c) + " --help");
    EXPECT_EQ(r.rc, 0) << c;
    EXPECT_NE(r.out.find(std::string("usage: tilejit-cache ") + c), std::string::npos) << r.out;
  }
  EXPECT_EQ(run("").rc, 2);
  EXPECT_EQ(run("frobnicate").rc, 2);
  EXPECT_EQ(run(d() + "list --bogus").rc, 2);
  EXPECT_EQ(run(d() + "show").rc, 2);
  EXPECT_EQ(run(d() + "stats extra").rc, 2);

  std::string missing = dir_ + "/nope";
  r = run("--dir " + missing + " list");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("no cached kernels"), std::string::npos) << r.out;
  EXPECT_EQ(run("--dir " + missing + " stats").rc, 0);
  EXPECT_FALSE(fs::exists(missing)) << "inspecting must not create the cache";
}

}  // namespace
}  // namespace tj::cache
