// bench_cpu — tilejit's CPU benchmarks.
//
// For each workload: tilejit lazy, tilejit eager (TILEJIT_LAZY=0), a
// hand-written fused C++ loop built with the generated kernels' flags
// (-O3 -march=native, all cores), libtorch on the CPU when installed, and
// with --jax XLA:CPU (bench/bench_jax.py, when jax is importable).
// Each number is the median of several runs after warm-up runs (which also
// trigger compilation). Prints one table and writes <build>/bench-results.json.
//
//   bench_cpu [--quick] [--threads N] [--json PATH] [--jax] [filter...]
//
// A filter keeps the workloads whose name contains it (`bench_cpu softmax`).
// See bench/README.md for how to read the output.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/format.h>
#include <tilejit/tilejit.h>

#include "bench_util.h"

namespace {

using bench::HostTensor;
using bench::now_s;
using bench::ThreadPool;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- options --------------------------------------------------------------------

struct Options {
  bool quick = false;
  int threads = 0;
  std::string json_path;
  bool jax = false;
  std::vector<std::string> filters;
  // Repetitions: reps = clamp(budget / one warm run, 1, max_reps); a single
  // run over 2 s gets one timed run.
  double budget_s = 3.0;
  int max_reps = 15;
};

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      o.quick = true;
    } else if (a == "--threads" && i + 1 < argc) {
      o.threads = std::atoi(argv[++i]);
    } else if (a == "--json" && i + 1 < argc) {
      o.json_path = argv[++i];
    } else if (a == "--jax") {
      o.jax = true;
    } else if (a == "-h" || a == "--help") {
      fmt::print(
          "usage: bench_cpu [--quick] [--threads N] [--json PATH] [--jax] [filter...]\n"
          "  --quick      smaller sizes and fewer repetitions\n"
          "  --threads N  threads for the hand-written loops and libtorch (default: all cores)\n"
          "  --json PATH  where to write the results (default: <build>/bench-results.json)\n"
          "  --jax        also time XLA:CPU (bench/bench_jax.py; needs python3 with jax)\n"
          "  filter       run only workloads whose name contains it: chain8 softmax layer_norm\n"
          "               sum bias_gelu mlp conv2d attention trace_op loop50\n");
      std::exit(0);
    } else if (!a.empty() && a[0] == '-') {
      fmt::print(stderr, "bench_cpu: unknown option {} (see --help)\n", a);
      std::exit(2);
    } else {
      o.filters.push_back(a);
    }
  }
  if (o.threads <= 0)
    o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (o.quick) {
    o.budget_s = 0.8;
    o.max_reps = 5;
  }
  if (o.json_path.empty()) {
    // <build>/bench/bench_cpu -> <build>/bench-results.json
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    std::string exe =
        n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("bench/bench_cpu");
    std::string dir = exe.substr(0, exe.rfind('/'));
    dir = dir.substr(0, dir.rfind('/'));
    o.json_path = dir + "/bench-results.json";
  }
  return o;
}

bool selected(const Options& o, const std::string& name) {
  if (o.filters.empty()) return true;
  for (const auto& f : o.filters)
    if (name.find(f) != std::string::npos) return true;
  return false;
}

// ---- data ---------------------------------------------------------------------------

HostTensor random_tensor(std::vector<int64_t> shape, float lo, float hi, uint64_t seed) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  HostTensor h{std::vector<float>(static_cast<size_t>(n)), std::move(shape)};
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& v : h.data) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    v = lo + (hi - lo) * static_cast<float>(s >> 40) * (1.0f / 16777216.0f);
  }
  return h;
}

tj::Tensor to_tj(const HostTensor& h) { return tj::from_vector(h.data, h.shape).eval(); }

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (!(d <= m)) m = d;  // NaN propagates
  }
  return m;
}

// ---- crash report -------------------------------------------------------------------
// tilejit is under development: when it crashes, say in which workload and
// variant. The rows finished before are already in the JSON file (it is
// rewritten after every row, with "complete": false until the end).

char g_running[192] = "(start-up)";

void set_running(const std::string& workload, const char* variant) {
  std::snprintf(g_running, sizeof g_running, "%s / %s", workload.c_str(), variant);
}

extern "C" void on_crash(int sig) {
  char buf[320];
  int n =
      std::snprintf(buf, sizeof buf,
                    "\nbench_cpu: crashed (signal %d) while running %s; the rows finished before "
                    "it are in the JSON file\n",
                    sig, g_running);
  if (n > 0) (void)!write(2, buf, static_cast<size_t>(std::min<int>(n, sizeof buf - 1)));
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// ---- measuring ----------------------------------------------------------------------

struct Timing {
  double median = kNaN;  // seconds per unit of work (a run, an op, an iteration)
  double first = kNaN;   // the first (cold) run, compilation included
  int runs = 0;
  std::vector<double> samples;
};

/// Warm-up (twice when cheap), then the timed runs; `before_timed` runs just
/// before them (to reset counters), `after_first` after the first, cold run
/// (to read the counters of the compiling run). `fn` returns the seconds to
/// count when it times itself, or a negative number to be timed from outside.
Timing measure(const Options& o, const std::function<double()>& fn,
               const std::function<void()>& before_timed = {}, double per = 1,
               const std::function<void()>& after_first = {}) {
  auto once = [&] {
    double t0 = now_s();
    double inner = fn();
    return (inner >= 0 ? inner : now_s() - t0);
  };
  auto wall = [&] {
    double t0 = now_s();
    double v = once();
    return std::pair{v, now_s() - t0};
  };
  Timing t;
  auto [first, first_wall] = wall();
  if (after_first) after_first();
  t.first = first / per;
  double est = first_wall;
  if (first_wall < 0.5) est = wall().second;
  int reps =
      est > 2.0 ? 1 : std::clamp(static_cast<int>(o.budget_s / std::max(est, 1e-9)), 1, o.max_reps);
  if (before_timed) before_timed();
  for (int r = 0; r < reps; ++r) t.samples.push_back(once() / per);
  t.runs = reps;
  t.median = bench::median(t.samples);
  return t;
}

/// tj::stats() as (name, value) pairs. Counters that the library may not
/// have yet (the JIT adds plan_hits, kernels_compiled, ... to tj::Stats) are
/// picked up when present, so this file builds against either version.
using StatList = std::vector<std::pair<std::string, double>>;

template <class S>
StatList stat_list(const S& s) {
  StatList v;
  auto add = [&](const char* name, double x) { v.emplace_back(name, x); };
  add("ops_traced", static_cast<double>(s.ops_traced));
  add("flushes", static_cast<double>(s.flushes));
  for (int i = 0; i < 5; ++i)
    v.emplace_back(fmt::format("flush.{}", tj::flush_reason_name(static_cast<tj::FlushReason>(i))),
                   static_cast<double>(s.flushes_by_reason[i]));
  add("graph_nodes", static_cast<double>(s.graph_nodes));
  add("nodes_executed", static_cast<double>(s.nodes_executed));
  add("tensors_materialized", static_cast<double>(s.tensors_materialized));
  if constexpr (requires { s.plan_hits; }) add("plan_hits", static_cast<double>(s.plan_hits));
  if constexpr (requires { s.plan_misses; }) add("plan_misses", static_cast<double>(s.plan_misses));
  if constexpr (requires { s.kernels_compiled; })
    add("kernels_compiled", static_cast<double>(s.kernels_compiled));
  if constexpr (requires { s.kernels_launched; })
    add("kernels_launched", static_cast<double>(s.kernels_launched));
  if constexpr (requires { s.compile_ms; }) add("compile_ms", static_cast<double>(s.compile_ms));
  if constexpr (requires { s.buffers_donated; })
    add("buffers_donated", static_cast<double>(s.buffers_donated));
  return v;
}

/// The counters since the last reset, divided by `per` (runs, ops, iterations).
StatList stats_per(double per) {
  StatList v = stat_list(tj::stats());
  for (auto& [name, x] : v) x /= std::max(per, 1.0);
  return v;
}

// ---- one result row ------------------------------------------------------------------

struct Row {
  std::string name;
  std::string size;    // human description of the sizes
  std::string unit;    // ms, us or ns
  double scale = 1e3;  // seconds -> unit
  double bytes = 0;    // minimum memory traffic per run (for GB/s)
  double flops = 0;    // per run (for GFLOP/s)
  Timing lazy, eager, hand, torch, xla;
  double diff_lazy = kNaN, diff_eager = kNaN, diff_torch = kNaN;
  double diff_xla = kNaN;            // against NumPy in float64
  StatList stats_lazy, stats_eager;  // empty: not measured
  StatList stats_cold;               // the first lazy run (compiles included)
  // train_step: the most bytes allocated during one step above what was live
  // before it (activations, gradients, temporaries); NaN: not measured
  double peak_lazy = kNaN, peak_eager = kNaN, peak_torch = kNaN;
  std::string stats_unit = "run";
  std::string error;
};

// ---- hand-written baselines ----------------------------------------------------------

/// Sum of f(x[i]) over a row with 16 independent lanes (vectorises without
/// -ffast-math, which a plain `s += f(x)` does not).
template <class F>
inline float lane_sum(const float* x, int64_t n, F f) {
  constexpr int L = 16;
  float acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int l = 0; l < L; ++l) acc[l] += f(x[i + l]);
  float s = 0;
  for (; i < n; ++i) s += f(x[i]);
  for (int l = 0; l < L; ++l) s += acc[l];
  return s;
}

inline float lane_max(const float* x, int64_t n) {
  constexpr int L = 16;
  float acc[L];
  for (float& a : acc) a = -std::numeric_limits<float>::infinity();
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int l = 0; l < L; ++l) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
  float m = -std::numeric_limits<float>::infinity();
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (int l = 0; l < L; ++l) m = acc[l] > m ? acc[l] : m;
  return m;
}

void hand_chain8(ThreadPool& pool, const float* x, float* y, int64_t n) {
  pool.run(n, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float xv = x[i];
      float t = xv * 1.5f + 0.25f;
      t = t * bench::fast_sigmoid(t);
      t = bench::fast_tanh(t);
      y[i] = t * xv + xv * xv;
    }
  });
}

void hand_softmax(ThreadPool& pool, const float* x, float* y, int64_t rows, int64_t cols) {
  pool.run(rows, [=](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      float m = lane_max(xr, cols);
      for (int64_t c = 0; c < cols; ++c) yr[c] = bench::fast_exp(xr[c] - m);
      float inv = 1.0f / lane_sum(yr, cols, [](float v) { return v; });
      for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
    }
  });
}

void hand_layer_norm(ThreadPool& pool, const float* x, const float* w, const float* bias, float* y,
                     int64_t rows, int64_t cols) {
  pool.run(rows, [=](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      float mean = lane_sum(xr, cols, [](float v) { return v; }) / static_cast<float>(cols);
      float var = lane_sum(xr, cols, [mean](float v) { return (v - mean) * (v - mean); }) /
                  static_cast<float>(cols);
      float rstd = 1.0f / std::sqrt(var + 1e-5f);
      for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - mean) * rstd * w[c] + bias[c];
    }
  });
}

float hand_sum(ThreadPool& pool, const float* x, int64_t n) {
  std::vector<double> part(static_cast<size_t>(pool.threads()), 0.0);
  int64_t chunks = pool.threads();
  int64_t per = (n + chunks - 1) / chunks;
  pool.run(chunks, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      int64_t lo = std::min(n, c * per), hi = std::min(n, lo + per);
      // 64 f32 lanes (four AVX-512 accumulators keep the adds from serialising)
      // over blocks of 4096 elements; block sums are added in f64, so the
      // baseline's rounding error stays far below tilejit's f32 accumulation.
      constexpr int L = 64;
      constexpr int64_t kBlock = 4096;
      double s = 0;
      for (int64_t i0 = lo; i0 < hi; i0 += kBlock) {
        const int64_t i1 = std::min(hi, i0 + kBlock);
        float acc[L] = {};
        int64_t i = i0;
        for (; i + L <= i1; i += L)
          for (int l = 0; l < L; ++l) acc[l] += x[i + l];
        float bs = 0;
        for (; i < i1; ++i) bs += x[i];
        for (int l = 0; l < L; ++l) bs += acc[l];
        s += bs;
      }
      part[static_cast<size_t>(c)] = s;
    }
  });
  double s = 0;
  for (double p : part) s += p;
  return static_cast<float>(s);
}

void hand_bias_gelu(ThreadPool& pool, const float* x, const float* bias, float* y, int64_t rows,
                    int64_t cols) {
  pool.run(rows, [=](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      for (int64_t c = 0; c < cols; ++c)
        y[r * cols + c] = bench::fast_gelu_tanh(x[r * cols + c] + bias[c]);
  });
}

// Direct convolution for conv2d: y = conv2d(x, w, b, stride 1, padding P),
// x [N,C,H,W], w [O,C,K,K]. A program computes one output row (n, o, h) of W
// values; each tap's inner loop runs over the outputs whose input column is
// inside the image (vectorized, no bounds test).
void hand_conv2d(ThreadPool& pool, const float* x, const float* w, const float* bias, float* y,
                 int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t K, int64_t P) {
  const int64_t OH = H + 2 * P - K + 1, OW = W + 2 * P - K + 1;
  pool.run(N * O * OH, [=](int64_t b, int64_t e) {
    std::vector<float> acc(static_cast<size_t>(OW));
    for (int64_t row = b; row < e; ++row) {
      const int64_t oh = row % OH, o = (row / OH) % O, n = row / (OH * O);
      std::fill(acc.begin(), acc.end(), bias[o]);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < K; ++i) {
          const int64_t h = oh + i - P;
          if (h < 0 || h >= H) continue;
          const float* xr = x + ((n * C + c) * H + h) * W;
          for (int64_t j = 0; j < K; ++j) {
            const float wv = w[((o * C + c) * K + i) * K + j];
            const int64_t lo = std::max<int64_t>(0, P - j), hi = std::min(OW, W + P - j);
            for (int64_t q = lo; q < hi; ++q) acc[q] += xr[q + j - P] * wv;
          }
        }
      std::copy(acc.begin(), acc.end(), y + row * OW);
    }
  });
}

// Causal attention for attention: per (head, query) row, scores against the
// keys up to the query, a softmax, and the weighted sum of values; a row's
// scores stay in L1 (no [L, L] matrix is written).
void hand_attention(ThreadPool& pool, const float* q, const float* k, const float* v, float* o,
                    int64_t H, int64_t L, int64_t E) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(E));
  pool.run(H * L, [=](int64_t b, int64_t e) {
    std::vector<float> s(static_cast<size_t>(L)), acc(static_cast<size_t>(E));
    for (int64_t r = b; r < e; ++r) {
      const int64_t h = r / L, i = r % L;
      const float* qi = q + (h * L + i) * E;
      float m = -INFINITY;
      for (int64_t j = 0; j <= i; ++j) {
        const float* kj = k + (h * L + j) * E;
        float d = 0;
        for (int64_t c = 0; c < E; ++c) d += qi[c] * kj[c];
        s[j] = d * scale;
        m = std::max(m, s[j]);
      }
      float sum = 0;
      for (int64_t j = 0; j <= i; ++j) sum += (s[j] = bench::fast_exp(s[j] - m));
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = 0; j <= i; ++j) {
        const float* vj = v + (h * L + j) * E;
        for (int64_t c = 0; c < E; ++c) acc[c] += s[j] * vj[c];
      }
      for (int64_t c = 0; c < E; ++c) o[r * E + c] = acc[c] / sum;
    }
  });
}

// GEMM for mlp: y = relu(x @ w^T + b), x [M,K], w [N,K] (torch.linear layout).
// Written with GCC vector extensions (plain C++, no intrinsics; 16 floats is
// one AVX-512 register, two AVX2 ones). A 4x4 register tile of dot products
// runs along K; the N dimension is split into chunks of 64 rows of w (256 KiB,
// kept in L2) handed to the threads.
typedef float v16 __attribute__((vector_size(64)));

inline v16 load16(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline float hsum16(v16 v) {
  float s = 0;
  for (int l = 0; l < 16; ++l) s += v[l];
  return s;
}

void hand_mlp(ThreadPool& pool, const float* x, const float* w, const float* bias, float* y,
              int64_t M, int64_t N, int64_t K) {
  constexpr int64_t kChunk = 64;
  if (M % 4 || N % kChunk || K % 16) {
    fmt::print(stderr, "hand_mlp: sizes must be multiples of 4, 64, 16\n");
    std::abort();
  }
  pool.run(N / kChunk, [=](int64_t cb, int64_t ce) {
    for (int64_t ch = cb; ch < ce; ++ch) {
      for (int64_t i = 0; i < M; i += 4) {
        for (int64_t j = ch * kChunk; j < (ch + 1) * kChunk; j += 4) {
          v16 acc[4][4] = {};
          const float* xa[4] = {x + i * K, x + (i + 1) * K, x + (i + 2) * K, x + (i + 3) * K};
          const float* wb[4] = {w + j * K, w + (j + 1) * K, w + (j + 2) * K, w + (j + 3) * K};
          for (int64_t k = 0; k < K; k += 16) {
            v16 a[4], b[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; ++r) a[r] = load16(xa[r] + k);
#pragma GCC unroll 4
            for (int c = 0; c < 4; ++c) b[c] = load16(wb[c] + k);
#pragma GCC unroll 4
            for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
              for (int c = 0; c < 4; ++c) acc[r][c] += a[r] * b[c];
          }
          for (int r = 0; r < 4; ++r)
            for (int c = 0; c < 4; ++c) {
              float v = hsum16(acc[r][c]) + bias[j + c];
              y[(i + r) * N + j + c] = v > 0 ? v : 0;
            }
        }
      }
    }
  });
}

// The 5-op cycle of the host-overhead rows: t*b, t+a, t*0.9, tanh(t), t+0.1.
tj::Tensor tj_cycle_op(const tj::Tensor& t, const tj::Tensor& a, const tj::Tensor& b, int k) {
  switch (k % bench::kCycleOps) {
    case 0:
      return t * b;
    case 1:
      return t + a;
    case 2:
      return t * 0.9f;
    case 3:
      return tj::tanh(t);
    default:
      return t + 0.1f;
  }
}

void hand_loop50(const float* a, const float* b, float* y, int64_t n) {
  // Blocks of 256 elements stay in registers/L1 across the 50 ops; the
  // element loop is innermost so it vectorises.
  constexpr int64_t B = 256;
  float t[B];
  for (int64_t i0 = 0; i0 < n; i0 += B) {
    const int64_t m = std::min(B, n - i0);
    const float* ab = a + i0;
    const float* bb = b + i0;
    for (int64_t i = 0; i < m; ++i) t[i] = ab[i];
    for (int k = 0; k < 10; ++k)
      for (int64_t i = 0; i < m; ++i) t[i] = bench::fast_tanh((t[i] * bb[i] + ab[i]) * 0.9f) + 0.1f;
    for (int64_t i = 0; i < m; ++i) y[i0 + i] = t[i];
  }
}

// ---- workloads ----------------------------------------------------------------------

struct Workload {
  std::string name, size;
  double bytes = 0, flops = 0;
  std::vector<HostTensor> inputs;
  std::function<tj::Tensor(const std::vector<tj::Tensor>&)> tj_fn;
  std::function<void(ThreadPool&, const std::vector<HostTensor>&, std::vector<float>&)> hand_fn;
  int64_t out_numel = 0;
};

std::vector<Workload> make_workloads(const Options& o) {
  const bool q = o.quick;
  std::vector<Workload> ws;
  if (selected(o, "chain8")) {
    int64_t n = q ? (1 << 20) : (4 << 20);
    Workload w{"chain8", fmt::format("{}", n), 8.0 * n, 0, {random_tensor({n}, -2, 2, 1)}};
    w.tj_fn = [](const std::vector<tj::Tensor>& in) {
      const tj::Tensor& x = in[0];
      tj::Tensor t = x * 1.5f + 0.25f;
      t = t * tj::sigmoid(t);
      t = tj::tanh(t);
      return t * x + x * x;
    };
    w.hand_fn = [n](ThreadPool& p, const std::vector<HostTensor>& in, std::vector<float>& out) {
      hand_chain8(p, in[0].data.data(), out.data(), n);
    };
    w.out_numel = n;
    ws.push_back(std::move(w));
  }
  const int64_t rows = q ? 256 : 1024, cols = 4096;
  if (selected(o, "softmax")) {
    Workload w{"softmax",
               fmt::format("{}x{}", rows, cols),
               8.0 * rows * cols,
               0,
               {random_tensor({rows, cols}, -4, 4, 2)}};
    w.tj_fn = [](const std::vector<tj::Tensor>& in) { return tj::softmax(in[0], -1); };
    w.hand_fn = [=](ThreadPool& p, const std::vector<HostTensor>& in, std::vector<float>& out) {
      hand_softmax(p, in[0].data.data(), out.data(), rows, cols);
    };
    w.out_numel = rows * cols;
    ws.push_back(std::move(w));
  }
  if (selected(o, "layer_norm")) {
    Workload w{"layer_norm",
               fmt::format("{}x{} +w,b", rows, cols),
               8.0 * rows * cols + 8.0 * cols,
               0,
               {random_tensor({rows, cols}, -3, 5, 3), random_tensor({cols}, 0.5f, 1.5f, 4),
                random_tensor({cols}, -0.5f, 0.5f, 5)}};
    w.tj_fn = [cols](const std::vector<tj::Tensor>& in) {
      return tj::layer_norm(in[0], {cols}, in[1], in[2], 1e-5);
    };
    w.hand_fn = [=](ThreadPool& p, const std::vector<HostTensor>& in, std::vector<float>& out) {
      hand_layer_norm(p, in[0].data.data(), in[1].data.data(), in[2].data.data(), out.data(), rows,
                      cols);
    };
    w.out_numel = rows * cols;
    ws.push_back(std::move(w));
  }
  if (selected(o, "sum")) {
    int64_t n = q ? (4 << 20) : (16 << 20);
    Workload w{"sum", fmt::format("{} -> 1", n), 4.0 * n, 0, {random_tensor({n}, -2, 2, 6)}};
    w.tj_fn = [](const std::vector<tj::Tensor>& in) { return tj::sum(in[0]); };
    w.hand_fn = [n](ThreadPool& p, const std::vector<HostTensor>& in, std::vector<float>& out) {
      out[0] = hand_sum(p, in[0].data.data(), n);
    };
    w.out_numel = 1;
    ws.push_back(std::move(w));
  }
  if (selected(o, "bias_gelu")) {
    int64_t r = q ? 1024 : 4096, c = 1024;
    Workload w{"bias_gelu",
               fmt::format("{}x{} +b[{}]", r, c, c),
               8.0 * r * c + 4.0 * c,
               0,
               {random_tensor({r, c}, -3, 3, 7), random_tensor({c}, -1, 1, 8)}};
    w.tj_fn = [](const std::vector<tj::Tensor>& in) { return tj::gelu(in[0] + in[1], "tanh"); };
    w.hand_fn = [=](ThreadPool& p, const std::vector<HostTensor>& in, std::vector<float>& out) {
      hand_bias_gelu(p, in[0].data.data(), in[1].data.data(), out.data(), r, c);
    };
    w.out_numel = r * c;
    ws.push_back(std::move(w));
  }
  if (selected(o, "mlp")) {
    int64_t M = q ? 128 : 512, K = 1024, N = 1024;
    Workload w{"mlp",
               fmt::format("{}x{} @ {}x{}^T +b relu", M, K, N, K),
               4.0 * (M * K + N * K + N + M * N),
               2.0 * M * N * K,
               {random_tensor({M, K}, -1, 1, 9), random_tensor({N, K}, -0.05f, 0.05f, 10),
                random_tensor({N}, -0.1f, 0.1f, 11)}};
    w.tj_fn = [](const std::vector<tj::Tensor>& in) {
      return tj::relu(tj::linear(in[0], in[1], in[2]));
    };
    w.hand_fn = [=](ThreadPool& p, const std::vector<HostTensor>& in, std::vector<float>& out) {
      hand_mlp(p, in[0].data.data(), in[1].data.data(), in[2].data.data(), out.data(), M, N, K);
    };
    w.out_numel = M * N;
    ws.push_back(std::move(w));
  }
  if (selected(o, "conv2d")) {
    // A ResNet-style 3x3 convolution, 64 channels in and out, padding 1.
    const int64_t N = q ? 2 : 8, C = 64, H = 56, W = 56, O = 64, K = 3;
    Workload w{
        "conv2d",
        fmt::format("{}x{}x{}x{} * {}x{}x{}x{} +b", N, C, H, W, O, C, K, K),
        4.0 * (N * C * H * W + O * C * K * K + O + N * O * H * W),
        2.0 * N * O * H * W * C * K * K,
        {random_tensor({N, C, H, W}, -1, 1, 12), random_tensor({O, C, K, K}, -0.05f, 0.05f, 13),
         random_tensor({O}, -0.1f, 0.1f, 14)}};
    w.tj_fn = [](const std::vector<tj::Tensor>& in) {
      return tj::conv2d(in[0], in[1], in[2], {1}, {1});
    };
    w.hand_fn = [=](ThreadPool& p, const std::vector<HostTensor>& in, std::vector<float>& out) {
      hand_conv2d(p, in[0].data.data(), in[1].data.data(), in[2].data.data(), out.data(), N, C, H,
                  W, O, K, 1);
    };
    w.out_numel = N * O * H * W;
    ws.push_back(std::move(w));
  }
  if (selected(o, "attention")) {
    // Causal self-attention: 8 heads, 1024 tokens, 64 dims per head.
    const int64_t H = 8, L = q ? 256 : 1024, E = 64;
    Workload w{"attention",
               fmt::format("{}x{}x{} causal", H, L, E),
               4.0 * 4 * H * L * E,
               2.0 * 2 * H * L * L * E / 2,  // the causal half of q k^T and p v
               {random_tensor({H, L, E}, -1, 1, 15), random_tensor({H, L, E}, -1, 1, 16),
                random_tensor({H, L, E}, -1, 1, 17)}};
    w.tj_fn = [](const std::vector<tj::Tensor>& in) {
      return tj::scaled_dot_product_attention(in[0], in[1], in[2], {}, 0.0, true);
    };
    w.hand_fn = [=](ThreadPool& p, const std::vector<HostTensor>& in, std::vector<float>& out) {
      hand_attention(p, in[0].data.data(), in[1].data.data(), in[2].data.data(), out.data(), H, L,
                     E);
    };
    w.out_numel = H * L * E;
    ws.push_back(std::move(w));
  }
  return ws;
}

Row run_workload(const Options& o, ThreadPool& pool, const Workload& w) {
  Row row;
  row.name = w.name;
  row.size = w.size;
  row.unit = "ms";
  row.scale = 1e3;
  row.bytes = w.bytes;
  row.flops = w.flops;

  // hand-written loop (the reference for the checks below)
  std::vector<float> hand_out(static_cast<size_t>(w.out_numel));
  set_running(w.name, "hand");
  row.hand = measure(o, [&] {
    w.hand_fn(pool, w.inputs, hand_out);
    return -1.0;
  });

  std::vector<tj::Tensor> ins;
  for (const auto& h : w.inputs) ins.push_back(to_tj(h));
  tj::Tensor out;
  auto run_tj = [&] {
    out = tj::Tensor();  // the previous result's buffer goes back first
    out = w.tj_fn(ins);
    out.eval();
    return -1.0;
  };
  try {
    set_running(w.name, "lazy");
    tj::reset_stats();
    row.lazy = measure(
        o, run_tj, [] { tj::reset_stats(); }, 1, [&] { row.stats_cold = stats_per(1); });
    row.stats_lazy = stats_per(row.lazy.runs);
    row.diff_lazy = max_abs_diff(out.to_vector<float>(), hand_out);
    {
      tj::ConfigGuard g;
      g->lazy = false;
      set_running(w.name, "eager");
      row.eager = measure(o, run_tj, [] { tj::reset_stats(); });
      row.stats_eager = stats_per(row.eager.runs);
    }
    row.diff_eager = max_abs_diff(out.to_vector<float>(), hand_out);
  } catch (const std::exception& e) {
    row.error = e.what();
  }
  out = tj::Tensor();

  set_running(w.name, "libtorch");
  if (auto tc = bench::make_torch_case(w.name, w.inputs)) {
    row.torch = measure(o, [&] {
      tc->run();
      return -1.0;
    });
    row.diff_torch = max_abs_diff(tc->result(), hand_out);
  }
  return row;
}

// Host overhead 1: nanoseconds per traced op. N ops of the 5-op cycle on
// 1K-element tensors are traced with a trace limit above N, so nothing
// flushes inside the timed region; the chain is then dropped and the trace
// synced outside it (nothing a handle holds is pending, so nothing computes).
Row run_trace_op(const Options& o) {
  Row row;
  row.name = "trace_op";
  row.unit = "ns";
  row.scale = 1e9;
  row.stats_unit = "op";
  const int64_t n = 1024;
  const int n_lazy = o.quick ? 5000 : 20000, n_eager = o.quick ? 50 : 200;
  row.size = fmt::format("{} ops (eager {}) on {}", n_lazy, n_eager, n);
  std::vector<HostTensor> in = {random_tensor({n}, -1, 1, 12), random_tensor({n}, -1, 1, 13)};
  tj::Tensor a = to_tj(in[0]), b = to_tj(in[1]);
  try {
    tj::ConfigGuard g;
    g->max_trace = std::max<int64_t>(g->max_trace, 4 * n_lazy);
    set_running(row.name, "lazy");
    row.lazy = measure(
        o,
        [&] {
          double t0 = now_s();
          tj::Tensor t = a;
          for (int k = 0; k < n_lazy; ++k) t = tj_cycle_op(t, a, b, k);
          double dt = now_s() - t0;
          t = tj::Tensor();
          tj::sync();
          return dt;
        },
        [] { tj::reset_stats(); }, n_lazy);
    row.stats_lazy = stats_per(static_cast<double>(n_lazy) * row.lazy.runs);
  } catch (const std::exception& e) {
    row.error = e.what();
  }
  try {
    tj::ConfigGuard g;
    g->lazy = false;
    set_running(row.name, "eager");
    row.eager = measure(
        o,
        [&] {
          tj::Tensor t = a;
          for (int k = 0; k < n_eager; ++k) t = tj_cycle_op(t, a, b, k);
          return -1.0;
        },
        {}, n_eager);
  } catch (const std::exception& e) {
    row.error = e.what();
  }
  set_running(row.name, "libtorch");
  if (auto tc = bench::make_torch_case(fmt::format("ops:{}", n_eager), in)) {
    row.torch = measure(
        o,
        [&] {
          tc->run();
          return -1.0;
        },
        {}, n_eager);
  }
  return row;
}

// Host overhead 2: microseconds per iteration of a 50-op loop on 1K-element
// tensors once warm (the plan is cached after the first iteration). Each
// iteration traces the same 50 ops from `a` and ends with tj::sync().
Row run_loop50(const Options& o) {
  Row row;
  row.name = "loop50";
  row.unit = "us";
  row.scale = 1e6;
  row.stats_unit = "iter";
  const int64_t n = 1024;
  row.size = fmt::format("50 ops on {}, sync", n);
  std::vector<HostTensor> in = {random_tensor({n}, -1, 1, 14), random_tensor({n}, -1, 1, 15)};
  std::vector<float> hand_out(static_cast<size_t>(n));
  const double target = o.quick ? 0.02 : 0.05;  // seconds per sample
  // Runs `iter` repeatedly for ~target seconds; returns seconds per iteration.
  int iters = 0;
  auto batched = [&](const std::function<void()>& iter) {
    if (iters == 0) {  // calibrate once per variant
      double t0 = now_s();
      iter();
      double one = std::max(now_s() - t0, 1e-7);
      iters = std::clamp(static_cast<int>(target / one), 1, 100000);
    }
    double t0 = now_s();
    for (int i = 0; i < iters; ++i) iter();
    return (now_s() - t0) / iters;
  };

  iters = 0;
  set_running(row.name, "hand");
  row.hand = measure(o, [&] {
    return batched([&] { hand_loop50(in[0].data.data(), in[1].data.data(), hand_out.data(), n); });
  });

  tj::Tensor a = to_tj(in[0]), b = to_tj(in[1]);
  tj::Tensor out;
  auto tj_iter = [&] {
    tj::Tensor t = a;
    for (int k = 0; k < 50; ++k) t = tj_cycle_op(t, a, b, k);
    out = t;
    tj::sync();
  };
  int64_t total_iters = 0;
  try {
    set_running(row.name, "lazy");
    tj::reset_stats();
    tj_iter();  // compiles and caches the plan
    row.stats_cold = stats_per(1);
    for (int i = 0; i < 2; ++i) tj_iter();
    iters = 0;
    row.lazy = measure(
        o,
        [&] {
          double s = batched(tj_iter);
          total_iters += iters;
          return s;
        },
        [&] {
          tj::reset_stats();
          total_iters = 0;
        });
    row.stats_lazy = stats_per(static_cast<double>(total_iters));
    row.diff_lazy = max_abs_diff(out.to_vector<float>(), hand_out);
    {
      tj::ConfigGuard g;
      g->lazy = false;
      set_running(row.name, "eager");
      iters = 0;
      row.eager = measure(
          o,
          [&] {
            double s = batched(tj_iter);
            total_iters += iters;
            return s;
          },
          [&] {
            tj::reset_stats();
            total_iters = 0;
          });
      row.stats_eager = stats_per(static_cast<double>(total_iters));
    }
    row.diff_eager = max_abs_diff(out.to_vector<float>(), hand_out);
  } catch (const std::exception& e) {
    row.error = e.what();
  }
  set_running(row.name, "libtorch");
  if (auto tc = bench::make_torch_case("loop50", in)) {
    iters = 0;
    row.torch = measure(o, [&] { return batched([&] { tc->run(); }); });
    row.diff_torch = max_abs_diff(tc->result(), hand_out);
  }
  return row;
}

// A training step: a 784-512-512-10 MLP (relu) on a batch of 256, cross
// entropy, backward, AdamW, synced; the same step in libtorch (autograd,
// torch::optim::AdamW) and in XLA (jax.jit of value_and_grad and the AdamW
// update). The check: each framework's first loss from the same weights.
std::vector<HostTensor> train_step_inputs(bool quick) {
  const int64_t B = quick ? 64 : 256, I = 784, H = 512, C = 10;
  HostTensor y = random_tensor({B}, 0, 10, 24);
  for (float& v : y.data) v = std::floor(v);
  return {random_tensor({B, I}, -1, 1, 18),         y,
          random_tensor({H, I}, -0.05f, 0.05f, 19), random_tensor({H}, -0.05f, 0.05f, 20),
          random_tensor({H, H}, -0.05f, 0.05f, 21), random_tensor({H}, -0.05f, 0.05f, 22),
          random_tensor({C, H}, -0.05f, 0.05f, 23), random_tensor({C}, -0.05f, 0.05f, 25)};
}

Row run_train_step(const Options& o) {
  Row row;
  row.name = "train_step";
  row.unit = "ms";
  row.scale = 1e3;
  row.stats_unit = "step";
  std::vector<HostTensor> in = train_step_inputs(o.quick);
  const int64_t B = in[0].shape[0];
  row.size = fmt::format("MLP {}x784-512-512-10, AdamW", B);
  row.flops = 3 * 2.0 * B * (784 * 512 + 512 * 512 + 512 * 10);  // forward + 2 backward GEMMs
  double first_lazy = kNaN;
  auto tj_run = [&](bool lazy, double* first) {
    tj::ConfigGuard g;
    g->lazy = lazy;
    tj::Tensor x = to_tj(in[0]), y = to_tj(in[1]).cast(tj::i64);
    std::vector<tj::Tensor> p;
    for (size_t i = 2; i < in.size(); ++i) p.push_back(to_tj(in[i]).requires_grad_());
    tj::optim::AdamW opt(p, tj::optim::AdamWOptions(1e-3));
    tj::Tensor loss;
    auto step = [&] {
      opt.zero_grad();
      tj::Tensor h = tj::relu(tj::linear(x, p[0], p[1]));
      h = tj::relu(tj::linear(h, p[2], p[3]));
      loss = tj::cross_entropy(tj::linear(h, p[4], p[5]), y);
      loss.backward();
      opt.step();
      loss = loss.detach();
      tj::sync();
      return -1.0;
    };
    step();
    *first = loss.item<double>();
    tj::reset_stats();
    Timing t = measure(o, step, [] { tj::reset_stats(); });
    (lazy ? row.stats_lazy : row.stats_eager) = stats_per(t.runs);
    const double before = static_cast<double>(tj::memory_stats().allocated_bytes);
    tj::reset_peak_memory_stats();
    step();
    (lazy ? row.peak_lazy : row.peak_eager) =
        static_cast<double>(tj::memory_stats().peak_allocated_bytes) - before;
    return t;
  };
  try {
    set_running(row.name, "lazy");
    row.lazy = tj_run(true, &first_lazy);
    double first_eager = kNaN;
    set_running(row.name, "eager");
    row.eager = tj_run(false, &first_eager);
    row.diff_eager = std::fabs(first_eager - first_lazy);
  } catch (const std::exception& e) {
    row.error = e.what();
  }
  set_running(row.name, "libtorch");
  if (auto tc = bench::make_torch_case("train_step", in)) {
    tc->run();
    const std::vector<float> first = tc->result();
    row.diff_torch = std::fabs(first[0] - first_lazy);
    row.torch = measure(o, [&] {
      tc->run();
      return -1.0;
    });
    if (const double b = tc->peak_step_bytes(); b >= 0) row.peak_torch = b;
  }
  return row;
}

// ---- output -------------------------------------------------------------------------

std::string num(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "-" : "inf";
  double a = std::fabs(v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  if (a >= 10) return fmt::format("{:.1f}", v);
  if (a >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3f}", v);
}

std::string ratio(double a, double b) {
  if (!std::isfinite(a) || !std::isfinite(b) || b <= 0) return "-";
  return fmt::format("{:.2f}x", a / b);
}

std::string rate(const Row& r, double seconds) {
  if (!std::isfinite(seconds) || seconds <= 0) return "-";
  if (r.flops > 0) return fmt::format("{:.1f}", r.flops / seconds / 1e9);
  if (r.bytes > 0) return fmt::format("{:.1f}", r.bytes / seconds / 1e9);
  return "-";
}

std::string stat_value(double x) {
  if (x == std::round(x) && std::fabs(x) < 1e15) return fmt::format("{:.0f}", x);
  return fmt::format("{:.3g}", x);
}

/// Non-zero counters as `name=value`, flush reasons in brackets after `flushes`.
std::string stats_line(const StatList& v) {
  std::string out, reasons;
  for (const auto& [name, x] : v)
    if (name.rfind("flush.", 0) == 0 && x != 0)
      reasons += fmt::format("{}{}:{}", reasons.empty() ? "" : ",", name.substr(6), stat_value(x));
  for (const auto& [name, x] : v) {
    if (name.rfind("flush.", 0) == 0 || (x == 0 && name != "flushes")) continue;
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", name, stat_value(x));
    if (name == "flushes" && !reasons.empty()) out += " (" + reasons + ")";
  }
  return out;
}

void print_table(const std::vector<Row>& rows, const std::string& xla_version) {
  const bool torch = bench::torch_available();
  const char* hdr =
      "{:<11} {:>5} {:>9} {:>9} {:>9} {:>13} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9} {:>15}  {}\n";
  fmt::print(fmt::runtime(hdr), "workload", "unit", "lazy", "eager", "hand", "torch", "xla",
             "lazy/hand", "eager/lazy", "torch/lazy", "xla/lazy", "lazy 1st", "GB/s lazy/hand",
             "size");
  fmt::print("{}\n", std::string(152, '-'));
  for (const Row& r : rows) {
    auto v = [&](const Timing& t) { return num(t.median * r.scale); };
    std::string rates = "-";
    if (r.bytes > 0 || r.flops > 0)
      rates = rate(r, r.lazy.median) + " / " + rate(r, r.hand.median) + (r.flops > 0 ? " GF" : "");
    fmt::print(fmt::runtime(hdr), r.name, r.unit, v(r.lazy), v(r.eager), v(r.hand),
               torch ? v(r.torch) : "not installed", v(r.xla), ratio(r.lazy.median, r.hand.median),
               ratio(r.eager.median, r.lazy.median), ratio(r.torch.median, r.lazy.median),
               ratio(r.xla.median, r.lazy.median), num(r.lazy.first * r.scale), rates, r.size);
  }
  fmt::print(
      "\nmedians; 'lazy 1st' is the first (cold) lazy run, compilation included; "
      "GF = GFLOP/s (mlp); x/lazy above 1 means tilejit is faster. libtorch: {}; XLA:CPU: {}\n",
      bench::torch_version(), xla_version);
  fmt::print("\ncheck against the hand-written loop (max abs diff; not asserted):\n");
  for (const Row& r : rows) {
    if (!std::isfinite(r.diff_lazy) && !std::isfinite(r.diff_eager) &&
        !std::isfinite(r.diff_torch) && r.error.empty())
      continue;
    fmt::print("  {:<11} lazy {:<10} eager {:<10} torch {:<10} xla (vs NumPy f64) {:<10}{}\n",
               r.name, fmt::format("{:.3g}", r.diff_lazy), fmt::format("{:.3g}", r.diff_eager),
               fmt::format("{:.3g}", r.diff_torch), fmt::format("{:.3g}", r.diff_xla),
               r.error.empty() ? "" : "  ERROR: " + r.error);
  }
  fmt::print("\ntj::stats() per {{run|op|iter}} of the timed runs:\n");
  for (const Row& r : rows) {
    if (!r.stats_lazy.empty())
      fmt::print("  {:<11} lazy  per {:<4}: {}\n", r.name, r.stats_unit, stats_line(r.stats_lazy));
    if (!r.stats_eager.empty())
      fmt::print("  {:<11} eager per {:<4}: {}\n", r.name, r.stats_unit, stats_line(r.stats_eager));
    if (!r.stats_cold.empty())
      fmt::print("  {:<11} lazy, first (cold) run: {}\n", r.name, stats_line(r.stats_cold));
  }
  for (const Row& r : rows) {
    if (!std::isfinite(r.peak_lazy)) continue;
    auto mib = [](double b) {
      return std::isfinite(b) ? fmt::format("{:.1f} MiB", b / (1 << 20)) : std::string("-");
    };
    fmt::print(
        "\npeak memory of one {} (allocated above what was live before it; tilejit's in its "
        "allocator's size classes):\n  tilejit lazy {}, eager {}, libtorch {}{}\n",
        r.name, mib(r.peak_lazy), mib(r.peak_eager), mib(r.peak_torch),
        std::isfinite(r.peak_torch) && r.peak_torch > 0
            ? fmt::format(" (lazy/libtorch {:.2f}x)", r.peak_lazy / r.peak_torch)
            : "");
  }
}

std::string json_num(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20)
      o += fmt::format("\\u{:04x}", c);
    else
      o += c;
  }
  return o + "\"";
}

std::string json_timing(const Timing& t, double scale) {
  std::string s = "[";
  for (size_t i = 0; i < t.samples.size(); ++i)
    s += (i ? ", " : "") + json_num(t.samples[i] * scale);
  return fmt::format("{{\"median\": {}, \"first\": {}, \"runs\": {}, \"samples\": {}]}}",
                     json_num(t.median * scale), json_num(t.first * scale), t.runs, s);
}

std::string json_stats(const StatList& v) {
  if (v.empty()) return "null";
  std::string o = "{";
  for (size_t i = 0; i < v.size(); ++i)
    o += fmt::format("{}{}: {}", i ? ", " : "", json_str(v[i].first), json_num(v[i].second));
  return o + "}";
}

/// XLA:CPU's times (bench/bench_jax.py --lines) into the rows it ran; the
/// jax version, or why there is none.
std::string run_xla(const Options& o, std::vector<Row>& rows) {
  std::vector<std::string> argv = {
      "python3", std::string(TJ_BENCH_SOURCE_ROOT) + "/bench/bench_jax.py", "--lines"};
  if (o.quick) argv.push_back("--quick");
  for (const Row& r : rows) argv.push_back(r.name);
  std::istringstream in(bench::capture(argv));
  std::string version = "not run (python3 could not start bench/bench_jax.py)";
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string kind, name;
    ls >> kind >> name;
    if (kind == "skip:") version = line.substr(6);
    if (kind == "meta" && name == "jax") {
      ls >> version;
      version = "jax " + version;
    }
    if (kind != "xla") continue;
    double median = kNaN, first = kNaN, diff = kNaN;
    ls >> median >> first;
    if (!(ls >> diff)) diff = kNaN;  // "nan": no reference for this row
    for (Row& r : rows)
      if (r.name == name) {
        r.xla.median = median;
        r.xla.first = first;
        r.xla.runs = 1;
        r.diff_xla = diff;
      }
  }
  return version;
}

/// The 1-minute load average; other processes on the machine make the
/// absolute numbers noisy (the ratios less so).
double load_average() {
  std::ifstream f("/proc/loadavg");
  double l = kNaN;
  f >> l;
  return l;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

void write_json(const Options& o, const std::vector<Row>& rows, double total_s, double load_start,
                bool complete, const std::string& xla_version = "not run") {
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string root = TJ_BENCH_SOURCE_ROOT;
  std::string commit = bench::capture({"git", "-C", root, "rev-parse", "--short", "HEAD"});
  if (!commit.empty() &&
      !bench::capture({"git", "-C", root, "status", "--porcelain", "-uno"}).empty())
    commit += "-dirty";
  std::string env = "{";
  for (const char* k :
       {"TILEJIT_LAZY", "TILEJIT_DEVICE", "TILEJIT_MAX_TRACE", "TILEJIT_LOG", "TILEJIT_CXX"})
    if (const char* v = std::getenv(k))
      env += fmt::format("{}{}: {}", env.size() > 1 ? ", " : "", json_str(k), json_str(v));
  env += "}";

  std::ostringstream js;
  js << "{\n";
  js << fmt::format("  \"machine\": {{\"cpu\": {}, \"cores\": {}, \"hostname\": {}}},\n",
                    json_str(cpu_model()), std::thread::hardware_concurrency(), json_str(host));
  js << fmt::format("  \"date\": {},\n  \"commit\": {},\n  \"compiler\": {},\n", json_str(date),
                    json_str(commit), json_str(__VERSION__));
  js << fmt::format(
      "  \"bench_flags\": \"-O3 -march=native\",\n  \"threads\": {},\n  \"quick\": {},\n",
      o.threads, o.quick ? "true" : "false");
  js << fmt::format("  \"libtorch\": {},\n  \"xla\": {},\n  \"env\": {},\n",
                    json_str(bench::torch_version()), json_str(xla_version), env);
  js << fmt::format("  \"total_seconds\": {},\n", json_num(total_s));
  js << fmt::format("  \"complete\": {},\n", complete ? "true" : "false");
  js << fmt::format("  \"load_average_start\": {},\n  \"load_average_end\": {},\n",
                    json_num(load_start), json_num(load_average()));
  js << "  \"workloads\": [\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    auto gbs = [&](double sec) { return r.bytes > 0 && sec > 0 ? r.bytes / sec / 1e9 : kNaN; };
    auto gfs = [&](double sec) { return r.flops > 0 && sec > 0 ? r.flops / sec / 1e9 : kNaN; };
    js << "    {";
    js << fmt::format("\"name\": {}, \"size\": {}, \"unit\": {}, ", json_str(r.name),
                      json_str(r.size), json_str(r.unit));
    js << fmt::format("\"lazy\": {}, \"eager\": {}, \"hand\": {}, \"torch\": {}, \"xla\": {}, ",
                      json_timing(r.lazy, r.scale), json_timing(r.eager, r.scale),
                      json_timing(r.hand, r.scale), json_timing(r.torch, r.scale),
                      json_timing(r.xla, r.scale));
    auto rt = [](double a, double b) {
      return std::isfinite(a) && std::isfinite(b) && b > 0 ? a / b : kNaN;
    };
    js << fmt::format(
        "\"lazy_over_hand\": {}, \"eager_over_lazy\": {}, \"torch_over_lazy\": {}, "
        "\"xla_over_lazy\": {}, ",
        json_num(rt(r.lazy.median, r.hand.median)), json_num(rt(r.eager.median, r.lazy.median)),
        json_num(rt(r.torch.median, r.lazy.median)), json_num(rt(r.xla.median, r.lazy.median)));
    js << fmt::format("\"bytes\": {}, \"flops\": {}, ", json_num(r.bytes), json_num(r.flops));
    js << fmt::format(
        "\"gb_per_s\": {{\"lazy\": {}, \"eager\": {}, \"hand\": {}, \"torch\": {}}}, ",
        json_num(gbs(r.lazy.median)), json_num(gbs(r.eager.median)), json_num(gbs(r.hand.median)),
        json_num(gbs(r.torch.median)));
    js << fmt::format(
        "\"gflop_per_s\": {{\"lazy\": {}, \"eager\": {}, \"hand\": {}, \"torch\": {}}}, ",
        json_num(gfs(r.lazy.median)), json_num(gfs(r.eager.median)), json_num(gfs(r.hand.median)),
        json_num(gfs(r.torch.median)));
    js << fmt::format(
        "\"max_abs_diff_vs_hand\": {{\"lazy\": {}, \"eager\": {}, \"torch\": {}}}, "
        "\"xla_max_abs_diff_vs_numpy\": {}, ",
        json_num(r.diff_lazy), json_num(r.diff_eager), json_num(r.diff_torch),
        json_num(r.diff_xla));
    js << fmt::format(
        "\"stats_per\": {}, \"stats_lazy\": {}, \"stats_eager\": {}, \"stats_lazy_cold\": {}, "
        "\"peak_step_bytes\": {{\"lazy\": {}, \"eager\": {}, \"torch\": {}}}, \"error\": {}}}",
        json_str(r.stats_unit), json_stats(r.stats_lazy), json_stats(r.stats_eager),
        json_stats(r.stats_cold), json_num(r.peak_lazy), json_num(r.peak_eager),
        json_num(r.peak_torch), r.error.empty() ? "null" : json_str(r.error));
    js << (i + 1 < rows.size() ? ",\n" : "\n");
  }
  js << "  ]\n}\n";
  std::ofstream f(o.json_path);
  f << js.str();
  if (!f) {
    fmt::print(stderr, "bench_cpu: could not write {}\n", o.json_path);
    return;
  }
  if (complete) fmt::print("\nwrote {}\n", o.json_path);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  ThreadPool pool(o.threads);
  bench::torch_set_threads(o.threads);
  const double t_start = now_s();
  const double load_start = load_average();
  fmt::print("bench_cpu: {} ({} cores), {} threads for hand loops and libtorch, {}{}\n",
             cpu_model(), std::thread::hardware_concurrency(), o.threads,
             o.quick ? "quick" : "full",
             o.filters.empty() ? "" : ", filter: " + fmt::format("{}", fmt::join(o.filters, " ")));
  if (load_start > 0.5)
    fmt::print(
        "note: load average {:.2f} at start: other processes share the cores, expect noisy "
        "absolute numbers (compare the ratios)\n",
        load_start);
  std::fflush(stdout);

  std::vector<Row> rows;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, on_crash);
  auto progress = [&](const Row& r) {
    write_json(o, rows, now_s() - t_start, load_start, false);
    fmt::print(stderr, "  {:<11} done ({:.1f} s so far)\n", r.name, now_s() - t_start);
  };
  for (auto& w : make_workloads(o)) {
    if (!selected(o, w.name)) continue;
    rows.push_back(run_workload(o, pool, w));
    progress(rows.back());
  }
  if (selected(o, "trace_op")) {
    rows.push_back(run_trace_op(o));
    progress(rows.back());
  }
  if (selected(o, "train_step")) rows.push_back(run_train_step(o));
  if (selected(o, "loop50")) {
    rows.push_back(run_loop50(o));
    progress(rows.back());
  }
  if (rows.empty()) {
    fmt::print(stderr, "bench_cpu: no workload matches the filter (see --help)\n");
    return 2;
  }
  std::string xla_version = "not run (--jax)";
  if (o.jax) {
    fmt::print(stderr, "  XLA:CPU     running bench/bench_jax.py\n");
    xla_version = run_xla(o, rows);
  }
  fmt::print("\n");
  print_table(rows, xla_version);
  const double total = now_s() - t_start;
  write_json(o, rows, total, load_start, true, xla_version);
  fmt::print("total {:.1f} s\n", total);
  return 0;
}
