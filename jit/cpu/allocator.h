// The caching host allocator.
//
// Freed buffers are kept and handed out again instead of going back to the
// OS: on the VMs tilejit runs on, touching a fresh page costs ~10 us per
// 4 KiB, far more than reusing a warm one. The policy is the caching
// allocator's (jit/caching_allocator.h): requests rounded to 64 B up to
// 1 MiB and to an eighth of their power of two above (under 12.5% lost to
// rounding), best-fit reuse, at most 256 MiB kept. Buffers are 64-byte
// aligned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "ir/buffer.h"

namespace tj::jit {

/// A host Storage of at least `bytes` bytes (uninitialised).
std::shared_ptr<Storage> host_alloc(size_t bytes);

struct HostAllocatorStats {
  int64_t allocs = 0;             // host_alloc calls
  int64_t cache_hits = 0;         // served from the cache
  int64_t bytes_cached = 0;       // held in the cache now
  int64_t bytes_in_use = 0;       // handed out and not yet freed
  int64_t peak_bytes_in_use = 0;  // since start-up or host_allocator_reset_peak()
};
HostAllocatorStats host_allocator_stats();
void host_allocator_reset_peak();
/// Returns every cached buffer to the OS.
void host_allocator_trim();

}  // namespace tj::jit
