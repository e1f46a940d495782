// tilejit — run-time configuration and statistics.
//
// Every setting is read once from the environment at start-up (the README
// lists the variables) and can be changed afterwards in code through
// `tj::config()`, or for one scope of one thread with `tj::ConfigGuard`.
//
// Threads: the process-wide configuration is meant to be set up while one
// thread runs (at start-up, or between phases of a program); tilejit reads
// it only in the threads that call it. To change settings while other
// threads use tilejit, use a ConfigGuard: it changes them for its own
// thread only, and any number of threads may hold guards at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tilejit/device.h"
#include "tilejit/log.h"

namespace tj {

struct Config {
  /// TILEJIT_LAZY: true (default) traces ops and fuses them at a flush;
  /// false runs every op at once (eager mode, one kernel per op).
  bool lazy = true;
  /// TILEJIT_DEVICE: the default device; empty means `auto`.
  std::optional<Device> device;
  /// TILEJIT_MAX_TRACE: pending ops in one thread's trace before tilejit
  /// flushes on its own.
  int64_t max_trace = 4096;
  /// TILEJIT_LOG: how much is written to stderr.
  LogLevel log_level = LogLevel::warn;
  /// TILEJIT_CXX: the C++ compiler for CPU kernels (empty: `c++`); split
  /// into words at spaces ("ccache g++"), never run through a shell.
  std::string cxx;
  /// TILEJIT_COMPILE_TIMEOUT: seconds a host compiler run may take before it
  /// is stopped and the op that needed it throws tj::Error (0: no limit).
  double compile_timeout = 300;
  /// TILEJIT_PLAN_CACHE_SIZE: plans kept in memory, least recently used out
  /// first (the kernel cache keeps four times as many kernels), so a
  /// program that sees endless new shapes uses bounded memory.
  int64_t plan_cache_size = 1024;
  /// TILEJIT_TRACE: one line per flush (reason, graph size, plan cache hit
  /// or miss, kernels and the ops they fuse) written to "stderr"
  /// (TILEJIT_TRACE=1) or appended to the file at this path; empty: off.
  std::string trace;
  /// TILEJIT_DUMP_DIR: directory that receives each compiled kernel's C++
  /// source and Kernel IR, and each new graph before and after fusion as
  /// Graphviz DOT; empty: off.
  std::string dump_dir;
  /// TILEJIT_TIMELINE: Chrome/Perfetto trace-event JSON file written at exit
  /// (flushes, scheduling, compiles, cache hits, launches); empty: off.
  std::string timeline;
  /// TILEJIT_STATS: at exit print one line of `tj::stats()` to stderr.
  bool stats = false;
  /// TILEJIT_CUDA_HOME: the CUDA toolkit whose NVRTC, cuBLASLt and fp16/bf16
  /// headers tilejit loads at run time (empty: the toolkit found at build
  /// time, then the dynamic loader's search path). Read when CUDA is first
  /// used.
  std::string cuda_home;
  /// TILEJIT_ALLOW_TF32: let f32 matmuls on CUDA use TF32 tensor cores
  /// (about 10 bits of mantissa in the products; off by default).
  bool allow_tf32 = false;
  /// TILEJIT_ONEDNN: CPU matmuls and convolutions run through oneDNN when
  /// the build has it (on by default; off: a CBLAS for matmul when the build
  /// has one, else tilejit's generated kernels). Plans made with and without
  /// it are cached apart.
  bool onednn = true;
  /// TILEJIT_DYNAMIC: `auto` (the default) plans a graph with constant sizes
  /// the first time its structure is flushed; when the same structure comes
  /// again with another size (a batch, a number of tokens, a cache length
  /// read through a view), the sizes that changed become a symbol and its
  /// kernels are compiled once for every value of it. `static` (false)
  /// compiles every new size.
  bool dynamic = true;
};

/// The configuration in effect in the calling thread: its innermost
/// ConfigGuard's, else the process-wide one. Changes apply to ops traced
/// afterwards.
Config& config();

/// Changes configuration for one scope of the calling thread:
/// `tj::ConfigGuard g; g->lazy = false;`. The guard starts as a copy of the
/// configuration in effect and replaces it in this thread until the guard's
/// scope ends; other threads keep theirs. Guards nest (the innermost wins)
/// and must end in the thread that made them, in reverse order.
class ConfigGuard {
 public:
  ConfigGuard();
  ~ConfigGuard();
  ConfigGuard(const ConfigGuard&) = delete;
  ConfigGuard& operator=(const ConfigGuard&) = delete;
  Config* operator->() { return &mine_; }
  Config& operator*() { return mine_; }

 private:
  Config mine_;
  Config* outer_;
};

/// Why pending ops were computed.
enum class FlushReason : uint8_t { host_read, sync, trace_limit, eager, untraceable };
std::string_view flush_reason_name(FlushReason r);

/// Counters since start-up or the last `reset_stats()`, over all threads.
struct Stats {
  int64_t ops_traced = 0;  // ops recorded (lazy) or run (eager)
  int64_t flushes = 0;     // flushes that computed something
  int64_t flushes_by_reason[5] = {};
  int64_t graph_nodes = 0;     // nodes in all flushed graphs, after CSE
  int64_t nodes_executed = 0;  // graph nodes computed (not counting leaves)
  int64_t tensors_materialized = 0;
  int64_t plan_hits = 0;         // flushes that reused a cached plan
  int64_t plan_misses = 0;       // flushes that scheduled and lowered a new graph
  int64_t kernels_compiled = 0;  // kernels compiled (not found in any cache)
  int64_t cache_mem_hits = 0;    // kernels found in the in-memory kernel cache
  int64_t cache_disk_hits = 0;   // kernels loaded from the on-disk cache
  int64_t kernels_launched = 0;  // kernel launches, GEMM calls included
  double compile_ms = 0;         // time spent in compilers
  // outputs written into the memory of an input nothing else could read any
  // more (the old value of `p -= lr * g`, a replaced optimizer moment)
  int64_t buffers_donated = 0;
  // dynamic sizes (Config::dynamic): graph structures whose kernels were
  // compiled for a symbolic size, and flushes whose plan came from such a
  // dynamic plan without scheduling or compiling
  int64_t dynamic_compiles = 0;
  int64_t dynamic_hits = 0;
};

Stats stats();
void reset_stats();
/// The TILEJIT_STATS line: `tilejit stats: flushes=N plan_hits=N ...`.
std::string stats_line(const Stats& s);

/// A device's caching allocator (the host's for Device::cpu()): tensors and
/// kernel temporaries, not the compiled kernels.
struct MemoryStats {
  size_t allocated_bytes = 0;       // in live tensors and temporaries
  size_t reserved_bytes = 0;        // allocated + cached for reuse
  size_t peak_allocated_bytes = 0;  // since start-up or reset_peak_memory_stats()
  int64_t allocations = 0;          // allocation requests
  int64_t cache_hits = 0;           // requests served from the cache
  int64_t device_mallocs = 0;       // requests that called the OS or the driver
  int64_t oom_retries = 0;          // out-of-memory → cache freed → retried
};
/// Computes nothing: pending ops have not allocated yet (call tj::sync() first).
MemoryStats memory_stats(Device device = Device::cpu());
void reset_peak_memory_stats(Device device = Device::cpu());

}  // namespace tj
