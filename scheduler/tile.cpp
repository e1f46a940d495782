#include "scheduler/tile.h"

#include <algorithm>

namespace tj::sched {

namespace {

constexpr int64_t kSerialBelow = 32768;
constexpr int64_t kMinWork = 16384;
constexpr int kProgramsPerThread = 4;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int element_bytes(const ir::Kernel& k) {
  int b = 1;
  for (DType t : k.args) b = std::max<int>(b, static_cast<int>(dtype_size(t)));
  return k.args.empty() ? 4 : b;
}

}  // namespace

ir::TileConfig choose_tile(const ir::Kernel& k, const Target& t) {
  ir::TileConfig c;
  // Values are computed in 4 bytes (f16/bf16/f32/bool/i32 promote) or 8 (f64, i64).
  c.vector_width = std::max(1, t.vector_bytes / (element_bytes(k) >= 8 ? 8 : 4));
  const int64_t programs = static_cast<int64_t>(t.threads) * kProgramsPerThread;
  switch (k.kind) {
    case ir::Kernel::Kind::pointwise: {
      const int64_t n = k.kept_numel();
      if (n < kSerialBelow || t.threads <= 1) {
        c.block = std::max<int64_t>(n, 1);
        return c;
      }
      int64_t block = std::max(ceil_div(n, programs), kMinWork);
      const int64_t inner = k.domain.back();
      if (inner < block) block = ceil_div(block, inner) * inner;
      c.block = std::min(block, n);
      return c;
    }
    case ir::Kernel::Kind::row:
    case ir::Kernel::Kind::scatter:
    case ir::Kernel::Kind::scan:
    case ir::Kernel::Kind::sort:
    case ir::Kernel::Kind::conv:
    case ir::Kernel::Kind::matmul: {
      // A conv kernel's CPU rows are (n, o, oh): each computes a row of OW outputs.
      const bool conv = k.kind == ir::Kernel::Kind::conv;
      const int64_t rows = k.kind == ir::Kernel::Kind::matmul
                               ? shape_numel(Shape(k.domain.begin(), k.domain.end() - 2))
                           : conv ? k.domain[0] * k.domain[1] * k.domain[2]
                                  : k.kept_numel();
      const int64_t per_row = std::max<int64_t>(
          k.kind == ir::Kernel::Kind::matmul ? k.domain[k.domain.size() - 2] * k.domain.back()
          : conv                             ? k.domain[3] * k.reduced_numel()
                                             : k.reduced_numel(),
          1);
      if (rows * per_row < kSerialBelow || t.threads <= 1) {
        c.rows = std::max<int64_t>(rows, 1);
      } else {
        c.rows = std::max<int64_t>(ceil_div(rows, programs), ceil_div(kMinWork, per_row));
        c.rows = std::min(std::max<int64_t>(c.rows, 1), std::max<int64_t>(rows, 1));
      }
      int64_t row_bytes =
          per_row * element_bytes(k) * static_cast<int64_t>(std::max<size_t>(k.args.size(), 1));
      c.persistent = k.kind == ir::Kernel::Kind::row && row_bytes <= t.l2_bytes / 2;
      return c;
    }
  }
  return c;
}

std::vector<ir::TileConfig> tile_candidates(const ir::Kernel& k, const Target& t) {
  std::vector<ir::TileConfig> out{choose_tile(k, t)};
  for (int f : {2, 4}) {
    ir::TileConfig c = out[0];
    if (c.block > 0) c.block = std::max<int64_t>(c.block / f, 1);
    if (c.rows > 0) c.rows = std::max<int64_t>(c.rows / f, 1);
    out.push_back(c);
  }
  return out;
}

}  // namespace tj::sched
