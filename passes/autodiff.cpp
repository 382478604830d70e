#include "passes/autodiff.h"

#include <cassert>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "ir/builder.h"
#include "ir/error.h"
#include "ir/graph_algorithms.h"
#include "passes/autodiff/rules.h"
#include "passes/autodiff/vjp.h"

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

std::string gradient_name(const Value* value) { return "grad_" + value->name(); }

/// The reverse-mode pass over one graph: adjoints flow from the seeded values back to the
/// `wrt` values through the values that lie on a path between them.
class BackwardPass {
 public:
  /// A pass from `seeded` (the values that will get seed adjoints) to `wrt`; gradients of
  /// `wrt` values are named "grad_<name>" when `name_gradients`.
  BackwardPass(Graph& graph, const std::vector<Value*>& seeded, const std::vector<Value*>& wrt,
               bool name_gradients)
      : graph_(graph),
        wrt_list_(wrt),
        wrt_(wrt.begin(), wrt.end()),
        name_gradients_(name_gradients) {
    std::unordered_set<const Node*> seeded_producers;
    for (const Value* value : seeded) seeded_producers.insert(value->producer());
    size_t last = 0;
    for (size_t i = 0; i < graph.nodes().size(); ++i)
      if (seeded_producers.count(graph.nodes()[i].get())) last = i + 1;
    for (size_t i = 0; i < last; ++i) forward_.push_back(graph.nodes()[i].get());
    for (const auto& node : graph.nodes()) original_.insert(node.get());
    find_relevant_values(seeded);
  }

  /// Whether an adjoint of `value` can reach a `wrt` value.
  bool is_relevant(const Value* value) const { return relevant_.count(value) != 0; }

  /// Adds `adjoint` to the adjoint of `value` (a seeded value that is relevant).
  void seed(Value* value, Value* adjoint) {
    assert(is_relevant(value) && adjoint->type() == value->type());
    pending_[value].push_back(adjoint);
  }

  /// Appends the gradient nodes and returns the adjoint of each `wrt` entry (null where none
  /// flows).
  std::vector<Value*> run() {
    for (auto it = forward_.rbegin(); it != forward_.rend(); ++it) {
      const Node& node = **it;
      std::vector<Value*> result_grads(node.num_results(), nullptr);
      bool any = false;
      for (size_t i = 0; i < node.num_results(); ++i) {
        Value* result = node.result(i);
        result_grads[i] = finish_adjoint(result);
        if (result_grads[i] && wrt_.count(result)) final_adjoints_[result] = result_grads[i];
        any = any || result_grads[i];
      }
      if (any && !node.operands().empty()) propagate(node, result_grads);
    }
    std::vector<Value*> grads;
    for (Value* value : wrt_list_) {
      auto found = final_adjoints_.find(value);
      grads.push_back(found == final_adjoints_.end() ? nullptr : found->second);
    }
    remove_unused_nodes(grads);
    if (rebuilt_) ir::sort_topologically(graph_);
    return grads;
  }

  /// The `wrt` values as given, after any replacement of forward nodes.
  const std::vector<Value*>& wrt() const { return wrt_list_; }
  /// The nodes that are not part of the gradient (see VectorJacobianProduct::forward_nodes).
  const std::unordered_set<const Node*>& forward_nodes() const { return original_; }

 private:
  /// relevant_: float values that depend on a `wrt` value and that a seeded value depends on.
  void find_relevant_values(const std::vector<Value*>& seeded) {
    std::unordered_set<const Value*> depends_on_wrt;
    for (const Node* node : forward_)
      for (size_t i = 0; i < node->num_results(); ++i) {
        const Value* result = node->result(i);
        bool depends = wrt_.count(result) != 0;
        for (const Value* operand : node->operands())
          depends = depends || depends_on_wrt.count(operand);
        if (depends && ir::is_float(result->dtype())) depends_on_wrt.insert(result);
      }
    std::unordered_set<const Value*> reaches_seed(seeded.begin(), seeded.end());
    for (auto it = forward_.rbegin(); it != forward_.rend(); ++it) {
      const Node* node = *it;
      bool reaches = false;
      for (size_t i = 0; i < node->num_results(); ++i)
        reaches = reaches || reaches_seed.count(node->result(i));
      if (!reaches) continue;
      for (const Value* operand : node->operands()) reaches_seed.insert(operand);
    }
    for (const Value* value : depends_on_wrt)
      if (reaches_seed.count(value)) relevant_.insert(value);
  }

  /// Sums the contributions to `value`'s adjoint (all are in once the walk reaches its
  /// producer); the adjoint of a `wrt` value gets its "grad_" name when naming. Null when
  /// none.
  Value* finish_adjoint(Value* value) {
    auto found = pending_.find(value);
    if (found == pending_.end()) return nullptr;
    std::vector<Value*> parts = std::move(found->second);
    pending_.erase(found);
    std::string name = name_gradients_ && wrt_.count(value) ? gradient_name(value) : std::string();
    if (parts.size() == 1) return name.empty() ? parts[0] : renamed(parts[0], name);
    Value* sum = parts[0];
    for (size_t i = 1; i < parts.size(); ++i)
      sum = graph_.add(ir::OpKind::Add, {sum, parts[i]}, {},
                       i + 1 == parts.size() ? name : std::string());
    return sum;
  }

  /// `value` if it is named `name`, else a copy of the gradient node computing it (an identity
  /// reshape for a node with several results or a body, a scan), its result named `name`; pending
  /// contributions that were `value` use the copy, so the original is left unused unless a
  /// gradient node already reads it.
  Value* renamed(Value* value, const std::string& name) {
    if (value->name() == name) return value;
    const Node& node = *value->producer();
    assert(!original_.count(&node) && "an adjoint is always computed by an appended node");
    Value* copy = nullptr;
    if (node.num_results() != 1 || !node.bodies().empty()) {
      copy = graph_.add(ir::OpKind::Reshape, {value}, {{"shape", value->shape()}}, name);
    } else {
      std::vector<ir::TensorType> declared;
      if (node.info().has(ir::kSource)) declared.push_back(value->type());
      copy =
          graph_.add_node(node.kind(), node.operands(), node.attrs(), declared, {name})->result();
    }
    for (auto& [target, parts] : pending_)
      for (Value*& part : parts)
        if (part == value) part = copy;
    return copy;
  }

  /// Runs the gradient rule of `node` and records the contributions to the adjoints of its
  /// relevant operands.
  void propagate(const Node& node, const std::vector<Value*>& result_grads) {
    autodiff::RuleContext context;
    for (const Value* operand : node.operands())
      context.operand_needed.push_back(is_relevant(operand));
    context.rebuild_forward =
        [this](const Node& forward, std::vector<Value*> operands, ir::Attributes attrs,
               std::vector<std::unique_ptr<Graph>> bodies, const std::vector<std::string>& names) {
          rebuild_forward(forward, std::move(operands), std::move(attrs), std::move(bodies), names);
        };
    // The rule may rebuild the node with other operands: gradients are for the old ones.
    const std::vector<Value*> operands = node.operands();
    autodiff::OperandGradients grads = autodiff::operand_gradients(node, result_grads, context);
    assert(grads.size() == operands.size());
    for (size_t i = 0; i < grads.size(); ++i) {
      Value* operand = operands[i];
      if (!grads[i] || !is_relevant(operand)) continue;
      assert(grads[i]->type() == operand->type() && "gradient rule gave a wrong type");
      pending_[operand].push_back(grads[i]);
    }
  }

  /// RuleContext::rebuild_forward: rebuilds a forward node in place (its result pointers
  /// stay valid); order is restored at the end of run().
  void rebuild_forward(const Node& node, std::vector<Value*> operands, ir::Attributes attrs,
                       std::vector<std::unique_ptr<Graph>> bodies,
                       const std::vector<std::string>& new_result_names) {
    assert(node.owner() == &graph_ && original_.count(&node));
    Node* target = nullptr;
    for (const auto& candidate : graph_.nodes())
      if (candidate.get() == &node) target = candidate.get();
    assert(target);
    graph_.rebuild_node(*target, std::move(operands), std::move(attrs), std::move(bodies),
                        new_result_names);
    rebuilt_ = true;
  }

  /// Erases the appended nodes that neither a returned gradient nor a forward node depends
  /// on (a forward scan replaced by a rule may read appended nodes: its row mask): adjoints
  /// of operands that need none, and nodes superseded by renamed copies.
  void remove_unused_nodes(const std::vector<Value*>& grads) {
    std::unordered_set<const Node*> live;
    std::vector<const Node*> work;
    auto visit = [&](const Value* value) {
      const Node* producer = value->producer();
      if (!original_.count(producer) && live.insert(producer).second) work.push_back(producer);
    };
    for (const Value* grad : grads)
      if (grad) visit(grad);
    for (const auto& node : graph_.nodes())
      if (original_.count(node.get()))
        for (const Value* operand : node->operands()) visit(operand);
    while (!work.empty()) {
      const Node* node = work.back();
      work.pop_back();
      for (const Value* operand : node->operands()) visit(operand);
    }
    graph_.erase_nodes_if(
        [&](const Node& node) { return !original_.count(&node) && !live.count(&node); });
  }

  Graph& graph_;
  std::vector<Value*> wrt_list_;  ///< as given, repeats included
  std::unordered_set<const Value*> wrt_;
  bool name_gradients_;
  std::vector<const Node*> forward_;          ///< nodes up to the last seeded value's producer
  std::unordered_set<const Node*> original_;  ///< nodes not appended by the pass
  bool rebuilt_ = false;  ///< a forward node was rebuilt: restore topological order
  std::unordered_set<const Value*> relevant_;
  std::unordered_map<const Value*, std::vector<Value*>> pending_;
  std::unordered_map<const Value*, Value*> final_adjoints_;
};

}  // namespace

std::vector<Value*> append_gradients(Graph& graph, Value* loss, const std::vector<Value*>& wrt) {
  check_arguments(graph, loss, wrt);
  BackwardPass pass(graph, {loss}, wrt, /*name_gradients=*/true);
  if (pass.is_relevant(loss)) pass.seed(loss, ir::build::full_like(loss, 1.0));
  std::vector<Value*> grads = pass.run();
  // An entry the loss does not depend on gets a zero constant (one per distinct value).
  std::unordered_map<const Value*, Value*> zeros;
  for (size_t i = 0; i < grads.size(); ++i) {
    if (grads[i]) continue;
    Value* value = pass.wrt()[i];
    auto found = zeros.find(value);
    if (found == zeros.end())
      found = zeros.emplace(value, graph.add_constant(value->type(), {0.0}, gradient_name(value)))
                  .first;
    grads[i] = found->second;
  }
  return grads;
}

namespace autodiff {

VectorJacobianProduct append_vector_jacobian_product(Graph& graph, const std::vector<Seed>& seeds,
                                                     const std::vector<Value*>& wrt) {
  std::vector<Value*> seeded;
  for (const Seed& seed : seeds) {
    assert(seed.value->producer()->owner() == &graph && ir::is_float(seed.value->dtype()));
    assert(seed.adjoint->type() == seed.value->type());
    seeded.push_back(seed.value);
  }
  BackwardPass pass(graph, seeded, wrt, /*name_gradients=*/false);
  for (const Seed& seed : seeds)
    if (pass.is_relevant(seed.value)) pass.seed(seed.value, seed.adjoint);
  VectorJacobianProduct product;
  product.grads = pass.run();
  product.forward_nodes = pass.forward_nodes();
  return product;
}

}  // namespace autodiff

}  // namespace rnnc::passes
