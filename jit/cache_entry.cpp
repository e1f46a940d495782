#include "jit/cache_entry.h"

#include <fmt/format.h>

#include <string_view>

namespace tj::jit {

namespace {

/// A kernel's entry holds this and the unit's key instead of a binary (a
/// shared object and a CUBIN both start with ELF's magic number instead).
constexpr std::string_view kUnitRef = "tilejit unit ";

std::string signature_of(const ir::Kernel& k) {
  std::string dts;
  for (DType t : k.args) dts += std::string(dts.empty() ? "" : ",") + std::string(dtype_name(t));
  return fmt::format("{} over {}", dts, ir::domain_string(k, /*instance=*/false));
}

}  // namespace

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

cache::KeyFields kernel_fields(const cache::KeyFields& unit, const std::string& preamble,
                               const std::string& kernel) {
  cache::KeyFields f = unit;
  f.options += " preamble:" + cache::make_key({"preamble", "", "", "", preamble}).hex();
  f.source = kernel;
  return f;
}

std::optional<CachedUnit> find_kernel(const cache::KeyFields& f) {
  cache::Store& store = cache::Store::global();
  if (store.effective_mode() == cache::Mode::off) return std::nullopt;
  std::optional<cache::Entry> ref = store.get(cache::make_key(f), f);
  if (!ref || ref->binary.rfind(kUnitRef, 0) != 0) return std::nullopt;
  std::optional<cache::Key> unit = cache::Key::from_hex(ref->binary.substr(kUnitRef.size()));
  if (!unit) return std::nullopt;
  // get() checks that the unit's fields hash to its key and that this user
  // signed it; a unit evicted since is a miss.
  std::optional<cache::Entry> e = store.get(*unit);
  if (!e || e->backend != f.backend || e->target != f.target || e->compiler != f.compiler ||
      e->source.find(f.source) == std::string::npos)
    return std::nullopt;
  return CachedUnit{unit->hex(), std::move(e->binary)};
}

void store_unit(const cache::KeyFields& unit, const std::vector<const ir::Kernel*>& ks,
                const std::vector<cache::KeyFields>& kernels, const std::string& binary,
                double compile_ms) {
  cache::Store& store = cache::Store::global();
  if (store.effective_mode() != cache::Mode::on || ks.empty()) return;
  cache::Entry e = make_entry(unit, binary, compile_ms);
  e.name = ks[0]->name + (ks.size() > 1 ? fmt::format(" (+{} more)", ks.size() - 1) : "");
  for (const ir::Kernel* k : ks) {
    if (!e.summary.empty()) e.summary += " | ";
    e.summary += k->summary;
    if (!e.signature.empty()) e.signature += " | ";
    e.signature += signature_of(*k);
  }
  if (!store.put(e)) return;
  const std::string ref = std::string(kUnitRef) + e.key.hex();
  for (size_t i = 0; i < ks.size(); ++i) {
    cache::Entry r = make_entry(kernels[i], ref, 0);
    r.name = ks[i]->name;
    r.summary = fmt::format("{} (compiled in unit {})", ks[i]->summary, e.key.hex().substr(0, 8));
    r.signature = signature_of(*ks[i]);
    store.put(r);
  }
}

}  // namespace tj::jit
