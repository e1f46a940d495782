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
// parameters by value (each parameter in both arrays, as on the CPU; a
// dynamic kernel's struct also has `int64_t s[m]`, its sizes, strides and
// offsets bound at launch, see cuda_variant_name). A kernel with vector accesses also has `NAME_s`,
// the same kernel with scalar accesses, launched when an argument is not aligned for the vector
// form (printed and compiled on its own, the first time it is needed).
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
/// int64, each read by the kernel in its parameter's dtype; then, for a
/// dynamic kernel, its values bound at launch (ir::for_each_symbol).
std::vector<uint64_t> cuda_param_block(const ir::Kernel& k,
                                       const std::vector<const ir::ScalarValue*>& values);

/// How `k` is launched (computed by the same rules the printer uses).
CudaLaunchInfo cuda_launch_info(const ir::Kernel& k);

/// The name a kernel is compiled under. A dynamic kernel (ir::Kernel::
/// has_symbols) reads its sizes at launch, but its layout (vector width,
/// threads per row, the bound of a row's loop, the index type) is chosen
/// for the instance's sizes: its name gets a suffix hashing that layout, so
/// each layout compiles once and every instance that shares it shares the
/// compiled kernel (as Inductor guards a kernel on the size properties its
/// code assumes). Other kernels keep their name.
std::string cuda_variant_name(const ir::Kernel& k);

/// Blocks to launch for this instance of `k` (a dynamic kernel's grid
/// changes with its sizes; cuda_launch_info has the first instance's).
int64_t cuda_grid(const ir::Kernel& k);

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
