#include "jit/options.h"

#include <atomic>
#include <memory>
#include <mutex>

namespace tj::jit {

namespace {

struct Defaults {
  std::mutex mu;
  std::shared_ptr<const Options> current = std::make_shared<const Options>();
  std::atomic<uint64_t> generation{1};
};

Defaults& defaults() {
  static Defaults* d = new Defaults;  // never destroyed: read during exit
  return *d;
}

thread_local const Options* t_scoped = nullptr;

/// This thread's copy of the process-wide options, refreshed when they change.
struct Cached {
  std::shared_ptr<const Options> options;
  uint64_t generation = 0;
};
thread_local Cached t_cached;

}  // namespace

const Options& options() {
  if (t_scoped) return *t_scoped;
  Defaults& d = defaults();
  const uint64_t gen = d.generation.load(std::memory_order_acquire);
  if (t_cached.generation != gen) {
    std::lock_guard lock(d.mu);
    t_cached.options = d.current;
    t_cached.generation = d.generation.load(std::memory_order_relaxed);
  }
  return *t_cached.options;
}

void set_default_options(const Options& o) {
  Defaults& d = defaults();
  auto next = std::make_shared<const Options>(o);
  std::lock_guard lock(d.mu);
  d.current = std::move(next);
  d.generation.fetch_add(1, std::memory_order_release);
}

OptionsScope::OptionsScope(const Options& o) : outer_(t_scoped) { t_scoped = &o; }
OptionsScope::~OptionsScope() { t_scoped = outer_; }

}  // namespace tj::jit
