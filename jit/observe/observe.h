// jit/observe/ owns observability: what was traced, fused, compiled and
// launched, told by hooks the tracer, the executor and the backends call.
// It must not change what runs (names, sources and cache keys never see
// it), cost more than a branch when off, or include a backend: backends
// hand it their kernels' files (KernelDump).
//
// TILEJIT_TRACE   one line per flush: reason, graph size, plan cache hit or
//                 miss, the kernels with the ops they fuse and where in the
//                 user's code those ops were called, compiles, launches.
// TILEJIT_DUMP_DIR per kernel loaded into the process: <name>.cpp (a
//                 standalone translation unit, headed by a comment listing
//                 the traced ops it fuses and their source locations) and
//                 <name>.kir (Kernel IR); per flush: flush-N.before.dot and
//                 flush-N.after.dot (fused kernels coloured).
// TILEJIT_TIMELINE Chrome trace-event JSON written at exit; event categories
//                 flush, schedule, compile, cache, launch.
// TILEJIT_STATS   one `tilejit stats: ...` line on stderr at exit.
//
// The hooks are called from trace/ (ops, flushes) and jit/ (plans, kernels,
// launches). Each is an inline test of `on()` (or `locating()`) when
// observability is off, so the cost is one branch.
//
// Source locations. With TILEJIT_TRACE or TILEJIT_DUMP_DIR on, every traced
// op records its call stack (note_origin: backtrace(), a few hundred ns; the
// stacks are interned, so a loop stores each call site once). The flush
// gives each graph node the first stack recorded for it (hash-consed nodes
// come from several places; Graph::origin, outside the structural hash), and
// only when a dump file or trace line is written are the stacks symbolized:
// addr2line (binutils) on the executable or shared object of each frame,
// once per return address, falling back to dladdr's symbol names when
// addr2line or debug information is missing. The location shown is the
// first frame, innermost inlined call first, that is neither tilejit's own
// code (its source tree, found by symbolizing an address in
// jit/observe/origins.cpp, or its shared object) nor the C++ standard library:
// the line of the user's program that called the op (for a composite op such
// as softmax, the line that called softmax). Nothing is shown where nothing is known. Kernel
// names, the compiled source and cache keys never see any of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "jit/options.h"
#include "scheduler/make_plan.h"

namespace tj::ir {
struct Kernel;
}
namespace tj::sched {
struct Plan;
}

namespace tj::obs {

/// True when TILEJIT_TRACE, TILEJIT_DUMP_DIR or TILEJIT_TIMELINE is on in
/// the calling thread (jit::options()).
inline bool on() { return jit::options().observing(); }

/// Records the caller's stack for a just-traced op (the tracer calls it
/// when TILEJIT_TRACE or TILEJIT_DUMP_DIR is on).
void note_origin(const std::shared_ptr<void>& impl);
/// The origin id (for ir::GraphBuilder::set_origin) noted for `impl`, 0 when
/// none.
uint32_t origin_of(const void* impl);

/// With TILEJIT_DUMP_DIR: writes the result of each scheduler pass of the
/// current flush to flush-NNNN.<k>-<pass>.txt; otherwise an empty function.
sched::PassDump pass_dumper();

/// Writes the timeline events recorded so far to `path` (the tracer calls
/// it at exit with TILEJIT_TIMELINE). Returns false on error.
bool write_timeline(const std::string& path);

/// One file of a kernel's dump, TILEJIT_DUMP_DIR/<kernel name><suffix>: the
/// backend's form of the kernel (its source, PTX, ...). A source file is
/// headed by a comment listing the traced ops the kernel fuses.
struct DumpFile {
  std::string suffix;  // ".cpp", ".cu", ".ptx"
  std::string text;
  bool source = false;
};
/// A backend's files for one kernel (the plan's Kernel IR is dumped beside them).
using KernelDump = std::function<std::vector<DumpFile>(const ir::Kernel&)>;

namespace detail {
using Clock = std::chrono::steady_clock;
void flush_begin(std::string_view reason, const ir::Graph& g);
void flush_end(bool failed);
void plan_ready(const ir::Graph& g, const sched::Plan& p, bool hit);
void schedule_done(Clock::time_point start);
void kernels_loaded(const std::vector<const ir::Kernel*>& ks, bool from_disk, double ms,
                    const KernelDump& dump);
void kernel_mem_hit(const ir::Kernel& k);
void plan_note(std::string note);
void launch_done(const ir::Kernel& k, int64_t size, Clock::time_point start);
}  // namespace detail

/// Spans one flush (trace/trace.cpp, materialize); `reason` says why it
/// happens ("host read", "sync", ...).
class FlushScope {
 public:
  FlushScope(std::string_view reason, const ir::Graph& g) : active_(on()) {
    if (active_) detail::flush_begin(reason, g);
  }
  ~FlushScope() {
    if (active_) detail::flush_end(std::uncaught_exceptions() > 0);
  }
  FlushScope(const FlushScope&) = delete;
  FlushScope& operator=(const FlushScope&) = delete;

 private:
  bool active_;
};

/// Spans sched::make_plan.
class ScheduleScope {
 public:
  ScheduleScope() : active_(on()) {
    if (active_) start_ = detail::Clock::now();
  }
  ~ScheduleScope() {
    if (active_) detail::schedule_done(start_);
  }
  ScheduleScope(const ScheduleScope&) = delete;
  ScheduleScope& operator=(const ScheduleScope&) = delete;

 private:
  bool active_;
  detail::Clock::time_point start_;
};

/// Spans one kernel launch over `size` programs' worth of elements or rows.
class LaunchScope {
 public:
  LaunchScope(const ir::Kernel& k, int64_t size) : k_(&k), size_(size), active_(on()) {
    if (active_) start_ = detail::Clock::now();
  }
  ~LaunchScope() {
    if (active_) detail::launch_done(*k_, size_, start_);
  }
  LaunchScope(const LaunchScope&) = delete;
  LaunchScope& operator=(const LaunchScope&) = delete;
  /// Nothing was launched after all (a GEMM library declined the work).
  void cancel() { active_ = false; }

 private:
  const ir::Kernel* k_;
  int64_t size_;
  bool active_;
  detail::Clock::time_point start_;
};

/// A plan was found in the plan cache (hit) or just made (miss).
inline void plan_ready(const ir::Graph& g, const sched::Plan& p, bool hit) {
  if (on()) detail::plan_ready(g, p, hit);
}
/// Kernels compiled (from_disk false, `ms` the compile time) or loaded from
/// the on-disk cache; `dump` gives their files for TILEJIT_DUMP_DIR.
inline void kernels_loaded(const std::vector<const ir::Kernel*>& ks, bool from_disk, double ms,
                           const KernelDump& dump) {
  if (on()) detail::kernels_loaded(ks, from_disk, ms, dump);
}
/// A kernel found in the in-memory kernel cache.
inline void kernel_mem_hit(const ir::Kernel& k) {
  if (on()) detail::kernel_mem_hit(k);
}
/// Something the flush's trace line should say about its plan (a dim that
/// became dynamic, a plan made from a dynamic one).
inline void plan_note(std::string note) {
  if (on()) detail::plan_note(std::move(note));
}

}  // namespace tj::obs
