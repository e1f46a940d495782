// The CPU backend's compiler and loader.
//
// Kernels are compiled with the host C++ compiler (TILEJIT_CXX, default
// `c++`) into a shared object with -O3 -march=native and loaded with dlopen.
// The compiler's identity and the resolved -march are probed once and are
// part of every cache key. Failures are tj::Errors that say what to do: no
// compiler (set TILEJIT_CXX), a compile error (the source is kept and its
// path printed with the compiler's message), a failed dlopen.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace tj::jit {

struct CpuCompiler {
  std::string command;   // as run, e.g. "c++"
  std::string identity;  // first line of `--version`, e.g. "c++ (Debian 12.2.0-14) 12.2.0"
  std::string target;    // e.g. "x86_64 -march=native=znver4"
  std::string flags;     // the options every kernel is compiled with
};

/// Probes the compiler once per process; throws tj::Error when none works.
const CpuCompiler& cpu_compiler();

/// A loaded shared object; symbols stay valid while it lives.
class CpuModule {
 public:
  ~CpuModule();
  CpuModule(const CpuModule&) = delete;
  CpuModule& operator=(const CpuModule&) = delete;
  void* symbol(const std::string& name) const;
  const std::string& binary() const { return binary_; }

  /// Compiles `source` and loads it. `ms` receives the compile time.
  static std::shared_ptr<CpuModule> compile(const std::string& source, const std::string& hint,
                                            double* ms);
  /// Loads a shared object from its bytes (a cache hit).
  static std::shared_ptr<CpuModule> load(const std::string& binary, const std::string& hint);

 private:
  CpuModule() = default;
  void* handle_ = nullptr;
  std::string binary_;
};

}  // namespace tj::jit
