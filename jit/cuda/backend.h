// jit/cuda/ owns the CUDA backend: its printer dialect and preamble, the
// driver, NVRTC, cuBLASLt, device and pinned memory. It must not decide
// fusion or tiles, include another backend's folder, link any CUDA library
// (everything is opened at run time), or read the public configuration.
//
// Kernels are printed as CUDA C++ (jit/cuda/printer.h),
// compiled with NVRTC (jit/cuda/nvrtc.h) for the device's architecture,
// cached on disk and in memory, loaded and launched through the driver API
// (jit/cuda/driver.h) on one stream per device; GEMMs through cuBLASLt with
// fused epilogues where it can take them (jit/cuda/gemm.h); memory from the
// caching device allocator (jit/cuda/memory.h). Everything is opened with
// dlopen at run time: a machine without a driver or a GPU simply has no
// CUDA devices.
#pragma once

#include <string>

#include "jit/backend.h"

namespace tj::jit::cuda {

/// Whether tilejit can run kernels on CUDA device `dev` (a driver, the
/// device and NVRTC); `why` says why not.
bool usable(int dev, std::string* why);
/// Devices tilejit can use (0 without a driver or NVRTC).
int usable_count();

/// The backend of device `dev` (made on first use; throws tj::Error when it
/// is not usable).
Backend& backend(int dev);

/// The scheduler's view of device `dev`.
sched::Target target_of(int dev);

}  // namespace tj::jit::cuda
