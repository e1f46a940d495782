// User errors: every misuse throws tj::Error whose message starts with the
// op's name and names the shapes/dtypes involved and what would be valid; the
// library keeps working afterwards. Every test runs lazily and eagerly.
#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using tj::testing::all_close;
using tj::testing::throws_error;
using Ten = tj::Tensor;

class Errors : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { guard_->lazy = GetParam(); }
  tj::ConfigGuard guard_;
};

INSTANTIATE_TEST_SUITE_P(Modes, Errors, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "lazy" : "eager"; });

Ten f32(const std::vector<float>& v, const tj::Shape& s) { return tj::from_vector<float>(v, s); }
Ten iota(const tj::Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return tj::from_vector<float>(v, s);
}

/// Like throws_error, but passes the message to `check` for assertions that
/// are not a plain substring (alternatives, case-insensitivity).
template <class Fn>
::testing::AssertionResult throws_error_where(Fn&& fn,
                                              const std::function<bool(const std::string&)>& check,
                                              const char* what) {
  try {
    fn();
  } catch (const tj::Error& e) {
    if (check(e.what())) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message does not " << what << ": " << e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-tj::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// ---- the cases named in the conventions -------------------------------------------

TEST_P(Errors, BroadcastMismatch) {
  Ten a = tj::ones({2, 3});
  Ten b = tj::ones({4, 3});
  EXPECT_TRUE(throws_error([&] { (void)(a + b); }, {"add", "[2, 3]", "[4, 3]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::add(a, b); }, {"add", "[2, 3]", "[4, 3]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::mul(a, b); }, {"mul", "[2, 3]", "[4, 3]"}));
  EXPECT_TRUE(throws_error([&] { (void)(a < b); }, {"[2, 3]", "[4, 3]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::where(a > 0, a, b); }, {"where", "[2, 3]", "[4, 3]"}));
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::broadcast_shapes({2, 3}, {4, 3});
      },
      {"[2, 3]", "[4, 3]"}));
  // Trailing dims are compared first: [3] does not broadcast with [3, 2].
  EXPECT_TRUE(throws_error(
      [&] {
        (void)(tj::ones({3}) + tj::ones({3, 2}));
      },
      {"add", "[3]", "[3, 2]"}));
}

TEST_P(Errors, BroadcastMessageStartsWithOpName) {
  try {
    (void)(tj::ones({2, 3}) + tj::ones({4, 3}));
    FAIL() << "did not throw";
  } catch (const tj::Error& e) {
    EXPECT_TRUE(starts_with(e.what(), "add")) << e.what();
  }
}

TEST_P(Errors, MatmulInnerDimMismatch) {
  Ten a = tj::ones({2, 3});
  Ten b = tj::ones({4, 5});
  EXPECT_TRUE(throws_error([&] { (void)tj::matmul(a, b); }, {"matmul", "[2, 3]", "[4, 5]"}));
  EXPECT_TRUE(throws_error([&] { (void)a.matmul(b); }, {"matmul", "[2, 3]", "[4, 5]"}));
  // Batched: inner dims 3 vs 4.
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::matmul(tj::ones({7, 2, 3}), tj::ones({7, 4, 5}));
      },
      {"matmul", "[7, 2, 3]", "[7, 4, 5]"}));
  // Batch dims that do not broadcast.
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::matmul(tj::ones({2, 2, 3}), tj::ones({3, 3, 4}));
      },
      {"matmul"}));
  // 0-d operands are not valid for matmul.
  EXPECT_TRUE(throws_error([&] { (void)tj::matmul(tj::ones({}), tj::ones({3})); }, {"matmul"}));
}

TEST_P(Errors, InvalidReductionAxis) {
  Ten x = tj::ones({2, 3});
  EXPECT_TRUE(throws_error([&] { (void)tj::sum(x, int64_t{5}); }, {"sum", "5", "[-2, 1]"}));
  EXPECT_TRUE(throws_error([&] { (void)x.sum({5}); }, {"sum", "5", "[-2, 1]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::sum(x, int64_t{-3}); }, {"sum", "-3", "[-2, 1]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::max(x, int64_t{2}); }, {"max", "2", "[-2, 1]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::mean(x, int64_t{2}); }, {"mean", "2", "[-2, 1]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::argmax(x, 3); }, {"argmax", "3"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::softmax(x, 2); }, {"softmax", "2"}));
  // The same axis twice.
  EXPECT_TRUE(throws_error([&] { (void)tj::sum(x, tj::Axes{0, 0}); }, {"sum"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::sum(x, tj::Axes{1, -1}); }, {"sum"}));
}

TEST_P(Errors, InvalidMovementAxes) {
  Ten x = tj::ones({2, 3});
  EXPECT_TRUE(throws_error([&] { (void)x.transpose(0, 2); }, {"transpose", "2"}));
  EXPECT_TRUE(throws_error([&] { (void)x.unsqueeze(3); }, {"unsqueeze", "3"}));
  EXPECT_TRUE(throws_error([&] { (void)x.squeeze(4); }, {"squeeze", "4"}));
  EXPECT_TRUE(throws_error([&] { (void)x.slice(2, 0, 1); }, {"slice"}));
  EXPECT_TRUE(throws_error([&] { (void)x.size(5); }, {"5"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::ones({2, 3, 4}).t(); }, {"[2, 3, 4]"}));
}

TEST_P(Errors, PermuteNotAPermutation) {
  Ten x = tj::ones({2, 3});
  EXPECT_TRUE(throws_error([&] { (void)x.permute({0, 0}); }, {"permute", "[2, 3]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::permute(x, {0}); }, {"permute", "[2, 3]"}));
  EXPECT_TRUE(throws_error([&] { (void)x.permute({0, 1, 2}); }, {"permute", "[2, 3]"}));
  EXPECT_TRUE(throws_error([&] { (void)x.permute({1, 2}); }, {"permute", "2"}));
}

TEST_P(Errors, ReshapeIncompatibleNumel) {
  Ten x = tj::ones({2, 3});
  EXPECT_TRUE(throws_error([&] { (void)x.reshape({4}); }, {"reshape", "[2, 3]", "[4]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::reshape(x, {4, 2}); }, {"reshape", "[2, 3]", "[4, 2]"}));
  EXPECT_TRUE(throws_error([&] { (void)x.reshape({-1, 4}); }, {"reshape", "[2, 3]"}));
  EXPECT_TRUE(throws_error([&] { (void)x.reshape({-1, -1}); }, {"reshape"}));
  EXPECT_TRUE(throws_error([&] { (void)x.view({7}); }, {"[2, 3]", "[7]"}));
}

TEST_P(Errors, ExpandNonOneDim) {
  Ten x = tj::ones({2, 3});
  EXPECT_TRUE(throws_error([&] { (void)x.expand({4, 3}); }, {"expand", "[2, 3]", "[4, 3]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::expand(x, {2, 6}); }, {"expand", "[2, 3]", "[2, 6]"}));
  // Fewer dims than the input.
  EXPECT_TRUE(throws_error([&] { (void)x.expand({3}); }, {"expand", "[2, 3]"}));
  // broadcast_to is expand.
  EXPECT_TRUE(throws_error([&] { (void)x.broadcast_to({4, 3}); }, {"[2, 3]", "[4, 3]"}));
}

TEST_P(Errors, SliceStepNotPositive) {
  Ten x = tj::ones({5});
  EXPECT_TRUE(throws_error([&] { (void)x.slice(0, 0, 5, 0); }, {"slice", "step"}));
  EXPECT_TRUE(throws_error([&] { (void)x.slice(0, 4, 0, -1); }, {"slice", "step"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::slice(x, 0, 0, 5, -2); }, {"slice", "step"}));
}

TEST_P(Errors, MeanOfIntegerTensor) {
  EXPECT_TRUE(throws_error([&] { (void)tj::mean(tj::arange(6)); }, {"mean", "i64"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::ones({3}, tj::i32).mean(); }, {"mean", "i32"}));
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::mean(tj::ones({2, 2}, tj::i64), int64_t{0});
      },
      {"mean", "i64"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::ones({3}, tj::bool_).mean(); }, {"mean", "bool"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::var(tj::arange(6)); }, {"var", "i64"}));
  // The fix works: cast first.
  EXPECT_TRUE(all_close(tj::mean(tj::arange(6).cast(tj::f32)), {2.5}));
}

TEST_P(Errors, NegOfBool) {
  Ten b = tj::ones({3}, tj::bool_);
  EXPECT_TRUE(throws_error([&] { (void)tj::neg(b); }, {"neg", "bool"}));
  EXPECT_TRUE(throws_error([&] { (void)(-b); }, {"neg", "bool"}));
  EXPECT_TRUE(throws_error([&] { (void)b.neg(); }, {"neg", "bool"}));
  // exp on bool is fine (promotes to f32), as is neg after a cast.
  EXPECT_EQ(tj::exp(b).dtype(), tj::f32);
  EXPECT_TRUE(all_close(tj::neg(b.cast(tj::i32)), {-1, -1, -1}, 0, 0));
}

TEST_P(Errors, BitwiseOperatorsNeedBool) {
  Ten f = tj::ones({3});
  EXPECT_TRUE(throws_error([&] { (void)(f & f); }, {"f32"}));
  EXPECT_TRUE(throws_error([&] { (void)(f | f); }, {"f32"}));
  EXPECT_TRUE(throws_error([&] { (void)(f ^ f); }, {"f32"}));
  EXPECT_TRUE(throws_error([&] { (void)(~f); }, {"f32"}));
}

TEST_P(Errors, WhereConditionMustBeBool) {
  Ten x = tj::ones({3});
  EXPECT_TRUE(throws_error([&] { (void)tj::where(x, x, x); }, {"where", "f32"}));
}

TEST_P(Errors, BadOpArguments) {
  Ten x = tj::ones({3});
  EXPECT_TRUE(throws_error([&] { (void)tj::gelu(x, "fast"); }, {"gelu", "fast"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::clamp(x, std::nullopt, std::nullopt); }, {"clamp"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::arange(0, 10, 0); }, {"arange"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::zeros({2, -1}); }, {"-1"}));
}

TEST_P(Errors, InPlaceCannotChangeShapeOrDtypeCategory) {
  // As in PyTorch, `a op= b` must produce a result of a's shape...
  Ten a = tj::ones({3});
  EXPECT_TRUE(throws_error([&] { a += tj::ones({2, 3}); }, {"[3]", "[2, 3]"}));
  EXPECT_TRUE(throws_error([&] { a *= tj::ones({4}); }, {"[3]", "[4]"}));
  EXPECT_TRUE(all_close(a, {1, 1, 1}));  // unchanged after the failed ops
  // ...and a floating result cannot be stored into an integer tensor
  // (PyTorch: "result type Float can't be cast to the desired output type Int").
  Ten i = tj::ones({2}, tj::i32);
  EXPECT_TRUE(throws_error([&] { i += 2.5; }, {"i32"}));
  EXPECT_TRUE(throws_error([&] { i /= 2; }, {"i32"}));
  EXPECT_TRUE(throws_error([&] { i += tj::ones({2}); }, {"i32", "f32"}));
  EXPECT_EQ(i.dtype(), tj::i32);
  EXPECT_TRUE(all_close(i, {1, 1}, 0, 0));
}

TEST_P(Errors, CreationErrorsNameTheCalledOp) {
  // Messages start with the name of the op the user called, even when it is
  // implemented through another (zeros/ones through full).
  EXPECT_TRUE(throws_error([] { (void)tj::zeros({2, -1}); }, {"zeros", "[2, -1]"}));
  EXPECT_TRUE(throws_error([] { (void)tj::ones({-3}); }, {"ones", "[-3]"}));
  EXPECT_TRUE(throws_error([] { (void)tj::full({-3}, 1.5); }, {"full", "[-3]"}));
}

// ---- undefined tensors --------------------------------------------------------------

TEST_P(Errors, UndefinedTensorInOps) {
  Ten u;
  Ten x = tj::ones({3});
  EXPECT_FALSE(u.defined());
  EXPECT_TRUE(throws_error([&] { (void)(u + x); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)(x + u); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)(u * 2); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::exp(u); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)u.exp(); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::sum(u); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)u.reshape({3}); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)u.cast(tj::f16); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::where(x > 0, u, x); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::cat({x, u}); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::matmul(u, x); }, {"undefined"}));
}

TEST_P(Errors, UndefinedTensorRead) {
  Ten u;
  EXPECT_TRUE(throws_error([&] { (void)u.to_vector<float>(); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)u.item<float>(); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)u.eval(); }, {"undefined"}));
  // A moved-from handle is undefined too.
  Ten x = tj::ones({2});
  Ten y = std::move(x);
  EXPECT_TRUE(all_close(y, {1, 1}));
  EXPECT_TRUE(throws_error([&] { (void)x.to_vector<float>(); }, {"undefined"}));  // NOLINT
}

TEST_P(Errors, UndefinedTensorAccessors) {
  Ten u;
  EXPECT_TRUE(throws_error([&] { (void)u.shape(); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)u.numel(); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)u.dtype(); }, {"undefined"}));
}

// ---- host reads -------------------------------------------------------------------

TEST_P(Errors, ItemOnMoreThanOneElement) {
  Ten x = tj::ones({2, 3});
  EXPECT_TRUE(throws_error_where([&] { (void)x.item<float>(); },
                                 [](const std::string& m) {
                                   return m.find("item") != std::string::npos &&
                                          (m.find("6") != std::string::npos ||
                                           m.find("[2, 3]") != std::string::npos);
                                 },
                                 "mention item and the numel (6) or shape [2, 3]"));
  EXPECT_TRUE(throws_error([&] { (void)tj::zeros({0}).item<float>(); }, {"item"}));
  // One element in any shape is fine.
  EXPECT_EQ(tj::full({1, 1, 1}, 2.5).item<float>(), 2.5f);
  EXPECT_EQ(tj::full({}, 7).item<int64_t>(), 7);
}

TEST_P(Errors, FromVectorSizeMismatch) {
  std::vector<float> five = {1, 2, 3, 4, 5};
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::from_vector<float>(five, {2, 3});
      },
      {"from_vector", "5", "[2, 3]"}));
  std::vector<int64_t> one = {1};
  EXPECT_TRUE(
      throws_error([&] { (void)tj::from_vector<int64_t>(one, {0}); }, {"from_vector", "[0]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::from_vector<float>({}, {1}); }, {"from_vector", "[1]"}));
  // Matching sizes work, including 0-d and empty.
  EXPECT_EQ(tj::from_vector<float>({3.5f}, {}).item<float>(), 3.5f);
  EXPECT_EQ(tj::from_vector<float>({}, {0, 4}).numel(), 0);
}

// ---- cat / stack ---------------------------------------------------------------------

// Element counts never wrap around (they used to: a 2-element vector was
// accepted for shape [3, 6148914691236517206], and slicing it read wild memory).
TEST_P(Errors, ElementCountsThatOverflowAreErrors) {
  const int64_t big = int64_t{1} << 40;
  EXPECT_TRUE(throws_error([&] { tj::zeros({big, big}); }, {"zeros:", "2^60 elements"}));
  EXPECT_TRUE(throws_error(
      [] {
        tj::from_vector<float>({1, 2}, {3, 6148914691236517206});
      },
      {"from_vector:", "[3, 6148914691236517206]", "2^60"}));
  EXPECT_TRUE(throws_error([] { iota({10}).reshape({-1, int64_t{1} << 62, 4}); }, {"reshape:"}));
  EXPECT_TRUE(throws_error([&] { iota({2}).expand({big, big, 2}); }, {"expand:", "2^60 elements"}));
  {
    Ten z = tj::zeros({1}).eval().expand({int64_t{1} << 60});  // a valid shape: a view
    EXPECT_TRUE(throws_error([&] { tj::cat(std::vector<Ten>(9, z)); }, {"cat:", "overflows"}));
    EXPECT_TRUE(throws_error([&] { tj::cat(std::vector<Ten>(2, z)); }, {"cat:", "2^60"}));
  }
  EXPECT_TRUE(throws_error([] { tj::rand({-1, 3}); }, {"rand:", "non-negative"}));
  // Still working afterwards.
  EXPECT_TRUE(all_close(iota({3}) + 1, {1, 2, 3}));
}

TEST_P(Errors, HugeAllocationIsOutOfMemoryNotAnInternalError) {
  EXPECT_TRUE(throws_error([] { tj::arange(0, 1e18).sum().item<float>(); },
                           {"out of memory allocating", "free tensors you no longer need"}));
  EXPECT_TRUE(all_close(tj::arange(0, 4), {0, 1, 2, 3}));
}

TEST_P(Errors, SliceWithTheLargestEndAndStep) {
  Ten x = iota({10});
  EXPECT_TRUE(all_close(x.slice(0, 0, 5, INT64_MAX), {0}));
  EXPECT_TRUE(all_close(x.slice(0, 3, INT64_MAX, INT64_MAX), {3}));
  EXPECT_TRUE(all_close(x.slice(0, INT64_MIN, INT64_MAX, 4), {0, 4, 8}));
  EXPECT_EQ(x.slice(0, INT64_MAX, INT64_MAX).numel(), 0);
}

TEST_P(Errors, EmptyAxesGivePyTorchsResults) {
  Ten e = tj::zeros({4, 0});
  // var and std over no elements are NaN (divisor max(N - correction, 0)).
  EXPECT_TRUE(all_close(e.var({1}), std::vector<double>(4, tj::testing::kNaN)));
  EXPECT_TRUE(all_close(e.std({1}, false), std::vector<double>(4, tj::testing::kNaN)));
  EXPECT_TRUE(all_close(iota({3, 1}).var({1}), std::vector<double>(3, tj::testing::kNaN)));
  // softmax over an empty axis is an empty tensor, not an error about max.
  Ten s = tj::softmax(e, 1), l = tj::log_softmax(e, 1);
  EXPECT_EQ(s.shape(), (tj::Shape{4, 0}));
  EXPECT_EQ(l.shape(), (tj::Shape{4, 0}));
  EXPECT_EQ(s.to_vector<float>().size(), 0u);
}

// Documented (README, Semantics): integer division by zero gives 0 (a kernel
// cannot raise); a float cast to an integer dtype saturates, NaN gives 0.
TEST_P(Errors, IntegerDivisionByZeroAndOutOfRangeCastsAreDefined) {
  Ten i = tj::arange(-2, 3);
  EXPECT_EQ(tj::floor_divide(i, 0).to_vector<int64_t>(), (std::vector<int64_t>(5, 0)));
  EXPECT_EQ(tj::remainder(i, 0).to_vector<int64_t>(), (std::vector<int64_t>(5, 0)));
  Ten f = tj::from_vector<float>({1e20f, -1e20f, std::nanf(""), 2.9f, -2.9f});
  EXPECT_EQ(f.cast(tj::i64).to_vector<int64_t>(),
            (std::vector<int64_t>{INT64_MAX, INT64_MIN, 0, 2, -2}));
  EXPECT_EQ(f.cast(tj::i32).to_vector<int32_t>(),
            (std::vector<int32_t>{INT32_MAX, INT32_MIN, 0, 2, -2}));
  EXPECT_EQ(f.to_vector<int32_t>(), (std::vector<int32_t>{INT32_MAX, INT32_MIN, 0, 2, -2}));
  // Integers wrap, as two's complement does.
  Ten big = tj::full({1}, int64_t{1} << 32);
  EXPECT_EQ(big.cast(tj::i32).to_vector<int32_t>(), (std::vector<int32_t>{0}));
  // Printing shows every digit of an i64.
  EXPECT_NE(f.cast(tj::i64).str().find("9223372036854775807"), std::string::npos);
}

TEST_P(Errors, CatMismatchedShapes) {
  Ten a = tj::ones({2, 3});
  Ten b = tj::ones({3, 4});
  EXPECT_TRUE(throws_error([&] { (void)tj::cat({a, b}, 0); }, {"cat", "[2, 3]", "[3, 4]"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::cat({a, tj::ones({3})}, 0); }, {"cat"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::cat({}, 0); }, {"cat"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::cat({a, a}, 2); }, {"cat", "2"}));
  EXPECT_TRUE(throws_error(
      [&] {
        (void)tj::stack({tj::ones({2}), tj::ones({3})});
      },
      {"stack", "[2]", "[3]"}));
  // Along the dim that differs it is fine.
  Ten c = tj::cat({tj::ones({2, 3}), tj::zeros({2, 4})}, 1);
  EXPECT_EQ(c.shape(), (tj::Shape{2, 7}));
  EXPECT_TRUE(all_close(c.sum(), {6}));
}

// ---- devices ----------------------------------------------------------------------

TEST_P(Errors, CudaWithoutCuda) {
  if (tj::cuda_is_available()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_FALSE(tj::cuda_unavailable_reason().empty());
  auto mentions_cuda = [](const std::string& m) {
    return lower(m).find("cuda") != std::string::npos;
  };
  EXPECT_TRUE(throws_error_where([] { (void)tj::zeros({2}, tj::Device::cuda(0)); }, mentions_cuda,
                                 "mention cuda"));
  EXPECT_TRUE(throws_error_where(
      [] { (void)tj::ones({2}, tj::TensorOptions().dtype(tj::f16).device(tj::Device::cuda(1))); },
      mentions_cuda, "mention cuda"));
  EXPECT_TRUE(throws_error_where(
      [] {
        (void)tj::from_vector<float>({1, 2}, {2}, tj::Device::cuda(0));
      },
      mentions_cuda, "mention cuda"));
  EXPECT_TRUE(throws_error_where([] { (void)tj::ones({2}).to(tj::Device::cuda(0)); }, mentions_cuda,
                                 "mention cuda"));
  // The CPU still works.
  EXPECT_TRUE(all_close(tj::ones({2}, tj::Device::cpu()) * 3, {3, 3}));
}

// ---- the library keeps working ---------------------------------------------------------

TEST_P(Errors, KeepsWorkingAfterErrors) {
  Ten x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  Ten pending = x * 2 + 1;  // traced (lazy) before the errors
  EXPECT_TRUE(throws_error([&] { (void)(pending + tj::ones({4, 3})); }, {"add"}));
  EXPECT_TRUE(throws_error([&] { (void)tj::matmul(pending, pending); }, {"matmul"}));
  EXPECT_TRUE(throws_error([&] { (void)pending.sum({5}); }, {"sum"}));
  EXPECT_TRUE(throws_error([&] { (void)pending.reshape({5}); }, {"reshape"}));
  EXPECT_TRUE(throws_error([&] { (void)Ten{}.exp(); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { (void)pending.item<float>(); }, {"item"}));
  // The op traced before the errors still has its value.
  EXPECT_TRUE(all_close(pending, {3, 5, 7, 9, 11, 13}));
  // New ops after the errors compute correctly, with fusion and broadcasting.
  Ten y = tj::exp(x.t() * 0) + x.t().sum({1}, false).reshape({3, 1}) - tj::ones({3, 1});
  EXPECT_EQ(y.shape(), (tj::Shape{3, 2}));
  EXPECT_TRUE(all_close(y, {5, 5, 7, 7, 9, 9}));
  Ten m = tj::matmul(x, x.t());
  EXPECT_TRUE(all_close(m, {14, 32, 32, 77}));
  EXPECT_TRUE(all_close(tj::mean(x), {3.5}));
}

TEST_P(Errors, ErrorInsideAChainLeavesOtherWorkIntact) {
  Ten a = iota({4});
  Ten b = a + 1;
  Ten c = b * b;  // pending
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(throws_error([&] { (void)(c + iota({5})); }, {"add", "[4]", "[5]"}));
  }
  Ten d = c - a;  // after the errors
  EXPECT_TRUE(all_close(d, {1, 3, 7, 13}));
  EXPECT_TRUE(all_close(c, {1, 4, 9, 16}));
  // The same failing op with good inputs works.
  EXPECT_TRUE(all_close(c + iota({4}), {1, 5, 11, 19}));
}

TEST_P(Errors, ManyErrorsDoNotLeakIntoLaterTraces) {
  for (int i = 0; i < 100; ++i) {
    Ten t = tj::full({3}, static_cast<double>(i));
    EXPECT_TRUE(throws_error([&] { (void)(t + tj::ones({2})); }, {"add"}));
  }
  Ten ok = tj::full({3}, 1.5) * 2;
  EXPECT_TRUE(all_close(ok, {3, 3, 3}));
  tj::sync();
  EXPECT_TRUE(all_close(tj::arange(3).cast(tj::f32) + ok, {3, 4, 5}));
}

}  // namespace
