#include "passes/autodiff.h"

#include <cassert>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "ir/builder.h"
#include "ir/error.h"
#include "passes/autodiff/rules.h"

namespace rnnc::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::Value;

void check_arguments(const Graph& graph, Value* loss, const std::vector<Value*>& wrt) {
  assert(loss);
  if (loss->producer()->owner() != &graph)
    throw Error("autodiff: loss %" + loss->name() + " does not belong to graph '" + graph.name() +
                "'");
  if (!ir::is_float(loss->dtype()) || loss->type().rank() != 0)
    throw Error("autodiff: loss %" + loss->name() + " must be a float scalar, got " +
                loss->type().to_string());
  for (Value* value : wrt) {
    assert(value);
    if (value->producer()->owner() != &graph)
      throw Error("autodiff: %" + value->name() + " does not belong to graph '" + graph.name() +
                  "'");
    if (!ir::is_float(value->dtype()))
      throw Error("autodiff: cannot differentiate with respect to %" + value->name() +
                  " of integer type " + value->type().to_string());
  }
}

/// The reverse-mode pass over one graph: adjoints flow from the loss back to the `wrt` values
/// through the values that lie on a path between them.
class BackwardPass {
 public:
  BackwardPass(Graph& graph, Value* loss, const std::vector<Value*>& wrt)
      : graph_(graph), loss_(loss), wrt_list_(wrt), wrt_(wrt.begin(), wrt.end()) {
    for (const auto& node : graph.nodes()) {
      forward_.push_back(node.get());
      if (node.get() == loss->producer()) break;
    }
    original_count_ = graph.nodes().size();
    for (const auto& node : graph.nodes()) original_.insert(node.get());
    find_relevant_values();
  }

  /// Appends the gradient nodes and returns the adjoint of each `wrt` entry.
  std::vector<Value*> run() {
    std::unordered_map<const Value*, Value*> final_adjoints;
    if (relevant_.count(loss_)) pending_[loss_].push_back(ir::build::full_like(loss_, 1.0));
    for (auto it = forward_.rbegin(); it != forward_.rend(); ++it) {
      const Node& node = **it;
      std::vector<Value*> result_grads(node.num_results(), nullptr);
      bool any = false;
      for (size_t i = 0; i < node.num_results(); ++i) {
        Value* result = node.result(i);
        result_grads[i] = finish_adjoint(result);
        if (result_grads[i] && wrt_.count(result)) final_adjoints[result] = result_grads[i];
        any = any || result_grads[i];
      }
      if (any && !node.operands().empty()) propagate(node, result_grads);
    }
    std::vector<Value*> grads;
    for (Value* value : wrt_list_) {
      auto found = final_adjoints.find(value);
      if (found == final_adjoints.end())
        found = final_adjoints
                    .emplace(value, graph_.add_constant(value->type(), {0.0}, gradient_name(value)))
                    .first;
      grads.push_back(found->second);
    }
    remove_unused_nodes(grads);
    return grads;
  }

 private:
  static std::string gradient_name(const Value* value) { return "grad_" + value->name(); }

  /// relevant_: float values that depend on a `wrt` value and that the loss depends on.
  void find_relevant_values() {
    std::unordered_set<const Value*> depends_on_wrt;
    for (const Node* node : forward_)
      for (size_t i = 0; i < node->num_results(); ++i) {
        const Value* result = node->result(i);
        bool depends = wrt_.count(result) != 0;
        for (const Value* operand : node->operands())
          depends = depends || depends_on_wrt.count(operand);
        if (depends && ir::is_float(result->dtype())) depends_on_wrt.insert(result);
      }
    std::unordered_set<const Value*> reaches_loss{loss_};
    for (auto it = forward_.rbegin(); it != forward_.rend(); ++it) {
      const Node* node = *it;
      bool reaches = false;
      for (size_t i = 0; i < node->num_results(); ++i)
        reaches = reaches || reaches_loss.count(node->result(i));
      if (!reaches) continue;
      for (const Value* operand : node->operands()) reaches_loss.insert(operand);
    }
    for (const Value* value : depends_on_wrt)
      if (reaches_loss.count(value)) relevant_.insert(value);
  }

  /// Sums the contributions to `value`'s adjoint (all are in once the walk reaches its
  /// producer); the adjoint of a `wrt` value gets its "grad_" name. Null when none.
  Value* finish_adjoint(Value* value) {
    auto found = pending_.find(value);
    if (found == pending_.end()) return nullptr;
    std::vector<Value*> parts = std::move(found->second);
    pending_.erase(found);
    std::string name = wrt_.count(value) ? gradient_name(value) : std::string();
    if (parts.size() == 1) return name.empty() ? parts[0] : renamed(parts[0], name);
    Value* sum = parts[0];
    for (size_t i = 1; i < parts.size(); ++i)
      sum = graph_.add(ir::OpKind::Add, {sum, parts[i]}, {},
                       i + 1 == parts.size() ? name : std::string());
    return sum;
  }

  /// A copy of the gradient node computing `value`, its result named `name`; pending
  /// contributions that were `value` use the copy, so the original is left unused unless a
  /// gradient node already reads it.
  Value* renamed(Value* value, const std::string& name) {
    const Node& node = *value->producer();
    assert(node.num_results() == 1 && "gradient values come from single-result nodes");
    assert(!original_.count(&node) && "an adjoint is always computed by an appended node");
    std::vector<ir::TensorType> declared;
    if (node.info().has(ir::kSource)) declared.push_back(value->type());
    Value* copy =
        graph_.add_node(node.kind(), node.operands(), node.attrs(), declared, {name})->result();
    for (auto& [target, parts] : pending_)
      for (Value*& part : parts)
        if (part == value) part = copy;
    return copy;
  }

  /// Runs the gradient rule of `node` and records the contributions to the adjoints of its
  /// relevant operands.
  void propagate(const Node& node, const std::vector<Value*>& result_grads) {
    autodiff::OperandGradients grads = autodiff::operand_gradients(node, result_grads);
    assert(grads.size() == node.operands().size());
    for (size_t i = 0; i < grads.size(); ++i) {
      Value* operand = node.operand(i);
      if (!grads[i] || !relevant_.count(operand)) continue;
      assert(grads[i]->type() == operand->type() && "gradient rule gave a wrong type");
      pending_[operand].push_back(grads[i]);
    }
  }

  /// Erases the appended nodes that no returned gradient depends on: adjoints of operands
  /// that need none, and nodes superseded by renamed copies.
  void remove_unused_nodes(const std::vector<Value*>& grads) {
    std::unordered_set<const Node*> appended;
    for (size_t i = original_count_; i < graph_.nodes().size(); ++i)
      appended.insert(graph_.nodes()[i].get());
    std::unordered_set<const Node*> live;
    std::vector<const Node*> work;
    for (const Value* grad : grads)
      if (appended.count(grad->producer()) && live.insert(grad->producer()).second)
        work.push_back(grad->producer());
    while (!work.empty()) {
      const Node* node = work.back();
      work.pop_back();
      for (const Value* operand : node->operands())
        if (appended.count(operand->producer()) && live.insert(operand->producer()).second)
          work.push_back(operand->producer());
    }
    graph_.erase_nodes_if(
        [&](const Node& node) { return appended.count(&node) && !live.count(&node); });
  }

  Graph& graph_;
  Value* loss_;
  std::vector<Value*> wrt_list_;  ///< as given, repeats included
  std::unordered_set<const Value*> wrt_;
  std::vector<const Node*> forward_;          ///< nodes up to the loss's producer, in order
  size_t original_count_ = 0;                 ///< nodes before the pass appended any
  std::unordered_set<const Node*> original_;  ///< those nodes
  std::unordered_set<const Value*> relevant_;
  std::unordered_map<const Value*, std::vector<Value*>> pending_;
};

}  // namespace

std::vector<Value*> append_gradients(Graph& graph, Value* loss, const std::vector<Value*>& wrt) {
  check_arguments(graph, loss, wrt);
  return BackwardPass(graph, loss, wrt).run();
}

}  // namespace rnnc::passes
