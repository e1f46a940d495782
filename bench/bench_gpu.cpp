// GPU benchmarks: tilejit lazy vs eager on a CUDA device, against the
// device's measured copy bandwidth and, when its JSON is given, PyTorch eager
// and torch.compile (bench/bench_torch_gpu.py) from the same machine.
//
// Uses only the public API. Device time comes from tj::cuda::Event pairs
// around every timed iteration, after warm-up; each row is the median of the
// samples. The inputs rotate over several sets so that together they exceed
// the L2 cache and each iteration reads from memory.
//
// On a machine without a usable GPU it prints one line
// `bench_gpu: skipped: <reason>` and exits 0.
//
//   bench_gpu [--iters N] [--json FILE] [--torch FILE] [--commit HASH] [--smoke] [FILTER...]
//
// --smoke runs every step on the CPU with small sizes and host timing: a check
// of the program itself on a machine without a GPU, not a measurement.

#include <tilejit/cuda.h>
#include <tilejit/tilejit.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

using tj::Tensor;
using Inputs = std::vector<Tensor>;

constexpr int kDevice = 0;
bool g_smoke = false;  // --smoke: CPU, small sizes, host timing
// Four times an H100's 50 MB L2: the inputs of all sets together.
constexpr double kRotateBytes = 200e6;

struct Options {
  int iters = 50;
  int warmup = 3;
  std::string json_path;
  std::string torch_path;
  std::string commit;
  bool smoke = false;
  std::vector<std::string> filters;
};

struct Workload {
  std::string name;  // "softmax"
  std::string size;  // "4096x1024"
  double in_bytes = 0;
  double out_bytes = 0;
  double flops = 0;  // > 0: report TFLOP/s instead of GB/s
  std::function<Inputs(uint64_t seed)> make;
  std::function<Tensor(const Inputs&)> run;
  std::string key() const { return name + "/" + size; }
};

struct Row {
  std::string key;
  double lazy_ms = 0, eager_ms = 0;
  double rate = 0;      // GB/s, or TFLOP/s for matmul rows
  double of_copy = 0;   // rate / copy bandwidth (memory-bound rows)
  double max_diff = 0;  // |lazy - eager|, on set 0
  double torch_eager_ms = -1, torch_compile_ms = -1;
  bool tflops = false;
  int sets = 0;
  std::string error;
};

tj::TensorOptions on_gpu(tj::DType dt) {
  return tj::TensorOptions().dtype(dt).device(g_smoke ? tj::Device::cpu()
                                                      : tj::Device::cuda(kDevice));
}

// The full size, or the small one for --smoke.
int64_t sized(int64_t full, int64_t smoke) { return g_smoke ? smoke : full; }

void device_sync() {
  if (g_smoke) return tj::sync();
  tj::cuda::synchronize(kDevice);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double host_now_s() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

std::string human(int64_t n) {
  if (n % (1 << 20) == 0) return std::to_string(n >> 20) + "M";
  if (n % (1 << 10) == 0) return std::to_string(n >> 10) + "K";
  return std::to_string(n);
}

// ---- workloads -------------------------------------------------------------------

Tensor chain8(const Tensor& x) {
  Tensor t = x * 1.5f + 0.25f;
  t = t * tj::sigmoid(t);
  t = tj::tanh(t);
  return t * x + x * x;
}

std::vector<Workload> workloads() {
  std::vector<Workload> w;
  const int64_t n_chain = sized(int64_t(64) << 20, 256 << 10);
  w.push_back({"chain8", human(n_chain), n_chain * 4.0, n_chain * 4.0, 0,
               [=](uint64_t s) {
                 tj::manual_seed(s);
                 return Inputs{tj::randn({n_chain}, on_gpu(tj::f32))};
               },
               [](const Inputs& in) { return chain8(in[0]); }});
  for (int64_t n : {1024, 4096, 16384}) {
    const int64_t rows = sized(4096, 32);
    const double bytes = double(rows) * n * 4;
    w.push_back({"softmax", human(rows) + "x" + human(n), bytes, bytes, 0,
                 [=](uint64_t s) {
                   tj::manual_seed(s);
                   return Inputs{tj::randn({rows, n}, on_gpu(tj::f32))};
                 },
                 [](const Inputs& in) { return tj::softmax(in[0], -1); }});
  }
  for (int64_t n : {1024, 4096, 16384}) {
    const int64_t rows = sized(4096, 32);
    const double bytes = double(rows) * n * 4;
    w.push_back({"layer_norm", human(rows) + "x" + human(n), bytes + 2.0 * n * 4, bytes, 0,
                 [=](uint64_t s) {
                   tj::manual_seed(s);
                   return Inputs{tj::randn({rows, n}, on_gpu(tj::f32)),
                                 tj::randn({n}, on_gpu(tj::f32)), tj::randn({n}, on_gpu(tj::f32))};
                 },
                 [=](const Inputs& in) { return tj::layer_norm(in[0], {n}, in[1], in[2]); }});
  }
  const int64_t n_sum = sized(int64_t(256) << 20, 1 << 20);
  w.push_back({"sum", human(n_sum), n_sum * 4.0, 4, 0,
               [=](uint64_t s) {
                 tj::manual_seed(s);
                 return Inputs{tj::randn({n_sum}, on_gpu(tj::f32))};
               },
               [](const Inputs& in) { return in[0].sum(); }});
  {
    const int64_t rows = sized(16384, 64), cols = 4096;
    w.push_back({"bias_gelu", human(rows) + "x" + human(cols) + " bf16",
                 rows * cols * 2.0 + cols * 2.0, rows * cols * 2.0, 0,
                 [=](uint64_t s) {
                   tj::manual_seed(s);
                   return Inputs{tj::randn({rows, cols}, on_gpu(tj::bf16)),
                                 tj::randn({cols}, on_gpu(tj::bf16))};
                 },
                 [](const Inputs& in) { return tj::gelu(in[0] + in[1], "tanh"); }});
  }
  {
    const int64_t n = sized(4096, 256);
    w.push_back(
        {"mlp", std::to_string(n) + "^3 bf16", 2.0 * n * n * 2 + n * 2, n * n * 2.0,
         2.0 * n * n * n,
         [=](uint64_t s) {
           tj::manual_seed(s);
           // Scaled so the products stay O(1) in bf16.
           return Inputs{tj::randn({n, n}, on_gpu(tj::bf16)),
                         tj::randn({n, n}, on_gpu(tj::bf16)) * (1.0 / 64),
                         tj::randn({n}, on_gpu(tj::bf16))};
         },
         [](const Inputs& in) { return tj::gelu(tj::linear(in[0], in[1], in[2]), "tanh"); }});
  }
  return w;
}

// The copy baseline: y = -x over 256M f32, one read and one write per element
// (the traffic of a device-to-device memcpy) through tilejit's own pointwise
// kernel. The torch script also measures torch's copy_ for comparison.
Workload copy_workload() {
  const int64_t n = sized(int64_t(256) << 20, 1 << 20);
  return {"copy",
          human(n),
          n * 4.0,
          n * 4.0,
          0,
          [=](uint64_t s) {
            tj::manual_seed(s);
            return Inputs{tj::randn({n}, on_gpu(tj::f32))};
          },
          [](const Inputs& in) { return in[0].neg(); }};
}

// ---- timing ----------------------------------------------------------------------

int sets_for(const Workload& w) {
  int sets = int(std::ceil(kRotateBytes / std::max(w.in_bytes, 1.0)));
  return std::clamp(sets, 2, 8);
}

std::vector<Inputs> make_sets(const Workload& w, int sets) {
  std::vector<Inputs> all;
  for (int s = 0; s < sets; ++s) {
    all.push_back(w.make(1000 + s));
    for (Tensor& t : all.back()) t = t.eval();
  }
  device_sync();
  return all;
}

// Median device milliseconds of `w.run` over `iters` iterations, each between
// two events; the set rotates every iteration.
double time_device(const Workload& w, const std::vector<Inputs>& sets, const Options& opt) {
  for (int i = 0; i < opt.warmup; ++i) w.run(sets[i % sets.size()]).eval();
  device_sync();
  if (g_smoke) {
    std::vector<double> ms;
    for (int i = 0; i < opt.iters; ++i) {
      double t0 = host_now_s();
      w.run(sets[i % sets.size()]).eval();
      ms.push_back((host_now_s() - t0) * 1e3);
    }
    return median(ms);
  }
  std::vector<std::unique_ptr<tj::cuda::Event>> start, end;
  for (int i = 0; i < opt.iters; ++i) {
    start.push_back(std::make_unique<tj::cuda::Event>(kDevice));
    end.push_back(std::make_unique<tj::cuda::Event>(kDevice));
  }
  for (int i = 0; i < opt.iters; ++i) {
    start[i]->record();
    Tensor y = w.run(sets[i % sets.size()]);
    end[i]->record();  // computes y first
  }
  device_sync();
  std::vector<double> ms;
  for (int i = 0; i < opt.iters; ++i) ms.push_back(start[i]->elapsed_ms(*end[i]));
  return median(ms);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return (a.cast(tj::f32) - b.cast(tj::f32)).abs().max().item<float>();
}

// ---- torch JSON (written by bench_torch_gpu.py) ------------------------------------

// Reads `"key": {"eager_ms": X, "compile_ms": Y}` entries; nothing more is needed
// from the file, so a small scanner does instead of a JSON library.
double json_number_after(const std::string& text, size_t from, size_t to,
                         const std::string& field) {
  size_t p = text.find("\"" + field + "\"", from);
  if (p == std::string::npos || p > to) return -1;
  p = text.find(':', p);
  if (p == std::string::npos) return -1;
  char* endp = nullptr;
  double v = std::strtod(text.c_str() + p + 1, &endp);
  return endp == text.c_str() + p + 1 ? -1 : v;
}

struct TorchResults {
  std::string text;
  bool loaded = false;
  // eager_ms and compile_ms of one workload key; -1 when absent.
  std::pair<double, double> get(const std::string& key) const {
    if (!loaded) return {-1, -1};
    size_t p = text.find("\"" + key + "\"");
    if (p == std::string::npos) return {-1, -1};
    size_t close = text.find('}', p);
    return {json_number_after(text, p, close, "eager_ms"),
            json_number_after(text, p, close, "compile_ms")};
  }
  double field(const std::string& key, const std::string& name) const {
    size_t p = loaded ? text.find("\"" + key + "\"") : std::string::npos;
    if (p == std::string::npos) return -1;
    return json_number_after(text, p, text.find('}', p), name);
  }
};

TorchResults load_torch(const std::string& path) {
  TorchResults r;
  if (path.empty()) return r;
  std::ifstream f(path);
  if (!f) {
    std::printf("torch results: %s not found; torch columns left empty\n", path.c_str());
    return r;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  r.text = ss.str();
  r.loaded = true;
  return r;
}

// ---- host overhead and compile time ----------------------------------------------

// Host microseconds per iteration of a cached one-kernel plan: N flushes of
// `x * 1.5 + 0.5` on 1K elements, synchronised once at the end.
double launch_overhead_us() {
  Tensor x = tj::randn({1024}, on_gpu(tj::f32)).eval();
  for (int i = 0; i < 20; ++i) (x * 1.5f + 0.5f).eval();
  device_sync();
  const int n = 2000;
  double t0 = host_now_s();
  for (int i = 0; i < n; ++i) (x * 1.5f + 0.5f).eval();
  device_sync();
  return (host_now_s() - t0) / n * 1e6;
}

struct CompileTimes {
  double pointwise_ms = -1, softmax_ms = -1;
  int samples = 0;
};

// First-use compile time of a fused kernel, from tj::stats().compile_ms, over
// shapes that differ per sample and per process so no cache can hold them.
// A sample counts only when it compiled something; it is the mean per kernel.
CompileTimes compile_times() {
  CompileTimes r;
  const int64_t base = 3000 + int64_t(std::time(nullptr) % 50000) * 16;
  std::vector<double> pw, sm;
  for (int i = 0; i < 5; ++i) {
    const int64_t n = base + 7 * i + 1;
    Tensor x = tj::randn({n}, on_gpu(tj::f32)).eval();
    Tensor r2 = tj::randn({8, n}, on_gpu(tj::f32)).eval();
    device_sync();
    tj::Stats a = tj::stats();
    chain8(x).eval();
    tj::Stats b = tj::stats();
    if (b.kernels_compiled > a.kernels_compiled)
      pw.push_back((b.compile_ms - a.compile_ms) / double(b.kernels_compiled - a.kernels_compiled));
    tj::softmax(r2, -1).eval();
    tj::Stats c = tj::stats();
    if (c.kernels_compiled - b.kernels_compiled >= 1)
      sm.push_back((c.compile_ms - b.compile_ms) / double(c.kernels_compiled - b.kernels_compiled));
  }
  device_sync();
  if (!pw.empty()) r.pointwise_ms = median(pw);
  if (!sm.empty()) r.softmax_ms = median(sm);
  r.samples = int(std::max(pw.size(), sm.size()));
  return r;
}

// ---- one row ---------------------------------------------------------------------

Row measure(const Workload& w, const Options& opt, double copy_gbps, const TorchResults& torch) {
  Row r;
  r.key = w.key();
  r.sets = sets_for(w);
  std::vector<Inputs> sets = make_sets(w, r.sets);
  r.lazy_ms = time_device(w, sets, opt);
  Tensor lazy_out = w.run(sets[0]).eval();
  {
    tj::ConfigGuard g;
    g->lazy = false;
    r.eager_ms = time_device(w, sets, opt);
    Tensor eager_out = w.run(sets[0]);
    g->lazy = true;
    r.max_diff = max_abs_diff(lazy_out, eager_out);
  }
  if (w.flops > 0) {
    r.tflops = true;
    r.rate = w.flops / (r.lazy_ms * 1e-3) / 1e12;
  } else {
    r.rate = (w.in_bytes + w.out_bytes) / (r.lazy_ms * 1e-3) / 1e9;
    r.of_copy = copy_gbps > 0 ? r.rate / copy_gbps : 0;
  }
  std::tie(r.torch_eager_ms, r.torch_compile_ms) = torch.get(r.key);
  return r;
}

std::string cell(double v, const char* fmt) {
  if (v < 0) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

void print_table(const std::vector<Row>& rows) {
  std::printf(
      "\n| workload | lazy ms | rate | of copy | eager ms | eager/lazy | max diff | "
      "torch ms | torch.compile ms | torch.compile/lazy |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    if (!r.error.empty()) {
      std::printf("| %s | error: %s |||||||||\n", r.key.c_str(), r.error.c_str());
      continue;
    }
    std::string rate = r.tflops ? cell(r.rate, "%.1f TFLOP/s") : cell(r.rate, "%.0f GB/s");
    std::printf(
        "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.key.c_str(),
        cell(r.lazy_ms, "%.3f").c_str(), rate.c_str(),
        r.tflops ? "-" : cell(r.of_copy * 100, "%.0f%%").c_str(), cell(r.eager_ms, "%.3f").c_str(),
        cell(r.eager_ms / r.lazy_ms, "%.2f").c_str(), cell(r.max_diff, "%.2g").c_str(),
        cell(r.torch_eager_ms, "%.3f").c_str(), cell(r.torch_compile_ms, "%.3f").c_str(),
        r.torch_compile_ms < 0 ? "-" : cell(r.torch_compile_ms / r.lazy_ms, "%.2f").c_str());
  }
  std::fflush(stdout);
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

void write_json(const Options& opt, const std::string& device, const std::string& skipped,
                double copy_gbps, double launch_us, const CompileTimes& ct,
                const std::vector<Row>& rows) {
  if (opt.json_path.empty()) return;
  std::ofstream f(opt.json_path);
  f << "{\n  \"device\": \"" << json_escape(device) << "\",\n";
  f << "  \"commit\": \"" << json_escape(opt.commit) << "\",\n";
  if (!skipped.empty()) {
    f << "  \"skipped\": \"" << json_escape(skipped) << "\"\n}\n";
    return;
  }
  f << "  \"iters\": " << opt.iters << ",\n  \"copy_gbps\": " << copy_gbps << ",\n";
  f << "  \"launch_overhead_us\": " << launch_us << ",\n";
  f << "  \"compile_ms\": {\"pointwise\": " << ct.pointwise_ms << ", \"softmax\": " << ct.softmax_ms
    << "},\n  \"rows\": {";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    f << (i ? ",\n" : "\n") << "    \"" << r.key << "\": {\"lazy_ms\": " << r.lazy_ms
      << ", \"eager_ms\": " << r.eager_ms << ", \"" << (r.tflops ? "tflops" : "gbps")
      << "\": " << r.rate << ", \"of_copy\": " << r.of_copy << ", \"max_diff\": " << r.max_diff
      << ", \"sets\": " << r.sets << ", \"torch_eager_ms\": " << r.torch_eager_ms
      << ", \"torch_compile_ms\": " << r.torch_compile_ms << ", \"error\": \""
      << json_escape(r.error) << "\"}";
  }
  f << "\n  }\n}\n";
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_gpu: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--iters")
      o.iters = std::max(1, std::atoi(value().c_str()));
    else if (a == "--json")
      o.json_path = value();
    else if (a == "--torch")
      o.torch_path = value();
    else if (a == "--commit")
      o.commit = value();
    else if (a == "--smoke")
      o.smoke = true;
    else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: bench_gpu [--iters N] [--json FILE] [--torch FILE] [--commit HASH] "
          "[--smoke] [FILTER...]\n");
      std::exit(0);
    } else
      o.filters.push_back(a);
  }
  return o;
}

bool selected(const Options& o, const Workload& w) {
  if (o.filters.empty()) return true;
  return std::any_of(o.filters.begin(), o.filters.end(),
                     [&](const std::string& f) { return w.key().find(f) != std::string::npos; });
}

int run_benchmarks(const Options& opt) {
  g_smoke = opt.smoke;
  if (!g_smoke && !tj::cuda::is_available()) {
    std::string reason = tj::cuda::unavailable_reason();
    std::printf("bench_gpu: skipped: %s\n", reason.c_str());
    write_json(opt, "", reason, 0, 0, {}, {});
    return 0;
  }
  tj::config().device = g_smoke ? tj::Device::cpu() : tj::Device::cuda(kDevice);
  const std::string device =
      g_smoke ? "cpu (--smoke: small sizes, host timing)" : tj::cuda::device_name(kDevice);
  TorchResults torch = load_torch(opt.torch_path);
  std::printf(
      "bench_gpu: %s, %d timed iterations per row (median), inputs rotating over >= %.0f MB\n",
      device.c_str(), opt.iters, kRotateBytes / 1e6);
  std::fflush(stdout);

  // The limit: tilejit's copy bandwidth (y = -x, 256M f32).
  Workload copy = copy_workload();
  std::vector<Inputs> copy_sets = make_sets(copy, 2);
  double copy_ms = time_device(copy, copy_sets, opt);
  copy_sets.clear();
  double copy_gbps = (copy.in_bytes + copy.out_bytes) / (copy_ms * 1e-3) / 1e9;
  std::printf("copy bandwidth (y = -x, %s f32, tilejit): %.3f ms, %.0f GB/s\n", copy.size.c_str(),
              copy_ms, copy_gbps);
  double torch_memcpy = torch.field("copy/" + copy.size, "memcpy_ms");
  if (torch_memcpy > 0)
    std::printf("copy bandwidth (torch copy_, same size): %.3f ms, %.0f GB/s\n", torch_memcpy,
                (copy.in_bytes + copy.out_bytes) / (torch_memcpy * 1e-3) / 1e9);

  std::vector<Row> rows;
  for (const Workload& w : workloads()) {
    if (!selected(opt, w)) continue;
    Row r;
    try {
      r = measure(w, opt, copy_gbps, torch);
    } catch (const std::exception& e) {
      r.key = w.key();
      r.error = e.what();
      std::replace(r.error.begin(), r.error.end(), '\n', ' ');
    }
    std::printf("  %-28s %s\n", r.key.c_str(),
                r.error.empty() ? cell(r.lazy_ms, "%.3f ms").c_str() : r.error.c_str());
    std::fflush(stdout);
    rows.push_back(r);
    if (!g_smoke) tj::cuda::empty_cache(kDevice);
  }

  double launch_us = launch_overhead_us();
  CompileTimes ct = compile_times();

  print_table(rows);
  std::printf(
      "\nrate: minimum traffic (inputs read once, output written once) / lazy time; "
      "mlp: TFLOP/s. of copy: rate / copy bandwidth.\n");
  std::printf(
      "host overhead per flush of a cached 1-kernel plan: %.1f us (torch: %s us per "
      "2-op iteration)\n",
      launch_us, cell(torch.field("_meta", "launch_us"), "%.1f").c_str());
  std::printf(
      "compile of a fused kernel (first use, NVRTC on CUDA, median of %d): pointwise chain8 %s ms, "
      "softmax %s ms\n",
      ct.samples, cell(ct.pointwise_ms, "%.1f").c_str(), cell(ct.softmax_ms, "%.1f").c_str());
  write_json(opt, device, "", copy_gbps, launch_us, ct, rows);
  bool any_error =
      std::any_of(rows.begin(), rows.end(), [](const Row& r) { return !r.error.empty(); });
  return any_error ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_args(argc, argv);
  try {
    return run_benchmarks(opt);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "bench_gpu: error: %s\n", e.what());
    return 1;
  }
}
