// The layers below the tracer on their own: this program links ir/,
// scheduler/, jit/ and cache/ (libtilejit_core) and not trace/ or the public
// API, builds graphs with ir::GraphBuilder, and runs them through the
// executor on the CPU backend against the reference evaluator. A lower
// layer that calls into trace/ fails to link here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "ir/graph.h"
#include "ir/reference_eval.h"
#include "jit/backend.h"
#include "jit/cpu/allocator.h"
#include "jit/executor.h"
#include "jit/options.h"
#include "jit/run_plan.h"
#include "scheduler/make_plan.h"

namespace tj {
namespace {

BufferView host_buffer(const Shape& shape, uint32_t seed) {
  BufferView v;
  v.dtype = DType::f32;
  v.shape = shape;
  v.strides = contiguous_strides(shape);
  const int64_t n = shape_numel(shape);
  v.storage = jit::backend(Device::cpu()).alloc(static_cast<size_t>(n) * sizeof(float));
  uint32_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    static_cast<float*>(v.storage->data)[i] = static_cast<float>(s >> 8) * 0x1p-24f * 4 - 2;
  }
  return v;
}

void expect_matches_reference(const ir::Graph& g, const std::vector<BufferView>& got) {
  const std::vector<ir::RefValue> want = ir::reference_eval(g);
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    ASSERT_EQ(got[k].numel(), want[k].numel());
    const float* p = static_cast<const float*>(got[k].data());
    for (int64_t i = 0; i < want[k].numel(); ++i)
      ASSERT_NEAR(p[i], want[k].f[i], 2e-5 + 2e-5 * std::abs(want[k].f[i]))
          << "output " << k << " element " << i;
  }
}

/// softmax(x * s) over rows, and a pointwise second output.
ir::Graph softmax_graph(const BufferView& x, double s) {
  ir::GraphBuilder b;
  const ir::NodeId in = b.buffer(x);
  const ir::NodeId sc = b.scalar(DType::f32, {.f = s});
  const ir::NodeId z = b.binary(ir::Op::Mul, in, sc);
  const ir::NodeId m = b.reduce(ir::Op::Max, z, {1});
  const ir::NodeId e = b.unary(ir::Op::Exp, b.binary(ir::Op::Sub, z, m));
  const ir::NodeId d = b.binary(ir::Op::Div, e, b.reduce(ir::Op::Sum, e, {1}));
  const ir::NodeId t = b.unary(ir::Op::Atan, b.unary(ir::Op::Tanh, in));
  return b.finish({d, t});
}

TEST(Core, ExecutorRunsGraphsWithoutTheTracer) {
  jit::Options opts;
  jit::OptionsScope scope(opts);
  BufferView x = host_buffer({33, 129}, 1);
  ir::Graph g = softmax_graph(x, 0.75);
  expect_matches_reference(g, jit::execute(g, Device::cpu()));
  // The same structure with another scalar value is a plan-cache hit.
  const jit::JitStats before = jit::jit_stats();
  ir::Graph g2 = softmax_graph(x, -1.25);
  EXPECT_EQ(g2.hash(), g.hash());
  expect_matches_reference(g2, jit::execute(g2, Device::cpu()));
  const jit::JitStats after = jit::jit_stats();
  EXPECT_EQ(after.plan_hits, before.plan_hits + 1);
  EXPECT_EQ(after.kernels_compiled, before.kernels_compiled);
}

TEST(Core, RunPlanReleasesEveryTemporary) {
  jit::Options opts;
  jit::OptionsScope scope(opts);
  BufferView a = host_buffer({64, 48}, 2), w = host_buffer({48, 40}, 3);
  ir::GraphBuilder b;
  const ir::NodeId mm = b.add(ir::Op::Matmul, {b.buffer(a), b.buffer(w)}, {});
  const ir::NodeId r = b.unary(ir::Op::Sigmoid, mm);
  const ir::NodeId s = b.reduce(ir::Op::Sum, r, {0, 1});  // a temporary feeds it
  ir::Graph g = b.finish({s});
  jit::Backend& cpu = jit::backend(Device::cpu());
  const sched::Plan p = sched::make_plan(g, cpu.target());
  jit::PrepareStats st;
  auto prepared = cpu.prepare(p, &st);
  const int64_t in_use = jit::host_allocator_stats().bytes_in_use;
  int64_t calls = 0;
  std::vector<BufferView> out = jit::run_plan(g, p, *prepared, cpu, &calls);
  EXPECT_EQ(calls, static_cast<int64_t>(p.steps.size()));
  expect_matches_reference(g, out);
  const int64_t out_bytes = static_cast<int64_t>(out[0].storage->bytes);
  // Only the output is still held; its size class is at most 64 B over it.
  EXPECT_LE(jit::host_allocator_stats().bytes_in_use - in_use, out_bytes + 64);
}

}  // namespace
}  // namespace tj
