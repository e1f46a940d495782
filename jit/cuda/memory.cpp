// The caching device allocator and the pinned host cache.
//
// Size classes: requests up to 1 MiB are rounded up to a multiple of 512 B,
// larger ones to a multiple of 2 MiB (the driver's own allocation
// granularity, so nothing is lost by asking for it). Each block is one
// driver allocation; blocks are not split or merged.
//
// Reuse is best fit: a released block goes to a free list ordered by size,
// and a request takes the smallest cached block that is at least its size
// class and wastes at most a quarter of it or one rounding step (512 B for
// small, 2 MiB for large classes), whichever is more. A larger block stays in
// the cache for a request it fits better.
//
// Stream order: all tilejit work on a device runs on one stream, so a block
// released on the host (its last tensor dropped) may be handed out again at
// once: every kernel or copy that will use it in its new life is queued
// after every use in its old one. The driver is only given memory back after
// the stream has drained: the cache is emptied by taking its blocks out under
// the lock, then, unlocked, synchronizing the stream once and freeing them.
#include "jit/cuda/memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ir/check.h"
#include "jit/cuda/driver.h"

namespace tj::jit::cuda {

namespace {

constexpr size_t kSmallLimit = size_t{1} << 20;
constexpr size_t kSmallStep = 512;
constexpr size_t kLargeStep = size_t{2} << 20;

size_t round_up(size_t n, size_t step) { return (n + step - 1) / step * step; }

// How much larger than the size class a reused block may be.
size_t reuse_slack(size_t rounded) {
  return std::max(rounded / 4, rounded <= kSmallLimit ? kSmallStep : kLargeStep);
}

}  // namespace

struct CachingAllocator::Impl {
  Backend b;
  mutable std::mutex mu;
  std::multimap<size_t, void*> free;       // cached blocks by size
  std::unordered_map<void*, size_t> live;  // handed-out blocks and their sizes
  size_t cached_bytes = 0;
  jit::MemoryStats st;  // reserved_bytes is computed in stats()

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

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes <= kSmallLimit) return round_up(std::max<size_t>(bytes, 1), kSmallStep);
  return round_up(bytes, kLargeStep);
}

void* CachingAllocator::allocate(size_t bytes) {
  Impl& m = *impl_;
  const size_t size = round_size(bytes);
  std::unique_lock lock(m.mu);
  ++m.st.allocations;
  if (auto it = m.free.lower_bound(size);
      it != m.free.end() && it->first - size <= reuse_slack(size)) {
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
        "{}: out of memory allocating {} (free on the device: {}, in use by tilejit tensors: {}, "
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
  m.free.emplace(size, p);
  m.cached_bytes += size;
}

void CachingAllocator::empty_cache() {
  std::vector<std::pair<size_t, void*>> blocks;
  {
    std::lock_guard lock(impl_->mu);
    blocks = impl_->take_cache_locked();
  }
  impl_->free_blocks(blocks);
}

jit::MemoryStats CachingAllocator::stats() const {
  std::lock_guard lock(impl_->mu);
  jit::MemoryStats s = impl_->st;
  s.reserved_bytes = s.allocated_bytes + impl_->cached_bytes;
  return s;
}

void CachingAllocator::reset_peak() {
  std::lock_guard lock(impl_->mu);
  impl_->st.peak_allocated_bytes = impl_->st.allocated_bytes;
}

namespace {

struct DeviceAllocators {
  std::mutex mu;
  std::vector<std::unique_ptr<CachingAllocator>> by_device;
};

// Never destroyed: tensors may be released during static destruction.
CachingAllocator& allocator(int dev) {
  static auto* all = new DeviceAllocators;
  device_info(dev);  // throws a clear error for a device that does not exist
  std::lock_guard lock(all->mu);
  auto i = static_cast<size_t>(dev);
  if (all->by_device.size() <= i) all->by_device.resize(i + 1);
  if (!all->by_device[i]) {
    CachingAllocator::Backend b;
    b.raw_alloc = [dev](size_t n) {
      bool oom = false;
      return device_malloc(dev, n, &oom);  // null only on out-of-memory; throws otherwise
    };
    b.sync = [dev] { synchronize(dev); };
    b.raw_free = [dev](void* p) { device_free(dev, p, /*stream_synced=*/true); };
    b.free_bytes = [dev] {
      size_t f = 0;
      mem_info(dev, &f, nullptr);
      return f;
    };
    b.device_name = fmt::format("cuda:{}", dev);
    all->by_device[i] = std::make_unique<CachingAllocator>(std::move(b));
  }
  return *all->by_device[i];
}

// Runs in Storage's destructor: must not throw.
void release_device_block(void* data, size_t, void* ctx) {
  try {
    static_cast<CachingAllocator*>(ctx)->release(data);
  } catch (...) {
  }
}

// Pinned host buffers: power-of-two classes from 4 KiB, at most 64 MiB kept.
// They stage host<->device copies; the caller keeps a buffer's Storage alive
// until every asynchronous copy that uses it has completed.
constexpr size_t kPinnedMin = 4096;
constexpr int kPinnedClasses = 40;
constexpr size_t kPinnedCacheLimit = size_t{64} << 20;

struct PinnedCache {
  std::mutex mu;
  std::vector<void*> free[kPinnedClasses];
  size_t cached = 0;
};

PinnedCache& pinned_cache() {
  static auto* c = new PinnedCache;  // never destroyed, like the device caches
  return *c;
}

int pinned_class(size_t bytes) {
  size_t b = std::max(bytes, kPinnedMin);
  return std::bit_width(b - 1) - std::bit_width(kPinnedMin - 1);
}

void release_pinned(void* data, size_t bytes, void*) {
  PinnedCache& c = pinned_cache();
  int k = pinned_class(bytes);
  size_t size = kPinnedMin << k;
  {
    std::lock_guard lock(c.mu);
    if (c.cached + size <= kPinnedCacheLimit) {
      c.free[k].push_back(data);
      c.cached += size;
      return;
    }
  }
  try {
    pinned_free(data);
  } catch (...) {
  }
}

}  // namespace

std::shared_ptr<Storage> device_alloc(int dev, size_t bytes) {
  CachingAllocator& a = allocator(dev);
  void* p = a.allocate(bytes);
  std::shared_ptr<Storage> s;
  try {
    s = std::make_shared<Storage>();
  } catch (...) {
    a.release(p);
    throw;
  }
  s->data = p;
  s->bytes = bytes;
  s->device = Device::cuda(dev);
  s->release = &release_device_block;
  s->release_ctx = &a;
  return s;
}

std::shared_ptr<Storage> pinned_alloc(size_t bytes) {
  PinnedCache& c = pinned_cache();
  int k = pinned_class(bytes);
  TJ_CHECK(k < kPinnedClasses, "pinned allocation of {} bytes is too large", bytes);
  size_t size = kPinnedMin << k;
  void* p = nullptr;
  {
    std::lock_guard lock(c.mu);
    if (!c.free[k].empty()) {
      p = c.free[k].back();
      c.free[k].pop_back();
      c.cached -= size;
    }
  }
  if (!p) p = pinned_malloc(size);
  auto s = std::make_shared<Storage>();
  s->data = p;
  s->bytes = bytes;
  s->device = Device::cpu();
  s->release = &release_pinned;
  return s;
}

jit::MemoryStats memory_stats(int dev) { return allocator(dev).stats(); }
void reset_peak(int dev) { allocator(dev).reset_peak(); }
void empty_cache(int dev) { allocator(dev).empty_cache(); }

}  // namespace tj::jit::cuda
