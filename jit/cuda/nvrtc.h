// NVRTC, opened with dlopen at run time: CUDA C++ source → CUBIN (or PTX).
//
// The library is looked up in TILEJIT_CUDA_HOME, then the toolkit found at
// build time, then the dynamic loader's path, so a binary built on one
// machine uses the toolkit of the machine it runs on. No GPU is needed to
// compile, which is how the CPU-only test run checks every CUDA kernel.
#pragma once

#include <string>
#include <vector>

namespace tj::jit::cuda {

/// Whether NVRTC could be loaded; `reason` says why not.
bool nvrtc_available(std::string* reason = nullptr);
/// NVRTC's version as major * 1000 + minor * 10 (13000 for 13.0); 0 when missing.
int nvrtc_version();
/// The architectures NVRTC can emit CUBIN for (75, 80, 86, 89, 90, ...).
const std::vector<int>& nvrtc_archs();

struct CompiledImage {
  std::string image;  // CUBIN, or PTX text when `ptx`
  bool ptx = false;
  std::string arch;  // "sm_90" (CUBIN) or "compute_90" (PTX)
  std::string log;   // NVRTC's log, with ptxas's resource report
  double ms = 0;     // wall time of the compile
};

/// Compiles `source` for a device of compute capability `arch` (major * 10 +
/// minor): CUBIN for that exact architecture when NVRTC supports it, else PTX
/// for the highest architecture it supports (the driver compiles that PTX
/// for the device); `ptx`: PTX in any case. Throws tj::Error with NVRTC's
/// log on failure; `what` names the kernels for the message.
CompiledImage nvrtc_compile(const std::string& source, int arch, const std::string& what,
                            bool ptx = false);

/// One kernel's line of ptxas's report ("Used 40 registers, 0 bytes spill
/// stores, ...").
struct ResourceUsage {
  std::string function;
  int registers = 0;
  int spill_store_bytes = 0;
  int spill_load_bytes = 0;
  int stack_bytes = 0;
  int shared_bytes = 0;
};
std::vector<ResourceUsage> parse_resource_usage(const std::string& log);

/// Loads NVRTC and compiles a tiny kernel on a background thread, so the
/// first real compile does not pay NVRTC's start-up (called at first use of
/// a CUDA device).
void warm_nvrtc_async();

}  // namespace tj::jit::cuda
