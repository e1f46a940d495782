// Indexing ops: gather, index_select, take, embedding and the method forms.
// Expected values are written here from torch's definitions; every test runs
// lazily and eagerly. Out-of-range indices: known ones at the call, computed
// ones when the flush that ran the kernel ends, with the process usable after.
// (fusion_test runs the fused forms against the reference evaluator on the
// CPU and the CUDA emulator.)
#include <cstdint>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using tj::DType;
using tj::Shape;
using tj::Tensor;
using namespace tj::testing;  // test_util.h

class IndexTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { guard_->lazy = GetParam(); }
  tj::ConfigGuard guard_;
};

INSTANTIATE_TEST_SUITE_P(Ops, IndexTest, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

Tensor ids(const std::vector<int64_t>& v, const Shape& s) { return tj::from_vector(v, s); }

TEST_P(IndexTest, GatherReadsAlongItsDimension) {
  // x = [[1, 2, 3], [4, 5, 6]]
  Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3});
  // dim 1: out[i][j] = x[i][index[i][j]]
  Tensor g1 = tj::gather(x, 1, ids({2, 0, 1, 1}, {2, 2}));
  EXPECT_EQ(g1.shape(), (Shape{2, 2}));
  EXPECT_EQ(g1.to_vector<double>(), (std::vector<double>{3, 1, 5, 5}));
  // dim 0: out[i][j] = x[index[i][j]][j]; an index smaller than the input.
  Tensor g0 = tj::gather(x, 0, ids({1, 0, 1}, {1, 3}));
  EXPECT_EQ(g0.to_vector<double>(), (std::vector<double>{4, 2, 6}));
  // Negative dims, the method form, i32 indices and other dtypes.
  for (DType dt : {tj::f32, tj::f16, tj::bf16, tj::f64, tj::i32, tj::i64, tj::bool_}) {
    Tensor y = make({0, 1, 1, 0, 1, 0}, {2, 3}, dt);
    Tensor k = tj::from_vector(std::vector<int32_t>{1, 2, 0, 0}, {2, 2});
    Tensor r = y.gather(-1, k);
    EXPECT_EQ(r.dtype(), dt);
    EXPECT_EQ(r.to_vector<double>(), (std::vector<double>{1, 1, 0, 0})) << tj::dtype_name(dt);
  }
  // 0-d input and index.
  EXPECT_EQ(tj::gather(tj::scalar_tensor(7.0), 0, ids({0}, {})).item<double>(), 7.0);
  // Empty index: empty result.
  EXPECT_EQ(tj::gather(x, 1, ids({}, {2, 0})).shape(), (Shape{2, 0}));
}

TEST_P(IndexTest, IndexSelectTakesWholeSlices) {
  Tensor x = make({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {3, 4});
  Tensor r0 = tj::index_select(x, 0, ids({2, 0, 2}, {3}));
  EXPECT_EQ(r0.shape(), (Shape{3, 4}));
  EXPECT_EQ(r0.to_vector<double>(),
            (std::vector<double>{9, 10, 11, 12, 1, 2, 3, 4, 9, 10, 11, 12}));
  Tensor r1 = x.index_select(-1, ids({3, 1}, {2}));
  EXPECT_EQ(r1.shape(), (Shape{3, 2}));
  EXPECT_EQ(r1.to_vector<double>(), (std::vector<double>{4, 2, 8, 6, 12, 10}));
  // Of a transposed view; a 0-d index keeps the dimension (size 1).
  Tensor t = x.t();  // [4, 3]
  EXPECT_EQ(tj::index_select(t, 0, ids({1}, {})).to_vector<double>(),
            (std::vector<double>{2, 6, 10}));
  EXPECT_EQ(tj::index_select(t, 0, ids({1}, {})).shape(), (Shape{1, 3}));
  EXPECT_EQ(tj::index_select(x, 1, ids({}, {0})).shape(), (Shape{3, 0}));
  // A computed index and a computed source, fused or not.
  Tensor k = ids({0, 1, 2}, {3}) * 2 % 3;  // {0, 2, 1}
  EXPECT_EQ(tj::index_select(x * 10, 0, k).to_vector<double>(),
            (std::vector<double>{10, 20, 30, 40, 90, 100, 110, 120, 50, 60, 70, 80}));
}

TEST_P(IndexTest, TakeReadsTheFlatTensorAndCountsNegativesFromTheEnd) {
  Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor r = tj::take(x, ids({0, 5, -1, -6}, {2, 2}));
  EXPECT_EQ(r.shape(), (Shape{2, 2}));
  EXPECT_EQ(r.to_vector<double>(), (std::vector<double>{1, 6, 6, 1}));
  // Row-major order of a transposed view: [[1, 4], [2, 5], [3, 6]].
  EXPECT_EQ(x.t().take(ids({1, 2}, {2})).to_vector<double>(), (std::vector<double>{4, 2}));
  EXPECT_EQ(tj::take(x, ids({4}, {})).item<double>(), 5.0);
}

TEST_P(IndexTest, EmbeddingLooksUpRows) {
  Tensor w = make({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
  Tensor e = tj::embedding(w, ids({3, 0, 1, 3, 2, 2}, {2, 3}));
  EXPECT_EQ(e.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(e.to_vector<double>(),
            (std::vector<double>{30, 31, 0, 1, 10, 11, 30, 31, 20, 21, 20, 21}));
  // padding_idx changes gradients only.
  EXPECT_EQ(tj::embedding(w, ids({0, 1}, {2}), 0).to_vector<double>(),
            (std::vector<double>{0, 1, 10, 11}));
  EXPECT_EQ(tj::embedding(w, ids({2}, {})).shape(), (Shape{2}));
  // A token chosen by argmax feeds the lookup (greedy decoding).
  Tensor logits = make({0.1, 0.9, 0.3, 0.2}, {4});
  EXPECT_EQ(tj::embedding(w, logits.argmax()).to_vector<double>(), (std::vector<double>{10, 11}));
}

TEST_P(IndexTest, BadArgumentsNameTheOpAndTheFix) {
  Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_TRUE(throws_error(
      [&] {
        tj::gather(x, 1, make({0, 1}, {1, 2}));
      },
      {"gather", "indices must be i64 or i32", "f32"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::gather(x, 2, ids({0}, {1, 1}));
      },
      {"gather", "dimension 2", "2-d tensor"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::gather(x, 1, ids({0, 1}, {2}));
      },
      {"gather", "as many dimensions", "[2]", "[2, 3]"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::gather(x, 1, ids({0, 0, 0, 0, 0, 0}, {3, 2}));
      },
      {"gather", "larger than the input", "dimension 0"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::index_select(x, 0, ids({0, 1}, {1, 2}));
      },
      {"index_select", "must be a vector", "[1, 2]"}));
  EXPECT_TRUE(
      throws_error([&] { tj::index_select(x, -3, ids({0}, {1})); }, {"index_select", "-3"}));
  EXPECT_TRUE(throws_error([&] { tj::embedding(x.reshape({6}), ids({0}, {1})); },
                           {"embedding", "[num_embeddings, embedding_dim]", "[6]"}));
  EXPECT_TRUE(throws_error([&] { tj::embedding(x, ids({0}, {1}), 5); },
                           {"embedding", "padding_idx 5", "2 embeddings"}));
  EXPECT_TRUE(throws_error([&] { tj::take(x, make({1}, {1}, tj::bool_)); },
                           {"take", "indices must be i64 or i32", "bool"}));
}

TEST_P(IndexTest, KnownIndicesOutOfRangeFailAtTheCall) {
  Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_TRUE(throws_error(
      [&] {
        tj::index_select(x, 0, ids({0, 2}, {2}));
      },
      {"index_select", "index 2 is out of range for dimension 0 with size 2"}));
  EXPECT_TRUE(throws_error([&] { tj::index_select(x, 1, ids({-1}, {1})); },
                           {"index_select", "index -1", "dimension 1 with size 3"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::gather(x, 1, ids({0, 3}, {1, 2}));
      },
      {"gather", "index 3", "size 3"}));
  EXPECT_TRUE(throws_error([&] { tj::take(x, ids({-7}, {1})); },
                           {"take", "index -7", "size 6", "-6 to 5"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::embedding(x, ids({1, 9, 0}, {3}));
      },
      {"embedding", "index 9", "size 2"}));
  // An empty source has no valid index.
  EXPECT_TRUE(throws_error(
      [&] {
        tj::index_select(tj::zeros({0, 3}), 0, ids({0}, {1}));
      },
      {"index_select", "index 0", "size 0"}));
  // Nothing was left pending or broken.
  EXPECT_EQ(tj::index_select(x, 0, ids({1}, {1})).to_vector<double>(),
            (std::vector<double>{4, 5, 6}));
}

TEST_P(IndexTest, ComputedIndicesOutOfRangeFailWhenTheyRun) {
  Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor k = ids({0, 1, 2}, {3}) + 1;  // {1, 2, 3}: 3 is out of range
  // Lazily the index is computed in the kernel and reported when it has run;
  // eagerly it is known at the call.
  Tensor r;
  EXPECT_TRUE(throws_error(
      [&] {
        r = tj::index_select(x, 1, k);
        r.eval();
      },
      {"index_select", "index 3 is out of range for dimension 1 with size 3"}));
  if (GetParam()) {
    // The results were stored (0 where the index was bad) and the process goes on.
    EXPECT_EQ(r.to_vector<double>(), (std::vector<double>{2, 3, 0, 5, 6, 0}));
  }
  EXPECT_EQ((x + 1).sum().item<double>(), 27.0);
  // Negative without wrap, in a gather of a larger computation; a row kernel.
  Tensor w = make({1, 2, 3, 4}, {2, 2});
  EXPECT_TRUE(throws_error(
      [&] {
        tj::embedding(w, ids({1, 0}, {2}) - 1).sum({1}).eval();
      },
      {"embedding", "index -1", "size 2"}));
  Tensor fine = tj::embedding(w, ids({1, 0}, {2}) * 1).sum({1});
  EXPECT_EQ(fine.to_vector<double>(), (std::vector<double>{7, 3}));
}

TEST_P(IndexTest, LargeLookupsAgreeWithTheHostLoop) {
  // Many threads' tiles, i32 indices, a strided index view.
  const int64_t rows = 1000, width = 96, n = 4096;
  std::vector<double> wv(static_cast<size_t>(rows * width));
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = static_cast<double>(i % 977) * 0.5;
  std::vector<int32_t> kv(static_cast<size_t>(2 * n));
  for (size_t i = 0; i < kv.size(); ++i) kv[i] = static_cast<int32_t>((i * 7919) % rows);
  Tensor w = make(wv, {rows, width});
  Tensor k = tj::from_vector(kv, {n, 2}).slice(1, 1, 2).reshape({n});  // every second one
  Tensor e = tj::embedding(w, k) * 2.0;
  std::vector<double> want(static_cast<size_t>(n * width));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t d = 0; d < width; ++d)
      want[static_cast<size_t>(t * width + d)] =
          2.0 * wv[static_cast<size_t>(kv[static_cast<size_t>(2 * t + 1)] * width + d)];
  EXPECT_TRUE(all_close(e, want, 0, 0));
}

}  // namespace
