#include "passes/split_sliced_elementwise.h"

#include <unordered_map>

#include "ir/graph_algorithms.h"
#include "passes/dce.h"

namespace rnnc::passes {
namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

/// Every round splits at least one node; the bound only guards against surprises.
constexpr int kMaxRounds = 64;

/// The nodes reading each value of `graph` (a node reading a value twice, twice).
std::unordered_map<const Value*, std::vector<Node*>> readers(const ir::Graph& graph) {
  std::unordered_map<const Value*, std::vector<Node*>> result;
  for (const auto& node : graph.nodes())
    for (Value* operand : node->operands()) result[operand].push_back(node.get());
  return result;
}

/// True when `value` leaves the graph (an output, or an update's parameter or new value).
bool escapes(const ir::Graph& graph, const Value* value) {
  for (const ir::GraphOutput& output : graph.outputs())
    if (output.value == value) return true;
  for (const ir::GraphUpdate& update : graph.updates())
    if (update.parameter == value || update.new_value == value) return true;
  return false;
}

/// `value`[starts, ends): `value` itself when that is all of it; a broadcast of the slice of
/// its operand when it is a broadcast; else a new slice node.
Value* slice_of(ir::Graph& graph, Value* value, const std::vector<int64_t>& starts,
                const std::vector<int64_t>& ends) {
  const ir::Shape& shape = value->shape();
  bool whole = true;
  for (size_t d = 0; d < shape.size(); ++d) whole = whole && starts[d] == 0 && ends[d] == shape[d];
  if (whole) return value;
  const Node& producer = *value->producer();
  if (producer.kind() == OpKind::Broadcast) {
    Value* operand = producer.operand(0);
    const ir::Shape& from = operand->shape();
    const size_t lead = shape.size() - from.size();
    std::vector<int64_t> inner_starts(from.size()), inner_ends(from.size());
    ir::Shape sliced(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) sliced[d] = ends[d] - starts[d];
    for (size_t d = 0; d < from.size(); ++d) {
      const bool stretched = from[d] == 1 && shape[d + lead] != 1;
      inner_starts[d] = stretched ? 0 : starts[d + lead];
      inner_ends[d] = stretched ? 1 : ends[d + lead];
    }
    return graph.add(OpKind::Broadcast, {slice_of(graph, operand, inner_starts, inner_ends)},
                     {{"shape", sliced}}, value->name());
  }
  return graph.add(OpKind::Slice, {value}, {{"starts", starts}, {"ends", ends}}, value->name());
}

/// Splits the first elementwise node whose result only non-overlapping slices read; true when
/// one was split.
bool split_one(ir::Graph& graph) {
  const auto read_by = readers(graph);
  for (const auto& owned : graph.nodes()) {
    Node& node = *owned;
    if (!node.info().has(ir::kElementwise) || node.num_results() != 1) continue;
    Value* result = node.result();
    auto found = read_by.find(result);
    if (found == read_by.end() || escapes(graph, result)) continue;
    const std::vector<Node*>& slices = found->second;
    int64_t sliced = 0;
    bool all_slices = true;
    for (const Node* slice : slices) {
      all_slices = all_slices && slice->kind() == OpKind::Slice;
      if (all_slices) sliced += slice->result()->type().num_elements();
    }
    if (!all_slices || sliced > result->type().num_elements()) continue;
    // Non-overlapping: pairwise, some dimension's ranges are disjoint.
    bool disjoint = true;
    for (size_t i = 0; i < slices.size() && disjoint; ++i)
      for (size_t j = i + 1; j < slices.size() && disjoint; ++j) {
        const auto& a_starts = slices[i]->attrs().get_ints("starts");
        const auto& a_ends = slices[i]->attrs().get_ints("ends");
        const auto& b_starts = slices[j]->attrs().get_ints("starts");
        const auto& b_ends = slices[j]->attrs().get_ints("ends");
        bool apart = false;
        for (size_t d = 0; d < a_starts.size(); ++d)
          apart = apart || a_ends[d] <= b_starts[d] || b_ends[d] <= a_starts[d];
        disjoint = apart;
      }
    if (!disjoint) continue;
    for (Node* slice : slices) {
      const auto& starts = slice->attrs().get_ints("starts");
      const auto& ends = slice->attrs().get_ints("ends");
      std::vector<Value*> operands;
      for (Value* operand : node.operands())
        operands.push_back(slice_of(graph, operand, starts, ends));
      Value* part = graph.add(node.kind(), operands, node.attrs(), slice->result()->name());
      graph.replace_all_uses(slice->result(), part);
    }
    return true;
  }
  return false;
}

}  // namespace

bool split_sliced_elementwise(ir::Graph& graph, const PassContext& context) {
  bool changed = false;
  for (int round = 0; round < kMaxRounds && split_one(graph); ++round) {
    // The split node and its slices are dead now; the new nodes follow their users.
    eliminate_dead_code(graph, context);
    ir::sort_topologically(graph);
    changed = true;
  }
  return changed;
}

}  // namespace rnnc::passes
