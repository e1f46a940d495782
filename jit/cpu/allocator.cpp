#include "jit/cpu/allocator.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include "ir/check.h"

namespace tj::jit {

namespace {

constexpr size_t kMinClass = 64;
constexpr int kClasses = 48;
constexpr int64_t kCacheLimit = int64_t{256} << 20;

struct Cache {
  std::mutex mu;
  std::vector<void*> free[kClasses];
  HostAllocatorStats stats;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: buffers may be freed at exit
  return *c;
}

int class_of(size_t bytes) {
  size_t b = std::max(bytes, kMinClass);
  return std::bit_width(b - 1) - std::bit_width(kMinClass - 1);
}
size_t class_bytes(int c) { return kMinClass << c; }

void release(void* data, size_t bytes, void*) {
  Cache& k = cache();
  int c = class_of(bytes);
  std::lock_guard lock(k.mu);
  k.stats.bytes_in_use -= static_cast<int64_t>(class_bytes(c));
  if (k.stats.bytes_cached + static_cast<int64_t>(class_bytes(c)) <= kCacheLimit) {
    k.free[c].push_back(data);
    k.stats.bytes_cached += static_cast<int64_t>(class_bytes(c));
    return;
  }
  std::free(data);
}

}  // namespace

std::shared_ptr<Storage> host_alloc(size_t bytes) {
  Cache& k = cache();
  int c = class_of(bytes);
  TJ_CHECK(c < kClasses, "allocation of {} bytes is too large", bytes);
  size_t cb = class_bytes(c);
  void* p = nullptr;
  {
    std::lock_guard lock(k.mu);
    ++k.stats.allocs;
    k.stats.bytes_in_use += static_cast<int64_t>(cb);
    k.stats.peak_bytes_in_use = std::max(k.stats.peak_bytes_in_use, k.stats.bytes_in_use);
    if (!k.free[c].empty()) {
      p = k.free[c].back();
      k.free[c].pop_back();
      k.stats.bytes_cached -= static_cast<int64_t>(cb);
      ++k.stats.cache_hits;
    }
  }
  if (!p) p = std::aligned_alloc(64, cb);
  if (!p) {
    host_allocator_trim();
    p = std::aligned_alloc(64, cb);
  }
  if (!p) {
    std::lock_guard lock(k.mu);
    k.stats.bytes_in_use -= static_cast<int64_t>(cb);
    throw Error(fmt::format("out of host memory: could not allocate {} bytes", cb));
  }
  auto s = std::make_shared<Storage>();
  s->data = p;
  s->bytes = bytes;
  s->device = Device::cpu();
  s->release = release;
  return s;
}

HostAllocatorStats host_allocator_stats() {
  Cache& k = cache();
  std::lock_guard lock(k.mu);
  return k.stats;
}

void host_allocator_reset_peak() {
  Cache& k = cache();
  std::lock_guard lock(k.mu);
  k.stats.peak_bytes_in_use = k.stats.bytes_in_use;
}

void host_allocator_trim() {
  Cache& k = cache();
  std::lock_guard lock(k.mu);
  for (auto& list : k.free) {
    for (void* p : list) std::free(p);
    list.clear();
  }
  k.stats.bytes_cached = 0;
}

}  // namespace tj::jit
