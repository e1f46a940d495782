// A llama-style decoder on random weights: token embedding, RMSNorm, rotary
// position embedding (RoPE), grouped-query causal attention over a KV cache
// written at each step's position, a SwiGLU feed-forward, and a sampler
// (greedy, or top-k with temperature). It prefills a prompt, then decodes
// token by token, lazily (traced and fused) and eagerly (one kernel per op),
// checks that both runs pick the same tokens, and prints tokens/s for each.
//
// The cache has a fixed length (max_seq): each step writes its keys and
// values at its position with index_copy_ and attends over the whole cache
// with a mask of the positions written so far, so every decoding step has the
// same shapes and replays one cached plan.
#include <tilejit/tilejit.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

struct Options {
  int64_t vocab = 512, dim = 256, layers = 4, heads = 8, kv_heads = 2, hidden = 688;
  int64_t max_seq = 96, prompt = 16, generate = 32, top_k = 20;
  double temperature = 0.8, rope_theta = 10000.0, eps = 1e-5;
  int64_t head_dim() const { return dim / heads; }
};

tj::Tensor weight(int64_t out, int64_t in) {
  return tj::randn({out, in}) * (1.0 / std::sqrt(static_cast<double>(in)));
}

struct Layer {
  tj::Tensor attn_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3;
  tj::Tensor k_cache, v_cache;  // [1, kv_heads, max_seq, head_dim]
};

struct Model {
  Options o;
  tj::Tensor embed, norm, out;  // out: [vocab, dim]
  tj::Tensor cos, sin;          // [max_seq, head_dim / 2]
  std::vector<Layer> layers;

  explicit Model(const Options& opt) : o(opt) {
    tj::manual_seed(1234);
    embed = tj::randn({o.vocab, o.dim});
    norm = tj::ones({o.dim});
    out = weight(o.vocab, o.dim);
    const int64_t hd = o.head_dim(), kv = o.kv_heads * hd;
    for (int64_t l = 0; l < o.layers; ++l) {
      Layer y;
      y.attn_norm = tj::ones({o.dim});
      y.ffn_norm = tj::ones({o.dim});
      y.wq = weight(o.dim, o.dim);
      y.wk = weight(kv, o.dim);
      y.wv = weight(kv, o.dim);
      y.wo = weight(o.dim, o.dim);
      y.w1 = weight(o.hidden, o.dim);
      y.w3 = weight(o.hidden, o.dim);
      y.w2 = weight(o.dim, o.hidden);
      layers.push_back(y);
    }
    // RoPE tables: angle p * theta^(-2i / head_dim).
    tj::Tensor i = tj::arange(0, hd / 2, 1, tj::f64);
    tj::Tensor freq = tj::exp(i * (-2.0 * std::log(o.rope_theta) / static_cast<double>(hd)));
    tj::Tensor pos = tj::arange(0, o.max_seq, 1, tj::f64).reshape({o.max_seq, 1});
    tj::Tensor angle = pos * freq.reshape({1, hd / 2});
    cos = tj::cos(angle).to(tj::f32);
    sin = tj::sin(angle).to(tj::f32);
    for (auto& t : std::vector<tj::Tensor*>{&embed, &norm, &out, &cos, &sin}) t->eval();
    for (Layer& y : layers)
      for (tj::Tensor* t :
           {&y.attn_norm, &y.ffn_norm, &y.wq, &y.wk, &y.wv, &y.wo, &y.w1, &y.w2, &y.w3})
        t->eval();
    reset_cache();
  }

  void reset_cache() {
    for (Layer& y : layers) {
      y.k_cache = tj::zeros({1, o.kv_heads, o.max_seq, o.head_dim()});
      y.v_cache = tj::zeros({1, o.kv_heads, o.max_seq, o.head_dim()});
    }
  }

  /// x: [1, heads, T, head_dim]; rotates pairs (x[2i], x[2i+1]) by the angles of `positions`.
  tj::Tensor rope(const tj::Tensor& x, const tj::Tensor& positions) const {
    const int64_t T = x.shape()[2], hd = o.head_dim(), h = x.shape()[1];
    tj::Tensor c = tj::index_select(cos, 0, positions).reshape({1, 1, T, hd / 2});
    tj::Tensor s = tj::index_select(sin, 0, positions).reshape({1, 1, T, hd / 2});
    tj::Tensor pairs = x.reshape({1, h, T, hd / 2, 2});
    tj::Tensor a = pairs.select(4, 0), b = pairs.select(4, 1);
    tj::Tensor ra = a * c - b * s, rb = a * s + b * c;
    return tj::stack({ra, rb}, 4).reshape({1, h, T, hd});
  }

  /// Logits of the last position for tokens at positions [start, start + T).
  tj::Tensor forward(const std::vector<int64_t>& tokens, int64_t start) {
    const int64_t T = static_cast<int64_t>(tokens.size()), hd = o.head_dim();
    tj::Tensor ids = tj::from_vector(tokens, {T});
    std::vector<int64_t> pv(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) pv[t] = start + t;
    tj::Tensor positions = tj::from_vector(pv, {T});
    // Keys at positions <= the query's may be attended to.
    tj::Tensor key_pos = tj::arange(0, o.max_seq, 1, tj::i64).reshape({1, o.max_seq});
    tj::Tensor mask = (key_pos <= positions.reshape({T, 1})).reshape({1, 1, T, o.max_seq});
    tj::Tensor x = tj::embedding(embed, ids).reshape({1, T, o.dim});
    for (Layer& y : layers) {
      tj::Tensor h = tj::rms_norm(x, {o.dim}, y.attn_norm, o.eps);
      tj::Tensor q = tj::linear(h, y.wq).reshape({1, T, o.heads, hd}).transpose(1, 2);
      tj::Tensor k = tj::linear(h, y.wk).reshape({1, T, o.kv_heads, hd}).transpose(1, 2);
      tj::Tensor v = tj::linear(h, y.wv).reshape({1, T, o.kv_heads, hd}).transpose(1, 2);
      q = rope(q, positions);
      k = rope(k, positions);
      y.k_cache.index_copy_(2, positions, k);
      y.v_cache.index_copy_(2, positions, v);
      tj::Tensor a = tj::scaled_dot_product_attention(q, y.k_cache, y.v_cache, mask, 0.0, false,
                                                      std::nullopt, /*enable_gqa=*/true);
      x = x + tj::linear(a.transpose(1, 2).reshape({1, T, o.dim}), y.wo);
      tj::Tensor f = tj::rms_norm(x, {o.dim}, y.ffn_norm, o.eps);
      x = x + tj::linear(tj::silu(tj::linear(f, y.w1)) * tj::linear(f, y.w3), y.w2);
    }
    tj::Tensor last = x.select(1, T - 1);  // [1, dim]
    return tj::linear(tj::rms_norm(last, {o.dim}, norm, o.eps), out).reshape({o.vocab});
  }

  /// Greedy (top_k <= 1) or top-k sampling with temperature.
  int64_t sample(const tj::Tensor& logits) const {
    if (o.top_k <= 1) return tj::argmax(logits).item<int64_t>();
    auto [values, indices] = tj::topk(logits, o.top_k);
    tj::Tensor probs = tj::softmax(values * (1.0 / o.temperature), -1);
    return indices.index_select(0, tj::multinomial(probs, 1)).item<int64_t>();
  }
};

struct Run {
  std::vector<int64_t> tokens;
  double prefill_tps = 0, decode_tps = 0;
};

Run generate(Model& m, const std::vector<int64_t>& prompt, bool lazy) {
  tj::ConfigGuard guard;
  guard->lazy = lazy;
  m.reset_cache();
  tj::manual_seed(99);  // the sampler's draws
  using clock = std::chrono::steady_clock;
  Run r;
  auto t0 = clock::now();
  int64_t next = m.sample(m.forward(prompt, 0));
  auto t1 = clock::now();
  r.tokens.push_back(next);
  int64_t pos = static_cast<int64_t>(prompt.size());
  for (int64_t s = 1; s < m.o.generate; ++s, ++pos) {
    next = m.sample(m.forward({next}, pos));
    r.tokens.push_back(next);
  }
  auto t2 = clock::now();
  r.prefill_tps =
      static_cast<double>(prompt.size()) / std::chrono::duration<double>(t1 - t0).count();
  r.decode_tps =
      static_cast<double>(m.o.generate - 1) / std::chrono::duration<double>(t2 - t1).count();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options o;
    if (argc > 1) o.generate = std::max<int64_t>(2, std::atoll(argv[1]));
    if (o.prompt + o.generate > o.max_seq) o.max_seq = o.prompt + o.generate;
    Model m(o);
    std::vector<int64_t> prompt;
    for (int64_t t = 0; t < o.prompt; ++t) prompt.push_back((t * 37 + 11) % o.vocab);
    std::cout << "llama-style decoder: " << o.layers << " layers, dim " << o.dim << ", " << o.heads
              << " heads (" << o.kv_heads << " key/value heads), vocab " << o.vocab << ", on "
              << tj::default_device() << "\n";
    bool ok = true;
    for (int64_t top_k : {int64_t{1}, o.top_k}) {
      m.o.top_k = top_k;
      // Compile the kernels once for each mode, then time.
      generate(m, prompt, true);
      generate(m, prompt, false);
      Run lazy = generate(m, prompt, true);
      Run eager = generate(m, prompt, false);
      const bool same = lazy.tokens == eager.tokens;
      ok = ok && same;
      std::cout << (top_k <= 1 ? "greedy" : "top-" + std::to_string(top_k) + " sampling") << ": ";
      for (size_t i = 0; i < lazy.tokens.size() && i < 12; ++i) std::cout << lazy.tokens[i] << " ";
      std::cout << "...\n";
      std::cout << "  lazy:  prefill " << static_cast<int64_t>(lazy.prefill_tps)
                << " tokens/s, decode " << static_cast<int64_t>(lazy.decode_tps) << " tokens/s\n";
      std::cout << "  eager: prefill " << static_cast<int64_t>(eager.prefill_tps)
                << " tokens/s, decode " << static_cast<int64_t>(eager.decode_tps) << " tokens/s\n";
      std::cout << "  lazy and eager picked " << (same ? "the same tokens" : "DIFFERENT tokens")
                << "\n";
    }
    return ok ? 0 : 1;
  } catch (const tj::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
