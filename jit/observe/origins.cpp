// Source locations of traced ops (see observe.h): the call stacks that
// note_origin records, interned by id, and their symbolization into the line
// of the user's program that called each op.
#include "jit/observe/origins.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <fmt/format.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "jit/observe/observe.h"

namespace tj::obs {

namespace {

namespace fs = std::filesystem;

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
    if (f.file.ends_with("observe/origins.cpp"))  // <root>/jit/observe/origins.cpp
      o.lib_root = fs::path(f.file).parent_path().parent_path().parent_path().string();
}

enum class Who { lib, system, user, unknown };

/// A sanitizer's runtime (ASan, UBSan, TSan intercept backtrace() itself).
bool sanitizer_runtime(const Object& ob, const Frame& f) {
  for (const char* s : {"libasan", "libubsan", "libtsan", "liblsan", "libclang_rt"})
    if (ob.path.find(s) != std::string::npos) return true;
  return f.file.find("/libsanitizer/") != std::string::npos ||
         f.file.find("/compiler-rt/") != std::string::npos ||
         f.func.starts_with("__interceptor_") || f.func.starts_with("__sanitizer");
}

Who who(const Origins& o, const Object& ob, const Frame& f) {
  if (o.lib_shared && ob.path == o.lib_path) return Who::lib;
  if (sanitizer_runtime(ob, f)) return Who::system;
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

}  // namespace

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

}  // namespace tj::obs
