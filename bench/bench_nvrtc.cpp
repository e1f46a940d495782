// NVRTC compile time of typical fused kernels, on any machine with the CUDA
// toolkit (no GPU needed): each sample is a distinct kernel (a new shape),
// printed as CUDA and compiled for sm_90 as the CUDA backend does on first
// use (CUBIN, ptxas's report on). Prints the median, min and max per kind.
//
//   bench_nvrtc [samples per kind, default 9]
#include <fmt/format.h>
#include <tilejit/tilejit.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "jit/cuda/nvrtc.h"
#include "jit/cuda/printer.h"
#include "scheduler/make_plan.h"
#include "trace/trace.h"

namespace {

/// The kernels of the GPU plan of the last flush `build` causes (inputs are
/// computed in earlier flushes).
std::vector<tj::ir::Kernel> gpu_kernels(const std::function<tj::Tensor()>& build) {
  std::vector<tj::ir::Graph> graphs;
  tj::trace::set_flush_observer([&](const tj::ir::Graph& g) { graphs.push_back(g); });
  { tj::Tensor y = build().eval(); }
  tj::trace::set_flush_observer({});
  tj::sched::Target t;
  t.name = "cuda";
  t.threads = 132 * 4;
  t.vector_bytes = 16;
  t.l2_bytes = int64_t{50} << 20;
  return graphs.empty() ? std::vector<tj::ir::Kernel>{}
                        : tj::sched::make_plan(graphs.back(), t).kernels;
}

}  // namespace

int main(int argc, char** argv) {
  const int samples = argc > 1 ? std::max(1, std::atoi(argv[1])) : 9;
  std::string why;
  if (!tj::jit::cuda::nvrtc_available(&why)) {
    fmt::print("bench_nvrtc: skipped: {}\n", why);
    return 0;
  }
  const int v = tj::jit::cuda::nvrtc_version();
  fmt::print("NVRTC {}.{}, sm_90, {} distinct kernels per kind\n", v / 1000, v % 1000 / 10,
             samples);
  // NVRTC's own start-up (loading libnvrtc-builtins) is paid once per process.
  tj::jit::cuda::nvrtc_compile("extern \"C\" __global__ void k(float* a) { a[0] = 1; }", 90, "k");
  struct Kind {
    const char* name;
    std::function<tj::Tensor(int64_t)> build;
  };
  const std::vector<Kind> kinds = {
      {"chain8 (pointwise)",
       [](int64_t n) {
         tj::Tensor x = tj::randn({64, n}).eval();
         tj::Tensor t = x * 1.5 + 0.25;
         t = tj::tanh(t * tj::sigmoid(t));
         return t * x + x * x;
       }},
      {"softmax (row)",
       [](int64_t n) {
         return tj::softmax(tj::randn({64, n}).eval(), -1);
       }},
      {"layer_norm (row)",
       [](int64_t n) {
         tj::Tensor x = tj::randn({64, n}).eval();
         return tj::layer_norm(x, {n}, tj::ones({n}).eval(), tj::zeros({n}).eval());
       }},
      {"bias_gelu bf16 (pointwise)",
       [](int64_t n) {
         tj::Tensor x = tj::randn({64, n}).to(tj::bf16).eval();
         tj::Tensor b = tj::randn({n}).to(tj::bf16).eval();
         return tj::gelu(x + b);
       }},
  };
  fmt::print("{:<28} {:>10} {:>10} {:>10}\n", "kernel", "median ms", "min ms", "max ms");
  for (const Kind& k : kinds) {
    std::vector<double> ms;
    for (int s = 0; s < samples; ++s) {
      for (const tj::ir::Kernel& kernel : gpu_kernels([&] { return k.build(1024 + 8 * s); })) {
        ms.push_back(
            tj::jit::cuda::nvrtc_compile(tj::jit::print_cuda_unit({&kernel}), 90, kernel.name).ms);
      }
    }
    std::sort(ms.begin(), ms.end());
    fmt::print("{:<28} {:>10.1f} {:>10.1f} {:>10.1f}\n", k.name, ms[ms.size() / 2], ms.front(),
               ms.back());
  }
  return 0;
}
