#include "jit/observe/observe.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "cache/json.h"
#include "ir/kernel.h"
#include "ir/log.h"
#include "ir/print.h"
#include "jit/observe/origins.h"
#include "scheduler/plan.h"

namespace tj::obs {

namespace {

using cache::json_str;
using detail::Clock;
namespace fs = std::filesystem;

/// Timeline events kept in memory until exit; past this many, later events
/// are counted but dropped.
constexpr size_t kMaxEvents = 1'000'000;

struct Event {
  std::string name;
  const char* cat;
  char ph;  // 'X' complete, 'i' instant
  int64_t ts_us, dur_us;
  int tid;
  std::string args;  // JSON object body, without braces
};

struct State {
  std::mutex mu;
  Clock::time_point epoch = Clock::now();
  std::vector<Event> events;
  int64_t dropped = 0;
  std::FILE* trace_file = nullptr;
  std::string trace_path;
  std::string dump_ready;  // dump dir created
  bool warned_trace = false, warned_dump = false;
  std::atomic<int64_t> flush_ids{0};
  std::atomic<int> thread_ids{0};
};

State& state() {
  static State* s = new State;  // never destroyed: used by the exit hook
  return *s;
}

/// One kernel of the current flush's plan and the graph nodes it computes.
struct KernelOps {
  std::string name;
  Shape domain;
  std::string summary;
  std::vector<ir::NodeId> nodes;  // sorted
};

/// What one thread's current flush did, reported at its end.
struct FlushInfo {
  bool active = false;
  int64_t id = 0;
  std::string reason;
  size_t nodes = 0, outputs = 0;
  uint64_t hash = 0;
  int plan = -1;  // -1 unknown, 0 miss, 1 hit
  double schedule_ms = 0;
  const ir::Graph* graph = nullptr;   // alive until flush_end
  std::vector<KernelOps> kernels;     // of the plan
  std::vector<std::string> refusals;  // of a plan made in this flush
  std::string note;                   // obs::plan_note
  std::vector<char> written;          // per graph node: a kernel writes it
  int compiled = 0, disk = 0, mem = 0, launches = 0;
  double compile_ms = 0;
  Clock::time_point start;
};

FlushInfo& flush_info() {
  thread_local FlushInfo f;
  return f;
}

int this_tid() {
  thread_local int id = ++state().thread_ids;
  return id;
}

int64_t us_since_epoch(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t - state().epoch).count();
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

void add_event(std::string name, const char* cat, char ph, Clock::time_point start,
               Clock::time_point end, std::string args) {
  if (jit::options().timeline.empty()) return;
  State& s = state();
  Event e{std::move(name),
          cat,
          ph,
          us_since_epoch(start),
          std::chrono::duration_cast<std::chrono::microseconds>(end - start).count(),
          this_tid(),
          std::move(args)};
  std::lock_guard lock(s.mu);
  if (s.events.size() >= kMaxEvents) {
    ++s.dropped;
    return;
  }
  s.events.push_back(std::move(e));
}

void instant(std::string name, std::string args) {
  Clock::time_point now = Clock::now();
  add_event(std::move(name), "cache", 'i', now, now, std::move(args));
}

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string short_summary(const std::string& s) {
  constexpr size_t kMax = 160;
  if (s.size() <= kMax) return s;
  return s.substr(0, kMax) + ", ...";
}

// ---- TILEJIT_TRACE ------------------------------------------------------------------

void trace_write(const std::string& line) {
  const std::string& path = jit::options().trace;
  if (path.empty()) return;
  State& s = state();
  std::lock_guard lock(s.mu);
  if (path == "stderr") {
    std::fprintf(stderr, "%s\n", line.c_str());
    return;
  }
  if (s.trace_path != path) {
    if (s.trace_file) std::fclose(s.trace_file);
    s.trace_file = std::fopen(path.c_str(), "a");
    s.trace_path = path;
    if (!s.trace_file && !s.warned_trace) {
      s.warned_trace = true;
      std::fprintf(stderr,
                   "tilejit: warning: cannot open TILEJIT_TRACE file %s; writing the trace to "
                   "stderr instead\n",
                   path.c_str());
    }
  }
  std::FILE* f = s.trace_file ? s.trace_file : stderr;
  std::fprintf(f, "%s\n", line.c_str());
  std::fflush(f);
}

// ---- TILEJIT_DUMP_DIR ---------------------------------------------------------------

/// The dump directory, created on first use; empty when off or not writable.
std::string dump_dir() {
  const std::string& dir = jit::options().dump_dir;
  if (dir.empty()) return {};
  State& s = state();
  std::lock_guard lock(s.mu);
  if (s.dump_ready == dir) return dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    if (!s.warned_dump)
      std::fprintf(stderr,
                   "tilejit: warning: cannot create TILEJIT_DUMP_DIR %s (%s); not dumping\n",
                   dir.c_str(), ec ? ec.message().c_str() : "not a directory");
    s.warned_dump = true;
    return {};
  }
  s.dump_ready = dir;
  return dir;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out)
    log(LogLevel::warn, "could not write {} (TILEJIT_DUMP_DIR); check space and permissions",
        p.string());
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string dot_label(const ir::Graph& g, ir::NodeId id) {
  std::string s = fmt::format("%{} = {}", id, ir::node_str(g, id));
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return dot_escape(s);
}

constexpr const char* kPalette[] = {"#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3",
                                    "#fdb462", "#b3de69", "#fccde5", "#bc80bd", "#ccebc5"};

/// The graph as DOT; with the plan's kernels (`after`), nodes are filled
/// with their kernel's colour (a node inlined into several kernels lists them
/// all) and the nodes kernels write have a bold border. Nodes say where the
/// user's code traced them when that is known.
std::string graph_dot(const ir::Graph& g, const FlushInfo* after,
                      const std::unordered_map<uint32_t, Location>& locs) {
  std::vector<std::vector<int>> member(g.size());
  if (after)
    for (size_t k = 0; k < after->kernels.size(); ++k)
      for (ir::NodeId n : after->kernels[k].nodes) member[n].push_back(static_cast<int>(k));
  const char* when = after ? "after" : "before";
  std::string out = fmt::format(
      "digraph \"flush_{}_{}\" {{\n  rankdir=TB;\n  label=\"flush {} {} fusion, graph {:016x}\";\n"
      "  node [shape=box, fontname=\"monospace\", fontsize=10, style=filled, "
      "fillcolor=white];\n",
      flush_info().id, when, flush_info().id, when, g.hash());
  std::vector<char> is_out(g.size(), 0);
  for (ir::NodeId o : g.outputs()) is_out[o] = 1;
  for (size_t i = 0; i < g.size(); ++i) {
    const ir::Node& n = g.node(static_cast<ir::NodeId>(i));
    bool leaf = n.op == ir::Op::Buffer || n.op == ir::Op::Scalar;
    std::string label = dot_label(g, static_cast<ir::NodeId>(i));
    if (const Location* l = where(locs, g, static_cast<ir::NodeId>(i)))
      label += "\\n" + dot_escape(short_where(*l));
    std::string attrs;
    if (leaf) attrs += ", shape=ellipse, fillcolor=\"#eeeeee\"";
    if (!member[i].empty()) {
      std::string groups;
      for (int k : member[i]) groups += (groups.empty() ? "" : ",") + std::to_string(k);
      label += "\\nkernel " + groups;
      attrs += fmt::format(", fillcolor=\"{}\"", kPalette[member[i][0] % std::size(kPalette)]);
    }
    if (after && i < after->written.size() && after->written[i] && !leaf) attrs += ", penwidth=2.5";
    if (is_out[i]) attrs += ", peripheries=2";
    out += fmt::format("  n{} [label=\"{}\"{}];\n", i, label, attrs);
  }
  for (size_t i = 0; i < g.size(); ++i)
    for (ir::NodeId in : g.node(static_cast<ir::NodeId>(i)).inputs)
      out += fmt::format("  n{} -> n{};\n", in, i);
  if (after) {
    out += "  subgraph cluster_legend {\n    label=\"kernels\";\n";
    for (size_t k = 0; k < after->kernels.size(); ++k)
      out += fmt::format("    legend{} [label=\"kernel {}: {}\", fillcolor=\"{}\"];\n", k, k,
                         dot_escape(after->kernels[k].name), kPalette[k % std::size(kPalette)]);
    out += "  }\n";
  }
  return out + "}\n";
}

/// flush-N.before.dot and, once a plan is known, flush-N.after.dot.
void dump_graphs(const FlushInfo& f, const std::unordered_map<uint32_t, Location>& locs) {
  std::string dir = dump_dir();
  if (dir.empty() || !f.graph) return;
  write_file(fs::path(dir) / fmt::format("flush-{:04}.before.dot", f.id),
             graph_dot(*f.graph, nullptr, locs));
  if (f.plan >= 0)
    write_file(fs::path(dir) / fmt::format("flush-{:04}.after.dot", f.id),
               graph_dot(*f.graph, &f, locs));
}

/// The comment that heads a dumped kernel: the traced ops it fuses (in the
/// current flush's graph) and where the user's code called them.
std::string kernel_header(const ir::Kernel& k) {
  const FlushInfo& f = flush_info();
  if (!f.active || !f.graph) return {};
  const KernelOps* ops = nullptr;
  for (const KernelOps& ko : f.kernels)
    if (ko.name == k.name) ops = &ko;
  if (!ops || ops->nodes.empty()) return {};
  const ir::Graph& g = *f.graph;
  std::vector<uint32_t> ids;
  for (ir::NodeId n : ops->nodes) ids.push_back(g.origin(n));
  std::unordered_map<uint32_t, Location> locs = locate(std::move(ids));
  std::string out =
      fmt::format("// {} fuses {} traced op{} (flush {}, graph {:016x}):\n", k.name,
                  ops->nodes.size(), ops->nodes.size() == 1 ? "" : "s", f.id, g.hash());
  std::vector<std::string> lines;
  size_t width = 0;
  for (ir::NodeId n : ops->nodes) {
    lines.push_back(fmt::format("%{} = {}", n, ir::node_str(g, n)));
    width = std::max(width, lines.back().size());
  }
  width = std::min<size_t>(width, 60);
  for (size_t i = 0; i < lines.size(); ++i) {
    const Location* l = where(locs, g, ops->nodes[i]);
    std::string line = "//   " + lines[i];
    if (l) line += std::string(width + 2 - std::min(width, lines[i].size()), ' ') + long_where(*l);
    for (char& c : line)
      if (c == '\n' || c == '\r') c = ' ';
    out += line + "\n";
  }
  return out + "\n";
}

void dump_kernel(const ir::Kernel& k, const KernelDump& dump) {
  std::string dir = dump_dir();
  if (dir.empty()) return;
  if (dump) {
    for (const DumpFile& f : dump(k)) {
      // The header is a comment before the compiled source, which it leaves
      // as it is (the source is the cache key).
      write_file(fs::path(dir) / (k.name + f.suffix),
                 f.source ? kernel_header(k) + f.text : f.text);
    }
  }
  write_file(fs::path(dir) / (k.name + ".kir"), ir::to_string(k) + "\n");
}

/// The kernels part of a trace line: each kernel with its domain, the ops it
/// fuses and where they were called.
std::string kernels_text(const FlushInfo& f, const std::unordered_map<uint32_t, Location>& locs) {
  if (f.plan < 0) return "no kernels";
  std::string out = fmt::format("{} kernel{}", f.kernels.size(), f.kernels.size() == 1 ? "" : "s");
  for (size_t i = 0; i < f.kernels.size(); ++i) {
    const KernelOps& k = f.kernels[i];
    out += fmt::format("{} {} {} ({})", i ? "," : ":", k.name, shape_text(k.domain),
                       short_summary(k.summary));
    std::vector<std::string> at;  // distinct, in graph order
    for (ir::NodeId n : k.nodes) {
      const Location* l = f.graph ? where(locs, *f.graph, n) : nullptr;
      if (!l) continue;
      std::string w = short_where(*l);
      if (std::find(at.begin(), at.end(), w) == at.end()) at.push_back(std::move(w));
    }
    if (at.empty()) continue;
    out += " from ";
    for (size_t j = 0; j < std::min<size_t>(at.size(), 3); ++j) out += (j ? ", " : "") + at[j];
    if (at.size() > 3) out += fmt::format(" and {} more", at.size() - 3);
  }
  return out;
}

}  // namespace

sched::PassDump pass_dumper() {
  if (jit::options().dump_dir.empty()) return {};
  return [n = 0](std::string_view pass, const std::string& text) mutable {
    std::string dir = dump_dir();
    if (dir.empty()) return;
    write_file(fs::path(dir) / fmt::format("flush-{:04}.{}-{}.txt", flush_info().id, ++n, pass),
               text);
  };
}

bool write_timeline(const std::string& path) {
  if (path.empty()) return false;
  State& s = state();
  std::lock_guard lock(s.mu);
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "tilejit: warning: cannot write TILEJIT_TIMELINE file %s\n", path.c_str());
    return false;
  }
  std::fprintf(f, "{\"traceEvents\":[\n");
  std::fprintf(f,
               "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,"
               "\"args\":{\"name\":\"tilejit\"}}");
  for (const Event& e : s.events) {
    std::string line = fmt::format(",\n{{\"name\":{},\"cat\":\"{}\",\"ph\":\"{}\",\"ts\":{},",
                                   json_str(e.name), e.cat, e.ph, e.ts_us);
    if (e.ph == 'X')
      line += fmt::format("\"dur\":{},", e.dur_us);
    else
      line += "\"s\":\"t\",";
    line += fmt::format("\"pid\":1,\"tid\":{},\"args\":{{{}}}}}", e.tid, e.args);
    std::fputs(line.c_str(), f);
  }
  std::fprintf(f, "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"dropped_events\":%lld}}\n",
               static_cast<long long>(s.dropped));
  bool ok = std::fclose(f) == 0;
  if (!ok)
    std::fprintf(stderr, "tilejit: warning: could not finish TILEJIT_TIMELINE file %s\n",
                 path.c_str());
  return ok;
}

namespace detail {

void flush_begin(std::string_view reason, const ir::Graph& g) {
  FlushInfo& f = flush_info();
  f = FlushInfo{};
  f.active = true;
  f.id = ++state().flush_ids;
  f.reason = reason;
  f.nodes = g.size();
  f.outputs = g.outputs().size();
  f.hash = g.hash();
  f.graph = &g;
  f.start = Clock::now();
}

void flush_end(bool failed) {
  FlushInfo& f = flush_info();
  if (!f.active) return;
  Clock::time_point end = Clock::now();
  std::string kernels = "no kernels";
  try {
    const jit::Options& c = jit::options();
    std::unordered_map<uint32_t, Location> locs;
    if ((!c.trace.empty() || !c.dump_dir.empty()) && f.graph) locs = locate(*f.graph);
    dump_graphs(f, locs);
    if (!c.trace.empty()) kernels = kernels_text(f, locs);
  } catch (const std::exception& e) {
    log(LogLevel::warn, "could not describe flush {}: {}", f.id, e.what());
  }
  f.active = false;
  f.graph = nullptr;
  std::string plan = f.plan < 0 ? "plan not made"
                     : f.plan > 0
                         ? "plan cache hit"
                         : fmt::format("plan cache miss (scheduled in {:.2f} ms)", f.schedule_ms);
  if (!f.note.empty()) plan += " (" + f.note + ")";
  std::string line = fmt::format(
      "tilejit trace: flush {} ({}): {} nodes, {} output{}, graph "
      "{:016x}, {}; {}",
      f.id, f.reason, f.nodes, f.outputs, f.outputs == 1 ? "" : "s", f.hash, plan, kernels);
  if (f.compiled) line += fmt::format("; compiled {} in {:.1f} ms", f.compiled, f.compile_ms);
  if (f.disk) line += fmt::format("; {} from the disk cache", f.disk);
  if (f.mem) line += fmt::format("; {} already in memory", f.mem);
  line += fmt::format("; {} launch{}; {:.2f} ms", f.launches, f.launches == 1 ? "" : "es",
                      ms_between(f.start, end));
  if (!f.refusals.empty()) {
    line +=
        fmt::format("; {} value{} not fused", f.refusals.size(), f.refusals.size() == 1 ? "" : "s");
    if (log_enabled(LogLevel::debug))
      for (const std::string& r : f.refusals) line += "\n  not fused: " + r;
  }
  if (failed) line += "; stopped by an exception (reported to the caller)";
  trace_write(line);
  add_event(fmt::format("flush ({})", f.reason), "flush", 'X', f.start, end,
            fmt::format("\"flush\":{},\"nodes\":{},\"outputs\":{},\"graph\":\"{:016x}\","
                        "\"plan\":\"{}\",\"launches\":{}",
                        f.id, f.nodes, f.outputs, f.hash,
                        f.plan > 0    ? "hit"
                        : f.plan == 0 ? "miss"
                                      : "none",
                        f.launches));
}

void plan_ready(const ir::Graph& g, const sched::Plan& p, bool hit) {
  FlushInfo& f = flush_info();
  f.plan = hit ? 1 : 0;
  if (!hit) f.refusals = p.refusals;
  // Only copied here (this may run under the plan cache's lock); described
  // when the flush ends.
  f.kernels.assign(p.kernels.size(), {});
  for (size_t i = 0; i < p.kernels.size(); ++i) {
    f.kernels[i].name = p.kernels[i].name;
    f.kernels[i].domain = p.kernels[i].domain;
    f.kernels[i].summary = p.kernels[i].summary;
  }
  const bool same_graph = f.graph && f.graph->size() == g.size() && f.graph->hash() == g.hash();
  f.written.assign(same_graph ? g.size() : 0, 0);
  for (size_t i = 0; same_graph && i < p.step_ops.size() && i < p.steps.size(); ++i) {
    std::vector<ir::NodeId>& nodes = f.kernels[p.steps[i].kernel].nodes;
    nodes.insert(nodes.end(), p.step_ops[i].nodes.begin(), p.step_ops[i].nodes.end());
    for (ir::NodeId n : p.step_ops[i].writes) f.written[n] = 1;
  }
  for (KernelOps& k : f.kernels) {
    std::sort(k.nodes.begin(), k.nodes.end());
    k.nodes.erase(std::unique(k.nodes.begin(), k.nodes.end()), k.nodes.end());
  }
  if (hit) instant("plan cache hit", fmt::format("\"graph\":\"{:016x}\"", g.hash()));
}

void schedule_done(Clock::time_point start) {
  Clock::time_point end = Clock::now();
  flush_info().schedule_ms = ms_between(start, end);
  add_event("schedule", "schedule", 'X', start, end, "");
}

void kernels_loaded(const std::vector<const ir::Kernel*>& ks, bool from_disk, double ms,
                    const KernelDump& dump) {
  FlushInfo& f = flush_info();
  std::string names;
  for (const ir::Kernel* k : ks) names += (names.empty() ? "" : ", ") + k->name;
  if (from_disk) {
    f.disk += static_cast<int>(ks.size());
    instant("kernel cache hit (disk)", fmt::format("\"kernels\":{}", json_str(names)));
  } else {
    f.compiled += static_cast<int>(ks.size());
    f.compile_ms += ms;
    Clock::time_point end = Clock::now();
    Clock::time_point start = end - std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double, std::milli>(ms));
    add_event(
        "compile " + names, "compile", 'X', start, end,
        fmt::format("\"kernels\":{},\"count\":{},\"ms\":{:.1f}", json_str(names), ks.size(), ms));
  }
  for (const ir::Kernel* k : ks) dump_kernel(*k, dump);
}

void plan_note(std::string note) {
  FlushInfo& f = flush_info();
  if (!f.note.empty()) f.note += "; ";
  f.note += note;
}

void kernel_mem_hit(const ir::Kernel& k) {
  ++flush_info().mem;
  instant("kernel cache hit (memory)", fmt::format("\"kernel\":{}", json_str(k.name)));
}

void launch_done(const ir::Kernel& k, int64_t size, Clock::time_point start) {
  ++flush_info().launches;
  if (jit::options().timeline.empty()) return;
  static constexpr const char* kKinds[] = {"pointwise", "row", "matmul"};
  add_event(k.name, "launch", 'X', start, Clock::now(),
            fmt::format("\"kind\":\"{}\",\"domain\":\"{}\",\"size\":{},\"tile\":{}",
                        kKinds[static_cast<int>(k.kind)], shape_text(k.domain), size,
                        k.kind == ir::Kernel::Kind::pointwise ? k.tile.block : k.tile.rows));
}

}  // namespace detail
}  // namespace tj::obs
