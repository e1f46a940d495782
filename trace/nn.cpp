// tj::nn: modules and the state-dict file (format in include/tilejit/nn.h).
#include "tilejit/nn.h"

#include <cmath>

#include "ir/check.h"
#include "ir/shape.h"
#include "tilejit/autograd.h"
#include "trace/state_file.h"

namespace tj::nn {

Module::~Module() = default;

Tensor Module::forward(const Tensor&) {
  fail("forward: this module has no single-input forward(); call its own functions");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  if (name.empty() || name.find('.') != std::string::npos)
    fail("register_parameter: the name must be non-empty and without '.', got \"{}\"", name);
  for (const auto& [n, p] : params_)
    if (n == name) fail("register_parameter: a parameter named \"{}\" is already registered", name);
  if (!t.defined()) fail("register_parameter: parameter \"{}\" is an undefined tensor", name);
  Tensor leaf = t.is_leaf() ? t : t.detach();
  leaf.requires_grad_();
  params_.emplace_back(name, leaf);
  return leaf;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  if (!m) fail("register_module: submodule \"{}\" is null", name);
  for (const auto& [n, c] : children_)
    if (n == name) fail("register_module: a submodule named \"{}\" is already registered", name);
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [n, p] : params_) out.emplace_back(prefix + n, p);
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, p] : named_parameters()) out.push_back(p);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad() {
  for (auto& [n, p] : named_parameters()) p.mutable_grad() = Tensor();
}

void Module::save(const std::string& path) const {
  trace::write_state_file(path, named_parameters(), "save");
}

void Module::load(const std::string& path) {
  const auto named = named_parameters();
  const trace::NamedTensors values = trace::read_state_file(path, Device::cpu(), "load");
  if (values.size() != named.size())
    fail("load: {} holds {} tensors but this module has {} parameters", path, values.size(),
         named.size());
  for (size_t i = 0; i < named.size(); ++i) {
    const auto& [name, v] = values[i];
    const auto& [want_name, p] = named[i];
    if (name != want_name)
      fail("load: {}: tensor {} is \"{}\" but the module's parameter {} is \"{}\"", path, i, name,
           i, want_name);
    if (v.dtype() != p.dtype() || v.shape() != p.shape())
      fail("load: {}: \"{}\" is {} {} in the file but {} {} in the module", path, name,
           dtype_name(v.dtype()), shape_str(v.shape()), dtype_name(p.dtype()),
           shape_str(p.shape()));
  }
  // Everything read and checked: only now are the parameters replaced.
  NoGradGuard no_grad;
  for (size_t i = 0; i < named.size(); ++i) {
    Tensor p = named[i].second;
    p.copy_(values[i].second.to(p.device()));
  }
}

// ---- layers ----------------------------------------------------------------------

namespace {
Tensor uniform(const Shape& s, double bound) { return (rand(s) * (2 * bound) - bound).eval(); }
}  // namespace

Linear::Linear(int64_t in, int64_t out, bool with_bias) {
  if (in <= 0 || out <= 0)
    fail("Linear: in_features and out_features must be positive, got {} and {}", in, out);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  weight = register_parameter("weight", uniform({out, in}, bound));
  if (with_bias) bias = register_parameter("bias", uniform({out}, bound));
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

Embedding::Embedding(int64_t num, int64_t dim, int64_t pad) : padding_idx(pad) {
  if (num <= 0 || dim <= 0)
    fail("Embedding: num_embeddings and embedding_dim must be positive, got {} and {}", num, dim);
  if (pad != -1 && (pad < -num || pad >= num))
    fail("Embedding: padding_idx {} is out of range for {} embeddings", pad, num);
  if (pad < -1) padding_idx = pad + num;
  Tensor w = randn({num, dim});
  if (padding_idx >= 0) w = w.index_fill(0, from_vector(std::vector<int64_t>{padding_idx}), 0.0);
  weight = register_parameter("weight", w.eval());
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(weight, indices, padding_idx); }

LayerNorm::LayerNorm(Shape shape, double e, bool affine)
    : normalized_shape(std::move(shape)), eps(e) {
  if (affine) {
    weight = register_parameter("weight", ones(normalized_shape));
    bias = register_parameter("bias", zeros(normalized_shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, normalized_shape, weight, bias, eps);
}

RMSNorm::RMSNorm(Shape shape, double e) : normalized_shape(std::move(shape)), eps(e) {
  weight = register_parameter("weight", ones(normalized_shape));
}

Tensor RMSNorm::forward(const Tensor& x) { return rms_norm(x, normalized_shape, weight, eps); }

Dropout::Dropout(double prob) : p(prob) {
  if (!(p >= 0 && p <= 1)) fail("Dropout: p must be in [0, 1], got {}", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training()); }

Functional::Functional(std::function<Tensor(const Tensor&)> fn) : fn_(std::move(fn)) {
  if (!fn_) fail("Functional: the function is empty");
}

Tensor Functional::forward(const Tensor& x) { return fn_(x); }

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) push_back(std::move(m));
}

void Sequential::push_back(std::shared_ptr<Module> m) {
  register_module(std::to_string(modules_.size()), m);
  modules_.push_back(std::move(m));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& m : modules_) y = m->forward(y);
  return y;
}

}  // namespace tj::nn
