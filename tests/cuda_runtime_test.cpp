// The CUDA runtime leaves: the caching allocator's policy (with a fake,
// malloc-backed device, so it runs everywhere), the public tj::cuda API on
// a machine without a GPU, and, in the CudaDevice suites, the driver,
// allocator and cuBLASLt on a real device.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "jit/caching_allocator.h"
#include "jit/cuda/cublaslt.h"
#include "jit/cuda/driver.h"
#include "jit/cuda/memory.h"
#include "tilejit/cuda.h"
#include "tilejit/error.h"

namespace {

using tj::jit::CachingAllocator;

constexpr size_t KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;

// A device with `budget` bytes: raw_alloc fails once the budget is used.
// `syncs` counts stream synchronizations; `frees_before_sync` counts blocks
// freed without a sync since the last raw_alloc (must stay 0: a block goes
// back to the device only after the work queued on it has finished).
struct FakeDevice {
  size_t budget = 0;
  size_t used = 0;
  int64_t mallocs = 0;
  int64_t syncs = 0;
  int64_t frees_before_sync = 0;
  bool synced = false;  // since the last raw_alloc
  bool fail_sync = false;
  std::function<void()> on_sync;
  std::set<void*> live;

  CachingAllocator::Backend backend() {
    CachingAllocator::Backend b;
    b.raw_alloc = [this](size_t n) -> void* {
      if (used + n > budget) return nullptr;
      void* p = std::malloc(n);
      used += n;
      ++mallocs;
      live.insert(p);
      sizes[p] = n;
      synced = false;
      return p;
    };
    b.sync = [this] {
      if (fail_sync) throw tj::Error("fake:0: the sync failed");
      ++syncs;
      synced = true;
      if (on_sync) on_sync();
    };
    b.raw_free = [this](void* p) {
      if (!synced) ++frees_before_sync;
      used -= sizes.at(p);
      sizes.erase(p);
      live.erase(p);
      std::free(p);
    };
    b.free_bytes = [this] { return budget - used; };
    b.device_name = "fake:0";
    return b;
  }
  std::map<void*, size_t> sizes;
};

TEST(CachingAllocator, RoundsToSizeClasses) {
  EXPECT_EQ(tj::jit::SizeClasses{}.round(0), 512u);
  EXPECT_EQ(tj::jit::SizeClasses{}.round(1), 512u);
  EXPECT_EQ(tj::jit::SizeClasses{}.round(512), 512u);
  EXPECT_EQ(tj::jit::SizeClasses{}.round(513), 1024u);
  EXPECT_EQ(tj::jit::SizeClasses{}.round(1000), 1024u);
  EXPECT_EQ(tj::jit::SizeClasses{}.round(MiB), MiB);
  EXPECT_EQ(tj::jit::SizeClasses{}.round(MiB + 1), 2 * MiB);
  EXPECT_EQ(tj::jit::SizeClasses{}.round(3 * MiB), 4 * MiB);
  EXPECT_EQ(tj::jit::SizeClasses{}.round(GiB + 1), GiB + 2 * MiB);
}

TEST(CachingAllocator, ReusesReleasedBlocks) {
  FakeDevice dev{.budget = 64 * MiB};
  CachingAllocator a(dev.backend());
  void* p = a.allocate(1000);
  a.release(p);
  void* q = a.allocate(900);  // same size class
  EXPECT_EQ(p, q);
  auto s = a.stats();
  EXPECT_EQ(s.allocations, 2);
  EXPECT_EQ(s.cache_hits, 1);
  EXPECT_EQ(s.device_mallocs, 1);
  EXPECT_EQ(dev.mallocs, 1);
  a.release(q);
}

TEST(CachingAllocator, ReusesTheMostRecentlyReleasedBlockFirst) {
  FakeDevice dev{.budget = 64 * MiB};
  CachingAllocator a(dev.backend());
  void* p = a.allocate(4 * MiB);
  void* q = a.allocate(4 * MiB);
  a.release(p);
  a.release(q);  // q is still warm in the caches
  EXPECT_EQ(a.allocate(4 * MiB), q);
  EXPECT_EQ(a.allocate(4 * MiB), p);
  a.release(p);
  a.release(q);
}

TEST(CachingAllocator, HostClassesWasteUnderAnEighth) {
  const tj::jit::SizeClasses host{MiB, 64, 0};
  EXPECT_EQ(host.round(1), 64u);
  EXPECT_EQ(host.round(65), 128u);
  EXPECT_EQ(host.round(MiB + 1), MiB + 128 * KiB);
  for (size_t n : {MiB + 1, 3 * MiB + 7, 17 * GiB, 17 * GiB + 1, 100 * GiB / 3})
    EXPECT_LT(host.round(n) - n, n / 8) << n;
  FakeDevice dev{.budget = 8 * MiB};
  auto b = dev.backend();
  b.classes = host;
  b.cache_limit = 2 * MiB;
  CachingAllocator a(b);
  void* big = a.allocate(3 * MiB);
  a.release(big);  // past the cache's limit: back at once
  EXPECT_EQ(a.cached_bytes(), 0u);
  EXPECT_EQ(dev.used, 0u);
  void* small = a.allocate(MiB);
  a.release(small);  // kept
  EXPECT_EQ(a.cached_bytes(), MiB);
}

TEST(CachingAllocator, BestFitAndBoundedWaste) {
  FakeDevice dev{.budget = 64 * MiB};
  CachingAllocator a(dev.backend());
  void* small = a.allocate(4 * KiB);
  void* mid = a.allocate(5 * KiB);
  void* big = a.allocate(MiB);
  a.release(big);
  a.release(mid);
  a.release(small);
  // 4.5 KiB rounds to 4.5 KiB: the 5 KiB block is the best fit.
  EXPECT_EQ(a.allocate(4 * KiB + 512), mid);
  // 512 B would waste most of a 4 KiB block: a new one is made.
  void* tiny = a.allocate(100);
  EXPECT_NE(tiny, small);
  EXPECT_NE(tiny, big);
  EXPECT_EQ(a.stats().device_mallocs, 4);
  a.release(tiny);
  a.release(mid);
}

TEST(CachingAllocator, AccountsAllocatedReservedAndPeak) {
  FakeDevice dev{.budget = 64 * MiB};
  CachingAllocator a(dev.backend());
  void* p = a.allocate(1000);     // 1 KiB
  void* q = a.allocate(3 * MiB);  // 4 MiB
  auto s = a.stats();
  EXPECT_EQ(s.allocated_bytes, KiB + 4 * MiB);
  EXPECT_EQ(s.reserved_bytes, KiB + 4 * MiB);
  EXPECT_EQ(s.peak_allocated_bytes, KiB + 4 * MiB);
  a.release(q);
  s = a.stats();
  EXPECT_EQ(s.allocated_bytes, KiB);
  EXPECT_EQ(s.reserved_bytes, KiB + 4 * MiB);  // cached
  EXPECT_EQ(s.peak_allocated_bytes, KiB + 4 * MiB);
  a.reset_peak();
  EXPECT_EQ(a.stats().peak_allocated_bytes, KiB);
  a.empty_cache();
  s = a.stats();
  EXPECT_EQ(s.reserved_bytes, KiB);
  EXPECT_EQ(dev.used, KiB);
  a.release(p);
}

TEST(CachingAllocator, OutOfMemoryEmptiesTheCacheAndRetries) {
  FakeDevice dev{.budget = 4 * MiB};
  CachingAllocator a(dev.backend());
  a.release(a.allocate(4 * MiB));  // the whole device is now cached
  // 100 KiB cannot reuse a 4 MiB block and the device is full: the cache is
  // returned and the second try succeeds.
  void* p = a.allocate(100 * KiB);
  ASSERT_NE(p, nullptr);
  auto s = a.stats();
  EXPECT_EQ(s.oom_retries, 1);
  EXPECT_EQ(s.reserved_bytes, 100 * KiB);
  EXPECT_EQ(dev.used, 100 * KiB);
  a.release(p);
}

TEST(CachingAllocator, OutOfMemoryTwiceThrowsAClearError) {
  FakeDevice dev{.budget = 10 * MiB};
  CachingAllocator a(dev.backend());
  void* held = a.allocate(4 * MiB);
  try {
    a.allocate(GiB + GiB / 2);
    FAIL() << "expected tj::Error";
  } catch (const tj::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("fake:0: out of memory allocating 1.5 GiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(free: 6.0 MiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("in use by tilejit tensors: 4.0 MiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("reduce the batch size"), std::string::npos) << msg;
  }
  EXPECT_EQ(a.stats().oom_retries, 1);
  // The allocator keeps working.
  void* p = a.allocate(2 * MiB);
  ASSERT_NE(p, nullptr);
  a.release(p);
  a.release(held);
  EXPECT_EQ(a.stats().allocated_bytes, 0u);
}

TEST(CachingAllocator, DestructorReturnsTheCache) {
  FakeDevice dev{.budget = 64 * MiB};
  {
    CachingAllocator a(dev.backend());
    a.release(a.allocate(10 * KiB));
    a.release(a.allocate(10 * MiB));
    EXPECT_GT(dev.used, 0u);
  }
  EXPECT_EQ(dev.used, 0u);
  EXPECT_TRUE(dev.live.empty());
}

TEST(CachingAllocator, EmptyCacheSyncsOnceThenFreesEveryBlock) {
  FakeDevice dev{.budget = 64 * MiB};
  CachingAllocator a(dev.backend());
  void* held = a.allocate(KiB);
  void* p1 = a.allocate(10 * KiB);
  void* p2 = a.allocate(3 * MiB);
  void* p3 = a.allocate(100);
  a.release(p1);
  a.release(p2);
  a.release(p3);
  // The allocator's lock is not held while the device drains: another
  // caller (here, the sync itself) can use the allocator meanwhile.
  dev.on_sync = [&] { EXPECT_EQ(a.stats().reserved_bytes, KiB); };
  a.empty_cache();
  EXPECT_EQ(dev.syncs, 1);
  EXPECT_EQ(dev.frees_before_sync, 0);
  EXPECT_EQ(dev.used, KiB);
  EXPECT_EQ(a.stats().reserved_bytes, KiB);
  // Nothing cached: no sync.
  a.empty_cache();
  EXPECT_EQ(dev.syncs, 1);
  a.release(held);
  dev.on_sync = nullptr;
}

TEST(CachingAllocator, OutOfMemoryRetrySyncsOnce) {
  FakeDevice dev{.budget = 8 * MiB};
  CachingAllocator a(dev.backend());
  void* p = a.allocate(2 * MiB);
  void* q = a.allocate(4 * MiB);
  a.release(p);
  a.release(q);
  void* r = a.allocate(7 * MiB);  // 8 MiB class: only fits once the cache is returned
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(dev.syncs, 1);
  EXPECT_EQ(dev.frees_before_sync, 0);
  EXPECT_EQ(a.stats().oom_retries, 1);
  a.release(r);
}

TEST(CachingAllocator, AFailedSyncKeepsTheBlocksCached) {
  FakeDevice dev{.budget = 64 * MiB};
  CachingAllocator a(dev.backend());
  a.release(a.allocate(10 * KiB));
  a.release(a.allocate(3 * MiB));
  const size_t reserved = a.stats().reserved_bytes;
  dev.fail_sync = true;
  EXPECT_THROW(a.empty_cache(), tj::Error);
  EXPECT_EQ(a.stats().reserved_bytes, reserved);
  EXPECT_EQ(dev.used, reserved);
  // The cached blocks are still handed out and returned normally.
  void* p = a.allocate(10 * KiB);
  EXPECT_EQ(a.stats().cache_hits, 1);
  a.release(p);
  dev.fail_sync = false;
  a.empty_cache();
  EXPECT_EQ(dev.used, 0u);
}

TEST(CachingAllocator, ReleasingAForeignPointerIsAnInternalError) {
  FakeDevice dev{.budget = 64 * MiB};
  CachingAllocator a(dev.backend());
  int x = 0;
  EXPECT_THROW(a.release(&x), tj::Error);
}

TEST(CudaApiWithoutDevice, ReportsWhyAndThrowsClearErrors) {
  if (tj::cuda::is_available()) GTEST_SKIP() << "CUDA is available here";
  std::string reason = tj::cuda::unavailable_reason();
  EXPECT_FALSE(reason.empty());
  EXPECT_EQ(tj::cuda::device_count(), 0);
  auto expect_error = [&](auto&& fn, const char* name) {
    try {
      fn();
      ADD_FAILURE() << name << " did not throw";
    } catch (const tj::Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(name), std::string::npos) << msg;
      EXPECT_NE(msg.find(reason), std::string::npos) << msg;
    }
  };
  expect_error([] { tj::cuda::memory_stats(0); }, "memory_stats");
  expect_error([] { tj::cuda::reset_peak_memory_stats(0); }, "reset_peak_memory_stats");
  expect_error([] { tj::cuda::empty_cache(0); }, "empty_cache");
  expect_error([] { tj::cuda::synchronize(0); }, "synchronize");
  expect_error([] { tj::cuda::device_name(0); }, "device_name");
  expect_error([] { tj::cuda::Event e(0); }, "Event");
}

TEST(CudaApiWithoutDevice, CublasLtDeclinesWithoutADevice) {
  if (tj::jit::cuda::probe().device_count > 0) GTEST_SKIP() << "a CUDA device is present";
  std::string reason;
  EXPECT_FALSE(tj::jit::cuda::cublaslt_available(&reason));
  EXPECT_FALSE(reason.empty());
  tj::jit::cuda::Gemm g;
  g.m = g.n = g.k = 4;
  EXPECT_FALSE(tj::jit::cuda::cublaslt_gemm(g));
}

// ---- on a device ------------------------------------------------------------

namespace cu = tj::jit::cuda;

// The driver-level suites need only a driver and a device (not NVRTC).
#define REQUIRE_DEVICE()                                                   \
  do {                                                                     \
    if (cu::probe().device_count == 0) GTEST_SKIP() << cu::probe().reason; \
  } while (0)

// fills out[i] = float(i) for i < n
const char* kIotaPtx = R"(
.version 7.0
.target sm_80
.address_size 64

.visible .entry tj_test_iota(
  .param .u64 out,
  .param .u32 n
)
{
  .reg .pred %p<2>;
  .reg .b32 %r<6>;
  .reg .b64 %rd<5>;
  .reg .f32 %f<2>;

  ld.param.u64 %rd1, [out];
  ld.param.u32 %r1, [n];
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mov.u32 %r4, %tid.x;
  mad.lo.s32 %r5, %r2, %r3, %r4;
  setp.ge.u32 %p1, %r5, %r1;
  @%p1 bra DONE;
  cvta.to.global.u64 %rd2, %rd1;
  mul.wide.u32 %rd3, %r5, 4;
  add.s64 %rd4, %rd2, %rd3;
  cvt.rn.f32.u32 %f1, %r5;
  st.global.f32 [%rd4], %f1;
DONE:
  ret;
}
)";

TEST(CudaDevice, InfoAndName) {
  REQUIRE_DEVICE();
  const cu::DeviceInfo& i = cu::device_info(0);
  EXPECT_FALSE(i.name.empty());
  EXPECT_GE(i.cc_major, 5);
  EXPECT_GT(i.sm_count, 0);
  EXPECT_GT(i.total_bytes, 0u);
  EXPECT_THROW(cu::device_info(cu::probe().device_count), tj::Error);
  if (tj::cuda::is_available()) {
    std::string name = tj::cuda::device_name(0);
    EXPECT_NE(name.find(i.name), std::string::npos) << name;
    EXPECT_NE(name.find(" SMs, "), std::string::npos) << name;
    EXPECT_NE(name.find("GiB)"), std::string::npos) << name;
  }
}

TEST(CudaDevice, CopyRoundTripAndMemset) {
  REQUIRE_DEVICE();
  const size_t n = 1 << 20;
  std::vector<uint8_t> host(n), back(n);
  for (size_t i = 0; i < n; ++i) host[i] = static_cast<uint8_t>(i * 7 + 3);
  auto a = cu::device_alloc(0, n);
  auto b = cu::device_alloc(0, n);
  EXPECT_TRUE(a->device.is_cuda());
  cu::copy_to_device(0, a->data, host.data(), n);
  cu::copy_on_device(0, b->data, a->data, n);
  cu::copy_to_host(0, back.data(), b->data, n);
  EXPECT_EQ(host, back);
  cu::memset_on_device(0, b->data, 0xab, n / 2);
  cu::copy_to_host(0, back.data(), b->data, n);
  for (size_t i = 0; i < n / 2; ++i) ASSERT_EQ(back[i], 0xab) << i;
  for (size_t i = n / 2; i < n; ++i) ASSERT_EQ(back[i], host[i]) << i;

  auto pinned = cu::pinned_alloc(n);
  std::memcpy(pinned->data, host.data(), n);
  cu::copy_to_device(0, a->data, pinned->data, n);
  cu::copy_to_host(0, back.data(), a->data, n);
  EXPECT_EQ(host, back);
}

TEST(CudaDevice, ModuleLoadAndLaunch) {
  REQUIRE_DEVICE();
  auto m = cu::Module::load(0, kIotaPtx);
  void* f = m->function("tj_test_iota");
  const unsigned n = 1000;
  auto out = cu::device_alloc(0, n * sizeof(float));
  void* ptr = out->data;
  unsigned count = n;
  void* params[] = {&ptr, &count};
  cu::LaunchDims dims;
  dims.grid[0] = (n + 127) / 128;
  dims.block[0] = 128;
  cu::launch(0, f, dims, params, "tj_test_iota");
  std::vector<float> back(n);
  cu::copy_to_host(0, back.data(), out->data, n * sizeof(float));
  for (unsigned i = 0; i < n; ++i) ASSERT_EQ(back[i], static_cast<float>(i)) << i;

  try {
    m->function("tj_no_such_kernel");
    FAIL() << "expected tj::Error";
  } catch (const tj::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("CUDA error CUDA_ERROR_NOT_FOUND"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tj_no_such_kernel"), std::string::npos) << msg;
  }
  EXPECT_THROW(cu::Module::load(0, "this is not PTX"), tj::Error);
  // The context is still usable after those errors.
  cu::synchronize(0);
}

TEST(CudaDevice, EventsMeasureTime) {
  REQUIRE_DEVICE();
  void* a = cu::event_create(0);
  void* b = cu::event_create(0);
  auto buf = cu::device_alloc(0, 64 * MiB);
  cu::event_record(0, a);
  for (int i = 0; i < 4; ++i) cu::memset_on_device(0, buf->data, static_cast<uint8_t>(i), 64 * MiB);
  cu::event_record(0, b);
  EXPECT_GE(cu::event_elapsed_ms(0, a, b), 0.0f);
  // Events made on one thread can be read and destroyed on another, where
  // tilejit never made a context current.
  std::thread([&] {
    EXPECT_GE(cu::event_elapsed_ms(0, a, b), 0.0f);
    cu::event_destroy(0, a);
    cu::event_destroy(0, b);
  }).join();
  if (tj::cuda::is_available()) {
    tj::cuda::Event start, end;
    start.record();
    cu::memset_on_device(0, buf->data, 1, 64 * MiB);
    end.record();
    EXPECT_GE(start.elapsed_ms(end), 0.0f);
    float ms = -1;
    std::thread([&] { ms = start.elapsed_ms(end); }).join();
    EXPECT_GE(ms, 0.0f);
  }
}

TEST(CudaDevice, MemoryStatsAfterFreeing) {
  REQUIRE_DEVICE();
  cu::empty_cache(0);
  auto before = cu::memory_stats(0);
  {
    auto s = cu::device_alloc(0, 3 * MiB);
    auto during = cu::memory_stats(0);
    EXPECT_EQ(during.allocated_bytes, before.allocated_bytes + 4 * MiB);
    EXPECT_GE(during.peak_allocated_bytes, during.allocated_bytes);
  }
  auto after = cu::memory_stats(0);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  EXPECT_EQ(after.reserved_bytes, before.reserved_bytes + 4 * MiB);  // cached
  auto again = cu::device_alloc(0, 3 * MiB);
  EXPECT_EQ(cu::memory_stats(0).cache_hits, after.cache_hits + 1);
  again.reset();
  cu::empty_cache(0);
  EXPECT_EQ(cu::memory_stats(0).reserved_bytes, before.reserved_bytes);
  if (tj::cuda::is_available()) {
    auto pub = tj::cuda::memory_stats(0);
    EXPECT_EQ(pub.allocated_bytes, cu::memory_stats(0).allocated_bytes);
  }
}

// The calling thread's current context, read through the driver tilejit
// already loaded (null when none is current).
void* current_context() {
  static auto get = [] {
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    return lib ? reinterpret_cast<int (*)(void**)>(dlsym(lib, "cuCtxGetCurrent")) : nullptr;
  }();
  void* ctx = nullptr;
  if (!get || get(&ctx) != 0) ADD_FAILURE() << "cuCtxGetCurrent failed";
  return ctx;
}

TEST(CudaDevice, LeavesTheThreadsCurrentContextAlone) {
  REQUIRE_DEVICE();
  // A fresh thread has no current context; tilejit's calls make theirs
  // current only while they run.
  std::thread([] {
    ASSERT_EQ(current_context(), nullptr);
    auto buf = cu::device_alloc(0, MiB);
    std::vector<uint8_t> host(MiB, 7), back(MiB);
    cu::copy_to_device(0, buf->data, host.data(), MiB);
    cu::memset_on_device(0, buf->data, 1, KiB);
    cu::copy_to_host(0, back.data(), buf->data, MiB);
    EXPECT_EQ(back[0], 1);
    EXPECT_EQ(back[MiB - 1], 7);
    auto pinned = cu::pinned_alloc(3 * MiB);
    void* ev = cu::event_create(0);
    cu::event_record(0, ev);
    cu::event_destroy(0, ev);
    cu::synchronize(0);
    buf.reset();
    pinned.reset();
    cu::empty_cache(0);
    (void)cu::memory_stats(0);
    EXPECT_EQ(current_context(), nullptr);
    // A context the thread made current (here tilejit's own, through
    // set_device) stays current.
    cu::set_device(0);
    void* ctx = current_context();
    ASSERT_NE(ctx, nullptr);
    {
      cu::ContextGuard g(0);
      EXPECT_EQ(current_context(), ctx);
    }
    cu::synchronize(0);
    EXPECT_EQ(current_context(), ctx);
  }).join();
}

// ---- cuBLASLt against a double-precision reference on the host -----------------

struct GemmCase {
  const char* name;
  tj::DType in, out;
  int64_t m, n, k, batch;
  bool a_transposed, b_transposed;
  cu::Epilogue epilogue;
  bool tf32;
  double atol, rtol;
  bool b_shared = false;  // one B for the whole batch (batch stride 0)
};

void store(tj::DType t, void* base, int64_t i, double v) {
  switch (t) {
    case tj::DType::f32:
      static_cast<float*>(base)[i] = static_cast<float>(v);
      return;
    case tj::DType::f64:
      static_cast<double*>(base)[i] = v;
      return;
    case tj::DType::f16:
      static_cast<tj::half*>(base)[i] = tj::half(static_cast<float>(v));
      return;
    case tj::DType::bf16:
      static_cast<tj::bfloat16*>(base)[i] = tj::bfloat16(static_cast<float>(v));
      return;
    default:
      FAIL() << "unexpected dtype";
  }
}

double load(tj::DType t, const void* base, int64_t i) {
  switch (t) {
    case tj::DType::f32:
      return static_cast<const float*>(base)[i];
    case tj::DType::f64:
      return static_cast<const double*>(base)[i];
    case tj::DType::f16:
      return static_cast<float>(static_cast<const tj::half*>(base)[i]);
    case tj::DType::bf16:
      return static_cast<float>(static_cast<const tj::bfloat16*>(base)[i]);
    default:
      return 0;
  }
}

double gelu_tanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

class CudaDeviceGemm : public ::testing::TestWithParam<GemmCase> {};

TEST_P(CudaDeviceGemm, MatchesReference) {
  REQUIRE_DEVICE();
  std::string why;
  if (!cu::cublaslt_available(&why)) GTEST_SKIP() << why;
  const GemmCase& c = GetParam();
  const int64_t in_size = tj::dtype_size(c.in), out_size = tj::dtype_size(c.out);
  const int64_t a_elems = c.m * c.k, b_elems = c.k * c.n, c_elems = c.m * c.n;
  const int64_t b_count = c.b_shared ? 1 : c.batch;
  std::vector<char> ha(a_elems * c.batch * in_size), hb(b_elems * b_count * in_size),
      hbias(c.n * out_size), hc(c_elems * c.batch * out_size);
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> dist(-1, 1);
  for (int64_t i = 0; i < a_elems * c.batch; ++i) store(c.in, ha.data(), i, dist(rng));
  for (int64_t i = 0; i < b_elems * b_count; ++i) store(c.in, hb.data(), i, dist(rng));
  for (int64_t i = 0; i < c.n; ++i) store(c.out, hbias.data(), i, dist(rng));

  auto da = cu::device_alloc(0, ha.size());
  auto db = cu::device_alloc(0, hb.size());
  auto dbias = cu::device_alloc(0, hbias.size());
  auto dc = cu::device_alloc(0, hc.size());
  cu::copy_to_device(0, da->data, ha.data(), ha.size());
  cu::copy_to_device(0, db->data, hb.data(), hb.size());
  cu::copy_to_device(0, dbias->data, hbias.data(), hbias.size());

  cu::Gemm g;
  g.a_dtype = g.b_dtype = c.in;
  g.c_dtype = c.out;
  g.m = c.m;
  g.n = c.n;
  g.k = c.k;
  g.batch = c.batch;
  g.a = da->data;
  // A transposed: stored as k x m rows.
  g.a_row_stride = c.a_transposed ? 1 : c.k;
  g.a_col_stride = c.a_transposed ? c.m : 1;
  g.a_batch_stride = a_elems;
  g.b = db->data;
  g.b_row_stride = c.b_transposed ? 1 : c.n;
  g.b_col_stride = c.b_transposed ? c.k : 1;
  g.b_batch_stride = c.b_shared ? 0 : b_elems;
  g.c = dc->data;
  g.c_row_stride = c.n;
  g.c_batch_stride = c_elems;
  g.epilogue = c.epilogue;
  g.bias = dbias->data;
  g.allow_tf32 = c.tf32;
  ASSERT_TRUE(cu::cublaslt_gemm(g)) << c.name << ": cuBLASLt declined";
  cu::copy_to_host(0, hc.data(), dc->data, hc.size());

  bool bias = c.epilogue == cu::Epilogue::bias || c.epilogue == cu::Epilogue::bias_relu ||
              c.epilogue == cu::Epilogue::bias_gelu;
  int bad = 0;
  for (int64_t bt = 0; bt < c.batch; ++bt)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double acc = 0;
        for (int64_t kk = 0; kk < c.k; ++kk) {
          double av =
              load(c.in, ha.data(), bt * a_elems + i * g.a_row_stride + kk * g.a_col_stride);
          double bv = load(c.in, hb.data(),
                           bt * g.b_batch_stride + kk * g.b_row_stride + j * g.b_col_stride);
          acc += av * bv;
        }
        if (bias) acc += load(c.out, hbias.data(), j);
        if (c.epilogue == cu::Epilogue::relu || c.epilogue == cu::Epilogue::bias_relu)
          acc = std::max(acc, 0.0);
        if (c.epilogue == cu::Epilogue::gelu || c.epilogue == cu::Epilogue::bias_gelu)
          acc = gelu_tanh(acc);
        double got = load(c.out, hc.data(), bt * c_elems + i * c.n + j);
        if (std::abs(got - acc) > c.atol + c.rtol * std::abs(acc) && ++bad <= 5)
          ADD_FAILURE() << c.name << ": C[" << bt << "][" << i << "][" << j << "] = " << got
                        << ", expected " << acc;
      }
  EXPECT_EQ(bad, 0);
}

using tj::DType;
using E = cu::Epilogue;
INSTANTIATE_TEST_SUITE_P(
    Cases, CudaDeviceGemm,
    ::testing::Values(GemmCase{"f32", DType::f32, DType::f32, 64, 48, 32, 1, false, false, E::none,
                               false, 1e-4, 1e-4},
                      GemmCase{"f32_odd", DType::f32, DType::f32, 37, 19, 53, 1, false, false,
                               E::none, false, 1e-4, 1e-4},
                      GemmCase{"f32_tf32", DType::f32, DType::f32, 64, 64, 64, 1, false, false,
                               E::none, true, 5e-2, 1e-2},
                      GemmCase{"f64", DType::f64, DType::f64, 33, 17, 29, 1, false, false, E::none,
                               false, 1e-12, 1e-12},
                      GemmCase{"f16", DType::f16, DType::f16, 64, 64, 64, 1, false, false, E::none,
                               false, 2e-2, 1e-2},
                      GemmCase{"f16_odd_ld", DType::f16, DType::f16, 37, 19, 53, 1, false, false,
                               E::none, false, 2e-2, 1e-2},
                      GemmCase{"f16_to_f32", DType::f16, DType::f32, 64, 32, 64, 1, false, false,
                               E::none, false, 1e-3, 1e-3},
                      GemmCase{"bf16", DType::bf16, DType::bf16, 64, 64, 64, 1, false, false,
                               E::none, false, 1e-1, 2e-2},
                      GemmCase{"batched_f32", DType::f32, DType::f32, 16, 24, 8, 3, false, false,
                               E::none, false, 1e-4, 1e-4},
                      GemmCase{"a_transposed", DType::f32, DType::f32, 32, 16, 24, 1, true, false,
                               E::none, false, 1e-4, 1e-4},
                      GemmCase{"b_transposed", DType::f32, DType::f32, 32, 16, 24, 1, false, true,
                               E::none, false, 1e-4, 1e-4},
                      GemmCase{"both_transposed_batched", DType::f16, DType::f16, 32, 16, 24, 2,
                               true, true, E::none, false, 2e-2, 1e-2},
                      GemmCase{"batched_shared_b", DType::f32, DType::f32, 16, 24, 8, 4, false,
                               false, E::none, false, 1e-4, 1e-4, true},
                      GemmCase{"bias", DType::f32, DType::f32, 32, 64, 16, 1, false, false, E::bias,
                               false, 1e-4, 1e-4},
                      GemmCase{"bias_relu", DType::f32, DType::f32, 32, 64, 16, 1, false, false,
                               E::bias_relu, false, 1e-4, 1e-4},
                      GemmCase{"bias_relu_f16", DType::f16, DType::f16, 32, 64, 16, 1, false, true,
                               E::bias_relu, false, 2e-2, 1e-2},
                      GemmCase{"relu", DType::f32, DType::f32, 32, 64, 16, 1, false, false, E::relu,
                               false, 1e-4, 1e-4},
                      GemmCase{"gelu_tanh", DType::f32, DType::f32, 32, 64, 16, 1, false, false,
                               E::gelu, false, 1e-3, 1e-3},
                      GemmCase{"bias_gelu_tanh", DType::f32, DType::f32, 32, 64, 16, 1, false,
                               false, E::bias_gelu, false, 1e-3, 1e-3}),
    [](const ::testing::TestParamInfo<GemmCase>& i) { return std::string(i.param.name); });

TEST(CudaDeviceGemmLayouts, DeclinesWhatItCannotExpress) {
  REQUIRE_DEVICE();
  auto buf = cu::device_alloc(0, 1 << 20);
  cu::Gemm g;
  g.m = g.n = g.k = 8;
  g.a = g.b = buf->data;
  g.c = static_cast<char*>(buf->data) + (1 << 19);
  g.a_row_stride = 16;
  g.a_col_stride = 2;  // neither stride is 1
  g.b_row_stride = 8;
  g.b_col_stride = 1;
  g.c_row_stride = 8;
  EXPECT_FALSE(cu::cublaslt_gemm(g));
  g.a_col_stride = 1;
  g.a_dtype = g.b_dtype = g.c_dtype = DType::i32;
  EXPECT_FALSE(cu::cublaslt_gemm(g));
  g.a_dtype = g.b_dtype = g.c_dtype = DType::f32;
  g.epilogue = E::bias;  // without a bias pointer
  EXPECT_FALSE(cu::cublaslt_gemm(g));
  // A bias that is not 16-byte aligned is declined (cuBLASLt's epilogue
  // kernels may assume 16 bytes); an aligned one is taken.
  std::string why;
  if (!cu::cublaslt_available(&why)) GTEST_SKIP() << why;
  for (int off : {4, 8, 12}) {
    g.bias = static_cast<char*>(buf->data) + (1 << 18) + off;
    EXPECT_FALSE(cu::cublaslt_gemm(g)) << "bias offset " << off;
  }
  g.bias = static_cast<char*>(buf->data) + (1 << 18) + 16;
  EXPECT_TRUE(cu::cublaslt_gemm(g));
  cu::synchronize(0);
}

}  // namespace
