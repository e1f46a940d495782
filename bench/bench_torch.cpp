// The libtorch side of bench_cpu: each workload written with libtorch's CPU
// ops (its own fused softmax / layer_norm / gelu kernels where it has them).
// Built as a stub when Meson did not find libtorch (TJ_BENCH_HAVE_TORCH=0).
#include "bench_util.h"

#if TJ_BENCH_HAVE_TORCH
#include <c10/core/CPUAllocator.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#endif

namespace bench {

#if TJ_BENCH_HAVE_TORCH

namespace {

torch::Tensor to_torch(const HostTensor& h) {
  return torch::from_blob(const_cast<float*>(h.data.data()), h.shape, torch::kFloat32).clone();
}

torch::Tensor cycle_op(const torch::Tensor& t, const torch::Tensor& a, const torch::Tensor& b,
                       int k) {
  switch (k % kCycleOps) {
    case 0:
      return t * b;
    case 1:
      return t + a;
    case 2:
      return t * 0.9;
    case 3:
      return torch::tanh(t);
    default:
      return t + 0.1;
  }
}

/// Counts the bytes of live CPU tensors allocated through it (those
/// allocated before it was installed are not counted) and their peak.
class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* base) : base_(base) {}
  c10::DataPtr allocate(size_t n) const override {
    c10::DataPtr inner = base_->allocate(n);
    void* data = inner.get();
    auto* ctx = new Ctx{std::move(inner), n, this};
    const int64_t now = live_.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
    int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    return {data, ctx, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
  void reset_peak() { peak_ = live_.load(); }
  int64_t live() const { return live_; }
  int64_t peak() const { return peak_; }

 private:
  struct Ctx {
    c10::DataPtr inner;
    size_t n;
    const CountingAllocator* owner;
  };
  static void release(void* p) {
    auto* ctx = static_cast<Ctx*>(p);
    ctx->owner->live_.fetch_sub(static_cast<int64_t>(ctx->n));
    delete ctx;  // frees through the base allocator's own deleter
  }
  c10::Allocator* base_;
  mutable std::atomic<int64_t> live_{0}, peak_{0};
};

CountingAllocator& counting_allocator() {
  static CountingAllocator* a = [] {
    auto* c = new CountingAllocator(c10::GetCPUAllocator());
    c10::SetCPUAllocator(c, /*priority=*/100);
    return c;
  }();
  return *a;
}

class Case : public TorchCase {
 public:
  Case(std::string name, const std::vector<HostTensor>& inputs) : name_(std::move(name)) {
    for (const auto& h : inputs) in_.push_back(to_torch(h));
    if (name_.rfind("ops:", 0) == 0) ops_ = std::stoi(name_.substr(4));
    if (name_ == "train_step") {
      counting_allocator();  // installed before the parameters and their state exist
      in_[1] = in_[1].to(torch::kLong);
      for (size_t i = 2; i < in_.size(); ++i) params_.push_back(in_[i].requires_grad_());
      adamw_ = std::make_unique<torch::optim::AdamW>(params_, torch::optim::AdamWOptions(1e-3));
    }
  }

  void run() override {
    if (name_ == "train_step") {
      adamw_->zero_grad();
      auto& p = params_;
      auto h = torch::relu(torch::linear(in_[0], p[0], p[1]));
      h = torch::relu(torch::linear(h, p[2], p[3]));
      auto loss = torch::nn::functional::cross_entropy(torch::linear(h, p[4], p[5]), in_[1]);
      loss.backward();
      adamw_->step();
      out_ = loss.detach().reshape({1});
      return;
    }
    torch::NoGradGuard no_grad;
    const auto& x = in_[0];
    if (name_ == "chain8") {
      auto t = x * 1.5 + 0.25;
      t = t * torch::sigmoid(t);
      t = torch::tanh(t);
      out_ = t * x + x * x;
    } else if (name_ == "softmax") {
      out_ = torch::softmax(x, -1);
    } else if (name_ == "layer_norm") {
      out_ = torch::layer_norm(x, {x.size(-1)}, in_[1], in_[2], 1e-5);
    } else if (name_ == "sum") {
      out_ = x.sum();
    } else if (name_ == "bias_gelu") {
      out_ = torch::gelu(x + in_[1], "tanh");
    } else if (name_ == "mlp") {
      out_ = torch::relu(torch::linear(x, in_[1], in_[2]));
    } else if (name_ == "conv2d") {
      out_ = torch::conv2d(x, in_[1], in_[2], 1, 1);
    } else if (name_ == "attention") {
      const int64_t L = x.size(1);
      auto mask = torch::ones({L, L}, torch::kBool).tril();
      auto s =
          torch::matmul(x, in_[1].transpose(-2, -1)) / std::sqrt(static_cast<double>(x.size(2)));
      out_ =
          torch::matmul(torch::softmax(s.masked_fill(mask.logical_not(), -INFINITY), -1), in_[2]);
    } else if (name_ == "loop50") {
      auto t = x;
      for (int k = 0; k < 50; ++k) t = cycle_op(t, in_[0], in_[1], k);
      out_ = t;
    } else if (ops_ > 0) {
      auto t = x;
      for (int k = 0; k < ops_; ++k) t = cycle_op(t, in_[0], in_[1], k);
      out_ = t;
    } else {
      throw std::runtime_error("bench_torch: unknown workload " + name_);
    }
  }

  double peak_step_bytes() override {
    if (name_ != "train_step") return -1;
    CountingAllocator& a = counting_allocator();
    const int64_t before = a.live();
    a.reset_peak();
    run();
    return static_cast<double>(a.peak() - before);
  }

  std::vector<float> result() override {
    auto c = out_.contiguous();
    const float* p = c.data_ptr<float>();
    return std::vector<float>(p, p + c.numel());
  }

 private:
  std::string name_;
  std::vector<torch::Tensor> in_;
  torch::Tensor out_;
  int ops_ = 0;
  std::vector<torch::Tensor> params_;  // train_step
  std::unique_ptr<torch::optim::AdamW> adamw_;
};

}  // namespace

bool torch_available() { return true; }
std::string torch_version() { return TORCH_VERSION; }
void torch_set_threads(int n) { torch::set_num_threads(n); }
std::unique_ptr<TorchCase> make_torch_case(const std::string& name,
                                           const std::vector<HostTensor>& inputs) {
  return std::make_unique<Case>(name, inputs);
}

#else

bool torch_available() { return false; }
std::string torch_version() { return "not installed"; }
void torch_set_threads(int) {}
std::unique_ptr<TorchCase> make_torch_case(const std::string&, const std::vector<HostTensor>&) {
  return nullptr;
}

#endif

}  // namespace bench
