// Code generation and scheduling on hand-built graphs: the C++ the CPU
// backend prints vectorizes (the compiler says so), every kernel passes the
// Kernel IR verifier and prints stably, and make_plan picks the expected
// kernel kinds, names, schedules and tiles.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/kernel.h"
#include "ir/reference_eval.h"
#include "jit/cpu/allocator.h"
#include "jit/cpu/compiler.h"
#include "jit/cpu/printer.h"
#include "scheduler/make_plan.h"
#include "scheduler/tile.h"
#include "test_util.h"

namespace tj {
namespace {

using ir::Graph;
using ir::GraphBuilder;
using ir::Kernel;
using ir::NodeId;
using ir::Op;

// ---- graphs over host buffers ----------------------------------------------------

BufferView host_buffer(DType t, const Shape& shape, uint32_t seed = 1) {
  ir::RefValue v;
  v.dtype = t;
  v.shape = shape;
  const int64_t n = shape_numel(shape);
  uint32_t s = seed * 2654435761u + 12345u;
  auto next = [&] {
    s = s * 1664525u + 1013904223u;
    return static_cast<double>(s >> 8) / static_cast<double>(1u << 24);  // [0, 1)
  };
  if (is_floating(t)) {
    v.f.resize(n);
    for (auto& x : v.f) x = next() * 4.0 - 2.0;
  } else {
    v.i.resize(n);
    for (auto& x : v.i)
      x = t == DType::bool_ ? (next() < 0.5) : static_cast<int64_t>(next() * 20) - 10;
  }
  BufferView b;
  b.dtype = t;
  b.shape = shape;
  b.strides = contiguous_strides(shape);
  b.storage = jit::host_alloc(static_cast<size_t>(std::max<int64_t>(n, 1) * dtype_size(t)));
  ir::store_value(v, b.storage->data);
  return b;
}

NodeId fscalar(GraphBuilder& b, DType t, double v) { return b.scalar(t, {.f = v, .i = 0}); }

/// out = sigmoid(tanh(exp(x))) * x + exp(x)
Graph pointwise_chain(DType t, const Shape& shape, uint32_t seed = 1) {
  GraphBuilder b;
  NodeId x = b.buffer(host_buffer(t, shape, seed));
  NodeId e = b.unary(Op::Exp, x);
  NodeId th = b.unary(Op::Tanh, e);
  NodeId sg = b.unary(Op::Sigmoid, th);
  NodeId m = b.binary(Op::Mul, sg, x);
  return b.finish({b.binary(Op::Add, m, e)});
}

Graph softmax_graph(DType t, const Shape& shape, uint32_t seed = 1) {
  GraphBuilder b;
  const int64_t ax = static_cast<int64_t>(shape.size()) - 1;
  NodeId x = b.buffer(host_buffer(t, shape, seed));
  NodeId mx = b.reduce(Op::Max, x, {ax});
  NodeId e = b.unary(Op::Exp, b.binary(Op::Sub, x, mx));
  NodeId s = b.reduce(Op::Sum, e, {ax});
  return b.finish({b.binary(Op::Div, e, s)});
}

Graph log_softmax_graph(const Shape& shape) {
  GraphBuilder b;
  const int64_t ax = static_cast<int64_t>(shape.size()) - 1;
  NodeId x = b.buffer(host_buffer(f32, shape));
  NodeId sh = b.binary(Op::Sub, x, b.reduce(Op::Max, x, {ax}));
  NodeId s = b.reduce(Op::Sum, b.unary(Op::Exp, sh), {ax});
  return b.finish({b.binary(Op::Sub, sh, b.unary(Op::Log, s))});
}

/// (x - mean) * rsqrt(var + eps) * w + bias over the last dim.
Graph layer_norm_graph(const Shape& shape) {
  GraphBuilder b;
  const int64_t ax = static_cast<int64_t>(shape.size()) - 1;
  NodeId x = b.buffer(host_buffer(f32, shape, 1));
  NodeId w = b.buffer(host_buffer(f32, {shape.back()}, 2));
  NodeId bias = b.buffer(host_buffer(f32, {shape.back()}, 3));
  NodeId inv_n = fscalar(b, f32, 1.0 / static_cast<double>(shape.back()));
  NodeId mean = b.binary(Op::Mul, b.reduce(Op::Sum, x, {ax}), inv_n);
  NodeId d = b.binary(Op::Sub, x, mean);
  NodeId var = b.binary(Op::Mul, b.reduce(Op::Sum, b.binary(Op::Mul, d, d), {ax}), inv_n);
  NodeId r = b.unary(Op::Rsqrt, b.binary(Op::Add, var, fscalar(b, f32, 1e-5)));
  NodeId y = b.binary(Op::Add, b.binary(Op::Mul, b.binary(Op::Mul, d, r), w), bias);
  return b.finish({y});
}

Graph rms_norm_graph(const Shape& shape) {
  GraphBuilder b;
  const int64_t ax = static_cast<int64_t>(shape.size()) - 1;
  NodeId x = b.buffer(host_buffer(f32, shape, 1));
  NodeId w = b.buffer(host_buffer(f32, {shape.back()}, 2));
  NodeId inv_n = fscalar(b, f32, 1.0 / static_cast<double>(shape.back()));
  NodeId ms = b.binary(Op::Mul, b.reduce(Op::Sum, b.binary(Op::Mul, x, x), {ax}), inv_n);
  NodeId r = b.unary(Op::Rsqrt, b.binary(Op::Add, ms, fscalar(b, f32, 1e-6)));
  return b.finish({b.binary(Op::Mul, b.binary(Op::Mul, x, r), w)});
}

Graph reduce_graph(Op op, DType t, const Shape& shape, std::vector<int64_t> axes) {
  GraphBuilder b;
  NodeId x = b.buffer(host_buffer(t, shape));
  return b.finish({b.reduce(op, x, std::move(axes))});
}

/// relu(a @ w + bias)
Graph matmul_bias_relu_graph(int64_t m, int64_t k, int64_t n) {
  GraphBuilder b;
  NodeId a = b.buffer(host_buffer(f32, {m, k}, 1));
  NodeId w = b.buffer(host_buffer(f32, {k, n}, 2));
  NodeId bias = b.buffer(host_buffer(f32, {n}, 3));
  NodeId mm = b.add(Op::Matmul, {a, w}, {});
  return b.finish({b.unary(Op::Relu, b.binary(Op::Add, mm, bias))});
}

/// Two independent pointwise results over one shape.
Graph horizontal_graph(const Shape& shape) {
  GraphBuilder b;
  NodeId x = b.buffer(host_buffer(f32, shape, 1));
  NodeId y = b.buffer(host_buffer(f32, shape, 2));
  NodeId p = b.binary(Op::Add, b.binary(Op::Mul, x, fscalar(b, f32, 2.0)), fscalar(b, f32, 1.0));
  NodeId q = b.binary(Op::Sub, b.unary(Op::Exp, y), y);
  return b.finish({p, q});
}

/// z * x.sum(0): the reduction's result is used in a different shape.
Graph reduce_other_shape_graph() {
  GraphBuilder b;
  NodeId x = b.buffer(host_buffer(f32, {64, 32}, 1));
  NodeId z = b.buffer(host_buffer(f32, {16, 32}, 2));
  NodeId s = b.reshape(b.reduce(Op::Sum, x, {0}), {32});
  return b.finish({b.binary(Op::Mul, z, s)});
}

sched::Target test_target() {
  sched::Target t;
  t.threads = 2;
  t.vector_bytes = 64;
  return t;
}

std::string kinds_of(const sched::Plan& p) {
  std::string s;
  for (const auto& st : p.steps) {
    const Kernel& k = p.kernels[st.kernel];
    if (!s.empty()) s += ",";
    s += k.kind == Kernel::Kind::pointwise ? "pointwise"
         : k.kind == Kernel::Kind::row     ? "row"
                                           : "matmul";
  }
  return s;
}

std::string describe(const sched::Plan& p) {
  std::string s = p.schedule_text;
  for (const Kernel& k : p.kernels) s += ir::to_string(k);
  return s;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// ---- (1) the generated loops vectorize ---------------------------------------------

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tj_codegen_XXXXXX";
    if (char* p = mkdtemp(tmpl)) path = p;
  }
  ~TempDir() {
    if (!path.empty()) std::system(("rm -rf '" + path + "'").c_str());
  }
};

std::string read_file(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// Lines of `src` (1-based) inside kernel `name` whose text contains `needle`.
std::vector<int> loop_lines(const std::string& src, const std::string& name,
                            const std::string& needle) {
  std::vector<int> out;
  std::istringstream is(src);
  std::string ln;
  int no = 0;
  bool inside = false;
  while (std::getline(is, ln)) {
    ++no;
    if (starts_with(ln, "extern \"C\" void "))
      inside = ln.find(" " + name + "(") != std::string::npos;
    if (inside && ln.find(needle) != std::string::npos) out.push_back(no);
  }
  return out;
}

bool pragma_line(const std::string& src, int line) {
  std::istringstream is(src);
  std::string ln;
  for (int no = 1; std::getline(is, ln); ++no)
    if (no == line) return ln.find("#pragma") != std::string::npos;
  return false;
}

std::set<int> vectorized_lines(const std::string& log, const std::string& file) {
  std::set<int> out;
  std::istringstream is(log);
  std::string ln;
  const std::string prefix = file + ":";
  while (std::getline(is, ln)) {
    if (!starts_with(ln, prefix) || ln.find("loop vectorized") == std::string::npos) continue;
    out.insert(std::atoi(ln.c_str() + prefix.size()));
  }
  return out;
}

/// Compiles `src` with the backend's compiler and flags (as an object file)
/// plus -fopt-info-vec-optimized; returns the vectorized lines. Sets
/// *skip when the compiler cannot be used here.
std::set<int> compile_vec_report(const std::string& src, std::string* skip, std::string* log_out) {
  const jit::CpuCompiler* cc = nullptr;
  try {
    cc = &jit::cpu_compiler();
  } catch (const std::exception& e) {
    *skip = std::string("no usable C++ compiler: ") + e.what();
    return {};
  }
  if (cc->identity.find("clang") != std::string::npos) {
    *skip = "the vectorization report needs g++ (-fopt-info); compiler is " + cc->identity;
    return {};
  }
  TempDir dir;
  if (dir.path.empty()) {
    *skip = "cannot create a temporary directory";
    return {};
  }
  std::ofstream(dir.path + "/k.cpp") << src;
  std::string flags = cc->flags;
  if (size_t p = flags.find("-shared"); p != std::string::npos) flags.replace(p, 7, "-c");
  std::string cmd = "cd '" + dir.path + "' && " + cc->command + " " + flags +
                    " -fopt-info-vec-optimized -o /dev/null k.cpp > log.txt 2>&1";
  int rc = std::system(cmd.c_str());
  *log_out = read_file(dir.path + "/log.txt");
  if (rc != 0) {
    ADD_FAILURE() << "the generated source does not compile: " << cmd << "\n" << *log_out;
    return {};
  }
  return vectorized_lines(*log_out, "k.cpp");
}

/// Every line of kernel `k` containing one of `needles` is a vectorized loop.
void expect_loops_vectorized(const sched::Plan& p, const std::vector<std::string>& needles) {
  std::vector<const Kernel*> ks;
  for (const Kernel& k : p.kernels) ks.push_back(&k);
  const std::string src = jit::print_cpp_unit(ks);
  std::string skip, log;
  std::set<int> vec = compile_vec_report(src, &skip, &log);
  if (!skip.empty()) GTEST_SKIP() << skip;
  if (::testing::Test::HasFailure()) return;
  for (const Kernel& k : p.kernels) {
    std::vector<int> lines;
    for (const std::string& n : needles) {
      auto l = loop_lines(src, k.name, n);
      lines.insert(lines.end(), l.begin(), l.end());
    }
    ASSERT_FALSE(lines.empty()) << "no loop found in " << k.name << "\n"
                                << jit::print_cpp_kernel(k);
    // g++ reports a `#pragma omp simd` loop at the pragma's line, just above.
    for (int l : lines)
      EXPECT_TRUE(vec.count(l) || (pragma_line(src, l - 1) && vec.count(l - 1)))
          << k.name << ": loop at line " << l << " is not vectorized\n"
          << jit::print_cpp_kernel(k) << "\ncompiler report:\n"
          << log.substr(0, 6000);
  }
}

// pointwise_chain has three math calls in a row: its body is cut into
// stages, each a loop over a block of elements (`for (int64_t j = jb`), and
// every one of them must vectorize (the loop over blocks does not).
TEST(CodegenVectorize, PointwiseChainInnerLoop) {
  sched::Plan p = sched::make_plan(pointwise_chain(f32, {4096}), test_target());
  ASSERT_EQ(p.kernels.size(), 1u);
  ASSERT_EQ(p.kernels[0].kind, Kernel::Kind::pointwise);
  const std::string src = jit::print_cpp_kernel(p.kernels[0]);
  EXPECT_EQ(
      loop_lines(jit::print_cpp_unit({&p.kernels[0]}), p.kernels[0].name, "for (int64_t j = jb")
          .size(),
      3u)
      << src;
  expect_loops_vectorized(p, {"for (int64_t j ="});
}

TEST(CodegenVectorize, PointwiseChain2dInnerLoop) {
  sched::Plan p = sched::make_plan(pointwise_chain(f32, {64, 100}), test_target());
  ASSERT_EQ(p.kernels.size(), 1u);
  expect_loops_vectorized(p, {"for (int64_t j ="});
}

TEST(CodegenVectorize, F16PointwiseInnerLoop) {
  sched::Plan p = sched::make_plan(pointwise_chain(f16, {4096}), test_target());
  ASSERT_EQ(p.kernels.size(), 1u);
  expect_loops_vectorized(p, {"for (int64_t j ="});
}

TEST(CodegenVectorize, Bf16PointwiseInnerLoop) {
  sched::Plan p = sched::make_plan(pointwise_chain(bf16, {4096}), test_target());
  ASSERT_EQ(p.kernels.size(), 1u);
  expect_loops_vectorized(p, {"for (int64_t j ="});
}

// Two math calls in a chain: two stages (sigmoid then tanh ran 1.20 ns per
// element in one loop, 0.91 in two).
TEST(CodegenVectorize, TwoMathCallsAreStaged) {
  GraphBuilder b;
  NodeId x = b.buffer(host_buffer(f32, {4096}));
  Graph g = b.finish({b.binary(Op::Mul, b.unary(Op::Tanh, b.unary(Op::Exp, x)), x)});
  sched::Plan p = sched::make_plan(g, test_target());
  ASSERT_EQ(p.kernels.size(), 1u);
  const std::string src = jit::print_cpp_kernel(p.kernels[0]);
  EXPECT_EQ(
      loop_lines(jit::print_cpp_unit({&p.kernels[0]}), p.kernels[0].name, "for (int64_t j = jb")
          .size(),
      2u)
      << src;
  expect_loops_vectorized(p, {"for (int64_t j ="});
}

// One math call: one loop.
TEST(CodegenVectorize, OneMathCallIsNotStaged) {
  GraphBuilder b;
  NodeId x = b.buffer(host_buffer(f32, {4096}));
  Graph g = b.finish({b.binary(Op::Mul, b.unary(Op::Tanh, b.binary(Op::Mul, x, x)), x)});
  sched::Plan p = sched::make_plan(g, test_target());
  ASSERT_EQ(p.kernels.size(), 1u);
  const std::string src = jit::print_cpp_kernel(p.kernels[0]);
  EXPECT_EQ(src.find("jb"), std::string::npos) << src;
  expect_loops_vectorized(p, {"for (int64_t j ="});
}

TEST(CodegenVectorize, SoftmaxRowKernelLoops) {
  sched::Plan p = sched::make_plan(softmax_graph(f32, {64, 1000}), test_target());
  ASSERT_EQ(p.kernels.size(), 1u);
  ASSERT_EQ(p.kernels[0].kind, Kernel::Kind::row);
  ASSERT_EQ(p.kernels[0].stages.size(), 2u);
  // The max pass, the sum-of-exp pass and the store pass.
  auto src = jit::print_cpp_kernel(p.kernels[0]);
  EXPECT_EQ(
      loop_lines(jit::print_cpp_unit({&p.kernels[0]}), p.kernels[0].name, "for (int64_t r1 = 0")
          .size(),
      3u)
      << src;
  expect_loops_vectorized(p, {"for (int64_t r1 = 0"});
}

// The exp that softmax sums is kept for its output pass in a row array (rows of
// up to 4096 elements), not computed again; longer rows compute it twice.
TEST(CodegenVectorize, SoftmaxKeepsItsExpForTheOutputPass) {
  for (int64_t cols : {1000, 4096, 5000}) {
    sched::Plan p = sched::make_plan(softmax_graph(f32, {8, cols}), test_target());
    ASSERT_EQ(p.kernels.size(), 1u);
    const std::string src = jit::print_cpp_kernel(p.kernels[0]);
    size_t exps = 0;
    for (size_t at = src.find("tj_exp("); at != std::string::npos; at = src.find("tj_exp(", at + 1))
      ++exps;
    EXPECT_EQ(exps, cols <= 4096 ? 1u : 2u) << src;
    EXPECT_EQ(src.find("tj_rc") != std::string::npos, cols <= 4096) << src;
    expect_loops_vectorized(p, {"for (int64_t r1 = 0"});
  }
}

TEST(CodegenVectorize, LayerNormRowKernelLoops) {
  sched::Plan p = sched::make_plan(layer_norm_graph({32, 768}), test_target());
  ASSERT_EQ(p.kernels.size(), 1u);
  expect_loops_vectorized(p, {"for (int64_t r1 = 0"});
}

// ---- (2) the verifier and the printed form ---------------------------------------

std::vector<std::function<Graph()>> plan_graphs() {
  return {
      [] { return pointwise_chain(f32, {4096}); },
      [] {
        return pointwise_chain(f16, {33, 65});
      },
      [] { return pointwise_chain(f64, {1000003}); },
      [] {
        return softmax_graph(f32, {64, 1000});
      },
      [] {
        return softmax_graph(bf16, {3, 5, 7});
      },
      [] {
        return log_softmax_graph({8, 100});
      },
      [] {
        return layer_norm_graph({16, 256});
      },
      [] {
        return rms_norm_graph({16, 256});
      },
      [] { return reduce_graph(Op::Sum, f32, {1 << 20}, {0}); },
      [] {
        return reduce_graph(Op::ArgMax, f32, {10, 33}, {1});
      },
      [] {
        return reduce_graph(Op::Sum, i32, {7, 9, 11}, {0, 2});
      },
      [] { return matmul_bias_relu_graph(32, 48, 24); },
      [] {
        return horizontal_graph({128, 64});
      },
      [] { return reduce_other_shape_graph(); },
  };
}

TEST(CodegenIr, EveryKernelVerifies) {
  for (auto& make : plan_graphs()) {
    Graph g = make();
    sched::Plan p = sched::make_plan(g, test_target());
    EXPECT_FALSE(p.kernels.empty());
    for (const Kernel& k : p.kernels) {
      // make_plan verified k; the verifier must reject the same kernel broken.
      if (!k.body.empty()) {
        Kernel use_before_def = k;
        use_before_def.body[0].a = static_cast<int32_t>(k.body.size());
        use_before_def.body[0].kop = ir::KOp::Unary;
        EXPECT_THROW(ir::verify(use_before_def), Error) << ir::to_string(k);
      }
      if (!k.accesses.empty()) {
        Kernel short_strides = k;
        short_strides.accesses[0].strides.push_back(1);
        EXPECT_THROW(ir::verify(short_strides), Error) << ir::to_string(k);
        Kernel missing_arg = k;
        missing_arg.accesses[0].arg = static_cast<int32_t>(k.args.size());
        EXPECT_THROW(ir::verify(missing_arg), Error) << ir::to_string(k);
      }
      if (!k.stages.empty()) {
        Kernel bad_stage = k;
        bad_stage.stages[0].value = static_cast<int32_t>(k.body.size());
        EXPECT_THROW(ir::verify(bad_stage), Error) << ir::to_string(k);
      }
      EXPECT_FALSE(k.name.empty());
      EXPECT_NE(jit::print_cpp_kernel(k).find("extern \"C\" void " + k.name + "("),
                std::string::npos);
    }
  }
}

TEST(CodegenIr, PrintedKernelsAreStable) {
  for (auto& make : plan_graphs()) {
    // The same structure over other buffers (other data): the same kernels.
    Graph g1 = make(), g2 = make();
    EXPECT_EQ(g1.hash(), g2.hash());
    sched::Plan p1 = sched::make_plan(g1, test_target());
    sched::Plan p2 = sched::make_plan(g2, test_target());
    sched::Plan p3 = sched::make_plan(g1, test_target());
    ASSERT_EQ(p1.kernels.size(), p2.kernels.size());
    ASSERT_EQ(p1.kernels.size(), p3.kernels.size());
    EXPECT_EQ(p1.schedule_text, p2.schedule_text);
    for (size_t k = 0; k < p1.kernels.size(); ++k) {
      EXPECT_EQ(ir::to_string(p1.kernels[k]), ir::to_string(p2.kernels[k]));
      EXPECT_EQ(ir::to_string(p1.kernels[k]), ir::to_string(p3.kernels[k]));
      EXPECT_EQ(p1.kernels[k].name, p2.kernels[k].name);
      EXPECT_EQ(jit::print_cpp_kernel(p1.kernels[k]), jit::print_cpp_kernel(p2.kernels[k]));
    }
  }
}

TEST(CodegenIr, PrintedFormOfAPointwiseKernel) {
  sched::Plan p = sched::make_plan(pointwise_chain(f32, {4096}), test_target());
  ASSERT_EQ(p.kernels.size(), 1u);
  const Kernel& k = p.kernels[0];
  std::string s = ir::to_string(k);
  EXPECT_NE(s.find("kernel " + k.name +
                   " (pointwise): domain [4096] reduced 0 tile(block=4096, rows=0, vec=16)"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("  arg0: f32*\n  arg1: f32*\n"), std::string::npos) << s;
  EXPECT_NE(s.find("acc0: arg0 f32 strides=[1] offset=0"), std::string::npos) << s;
  for (const char* op : {"exp", "tanh", "sigmoid", "mul", "add"})
    EXPECT_NE(s.find(std::string(" = ") + op + " f32"), std::string::npos) << op << "\n" << s;
  EXPECT_NE(s.find(" = store f32"), std::string::npos) << s;
}

TEST(CodegenIr, VerifierRejectsBrokenKernels) {
  sched::Plan p = sched::make_plan(softmax_graph(f32, {8, 100}), test_target());
  ASSERT_EQ(p.kernels.size(), 1u);
  {
    Kernel k = p.kernels[0];
    k.accesses[0].strides.push_back(1);  // one stride too many
    EXPECT_TRUE(testing::throws_error([&] { ir::verify(k); }, {"internal error"}));
  }
  {
    Kernel k = p.kernels[0];
    ASSERT_GE(k.body.size(), 3u);
    k.body[1].a = static_cast<int32_t>(k.body.size() - 1);  // used before defined
    k.body[1].kop = ir::KOp::Unary;
    EXPECT_TRUE(testing::throws_error([&] { ir::verify(k); }, {"internal error"}));
  }
  {
    Kernel k = p.kernels[0];
    ASSERT_FALSE(k.stages.empty());
    k.stages[0].value = static_cast<int32_t>(k.body.size() + 3);
    EXPECT_TRUE(testing::throws_error([&] { ir::verify(k); }, {"internal error"}));
  }
}

// ---- (3) make_plan: schedules, kinds, names and tiles ----------------------------------

struct PlanCase {
  const char* name;
  std::function<Graph()> graph;
  std::string kinds;                  // launch order
  std::vector<std::string> prefixes;  // kernel name prefix per launch
};

void PrintTo(const PlanCase& c, std::ostream* os) { *os << c.name; }

class MakePlanTest : public ::testing::TestWithParam<PlanCase> {};

TEST_P(MakePlanTest, KindsAndNames) {
  const PlanCase& c = GetParam();
  sched::Plan p = sched::make_plan(c.graph(), test_target());
  EXPECT_EQ(kinds_of(p), c.kinds) << describe(p);
  ASSERT_EQ(p.steps.size(), c.prefixes.size()) << describe(p);
  for (size_t s = 0; s < p.steps.size(); ++s) {
    const std::string& name = p.kernels[p.steps[s].kernel].name;
    EXPECT_TRUE(starts_with(name, c.prefixes[s]))
        << "launch " << s << ": " << name << ", expected " << c.prefixes[s] << "...\n"
        << describe(p);
    // tj_<kind>_<16 hex digits>: all 64 bits of the IR's hash, since the
    // in-memory kernel cache takes equal names for equal kernels (with 32
    // bits, a fuzzer run of 12,837 kernels had two kernels of one name).
    ASSERT_GE(name.size(), 17u);
    EXPECT_EQ(name.find_first_not_of("0123456789abcdef", name.size() - 16), std::string::npos)
        << name;
    EXPECT_EQ(name[name.size() - 17], '_') << name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Plans, MakePlanTest,
    ::testing::Values(PlanCase{"pointwise_chain",
                               [] {
                                 return pointwise_chain(f32, {64, 128});
                               },
                               "pointwise",
                               {"tj_pointwise_"}},
                      PlanCase{"softmax",
                               [] {
                                 return softmax_graph(f32, {64, 1000});
                               },
                               "row",
                               {"tj_row_softmax_"}},
                      PlanCase{"log_softmax",
                               [] {
                                 return log_softmax_graph({64, 1000});
                               },
                               "row",
                               {"tj_row_log_softmax_"}},
                      PlanCase{"layer_norm",
                               [] {
                                 return layer_norm_graph({16, 256});
                               },
                               "row",
                               {"tj_row_layer_norm_"}},
                      PlanCase{"rms_norm",
                               [] {
                                 return rms_norm_graph({16, 256});
                               },
                               "row",
                               {"tj_row_rms_norm_"}},
                      PlanCase{"row_sum",
                               [] {
                                 return reduce_graph(Op::Sum, f32, {64, 1000}, {1});
                               },
                               "row",
                               {"tj_row_sum_"}},
                      PlanCase{"row_argmax",
                               [] {
                                 return reduce_graph(Op::ArgMax, f32, {64, 1000}, {1});
                               },
                               "row",
                               {"tj_row_argmax_"}},
                      PlanCase{"split_sum",
                               [] { return reduce_graph(Op::Sum, f32, {1 << 20}, {0}); },
                               "row,row",
                               {"tj_row_sum_", "tj_row_sum_"}},
                      PlanCase{"matmul_bias_relu",
                               [] { return matmul_bias_relu_graph(32, 48, 24); },
                               "matmul,pointwise",
                               {"tj_matmul_", "tj_pointwise_"}},
                      PlanCase{"horizontal",
                               [] {
                                 return horizontal_graph({128, 64});
                               },
                               "pointwise",
                               {"tj_pointwise_"}},
                      PlanCase{"reduce_other_shape",
                               reduce_other_shape_graph,
                               "row,pointwise",
                               {"tj_row_sum_", "tj_pointwise_"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(MakePlanSchedule, ScheduleText) {
  {
    Graph g = pointwise_chain(f32, {64, 128});
    sched::Plan p = sched::make_plan(g, test_target());
    EXPECT_EQ(p.schedule_text, "group 0 (pointwise, epoch 1): shape [64, 128] roots %" +
                                   std::to_string(g.outputs()[0]) + "\n");
  }
  {
    Graph g = softmax_graph(f32, {64, 1000});
    sched::Plan p = sched::make_plan(g, test_target());
    EXPECT_EQ(p.schedule_text, "group 0 (row, epoch 1): shape [64, 1000] axes [1] roots %" +
                                   std::to_string(g.outputs()[0]) + "\n");
    ASSERT_EQ(p.kernels.size(), 1u);
    EXPECT_EQ(p.kernels[0].stages.size(), 2u);
    EXPECT_EQ(p.kernels[0].stages[0].op, Op::Max);
    EXPECT_EQ(p.kernels[0].stages[1].op, Op::Sum);
    EXPECT_EQ(p.kernels[0].domain, (Shape{64, 1000}));
    EXPECT_EQ(p.kernels[0].reduced, 1);
  }
  {
    Graph g = horizontal_graph({128, 64});
    sched::Plan p = sched::make_plan(g, test_target());
    EXPECT_EQ(p.schedule_text, "group 0 (pointwise, epoch 1): shape [128, 64] roots %" +
                                   std::to_string(g.outputs()[0]) + " %" +
                                   std::to_string(g.outputs()[1]) + "\n");
  }
  {
    Graph g = matmul_bias_relu_graph(32, 48, 24);
    sched::Plan p = sched::make_plan(g, test_target());
    EXPECT_NE(p.schedule_text.find("group 0 (matmul, epoch 1): shape [32, 24]"), std::string::npos)
        << p.schedule_text;
    EXPECT_NE(p.schedule_text.find("group 1 (pointwise, epoch 2): shape [32, 24]"),
              std::string::npos)
        << p.schedule_text;
  }
  {
    // 1M elements summed on 2 threads: 16 partial sums of 65536, then one.
    Graph g = reduce_graph(Op::Sum, f32, {1 << 20}, {0});
    sched::Plan p = sched::make_plan(g, test_target());
    EXPECT_NE(p.schedule_text.find("group 0 (row, epoch 1): shape [16, 65536] axes [1]"),
              std::string::npos)
        << p.schedule_text;
    EXPECT_NE(p.schedule_text.find("group 1 (row, epoch 2): shape [16, 1] axes [0]"),
              std::string::npos)
        << p.schedule_text;
  }
}

TEST(MakePlanTile, FollowsTheHeuristicsOfTileH) {
  auto kernel = [](Graph g) {
    sched::Plan p = sched::make_plan(g, test_target());
    EXPECT_EQ(p.kernels.size(), 1u) << describe(p);
    return p.kernels.at(0);
  };
  // Small pointwise: one program.
  EXPECT_EQ(kernel(pointwise_chain(f32, {1000})).tile.block, 1000);
  // 1M elements, 2 threads: 4 programs per thread.
  Kernel big = kernel(pointwise_chain(f32, {1 << 20}));
  EXPECT_EQ(big.tile.block, (1 << 20) / 8);
  EXPECT_EQ(big.tile.vector_width, 16);  // 64-byte vectors of f32
  // Short inner dim: the block is a whole number of rows.
  Kernel rows = kernel(pointwise_chain(f32, {4096, 99}));
  EXPECT_EQ(rows.tile.block % 99, 0) << rows.tile.block;
  EXPECT_GE(rows.tile.block, 4096 * 99 / 8);
  // f64: 64-byte vectors hold 8 elements.
  EXPECT_EQ(kernel(pointwise_chain(f64, {4096})).tile.vector_width, 8)
      << "tile.h: vector_width = vector register bytes / element bytes";
  // Row kernel: rows per program and persistence.
  Kernel sm = kernel(softmax_graph(f32, {64, 1000}));
  EXPECT_EQ(sm.tile.rows, 17);  // at least 16K elements of work per program
  EXPECT_TRUE(sm.tile.persistent);
  Kernel longrow = kernel(softmax_graph(f32, {2, 1000003}));
  EXPECT_EQ(longrow.tile.rows, 1);
  EXPECT_FALSE(longrow.tile.persistent);  // 4 MB rows do not fit half of L2
  // Tile candidates start with the chosen config.
  auto cands = sched::tile_candidates(sm, test_target());
  ASSERT_FALSE(cands.empty());
  EXPECT_EQ(cands[0].rows, sm.tile.rows);
}

}  // namespace
}  // namespace tj
