// tj::nn: modules and the state-dict file (format in include/tilejit/nn.h).
#include "tilejit/nn.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "ir/check.h"
#include "ir/shape.h"
#include "tilejit/autograd.h"

namespace tj::nn {

namespace {

constexpr char kMagic[8] = {'T', 'J', 'S', 'T', 'A', 'T', 'E', '1'};
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

/// Reads the file's fields in order; every read past the end is an error.
struct Reader {
  const std::string& bytes;
  const std::string& path;
  size_t at = 0;
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, bytes.data() + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  std::string take(size_t n) {
    need(n);
    std::string s = bytes.substr(at, n);
    at += n;
    return s;
  }
  void need(size_t n) const {
    if (n > bytes.size() - at)
      fail("load: {} ends early (truncated or damaged): it is not a whole tilejit state dict",
           path);
  }
};

template <class T>
std::string raw_of(const Tensor& t) {
  std::vector<T> v = t.to_vector<T>();
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::string bytes_of(const Tensor& t) {
  switch (t.dtype()) {
    case DType::f32:
      return raw_of<float>(t);
    case DType::f16:
      return raw_of<half>(t);
    case DType::bf16:
      return raw_of<bfloat16>(t);
    case DType::f64:
      return raw_of<double>(t);
    case DType::i32:
      return raw_of<int32_t>(t);
    case DType::i64:
      return raw_of<int64_t>(t);
    case DType::bool_: {
      std::string s;
      for (bool b : t.to_vector<bool>()) s.push_back(b ? 1 : 0);
      return s;
    }
  }
  return {};
}

template <class T>
Tensor from_raw(const std::string& b, const Shape& s, Device d) {
  std::vector<T> v(b.size() / sizeof(T));
  std::memcpy(v.data(), b.data(), v.size() * sizeof(T));
  return from_vector(v, s, d);
}

Tensor tensor_of(const std::string& b, DType t, const Shape& s, Device d) {
  switch (t) {
    case DType::f32:
      return from_raw<float>(b, s, d);
    case DType::f16:
      return from_raw<half>(b, s, d);
    case DType::bf16:
      return from_raw<bfloat16>(b, s, d);
    case DType::f64:
      return from_raw<double>(b, s, d);
    case DType::i32:
      return from_raw<int32_t>(b, s, d);
    case DType::i64:
      return from_raw<int64_t>(b, s, d);
    case DType::bool_: {
      std::vector<bool> v;
      for (char c : b) v.push_back(c != 0);
      return from_vector(v, s, d);
    }
  }
  return {};
}

}  // namespace

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
  const auto named = named_parameters();
  std::string out(kMagic, sizeof kMagic);
  put<uint32_t>(out, kVersion);
  put<uint32_t>(out, static_cast<uint32_t>(named.size()));
  for (const auto& [name, p] : named) {
    put<uint32_t>(out, static_cast<uint32_t>(name.size()));
    out += name;
    put<uint8_t>(out, static_cast<uint8_t>(p.dtype()));
    put<uint32_t>(out, static_cast<uint32_t>(p.dim()));
    for (int64_t s : p.shape()) put<int64_t>(out, s);
    const std::string b = bytes_of(p);
    put<uint64_t>(out, b.size());
    out += b;
  }
  put<uint64_t>(out, fnv1a(out));
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail("save: cannot open {} for writing: {}", path, std::strerror(errno));
  f.write(out.data(), static_cast<std::streamsize>(out.size()));
  f.close();
  if (!f) fail("save: writing {} failed (disk full?): {}", path, std::strerror(errno));
}

void Module::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("load: cannot open {}: {}", path, std::strerror(errno));
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Reader r{bytes, path};
  if (r.take(sizeof kMagic) != std::string(kMagic, sizeof kMagic))
    fail("load: {} is not a tilejit state dict (it does not start with TJSTATE1)", path);
  const uint32_t version = r.get<uint32_t>();
  if (version != kVersion)
    fail("load: {} has format version {}; this tilejit reads version {}", path, version, kVersion);
  if (bytes.size() < sizeof kMagic + 16) r.need(bytes.size());
  const size_t body = bytes.size() - sizeof(uint64_t);
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + body, sizeof stored);
  if (stored != fnv1a(bytes.substr(0, body)))
    fail("load: {} is damaged (its checksum does not match); nothing was loaded", path);
  const auto named = named_parameters();
  const uint32_t count = r.get<uint32_t>();
  if (count != named.size())
    fail("load: {} holds {} tensors but this module has {} parameters", path, count, named.size());
  std::vector<Tensor> values;
  for (uint32_t i = 0; i < count; ++i) {
    const std::string name = r.take(r.get<uint32_t>());
    const uint8_t code = r.get<uint8_t>();
    if (code >= kNumDTypes)
      fail("load: {}: tensor \"{}\" has an unknown dtype code {}", path, name, code);
    const DType t = static_cast<DType>(code);
    const uint32_t rank = r.get<uint32_t>();
    if (rank > 64) fail("load: {}: tensor \"{}\" has rank {}: damaged", path, name, rank);
    Shape s(rank);
    for (int64_t& d : s) d = r.get<int64_t>();
    const uint64_t nbytes = r.get<uint64_t>();
    const auto& [want_name, p] = named[i];
    if (name != want_name)
      fail("load: {}: tensor {} is \"{}\" but the module's parameter {} is \"{}\"", path, i, name,
           i, want_name);
    if (t != p.dtype() || s != p.shape())
      fail("load: {}: \"{}\" is {} {} in the file but {} {} in the module", path, name,
           dtype_name(t), shape_str(s), dtype_name(p.dtype()), shape_str(p.shape()));
    const uint64_t want_bytes =
        static_cast<uint64_t>(shape_numel(s)) * static_cast<uint64_t>(dtype_size(t));
    if (nbytes != want_bytes)
      fail("load: {}: \"{}\" holds {} bytes, {} expected: damaged", path, name, nbytes, want_bytes);
    values.push_back(tensor_of(r.take(nbytes), t, s, p.device()));
  }
  // Everything read and checked: only now are the parameters replaced.
  NoGradGuard no_grad;
  for (size_t i = 0; i < named.size(); ++i) {
    Tensor p = named[i].second;
    p.copy_(values[i]);
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
