// Fusion, tiling and the backends end to end: every fusion pattern of the
// scheduler runs lazily, its flush is captured (trace::set_flush_observer)
// and evaluated op by op by the reference evaluator, and the JIT results must
// agree with it. Each row also states how many kernel launches the flush
// takes (scheduler/fuse.h has the rules).
//
// Adding a fusion case is one row in fusion_cases(): a name, a lambda that
// builds the program with the public API and returns its outputs, and the
// expected number of launches. Outputs are returned in the order they were
// created (that is the order of the flushed graph's outputs); intermediates
// must not be held past the lambda, or they become outputs too.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cuda_emulator.h"
#include "ir/print.h"
#include "ir/reference_eval.h"
#include "jit/backend.h"
#include "jit/cuda/driver.h"
#include "jit/executor.h"
#include "jit/run_plan.h"
#include "scheduler/make_plan.h"
#include "scheduler/name_kernel.h"
#include "test_util.h"
#include "tilejit/cuda.h"
#include "trace/trace.h"

namespace tj {
namespace {

// ---- inputs ------------------------------------------------------------------

/// A computed (ready) tensor of `dtype` with deterministic pseudo-random
/// values: floats uniform in [lo, hi), integers in [lo, hi], bools 50/50.
Tensor input(const Shape& shape, DType dtype, uint32_t seed, double lo = -2.0, double hi = 2.0) {
  std::mt19937 rng(seed);
  const int64_t n = shape_numel(shape);
  std::uniform_real_distribution<double> u(lo, hi);
  auto ints = [&] {
    std::uniform_int_distribution<int64_t> d(static_cast<int64_t>(lo), static_cast<int64_t>(hi));
    std::vector<int64_t> v(n);
    for (auto& x : v) x = d(rng);
    return v;
  };
  switch (dtype) {
    case DType::f32: {
      std::vector<float> v(n);
      for (auto& x : v) x = static_cast<float>(u(rng));
      return from_vector(v, shape);
    }
    case DType::f64: {
      std::vector<double> v(n);
      for (auto& x : v) x = u(rng);
      return from_vector(v, shape);
    }
    case DType::f16: {
      std::vector<half> v(n);
      for (auto& x : v) x = half(static_cast<float>(u(rng)));
      return from_vector(v, shape);
    }
    case DType::bf16: {
      std::vector<bfloat16> v(n);
      for (auto& x : v) x = bfloat16(static_cast<float>(u(rng)));
      return from_vector(v, shape);
    }
    case DType::i32: {
      auto w = ints();
      return from_vector(std::vector<int32_t>(w.begin(), w.end()), shape);
    }
    case DType::i64:
      return from_vector(ints(), shape);
    case DType::bool_: {
      std::vector<bool> v(n);
      for (int64_t i = 0; i < n; ++i) v[i] = (rng() & 1) != 0;
      return from_vector(v, shape);
    }
  }
  return {};
}

Tensor f32_input(const Shape& shape, uint32_t seed, double lo = -2.0, double hi = 2.0) {
  return input(shape, DType::f32, seed, lo, hi);
}

// ---- the table ---------------------------------------------------------------

struct Tol {
  double rtol = -1, atol = -1;  // negative: the output dtype's default
};

struct FusionCase {
  std::string name;
  std::function<std::vector<Tensor>()> build;
  int64_t kernels = 1;   // kernel launches (GEMM calls included) of the one flush
  bool at_most = false;  // kernels is an upper bound
  Tol tol = {};
};

void PrintTo(const FusionCase& c, std::ostream* os) { *os << c.name; }

/// Tolerances against the reference evaluator. Floating kernels compute in
/// f32 (f64 for f64) with vectorized math within a few ulp; the reference
/// rounds every node to its dtype, while a fused f16/bf16 chain keeps f32
/// between ops (DESIGN.md: "computed in f32 inside kernels"), so half types
/// get a few of their ulps. Integers and bools are exact.
Tol default_tol(DType t) {
  switch (t) {
    case DType::f32:
      return {2e-5, 1e-5};
    case DType::f64:
      return {1e-10, 1e-12};
    case DType::f16:
      return {1e-2, 1e-2};
    case DType::bf16:
      return {4e-2, 4e-2};
    case DType::i32:
    case DType::i64:
    case DType::bool_:
      return {0, 0};
  }
  return {};
}

std::vector<Tensor> chain8(const Tensor& x) {
  Tensor t = x * 1.5 + 0.25;
  t = t * sigmoid(t);
  t = tanh(t);
  return {t * x + x * x};
}

/// A fused chain for each dtype: arithmetic, a transcendental (floats),
/// comparisons and selects (integers), logic (bool).
std::vector<Tensor> dtype_chain(DType t) {
  Tensor x = input({37, 29}, t, 11, -3, 3), y = input({37, 29}, t, 12, -3, 3);
  if (t == DType::bool_) {
    Tensor z = input({37, 29}, t, 13);
    return {(x & y) | (~z ^ x)};
  }
  if (is_floating(t)) {
    Tensor u = x * 1.5 + y;
    u = u * sigmoid(u);
    return {tanh(u) - x * y};
  }
  Tensor u = x * 3 + y;
  u = maximum(u, y - x);
  return {where(u > 0, u, -u) * 2 - x};
}

/// Five math calls chained per element, inputs read again after the last
/// ones and an output stored mid-chain: the CPU printer cuts the body into
/// staged loops over blocks of elements (jit/cpu/printer.cpp).
std::vector<Tensor> math_chain(const Shape& shape, DType t) {
  Tensor x = input(shape, t, 43, -2, 2), y = input({shape.back()}, t, 44, -1, 1);
  Tensor u = tanh(x * 1.5 + y);
  u = exp(-(u * u)) * x;
  Tensor mid = sigmoid(u + y);
  u = sin(mid) * y + x;
  return {mid, log1p(u * u) + tanh(x * y)};
}

std::vector<FusionCase> fusion_cases() {
  std::vector<FusionCase> c;
  c.push_back({"math_chain_staged_1d", [] { return math_chain({1000}, DType::f32); }, 1});
  c.push_back({"math_chain_staged_2d", [] { return math_chain({3, 130}, DType::f32); }, 1});
  c.push_back({"math_chain_staged_f16", [] { return math_chain({5, 77}, DType::f16); }, 1});
  // ---- the patterns of issue 3 -----------------------------------------------
  c.push_back({"chain8_pointwise", [] { return chain8(f32_input({64, 100}, 1)); }, 1});
  c.push_back({"softmax",
               [] {
                 return std::vector<Tensor>{softmax(f32_input({64, 1000}, 2, -4, 4), 1)};
               },
               1});
  c.push_back({"softmax_dim0",
               [] {
                 return std::vector<Tensor>{softmax(f32_input({100, 48}, 3, -4, 4), 0)};
               },
               1});
  c.push_back({"log_softmax",
               [] {
                 return std::vector<Tensor>{log_softmax(f32_input({32, 500}, 4, -4, 4), 1)};
               },
               1});
  c.push_back({"layer_norm_weight_bias",
               [] {
                 Tensor x = f32_input({16, 256}, 5), w = f32_input({256}, 6, 0.5, 1.5),
                        b = f32_input({256}, 7);
                 return std::vector<Tensor>{layer_norm(x, {256}, w, b)};
               },
               1});
  c.push_back({"rms_norm",
               [] {
                 Tensor x = f32_input({16, 256}, 8), w = f32_input({256}, 9, 0.5, 1.5);
                 return std::vector<Tensor>{rms_norm(x, {256}, w)};
               },
               1});
  c.push_back({"var", [] { return std::vector<Tensor>{f32_input({32, 500}, 10).var({1})}; }, 1});
  c.push_back({"atan_atan2_chain",
               [] {
                 Tensor x = f32_input({33, 65}, 41), y = f32_input({65}, 42);
                 return std::vector<Tensor>{atan2(atan(x) * 3.0, y) + atan2(y, 0.5)};
               },
               1});
  c.push_back(
      {"matmul_bias_gelu",
       [] {
         Tensor x = f32_input({64, 128}, 11, -1, 1), w = f32_input({128, 96}, 12, -0.2, 0.2);
         Tensor b = f32_input({96}, 13);
         return std::vector<Tensor>{gelu(matmul(x, w) + b, "tanh")};
       },
       2,
       /*at_most=*/true,
       {1e-4, 1e-5}});
  c.push_back({"sum_two_stage_1M",
               [] { return std::vector<Tensor>{f32_input({1 << 20}, 14, 0, 1).sum()}; },
               2,
               false,
               {1e-5, 0}});
  c.push_back({"horizontal_two_pointwise_outputs",
               [] {
                 Tensor x = f32_input({256, 64}, 15), y = f32_input({256, 64}, 16);
                 Tensor a = x * 2 + 1;
                 Tensor b = exp(y) - y;
                 return std::vector<Tensor>{a, b};
               },
               1});
  c.push_back({"reduce_prologue_epilogue",
               [] {
                 return std::vector<Tensor>{
                     sqrt((f32_input({128, 300}, 17) * f32_input({128, 300}, 18)).sum({1}))};
               },
               1,
               false,
               {2e-5, 1e-5}});
  c.push_back({"reduce_square_sum_sqrt",
               [] {
                 Tensor x = f32_input({128, 300}, 19);
                 return std::vector<Tensor>{(x * x).sum({1}).sqrt()};
               },
               1});
  c.push_back({"transposed_sliced_broadcast_inputs",
               [] {
                 Tensor x = f32_input({64, 48}, 20);
                 Tensor z = f32_input({48, 128}, 21);
                 Tensor b = f32_input({64}, 22);
                 return std::vector<Tensor>{x.t() * z.slice(1, 0, 128, 2) + b};
               },
               1});
  c.push_back({"expanded_and_permuted_inputs",
               [] {
                 Tensor x = f32_input({4, 1, 6}, 23);
                 Tensor y = f32_input({6, 5, 4}, 24);
                 return std::vector<Tensor>{exp(x.expand({4, 5, 6})) * y.permute({2, 1, 0})};
               },
               1});
  c.push_back({"softmax_of_transposed",
               [] {
                 return std::vector<Tensor>{softmax(f32_input({300, 40}, 25, -4, 4).t(), 1)};
               },
               1});
  c.push_back({"softmax_of_sliced_rows",
               [] {
                 return std::vector<Tensor>{
                     softmax(f32_input({40, 300}, 38, -4, 4).slice(1, 1, 300, 3), 1)};
               },
               1});
  c.push_back({"layer_norm_f16",
               [] {
                 Tensor x = input({8, 384}, f16, 39), w = input({384}, f16, 40, 0.5, 1.5);
                 return std::vector<Tensor>{layer_norm(x, {384}, w, input({384}, f16, 41))};
               },
               1});
  c.push_back({"reduction_consumed_in_other_shape",
               [] {
                 Tensor x = f32_input({64, 32}, 26), z = f32_input({16, 32}, 27);
                 return std::vector<Tensor>{z * x.sum({0})};
               },
               2});
  // ---- NaN in max/min and arg reductions -------------------------------------------
  c.push_back({"max_min_argmax_argmin_nan",
               [] {
                 std::vector<float> v(6 * 9);
                 std::mt19937 rng(28);
                 for (auto& e : v) e = static_cast<float>(rng() % 1000) / 100.0f - 5.0f;
                 const float nan = std::numeric_limits<float>::quiet_NaN();
                 v[0 * 9 + 4] = nan;                      // row 0: one NaN
                 v[2 * 9 + 1] = nan, v[2 * 9 + 7] = nan;  // row 2: two NaNs (first wins)
                 v[4 * 9 + 8] = nan;                      // row 4: NaN last
                 v[5 * 9 + 3] = v[5 * 9 + 6] = 9.5f;      // row 5: tied max (first wins)
                 v[5 * 9 + 2] = v[5 * 9 + 5] = -9.5f;     // row 5: tied min
                 Tensor x = from_vector(v, {6, 9});
                 return std::vector<Tensor>{x.max({1}), x.min({1}), x.argmax(1), x.argmin(1)};
               },
               1});
  c.push_back({"max_of_all_with_nan",
               [] {
                 std::vector<float> v(1000, 1.0f);
                 v[517] = std::numeric_limits<float>::quiet_NaN();
                 Tensor x = from_vector(v, {1000});
                 return std::vector<Tensor>{x.max(), x.argmin()};
               },
               1});
  // ---- random numbers are fused and match the reference ------------------------------
  c.push_back({"rand_randn_fused_into_consumer",
               [] {
                 manual_seed(42);
                 Tensor r = rand({1000});
                 Tensor n = randn({1000});
                 return std::vector<Tensor>{r * 2 - 1 + n * 0.5};
               },
               1});
  c.push_back({"rand_f64_broadcast_consumer",
               [] {
                 manual_seed(43);
                 Tensor r = rand({257, 3}, f64);
                 return std::vector<Tensor>{r * input({3}, f64, 29)};
               },
               1});
  // ---- empty reduced extents: every output is still written (its identity) -------------
  c.push_back({"empty_k_batched_matmul",
               [] {
                 Tensor a = input({16, 3, 0}, f32, 34), b = input({16, 0, 3}, f32, 35);
                 return std::vector<Tensor>{matmul(a, b), matmul(a, b) + 1.0f};
               },
               2});
  c.push_back({"empty_axis_sum_prod",
               [] {
                 Tensor x = input({5, 0}, f32, 36);
                 return std::vector<Tensor>{x.sum({1}) * 2.0f + 1.0f, x.prod({1})};
               },
               1});
  // The causal attention mask (triu of ones, masked_fill, softmax): one row kernel.
  c.push_back({"causal_masked_softmax",
               [] {
                 Tensor s = input({2, 9, 9}, f32, 37, -3, 3);
                 Tensor m = triu(ones({9, 9}, bool_), 1);
                 return std::vector<Tensor>{
                     masked_fill(s, m, -std::numeric_limits<double>::infinity()).softmax(-1)};
               },
               1});
  // ---- indirect loads: gathers fuse into their consumer, indices computed inline -------
  // Embedding rows, RMS-normalized: the gather is the row kernel's load.
  c.push_back({"embedding_rms_norm",
               [] {
                 Tensor w = input({50, 32}, f32, 60), ids = input({3, 7}, i64, 61, 0, 49);
                 Tensor e = embedding(w, ids);
                 return std::vector<Tensor>{e * rsqrt((e * e).mean({-1}, true) + 1e-5)};
               },
               1});
  // torch.gather along dim 1 with indices computed in the same kernel.
  c.push_back({"gather_computed_index",
               [] {
                 Tensor x = input({6, 11}, f32, 62), k = input({6, 4}, i64, 63, 0, 100);
                 return std::vector<Tensor>{gather(x, 1, remainder(k * 3, 11)) * 2.0 + 1.0};
               },
               1});
  // take with negative indices (counted from the end); of a transposed view,
  // which is copied first (flattening it is not a view, as for reshape).
  c.push_back({"take_negative",
               [] {
                 Tensor x = input({5, 9}, f64, 64), k = input({4, 3}, i32, 65, -45, 44);
                 return std::vector<Tensor>{take(x, k)};
               },
               1});
  c.push_back({"take_negative_of_view",
               [] {
                 Tensor x = input({5, 9}, f64, 64).t(), k = input({4, 3}, i32, 65, -45, 44);
                 return std::vector<Tensor>{take(x, k)};
               },
               2});
  // A computed source is materialized first; the select along dim 1 of a
  // [4, 10, 6] tensor, then a row sum over the selected entries.
  c.push_back({"index_select_computed_source",
               [] {
                 Tensor x = input({4, 10, 6}, f32, 66), k = input({5}, i64, 67, 0, 9);
                 return std::vector<Tensor>{index_select(exp(x), 1, k).sum({1})};
               },
               2});
  // Shape ops that read at computed positions: flip and roll (one dim each),
  // reflect padding of two dims (one take), the GQA head repeat, and a
  // constant pad of a computed value (materialized first).
  c.push_back({"flip_roll_pointwise",
               [] {
                 Tensor x = input({6, 10}, f32, 73);
                 return std::vector<Tensor>{flip(x, {1}) * 2.0 + roll(x, {3}, {1})};
               },
               1});
  c.push_back({"pad_reflect_2d_row_sum",
               [] {
                 Tensor x = input({4, 6, 7}, f32, 74);
                 return std::vector<Tensor>{pad(x, {2, 2, 1, 1}, "reflect").sum({-1})};
               },
               1});
  c.push_back({"repeat_interleave_heads",
               [] {
                 Tensor k = input({2, 2, 5, 4}, bf16, 75);
                 return std::vector<Tensor>{repeat_interleave(k, 3, 1) * 0.5};
               },
               1, false, Tol{1e-2, 1e-2}});
  c.push_back({"pad_constant_of_computed",
               [] {
                 Tensor x = input({5, 9}, f32, 76);
                 return std::vector<Tensor>{pad(exp(x), {1, 2}, "constant", -1.0)};
               },
               2});
  // Causal grouped-query attention: the key/value head repeat (a gather kernel
  // each, as GEMM operands are buffers), the score GEMM, the masked softmax row
  // kernel and the value GEMM.
  c.push_back({"sdpa_causal_gqa",
               [] {
                 Tensor q = input({1, 4, 6, 8}, f32, 77), k = input({1, 2, 9, 8}, f32, 78),
                        v = input({1, 2, 9, 5}, f32, 79);
                 return std::vector<Tensor>{
                     scaled_dot_product_attention(q, k, v, {}, 0.0, true, {}, true)};
               },
               5});
  // ---- writes at indices: the destination copied, then one kernel per write ------------
  // scatter_add of a computed source with repeated computed indices.
  c.push_back({"scatter_add_computed",
               [] {
                 Tensor x = input({6, 5}, f32, 80), s = input({4, 5}, f32, 81),
                        k = input({4, 5}, i64, 82, 0, 40);
                 return std::vector<Tensor>{scatter_add(x * 2.0, 0, remainder(k, 6), exp(s))};
               },
               2});
  // A KV-cache step written at computed positions, read by the next op.
  c.push_back({"index_copy_cache_then_use",
               [] {
                 Tensor cache = input({2, 8, 4}, bf16, 83), step = input({2, 3, 4}, bf16, 84);
                 Tensor pos = arange(0, 3, 1, i64) + 4;
                 return std::vector<Tensor>{index_copy(cache, 1, pos, step) * 0.5};
               },
               3, false, Tol{1e-2, 1e-2}});
  // Advanced-index accumulation: negative and repeated i32 indices, f64.
  c.push_back({"index_put_accumulate",
               [] {
                 Tensor x = input({7, 3}, f64, 85), v = input({9, 3}, f64, 86);
                 Tensor k = input({9}, i32, 87, -7, 6);
                 return std::vector<Tensor>{index_put(x, {k}, v, true)};
               },
               2});
  // Integer scatter (last write wins) reduced afterwards; a strided slice write.
  c.push_back({"scatter_i32_then_sum",
               [] {
                 Tensor x = input({5, 9}, i32, 88, -9, 9), s = input({5, 6}, i32, 89, -9, 9);
                 Tensor k = input({5, 6}, i64, 90, 0, 8);
                 return std::vector<Tensor>{scatter(x, 1, k, s).sum({1})};
               },
               3});
  c.push_back({"slice_scatter_step_f16",
               [] {
                 Tensor x = input({4, 10}, f16, 91), s = input({4, 3}, f16, 92);
                 return std::vector<Tensor>{slice_scatter(x, tanh(s), 1, 1, 9, 3)};
               },
               2});
  // ---- scans: the producers fused in, consumers in a kernel of their own ---------------
  c.push_back({"cumsum_of_pointwise_last_dim",
               [] {
                 Tensor x = input({6, 37}, f32, 93);
                 return std::vector<Tensor>{cumsum(exp(x) * 0.5, 1) + 1.0};
               },
               2, false, Tol{1e-5, 1e-5}});
  c.push_back({"cumprod_f16_dim0_of_a_view",
               [] {
                 Tensor x = input({9, 5, 3}, f16, 94, 0.5, 1.5);
                 return std::vector<Tensor>{cumprod(x.permute({2, 0, 1}), 1)};
               },
               1, false, Tol{2e-2, 2e-2}});
  c.push_back({"logcumsumexp_bf16_with_inf",
               [] {
                 Tensor x = input({4, 50}, bf16, 95, -30, 30);
                 Tensor m = input({4, 50}, bool_, 96);
                 return std::vector<Tensor>{logcumsumexp(
                     where(m, x, Scalar(-std::numeric_limits<double>::infinity())), -1)};
               },
               1, false, Tol{2e-2, 2e-2}});
  c.push_back({"cumsum_i32_sampled_after_softmax",
               [] {
                 Tensor k = input({3, 11}, i32, 97, -4, 4);
                 Tensor w = softmax(input({3, 11}, f64, 98), -1);
                 return std::vector<Tensor>{cumsum(k, 0), cumsum(w, -1)};
               },
               3, false, Tol{1e-12, 1e-12}});
  // The running value is f32, not rounded to bf16 at each step.
  c.push_back({"cumsum_long_line_bf16",
               [] { return std::vector<Tensor>{cumsum(input({73190}, bf16, 105), 0)}; }, 1, false,
               Tol{1e-2, 1.0}});
  c.push_back({"cumsum_long_line_f64",
               [] { return std::vector<Tensor>{cumsum(input({3000}, f64, 99), 0)}; }, 1, false,
               Tol{1e-10, 1e-10}});
  c.push_back({"masked_scatter_computed_mask",
               [] {
                 Tensor x = input({7, 9}, f32, 103), s = input({70}, f32, 104);
                 return std::vector<Tensor>{masked_scatter(x * 2.0, x > 0.0, tanh(s))};
               },
               // The mask (read by two kernels through views), the gathered source,
               // the running count, then the select with the gather fused in.
               4});
  // ---- convolution: operands read from buffers, the epilogue a kernel of its own --------
  c.push_back({"conv2d_of_computed_input_bias_relu",
               [] {
                 Tensor x = input({2, 3, 9, 8}, f32, 106), w = input({4, 3, 3, 3}, f32, 107);
                 Tensor b = input({4}, f32, 108);
                 return std::vector<Tensor>{relu(conv2d(x * 2.0, w, b, {2, 1}, {1, 2}))};
               },
               3, false, Tol{1e-5, 1e-5}});
  c.push_back({"conv2d_depthwise_dilated_bf16",
               [] {
                 Tensor x = input({1, 6, 11, 10}, bf16, 109), w = input({6, 1, 3, 3}, bf16, 110);
                 return std::vector<Tensor>{conv2d(x, w, {}, {1}, {2}, {2}, 6)};
               },
               1, false, Tol{2e-2, 5e-2}});
  c.push_back({"conv1d_groups_f64_of_a_view",
               [] {
                 Tensor x = input({13, 2, 4}, f64, 111), w = input({6, 2, 3}, f64, 112);
                 return std::vector<Tensor>{conv1d(x.permute({1, 2, 0}), w, {}, {2}, {1}, {1}, 2)};
               },
               // The conv, and the squeezed output (a view) copied out.
               2, true, Tol{1e-12, 1e-12}});
  c.push_back({"conv_batch_norm_relu_max_pool",
               [] {
                 Tensor x = input({2, 3, 8, 8}, f32, 113), w = input({4, 3, 3, 3}, f32, 114);
                 Tensor m = input({4}, f32, 115), v = input({4}, f32, 116, 0.5, 2);
                 Tensor y = relu(batch_norm(conv2d(x, w, {}, {1}, {1}), m, v));
                 return std::vector<Tensor>{max_pool2d(y, {3}, {2}, {1}),
                                            avg_pool2d(y, {2}, {2}, {0}, true, false)};
               },
               // The conv, the normalized activations (read by both pools), then
               // each pool's pass along W and along H (the avg pool's W pass fused
               // with its H pass: its windows do not overhang in H).
               5, false, Tol{1e-5, 1e-5}});
  // ---- sorting: computed keys written first, the values gathered by their user ---------
  c.push_back({"topk_of_computed_keys_f16",
               [] {
                 Tensor x = input({5, 40}, f16, 100, -3, 3);
                 auto [v, i] = topk(tanh(x) * 2.0, 7, -1);
                 return std::vector<Tensor>{i, v + 1.0};
               },
               // The keys, the sort, the first 7 positions copied out (an output
               // that is a view), the gather fused with the add.
               4, false, Tol{2e-2, 2e-2}});
  c.push_back({"argsort_i64_dim0_of_a_view_descending",
               [] {
                 Tensor x = input({4, 9, 6}, i64, 101, -3, 3);
                 return std::vector<Tensor>{argsort(x.permute({1, 0, 2}), 0, true)};
               },
               1});
  c.push_back({"sort_f32_with_nan_then_cumsum",
               [] {
                 Tensor x = input({3, 64}, f32, 102);
                 Tensor y = where(x > 1.5, Scalar(std::numeric_limits<double>::quiet_NaN()), x);
                 auto [v, i] = sort(y, 1);
                 return std::vector<Tensor>{i, cumsum(v, 1)};
               },
               3, false, Tol{1e-5, 1e-5}});
  // Gathers of gathers, and every source dtype.
  for (DType t : {f16, bf16, i32, i64, bool_}) {
    c.push_back({"gather_chain_" + std::string(dtype_name(t)),
                 [t] {
                   Tensor x = input({40}, t, 68, -5, 5), p = input({40}, i64, 69, 0, 39),
                          q = input({8, 5}, i32, 70, 0, 39);
                   return std::vector<Tensor>{take(x, take(p, q))};
                 },
                 1});
  }
  // ---- every dtype through a fused chain, and reduced ----------------------------------
  for (DType t : {f32, f16, bf16, f64, i32, i64, bool_}) {
    c.push_back({"chain_" + std::string(dtype_name(t)), [t] { return dtype_chain(t); }, 1});
    c.push_back({"rowsum_" + std::string(dtype_name(t)),
                 [t] {
                   return std::vector<Tensor>{input({23, 41}, t, 30, -3, 3).sum({1})};
                 },
                 1, false, t == f16 || t == bf16 ? Tol{2e-2, 5e-2} : Tol{}});
  }
  // ---- odd sizes: pointwise and row kernels -----------------------------------------------
  for (int64_t n : {1, 7, 1023, 1000003}) {
    std::string s = std::to_string(n);
    c.push_back({"odd_pointwise_" + s, [n] { return chain8(f32_input({n}, 31)); }, 1});
    c.push_back({"odd_softmax_2x" + s,
                 [n] {
                   return std::vector<Tensor>{softmax(f32_input({2, n}, 32, -4, 4), 1)};
                 },
                 1});
    c.push_back({"odd_layer_norm_3x" + s,
                 [n] {
                   return std::vector<Tensor>{layer_norm(f32_input({3, n}, 33), {n})};
                 },
                 1,
                 false,
                 {1e-4, 1e-4}});
    if (n < 1000000)
      c.push_back({"odd_rows_softmax_" + s + "x7",
                   [n] {
                     return std::vector<Tensor>{softmax(f32_input({n, 7}, 34, -4, 4), 1)};
                   },
                   1});
  }
  // ---- empty tensors ------------------------------------------------------------------
  c.push_back({"empty_pointwise",
               [] {
                 return std::vector<Tensor>{f32_input({0, 5}, 35) * 2 + 1};
               },
               0});
  c.push_back({"empty_reduced_axis_sum",
               [] {
                 return std::vector<Tensor>{f32_input({4, 0}, 36).sum({1})};
               },
               1});
  c.push_back({"empty_rows_softmax",
               [] {
                 return std::vector<Tensor>{softmax(f32_input({0, 5}, 37), 1)};
               },
               0});
  // ---- gradients: forward, backward and an update traced into one flush ----------------
  // (the kernel counts are upper bounds: they say the backward formulas fuse;
  // the gradients are returned in the order the graph's outputs have, the
  // order backward() computes them in)
  c.push_back({"backward_cross_entropy_of_linear",
               [] {
                 Tensor x = input({16, 12}, f32, 130);
                 Tensor w = input({5, 12}, f32, 131).requires_grad_();
                 Tensor b = input({5}, f32, 132).requires_grad_();
                 Tensor t = input({16}, i64, 133, 0, 4);
                 cross_entropy(linear(x, w, b), t, {}, -100, Reduction::mean, 0.1).backward();
                 return std::vector<Tensor>{b.grad(), w.grad()};
               },
               13, true, Tol{1e-5, 1e-6}});
  c.push_back({"backward_layer_norm_gelu",
               [] {
                 Tensor x = input({24, 40}, f32, 134).requires_grad_();
                 Tensor w = input({40}, f32, 135).requires_grad_();
                 Tensor b = input({40}, f32, 136).requires_grad_();
                 Tensor g = input({24, 40}, f32, 137);
                 (gelu(layer_norm(x, {40}, w, b), "tanh") * g).sum().backward();
                 return std::vector<Tensor>{b.grad(), w.grad(), x.grad()};
               },
               5, true, Tol{1e-4, 1e-5}});
  c.push_back({"backward_softmax_max_ties_cumsum",
               [] {
                 // values on a coarse grid: max has ties, its gradient is shared among them
                 Tensor x2 = input({6, 33}, i64, 138, -4, 4).cast(f32).requires_grad_();
                 Tensor g = input({6, 33}, f32, 139);
                 Tensor y = softmax(x2, 1) * g + cumsum(x2, 1) * 0.01;
                 (y.sum() + x2.max({1}).sum()).backward();
                 return std::vector<Tensor>{x2.grad()};
               },
               3, true, Tol{1e-5, 1e-6}});
  c.push_back({"backward_embedding_repeated_rows",
               [] {
                 Tensor w = input({9, 8}, f32, 140).requires_grad_();
                 Tensor ids = from_vector(std::vector<int64_t>{3, 1, 3, 8, 0, 3, 1}, {7});
                 Tensor g = input({7, 8}, f32, 141);
                 (embedding(w, ids) * g).sum().backward();
                 return std::vector<Tensor>{w.grad()};
               },
               2, true});
  c.push_back({"backward_conv2d_bias_relu",
               [] {
                 Tensor x = input({2, 3, 7, 6}, f32, 142).requires_grad_();
                 Tensor w = input({4, 3, 3, 3}, f32, 143).requires_grad_();
                 Tensor b = input({4}, f32, 144).requires_grad_();
                 Tensor g = input({2, 4, 4, 6}, f32, 145);
                 (relu(conv2d(x, w, b, {2, 1}, {1, 1})) * g).sum().backward();
                 return std::vector<Tensor>{x.grad(), w.grad(), b.grad()};
               },
               12, true, Tol{1e-4, 1e-5}});
  c.push_back({"training_step_mlp_adamw",
               [] {
                 Tensor x = input({32, 10}, f32, 146), y = input({32, 3}, f32, 147);
                 Tensor w1 = input({16, 10}, f32, 148, -0.3, 0.3).requires_grad_();
                 Tensor b1 = input({16}, f32, 149, -0.3, 0.3).requires_grad_();
                 Tensor w2 = input({3, 16}, f32, 150, -0.3, 0.3).requires_grad_();
                 optim::AdamW opt({w1, b1, w2}, optim::AdamWOptions(0.01));
                 mse_loss(linear(silu(linear(x, w1, b1)), w2), y).backward();
                 opt.step();
                 opt.zero_grad();  // the new parameters are the flush's only outputs
                 return std::vector<Tensor>{w1, b1, w2};
               },
               14, true, Tol{1e-5, 1e-6}});
  c.push_back({"backward_bf16_autocast_linear",
               [] {
                 Tensor x = input({8, 16}, f32, 151);
                 Tensor w = input({4, 16}, f32, 152).requires_grad_();
                 Tensor l;
                 {
                   autocast ac(DType::bf16);
                   l = (tanh(linear(x, w)) * 0.5).sum();
                 }
                 l.backward();
                 return std::vector<Tensor>{w.grad()};
               },
               6, true, Tol{2e-2, 5e-2}});
  return c;
}

// ---- the runner ----------------------------------------------------------------

/// The plan the executor would make for `g` (for messages only).
std::string describe_plan(const ir::Graph& g) {
  sched::Target t;
  t.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string s;
  try {
    sched::Plan p = sched::make_plan(g, t);
    s = p.schedule_text;
    for (const auto& st : p.steps) {
      const ir::Kernel& k = p.kernels[st.kernel];
      s += "  launch " + k.name + ": " + k.summary + "\n";
    }
  } catch (const std::exception& e) {
    s = std::string("make_plan threw: ") + e.what();
  }
  return s + ir::to_string(g);
}

::testing::AssertionResult matches_reference(const Tensor& t, const ir::RefValue& ref, Tol tol) {
  if (t.dtype() != ref.dtype)
    return ::testing::AssertionFailure() << "dtype " << t.dtype() << ", reference " << ref.dtype;
  if (t.shape() != ref.shape)
    return ::testing::AssertionFailure()
           << "shape " << shape_str(t.shape()) << ", reference " << shape_str(ref.shape);
  if (!ref.floating()) {
    std::vector<int64_t> got = t.to_vector<int64_t>();
    for (size_t i = 0; i < got.size(); ++i)
      if (got[i] != ref.i[i])
        return ::testing::AssertionFailure()
               << "element " << i << ": got " << got[i] << ", expected " << ref.i[i];
    return ::testing::AssertionSuccess();
  }
  Tol d = default_tol(ref.dtype);
  return testing::all_close(t.to_vector<double>(), ref.f, tol.rtol >= 0 ? tol.rtol : d.rtol,
                            tol.atol >= 0 ? tol.atol : d.atol);
}

/// The same graph with every buffer copied to host memory, for the
/// reference evaluator (which reads buffers directly).
ir::Graph host_graph(const ir::Graph& g) {
  ir::GraphBuilder b;
  std::vector<ir::NodeId> map(g.size(), -1);
  for (size_t i = 0; i < g.size(); ++i) {
    const ir::Node& n = g.node(static_cast<ir::NodeId>(i));
    if (n.op == ir::Op::Buffer) {
      BufferView v = g.buffers()[n.slot];
      if (v.storage->device.is_cuda()) {
        auto host = std::make_shared<Storage>();
        host->bytes = v.storage->bytes;
        host->data = std::malloc(std::max<size_t>(host->bytes, 1));
        host->release = [](void* d, size_t, void*) { std::free(d); };
        if (host->bytes)
          jit::cuda::copy_to_host(v.storage->device.index, host->data, v.storage->data,
                                  host->bytes);
        v.storage = host;
      }
      map[i] = b.buffer(v);
    } else if (n.op == ir::Op::Scalar) {
      map[i] = b.scalar(n.dtype, g.scalars()[n.slot], /*intern=*/false);
    } else {
      std::vector<ir::NodeId> in;
      for (ir::NodeId x : n.inputs) in.push_back(map[x]);
      map[i] = b.add(n.op, in, {.attrs = n.attrs, .dtype = n.dtype, .shape = n.shape});
    }
  }
  std::vector<ir::NodeId> outs;
  for (ir::NodeId o : g.outputs()) outs.push_back(map[o]);
  return b.finish(outs);
}

/// Every case runs on each backend: the CPU always, CUDA where a GPU is
/// usable (otherwise the instance skips, saying why), and the CUDA printer's
/// kernels on a CPU emulation of CUDA's thread model (tests/cuda_emulation.h),
/// both with vector accesses and with the scalar fallback entries.
/// `p` with every size, stride and offset of at least 2 read at launch
/// (ir::Kernel::dynamic), as a dynamic plan's kernels read theirs
/// (scheduler/dynamic.h); a convolution's batch only.
sched::Plan symbolized(sched::Plan p) {
  for (ir::Kernel& k : p.kernels) {
    const bool conv = k.kind == ir::Kernel::Kind::conv;
    k.dynamic = 0;
    for (size_t d = 0; d < k.domain.size() && d < 31; ++d)
      if (k.domain[d] >= 2 && (!conv || d == 0)) k.dynamic |= 1u << d;
    for (ir::Access& a : k.accesses) {
      a.symbolic = 0;
      if (conv) continue;
      for (size_t d = 0; d < a.strides.size() && d < 31; ++d)
        if (a.strides[d] >= 2) a.symbolic |= 1u << d;
      if (a.offset >= 2) a.symbolic |= 1u << ir::Access::kOffsetBit;
    }
    k.name = sched::kernel_name(k);
    ir::verify(k);
  }
  return p;
}

enum class Backend { Cpu, Cuda, Emulated };
void PrintTo(Backend b, std::ostream* os) {
  *os << (b == Backend::Cpu ? "cpu" : b == Backend::Cuda ? "cuda" : "cuda emulated on the cpu");
}

class FusionTest : public ::testing::TestWithParam<std::tuple<FusionCase, Backend>> {
 protected:
  void TearDown() override { trace::set_flush_observer({}); }
};

TEST_P(FusionTest, MatchesReferenceWithKernelCount) {
  const FusionCase& c = std::get<0>(GetParam());
  const Backend backend = std::get<1>(GetParam());
  if (backend == Backend::Cuda && !cuda::is_available())
    GTEST_SKIP() << "no CUDA device: " << cuda::unavailable_reason();
  ConfigGuard guard;
  guard->device = backend == Backend::Cuda ? Device::cuda(0) : Device::cpu();
  if (backend == Backend::Emulated) guard->lazy = true;
  sync();  // nothing pending from earlier tests
  std::vector<ir::Graph> graphs;
  trace::set_flush_observer([&](const ir::Graph& g) { graphs.push_back(g); });
  reset_stats();
  std::vector<Tensor> outs = c.build();
  sync();
  const Stats st = stats();
  trace::set_flush_observer({});

  ASSERT_EQ(graphs.size(), 1u) << "expected one flush";
  EXPECT_EQ(st.flushes, 1);
  const ir::Graph& g = graphs[0];
  // Kernel counts are the CPU's: a GPU target splits large reductions at
  // other sizes (it has more blocks in flight than the CPU has threads).
  if (backend == Backend::Cpu) {
    if (c.at_most)
      EXPECT_LE(st.kernels_launched, c.kernels) << describe_plan(g);
    else
      EXPECT_EQ(st.kernels_launched, c.kernels) << describe_plan(g);
  }

  std::vector<ir::RefValue> ref = ir::reference_eval(backend == Backend::Cuda ? host_graph(g) : g);
  ASSERT_EQ(ref.size(), outs.size()) << "graph outputs vs returned tensors\n" << ir::to_string(g);
  if (backend == Backend::Emulated) {
    for (bool scalar : {false, true}) {
      testing::EmulatedRun run = testing::run_cuda_emulated(g, scalar);
      ASSERT_TRUE(run.error.empty()) << run.error;
      ASSERT_EQ(run.outputs.size(), outs.size());
      for (size_t k = 0; k < outs.size(); ++k) {
        Tensor t(trace::make_ready(run.outputs[k], Device::cpu()));
        EXPECT_TRUE(matches_reference(t, ref[k], c.tol))
            << "output " << k << (scalar ? " (scalar entries)" : " (vector entries)") << "\n"
            << describe_plan(g);
      }
    }
    // The same plan with its sizes, strides and offsets read at launch (what
    // a dynamic plan's kernels compute): each kernel compiled with NVRTC
    // where it is available (tests/nvrtc_check.cpp) and run on the emulation.
    const sched::Plan sym = symbolized(sched::make_plan(g, testing::emulated_target()));
    if (std::function<void(const sched::Plan&)> hook = jit::set_new_plan_hook({})) {
      jit::set_new_plan_hook(hook);
      hook(sym);
    }
    testing::EmulatedRun run = testing::run_cuda_emulated(g, sym, /*force_scalar=*/false);
    ASSERT_TRUE(run.error.empty()) << run.error;
    ASSERT_EQ(run.outputs.size(), outs.size());
    for (size_t k = 0; k < outs.size(); ++k) {
      Tensor t(trace::make_ready(run.outputs[k], Device::cpu()));
      EXPECT_TRUE(matches_reference(t, ref[k], c.tol)) << "output " << k << " (symbolic sizes)\n"
                                                       << describe_plan(g);
    }
    return;
  }
  for (size_t k = 0; k < outs.size(); ++k) {
    ASSERT_TRUE(outs[k].is_materialized()) << "output " << k;
    EXPECT_TRUE(matches_reference(outs[k], ref[k], c.tol)) << "output " << k << "\n"
                                                           << describe_plan(g);
  }
  if (backend != Backend::Cpu) return;
  // The same plan with its sizes, strides and offsets read at launch: what
  // a dynamic plan's kernels compute.
  jit::Backend& cpu = jit::backend(Device::cpu());
  const sched::Plan sym = symbolized(sched::make_plan(g, cpu.target()));
  jit::PrepareStats ps;
  std::shared_ptr<const jit::PreparedPlan> prepared = cpu.prepare(sym, &ps);
  std::vector<BufferView> got = jit::run_plan(g, sym, *prepared, cpu);
  ASSERT_EQ(got.size(), outs.size());
  for (size_t k = 0; k < got.size(); ++k) {
    Tensor t(trace::make_ready(got[k], Device::cpu()));
    EXPECT_TRUE(matches_reference(t, ref[k], c.tol)) << "output " << k << " (symbolic sizes)\n"
                                                     << describe_plan(g);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, FusionTest,
                         ::testing::Combine(::testing::ValuesIn(fusion_cases()),
                                            ::testing::Values(Backend::Cpu, Backend::Cuda,
                                                              Backend::Emulated)),
                         [](const auto& info) {
                           const Backend b = std::get<1>(info.param);
                           return std::get<0>(info.param).name + (b == Backend::Cuda ? "_Cuda"
                                                                  : b == Backend::Emulated
                                                                      ? "_Emulated"
                                                                      : "_Cpu");
                         });

/// A gather whose index is computed in its kernel and out of range: every
/// backend reads nothing there and reports the index after the run, as the
/// reference evaluator does.
TEST(FusionChecks, OutOfRangeGatherIndicesAreReportedByEveryBackend) {
  ConfigGuard guard;
  guard->lazy = true;
  sync();
  std::vector<ir::Graph> graphs;
  trace::set_flush_observer([&](const ir::Graph& g) { graphs.push_back(g); });
  Tensor x = input({4, 6}, f32, 71), k = input({5}, i64, 72, 0, 3);
  Tensor bad = index_select(x, 1, k * 2 + 1).sum({1});  // the index 7 is out of range
  EXPECT_TRUE(
      testing::throws_error([&] { bad.eval(); }, {"index_select", "index 7", "with size 6"}));
  trace::set_flush_observer({});
  ASSERT_EQ(graphs.size(), 1u);
  EXPECT_TRUE(testing::throws_error([&] { ir::reference_eval(graphs[0]); },
                                    {"index_select", "index 7", "with size 6"}));
  for (bool scalar : {false, true})
    EXPECT_TRUE(testing::throws_error([&] { testing::run_cuda_emulated(graphs[0], scalar); },
                                      {"index_select", "index 7", "with size 6"}));
}

/// A scatter whose computed index is out of range: every backend writes
/// nothing there and reports the index after the run.
TEST(FusionChecks, OutOfRangeScatterIndicesAreReportedByEveryBackend) {
  ConfigGuard guard;
  guard->lazy = true;
  sync();
  std::vector<ir::Graph> graphs;
  trace::set_flush_observer([&](const ir::Graph& g) { graphs.push_back(g); });
  Tensor x = input({4, 6}, f32, 93), k = input({5}, i64, 94, 0, 3);
  Tensor bad = index_add(x, 1, k * 2 + 1, input({4, 5}, f32, 95));  // 7 is out of range
  EXPECT_TRUE(testing::throws_error([&] { bad.eval(); }, {"index_add_", "index 7", "with size 6"}));
  trace::set_flush_observer({});
  ASSERT_EQ(graphs.size(), 1u);
  EXPECT_TRUE(testing::throws_error([&] { ir::reference_eval(graphs[0]); },
                                    {"index_add_", "index 7", "with size 6"}));
  for (bool scalar : {false, true})
    EXPECT_TRUE(testing::throws_error([&] { testing::run_cuda_emulated(graphs[0], scalar); },
                                      {"index_add_", "index 7", "with size 6"}));
}

// ---- the plan cache ----------------------------------------------------------------

/// One iteration of a loop body: a scalar that changes every iteration (a
/// kernel parameter, not part of the plan's identity), a row reduction and
/// a pointwise epilogue.
Tensor loop_body(const Tensor& x, double s) { return tanh(x * s + 1.0).sum({1}) * 0.5; }

std::vector<double> loop_body_expected(const Tensor& x, double s) {
  std::vector<double> v = x.to_vector<double>();
  const int64_t rows = x.size(0), cols = x.size(1);
  std::vector<double> out(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double acc = 0;
    for (int64_t j = 0; j < cols; ++j) acc += std::tanh(v[r * cols + j] * s + 1.0);
    out[r] = acc * 0.5;
  }
  return out;
}

TEST(PlanCacheTest, HitsFromTheSecondIterationAndMissesOnNewShapeOrDType) {
  sync();
  Tensor x = f32_input({33, 19}, 50);
  reset_stats();
  for (int it = 0; it < 5; ++it) {
    const Stats before = stats();
    const double s = 0.25 + 0.5 * it;
    Tensor y = loop_body(x, s);
    sync();
    const Stats after = stats();
    EXPECT_TRUE(testing::all_close(y, loop_body_expected(x, s), 2e-5, 1e-5)) << "iteration " << it;
    EXPECT_EQ(after.flushes - before.flushes, 1) << "iteration " << it;
    if (it == 0) {
      EXPECT_EQ(after.plan_misses - before.plan_misses, 1) << "a new program misses";
      EXPECT_EQ(after.plan_hits - before.plan_hits, 0);
      continue;
    }
    EXPECT_EQ(after.plan_hits - before.plan_hits, 1)
        << "iteration " << it << " should reuse the plan";
    EXPECT_EQ(after.plan_misses - before.plan_misses, 0) << "iteration " << it;
    EXPECT_EQ(after.kernels_compiled - before.kernels_compiled, 0) << "iteration " << it;
    EXPECT_EQ(after.cache_disk_hits - before.cache_disk_hits, 0) << "iteration " << it;
  }
  auto one_flush = [](const Tensor& in, const char* what, int64_t want_misses, int64_t want_hits) {
    const Stats before = stats();
    Tensor y = loop_body(in, 0.75);
    sync();
    const Stats after = stats();
    EXPECT_EQ(after.plan_misses - before.plan_misses, want_misses) << what;
    EXPECT_EQ(after.plan_hits - before.plan_hits, want_hits) << what;
    Tensor in64 = in.cast(f64);
    EXPECT_TRUE(testing::all_close(y.cast(f64), loop_body_expected(in64, 0.75),
                                   in.dtype() == f64 ? 1e-10 : 2e-5, 1e-5))
        << what;
  };
  one_flush(f32_input({34, 19}, 51), "another shape", 1, 0);
  one_flush(input({33, 19}, f64, 52), "another dtype", 1, 0);
  one_flush(f32_input({33, 19}, 53), "the first program again, other data", 0, 1);
}

/// A scalar that changes every iteration, and at times equals another
/// constant of the same program (1, 2 and 0.5 below): the plan is still the
/// same one, and it computes with each iteration's value.
TEST(PlanCacheTest, AScalarEqualToAnotherConstantStillHits) {
  sync();
  Tensor x = f32_input({5, 7}, 60);
  const std::vector<double> v = x.to_vector<double>();
  reset_stats();
  for (int pos = 0; pos < 8; ++pos) {
    const double p = pos == 7 ? 0.5 : pos;
    const Stats before = stats();
    Tensor y = (x + p) * 2.0 + (x * p - 1.0) * 0.5;
    sync();
    const Stats after = stats();
    EXPECT_EQ(after.plan_misses - before.plan_misses, pos == 0 ? 1 : 0) << "pos " << p;
    if (pos > 0) {
      EXPECT_EQ(after.kernels_compiled - before.kernels_compiled, 0) << "pos " << p;
    }
    std::vector<double> want(v.size());
    for (size_t i = 0; i < v.size(); ++i) want[i] = (v[i] + p) * 2.0 + (v[i] * p - 1.0) * 0.5;
    EXPECT_TRUE(testing::all_close(y, want, 1e-5, 1e-5)) << "pos " << p;
  }
}

}  // namespace
}  // namespace tj
