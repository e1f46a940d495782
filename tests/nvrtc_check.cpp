// Linked into every test program: each kernel any test plans is also printed
// as CUDA and compiled with NVRTC for sm_80 and sm_90 (no GPU needed). A
// compile error fails the running test, and so does a pointwise or row
// kernel whose ptxas report shows register spills (an f64 kernel: more than
// libdevice's f64 exp and log slow paths save). At exit
// the program prints how many kernels were checked and the median compile
// time. It also makes the CPU the default device of every test program.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "jit/cuda/nvrtc.h"
#include "jit/cuda/printer.h"
#include "jit/executor.h"
#include "tilejit/config.h"
#include "tilejit/error.h"

namespace {

struct Checked {
  std::mutex mu;
  std::set<std::string> names;
  std::vector<double> ms;
};

Checked& checked() {
  static Checked* c = new Checked;
  return *c;
}

void check_kernel(const tj::ir::Kernel& k) {
  // The main unit, for both architectures. (Scalar variants, compiled on
  // demand for misaligned arguments, are compiled by cuda_codegen_test and
  // run by fusion_test's emulation.)
  const std::string source = tj::jit::print_cuda_unit({&k});
  auto compile = [&](int arch) { return tj::jit::cuda::nvrtc_compile(source, arch, k.name); };
  std::vector<tj::jit::cuda::CompiledImage> images;
  try {
    auto sm90 = std::async(std::launch::async, compile, 90);
    images.push_back(compile(80));
    images.push_back(sm90.get());
  } catch (const tj::Error& e) {
    ADD_FAILURE() << "the CUDA form of " << k.name << " does not compile:\n"
                  << e.what() << "\n---- source ----\n"
                  << source;
    return;
  }
  {
    std::lock_guard lock(checked().mu);
    for (const auto& im : images) checked().ms.push_back(im.ms);
  }
  if (k.kind == tj::ir::Kernel::Kind::matmul) return;  // fallback GEMM: correctness only
  // libdevice's f64 exp and log inline their rare slow paths (huge or tiny
  // arguments), which save a few registers around them: an f64 kernel may
  // spill that much.
  bool f64 = false;
  for (const tj::ir::KInstr& in : k.body) f64 = f64 || in.dtype == tj::DType::f64;
  const int64_t allowed = f64 ? 32 : 0;
  for (const auto& im : images) {
    for (const auto& r : tj::jit::cuda::parse_resource_usage(im.log)) {
      // Stack frames are allowed: libdevice's sinf/cosf keep their rare
      // huge-argument path there. Spills are not.
      if (r.spill_store_bytes > allowed || r.spill_load_bytes > allowed)
        ADD_FAILURE() << r.function << " (" << im.arch << ") spills: " << r.registers
                      << " registers, " << r.stack_bytes << " bytes stack, " << r.spill_store_bytes
                      << " bytes spill stores, " << r.spill_load_bytes << " bytes spill loads\n"
                      << im.log << "\n---- source ----\n"
                      << source;
    }
  }
}

void check_plan(const tj::sched::Plan& plan) {
  for (const tj::ir::Kernel& k : plan.kernels) {
    {
      std::lock_guard lock(checked().mu);
      if (!checked().names.insert(k.name).second) continue;
    }
    check_kernel(k);
  }
}

class Report : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard lock(checked().mu);
    std::vector<double> ms = checked().ms;
    if (ms.empty()) return;
    std::sort(ms.begin(), ms.end());
    std::printf("nvrtc: %zu kernels compiled for sm_80 and sm_90, median %.1f ms, max %.1f ms\n",
                checked().names.size(), ms[ms.size() / 2], ms.back());
  }
};

struct Install {
  Install() {
    // Tests are written for the CPU unless they ask for a device (the Cuda
    // suites and instances do): on a machine with a GPU, `auto` would move
    // them all there. TILEJIT_DEVICE still wins.
    if (!tj::config().device) tj::config().device = tj::Device::cpu();
    std::string why;
    if (!tj::jit::cuda::nvrtc_available(&why)) {
      std::printf("nvrtc: CUDA kernels are not compiled in this run: %s\n", why.c_str());
      return;
    }
    tj::jit::set_new_plan_hook(check_plan);
    ::testing::AddGlobalTestEnvironment(new Report);
  }
} install;

}  // namespace
