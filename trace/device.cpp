#include <fmt/format.h>

#include <ostream>

#include "jit/cuda/driver.h"
#include "jit/cuda/nvrtc.h"
#include "tilejit/config.h"
#include "tilejit/device.h"

namespace tj {

std::string Device::str() const {
  return type == DeviceType::cpu ? "cpu" : fmt::format("cuda:{}", index);
}

std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

// CUDA is usable when the driver reports a device and NVRTC can be loaded
// (kernels are compiled at run time); both are probed once.
bool cuda_is_available() {
  static const bool ok = jit::cuda::probe().device_count > 0 && jit::cuda::nvrtc_available();
  return ok;
}

std::string cuda_unavailable_reason() {
  const jit::cuda::Probe& p = jit::cuda::probe();
  if (p.device_count == 0) return p.reason;
  std::string why;
  if (!jit::cuda::nvrtc_available(&why))
    return fmt::format("found {} CUDA device(s), but {}", p.device_count, why);
  return "";
}

Device default_device() {
  if (config().device) return *config().device;
  return cuda_is_available() ? Device::cuda(0) : Device::cpu();
}

}  // namespace tj
