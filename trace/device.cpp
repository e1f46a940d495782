#include <fmt/format.h>

#include <ostream>

#include "jit/cuda_driver.h"
#include "tilejit/config.h"
#include "tilejit/device.h"

namespace tj {

std::string Device::str() const {
  return type == DeviceType::cpu ? "cpu" : fmt::format("cuda:{}", index);
}

std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

// tilejit executes on the CPU only in this version; the CUDA backend will
// make cuda_is_available() true where a device is usable.
bool cuda_is_available() { return false; }

std::string cuda_unavailable_reason() {
  const jit::cuda::Probe& p = jit::cuda::probe();
  if (p.device_count > 0)
    return fmt::format(
        "found {} CUDA device(s), but this version of tilejit executes on the CPU only",
        p.device_count);
  return p.reason;
}

Device default_device() {
  if (config().device) return *config().device;
  return cuda_is_available() ? Device::cuda(0) : Device::cpu();
}

}  // namespace tj
