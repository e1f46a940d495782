// Writes at indices: scatter, scatter_add, index_copy, index_add, index_fill,
// index_put, slice_scatter, select_scatter and their method and in-place
// forms. Expected values are written here from torch's definitions (several
// are the examples of its documentation); every test runs lazily and
// eagerly. fusion_test runs the fused forms against the reference evaluator
// on the CPU and the CUDA emulator.
#include <cstdint>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using tj::DType;
using tj::Shape;
using tj::Tensor;
using namespace tj::testing;  // test_util.h

class ScatterTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { guard_->lazy = GetParam(); }
  tj::ConfigGuard guard_;
};

INSTANTIATE_TEST_SUITE_P(Ops, ScatterTest, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

Tensor ids(const std::vector<int64_t>& v, const Shape& s) { return tj::from_vector(v, s); }
std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

TEST_P(ScatterTest, ScatterWritesAlongItsDimension) {
  Tensor src = tj::arange(1, 11, 1, tj::f32).reshape({2, 5});
  // torch's examples: dim 0 with a [1, 4] index, dim 1 with a [2, 3] one.
  Tensor a = tj::zeros({3, 5}).scatter(0, ids({0, 1, 2, 0}, {1, 4}), src);
  EXPECT_EQ(vals(a), (std::vector<double>{1, 0, 0, 4, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0}));
  Tensor b = tj::scatter(tj::zeros({3, 5}), 1, ids({0, 1, 2, 0, 1, 4}, {2, 3}), src);
  EXPECT_EQ(vals(b), (std::vector<double>{1, 2, 3, 0, 0, 6, 7, 0, 0, 8, 0, 0, 0, 0, 0}));
  // A number instead of a source.
  Tensor c = tj::full({2, 4}, 2.0).scatter(1, ids({2, 3}, {2, 1}), 1.25);
  EXPECT_EQ(vals(c), (std::vector<double>{2, 2, 1.25, 2, 2, 2, 2, 1.25}));
  // A repeated index: the last write along the dimension wins.
  Tensor d = tj::zeros({4}).scatter(0, ids({1, 1, 3, 1}, {4}), make({5, 6, 7, 8}, {4}));
  EXPECT_EQ(vals(d), (std::vector<double>{0, 8, 0, 7}));
  // Every dtype, i32 indices, a 0-d tensor.
  for (DType dt : {tj::f32, tj::f16, tj::bf16, tj::f64, tj::i32, tj::i64, tj::bool_}) {
    Tensor x = tj::zeros({2, 3}, dt);
    Tensor k = tj::from_vector(std::vector<int32_t>{2, 0}, {2, 1});
    Tensor r = x.scatter(1, k, tj::ones({2, 1}, dt));
    EXPECT_EQ(r.dtype(), dt);
    EXPECT_EQ(vals(r), (std::vector<double>{0, 0, 1, 1, 0, 0})) << tj::dtype_name(dt);
  }
  EXPECT_EQ(tj::scalar_tensor(1.0).scatter(0, ids({0}, {}), tj::scalar_tensor(5.0)).item<double>(),
            5.0);
  // An empty index writes nothing.
  EXPECT_EQ(vals(tj::ones({2, 2}).scatter(0, ids({}, {0, 2}), tj::zeros({1, 2}))),
            (std::vector<double>{1, 1, 1, 1}));
}

TEST_P(ScatterTest, ScatterAddSumsRepeatedIndices) {
  // torch's example: ones [2, 5] into zeros [3, 5] along dim 0.
  Tensor src = tj::ones({2, 5});
  Tensor a = tj::zeros({3, 5}).scatter_add(0, ids({0, 1, 2, 0, 0}, {1, 5}), src);
  EXPECT_EQ(vals(a), (std::vector<double>{1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0}));
  Tensor b =
      tj::scatter_add(tj::zeros({3, 5}), 0, ids({0, 1, 2, 0, 0, 0, 1, 2, 2, 2}, {2, 5}), src);
  EXPECT_EQ(vals(b), (std::vector<double>{2, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 0, 2, 1, 1}));
  // Integers wrap as in any integer add.
  Tensor i = tj::full({2}, int64_t{7}).scatter_add(0, ids({1, 1, 1}, {3}), ids({10, 20, 30}, {3}));
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{7, 67}));
}

TEST_P(ScatterTest, IndexCopyAddAndFillWriteWholeSlices) {
  Tensor t = make({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
  Tensor a = tj::zeros({5, 3}).index_copy(0, ids({0, 4, 2}, {3}), t);
  EXPECT_EQ(vals(a), (std::vector<double>{1, 2, 3, 0, 0, 0, 7, 8, 9, 0, 0, 0, 4, 5, 6}));
  // index_add with alpha and a repeated row; along dim 1.
  Tensor s = tj::arange(0, 12, 1, tj::f32).reshape({4, 3}) * 2;
  Tensor b = tj::ones({5, 3}).index_add(0, ids({0, 0, 1, 2}, {4}), s, 2);
  EXPECT_EQ(vals(b), (std::vector<double>{13, 21, 29, 25, 29, 33, 37, 41, 45, 1, 1, 1, 1, 1, 1}));
  Tensor c = tj::index_add(tj::zeros({2, 4}), 1, ids({3, 0}, {2}), make({1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(vals(c), (std::vector<double>{2, 0, 0, 1, 4, 0, 0, 3}));
  // index_fill: negative indices count from the end.
  Tensor d = t.index_fill(1, ids({0, -1}, {2}), -1.0);
  EXPECT_EQ(vals(d), (std::vector<double>{-1, 2, -1, -1, 5, -1, -1, 8, -1}));
  // A 0-d index is one slice.
  EXPECT_EQ(vals(tj::zeros({2, 2}).index_copy(1, ids({1}, {}), make({5, 6}, {2, 1}))),
            (std::vector<double>{0, 5, 0, 6}));
}

TEST_P(ScatterTest, IndexPutTakesOneIndexTensorOrAMask) {
  Tensor x = tj::zeros({4, 3});
  // x[idx] = v, broadcast over the rows; negative indices from the end.
  Tensor a = x.index_put({ids({0, -1}, {2})}, make({1, 2, 3}, {3}));
  EXPECT_EQ(vals(a), (std::vector<double>{1, 2, 3, 0, 0, 0, 0, 0, 0, 1, 2, 3}));
  // x[:, idx] += v with a repeated index.
  Tensor b = x.index_put({Tensor(), ids({2, 2, 0}, {3})}, tj::ones({4, 3}), true);
  EXPECT_EQ(vals(b), (std::vector<double>{1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2}));
  // A 2-d index: x[[[0], [2]]] = rows.
  Tensor c = x.index_put({ids({0, 2}, {2, 1})}, make({7, 8, 9}, {1, 1, 3}));
  EXPECT_EQ(vals(c), (std::vector<double>{7, 8, 9, 0, 0, 0, 7, 8, 9, 0, 0, 0}));
  // A mask with one value: masked_fill, no flush of the mask.
  Tensor m = make({1, 0, 0, 1}, {4}, tj::bool_);
  Tensor d = x.index_put({m}, tj::scalar_tensor(5.0));
  EXPECT_EQ(vals(d), (std::vector<double>{5, 5, 5, 0, 0, 0, 0, 0, 0, 5, 5, 5}));
  // A mask with values for each true entry, in row-major order.
  Tensor mm = make({0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1}, {4, 3}, tj::bool_);
  Tensor e = x.index_put({mm}, make({1, 2, 3, 4}, {4}));
  EXPECT_EQ(vals(e), (std::vector<double>{0, 1, 0, 2, 3, 0, 0, 0, 0, 0, 0, 4}));
  // No index tensor: the whole tensor.
  EXPECT_EQ(vals(x.index_put({}, tj::scalar_tensor(2.0), true)), std::vector<double>(12, 2.0));
}

TEST_P(ScatterTest, SliceAndSelectScatterReplaceAView) {
  // torch's examples.
  Tensor a = tj::zeros({8, 8});
  Tensor r = a.slice_scatter(tj::ones({2, 8}), 0, 6);
  std::vector<double> want(64, 0.0);
  for (int j = 48; j < 64; ++j) want[j] = 1;
  EXPECT_EQ(vals(r), want);
  Tensor c = tj::slice_scatter(a, tj::ones({8, 2}), 1, 2, 6, 2);
  want.assign(64, 0.0);
  for (int i = 0; i < 8; ++i) want[i * 8 + 2] = want[i * 8 + 4] = 1;
  EXPECT_EQ(vals(c), want);
  // Negative bounds; a KV-cache-like step written at a position.
  Tensor cache = tj::zeros({2, 5, 3});
  Tensor step = tj::ones({2, 1, 3}) * 4;
  Tensor w = cache.slice_scatter(step, 1, -2, -1);
  std::vector<double> kv(30, 0.0);
  for (int b = 0; b < 2; ++b)
    for (int j = 0; j < 3; ++j) kv[b * 15 + 3 * 3 + j] = 4;
  EXPECT_EQ(vals(w), kv);
  EXPECT_EQ(vals(tj::zeros({2, 2}).select_scatter(tj::ones({2}), 0, 0)),
            (std::vector<double>{1, 1, 0, 0}));
  EXPECT_EQ(vals(tj::zeros({2, 3}).select_scatter(make({7, 8}, {2}), 1, -1)),
            (std::vector<double>{0, 0, 7, 0, 0, 8}));
}

TEST_P(ScatterTest, InPlaceFormsRebindOnlyThisHandle) {
  Tensor x = tj::zeros({3, 2});
  Tensor before = x;
  x.index_copy_(0, ids({1}, {1}), make({5, 6}, {1, 2}));
  x.index_add_(0, ids({1, 2}, {2}), tj::ones({2, 2}));
  x.index_fill_(1, ids({0}, {1}), -1.0);
  x.scatter_(0, ids({0}, {1, 1}), tj::full({1, 1}, 9.0));
  x.scatter_add_(1, ids({1}, {1, 1}), tj::full({1, 1}, 3.0));
  x.scatter_(1, ids({1}, {1, 1}), 2.5);
  x.index_put_({ids({2}, {1})}, tj::full({1, 2}, 8.0), true);
  EXPECT_EQ(vals(x), (std::vector<double>{9, 2.5, -1, 7, 7, 9}));
  EXPECT_EQ(vals(before), std::vector<double>(6, 0.0)) << "another handle keeps its value";
}

TEST_P(ScatterTest, BadArgumentsNameTheOpAndTheFix) {
  Tensor x = tj::zeros({3, 4});
  EXPECT_TRUE(throws_error(
      [&] {
        x.scatter(1, make({0}, {1, 1}), tj::ones({1, 1}));
      },
      {"scatter", "indices must be i64 or i32", "f32"}));
  EXPECT_TRUE(throws_error([&] { x.scatter(1, ids({0}, {1}), tj::ones({1})); },
                           {"scatter", "as many dimensions", "[1]", "[3, 4]"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.scatter(1, ids({0, 0}, {1, 2}), tj::ones({1, 1}));
      },
      {"scatter", "larger than the source"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.scatter(1, ids({0, 0, 0, 0}, {4, 1}), tj::ones({4, 1}));
      },
      {"scatter", "larger than the destination", "only dimension 1"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.scatter(1, ids({0}, {1, 1}), tj::ones({1, 1}, tj::f64));
      },
      {"scatter", "the destination's dtype", "f64", "f32"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.scatter(2, ids({0}, {1, 1}), tj::ones({1, 1}));
      },
      {"scatter", "dimension 2"}));
  EXPECT_TRUE(throws_error(
      [&] { tj::zeros({2}, tj::bool_).scatter_add(0, ids({0}, {1}), tj::ones({1}, tj::bool_)); },
      {"scatter_add", "bool"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.index_copy(0, ids({0}, {1}), tj::ones({1, 3}));
      },
      {"index_copy_", "shape [1, 4]", "got [1, 3]"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.index_copy(0, ids({0}, {1, 1}), tj::ones({1, 4}));
      },
      {"index_copy_", "vector"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.index_put({ids({0}, {1}), ids({0}, {1})}, tj::ones({1}));
      },
      {"index_put_", "only one index tensor", "dimensions 0 and 1"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.index_put({ids({0}, {1})}, tj::ones({2, 4}));
      },
      {"index_put_", "cannot be broadcast", "[1, 4]"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.index_put({make({1, 0}, {2}, tj::bool_)}, tj::ones({1, 4}));
      },
      {"index_put_", "mask of shape [2]", "dimension 0"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.slice_scatter(tj::ones({3, 2}), 1, 0, 3);
      },
      {"slice_scatter", "slice's shape [3, 3]", "[3, 2]"}));
  EXPECT_TRUE(throws_error([&] { x.select_scatter(tj::ones({4}), 0, 3); }, {"select", "3"}));
  // The process keeps working.
  EXPECT_EQ(vals(x.index_fill(0, ids({0}, {1}), 1.0).sum({})), (std::vector<double>{4}));
}

TEST_P(ScatterTest, KnownIndicesOutOfRangeFailAtTheCall) {
  Tensor x = tj::zeros({3, 4});
  EXPECT_TRUE(throws_error(
      [&] {
        x.scatter(0, ids({3}, {1, 1}), tj::ones({1, 1}));
      },
      {"scatter", "index 3", "dimension 0 with size 3"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.index_add(1, ids({-1}, {1}), tj::ones({3, 1}));
      },
      {"index_add_", "index -1", "size 4", "0 to 3"}));
  EXPECT_TRUE(throws_error([&] { x.index_put({ids({-4}, {1})}, tj::ones({4})); },
                           {"index_put_", "index -4", "-3 to 2"}));
  EXPECT_EQ(vals(x.index_put({ids({-3}, {1})}, tj::ones({4})).sum({})), (std::vector<double>{4}));
}

TEST_P(ScatterTest, ComputedIndicesOutOfRangeFailWhenTheyRun) {
  Tensor x = tj::zeros({3, 4});
  // {0, 2, 4}: 4 is out of range for dim 1. Eagerly the indices are known at
  // the call; lazily the kernel reports them when it has run.
  EXPECT_TRUE(throws_error(
      [&] {
        x.index_copy(1, ids({0, 1, 2}, {3}) * 2, tj::ones({3, 3})).eval();
      },
      {"index_copy_", "index 4", "size 4"}));
  if (GetParam()) {
    EXPECT_TRUE(throws_error(
        [&] {
          x.index_copy(1, ids({0, 1, 2}, {3}) * 2, tj::ones({3, 3})).eval();
        },
        {"nothing was written there"}));
  }
  EXPECT_TRUE(throws_error(
      [&] {
        x.scatter_add(0, (ids({0, 1, 2, 3}, {1, 4}) - 2) * 2, tj::ones({1, 4})).eval();
      },
      {"scatter_add", "is out of range for dimension 0 with size 3"}));
  // The process keeps working, and the same program with good indices runs.
  Tensor ok = x.index_copy(1, ids({0, 1, 2}, {3}) + 1, tj::ones({3, 3}));
  EXPECT_EQ(vals(ok.sum({})), (std::vector<double>{9}));
}

TEST_P(ScatterTest, LargeScatterAddsAgreeWithTheHostLoopExactly) {
  // An embedding gradient: 3000 token rows of 64 added into 200 rows, many
  // repeated; the kernel adds each row's values in index order in f32, as
  // this loop does, so the sums are equal bit for bit.
  const int64_t n = 3000, rows = 200, width = 64;
  std::vector<int64_t> k(n);
  std::vector<float> g(n * width);
  for (int64_t i = 0; i < n; ++i) k[i] = (i * 7919 + i / 3) % rows;
  for (int64_t i = 0; i < n * width; ++i) g[i] = static_cast<float>((i * 37 % 101) - 50) / 7.0f;
  Tensor grad = tj::from_vector(g, {n, width});
  Tensor out = tj::zeros({rows, width}).index_add(0, ids(k, {n}), grad);
  std::vector<float> want(rows * width, 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < width; ++j) want[k[i] * width + j] += g[i * width + j];
  EXPECT_EQ(out.to_vector<float>(), want);
  // Twice: the same bits.
  Tensor again = tj::zeros({rows, width}).index_add(0, ids(k, {n}), grad);
  EXPECT_EQ(again.to_vector<float>(), want);
}

TEST_P(ScatterTest, MaskedScatterTakesTheSourceInOrder) {
  // torch's example.
  Tensor mask = tj::from_vector(std::vector<bool>{0, 0, 0, 1, 1, 1, 1, 0, 1, 1}, {2, 5});
  Tensor src = tj::arange(0, 10, 1, tj::f32).reshape({2, 5});
  Tensor r = tj::zeros({2, 5}).masked_scatter(mask, src);
  EXPECT_EQ(vals(r), (std::vector<double>{0, 0, 0, 0, 1, 2, 3, 0, 4, 5}));
  // A broadcast mask, a computed mask and source, a source of another shape, i32.
  Tensor x = tj::arange(0, 6, 1, tj::i32).reshape({2, 3});
  Tensor cols = tj::from_vector(std::vector<bool>{true, false, true}, {3});
  EXPECT_EQ(vals(x.masked_scatter(cols, tj::full({4}, 9, tj::i32) - 1)),
            (std::vector<double>{8, 1, 8, 8, 4, 8}));
  Tensor y = tj::arange(0, 8, 1, tj::f64);
  Tensor s = tj::arange(0, 8, 1, tj::f64).reshape({2, 4}) * 10.0;
  EXPECT_EQ(vals(tj::masked_scatter(y, tj::remainder(y, 3.0) == 0.0, s)),
            (std::vector<double>{0, 1, 2, 10, 4, 5, 20, 7}));
  // In place; no element selected; an empty source with nothing selected.
  Tensor z = tj::ones({3});
  z.masked_scatter_(tj::from_vector(std::vector<bool>{false, true, false}, {3}), make({7}, {1}));
  EXPECT_EQ(vals(z), (std::vector<double>{1, 7, 1}));
  EXPECT_EQ(vals(tj::ones({2}).masked_scatter(tj::zeros({2}, tj::bool_), tj::zeros({0}))),
            (std::vector<double>{1, 1}));
}

TEST_P(ScatterTest, MaskedScatterRejectsBadInput) {
  Tensor x = tj::zeros({2, 3});
  Tensor all = tj::ones({2, 3}, tj::bool_);
  EXPECT_TRUE(throws_error(
      [&] {
        x.masked_scatter(tj::ones({2, 3}), tj::ones({6}));
      },
      {"masked_scatter", "bool"}));
  EXPECT_TRUE(throws_error([&] { x.masked_scatter(all, tj::ones({6}, tj::f64)); },
                           {"masked_scatter", "dtype", "f64"}));
  EXPECT_TRUE(throws_error(
      [&] {
        x.masked_scatter(tj::ones({3, 3}, tj::bool_), tj::ones({9}));
      },
      {"masked_scatter", "[3, 3]", "[2, 3]"}));
  EXPECT_TRUE(throws_error([&] { x.masked_scatter(all, tj::zeros({0})); }, {"empty"}));
  // Too few source elements: found when the kernel runs (the mask is computed).
  EXPECT_TRUE(throws_error([&] { x.masked_scatter(x == 0.0, tj::ones({4})).eval(); },
                           {"masked_scatter", "more elements than the source has (4)"}));
  EXPECT_EQ(vals(x.masked_scatter(all, tj::ones({6}))), std::vector<double>(6, 1));
}

}  // namespace
