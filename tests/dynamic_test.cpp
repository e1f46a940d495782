// Dynamic sizes (scheduler/dynamic.h): a graph structure flushed with a new
// outermost size reuses its plan and kernels. Every flush here is checked
// against the reference evaluator; the counters show what was scheduled and
// compiled. Each test uses feature sizes of its own, so that plans and
// kernels other tests made in this process are not found.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "check_flush.h"
#include "cuda_emulator.h"
#include "jit/cpu/printer.h"
#include "jit/cuda/printer.h"
#include "jit/executor.h"
#include "scheduler/dynamic.h"
#include "scheduler/make_plan.h"
#include "test_util.h"
#include "trace/trace.h"

namespace tj {
namespace {

/// What one flush of a loop body scheduled and compiled.
struct Flushed {
  int64_t misses = 0, kernels = 0, dynamic_hits = 0;
};

/// Runs `body(s)` for each size, evaluating its outputs; what each size's
/// flushes scheduled and compiled (kernels compiled or loaded from disk).
std::vector<Flushed> run_sizes(const std::vector<int64_t>& sizes,
                               const std::function<std::vector<Tensor>(int64_t)>& body) {
  std::vector<Flushed> out;
  for (int64_t s : sizes) {
    const Stats a = stats();
    for (const Tensor& t : body(s)) t.eval();
    const Stats b = stats();
    out.push_back(
        {b.plan_misses - a.plan_misses,
         (b.kernels_compiled - a.kernels_compiled) + (b.cache_disk_hits - a.cache_disk_hits),
         b.dynamic_hits - a.dynamic_hits});
  }
  return out;
}

std::vector<int64_t> sizes_from(int64_t first, int64_t step, int n) {
  std::vector<int64_t> s;
  for (int i = 0; i < n; ++i) s.push_back(first + step * i);
  return s;
}

/// From the third size on nothing is scheduled or compiled.
void expect_reused_from_third(const std::vector<Flushed>& f, const char* what) {
  ASSERT_GE(f.size(), 3u);
  EXPECT_GT(f[0].misses, 0) << what;
  for (size_t i = 2; i < f.size(); ++i) {
    EXPECT_EQ(f[i].misses, 0) << what << ", size #" << i;
    EXPECT_EQ(f[i].kernels, 0) << what << ", size #" << i;
    EXPECT_GT(f[i].dynamic_hits, 0) << what << ", size #" << i;
  }
}

TEST(DynamicTest, BatchLoopCompilesItsKernelsOnce) {
  testing::CheckEveryFlush check;
  manual_seed(11);
  Tensor w = randn({96, 96}) * 0.1, b = randn({96});
  w.eval();
  b.eval();
  const Stats before = stats();
  std::vector<Flushed> f = run_sizes(sizes_from(7, 7, 12), [&](int64_t n) {
    Tensor x = randn({n, 96});
    return std::vector<Tensor>{softmax(gelu(linear(x, w, b)), -1)};
  });
  expect_reused_from_third(f, "softmax(gelu(linear))");
  const Stats after = stats();
  EXPECT_EQ(after.dynamic_compiles - before.dynamic_compiles, 1);
  // The first size's kernels and the dynamic ones: at most twice one size's.
  EXPECT_LE(f[0].kernels + f[1].kernels, 2 * std::max<int64_t>(f[0].kernels, 1));
  EXPECT_GE(check.flushes, 12);
}

TEST(DynamicTest, ValuesAreTheStaticPlansValues) {
  auto body = [](int64_t n) {
    std::vector<float> xs(static_cast<size_t>(n * 40)), ws(40 * 24);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>((i * 37 % 101) - 50) / 25;
    for (size_t i = 0; i < ws.size(); ++i) ws[i] = static_cast<float>((i * 13 % 29) - 14) / 40;
    Tensor x = from_vector(xs, {n, 40}), w = from_vector(ws, {24, 40});
    Tensor h = relu(linear(x, w)) * 0.5 + 1;
    return std::vector<Tensor>{layer_norm(h, {24}), log_softmax(h, 1), h.sum({1}), argmax(h, 1)};
  };
  const std::vector<int64_t> sizes{3, 5, 8, 13, 21};
  std::vector<std::vector<std::vector<double>>> dyn, fixed;
  for (bool dynamic : {true, false}) {
    ConfigGuard g;
    g->dynamic = dynamic;
    for (int64_t n : sizes) {
      std::vector<std::vector<double>> v;
      for (const Tensor& t : body(n)) v.push_back(t.to_vector<double>());
      (dynamic ? dyn : fixed).push_back(std::move(v));
    }
  }
  ASSERT_EQ(dyn.size(), fixed.size());
  for (size_t i = 0; i < dyn.size(); ++i)
    for (size_t k = 0; k < dyn[i].size(); ++k)
      EXPECT_TRUE(testing::all_close(dyn[i][k], fixed[i][k], 1e-6, 1e-6))
          << "size " << sizes[i] << ", output " << k;
}

TEST(DynamicTest, RowScanSortAndGatherKernelsTakeASymbolicBatch) {
  testing::CheckEveryFlush check;
  manual_seed(12);
  Tensor table = randn({50, 20});
  table.eval();
  std::vector<Flushed> f = run_sizes(sizes_from(4, 3, 6), [&](int64_t n) {
    Tensor x = randn({n, 44});
    Tensor idx = (arange(0, n) * 7) % 50;
    std::vector<Tensor> out{layer_norm(x, {44}),
                            x.max({1}),
                            argmax(x, 1),
                            cumsum(x, 1),
                            std::get<0>(sort(x, 1)),
                            index_select(table, 0, idx) * 2};
    return out;
  });
  expect_reused_from_third(f, "row, scan, sort and gather kernels");
  EXPECT_GE(check.flushes, 6);
}

TEST(DynamicTest, BatchedMatmulAndMultiplesOfTheSymbol) {
  testing::CheckEveryFlush check;
  manual_seed(13);
  Tensor w = randn({10, 7});
  w.eval();
  std::vector<Flushed> f = run_sizes(sizes_from(2, 5, 5), [&](int64_t n) {
    Tensor a = randn({n, 6, 10});
    Tensor y = matmul(a, w);                            // [n, 6, 7]
    Tensor z = softmax(y.reshape({n * 6, 7}), -1) + 1;  // [6n, 7]: dim 0 is 6 s0
    Tensor c = cat({y, y * 2}, 2);                      // offsets along a fixed dim
    return std::vector<Tensor>{z, c, matmul(a, a.transpose(1, 2))};
  });
  expect_reused_from_third(f, "batched matmul, reshape and cat");
  EXPECT_GE(check.flushes, 5);
}

TEST(DynamicTest, DecodingOverAPreallocatedCacheCompilesOnce) {
  testing::CheckEveryFlush check;
  const int64_t h = 4, d = 16, max = 20;
  Tensor kc = zeros({h, max, d}), vc = zeros({h, max, d});
  kc.eval();
  vc.eval();
  std::vector<int64_t> lens;
  for (int64_t len = 1; len <= max; ++len) lens.push_back(len);
  std::vector<Flushed> f = run_sizes(lens, [&](int64_t len) {
    Tensor pos = from_vector(std::vector<int64_t>{len - 1});
    kc.index_copy_(1, pos, randn({h, 1, d}));
    vc.index_copy_(1, pos, randn({h, 1, d}));
    Tensor q = randn({h, 1, d});
    Tensor att = softmax(matmul(q, kc.narrow(1, 0, len).transpose(1, 2)) * 0.25, -1);
    return std::vector<Tensor>{matmul(att, vc.narrow(1, 0, len)), kc, vc};
  });
  // len 1 is planned apart, 2 and 3 make the dynamic plan, then nothing is
  // planned or compiled until the view is the whole cache (a plan of its own).
  for (size_t i = 3; i + 1 < f.size(); ++i) {
    EXPECT_EQ(f[i].misses, 0) << "len " << lens[i];
    EXPECT_EQ(f[i].kernels, 0) << "len " << lens[i];
  }
  EXPECT_GE(check.flushes, static_cast<int>(max));
}

TEST(DynamicTest, DecodingWithACacheGrownByCatCompilesOnce) {
  testing::CheckEveryFlush check;
  const int64_t h = 3, d = 12;
  Tensor kc = randn({h, 1, d}), vc = randn({h, 1, d});
  std::vector<int64_t> lens;
  for (int64_t len = 2; len <= 24; ++len) lens.push_back(len);
  std::vector<Flushed> f = run_sizes(lens, [&](int64_t) {
    // One graph holds the old length and the new one, len + 1: linear in
    // the symbol, confirmed by a third length.
    kc = cat({kc, randn({h, 1, d})}, 1);
    vc = cat({vc, randn({h, 1, d})}, 1);
    Tensor att = softmax(matmul(randn({h, 1, d}), kc.transpose(1, 2)) * 0.3, -1);
    return std::vector<Tensor>{matmul(att, vc), kc, vc};
  });
  // The old length 1 is planned apart; 2 -> 3 and 3 -> 4 make an affine
  // plan, 4 -> 5 confirms it; then nothing is planned or compiled.
  for (size_t i = 4; i < f.size(); ++i) {
    EXPECT_EQ(f[i].misses, 0) << "len " << lens[i];
    EXPECT_EQ(f[i].kernels, 0) << "len " << lens[i];
    EXPECT_GT(f[i].dynamic_hits, 0) << "len " << lens[i];
  }
  EXPECT_GE(check.flushes, static_cast<int>(lens.size()));
}

TEST(DynamicTest, SizesThatAreLinearInTheSymbolAreDynamic) {
  testing::CheckEveryFlush check;
  std::vector<Flushed> f = run_sizes(sizes_from(4, 3, 6), [&](int64_t n) {
    Tensor x = randn({5, 2 * n + 3});
    return std::vector<Tensor>{softmax(x, -1), sum(x, 0), narrow(x, 1, 1, 2 * n).exp()};
  });
  // Affine: the third size confirms what the first two made.
  for (size_t i = 3; i < f.size(); ++i) {
    EXPECT_EQ(f[i].misses, 0) << "size #" << i;
    EXPECT_EQ(f[i].kernels, 0) << "size #" << i;
    EXPECT_GT(f[i].dynamic_hits, 0) << "size #" << i;
  }
  EXPECT_GE(check.flushes, 6);
}

TEST(DynamicTest, ReductionsAndStridesOverTheChangingDimAreDynamicToo) {
  testing::CheckEveryFlush check;
  std::vector<Flushed> f = run_sizes(sizes_from(9, 4, 5), [&](int64_t n) {
    Tensor x = randn({n, 17});
    // The transposed copy [17, n] has a stride of n, its slice an offset of 2n.
    Tensor t = x.transpose(0, 1).contiguous();
    return std::vector<Tensor>{x.sum({0}) * 3, softmax(x, 0), argmin(x, 0), t,
                               t.slice(0, 2, 9, 3) + 1};
  });
  expect_reused_from_third(f, "reductions, strides and offsets in s0");
  EXPECT_GE(check.flushes, 5);
}

TEST(DynamicTest, KernelsThatDifferOnlyInTheirMultipleOfTheSymbolShareOneName) {
  testing::CheckEveryFlush check;
  std::vector<Flushed> f = run_sizes(sizes_from(3, 2, 5), [&](int64_t n) {
    Tensor x = from_vector(std::vector<float>(static_cast<size_t>(n * 4), 0.5f), {n, 4});
    Tensor z = from_vector(std::vector<float>(static_cast<size_t>(n * 8), 0.25f), {n, 8});
    return std::vector<Tensor>{exp(x), exp(z)};  // pointwise over [4 s0] and [8 s0]
  });
  expect_reused_from_third(f, "two exp kernels");
  EXPECT_GE(check.flushes, 5);
}

TEST(DynamicTest, SizesThatAreNotLinearInOneSymbolStayStatic) {
  testing::CheckEveryFlush check;
  const Stats before = stats();
  std::vector<Flushed> f = run_sizes(sizes_from(5, 3, 5), [&](int64_t n) {
    // The first two fit the line 13 n - 40 (as any two sizes fit a line);
    // the third does not.
    Tensor x = randn({n, n * n});
    return std::vector<Tensor>{exp(x) * 3};
  });
  for (const Flushed& x : f) {
    EXPECT_GT(x.misses, 0);
    EXPECT_EQ(x.dynamic_hits, 0);
  }
  EXPECT_EQ(stats().dynamic_compiles - before.dynamic_compiles, 0);
  EXPECT_GE(check.flushes, 4);
}

TEST(DynamicTest, ALongReductionIsSplitAsInItsOwnPlan) {
  // Two short sums make the plan dynamic; 2^20 values of 0.1 must still be
  // summed in two stages (a single f32 running sum is off by about 1e-3).
  std::vector<double> got;
  std::vector<Flushed> f = run_sizes({300, 700, 1100, int64_t{1} << 20}, [&](int64_t n) {
    Tensor s = full({n}, 0.1f).exp().log().sum();
    got.push_back(s.item<double>());
    return std::vector<Tensor>{s};
  });
  EXPECT_GT(f[2].dynamic_hits, 0);
  EXPECT_GT(f[3].misses, 0);
  const double want = static_cast<double>(0.1f) * (1 << 20);
  EXPECT_NEAR(got[3], want, want * 1e-4);
}

TEST(DynamicTest, SizesZeroAndOneArePlannedApart) {
  testing::CheckEveryFlush check;
  std::vector<Flushed> f = run_sizes({6, 10, 1, 14, 0, 1, 18}, [&](int64_t n) {
    Tensor x = randn({n, 29});
    return std::vector<Tensor>{softmax(x * 2, -1), x.exp().sum({1})};
  });
  ASSERT_EQ(f.size(), 7u);
  EXPECT_GT(f[2].misses, 0);  // s0 = 1: its own static plan
  EXPECT_EQ(f[3].misses, 0);
  EXPECT_GT(f[3].dynamic_hits, 0);
  EXPECT_GT(f[4].misses, 0);  // s0 = 0
  EXPECT_EQ(f[5].misses, 0);  // s0 = 1 again: the plan cache has it
  EXPECT_EQ(f[5].dynamic_hits, 0);
  EXPECT_GT(f[6].dynamic_hits, 0);
  EXPECT_GE(check.flushes, 6);  // the empty flush computes nothing
}

TEST(DynamicTest, StaticModeCompilesEverySize) {
  ConfigGuard g;
  g->dynamic = false;
  std::vector<Flushed> f = run_sizes(sizes_from(3, 2, 4), [&](int64_t n) {
    return std::vector<Tensor>{tanh(randn({n, 31})) * 3};
  });
  for (const Flushed& x : f) {
    EXPECT_GT(x.misses, 0);
    EXPECT_EQ(x.dynamic_hits, 0);
  }
}

TEST(DynamicTest, TheDynamicKernelReadsItsSizeAtLaunch) {
  std::vector<sched::Plan> plans;
  std::function<void(const sched::Plan&)> outer;
  outer = jit::set_new_plan_hook([&](const sched::Plan& p) {
    plans.push_back(p);
    if (outer) outer(p);  // the suite's NVRTC check
  });
  for (int64_t n : {5, 8}) (sigmoid(randn({n, 23})) - 0.5).eval();
  jit::set_new_plan_hook(outer);
  ASSERT_EQ(plans.size(), 2u);
  int dynamic = 0;
  for (const ir::Kernel& k : plans[1].kernels) {
    if (!k.dynamic) continue;
    ++dynamic;
    EXPECT_NE(ir::to_string(k).find("[s0"), std::string::npos) << ir::to_string(k);
    // What the kernel cache's listing shows for its shapes.
    EXPECT_EQ(ir::domain_string(k, /*instance=*/false).rfind("[s0", 0), 0u);
    const std::string src = jit::print_cpp_kernel(k);
    EXPECT_NE(src.find("tj_s0 = ip["), std::string::npos) << src;
    // Another size of the symbol: the same source, and the same name.
    ir::Kernel other = k;
    other.domain[0] *= 3;
    other.tile.block *= 3;
    EXPECT_EQ(jit::print_cpp_kernel(other), src);
    EXPECT_EQ(ir::identity_string(other), ir::identity_string(k));
  }
  EXPECT_GT(dynamic, 0);
}

/// The graph of the one flush of `body(s)`, for each size.
std::vector<ir::Graph> graphs_of(const std::vector<int64_t>& sizes,
                                 const std::function<Tensor(int64_t)>& body) {
  std::vector<ir::Graph> out;
  for (int64_t s : sizes) {
    sync();
    std::vector<ir::Graph> got;
    trace::set_flush_observer([&](const ir::Graph& g) { got.push_back(g); });
    body(s).eval();
    trace::set_flush_observer({});
    EXPECT_EQ(got.size(), 1u) << "size " << s;
    if (!got.empty()) out.push_back(got.back());
  }
  return out;
}

// The CUDA dialect of dynamic plans: the first two sizes make the plan (for
// an emulated GPU's target), every size after them is an instance of it run
// on the CUDA emulation (tests/cuda_emulation.h) with the grid of its own
// sizes, and checked against the reference evaluator. Sizes are odd, not
// multiples of the vector width and large (rows longer than a warp's and a
// block's). A kernel compiled once per layout: equal names, equal source.
TEST(DynamicTest, CudaKernelsReadTheirSizesAtLaunch) {
  const Tensor w = randn({40, 24}), b = randn({40}), cache = randn({3, 600, 8});
  w.eval();
  b.eval();
  cache.eval();
  struct Workload {
    const char* name;
    std::vector<int64_t> sizes;
    std::function<Tensor(int64_t)> body;
    bool one_layout;  // only the batch changes: every instance shares each kernel
  };
  const std::vector<Workload> workloads = {
      {"softmax over a changing row",
       {5, 9, 2, 3, 16, 17, 33, 100, 1030, 4099},
       [](int64_t n) {
         return softmax(randn({6, n}) * 2, -1);
       },
       false},
      {"layer_norm of a changing batch",
       {3, 5, 2, 7, 64, 1001},
       [](int64_t n) {
         return layer_norm(randn({n, 48}), {48});
       },
       true},
      {"gelu(linear) of a changing batch",
       {3, 5, 2, 9, 130},
       [&](int64_t n) {
         return gelu(linear(randn({n, 24}), w, b));
       },
       true},
      {"a sum over the changing dim",
       {4, 6, 2, 11, 333},
       [](int64_t n) {
         return sum(exp(randn({n, 20})), 0);
       },
       false},
      {"attention over a cache view",
       {4, 7, 2, 31, 64, 599},
       [&](int64_t n) {
         Tensor kv = narrow(cache, 1, 0, n);
         Tensor att = softmax(matmul(randn({3, 1, 8}), kv.transpose(1, 2)), -1);
         return matmul(att, kv);
       },
       false},
  };
  const sched::Target target = testing::emulated_target();
  for (const Workload& wl : workloads) {
    SCOPED_TRACE(wl.name);
    const std::vector<ir::Graph> gs = graphs_of(wl.sizes, wl.body);
    ASSERT_EQ(gs.size(), wl.sizes.size());
    const sched::Generalized gz = sched::generalize(gs[0], sched::make_plan(gs[0], target), gs[1],
                                                    sched::make_plan(gs[1], target), target);
    ASSERT_TRUE(gz.plan) << gz.why_not;
    ASSERT_GT(gz.plan->dynamic_kernels, 0);
    std::map<std::string, std::string> source;              // variant name -> CUDA source
    std::map<std::string, std::set<std::string>> variants;  // kernel name -> variant names
    for (size_t i = 2; i < gs.size(); ++i) {
      const std::string what = fmt::format("{}, size {}", wl.name, wl.sizes[i]);
      std::string why;
      std::optional<sched::Plan> p = sched::instantiate(*gz.plan, gs[i], target, &why);
      if (wl.sizes[i] < 2) {  // planned apart
        EXPECT_FALSE(p) << what;
        continue;
      }
      ASSERT_TRUE(p) << what << ": " << why;
      for (const ir::Kernel& k : p->kernels) {
        if (!k.has_symbols()) continue;
        const std::string name = jit::cuda_variant_name(k);
        ir::Kernel named = k;
        named.name = name;
        const std::string src = jit::print_cuda_kernel(named);
        EXPECT_NE(src.find("p.s[0]"), std::string::npos) << src;
        auto [it, fresh] = source.emplace(name, src);
        if (!fresh) EXPECT_EQ(it->second, src) << what << ": " << name;
        variants[k.name].insert(name);
      }
      // The scalar entries (misaligned arguments) at the largest size.
      for (bool scalar : {false, true}) {
        if (scalar && i + 1 != gs.size()) continue;
        const testing::EmulatedRun run = testing::run_cuda_emulated(gs[i], *p, scalar);
        ASSERT_TRUE(run.error.empty()) << run.error;
        testing::expect_reference_values(run.outputs, ir::reference_eval(gs[i]),
                                         what + (scalar ? " (scalar entries)" : ""));
      }
    }
    EXPECT_FALSE(variants.empty());
    if (wl.one_layout)
      for (const auto& [k, names] : variants) EXPECT_EQ(names.size(), 1u) << k;
  }
}

TEST(DynamicTest, TheTraceSaysWhenADimBecameDynamic) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("tj_dynamic_trace_" + std::to_string(getpid()));
  {
    ConfigGuard g;
    g->trace = file.string();
    for (int64_t n : {4, 6, 9}) (cos(randn({n, 37})) * 2).eval();
  }
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(file);
  const std::string t = text.str();
  EXPECT_NE(t.find("changed 4 -> 6: compiling dynamic"), std::string::npos) << t;
  EXPECT_NE(t.find("dynamic plan, s0=9"), std::string::npos) << t;
}

}  // namespace
}  // namespace tj
