// jit/cpu/ owns the CPU backend: its printer dialect, the host compiler and
// loader, the math library, the thread pool, host memory and CBLAS calls.
// It must not decide fusion or tiles, include another backend's folder, or
// read the public configuration (jit/options.h carries the compiler).
//
// Kernels are printed as C++ (jit/cpu/printer.h), compiled
// with the host compiler into shared objects (jit/cpu/compiler.h), cached
// on disk and in memory, and run on the thread pool (jit/cpu/thread_pool.h)
// over host memory from the caching allocator (jit/cpu/allocator.h); f32
// and f64 GEMMs go to CBLAS when the build found one (jit/cpu/blas.h).
// Work runs when it is launched, so synchronize() has nothing to wait for.
#pragma once

#include "jit/backend.h"

namespace tj::jit::cpu {

/// The process's CPU backend.
Backend& backend();

/// The scheduler's view of this machine (threads, vector width, L2).
sched::Target host_target();

}  // namespace tj::jit::cpu
