// The Kernel IR: one fused group lowered to a tile program.
//
// A kernel runs over a *domain*: a row-major index space whose dims are
// either kept (every point is one output element or one row) or reduced
// (trailing dims, iterated inside a row). A *program* handles one tile of the
// domain: a range of elements for pointwise kernels, a range of rows for row
// kernels (on the CPU an iteration of the thread pool's loop; on CUDA a
// block). Memory is touched only through Accesses: element offset =
// offset + sum(idx[d] * strides[d]) over the domain dims, strides known at
// compile time (0 = broadcast, so views never copy). The body is a list of
// instructions in SSA form; each instruction is either element-level (one
// value per domain point) or row-level (one value per row: it does not vary
// along the reduced dims and is computed once per row). Stages are the
// reductions of a row kernel, run one after another over the reduced dims;
// a later stage and the outputs may use earlier stages' results, which is
// how softmax and layer_norm read their input row from memory once.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/op.h"
#include "ir/shape.h"
#include "tilejit/dtype.h"

namespace tj::ir {

struct Access {
  int32_t arg = -1;  // kernel buffer argument
  DType dtype = DType::f32;
  Strides strides;  // one per domain dim
  int64_t offset = 0;
  // Gather accesses only: the element offset also has index * gather_stride,
  // for an index value (the Gather instruction's operand a) in
  // [0, gather_size); with gather_wrap, negative ones count from the end.
  int64_t gather_stride = 0;
  int64_t gather_size = -1;  // -1: not a gather access
  bool gather_wrap = false;
  // Dynamic kernels (Kernel::dynamic): bit d set, strides[d] is read at
  // launch; bit kOffsetBit, the offset. The fields hold the instance's values.
  uint32_t symbolic = 0;
  static constexpr int kOffsetBit = 31;
  bool symbolic_stride(size_t d) const { return d < 31 && ((symbolic >> d) & 1u) != 0; }
  bool symbolic_offset() const { return ((symbolic >> kOffsetBit) & 1u) != 0; }
};

enum class KOp : uint8_t {
  Load,     // access → value
  Param,    // scalar kernel argument `param` (a run-time value)
  Index,    // flat row-major index of the domain point within `shape` (for iota/rand): uses access
            // strides
  Rand,     // Philox of (param a = seed, param b = offset) and Index instr c
  Unary,    // op(a)
  Binary,   // op(a, b)
  Where,    // a ? b : c
  Cast,     // a converted to dtype
  Reduced,  // the result of stage `param`
  Store,    // value a → access
  Gather,   // access at index value a (see Access::gather_*): 0 and a report through the
            // kernel's check argument (site `param`) when a is out of range
  Scatter,  // value b written to access at index value a (scatter kernels only); `op` Add
            // adds it to the element there; out of range: nothing written, reported as Gather's
  Scan,     // the running `op` (CumSum, CumProd, LogCumSumExp) of value a along the walked dim
            // (scan kernels only): the value at this point of the line
  Sort,     // the keys at `access` (sort kernels only): the positions of the line in order of
            // key (descending when `param` is 1), stored by the kernel's one Store
};

struct KInstr {
  KOp kop = KOp::Load;
  Op op = Op::Copy;          // Unary/Binary/Rand: the graph op
  DType dtype = DType::f32;  // value dtype (Load/Store: the buffer's dtype)
  int32_t a = -1, b = -1, c = -1;
  int32_t access = -1;
  int32_t param = -1;
  bool row_level = false;
};

/// Where a Gather or Scatter instruction reads or writes, for the message of an out-of-range
/// index (ir::index_error): the public function, its dimension and size.
struct CheckSite {
  int32_t api = 0;  // an ir::IndexApi
  int64_t dim = 0;
  int64_t size = 0;
  bool wrap = false;
};

struct Stage {
  Op op = Op::Sum;           // Sum, Prod, Max, Min, ArgMax, ArgMin
  int32_t value = -1;        // instruction whose values are reduced (element-level)
  DType dtype = DType::f32;  // result dtype (i64 for arg reductions)
};

/// Tile configuration: part of the kernel's identity. See scheduler/tile.h
/// for how it is chosen.
struct TileConfig {
  int64_t block = 0;        // pointwise: domain elements per program
  int64_t rows = 0;         // row kernels: rows per program
  int vector_width = 0;     // elements per vector register (informational for the CPU)
  bool persistent = false;  // row kernels: a row fits the per-program tile
};

// Kind::scatter: the domain is kept dims, then one reduced dim (the axis a
// Scatter instruction writes along), walked in order by one thread per row,
// so that repeated indices within a row are written in a fixed order; rows
// never write the same element. Kind::scan has the same domain and walk: its
// Scan instructions carry a running value from one element of a line to the
// next. Kind::sort, the same domain: one Sort instruction and one Store, the
// thread sorting its line's positions by the keys.
struct Kernel {
  enum class Kind : uint8_t { pointwise, row, matmul, conv, scatter, scan, sort };
  Kind kind = Kind::pointwise;
  std::string name;     // tj_pointwise_..., tj_row_softmax_..., tj_matmul_..., tj_scatter_...,
                        // tj_scan_..., tj_sort_...
  std::string summary;  // the fused graph ops, e.g. "max, sub, exp, sum, div"
  Shape domain;         // kept dims, then `reduced` reduced dims
  int reduced = 0;
  // Bit d set: domain[d] is a symbol bound at launch, as are the accesses'
  // strides and offsets marked Access::symbolic. The printed source reads
  // the symbols' values from the kernel's arguments (after the scalar
  // parameters, in for_each_symbol's order), so one compiled kernel serves
  // every value of them (scheduler/dynamic.h). The fields hold the values of
  // this plan's instance.
  uint32_t dynamic = 0;
  std::vector<DType> args;    // buffer arguments
  std::vector<DType> params;  // scalar arguments
  std::vector<Access> accesses;
  std::vector<KInstr> body;
  std::vector<Stage> stages;
  // Kernels with Gather or Scatter instructions: one site per instruction, and the
  // buffer argument (i64[kCheckCellSize]) where the first out-of-range index
  // found is reported: {1, index, api, dim, size, wrap} (the site's fields
  // are compiled in); the plan runner reads it after the run.
  std::vector<CheckSite> checks;
  int32_t check_arg = -1;
  TileConfig tile;
  // Buffer arguments that may be one buffer at run time: (input, output), the
  // output written into the input's memory when the input is read nowhere
  // else (sched::PlanBuffer::donor). Printed without restrict. Pointwise
  // kernels only, where both are accessed at the same element offsets, so
  // every element is read before it is written.
  std::vector<std::pair<int32_t, int32_t>> aliases;
  // matmul kernels: accesses 0, 1, 2 are A, B, C over the domain
  // [batch..., M, N, K] (K reduced), computed in `acc` dtype.
  //
  // conv kernels (ir/ops.def's Conv): the domain is [N, O, OH, OW, C/groups,
  // KH, KW] (the last 3 reduced); `conv` holds [stride_h, stride_w, pad_h,
  // pad_w, dilation_h, dilation_w, groups, H, W] (H, W: the input's size).
  // Accesses 0, 1, 2 are the input, the weight and the output, and 3 the
  // bias if there is one; each access's first strides are over its own
  // tensor's dims (input [N, C, H, W], weight [O, C/groups, KH, KW], output
  // [N, O, OH, OW], bias [O]), the others 0.
  std::vector<int64_t> conv;

  int64_t kept_numel() const;
  /// scatter, scan and sort kernels: one thread walks each line of the last dim.
  bool walks_lines() const {
    return kind == Kind::scatter || kind == Kind::scan || kind == Kind::sort;
  }
  int64_t reduced_numel() const;
  bool symbolic(size_t d) const { return d < 31 && ((dynamic >> d) & 1u) != 0; }
  /// Any size, stride or offset is bound at launch.
  bool has_symbols() const {
    if (dynamic) return true;
    for (const Access& a : accesses)
      if (a.symbolic) return true;
    return false;
  }
  /// Whether buffer argument `arg` is one side of an alias pair.
  bool aliased(int32_t arg) const {
    for (const auto& [in, out] : aliases)
      if (in == arg || out == arg) return true;
    return false;
  }
};

inline constexpr int kCheckCellSize = 6;

/// Readable text of a kernel (used in logs, dumps and tests). A dynamic
/// kernel's domain reads [s0, 256] (its symbolic dims named s0, s1, ... in
/// order), the instance's sizes beside it.
std::string to_string(const Kernel& k);
/// The domain as to_string prints it; with `instance`, the symbols' sizes too.
std::string domain_string(const Kernel& k, bool instance);

/// Calls f(value) for each value of `k` bound at launch, in the order of the
/// kernel's arguments: the symbolic domain dims, then each access's symbolic
/// strides (in dim order) and its offset if symbolic.
template <class K, class F>
void for_each_symbol(K& k, F&& f) {
  for (size_t d = 0; d < k.domain.size(); ++d)
    if (k.symbolic(d)) f(k.domain[d]);
  for (auto& a : k.accesses) {
    if (!a.symbolic) continue;
    for (size_t d = 0; d < a.strides.size(); ++d)
      if (a.symbolic_stride(d)) f(a.strides[d]);
    if (a.symbolic_offset()) f(a.offset);
  }
}

/// The text a kernel's name is the hash of: to_string without the name and,
/// for a dynamic kernel, without what depends on the symbol's value (its
/// size and the launch's tile of rows or elements).
std::string identity_string(const Kernel& k);

/// Checks a kernel's invariants (operands defined before use, accesses have
/// one stride per domain dim, row-level values never depend on element-level
/// ones, stages reduce element-level values). Throws an internal error.
void verify(const Kernel& k);

}  // namespace tj::ir
