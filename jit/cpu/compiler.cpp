#include "jit/cpu/compiler.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "ir/check.h"
#include "ir/log.h"
#include "jit/cpu/process.h"
#include "jit/options.h"

namespace tj::jit {

using cpu::ProcessResult;
using cpu::run_process;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(s.begin());
  return s;
}

// ---- the private compile directory --------------------------------------------------

/// A directory that is ours alone: owned by us, no access for anyone else.
bool private_dir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::getuid() &&
         (st.st_mode & 077) == 0;
}

bool usable_base(const char* p) {
  struct stat st {};
  return p && p[0] == '/' && ::stat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
         ::access(p, W_OK | X_OK) == 0;
}

/// $XDG_RUNTIME_DIR (a private directory by definition; checked), else
/// $TMPDIR, else /tmp: mkdtemp makes a fresh private directory in any of them.
std::string base_dir() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (usable_base(xdg) && private_dir(xdg)) return xdg;
  const char* tmp = std::getenv("TMPDIR");
  if (usable_base(tmp)) return tmp;
  return "/tmp";
}

std::string prefix() { return fmt::format("tilejit-{}-", static_cast<long>(::getuid())); }

/// Removes the regular files of a directory we own, then the directory
/// (never following a link: unlinkat removes the link itself).
void remove_private_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_uid != ::getuid()) {
    ::close(fd);
    return;
  }
  if (DIR* d = ::fdopendir(fd)) {
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      ::unlinkat(fd, e->d_name, 0);
    }
    ::closedir(d);  // closes fd
  } else {
    ::close(fd);
  }
  ::rmdir(path.c_str());
}

/// Compile directories of this user's processes that died without cleaning
/// up (kill -9): tilejit-<uid>-<pid>-XXXXXX with no process <pid>.
void remove_stale_dirs(const std::string& base) {
  DIR* d = ::opendir(base.c_str());
  if (!d) return;
  const std::string pre = prefix();
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(pre, 0) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + pre.size(), &end, 10);
    // (tilejit-<uid>-<pid> without a suffix: the name older versions used)
    if (pid <= 0 || !end || (*end != '-' && *end != 0) || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours)
    const std::string path = base + "/" + name;
    if (private_dir(path)) remove_private_dir(path);
  }
  ::closedir(d);
}

struct WorkDir {
  std::string path;
  std::atomic<bool> keep{false};  // a failed unit is kept for the user to report
};

WorkDir& work_dir_state() {
  static WorkDir* w = new WorkDir;  // never destroyed: the exit hook reads it
  return *w;
}

void remove_work_dir_at_exit() {
  WorkDir& w = work_dir_state();
  if (!w.path.empty() && !w.keep) remove_private_dir(w.path);
}

/// Writes `bytes` to a new file `path` that no one else can have prepared.
void write_new_file(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    throw Error(
        fmt::format("cannot create {} ({}): is the disk full?", path, std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      throw Error(fmt::format("cannot write {} ({}): is the disk full?", path, std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    ::unlink(path.c_str());
    throw Error(fmt::format("cannot write {} ({}): is the disk full?", path, std::strerror(errno)));
  }
}

std::string read_own_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string unique_base(const std::string& hint) {
  static std::atomic<int> counter{0};
  std::string safe;
  for (char c : hint) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return fmt::format("{}/{}_{}", compile_dir(), safe.substr(0, 64), counter++);
}

double compile_timeout_s() {
  const double t = options().compile_timeout_s;
  return t > 0 ? t : 0;
}

/// Why a compile failed, in words that say whose fault it is and what to do.
[[noreturn]] void compile_failed(const ProcessResult& r, const std::string& hint,
                                 const std::string& src, const std::string& command) {
  std::string out = r.output.size() > 4000 ? r.output.substr(0, 4000) + "\n[...]" : r.output;
  const double t = compile_timeout_s();
  switch (r.end) {
    case ProcessResult::End::not_started:
      throw Error(fmt::format(
          "cannot run the C++ compiler `{}` ({}); the CPU backend compiles its kernels at run "
          "time: install g++ or clang++, or set TILEJIT_CXX to a compiler",
          command, r.error));
    case ProcessResult::End::timed_out:
      throw Error(fmt::format(
          "compiling kernel {} with `{}` did not finish within {:g} s and was stopped; raise "
          "TILEJIT_COMPILE_TIMEOUT if the machine is very busy, or check the compiler",
          hint, command, t));
    case ProcessResult::End::signaled:
      throw Error(fmt::format(
          "the C++ compiler `{}` was {} while compiling kernel {} (out of memory?); the next "
          "op tries again\n{}",
          command, r.describe(t), hint, out));
    case ProcessResult::End::exited:
      break;
  }
  // A diagnostic about the generated file is tilejit's fault; anything else
  // (a broken or misconfigured compiler) is not.
  const std::string file = src.substr(src.rfind('/') + 1);
  if (out.find(file + ":") != std::string::npos && out.find("error") != std::string::npos) {
    work_dir_state().keep = true;
    throw Error(fmt::format(
        "compiling kernel {} failed: this is a bug in tilejit's code generator; please report "
        "it with the source, kept at {}\nCompiler: {}\n{}",
        hint, src, command, out));
  }
  throw Error(fmt::format(
      "the C++ compiler `{}` failed ({}) while compiling kernel {} without reporting an error "
      "in the kernel; check the compiler (TILEJIT_CXX):\n{}",
      command, r.describe(t), hint, out));
}

}  // namespace

const std::string& compile_dir() {
  static std::once_flag once;
  static std::string error;
  WorkDir& w = work_dir_state();
  std::call_once(once, [&] {
    const std::string base = base_dir();
    remove_stale_dirs(base);
    std::string tmpl = fmt::format("{}/{}{}-XXXXXX", base, prefix(), static_cast<long>(::getpid()));
    if (!::mkdtemp(tmpl.data())) {
      error = fmt::format(
          "cannot create a private directory to compile kernels in under {} ({}); set TMPDIR "
          "to a writable directory",
          base, std::strerror(errno));
      return;
    }
    if (!private_dir(tmpl)) {  // mkdtemp makes it 0700; a umask cannot widen it
      error = fmt::format("the compile directory {} is not private", tmpl);
      return;
    }
    w.path = tmpl;
    std::atexit(remove_work_dir_at_exit);
  });
  if (!error.empty()) throw Error(error);
  return w.path;
}

const CpuCompiler& cpu_compiler() {
  static const CpuCompiler c = [] {
    CpuCompiler c;
    c.command = options().cxx.empty() ? "c++" : options().cxx;
    c.argv = cpu::split_command(c.command);
    if (c.argv.empty()) c.argv = {"c++"};
    std::vector<std::string> version = c.argv;
    version.push_back("--version");
    ProcessResult v = run_process(version, 60);
    if (!v.ok())
      throw Error(fmt::format(
          "no C++ compiler found: `{} --version` {}; the CPU backend compiles its kernels at run "
          "time: install g++ or clang++, or set TILEJIT_CXX to a compiler",
          c.command, v.describe(60)));
    c.identity = trim(v.output.substr(0, v.output.find('\n')));
    std::vector<std::string> probe = c.argv;
    for (const char* a : {"-march=native", "-Q", "--help=target"}) probe.push_back(a);
    ProcessResult m = run_process(probe, 60);
    std::string arch;
    if (m.ok()) {
      for (size_t at = 0; at < m.output.size();) {
        size_t eol = m.output.find('\n', at);
        if (eol == std::string::npos) eol = m.output.size();
        const std::string line = trim(m.output.substr(at, eol - at));
        if (line.rfind("-march=", 0) == 0) {
          arch = trim(line.substr(7));
          break;
        }
        at = eol + 1;
      }
    }
#if defined(__x86_64__)
    c.target = "x86_64 -march=native (" + (arch.empty() ? "unknown" : arch) + ")";
#elif defined(__aarch64__)
    c.target = "aarch64 -march=native (" + (arch.empty() ? "unknown" : arch) + ")";
#else
    c.target = "native (" + arch + ")";
#endif
    // -fno-trapping-math: kernels never read floating-point exception flags,
    // and with them GCC keeps a select whose arms could raise one (a masked
    // softmax's where) as a branch, so the loop stays scalar: the causal
    // attention softmax over 8 x 1024 x 1024 took 220 ms on one core, 21 ms
    // with the flag.
    c.flag_list = {"-std=c++17",
                   "-O3",
                   "-march=native",
                   "-fopenmp-simd",
                   "-fno-math-errno",
                   "-fno-trapping-math",
                   "-fPIC",
                   "-shared",
                   "-w"};
#if defined(__x86_64__)
    // g++ tunes gathers off for AMD Zen, so a loop with a table lookup
    // (sin, cos) or an indexed load stays scalar where AVX-512 is missing:
    // sin over 1M floats takes 12.7 ms scalar and 2.9 ms with gathers on a
    // Zen 3 core. Kernels are loops where gathers win; clang has no such flag.
    if (c.identity.find("clang") == std::string::npos)
      c.flag_list.push_back("-mtune-ctrl=use_gather_2parts,use_gather_4parts,use_gather");
    // With -march=native on an AVX-512 CPU (Ice Lake and later, Zen 4/5), g++ and
    // clang still prefer 256-bit vectors, so kernels ran at half the width the
    // machine has: tanh-form GELU over 4096 floats took 0.52 ns per element with
    // 256-bit vectors and 0.39 with 512-bit ones on one core of a Xeon with
    // AVX-512; a fused 8-op chain with sigmoid and tanh 1.68 -> 1.19 ns.
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) c.flag_list.push_back("-mprefer-vector-width=512");
#endif
    // A kernel's shared object needs no start files and no C++ runtime: linked
    // with -nostdlib it takes 10 ms less to link (77 -> 68 ms for a softmax
    // unit), with libm (for f64 math, recorded only when used) and libgcc's
    // static helpers. Its calls to memcpy/memset bind to the process's libc.
    c.flag_list.push_back("-nostdlib");
    c.link_libs = {"-lm", "-lgcc"};
    for (const std::string& f : c.flag_list) c.flags += (c.flags.empty() ? "" : " ") + f;
    for (const std::string& f : c.link_libs) c.flags += " " + f;
    return c;
  }();
  return c;
}

CpuModule::~CpuModule() {
  if (handle_) dlclose(handle_);
}

bool CpuModule::has_symbol(const std::string& name) const {
  return dlsym(handle_, name.c_str()) != nullptr;
}

void* CpuModule::symbol(const std::string& name) const {
  void* s = dlsym(handle_, name.c_str());
  TJ_CHECK(s != nullptr, "kernel {} missing from its shared object", name);
  return s;
}

std::shared_ptr<CpuModule> CpuModule::compile(const std::string& source, const std::string& hint,
                                              double* ms) {
  return compile_with(source, hint, cpu_compiler().flag_list, ms);
}

std::shared_ptr<CpuModule> CpuModule::compile_with(const std::string& source,
                                                   const std::string& hint,
                                                   const std::vector<std::string>& flags,
                                                   double* ms) {
  const CpuCompiler& cc = cpu_compiler();
  const std::string base = unique_base(hint);
  const std::string src = base + ".cpp", so = base + ".so";
  write_new_file(src, source);
  std::vector<std::string> argv = cc.argv;
  argv.insert(argv.end(), flags.begin(), flags.end());
  for (const char* f : {"-fPIC", "-shared"})
    if (std::find(argv.begin(), argv.end(), f) == argv.end()) argv.push_back(f);
  argv.insert(argv.end(), {"-o", so, src});
  argv.insert(argv.end(), cc.link_libs.begin(), cc.link_libs.end());
  const ProcessResult r = run_process(argv, compile_timeout_s());
  *ms = r.ms;
  if (!r.ok()) {
    ::unlink(so.c_str());
    if (r.end != ProcessResult::End::exited) ::unlink(src.c_str());
    try {
      compile_failed(r, hint, src, cc.command);
    } catch (...) {
      if (!work_dir_state().keep) ::unlink(src.c_str());
      throw;
    }
  }
  auto m = std::shared_ptr<CpuModule>(new CpuModule());
  m->binary_ = read_own_file(so);
  m->handle_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  const std::string err = m->handle_ ? "" : dlerror();
  ::unlink(so.c_str());
  if (!log_enabled(LogLevel::debug)) ::unlink(src.c_str());
  if (!m->handle_) throw Error(fmt::format("loading compiled kernel {} failed: {}", hint, err));
  return m;
}

std::shared_ptr<CpuModule> CpuModule::load(const std::string& binary, const std::string& hint) {
  // A file with a unique name: dlopen recognises objects by name, so a
  // reused path (such as /proc/self/fd/N) could return an older object.
  const std::string so = unique_base(hint) + "_cached.so";
  try {
    write_new_file(so, binary);
  } catch (const Error&) {
    return nullptr;
  }
  auto m = std::shared_ptr<CpuModule>(new CpuModule());
  m->handle_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  ::unlink(so.c_str());
  if (!m->handle_) return nullptr;  // a bad cached binary is a miss
  m->binary_ = binary;
  return m;
}

}  // namespace tj::jit
