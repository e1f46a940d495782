// Device and pinned host memory for the CUDA backend.
//
// The caching device allocator rounds requests to size classes, keeps freed
// blocks per device and stream for reuse (a block freed on tilejit's stream
// can be reused at once by later work on that same stream, which is ordered
// after every use of the block), and on out-of-memory frees its cache and
// retries once before throwing tj::Error with the requested and free bytes.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "ir/buffer.h"
#include "jit/backend.h"

namespace tj::jit::cuda {

/// A device allocation of at least `bytes` on device `dev`, released to the
/// cache when the last reference goes.
std::shared_ptr<Storage> device_alloc(int dev, size_t bytes);

/// Page-locked host memory for staging transfers (cached too).
std::shared_ptr<Storage> pinned_alloc(size_t bytes);

jit::MemoryStats memory_stats(int dev);
void reset_peak(int dev);
void empty_cache(int dev);

/// The allocator's policy, independent of the driver so it can be tested
/// without a GPU: `raw_alloc` returns null on out-of-memory, `free_bytes`
/// reports what the device has left (for the error message).
///
/// Cached blocks go back to the device in batches (empty_cache, and the
/// retry after an out-of-memory): the allocator calls `sync` once, to wait
/// for every use already queued, then `raw_free` for each block, without
/// holding its lock, so other threads' allocate and release calls do not
/// wait for the device to drain.
class CachingAllocator {
 public:
  struct Backend {
    std::function<void*(size_t)> raw_alloc;
    std::function<void(void*)> raw_free;  // called only after `sync` returned
    std::function<void()> sync;           // optional: waits for queued work
    std::function<size_t()> free_bytes;
    std::string device_name;  // "cuda:0", for messages
  };
  explicit CachingAllocator(Backend b);
  ~CachingAllocator();
  /// Rounded size class of a request.
  static size_t round_size(size_t bytes);
  void* allocate(size_t bytes);  // throws tj::Error on out of memory
  void release(void* p);         // back to the cache
  void empty_cache();
  jit::MemoryStats stats() const;
  void reset_peak();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tj::jit::cuda
