// The host compiler as an attacker or a broken machine sees it: the compile
// directory is private and unpredictable, nothing is run through a shell,
// planted symlinks are never followed, a hanging compiler is stopped, a
// failing or killed one is reported as what it is, and the next op works.
// Each case runs tests/compiler_child in a fresh process with its own
// environment.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "jit/cpu/process.h"

namespace {

namespace fs = std::filesystem;
using tj::jit::cpu::ProcessResult;
using tj::jit::cpu::run_process;

struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& name) {
    dir = fs::temp_directory_path() / ("tj_cc_" + name + "_" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

/// Runs the child with `env` ("NAME=value") added; the kernel cache off so
/// every kernel is compiled.
ProcessResult child(const std::vector<std::string>& env, double timeout_s = 120) {
  std::vector<std::string> argv = {"env", "TILEJIT_CACHE=off"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(TJ_COMPILER_CHILD);
  return run_process(argv, timeout_s);
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

/// A compiler wrapper: answers the probes with the real compiler, runs
/// `body` (shell) for compiles.
fs::path wrapper(const fs::path& dir, const std::string& body) {
  fs::path p = dir / "cxx.sh";
  std::ofstream(p)
      << "#!/bin/sh\n"
      << "for a in \"$@\"; do case \"$a\" in --version|--help=target) exec c++ \"$@\";; "
         "esac; done\n"
      << body << "\n";
  fs::permissions(p, fs::perms::owner_all);
  return p;
}

TEST(Compiler, CompilesInAPrivateDirectoryRemovedAtExit) {
  ProcessResult r = child({});
  ASSERT_TRUE(r.ok()) << r.output;
  auto l = lines(r.output);
  ASSERT_EQ(l.size(), 3u) << r.output;
  EXPECT_EQ(l[0].rfind("ok ", 0), 0u) << r.output;
  EXPECT_EQ(l[1].rfind("ok ", 0), 0u) << r.output;
  ASSERT_EQ(l[2].rfind("dir ", 0), 0u) << r.output;
  const std::string dir = l[2].substr(4, l[2].find(" mode ") - 4);
  EXPECT_NE(dir.find("/tilejit-" + std::to_string(getuid()) + "-"), std::string::npos) << dir;
  EXPECT_NE(l[2].find(" mode 700"), std::string::npos) << l[2];
  EXPECT_FALSE(fs::exists(dir)) << dir << " was left behind";
}

TEST(Compiler, HangingCompilerIsStoppedAndTheNextOpWorks) {
  Scratch s("hang");
  const fs::path mark = s.dir / "hung-once";
  // Hangs on the first kernel unit (the preamble, precompiled in the
  // background by the same compiler, is left alone).
  const fs::path cxx = wrapper(s.dir,
                               "case \"$*\" in *c++-header*) exec c++ \"$@\";; esac\n"
                               "if [ ! -e '" +
                                   mark.string() + "' ]; then touch '" + mark.string() +
                                   "'; sleep 100; fi\nexec c++ \"$@\"");
  ProcessResult r = child({"TILEJIT_CXX=" + cxx.string(), "TILEJIT_COMPILE_TIMEOUT=2"});
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_LT(r.ms, 60000) << "the hung compiler was not stopped";
  auto l = lines(r.output);
  ASSERT_GE(l.size(), 2u) << r.output;
  EXPECT_EQ(l[0].rfind("error ", 0), 0u) << r.output;
  EXPECT_NE(l[0].find("did not finish within 2 s"), std::string::npos) << l[0];
  EXPECT_NE(l[0].find("TILEJIT_COMPILE_TIMEOUT"), std::string::npos) << l[0];
  EXPECT_EQ(l[1].rfind("ok ", 0), 0u) << "the next op: " << r.output;
}

TEST(Compiler, FailingCompilerIsNotReportedAsACodegenBug) {
  Scratch s("fail");
  const fs::path cxx = wrapper(s.dir, "echo 'cc1plus: out of disk quota' >&2; exit 1");
  ProcessResult r = child({"TILEJIT_CXX=" + cxx.string()});
  ASSERT_TRUE(r.ok()) << r.output;
  auto l = lines(r.output);
  ASSERT_GE(l.size(), 1u);
  EXPECT_EQ(l[0].rfind("error ", 0), 0u) << r.output;
  EXPECT_NE(l[0].find("failed (exit status 1)"), std::string::npos) << l[0];
  EXPECT_NE(l[0].find("check the compiler"), std::string::npos) << l[0];
  EXPECT_NE(l[0].find("out of disk quota"), std::string::npos) << l[0];
  EXPECT_EQ(l[0].find("bug in tilejit"), std::string::npos) << l[0];
}

TEST(Compiler, KilledCompilerSaysSo) {
  Scratch s("killed");
  const fs::path cxx = wrapper(s.dir, "kill -9 $$");
  ProcessResult r = child({"TILEJIT_CXX=" + cxx.string()});
  ASSERT_TRUE(r.ok()) << r.output;
  auto l = lines(r.output);
  ASSERT_GE(l.size(), 1u);
  EXPECT_NE(l[0].find("killed by signal 9 (SIGKILL)"), std::string::npos) << l[0];
}

TEST(Compiler, MissingCompilerSaysWhatToDo) {
  ProcessResult r = child({"TILEJIT_CXX=/nonexistent/bin/c++"});
  ASSERT_TRUE(r.ok()) << r.output;
  auto l = lines(r.output);
  ASSERT_GE(l.size(), 1u);
  EXPECT_NE(l[0].find("no C++ compiler found"), std::string::npos) << l[0];
  EXPECT_NE(l[0].find("TILEJIT_CXX"), std::string::npos) << l[0];
}

// TMPDIR used to be pasted into a shell command.
TEST(Compiler, TmpdirIsNeverPartOfACommand) {
  Scratch s("inject");
  const fs::path injected = s.dir / "INJECTED";
  const std::string evil = "/tmp/q'; touch " + injected.string() + "; echo '";
  ProcessResult r = child({"TMPDIR=" + evil});
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_FALSE(fs::exists(injected));
  auto l = lines(r.output);
  ASSERT_GE(l.size(), 2u);
  EXPECT_EQ(l[0].rfind("ok ", 0), 0u) << r.output;
}

// Another user prepared directories with the names a compile directory
// used to have (tilejit-<uid>-<pid>) for the next pids, each with symlinks at
// every name a kernel could get, pointing at a file of the victim's.
TEST(Compiler, PlantedDirectoriesAndSymlinksAreNeverFollowed) {
  Scratch s("planted");
  const fs::path victim = s.dir / "victim.txt";
  std::ofstream(victim) << "precious";
  fs::permissions(victim, fs::perms::owner_read | fs::perms::owner_write);
  const fs::path tmp = s.dir / "tmp";
  fs::create_directories(tmp);
  fs::permissions(tmp, fs::perms::all | fs::perms::sticky_bit);  // like /tmp
  const pid_t next = getpid();
  for (int k = 0; k < 300; ++k) {
    const fs::path d =
        tmp / ("tilejit-" + std::to_string(getuid()) + "-" + std::to_string(next + k));
    fs::create_directories(d);
    for (const char* f : {"a.cpp", "a.so", "a.log"}) fs::create_symlink(victim, d / f);
    fs::permissions(d, fs::perms::all);
    if (getuid() == 0) (void)!chown(d.c_str(), 65534, 65534);  // another user's, when we can
  }
  ProcessResult r = child({"TMPDIR=" + tmp.string()});
  ASSERT_TRUE(r.ok()) << r.output;
  auto l = lines(r.output);
  ASSERT_GE(l.size(), 3u);
  EXPECT_EQ(l[0].rfind("ok ", 0), 0u) << r.output;
  std::ifstream in(victim);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "precious");
  // The compile directory was a fresh one, not a planted one.
  EXPECT_EQ(l[2].find("/tilejit-" + std::to_string(getuid()) + "-" + std::to_string(next) + "/"),
            std::string::npos)
      << l[2];
}

TEST(Compiler, DirectoriesOfKilledProcessesAreRemovedByTheNext) {
  Scratch s("stale");
  ProcessResult dead = run_process({"true"}, 10);  // its pid is free now
  ASSERT_TRUE(dead.ok());
  // A pid no process has: one above the kernel's limit.
  std::ifstream max("/proc/sys/kernel/pid_max");
  long pid_max = 4194304;
  max >> pid_max;
  const fs::path stale = s.dir / ("tilejit-" + std::to_string(getuid()) + "-" +
                                  std::to_string(pid_max + 1) + "-abc123");
  fs::create_directories(stale);
  std::ofstream(stale / "tj_pointwise_1_0.cpp") << "left by kill -9";
  fs::permissions(stale, fs::perms::owner_all);
  ProcessResult r = child({"TMPDIR=" + s.dir.string()});
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_FALSE(fs::exists(stale)) << "the stale directory is still there";
}

}  // namespace
