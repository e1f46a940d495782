#include "ir/op.h"

#include <fmt/format.h>

#include "ir/check.h"

namespace tj::ir {

namespace {
constexpr OpInfo kOps[] = {
#define TJ_OP(name, str, arity, kind, rule, autocast) \
  {str, arity, OpKind::kind, DTypeRule::rule, AutocastClass::autocast},
#include "ir/ops.def"
};
}  // namespace

const OpInfo& op_info(Op op) { return kOps[static_cast<int>(op)]; }
int num_ops() { return static_cast<int>(sizeof(kOps) / sizeof(kOps[0])); }

std::string_view index_api_name(IndexApi api) {
  switch (api) {
    case IndexApi::gather:
      return "gather";
    case IndexApi::index_select:
      return "index_select";
    case IndexApi::take:
      return "take";
    case IndexApi::embedding:
      return "embedding";
    case IndexApi::index:
      return "index";
    case IndexApi::scatter:
      return "scatter";
    case IndexApi::scatter_add:
      return "scatter_add";
    case IndexApi::index_copy:
      return "index_copy_";
    case IndexApi::index_add:
      return "index_add_";
    case IndexApi::index_put:
      return "index_put_";
    case IndexApi::index_fill:
      return "index_fill_";
    case IndexApi::masked_scatter:
      return "masked_scatter";
  }
  return "gather";
}

std::string index_error(IndexApi api, int64_t index, int64_t dim, int64_t size, bool wrap) {
  if (api == IndexApi::masked_scatter)
    return fmt::format(
        "masked_scatter: the mask selects more elements than the source has ({}): element {} "
        "of the source does not exist",
        size, index);
  if (size == 0)
    return fmt::format("{}: index {} is out of range for dimension {}, which has size 0",
                       index_api_name(api), index, dim);
  return fmt::format(
      "{}: index {} is out of range for dimension {} with size {} (valid indices: {} to {})",
      index_api_name(api), index, dim, size, wrap ? -size : 0, size - 1);
}

void not_a(Op op, const char* what) { TJ_CHECK(false, "{} is not a {}", op_name(op), what); }

}  // namespace tj::ir
