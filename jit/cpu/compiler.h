// The CPU backend's compiler and loader.
//
// Kernels are compiled with the host C++ compiler (TILEJIT_CXX, default
// `c++`; words split at spaces, so "ccache g++" works) into a shared object
// with -O3 -march=native and loaded with dlopen. The compiler's identity
// and the resolved -march are probed once and are part of every cache key.
//
// Safety: the compiler runs without a shell (jit/cpu/process.h), in a
// directory of this process's own made with mkdtemp (mode 0700, under
// $XDG_RUNTIME_DIR when it is usable, else $TMPDIR, else /tmp, named
// tilejit-<uid>-<pid>-XXXXXX), and every file in it is created with
// O_CREAT|O_EXCL|O_NOFOLLOW, so no other user can put a file, a directory or
// a symlink where tilejit writes. The directory is removed at exit; the ones
// that killed processes left behind are removed by the next process of the
// same user. A compile that runs past TILEJIT_COMPILE_TIMEOUT seconds
// (default 300) is killed with everything it started.
//
// Failures are tj::Errors that say what to do and whose fault it is: no
// compiler (install one or set TILEJIT_CXX), a compiler that crashed, was
// killed or timed out, a compiler that fails without a diagnostic (check
// the compiler), and an error in the generated source (a bug in tilejit's
// code generator: the source is kept and its path printed), a failed dlopen.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace tj::jit {

struct CpuCompiler {
  std::vector<std::string> argv;  // the command, e.g. {"c++"} or {"ccache", "g++"}
  std::string command;            // the same, as one string for messages
  std::string identity;           // first line of `--version`, e.g. "c++ (Debian 12.2.0-14) 12.2.0"
  std::string target;             // e.g. "x86_64 -march=native (znver4)"
  std::vector<std::string> flag_list;  // the options every kernel is compiled with
  std::string flags;                   // the same, as one string (part of the cache key)
  // Libraries a kernel's shared object links, after its source (see `flags`'s -nostdlib).
  std::vector<std::string> link_libs;
};

/// Probes the compiler once per process; throws tj::Error when none works.
const CpuCompiler& cpu_compiler();

/// The directory this process compiles in (made on first use; throws
/// tj::Error when no private directory can be made).
const std::string& compile_dir();

/// A loaded shared object; symbols stay valid while it lives.
class CpuModule {
 public:
  ~CpuModule();
  CpuModule(const CpuModule&) = delete;
  CpuModule& operator=(const CpuModule&) = delete;
  void* symbol(const std::string& name) const;
  bool has_symbol(const std::string& name) const;
  const std::string& binary() const { return binary_; }

  /// Compiles `source` with the kernel flags and loads it. `ms` receives the
  /// compile time; `hint` (a kernel name) names the files.
  static std::shared_ptr<CpuModule> compile(const std::string& source, const std::string& hint,
                                            double* ms);
  /// The same with other flags (`-shared -fPIC` and the output are added).
  static std::shared_ptr<CpuModule> compile_with(const std::string& source, const std::string& hint,
                                                 const std::vector<std::string>& flags, double* ms);
  /// Loads a shared object from its bytes (a cache hit); null when it
  /// cannot be loaded.
  static std::shared_ptr<CpuModule> load(const std::string& binary, const std::string& hint);

 private:
  CpuModule() = default;
  void* handle_ = nullptr;
  std::string binary_;
};

}  // namespace tj::jit
