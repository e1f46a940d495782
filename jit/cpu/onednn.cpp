#include "jit/cpu/onednn.h"

#include <fmt/format.h>

#include "ir/check.h"
#include "ir/log.h"
#include "jit/cpu/allocator.h"
#include "tilejit_build_config.h"

#if TJ_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace tj::jit::cpu {

#if TJ_HAVE_ONEDNN

struct OnednnGemm {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
  dnnl::memory::desc src, weights, dst, bias;
  size_t scratchpad_bytes = 0;
  bool has_bias = false;
  int64_t a_offset = 0, b_offset = 0, c_offset = 0;  // elements
};

namespace {

dnnl::engine& engine() {
  static dnnl::engine* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);  // never destroyed
  return *e;
}

std::optional<dnnl::memory::data_type> dnnl_type(DType t) {
  switch (t) {
    case DType::f32:
      return dnnl::memory::data_type::f32;
    case DType::bf16:
      return dnnl::memory::data_type::bf16;
    case DType::f16:
      return dnnl::memory::data_type::f16;
    case DType::f64:
    case DType::i32:
    case DType::i64:
    case DType::bool_:
      return std::nullopt;
  }
  return std::nullopt;
}

/// A plain memory descriptor for `dims` with element `strides`, a dim that a
/// zero stride broadcasts becoming 1 (oneDNN broadcasts size-1 batch dims);
/// nullopt when oneDNN cannot describe it (a zero stride in a matrix dim).
std::optional<dnnl::memory::desc> plain(dnnl::memory::dims dims, dnnl::memory::dims strides,
                                        dnnl::memory::data_type t, size_t batch_dims,
                                        bool may_broadcast) {
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] <= 1) {
      strides[d] = std::max<int64_t>(strides[d], 1);
      continue;
    }
    if (strides[d] != 0) continue;
    if (d >= batch_dims || !may_broadcast) return std::nullopt;
    dims[d] = 1;
    strides[d] = 1;
  }
  return dnnl::memory::desc(dims, t, strides);
}

}  // namespace

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("oneDNN {}.{}.{}", v->major, v->minor, v->patch);
}

const EpilogueRules& onednn_epilogue_rules() {
  static const EpilogueRules r{{DType::f32, DType::bf16, DType::f16},
                               /*gelu_erf=*/true,
                               /*batched=*/true,
                               /*f32_bias=*/true};
  return r;
}

std::shared_ptr<const OnednnGemm> onednn_gemm(const ir::Kernel& k, Epilogue e) {
  const ir::Access& A = k.accesses[0];
  const ir::Access& B = k.accesses[1];
  const ir::Access& C = k.accesses[2];
  const DType t = C.dtype;
  if (A.dtype != t || B.dtype != t) return nullptr;
  const std::optional<dnnl::memory::data_type> dt = dnnl_type(t);
  if (!dt) return nullptr;
  const size_t n = k.domain.size();
  const size_t nb = n - 3;
  if (n - 1 > DNNL_MAX_NDIMS) return nullptr;
  const int64_t M = k.domain[n - 3], N = k.domain[n - 2], K = k.domain[n - 1];
  if (M == 0 || N == 0 || K == 0) return nullptr;  // nothing to multiply: the kernel writes zeros
  // A does not move with n, B not with m, C not with k.
  if ((N > 1 && A.strides[n - 2] != 0) || (M > 1 && B.strides[n - 3] != 0) ||
      (K > 1 && C.strides[n - 1] != 0))
    return nullptr;
  dnnl::memory::dims sd, ss, wd, ws, dd, ds;
  for (size_t b = 0; b < nb; ++b) {
    sd.push_back(k.domain[b]);
    ss.push_back(A.strides[b]);
    wd.push_back(k.domain[b]);
    ws.push_back(B.strides[b]);
    dd.push_back(k.domain[b]);
    ds.push_back(C.strides[b]);
  }
  sd.insert(sd.end(), {M, K});
  ss.insert(ss.end(), {A.strides[n - 3], A.strides[n - 1]});
  wd.insert(wd.end(), {K, N});
  ws.insert(ws.end(), {B.strides[n - 1], B.strides[n - 2]});
  dd.insert(dd.end(), {M, N});
  ds.insert(ds.end(), {C.strides[n - 3], C.strides[n - 2]});
  auto src = plain(sd, ss, *dt, nb, true);
  auto wei = plain(wd, ws, *dt, nb, true);
  auto dst = plain(dd, ds, *dt, nb, false);
  if (!src || !wei || !dst) return nullptr;
  auto g = std::make_shared<OnednnGemm>();
  g->src = *src;
  g->weights = *wei;
  g->dst = *dst;
  g->a_offset = A.offset;
  g->b_offset = B.offset;
  g->c_offset = C.offset;
  g->has_bias = has_bias(e);
  try {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // one per call: thread-safe
    dnnl::algorithm act = dnnl::algorithm::undef;
    switch (e) {
      case Epilogue::none:
      case Epilogue::bias:
        break;
      case Epilogue::relu:
      case Epilogue::bias_relu:
        act = dnnl::algorithm::eltwise_relu;
        break;
      case Epilogue::gelu:
      case Epilogue::bias_gelu:
        act = dnnl::algorithm::eltwise_gelu_tanh;
        break;
      case Epilogue::gelu_erf:
      case Epilogue::bias_gelu_erf:
        act = dnnl::algorithm::eltwise_gelu_erf;
        break;
    }
    if (act != dnnl::algorithm::undef) {
      dnnl::post_ops po;
      po.append_eltwise(1.0f, act, 0.0f, 0.0f);
      attr.set_post_ops(po);
    }
    if (g->has_bias) {
      dnnl::memory::dims bd(dd.size(), 1), bs(dd.size(), N);
      bd.back() = N;
      bs.back() = 1;
      g->bias = dnnl::memory::desc(bd, *dt, bs);
    }
    dnnl::matmul::desc d = g->has_bias ? dnnl::matmul::desc(g->src, g->weights, g->bias, g->dst)
                                       : dnnl::matmul::desc(g->src, g->weights, g->dst);
    g->pd = dnnl::matmul::primitive_desc(d, attr, engine());
    // The reference implementation is far slower than the generated kernel.
    if (std::string(g->pd.impl_info_str()).rfind("ref", 0) == 0) return nullptr;
    g->prim = dnnl::matmul(g->pd);
    g->scratchpad_bytes = g->pd.scratchpad_desc().get_size();
  } catch (const dnnl::error& err) {
    log(LogLevel::debug, "oneDNN declines matmul kernel {} ({}): {}", k.name, epilogue_name(e),
        err.what());
    return nullptr;
  }
  return g;
}

void run_onednn(const OnednnGemm& g, const ir::Kernel& k, const std::vector<void*>& ptrs,
                const void* bias) {
  const ir::Access& A = k.accesses[0];
  const ir::Access& B = k.accesses[1];
  const ir::Access& C = k.accesses[2];
  const int64_t es = dtype_size(C.dtype);
  auto at = [&](const ir::Access& x, int64_t off) {
    return static_cast<char*>(ptrs[x.arg]) + off * es;
  };
  thread_local dnnl::stream* stream = new dnnl::stream(engine());  // one per thread, kept
  dnnl::memory src(g.src, engine(), at(A, g.a_offset));
  dnnl::memory wei(g.weights, engine(), at(B, g.b_offset));
  dnnl::memory dst(g.dst, engine(), at(C, g.c_offset));
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
  if (g.has_bias) {
    TJ_CHECK(bias != nullptr, "matmul kernel {}: fused bias without a buffer", k.name);
    args.emplace(DNNL_ARG_BIAS, dnnl::memory(g.bias, engine(), const_cast<void*>(bias)));
  }
  std::shared_ptr<Storage> scratch;
  if (g.scratchpad_bytes) {
    scratch = host_alloc(g.scratchpad_bytes);
    args.emplace(DNNL_ARG_SCRATCHPAD,
                 dnnl::memory(g.pd.scratchpad_desc(), engine(), scratch->data));
  }
  try {
    g.prim.execute(*stream, args);
    stream->wait();
  } catch (const dnnl::error& err) {
    throw tj::Error(fmt::format("matmul: oneDNN failed on kernel {} ({})", k.name, err.what()));
  }
}

struct OnednnConv {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  // The tensors as they lie in memory; the primitive's own layouts (blocked
  // ones are faster) are reached by reorders, made once.
  dnnl::memory::desc user_src, user_weights, user_dst, user_bias;
  bool reorder_src = false, reorder_weights = false, reorder_dst = false;
  dnnl::reorder src_in, weights_in, dst_out;
  size_t scratchpad_bytes = 0;
  bool has_bias = false;
};

std::shared_ptr<const OnednnConv> onednn_conv(const ir::Kernel& k) {
  const DType t = k.accesses[2].dtype;
  const std::optional<dnnl::memory::data_type> dt = dnnl_type(t);
  if (!dt) return nullptr;
  for (const ir::Access& a : k.accesses)
    if (a.dtype != t) return nullptr;
  const Shape& D = k.domain;  // [N, O, OH, OW, Cg, KH, KW]
  const std::vector<int64_t>& cv = k.conv;
  const int64_t groups = cv[6], Og = D[1] / groups, C = D[4] * groups;
  for (int64_t d : D)
    if (d == 0) return nullptr;  // nothing to compute: the kernel writes the bias (or zeros)
  // A plain descriptor of `dims` with element strides `st` (a size-1 dim's stride is moot).
  auto plain_desc = [&](const dnnl::memory::dims& dims, dnnl::memory::dims st) {
    for (size_t d = 0; d < dims.size(); ++d)
      if (dims[d] == 1 || st[d] == 0) st[d] = 1;
    return dnnl::memory::desc(dims, *dt, st);
  };
  auto desc = [&](const ir::Access& a, const dnnl::memory::dims& dims) {
    return plain_desc(dims, dnnl::memory::dims(a.strides.begin(),
                                               a.strides.begin() + static_cast<long>(dims.size())));
  };
  auto c = std::make_shared<OnednnConv>();
  c->user_src = desc(k.accesses[0], {D[0], C, cv[7], cv[8]});
  c->user_dst = desc(k.accesses[2], {D[0], D[1], D[2], D[3]});
  const ir::Access& w = k.accesses[1];
  c->user_weights =
      groups == 1
          ? desc(w, {D[1], D[4], D[5], D[6]})
          : plain_desc({groups, Og, D[4], D[5], D[6]},  // oneDNN's grouped weights
                       {Og * w.strides[0], w.strides[0], w.strides[1], w.strides[2], w.strides[3]});
  c->has_bias = k.accesses.size() > 3;
  if (c->has_bias) c->user_bias = desc(k.accesses[3], {D[1]});
  using tag = dnnl::memory::format_tag;
  auto any = [&](const dnnl::memory::desc& u) {
    return dnnl::memory::desc(u.dims(), *dt, tag::any);
  };
  try {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::memory::dims strides{cv[0], cv[1]}, dilates{cv[4] - 1, cv[5] - 1},
        pad_l{cv[2], cv[3]};
    // The right padding that makes oneDNN's output size the kernel's.
    dnnl::memory::dims pad_r(2);
    for (int q = 0; q < 2; ++q) {
      const int64_t in = cv[7 + q], kk = D[5 + q], out = D[2 + q];
      pad_r[q] = (out - 1) * cv[q] + cv[4 + q] * (kk - 1) + 1 - in - cv[2 + q];
    }
    const auto alg = dnnl::algorithm::convolution_direct;
    const auto prop = dnnl::prop_kind::forward_inference;
    dnnl::convolution_forward::desc d =
        c->has_bias
            ? dnnl::convolution_forward::desc(prop, alg, any(c->user_src), any(c->user_weights),
                                              c->user_bias, any(c->user_dst), strides, dilates,
                                              pad_l, pad_r)
            : dnnl::convolution_forward::desc(prop, alg, any(c->user_src), any(c->user_weights),
                                              any(c->user_dst), strides, dilates, pad_l, pad_r);
    c->pd = dnnl::convolution_forward::primitive_desc(d, attr, engine());
    if (std::string(c->pd.impl_info_str()).rfind("ref", 0) == 0) return nullptr;
    c->prim = dnnl::convolution_forward(c->pd);
    c->scratchpad_bytes = c->pd.scratchpad_desc().get_size();
    c->reorder_src = c->pd.src_desc() != c->user_src;
    c->reorder_weights = c->pd.weights_desc() != c->user_weights;
    c->reorder_dst = c->pd.dst_desc() != c->user_dst;
    if (c->reorder_src)
      c->src_in = dnnl::reorder(
          dnnl::reorder::primitive_desc(engine(), c->user_src, engine(), c->pd.src_desc()));
    if (c->reorder_weights)
      c->weights_in = dnnl::reorder(
          dnnl::reorder::primitive_desc(engine(), c->user_weights, engine(), c->pd.weights_desc()));
    if (c->reorder_dst)
      c->dst_out = dnnl::reorder(
          dnnl::reorder::primitive_desc(engine(), c->pd.dst_desc(), engine(), c->user_dst));
    log(LogLevel::debug, "oneDNN convolution for kernel {}: {}", k.name, c->pd.impl_info_str());
  } catch (const dnnl::error& err) {
    log(LogLevel::debug, "oneDNN declines conv kernel {}: {}", k.name, err.what());
    return nullptr;
  }
  return c;
}

void run_onednn(const OnednnConv& c, const ir::Kernel& k, const std::vector<void*>& ptrs) {
  const int64_t es = dtype_size(k.accesses[2].dtype);
  auto at = [&](size_t i) {
    const ir::Access& a = k.accesses[i];
    return static_cast<char*>(ptrs[a.arg]) + a.offset * es;
  };
  thread_local dnnl::stream* stream = new dnnl::stream(engine());
  std::vector<std::shared_ptr<Storage>> keep;
  auto staged = [&](const dnnl::memory::desc& md) {
    keep.push_back(host_alloc(std::max<size_t>(md.get_size(), 1)));
    return dnnl::memory(md, engine(), keep.back()->data);
  };
  try {
    dnnl::memory src(c.user_src, engine(), at(0)), wei(c.user_weights, engine(), at(1)),
        dst(c.user_dst, engine(), at(2));
    dnnl::memory s = src, w = wei, d = dst;
    if (c.reorder_src) {
      s = staged(c.pd.src_desc());
      c.src_in.execute(*stream, src, s);
    }
    if (c.reorder_weights) {
      w = staged(c.pd.weights_desc());
      c.weights_in.execute(*stream, wei, w);
    }
    if (c.reorder_dst) d = staged(c.pd.dst_desc());
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, d}};
    if (c.has_bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(c.user_bias, engine(), at(3)));
    if (c.scratchpad_bytes) args.emplace(DNNL_ARG_SCRATCHPAD, staged(c.pd.scratchpad_desc()));
    c.prim.execute(*stream, args);
    if (c.reorder_dst) c.dst_out.execute(*stream, d, dst);
    stream->wait();
  } catch (const dnnl::error& err) {
    throw tj::Error(fmt::format("conv2d: oneDNN failed on kernel {} ({})", k.name, err.what()));
  }
}

#else

struct OnednnGemm {};
struct OnednnConv {};

std::shared_ptr<const OnednnConv> onednn_conv(const ir::Kernel&) { return nullptr; }

void run_onednn(const OnednnConv&, const ir::Kernel&, const std::vector<void*>&) {}

std::string onednn_version() { return ""; }

const EpilogueRules& onednn_epilogue_rules() {
  static const EpilogueRules r{};
  return r;
}

std::shared_ptr<const OnednnGemm> onednn_gemm(const ir::Kernel&, Epilogue) { return nullptr; }

void run_onednn(const OnednnGemm&, const ir::Kernel&, const std::vector<void*>&, const void*) {}

#endif

}  // namespace tj::jit::cpu
