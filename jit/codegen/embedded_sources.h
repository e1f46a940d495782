// Source files embedded in the library at build time (jit/codegen/embed.py): the
// preambles of the generated CPU and CUDA kernels.
#pragma once

namespace tj::jit::embedded {
extern const char* const cpu_math_h;       // jit/cpu/math.h + jit/cpu/math_trig.h
extern const char* const kernel_common_h;  // jit/codegen/kernel_common.h
extern const char* const cuda_preamble_h;  // jit/cuda/preamble.h
extern const char* const philox_core_h;    // ir/philox_core.h
}  // namespace tj::jit::embedded
