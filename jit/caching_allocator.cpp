#include "jit/caching_allocator.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ir/bytes.h"
#include "ir/check.h"

namespace tj::jit {

namespace {

size_t round_up(size_t n, size_t step) { return (n + step - 1) / step * step; }

}  // namespace

size_t SizeClasses::round(size_t bytes) const {
  if (bytes <= small_limit) return round_up(std::max<size_t>(bytes, 1), small_step);
  const size_t step = large_step ? large_step : std::max(small_step, std::bit_floor(bytes) / 8);
  return round_up(bytes, step);
}

size_t SizeClasses::slack(size_t rounded) const {
  const size_t step = rounded <= small_limit ? small_step
                      : large_step           ? large_step
                                             : std::max(small_step, std::bit_floor(rounded) / 8);
  return std::max(rounded / 4, step);
}

struct CachingAllocator::Impl {
  Backend b;
  mutable std::mutex mu;
  std::multimap<size_t, void*> free;       // cached blocks by size
  std::unordered_map<void*, size_t> live;  // handed-out blocks and their sizes
  size_t cached_bytes = 0;
  MemoryStats st;  // reserved_bytes is computed in stats()

  // Takes every cached block out of the cache (call with `mu` held).
  std::vector<std::pair<size_t, void*>> take_cache_locked() {
    std::vector<std::pair<size_t, void*>> out(free.begin(), free.end());
    free.clear();
    cached_bytes = 0;
    return out;
  }

  // Returns blocks taken from the cache to the device: one sync, then one
  // raw_free each. Call without `mu` held. On an error the blocks not yet
  // freed go back to the cache, so the accounting stays right.
  void free_blocks(const std::vector<std::pair<size_t, void*>>& blocks) {
    if (blocks.empty()) return;
    size_t keep_from = 0;  // blocks[keep_from...] are still allocated
    try {
      if (b.sync) b.sync();
      for (const auto& blk : blocks) {
        // A block whose free fails is in an unknown state: it is dropped.
        ++keep_from;
        b.raw_free(blk.second);
      }
    } catch (...) {
      std::lock_guard lock(mu);
      for (size_t i = keep_from; i < blocks.size(); ++i) {
        free.emplace(blocks[i]);
        cached_bytes += blocks[i].first;
      }
      throw;
    }
  }

  void* take(void* p, size_t size) {
    live.emplace(p, size);
    st.allocated_bytes += size;
    st.peak_allocated_bytes = std::max(st.peak_allocated_bytes, st.allocated_bytes);
    return p;
  }
};

CachingAllocator::CachingAllocator(Backend b) : impl_(std::make_unique<Impl>()) {
  impl_->b = std::move(b);
}

CachingAllocator::~CachingAllocator() {
  // Live blocks belong to their Storages; only the cache is returned.
  try {
    empty_cache();
  } catch (...) {
  }
}

void* CachingAllocator::allocate(size_t bytes) {
  Impl& m = *impl_;
  const size_t size = m.b.classes.round(bytes);
  std::unique_lock lock(m.mu);
  ++m.st.allocations;
  if (auto it = m.free.lower_bound(size);
      it != m.free.end() && it->first - size <= m.b.classes.slack(size)) {
    void* p = it->second;
    size_t got = it->first;
    m.free.erase(it);
    m.cached_bytes -= got;
    ++m.st.cache_hits;
    return m.take(p, got);
  }
  void* p = m.b.raw_alloc(size);
  if (!p) {
    // The cache may hold enough memory in blocks of the wrong sizes.
    // It is returned without the lock held (the stream sync may take long);
    // other threads may allocate and release meanwhile.
    ++m.st.oom_retries;
    auto blocks = m.take_cache_locked();
    lock.unlock();
    m.free_blocks(blocks);
    lock.lock();
    p = m.b.raw_alloc(size);
  }
  if (!p) {
    std::string free_on_device = "unknown";
    try {
      if (m.b.free_bytes) free_on_device = format_bytes(m.b.free_bytes());
    } catch (...) {
    }
    fail(
        "{}: out of memory allocating {} (free: {}, in use by tilejit tensors: {}, "
        "cached by tilejit: {}); free tensors you no longer need or reduce the batch size",
        m.b.device_name, format_bytes(bytes), free_on_device, format_bytes(m.st.allocated_bytes),
        format_bytes(m.cached_bytes));
  }
  ++m.st.device_mallocs;
  return m.take(p, size);
}

void CachingAllocator::release(void* p) {
  if (!p) return;
  Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  auto it = m.live.find(p);
  TJ_CHECK(it != m.live.end(), "{}: released a block the allocator did not hand out",
           m.b.device_name);
  size_t size = it->second;
  m.live.erase(it);
  m.st.allocated_bytes -= size;
  if (m.cached_bytes + size <= m.b.cache_limit) {
    // Before the other blocks of its size: the most recently released one is
    // handed out first, while it is still in the caches.
    m.free.emplace_hint(m.free.lower_bound(size), size, p);
    m.cached_bytes += size;
    return;
  }
  m.b.raw_free(p);  // past the cache's limit (host memory only: devices keep every block)
}

namespace {
// Runs in Storage's destructor: must not throw.
void release_block(void* data, size_t, void* ctx) {
  try {
    static_cast<CachingAllocator*>(ctx)->release(data);
  } catch (...) {
  }
}
}  // namespace

std::shared_ptr<Storage> CachingAllocator::storage(size_t bytes, Device device) {
  void* p = allocate(bytes);
  std::shared_ptr<Storage> s;
  try {
    s = std::make_shared<Storage>();
  } catch (...) {
    release(p);
    throw;
  }
  s->data = p;
  s->bytes = bytes;
  s->device = device;
  s->release = &release_block;
  s->release_ctx = this;
  return s;
}

void CachingAllocator::empty_cache() {
  std::vector<std::pair<size_t, void*>> blocks;
  {
    std::lock_guard lock(impl_->mu);
    blocks = impl_->take_cache_locked();
  }
  impl_->free_blocks(blocks);
}

size_t CachingAllocator::cached_bytes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->cached_bytes;
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard lock(impl_->mu);
  MemoryStats s = impl_->st;
  s.reserved_bytes = s.allocated_bytes + impl_->cached_bytes;
  return s;
}

void CachingAllocator::reset_peak() {
  std::lock_guard lock(impl_->mu);
  impl_->st.peak_allocated_bytes = impl_->st.allocated_bytes;
}

}  // namespace tj::jit
