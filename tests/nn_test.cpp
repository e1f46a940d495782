// tj::nn modules: parameters and their names, train/eval, the layers'
// values against their ops, training through modules with an optimizer,
// and the state-dict file (round trip, and every kind of bad file refused
// without touching the module).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "test_util.h"
#include "tilejit/tilejit.h"

namespace tj {
namespace {

namespace fs = std::filesystem;

struct Net : nn::Module {
  std::shared_ptr<nn::Linear> fc1 = register_module("fc1", std::make_shared<nn::Linear>(2, 16));
  std::shared_ptr<nn::LayerNorm> norm =
      register_module("norm", std::make_shared<nn::LayerNorm>(Shape{16}));
  std::shared_ptr<nn::Dropout> drop = register_module("drop", std::make_shared<nn::Dropout>(0.5));
  std::shared_ptr<nn::Sequential> head = register_module(
      "head", std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
                  std::make_shared<nn::Functional>([](const Tensor& x) { return relu(x); }),
                  std::make_shared<nn::Linear>(16, 3)}));
  Tensor forward(const Tensor& x) override {
    return head->forward(drop->forward(norm->forward(fc1->forward(x))));
  }
};

fs::path scratch(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("tj_nn_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d / name;
}

std::vector<std::vector<float>> values_of(const nn::Module& m) {
  std::vector<std::vector<float>> v;
  for (const Tensor& p : m.parameters()) v.push_back(p.to_vector<float>());
  return v;
}

TEST(NnTest, ParametersHaveDottedNamesInRegistrationOrder) {
  Net net;
  std::vector<std::string> names;
  for (auto& [n, p] : net.named_parameters()) {
    names.push_back(n);
    EXPECT_TRUE(p.requires_grad() && p.is_leaf()) << n;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "norm.weight", "norm.bias",
                                             "head.1.weight", "head.1.bias"}));
  EXPECT_EQ(net.parameters().size(), 6u);
  EXPECT_EQ(net.fc1->weight.shape(), (Shape{16, 2}));
  // torch's initialization bound 1/sqrt(in_features)
  for (float w : net.fc1->weight.to_vector<float>()) EXPECT_LE(std::abs(w), 1 / std::sqrt(2.0f));
}

TEST(NnTest, TrainAndEvalSwitchDropoutInEverySubmodule) {
  Net net;
  Tensor x = ones({4, 16});
  EXPECT_TRUE(net.drop->is_training());
  net.eval();
  EXPECT_FALSE(net.drop->is_training());
  EXPECT_TRUE(testing::all_close(net.drop->forward(x), std::vector<double>(64, 1.0), 0, 0));
  net.train();
  std::vector<float> d = net.drop->forward(x).to_vector<float>();
  int zeros_seen = 0;
  for (float v : d) {
    EXPECT_TRUE(v == 0.0f || v == 2.0f);
    zeros_seen += v == 0.0f;
  }
  EXPECT_GT(zeros_seen, 10);
  EXPECT_LT(zeros_seen, 54);
}

TEST(NnTest, LayersComputeTheirOps) {
  nn::Linear lin(3, 2);
  Tensor x = from_vector(std::vector<float>{1, 2, 3, -1, 0, 1}, {2, 3});
  EXPECT_TRUE(
      testing::all_close(lin(x), linear(x, lin.weight, lin.bias).to_vector<double>(), 0, 0));
  nn::Embedding emb(5, 3, /*padding_idx=*/1);
  Tensor e = emb(from_vector(std::vector<int64_t>{1, 4}));
  std::vector<float> ev = e.to_vector<float>();
  EXPECT_EQ(ev[0], 0.0f);  // the padding row is zero
  (e * 3.0f).sum().backward();
  std::vector<float> g = emb.weight.grad().to_vector<float>();
  for (int j = 0; j < 3; ++j) {
    EXPECT_EQ(g[1 * 3 + j], 0.0f);  // and gets no gradient
    EXPECT_EQ(g[4 * 3 + j], 3.0f);
  }
  nn::RMSNorm rms({3});
  EXPECT_TRUE(
      testing::all_close(rms(x), rms_norm(x, {3}, {}, 1e-6).to_vector<double>(), 1e-6, 1e-6));
  EXPECT_TRUE(testing::throws_error([] { nn::Linear(0, 3); }, {"Linear", "positive"}));
  EXPECT_TRUE(testing::throws_error([] { nn::Module().forward(ones({1})); }, {"forward"}));
}

TEST(NnTest, AModuleTrainsWithAnOptimizer) {
  std::mt19937_64 rng(2);
  std::normal_distribution<float> n01;
  std::vector<float> xv;
  std::vector<int64_t> yv;
  const float centers[3][2] = {{-2, 0}, {2, 0}, {0, 2.5f}};
  for (int i = 0; i < 192; ++i) {
    xv.push_back(centers[i % 3][0] + 0.5f * n01(rng));
    xv.push_back(centers[i % 3][1] + 0.5f * n01(rng));
    yv.push_back(i % 3);
  }
  Tensor x = from_vector(xv, {192, 2}), y = from_vector(yv);
  manual_seed(4);
  Net net;
  net.drop->p = 0.1;
  optim::Adam opt(net.parameters(), optim::AdamOptions(0.02));
  for (int step = 0; step < 80; ++step) {
    opt.zero_grad();
    cross_entropy(net(x), y).backward();
    opt.step();
    sync();
  }
  net.eval();
  NoGradGuard no_grad;
  std::vector<int64_t> pred = net(x).argmax(1).to_vector<int64_t>();
  int right = 0;
  for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == yv[i];
  EXPECT_GT(right, 0.95 * 192);
  // The optimizer's updates are what the module's members hold.
  EXPECT_TRUE(testing::all_close(net.fc1->weight, opt.parameters()[0].to_vector<double>(), 0, 0));
}

TEST(NnTest, StateDictRoundTripsAndBadFilesAreRefused) {
  const fs::path path = scratch("net.tjs");
  Net net;
  net.save(path.string());
  const auto saved = values_of(net);
  {
    NoGradGuard no_grad;
    for (Tensor p : net.parameters()) p += 1.0f;  // the module moves on
  }
  EXPECT_NE(values_of(net), saved);
  net.load(path.string());
  EXPECT_EQ(values_of(net), saved);
  EXPECT_TRUE(net.fc1->weight.requires_grad() && net.fc1->weight.is_leaf());

  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  auto write = [&](const std::string& name, const std::string& b) {
    const fs::path p = scratch(name);
    std::ofstream(p, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
    return p.string();
  };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  Net other;
  const auto before = values_of(other);
  EXPECT_TRUE(testing::throws_error([&] { other.load(write("flipped.tjs", flipped)); },
                                    {"load", "damaged", "checksum"}));
  EXPECT_TRUE(testing::throws_error(
      [&] { other.load(write("short.tjs", bytes.substr(0, bytes.size() / 3))); },
      {"load", "damaged"}));
  EXPECT_TRUE(testing::throws_error([&] { other.load(write("tiny.tjs", bytes.substr(0, 10))); },
                                    {"load", "ends early"}));
  EXPECT_TRUE(testing::throws_error(
      [&] { other.load(write("magic.tjs", "hello world, not a state dict")); },
      {"load", "not a tilejit state file"}));
  EXPECT_TRUE(testing::throws_error([&] { other.load(scratch("missing.tjs").string()); },
                                    {"load", "cannot open"}));
  nn::Linear wrong(2, 5);
  EXPECT_TRUE(testing::throws_error([&] { wrong.load(path.string()); },
                                    {"load", "6 tensors", "2 parameters"}));
  struct Wide : nn::Module {
    Tensor w = register_parameter("weight", zeros({16, 3}));
    Tensor b = register_parameter("bias", zeros({16}));
  };
  nn::Linear small(2, 16);
  small.save(scratch("small.tjs").string());
  Wide wide;
  EXPECT_TRUE(testing::throws_error([&] { wide.load(scratch("small.tjs").string()); },
                                    {"load", "weight", "[16, 2] in the file", "[16, 3]"}));
  EXPECT_EQ(values_of(other), before);  // nothing was loaded by a failed load
  EXPECT_TRUE(testing::throws_error(
      [&] { net.save((scratch("no-such-dir") / "net.tjs").string()); }, {"save", "no-such-dir"}));
  // Only the saved files are there: no temporary file was left behind.
  for (const auto& e : fs::directory_iterator(path.parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  fs::remove_all(path.parent_path());
}

/// Training resumed from a saved module and optimizer continues exactly as
/// the run that never stopped.
TEST(NnTest, OptimizerStateRoundTripsAndResumesTraining) {
  const Tensor x = randn({32, 2}), y = (randn({32}) > 0).cast(DType::i64);
  auto train = [&](Net& net, optim::Optimizer& opt, int steps) {
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      cross_entropy(net(x), y).backward();
      opt.step();
    }
    sync();
  };
  for (int kind = 0; kind < 3; ++kind) {
    auto make = [&](Net& net) -> std::unique_ptr<optim::Optimizer> {
      if (kind == 0)
        return std::make_unique<optim::SGD>(net.parameters(),
                                            optim::SGDOptions(0.1).momentum(0.9));
      if (kind == 1)
        return std::make_unique<optim::Adam>(net.parameters(),
                                             optim::AdamOptions(0.01).amsgrad(true));
      return std::make_unique<optim::AdamW>(net.parameters(), optim::AdamWOptions(0.01));
    };
    Net a;
    a.eval();  // no dropout: both runs see the same function
    auto opt_a = make(a);
    train(a, *opt_a, 3);
    const fs::path mp = scratch("a.tjs"), op = scratch("a.opt");
    a.save(mp.string());
    opt_a->save(op.string());
    train(a, *opt_a, 2);

    Net b;
    b.eval();
    auto opt_b = make(b);
    b.load(mp.string());
    opt_b->load(op.string());
    train(b, *opt_b, 2);
    EXPECT_EQ(values_of(b), values_of(a)) << "optimizer " << kind;
  }

  Net net;
  optim::SGD sgd(net.parameters(), optim::SGDOptions(0.1).momentum(0.9));
  train(net, sgd, 1);
  sgd.save(scratch("sgd.opt").string());
  optim::AdamW adamw(net.parameters(), optim::AdamWOptions());
  EXPECT_TRUE(testing::throws_error([&] { adamw.load(scratch("sgd.opt").string()); },
                                    {"load", "SGD.parameters", "not the state of AdamW"}));
  const std::vector<Tensor> ps = net.parameters();
  optim::SGD fewer(std::vector<Tensor>(ps.begin(), ps.begin() + 2),
                   optim::SGDOptions(0.1).momentum(0.9));
  EXPECT_TRUE(testing::throws_error([&] { fewer.load(scratch("sgd.opt").string()); },
                                    {"load", "over 6 parameters", "this one has 2"}));
  Net other;
  std::vector<Tensor> swapped = other.parameters();
  std::swap(swapped[0], swapped[1]);  // weight [16, 2] where the file has the bias [16]
  optim::SGD mismatched(swapped, optim::SGDOptions(0.1).momentum(0.9));
  EXPECT_TRUE(testing::throws_error([&] { mismatched.load(scratch("sgd.opt").string()); },
                                    {"load", "SGD.0.momentum_buffer", "[16, 2]", "parameter 0"}));
  EXPECT_TRUE(testing::throws_error([&] { sgd.load(scratch("a.tjs").string()); },
                                    {"load", "fc1.weight", "not the state of SGD"}));
  fs::remove_all(scratch("x").parent_path());
}

}  // namespace
}  // namespace tj
