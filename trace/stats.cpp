#include "trace/stats.h"

#include <fmt/format.h>

#include <atomic>

#include "jit/executor.h"

namespace tj {

namespace {
struct Counters {
  std::atomic<int64_t> ops_traced{0};
  std::atomic<int64_t> flushes{0};
  std::atomic<int64_t> by_reason[5] = {};
  std::atomic<int64_t> graph_nodes{0};
  std::atomic<int64_t> nodes_executed{0};
  std::atomic<int64_t> tensors_materialized{0};
};
Counters& counters() {
  static Counters c;
  return c;
}
}  // namespace

std::string_view flush_reason_name(FlushReason r) {
  switch (r) {
    case FlushReason::host_read:
      return "host read";
    case FlushReason::sync:
      return "sync";
    case FlushReason::trace_limit:
      return "trace limit";
    case FlushReason::eager:
      return "eager";
    case FlushReason::untraceable:
      return "untraceable op";
  }
  return "?";
}

Stats stats() {
  Counters& c = counters();
  Stats s;
  s.ops_traced = c.ops_traced.load();
  s.flushes = c.flushes.load();
  for (int i = 0; i < 5; ++i) s.flushes_by_reason[i] = c.by_reason[i].load();
  s.graph_nodes = c.graph_nodes.load();
  s.nodes_executed = c.nodes_executed.load();
  s.tensors_materialized = c.tensors_materialized.load();
  jit::JitStats j = jit::jit_stats();
  s.plan_hits = j.plan_hits;
  s.plan_misses = j.plan_misses;
  s.kernels_compiled = j.kernels_compiled;
  s.kernels_launched = j.kernels_launched;
  s.compile_ms = j.compile_ms;
  s.cache_disk_hits = j.disk_hits;
  s.cache_mem_hits = j.mem_hits;
  s.buffers_donated = j.buffers_donated;
  s.dynamic_compiles = j.dynamic_compiles;
  s.dynamic_hits = j.dynamic_hits;
  return s;
}

std::string stats_line(const Stats& s) {
  return fmt::format(
      "tilejit stats: flushes={} plan_hits={} kernels_compiled={} kernels_launched={} "
      "cache_mem_hits={} cache_disk_hits={} compile_ms={:.1f} plan_misses={} ops_traced={} "
      "buffers_donated={} dynamic_compiles={} dynamic_hits={}",
      s.flushes, s.plan_hits, s.kernels_compiled, s.kernels_launched, s.cache_mem_hits,
      s.cache_disk_hits, s.compile_ms, s.plan_misses, s.ops_traced, s.buffers_donated,
      s.dynamic_compiles, s.dynamic_hits);
}

void reset_stats() {
  Counters& c = counters();
  c.ops_traced = 0;
  c.flushes = 0;
  for (auto& r : c.by_reason) r = 0;
  c.graph_nodes = 0;
  c.nodes_executed = 0;
  c.tensors_materialized = 0;
  jit::reset_jit_stats();
}

namespace trace {

void count_op() { counters().ops_traced.fetch_add(1, std::memory_order_relaxed); }

void record_flush(FlushReason reason, int64_t graph_nodes, const ir::Graph& g,
                  int64_t tensors_materialized) {
  Counters& c = counters();
  c.flushes.fetch_add(1, std::memory_order_relaxed);
  c.by_reason[static_cast<int>(reason)].fetch_add(1, std::memory_order_relaxed);
  c.graph_nodes.fetch_add(graph_nodes, std::memory_order_relaxed);
  int64_t computed = 0;
  for (const ir::Node& n : g.nodes())
    if (n.op != ir::Op::Buffer && n.op != ir::Op::Scalar) ++computed;
  c.nodes_executed.fetch_add(computed, std::memory_order_relaxed);
  c.tensors_materialized.fetch_add(tensors_materialized, std::memory_order_relaxed);
}

}  // namespace trace
}  // namespace tj
