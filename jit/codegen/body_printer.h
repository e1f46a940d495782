// jit/codegen/ owns what both kernel dialects print alike: this header (C
// types of values and buffers, conversions, the arithmetic of every op from
// the op table, one Kernel IR instruction, a row kernel's passes), the
// integer and floor-division helpers every preamble ends with
// (kernel_common.h) and the build step that embeds the preambles
// (embed.py). It must not know a dialect's thread mapping, compiler or
// memory: jit/cpu/ and jit/cuda/ derive from BodyPrinter for that.
//
// An op prints the same expression in C++ and CUDA; the math helpers it
// calls (tj_exp, tj_floordiv, ...) are defined by each dialect's preamble
// with the same semantics.
#pragma once

#include <string>
#include <vector>

#include "ir/kernel.h"

namespace tj::jit {

/// C type a value of this dtype is computed in (f16/bf16 in float).
const char* value_type(DType t);
/// C type a buffer of this dtype is stored in (f16/bf16 as uint16_t).
const char* storage_type(DType t);
/// A stored element `ref` as a value.
std::string load_expr(DType t, const std::string& ref);
/// A value as the stored form of dtype t.
std::string store_expr(DType t, const std::string& v);
/// `v` (computed as `from`) rounded/converted to a value of dtype `to`.
std::string convert(DType from, DType to, const std::string& v);

/// Prints instructions of one kernel. Domain indices are given as names
/// (one per domain dim); buffer argument k is spelled `a<k>`, instruction i's
/// value `v<i>`, stage s's result `red<s>`, and scalar parameter q is read
/// from `<fp>[q]` / `<ip>[q]`.
class BodyPrinter {
 public:
  explicit BodyPrinter(const ir::Kernel& k);
  virtual ~BodyPrinter() = default;

 protected:
  /// A dialect's program skeleton for each kernel kind; print_kernel_body()
  /// picks the one for the kernel.
  virtual void print_pointwise() = 0;
  virtual void print_row() = 0;
  virtual void print_matmul() = 0;
  virtual void print_conv() = 0;
  /// Scatter and scan kernels (ir::Kernel::walks_lines).
  virtual void print_lines() = 0;
  void print_kernel_body();

  /// The size of domain dim `d`, stride `d` of access `acc` and its offset as
  /// the source spells them: a number, or for a value bound at launch
  /// (ir::Kernel::dynamic) the variable tj_s<j>, j its place in
  /// ir::for_each_symbol's order, which the skeleton declares from the
  /// launch's arguments.
  std::string dim(size_t d) const { return dim_[d]; }
  std::string stride(int32_t acc, size_t d) const { return stride_[acc][d]; }
  std::string offset(int32_t acc) const { return offset_[acc]; }
  /// How many values the launch binds (tj_s0 ... tj_s<n-1>).
  size_t symbols() const { return symbols_; }

  /// The value of Load instruction i (dialects may read a register instead).
  virtual std::string load(int32_t i, const std::vector<std::string>& idx);
  /// Prints Store instruction i.
  virtual void store(int32_t i, const std::vector<std::string>& idx, const std::string& indent);

  /// Prints Gather instruction i: its index, whether it is in range, the
  /// report (gather_report) and the value (0 when out of range).
  void gather(int32_t i, const std::vector<std::string>& idx, const std::string& indent);
  /// Prints Scatter instruction i: as gather() reads, it writes (or adds)
  /// its value at the index when it is in range.
  void scatter(int32_t i, const std::vector<std::string>& idx, const std::string& indent);
  /// One line of a scatter, scan or sort kernel, its kept indices `idx`
  /// (all but the last) defined: the walk of its elements in order (a sort
  /// kernel: the sort of the line), loop indices of C type `index_type`.
  void line_body(const std::vector<std::string>& idx, const std::string& indent,
                 const char* index_type);
  /// Before the walk of a line: the running value `s<i>` of each Scan
  /// instruction, at its op's identity.
  void scan_inits(const std::string& indent);
  /// A sort kernel's line: the output positions sorted by the keys.
  void sort_line(const std::vector<std::string>& idx, const std::string& indent);
  /// Prints Scan instruction i: `s<i>` combined with its operand, as `v<i>`.
  void scan(int32_t i, const std::string& indent);
  /// `j<i>`, `ok<i>` and the report for the index of indirect access i;
  /// returns the element offset it reaches.
  std::string indirect_offset(int32_t i, const std::vector<std::string>& idx,
                              const std::string& indent);
  /// How a dialect notes that Gather or Scatter instruction i's index `v<a>` is out of
  /// range (`ok<i>` false): a statement at `indent`.
  virtual void gather_report(int32_t i, const std::string& indent) = 0;
  /// The report call's arguments after the cell and the index: the site's
  /// api, dim, size and wrap, as the cell holds them.
  std::string site_args(int32_t site) const;

  std::string offset_expr(int32_t acc, const std::vector<std::string>& idx) const;
  std::string ref(int32_t acc, const std::string& offset) const;
  std::string v(int32_t i) const { return "v" + std::to_string(i); }
  /// The C expression for instruction i.
  std::string expr(int32_t i, const std::vector<std::string>& idx);
  /// `const T v<i> = <expr>;` (or the store).
  void emit_instr(int32_t i, const std::vector<std::string>& idx, const std::string& indent);
  /// Instructions needed for `roots`, in order, restricted by row-levelness.
  std::vector<int32_t> closure(const std::vector<int32_t>& roots, bool row_level) const;
  /// Row-level operands of the element-level instructions `el`.
  std::vector<int32_t> row_operands(const std::vector<int32_t>& el) const;

  /// A row kernel's passes over its rows, the same for every dialect: one
  /// per stage (the element-level instructions computing the reduced value),
  /// then the outputs (row-level stores once per row; element-level ones
  /// with the instructions they need, in order).
  struct RowPasses {
    std::vector<std::vector<int32_t>> stage_elements;
    std::vector<int32_t> row_stores, row_store_values;
    std::vector<int32_t> output_elements;    // with the element-level stores
    std::vector<int32_t> output_row_values;  // row-level values stored per element
  };
  RowPasses row_passes() const;

  const ir::Kernel& k_;
  std::vector<std::string> dim_, offset_;
  std::vector<std::vector<std::string>> stride_;
  size_t symbols_ = 0;
  std::string out_;
  std::string fp_ = "fp", ip_ = "ip";
  // > 0: scan_inits and scan keep one running value per lane `b` of a chunk
  // of lines walked together (s<i>[b]).
  int scan_lanes_ = 0;
};

}  // namespace tj::jit
