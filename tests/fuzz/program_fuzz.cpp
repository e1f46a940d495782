// The differential fuzzer: random valid programs (tests/fuzz/program.h)
// whose every flushed graph is checked against the reference evaluator, on
// the CPU end to end and (one graph in --cuda-every) as CUDA kernels on the
// CPU emulation of CUDA's thread model. A failure is shrunk (steps removed
// while it still fails) and printed as a C++ reproducer with its seed.
//
//   program_fuzz [--seed S] [--programs N | --minutes M] [--batch B]
//                [--steps K] [--cuda-every E] [--out DIR] [--quiet]
//
// Exit status: 0 when every program matched, 1 on a mismatch or an error a
// valid program should not raise, 2 on bad arguments.
#include <fmt/format.h>

#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../cuda_emulator.h"
#include "ir/dtype.h"
#include "ir/print.h"
#include "ir/reference_eval.h"
#include "jit/executor.h"
#include "program.h"
#include "tilejit/tilejit.h"

namespace {

using namespace tj;
using Clock = std::chrono::steady_clock;

struct Options {
  uint64_t seed = 0;
  int64_t programs = 1000;
  double minutes = 0;  // when > 0: run this long instead of `programs`
  int batch = 16;
  int steps = 14;
  int cuda_every = 0;
  std::string out;
  bool quiet = false;
};

/// The longest chain of computed nodes: rounding differences grow with it.
int depth_of(const ir::Graph& g) {
  std::vector<int> d(g.size(), 0);
  int best = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const ir::Node& n = g.node(static_cast<ir::NodeId>(i));
    int x = 0;
    for (ir::NodeId in : n.inputs) x = std::max(x, d[in]);
    d[i] = x + (ir::is_source(n.op) || ir::is_movement(n.op) ? 0 : 1);
    best = std::max(best, d[i]);
  }
  return best;
}

double base_tol(DType t) {
  switch (t) {
    case DType::f64:
      return 1e-9;
    case DType::f32:
      return 1e-4;
    case DType::f16:
      return 1.5e-2;
    case DType::bf16:
      return 6e-2;
    case DType::i32:
    case DType::i64:
    case DType::bool_:
      return 0;
  }
  return 0;
}

/// The least precise floating dtype any node of `g` has: kernels keep f32
/// between fused f16/bf16 ops where the reference rounds every one
/// (DESIGN.md), so an f32 output of a graph with bf16 inside is as close as
/// bf16 allows.
DType least_precise(const ir::Graph& g) {
  DType worst = DType::f64;
  for (const ir::Node& n : g.nodes())
    if (is_floating(n.dtype) && base_tol(n.dtype) > base_tol(worst)) worst = n.dtype;
  return worst;
}

/// Every node of `g` as an output (the reference then keeps every value).
ir::Graph with_every_node(const ir::Graph& g) {
  ir::GraphBuilder b;
  std::vector<ir::NodeId> map(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const ir::Node& n = g.node(static_cast<ir::NodeId>(i));
    if (n.op == ir::Op::Buffer) {
      map[i] = b.buffer(g.buffers()[n.slot]);
    } else if (n.op == ir::Op::Scalar) {
      map[i] = b.scalar(n.dtype, g.scalars()[n.slot], /*intern=*/false);
    } else {
      std::vector<ir::NodeId> in;
      for (ir::NodeId x : n.inputs) in.push_back(map[x]);
      map[i] = b.add(n.op, in, {.attrs = n.attrs, .dtype = n.dtype, .shape = n.shape});
    }
  }
  std::vector<ir::NodeId> all(map.begin(), map.end());
  return b.finish(all);
}

/// `g` with every computed floating value nudged by about one rounding of
/// its dtype (times 1 + sign * 2^-mantissa bits): the reference evaluated on
/// it shows how much an answer moves when its inputs move by a rounding, so
/// an ill-conditioned graph (a layer norm of nearly equal values, a
/// cancellation) is not mistaken for a wrong kernel.
ir::Graph nudged(const ir::Graph& g, int sign) {
  ir::GraphBuilder b;
  std::vector<ir::NodeId> map(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const ir::Node& n = g.node(static_cast<ir::NodeId>(i));
    if (n.op == ir::Op::Buffer) {
      map[i] = b.buffer(g.buffers()[n.slot]);
      continue;
    }
    if (n.op == ir::Op::Scalar) {
      map[i] = b.scalar(n.dtype, g.scalars()[n.slot], /*intern=*/false);
      continue;
    }
    std::vector<ir::NodeId> in;
    for (ir::NodeId x : n.inputs) in.push_back(map[x]);
    ir::NodeId id = b.add(n.op, in, {.attrs = n.attrs, .dtype = n.dtype, .shape = n.shape});
    if (is_floating(n.dtype) && !ir::is_movement(n.op) && !ir::is_source(n.op)) {
      const int bits = n.dtype == DType::f64   ? 52
                       : n.dtype == DType::f32 ? 23
                       : n.dtype == DType::f16 ? 10
                                               : 7;
      // Each node its own direction, fixed by its index: roundings do not line up.
      const int dir = ((i * 2654435761u) >> 7) & 1 ? sign : -sign;
      ir::ScalarValue f{.f = 1.0 + dir * std::ldexp(1.0, -bits)};
      id = b.binary(ir::Op::Mul, id, b.scalar(n.dtype, f, /*intern=*/false));
    }
    map[i] = id;
  }
  std::vector<ir::NodeId> outs;
  for (ir::NodeId o : g.outputs()) outs.push_back(map[o]);
  return b.finish(outs);
}

/// The absolute error a float sum of many values may have: per reduction,
/// its largest input times the square root of how many it adds (a float
/// sum of N values drifts like sqrt(N) roundings of their size).
double sum_allowance(const ir::Graph& g, const std::vector<ir::RefValue>& all) {
  double a = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const ir::Node& n = g.node(static_cast<ir::NodeId>(i));
    if (n.op != ir::Op::Sum || !is_floating(n.dtype)) continue;
    const ir::RefValue& in = all[n.inputs[0]];
    double m = 0;
    for (int64_t k = 0; k < in.numel(); ++k)
      if (std::isfinite(in.as_double(k))) m = std::max(m, std::fabs(in.as_double(k)));
    const double count = static_cast<double>(in.numel()) / std::max<int64_t>(all[i].numel(), 1);
    a = std::max(a, m * std::sqrt(count));
  }
  return a;
}

/// Whether a product in `g` can overflow its accumulator (f32 for f16, bf16
/// and f32 values, as kernels keep it) on the way: then where a zero among its
/// inputs lands in the kernel's order decides between 0 and inf * 0 = NaN, and
/// the exact reference (which never overflows there) says 0. Found by the
/// fuzzer as `prod` of 64 integers in [-20, 20] cast to f16; PyTorch's
/// answer depends on the order the same way.
bool product_may_overflow(const ir::Graph& g, const std::vector<ir::RefValue>& all) {
  for (size_t i = 0; i < g.size(); ++i) {
    const ir::Node& n = g.node(static_cast<ir::NodeId>(i));
    if (n.op != ir::Op::Prod || !is_floating(n.dtype)) continue;
    const ir::RefValue& in = all[n.inputs[0]];
    double m = 0;
    for (int64_t k = 0; k < in.numel(); ++k)
      if (std::isfinite(in.as_double(k))) m = std::max(m, std::fabs(in.as_double(k)));
    const double count = static_cast<double>(in.numel()) / std::max<int64_t>(all[i].numel(), 1);
    const double limit = n.dtype == DType::f64 ? std::log(DBL_MAX) : std::log(FLT_MAX);
    if (m > 1 && count * std::log(m) > limit) return true;
  }
  return false;
}

/// "" when `got` (device values of `want`'s shape) matches the reference,
/// allowing what the reference itself moves by under a nudge (`moved`).
std::string compare(const std::vector<double>& got, const ir::RefValue& want, int depth,
                    DType graph_precision, double allowance, const std::vector<double>& moved,
                    bool overflow_possible) {
  const double tol =
      std::max(base_tol(want.dtype), is_floating(want.dtype) ? base_tol(graph_precision) : 0.0) *
      (1.0 + depth / 8.0);
  double scale = std::max(1.0, allowance);
  for (int64_t i = 0; i < want.numel(); ++i)
    if (std::isfinite(want.as_double(i))) scale = std::max(scale, std::fabs(want.as_double(i)));
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double g = got[i], w = want.as_double(i);
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    if (std::fabs(g - w) <= tol * scale + tol * std::fabs(w) + 4 * moved[i]) continue;
    if (std::isnan(moved[i])) continue;  // the reference itself is not stable here
    if (overflow_possible && !std::isfinite(g)) continue;  // an overflow on the way
    return fmt::format(
        "element {} of {} ({}): got {}, want {} (tol {:.3g}, scale {:.3g}, the reference moves "
        "{:.3g} under a rounding)",
        i, want.numel(), dtype_name(want.dtype), g, w, tol, scale, moved[i]);
  }
  return "";
}

struct Checker {
  int cuda_every = 0;
  int64_t graphs = 0, emulated = 0, elements = 0;
  std::vector<std::string> failures;

  void check(const ir::Graph& g, const std::vector<BufferView>& out) {
    ++graphs;
    const std::vector<ir::RefValue> every = ir::reference_eval(with_every_node(g));
    std::vector<ir::RefValue> want;
    for (ir::NodeId o : g.outputs()) want.push_back(every[o]);
    const int depth = depth_of(g);
    const DType precision = least_precise(g);
    const double allowance = sum_allowance(g, every);
    const bool overflow_possible = product_may_overflow(g, every);
    // How far each answer moves when every value moves by about a rounding.
    std::vector<std::vector<double>> moved(want.size());
    for (int sign : {1, -1}) {
      const std::vector<ir::RefValue> n = ir::reference_eval(nudged(g, sign));
      for (size_t k = 0; k < want.size(); ++k) {
        moved[k].resize(static_cast<size_t>(want[k].numel()), 0.0);
        for (int64_t i = 0; i < want[k].numel(); ++i) {
          const double a = n[k].as_double(i), w = want[k].as_double(i);
          const double d = (std::isnan(a) != std::isnan(w) || std::isinf(a) != std::isinf(w))
                               ? NAN
                               : (std::isfinite(a) && std::isfinite(w) ? std::fabs(a - w) : 0.0);
          moved[k][i] = std::isnan(moved[k][i]) ? moved[k][i]
                        : std::isnan(d)         ? d
                                                : std::max(moved[k][i], d);
        }
      }
    }
    auto check_outputs = [&](const std::vector<BufferView>& got, const char* where) {
      if (got.size() != want.size()) {
        failures.push_back(fmt::format("{}: {} outputs, want {}", where, got.size(), want.size()));
        return;
      }
      for (size_t k = 0; k < got.size(); ++k) {
        std::vector<double> v(static_cast<size_t>(want[k].numel()));
        for (int64_t i = 0; i < want[k].numel(); ++i)
          v[i] = load_as_double(got[k].data(), i, got[k].dtype);
        elements += want[k].numel();
        std::string why =
            compare(v, want[k], depth, precision, allowance, moved[k], overflow_possible);
        if (!why.empty())
          failures.push_back(fmt::format("{}, output {} of graph {:016x}: {}\n{}", where, k,
                                         g.hash(), why, ir::to_string(g)));
      }
    };
    check_outputs(out, "CPU");
    if (cuda_every > 0 && graphs % cuda_every == 0) {
      ++emulated;
      testing::EmulatedRun run = testing::run_cuda_emulated(g, graphs % (2 * cuda_every) == 0);
      if (!run.error.empty())
        failures.push_back("CUDA (emulated): " + run.error.substr(0, 2000));
      else
        check_outputs(run.outputs, "CUDA (emulated)");
    }
  }
};

Checker* g_checker = nullptr;

/// Runs `p` alone and says whether it fails (a mismatch, or an error).
bool fails(const fuzz::Program& p, std::string* why) {
  tj::sync();
  g_checker->failures.clear();
  try {
    fuzz::run(p);
    tj::sync();
  } catch (const std::exception& e) {
    *why = std::string("error: ") + e.what();
    g_checker->failures.clear();
    return true;
  }
  if (g_checker->failures.empty()) return false;
  *why = g_checker->failures[0];
  g_checker->failures.clear();
  return true;
}

/// Removes steps while the program still fails (and its failure is of the
/// same kind: a mismatch stays a mismatch).
fuzz::Program shrink(fuzz::Program p, std::string* why) {
  p.enabled.assign(p.steps.size(), 1);
  const bool was_error = why->rfind("error: ", 0) == 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = p.steps.size(); i-- > 0;) {
      if (!p.enabled[i]) continue;
      p.enabled[i] = 0;
      std::string w;
      if (fails(p, &w) && (w.rfind("error: ", 0) == 0) == was_error) {
        *why = w;
        changed = true;
      } else {
        p.enabled[i] = 1;
      }
    }
  }
  return p;
}

int usage(const char* msg) {
  std::fprintf(stderr,
               "program_fuzz: %s\nusage: program_fuzz [--seed S] [--programs N | --minutes M] "
               "[--batch B] [--steps K] [--cuda-every E] [--out DIR] [--quiet]\n",
               msg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.seed = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--seed")
      o.seed = std::strtoull(value().c_str(), nullptr, 0);
    else if (a == "--programs")
      o.programs = std::atoll(value().c_str());
    else if (a == "--minutes")
      o.minutes = std::atof(value().c_str());
    else if (a == "--batch")
      o.batch = std::max(1, std::atoi(value().c_str()));
    else if (a == "--steps")
      o.steps = std::max(1, std::atoi(value().c_str()));
    else if (a == "--cuda-every")
      o.cuda_every = std::atoi(value().c_str());
    else if (a == "--out")
      o.out = value();
    else if (a == "--quiet")
      o.quiet = true;
    else
      return usage(("unknown argument " + a).c_str());
  }
  if (!config().device) config().device = Device::cpu();
  Checker checker;
  checker.cuda_every = o.cuda_every;
  g_checker = &checker;
  jit::set_executed_hook(
      [](const ir::Graph& g, const std::vector<BufferView>& out) { g_checker->check(g, out); });
  const Clock::time_point t0 = Clock::now();
  auto elapsed_min = [&] {
    return std::chrono::duration<double>(Clock::now() - t0).count() / 60.0;
  };
  std::printf("program_fuzz: seed 0x%llx, %s, batches of %d, up to %d steps%s\n",
              static_cast<unsigned long long>(o.seed),
              o.minutes > 0 ? fmt::format("{} minutes", o.minutes).c_str()
                            : fmt::format("{} programs", o.programs).c_str(),
              o.batch, o.steps,
              o.cuda_every > 0
                  ? fmt::format(", every {}th graph emulated as CUDA", o.cuda_every).c_str()
                  : "");
  int64_t done = 0;
  int status = 0;
  for (int64_t b = 0;; ++b) {
    if (o.minutes > 0 ? elapsed_min() >= o.minutes : done >= o.programs) break;
    std::vector<fuzz::Program> batch;
    std::vector<Tensor> live;
    std::string error;
    try {
      for (int k = 0; k < o.batch && (o.minutes > 0 || done + k < o.programs); ++k) {
        std::vector<Tensor> mine;
        batch.push_back(
            fuzz::generate(o.seed + static_cast<uint64_t>(done + k) * 0x10001ull, o.steps, &mine));
        live.insert(live.end(), mine.begin(), mine.end());
      }
      tj::sync();
    } catch (const std::exception& e) {
      error = e.what();
    }
    done += static_cast<int64_t>(batch.size());
    live.clear();
    if (checker.failures.empty() && error.empty()) {
      if (!o.quiet && b % 20 == 0)
        std::printf("  %lld programs, %lld graphs checked (%lld emulated), %.1f min\n",
                    static_cast<long long>(done), static_cast<long long>(checker.graphs),
                    static_cast<long long>(checker.emulated), elapsed_min());
      continue;
    }
    // Which program of the batch fails on its own, and its smallest form.
    const std::string first = error.empty() ? checker.failures[0] : "error: " + error;
    checker.failures.clear();
    bool found = false;
    for (const fuzz::Program& p : batch) {
      std::string why;
      if (!fails(p, &why)) continue;
      found = true;
      fuzz::Program small = shrink(p, &why);
      const std::string cpp = fuzz::to_cpp(small);
      std::printf("\nFAILED: program seed 0x%llx: %s\n---- reproducer ----\n%s--------\n",
                  static_cast<unsigned long long>(p.seed), why.c_str(), cpp.c_str());
      if (!o.out.empty()) {
        std::ofstream(fmt::format("{}/repro-{:x}.cpp", o.out, p.seed)) << cpp;
      }
      status = 1;
      break;
    }
    if (!found) {
      std::printf("\nFAILED: a batch failed but no program alone does (they interact): %s\n",
                  first.c_str());
      status = 1;
    }
    break;
  }
  jit::set_executed_hook({});
  std::printf(
      "program_fuzz: %lld programs, %lld graphs, %lld elements checked, %lld graphs "
      "emulated as CUDA, %.1f min: %s\n",
      static_cast<long long>(done), static_cast<long long>(checker.graphs),
      static_cast<long long>(checker.elements), static_cast<long long>(checker.emulated),
      elapsed_min(), status == 0 ? "no mismatch" : "FAILED");
  return status;
}
