// tilejit — devices.
#pragma once

#include <iosfwd>
#include <string>

namespace tj {

enum class DeviceType : uint8_t { cpu, cuda };

/// Where a tensor lives: `Device::cpu()` or `Device::cuda(i)`.
struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device&) const = default;
  /// "cpu", "cuda:0"
  std::string str() const;
};

std::ostream& operator<<(std::ostream& os, const Device& d);

/// The device new tensors go to when none is given: TILEJIT_DEVICE
/// (`auto`, `cpu`, `cuda`, `cuda:N`); `auto` picks CUDA when tilejit can run
/// kernels on a CUDA device here, else the CPU. Can be changed in code with
/// `tj::config().device`.
Device default_device();

/// True when a CUDA driver and device were found and tilejit can execute on
/// them. When false, `cuda_unavailable_reason()` says why in one line.
bool cuda_is_available();
std::string cuda_unavailable_reason();

}  // namespace tj
