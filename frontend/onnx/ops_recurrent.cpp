// ONNX's RNN, LSTM and GRU: one scan per direction, whose body is the cell built from
// primitives (there is no recurrent op in the IR), with every attribute and optional input
// of the ONNX operators (see docs/onnx.md).
#include <algorithm>
#include <cctype>

#include "frontend/onnx/ops_util.h"
#include "ir/builder.h"
#include "ir/scan_builder.h"

namespace rnnc::onnx_import {

namespace {

namespace build = ir::build;
using ir::Value;

enum class Cell { Rnn, Lstm, Gru };

/// An activation function with its alpha and beta.
struct Activation {
  std::string name;  ///< lower case
  double alpha = 0.0;
  double beta = 0.0;
};

/// Default alpha and beta of the activations that take them (as onnxruntime).
struct ActivationDefaults {
  const char* name;
  bool uses_alpha, uses_beta;
  double alpha, beta;
};
constexpr ActivationDefaults kActivations[] = {
    {"relu", false, false, 0, 0},         {"tanh", false, false, 0, 0},
    {"sigmoid", false, false, 0, 0},      {"affine", true, true, 1.0, 0.0},
    {"leakyrelu", true, false, 0.01, 0},  {"thresholdedrelu", true, false, 1.0, 0},
    {"scaledtanh", true, true, 1.0, 1.0}, {"hardsigmoid", true, true, 0.2, 0.5},
    {"elu", true, false, 1.0, 0},         {"softsign", false, false, 0, 0},
    {"softplus", false, false, 0, 0},
};

/// f(x) for activation `f`, built next to x.
Value* activate(const Activation& f, Value* x) {
  auto constant = [&](double v) { return build::full_like(x, v); };
  const std::string& name = f.name;
  if (name == "relu") return build::relu(x);
  if (name == "tanh") return build::tanh(x);
  if (name == "sigmoid") return build::sigmoid(x);
  if (name == "affine") return build::add(build::mul(constant(f.alpha), x), constant(f.beta));
  if (name == "leakyrelu")
    return build::add(build::max(x, constant(0.0)),
                      build::mul(constant(f.alpha), build::min(x, constant(0.0))));
  if (name == "thresholdedrelu")
    return build::select(build::greater(x, constant(f.alpha)), x, constant(0.0));
  if (name == "scaledtanh")
    return build::mul(constant(f.alpha), build::tanh(build::mul(constant(f.beta), x)));
  if (name == "hardsigmoid") {
    Value* linear = build::add(build::mul(constant(f.alpha), x), constant(f.beta));
    return build::min(build::max(linear, constant(0.0)), constant(1.0));
  }
  if (name == "elu") {
    Value* negative = build::mul(constant(f.alpha), build::sub(build::exp(x), constant(1.0)));
    return build::select(build::less(x, constant(0.0)), negative, x);
  }
  if (name == "softsign") return build::div(x, build::add(constant(1.0), build::abs(x)));
  return build::log(build::add(constant(1.0), build::exp(x)));  // softplus
}

/// Everything the attributes and inputs of one recurrent node say.
struct RecurrentSpec {
  Cell cell = Cell::Rnn;
  int64_t gates = 1;  ///< weight blocks: 1, 4 (i, o, f, c), 3 (z, r, h)
  int64_t directions = 1;
  bool bidirectional = false, reverse_only = false;
  int64_t hidden = 0, batch = 0, steps = 0, input_size = 0;
  bool batch_major = false;  ///< layout 1
  double clip = 0.0;         ///< 0: no clipping
  bool input_forget = false, linear_before_reset = false;
  /// Activations of each direction (f, g, h as the cell uses them).
  std::vector<std::vector<Activation>> activations;
};

/// The activations, alphas and betas of the node, checked and completed with defaults.
std::vector<std::vector<Activation>> parse_activations(const NodeContext& context, Cell cell,
                                                       int64_t directions) {
  std::vector<std::string> defaults = cell == Cell::Rnn ? std::vector<std::string>{"Tanh"}
                                      : cell == Cell::Lstm
                                          ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                          : std::vector<std::string>{"Sigmoid", "Tanh"};
  const size_t per_direction = defaults.size();
  std::vector<std::string> names = context.attr_strings("activations");
  if (names.empty())
    for (int64_t d = 0; d < directions; ++d)
      names.insert(names.end(), defaults.begin(), defaults.end());
  if (names.size() == per_direction && directions == 2)
    names.insert(names.end(), names.begin(), names.end());
  if (names.size() != per_direction * directions)
    throw context.error("activations lists " + std::to_string(names.size()) +
                        " functions; the cell needs " + std::to_string(per_direction) +
                        " per direction");
  std::vector<double> alphas = context.attr_floats("activation_alpha");
  std::vector<double> betas = context.attr_floats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  std::vector<std::vector<Activation>> result(directions);
  for (size_t i = 0; i < names.size(); ++i) {
    Activation f;
    for (char c : names[i])
      f.name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const ActivationDefaults* known = nullptr;
    for (const ActivationDefaults& candidate : kActivations)
      if (f.name == candidate.name) known = &candidate;
    if (!known) throw context.error("activation '" + names[i] + "' is not supported");
    if (known->uses_alpha)
      f.alpha = next_alpha < alphas.size() ? alphas[next_alpha++] : known->alpha;
    if (known->uses_beta) f.beta = next_beta < betas.size() ? betas[next_beta++] : known->beta;
    result[i / per_direction].push_back(f);
  }
  if (next_alpha < alphas.size() || next_beta < betas.size())
    throw context.error(
        "activation_alpha or activation_beta has more values than the "
        "activations use");
  return result;
}

/// Checks that input `i`, when present, has type `expected` (`layout` explains it).
void expect_type(const NodeContext& context, size_t i, const ir::TensorType& expected,
                 const std::string& layout) {
  if (!context.has_input(i)) return;
  if (context.input_type(i) != expected)
    throw context.error("input '" + context.input_name(i) + "' is " +
                        context.input_type(i).to_string() + ", expected " + expected.to_string() +
                        " " + layout);
}

RecurrentSpec parse_spec(NodeContext& context, Cell cell) {
  RecurrentSpec spec;
  spec.cell = cell;
  spec.gates = cell == Cell::Rnn ? 1 : cell == Cell::Lstm ? 4 : 3;
  const size_t max_inputs = cell == Cell::Lstm ? 8 : 6;
  context.expect_inputs(3, max_inputs);
  if (cell == Cell::Lstm)
    context.expect_attributes({"activation_alpha", "activation_beta", "activations", "clip",
                               "direction", "hidden_size", "layout", "input_forget"});
  else if (cell == Cell::Gru)
    context.expect_attributes({"activation_alpha", "activation_beta", "activations", "clip",
                               "direction", "hidden_size", "layout", "linear_before_reset"});
  else
    context.expect_attributes({"activation_alpha", "activation_beta", "activations", "clip",
                               "direction", "hidden_size", "layout"});
  const std::string direction = context.attr_string("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    throw context.error("direction '" + direction +
                        "' is not one of forward, reverse, bidirectional");
  spec.bidirectional = direction == "bidirectional";
  spec.reverse_only = direction == "reverse";
  spec.directions = spec.bidirectional ? 2 : 1;
  const int64_t layout = context.attr_int("layout", 0);
  if (layout != 0 && layout != 1)
    throw context.error("layout " + std::to_string(layout) + " is not 0 or 1");
  spec.batch_major = layout == 1;
  spec.clip = context.attr_float("clip", 0.0);
  if (context.has_attr("clip") && !(spec.clip > 0.0))
    throw context.error("clip must be positive, got " + std::to_string(spec.clip));
  const int64_t input_forget = context.attr_int("input_forget", 0);
  const int64_t linear_before_reset = context.attr_int("linear_before_reset", 0);
  if ((input_forget != 0 && input_forget != 1) ||
      (linear_before_reset != 0 && linear_before_reset != 1))
    throw context.error("input_forget and linear_before_reset must be 0 or 1");
  spec.input_forget = input_forget == 1;
  spec.linear_before_reset = linear_before_reset == 1;
  spec.activations = parse_activations(context, cell, spec.directions);

  const ir::TensorType& x = context.input_type(0);
  if (x.rank() != 3 || !ir::is_float(x.dtype))
    throw context.error("X '" + context.input_name(0) + "' is " + x.to_string() +
                        ", expected a float tensor of rank 3");
  spec.steps = x.shape[spec.batch_major ? 1 : 0];
  spec.batch = x.shape[spec.batch_major ? 0 : 1];
  spec.input_size = x.shape[2];
  const ir::TensorType& r = context.input_type(2);
  if (r.rank() != 3) throw context.error("R must have rank 3 [directions, gates * hidden, hidden]");
  spec.hidden = r.shape[2];
  if (context.has_attr("hidden_size") && context.attr_int("hidden_size", 0) != spec.hidden)
    throw context.error("hidden_size " + std::to_string(context.attr_int("hidden_size", 0)) +
                        " contradicts R " + r.to_string());
  if (spec.hidden < 1 || spec.steps < 1 || spec.batch < 1 || spec.input_size < 1)
    throw context.error("X " + x.to_string() + " and R " + r.to_string() +
                        " must have non-empty dimensions");
  const ir::DType dtype = x.dtype;
  const int64_t d = spec.directions, g = spec.gates, h = spec.hidden, b = spec.batch;
  expect_type(context, 1, {dtype, {d, g * h, spec.input_size}},
              "[directions, gates * hidden, input]");
  expect_type(context, 2, {dtype, {d, g * h, h}}, "[directions, gates * hidden, hidden]");
  expect_type(context, 3, {dtype, {d, 2 * g * h}}, "[directions, 2 * gates * hidden]");
  expect_type(context, 4, {ir::DType::i32, {b}}, "[batch]");
  const ir::Shape state = spec.batch_major ? ir::Shape{b, d, h} : ir::Shape{d, b, h};
  expect_type(context, 5, {dtype, state},
              spec.batch_major ? "[batch, directions, hidden]" : "[directions, batch, hidden]");
  if (cell == Cell::Lstm) {
    expect_type(context, 6, {dtype, state}, "like initial_h");
    expect_type(context, 7, {dtype, {d, 3 * h}}, "[directions, 3 * hidden]");
  }
  return spec;
}

/// Row `index` of the leading axis of `x`, without that axis.
Value* slot(Value* x, int64_t index) {
  ir::Shape shape = x->shape();
  std::vector<int64_t> low(shape.size(), 0), high = shape;
  low[0] = index;
  high[0] = index + 1;
  ir::Shape rest(shape.begin() + 1, shape.end());
  return build::reshape(build::slice(x, low, high), rest);
}

/// Rows [from, to) of the leading axis of `x`.
Value* rows(Value* x, int64_t from, int64_t to) {
  ir::Shape shape = x->shape();
  std::vector<int64_t> low(shape.size(), 0), high = shape;
  low[0] = from;
  high[0] = to;
  return build::slice(x, low, high);
}

/// Block `index` of width `width` along the last axis of a [B, n] value.
Value* block(Value* x, int64_t index, int64_t width) {
  return build::slice(x, {0, index * width}, {x->shape()[0], (index + 1) * width});
}

/// v W^T (+ bias broadcast over rows).
Value* affine(Value* v, Value* weight, Value* bias) {
  Value* product = build::matmul(v, weight, false, true);
  return bias ? build::add(product, build::broadcast(bias, product->shape())) : product;
}

/// One direction's weights as the body sees them (bias and peepholes may be null).
struct DirectionWeights {
  Value *w = nullptr, *r = nullptr, *wb = nullptr, *rb = nullptr, *p = nullptr;
  Value *r_h = nullptr, *rb_h = nullptr;  ///< GRU without linear_before_reset: h block of R
};

/// The cell's next (h, c) from x, h, c and the weights, built in the scan body.
std::pair<Value*, Value*> cell_step(const RecurrentSpec& spec, const std::vector<Activation>& fs,
                                    Value* x, Value* h, Value* c, const DirectionWeights& w) {
  const int64_t hidden = spec.hidden;
  auto clip = [&](Value* v) {
    if (spec.clip <= 0.0) return v;
    Value* low = build::max(v, build::full_like(v, -spec.clip));
    return build::min(low, build::full_like(v, spec.clip));
  };
  Value* from_x = affine(x, w.w, w.wb);
  if (spec.cell == Cell::Rnn)
    return {activate(fs[0], clip(build::add(from_x, affine(h, w.r, w.rb)))), nullptr};
  if (spec.cell == Cell::Lstm) {
    Value* gates = build::add(from_x, affine(h, w.r, w.rb));
    // P holds the peepholes of i, o, f in that order.
    auto peephole = [&](int64_t index, Value* cell) -> Value* {
      Value* weights = build::slice(w.p, {index * hidden}, {(index + 1) * hidden});
      return build::mul(build::broadcast(weights, cell->shape()), cell);
    };
    Value* i_pre = block(gates, 0, hidden);
    Value* o_pre = block(gates, 1, hidden);
    Value* f_pre = block(gates, 2, hidden);
    Value* c_pre = block(gates, 3, hidden);
    if (w.p) i_pre = build::add(i_pre, peephole(0, c));
    Value* i = activate(fs[0], clip(i_pre));
    Value* f = nullptr;
    if (spec.input_forget) {
      f = build::sub(build::full_like(i, 1.0), i);
    } else {
      if (w.p) f_pre = build::add(f_pre, peephole(2, c));
      f = activate(fs[0], clip(f_pre));
    }
    Value* candidate = activate(fs[1], clip(c_pre));
    Value* next_c = build::add(build::mul(f, c), build::mul(i, candidate));
    if (w.p) o_pre = build::add(o_pre, peephole(1, next_c));
    Value* o = activate(fs[0], clip(o_pre));
    return {build::mul(o, activate(fs[2], next_c)), next_c};
  }
  // GRU: blocks z, r, h.
  Value* from_h = affine(h, w.r, w.rb);
  Value* z = activate(fs[0], clip(build::add(block(from_x, 0, hidden), block(from_h, 0, hidden))));
  Value* r = activate(fs[0], clip(build::add(block(from_x, 1, hidden), block(from_h, 1, hidden))));
  Value* recurrent = spec.linear_before_reset ? build::mul(r, block(from_h, 2, hidden))
                                              : affine(build::mul(r, h), w.r_h, w.rb_h);
  Value* candidate = activate(fs[1], clip(build::add(block(from_x, 2, hidden), recurrent)));
  Value* one_minus_z = build::sub(build::full_like(z, 1.0), z);
  return {build::add(build::mul(one_minus_z, candidate), build::mul(z, h)), nullptr};
}

void convert_recurrent(NodeContext& context, Cell cell) {
  RecurrentSpec spec = parse_spec(context, cell);
  ir::Graph& graph = context.graph();
  const int64_t hidden = spec.hidden, gh = spec.gates * hidden;
  Value* x = context.input(0);
  if (spec.batch_major) x = build::transpose(x, {1, 0, 2});
  Value* lengths = nullptr;
  if (context.has_input(4)) {
    const HostTensor* known = context.constant(4);
    bool all_full = known != nullptr;
    if (known)
      for (int64_t length : known->ints) {
        if (length < 1 || length > spec.steps)
          throw context.error("sequence_lens entry " + std::to_string(length) + " is outside [1, " +
                              std::to_string(spec.steps) + "]");
        all_full = all_full && length == spec.steps;
      }
    if (!all_full) lengths = context.input(4);
  }
  // States [D, B, H] (layout 1 gives [B, D, H]).
  auto state_input = [&](size_t i) -> Value* {
    if (!context.has_input(i)) return nullptr;
    Value* v = context.input(i);
    return spec.batch_major ? build::transpose(v, {1, 0, 2}) : v;
  };
  Value* initial_h = state_input(5);
  Value* initial_c = cell == Cell::Lstm ? state_input(6) : nullptr;
  Value* w_all = context.input(1);
  Value* r_all = context.input(2);
  Value* b_all = context.has_input(3) ? context.input(3) : nullptr;
  Value* p_all = cell == Cell::Lstm && context.has_input(7) ? context.input(7) : nullptr;
  const std::string base =
      sanitize_name(context.output_name(0).empty() ? context.op() : context.output_name(0));
  std::vector<Value*> ys, final_h, final_c;
  for (int64_t d = 0; d < spec.directions; ++d) {
    const bool reverse = spec.reverse_only || d == 1;
    ir::ScanBuilder scan(graph, base + (reverse ? "_reverse" : "_forward"));
    const ir::TensorType state_type{x->dtype(), {spec.batch, hidden}};
    auto initial = [&](Value* given) {
      return given ? slot(given, d) : graph.add_constant(state_type, {0.0}, base + "_zeros");
    };
    Value* h = scan.carry(initial(initial_h), "h");
    Value* c = cell == Cell::Lstm ? scan.carry(initial(initial_c), "c") : nullptr;
    Value* step_x = scan.sequence(x, "x");
    DirectionWeights w;
    Value* r_d = slot(r_all, d);
    w.w = scan.invariant(slot(w_all, d), "W");
    Value* b_d = b_all ? slot(b_all, d) : nullptr;
    Value* rb_d = b_d ? build::slice(b_d, {gh}, {2 * gh}) : nullptr;
    if (b_d) w.wb = scan.invariant(build::slice(b_d, {0}, {gh}), "Wb");
    if (cell == Cell::Gru && !spec.linear_before_reset) {
      // The h block of R multiplies r * h, so it is kept apart from the z and r blocks.
      w.r = scan.invariant(rows(r_d, 0, 2 * hidden), "R");
      w.r_h = scan.invariant(rows(r_d, 2 * hidden, gh), "Rh");
      if (rb_d) {
        w.rb = scan.invariant(build::slice(rb_d, {0}, {2 * hidden}), "Rb");
        w.rb_h = scan.invariant(build::slice(rb_d, {2 * hidden}, {gh}), "Rbh");
      }
    } else {
      w.r = scan.invariant(r_d, "R");
      if (rb_d) w.rb = scan.invariant(rb_d, "Rb");
    }
    if (p_all) w.p = scan.invariant(slot(p_all, d), "P");
    auto [next_h, next_c] = cell_step(spec, spec.activations[d], step_x, h, c, w);
    scan.set_next(h, next_h);
    if (c) scan.set_next(c, next_c);
    scan.add_output("y", next_h);
    scan.set_reverse(reverse);
    if (lengths) scan.set_lengths(lengths);
    std::vector<Value*> results = scan.finish();
    final_h.push_back(build::reshape(results[0], {1, spec.batch, hidden}));
    if (c) final_c.push_back(build::reshape(results[1], {1, spec.batch, hidden}));
    ys.push_back(build::reshape(results.back(), {spec.steps, 1, spec.batch, hidden}));
  }
  auto join = [](const std::vector<Value*>& parts, int64_t axis) {
    return parts.size() == 1 ? parts[0] : build::concat(parts, axis);
  };
  Value* y = join(ys, 1);
  Value* y_h = join(final_h, 0);
  Value* y_c = final_c.empty() ? nullptr : join(final_c, 0);
  if (spec.batch_major) {
    y = build::transpose(y, {2, 0, 1, 3});
    y_h = build::transpose(y_h, {1, 0, 2});
    if (y_c) y_c = build::transpose(y_c, {1, 0, 2});
  }
  context.set_output(0, y);
  context.set_output(1, y_h);
  if (y_c) context.set_output(2, y_c);
  if (context.num_outputs() > (cell == Cell::Lstm ? 3u : 2u))
    throw context.error("has more outputs than " + context.op() + " defines");
}

void convert_rnn(NodeContext& context) { convert_recurrent(context, Cell::Rnn); }
void convert_lstm(NodeContext& context) { convert_recurrent(context, Cell::Lstm); }
void convert_gru(NodeContext& context) { convert_recurrent(context, Cell::Gru); }

}  // namespace

void add_recurrent_ops(OpTable& table) {
  table["RNN"] = convert_rnn;
  table["LSTM"] = convert_lstm;
  table["GRU"] = convert_gru;
}

}  // namespace rnnc::onnx_import
