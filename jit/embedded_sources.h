// Source files embedded in the library at build time (jit/embed.py): the
// preamble of every generated CPU kernel.
#pragma once

namespace tj::jit::embedded {
extern const char* const cpu_math_h;       // jit/cpu_math.h
extern const char* const kernel_common_h;  // jit/kernel_common.h
extern const char* const cuda_kernel_h;    // jit/cuda_kernel.h
}  // namespace tj::jit::embedded
