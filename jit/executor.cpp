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
#include "scheduler/make_plan.h"

namespace tj::jit {

namespace {

// ---- counters (reported through tj::stats()) ---------------------------------
struct JitCounters {
  std::atomic<int64_t> plan_hits{0}, plan_misses{0}, compiled{0}, launched{0}, disk_hits{0},
      mem_hits{0}, donated{0};
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
    ++counters().plan_misses;
    try {
      std::shared_ptr<const ReadyPlan> rp = make(g, be);
      std::lock_guard lock(mu_);
      lru_.push_front(key);
      ready_[key] = {rp, lru_.begin()};
      const size_t cap = static_cast<size_t>(std::max<int64_t>(options().plan_cache_size, 1));
      while (ready_.size() > cap) {
        ready_.erase(lru_.back());
        lru_.pop_back();
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
  static std::shared_ptr<const ReadyPlan> make(const ir::Graph& g, Backend& be) {
    ir::verify(g);  // every new graph structure is checked once
    auto rp = std::make_shared<ReadyPlan>();
    {
      obs::ScheduleScope observe;
      rp->plan = sched::make_plan(g, be.target(), obs::pass_dumper());
    }
    obs::plan_ready(g, rp->plan, /*hit=*/false);
    if (new_plan_hook()) new_plan_hook()(rp->plan);
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

void set_new_plan_hook(std::function<void(const sched::Plan&)> hook) {
  new_plan_hook() = std::move(hook);
}

void set_executed_hook(std::function<void(const ir::Graph&, const std::vector<BufferView>&)> hook) {
  executed_hook() = std::move(hook);
}

bool plan_cached(uint64_t graph_hash) { return plan_cache().contains(graph_hash); }

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
}

}  // namespace tj::jit
