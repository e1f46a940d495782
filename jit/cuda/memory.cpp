// Device memory and pinned host memory, both through the caching allocator
// (jit/caching_allocator.h). Device blocks: requests up to 1 MiB rounded to
// 512 B, larger ones to 2 MiB (the driver's own allocation granularity, so
// nothing is lost by asking for it), every block kept until empty_cache or
// an out-of-memory retry. Pinned staging buffers: 4 KiB steps, eighths
// above 1 MiB, at most 64 MiB kept.
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
#include "jit/caching_allocator.h"
#include "jit/cuda/driver.h"

namespace tj::jit::cuda {

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

// Pinned staging buffers. The caller keeps a buffer's Storage alive until
// every asynchronous copy that uses it has completed.
CachingAllocator& pinned() {
  static auto* a = [] {
    CachingAllocator::Backend b;
    b.raw_alloc = [](size_t n) -> void* { return pinned_malloc(n); };
    b.raw_free = [](void* p) { pinned_free(p); };
    b.device_name = "pinned host memory";
    b.classes = {size_t{1} << 20, 4096, 0};
    b.cache_limit = size_t{64} << 20;
    return new CachingAllocator(std::move(b));
  }();  // never destroyed, like the device caches
  return *a;
}

}  // namespace

std::shared_ptr<Storage> device_alloc(int dev, size_t bytes) {
  return allocator(dev).storage(bytes, Device::cuda(dev));
}

std::shared_ptr<Storage> pinned_alloc(size_t bytes) {
  return pinned().storage(bytes, Device::cpu());
}

jit::MemoryStats memory_stats(int dev) { return allocator(dev).stats(); }
void reset_peak(int dev) { allocator(dev).reset_peak(); }
void empty_cache(int dev) { allocator(dev).empty_cache(); }

}  // namespace tj::jit::cuda
