#include "passes/autodiff/scan_body.h"

#include <algorithm>
#include <cassert>
#include <unordered_map>

#include "ir/builder.h"
#include "passes/autodiff/graph_copy.h"
#include "passes/autodiff/vjp.h"

namespace rnnc::passes::autodiff {

namespace build = ir::build;
using ir::Graph;
using ir::Node;
using ir::Value;

ScanSignature ScanSignature::of(const Node& scan) {
  assert(scan.kind() == ir::OpKind::Scan);
  ScanSignature signature;
  const ir::Attributes& attrs = scan.attrs();
  signature.num_carry = static_cast<size_t>(attrs.get_int("num_carry"));
  signature.num_sequences = static_cast<size_t>(attrs.get_int("num_sequences"));
  signature.reverse = attrs.get_int("reverse") != 0;
  signature.has_lengths = attrs.get_int("has_lengths") != 0;
  signature.num_invariants = scan.operands().size() - signature.num_carry -
                             signature.num_sequences - (signature.has_lengths ? 1 : 0);
  signature.num_outputs = scan.body().outputs().size();
  signature.steps = scan.operand(signature.num_carry)->shape()[0];
  return signature;
}

BodyGradient differentiate_body(const Graph& body, const std::vector<bool>& seeded_outputs,
                                const std::vector<bool>& wanted_inputs) {
  BodyGradient gradient;
  gradient.graph = clone_graph(body);
  Graph& graph = *gradient.graph;
  for (Node* input : graph.nodes_of(ir::OpKind::Input)) gradient.inputs.push_back(input->result());
  assert(wanted_inputs.size() == gradient.inputs.size());
  assert(seeded_outputs.size() == graph.outputs().size());

  std::vector<Seed> seeds;
  gradient.output_adjoints.assign(graph.outputs().size(), nullptr);
  for (size_t i = 0; i < graph.outputs().size(); ++i) {
    Value* value = graph.outputs()[i].value;
    if (!seeded_outputs[i] || !ir::is_float(value->dtype())) continue;
    Value* adjoint =
        graph.add_input(graph.unique_name("d_" + graph.outputs()[i].name), value->type());
    gradient.output_adjoints[i] = adjoint;
    seeds.push_back({value, adjoint});
  }
  std::vector<Value*> wrt;
  std::vector<size_t> wrt_inputs;
  for (size_t i = 0; i < gradient.inputs.size(); ++i)
    if (wanted_inputs[i] && ir::is_float(gradient.inputs[i]->dtype())) {
      wrt.push_back(gradient.inputs[i]);
      wrt_inputs.push_back(i);
    }
  gradient.input_grads.assign(gradient.inputs.size(), nullptr);
  VectorJacobianProduct product = append_vector_jacobian_product(graph, seeds, wrt);
  for (size_t k = 0; k < wrt.size(); ++k) gradient.input_grads[wrt_inputs[k]] = product.grads[k];
  gradient.forward_nodes = std::move(product.forward_nodes);
  return gradient;
}

namespace {

/// The values of `graph` that depend on a carry input or a sequence slice.
std::unordered_set<const Value*> varying_values(const BodyGradient& gradient,
                                                const ScanSignature& signature) {
  std::unordered_set<const Value*> varying(
      gradient.inputs.begin(),
      gradient.inputs.begin() + signature.num_carry + signature.num_sequences);
  for (const auto& node : gradient.graph->nodes()) {
    bool depends = false;
    for (const Value* operand : node->operands()) depends = depends || varying.count(operand);
    if (depends)
      for (size_t i = 0; i < node->num_results(); ++i) varying.insert(node->result(i));
  }
  return varying;
}

/// Arithmetic cheap enough to redo in the backward body instead of stacking its result.
bool is_cheap_elementwise(ir::OpKind kind) {
  return kind == ir::OpKind::Neg || kind == ir::OpKind::Add || kind == ir::OpKind::Sub ||
         kind == ir::OpKind::Mul;
}

}  // namespace

BackwardBodyPlan plan_backward_body(const BodyGradient& gradient, const ScanSignature& signature,
                                    const std::vector<Value*>& roots) {
  const Graph& graph = *gradient.graph;
  std::unordered_set<const Value*> varying = varying_values(gradient, signature);
  std::unordered_map<const Value*, size_t> input_index, output_adjoint_index;
  for (size_t i = 0; i < gradient.inputs.size(); ++i) input_index[gradient.inputs[i]] = i;
  for (size_t i = 0; i < gradient.output_adjoints.size(); ++i)
    if (gradient.output_adjoints[i]) output_adjoint_index[gradient.output_adjoints[i]] = i;

  std::unordered_set<const Node*> recomputed;
  std::unordered_set<const Value*> residuals, visited;
  std::vector<bool> read_inputs(gradient.inputs.size(), false);
  std::vector<bool> read_adjoints(gradient.output_adjoints.size(), false);
  std::vector<const Value*> work;
  auto walk = [&] {
    while (!work.empty()) {
      const Value* value = work.back();
      work.pop_back();
      if (!visited.insert(value).second) continue;
      if (auto adjoint = output_adjoint_index.find(value); adjoint != output_adjoint_index.end()) {
        read_adjoints[adjoint->second] = true;
      } else if (auto input = input_index.find(value); input != input_index.end()) {
        // A carry input h_{t-1} is a residual; slices and invariants come from the operands.
        if (input->second < signature.num_carry)
          residuals.insert(value);
        else
          read_inputs[input->second] = true;
      } else if (gradient.forward_nodes.count(value->producer()) && varying.count(value)) {
        residuals.insert(value);
      } else if (recomputed.insert(value->producer()).second) {
        for (const Value* operand : value->producer()->operands()) work.push_back(operand);
      }
    }
  };
  for (const Value* root : roots)
    if (root) work.push_back(root);
  walk();

  // A residual that one cheap elementwise op computes from values the backward body has
  // anyway (other residuals, slices, recomputed or loop-invariant values) is recomputed
  // rather than stacked: 1 - z next to z, say. A per-step output without lengths is already
  // stacked, so it stays.
  std::unordered_set<const Value*> stacked_outputs;
  for (size_t i = signature.num_carry; i < graph.outputs().size() && !signature.has_lengths; ++i)
    stacked_outputs.insert(graph.outputs()[i].value);
  auto available = [&](const Value* value) {
    auto input = input_index.find(value);
    if (input != input_index.end())
      return input->second >= signature.num_carry || residuals.count(value) != 0;
    return residuals.count(value) || !varying.count(value) || recomputed.count(value->producer());
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& node : graph.nodes()) {
      const Value* value = node->result(0);
      if (!residuals.count(value) || input_index.count(value) || stacked_outputs.count(value) ||
          !is_cheap_elementwise(node->kind()))
        continue;
      bool computable = true;
      for (const Value* operand : node->operands())
        computable = computable && operand != value && available(operand);
      if (!computable) continue;
      residuals.erase(value);
      recomputed.insert(node.get());
      for (const Value* operand : node->operands()) work.push_back(operand);
      walk();
      changed = true;
    }
  }

  BackwardBodyPlan plan;
  for (const auto& node : graph.nodes()) {
    if (recomputed.count(node.get())) plan.recomputed.push_back(node.get());
    for (size_t i = 0; i < node->num_results(); ++i)
      if (residuals.count(node->result(i))) plan.residuals.push_back(node->result(i));
  }
  for (size_t i = 0; i < signature.num_sequences; ++i)
    if (read_inputs[signature.sequence(i)]) plan.read_sequences.push_back(i);
  for (size_t i = 0; i < signature.num_invariants; ++i)
    if (read_inputs[signature.invariant(i)]) plan.read_invariants.push_back(i);
  for (size_t i = signature.num_carry; i < read_adjoints.size(); ++i)
    if (read_adjoints[i]) plan.read_output_adjoints.push_back(i);
  return plan;
}

std::vector<const Node*> nodes_computing(const Graph& graph, const std::vector<Value*>& roots,
                                         const std::unordered_set<const Value*>& stop) {
  std::unordered_set<const Node*> needed;
  std::vector<const Value*> work(roots.begin(), roots.end());
  while (!work.empty()) {
    const Value* value = work.back();
    work.pop_back();
    if (stop.count(value) || !needed.insert(value->producer()).second) continue;
    for (const Value* operand : value->producer()->operands()) work.push_back(operand);
  }
  std::vector<const Node*> ordered;
  for (const auto& node : graph.nodes())
    if (needed.count(node.get())) ordered.push_back(node.get());
  return ordered;
}

Value* RowMask::like(Value* like) {
  const ir::Shape& shape = like->shape();
  if (shape == mask_->shape()) return mask_;
  assert(!shape.empty() && shape[0] == mask_->shape()[0] && "a masked value leads with the batch");
  Value*& found = broadcast_[shape];
  if (!found) {
    ir::Shape column(shape.size(), 1);
    column[0] = shape[0];
    found = build::broadcast(build::reshape(mask_, column), shape);
  }
  return found;
}

Value* RowMask::keep(Value* value, Value* otherwise) {
  return build::select(like(value), value, otherwise);
}

Value* RowMask::keep_or_zero(Value* value) { return keep(value, build::full_like(value, 0.0)); }

}  // namespace rnnc::passes::autodiff
