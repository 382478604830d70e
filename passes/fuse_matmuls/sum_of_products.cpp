// Rule 2 of fuse-matmuls: a1 B1 + a2 B2 + ... = [a1 a2 ...] [B1; B2; ...], the operands
// concatenated along the contracted axis K. The backward graph of fused gates produces such
// sums (dx = g_i W_i + g_f W_f + ...), and so does x W_x + h W_h outside loops.
#include <algorithm>
#include <cassert>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_set>

#include "ir/builder.h"
#include "passes/fuse_matmuls/fusion.h"

namespace rnnc::passes::fusion {
namespace {

/// The terms of the sum rooted at `root` (an Add), left to right: operands that are
/// themselves adds used only by this sum are expanded; `interior` collects those adds.
void collect_terms(const Sweep& sweep, ir::Node& add, std::vector<ir::Value*>& terms,
                   std::vector<ir::Node*>& interior) {
  for (ir::Value* operand : add.operands()) {
    ir::Node* producer = operand->producer();
    if (producer->kind() == ir::OpKind::Add && sweep.uses(operand) == 1) {
      interior.push_back(producer);
      collect_terms(sweep, *producer, terms, interior);
    } else {
      terms.push_back(operand);
    }
  }
}

/// Which products of a sum fuse together: equal flags, the same side of the loop (see
/// Sweep::carry_dependent), and the same side weight-like (0: every B, 1: every A).
using GroupKey = std::tuple<bool, bool, bool, int>;

/// The group `term` belongs to, or nothing when it is not a fusable product: a matmul used
/// only by this sum, one of whose operands is weight-like (so that at most one of the two
/// concatenations copies run-time data, see fuse_matmuls.h).
std::optional<GroupKey> group_of(const Sweep& sweep, const ir::Value* term) {
  const ir::Node& node = *term->producer();
  if (node.kind() != ir::OpKind::MatMul || sweep.uses(term) != 1) return std::nullopt;
  int weight_side = -1;
  if (sweep.weight_like(node.operand(1)))
    weight_side = 0;
  else if (sweep.weight_like(node.operand(0)))
    weight_side = 1;
  if (weight_side < 0) return std::nullopt;
  return GroupKey{transpose_a(node), transpose_b(node), sweep.carry_dependent(term), weight_side};
}

/// Fuses the products of the sum rooted at `root`; true when it did.
bool fuse_sum(Sweep& sweep, ir::Node& root) {
  std::vector<ir::Value*> terms;
  std::vector<ir::Node*> interior;
  collect_terms(sweep, root, terms, interior);
  // Groups in order of their first term; each group's terms in sum order.
  std::vector<std::vector<size_t>> groups;
  std::map<GroupKey, size_t> group_index;
  for (size_t i = 0; i < terms.size(); ++i) {
    std::optional<GroupKey> key = group_of(sweep, terms[i]);
    if (!key) continue;
    auto [it, fresh] = group_index.emplace(*key, groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  // Each term's replacement: the fused product for a group's first term, null for its others.
  std::vector<ir::Value*> replacement = terms;
  bool fused_any = false;
  for (std::vector<size_t>& group : groups) {
    if (group.size() < 2) continue;
    // Operands in the graph order of the products; the fused product takes the place of the
    // first term of its group in the sum.
    std::vector<size_t> places = group;
    std::stable_sort(group.begin(), group.end(), [&](size_t x, size_t y) {
      return sweep.position(terms[x]->producer()) < sweep.position(terms[y]->producer());
    });
    const ir::Node& first = *terms[group[0]]->producer();
    const bool ta = transpose_a(first), tb = transpose_b(first);
    const int64_t rank = terms[group[0]]->type().rank();
    std::vector<ir::Value*> lefts, rights;
    for (size_t i : group) {
      lefts.push_back(terms[i]->producer()->operand(0));
      rights.push_back(terms[i]->producer()->operand(1));
      replacement[i] = nullptr;
      sweep.retire(terms[i]->producer());
    }
    ir::Value* left = sweep.concat(lefts, k_axis_of_a(rank, ta));
    ir::Value* right = sweep.concat(rights, k_axis_of_b(rank, tb));
    replacement[places[0]] = sweep.matmul(left, right, ta, tb, "fused_matmul");
    fused_any = true;
  }
  if (!fused_any) return false;
  ir::Value* sum = nullptr;
  for (ir::Value* term : replacement) {
    if (!term) continue;
    sum = sum ? sweep.graph().add(ir::OpKind::Add, {sum, term}, {}, root.result()->name()) : term;
  }
  assert(sum && sum->type() == root.result()->type());
  sweep.graph().replace_all_uses(root.result(), sum);
  sweep.retire(&root);
  for (ir::Node* add : interior) sweep.retire(add);
  return true;
}

}  // namespace

bool fuse_sums_of_products(Sweep& sweep) {
  // Adds whose only use is another add are inside that add's sum, not roots of their own.
  std::unordered_set<const ir::Value*> read_by_add;
  std::vector<ir::Node*> adds;
  for (const auto& node : sweep.graph().nodes()) {
    if (node->kind() != ir::OpKind::Add) continue;
    adds.push_back(node.get());
    for (const ir::Value* operand : node->operands()) read_by_add.insert(operand);
  }
  bool changed = false;
  for (ir::Node* add : adds) {
    const bool inside_another_sum =
        sweep.uses(add->result()) == 1 && read_by_add.count(add->result());
    if (inside_another_sum) continue;
    changed = fuse_sum(sweep, *add) || changed;
  }
  return changed;
}

}  // namespace rnnc::passes::fusion
