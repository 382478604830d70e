#include "ir/scan_builder.h"

#include "ir/error.h"

namespace rnnc::ir {

ScanBuilder::ScanBuilder(Graph& graph, std::string body_name)
    : graph_(graph), body_(std::make_unique<Graph>(std::move(body_name))) {}

Value* ScanBuilder::carry(Value* init, const std::string& name) {
  Value* inner = body_->add_input(name, init->type());
  carries_.push_back({init, inner});
  next_.push_back(nullptr);
  return inner;
}

Value* ScanBuilder::sequence(Value* sequence, const std::string& name) {
  if (sequence->type().rank() < 1)
    throw Error("scan sequence %" + sequence->name() + " has no time dimension");
  TensorType slice = sequence->type();
  slice.shape.erase(slice.shape.begin());
  Value* inner = body_->add_input(name, slice);
  sequences_.push_back({sequence, inner});
  return inner;
}

Value* ScanBuilder::invariant(Value* value, const std::string& name) {
  Value* inner = body_->add_input(name, value->type());
  invariants_.push_back({value, inner});
  return inner;
}

void ScanBuilder::set_next(Value* carry, Value* next) {
  for (size_t i = 0; i < carries_.size(); ++i)
    if (carries_[i].inner == carry) {
      next_[i] = next;
      return;
    }
  throw Error("scan body value %" + carry->name() + " is not a carry");
}

void ScanBuilder::add_output(const std::string& name, Value* value) {
  outputs_.push_back({name, value});
}

std::vector<Value*> ScanBuilder::finish() {
  // Body inputs first, in the op's order: carries, sequence slices, invariants.
  std::vector<Node*> order;
  for (const auto* group : {&carries_, &sequences_, &invariants_})
    for (const Bound& bound : *group) order.push_back(bound.inner->producer());
  for (const auto& node : body_->nodes())
    if (node->kind() != OpKind::Input) order.push_back(node.get());
  body_->reorder(order);

  for (size_t i = 0; i < carries_.size(); ++i) {
    if (!next_[i])
      throw Error("scan carry %" + carries_[i].inner->name() + " has no next value (set_next)");
    body_->add_output(carries_[i].inner->name() + ".next", next_[i]);
  }
  for (const auto& [name, value] : outputs_) body_->add_output(name, value);

  std::vector<Value*> operands;
  std::vector<std::string> names;
  for (const Bound& bound : carries_) {
    operands.push_back(bound.outer);
    names.push_back(bound.inner->name() + "_final");
  }
  for (const Bound& bound : sequences_) operands.push_back(bound.outer);
  for (const Bound& bound : invariants_) operands.push_back(bound.outer);
  if (lengths_) operands.push_back(lengths_);
  for (const auto& output : outputs_) names.push_back(output.first + "_seq");

  Attributes attrs{{"num_carry", static_cast<int64_t>(carries_.size())},
                   {"num_sequences", static_cast<int64_t>(sequences_.size())},
                   {"reverse", int64_t{reverse_}},
                   {"has_lengths", int64_t{lengths_ != nullptr}}};
  std::vector<std::unique_ptr<Graph>> bodies;
  bodies.push_back(std::move(body_));
  Node* node = graph_.add_node(OpKind::Scan, std::move(operands), std::move(attrs), {}, names,
                               std::move(bodies));
  std::vector<Value*> results;
  for (size_t i = 0; i < node->num_results(); ++i) results.push_back(node->result(i));
  return results;
}

}  // namespace rnnc::ir
