// Device and pinned host memory for the CUDA backend.
//
// One caching allocator (jit/caching_allocator.h) per device keeps freed
// blocks for reuse (a block freed on tilejit's stream can be reused at once
// by later work on that same stream, which is ordered after every use of
// the block), and on out-of-memory frees its cache and retries once before
// throwing tj::Error with the requested and free bytes.
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

}  // namespace tj::jit::cuda
