// The CPU thread pool that runs a kernel's programs.
//
// One pool per process with one worker per core (the calling thread is one
// of them). parallel_for splits [0, n) into chunks of `grain` and hands them
// out dynamically; a range of one chunk runs on the caller with no handoff.
// Calls from several threads are serialised (kernels already use every core).
#pragma once

#include <cstdint>
#include <functional>

namespace tj::jit {

int cpu_threads();
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace tj::jit
