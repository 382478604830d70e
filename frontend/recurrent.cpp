#include "frontend/recurrent.h"

#include <cassert>
#include <cmath>
#include <cstdio>

#include "frontend/cells.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "ir/scan_builder.h"

namespace rnnc::nn {

using ir::Value;
namespace build = ir::build;

namespace {

/// The lecture's eight LSTM variants: name and gates (input, forget, output).
struct Variant {
  const char* name;
  bool input, forget, output;
};
constexpr Variant kVariants[] = {
    {"none", false, false, false},        {"input", true, false, false},
    {"forget", false, true, false},       {"output", false, false, true},
    {"input+output", true, false, true},  {"input+forget", true, true, false},
    {"forget+output", false, true, true}, {"all", true, true, true},
};

/// The enumerator's name, for messages.
std::string cell_name(CellKind kind) {
  switch (kind) {
    case CellKind::RnnTanh:
      return "RnnTanh";
    case CellKind::RnnRelu:
      return "RnnRelu";
    case CellKind::Lstm:
      return "Lstm";
    case CellKind::LectureLstm:
      return "LectureLstm";
    case CellKind::Gru:
      return "Gru";
    case CellKind::LectureGru:
      return "LectureGru";
  }
  return "?";
}

/// "%name: f32[2, 3]", how messages show a value.
std::string describe(const Value* value) {
  return "%" + value->name() + " (" + value->type().to_string() + ")";
}

/// Slot `index` of a [L * D, B, H] state as [B, H].
Value* state_slot(Value* states, int64_t index) {
  const ir::Shape& shape = states->shape();
  Value* slot = build::slice(states, {index, 0, 0}, {index + 1, shape[1], shape[2]});
  return build::reshape(slot, {shape[1], shape[2]});
}

/// Final states [B, H] stacked to [N, B, H].
Value* stack_states(const std::vector<Value*>& states) {
  std::vector<Value*> slots;
  for (Value* state : states) {
    const ir::Shape& shape = state->shape();
    slots.push_back(build::reshape(state, {1, shape[0], shape[1]}));
  }
  return slots.size() == 1 ? slots[0] : build::concat(slots, 0);
}

}  // namespace

LstmGates LstmGates::parse(const std::string& variant) {
  for (const Variant& known : kVariants)
    if (variant == known.name) return {known.input, known.forget, known.output, false};
  std::string names;
  for (const Variant& known : kVariants)
    names += std::string(names.empty() ? "" : ", ") + known.name;
  throw Error("unknown LSTM variant '" + variant + "' (expected one of " + names + ")");
}

std::string LstmGates::name() const {
  for (const Variant& known : kVariants)
    if (input == known.input && forget == known.forget && output == known.output) return known.name;
  assert(false && "every combination of three gates is a variant");
  return "";
}

Recurrent::Recurrent(Model& model, const std::string& name, RecurrentConfig config)
    : config_(config), name_(name) {
  const std::string where = "Recurrent '" + name + "'";
  auto require_positive = [&](const char* what, int64_t value) {
    if (value < 1) throw Error(where + ": " + what + " must be >= 1, got " + std::to_string(value));
  };
  require_positive("input_size", config.input_size);
  require_positive("hidden_size", config.hidden_size);
  require_positive("num_layers", config.num_layers);
  const LstmGates& gates = config.gates;
  const LstmGates defaults;
  bool gates_given = gates.input != defaults.input || gates.forget != defaults.forget ||
                     gates.output != defaults.output || gates.peepholes != defaults.peepholes;
  if (gates_given && config.cell != CellKind::LectureLstm)
    throw Error(where + ": gates '" + gates.name() + (gates.peepholes ? "' with peepholes" : "'") +
                " are for CellKind::LectureLstm only, the cell is " + cell_name(config.cell));

  const int64_t directions = config.bidirectional ? 2 : 1;
  const double bound = 1.0 / std::sqrt(static_cast<double>(config.hidden_size));
  char init[80];
  std::snprintf(init, sizeof init, "uniform:%.17g,%.17g", -bound, bound);
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    int64_t width = layer == 0 ? config.input_size : directions * config.hidden_size;
    for (int64_t direction = 0; direction < directions; ++direction)
      for (const cells::ParameterSpec& spec : cells::parameter_specs(config, width))
        parameters_.push_back(model.parameter(
            cells::parameter_name(name, spec.short_name, layer, direction == 1), spec.shape, init));
  }
}

RecurrentResult Recurrent::operator()(Value* inputs, Value* lengths, Value* h0, Value* c0) const {
  const std::string where = "Recurrent '" + name_ + "'";
  const RecurrentConfig& config = config_;
  const ir::DType dtype = parameters_.front()->dtype();
  const bool has_cell = cells::has_cell_state(config.cell);
  if (inputs->type().rank() != 3)
    throw Error(where + ": input " + describe(inputs) + " must have rank 3 [T, B, " +
                std::to_string(config.input_size) + "]");
  if (inputs->shape()[2] != config.input_size)
    throw Error(where + ": input " + describe(inputs) +
                " must have last dimension input_size = " + std::to_string(config.input_size));
  if (inputs->dtype() != dtype)
    throw Error(where + ": input " + describe(inputs) + " must be " +
                std::string(ir::dtype_name(dtype)) + ", the parameters' dtype");
  const int64_t batch = inputs->shape()[1];
  const int64_t hidden = config.hidden_size;
  const int64_t directions = config.bidirectional ? 2 : 1;
  const int64_t slots = config.num_layers * directions;
  if (lengths && lengths->type() != ir::TensorType{ir::DType::i32, {batch}})
    throw Error(where + ": lengths " + describe(lengths) + " must be i32[" + std::to_string(batch) +
                "]");
  const ir::TensorType state_type{dtype, {slots, batch, hidden}};
  for (auto [label, given] : {std::pair<const char*, Value*>{"h0", h0}, {"c0", c0}})
    if (given && given->type() != state_type)
      throw Error(where + ": " + label + " " + describe(given) + " must be " +
                  state_type.to_string() + " [num_layers * directions, B, hidden_size]");
  if (c0 && !has_cell)
    throw Error(where + ": c0 " + describe(c0) + " given, but the cell " + cell_name(config.cell) +
                " has no cell state");

  ir::Graph& graph = build::graph_of(inputs);
  for (Value* value : {inputs, lengths, h0, c0})
    if (value && &build::graph_of(value) != parameters_.front()->producer()->owner())
      throw Error(where + ": " + describe(value) +
                  " belongs to another graph than the layer's parameters");
  const ir::TensorType zeros_type{dtype, {batch, hidden}};
  RecurrentResult result;
  std::vector<Value*> final_h, final_c;
  size_t next_parameter = 0;
  Value* layer_input = inputs;
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    const int64_t width = layer == 0 ? config.input_size : directions * hidden;
    std::vector<Value*> outputs;
    for (int64_t direction = 0; direction < directions; ++direction) {
      const int64_t slot = layer * directions + direction;
      const bool reverse = direction == 1;
      ir::ScanBuilder scan(graph,
                           name_ + "_l" + std::to_string(layer) + (reverse ? "_reverse" : ""));
      cells::CellState state;
      // The initial state of this slot: given, or zeros.
      auto initial = [&](Value* given, const std::string& what) {
        if (given) return state_slot(given, slot);
        return graph.add_constant(zeros_type, {0.0},
                                  cells::parameter_name(name_, what + "_zeros", layer, reverse));
      };
      state.h = scan.carry(initial(h0, "h0"), "h");
      if (has_cell) state.c = scan.carry(initial(c0, "c0"), "c");
      Value* x = scan.sequence(layer_input, "x");
      cells::CellParameters params;
      for (const cells::ParameterSpec& spec : cells::parameter_specs(config, width)) {
        Value* outer = parameters_.at(next_parameter++);
        assert(outer->shape() == spec.shape);
        params[spec.short_name] = scan.invariant(outer, spec.short_name);
      }
      cells::CellState next = cells::step(config, x, state, params);
      scan.set_next(state.h, next.h);
      if (has_cell) scan.set_next(state.c, next.c);
      scan.add_output("y", next.h);
      scan.set_reverse(reverse);
      if (lengths) scan.set_lengths(lengths);
      std::vector<Value*> results = scan.finish();
      final_h.push_back(results[0]);
      if (has_cell) final_c.push_back(results[1]);
      outputs.push_back(results.back());
    }
    Value* output = outputs.size() == 1 ? outputs[0] : build::concat(outputs, 2);
    if (config.residual && layer > 0) {
      // Layers after the first read D * H and write D * H: the widths always agree.
      assert(layer_input->shape() == output->shape());
      output = build::add(output, layer_input);
    }
    layer_input = output;
  }
  assert(next_parameter == parameters_.size());
  result.outputs = layer_input;
  result.h_n = stack_states(final_h);
  if (has_cell) result.c_n = stack_states(final_c);
  return result;
}

namespace {

/// `x` with its first two axes swapped; `what` names the caller in errors.
Value* swap_leading_axes(Value* x, const std::string& what) {
  if (x->type().rank() < 2) throw Error(what + ": " + describe(x) + " needs rank >= 2");
  std::vector<int64_t> perm(x->type().rank());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(i);
  std::swap(perm[0], perm[1]);
  return build::transpose(x, perm);
}

}  // namespace

Value* batch_first_to_time_major(Value* x) {
  return swap_leading_axes(x, "batch_first_to_time_major");
}

Value* time_major_to_batch_first(Value* x) {
  return swap_leading_axes(x, "time_major_to_batch_first");
}

Embedding::Embedding(Model& model, const std::string& name, int64_t num_embeddings, int64_t dim) {
  if (num_embeddings < 1 || dim < 1)
    throw Error("Embedding '" + name + "': sizes must be >= 1, got " +
                std::to_string(num_embeddings) + " x " + std::to_string(dim));
  weight_ = model.parameter(name + ".weight", {num_embeddings, dim}, "normal:0,1");
}

Value* Embedding::operator()(Value* indices) const {
  if (indices->dtype() != ir::DType::i32)
    throw Error("Embedding %" + weight_->name() + ": indices " + describe(indices) +
                " must be i32");
  if (&build::graph_of(indices) != &build::graph_of(weight_))
    throw Error("Embedding %" + weight_->name() + ": indices " + describe(indices) +
                " belong to another graph than the table");
  return build::gather(weight_, indices);
}

}  // namespace rnnc::nn
