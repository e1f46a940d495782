#include "jit/observe.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <fmt/format.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>

#include "ir/kernel.h"
#include "ir/print.h"
#include "jit/c_printer.h"
#include "jit/cuda_printer.h"
#include "jit/nvrtc.h"
#include "scheduler/plan.h"
#include "trace/log.h"

namespace tj::obs {

namespace {

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
  FlushReason reason = FlushReason::sync;
  size_t nodes = 0, outputs = 0;
  uint64_t hash = 0;
  int plan = -1;  // -1 unknown, 0 miss, 1 hit
  double schedule_ms = 0;
  const ir::Graph* graph = nullptr;  // alive until flush_end
  std::vector<KernelOps> kernels;    // of the plan
  std::vector<char> written;         // per graph node: a kernel writes it
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

std::string json_str(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        else
          out += c;
    }
  }
  return out + "\"";
}

void add_event(std::string name, const char* cat, char ph, Clock::time_point start,
               Clock::time_point end, std::string args) {
  if (config().timeline.empty()) return;
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

// ---- source locations (see observe.h) ------------------------------------------------

/// Frames kept per traced op: enough for composite ops (softmax calls max,
/// sub, exp, sum, div, each through a helper or two) above record().
constexpr int kStackDepth = 24;

struct Stack {
  std::array<void*, kStackDepth> pc{};
  int n = 0;
  bool operator==(const Stack& o) const {
    return n == o.n && std::equal(pc.begin(), pc.begin() + n, o.pc.begin());
  }
};

struct StackHash {
  size_t operator()(const Stack& s) const {
    uint64_t h = 0xcbf29ce484222325ull ^ static_cast<uint64_t>(s.n);
    for (int i = 0; i < s.n; ++i) h = (h ^ reinterpret_cast<uintptr_t>(s.pc[i])) * 0x100000001b3ull;
    return static_cast<size_t>(h);
  }
};

/// One entry of a return address's inline chain, as addr2line reports it.
struct Frame {
  std::string func, file;
  int line = 0;
};

/// Where an op was called in the user's program; empty when unknown.
struct Location {
  std::string file, func;
  int line = 0;
  bool known() const { return !file.empty() || !func.empty(); }
};

/// The executable or shared object holding an address.
struct Object {
  std::string path;
  uintptr_t bias = 0;  // addresses in the file are address - bias
  bool main = false;
};

struct Origins {
  std::mutex mu;  // guards the three tables below
  std::unordered_map<Stack, uint32_t, StackHash> ids;
  std::vector<Stack> stacks;  // by id - 1
  struct Noted {
    std::weak_ptr<void> owner;  // keeps the address from being reused while here
    uint32_t id;
  };
  std::unordered_map<const void*, Noted> by_impl;
  size_t prune_at = 1 << 14;

  std::mutex sym_mu;                                     // guards what follows
  std::unordered_map<uintptr_t, std::vector<Frame>> at;  // by looked-up address
  std::unordered_map<uint32_t, Location> located;        // by stack id
  bool lib_known = false, lib_shared = false;
  std::string lib_path, lib_root;  // tilejit's object, and source tree (from debug info)
};

Origins& origins() {
  static Origins* o = new Origins;
  return *o;
}

[[gnu::noinline]] void anchor() { asm volatile(""); }

bool object_of(uintptr_t addr, Object* ob) {
  Dl_info info;
  link_map* lm = nullptr;
  if (!dladdr1(reinterpret_cast<void*>(addr), &info, reinterpret_cast<void**>(&lm),
               RTLD_DL_LINKMAP) ||
      !lm)
    return false;
  ob->main = !lm->l_name || !*lm->l_name;
  ob->bias = lm->l_addr;
  if (ob->main) {
    static const std::string exe = [] {
      std::error_code ec;
      return fs::read_symlink("/proc/self/exe", ec).string();
    }();
    ob->path = exe;
  } else {
    ob->path = lm->l_name;
  }
  return !ob->path.empty();
}

std::string demangled(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : name;
  std::free(d);
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// llvm-symbolizer names inlined functions right; binutils' addr2line
/// repeats the outer function's name for them (seen with 2.40), so it is the
/// fallback and such names are dropped.
const std::string& symbolizer() {
  static const std::string tool = [] {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    for (size_t b = 0, e; b <= dirs.size(); b = e + 1) {
      e = dirs.find(':', b);
      if (e == std::string::npos) e = dirs.size();
      fs::path p = fs::path(dirs.substr(b, e - b)) / "llvm-symbolizer";
      if (e > b && access(p.c_str(), X_OK) == 0) return p.string();
    }
    return std::string("addr2line");
  }();
  return tool;
}

/// Fills `at` for `addrs` (all in `ob`) with one symbolizer run per 256
/// addresses; addresses it cannot name get dladdr's symbol, if any.
void symbolize(Origins& o, const Object& ob, const std::vector<uintptr_t>& addrs) {
  const bool llvm = symbolizer() != "addr2line";
  for (size_t first = 0; first < addrs.size(); first += 256) {
    size_t last = std::min(addrs.size(), first + 256);
    std::string cmd = llvm ? shell_quote(symbolizer()) + " --obj=" + shell_quote(ob.path) +
                                 " -f -C -i -a --output-style=GNU"
                           : "addr2line -a -C -f -i -e " + shell_quote(ob.path);
    for (size_t i = first; i < last; ++i) cmd += fmt::format(" {:#x}", addrs[i] - ob.bias);
    cmd += " 2>/dev/null";
    std::string text;
    if (std::FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
      pclose(p);
    }
    // Per address: its line ("0x..."), then (function, file:line) pairs,
    // innermost inlined call first.
    std::istringstream in(text);
    size_t i = first - 1;  // wraps; the first address line brings it to `first`
    std::string func;
    bool want_func = true;
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      if (want_func && line.starts_with("0x")) {
        if (++i >= last) break;
        continue;
      }
      if (i < first || i >= last) continue;
      if (want_func) {
        func = line == "??" ? "" : line;
        want_func = false;
        continue;
      }
      want_func = true;
      Frame f;
      f.func = func;
      if (size_t d = line.find(" (discriminator"); d != std::string::npos) line.resize(d);
      size_t colon = line.rfind(':');
      if (colon != std::string::npos && !line.starts_with("??")) {
        f.file = fs::path(line.substr(0, colon)).lexically_normal().string();
        f.line = std::atoi(line.c_str() + colon + 1);
      }
      if (!f.func.empty() || !f.file.empty()) o.at[addrs[i]].push_back(std::move(f));
    }
    for (size_t k = first; k < last; ++k) {
      std::vector<Frame>& chain = o.at[addrs[k]];
      if (!llvm)
        for (size_t c = 0; c + 1 < chain.size(); ++c)
          if (chain[c].func == chain.back().func) chain[c].func.clear();
      Dl_info info;
      if (chain.empty() && dladdr(reinterpret_cast<void*>(addrs[k]), &info) && info.dli_sname)
        chain.push_back({demangled(info.dli_sname), "", 0});
    }
  }
}

/// Finds tilejit's own object and source tree (once).
void know_library(Origins& o) {
  if (o.lib_known) return;
  o.lib_known = true;
  uintptr_t a = reinterpret_cast<uintptr_t>(&anchor);
  Object ob;
  if (!object_of(a, &ob)) return;
  o.lib_shared = !ob.main;
  o.lib_path = ob.path;
  symbolize(o, ob, {a});
  for (const Frame& f : o.at[a])
    if (f.file.ends_with("observe.cpp"))  // <root>/jit/observe.cpp
      o.lib_root = fs::path(f.file).parent_path().parent_path().string();
}

enum class Who { lib, system, user, unknown };

Who who(const Origins& o, const Object& ob, const Frame& f) {
  if (o.lib_shared && ob.path == o.lib_path) return Who::lib;
  if (!f.file.empty()) {
    if (!o.lib_root.empty() && f.file.starts_with(o.lib_root + "/")) {
      std::string_view rel = std::string_view(f.file).substr(o.lib_root.size() + 1);
      for (std::string_view dir :
           {"trace/", "ir/", "jit/", "scheduler/", "cache/", "include/tilejit/"})
        if (rel.starts_with(dir)) return Who::lib;
    }
    if (f.file.find("/include/c++/") != std::string::npos) return Who::system;
    return Who::user;
  }
  if (!ob.main && (ob.path.starts_with("/lib") || ob.path.starts_with("/usr/lib")))
    return Who::system;
  if (f.func.empty()) return Who::unknown;
  // No debug information: tilejit's functions by their namespace.
  if (f.func.starts_with("tj::")) return Who::lib;
  if (f.func.starts_with("std::") || f.func.starts_with("__")) return Who::system;
  return Who::user;
}

/// Symbolizes the stacks `ids` (those not done yet) and returns where each
/// was called from.
std::unordered_map<uint32_t, Location> locate(std::vector<uint32_t> ids) {
  Origins& o = origins();
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<std::pair<uint32_t, Stack>> todo;
  std::lock_guard sym(o.sym_mu);
  {
    std::lock_guard lock(o.mu);
    for (uint32_t id : ids)
      if (id > 0 && id <= o.stacks.size() && !o.located.count(id))
        todo.emplace_back(id, o.stacks[id - 1]);
  }
  if (!todo.empty()) {
    know_library(o);
    // Return addresses point after the call: look up the byte before.
    std::map<std::string, std::pair<Object, std::vector<uintptr_t>>> by_object;
    std::unordered_map<uintptr_t, Object> object;
    for (const auto& [id, st] : todo)
      for (int i = 0; i < st.n; ++i) {
        uintptr_t a = reinterpret_cast<uintptr_t>(st.pc[i]) - 1;
        if (object.count(a)) continue;
        Object ob;
        if (!object_of(a, &ob)) ob.path.clear();
        object[a] = ob;
        if (ob.path.empty() || o.at.count(a)) continue;
        auto& entry = by_object[ob.path];
        entry.first = ob;
        entry.second.push_back(a);
      }
    for (auto& [path, entry] : by_object) symbolize(o, entry.first, entry.second);
    for (const auto& [id, st] : todo) {
      Location loc;
      bool done = false;
      for (int i = 0; i < st.n && !done; ++i) {
        uintptr_t a = reinterpret_cast<uintptr_t>(st.pc[i]) - 1;
        const Object& ob = object[a];
        auto it = o.at.find(a);
        if (ob.path.empty() || it == o.at.end() || it->second.empty()) break;
        for (const Frame& f : it->second) {
          Who w = who(o, ob, f);
          if (w == Who::lib || w == Who::system) continue;
          if (w == Who::user) loc = {f.file, f.func, f.line};
          done = true;
          break;
        }
      }
      for (std::string_view anon : {"(anonymous namespace)::"})
        for (size_t p; (p = loc.func.find(anon)) != std::string::npos;)
          loc.func.erase(p, anon.size());
      o.located[id] = std::move(loc);
    }
  }
  std::unordered_map<uint32_t, Location> out;
  for (uint32_t id : ids)
    if (auto it = o.located.find(id); it != o.located.end() && it->second.known())
      out.emplace(id, it->second);
  return out;
}

/// Locations of every node of g that has one.
std::unordered_map<uint32_t, Location> locate(const ir::Graph& g) {
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < g.size(); ++i)
    if (uint32_t id = g.origin(static_cast<ir::NodeId>(i))) ids.push_back(id);
  if (ids.empty()) return {};
  return locate(std::move(ids));
}

/// "file.cpp:12" (or the function without debug information).
std::string short_where(const Location& l) {
  if (l.file.empty()) return l.func;
  return fmt::format("{}:{}", fs::path(l.file).filename().string(), l.line);
}

/// "/path/to/file.cpp:12 (function)".
std::string long_where(const Location& l) {
  if (l.file.empty()) return l.func;
  std::string s = fmt::format("{}:{}", l.file, l.line);
  if (!l.func.empty()) s += " (" + l.func + ")";
  return s;
}

const Location* where(const std::unordered_map<uint32_t, Location>& locs, const ir::Graph& g,
                      ir::NodeId n) {
  auto it = locs.find(g.origin(n));
  return it == locs.end() ? nullptr : &it->second;
}

// ---- TILEJIT_TRACE ------------------------------------------------------------------

void trace_write(const std::string& line) {
  const std::string& path = config().trace;
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
  const std::string& dir = config().dump_dir;
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

void dump_kernel(const ir::Kernel& k, int cuda_arch) {
  std::string dir = dump_dir();
  if (dir.empty()) return;
  // The header is a comment before the compiled source, which it leaves
  // as it is (the source is the cache key).
  if (cuda_arch == 0) {
    write_file(fs::path(dir) / (k.name + ".cpp"), kernel_header(k) + jit::print_cpp_unit({&k}));
  } else {
    const std::string source = jit::print_cuda_unit({&k});
    write_file(fs::path(dir) / (k.name + ".cu"), kernel_header(k) + source);
    try {
      // PTX is not what runs (that is CUBIN for the device), but it is the
      // readable form of it; compiled again only when dumping.
      write_file(fs::path(dir) / (k.name + ".ptx"),
                 jit::cuda::nvrtc_compile(source, cuda_arch, k.name, /*ptx=*/true).image);
    } catch (const std::exception& e) {
      log(LogLevel::warn, "TILEJIT_DUMP_DIR: no PTX for {}: {}", k.name, e.what());
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

// ---- exit --------------------------------------------------------------------------

void at_exit() {
  if (!config().timeline.empty()) write_timeline();
  if (config().stats) std::fprintf(stderr, "%s\n", stats_line(stats()).c_str());
}

}  // namespace

void install_exit_hook() { std::atexit(at_exit); }

bool write_timeline() {
  const std::string& path = config().timeline;
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

void note_origin(const std::shared_ptr<void>& impl) {
  Stack st;
  st.n = backtrace(st.pc.data(), kStackDepth);
  if (st.n <= 0) return;
  Origins& o = origins();
  std::lock_guard lock(o.mu);
  auto [it, added] = o.ids.emplace(st, 0);
  if (added) {
    o.stacks.push_back(st);
    it->second = static_cast<uint32_t>(o.stacks.size());
  }
  o.by_impl[impl.get()] = {impl, it->second};
  if (o.by_impl.size() >= o.prune_at) {
    std::erase_if(o.by_impl, [](const auto& e) { return e.second.owner.expired(); });
    o.prune_at = std::max<size_t>(1 << 14, 2 * o.by_impl.size());
  }
}

uint32_t origin_of(const void* impl) {
  Origins& o = origins();
  std::lock_guard lock(o.mu);
  auto it = o.by_impl.find(impl);
  return it == o.by_impl.end() ? 0 : it->second.id;
}

namespace detail {

void flush_begin(FlushReason reason, const ir::Graph& g) {
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
    const Config& c = config();
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
  std::string line = fmt::format(
      "tilejit trace: flush {} ({}): {} nodes, {} output{}, graph "
      "{:016x}, {}; {}",
      f.id, flush_reason_name(f.reason), f.nodes, f.outputs, f.outputs == 1 ? "" : "s", f.hash,
      plan, kernels);
  if (f.compiled) line += fmt::format("; compiled {} in {:.1f} ms", f.compiled, f.compile_ms);
  if (f.disk) line += fmt::format("; {} from the disk cache", f.disk);
  if (f.mem) line += fmt::format("; {} already in memory", f.mem);
  line += fmt::format("; {} launch{}; {:.2f} ms", f.launches, f.launches == 1 ? "" : "es",
                      ms_between(f.start, end));
  if (failed) line += "; stopped by an exception (reported to the caller)";
  trace_write(line);
  add_event(fmt::format("flush ({})", flush_reason_name(f.reason)), "flush", 'X', f.start, end,
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
                    int cuda_arch) {
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
  for (const ir::Kernel* k : ks) dump_kernel(*k, cuda_arch);
}

void kernel_mem_hit(const ir::Kernel& k) {
  ++flush_info().mem;
  instant("kernel cache hit (memory)", fmt::format("\"kernel\":{}", json_str(k.name)));
}

void launch_done(const ir::Kernel& k, int64_t size, Clock::time_point start) {
  ++flush_info().launches;
  if (config().timeline.empty()) return;
  static constexpr const char* kKinds[] = {"pointwise", "row", "matmul"};
  add_event(k.name, "launch", 'X', start, Clock::now(),
            fmt::format("\"kind\":\"{}\",\"domain\":\"{}\",\"size\":{},\"tile\":{}",
                        kKinds[static_cast<int>(k.kind)], shape_text(k.domain), size,
                        k.kind == ir::Kernel::Kind::pointwise ? k.tile.block : k.tile.rows));
}

}  // namespace detail
}  // namespace tj::obs
