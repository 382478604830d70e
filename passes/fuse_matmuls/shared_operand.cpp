// Rule 1 of fuse-matmuls: products that share an operand become one product with the other
// operands concatenated, followed by one slice per original product. a B1, a B2, ... =
// a [B1 B2 ...] sliced along N; A1 b, A2 b, ... = [A1; A2; ...] b sliced along M. Each
// element of the result is computed exactly as before (same operands, same K order).
#include <algorithm>
#include <cassert>
#include <map>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "passes/fuse_matmuls/fusion.h"

namespace rnnc::passes::fusion {
namespace {

/// Products fuse when they have the same operand on the same side (0: left, 1: right), the
/// same flags, lie on the same side of the loop (see Sweep::carry_dependent), and either both
/// or neither are read only as per-step outputs with a weight-like operand (computed after
/// the loop; see Sweep::output_only). The shared value is identified by its position when the
/// sweep started (stable across runs, unlike its address).
using GroupKey = std::tuple<int64_t, size_t, int, bool, bool, bool, bool>;

/// Products of one group in graph order.
struct Group {
  int side = 0;
  std::vector<ir::Node*> products;
};

std::vector<Group> find_groups(const Sweep& sweep) {
  std::vector<Group> groups;
  std::map<GroupKey, size_t> index;
  for (const auto& owned : sweep.graph().nodes()) {
    ir::Node& node = *owned;
    if (node.kind() != ir::OpKind::MatMul) continue;
    for (int side = 0; side < 2; ++side) {
      const ir::Value* shared = node.operand(side);
      GroupKey key{sweep.position(shared->producer()),
                   shared->result_index(),
                   side,
                   transpose_a(node),
                   transpose_b(node),
                   sweep.carry_dependent(node.result()),
                   sweep.output_only(node.result()) &&
                       (sweep.weight_like(node.operand(0)) || sweep.weight_like(node.operand(1)))};
      auto [it, fresh] = index.emplace(key, groups.size());
      if (fresh) groups.push_back({side, {}});
      groups[it->second].products.push_back(&node);
    }
  }
  return groups;
}

/// Fuses what it can of `group`: the products not fused yet, in order, each taken when no
/// other operand of the products taken depends on another of them (fusing those would make
/// a cycle). Products with equal
/// other operands share one slice. True when it fused anything.
bool fuse_group(Sweep& sweep, const Group& group) {
  const int other_side = 1 - group.side;
  std::vector<ir::Node*> taken;
  std::unordered_set<const ir::Node*> taken_set;
  std::vector<ir::Value*> others;
  std::unordered_map<const ir::Value*, size_t> other_index;
  for (ir::Node* product : group.products) {
    if (sweep.retired(product)) continue;
    ir::Value* other = product->operand(other_side);
    // Earlier fusions in this sweep add dependences (each slice of a fused product depends on
    // all its operands), so graph order alone does not rule out either direction.
    if (sweep.depends_on_any({other}, taken_set) || sweep.depends_on_any(others, {product}))
      continue;
    taken.push_back(product);
    taken_set.insert(product);
    if (other_index.emplace(other, others.size()).second) others.push_back(other);
  }
  if (others.size() < 2) return false;

  const ir::Node& first = *taken[0];
  const bool ta = transpose_a(first), tb = transpose_b(first);
  const int64_t rank = first.result()->type().rank();
  ir::Value* shared = first.operand(group.side);
  // The axis the others are joined along, and the result axis the products are sliced from.
  const int64_t join_axis = group.side == 0 ? n_axis(rank, tb) : m_axis(rank, ta);
  const int64_t result_axis = group.side == 0 ? rank - 1 : rank - 2;
  ir::Value* joined = sweep.concat(others, join_axis);
  ir::Value* fused = group.side == 0 ? sweep.matmul(shared, joined, ta, tb, "fused_matmul")
                                     : sweep.matmul(joined, shared, ta, tb, "fused_matmul");
  std::vector<ir::Value*> parts;
  int64_t offset = 0;
  for (size_t i = 0; i < others.size(); ++i) {
    const int64_t width = others[i]->shape()[join_axis];
    // Named after the first product it replaces.
    std::string name;
    for (ir::Node* product : taken)
      if (product->operand(other_side) == others[i]) {
        name = product->result()->name();
        break;
      }
    parts.push_back(sweep.slice(fused, result_axis, offset, offset + width, name));
    offset += width;
  }
  for (ir::Node* product : taken) {
    assert(product->operand(group.side) == shared);
    sweep.graph().replace_all_uses(product->result(),
                                   parts[other_index.at(product->operand(other_side))]);
    sweep.retire(product);
  }
  return true;
}

}  // namespace

bool fuse_shared_operands(Sweep& sweep) {
  // A product belongs to two groups (by its left and by its right operand) but is fused in
  // one: larger groups go first (in the backward of gates, the products g_k^T x of all gates
  // k sharing x, rather than g_k^T x and g_k^T h sharing g_k), then graph order.
  std::vector<Group> groups = find_groups(sweep);
  std::stable_sort(groups.begin(), groups.end(), [](const Group& x, const Group& y) {
    return x.products.size() > y.products.size();
  });
  bool changed = false;
  for (const Group& group : groups) changed = fuse_group(sweep, group) || changed;
  return changed;
}

}  // namespace rnnc::passes::fusion
