// The lazy trace: flush triggers, dead tensors, trace limits, eager mode,
// value semantics and threads.
#include <gtest/gtest.h>

#include <thread>

#include "jit/cpu/allocator.h"
#include "jit/executor.h"
#include "jit/kernel_cache.h"
#include "test_util.h"
#include "tilejit/optim.h"
#include "trace/trace.h"

namespace tj {
namespace {

using testing::all_close;

int64_t reason_count(FlushReason r) { return stats().flushes_by_reason[static_cast<int>(r)]; }

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sync();
    reset_stats();
  }
  ConfigGuard guard_;
};

TEST_F(TraceTest, OpsArePendingUntilAHostRead) {
  Tensor x = from_vector<float>({1, 2, 3}, {3});
  EXPECT_TRUE(x.is_materialized());
  Tensor y = x * 2 + 1;
  EXPECT_FALSE(y.is_materialized());
  EXPECT_EQ(stats().flushes, 0);
  EXPECT_TRUE(all_close(y, {3, 5, 7}));
  EXPECT_TRUE(y.is_materialized());
  EXPECT_EQ(reason_count(FlushReason::host_read), 1);
  EXPECT_EQ(stats().flushes, 1);
}

TEST_F(TraceTest, SyncComputesEveryLiveTensorInOneFlush) {
  Tensor x = from_vector<float>({1, 2, 3}, {3});
  Tensor a = x + 1;
  Tensor b = a * 3;
  Tensor c = b.sum();
  sync();
  EXPECT_TRUE(a.is_materialized());
  EXPECT_TRUE(b.is_materialized());
  EXPECT_TRUE(c.is_materialized());
  EXPECT_EQ(stats().flushes, 1);
  EXPECT_EQ(reason_count(FlushReason::sync), 1);
  EXPECT_EQ(stats().tensors_materialized, 3);
  EXPECT_TRUE(all_close(c, {27}));
  EXPECT_EQ(stats().flushes, 1);  // reading computed values flushes nothing
}

TEST_F(TraceTest, EvalComputesAndReturnsTheTensor) {
  Tensor x = from_vector<float>({4, 9}, {2});
  Tensor r = sqrt(x).eval();
  EXPECT_TRUE(r.is_materialized());
  EXPECT_TRUE(all_close(r, {2, 3}));
}

TEST_F(TraceTest, DeadTensorsAreNotComputed) {
  Tensor x = from_vector<float>({1, 2, 3}, {3});
  { Tensor unused = exp(x) * 5; }  // dropped before any flush
  Tensor y = x + 1;
  sync();
  EXPECT_EQ(stats().tensors_materialized, 1);
  EXPECT_EQ(stats().nodes_executed, 1);  // only the add
  EXPECT_TRUE(all_close(y, {2, 3, 4}));
}

/// tj::memory_stats(Device::cpu()) follows the host allocator: a live
/// tensor's bytes are allocated, its temporaries count toward the peak only.
/// A buffer no handle can read any more, whose readers are all in the flush,
/// takes the output of its last reader (no new memory); a buffer anything
/// else can still read keeps its values.
TEST_F(TraceTest, OutputsAreWrittenIntoBuffersNothingElseReads) {
  ConfigGuard g;
  g->lazy = true;
  std::vector<float> av(4096);
  for (size_t i = 0; i < av.size(); ++i) av[i] = static_cast<float>(i) * 0.5f;
  std::vector<double> twice;
  for (float v : av) twice.push_back(v * 2.0 + 1.0);
  {
    Tensor a = from_vector(av);
    Tensor b = a * 2.0 + 1.0;
    a = Tensor();  // the only handle
    reset_stats();
    sync();
    EXPECT_EQ(stats().buffers_donated, 1);
    EXPECT_TRUE(all_close(b, twice));
  }
  {
    Tensor a = from_vector(av);
    Tensor b = a * 2.0 + 1.0;
    reset_stats();
    sync();  // `a` can still be read
    EXPECT_EQ(stats().buffers_donated, 0);
    EXPECT_TRUE(all_close(b, twice));
    EXPECT_EQ(a.to_vector<float>(), av);
  }
  {
    // Two views of one buffer, read by two kernels: whichever runs last may
    // write into it, after the other has read it.
    Tensor a = from_vector(av);
    Tensor rows = a.reshape({64, 64}).sum({1});
    Tensor b = a * 2.0 + 1.0;
    a = Tensor();
    sync();
    EXPECT_TRUE(all_close(b, twice));
    std::vector<double> want(64, 0.0);
    for (size_t i = 0; i < av.size(); ++i) want[i / 64] += av[i];
    EXPECT_TRUE(all_close(rows, want, 1e-6, 1e-3));
  }
  {
    // A reader recorded by another thread, not in this flush: no donation.
    Tensor a = from_vector(av);
    Tensor other;
    std::thread t([&] { other = a + 5.0; });
    t.join();
    Tensor b = a * 2.0 + 1.0;
    a = Tensor();
    reset_stats();
    b.eval();
    EXPECT_EQ(stats().buffers_donated, 0);
    EXPECT_TRUE(all_close(b, twice));
    std::vector<double> plus5;
    for (float v : av) plus5.push_back(v + 5.0);
    EXPECT_TRUE(all_close(other, plus5));
  }
  {
    // A parameter updated in place: its old value's memory holds the new one.
    Tensor w = from_vector(av).requires_grad_();
    Tensor keep = w;
    (w * w).sum().backward();
    optim::SGD opt({w}, optim::SGDOptions(0.25));
    reset_stats();
    opt.step();  // w - 0.25 * 2w = w / 2
    sync();
    EXPECT_GE(stats().buffers_donated, 1);
    std::vector<double> half;
    for (float v : av) half.push_back(v * 0.5);
    EXPECT_TRUE(all_close(keep, half));
    EXPECT_TRUE(all_close(w, half));
  }
}

TEST_F(TraceTest, HostMemoryStatsFollowLiveTensorsAndThePeak) {
  const int64_t n = 1 << 18;  // 1 MiB of f32
  const MemoryStats before = memory_stats();
  reset_peak_memory_stats();
  EXPECT_EQ(memory_stats().peak_allocated_bytes, before.allocated_bytes);
  {
    Tensor y = (ones({n}) * 2 + 1).eval();
    const MemoryStats live = memory_stats();
    EXPECT_GE(live.allocated_bytes, before.allocated_bytes + n * 4);
    EXPECT_GE(live.peak_allocated_bytes, live.allocated_bytes);
    EXPECT_GT(live.allocations, before.allocations);
  }
  const MemoryStats after = memory_stats();
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);  // back to the cache
  EXPECT_GE(after.peak_allocated_bytes, before.allocated_bytes + n * 4);
  EXPECT_GE(after.reserved_bytes, after.allocated_bytes);
}

TEST_F(TraceTest, IntermediatesOnlyHeldByOtherOpsAreNotStored) {
  Tensor x = from_vector<float>({1, 2, 3}, {3});
  Tensor y = (x + 1) * (x - 1);  // two intermediates nobody holds
  sync();
  EXPECT_EQ(stats().tensors_materialized, 1);
  EXPECT_TRUE(all_close(y, {0, 3, 8}));
}

TEST_F(TraceTest, CommonSubexpressionsAreComputedOnce) {
  Tensor x = from_vector<float>({1, 2, 3}, {3});
  Tensor y = exp(sin(x)) + exp(sin(x));
  sync();
  // sin, exp, add: the repeated sin and exp are one node each.
  EXPECT_EQ(stats().nodes_executed, 3);
  EXPECT_TRUE(all_close(
      y, {2 * std::exp(std::sin(1.0)), 2 * std::exp(std::sin(2.0)), 2 * std::exp(std::sin(3.0))}));
  // Equal C++ numbers are separate run-time arguments (never merged by value,
  // so that a changing scalar cannot change the graph's structure): mul, mul, add.
  reset_stats();
  Tensor z = x * 2 + x * 2;
  sync();
  EXPECT_EQ(stats().nodes_executed, 3);
  EXPECT_TRUE(all_close(z, {4, 8, 12}));
}

TEST_F(TraceTest, TraceLimitFlushesOnItsOwn) {
  guard_->max_trace = 10;
  Tensor a = zeros({4});
  for (int i = 0; i < 100; ++i) {
    a = a + 1;
    EXPECT_LE(trace::pending_count(), 10u);
  }
  EXPECT_GE(reason_count(FlushReason::trace_limit), 9);
  EXPECT_TRUE(all_close(a, {100, 100, 100, 100}));
}

TEST_F(TraceTest, LoopsDoNotGrowMemory) {
  guard_->max_trace = 64;
  Tensor a = zeros({1024});
  for (int i = 0; i < 200; ++i) a += 1;
  sync();
  int64_t before = jit::host_allocator_stats().bytes_in_use;
  for (int i = 0; i < 5000; ++i) a += 1;
  sync();
  int64_t after = jit::host_allocator_stats().bytes_in_use;
  // At most a handful of 4 KiB buffers more than before, however long the loop.
  EXPECT_LE(after - before, 16 * 4096);
  EXPECT_TRUE(all_close(a.max(), {5200}));
}

TEST_F(TraceTest, VeryDeepChainsNeitherOverflowTheStackNorLeak) {
  guard_->max_trace = 1 << 30;
  Tensor a = from_vector<float>({0}, {1});
  for (int i = 0; i < 200000; ++i) a = a + 1;
  EXPECT_EQ(a.item<float>(), 200000.f);
  Tensor b = from_vector<float>({0}, {1});
  for (int i = 0; i < 200000; ++i) b = b * 1;
  b = Tensor();  // dropping the only handle frees the whole pending chain
  EXPECT_EQ(a.item<int64_t>(), 200000);
}

TEST_F(TraceTest, AThousandOpTraceIsOneFlush) {
  guard_->max_trace = 100000;
  Tensor x = from_vector<float>({0.5f, -0.25f}, {2});
  Tensor y = x;
  for (int i = 0; i < 1000; ++i) y = i % 2 ? y * 0.5 + x : tanh(y) + 1;
  std::vector<double> want{0.5, -0.25};
  for (int i = 0; i < 1000; ++i)
    for (double& w : want) {
      double xv = &w == &want[0] ? 0.5 : -0.25;
      w = i % 2 ? static_cast<float>(static_cast<float>(w * 0.5) + static_cast<float>(xv))
                : static_cast<float>(static_cast<float>(std::tanh(w)) + 1);
    }
  EXPECT_TRUE(all_close(y, want, 1e-5, 1e-6));
  EXPECT_EQ(stats().flushes, 1);
}

TEST_F(TraceTest, EagerModeComputesEveryOpAtOnce) {
  guard_->lazy = false;
  Tensor x = from_vector<float>({1, 2, 3}, {3});
  Tensor y = x * 2;
  EXPECT_TRUE(y.is_materialized());
  Tensor z = exp(y) + y;
  EXPECT_TRUE(z.is_materialized());
  EXPECT_EQ(reason_count(FlushReason::eager), 3);
  EXPECT_EQ(stats().flushes, 3);
  EXPECT_TRUE(all_close(z, {std::exp(2.0) + 2, std::exp(4.0) + 4, std::exp(6.0) + 6}));
}

TEST_F(TraceTest, InPlaceOpsRebindOnlyTheirHandle) {
  Tensor a = from_vector<float>({1, 2, 3}, {3});
  Tensor alias = a;
  Tensor view = a.slice(0, 1, 3);
  a += 10;
  a *= 2;
  EXPECT_TRUE(all_close(a, {22, 24, 26}));
  EXPECT_TRUE(all_close(alias, {1, 2, 3}));
  EXPECT_TRUE(all_close(view, {2, 3}));
  Tensor p = a * 1;  // pending
  Tensor q = p;
  p -= 1;
  EXPECT_TRUE(all_close(q, {22, 24, 26}));
  EXPECT_TRUE(all_close(p, {21, 23, 25}));
}

TEST_F(TraceTest, CopyBroadcastsAndCastsIntoTheTensor) {
  Tensor a = zeros({2, 3}, i32);
  Tensor keep = a;
  a.copy_(from_vector<float>({1.7f, -2.2f, 3.9f}, {3}));
  EXPECT_EQ(a.dtype(), i32);
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_TRUE(all_close(a, {1, -2, 3, 1, -2, 3}));
  EXPECT_TRUE(all_close(keep, {0, 0, 0, 0, 0, 0}));
}

TEST_F(TraceTest, ErrorsLeaveTheTraceUsable) {
  Tensor x = from_vector<float>({1, 2, 3}, {3});
  Tensor y = x * 2;
  EXPECT_THROW(y + zeros({2}), Error);
  Tensor z = y + 1;
  EXPECT_TRUE(all_close(z, {3, 5, 7}));
}

TEST_F(TraceTest, ThreadsTraceIndependently) {
  std::vector<std::vector<double>> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t, &results] {
      Tensor x = arange(0, 1000).cast(f32);
      Tensor acc = zeros({1000});
      for (int i = 0; i < 200; ++i) acc = acc + x * static_cast<float>(t + 1);
      results[t] = acc.slice(0, 0, 4).to_vector<double>();
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    double k = 200.0 * (t + 1);
    EXPECT_TRUE(all_close(results[t], {0, k, 2 * k, 3 * k})) << "thread " << t;
  }
}

TEST_F(TraceTest, PendingTensorsCanBeUsedFromAnotherThread) {
  Tensor x = from_vector<float>({1, 2, 3}, {3});
  Tensor pending = x * 10;  // pending in this thread's trace
  Tensor from_worker;
  std::thread worker([&] {
    Tensor y = pending + 1;  // depends on another thread's pending tensor
    from_worker = y;
    EXPECT_TRUE(all_close(y, {11, 21, 31}));
  });
  worker.join();
  EXPECT_TRUE(all_close(pending, {10, 20, 30}));
  EXPECT_TRUE(all_close(from_worker, {11, 21, 31}));
}

TEST_F(TraceTest, ManyThreadsShareOneInput) {
  Tensor shared = randn({256});
  Tensor base = shared * 2;  // pending, read by every thread
  std::vector<double> sums(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] { sums[t] = (base + 0).sum().item<double>(); });
  for (auto& th : threads) th.join();
  double want = base.sum().item<double>();
  for (double s : sums) EXPECT_NEAR(s, want, 1e-3);
}

// ConfigGuard in many threads at once (it used to corrupt the heap and
// leave config().lazy false): each guard changes its own thread only.
TEST_F(TraceTest, ConfigGuardsInManyThreads) {
  const bool lazy_before = config().lazy;
  const int64_t max_before = config().max_trace;
  std::vector<std::thread> threads;
  std::vector<double> got(8, 0);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([t, &got] {
      Tensor x = full({64}, static_cast<double>(t));
      double acc = 0;
      for (int i = 0; i < 20; ++i) {
        ConfigGuard g;
        g->lazy = (i + t) % 2 == 0;
        g->max_trace = 3 + i;
        {
          ConfigGuard inner;  // nested: restores the outer guard's values
          inner->lazy = !g->lazy;
          acc += (x * 2 + 1).sum().item<double>();
          EXPECT_EQ(config().lazy, inner->lazy);
        }
        EXPECT_EQ(config().lazy, (i + t) % 2 == 0);
        EXPECT_EQ(config().max_trace, 3 + i);
      }
      got[t] = acc;
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_DOUBLE_EQ(got[t], 20 * 64 * (2.0 * t + 1)) << t;
  EXPECT_EQ(config().lazy, lazy_before);
  EXPECT_EQ(config().max_trace, max_before);
}

// A program that meets endless new shapes keeps a bounded number of plans
// and kernels in memory (they used to grow ~37 KB per shape, forever).
TEST_F(TraceTest, PlanAndKernelCachesStayBounded) {
  guard_->plan_cache_size = 4;
  for (int n = 1; n <= 24; ++n) {
    Tensor x = arange(0, n).cast(f32);
    EXPECT_TRUE(all_close((x * 3 + 1).sum(), {1.5 * n * (n - 1) + n})) << n;
  }
  EXPECT_LE(jit::plans_in_memory(), 4u);
  EXPECT_LE(jit::kernel_cache().size(), 16u);
  // Evicted plans are made again when needed, and still right.
  Tensor x = arange(0, 1).cast(f32);
  EXPECT_TRUE(all_close((x * 3 + 1).sum(), {1}));
}

}  // namespace
}  // namespace tj
