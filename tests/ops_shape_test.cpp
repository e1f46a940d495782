// Shape ops: narrow, select, split, chunk, meshgrid (views) and flip, roll,
// pad, repeat, repeat_interleave, one_hot (reads at computed positions).
// Expected values are written here from torch's definitions; every test runs
// lazily and eagerly. (fusion_test runs the fused forms against the reference
// evaluator on the CPU and the CUDA emulator.)
#include <cstdint>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using tj::DType;
using tj::Shape;
using tj::Tensor;
using namespace tj::testing;  // test_util.h

class ShapeOpsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { guard_->lazy = GetParam(); }
  tj::ConfigGuard guard_;
};

INSTANTIATE_TEST_SUITE_P(Ops, ShapeOpsTest, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

std::vector<double> seq(int64_t n, double start = 1) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<double>(i);
  return v;
}

using V = std::vector<double>;

TEST_P(ShapeOpsTest, NarrowSelectSplitChunkAreViews) {
  Tensor x = make(seq(12), {3, 4});  // [[1..4], [5..8], [9..12]]
  EXPECT_EQ(tj::narrow(x, 1, 1, 2).to_vector<double>(), (V{2, 3, 6, 7, 10, 11}));
  EXPECT_EQ(x.narrow(0, -1, 1).to_vector<double>(), (V{9, 10, 11, 12}));
  EXPECT_EQ(tj::select(x, 1, -1).to_vector<double>(), (V{4, 8, 12}));
  EXPECT_EQ(x.select(0, 1).shape(), (Shape{4}));
  std::vector<Tensor> s = tj::split(x, 3, 1);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].to_vector<double>(), (V{1, 2, 3, 5, 6, 7, 9, 10, 11}));
  EXPECT_EQ(s[1].to_vector<double>(), (V{4, 8, 12}));
  std::vector<Tensor> w = tj::split(x, std::vector<int64_t>{1, 2}, 0);
  EXPECT_EQ(w[1].to_vector<double>(), (V{5, 6, 7, 8, 9, 10, 11, 12}));
  // torch.chunk: ceil(size / chunks) each, so 4 entries in 3 chunks are 2 + 2.
  std::vector<Tensor> c = x.chunk(3, 1);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[1].shape(), (Shape{3, 2}));
  EXPECT_EQ(tj::chunk(x, 3, 0).size(), 3u);
  std::vector<Tensor> g = tj::meshgrid({make({1, 2}, {2}), make({10, 20, 30}, {3})});
  EXPECT_EQ(g[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(g[0].to_vector<double>(), (V{1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(g[1].to_vector<double>(), (V{10, 20, 30, 10, 20, 30}));
  std::vector<Tensor> gx = tj::meshgrid({make({1, 2}, {2}), make({10, 20, 30}, {3})}, "xy");
  EXPECT_EQ(gx[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(gx[0].to_vector<double>(), (V{1, 2, 1, 2, 1, 2}));
  EXPECT_TRUE(throws_error([&] { tj::select(x, 0, 3); }, {"select", "index 3", "size 3"}));
  EXPECT_TRUE(throws_error([&] { tj::narrow(x, 1, 2, 3); }, {"narrow", "exceeds", "size 4"}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::split(x, std::vector<int64_t>{1, 1}, 0);
      },
      {"split", "add up to 2", "size 3"}));
  EXPECT_TRUE(throws_error([&] { tj::chunk(x, 0); }, {"chunk", "positive"}));
}

TEST_P(ShapeOpsTest, FlipAndRollReadAtComputedPositions) {
  Tensor x = make(seq(6), {2, 3});  // [[1, 2, 3], [4, 5, 6]]
  EXPECT_EQ(tj::flip(x, {1}).to_vector<double>(), (V{3, 2, 1, 6, 5, 4}));
  EXPECT_EQ(tj::flip(x, {0, 1}).to_vector<double>(), (V{6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(x.t().flip({0}).to_vector<double>(), (V{3, 6, 2, 5, 1, 4}));
  EXPECT_EQ(tj::roll(x, {1}, {1}).to_vector<double>(), (V{3, 1, 2, 6, 4, 5}));
  EXPECT_EQ(tj::roll(x, {-1, 1}, {0, 1}).to_vector<double>(), (V{6, 4, 5, 3, 1, 2}));
  EXPECT_EQ(x.roll({2}).to_vector<double>(), (V{5, 6, 1, 2, 3, 4}));  // flattened
  EXPECT_EQ(tj::roll(x, {7}, {1}).to_vector<double>(), (V{3, 1, 2, 6, 4, 5}));
  for (DType dt : {tj::f16, tj::i32, tj::bool_}) {
    Tensor y = make({0, 1, 1}, {3}, dt);
    EXPECT_EQ(tj::flip(y, {0}).to_vector<double>(), (V{1, 1, 0})) << tj::dtype_name(dt);
  }
  EXPECT_TRUE(throws_error([&] { tj::flip(x, {1, -1}); }, {"flip", "twice"}));
  EXPECT_TRUE(throws_error([&] { tj::roll(x, {1, 2}, {0}); }, {"roll", "2 shifts for 1 dims"}));
}

TEST_P(ShapeOpsTest, PadModesMatchTorch) {
  Tensor x = make(seq(3), {1, 3});  // [[1, 2, 3]]
  EXPECT_EQ(tj::pad(x, {2, 1}).to_vector<double>(), (V{0, 0, 1, 2, 3, 0}));
  EXPECT_EQ(tj::pad(x, {1, 1}, "constant", -1.5).to_vector<double>(), (V{-1.5, 1, 2, 3, -1.5}));
  EXPECT_EQ(tj::pad(x, {2, 2}, "reflect").to_vector<double>(), (V{3, 2, 1, 2, 3, 2, 1}));
  EXPECT_EQ(tj::pad(x, {2, 1}, "replicate").to_vector<double>(), (V{1, 1, 1, 2, 3, 3}));
  EXPECT_EQ(tj::pad(x, {2, 1}, "circular").to_vector<double>(), (V{2, 3, 1, 2, 3, 1}));
  EXPECT_EQ(tj::pad(x, {-1, 0}).to_vector<double>(), (V{2, 3}));  // cropping
  // Two dimensions at once (the last first), of an integer tensor.
  Tensor m = make(seq(4), {2, 2}, tj::i64);  // [[1, 2], [3, 4]]
  Tensor p = tj::pad(m, {1, 0, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{3, 3}));
  EXPECT_EQ(p.dtype(), tj::i64);
  EXPECT_EQ(p.to_vector<double>(), (V{0, 1, 2, 0, 3, 4, 0, 0, 0}));
  EXPECT_EQ(tj::pad(m, {1, 1, 1, 1}, "replicate").to_vector<double>(),
            (V{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  EXPECT_EQ(tj::pad(tj::zeros({2, 0}), {1, 1}).shape(), (Shape{2, 2}));
  EXPECT_TRUE(throws_error(
      [&] {
        tj::pad(x, {3, 0}, "reflect");
      },
      {"pad", "reflect", "smaller than dimension 1 of size 3"}));
  EXPECT_TRUE(throws_error([&] { tj::pad(x, {1}); }, {"pad", "pairs"}));
  EXPECT_TRUE(throws_error([&] { tj::pad(x, {1, 1}, "wrap"); }, {"pad", "mode", "\"wrap\""}));
  EXPECT_TRUE(throws_error([&] { tj::pad(x, {-4, 0}); }, {"pad", "negative"}));
}

TEST_P(ShapeOpsTest, RepeatTilesAndRepeatInterleaveStretches) {
  Tensor x = make({1, 2}, {2});
  EXPECT_EQ(x.repeat({2, 3}).shape(), (Shape{2, 6}));
  EXPECT_EQ(x.repeat({2, 3}).to_vector<double>(), (V{1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}));
  Tensor m = make(seq(4), {2, 2});
  EXPECT_EQ(tj::repeat(m, {1, 2}).to_vector<double>(), (V{1, 2, 1, 2, 3, 4, 3, 4}));
  EXPECT_EQ(tj::repeat(make({5}, {1}), {3}).to_vector<double>(), (V{5, 5, 5}));
  EXPECT_EQ(tj::repeat_interleave(m, 2, 0).to_vector<double>(), (V{1, 2, 1, 2, 3, 4, 3, 4}));
  EXPECT_EQ(m.repeat_interleave(2, 1).to_vector<double>(), (V{1, 1, 2, 2, 3, 3, 4, 4}));
  EXPECT_EQ(tj::repeat_interleave(m, 2).to_vector<double>(), (V{1, 1, 2, 2, 3, 3, 4, 4}));
  EXPECT_EQ(tj::repeat_interleave(m, 0, 0).shape(), (Shape{0, 2}));
  // Grouped-query attention's key heads: [B, Hkv, T, D] -> [B, Hkv * g, T, D].
  Tensor k = make(seq(2 * 3), {1, 2, 3, 1});
  EXPECT_EQ(tj::repeat_interleave(k, 2, 1).to_vector<double>(),
            (V{1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}));
  EXPECT_EQ(x.repeat({2}).to_vector<double>(), (V{1, 2, 1, 2}));
  EXPECT_TRUE(throws_error([&] { m.repeat({2}); }, {"repeat", "1 repeats for a 2-d tensor"}));
}

TEST_P(ShapeOpsTest, OneHotMarksTheClass) {
  Tensor k = tj::from_vector(std::vector<int64_t>{2, 0, 1}, {3});
  Tensor h = tj::one_hot(k, 4);
  EXPECT_EQ(h.shape(), (Shape{3, 4}));
  EXPECT_EQ(h.dtype(), tj::i64);
  EXPECT_EQ(h.to_vector<double>(), (V{0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(tj::one_hot(k).shape(), (Shape{3, 3}));
  EXPECT_TRUE(throws_error([&] { tj::one_hot(k, 2); }, {"one_hot", "class value 2", "2 classes"}));
  EXPECT_TRUE(throws_error([&] { tj::one_hot(k - 1, 3); }, {"one_hot", "negative"}));
  EXPECT_TRUE(throws_error([&] { tj::one_hot(make({1}, {1}), 3); }, {"one_hot", "f32"}));
}

}  // namespace
