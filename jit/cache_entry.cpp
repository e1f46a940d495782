#include "jit/cache_entry.h"

#include <fmt/format.h>

namespace tj::jit {

cache::Entry make_entry(const cache::KeyFields& f, std::string binary, double compile_ms) {
  cache::Entry e;
  e.key = cache::make_key(f);
  e.backend = f.backend;
  e.target = f.target;
  e.compiler = f.compiler;
  e.options = f.options;
  e.source = f.source;
  e.binary = std::move(binary);
  e.compile_ms = compile_ms;
  return e;
}

void store_unit(const cache::KeyFields& f, const std::vector<const ir::Kernel*>& ks,
                const std::string& binary, double compile_ms) {
  cache::Store& store = cache::Store::global();
  if (store.effective_mode() != cache::Mode::on || ks.empty()) return;
  cache::Entry e = make_entry(f, binary, compile_ms);
  e.name = ks[0]->name + (ks.size() > 1 ? fmt::format(" (+{} more)", ks.size() - 1) : "");
  for (const ir::Kernel* k : ks) {
    if (!e.summary.empty()) e.summary += " | ";
    e.summary += k->summary;
    if (!e.signature.empty()) e.signature += " | ";
    std::string dts;
    for (DType t : k->args) dts += std::string(dts.empty() ? "" : ",") + std::string(dtype_name(t));
    e.signature += fmt::format("{} over {}", dts, shape_str(k->domain));
  }
  store.put(e);
}

}  // namespace tj::jit
