// Devices (tilejit/device.h), part of the vocabulary every layer uses.
#include <fmt/format.h>

#include <ostream>

#include "tilejit/device.h"

namespace tj {

std::string Device::str() const {
  return type == DeviceType::cpu ? "cpu" : fmt::format("cuda:{}", index);
}

std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

}  // namespace tj
