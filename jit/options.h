// The settings the JIT reads, filled in by the tracer (trace/config.cpp)
// from tj::config(): jit/ never includes the public configuration.
//
// A process-wide copy serves threads that have not been given their own
// (background threads, programs that use jit/ without the tracer); the
// tracer installs the calling thread's settings with an OptionsScope around
// every call into jit/, so a ConfigGuard in one thread changes what the JIT
// does in that thread only.
#pragma once

#include <string>

namespace tj::jit {

struct Options {
  std::string cxx;  // the C++ compiler for CPU kernels (empty: c++)
  std::string
      cuda_home;  // the CUDA toolkit loaded at run time (empty: the build's, then the loader's)
  bool allow_tf32 = false;         // f32 GEMMs on CUDA may use TF32
  bool onednn = true;              // CPU GEMMs through oneDNN when the build has it
  bool dynamic = true;             // a changing dim 0 becomes a symbol (sched/dynamic.h)
  double compile_timeout_s = 300;  // a host compiler run past this is killed (0: no limit)
  int64_t plan_cache_size = 1024;  // plans kept in memory (least recently used out first);
                                   // the kernel cache keeps 4x as many kernels
  // Observability (jit/observe/observe.h): each empty when off.
  std::string trace;     // "stderr" or a file path
  std::string dump_dir;  // directory for kernel sources, Kernel IR and graphs
  std::string timeline;  // Chrome trace-event file written at exit

  /// Any of trace, dump_dir, timeline is on.
  bool observing() const { return !trace.empty() || !dump_dir.empty() || !timeline.empty(); }
  bool operator==(const Options&) const = default;
};

/// The options in effect in the calling thread. The reference stays valid
/// until this thread next changes its options.
const Options& options();

/// Replaces the process-wide options (threads without an OptionsScope see
/// them from their next call on).
void set_default_options(const Options& o);

/// Makes `o` the calling thread's options for the scope's lifetime; `o` must
/// outlive the scope. Scopes nest.
class OptionsScope {
 public:
  explicit OptionsScope(const Options& o);
  ~OptionsScope();
  OptionsScope(const OptionsScope&) = delete;
  OptionsScope& operator=(const OptionsScope&) = delete;

 private:
  const Options* outer_;
};

}  // namespace tj::jit
