// hoist-scan-invariants: loop-invariant code motion, batching over time and accumulators
// moved after the loop, for every Scan (see the header).
//
// Each scan's body values fall in three classes: invariant (reads only invariants and
// constants), per-step (reads sequence slices too, no carry) and varying (reads a carry). The
// rewrite builds a new body from the nodes that must stay in the loop (varying ones and
// per-step ones that cannot be batched), reached backwards from the body outputs it keeps:
// where that walk meets an invariant node, the value is computed outside (a copy of its
// nodes) and enters as a new invariant; where it meets a batchable per-step value, the value
// is computed for all steps outside (batching.h) and enters as a new sequence. Accumulator
// carries (acc' = acc + f_t, acc read nowhere else) are dropped from the loop: the stacks
// their contributions need come from the batched values, the sequences themselves, or new
// per-step outputs, and their final values are computed after the scan.
#include "passes/hoist_scan_invariants.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "ir/builder.h"
#include "passes/autodiff/graph_copy.h"
#include "passes/hoist_scan_invariants/batching.h"

namespace rnnc::passes {
namespace {

namespace build = ir::build;
using autodiff::copy_node;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

/// What a body value depends on, ordered so that a node's class is its operands' maximum.
enum class Dependence { kInvariant = 0, kPerStep = 1, kVarying = 2 };

/// Where the [T, ...] stack of a body value comes from after the rewrite: a value of the
/// outer graph built before the scan, or a per-step output the new body adds.
struct StackSource {
  Value* outer = nullptr;
  size_t new_output = 0;  ///< index among the added per-step outputs when `outer` is null
};

/// One term of an accumulator's contribution, summed over time after the loop: one matmul
/// (optionally sliced) or one scatter-add over all steps, or a reduce_sum of a stack.
struct AccumulatorTerm {
  enum class Form { kMatMul, kScatterAdd, kReduceSum } form = Form::kReduceSum;
  StackSource a, b;  ///< matmul, scatter-add: both operands; reduce_sum: `a` alone
  bool transpose_a = false, transpose_b = false;
  /// matmul: the static slice of the summed product the term is (a fused product's part:
  /// sum_t slice(p_t) = slice(sum_t p_t)); empty when the term is the whole product.
  std::vector<int64_t> slice_starts, slice_ends;
  std::vector<int64_t> axes;  ///< reduce_sum axes of `a` (time, 0, included)
  ir::Shape shape;            ///< scatter-add: the result shape
};

/// A carry acc whose next value is acc + f_t, acc read nowhere else in the body.
struct Accumulator {
  size_t carry;
  Value* contribution;
  std::vector<AccumulatorTerm> terms;
};

bool is_zero_constant(const Value* value) {
  const Node* node = value->producer();
  if (node->kind() != OpKind::Constant) return false;
  const auto& values = node->attrs().get_floats("value");
  return std::all_of(values.begin(), values.end(), [](double v) { return v == 0.0; });
}

/// Whether any use of `value` in `graph` (operands, outputs, updates) remains.
bool is_used(const Graph& graph, const Value* value) {
  for (const auto& node : graph.nodes())
    for (const Value* operand : node->operands())
      if (operand == value) return true;
  for (const auto& output : graph.outputs())
    if (output.value == value) return true;
  for (const auto& update : graph.updates())
    if (update.new_value == value) return true;
  return false;
}

/// The rewrite of one scan node of `graph`.
class ScanRewriter {
 public:
  ScanRewriter(Graph& graph, Node& scan) : graph_(graph), scan_(scan), body_(scan.body()) {
    const auto& attrs = scan.attrs();
    num_carry_ = attrs.get_int("num_carry");
    num_sequences_ = attrs.get_int("num_sequences");
    has_lengths_ = attrs.get_int("has_lengths") != 0;
    num_bound_ = scan.operands().size() - (has_lengths_ ? 1 : 0);
    steps_ = num_sequences_ ? scan.operand(num_carry_)->shape()[0] : 0;
    for (Node* input : body_.nodes_of(OpKind::Input)) inputs_.push_back(input->result());
    assert(inputs_.size() == num_bound_);
    first_new_node_ = graph.nodes().size();
  }

  /// Rewrites the scan; false when there was nothing to move.
  bool run() {
    classify();
    find_accumulators();
    find_sunk_outputs();
    plan_body();
    bool removes_inputs = false;
    for (size_t i = num_carry_; i < num_bound_; ++i)
      removes_inputs |= !used_inputs_.count(inputs_[i]) && !kept_anyway_.count(inputs_[i]);
    if (accumulators_.empty() && sunk_.empty() && new_sequences_.empty() &&
        new_invariants_.empty() && !removes_inputs)
      return false;
    rebuild();
    return true;
  }

 private:
  bool is_sequence_slice(const Value* v) const {
    for (size_t i = num_carry_; i < num_carry_ + num_sequences_; ++i)
      if (inputs_[i] == v) return true;
    return false;
  }
  size_t input_index(const Value* v) const {
    return std::find(inputs_.begin(), inputs_.end(), v) - inputs_.begin();
  }
  bool is_batched(const Value* v) const { return batchable_.count(v->producer()) != 0; }
  /// Available as a [T, ...] stack before the loop (a sequence or a batched value).
  bool has_outer_stack(const Value* v) const { return is_sequence_slice(v) || is_batched(v); }

  void classify() {
    for (const auto& node : body_.nodes()) {
      Dependence dependence = Dependence::kInvariant;
      if (node->kind() == OpKind::Input) {
        size_t i = input_index(node->result());
        dependence = i < num_carry_                    ? Dependence::kVarying
                     : i < num_carry_ + num_sequences_ ? Dependence::kPerStep
                                                       : Dependence::kInvariant;
      }
      std::vector<bool> per_step;
      for (const Value* operand : node->operands()) {
        dependence = std::max(dependence, dependence_.at(operand));
        per_step.push_back(dependence_.at(operand) == Dependence::kPerStep);
      }
      for (size_t r = 0; r < node->num_results(); ++r) dependence_[node->result(r)] = dependence;
      for (const Value* operand : node->operands()) ++uses_[operand];
      if (dependence != Dependence::kPerStep || node->kind() == OpKind::Input) continue;
      bool operands_available = true;
      for (const Value* operand : node->operands())
        if (dependence_.at(operand) == Dependence::kPerStep && !has_outer_stack(operand))
          operands_available = false;
      if (operands_available && node->num_results() == 1 && hoist::can_batch(*node, per_step))
        batchable_.insert(node.get());
    }
    for (const auto& output : body_.outputs()) ++uses_[output.value];
  }

  void find_accumulators() {
    for (size_t k = 0; k < num_carry_; ++k) {
      Value* acc = inputs_[k];
      Value* next = body_.outputs()[k].value;
      const Node* add = next->producer();
      if (add->kind() != OpKind::Add || uses_[acc] != 1 || uses_[next] != 1) continue;
      Value* contribution = add->operand(0) == acc ? add->operand(1) : add->operand(0);
      if (contribution == acc || (add->operand(0) != acc && add->operand(1) != acc)) continue;
      accumulators_.push_back({k, contribution, {}});
      removed_carries_.insert(k);
    }
  }

  /// Per-step outputs that are products of a carry-dependent value and an invariant, read
  /// nowhere else in the body (a backward step's input gradient dx_t = dgates_t W): computed
  /// after the loop as one product over the stacked values (not with lengths, whose masked
  /// rows the product would have to keep at zero).
  void find_sunk_outputs() {
    if (has_lengths_) return;
    std::unordered_map<const Value*, int> output_uses;
    for (size_t i = num_carry_; i < body_.outputs().size(); ++i)
      ++output_uses[body_.outputs()[i].value];
    for (size_t i = num_carry_; i < body_.outputs().size(); ++i) {
      const Value* v = body_.outputs()[i].value;
      const Node* node = v->producer();
      if (node->kind() != OpKind::MatMul || dependence_.at(v) != Dependence::kVarying ||
          uses_.at(v) != output_uses.at(v))
        continue;
      const std::vector<bool> per_step = varying_operands(*node);
      if (std::count(per_step.begin(), per_step.end(), false) == 1 &&
          hoist::can_batch(*node, per_step))
        sunk_[i] = {};
    }
  }

  /// Plans the stacks the sunk outputs' products read.
  void plan_sunk_outputs() {
    for (auto& [i, sources] : sunk_) {
      const Node* node = body_.outputs()[i].value->producer();
      const std::vector<bool> per_step = varying_operands(*node);
      for (size_t o = 0; o < per_step.size(); ++o)
        if (per_step[o]) sources.push_back(stack_source(node->operand(o)));
    }
  }

  /// Which operands of body node `node` vary from step to step (are not invariant).
  std::vector<bool> varying_operands(const Node& node) const {
    std::vector<bool> varying;
    for (const Value* operand : node.operands())
      varying.push_back(dependence_.at(operand) != Dependence::kInvariant);
    return varying;
  }

  /// Whether `v` is a product that becomes one matmul over all steps.
  bool is_matmul_term(const Value* v) const {
    const Node* node = v->producer();
    return node->kind() == OpKind::MatMul && v->type().rank() == 2 &&
           dependence_.at(node->operand(0)) != Dependence::kInvariant &&
           dependence_.at(node->operand(1)) != Dependence::kInvariant;
  }
  /// Whether `v` is a scatter-add (an embedding's gradient) that becomes one over all steps.
  bool is_scatter_term(const Value* v) const {
    const Node* node = v->producer();
    return node->kind() == OpKind::ScatterAdd &&
           dependence_.at(node->operand(1)) != Dependence::kInvariant;
  }
  /// Whether `v` is a static slice of a matmul term: part of a product fuse-matmuls merged
  /// (dgates^T [h_t, x_t] sliced into the two weight gradients); the slice of the summed
  /// product after the loop.
  /// The matmul term `v` is a static slice of, through a chain of slices (fused products
  /// fused again), or null; `starts` and `ends` receive the composed slice of the product.
  const Node* sliced_matmul_term(const Value* v, std::vector<int64_t>& starts,
                                 std::vector<int64_t>& ends) const {
    const Node* node = v->producer();
    if (node->kind() != OpKind::Slice) return nullptr;
    starts = node->attrs().get_ints("starts");
    ends = node->attrs().get_ints("ends");
    const Value* sliced = node->operand(0);
    while (sliced->producer()->kind() == OpKind::Slice) {
      const std::vector<int64_t>& outer = sliced->producer()->attrs().get_ints("starts");
      for (size_t d = 0; d < starts.size(); ++d) {
        starts[d] += outer[d];
        ends[d] += outer[d];
      }
      sliced = sliced->producer()->operand(0);
    }
    return is_matmul_term(sliced) ? sliced->producer() : nullptr;
  }
  bool is_sliced_matmul_term(const Value* v) const {
    std::vector<int64_t> starts, ends;
    return sliced_matmul_term(v, starts, ends) != nullptr;
  }
  bool holds_matmul_term(const Value* v) const {
    if (is_matmul_term(v) || is_sliced_matmul_term(v)) return true;
    const Node* node = v->producer();
    return is_scatter_term(v) ||
           (node->kind() == OpKind::Add &&
            (holds_matmul_term(node->operand(0)) || holds_matmul_term(node->operand(1))));
  }
  /// The summands of `v`: add nodes are opened where a matmul term lies beneath.
  void collect_terms(Value* v, std::vector<Value*>& terms) const {
    const Node* node = v->producer();
    if (node->kind() == OpKind::Add && holds_matmul_term(v)) {
      collect_terms(node->operand(0), terms);
      collect_terms(node->operand(1), terms);
    } else {
      terms.push_back(v);
    }
  }

  /// Where the stack of body value `v` comes from: outside when available (never with lengths,
  /// where only the scan's own masked outputs are exact), else a new per-step output.
  StackSource stack_source(Value* v) {
    if (!has_lengths_ && has_outer_stack(v)) return {outer_stack(v), 0};
    auto found = std::find(added_outputs_.begin(), added_outputs_.end(), v);
    size_t index = found - added_outputs_.begin();
    if (found == added_outputs_.end()) added_outputs_.push_back(v);
    return {nullptr, index};
  }

  void plan_accumulator_terms() {
    for (Accumulator& acc : accumulators_) {
      if (!is_used(graph_, scan_.result(acc.carry))) continue;  // dropped, nothing to sum
      std::vector<Value*> terms;
      if (has_lengths_)
        terms.push_back(acc.contribution);
      else
        collect_terms(acc.contribution, terms);
      for (Value* term : terms) {
        const Node* node = term->producer();
        AccumulatorTerm planned;
        if (!has_lengths_ && is_scatter_term(term)) {
          planned.form = AccumulatorTerm::Form::kScatterAdd;
          planned.a = stack_source(node->operand(0));
          planned.b = stack_source(node->operand(1));
          planned.shape = term->shape();
        } else if (!has_lengths_ && (is_matmul_term(term) || is_sliced_matmul_term(term))) {
          const Node* matmul = node;
          if (node->kind() == OpKind::Slice)
            matmul = sliced_matmul_term(term, planned.slice_starts, planned.slice_ends);
          planned.form = AccumulatorTerm::Form::kMatMul;
          planned.a = stack_source(matmul->operand(0));
          planned.b = stack_source(matmul->operand(1));
          planned.transpose_a = matmul->attrs().get_int("transpose_a") != 0;
          planned.transpose_b = matmul->attrs().get_int("transpose_b") != 0;
        } else if (!has_lengths_ && node->kind() == OpKind::ReduceSum &&
                   dependence_.at(node->operand(0)) != Dependence::kInvariant) {
          planned.a = stack_source(node->operand(0));
          planned.axes = {0};
          for (int64_t axis : node->attrs().get_ints("axes")) planned.axes.push_back(axis + 1);
        } else {
          planned.a = stack_source(term);
          planned.axes = {0};
        }
        acc.terms.push_back(planned);
      }
    }
  }

  /// Walks back from the outputs the new body keeps, through the nodes that stay in the loop,
  /// to the inputs, the new invariants and the new sequences.
  void plan_body() {
    plan_accumulator_terms();
    plan_sunk_outputs();
    std::vector<Value*> roots;
    for (size_t i = 0; i < body_.outputs().size(); ++i)
      if (!removed_carries_.count(i) && !sunk_.count(i)) roots.push_back(body_.outputs()[i].value);
    roots.insert(roots.end(), added_outputs_.begin(), added_outputs_.end());
    std::unordered_set<const Value*> seen;
    std::vector<Value*> work(roots.rbegin(), roots.rend());
    while (!work.empty()) {
      Value* v = work.back();
      work.pop_back();
      if (!seen.insert(v).second) continue;
      Node* node = v->producer();
      if (node->kind() == OpKind::Input) {
        used_inputs_.insert(v);
      } else if (dependence_.at(v) == Dependence::kInvariant && !node->info().has(ir::kSource)) {
        new_invariants_.push_back(v);
      } else if (is_batched(v)) {
        new_sequences_.push_back(v);
      } else {
        staying_.insert(node);
        for (Value* operand : node->operands()) work.push_back(operand);
      }
    }
    // A scan needs a sequence for its trip count.
    bool any_sequence = !new_sequences_.empty();
    for (size_t i = num_carry_; i < num_carry_ + num_sequences_; ++i)
      any_sequence |= used_inputs_.count(inputs_[i]) != 0;
    if (!any_sequence && num_sequences_ > 0) kept_anyway_.insert(inputs_[num_carry_]);
    // Body order for the new inputs.
    std::unordered_map<const Node*, size_t> position;
    for (size_t i = 0; i < body_.nodes().size(); ++i) position[body_.nodes()[i].get()] = i;
    auto by_position = [&](const Value* a, const Value* b) {
      return std::pair(position.at(a->producer()), a->result_index()) <
             std::pair(position.at(b->producer()), b->result_index());
    };
    std::sort(new_invariants_.begin(), new_invariants_.end(), by_position);
    std::sort(new_sequences_.begin(), new_sequences_.end(), by_position);
  }

  /// The outer-graph value equal to invariant body value `v` (copies of its nodes, memoized).
  Value* outer_invariant(Value* v) {
    if (auto found = outer_.find(v); found != outer_.end()) return found->second;
    Node* node = v->producer();
    if (node->kind() == OpKind::Input) return outer_[v] = scan_.operand(input_index(v));
    std::vector<Value*> operands;
    for (Value* operand : node->operands()) operands.push_back(outer_invariant(operand));
    Node* copy = copy_node(*node, graph_, std::move(operands));
    for (size_t r = 0; r < node->num_results(); ++r) outer_[node->result(r)] = copy->result(r);
    return outer_.at(v);
  }

  /// The outer [T, ...] stack of per-step body value `v` (a sequence or a batched value).
  Value* outer_stack(Value* v) {
    if (auto found = stacks_.find(v); found != stacks_.end()) return found->second;
    if (is_sequence_slice(v)) return stacks_[v] = scan_.operand(input_index(v));
    const Node* node = v->producer();
    std::vector<Value*> operands;
    std::vector<bool> per_step;
    for (Value* operand : node->operands()) {
      bool varies = dependence_.at(operand) == Dependence::kPerStep;
      per_step.push_back(varies);
      operands.push_back(varies ? outer_stack(operand) : outer_invariant(operand));
    }
    return stacks_[v] = hoist::build_batched(graph_, *node, operands, per_step, steps_);
  }

  /// Builds the new body and scan, the sums after it, and puts the new nodes in place.
  void rebuild();
  /// The stack `source` names: built outside, or a result of the new `scan`, whose per-step
  /// outputs the rewrite added start at result `first_added_result`.
  Value* stack(const StackSource& source, const Node* scan, size_t first_added_result) {
    assert(source.outer || scan);
    return source.outer ? source.outer : scan->result(first_added_result + source.new_output);
  }
  /// Final value of `acc` from the new scan's results.
  Value* accumulated(const Accumulator& acc, const Node* scan, size_t first_added_result);
  /// The stacked value of sunk output `i` (its product over all steps).
  Value* sunk_output(size_t i, const Node* scan, size_t first_added_result);

  Graph& graph_;
  Node& scan_;
  /// Nodes of graph_ from this index on were added by the rewrite.
  size_t first_new_node_ = 0;
  const Graph& body_;
  size_t num_carry_ = 0, num_sequences_ = 0, num_bound_ = 0;
  bool has_lengths_ = false;
  int64_t steps_ = 0;
  std::vector<Value*> inputs_;
  std::unordered_map<const Value*, Dependence> dependence_;
  std::unordered_map<const Value*, int> uses_;
  std::unordered_set<const Node*> batchable_;
  std::vector<Accumulator> accumulators_;
  std::unordered_set<size_t> removed_carries_;
  /// Per-step outputs computed after the loop (find_sunk_outputs), by body output index: the
  /// stacks of their products' carry-dependent operands.
  std::map<size_t, std::vector<StackSource>> sunk_;
  std::vector<Value*> added_outputs_;
  std::unordered_set<const Value*> used_inputs_, kept_anyway_;
  std::unordered_set<const Node*> staying_;
  std::vector<Value*> new_invariants_, new_sequences_;
  std::unordered_map<const Value*, Value*> outer_, stacks_;
};

Value* ScanRewriter::sunk_output(size_t i, const Node* scan, size_t first_added_result) {
  const Node* node = body_.outputs()[i].value->producer();
  const std::vector<bool> per_step = varying_operands(*node);
  std::vector<Value*> operands;
  size_t next = 0;
  for (size_t o = 0; o < per_step.size(); ++o)
    operands.push_back(per_step[o] ? stack(sunk_.at(i).at(next++), scan, first_added_result)
                                   : outer_invariant(node->operand(o)));
  return hoist::build_batched(graph_, *node, operands, per_step, steps_);
}

Value* ScanRewriter::accumulated(const Accumulator& acc, const Node* scan,
                                 size_t first_added_result) {
  auto stack = [&](const StackSource& source) {
    return this->stack(source, scan, first_added_result);
  };
  Value* total = nullptr;
  for (const AccumulatorTerm& term : acc.terms) {
    Value* sum = nullptr;
    switch (term.form) {
      case AccumulatorTerm::Form::kMatMul:
        sum =
            hoist::summed_matmul(stack(term.a), stack(term.b), term.transpose_a, term.transpose_b);
        if (!term.slice_starts.empty()) sum = build::slice(sum, term.slice_starts, term.slice_ends);
        break;
      case AccumulatorTerm::Form::kScatterAdd:  // the stacked indices address the same rows
        sum = build::scatter_add(stack(term.a), stack(term.b), term.shape);
        break;
      case AccumulatorTerm::Form::kReduceSum:
        sum = build::reduce_sum(stack(term.a), term.axes);
        break;
    }
    total = total ? build::add(total, sum) : sum;
  }
  Value* init = scan_.operand(acc.carry);
  return is_zero_constant(init) ? total : build::add(init, total);
}

void ScanRewriter::rebuild() {
  auto body = std::make_unique<Graph>(body_.name());
  std::unordered_map<const Value*, Value*> map;
  std::vector<Value*> carries, sequences, invariants;
  auto bind = [&](Value* inner, Value* outer, std::vector<Value*>& operands) {
    map[inner] = body->add_input(body->unique_name(inner->name()), inner->type());
    operands.push_back(outer);
  };
  auto keeps = [&](size_t i) {
    return i < num_carry_ ? !removed_carries_.count(i)
                          : used_inputs_.count(inputs_[i]) || kept_anyway_.count(inputs_[i]);
  };
  for (size_t i = 0; i < num_carry_; ++i)
    if (keeps(i)) bind(inputs_[i], scan_.operand(i), carries);
  for (size_t i = num_carry_; i < num_carry_ + num_sequences_; ++i)
    if (keeps(i)) bind(inputs_[i], scan_.operand(i), sequences);
  for (Value* v : new_sequences_) bind(v, outer_stack(v), sequences);
  for (size_t i = num_carry_ + num_sequences_; i < num_bound_; ++i)
    if (keeps(i)) bind(inputs_[i], scan_.operand(i), invariants);
  for (Value* v : new_invariants_) bind(v, outer_invariant(v), invariants);

  for (const auto& node : body_.nodes()) {
    if (!staying_.count(node.get())) continue;
    std::vector<Value*> operands;
    for (const Value* operand : node->operands()) operands.push_back(map.at(operand));
    Node* copy = copy_node(*node, *body, std::move(operands));
    for (size_t r = 0; r < node->num_results(); ++r) map[node->result(r)] = copy->result(r);
  }
  std::vector<size_t> kept_results;
  for (size_t i = 0; i < body_.outputs().size(); ++i) {
    if (removed_carries_.count(i) || sunk_.count(i)) continue;
    body->add_output(body_.outputs()[i].name, map.at(body_.outputs()[i].value));
    kept_results.push_back(i);
  }
  std::vector<std::string> added_names;
  for (Value* v : added_outputs_) {
    std::string name = v->name();
    for (int suffix = 1; body->output(name); ++suffix)
      name = v->name() + "_" + std::to_string(suffix);
    body->add_output(name, map.at(v));
    added_names.push_back(v->name() + "_stack");
  }

  std::vector<Value*> operands = carries;
  operands.insert(operands.end(), sequences.begin(), sequences.end());
  operands.insert(operands.end(), invariants.begin(), invariants.end());
  if (has_lengths_) operands.push_back(scan_.operands().back());
  ir::Attributes attrs = scan_.attrs();
  attrs.set("num_carry", static_cast<int64_t>(carries.size()));
  attrs.set("num_sequences", static_cast<int64_t>(sequences.size()));
  std::vector<std::unique_ptr<Graph>> bodies;
  bodies.push_back(std::move(body));

  const size_t first_scan_node = graph_.nodes().size();
  const bool loop_left = !bodies[0]->outputs().empty();
  Node* scan = &scan_;
  if (!loop_left) {
    scan = nullptr;  // only accumulators, all summed from stacks built outside: no loop left
  } else if (removed_carries_.empty() && sunk_.empty()) {
    graph_.rebuild_node(scan_, std::move(operands), std::move(attrs), std::move(bodies),
                        added_names);
  } else {
    std::vector<std::string> names;
    for (size_t i : kept_results) names.push_back(scan_.result(i)->name());
    names.insert(names.end(), added_names.begin(), added_names.end());
    scan = graph_.add_node(OpKind::Scan, std::move(operands), std::move(attrs), {}, names,
                           std::move(bodies));
    for (size_t j = 0; j < kept_results.size(); ++j)
      graph_.replace_all_uses(scan_.result(kept_results[j]), scan->result(j));
  }
  const size_t first_post_node = graph_.nodes().size();
  for (const Accumulator& acc : accumulators_) {
    Value* old_result = scan_.result(acc.carry);
    if (acc.terms.empty()) continue;  // its final value is unused
    graph_.replace_all_uses(old_result, accumulated(acc, scan, kept_results.size()));
  }
  std::unordered_map<const Value*, Value*> sunk_values;  // an output yielded twice: one product
  for (const auto& [i, sources] : sunk_) {
    const Value* inner = body_.outputs()[i].value;
    Value*& value = sunk_values[inner];
    if (!value) value = sunk_output(i, scan, kept_results.size());
    graph_.replace_all_uses(scan_.result(i), value);
  }

  // Order: everything before the old scan, the nodes computing its new operands, the scan,
  // the sums after it, the rest.
  const auto& nodes = graph_.nodes();
  std::vector<Node*> order;
  for (size_t i = 0; i < first_new_node_; ++i) {
    Node* node = nodes[i].get();
    if (node != &scan_) {
      order.push_back(node);
      continue;
    }
    for (size_t j = first_new_node_; j < first_scan_node; ++j) order.push_back(nodes[j].get());
    order.push_back(&scan_);  // rebuilt in place, or erased below
    if (scan && scan != &scan_) order.push_back(scan);
    for (size_t j = first_post_node; j < nodes.size(); ++j) order.push_back(nodes[j].get());
  }
  graph_.reorder(order);
  if (scan != &scan_) {
    Node* old = &scan_;
    graph_.erase_nodes_if([old](const Node& node) { return &node == old; });
  }
}

/// Rewrites every scan of `graph`, nested bodies first.
bool hoist_in_graph(Graph& graph) {
  bool changed = false;
  for (Node* scan : graph.nodes_of(OpKind::Scan)) {
    changed |= hoist_in_graph(scan->body());
    changed |= ScanRewriter(graph, *scan).run();
  }
  return changed;
}

}  // namespace

bool hoist_scan_invariants(ir::Graph& graph, const PassContext& /*context*/) {
  return hoist_in_graph(graph);
}

}  // namespace rnnc::passes
