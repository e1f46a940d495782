#include "ir/op.h"

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

void not_a(Op op, const char* what) { TJ_CHECK(false, "{} is not a {}", op_name(op), what); }

}  // namespace tj::ir
