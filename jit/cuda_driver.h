// The CUDA driver, opened with dlopen at run time (never linked), so tilejit
// binaries start on machines without a driver or a GPU.
#pragma once

#include <string>

namespace tj::jit {

struct CudaProbe {
  bool driver_loaded = false;
  int device_count = 0;
  std::string reason;  // why no device can be used, in one line
};

/// Loads libcuda.so.1 and counts devices, once per process.
const CudaProbe& cuda_probe();

}  // namespace tj::jit
