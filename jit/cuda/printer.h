// The CUDA dialect of the C-like printer: Kernel IR → CUDA C++ for NVRTC.
//
// Thread mapping of a kernel's programs (CUDA blocks):
// - pointwise: a block of 256 threads; each thread owns `vec` consecutive
//   elements of the innermost domain dim, moved with 128-bit loads and
//   stores for accesses that are contiguous there;
// - row kernels: a row per thread (rows of at most 16 elements), per warp
//   (at most 1024) or per block (longer rows: 256 to 1024 threads); each
//   thread reduces its elements, then warp shuffles and one shared-memory
//   step across warps combine the partial results in a fixed order, so
//   every reduction is deterministic. When a row's loads that more than one
//   pass reads fit in registers (`persistent`), the input is read from
//   memory once (softmax, layer_norm);
// - matmul (only where cuBLASLt cannot take the layout or dtype): a thread
//   per output element.
//
// Every kernel has the signature
//   extern "C" __global__ void NAME(T0* a0, T1* a1, ..., NAME_p p)
// with `struct NAME_p { double f[n]; int64_t i[n]; }` carrying the scalar
// parameters by value (each parameter in both arrays, as on the CPU). A
// kernel with vector accesses also has `NAME_s`, the same kernel with scalar
// accesses, launched when an argument is not aligned for the vector form
// (printed and compiled on its own, the first time it is needed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/kernel.h"

namespace tj::jit {

struct CudaLaunchInfo {
  std::string name;         // the vector (or only) entry point
  std::string scalar_name;  // the scalar fallback; empty when there is none
  int vec = 1;              // elements per vector access
  /// Arguments the vector entry reads or writes with vector accesses: the
  /// address of element 0 of the kernel's view of each must be aligned to
  /// `align_bytes` (vec * element size).
  std::vector<int32_t> vector_args;
  std::vector<int32_t> align_bytes;
  int64_t grid = 1;  // blocks (0: nothing to run)
  int block = 1;     // threads per block
  int params = 0;    // scalar parameters (the struct holds max(params, 1) of each)

  /// Whether buffer arguments at these addresses may use the vector entry.
  bool aligned(const std::vector<void*>& args) const;
};

/// The bytes of the kernel's `NAME_p` parameter struct for these scalar
/// values (one per kernel parameter): the doubles, then the same values as
/// int64, each read by the kernel in its parameter's dtype.
std::vector<uint64_t> cuda_param_block(const ir::Kernel& k,
                                       const std::vector<const ir::ScalarValue*>& values);

/// How `k` is launched (computed by the same rules the printer uses).
CudaLaunchInfo cuda_launch_info(const ir::Kernel& k);

/// Which entry points a unit defines. The scalar variants are compiled only
/// when a launch meets a misaligned argument (each entry point costs ptxas
/// time); `both` is for tests.
enum class CudaEntries : uint8_t { main, scalar, both };

/// Source of one kernel (without the preamble).
std::string print_cuda_kernel(const ir::Kernel& k, CudaEntries entries = CudaEntries::main);

/// A whole NVRTC translation unit: preamble, then the kernels. With
/// `scalar`, only kernels that have a scalar variant may be given.
std::string print_cuda_unit(const std::vector<const ir::Kernel*>& kernels,
                            CudaEntries entries = CudaEntries::main);

/// The preamble alone (jit/cuda/preamble.h, jit/codegen/kernel_common.h, ir/philox_core.h).
const std::string& cuda_preamble();

}  // namespace tj::jit
