// Scans, sorting and sampling: cumsum, cumprod, logcumsumexp, argsort, sort,
// topk, multinomial, bernoulli and their method and in-place forms. Expected values come from
// torch's definitions, written out here or computed by a plain loop in f64; every test runs lazily
// and eagerly. fusion_test runs fused scans against the reference evaluator on the CPU and the CUDA
// emulator.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "test_util.h"

namespace {

using tj::DType;
using tj::Shape;
using tj::Tensor;
using namespace tj::testing;  // test_util.h

class ScanTest : public ModeTest {};
INSTANTIATE_TEST_SUITE_P(Ops, ScanTest, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

/// The running `op` of v along the last dim of [rows, n], in f64.
std::vector<double> running(const std::vector<double>& v, int64_t n, char op) {
  std::vector<double> out(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    const bool first = k % static_cast<size_t>(n) == 0;
    const double p = first ? 0 : out[k - 1];
    if (op == '+') out[k] = first ? v[k] : p + v[k];
    if (op == '*') out[k] = first ? v[k] : p * v[k];
    if (op == 'l') {
      const double m = std::max(p, v[k]);
      out[k] = first || std::isinf(m) ? (first ? v[k] : m)
                                      : m + std::log1p(std::exp(std::min(p, v[k]) - m));
    }
  }
  return out;
}

TEST_P(ScanTest, CumsumAlongEachDimension) {
  Tensor x = tj::arange(1, 13, 1, tj::f32).reshape({3, 4});
  EXPECT_EQ(vals(tj::cumsum(x, 1)),
            (std::vector<double>{1, 3, 6, 10, 5, 11, 18, 26, 9, 19, 30, 42}));
  EXPECT_EQ(vals(x.cumsum(0)), (std::vector<double>{1, 2, 3, 4, 6, 8, 10, 12, 15, 18, 21, 24}));
  EXPECT_EQ(vals(x.cumsum(-1)), vals(tj::cumsum(x, 1)));
  // A strided view, a 3-d middle dim, a computed input.
  Tensor y = tj::arange(0, 24, 1, tj::f64).reshape({2, 3, 4});
  std::vector<double> want(24);
  for (int a = 0; a < 2; ++a)
    for (int c = 0; c < 4; ++c)
      for (int b = 0, s = 0; b < 3; ++b) {
        s += a * 12 + b * 4 + c;
        want[a * 12 + b * 4 + c] = s;
      }
  EXPECT_EQ(vals(tj::cumsum(y, 1)), want);
  EXPECT_EQ(vals(tj::cumsum(y.permute({2, 0, 1}), 2)), vals(tj::cumsum(y, 1).permute({2, 0, 1})));
  EXPECT_TRUE(all_close(tj::cumsum(tj::exp(x) - 1.0, 1),
                        running(vals(tj::exp(x.to(tj::f64)) - 1.0), 4, '+'), 1e-5));
  // Size 0 and 1, and a 0-d tensor (dim 0 or -1, as torch).
  EXPECT_EQ(tj::cumsum(tj::zeros({0, 3}), 0).shape(), (Shape{0, 3}));
  EXPECT_EQ(vals(tj::cumsum(tj::full({1, 3}, 2.0), 0)), (std::vector<double>{2, 2, 2}));
  EXPECT_EQ(tj::cumsum(tj::scalar_tensor(4.0), 0).item<double>(), 4.0);
  EXPECT_EQ(tj::cumsum(tj::scalar_tensor(4.0), -1).shape(), Shape{});
}

TEST_P(ScanTest, CumsumDTypesFollowTorch) {
  // Integers and bool are summed in i64; floating types keep theirs.
  Tensor k = tj::from_vector(std::vector<int32_t>{2147483647, 1, -5}, {3});
  Tensor ks = tj::cumsum(k, 0);
  EXPECT_EQ(ks.dtype(), tj::i64);
  EXPECT_EQ(ks.to_vector<int64_t>(),
            (std::vector<int64_t>{2147483647, 2147483648LL, 2147483643LL}));
  Tensor b = tj::from_vector(std::vector<bool>{true, false, true, true}, {4});
  EXPECT_EQ(tj::cumsum(b, 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 2, 3}));
  // i64 wraps as torch's does.
  Tensor big = tj::from_vector(std::vector<int64_t>{INT64_MAX, 1}, {2});
  EXPECT_EQ(tj::cumsum(big, 0).to_vector<int64_t>()[1], INT64_MIN);
  for (DType dt : {tj::f16, tj::bf16, tj::f32, tj::f64}) {
    Tensor r = tj::cumsum(make({0.5, 1.5, 2.0, -1.0}, {4}, dt), 0);
    EXPECT_EQ(r.dtype(), dt);
    EXPECT_EQ(vals(r), (std::vector<double>{0.5, 2, 4, 3})) << tj::dtype_name(dt);
  }
  // dtype casts the input first.
  EXPECT_EQ(tj::cumsum(k, 0, tj::f64).dtype(), tj::f64);
  EXPECT_EQ(vals(tj::cumsum(make({1, 2, 3}, {3}), 0, tj::i32)), (std::vector<double>{1, 3, 6}));
  // f16 accumulates in f32: a running sum of ones does not stop at 2048
  // (where f16's spacing becomes 2); each result is rounded on its own.
  const std::vector<double> ones = tj::cumsum(tj::ones({4096}, tj::f16), 0).to_vector<double>();
  EXPECT_EQ(ones[2049], 2050.0);
  EXPECT_EQ(ones[4095], 4096.0);
  // Under autocast a bf16 input is summed and returned in f32.
  {
    tj::autocast ac(tj::bf16);
    EXPECT_EQ(tj::cumsum(tj::ones({3}, tj::bf16), 0).dtype(), tj::f32);
  }
}

TEST_P(ScanTest, CumprodAndInPlaceForms) {
  Tensor x = make({1, 2, 3, 4, -1, 0.5, 2, 0}, {2, 4});
  EXPECT_EQ(vals(tj::cumprod(x, 1)), (std::vector<double>{1, 2, 6, 24, -1, -0.5, -1, 0}));
  EXPECT_EQ(vals(x.cumprod(0)), (std::vector<double>{1, 2, 3, 4, -1, 1, 6, 0}));
  Tensor k = tj::from_vector(std::vector<int32_t>{3, -2, 4}, {3});
  EXPECT_EQ(tj::cumprod(k, 0).to_vector<int64_t>(), (std::vector<int64_t>{3, -6, -24}));
  EXPECT_EQ(tj::cumprod(k, 0).dtype(), tj::i64);
  // The in-place forms keep the tensor's dtype.
  Tensor y = tj::from_vector(std::vector<int32_t>{1, 2, 3}, {3});
  y.cumsum_(0);
  EXPECT_EQ(y.dtype(), tj::i32);
  EXPECT_EQ(y.to_vector<int32_t>(), (std::vector<int32_t>{1, 3, 6}));
  Tensor z = make({2, 3, 0.5}, {3}, tj::bf16);
  z.cumprod_(0);
  EXPECT_EQ(z.dtype(), tj::bf16);
  EXPECT_EQ(vals(z), (std::vector<double>{2, 6, 3}));
}

TEST_P(ScanTest, LogcumsumexpIsStable) {
  std::vector<double> v = {1000, 1000, -1000, 0, -3, 2, 700, 2.5};
  Tensor x = make(v, {2, 4}, tj::f64);
  EXPECT_TRUE(all_close(tj::logcumsumexp(x, 1), running(v, 4, 'l'), 1e-12));
  EXPECT_NEAR(tj::logcumsumexp(x, 1).to_vector<double>()[1], 1000 + std::log(2.0), 1e-9);
  Tensor f = make(v, {2, 4});
  EXPECT_TRUE(all_close(f.logcumsumexp(-1), running(v, 4, 'l'), 1e-6));
  // -inf entries add nothing; a line of -inf stays -inf; +inf and NaN propagate.
  Tensor s = make({-kInf, -kInf, 0, -kInf, 1, kInf, 2, kNaN, 3}, {3, 3});
  EXPECT_TRUE(all_close(tj::logcumsumexp(s, 1), {-kInf, -kInf, 0, -kInf, 1, kInf, 2, kNaN, kNaN}));
  // Along dim 0, every floating dtype.
  for (DType dt : {tj::f16, tj::bf16, tj::f32}) {
    Tensor r = tj::logcumsumexp(make({0, 0, 0, 0}, {4, 1}, dt), 0);
    EXPECT_EQ(r.dtype(), dt);
    EXPECT_TRUE(all_close(r, {0, std::log(2.0), std::log(3.0), std::log(4.0)}, 1e-2, 1e-2));
  }
}

TEST_P(ScanTest, BadInputIsAnError) {
  Tensor x = tj::ones({2, 3});
  EXPECT_TRUE(throws_error([&] { tj::cumsum(x, 2); }, {"cumsum", "dim", "2"}));
  EXPECT_TRUE(throws_error([&] { tj::cumprod(x, -3); }, {"cumprod"}));
  EXPECT_TRUE(throws_error([&] { tj::cumsum(x, 0, tj::bool_); }, {"cumsum", "bool"}));
  EXPECT_TRUE(throws_error([&] { tj::logcumsumexp(tj::ones({3}, tj::i64), 0); },
                           {"logcumsumexp", "floating", "i64", "to(tj::f32)"}));
  EXPECT_TRUE(throws_error([&] { tj::cumsum(Tensor(), 0); }, {"cumsum"}));
  // The process keeps working.
  EXPECT_EQ(vals(tj::cumsum(x, 1)), (std::vector<double>{1, 2, 3, 1, 2, 3}));
}

TEST_P(ScanTest, SortIsStableWithNaNAboveNumbers) {
  Tensor x = make({3, 1, kNaN, 2, 1, 5, 0, -1}, {2, 4});
  auto [v, i] = tj::sort(x, 1);
  EXPECT_TRUE(all_close(v, {1, 2, 3, kNaN, -1, 0, 1, 5}));
  EXPECT_EQ(i.dtype(), tj::i64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 0, 2, 3, 2, 0, 1}));
  auto [dv, di] = x.sort(-1, true);
  EXPECT_TRUE(all_close(dv, {kNaN, 3, 2, 1, 5, 1, 0, -1}));
  EXPECT_EQ(di.to_vector<int64_t>(), (std::vector<int64_t>{2, 0, 3, 1, 1, 0, 2, 3}));
  // Equal values keep their order, ascending and descending.
  Tensor t = make({2, 1, 2, 1, 2}, {5}, tj::i32);
  EXPECT_EQ(tj::argsort(t).to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 0, 2, 4}));
  EXPECT_EQ(t.argsort(0, true).to_vector<int64_t>(), (std::vector<int64_t>{0, 2, 4, 1, 3}));
  // Along dim 0 of a 3-d tensor, a permuted view, every dtype, against std::stable_sort.
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> u(-20, 20);
  for (DType dt : {tj::f32, tj::f16, tj::bf16, tj::f64, tj::i32, tj::i64, tj::bool_}) {
    std::vector<double> d(6 * 37 * 2);
    for (double& e : d)
      e = dt == tj::bool_ ? u(rng) > 0 : tj::is_floating(dt) ? u(rng) * 0.5 : u(rng);
    Tensor y = make(d, {6, 37, 2}, dt).permute({2, 0, 1});  // [2, 6, 37], sorted along 1
    Tensor got = tj::argsort(y, 1, true);
    std::vector<int64_t> want(2 * 6 * 37);
    for (int a = 0; a < 2; ++a)
      for (int c = 0; c < 37; ++c) {
        std::vector<int64_t> p(6);
        std::iota(p.begin(), p.end(), 0);
        auto key = [&](int64_t b) { return d[(b * 37 + c) * 2 + a]; };
        std::stable_sort(p.begin(), p.end(), [&](int64_t l, int64_t r) { return key(l) > key(r); });
        for (int b = 0; b < 6; ++b) want[(a * 6 + b) * 37 + c] = p[b];
      }
    EXPECT_EQ(got.to_vector<int64_t>(), want) << tj::dtype_name(dt);
  }
  // A long line (heap sort over 5000 elements), a 0-d tensor, an empty line.
  std::vector<double> big(5000);
  for (size_t k = 0; k < big.size(); ++k) big[k] = static_cast<double>((k * 7919) % 1000);
  std::vector<double> sorted = big;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(vals(std::get<0>(tj::sort(make(big, {5000}, tj::f64)))), sorted);
  EXPECT_EQ(std::get<1>(tj::sort(tj::scalar_tensor(2.0))).item<int64_t>(), 0);
  EXPECT_EQ(tj::argsort(tj::zeros({3, 0}), 1).shape(), (Shape{3, 0}));
  EXPECT_TRUE(throws_error([] { tj::argsort(tj::zeros({3}), 1); }, {"argsort", "dim"}));
}

TEST_P(ScanTest, TopkTakesTheLargestOrSmallestInOrder) {
  Tensor x = make({1, 9, 3, 9, 4, 0, -2, 7, 7, 5}, {2, 5});
  auto [v, i] = tj::topk(x, 3);
  EXPECT_EQ(vals(v), (std::vector<double>{9, 9, 4, 7, 7, 5}));
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 4, 2, 3, 4}));
  auto [sv, si] = x.topk(2, 1, false);
  EXPECT_EQ(vals(sv), (std::vector<double>{1, 3, -2, 0}));
  EXPECT_EQ(si.to_vector<int64_t>(), (std::vector<int64_t>{0, 2, 1, 0}));
  // Along dim 0, of a computed input; k = 0 and k = size.
  auto [cv, ci] = tj::topk(x * -1.0, 1, 0);
  EXPECT_EQ(vals(cv), (std::vector<double>{-0.0, 2, -3, -7, -4}));
  EXPECT_EQ(ci.to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 0, 1, 0}));
  EXPECT_EQ(std::get<0>(tj::topk(x, 0)).shape(), (Shape{2, 0}));
  EXPECT_EQ(vals(std::get<0>(tj::topk(x, 5))),
            (std::vector<double>{9, 9, 4, 3, 1, 7, 7, 5, 0, -2}));
  EXPECT_TRUE(throws_error([&] { tj::topk(x, 6); }, {"topk", "k (6)", "[0, 5]", "[2, 5]"}));
  EXPECT_TRUE(throws_error([&] { tj::topk(x, -1); }, {"topk", "k (-1)"}));
}

TEST_P(ScanTest, MultinomialDrawsInProportion) {
  tj::manual_seed(7);
  const std::vector<double> w = {1, 0, 3, 4};  // unnormalized, one zero
  Tensor p = make(w, {4});
  const int64_t n = 20000;
  Tensor s = tj::multinomial(p, n, true);
  EXPECT_EQ(s.dtype(), tj::i64);
  EXPECT_EQ(s.shape(), (Shape{n}));
  std::vector<int64_t> count(4, 0);
  for (int64_t k : s.to_vector<int64_t>()) {
    ASSERT_GE(k, 0);
    ASSERT_LT(k, 4);
    ++count[k];
  }
  EXPECT_EQ(count[1], 0) << "a zero weight is never drawn";
  for (int c : {0, 2, 3}) {
    const double q = w[c] / 8.0, sd = std::sqrt(n * q * (1 - q));
    EXPECT_NEAR(static_cast<double>(count[c]), n * q, 5 * sd) << "category " << c;
  }
  // The same seed draws the same samples; rows of a 2-d input draw from their own weights.
  tj::manual_seed(7);
  EXPECT_EQ(tj::multinomial(p, n, true).to_vector<int64_t>(), s.to_vector<int64_t>());
  Tensor rows = make({0, 0, 1, 5, 0, 0}, {2, 3});
  EXPECT_EQ(rows.multinomial(3, true).to_vector<int64_t>(),
            (std::vector<int64_t>{2, 2, 2, 0, 0, 0}));
}

TEST_P(ScanTest, MultinomialWithoutReplacementDrawsDistinctCategories) {
  tj::manual_seed(11);
  Tensor logits = tj::arange(0, 10, 1, tj::f32).reshape({2, 5}) * 0.3;
  Tensor s = tj::multinomial(tj::softmax(logits, -1), 5);
  EXPECT_EQ(s.shape(), (Shape{2, 5}));
  const std::vector<int64_t> v = s.to_vector<int64_t>();
  for (int r = 0; r < 2; ++r) {
    std::set<int64_t> seen(v.begin() + r * 5, v.begin() + r * 5 + 5);
    EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2, 3, 4})) << "row " << r;
  }
  // With one category far heavier than the rest it comes first almost always.
  int first = 0;
  for (int t = 0; t < 50; ++t)
    first += tj::multinomial(make({1e-6, 1, 1e-6}, {3}), 2).to_vector<int64_t>()[0] == 1;
  EXPECT_GE(first, 49);
  // Zero weights are never drawn while positive ones remain.
  Tensor z = tj::multinomial(make({0, 2, 0, 1}, {4}), 2);
  std::vector<int64_t> zv = z.to_vector<int64_t>();
  EXPECT_EQ(std::set<int64_t>(zv.begin(), zv.end()), (std::set<int64_t>{1, 3}));
}

TEST_P(ScanTest, MultinomialRejectsBadWeights) {
  EXPECT_TRUE(throws_error(
      [] {
        tj::multinomial(tj::ones({2, 2, 2}), 1);
      },
      {"multinomial", "1-D or 2-D", "[2, 2, 2]"}));
  EXPECT_TRUE(throws_error([] { tj::multinomial(tj::ones({3}, tj::i64), 1); },
                           {"multinomial", "floating"}));
  EXPECT_TRUE(throws_error([] { tj::multinomial(tj::ones({3}), 0); }, {"num_samples", "0"}));
  EXPECT_TRUE(throws_error([] { tj::multinomial(tj::ones({3}), 4); },
                           {"4 samples from 3 categories", "replacement=true"}));
  EXPECT_TRUE(throws_error(
      [] {
        tj::multinomial(make({1, -1, 2}, {3}), 1);
      },
      {"non-negative", "-1"}));
  EXPECT_TRUE(throws_error(
      [] {
        tj::multinomial(make({1, 1, 0, 0}, {2, 2}), 1);
      },
      {"row 1", "sums to 0"}));
  EXPECT_TRUE(throws_error(
      [] {
        tj::multinomial(make({1, 0, 0}, {3}), 2);
      },
      {"1 positive weights", "2 samples"}));
  EXPECT_TRUE(throws_error([] { tj::multinomial(make({1, kNaN}, {2}), 1); }, {"finite"}));
}

TEST_P(ScanTest, BernoulliDrawsOnesWithTheirProbability) {
  tj::manual_seed(3);
  Tensor p = tj::full({4, 5000}, 0.25, tj::f64);
  Tensor b = tj::bernoulli(p);
  EXPECT_EQ(b.dtype(), tj::f64);
  std::vector<double> v = vals(b);
  double ones = 0;
  for (double e : v) {
    ASSERT_TRUE(e == 0 || e == 1);
    ones += e;
  }
  const double n = 20000, sd = std::sqrt(n * 0.25 * 0.75);
  EXPECT_NEAR(ones, n * 0.25, 5 * sd);
  EXPECT_EQ(vals(tj::bernoulli(tj::zeros({8}))), std::vector<double>(8, 0));
  EXPECT_EQ(vals(tj::ones({8}).bernoulli()), std::vector<double>(8, 1));
  Tensor x = tj::zeros({1000}, tj::bf16);
  x.bernoulli_(0.5);
  EXPECT_EQ(x.dtype(), tj::bf16);
  EXPECT_NEAR(tj::sum(x).item<double>(), 500, 5 * std::sqrt(250.0));
  EXPECT_EQ(vals(tj::bernoulli(tj::zeros({4}), 1.0)), std::vector<double>(4, 1));
  EXPECT_TRUE(throws_error([] { tj::bernoulli(tj::zeros({2}), 1.5); }, {"bernoulli", "[0, 1]"}));
  EXPECT_TRUE(throws_error([] { tj::bernoulli(tj::ones({2}, tj::i32)); }, {"floating"}));
}

}  // namespace
