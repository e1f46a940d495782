// Observability: TILEJIT_TRACE, TILEJIT_DUMP_DIR, TILEJIT_TIMELINE and
// TILEJIT_STATS each change what they should (checked on a child program
// with a known workload), invalid values warn, and every TILEJIT_* variable
// the sources name is in the README's table.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "tilejit/tilejit.h"
#include "tilejit_build_config.h"

namespace tj {
namespace {

namespace fs = std::filesystem;

struct ChildRun {
  int rc = -1;
  std::string err;  // stderr
  std::string out;  // stdout
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A fresh empty directory for one test.
fs::path scratch(const std::string& name) {
  fs::path d = fs::temp_directory_path() /
               ("tj_obs_" + name + "_" + std::to_string(static_cast<long>(getpid())));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/// Runs the child program in `mode` with `env` ("NAME=value ...") added to
/// the environment (the kernel cache off unless `env` sets it).
ChildRun child(const std::string& mode, const std::string& env, const fs::path& dir) {
  fs::path err = dir / "stderr.txt";
  std::string cmd = "env TILEJIT_CACHE=off " + env + " " + TJ_OBS_CHILD + " " + mode + " 2>" +
                    err.string() + " </dev/null";
  ChildRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = slurp(err);
  return r;
}

std::vector<std::string> lines_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  return out;
}

/// key=value pairs of the stats line.
std::map<std::string, std::string> stats_of(const std::string& err) {
  std::map<std::string, std::string> kv;
  auto lines = lines_with(err, "tilejit stats: ");
  if (lines.size() != 1) return kv;
  std::istringstream in(lines[0].substr(15));
  for (std::string tok; in >> tok;) {
    size_t eq = tok.find('=');
    if (eq != std::string::npos) kv[tok.substr(0, eq)] = tok.substr(eq + 1);
  }
  return kv;
}

bool has_python() { return std::system("python3 -c 'import json' >/dev/null 2>&1") == 0; }

TEST(Observability, OffByDefaultPrintsNothing) {
  fs::path d = scratch("off");
  ChildRun r = child("chain", "", d);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(fs::directory_iterator(d)->path().filename(), "stderr.txt");
}

TEST(Observability, TraceNamesFlushReasons) {
  fs::path d = scratch("trace");
  ChildRun r = child("reasons", "TILEJIT_TRACE=1", d);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto lines = lines_with(r.err, "tilejit trace: flush ");
  ASSERT_GE(lines.size(), 4u) << r.err;
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  for (const char* reason : {"(host read)", "(sync)", "(trace limit)", "(eager)"})
    EXPECT_NE(all.find(reason), std::string::npos) << reason << " missing from\n" << all;
  EXPECT_NE(all.find("plan cache miss"), std::string::npos) << all;
  EXPECT_NE(all.find("tj_pointwise_"), std::string::npos) << all;
  // The host read's kernel names the two ops it fuses.
  EXPECT_NE(lines[0].find("(host read)"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("sin"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("mul"), std::string::npos) << lines[0];
  EXPECT_NE(all.find("compiled 1 in"), std::string::npos) << all;
  EXPECT_NE(all.find(" nodes, "), std::string::npos) << all;
  // Normal events never read as errors, and nothing else is printed.
  for (const auto& l : lines) {
    EXPECT_EQ(l.find("error"), std::string::npos) << l;
    EXPECT_EQ(l.find("warning"), std::string::npos) << l;
  }
  EXPECT_EQ(lines_with(r.err, "tilejit").size(), lines.size()) << r.err;
}

TEST(Observability, TraceToFileKeepsStderrClean) {
  fs::path d = scratch("trace_file");
  fs::path f = d / "trace.log";
  ChildRun r = child("chain", "TILEJIT_TRACE=" + f.string(), d);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  auto lines = lines_with(slurp(f), "tilejit trace: flush 1 (host read): ");
  ASSERT_EQ(lines.size(), 1u) << slurp(f);
  EXPECT_NE(lines[0].find("1 kernel: tj_pointwise_"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("(sin, sin, sin, sin, sin, sin, sin, sin)"), std::string::npos)
      << lines[0];
  EXPECT_NE(lines[0].find("1 launch;"), std::string::npos) << lines[0];
}

TEST(Observability, TraceSetInCode) {
  fs::path d = scratch("trace_code");
  fs::path f = d / "trace.log";
  {
    ConfigGuard g;
    g->trace = f.string();
    Tensor x = from_vector(std::vector<float>{1, 2, 3});
    Tensor y = neg(x) + 1.0;
    y.eval();
  }
  EXPECT_EQ(lines_with(slurp(f), "tilejit trace: flush ").size(), 1u) << slurp(f);
  Tensor z = abs(from_vector(std::vector<float>{1, 2, 3}));
  z.eval();  // off again: nothing more is written
  EXPECT_EQ(lines_with(slurp(f), "tilejit trace: flush ").size(), 1u) << slurp(f);
}

TEST(Observability, DumpDirHoldsSourcesKernelIrAndGraphs) {
  fs::path d = scratch("dump");
  fs::path dump = d / "dump" / "nested";
  ChildRun r = child("reasons", "TILEJIT_DUMP_DIR=" + dump.string(), d);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::vector<fs::path> cpp, kir, before, after;
  for (const auto& e : fs::directory_iterator(dump)) {
    std::string n = e.path().filename().string();
    if (n.ends_with(".cpp")) cpp.push_back(e.path());
    if (n.ends_with(".kir")) kir.push_back(e.path());
    if (n.ends_with(".before.dot")) before.push_back(e.path());
    if (n.ends_with(".after.dot")) after.push_back(e.path());
  }
  ASSERT_GE(cpp.size(), 4u);
  EXPECT_EQ(kir.size(), cpp.size());
  EXPECT_GE(before.size(), 4u);
  EXPECT_EQ(after.size(), before.size());
  for (const fs::path& p : cpp) {
    std::string src = slurp(p);
    std::string name = p.stem().string();
    EXPECT_TRUE(name.starts_with("tj_pointwise_")) << name;
    EXPECT_NE(src.find("extern \"C\""), std::string::npos) << p;
    EXPECT_NE(src.find(name), std::string::npos) << p;
    EXPECT_TRUE(fs::exists(p.parent_path() / (name + ".kir"))) << name;
  }
  // The sources compile standalone.
  const char* cxx = std::getenv("TILEJIT_CXX");
  std::string cmd = std::string(cxx && *cxx ? cxx : "c++") + " -std=c++20 -fsyntax-only " +
                    cpp[0].string() + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  // The graph after fusion colours the fused nodes.
  std::string dot = slurp(after[0]);
  EXPECT_NE(dot.find("digraph"), std::string::npos);
  EXPECT_NE(dot.find("fillcolor=\"#8dd3c7\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("kernel 0"), std::string::npos) << dot;
}

// Each scheduler pass's result is dumped, named by flush and pass, in order.
TEST(Observability, DumpDirHoldsEveryPassOfEveryNewPlan) {
  fs::path d = scratch("passes");
  ChildRun r = child("refused", "TILEJIT_DUMP_DIR=" + (d / "dump").string(), d);
  ASSERT_EQ(r.rc, 0) << r.err;
  const char* passes[] = {"split_reductions", "fuse", "lower", "coalesce", "tile"};
  for (int k = 0; k < 5; ++k) {
    fs::path p = d / "dump" / fmt::format("flush-0001.{}-{}.txt", k + 1, passes[k]);
    ASSERT_TRUE(fs::exists(p)) << p;
    EXPECT_FALSE(slurp(p).empty()) << p;
  }
  EXPECT_NE(slurp(d / "dump" / "flush-0001.2-fuse.txt").find("not fused: "), std::string::npos);
  EXPECT_NE(slurp(d / "dump" / "flush-0001.5-tile.txt").find("tile(block="), std::string::npos);
}

// Why a value was not fused into its users (WhyNoFuse): counted on the trace
// line, listed with TILEJIT_LOG=debug.
TEST(Observability, TraceSaysWhyValuesWereNotFused) {
  fs::path d = scratch("refused");
  ChildRun r = child("refused", "TILEJIT_TRACE=1", d);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto lines = lines_with(r.err, "tilejit trace:");
  ASSERT_FALSE(lines.empty()) << r.err;
  EXPECT_NE(lines[0].find(" not fused"), std::string::npos) << lines[0];
  EXPECT_TRUE(lines_with(r.err, "  not fused: ").empty()) << r.err;
  ChildRun dbg = child("refused", "TILEJIT_TRACE=1 TILEJIT_LOG=debug", d);
  ASSERT_EQ(dbg.rc, 0) << dbg.err;
  auto why = lines_with(dbg.err, "  not fused: ");
  ASSERT_FALSE(why.empty()) << dbg.err;
  bool matmul = false, transpose = false;
  for (const std::string& l : why) {
    matmul = matmul || (l.find("(exp) materialized: an operand of matmul") != std::string::npos);
    transpose = transpose || (l.find("(sum) materialized:") != std::string::npos);
  }
  EXPECT_TRUE(matmul) << dbg.err;
  EXPECT_TRUE(transpose) << dbg.err;
}

TEST(Observability, DotFilesParseWithGraphviz) {
  if (std::system("command -v dot >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "graphviz `dot` not installed (Debian package graphviz)";
  fs::path d = scratch("dot");
  ChildRun r = child("reasons", "TILEJIT_DUMP_DIR=" + (d / "dump").string(), d);
  ASSERT_EQ(r.rc, 0) << r.err;
  int n = 0;
  for (const auto& e : fs::directory_iterator(d / "dump")) {
    if (e.path().extension() != ".dot") continue;
    ++n;
    std::string cmd = "dot -Tsvg " + e.path().string() + " -o /dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  EXPECT_GE(n, 8);
}

/// The source lines the `located` child mode prints ("lines exp=N ...").
std::map<std::string, int> child_lines(const std::string& out) {
  std::map<std::string, int> lines;
  auto found = lines_with(out, "lines ");
  if (found.size() != 1) return lines;
  std::istringstream in(found[0].substr(6));
  for (std::string tok; in >> tok;)
    if (size_t eq = tok.find('='); eq != std::string::npos)
      lines[tok.substr(0, eq)] = std::stoi(tok.substr(eq + 1));
  return lines;
}

TEST(Observability, TraceNamesTheSourceLinesOfEachKernelsOps) {
  fs::path d = scratch("trace_located");
  ChildRun r = child("located", "TILEJIT_TRACE=1", d);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto at = child_lines(r.out);
  ASSERT_EQ(at.size(), 3u) << r.out;
  auto lines = lines_with(r.err, "tilejit trace: flush 1 (host read): ");
  ASSERT_EQ(lines.size(), 1u) << r.err;
  for (const auto& [op, line] : at)
    EXPECT_NE(lines[0].find(" observability_child.cpp:" + std::to_string(line)), std::string::npos)
        << op << " at line " << line << " missing from\n"
        << lines[0];
  // tilejit's own sources (softmax calls max, sub, exp, sum, div) are never named.
  EXPECT_EQ(lines[0].find("ops_reduce.cpp"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[0].find("trace.cpp"), std::string::npos) << lines[0];
}

TEST(Observability, DumpedKernelsListTheirOpsWithSourceLocations) {
  fs::path d = scratch("dump_located");
  fs::path dump = d / "dump";
  ChildRun r = child("located", "TILEJIT_DUMP_DIR=" + dump.string(), d);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  auto at = child_lines(r.out);
  ASSERT_EQ(at.size(), 3u) << r.out;
  std::string headers;
  std::vector<fs::path> cpp;
  for (const auto& e : fs::directory_iterator(dump)) {
    if (e.path().extension() != ".cpp") continue;
    cpp.push_back(e.path());
    std::string src = slurp(e.path());
    std::string name = e.path().stem().string();
    // The header comes first and names the kernel and its ops.
    EXPECT_TRUE(src.starts_with("// " + name + " fuses ")) << src.substr(0, 400);
    headers += src.substr(0, src.find("\n\n")) + "\n";
  }
  ASSERT_FALSE(cpp.empty());
  // file:line, then the function where the symbolizer names it right (it
  // is inlined into main).
  for (const auto& [op, line] : at) {
    std::string where = "observability_child.cpp:" + std::to_string(line);
    size_t at_line = headers.find(where);
    ASSERT_NE(at_line, std::string::npos) << where << " missing from\n" << headers;
    std::string rest = headers.substr(at_line + where.size());
    rest = rest.substr(0, rest.find('\n'));
    EXPECT_TRUE(rest.empty() || rest.starts_with(" (located")) << where << rest;
  }
  EXPECT_NE(headers.find("= exp f32[16, 16]"), std::string::npos) << headers;
  // Each header line lists one traced op; with a location, it is the child's.
  std::istringstream in(headers);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("//   %")) continue;
    size_t slash = line.find('/', 5);
    if (slash != std::string::npos) {
      EXPECT_NE(line.find("observability_child.cpp:"), std::string::npos) << line;
    }
  }
  // Still standalone translation units.
  const char* cxx = std::getenv("TILEJIT_CXX");
  for (const fs::path& p : cpp) {
    std::string cmd = std::string(cxx && *cxx ? cxx : "c++") + " -std=c++20 -fsyntax-only " +
                      p.string() + " 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
}

// The locations go only into dumps and trace lines: the kernels compiled
// with both on are found in the disk cache by a run with both off (the
// compiled source, kernel names included, is the cache key).
TEST(Observability, LocationsChangeNoKernelNameOrCacheKey) {
  fs::path d = scratch("located_keys");
  std::string cache =
      "TILEJIT_STATS=1 TILEJIT_CACHE=on TILEJIT_CACHE_DIR=" + (d / "cache").string();
  ChildRun on = child("located",
                      cache + " TILEJIT_TRACE=" + (d / "trace.log").string() +
                          " TILEJIT_DUMP_DIR=" + (d / "dump").string(),
                      d);
  ASSERT_EQ(on.rc, 0) << on.err;
  const std::string compiled = stats_of(on.err)["kernels_compiled"];
  ASSERT_NE(compiled, "0") << on.err;
  ChildRun off = child("located", cache, d);
  ASSERT_EQ(off.rc, 0) << off.err;
  auto s = stats_of(off.err);
  EXPECT_EQ(s["kernels_compiled"], "0") << off.err;
  EXPECT_EQ(s["cache_disk_hits"], compiled) << off.err;
  EXPECT_EQ(on.out, off.out);
  // And the other way round: a run with both on finds what the run with
  // both off left, under the names it dumps.
  fs::remove_all(d / "cache");
  ASSERT_EQ(child("located", cache, d).rc, 0);
  ChildRun again = child("located", cache + " TILEJIT_DUMP_DIR=" + (d / "dump2").string(), d);
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_EQ(stats_of(again.err)["kernels_compiled"], "0") << again.err;
  std::set<std::string> names1, names2;
  for (const auto& e : fs::directory_iterator(d / "dump"))
    if (e.path().extension() == ".cpp") names1.insert(e.path().stem().string());
  for (const auto& e : fs::directory_iterator(d / "dump2"))
    if (e.path().extension() == ".cpp") names2.insert(e.path().stem().string());
  EXPECT_FALSE(names1.empty());
  EXPECT_EQ(names1, names2);
}

// In this process (tilejit linked statically): the location is this file's
// line, and the same program traced from two places is one graph (the
// second flush is a plan cache hit) whose trace lines name each place.
TEST(Observability, LocationsDoNotChangeTheGraphHash) {
  fs::path d = scratch("located_hash");
  fs::path f = d / "trace.log";
  int line1 = 0, line2 = 0;
  {
    ConfigGuard g;
    g->trace = f.string();
    Tensor x = from_vector(std::vector<float>(19, 0.25f));
    Tensor a = sqrt(x) * 7.0;
    line1 = __LINE__ - 1;
    a.eval();
    Tensor b = sqrt(x) * 7.0;
    line2 = __LINE__ - 1;
    b.eval();
  }
  auto lines = lines_with(slurp(f), "tilejit trace: flush ");
  ASSERT_EQ(lines.size(), 2u) << slurp(f);
  auto graph_of = [](const std::string& l) { return l.substr(l.find(", graph "), 25); };
  EXPECT_EQ(graph_of(lines[0]), graph_of(lines[1]));
  EXPECT_NE(lines[1].find("plan cache hit"), std::string::npos) << lines[1];
  EXPECT_NE(lines[0].find("observability_test.cpp:" + std::to_string(line1)), std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("observability_test.cpp:" + std::to_string(line2)), std::string::npos)
      << lines[1];
}

TEST(Observability, EveryFlushDumpsItsGraphsPlanCacheHitsToo) {
  fs::path d = scratch("dot_hits");
  fs::path dump = d / "dump";
  // Eager: eight flushes of one graph, seven of them plan cache hits.
  ChildRun r =
      child("chain", "TILEJIT_LAZY=0 TILEJIT_STATS=1 TILEJIT_DUMP_DIR=" + dump.string(), d);
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_EQ(stats_of(r.err)["plan_hits"], "7") << r.err;
  std::set<std::string> dots;
  for (const auto& e : fs::directory_iterator(dump))
    if (e.path().extension() == ".dot") dots.insert(e.path().filename().string());
  std::set<std::string> expected;
  for (int i = 1; i <= 8; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "flush-%04d", i);
    expected.insert(std::string(name) + ".before.dot");
    expected.insert(std::string(name) + ".after.dot");
  }
  EXPECT_EQ(dots, expected);
  // A hit's graph after fusion is drawn from its cached plan, with the
  // location of the op that the flush computed.
  std::string last = slurp(dump / "flush-0008.after.dot");
  EXPECT_NE(last.find("flush 8 after fusion"), std::string::npos) << last;
  EXPECT_NE(last.find("kernel 0: tj_pointwise_"), std::string::npos) << last;
  EXPECT_NE(last.find("fillcolor=\"#8dd3c7\""), std::string::npos) << last;
  EXPECT_NE(last.find("observability_child.cpp:"), std::string::npos) << last;
  if (std::system("command -v dot >/dev/null 2>&1") != 0) return;  // parsed in DotFiles...
  for (const std::string& n : dots) {
    std::string cmd = "dot -Tsvg " + (dump / n).string() + " -o /dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
}

TEST(Observability, TimelineIsValidJsonWithEveryEventKind) {
  fs::path d = scratch("timeline");
  fs::path f = d / "timeline.json";
  // Eager: eight flushes of the same graph, so plan cache hits appear.
  ChildRun r = child("chain", "TILEJIT_LAZY=0 TILEJIT_TIMELINE=" + f.string(), d);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  ASSERT_TRUE(fs::exists(f));
  std::string json = slurp(f);
  ASSERT_TRUE(json.starts_with("{\"traceEvents\":[")) << json.substr(0, 200);
  ASSERT_TRUE(json.find("]") != std::string::npos);
  for (const char* cat : {"flush", "schedule", "compile", "cache", "launch"})
    EXPECT_NE(json.find(std::string("\"cat\":\"") + cat + "\""), std::string::npos) << cat;
  if (!has_python()) return;  // the minimal checks above stand
  std::string cmd =
      "python3 -c 'import json,sys\n"
      "d = json.load(open(sys.argv[1]))\n"
      "ev = d[\"traceEvents\"]\n"
      "cats = {e.get(\"cat\") for e in ev}\n"
      "assert {\"flush\",\"schedule\",\"compile\",\"cache\",\"launch\"} <= cats, cats\n"
      "launch = [e for e in ev if e.get(\"cat\") == \"launch\"]\n"
      "assert len(launch) == 8, len(launch)\n"
      "assert all(e[\"name\"].startswith(\"tj_pointwise_\") and e[\"args\"][\"size\"] == 1000"
      " and e[\"ph\"] == \"X\" and e[\"dur\"] >= 0 for e in launch), launch\n"
      "assert len([e for e in ev if e.get(\"cat\") == \"flush\"]) == 8\n"
      "assert any(e[\"name\"] == \"plan cache hit\" for e in ev)\n"
      "' " +
      f.string() + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST(Observability, StatsLineCountsLazyAndEagerChains) {
  fs::path d = scratch("stats");
  ChildRun lazy = child("chain", "TILEJIT_STATS=1", d);
  ASSERT_EQ(lazy.rc, 0) << lazy.err;
  auto lines = lines_with(lazy.err, "tilejit stats: ");
  ASSERT_EQ(lines.size(), 1u) << lazy.err;
  EXPECT_TRUE(lines[0].starts_with(
      "tilejit stats: flushes=1 plan_hits=0 kernels_compiled=1 kernels_launched=1 "
      "cache_mem_hits=0 cache_disk_hits=0 compile_ms="))
      << lines[0];
  EXPECT_EQ(lazy.err, lines[0] + "\n");  // nothing else

  ChildRun eager = child("chain", "TILEJIT_STATS=1 TILEJIT_LAZY=0", d);
  ASSERT_EQ(eager.rc, 0) << eager.err;
  auto s = stats_of(eager.err);
  EXPECT_EQ(s["flushes"], "8") << eager.err;
  EXPECT_EQ(s["kernels_launched"], "8") << eager.err;
  EXPECT_EQ(s["plan_hits"], "7") << eager.err;  // the same graph every time
  EXPECT_EQ(s["kernels_compiled"], "1") << eager.err;
  EXPECT_EQ(lazy.out, eager.out);  // same values
}

TEST(Observability, StatsCountDiskCacheHits) {
  fs::path d = scratch("stats_disk");
  std::string env = "TILEJIT_STATS=1 TILEJIT_CACHE=on TILEJIT_CACHE_DIR=" + (d / "cache").string();
  ChildRun first = child("chain", env, d);
  ASSERT_EQ(first.rc, 0) << first.err;
  EXPECT_EQ(stats_of(first.err)["kernels_compiled"], "1") << first.err;
  ChildRun second = child("chain", env, d);
  ASSERT_EQ(second.rc, 0) << second.err;
  auto s = stats_of(second.err);
  EXPECT_EQ(s["kernels_compiled"], "0") << second.err;
  EXPECT_EQ(s["cache_disk_hits"], "1") << second.err;
  EXPECT_EQ(s["compile_ms"], "0.0") << second.err;
}

// The disk cache holds each kernel under its own key: a program that needs
// one of the kernels another program compiled in one flush with others
// compiles nothing.
TEST(Observability, AKernelCompiledBesideOthersIsADiskHitAlone) {
  fs::path d = scratch("stats_subset");
  std::string env = "TILEJIT_STATS=1 TILEJIT_CACHE=on TILEJIT_CACHE_DIR=" + (d / "cache").string();
  ChildRun a = child("three", env, d);
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(stats_of(a.err)["kernels_compiled"], "3") << a.err;
  ChildRun b = child("one", env, d);
  ASSERT_EQ(b.rc, 0) << b.err;
  auto s = stats_of(b.err);
  EXPECT_EQ(s["kernels_compiled"], "0") << b.err;
  EXPECT_EQ(s["cache_disk_hits"], "1") << b.err;
  EXPECT_EQ(a.out.substr(0, a.out.find(' ')), b.out.substr(0, b.out.find('\n'))) << a.out << b.out;
}

TEST(Observability, MemoryCacheHitsAreCounted) {
  reset_stats();
  Tensor x = from_vector(std::vector<float>(37, 1.5f));
  Tensor w = from_vector(std::vector<float>(5, 0.5f));
  Tensor a = sin(x);
  a.eval();  // compiles (or finds) the kernel of sin over [37]
  Tensor e = sin(x);
  Tensor f = cos(w) + 2.0;
  sync();  // a different graph: its sin kernel is the one compiled for `a`
  EXPECT_GE(stats().cache_mem_hits, 1);
  reset_stats();
  EXPECT_EQ(stats().cache_mem_hits, 0);
}

TEST(Observability, InvalidValuesWarn) {
  fs::path d = scratch("invalid");
  ChildRun r = child(
      "chain",
      "TILEJIT_STATS=maybe TILEJIT_TIMELINE=1 TILEJIT_DUMP_DIR=on TILEJIT_ALLOW_TF32=sometimes "
      "TILEJIT_CUDA_HOME=" +
          (d / "no-toolkit").string(),
      d);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("warning: ignoring TILEJIT_ALLOW_TF32=sometimes; valid values: 1"),
            std::string::npos)
      << r.err;
  // A toolkit path without a toolkit is not an error: tilejit looks further,
  // and runs on the CPU without CUDA.
  EXPECT_EQ(r.err.find("unknown variable"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("warning: ignoring TILEJIT_STATS=maybe; valid values: 1"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("warning: ignoring TILEJIT_TIMELINE=1; valid values: a file path"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("warning: ignoring TILEJIT_DUMP_DIR=on; valid values: a directory"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(lines_with(r.err, "tilejit stats:").empty()) << r.err;

  ChildRun typo = child("chain", "TILEJIT_TRACES=1", d);
  ASSERT_EQ(typo.rc, 0) << typo.err;
  EXPECT_NE(typo.err.find("unknown variable TILEJIT_TRACES is ignored; known:"), std::string::npos)
      << typo.err;
  EXPECT_NE(typo.err.find("TILEJIT_TRACE,"), std::string::npos) << typo.err;
  EXPECT_TRUE(lines_with(typo.err, "tilejit trace:").empty()) << typo.err;
}

// A variable read anywhere in the code but missing from the README's table
// fails here.
TEST(Observability, EveryVariableIsInTheReadmeTable) {
  const fs::path root = TJ_SOURCE_DIR;
  std::set<std::string> documented;
  std::regex name_re("`(TILEJIT_[A-Z0-9_]+)`");
  {
    std::istringstream in(slurp(root / "README.md"));
    for (std::string line; std::getline(in, line);) {
      if (!line.starts_with("| `TILEJIT_")) continue;
      std::string first_cell = line.substr(0, line.find('|', 1));
      for (std::sregex_iterator it(first_cell.begin(), first_cell.end(), name_re), end; it != end;
           ++it)
        documented.insert((*it)[1]);
    }
  }
  ASSERT_GE(documented.size(), 8u) << "README.md has no table of TILEJIT_ variables";

  std::regex literal_re("\"(TILEJIT_[A-Z0-9_]+)");
  std::map<std::string, std::string> used;  // name -> first file naming it
  for (const char* dir : {"ir", "trace", "jit", "scheduler", "cache", "tools", "include"}) {
    if (!fs::exists(root / dir)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / dir)) {
      std::string ext = e.path().extension().string();
      if (ext != ".cpp" && ext != ".h" && ext != ".cuh" && ext != ".def") continue;
      std::string text = slurp(e.path());
      for (std::sregex_iterator it(text.begin(), text.end(), literal_re), end; it != end; ++it)
        used.emplace((*it)[1], fs::relative(e.path(), root).string());
    }
  }
  ASSERT_TRUE(used.count("TILEJIT_LAZY")) << "the source scan found nothing";
  for (const char* v : {"TILEJIT_TRACE", "TILEJIT_DUMP_DIR", "TILEJIT_TIMELINE", "TILEJIT_STATS"})
    EXPECT_TRUE(used.count(v)) << v << " is not read anywhere";
  for (const auto& [name, file] : used)
    EXPECT_TRUE(documented.count(name))
        << name << " (read in " << file << ") is missing from README.md's variable table";
}

// A matmul that runs tilejit's own GEMM (no oneDNN, no CBLAS) says so once
// per process, at the first one, naming the fix; with oneDNN nothing is said.
TEST(Observability, SlowMatmulWarnsOnce) {
  fs::path d = scratch("slow_matmul");
  ChildRun off = child("matmuls", "TILEJIT_ONEDNN=0", d);
  ASSERT_EQ(off.rc, 0) << off.err;
  EXPECT_EQ(off.out, "5.000000\n5.000000\n5.000000\n");
  auto warned =
      lines_with(off.err, "tilejit: warning: matmul (f32 8x8x32) runs tilejit's generated GEMM");
  if (!TJ_HAVE_CBLAS) {
    ASSERT_EQ(warned.size(), 1u) << off.err;
    EXPECT_NE(warned[0].find(TJ_HAVE_ONEDNN ? "TILEJIT_ONEDNN=0" : "libdnnl-dev"),
              std::string::npos)
        << warned[0];
    EXPECT_EQ(off.err, warned[0] + "\n") << "one warning, nothing else";
  } else {
    EXPECT_TRUE(warned.empty()) << off.err;  // CBLAS runs them
  }
  ChildRun on = child("matmuls", "", d);
  ASSERT_EQ(on.rc, 0) << on.err;
  EXPECT_EQ(on.out, off.out);
  if (TJ_HAVE_ONEDNN || TJ_HAVE_CBLAS) {
    EXPECT_EQ(on.err, "") << "a GEMM library runs them";
  }
}

}  // namespace
}  // namespace tj
