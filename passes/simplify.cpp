#include "passes/simplify.h"

#include <algorithm>
#include <unordered_set>

#include "passes/canonicalize/rewriting.h"

namespace rnnc::passes {
namespace {

using ir::Attributes;
using ir::Node;
using ir::OpKind;
using ir::Value;
using rewriting::is_constant_equal_to;

/// The node producing `value` when it is of kind `kind`, else null.
const Node* producer_of_kind(const Value* value, OpKind kind) {
  return value->producer()->kind() == kind ? value->producer() : nullptr;
}

/// A new node of `kind` reading `operand`, named after `replaced`.
Value* add_layout(const Node& replaced, OpKind kind, Value* operand, Attributes attrs) {
  return replaced.owner()->add(kind, {operand}, std::move(attrs), replaced.result()->name());
}

bool is_identity_perm(const std::vector<int64_t>& perm) {
  for (size_t d = 0; d < perm.size(); ++d)
    if (perm[d] != static_cast<int64_t>(d)) return false;
  return true;
}

/// One operand of a sum of pads: `part` placed at [start, start + size) of `axis`.
struct PaddedPart {
  Value* part;
  int64_t start;
};

/// The pads that a tree of adds rooted at `value` sums, each padding along `axis` only;
/// false when some leaf is not such a pad.
bool collect_padded_parts(Value* value, int64_t& axis, std::vector<PaddedPart>& parts) {
  constexpr size_t kMaxParts = 64;
  const Node& node = *value->producer();
  if (node.kind() == OpKind::Add)
    return collect_padded_parts(node.operand(0), axis, parts) &&
           collect_padded_parts(node.operand(1), axis, parts);
  if (node.kind() != OpKind::Pad || parts.size() >= kMaxParts) return false;
  const auto& low = node.attrs().get_ints("low");
  const auto& high = node.attrs().get_ints("high");
  int64_t padded_axis = -1;
  for (size_t d = 0; d < low.size(); ++d) {
    if (low[d] == 0 && high[d] == 0) continue;
    if (padded_axis >= 0) return false;
    padded_axis = static_cast<int64_t>(d);
  }
  if (padded_axis < 0 || (axis >= 0 && padded_axis != axis)) return false;
  axis = padded_axis;
  parts.push_back({node.operand(0), low[padded_axis]});
  return true;
}

/// A sum of zero-padded parts that tile one axis exactly (the gradient of slicing a value
/// into gates) is the concatenation of the parts: one copy instead of a chain of adds over
/// mostly zeros. Null when the add is not such a sum.
Value* concat_of_padded_sum(const Node& node) {
  int64_t axis = -1;
  std::vector<PaddedPart> parts;
  if (!collect_padded_parts(node.result(), axis, parts) || parts.size() < 2) return nullptr;
  std::sort(parts.begin(), parts.end(),
            [](const PaddedPart& a, const PaddedPart& b) { return a.start < b.start; });
  int64_t next = 0;
  std::vector<Value*> operands;
  for (const PaddedPart& part : parts) {
    if (part.start != next) return nullptr;  // a gap or an overlap
    next += part.part->shape()[axis];
    operands.push_back(part.part);
  }
  if (next != node.result()->shape()[axis]) return nullptr;
  return node.owner()->add(OpKind::Concat, operands, {{"axis", axis}}, node.result()->name());
}

/// Arithmetic identities of the binary ops; null when none applies.
Value* simplify_binary(const Node& node) {
  Value* a = node.operand(0);
  Value* b = node.operand(1);
  OpKind kind = node.kind();
  if (kind == OpKind::Mul) {
    if (is_constant_equal_to(b, 1)) return a;
    if (is_constant_equal_to(a, 1)) return b;
    // x*0 is 0 for integers only: for floats Inf*0 and NaN*0 are NaN, and -1*0 is -0.
    bool zero = is_constant_equal_to(a, 0) || is_constant_equal_to(b, 0);
    if (zero && a->dtype() == ir::DType::i32)
      return node.owner()->add_constant(node.result()->type(), {0.0}, node.result()->name());
  }
  if (kind == OpKind::Add) {
    if (is_constant_equal_to(b, 0)) return a;
    if (is_constant_equal_to(a, 0)) return b;
    if (Value* concat = concat_of_padded_sum(node)) return concat;
  }
  if (kind == OpKind::Sub && is_constant_equal_to(b, 0)) return a;
  if (kind == OpKind::Div && is_constant_equal_to(b, 1)) return a;
  if ((kind == OpKind::Max || kind == OpKind::Min) && a == b) return a;
  return nullptr;
}

Value* simplify_transpose(const Node& node) {
  const std::vector<int64_t>& perm = node.attrs().get_ints("perm");
  if (is_identity_perm(perm)) return node.operand(0);
  const Node* inner = producer_of_kind(node.operand(0), OpKind::Transpose);
  if (!inner) return nullptr;
  // Output dimension d of transpose(y, q) is dimension q[d] of y, which is dimension
  // p[q[d]] of x when y = transpose(x, p).
  const std::vector<int64_t>& inner_perm = inner->attrs().get_ints("perm");
  std::vector<int64_t> composed(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) composed[d] = inner_perm[perm[d]];
  if (is_identity_perm(composed)) return inner->operand(0);
  return add_layout(node, OpKind::Transpose, inner->operand(0), {{"perm", composed}});
}

/// reshape and broadcast: to the operand's own shape is nothing; of the same op, one op.
Value* simplify_reshape_or_broadcast(const Node& node) {
  const ir::Shape& shape = node.attrs().get_ints("shape");
  Value* operand = node.operand(0);
  if (operand->shape() == shape) return operand;
  const Node* inner = producer_of_kind(operand, node.kind());
  if (!inner) return nullptr;
  if (inner->operand(0)->shape() == shape) return inner->operand(0);
  return add_layout(node, node.kind(), inner->operand(0), {{"shape", shape}});
}

/// True when [starts, ends) covers all of `value`.
bool covers(const Value* value, const std::vector<int64_t>& starts,
            const std::vector<int64_t>& ends) {
  for (size_t d = 0; d < starts.size(); ++d)
    if (starts[d] != 0 || ends[d] != value->shape()[d]) return false;
  return true;
}

/// A slice of `operand` with these bounds, or `operand` itself when they cover it.
Value* slice_or_whole(const Node& node, Value* operand, const std::vector<int64_t>& starts,
                      const std::vector<int64_t>& ends) {
  if (covers(operand, starts, ends)) return operand;
  return add_layout(node, OpKind::Slice, operand, {{"starts", starts}, {"ends", ends}});
}

Value* simplify_slice(const Node& node) {
  std::vector<int64_t> starts = node.attrs().get_ints("starts");
  std::vector<int64_t> ends = node.attrs().get_ints("ends");
  Value* operand = node.operand(0);
  if (covers(operand, starts, ends)) return operand;
  if (const Node* inner = producer_of_kind(operand, OpKind::Slice)) {
    const std::vector<int64_t>& inner_starts = inner->attrs().get_ints("starts");
    for (size_t d = 0; d < starts.size(); ++d) {
      starts[d] += inner_starts[d];
      ends[d] += inner_starts[d];
    }
    return slice_or_whole(node, inner->operand(0), starts, ends);
  }
  if (const Node* concat = producer_of_kind(operand, OpKind::Concat)) {
    int64_t axis = concat->attrs().get_int("axis");
    int64_t offset = 0;
    for (Value* part : concat->operands()) {
      int64_t size = part->shape()[axis];
      if (starts[axis] >= offset && ends[axis] <= offset + size) {
        starts[axis] -= offset;
        ends[axis] -= offset;
        return slice_or_whole(node, part, starts, ends);
      }
      offset += size;
    }
  }
  return nullptr;
}

Value* simplify_select(const Node& node) {
  Value* condition = node.operand(0);
  Value* a = node.operand(1);
  Value* b = node.operand(2);
  if (a == b) return a;
  const Node* constant = rewriting::underlying_constant(condition);
  if (!constant) return nullptr;
  if (is_constant_equal_to(condition, 0)) return b;
  for (double v : constant->attrs().get_floats("value"))
    if (v == 0) return nullptr;  // NaN selects `a`, as the kernel does
  return a;
}

/// The simpler value `node` equals, or null. New nodes are appended to node's graph.
Value* simplify_node(const Node& node) {
  switch (node.kind()) {
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Max:
    case OpKind::Min:
      return simplify_binary(node);
    case OpKind::Neg: {
      const Node* inner = producer_of_kind(node.operand(0), OpKind::Neg);
      return inner ? inner->operand(0) : nullptr;
    }
    case OpKind::Cast:
      return node.attrs().get_dtype("dtype") == node.operand(0)->dtype() ? node.operand(0)
                                                                         : nullptr;
    case OpKind::Select:
      return simplify_select(node);
    case OpKind::Transpose:
      return simplify_transpose(node);
    case OpKind::Reshape:
    case OpKind::Broadcast:
      return simplify_reshape_or_broadcast(node);
    case OpKind::Slice:
      return simplify_slice(node);
    case OpKind::Concat:
      return node.operands().size() == 1 ? node.operand(0) : nullptr;
    case OpKind::Input:
    case OpKind::Parameter:
    case OpKind::Constant:
    case OpKind::Iota:
    case OpKind::Abs:
    case OpKind::Sign:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
    case OpKind::Relu:
    case OpKind::Pow:
    case OpKind::Greater:
    case OpKind::Less:
    case OpKind::Equal:
    case OpKind::Pad:
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean:
    case OpKind::MatMul:
    case OpKind::Gather:
    case OpKind::ScatterAdd:
    case OpKind::CoalesceRows:
    case OpKind::ScatterRows:
    case OpKind::Scan:
    case OpKind::Fused:
      return nullptr;
  }
  return nullptr;
}

}  // namespace

bool simplify_algebra(ir::Graph& graph, const PassContext& context) {
  bool changed = rewriting::run_on_bodies(graph, simplify_algebra, context);
  std::unordered_set<const Value*> used = rewriting::used_values(graph);
  rewriting::Replacements replacements;
  bool appended = false;
  size_t count = graph.nodes().size();  // nodes the rules append are already simple
  for (size_t i = 0; i < count; ++i) {
    Node& node = *graph.nodes()[i];
    replacements.rewrite_operands(node);
    if (!rewriting::has_uses(node, used)) continue;
    size_t before = graph.nodes().size();
    Value* simpler = simplify_node(node);
    if (!simpler || simpler == node.result()) continue;
    appended = appended || graph.nodes().size() != before;
    replacements.add(node.result(), simpler);
    changed = true;
  }
  replacements.finish(graph, appended);
  return changed;
}

}  // namespace rnnc::passes
