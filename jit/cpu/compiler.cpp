#include "jit/cpu/compiler.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "ir/check.h"
#include "ir/log.h"
#include "jit/options.h"

namespace tj::jit {

namespace {

std::string run_capture(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string work_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = tmp && *tmp ? tmp : "/tmp";
    std::string d = fmt::format("{}/tilejit-{}-{}", base, getuid(), getpid());
    std::string cmd = "mkdir -p '" + d + "'";
    if (std::system(cmd.c_str()) != 0) throw Error("cannot create the compile directory " + d);
    return d;
  }();
  return dir;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

const CpuCompiler& cpu_compiler() {
  static const CpuCompiler c = [] {
    CpuCompiler c;
    c.command = options().cxx.empty() ? "c++" : options().cxx;
    int rc = 0;
    std::string ver = run_capture(c.command + " --version 2>&1", &rc);
    if (rc != 0)
      throw Error(fmt::format(
          "no C++ compiler found: `{} --version` failed; the CPU backend compiles its kernels at "
          "run time — install g++ or clang++, or set TILEJIT_CXX to a compiler",
          c.command));
    c.identity = trim(ver.substr(0, ver.find('\n')));
    std::string march = run_capture(
        c.command + " -march=native -Q --help=target 2>/dev/null | grep -E '^ +-march=' | head -1",
        &rc);
    std::string arch;
    if (size_t p = march.find('='); p != std::string::npos) arch = trim(march.substr(p + 1));
    while (!arch.empty() && (arch.front() == ' ' || arch.front() == '\t')) arch.erase(arch.begin());
#if defined(__x86_64__)
    c.target = "x86_64 -march=native (" + (arch.empty() ? "unknown" : arch) + ")";
#elif defined(__aarch64__)
    c.target = "aarch64 -march=native (" + (arch.empty() ? "unknown" : arch) + ")";
#else
    c.target = "native (" + arch + ")";
#endif
    c.flags = "-std=c++17 -O3 -march=native -fopenmp-simd -fno-math-errno -fPIC -shared -w";
    return c;
  }();
  return c;
}

CpuModule::~CpuModule() {
  if (handle_) dlclose(handle_);
}

void* CpuModule::symbol(const std::string& name) const {
  void* s = dlsym(handle_, name.c_str());
  TJ_CHECK(s != nullptr, "kernel {} missing from its shared object", name);
  return s;
}

std::shared_ptr<CpuModule> CpuModule::compile(const std::string& source, const std::string& hint,
                                              double* ms) {
  const CpuCompiler& cc = cpu_compiler();
  static std::atomic<int> counter{0};
  std::string base = fmt::format("{}/{}_{}", work_dir(), hint, counter++);
  std::string src = base + ".cpp", so = base + ".so", log = base + ".log";
  {
    std::ofstream f(src, std::ios::binary);
    f << source;
    if (!f) throw Error(fmt::format("cannot write kernel source {} (disk full?)", src));
  }
  auto t0 = std::chrono::steady_clock::now();
  std::string cmd =
      fmt::format("{} {} -o '{}' '{}' > '{}' 2>&1", cc.command, cc.flags, so, src, log);
  int rc = std::system(cmd.c_str());
  *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (rc != 0) {
    std::string msg = read_file(log);
    if (msg.size() > 4000) msg = msg.substr(0, 4000) + "\n[...]";
    throw Error(fmt::format(
        "compiling kernel {} failed (this is a bug in tilejit's code generator; please report it "
        "with the source). Source kept at {}\nCompiler: {}\n{}",
        hint, src, cmd, msg));
  }
  auto m = std::shared_ptr<CpuModule>(new CpuModule());
  m->binary_ = read_file(so);
  m->handle_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!m->handle_) throw Error(fmt::format("loading compiled kernel {} failed: {}", so, dlerror()));
  std::remove(so.c_str());
  std::remove(log.c_str());
  if (!log_enabled(LogLevel::debug)) std::remove(src.c_str());
  return m;
}

std::shared_ptr<CpuModule> CpuModule::load(const std::string& binary, const std::string& hint) {
  // A file with a unique name: dlopen recognises objects by name, so a
  // reused path (such as /proc/self/fd/N) could return an older object.
  static std::atomic<int> counter{0};
  std::string so = fmt::format("{}/{}_cached_{}.so", work_dir(), hint, counter++);
  {
    std::ofstream f(so, std::ios::binary);
    f.write(binary.data(), static_cast<std::streamsize>(binary.size()));
    if (!f) {
      std::remove(so.c_str());
      return nullptr;
    }
  }
  auto m = std::shared_ptr<CpuModule>(new CpuModule());
  m->handle_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::remove(so.c_str());
  if (!m->handle_) return nullptr;  // a bad cached binary is a miss
  m->binary_ = binary;
  return m;
}

}  // namespace tj::jit
