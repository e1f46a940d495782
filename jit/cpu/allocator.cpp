#include "jit/cpu/allocator.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "jit/caching_allocator.h"

namespace tj::jit {

namespace {

/// MemAvailable from /proc/meminfo (0 when unknown), for out-of-memory messages.
size_t available_bytes() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %zu kB", &kb) == 1) break;
  std::fclose(f);
  return kb * 1024;
}

CachingAllocator& allocator() {
  static auto* a = [] {
    CachingAllocator::Backend b;
    b.raw_alloc = [](size_t n) { return std::aligned_alloc(64, n); };
    b.raw_free = [](void* p) { std::free(p); };
    b.free_bytes = available_bytes;
    b.device_name = "host memory";
    b.classes = {size_t{1} << 20, 64, 0};  // 64 B steps, then eighths: under 12.5% rounding
    b.cache_limit = size_t{256} << 20;
    return new CachingAllocator(std::move(b));
  }();  // never destroyed: buffers may be freed at exit
  return *a;
}

}  // namespace

std::shared_ptr<Storage> host_alloc(size_t bytes) {
  return allocator().storage(bytes, Device::cpu());
}

HostAllocatorStats host_allocator_stats() {
  const MemoryStats m = allocator().stats();
  HostAllocatorStats s;
  s.allocs = m.allocations;
  s.cache_hits = m.cache_hits;
  s.bytes_in_use = static_cast<int64_t>(m.allocated_bytes);
  s.bytes_cached = static_cast<int64_t>(m.reserved_bytes - m.allocated_bytes);
  s.peak_bytes_in_use = static_cast<int64_t>(m.peak_allocated_bytes);
  return s;
}

void host_allocator_reset_peak() { allocator().reset_peak(); }

void host_allocator_trim() { allocator().empty_cache(); }

}  // namespace tj::jit
