// Dynamic sizes (TILEJIT_DYNAMIC): what a loop over changing sizes costs.
//
//   batch_sizes  softmax(gelu(linear(x, w, b))), x [7n, 256], w [256, 256],
//                for n = 1..20, in a fresh process with an empty kernel cache:
//                total time, kernels compiled, and from the third size on the
//                first flush of a size against a warm flush of it (median
//                and worst).
//                Once with TILEJIT_DYNAMIC=auto, once with static; XLA (jax.jit,
//                one compile per new shape) beside it when jax is importable.
//   decode       attention of one query over a KV cache of [8, len, 64]
//                (softmax over len), len 1..256: the cache preallocated and
//                written in place, read through narrow(); then grown with cat.
//   speed        warm runs of a dynamic plan's instance against the static
//                plan of the same sizes (softmax, layer_norm, bias_gelu, chain).
//
// bench_dynamic [--quick]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <tilejit/tilejit.h>

#include "bench_util.h"

namespace {

using bench::now_s;

/// One pass of the batch-size loop (in a child process): its numbers on one line.
int child_batch_sizes(int sizes) {
  tj::manual_seed(1);
  tj::Tensor w = tj::randn({256, 256}) * 0.06, b = tj::randn({256});
  w.eval();
  b.eval();
  tj::reset_stats();
  std::vector<double> first(static_cast<size_t>(sizes));
  const double t0 = now_s();
  for (int n = 1; n <= sizes; ++n) {
    const double s = now_s();
    tj::Tensor x = tj::randn({7 * n, 256});
    tj::softmax(tj::gelu(tj::linear(x, w, b)), -1).eval();
    first[n - 1] = now_s() - s;
  }
  const double total = now_s() - t0;
  const tj::Stats st = tj::stats();
  // Warm flushes of the same sizes: the ratios from the third size on.
  std::vector<double> ratios;
  for (int n = 3; n <= sizes; ++n) {
    std::vector<double> warm;
    for (int r = 0; r < 5; ++r) {
      const double s = now_s();
      tj::Tensor x = tj::randn({7 * n, 256});
      tj::softmax(tj::gelu(tj::linear(x, w, b)), -1).eval();
      warm.push_back(now_s() - s);
    }
    ratios.push_back(first[n - 1] / bench::median(warm));
  }
  const double worst = ratios.empty() ? 0 : *std::max_element(ratios.begin(), ratios.end());
  std::printf(
      "total_ms=%.1f compiled=%lld misses=%lld dynamic_compiles=%lld median_ratio=%.2f "
      "worst_ratio=%.2f\n",
      total * 1e3, static_cast<long long>(st.kernels_compiled),
      static_cast<long long>(st.plan_misses), static_cast<long long>(st.dynamic_compiles),
      ratios.empty() ? 0 : bench::median(ratios), worst);
  return 0;
}

double field(const std::string& line, const std::string& name) {
  const size_t at = line.find(name + "=");
  if (at == std::string::npos) return -1;
  return std::atof(line.c_str() + at + name.size() + 1);
}

void batch_sizes(bool quick) {
  const int sizes = quick ? 8 : 20;
  fmt::print(
      "batch_sizes: softmax(gelu(linear(x, w, b))), x [7n, 256], n = 1..{}, fresh "
      "process and kernel cache\n",
      sizes);
  std::vector<std::string> lines;
  for (const char* mode : {"auto", "static"}) {
    char tmpl[] = "/tmp/tj_bench_dynamic_XXXXXX";
    const char* dir = mkdtemp(tmpl);
    if (!dir) {
      fmt::print("  {}: no temporary directory\n", mode);
      return;
    }
    const std::string out = bench::capture(
        {"/proc/self/exe", "--child", std::to_string(sizes)},
        {fmt::format("TILEJIT_DYNAMIC={}", mode), fmt::format("TILEJIT_CACHE_DIR={}", dir)});
    std::filesystem::remove_all(dir);
    lines.push_back(out);
    fmt::print(
        "  tilejit {:6}  {:8.1f} ms  {:3.0f} kernels compiled  {:3.0f} plans scheduled  "
        "first flush of a size / a warm one, sizes 3 on: median {:.2f}x, worst {:.2f}x\n",
        mode, field(out, "total_ms"), field(out, "compiled"), field(out, "misses"),
        field(out, "median_ratio"), field(out, "worst_ratio"));
  }
  const std::string xla =
      bench::capture({"python3", std::string(TJ_BENCH_SOURCE_ROOT) + "/bench/bench_jax_dynamic.py",
                      std::to_string(sizes)});
  if (xla.rfind("xla ", 0) == 0) {
    const double ms = field(xla, "total_ms");
    fmt::print("  xla (jax.jit) {:8.1f} ms  {:3.0f} compiles   tilejit auto is {:.1f}x faster\n",
               ms, field(xla, "compiles"), ms / std::max(field(lines[0], "total_ms"), 1e-9));
  } else {
    fmt::print("  xla: {}\n", xla.empty() ? "python3 could not run bench_jax_dynamic.py" : xla);
  }
  fmt::print("  static / auto: {:.1f}x\n",
             field(lines[1], "total_ms") / std::max(field(lines[0], "total_ms"), 1e-9));
}

void decode(bool quick) {
  const int64_t steps = quick ? 64 : 256, heads = 8, d = 64;
  auto report = [&](const char* what, const tj::Stats& a, double s) {
    const tj::Stats b = tj::stats();
    fmt::print(
        "decode, {}: {:.1f} ms, {} kernels compiled and {} loaded from the disk cache, {} "
        "plans scheduled, {} from a dynamic plan\n",
        what, (now_s() - s) * 1e3, b.kernels_compiled - a.kernels_compiled,
        b.cache_disk_hits - a.cache_disk_hits, b.plan_misses - a.plan_misses,
        b.dynamic_hits - a.dynamic_hits);
  };
  fmt::print("decode: one query over a KV cache of [{}, len, {}], softmax over len, len 1..{}\n",
             heads, d, steps);
  {
    // The cache preallocated and written in place, read through narrow().
    tj::manual_seed(2);
    tj::Tensor kc = tj::zeros({heads, steps, d}), vc = tj::zeros({heads, steps, d});
    tj::sync();
    const tj::Stats a = tj::stats();
    const double t0 = now_s();
    for (int64_t len = 1; len <= steps; ++len) {
      tj::Tensor pos = tj::from_vector(std::vector<int64_t>{len - 1});
      kc.index_copy_(1, pos, tj::randn({heads, 1, d}));
      vc.index_copy_(1, pos, tj::randn({heads, 1, d}));
      tj::Tensor q = tj::randn({heads, 1, d});
      tj::Tensor att = tj::softmax(tj::matmul(q, kc.narrow(1, 0, len).transpose(1, 2)) * 0.125, -1);
      tj::matmul(att, vc.narrow(1, 0, len)).eval();
    }
    report("preallocated cache, index_copy_ + narrow", a, t0);
  }
  {
    // The cache grown with cat: len and len + 1 in one graph (an affine plan).
    tj::manual_seed(2);
    tj::Tensor k = tj::randn({heads, 1, d}), v = tj::randn({heads, 1, d});
    tj::sync();
    const tj::Stats a = tj::stats();
    const double t0 = now_s();
    for (int64_t len = 1; len <= steps; ++len) {
      tj::Tensor q = tj::randn({heads, 1, d});
      tj::Tensor att = tj::softmax(tj::matmul(q, k.transpose(1, 2)) * 0.125, -1);
      tj::matmul(att, v).eval();
      if (len < steps) {
        k = tj::cat({k, tj::randn({heads, 1, d})}, 1);
        v = tj::cat({v, tj::randn({heads, 1, d})}, 1);
      }
    }
    report("cache grown with cat", a, t0);
  }
}

/// Median ms of `fn` (warm) at rows `n`.
double time_ms(const std::function<void()>& fn) {
  for (int i = 0; i < 3; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < 15; ++i) {
    const double s = now_s();
    fn();
    t.push_back(now_s() - s);
  }
  return bench::median(t) * 1e3;
}

void speed(bool quick) {
  const int64_t rows = quick ? 256 : 1024;
  struct Work {
    const char* name;
    int64_t cols;
    std::function<tj::Tensor(const tj::Tensor&)> fn;
  };
  tj::Tensor bias = tj::randn({1024}), lw = tj::randn({4096}), lb = tj::randn({4096});
  std::vector<Work> work{
      {"softmax", 4096, [](const tj::Tensor& x) { return tj::softmax(x, -1); }},
      {"layer_norm", 4096, [&](const tj::Tensor& x) { return tj::layer_norm(x, {4096}, lw, lb); }},
      {"bias_gelu", 1024, [&](const tj::Tensor& x) { return tj::gelu(x + bias, "tanh"); }},
      {"chain", 4096,
       [](const tj::Tensor& x) {
         tj::Tensor t = x * 1.5 + 0.25;
         t = tj::tanh(t * tj::sigmoid(t));
         return t * x + x * x;
       }},
  };
  fmt::print("speed: warm ms at [{}, cols], static plan vs an instance of the dynamic plan\n",
             rows);
  for (const Work& w : work) {
    tj::Tensor x = tj::randn({rows, w.cols});
    x.eval();
    // Two other sizes first: `rows` is then an instance of the dynamic plan.
    for (int64_t r : {rows / 2, rows / 4}) {
      tj::Tensor y = tj::randn({r, w.cols});
      y.eval();
      w.fn(y).eval();
    }
    const tj::Stats a = tj::stats();
    w.fn(x).eval();
    const bool instance = tj::stats().dynamic_hits > a.dynamic_hits;
    // Static and dynamic alternate, five rounds: the median of each.
    std::vector<double> st, dy;
    for (int round = 0; round < 5; ++round) {
      {
        tj::ConfigGuard g;
        g->dynamic = false;
        st.push_back(time_ms([&] { w.fn(x).eval(); }));
      }
      dy.push_back(time_ms([&] { w.fn(x).eval(); }));
    }
    const double sm = bench::median(st), dm = bench::median(dy);
    fmt::print("  {:11} static {:7.3f} ms  dynamic {:7.3f} ms  dynamic/static {:.2f}{}\n", w.name,
               sm, dm, dm / sm, instance ? "" : "  (not dynamic: planned with constant sizes)");
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--child" && i + 1 < argc) return child_batch_sizes(std::atoi(argv[i + 1]));
    if (a == "--quick") quick = true;
  }
  batch_sizes(quick);
  decode(quick);
  speed(quick);
  return 0;
}
