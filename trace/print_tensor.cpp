// Printing tensors: nested brackets like PyTorch, then dtype, shape and
// device; large tensors show their first and last 3 entries per dimension.
#include <fmt/format.h>

#include <cmath>
#include <ostream>

#include "trace/ops_util.h"

namespace tj {

namespace {

constexpr int64_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;

struct Printer {
  const Shape& shape;
  const std::vector<double>& vals;   // row-major, floating dtypes
  const std::vector<int64_t>& ints;  // row-major, integer and bool dtypes (exact)
  DType dtype;
  bool summarize;
  int width = 0;
  enum class Mode { integer, fixed, sci } mode = Mode::fixed;

  std::vector<int64_t> shown(int64_t n) const {
    std::vector<int64_t> idx;
    if (!summarize || n <= 2 * kEdgeItems) {
      for (int64_t i = 0; i < n; ++i) idx.push_back(i);
      return idx;
    }
    for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
    idx.push_back(-1);  // "..."
    for (int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
    return idx;
  }

  /// Element k (row-major).
  std::string elem(int64_t k) const {
    if (dtype == DType::bool_) return ints[k] != 0 ? "true" : "false";
    if (!is_floating(dtype)) return fmt::format("{}", ints[k]);
    const double v = vals[k];
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    switch (mode) {
      case Mode::integer:
        return fmt::format("{:.0f}.", v);
      case Mode::fixed:
        return fmt::format("{:.4f}", v);
      case Mode::sci:
        return fmt::format("{:.4e}", v);
    }
    return "";
  }

  void choose_format(const std::vector<int64_t>& sample) {
    if (is_floating(dtype)) {
      bool all_int = true;
      double max_abs = 0, min_abs = INFINITY;
      for (int64_t k : sample) {
        const double v = vals[k];
        if (!std::isfinite(v)) continue;
        all_int = all_int && v == std::floor(v);
        max_abs = std::max(max_abs, std::fabs(v));
        if (v != 0) min_abs = std::min(min_abs, std::fabs(v));
      }
      if (all_int && max_abs < 1e8)
        mode = Mode::integer;
      else if (max_abs >= 1e8 || min_abs < 1e-4)
        mode = Mode::sci;
      else
        mode = Mode::fixed;
    }
    for (int64_t k : sample) width = std::max(width, static_cast<int>(elem(k).size()));
  }

  // Collects the shown elements so the column width fits all of them.
  void collect(size_t dim, int64_t base, std::vector<int64_t>& out) const {
    if (dim == shape.size()) {
      out.push_back(base);
      return;
    }
    int64_t stride = 1;
    for (size_t d = dim + 1; d < shape.size(); ++d) stride *= shape[d];
    for (int64_t i : shown(shape[dim]))
      if (i >= 0) collect(dim + 1, base + i * stride, out);
  }

  void print(std::string& s, size_t dim, int64_t base, int indent) const {
    if (dim == shape.size()) {
      std::string e = elem(base);
      s += std::string(width - static_cast<int>(e.size()), ' ') + e;
      return;
    }
    int64_t stride = 1;
    for (size_t d = dim + 1; d < shape.size(); ++d) stride *= shape[d];
    s += "[";
    bool first = true;
    for (int64_t i : shown(shape[dim])) {
      if (!first) {
        s += ",";
        if (dim + 1 == shape.size()) {
          s += " ";
        } else {
          s += std::string(shape.size() - dim - 1, '\n');
          s += std::string(indent + 1, ' ');
        }
      }
      first = false;
      if (i < 0) {
        s += "...";
        continue;
      }
      print(s, dim + 1, base + i * stride, indent + 1);
    }
    s += "]";
  }
};

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  const auto& impl = trace::impl_of(*this, "print");
  const bool fl = is_floating(impl->dtype);
  // Integers exactly (a double would round values beyond 2^53).
  const std::vector<double> vals = fl ? to_vector<double>() : std::vector<double>{};
  const std::vector<int64_t> ints = fl ? std::vector<int64_t>{} : to_vector<int64_t>();
  const int64_t n = static_cast<int64_t>(fl ? vals.size() : ints.size());
  Printer p{impl->shape, vals, ints, impl->dtype, n > kSummarizeAbove};
  std::vector<int64_t> sample;
  p.collect(0, 0, sample);
  p.choose_format(sample);
  std::string s = "tensor(";
  if (impl->shape.empty() || n == 0)
    s += impl->shape.empty() ? p.elem(0) : "[]";
  else
    p.print(s, 0, 0, 7);
  s += fmt::format(", {}, shape={}, device={})", dtype_name(impl->dtype), shape_str(impl->shape),
                   impl->device.str());
  return s;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace tj
