// tilejit — CUDA devices: availability, synchronisation, memory statistics
// and event timing.
//
// Tensors are placed on a GPU with `Device::cuda(i)` at creation or with
// `.to(tj::Device::cuda())`. Kernels of one device run in order on one stream
// per device; a host read (`to_vector`, `item`, printing) waits only for the
// work that produced the value. Everything here is safe to call on a machine
// without a GPU: `is_available()` is then false and `unavailable_reason()`
// says why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tilejit/config.h"

namespace tj::cuda {

/// True when tilejit found a CUDA driver, a device and NVRTC, and can run
/// kernels there.
bool is_available();
/// Why CUDA cannot be used, in one line (empty when it can).
std::string unavailable_reason();
/// Number of usable CUDA devices (0 when unavailable).
int device_count();
/// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)"; throws tj::Error for
/// a device that does not exist.
std::string device_name(int device = 0);

/// Computes every pending op, then waits until the device has finished all
/// work tilejit queued on it.
void synchronize(int device = 0);

/// The caching device allocator of one device (tj::memory_stats(Device::cuda(n))).
using MemoryStats = tj::MemoryStats;
MemoryStats memory_stats(int device = 0);
void reset_peak_memory_stats(int device = 0);
/// Returns cached, unused device memory to the driver.
void empty_cache(int device = 0);

/// A CUDA event on tilejit's stream of a device, for timing device work the
/// way CUDA programs do: record before and after, then `elapsed_ms`.
/// `record()` first computes pending ops, so the events bracket their
/// kernels.
class Event {
 public:
  explicit Event(int device = 0);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record();
  /// Waits for both events; milliseconds between this event and `end`.
  float elapsed_ms(const Event& end) const;

 private:
  int device_;
  void* event_ = nullptr;
};

}  // namespace tj::cuda
