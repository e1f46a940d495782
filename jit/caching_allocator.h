// The caching allocator: the one size-class policy behind every device's
// memory (jit/cpu/allocator.h for host buffers, jit/cuda/memory.h for
// device and pinned host memory), independent of where the memory comes
// from, so it is tested without a GPU.
//
// Size classes: requests up to `small_limit` are rounded up to a multiple of
// `small_step`; larger ones to a multiple of `large_step`, or, when that is
// 0, of an eighth of the request's power of two (so rounding wastes less
// than 12.5%). Each block is one raw allocation; blocks are not split or
// merged.
//
// Reuse is best fit: a released block goes to a free list ordered by size
// (most recently released first among equal sizes: it is still in the
// processor's caches), and a request takes the smallest cached block that is
// at least its size class and larger by at most a quarter of it or one rounding step,
// whichever is more. At most `cache_limit` bytes are kept; a block released
// beyond that goes back at once. Out of memory: the cache is returned and
// the allocation tried once more, then a tj::Error names the request, what
// is free, in use and cached.
//
// Stream order (devices): all work on a device runs in one queue, so a block
// released on the host may be handed out again at once: every use in its
// new life is queued after every use in its old one. Memory is only given
// back after the queue has drained: cached blocks are taken out under the
// lock, then, unlocked, `sync` runs once and `raw_free` frees each.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "jit/backend.h"

namespace tj::jit {

struct SizeClasses {
  size_t small_limit = size_t{1} << 20;
  size_t small_step = 512;
  size_t large_step = size_t{2} << 20;  // 0: an eighth of the request's power of two
  /// The size class of a request of `bytes` (at least one small step).
  size_t round(size_t bytes) const;
  /// How much larger than its class a reused block may be.
  size_t slack(size_t rounded) const;
};

class CachingAllocator {
 public:
  struct Backend {
    std::function<void*(size_t)> raw_alloc;  // null on out of memory
    std::function<void(void*)> raw_free;     // called only after `sync` returned
    std::function<void()> sync;              // optional: waits for queued work
    std::function<size_t()> free_bytes;      // what the device has left, for messages
    std::string device_name;                 // "cuda:0", "host", for messages
    SizeClasses classes;
    size_t cache_limit = SIZE_MAX;  // bytes kept for reuse at most
  };
  explicit CachingAllocator(Backend b);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t bytes);  // throws tj::Error on out of memory
  void release(void* p);         // back to the cache (or freed, past cache_limit)
  /// A block of `bytes` as a Storage on `device` that goes back to this
  /// allocator when its last reference does (the allocator must outlive it).
  std::shared_ptr<Storage> storage(size_t bytes, Device device);
  void empty_cache();
  MemoryStats stats() const;
  size_t cached_bytes() const;
  void reset_peak();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tj::jit
