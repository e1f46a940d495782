#include "jit/executor.h"

#include <fmt/format.h>

#include <atomic>
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "ir/check.h"
#include "ir/hash.h"
#include "ir/log.h"
#include "ir/verify.h"
#include "jit/backend.h"
#include "jit/observe/observe.h"
#include "jit/options.h"
#include "jit/run_plan.h"
#include "scheduler/dynamic.h"
#include "scheduler/make_plan.h"

namespace tj::jit {

namespace {

// ---- counters (reported through tj::stats()) ---------------------------------
struct JitCounters {
  std::atomic<int64_t> plan_hits{0}, plan_misses{0}, compiled{0}, launched{0}, disk_hits{0},
      mem_hits{0}, donated{0}, dynamic_compiles{0}, dynamic_hits{0};
  std::atomic<int64_t> compile_us{0};
};
JitCounters& counters() {
  static JitCounters c;
  return c;
}

std::function<void(const sched::Plan&)>& new_plan_hook() {
  static std::function<void(const sched::Plan&)> hook;
  return hook;
}

std::function<void(const ir::Graph&, const std::vector<BufferView>&)>& executed_hook() {
  static std::function<void(const ir::Graph&, const std::vector<BufferView>&)> hook;
  return hook;
}

/// A plan and what its backend made of it.
struct ReadyPlan {
  sched::Plan plan;
  std::shared_ptr<const PreparedPlan> prepared;
};

/// Plans are cached per graph structure and backend: the same program on
/// the CPU and on a GPU gets two plans (different targets, kernels, code).
uint64_t plan_key(uint64_t graph_hash, const Backend& be) {
  // TILEJIT_DYNAMIC=static never runs an instance of a dynamic plan.
  if (!options().dynamic) graph_hash = Hasher().add(graph_hash).add("static sizes").get();
  // A CPU plan prepared without oneDNN runs generated kernels where one
  // prepared with it calls the library: two plans.
  if (be.device().is_cpu())
    return options().onednn ? graph_hash : Hasher().add(graph_hash).add("no oneDNN").get();
  return Hasher().add(graph_hash).add(be.name()).get();
}

/// Plans by key, least recently used out first past options().plan_cache_size
/// (a plan in use stays alive with whoever holds it).
class PlanCache {
 public:
  bool contains(uint64_t key) {
    std::lock_guard lock(mu_);
    return ready_.count(key) != 0;
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return ready_.size();
  }

  std::shared_ptr<const ReadyPlan> get(const ir::Graph& g, Backend& be) {
    const uint64_t key = plan_key(g.hash(), be);
    std::shared_future<std::shared_ptr<const ReadyPlan>> wait;
    std::promise<std::shared_ptr<const ReadyPlan>> mine;
    {
      std::lock_guard lock(mu_);
      if (auto it = ready_.find(key); it != ready_.end()) {
        ++counters().plan_hits;
        lru_.splice(lru_.begin(), lru_, it->second.lru);
        obs::plan_ready(g, it->second.plan->plan, /*hit=*/true);
        return it->second.plan;
      }
      if (auto it = inflight_.find(key); it != inflight_.end())
        wait = it->second;
      else
        inflight_[key] = mine.get_future().share();
    }
    if (wait.valid()) {
      ++counters().plan_hits;
      std::shared_ptr<const ReadyPlan> rp = wait.get();
      obs::plan_ready(g, rp->plan, /*hit=*/true);
      return rp;
    }
    try {
      std::shared_ptr<const ReadyPlan> rp = plan_for(g, be);
      std::lock_guard lock(mu_);
      lru_.push_front(key);
      ready_[key] = {rp, lru_.begin()};
      const size_t cap = static_cast<size_t>(std::max<int64_t>(options().plan_cache_size, 1));
      while (ready_.size() > cap) {
        ready_.erase(lru_.back());
        lru_.pop_back();
      }
      if (classes_.size() > 4 * cap) {  // a program with endless structures
        for (auto it = classes_.begin(); it != classes_.end();)
          it = it->second.dynamic ? std::next(it) : classes_.erase(it);
        if (classes_.size() > 4 * cap) classes_.clear();
      }
      inflight_.erase(key);
      mine.set_value(rp);
      return rp;
    } catch (...) {
      std::lock_guard lock(mu_);
      inflight_.erase(key);
      mine.set_exception(std::current_exception());
      throw;
    }
  }

 private:
  /// What the executor knows of one shape class (ir::Graph::shape_class) on one
  /// backend: the first plan made for it, until a second size either makes
  /// it dynamic or shows that it stays static.
  struct ShapeClass {
    std::shared_ptr<const ir::Graph> first_graph;  // its structure only (no buffers held)
    std::shared_ptr<const sched::Plan> first_plan;
    std::shared_ptr<const sched::DynamicPlan> dynamic;
    // An affine plan of the first two sizes (sched::DynamicPlan::affine),
    // made dynamic when a third size (compared with the second, held in
    // first_graph) gives the same rules.
    std::shared_ptr<const sched::DynamicPlan> candidate;
    bool stays_static = false;
  };

  /// The plan of a graph the plan cache does not have: an instance of its
  /// shape class's dynamic plan, or a new plan, which may make the class
  /// dynamic.
  std::shared_ptr<const ReadyPlan> plan_for(const ir::Graph& g, Backend& be) {
    if (!options().dynamic || !be.target().dynamic_dims) {
      ++counters().plan_misses;
      return ready(g, schedule(g, be), be, /*made=*/true);
    }
    const uint64_t ck = plan_key(g.shape_class(), be);
    ShapeClass c;
    {
      std::lock_guard lock(mu_);
      c = classes_[ck];
    }
    if (c.dynamic) {
      std::string why;
      if (std::optional<sched::Plan> p = sched::instantiate(*c.dynamic, g, be.target(), &why)) {
        ++counters().plan_hits;
        ++counters().dynamic_hits;
        obs::plan_note(fmt::format("dynamic plan, s0={}",
                                   g.node(c.dynamic->symbol).shape[c.dynamic->symbol_dim]));
        return ready(g, std::move(*p), be, /*made=*/false);
      }
      log(LogLevel::debug, "graph {:016x} is planned apart from its dynamic plan: {}", g.hash(),
          why);
    }
    ++counters().plan_misses;
    sched::Plan p = schedule(g, be);
    if (c.dynamic || c.stays_static) return ready(g, std::move(p), be, /*made=*/true);
    if (!c.first_plan) {
      c.first_graph = structure_of(g);
      c.first_plan = std::make_shared<const sched::Plan>(p);
      {
        std::lock_guard lock(mu_);
        ShapeClass& held = classes_[ck];
        if (!held.first_plan && !held.dynamic && !held.stays_static) held = c;
      }
      return ready(g, std::move(p), be, /*made=*/true);
    }
    sched::Generalized gz = sched::generalize(*c.first_graph, *c.first_plan, g, p, be.target());
    std::shared_ptr<const sched::DynamicPlan> dp;
    if (gz.plan) dp = std::make_shared<const sched::DynamicPlan>(std::move(*gz.plan));
    // Two sizes fit any line: an affine plan waits for a third.
    std::shared_ptr<const sched::DynamicPlan> unconfirmed;
    const std::string differ =
        dp && dp->affine && c.candidate ? sched::rules_differ(*c.candidate, *dp) : "";
    if (dp && dp->affine && (!c.candidate || !differ.empty())) {
      if (c.candidate) {
        gz.why_not = "sizes are not linear in one symbol over three sizes: " + differ;
        dp.reset();
      } else {
        unconfirmed = std::move(dp);
        gz.try_again = true;
      }
    }
    {
      std::lock_guard lock(mu_);  // not held while the kernels compile
      ShapeClass& held = classes_[ck];
      held.first_graph.reset();
      held.first_plan.reset();
      if (dp) {
        held.dynamic = dp;
        held.candidate.reset();
      } else if (gz.try_again) {  // compare the next size with this one
        held.first_graph = structure_of(g);
        held.first_plan = std::make_shared<const sched::Plan>(p);
        if (unconfirmed) held.candidate = unconfirmed;
      } else {
        held.stays_static = true;
        held.candidate.reset();
      }
    }
    if (unconfirmed) {
      log(LogLevel::debug,
          "graph {:016x}: dim {} of %{} changed {} -> {}: dynamic if the next size "
          "confirms its sizes' lines",
          g.hash(), gz.dim, gz.node, gz.from, gz.to);
      return ready(g, std::move(p), be, /*made=*/true);
    }
    if (!dp) {
      if (!gz.try_again) {
        log(LogLevel::info, "graph {:016x} keeps constant sizes: {}", g.hash(), gz.why_not);
        obs::plan_note("static: " + gz.why_not);
      }
      return ready(g, std::move(p), be, /*made=*/true);
    }
    const std::string why = fmt::format("dim {} of %{} changed {} -> {}: compiling dynamic", gz.dim,
                                        gz.node, gz.from, gz.to);
    log(LogLevel::info, "graph {:016x}: {} ({} kernel(s) for a symbolic size)", g.hash(), why,
        dp->dynamic_kernels);
    obs::plan_note(why);
    ++counters().dynamic_compiles;
    return ready(g, dp->plan, be, /*made=*/true);
  }

  /// `g` without its buffers' memory (a shape class keeps no tensor alive).
  static std::shared_ptr<const ir::Graph> structure_of(const ir::Graph& g) {
    std::vector<BufferView> views = g.buffers();
    for (BufferView& v : views) v.storage.reset();
    return std::make_shared<const ir::Graph>(g.with_buffers(std::move(views)));
  }

  /// A new plan for `g`.
  static sched::Plan schedule(const ir::Graph& g, Backend& be) {
    ir::verify(g);  // every new graph structure is checked once
    obs::ScheduleScope observe;
    return sched::make_plan(g, be.target(), obs::pass_dumper());
  }

  /// Plan `p` of `g` prepared (its kernels compiled, loaded or found);
  /// `made`: scheduled just now (not an instance of a dynamic plan).
  static std::shared_ptr<const ReadyPlan> ready(const ir::Graph& g, sched::Plan p, Backend& be,
                                                bool made) {
    auto rp = std::make_shared<ReadyPlan>();
    rp->plan = std::move(p);
    obs::plan_ready(g, rp->plan, /*hit=*/!made);
    if (made && new_plan_hook()) new_plan_hook()(rp->plan);
    PrepareStats ps;
    rp->prepared = be.prepare(rp->plan, &ps);
    counters().compiled += ps.compiled;
    counters().disk_hits += ps.disk_hits;
    counters().mem_hits += ps.mem_hits;
    counters().compile_us += static_cast<int64_t>(ps.compile_ms * 1000);
    if (log_enabled(LogLevel::debug)) {
      log(LogLevel::debug, "plan {:016x} for {}: {} step(s)\n{}", g.hash(), be.name(),
          rp->plan.steps.size(), rp->plan.schedule_text);
      for (const auto& k : rp->plan.kernels) log(LogLevel::debug, "{}", ir::to_string(k));
    }
    return rp;
  }

  struct Held {
    std::shared_ptr<const ReadyPlan> plan;
    std::list<uint64_t>::iterator lru;
  };
  std::mutex mu_;
  std::unordered_map<uint64_t, Held> ready_;
  std::list<uint64_t> lru_;  // front: most recently used
  std::unordered_map<uint64_t, std::shared_future<std::shared_ptr<const ReadyPlan>>> inflight_;
  std::unordered_map<uint64_t, ShapeClass> classes_;  // by plan_key of the shape class
};

PlanCache& plan_cache() {
  static PlanCache* c = new PlanCache;
  return *c;
}

}  // namespace

std::vector<BufferView> execute(const ir::Graph& g, Device device, std::string* index_error) {
  Backend& be = backend(device);
  std::shared_ptr<const ReadyPlan> rp = plan_cache().get(g, be);
  // The hook reads the inputs after the run: it gets copies of those that an
  // output may be written into.
  std::optional<ir::Graph> before;
  if (executed_hook()) {
    std::vector<BufferView> bufs = g.buffers();
    bool any = false;
    for (size_t s = 0; s < bufs.size(); ++s) {
      if (!g.donatable(static_cast<int32_t>(s))) continue;
      const Storage& from = *bufs[s].storage;
      std::vector<char> host(from.bytes);
      be.copy_to_host(host.data(), from.data, from.bytes);
      bufs[s].storage = be.alloc(from.bytes);
      be.copy_from_host(bufs[s].storage->data, host.data(), from.bytes);
      any = true;
    }
    if (any) before = g.with_buffers(std::move(bufs));
  }
  int64_t calls = 0, donated = 0;
  std::string bad_index;
  std::vector<BufferView> out =
      run_plan(g, rp->plan, *rp->prepared, be, &calls, &bad_index, &donated);
  counters().launched += calls;
  if (donated) counters().donated += donated;
  if (executed_hook()) executed_hook()(before ? *before : g, out);
  if (!bad_index.empty()) {
    if (!index_error) fail("{}", bad_index);
    *index_error = std::move(bad_index);
  }
  return out;
}

std::function<void(const sched::Plan&)> set_new_plan_hook(
    std::function<void(const sched::Plan&)> hook) {
  std::swap(new_plan_hook(), hook);
  return hook;
}

void set_executed_hook(std::function<void(const ir::Graph&, const std::vector<BufferView>&)> hook) {
  executed_hook() = std::move(hook);
}

bool plan_cached(uint64_t graph_hash) {
  return plan_cache().contains(plan_key(graph_hash, backend(Device::cpu())));
}

size_t plans_in_memory() { return plan_cache().size(); }

JitStats jit_stats() {
  JitCounters& c = counters();
  JitStats s;
  s.plan_hits = c.plan_hits.load();
  s.plan_misses = c.plan_misses.load();
  s.kernels_compiled = c.compiled.load();
  s.kernels_launched = c.launched.load();
  s.disk_hits = c.disk_hits.load();
  s.mem_hits = c.mem_hits.load();
  s.buffers_donated = c.donated.load();
  s.dynamic_compiles = c.dynamic_compiles.load();
  s.dynamic_hits = c.dynamic_hits.load();
  s.compile_ms = static_cast<double>(c.compile_us.load()) / 1000.0;
  return s;
}

void reset_jit_stats() {
  JitCounters& c = counters();
  c.plan_hits = 0;
  c.plan_misses = 0;
  c.compiled = 0;
  c.launched = 0;
  c.compile_us = 0;
  c.disk_hits = 0;
  c.mem_hits = 0;
  c.donated = 0;
  c.dynamic_compiles = 0;
  c.dynamic_hits = 0;
}

}  // namespace tj::jit
