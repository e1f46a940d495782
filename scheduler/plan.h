// Plan: everything needed to run one graph, without its data.
//
// A plan lists the kernels (Kernel IR), the buffers they read and write and
// the order of launches. It refers to the graph's data only by slot (input
// buffers, scalar values, outputs), so it is cached by the graph's structural
// hash and replayed for every graph with that hash. Temporaries are
// allocated just before their first use and released after their last, so
// the caching allocator hands the same memory to later temporaries.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/kernel.h"

namespace tj::sched {

struct PlanBuffer {
  // check: the i64[ir::kCheckCellSize] cell where kernels with gathers
  // report an out-of-range index; zeroed before the first step, read after
  // the last (see jit/run_plan.h).
  enum class Kind : uint8_t { input, temp, output, check };
  Kind kind = Kind::temp;
  int32_t slot = -1;     // input: graph buffer slot; output: first index in g.outputs()
  ir::NodeId node = -1;  // temp/output: the node it holds
  DType dtype = DType::f32;
  int64_t numel = 0;
  int first_use = -1, last_use = -1;  // steps (temps)
  // output/temp: the input buffer whose memory it may be written into
  // (scheduler/donate.h), -1 for none
  int32_t donor = -1;
};

struct Step {
  int32_t kernel = -1;               // index into Plan::kernels
  int32_t group = -1;                // the Schedule group it computes (provenance only)
  std::vector<int32_t> args;         // plan buffer for each kernel argument
  std::vector<int32_t> params;       // graph scalar slot for each kernel parameter
  std::vector<int64_t> arg_offsets;  // element offset added to each argument's base
};

/// What one step computes, as nodes of the graph given to make_plan (before
/// split_reductions): the ops its kernel evaluates (inlined producers and the
/// values it writes) and the values it writes, each in graph order, leaves
/// left out. For logs and dumps only: no kernel's name or source depends on it.
struct StepOps {
  std::vector<ir::NodeId> nodes;
  std::vector<ir::NodeId> writes;
};

struct Plan {
  uint64_t graph_hash = 0;
  std::vector<ir::Kernel> kernels;
  std::vector<Step> steps;
  std::vector<PlanBuffer> buffers;
  std::vector<int32_t> outputs;       // plan buffer per graph output
  int32_t check_buffer = -1;          // the check cell, when a kernel gathers
  std::string schedule_text;          // the fusion decision, for logs
  std::vector<std::string> refusals;  // why values were not fused into their users (WhyNoFuse)
  std::vector<StepOps> step_ops;      // per step

  size_t launches() const { return steps.size(); }
};

/// The machine a plan is made for (tiling reads it).
struct Target {
  std::string name = "cpu";
  int threads = 1;
  int vector_bytes = 32;
  int64_t l2_bytes = 1 << 20;
  // The backend's printer takes a symbolic dim 0 (ir::Kernel::dynamic).
  bool dynamic_dims = false;
};

}  // namespace tj::sched
