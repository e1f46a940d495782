#include "ir/op.h"

namespace tj::ir {

namespace {
constexpr OpInfo kOps[] = {
#define TJ_OP(name, str, arity, kind, rule) {str, arity, OpKind::kind, DTypeRule::rule},
#include "ir/ops.def"
#undef TJ_OP
};
}  // namespace

const OpInfo& op_info(Op op) { return kOps[static_cast<int>(op)]; }
int num_ops() { return static_cast<int>(sizeof(kOps) / sizeof(kOps[0])); }

}  // namespace tj::ir
