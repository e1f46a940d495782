#include "jit/executor.h"

#include <unordered_map>

#include "ir/reference_eval.h"
#include "jit/host_allocator.h"

namespace tj::jit {

// Until the scheduler and code generators exist, graphs run through the
// reference evaluator; results are stored in host buffers of their dtype.
std::vector<BufferView> execute(const ir::Graph& g) {
  std::vector<ir::RefValue> vals = ir::reference_eval(g);
  std::vector<BufferView> out;
  out.reserve(vals.size());
  std::unordered_map<ir::NodeId, size_t> first;  // duplicate outputs share a buffer
  for (size_t k = 0; k < vals.size(); ++k) {
    ir::NodeId id = g.outputs()[k];
    if (auto it = first.find(id); it != first.end()) {
      out.push_back(out[it->second]);
      continue;
    }
    first[id] = k;
    const ir::RefValue& v = vals[k];
    BufferView b;
    b.dtype = v.dtype;
    b.shape = v.shape;
    b.strides = contiguous_strides(v.shape);
    b.storage = host_alloc(static_cast<size_t>(v.numel() * dtype_size(v.dtype)));
    ir::store_value(v, b.storage->data);
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace tj::jit
