// Modules, as libtorch's torch::nn: layers that own their parameters, a
// tree of submodules, train()/eval(), and a state dict saved to a file.
//
//   struct Net : tj::nn::Module {
//     std::shared_ptr<tj::nn::Linear> fc1 = register_module("fc1",
//     std::make_shared<tj::nn::Linear>(2, 64)); std::shared_ptr<tj::nn::Linear> fc2 =
//     register_module("fc2", std::make_shared<tj::nn::Linear>(64, 2)); tj::Tensor forward(const
//     tj::Tensor& x) override { return fc2->forward(tj::relu(fc1->forward(x))); }
//   };
//   Net net;
//   tj::optim::AdamW opt(net.parameters(), tj::optim::AdamWOptions(1e-3));
//   ...
//   net.save("net.tjs");   // later: net.load("net.tjs")
//
// Parameters are leaves that require grad; an optimizer's in-place update is
// seen through the module's members (tilejit/autograd.h).
//
// The state-dict file: the 8 bytes "TJSTATE1", a u32 format version (1) and
// a u32 entry count; per entry a u32 name length and the name ("fc1.weight"),
// a u8 dtype code (tj::DType's value), a u32 rank, rank i64 sizes, a u64 byte
// count and the row-major values; then a u64 FNV-1a checksum of every byte
// before it. All little-endian. load() refuses a file that is damaged, of
// another format, or whose names, shapes or dtypes differ from the module's.
// save() writes a new file beside the target and renames it over it, so an
// interrupted save leaves the old file whole. Optimizers save their state in
// the same format (tilejit/optim.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tilejit/ops.h"
#include "tilejit/tensor.h"

namespace tj::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The module applied to one input; modules without one throw tj::Error.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  /// Every parameter of this module, then of its submodules, in the order
  /// they were registered.
  std::vector<Tensor> parameters() const;
  /// The same with dotted names: "fc1.weight".
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  /// Training mode (dropout drops, batch statistics), for this module and
  /// every submodule.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Clears every parameter's gradient.
  void zero_grad();

  /// Writes the parameters to `path` (the format above).
  void save(const std::string& path) const;
  /// Reads them back into this module's parameters (under NoGradGuard).
  void load(const std::string& path);

 protected:
  /// Registers `t` as parameter `name` (made a leaf that requires grad) and
  /// returns it: `weight = register_parameter("weight", tj::zeros({n}));`.
  Tensor register_parameter(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

/// y = x w^T + b, w [out, in] and b [out] drawn from U(-1/sqrt(in), 1/sqrt(in)) as torch's.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

/// Rows of weight [num, dim] (drawn from N(0, 1); the padding row zero and
/// given no gradient).
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx = -1);
  Tensor forward(const Tensor& indices) override;
  Tensor weight;
  int64_t padding_idx = -1;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;  // undefined without the affine
  Shape normalized_shape;
  double eps;
};

class RMSNorm : public Module {
 public:
  explicit RMSNorm(Shape normalized_shape, double eps = 1e-6);
  Tensor forward(const Tensor& x) override;
  Tensor weight;
  Shape normalized_shape;
  double eps;
};

/// dropout(x, p) in training mode (Philox: manual_seed fixes the mask), x in eval mode.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  double p;
};

/// A function as a module (tj::relu, a lambda), for Sequential.
class Functional : public Module {
 public:
  explicit Functional(std::function<Tensor(const Tensor&)> fn);
  Tensor forward(const Tensor& x) override;

 private:
  std::function<Tensor(const Tensor&)> fn_;
};

/// Its modules applied in order; named "0", "1", ... as torch's.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return modules_.size(); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace tj::nn
