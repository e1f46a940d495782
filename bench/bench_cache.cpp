// Kernel cache timings: a cold compile, a disk hit (a new process finding the
// kernel on disk) and a memory hit (a plan found by structural hash), for a
// typical fused kernel on the CPU backend.
//
//   bench_cache            run everything (spawns itself for the disk hit)
#include <fmt/format.h>
#include <tilejit/tilejit.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "jit/executor.h"
#include "trace/trace.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

/// A typical fused kernel: softmax(x * s + bias) over rows of n.
tj::Tensor program(const tj::Tensor& x, const tj::Tensor& b) {
  return tj::softmax(x * 1.5f + b, -1);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Runs the program once on a shape of its own; returns the flush time.
double first_flush_ms(int64_t n) {
  tj::Tensor x = tj::rand({64, n}), b = tj::rand({n});
  x.eval();
  b.eval();
  auto t0 = Clock::now();
  program(x, b).eval();
  return ms_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  // Each shape below is a new kernel only with static sizes: with dynamic
  // sizes (the default) the third shape of a structure compiles nothing.
  setenv("TILEJIT_DYNAMIC", "static", 1);  // read at start-up, before the first tilejit call
  const std::string dir = fmt::format("/tmp/tilejit-bench-cache-{}", getpid());
  if (argc > 2 && std::string(argv[1]) == "--child") {
    // A fresh process on a warm disk cache: no compile, only disk hits.
    const int64_t n = std::atoll(argv[2]);
    tj::reset_stats();
    double ms = first_flush_ms(n);
    tj::Stats s = tj::stats();
    fmt::print("{:.3f} {} {}\n", ms, s.kernels_compiled, s.cache_disk_hits);
    return 0;
  }
  setenv("TILEJIT_CACHE_DIR", dir.c_str(), 1);
  fmt::print("bench_cache: kernel cache timings on the CPU backend (cache in {})\n", dir);

  // Warm up the compiler itself (first exec of cc1plus, page cache).
  first_flush_ms(17);

  // 1. Cold compiles: each shape is a new kernel (shapes are in the source).
  std::vector<double> cold;
  std::vector<int64_t> sizes{1000, 1001, 1002, 1003, 1004};
  for (int64_t n : sizes) {
    tj::reset_stats();
    double ms = first_flush_ms(n);
    if (tj::stats().kernels_compiled < 1) fmt::print("warning: n={} compiled nothing\n", n);
    cold.push_back(ms);
  }

  // 2. Disk hits: a new process per shape finds every kernel on disk.
  std::vector<double> disk;
  for (int64_t n : sizes) {
    std::string cmd =
        fmt::format("TILEJIT_CACHE_DIR='{}' '/proc/{}/exe' --child {}", dir, getpid(), n);
    FILE* p = popen(cmd.c_str(), "r");
    double ms = 0;
    long compiled = -1, hits = -1;
    if (p && fscanf(p, "%lf %ld %ld", &ms, &compiled, &hits) == 3 && compiled == 0 && hits >= 1)
      disk.push_back(ms);
    else
      fmt::print("warning: child for n={} did not report a disk hit (compiled={}, hits={})\n", n,
                 compiled, hits);
    if (p) pclose(p);
  }

  // 3. Memory hits: the same structure again is a plan lookup by hash.
  uint64_t hash = 0;
  tj::trace::set_flush_observer([&](const tj::ir::Graph& g) { hash = g.hash(); });
  first_flush_ms(1000);
  tj::trace::set_flush_observer({});
  const int reps = 1000000;
  auto t0 = Clock::now();
  int found = 0;
  for (int i = 0; i < reps; ++i) found += tj::jit::plan_cached(hash) ? 1 : 0;
  double lookup_us = ms_since(t0) * 1000.0 / reps;
  std::vector<double> warm;
  for (int i = 0; i < 50; ++i) warm.push_back(first_flush_ms(1000));

  fmt::print("\n{:<38} {:>12}\n", "", "median");
  fmt::print("{:<38} {:>9.1f} ms\n", "cold compile (schedule+codegen+cc)", median(cold));
  if (!disk.empty())
    fmt::print("{:<38} {:>9.3f} ms   (first flush in a new process; includes scheduling)\n",
               "disk hit", median(disk));
  fmt::print("{:<38} {:>9.3f} us   ({} of {} lookups hit)\n", "memory hit (plan lookup by hash)",
             lookup_us, found, reps);
  fmt::print("{:<38} {:>9.3f} ms   (64 x 1000 softmax: trace, lookup, run)\n", "warm flush",
             median(warm));
  std::string rm = "rm -rf '" + dir + "'";
  if (std::system(rm.c_str()) != 0) return 1;
  return 0;
}
