#include "jit/kernel_cache.h"

#include <chrono>
#include <future>
#include <list>
#include <mutex>
#include <unordered_map>

#include "ir/check.h"
#include "jit/observe/observe.h"
#include "jit/options.h"

namespace tj::jit {

struct KernelCache::Impl {
  struct Held {
    std::shared_future<LoadedPtr> loaded;
    std::list<std::string>::iterator lru;
  };
  mutable std::mutex mu;
  std::unordered_map<std::string, Held> kernels;
  std::list<std::string> lru;  // front: most recently used

  void trim_locked(size_t max_kernels) {
    // From the least recently used end; kernels still compiling stay.
    for (auto it = lru.end(); kernels.size() > max_kernels && it != lru.begin();) {
      --it;
      auto k = kernels.find(*it);
      if (k->second.loaded.wait_for(std::chrono::seconds(0)) != std::future_status::ready) continue;
      kernels.erase(k);
      it = lru.erase(it);
    }
  }
};

KernelCache::KernelCache() : impl_(std::make_unique<Impl>()) {}
KernelCache::~KernelCache() = default;

size_t KernelCache::size() const {
  std::lock_guard lock(impl_->mu);
  return impl_->kernels.size();
}

std::vector<LoadedPtr> KernelCache::get(std::string_view space,
                                        const std::vector<const ir::Kernel*>& ks,
                                        const CompileFn& compile, PrepareStats* st) {
  Impl& m = *impl_;
  std::vector<std::shared_future<LoadedPtr>> found(ks.size());
  std::vector<std::string> keys(ks.size());
  std::vector<size_t> mine;  // indices into ks this call compiles
  std::vector<char> is_mine(ks.size(), 0);
  std::vector<std::promise<LoadedPtr>> promises;
  {
    std::lock_guard lock(m.mu);
    for (size_t i = 0; i < ks.size(); ++i) {
      keys[i].reserve(space.size() + 1 + ks[i]->name.size());
      keys[i].append(space).append(1, '/').append(ks[i]->name);
      if (auto it = m.kernels.find(keys[i]); it != m.kernels.end()) {
        found[i] = it->second.loaded;
        m.lru.splice(m.lru.begin(), m.lru, it->second.lru);
        continue;
      }
      promises.emplace_back();
      found[i] = promises.back().get_future().share();
      m.lru.push_front(keys[i]);
      m.kernels.emplace(keys[i], Impl::Held{found[i], m.lru.begin()});
      mine.push_back(i);
      is_mine[i] = 1;
    }
  }
  for (size_t i = 0; i < ks.size(); ++i) {
    if (is_mine[i]) continue;
    ++st->mem_hits;
    obs::kernel_mem_hit(*ks[i]);
  }
  if (!mine.empty()) {
    std::vector<const ir::Kernel*> todo;
    todo.reserve(mine.size());
    for (size_t i : mine) todo.push_back(ks[i]);
    try {
      std::vector<LoadedPtr> loaded = compile(todo, st);
      TJ_CHECK(loaded.size() == todo.size(), "{}: compiled {} of {} kernels", space, loaded.size(),
               todo.size());
      for (size_t k = 0; k < mine.size(); ++k) promises[k].set_value(std::move(loaded[k]));
    } catch (...) {
      // Waiting threads get the error; the next call compiles again.
      std::lock_guard lock(m.mu);
      for (size_t k = 0; k < mine.size(); ++k) {
        if (auto it = m.kernels.find(keys[mine[k]]); it != m.kernels.end()) {
          m.lru.erase(it->second.lru);
          m.kernels.erase(it);
        }
        promises[k].set_exception(std::current_exception());
      }
      throw;
    }
  }
  std::vector<LoadedPtr> out;
  out.reserve(ks.size());
  for (auto& f : found) out.push_back(f.get());  // rethrows another thread's compile error
  {
    std::lock_guard lock(m.mu);
    m.trim_locked(static_cast<size_t>(std::max<int64_t>(options().plan_cache_size, 1)) * 4);
  }
  return out;
}

void KernelCache::trim(size_t max_kernels) {
  std::lock_guard lock(impl_->mu);
  impl_->trim_locked(max_kernels);
}

KernelCache& kernel_cache() {
  static KernelCache* c = new KernelCache;
  return *c;
}

}  // namespace tj::jit
