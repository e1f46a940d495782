// The public tj::cuda API: a thin layer over the backend of a CUDA device
// (jit/backend.h) that first checks that tilejit can use CUDA here, so a
// program calling it on a machine without a GPU gets one clear error instead
// of a driver code. Also tj::memory_stats for any device.
#include <fmt/format.h>

#include "ir/check.h"
#include "jit/backend.h"
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

jit::Backend& require_device(const char* what, int device) {
  require(what);
  int n = device_count();
  if (device < 0 || device >= n)
    fail("tj::cuda::{}: cuda:{} does not exist; this machine has {} CUDA device(s)", what, device,
         n);
  return jit::backend(Device::cuda(device));
}

MemoryStats to_public(const jit::MemoryStats& m) {
  MemoryStats s;
  s.allocated_bytes = m.allocated_bytes;
  s.reserved_bytes = m.reserved_bytes;
  s.peak_allocated_bytes = m.peak_allocated_bytes;
  s.allocations = m.allocations;
  s.cache_hits = m.cache_hits;
  s.device_mallocs = m.device_mallocs;
  s.oom_retries = m.oom_retries;
  return s;
}

}  // namespace

bool is_available() { return cuda_is_available(); }

std::string unavailable_reason() {
  if (cuda_is_available()) return {};
  std::string r = cuda_unavailable_reason();
  return r.empty() ? std::string("CUDA is not available") : r;
}

int device_count() { return jit::device_count(DeviceType::cuda); }

std::string device_name(int device) { return require_device("device_name", device).description(); }

void synchronize(int device) {
  jit::Backend& b = require_device("synchronize", device);
  tj::sync();  // queue the calling thread's pending ops first
  b.synchronize();
}

MemoryStats memory_stats(int device) {
  return to_public(require_device("memory_stats", device).memory_stats());
}

void reset_peak_memory_stats(int device) {
  require_device("reset_peak_memory_stats", device).reset_peak_memory_stats();
}

void empty_cache(int device) { require_device("empty_cache", device).empty_cache(); }

Event::Event(int device) : device_(device) {
  event_ = require_device("Event", device).event_create();
}

Event::~Event() {
  // Never throws: an event may outlive a failed context.
  try {
    if (event_) jit::backend(Device::cuda(device_)).event_destroy(event_);
  } catch (...) {
  }
}

void Event::record() {
  require("Event::record");
  tj::sync();  // so the event lands after the kernels of every op traced so far
  jit::backend(Device::cuda(device_)).event_record(event_);
}

float Event::elapsed_ms(const Event& end) const {
  require("Event::elapsed_ms");
  if (end.device_ != device_)
    fail("tj::cuda::Event::elapsed_ms: the events are on different devices (cuda:{} and cuda:{})",
         device_, end.device_);
  return jit::backend(Device::cuda(device_)).event_elapsed_ms(event_, end.event_);
}

}  // namespace tj::cuda

namespace tj {

MemoryStats memory_stats(Device device) {
  if (device.is_cuda()) return cuda::memory_stats(device.index);
  return cuda::to_public(jit::backend(device).memory_stats());
}

void reset_peak_memory_stats(Device device) {
  if (device.is_cuda()) return cuda::reset_peak_memory_stats(device.index);
  jit::backend(device).reset_peak_memory_stats();
}

}  // namespace tj
