// The CUDA printer's decisions, checked without a GPU: thread mapping and
// vector widths (cuda_launch_info), registers and spills from ptxas's
// report, vector loads and stores in the PTX, rows read once, and which
// GEMM epilogues cuBLASLt computes in the GEMM call. (Every kernel of every
// test is also compiled for sm_80 and sm_90 by tests/nvrtc_check.cpp, and
// fusion_test runs them on a CPU emulation against the reference.)
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "jit/cuda/gemm.h"
#include "jit/cuda/nvrtc.h"
#include "jit/cuda/printer.h"
#include "scheduler/make_plan.h"
#include "tilejit/tilejit.h"
#include "trace/trace.h"

namespace tj {
namespace {

sched::Target gpu_target() {
  sched::Target t;
  t.name = "cuda";
  t.threads = 132 * 4;
  t.vector_bytes = 16;
  t.l2_bytes = int64_t{50} << 20;
  return t;
}

/// The GPU plan of the one flush `build` causes (computed on the CPU).
template <class Fn>
sched::Plan gpu_plan(Fn build) {
  sync();
  std::vector<ir::Graph> graphs;
  trace::set_flush_observer([&](const ir::Graph& g) { graphs.push_back(g); });
  {
    auto outs = build();
    sync();
  }
  trace::set_flush_observer({});
  EXPECT_EQ(graphs.size(), 1u);
  return sched::make_plan(graphs.at(0), gpu_target());
}

ir::Kernel only_kernel_of_kind(const sched::Plan& p, ir::Kernel::Kind kind) {
  const ir::Kernel* found = nullptr;
  for (const ir::Kernel& k : p.kernels)
    if (k.kind == kind) {
      EXPECT_EQ(found, nullptr) << "more than one kernel of this kind";
      found = &k;
    }
  EXPECT_NE(found, nullptr);
  return found ? *found : ir::Kernel{};
}

int count(const std::string& text, const std::string& pattern) {
  std::regex r(pattern);
  return static_cast<int>(
      std::distance(std::sregex_iterator(text.begin(), text.end(), r), std::sregex_iterator()));
}

/// PTX of the kernel's vector (or only) entry point.
std::string ptx_of_entry(const ir::Kernel& k) {
  const std::string ptx =
      jit::cuda::nvrtc_compile(jit::print_cuda_unit({&k}), 90, k.name, /*ptx=*/true).image;
  const std::string head = ".entry " + k.name + "(";
  size_t a = ptx.find(head);
  EXPECT_NE(a, std::string::npos) << ptx;
  size_t b = ptx.find(".entry ", a + head.size());
  return ptx.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

class CudaCodegenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!jit::cuda::nvrtc_available(&why)) GTEST_SKIP() << why;
  }
};

TEST_F(CudaCodegenTest, PointwiseVectorWidthFollowsTheWidestContiguousAccess) {
  Tensor x = randn({256, 1024}).eval(), h = randn({256, 1024}).to(f16).eval();
  auto f32 = jit::cuda_launch_info(only_kernel_of_kind(
      gpu_plan([&] { return std::vector<Tensor>{exp(x) * 2}; }), ir::Kernel::Kind::pointwise));
  EXPECT_EQ(f32.vec, 4);  // 16 bytes of f32
  EXPECT_EQ(f32.block, 256);
  EXPECT_EQ(f32.grid, 256 * 1024 / 4 / 256);
  EXPECT_EQ(f32.scalar_name, f32.name + "_s");
  EXPECT_EQ(f32.align_bytes, (std::vector<int32_t>{16, 16}));
  auto half = jit::cuda_launch_info(only_kernel_of_kind(
      gpu_plan([&] { return std::vector<Tensor>{exp(h) * 2}; }), ir::Kernel::Kind::pointwise));
  EXPECT_EQ(half.vec, 8);  // 16 bytes of f16
  // A row of 1023 cannot hold whole vectors: one element per thread, no
  // alignment needed, so no scalar variant.
  Tensor odd = randn({5, 1023}).eval();
  auto scalar = jit::cuda_launch_info(only_kernel_of_kind(
      gpu_plan([&] { return std::vector<Tensor>{odd * 3}; }), ir::Kernel::Kind::pointwise));
  EXPECT_EQ(scalar.vec, 1);
  EXPECT_TRUE(scalar.scalar_name.empty());
}

TEST_F(CudaCodegenTest, ScalarVariantsAreSeparateUnits) {
  Tensor x = randn({64, 1024}).eval();
  const ir::Kernel k = only_kernel_of_kind(gpu_plan([&] { return std::vector<Tensor>{x * 2}; }),
                                           ir::Kernel::Kind::pointwise);
  const std::string main = jit::print_cuda_unit({&k});
  const std::string scalar = jit::print_cuda_unit({&k}, jit::CudaEntries::scalar);
  EXPECT_NE(main.find("void __launch_bounds__(256) " + k.name + "("), std::string::npos);
  EXPECT_EQ(main.find(k.name + "_s("), std::string::npos);
  EXPECT_EQ(scalar.find("void __launch_bounds__(256) " + k.name + "("), std::string::npos);
  EXPECT_NE(scalar.find(k.name + "_s("), std::string::npos);
  EXPECT_NO_THROW(jit::cuda::nvrtc_compile(scalar, 80, k.name + "_s"));
  // A kernel without vector accesses has no scalar variant to ask for.
  Tensor odd = randn({3, 7}).eval();
  const ir::Kernel plain = only_kernel_of_kind(
      gpu_plan([&] { return std::vector<Tensor>{odd * 2}; }), ir::Kernel::Kind::pointwise);
  EXPECT_THROW(jit::print_cuda_unit({&plain}, jit::CudaEntries::scalar), Error);
}

TEST_F(CudaCodegenTest, PointwiseKernelsMoveVectors) {
  Tensor x = randn({512, 1024}).eval();
  const ir::Kernel k = only_kernel_of_kind(
      gpu_plan([&] { return std::vector<Tensor>{x * 1.5 + 0.25}; }), ir::Kernel::Kind::pointwise);
  const std::string ptx = ptx_of_entry(k);
  EXPECT_EQ(count(ptx, R"(ld\.global\.nc\.v4\.f32)"), 1) << ptx;
  EXPECT_EQ(count(ptx, R"(st\.global\.v4\.f32)"), 1) << ptx;
  EXPECT_EQ(count(ptx, R"(ld\.global\.nc\.f32)"), 0) << ptx;
}

TEST_F(CudaCodegenTest, TransposedInputIsReadElementByElement) {
  Tensor x = randn({1024, 512}).eval();
  const ir::Kernel k = only_kernel_of_kind(gpu_plan([&] { return std::vector<Tensor>{x.t() + 1}; }),
                                           ir::Kernel::Kind::pointwise);
  auto info = jit::cuda_launch_info(k);
  ASSERT_EQ(info.vec, 4);
  EXPECT_EQ(info.vector_args.size(), 1u);  // the output only
  const std::string ptx = ptx_of_entry(k);
  EXPECT_EQ(count(ptx, R"(ld\.global\.nc\.f32)"), 4) << ptx;
  EXPECT_EQ(count(ptx, R"(st\.global\.v4\.f32)"), 1) << ptx;
}

/// Softmax and layer_norm rows of 1K, 4K and 16K elements are held in
/// registers: the input is loaded with one vector load per element group,
/// once, with no spills and no stack.
TEST_F(CudaCodegenTest, NormalizationRowsAreReadOnceFromRegisters) {
  for (int64_t n : {1024, 4096, 16384}) {
    Tensor x = randn({64, n}).eval(), w = randn({n}).eval(), b = randn({n}).eval();
    for (int which = 0; which < 2; ++which) {
      const ir::Kernel k = only_kernel_of_kind(
          gpu_plan([&] {
            return std::vector<Tensor>{which == 0 ? softmax(x, -1) : layer_norm(x, {n}, w, b)};
          }),
          ir::Kernel::Kind::row);
      SCOPED_TRACE(k.name + " over " + std::to_string(n));
      const auto info = jit::cuda_launch_info(k);
      const std::string ptx = ptx_of_entry(k);
      const int64_t per_thread = n / (info.block >= 256 ? info.block : 32);
      // x once (+ weight and bias once each for layer_norm)
      EXPECT_EQ(count(ptx, R"(ld\.global\.nc\.v4\.f32)"), (which == 0 ? 1 : 3) * per_thread / 4)
          << jit::print_cuda_kernel(k);
      EXPECT_EQ(count(ptx, R"(ld\.global\.nc\.f32)"), 0);
      const auto im = jit::cuda::nvrtc_compile(jit::print_cuda_unit({&k}), 90, k.name);
      for (const auto& r : jit::cuda::parse_resource_usage(im.log)) {
        EXPECT_EQ(r.spill_store_bytes + r.spill_load_bytes, 0) << im.log;
        EXPECT_EQ(r.stack_bytes, 0) << im.log;
        EXPECT_LE(r.registers, 128) << im.log;
      }
    }
  }
}

TEST_F(CudaCodegenTest, RowModeFollowsTheRowLength) {
  auto row_info = [](int64_t rows, int64_t n) {
    Tensor x = randn({rows, n}).eval();
    return jit::cuda_launch_info(only_kernel_of_kind(
        gpu_plan([&] { return std::vector<Tensor>{x.sum({1})}; }), ir::Kernel::Kind::row));
  };
  auto thread = row_info(10000, 8);  // a row per thread
  EXPECT_EQ(thread.block, 128);
  EXPECT_EQ(thread.grid, (10000 + 127) / 128);
  auto warp = row_info(1000, 512);  // a row per warp, 4 per block
  EXPECT_EQ(warp.block, 128);
  EXPECT_EQ(warp.grid, 250);
  auto block = row_info(600, 8192);  // a row per block
  EXPECT_EQ(block.block, 512);
  EXPECT_EQ(block.grid, 600);
}

TEST_F(CudaCodegenTest, GemmEpiloguesFuseIntoCublasLtWhereTheyMatch) {
  Tensor x = randn({64, 128}).eval(), w = randn({32, 128}).eval(), b = randn({32}).eval();
  auto epilogue = [&](auto build) {
    sched::Plan p = gpu_plan(build);
    for (size_t s = 0; s < p.steps.size(); ++s)
      if (p.kernels[p.steps[s].kernel].kind == ir::Kernel::Kind::matmul)
        return jit::cuda::gemm_epilogue_name(p, s);
    return std::string("no GEMM");
  };
  EXPECT_EQ(epilogue([&] { return std::vector<Tensor>{gelu(linear(x, w, b), "tanh")}; }),
            "bias_gelu");
  EXPECT_EQ(epilogue([&] { return std::vector<Tensor>{relu(linear(x, w, b))}; }), "bias_relu");
  EXPECT_EQ(epilogue([&] { return std::vector<Tensor>{linear(x, w, b)}; }), "bias");
  EXPECT_EQ(epilogue([&] { return std::vector<Tensor>{relu(matmul(x, w.t()))}; }), "relu");
  // cuBLASLt's GELU is the tanh form: the exact (erf) GELU keeps its kernel.
  EXPECT_EQ(epilogue([&] { return std::vector<Tensor>{gelu(linear(x, w, b))}; }), "");
  // The GEMM's result is also an output: it must be stored as it is.
  EXPECT_EQ(epilogue([&] {
              Tensor y = matmul(x, w.t());
              return std::vector<Tensor>{y, relu(y)};
            }),
            "");
}

}  // namespace
}  // namespace tj
