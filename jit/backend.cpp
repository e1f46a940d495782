#include "jit/backend.h"

#include "ir/check.h"
#include "jit/cpu/backend.h"
#include "jit/cuda/backend.h"

namespace tj::jit {

bool available(Device d, std::string* why) {
  switch (d.type) {
    case DeviceType::cpu:
      return true;
    case DeviceType::cuda:
      return cuda::usable(d.index, why);
  }
  return false;
}

int device_count(DeviceType t) {
  switch (t) {
    case DeviceType::cpu:
      return 1;
    case DeviceType::cuda:
      return cuda::usable_count();
  }
  return 0;
}

Backend& backend(Device d) {
  switch (d.type) {
    case DeviceType::cpu:
      return cpu::backend();
    case DeviceType::cuda:
      return cuda::backend(d.index);
  }
  TJ_CHECK(false, "no backend for {}", d.str());
}

std::shared_ptr<Storage> transfer(const void* src, Device from, Device to, size_t bytes) {
  Backend& dst = backend(to);
  std::shared_ptr<Storage> out = dst.alloc(bytes);
  if (bytes == 0) return out;
  Backend& source = backend(from);
  if (from.is_cpu()) {
    dst.copy_from_host(out->data, src, bytes);
  } else if (to.is_cpu()) {
    source.copy_to_host(out->data, src, bytes);
  } else {
    // Between two devices through the host (tilejit keeps no peer mappings).
    std::shared_ptr<Storage> staging = source.alloc_host(bytes);
    source.copy_to_host(staging->data, src, bytes);
    dst.copy_from_host(out->data, staging->data, bytes);
  }
  return out;
}

}  // namespace tj::jit
