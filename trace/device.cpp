// Which devices the public API sees (tilejit/device.h): through the backends.
#include "tilejit/device.h"
#include "jit/backend.h"
#include "tilejit/config.h"

namespace tj {

// CUDA is usable when the driver reports a device and NVRTC can be loaded
// (kernels are compiled at run time); both are probed once.
bool cuda_is_available() { return jit::device_count(DeviceType::cuda) > 0; }

std::string cuda_unavailable_reason() {
  std::string why;
  if (jit::available(Device::cuda(0), &why)) return "";
  return why;
}

Device default_device() {
  if (config().device) return *config().device;
  return cuda_is_available() ? Device::cuda(0) : Device::cpu();
}

}  // namespace tj
