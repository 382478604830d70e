#include "frontend/cells.h"

#include <cassert>

#include "ir/builder.h"

// Every step computes the operands of a node into locals before building the node, so that
// the node order (and thus the value names) does not depend on the order in which the
// compiler evaluates function arguments.

namespace rnnc::nn::cells {
namespace {

using ir::Value;
namespace build = ir::build;

/// Gate blocks stacked in the PyTorch-layout weights of `kind` (0 for the lecture's cells).
int64_t gate_blocks(CellKind kind) {
  switch (kind) {
    case CellKind::RnnTanh:
    case CellKind::RnnRelu:
      return 1;
    case CellKind::Lstm:
      return 4;
    case CellKind::Gru:
      return 3;
    case CellKind::LectureLstm:
    case CellKind::LectureGru:
      return 0;
  }
  return 0;
}

/// The parameter `name`, which the layout guarantees is present.
Value* get(const CellParameters& params, const std::string& name) {
  auto found = params.find(name);
  assert(found != params.end() && "cell parameter missing from the layout");
  return found->second;
}

/// The parameter `name`, or null when absent (biases without config.bias, peepholes).
Value* find(const CellParameters& params, const std::string& name) {
  auto found = params.find(name);
  return found == params.end() ? nullptr : found->second;
}

/// v W^T for v [B, k] and W [n, k] (PyTorch's weight layout): [B, n].
Value* times_transposed(Value* v, Value* weight) { return build::matmul(v, weight, false, true); }

/// `sum` + `bias` broadcast over the batch, or `sum` alone when there is no bias.
Value* plus_bias(Value* sum, Value* bias) {
  return bias ? build::add(sum, build::broadcast(bias, sum->shape())) : sum;
}

/// Block `index` of width `width` along the last axis of `gates` [B, G * width].
Value* block(Value* gates, int64_t index, int64_t width) {
  int64_t batch = gates->shape()[0];
  return build::slice(gates, {0, index * width}, {batch, (index + 1) * width});
}

/// `peephole` [H] times `cell` [B, H], elementwise per row.
Value* peephole_term(Value* peephole, Value* cell) {
  return build::mul(build::broadcast(peephole, cell->shape()), cell);
}

/// 1 - v, with the constant in v's graph.
Value* one_minus(Value* v) { return build::sub(build::full_like(v, 1.0), v); }

/// x W_ih^T + b_ih and h W_hh^T + b_hh of the PyTorch-layout cells.
std::pair<Value*, Value*> input_and_hidden_products(Value* x, Value* h,
                                                    const CellParameters& params) {
  Value* from_input =
      plus_bias(times_transposed(x, get(params, "weight_ih")), find(params, "bias_ih"));
  Value* from_hidden =
      plus_bias(times_transposed(h, get(params, "weight_hh")), find(params, "bias_hh"));
  return {from_input, from_hidden};
}

}  // namespace

bool has_cell_state(CellKind kind) {
  return kind == CellKind::Lstm || kind == CellKind::LectureLstm;
}

std::vector<ParameterSpec> parameter_specs(const RecurrentConfig& config, int64_t input_width) {
  const int64_t hidden = config.hidden_size;
  std::vector<ParameterSpec> specs;
  if (int64_t blocks = gate_blocks(config.cell); blocks > 0) {
    specs.push_back({"weight_ih", {blocks * hidden, input_width}});
    specs.push_back({"weight_hh", {blocks * hidden, hidden}});
    if (config.bias) {
      specs.push_back({"bias_ih", {blocks * hidden}});
      specs.push_back({"bias_hh", {blocks * hidden}});
    }
  } else if (config.cell == CellKind::LectureLstm) {
    const LstmGates& gates = config.gates;
    for (const auto& [gate, present] : {std::pair<std::string, bool>{"i", gates.input},
                                        {"f", gates.forget},
                                        {"c", true},
                                        {"o", gates.output}}) {
      if (!present) continue;
      specs.push_back({"W_x" + gate, {hidden, input_width}});
      specs.push_back({"W_h" + gate, {hidden, hidden}});
      if (config.bias) specs.push_back({"b_" + gate, {hidden}});
      if (gates.peepholes && gate != "c") specs.push_back({"w_c" + gate, {hidden}});
    }
  } else {
    for (const std::string gate : {"u", "r", "h"}) {
      specs.push_back({"W_" + gate, {hidden, hidden}});
      specs.push_back({"U_" + gate, {hidden, input_width}});
      if (config.bias) specs.push_back({"b_" + gate, {hidden}});
    }
  }
  return specs;
}

std::string parameter_name(const std::string& layer_name, const std::string& short_name,
                           int64_t layer, bool reverse) {
  return layer_name + "." + short_name + "_l" + std::to_string(layer) + (reverse ? "_reverse" : "");
}

CellState rnn_step(Value* x, const CellState& state, const CellParameters& params, bool relu) {
  auto [from_input, from_hidden] = input_and_hidden_products(x, state.h, params);
  Value* pre = build::add(from_input, from_hidden);
  return {relu ? build::relu(pre) : build::tanh(pre), nullptr};
}

CellState lstm_step(Value* x, const CellState& state, const CellParameters& params) {
  const int64_t hidden = state.h->shape()[1];
  auto [from_input, from_hidden] = input_and_hidden_products(x, state.h, params);
  Value* gates = build::add(from_input, from_hidden);
  Value* input_gate = build::sigmoid(block(gates, 0, hidden));
  Value* forget_gate = build::sigmoid(block(gates, 1, hidden));
  Value* candidate = build::tanh(block(gates, 2, hidden));
  Value* output_gate = build::sigmoid(block(gates, 3, hidden));
  Value* kept = build::mul(forget_gate, state.c);
  Value* written = build::mul(input_gate, candidate);
  Value* c = build::add(kept, written);
  Value* h = build::mul(output_gate, build::tanh(c));
  return {h, c};
}

CellState gru_step(Value* x, const CellState& state, const CellParameters& params) {
  const int64_t hidden = state.h->shape()[1];
  auto [from_input, from_hidden] = input_and_hidden_products(x, state.h, params);
  // Block k of the input and of the hidden products: r, z, n.
  auto blocks = [&](int64_t k) {
    Value* of_input = block(from_input, k, hidden);
    return std::pair{of_input, block(from_hidden, k, hidden)};
  };
  auto [input_r, hidden_r] = blocks(0);
  Value* reset = build::sigmoid(build::add(input_r, hidden_r));
  auto [input_z, hidden_z] = blocks(1);
  Value* update = build::sigmoid(build::add(input_z, hidden_z));
  auto [input_n, hidden_n] = blocks(2);
  Value* candidate = build::tanh(build::add(input_n, build::mul(reset, hidden_n)));
  Value* new_part = build::mul(one_minus(update), candidate);
  Value* old_part = build::mul(update, state.h);
  return {build::add(new_part, old_part), nullptr};
}

CellState lecture_lstm_step(Value* x, const CellState& state, const CellParameters& params,
                            const LstmGates& gates) {
  // W_x* x + W_h* h (+ b_*) of gate `gate`.
  auto products = [&](const std::string& gate) {
    Value* of_input = times_transposed(x, get(params, "W_x" + gate));
    Value* of_hidden = times_transposed(state.h, get(params, "W_h" + gate));
    return plus_bias(build::add(of_input, of_hidden), find(params, "b_" + gate));
  };
  // sigmoid(products + w_c* * cell) of gate `gate`, the peephole term when configured.
  auto gate_value = [&](const std::string& gate, Value* cell) {
    Value* pre = products(gate);
    if (Value* peephole = find(params, "w_c" + gate))
      pre = build::add(pre, peephole_term(peephole, cell));
    return build::sigmoid(pre);
  };
  Value* input_gate = gates.input ? gate_value("i", state.c) : nullptr;
  Value* forget_gate = gates.forget ? gate_value("f", state.c) : nullptr;
  Value* candidate = build::tanh(products("c"));
  Value* kept = forget_gate ? build::mul(forget_gate, state.c) : state.c;
  Value* written = input_gate ? build::mul(input_gate, candidate) : candidate;
  Value* c = build::add(kept, written);
  Value* output_gate = gates.output ? gate_value("o", c) : nullptr;
  Value* squashed = build::tanh(c);
  Value* h = output_gate ? build::mul(output_gate, squashed) : squashed;
  return {h, c};
}

CellState lecture_gru_step(Value* x, const CellState& state, const CellParameters& params) {
  // W_* r + U_* x + b_* of gate `gate`, r the given recurrent operand.
  auto products = [&](const std::string& gate, Value* recurrent) {
    Value* of_hidden = times_transposed(recurrent, get(params, "W_" + gate));
    Value* of_input = times_transposed(x, get(params, "U_" + gate));
    return plus_bias(build::add(of_hidden, of_input), find(params, "b_" + gate));
  };
  Value* update = build::sigmoid(products("u", state.h));
  Value* reset = build::sigmoid(products("r", state.h));
  Value* candidate = build::tanh(products("h", build::mul(reset, state.h)));
  Value* old_part = build::mul(one_minus(update), state.h);
  Value* new_part = build::mul(update, candidate);
  return {build::add(old_part, new_part), nullptr};
}

CellState step(const RecurrentConfig& config, Value* x, const CellState& state,
               const CellParameters& params) {
  switch (config.cell) {
    case CellKind::RnnTanh:
      return rnn_step(x, state, params, false);
    case CellKind::RnnRelu:
      return rnn_step(x, state, params, true);
    case CellKind::Lstm:
      return lstm_step(x, state, params);
    case CellKind::Gru:
      return gru_step(x, state, params);
    case CellKind::LectureLstm:
      return lecture_lstm_step(x, state, params, config.gates);
    case CellKind::LectureGru:
      return lecture_gru_step(x, state, params);
  }
  return {};
}

}  // namespace rnnc::nn::cells
