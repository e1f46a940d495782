// The public tj::cuda API: a thin layer over jit/'s driver and allocator
// that first checks that tilejit can use CUDA here, so a program calling it
// on a machine without a GPU gets one clear error instead of a driver code.
#include <fmt/format.h>

#include "ir/check.h"
#include "jit/cuda/driver.h"
#include "jit/cuda/memory.h"
#include "tilejit/cuda.h"
#include "tilejit/device.h"
#include "tilejit/ops.h"

namespace tj::cuda {

namespace {

/// Throws unless CUDA is usable; `what` names the public function called.
void require(const char* what) {
  if (cuda_is_available()) return;
  fail("tj::cuda::{}: CUDA is not available: {}", what, cuda_unavailable_reason());
}

void require_device(const char* what, int device) {
  require(what);
  int n = device_count();
  if (device < 0 || device >= n)
    fail("tj::cuda::{}: cuda:{} does not exist; this machine has {} CUDA device(s)", what, device,
         n);
}

}  // namespace

bool is_available() { return cuda_is_available(); }

std::string unavailable_reason() {
  if (cuda_is_available()) return {};
  std::string r = cuda_unavailable_reason();
  return r.empty() ? std::string("CUDA is not available") : r;
}

int device_count() {
  if (!cuda_is_available()) return 0;
  return jit::cuda::probe().device_count;
}

std::string device_name(int device) {
  require_device("device_name", device);
  const jit::cuda::DeviceInfo& i = jit::cuda::device_info(device);
  return fmt::format("{} (sm_{}{}, {} SMs, {:.1f} GiB)", i.name, i.cc_major, i.cc_minor, i.sm_count,
                     static_cast<double>(i.total_bytes) / (1 << 30));
}

void synchronize(int device) {
  require_device("synchronize", device);
  tj::sync();  // queue the calling thread's pending ops first
  jit::cuda::synchronize(device);
}

MemoryStats memory_stats(int device) {
  require_device("memory_stats", device);
  return jit::cuda::memory_stats(device);
}

void reset_peak_memory_stats(int device) {
  require_device("reset_peak_memory_stats", device);
  jit::cuda::reset_peak(device);
}

void empty_cache(int device) {
  require_device("empty_cache", device);
  jit::cuda::empty_cache(device);
}

Event::Event(int device) : device_(device) {
  require_device("Event", device);
  event_ = jit::cuda::event_create(device);
}

Event::~Event() {
  // Never throws: an event may outlive a failed context.
  try {
    if (event_) jit::cuda::event_destroy(device_, event_);
  } catch (...) {
  }
}

void Event::record() {
  require("Event::record");
  tj::sync();  // so the event lands after the kernels of every op traced so far
  jit::cuda::event_record(device_, event_);
}

float Event::elapsed_ms(const Event& end) const {
  require("Event::elapsed_ms");
  if (end.device_ != device_)
    fail("tj::cuda::Event::elapsed_ms: the events are on different devices (cuda:{} and cuda:{})",
         device_, end.device_);
  return jit::cuda::event_elapsed_ms(device_, event_, end.event_);
}

}  // namespace tj::cuda
