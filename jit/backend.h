// The backend interface: what a device does for tilejit.
//
// jit/ owns the shared C-like code generator (jit/codegen/), one plan
// runner (jit/run_plan.h), the executor with its plan cache
// (jit/executor.h), the one in-memory kernel cache (jit/kernel_cache.h)
// and observability (jit/observe/); each backend lives in a folder of its
// own (jit/cpu/, jit/cuda/) with its printer dialect, compiler, loader,
// memory and library calls, behind this interface. The test suite's CUDA
// emulator is a third implementation. jit/ must not decide fusion or tiles
// (the scheduler does) or include trace/ or the public configuration
// (jit/options.h carries what it needs).
//
// A backend describes its machine to the scheduler (target()), turns a
// plan's kernels into something it can launch (prepare(), through the
// kernel cache), owns its memory (alloc and copies to and from the host),
// and launches one step of a plan at a time for the runner. Everything is
// queued in order: a step may start only after the steps before it, as on
// one CUDA stream; synchronize() waits for what was queued.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/buffer.h"
#include "ir/graph.h"
#include "scheduler/plan.h"

namespace tj::jit {

/// What a backend made of one plan: its kernels compiled and loaded, and
/// whatever it decided per step. Opaque to the runner.
struct PreparedPlan {
  virtual ~PreparedPlan() = default;
};

/// What one prepare() found or did.
struct PrepareStats {
  int64_t compiled = 0;   // kernels compiled now
  int64_t disk_hits = 0;  // kernels loaded from the on-disk cache
  int64_t mem_hits = 0;   // kernels already loaded in this process
  double compile_ms = 0;
};

/// The buffers of one run of a plan, as a step sees them.
class RunBuffers {
 public:
  virtual ~RunBuffers() = default;
  /// The address of plan buffer `b`: a graph input, an output, or a
  /// temporary (allocated when first asked for).
  virtual void* at(int32_t b) = 0;
};

/// One step of a plan to launch.
struct StepRun {
  const sched::Plan& plan;
  const PreparedPlan& prepared;
  size_t step;
  RunBuffers& buffers;
  const std::vector<ir::ScalarValue>& scalars;  // the graph's run-time scalars, by slot
};

/// What launch() did.
struct Launched {
  size_t steps = 1;   // steps of the plan it ran (more than 1 when it fused the next ones)
  int64_t calls = 1;  // kernel launches and library calls queued
};

/// A device's memory, as tj::cuda::memory_stats reports it.
struct MemoryStats {
  size_t allocated_bytes = 0;
  size_t reserved_bytes = 0;
  size_t peak_allocated_bytes = 0;
  int64_t allocations = 0;
  int64_t cache_hits = 0;
  int64_t device_mallocs = 0;
  int64_t oom_retries = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  /// "cpu", "cuda:0": names the backend in messages and in-memory cache keys.
  virtual const std::string& name() const = 0;
  /// One line for people: the processor or GPU, its size.
  virtual std::string description() const = 0;
  /// The machine the scheduler plans for.
  virtual const sched::Target& target() const = 0;

  /// Compiles, loads from the disk cache, or finds in memory every kernel of `p`.
  virtual std::shared_ptr<const PreparedPlan> prepare(const sched::Plan& p, PrepareStats* st) = 0;

  /// State every step of one run needs (CUDA: the device's context made
  /// current, the thread's own restored when the returned object goes); null when none.
  virtual std::shared_ptr<void> begin_run() { return nullptr; }
  /// Queues step `r.step` of its plan (and, where the backend fuses them
  /// into it, the steps after it).
  virtual Launched launch(const StepRun& r) = 0;
  /// Waits for everything queued on this backend.
  virtual void synchronize() = 0;

  // ---- memory ----
  /// Uninitialised memory for at least `bytes` bytes on this device.
  virtual std::shared_ptr<Storage> alloc(size_t bytes) = 0;
  /// Host memory suited for copies to and from this device (pinned for a GPU).
  virtual std::shared_ptr<Storage> alloc_host(size_t bytes) = 0;
  /// Copies that return when the bytes have arrived (after the work queued before them).
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual MemoryStats memory_stats() const = 0;
  virtual void reset_peak_memory_stats() = 0;
  /// Returns cached, unused memory to the system.
  virtual void empty_cache() = 0;

  // ---- events: points in the queue, for timing device work ----
  virtual void* event_create() = 0;
  virtual void event_destroy(void* ev) = 0;
  virtual void event_record(void* ev) = 0;
  /// Waits for `end`; milliseconds from `start` to `end`.
  virtual float event_elapsed_ms(void* start, void* end) = 0;
};

/// Whether tilejit can run on `d` here; `why` (when given) says why not in one line.
bool available(Device d, std::string* why = nullptr);
/// How many devices of this type tilejit can use (the CPU: 1).
int device_count(DeviceType t);
/// The backend of `d`, made on first use (which for a GPU starts loading
/// NVRTC in the background). Throws tj::Error when `d` cannot be used.
Backend& backend(Device d);

/// A contiguous copy on `to` of `bytes` bytes at `src` on `from` (through
/// the host between two GPUs).
std::shared_ptr<Storage> transfer(const void* src, Device from, Device to, size_t bytes);

}  // namespace tj::jit
