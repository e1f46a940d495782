#include "jit/cuda_driver.h"

#include <dlfcn.h>
#include <fmt/format.h>

namespace tj::jit::cuda {

namespace {

Probe probe_driver() {
  Probe p;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    p.reason = "no CUDA driver found (libcuda.so.1 could not be loaded)";
    return p;
  }
  p.driver_loaded = true;
  using InitFn = int (*)(unsigned);
  using CountFn = int (*)(int*);
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "cuInit"));
  auto count = reinterpret_cast<CountFn>(dlsym(lib, "cuDeviceGetCount"));
  if (!init || !count) {
    p.reason = "the CUDA driver lacks cuInit/cuDeviceGetCount";
    return p;
  }
  if (int rc = init(0); rc != 0) {
    p.reason = fmt::format("the CUDA driver failed to initialise (cuInit error {})", rc);
    return p;
  }
  if (count(&p.device_count) != 0 || p.device_count == 0) {
    p.device_count = 0;
    p.reason = "the CUDA driver reports no devices";
  }
  return p;
}

}  // namespace

const Probe& probe() {
  static const Probe p = probe_driver();
  return p;
}

}  // namespace tj::jit::cuda
