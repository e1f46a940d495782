#include "ir/shape.h"

#include <algorithm>

#include "ir/check.h"

namespace tj {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

int64_t checked_numel(std::string_view op, const Shape& s) {
  int64_t n = 1;
  bool too_big = false;
  for (int64_t d : s) {
    if (d < 0) fail("{}: sizes must be non-negative, got shape {}", op, shape_str(s));
    too_big = too_big || __builtin_mul_overflow(n, d, &n) || n > kMaxElements;
  }
  // A zero anywhere makes the product 0 even after an overflow.
  for (int64_t d : s)
    if (d == 0) return 0;
  if (too_big)
    fail(
        "{}: shape {} has more than 2^60 elements, more than any memory can hold; check the "
        "sizes",
        op, shape_str(s));
  return n;
}

int64_t checked_add(std::string_view op, std::string_view what, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) fail("{}: {} overflows ({} + {})", op, what, a, b);
  return r;
}

int64_t checked_mul(std::string_view op, std::string_view what, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) fail("{}: {} overflows ({} * {})", op, what, a, b);
  return r;
}

Strides contiguous_strides(const Shape& s) {
  Strides st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

bool is_contiguous(const Shape& shape, const Strides& strides) {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 0) return true;
    if (shape[i] == 1) continue;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

std::optional<Strides> reshape_strides(const Shape& from, const Strides& st, const Shape& to) {
  if (from.empty() || shape_numel(from) == 0) return contiguous_strides(to);
  Strides out(to.size());
  int64_t view_d = static_cast<int64_t>(to.size()) - 1;
  int64_t chunk_stride = st.back();  // stride of the innermost dim of the current chunk
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(from.size()) - 1; d >= 0; --d) {
    tensor_numel *= from[d];
    if (d == 0 || (from[d - 1] != 1 && st[d - 1] != tensor_numel * chunk_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || to[view_d] == 1)) {
        out[view_d] = view_numel * chunk_stride;
        view_numel *= to[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_stride = st[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(
          "{}: cannot broadcast shapes {} and {}: dimension {} is {} in one and {} in the other; "
          "sizes must be equal or 1 (trailing dimensions are aligned)",
          op, shape_str(a), shape_str(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t normalize_axis(std::string_view op, int64_t axis, int64_t rank) {
  int64_t r = std::max<int64_t>(rank, 1);
  if (axis < -r || axis >= r)
    fail("{}: dimension {} is out of range for a {}-d tensor; valid dimensions are [{}, {}]", op,
         axis, rank, -r, r - 1);
  return axis < 0 ? axis + r : axis;
}

std::vector<int64_t> normalize_axes(std::string_view op, const std::vector<int64_t>& axes,
                                    int64_t rank) {
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) {
    int64_t n = normalize_axis(op, a, rank);
    if (rank == 0) continue;  // a 0-d tensor has nothing to reduce over
    if (std::find(out.begin(), out.end(), n) != out.end())
      fail("{}: dimension {} appears more than once in the list of dimensions", op, a);
    out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void internal_error(const char* file, int line, const char* cond, const std::string& msg) {
  throw Error(
      fmt::format("tilejit internal error (a bug in tilejit, please report it): {} at {}:{}{}{}",
                  cond, file, line, msg.empty() ? "" : ": ", msg));
}

}  // namespace tj
