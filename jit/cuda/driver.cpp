#include "jit/cuda/driver.h"

#include "ir/bytes.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <atomic>
#include <deque>
#include <mutex>

#include "ir/check.h"
#include "tilejit_build_config.h"

#if TJ_HAVE_CUDA
#include <cuda.h>
#endif

namespace tj::jit::cuda {

#if TJ_HAVE_CUDA

namespace {

// The driver functions tilejit calls. The pointer types come from cuda.h;
// the symbol names are the exact versioned ones that cuda.h's #defines map
// the plain names to (cuMemAlloc → cuMemAlloc_v2, ...), because dlsym sees
// the library's real symbols, and the unversioned ones are kept only for
// binaries built against CUDA 3.1 and older, with different signatures.
struct Driver {
  void* lib = nullptr;
  decltype(&cuInit) init = nullptr;
  decltype(&cuDriverGetVersion) driver_get_version = nullptr;
  decltype(&cuGetErrorName) get_error_name = nullptr;
  decltype(&cuGetErrorString) get_error_string = nullptr;
  decltype(&cuDeviceGet) device_get = nullptr;
  decltype(&cuDeviceGetCount) device_get_count = nullptr;
  decltype(&cuDeviceGetName) device_get_name = nullptr;
  decltype(&cuDeviceGetAttribute) device_get_attribute = nullptr;
  decltype(&cuDeviceTotalMem) device_total_mem = nullptr;  // _v2
  decltype(&cuDevicePrimaryCtxRetain) primary_ctx_retain = nullptr;
  decltype(&cuDevicePrimaryCtxRelease) primary_ctx_release = nullptr;  // _v2
  decltype(&cuCtxSetCurrent) ctx_set_current = nullptr;
  decltype(&cuCtxGetCurrent) ctx_get_current = nullptr;
  decltype(&cuStreamCreate) stream_create = nullptr;
  decltype(&cuStreamSynchronize) stream_synchronize = nullptr;
  decltype(&cuModuleLoadDataEx) module_load_data_ex = nullptr;
  decltype(&cuModuleGetFunction) module_get_function = nullptr;
  decltype(&cuModuleUnload) module_unload = nullptr;
  decltype(&cuFuncSetAttribute) func_set_attribute = nullptr;
  decltype(&cuLaunchKernel) launch_kernel = nullptr;
  decltype(&cuMemAlloc) mem_alloc = nullptr;                 // _v2
  decltype(&cuMemFree) mem_free = nullptr;                   // _v2
  decltype(&cuMemGetInfo) mem_get_info = nullptr;            // _v2
  decltype(&cuMemcpyHtoDAsync) memcpy_htod_async = nullptr;  // _v2
  decltype(&cuMemcpyDtoHAsync) memcpy_dtoh_async = nullptr;  // _v2
  decltype(&cuMemcpyDtoDAsync) memcpy_dtod_async = nullptr;  // _v2
  decltype(&cuMemsetD8Async) memset_d8_async = nullptr;
  decltype(&cuMemHostAlloc) mem_host_alloc = nullptr;
  decltype(&cuMemFreeHost) mem_free_host = nullptr;
  decltype(&cuEventCreate) event_create = nullptr;
  decltype(&cuEventRecord) event_record = nullptr;
  decltype(&cuEventSynchronize) event_synchronize = nullptr;
  decltype(&cuEventElapsedTime) event_elapsed_time = nullptr;  // _v2 (12.8+) or the original
  decltype(&cuEventDestroy) event_destroy = nullptr;           // _v2
  std::string missing;  // the first symbol that was not found
};

template <class Fn>
void bind(Driver& d, Fn& fn, const char* name, const char* fallback = nullptr) {
  void* sym = dlsym(d.lib, name);
  if (!sym && fallback) sym = dlsym(d.lib, fallback);
  if (!sym && d.missing.empty()) d.missing = name;
  fn = reinterpret_cast<Fn>(sym);
}

struct Loaded {
  Driver d;
  Probe probe;
};

Loaded load_driver() {
  Loaded out;
  Driver& d = out.d;
  Probe& p = out.probe;
  d.lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!d.lib) {
    p.reason =
        "no CUDA driver found (libcuda.so.1 could not be loaded; is the NVIDIA driver installed?)";
    return out;
  }
  bind(d, d.init, "cuInit");
  bind(d, d.driver_get_version, "cuDriverGetVersion");
  bind(d, d.get_error_name, "cuGetErrorName");
  bind(d, d.get_error_string, "cuGetErrorString");
  bind(d, d.device_get, "cuDeviceGet");
  bind(d, d.device_get_count, "cuDeviceGetCount");
  bind(d, d.device_get_name, "cuDeviceGetName");
  bind(d, d.device_get_attribute, "cuDeviceGetAttribute");
  bind(d, d.device_total_mem, "cuDeviceTotalMem_v2");
  bind(d, d.primary_ctx_retain, "cuDevicePrimaryCtxRetain");
  bind(d, d.primary_ctx_release, "cuDevicePrimaryCtxRelease_v2");
  bind(d, d.ctx_set_current, "cuCtxSetCurrent");
  bind(d, d.ctx_get_current, "cuCtxGetCurrent");
  bind(d, d.stream_create, "cuStreamCreate");
  bind(d, d.stream_synchronize, "cuStreamSynchronize");
  bind(d, d.module_load_data_ex, "cuModuleLoadDataEx");
  bind(d, d.module_get_function, "cuModuleGetFunction");
  bind(d, d.module_unload, "cuModuleUnload");
  bind(d, d.func_set_attribute, "cuFuncSetAttribute");
  bind(d, d.launch_kernel, "cuLaunchKernel");
  bind(d, d.mem_alloc, "cuMemAlloc_v2");
  bind(d, d.mem_free, "cuMemFree_v2");
  bind(d, d.mem_get_info, "cuMemGetInfo_v2");
  bind(d, d.memcpy_htod_async, "cuMemcpyHtoDAsync_v2");
  bind(d, d.memcpy_dtoh_async, "cuMemcpyDtoHAsync_v2");
  bind(d, d.memcpy_dtod_async, "cuMemcpyDtoDAsync_v2");
  bind(d, d.memset_d8_async, "cuMemsetD8Async");
  bind(d, d.mem_host_alloc, "cuMemHostAlloc");
  bind(d, d.mem_free_host, "cuMemFreeHost");
  bind(d, d.event_create, "cuEventCreate");
  bind(d, d.event_record, "cuEventRecord");
  bind(d, d.event_synchronize, "cuEventSynchronize");
  // Same signature in both; drivers before 12.8 have only the original.
  bind(d, d.event_elapsed_time, "cuEventElapsedTime_v2", "cuEventElapsedTime");
  bind(d, d.event_destroy, "cuEventDestroy_v2");
  p.driver_loaded = true;
  if (!d.missing.empty()) {
    p.reason = fmt::format(
        "the CUDA driver is too old: libcuda.so.1 lacks {}; update the NVIDIA driver", d.missing);
    return out;
  }
  d.driver_get_version(&p.driver_version);
  if (CUresult rc = d.init(0); rc != CUDA_SUCCESS) {
    const char* name = nullptr;
    if (d.get_error_name(rc, &name) != CUDA_SUCCESS) name = nullptr;
    p.reason = rc == CUDA_ERROR_NO_DEVICE
                   ? std::string("the CUDA driver found no CUDA device")
                   : fmt::format("the CUDA driver failed to initialise (cuInit returned {})",
                                 name ? name : std::to_string(static_cast<int>(rc)));
    return out;
  }
  if (d.device_get_count(&p.device_count) != CUDA_SUCCESS || p.device_count <= 0) {
    p.device_count = 0;
    p.reason = "the CUDA driver reports no devices";
  }
  return out;
}

const Loaded& loaded() {
  static const Loaded* l = new Loaded(load_driver());  // never unloaded: used until exit
  return *l;
}

std::string error_text(CUresult rc) {
  const Driver& d = loaded().d;
  const char* name = nullptr;
  const char* text = nullptr;
  if (!d.get_error_name || d.get_error_name(rc, &name) != CUDA_SUCCESS) name = nullptr;
  if (!d.get_error_string || d.get_error_string(rc, &text) != CUDA_SUCCESS) text = nullptr;
  std::string s = name ? name : fmt::format("error {}", static_cast<int>(rc));
  if (text) s += fmt::format(" ({})", text);
  return s;
}

// Errors after which the context cannot be used again: say so, because
// every later call will fail with the same error.
bool is_sticky(CUresult rc) {
  switch (rc) {
    case CUDA_ERROR_ILLEGAL_ADDRESS:
    case CUDA_ERROR_LAUNCH_FAILED:
    case CUDA_ERROR_HARDWARE_STACK_ERROR:
    case CUDA_ERROR_ILLEGAL_INSTRUCTION:
    case CUDA_ERROR_MISALIGNED_ADDRESS:
    case CUDA_ERROR_INVALID_ADDRESS_SPACE:
    case CUDA_ERROR_INVALID_PC:
    case CUDA_ERROR_ASSERT:
    case CUDA_ERROR_ECC_UNCORRECTABLE:
      return true;
    default:
      return false;
  }
}

/// Throws tj::Error for a failed driver call. `what` names the call and,
/// where there is one, the kernel or the sizes involved.
void check(CUresult rc, const std::string& what) {
  if (rc == CUDA_SUCCESS) return;
  std::string msg = fmt::format("CUDA error {} in {}", error_text(rc), what);
  if (is_sticky(rc))
    msg +=
        "; a kernel faulted, so the device context is unusable and every later CUDA call "
        "fails: restart the process (the fault may come from an earlier kernel on the stream; "
        "CUDA_LAUNCH_BLOCKING=1 makes it surface at the launch that caused it)";
  throw Error(msg);
}

const Driver& driver() {
  const Loaded& l = loaded();
  if (l.probe.device_count == 0)
    throw Error(fmt::format("CUDA is not available: {}", l.probe.reason));
  return l.d;
}

struct DeviceState {
  std::once_flag info_once;
  DeviceInfo info;
  std::once_flag ctx_once;
  CUcontext ctx = nullptr;
  CUstream stream = nullptr;
};

// Sized once (device count never changes in a process); states are created
// lazily and never destroyed, so contexts and streams live until exit and
// no destructor runs against a driver that is shutting down.
DeviceState& state(int dev) {
  const Driver& d = driver();
  (void)d;
  static std::deque<DeviceState>* states = [] {
    auto* s = new std::deque<DeviceState>(static_cast<size_t>(loaded().probe.device_count));
    return s;
  }();
  if (dev < 0 || dev >= static_cast<int>(states->size()))
    fail("cuda:{} does not exist: this machine has {} CUDA device(s) (cuda:0 to cuda:{})", dev,
         states->size(), static_cast<int>(states->size()) - 1);
  return (*states)[static_cast<size_t>(dev)];
}

// The first device whose context tilejit created (-1 before): pinned host
// memory is allocated in its context.
std::atomic<int> first_context_device{-1};

DeviceState& context_state(int dev) {
  DeviceState& s = state(dev);
  // On failure call_once rethrows and a later call tries again: nothing is
  // kept (the primary context reference is released), and the calling
  // thread's current context is left as it was.
  std::call_once(s.ctx_once, [&] {
    const Driver& d = loaded().d;
    CUdevice cu_dev = 0;
    check(d.device_get(&cu_dev, dev), fmt::format("cuDeviceGet for cuda:{}", dev));
    CUcontext ctx = nullptr;
    check(d.primary_ctx_retain(&ctx, cu_dev),
          fmt::format("cuDevicePrimaryCtxRetain for cuda:{}", dev));
    CUcontext prev = nullptr;
    const bool have_prev = d.ctx_get_current(&prev) == CUDA_SUCCESS;
    const char* call = "cuCtxSetCurrent";
    CUstream stream = nullptr;
    CUresult rc = d.ctx_set_current(ctx);
    if (rc == CUDA_SUCCESS) {
      // Non-blocking: tilejit's work does not serialise with the legacy
      // default stream that other libraries in the process may use.
      call = "cuStreamCreate";
      rc = d.stream_create(&stream, CU_STREAM_NON_BLOCKING);
      if (have_prev && prev != ctx) d.ctx_set_current(prev);
    }
    if (rc != CUDA_SUCCESS) {
      d.primary_ctx_release(cu_dev);
      check(rc, fmt::format("{} for cuda:{}", call, dev));
    }
    s.ctx = ctx;
    s.stream = stream;
    int none = -1;
    first_context_device.compare_exchange_strong(none, dev);
  });
  return s;
}

CUdeviceptr dptr(const void* p) { return reinterpret_cast<CUdeviceptr>(p); }

}  // namespace

const Probe& probe() { return loaded().probe; }

const DeviceInfo& device_info(int dev) {
  DeviceState& s = state(dev);
  std::call_once(s.info_once, [&] {
    const Driver& d = loaded().d;
    CUdevice cu_dev = 0;
    check(d.device_get(&cu_dev, dev), fmt::format("cuDeviceGet for cuda:{}", dev));
    DeviceInfo& i = s.info;
    i.index = dev;
    char name[256] = {};
    check(d.device_get_name(name, sizeof(name) - 1, cu_dev),
          fmt::format("cuDeviceGetName for cuda:{}", dev));
    i.name = name;
    auto attr = [&](CUdevice_attribute a, const char* what) {
      int v = 0;
      check(d.device_get_attribute(&v, a, cu_dev),
            fmt::format("cuDeviceGetAttribute({}) for cuda:{}", what, dev));
      return v;
    };
    i.cc_major = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "compute capability major");
    i.cc_minor = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "compute capability minor");
    i.sm_count = attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "multiprocessor count");
    i.max_threads_per_block = attr(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, "max threads");
    i.max_shared_per_block =
        attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, "max shared memory per block");
    i.l2_bytes = attr(CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, "L2 cache size");
    size_t total = 0;
    check(d.device_total_mem(&total, cu_dev), fmt::format("cuDeviceTotalMem for cuda:{}", dev));
    i.total_bytes = total;
  });
  return s.info;
}

void set_device(int dev) {
  DeviceState& s = context_state(dev);
  const Driver& d = loaded().d;
  // The thread's current context is asked for rather than cached in a
  // thread_local:
  // other code on this thread (the CUDA runtime, another library) may have
  // changed it since tilejit last set it, and cuCtxGetCurrent only reads
  // the driver's thread-local state.
  CUcontext cur = nullptr;
  if (d.ctx_get_current(&cur) == CUDA_SUCCESS && cur == s.ctx) return;
  check(d.ctx_set_current(s.ctx), fmt::format("cuCtxSetCurrent for cuda:{}", dev));
}

ContextGuard::ContextGuard(int dev) {
  DeviceState& s = context_state(dev);
  const Driver& d = loaded().d;
  CUcontext cur = nullptr;
  if (d.ctx_get_current(&cur) != CUDA_SUCCESS) cur = nullptr;
  if (cur == s.ctx) return;
  check(d.ctx_set_current(s.ctx), fmt::format("cuCtxSetCurrent for cuda:{}", dev));
  saved_ = cur;
  restore_ = true;
}

ContextGuard::~ContextGuard() {
  // Never throws; a context the application destroyed meanwhile is its
  // own business.
  if (restore_) loaded().d.ctx_set_current(static_cast<CUcontext>(saved_));
}

void* stream(int dev) { return context_state(dev).stream; }

void synchronize(int dev) {
  ContextGuard guard(dev);
  check(loaded().d.stream_synchronize(context_state(dev).stream),
        fmt::format("cuStreamSynchronize on cuda:{} (an earlier kernel or copy failed)", dev));
}

std::shared_ptr<Module> Module::load(int dev, const std::string& image) {
  ContextGuard guard(dev);
  const Driver& d = loaded().d;
  // The error log is where the driver's PTX JIT says what it rejected.
  char log[8192] = {};
  CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void* vals[] = {log, reinterpret_cast<void*>(static_cast<uintptr_t>(sizeof(log)))};
  CUmodule m = nullptr;
  CUresult rc = d.module_load_data_ex(&m, image.c_str(), 2, opts, vals);
  if (rc != CUDA_SUCCESS) {
    std::string where =
        fmt::format("cuModuleLoadDataEx on cuda:{} ({} image)", dev, format_bytes(image.size()));
    log[sizeof(log) - 1] = 0;
    if (log[0]) where += fmt::format("; the driver's log:\n{}", log);
    check(rc, where);
  }
  auto out = std::shared_ptr<Module>(new Module);
  out->dev_ = dev;
  out->module_ = m;
  return out;
}

Module::~Module() {
  if (!module_) return;
  // Never throws: modules may outlive a failed context or be dropped at exit.
  try {
    ContextGuard guard(dev_);
    loaded().d.module_unload(static_cast<CUmodule>(module_));
  } catch (...) {
  }
}

void* Module::function(const std::string& name) const {
  ContextGuard guard(dev_);
  CUfunction f = nullptr;
  check(loaded().d.module_get_function(&f, static_cast<CUmodule>(module_), name.c_str()),
        fmt::format("cuModuleGetFunction for kernel {} on cuda:{}", name, dev_));
  return f;
}

void launch(int dev, void* function, const LaunchDims& dims, void** params,
            const std::string& kernel_name) {
  ContextGuard guard(dev);
  const Driver& d = loaded().d;
  auto f = static_cast<CUfunction>(function);
  auto where = [&](const char* call) {
    return fmt::format("{} for kernel {} on cuda:{} (grid {}x{}x{}, block {}x{}x{}, {} B shared)",
                       call, kernel_name, dev, dims.grid[0], dims.grid[1], dims.grid[2],
                       dims.block[0], dims.block[1], dims.block[2], dims.shared_bytes);
  };
  // Dynamic shared memory above 48 KiB must be opted into per function.
  if (dims.shared_bytes > 48 * 1024)
    check(d.func_set_attribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                               static_cast<int>(dims.shared_bytes)),
          where("cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)"));
  check(
      d.launch_kernel(f, dims.grid[0], dims.grid[1], dims.grid[2], dims.block[0], dims.block[1],
                      dims.block[2], dims.shared_bytes, context_state(dev).stream, params, nullptr),
      where("cuLaunchKernel"));
}

void copy_to_device(int dev, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  ContextGuard guard(dev);
  CUstream s = context_state(dev).stream;
  const Driver& d = loaded().d;
  check(d.memcpy_htod_async(dptr(dst), src, bytes, s),
        fmt::format("cuMemcpyHtoDAsync of {} to cuda:{}", format_bytes(bytes), dev));
  check(d.stream_synchronize(s),
        fmt::format("cuStreamSynchronize after a copy of {} to cuda:{}", format_bytes(bytes), dev));
}

void copy_to_host(int dev, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  ContextGuard guard(dev);
  CUstream s = context_state(dev).stream;
  const Driver& d = loaded().d;
  check(d.memcpy_dtoh_async(dst, dptr(src), bytes, s),
        fmt::format("cuMemcpyDtoHAsync of {} from cuda:{}", format_bytes(bytes), dev));
  check(d.stream_synchronize(s), fmt::format("cuStreamSynchronize after a copy of {} from cuda:{}",
                                             format_bytes(bytes), dev));
}

void copy_on_device(int dev, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  ContextGuard guard(dev);
  check(loaded().d.memcpy_dtod_async(dptr(dst), dptr(src), bytes, context_state(dev).stream),
        fmt::format("cuMemcpyDtoDAsync of {} on cuda:{}", format_bytes(bytes), dev));
}

void memset_on_device(int dev, void* dst, uint8_t value, size_t bytes) {
  if (bytes == 0) return;
  ContextGuard guard(dev);
  check(loaded().d.memset_d8_async(dptr(dst), value, bytes, context_state(dev).stream),
        fmt::format("cuMemsetD8Async of {} on cuda:{}", format_bytes(bytes), dev));
}

void* device_malloc(int dev, size_t bytes, bool* out_of_memory) {
  if (out_of_memory) *out_of_memory = false;
  ContextGuard guard(dev);
  CUdeviceptr p = 0;
  CUresult rc = loaded().d.mem_alloc(&p, bytes);
  if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
    if (out_of_memory) *out_of_memory = true;
    return nullptr;
  }
  check(rc, fmt::format("cuMemAlloc of {} on cuda:{}", format_bytes(bytes), dev));
  return reinterpret_cast<void*>(p);
}

void device_free(int dev, void* p, bool stream_synced) {
  if (!p) return;
  ContextGuard guard(dev);
  const Driver& d = loaded().d;
  // The block may still be read or written by work queued on the stream;
  // wait for it before the memory goes back to the driver.
  if (!stream_synced)
    check(d.stream_synchronize(context_state(dev).stream),
          fmt::format("cuStreamSynchronize before cuMemFree on cuda:{}", dev));
  check(d.mem_free(dptr(p)), fmt::format("cuMemFree on cuda:{}", dev));
}

void mem_info(int dev, size_t* free_bytes, size_t* total_bytes) {
  ContextGuard guard(dev);
  size_t f = 0, t = 0;
  check(loaded().d.mem_get_info(&f, &t), fmt::format("cuMemGetInfo on cuda:{}", dev));
  if (free_bytes) *free_bytes = f;
  if (total_bytes) *total_bytes = t;
}

namespace {

// The device in whose primary context pinned memory is allocated and freed:
// chosen at the first allocation and kept, so every free runs in the context
// that made the block. An application's own context is never used: it may
// be destroyed while tilejit still caches the memory.
std::atomic<int> pinned_context_device{-1};

int pinned_device() {
  int dev = pinned_context_device.load();
  if (dev >= 0) return dev;
  int first = first_context_device.load();
  int none = -1;
  pinned_context_device.compare_exchange_strong(none, first >= 0 ? first : 0);
  return pinned_context_device.load();
}

}  // namespace

void* pinned_malloc(size_t bytes) {
  // Page-locked memory belongs to a context; PORTABLE makes it pinned for
  // every context, so one cache serves all devices.
  ContextGuard guard(pinned_device());
  void* p = nullptr;
  check(loaded().d.mem_host_alloc(&p, bytes, CU_MEMHOSTALLOC_PORTABLE),
        fmt::format("cuMemHostAlloc of {} of pinned host memory", format_bytes(bytes)));
  return p;
}

void pinned_free(void* p) {
  if (!p) return;
  ContextGuard guard(pinned_device());
  check(loaded().d.mem_free_host(p), "cuMemFreeHost");
}

void* event_create(int dev) {
  ContextGuard guard(dev);
  CUevent ev = nullptr;
  check(loaded().d.event_create(&ev, CU_EVENT_DEFAULT),
        fmt::format("cuEventCreate on cuda:{}", dev));
  return ev;
}

void event_destroy(int dev, void* ev) {
  if (!ev) return;
  ContextGuard guard(dev);
  check(loaded().d.event_destroy(static_cast<CUevent>(ev)), "cuEventDestroy");
}

void event_record(int dev, void* ev) {
  ContextGuard guard(dev);
  check(loaded().d.event_record(static_cast<CUevent>(ev), context_state(dev).stream),
        fmt::format("cuEventRecord on cuda:{}", dev));
}

float event_elapsed_ms(int dev, void* start, void* end) {
  ContextGuard guard(dev);
  const Driver& d = loaded().d;
  check(d.event_synchronize(static_cast<CUevent>(end)), "cuEventSynchronize");
  float ms = 0;
  CUresult rc = d.event_elapsed_time(&ms, static_cast<CUevent>(start), static_cast<CUevent>(end));
  if (rc == CUDA_ERROR_INVALID_HANDLE || rc == CUDA_ERROR_NOT_READY)
    check(rc,
          "cuEventElapsedTime (record both events, start first, before asking for the time "
          "between them)");
  check(rc, "cuEventElapsedTime");
  return ms;
}

#else  // !TJ_HAVE_CUDA

namespace {

[[noreturn]] void unavailable() {
  throw Error(fmt::format("CUDA is not available: {}", probe().reason));
}

}  // namespace

const Probe& probe() {
  static const Probe p = [] {
    Probe q;
    q.reason =
        "this build of tilejit has no CUDA support (the CUDA toolkit headers were not found "
        "when it was built; reconfigure with -Dtoolkit_root=/path/to/cuda)";
    return q;
  }();
  return p;
}

const DeviceInfo& device_info(int) { unavailable(); }
void set_device(int) { unavailable(); }
ContextGuard::ContextGuard(int) { unavailable(); }
ContextGuard::~ContextGuard() = default;
void* stream(int) { unavailable(); }
void synchronize(int) { unavailable(); }
std::shared_ptr<Module> Module::load(int, const std::string&) { unavailable(); }
Module::~Module() = default;
void* Module::function(const std::string&) const { unavailable(); }
void launch(int, void*, const LaunchDims&, void**, const std::string&) { unavailable(); }
void copy_to_device(int, void*, const void*, size_t) { unavailable(); }
void copy_to_host(int, void*, const void*, size_t) { unavailable(); }
void copy_on_device(int, void*, const void*, size_t) { unavailable(); }
void memset_on_device(int, void*, uint8_t, size_t) { unavailable(); }
void* device_malloc(int, size_t, bool*) { unavailable(); }
void device_free(int, void*, bool) { unavailable(); }
void mem_info(int, size_t*, size_t*) { unavailable(); }
void* pinned_malloc(size_t) { unavailable(); }
void pinned_free(void*) { unavailable(); }
void* event_create(int) { unavailable(); }
void event_destroy(int, void*) { unavailable(); }
void event_record(int, void*) { unavailable(); }
float event_elapsed_ms(int, void*, void*) { unavailable(); }

#endif  // TJ_HAVE_CUDA

}  // namespace tj::jit::cuda
