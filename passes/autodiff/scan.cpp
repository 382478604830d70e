// The gradient of Scan: backpropagation through time as a scan in the opposite direction.
//
// The body's vector-Jacobian product is built with the ordinary rules on a copy of the body
// (scan_body.h), seeded at the next carries and the per-step outputs. The backward scan
// carries the adjoint of each forward carry (starting from the adjoint of the final carry)
// and one accumulator per float invariant (acc' = acc + d invariant_t); its sequences are the
// adjoints of the stacked per-step outputs, the residuals, the forward sequences the product
// reads and, with lengths, a row mask; its per-step outputs are the adjoints of the sequence
// slices, stacked into the adjoints of the forward sequences.
//
// Residuals: forward values the product reads that depend on a carry or a sequence slice
// (the carry inputs h_{t-1} included) are not recomputed: the forward scan is replaced by one
// whose body also outputs them, and the backward body reads step t's slice of each stack.
// Values that depend only on invariants and constants are recomputed in the backward body.
//
// Lengths: the forward scan keeps a masked row's carry and zeroes its outputs. The backward
// scan has no lengths of its own (its accumulators have no batch dimension); instead a mask
// m_t (1 where t < lengths[b]) built outside the loop zeroes the masked rows' seed adjoints
// and passes a masked row's carry adjoint through unchanged:
//   d carry_{t-1} = VJP_carry(select(m_t, seeds, 0)) + select(m_t, 0, d carry_t).
// So that residuals keep their true values past a row's length (the op would zero stacked
// outputs there, and a rule dividing by a zero residual would give 0/0), a forward scan with
// lengths that must stack residuals is replaced by one without the lengths attribute that
// applies the same mask itself: carry' = select(m_t, next, carry), y = select(m_t, y, 0).
// With this the gradient is exact even for a body that mixes batch rows. (The replacement no
// longer checks that lengths lie in [1, T]: 0 leaves a row untouched, more than T runs it
// throughout; the scan without gradient, an inference graph, still rejects them.)
//
// Nested scans: differentiating a body that holds a scan runs this rule on the inner scan
// inside the body's copy; the inner forward scan, replaced there by one stacking its own
// residuals, becomes part of the outer forward body, its stacks outer residuals
// [T, T_inner, ...], and the inner backward scan part of the outer backward body.
#include <cassert>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "ir/builder.h"
#include "passes/autodiff/graph_copy.h"
#include "passes/autodiff/rules.h"
#include "passes/autodiff/scan_body.h"

namespace rnnc::passes::autodiff {

namespace build = ir::build;
using ir::Graph;
using ir::Node;
using ir::Value;

namespace {

/// m [T, B] i32: 1 where t < lengths[b].
Value* step_mask(Value* lengths, int64_t steps) {
  Graph& graph = build::graph_of(lengths);
  ir::Shape shape{steps, lengths->shape()[0]};
  Value* time = graph
                    .add_node(ir::OpKind::Iota, {}, {{"axis", int64_t{0}}},
                              {{ir::DType::i32, shape}}, {"time"})
                    ->result();
  return build::less(time, build::broadcast(lengths, shape));
}

/// Names for the adjoints of `scan`'s operands: "grad_<name>" where the scan is the operand's
/// only use (the pass then keeps the name for the gradient of a wrt value), else "d_<name>",
/// leaving "grad_<name>" free for the sum of the contributions.
std::vector<std::string> adjoint_names(const Node& scan) {
  std::unordered_map<const Value*, size_t> uses;
  for (const auto& node : scan.owner()->nodes())
    for (const Value* operand : node->operands()) ++uses[operand];
  std::vector<std::string> names;
  for (const Value* operand : scan.operands())
    names.push_back((uses[operand] == 1 ? "grad_" : "d_") + operand->name());
  return names;
}

/// `hint`, or `hint` with a numeric suffix, that names no value of `graph`.
std::string free_value_name(const Graph& graph, const std::string& hint) {
  std::string name = hint;
  for (int suffix = 1; graph.find(name); ++suffix) name = hint + "_" + std::to_string(suffix);
  return name;
}

/// `hint`, or `hint` with a numeric suffix, that no output of `graph` is named yet.
std::string free_output_name(const Graph& graph, const std::string& hint) {
  std::string name = hint;
  for (int suffix = 1; graph.output(name); ++suffix) name = hint + "_" + std::to_string(suffix);
  return name;
}

/// Appends copies of `nodes` (of another graph, in order) to `into`, reading operands through
/// `map`, which receives their results.
void copy_nodes(const std::vector<const Node*>& nodes, Graph& into, ValueMap& map) {
  for (const Node* node : nodes) {
    std::vector<Value*> operands;
    for (const Value* operand : node->operands()) operands.push_back(map.at(operand));
    Node* copy = copy_node(*node, into, std::move(operands));
    for (size_t i = 0; i < node->num_results(); ++i) map[node->result(i)] = copy->result(i);
  }
}

/// The forward body again (copied from the gradient graph, whose nested scans may have been
/// replaced by ones stacking their own residuals), also outputting `residuals` per step.
/// With lengths the body applies the row mask itself, read from an i32 [B] slice input after
/// the sequences (see the file comment).
std::unique_ptr<Graph> forward_body_with_residuals(const Graph& body, const ScanSignature& sig,
                                                   const BodyGradient& gradient,
                                                   const std::vector<Value*>& residuals,
                                                   int64_t batch) {
  auto forward = std::make_unique<Graph>(body.name());
  ValueMap map;
  Value* mask = nullptr;
  for (size_t i = 0; i <= sig.num_bound(); ++i) {
    if (sig.has_lengths && i == sig.invariant(0))
      mask =
          forward->add_input(free_value_name(*gradient.graph, "mask"), {ir::DType::i32, {batch}});
    if (i == sig.num_bound()) break;
    Value* input = gradient.inputs[i];
    map[input] = forward->add_input(input->name(), input->type());
  }
  const Graph& source = *gradient.graph;
  std::vector<Value*> roots = residuals;
  for (const ir::GraphOutput& output : source.outputs()) roots.push_back(output.value);
  std::unordered_set<const Value*> inputs(gradient.inputs.begin(), gradient.inputs.end());
  copy_nodes(nodes_computing(source, roots, inputs), *forward, map);

  RowMask rows(mask);
  for (size_t i = 0; i < source.outputs().size(); ++i) {
    const ir::GraphOutput& output = source.outputs()[i];
    Value* value = map.at(output.value);
    if (mask && i < sig.num_carry)
      value = rows.keep(value, map.at(gradient.inputs[i]));
    else if (mask)
      value = rows.keep_or_zero(value);
    forward->add_output(output.name, value);
  }
  for (Value* residual : residuals)
    forward->add_output(free_output_name(*forward, "residual_" + residual->name()),
                        map.at(residual));
  return forward;
}

/// What the backward scan reads and writes, in the order of its operands and results.
struct BackwardScan {
  std::unique_ptr<Graph> body;
  std::vector<Value*> carry_inits, sequences, invariants;
  /// Per result: its name, and the index of the forward operand it is the adjoint of.
  std::vector<std::string> result_names;
  std::vector<size_t> result_operands;
};

/// Builds the backward body of `plan` (named after `body_name`) and lists the backward scan's
/// operands. `operands` are the forward scan's, `names` their adjoints' names; carry k gets an
/// adjoint carry where `active[k]`, each invariant and sequence the product differentiates an
/// accumulator or a per-step output.
BackwardScan backward_scan(const std::vector<Value*>& operands,
                           const std::vector<std::string>& names, const std::string& body_name,
                           const ScanSignature& sig, const BodyGradient& gradient,
                           const BackwardBodyPlan& plan, const std::vector<bool>& active,
                           const std::vector<Value*>& result_grads,
                           const std::vector<Value*>& residual_stacks, Value* mask) {
  const Graph& source = *gradient.graph;
  BackwardScan scan;
  scan.body = std::make_unique<Graph>(body_name + "_grad");
  Graph& body = *scan.body;
  auto input = [&](const std::string& hint, const ir::TensorType& type) {
    return body.add_input(body.unique_name(hint), type);
  };
  ValueMap map;

  // Carries: the carry adjoints, then the accumulators.
  std::vector<Value*> carry_adjoints(sig.num_carry, nullptr), accumulators;
  std::vector<size_t> accumulated;
  for (size_t k = 0; k < sig.num_carry; ++k) {
    if (!active[k]) continue;
    carry_adjoints[k] = input("d_" + gradient.inputs[k]->name(), operands[k]->type());
    scan.carry_inits.push_back(result_grads[k] ? result_grads[k]
                                               : build::full_like(operands[k], 0.0));
    scan.result_names.push_back(names[k]);
    scan.result_operands.push_back(k);
  }
  for (size_t i = 0; i < sig.num_invariants; ++i) {
    if (!gradient.input_grads[sig.invariant(i)]) continue;
    Value* outer = operands[sig.invariant(i)];
    accumulators.push_back(
        input("acc_" + gradient.inputs[sig.invariant(i)]->name(), outer->type()));
    accumulated.push_back(i);
    scan.carry_inits.push_back(build::full_like(outer, 0.0));
    scan.result_names.push_back(names[sig.invariant(i)]);
    scan.result_operands.push_back(sig.invariant(i));
  }

  // Sequences: output adjoints, residuals, forward slices, the mask.
  std::vector<std::pair<size_t, Value*>> output_adjoints;
  for (size_t j : plan.read_output_adjoints) {
    output_adjoints.push_back(
        {j, input("d_" + source.outputs()[j].name, source.outputs()[j].value->type())});
    scan.sequences.push_back(result_grads[j]);
  }
  for (size_t r = 0; r < plan.residuals.size(); ++r) {
    map[plan.residuals[r]] = input(plan.residuals[r]->name(), plan.residuals[r]->type());
    scan.sequences.push_back(residual_stacks[r]);
  }
  std::vector<size_t> read_sequences = plan.read_sequences;
  if (read_sequences.empty() && scan.sequences.empty() && !mask) read_sequences.push_back(0);
  for (size_t i : read_sequences) {
    Value* slice = gradient.inputs[sig.sequence(i)];
    map[slice] = input(slice->name(), slice->type());
    scan.sequences.push_back(operands[sig.sequence(i)]);
  }
  Value* mask_slice = nullptr;
  if (mask) {
    mask_slice = input("mask", {ir::DType::i32, {mask->shape()[1]}});
    scan.sequences.push_back(mask);
  }
  // Invariants.
  for (size_t i : plan.read_invariants) {
    Value* invariant = gradient.inputs[sig.invariant(i)];
    map[invariant] = input(invariant->name(), invariant->type());
    scan.invariants.push_back(operands[sig.invariant(i)]);
  }

  // Seeds, zero in rows past their length; then the product.
  RowMask rows(mask_slice);
  for (size_t k = 0; k < sig.num_carry; ++k)
    if (active[k])
      map[gradient.output_adjoints[k]] =
          mask_slice ? rows.keep_or_zero(carry_adjoints[k]) : carry_adjoints[k];
  for (const auto& [j, adjoint] : output_adjoints)
    map[gradient.output_adjoints[j]] = mask_slice ? rows.keep_or_zero(adjoint) : adjoint;
  copy_nodes(plan.recomputed, body, map);

  // Outputs: next carry adjoints, next accumulators, sequence slice adjoints.
  for (size_t k = 0; k < sig.num_carry; ++k) {
    if (!active[k]) continue;
    Value* adjoint = carry_adjoints[k];
    Value* grad = gradient.input_grads[k] ? map.at(gradient.input_grads[k]) : nullptr;
    Value* next = grad;
    if (mask_slice) {
      // A row past its length kept its carry: its adjoint passes through unchanged.
      Value* passed = rows.keep(build::full_like(adjoint, 0.0), adjoint);
      next = grad ? build::add(grad, passed) : passed;
    } else if (!next) {
      next = build::full_like(adjoint, 0.0);
    }
    body.add_output(adjoint->name() + ".next", next);
  }
  for (size_t a = 0; a < accumulated.size(); ++a) {
    Value* grad = map.at(gradient.input_grads[sig.invariant(accumulated[a])]);
    body.add_output(accumulators[a]->name() + ".next", build::add(accumulators[a], grad));
  }
  for (size_t i = 0; i < sig.num_sequences; ++i) {
    Value* grad = gradient.input_grads[sig.sequence(i)];
    if (!grad) continue;
    body.add_output("grad_" + gradient.inputs[sig.sequence(i)]->name(), map.at(grad));
    scan.result_names.push_back(names[sig.sequence(i)]);
    scan.result_operands.push_back(sig.sequence(i));
  }
  return scan;
}

/// The body's product seeded at the outputs whose results have adjoints and at every next
/// carry whose carry input gets an adjoint from a seeded output (until no more do): carries
/// no adjoint reaches are not carried backwards. `seeded` ends with those marked.
BodyGradient differentiate_reached_carries(const Node& scan, const ScanSignature& sig,
                                           std::vector<bool>& seeded,
                                           const std::vector<bool>& wanted) {
  for (;;) {
    BodyGradient gradient = differentiate_body(scan.body(), seeded, wanted);
    bool grew = false;
    for (size_t k = 0; k < sig.num_carry; ++k)
      if (!seeded[k] && gradient.input_grads[k]) seeded[k] = grew = true;
    if (!grew) return gradient;
  }
}

/// The stack [T, ...] of each residual: a per-step output that already stacks the value
/// (without lengths, where stacked outputs are not masked), or a result of a forward scan
/// that replaces `scan` (through `context`) and also stacks the others.
std::vector<Value*> stack_residuals(const Node& scan, const ScanSignature& sig,
                                    const BodyGradient& gradient,
                                    const std::vector<Value*>& residuals, Value* mask,
                                    const RuleContext& context) {
  constexpr size_t kNone = static_cast<size_t>(-1);
  std::vector<size_t> stacked_output(residuals.size(), kNone);
  std::vector<Value*> to_stack;
  for (size_t r = 0; r < residuals.size(); ++r) {
    for (size_t j = sig.num_carry; j < sig.num_outputs && !sig.has_lengths; ++j)
      if (gradient.graph->outputs()[j].value == residuals[r]) stacked_output[r] = j;
    if (stacked_output[r] == kNone) to_stack.push_back(residuals[r]);
  }
  const Node* forward = &scan;
  if (!to_stack.empty()) {
    assert(context.rebuild_forward && "the scan rule must be able to rebuild its forward node");
    int64_t batch = mask ? mask->shape()[1] : 0;
    std::vector<std::unique_ptr<Graph>> bodies;
    bodies.push_back(forward_body_with_residuals(scan.body(), sig, gradient, to_stack, batch));
    std::vector<Value*> operands(scan.operands().begin(),
                                 scan.operands().begin() + sig.num_bound());
    if (mask) operands.insert(operands.begin() + sig.invariant(0), mask);
    std::vector<std::string> names;
    for (Value* residual : to_stack) names.push_back(residual->name() + "_stack");
    ir::Attributes attrs{
        {"num_carry", static_cast<int64_t>(sig.num_carry)},
        {"num_sequences", static_cast<int64_t>(sig.num_sequences + (mask ? 1 : 0))},
        {"reverse", int64_t{sig.reverse}},
        {"has_lengths", int64_t{0}}};
    context.rebuild_forward(scan, std::move(operands), std::move(attrs), std::move(bodies), names);
  }
  std::vector<Value*> stacks;
  for (size_t r = 0, stacked = 0; r < residuals.size(); ++r)
    stacks.push_back(stacked_output[r] != kNone ? forward->result(stacked_output[r])
                                                : forward->result(sig.num_outputs + stacked++));
  return stacks;
}

}  // namespace

OperandGradients scan_gradient(const Node& node, const std::vector<Value*>& result_grads,
                               const RuleContext& context) {
  const ScanSignature sig = ScanSignature::of(node);
  Graph& graph = *node.owner();
  // Read before the node may be replaced.
  const std::vector<Value*> operands = node.operands();
  const std::string body_name = node.body().name();
  const std::vector<std::string> names = adjoint_names(node);

  std::vector<bool> seeded(sig.num_outputs, false), wanted(sig.num_bound(), false);
  for (size_t i = 0; i < sig.num_outputs; ++i) seeded[i] = result_grads[i] != nullptr;
  for (size_t i = 0; i < sig.num_bound(); ++i) {
    bool needed = context.operand_needed.empty() || context.operand_needed[i];
    wanted[i] = ir::is_float(operands[i]->dtype()) && (i < sig.num_carry || needed);
  }
  BodyGradient gradient = differentiate_reached_carries(node, sig, seeded, wanted);
  std::vector<bool> active(seeded.begin(), seeded.begin() + sig.num_carry);

  std::vector<Value*> roots;
  for (size_t k = 0; k < sig.num_carry; ++k)
    if (active[k]) roots.push_back(gradient.input_grads[k]);
  for (size_t i = sig.num_carry; i < sig.num_bound(); ++i) roots.push_back(gradient.input_grads[i]);
  BackwardBodyPlan plan = plan_backward_body(gradient, sig, roots);

  Value* mask = sig.has_lengths ? step_mask(operands.back(), sig.steps) : nullptr;
  std::vector<Value*> residual_stacks =
      stack_residuals(node, sig, gradient, plan.residuals, mask, context);

  BackwardScan scan = backward_scan(operands, names, body_name, sig, gradient, plan, active,
                                    result_grads, residual_stacks, mask);
  std::vector<Value*> backward_operands = scan.carry_inits;
  backward_operands.insert(backward_operands.end(), scan.sequences.begin(), scan.sequences.end());
  backward_operands.insert(backward_operands.end(), scan.invariants.begin(), scan.invariants.end());
  ir::Attributes attrs{{"num_carry", static_cast<int64_t>(scan.carry_inits.size())},
                       {"num_sequences", static_cast<int64_t>(scan.sequences.size())},
                       {"reverse", int64_t{!sig.reverse}},
                       {"has_lengths", int64_t{0}}};
  std::vector<std::unique_ptr<Graph>> bodies;
  bodies.push_back(std::move(scan.body));
  Node* backward = graph.add_node(ir::OpKind::Scan, std::move(backward_operands), std::move(attrs),
                                  {}, scan.result_names, std::move(bodies));
  OperandGradients grads(operands.size(), nullptr);
  for (size_t i = 0; i < scan.result_operands.size(); ++i)
    grads[scan.result_operands[i]] = backward->result(i);
  return grads;
}

}  // namespace rnnc::passes::autodiff
