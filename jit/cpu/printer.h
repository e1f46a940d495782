// The C-like source printer: Kernel IR → C++ (CPU) source.
//
// One visitor prints every instruction kind (expressions are shared by all
// dialects: the same op prints the same arithmetic); the dialect decides the
// program skeleton — on the CPU a program is a range of elements or rows
// handed to the kernel by the thread pool, with the innermost domain dim as
// a plain loop the compiler vectorizes.
//
// Every CPU kernel has the signature
//   extern "C" void NAME(void* const* args, const double* fparams,
//                        const int64_t* iparams, int64_t begin, int64_t end)
// where args are buffer base pointers (already offset), fparams/iparams the
// scalar parameters (each parameter is in both arrays; the kernel reads the
// one of its dtype), and [begin, end) the programs' range: elements for
// pointwise kernels, rows for row and matmul kernels.
#pragma once

#include <string>
#include <vector>

#include "ir/kernel.h"

namespace tj::jit {

/// Source of one kernel (without the preamble).
std::string print_cpp_kernel(const ir::Kernel& k);

/// A whole translation unit: the preamble (math and conversion helpers)
/// followed by the kernels.
std::string print_cpp_unit(const std::vector<const ir::Kernel*>& kernels);

/// The preamble alone (jit/cpu/math.h and math_trig.h, jit/codegen/kernel_common.h,
/// ir/philox_core.h, embedded at build time).
const std::string& cpp_preamble();

}  // namespace tj::jit
