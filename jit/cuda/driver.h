// The CUDA driver, opened with dlopen at run time (never linked), so tilejit
// binaries start on machines without a driver or a GPU.
//
// Every driver call goes through `check()`: a failure throws tj::Error with
// the driver's error name and text, the call, and (for launches) the
// kernel's name. One primary context and one non-blocking stream per device;
// all tilejit work on a device is ordered on that stream.
//
// The functions below make their device's primary context current only for
// the duration of the call (ContextGuard) and then restore the calling
// thread's previous context, so an application that mixes tilejit with the
// CUDA runtime or another library keeps its current device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tj::jit::cuda {

struct Probe {
  bool driver_loaded = false;
  int device_count = 0;
  int driver_version = 0;  // e.g. 13000
  std::string reason;      // why no device can be used, in one line; empty when one can
};

/// Loads libcuda.so.1, initialises it and counts devices, once per process.
const Probe& probe();

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;  // compute capability
  int sm_count = 0;
  size_t total_bytes = 0;
  int max_threads_per_block = 1024;
  int max_shared_per_block = 48 * 1024;  // bytes, without opt-in
  int l2_bytes = 0;
};

/// Facts of device `dev` (throws tj::Error when it does not exist).
const DeviceInfo& device_info(int dev);

/// Makes device `dev`'s primary context current on the calling thread
/// (cheap when it already is) and leaves it current. Prefer ContextGuard,
/// which restores the thread's previous context.
void set_device(int dev);

/// Makes device `dev`'s primary context current on the calling thread for
/// the guard's lifetime, then makes the thread's previous context (the
/// application's own, or none) current again. Costs one cuCtxGetCurrent
/// when the context is already current. Guards nest: an inner guard for the
/// same device does nothing, one for another device restores the outer one.
class ContextGuard {
 public:
  explicit ContextGuard(int dev);
  ~ContextGuard();
  ContextGuard(const ContextGuard&) = delete;
  ContextGuard& operator=(const ContextGuard&) = delete;

 private:
  void* saved_ = nullptr;  // the thread's previous CUcontext (may be null)
  bool restore_ = false;
};

/// tilejit's stream on device `dev` (a CUstream).
void* stream(int dev);

/// Waits for all work on `dev`'s stream.
void synchronize(int dev);

/// A loaded module (CUBIN or PTX image) on one device.
class Module {
 public:
  static std::shared_ptr<Module> load(int dev, const std::string& image);
  ~Module();
  /// The kernel `name` (a CUfunction); throws when the module lacks it.
  void* function(const std::string& name) const;
  int device() const { return dev_; }

 private:
  int dev_ = 0;
  void* module_ = nullptr;
};

struct LaunchDims {
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  unsigned shared_bytes = 0;
};

/// cuLaunchKernel on `dev`'s stream; `params` as cuLaunchKernel takes them
/// (one pointer per kernel parameter). Errors name `kernel_name`.
void launch(int dev, void* function, const LaunchDims& dims, void** params,
            const std::string& kernel_name);

/// Copies on `dev`'s stream. Host pointers given to the async forms must be
/// pinned (see jit/cuda/memory.h) and stay alive until the stream reaches them.
void copy_to_device(int dev, void* dst, const void* src, size_t bytes);  // waits
void copy_to_host(int dev, void* dst, const void* src, size_t bytes);    // waits
void copy_on_device(int dev, void* dst, const void* src, size_t bytes);  // async
void memset_on_device(int dev, void* dst, uint8_t value, size_t bytes);  // async

/// Raw device memory (used by the caching allocator). device_free waits for
/// `dev`'s stream before freeing, unless the caller has just done so
/// (`stream_synced`, for freeing many blocks after one synchronize()).
void* device_malloc(int dev, size_t bytes, bool* out_of_memory);
void device_free(int dev, void* p, bool stream_synced = false);
/// Free and total bytes on `dev` (cuMemGetInfo).
void mem_info(int dev, size_t* free_bytes, size_t* total_bytes);
/// Raw page-locked host memory (cuMemHostAlloc, portable to every device's
/// context; used by the pinned cache in jit/cuda/memory.h). Allocated and freed
/// in the primary context of one device (the first one tilejit opened, else
/// cuda:0), which tilejit keeps alive until exit.
void* pinned_malloc(size_t bytes);
void pinned_free(void* p);

/// Events on `dev`'s stream (CUevent handles).
void* event_create(int dev);
void event_destroy(int dev, void* ev);
void event_record(int dev, void* ev);
float event_elapsed_ms(int dev, void* start, void* end);  // waits for `end`

}  // namespace tj::jit::cuda
