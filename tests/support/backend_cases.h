#pragma once
// The graphs and data the backend tests run against the interpreter (backend_test on every
// backend, cuda_emulation_test on the CUDA emulator): the lecture's model files, a small RNN,
// every op, edge values, random graphs made f32.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ir/builder.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"
#include "runtime/initializers.h"
#include "tests/support/random_graph.h"

namespace rnnc::cases {

using namespace ir;

/// Inputs for a model file: f32 uniform in [-1, 1]; i32 in [0, 2), except "lengths" [B] in
/// [1, T] where another i32 input is [B, T].
inline Bindings model_inputs(const Graph& graph, uint64_t seed) {
  Bindings inputs;
  testgen::SplitMix rng(seed);
  std::vector<Node*> nodes = graph.nodes_of(OpKind::Input);
  for (Node* node : nodes) {
    const TensorType& type = node->result()->type();
    const std::string& name = node->result()->name();
    std::vector<double> values(type.num_elements());
    int64_t steps = 0;
    if (name == "lengths")
      for (Node* other : nodes)
        if (other->result()->dtype() == DType::i32 && other->result()->type().rank() == 2 &&
            other->result()->shape()[0] == type.shape.at(0))
          steps = other->result()->shape()[1];
    for (double& v : values)
      v = type.dtype != DType::i32 ? rng.unit() : steps ? rng.between(1, steps) : rng.below(2);
    inputs[name] = Tensor::from_doubles(type.dtype, type.shape, values);
  }
  return inputs;
}

/// The longest scan (trip count) of `graph`'s top level.
inline int64_t longest_sequence(const Graph& graph) {
  int64_t longest = 0;
  for (Node* scan : graph.nodes_of(OpKind::Scan))
    longest = std::max(longest, scan->operand(scan->attrs().get_int("num_carry"))->shape()[0]);
  return longest;
}

/// `text` with every whole number `from` replaced by `to` (a model's batch or length).
inline std::string replace_number(const std::string& text, const std::string& from,
                                  const std::string& to) {
  std::string result;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      result += text[i++];
      continue;
    }
    size_t end = i;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    char before = i ? text[i - 1] : ' ';
    bool whole = !std::isalnum(static_cast<unsigned char>(before)) && before != '_' &&
                 before != '.' && before != '-';
    result += whole && text.compare(i, end - i, from) == 0 ? to : text.substr(i, end - i);
    i = end;
  }
  return result;
}

/// A model file's graph (resized), its initialized state (optimizer state mid-training) and
/// inputs.
struct Model {
  std::unique_ptr<Graph> graph;
  Bindings inputs, state;
};

inline Model load_model(const std::string& file,
                        const std::vector<std::pair<std::string, std::string>>& resize = {}) {
  std::string path = std::string(RNNC_SOURCE_DIR) + "/examples/models/" + file;
  std::ifstream stream(path);
  std::string text((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  for (const auto& [from, to] : resize) text = replace_number(text, from, to);
  Model model;
  model.graph = parse_graph(text, path);
  verify(*model.graph);
  model.state = initialize_parameters(*model.graph, 3);
  testgen::SplitMix rng(5);
  for (Node* node : model.graph->nodes_of(OpKind::Parameter)) {
    if (node->attrs().get_str("role") != "state") continue;
    Tensor& tensor = model.state.at(node->result()->name());
    for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.set(i, 0.75 + 0.25 * rng.unit());
  }
  model.inputs = model_inputs(*model.graph, 7);
  return model;
}

/// h_t = tanh(h_{t-1} W + x_t) over xs [T, B, H] with optional lengths; outputs the final h and
/// sigmoid(h_t) per step.
inline std::unique_ptr<Graph> rnn(DType dtype, int64_t steps, int64_t batch, int64_t hidden,
                                  bool reverse, bool lengths) {
  auto graph = std::make_unique<Graph>("rnn");
  Value* xs = graph->add_input("xs", {dtype, {steps, batch, hidden}});
  Value* h0 = graph->add_input("h0", {dtype, {batch, hidden}});
  Value* w = graph->add_parameter("w", {dtype, {hidden, hidden}}, "zeros");
  ScanBuilder scan(*graph, "step");
  Value* h = scan.carry(h0, "h");
  Value* x = scan.sequence(xs, "x");
  Value* wi = scan.invariant(w, "w");
  Value* next = build::tanh(build::add(build::matmul(h, wi), x));
  scan.set_next(h, next);
  scan.add_output("y", build::sigmoid(next));
  scan.set_reverse(reverse);
  if (lengths) scan.set_lengths(graph->add_input("lengths", {DType::i32, {batch}}));
  std::vector<Value*> results = scan.finish();
  graph->add_output("h_final", results[0]);
  graph->add_output("ys", results[1]);
  return graph;
}

/// An outer scan over xss [T1, T2, B, H] (f64) whose body runs an inner reversed scan over its
/// slice [T2, B, H]; the inner carry starts from the outer one.
inline std::unique_ptr<Graph> nested_scans() {
  auto graph = std::make_unique<Graph>("nested");
  Value* xss = graph->add_input("xss", {DType::f64, {3, 4, 2, 3}});
  Value* h0 = graph->add_input("h0", {DType::f64, {2, 3}});
  Value* w = graph->add_parameter("w", {DType::f64, {3, 3}}, "zeros");
  ScanBuilder outer(*graph, "outer");
  Value* h = outer.carry(h0, "h");
  Value* xs = outer.sequence(xss, "xs");
  Value* w_outer = outer.invariant(w, "w");
  ScanBuilder inner(outer.body(), "inner");
  Value* g = inner.carry(h, "g");
  Value* x = inner.sequence(xs, "x");
  Value* w_inner = inner.invariant(w_outer, "w");
  inner.set_reverse(true);
  Value* next = build::tanh(build::add(build::matmul(g, w_inner), x));
  inner.set_next(g, next);
  inner.add_output("y", build::mul(next, x));
  std::vector<Value*> inner_results = inner.finish();
  outer.set_next(h, build::sigmoid(inner_results[0]));
  outer.add_output("ys", inner_results[1]);
  std::vector<Value*> results = outer.finish();
  graph->add_output("h_T", results[0]);
  graph->add_output("ys", results[1]);
  return graph;
}

/// Random data for every input and parameter of `graph`: floats in [-1, 1), i32 in {1, 2}.
inline Bindings random_bindings(const Graph& graph, uint64_t seed, Bindings& state) {
  Bindings inputs;
  testgen::SplitMix rng(seed);
  for (const auto& node : graph.nodes()) {
    const TensorType& type = node->result()->type();
    if (node->kind() != OpKind::Input && node->kind() != OpKind::Parameter) continue;
    std::vector<double> values(type.num_elements());
    for (double& v : values) v = type.dtype == DType::i32 ? rng.between(1, 2) : rng.unit();
    Tensor tensor = Tensor::from_doubles(type.dtype, type.shape, values);
    (node->kind() == OpKind::Input ? inputs : state)[node->result()->name()] = tensor;
  }
  return inputs;
}

/// Every elementwise op, reduction, layout op, matmul, gather, scatter_add, coalesce_rows and
/// scatter_rows over inputs of
/// `dtype`; for i32 the operands are small integers and divisors are never zero.
inline std::unique_ptr<Graph> every_op(DType dtype) {
  auto graph = std::make_unique<Graph>(std::string("every_op_") + std::string(dtype_name(dtype)));
  Value* a = graph->add_input("a", {dtype, {3, 4}});
  Value* b = graph->add_input("b", {dtype, {3, 4}});
  Value* ids = graph->add_input("ids", {DType::i32, {5}});
  Value* positive = build::add(build::abs(b), build::full(*graph, {dtype, {3, 4}}, 1.0));
  std::vector<std::pair<std::string, Value*>> outputs = {
      {"neg", build::neg(a)},
      {"abs", build::abs(a)},
      {"sign", build::sign(a)},
      {"relu", build::relu(a)},
      {"cast", build::cast(build::cast(a, dtype == DType::i32 ? DType::f32 : DType::i32), dtype)},
      {"cast_f64", build::cast(a, DType::f64)},
      {"add", build::add(a, b)},
      {"sub", build::sub(a, b)},
      {"mul", build::mul(a, b)},
      {"div", build::div(a, positive)},
      {"max", build::max(a, b)},
      {"min", build::min(a, b)},
      {"greater", build::greater(a, b)},
      {"less", build::less(a, b)},
      {"equal", build::equal(a, b)},
      {"select", build::select(build::greater(a, b), a, b)},
      {"broadcast", build::broadcast(build::reduce_sum(a, {0}), {2, 3, 4})},
      {"transpose", build::transpose(a, {1, 0})},
      {"slice", build::slice(a, {1, 1}, {3, 3})},
      {"pad", build::pad(a, {1, 0}, {0, 2})},
      {"concat", build::concat({a, b, a}, 1)},
      {"concat0", build::concat({a, b}, 0)},
      {"reshape", build::reshape(build::transpose(a, {1, 0}), {2, 6})},
      {"reduce_sum", build::reduce_sum(a, {1})},
      {"reduce_sum_all", build::reduce_sum(a, {0, 1})},
      {"reduce_max", build::reduce_max(a, {0})},
      {"matmul", build::matmul(a, b, false, true)},
      {"matmul_ta", build::matmul(a, b, true, false)},
      {"matmul_tatb", build::matmul(build::transpose(a, {1, 0}), b, true, true)},
      {"batched_matmul", build::matmul(build::reshape(a, {2, 3, 2}), build::reshape(b, {2, 2, 3}))},
      {"gather", build::gather(a, build::full(*graph, {DType::i32, {2, 2}}, 2.0))},
      {"gather_ids", build::gather(build::transpose(a, {1, 0}), ids)},
      {"scatter_add",
       build::scatter_add(ids, build::gather(build::transpose(b, {1, 0}), ids), {4, 3})},
      {"coalesce_rows",
       build::coalesce_rows(ids, build::gather(build::transpose(b, {1, 0}), ids), 4)},
      {"scatter_rows",
       build::scatter_rows(build::transpose(a, {1, 0}), ids,
                           build::neg(build::gather(build::transpose(b, {1, 0}), ids)))},
  };
  if (is_float(dtype)) {
    // Ops that take floats only.
    outputs.insert(outputs.end(), {{"exp", build::exp(a)},
                                   {"log", build::log(positive)},
                                   {"sqrt", build::sqrt(positive)},
                                   {"tanh", build::tanh(a)},
                                   {"sigmoid", build::sigmoid(a)},
                                   {"pow", build::pow(positive, build::abs(a))},
                                   {"reduce_mean", build::reduce_mean(a, {0, 1})}});
  }
  for (const auto& [name, value] : outputs) graph->add_output(name, value);
  return graph;
}

/// `random` with every f64 value made f32 (the generator makes f64 graphs only).
inline testgen::RandomGraph single_precision(const testgen::RandomGraph& random) {
  std::string text = ir::print_graph(*random.graph);
  for (size_t at = text.find("f64"); at != std::string::npos; at = text.find("f64", at))
    text.replace(at, 3, "f32");
  testgen::RandomGraph result;
  result.graph = parse_graph(text, random.graph->name() + "_f32");
  verify(*result.graph);
  for (const auto& [name, tensor] : random.inputs) result.inputs[name] = tensor.cast(DType::f32);
  for (const auto& [name, tensor] : random.state) result.state[name] = tensor.cast(DType::f32);
  return result;
}

/// Ops on NaN, infinities, signed zeros, huge and tiny values, constants of such values (as
/// literals, arrays and splats once fused), scalars and empty tensors, in float `dtype`.
inline std::unique_ptr<Graph> edge_values(DType dtype) {
  auto graph = std::make_unique<Graph>(std::string("edges_") + std::string(dtype_name(dtype)));
  Value* a = graph->add_input("a", {dtype, {2, 4}});
  Value* b = graph->add_input("b", {dtype, {2, 4}});
  Value* s = graph->add_input("s", {dtype, {}});
  Value* empty = graph->add_input("empty", {dtype, {0, 4}});
  const double tiny = dtype == DType::f32 ? 1e-45 : 5e-324;
  Value* specials = graph->add_constant({dtype, {2, 4}},
                                        {NAN, INFINITY, -INFINITY, -0.0, 1e30, tiny, 0.1, -3.4e38});
  Value* nan_splat = build::full(*graph, {dtype, {2, 4}}, NAN);
  Value* minus_zero = build::full(*graph, {dtype, {2, 4}}, -0.0);
  Value* sb = build::broadcast(s, {2, 4});
  std::vector<std::pair<std::string, Value*>> outputs = {
      {"max", build::max(a, b)},
      {"min", build::min(a, b)},
      {"max_nan", build::max(nan_splat, a)},
      {"min_specials", build::min(b, specials)},
      {"relu", build::relu(a)},
      {"sign", build::sign(a)},
      {"abs", build::abs(a)},
      {"neg", build::neg(specials)},
      {"greater", build::greater(a, b)},
      {"less", build::less(a, specials)},
      {"equal", build::equal(a, minus_zero)},
      {"select", build::select(a, b, specials)},
      {"div", build::div(a, b)},
      {"div_zero", build::div(specials, minus_zero)},
      {"tanh", build::tanh(a)},
      {"sigmoid", build::sigmoid(a)},
      {"exp", build::exp(a)},
      {"log", build::log(build::abs(a))},
      {"sqrt", build::sqrt(b)},
      {"pow", build::pow(build::abs(a), b)},
      {"pow_negative", build::pow(specials, build::full(*graph, {dtype, {2, 4}}, 3.0))},
      {"reduce_max", build::reduce_max(a, {1})},
      {"reduce_sum", build::reduce_sum(b, {0})},
      {"cast", build::cast(a, dtype == DType::f32 ? DType::f64 : DType::f32)},
      {"scalar", build::mul(s, build::add(s, build::scalar(*graph, dtype, 0.5)))},
      {"scalar_broadcast", build::sub(sb, specials)},
      {"empty_sum", build::reduce_sum(empty, {0})},
      {"empty_max", build::reduce_max(empty, {0})},
      {"empty_mean", build::reduce_mean(empty, {0})},
      {"empty_tanh", build::tanh(empty)},
      {"empty_concat", build::concat({empty, a, empty}, 0)},
      {"empty_product", build::matmul(empty, empty, true, false)},
      {"empty_inner",
       build::matmul(build::slice(a, {0, 0}, {2, 0}), build::slice(b, {0, 0}, {0, 4}))},
  };
  for (const auto& [name, value] : outputs) graph->add_output(name, value);
  return graph;
}

/// Integer ops at the ends of i32's range (where results still fit).
inline std::unique_ptr<Graph> edge_integers() {
  auto graph = std::make_unique<Graph>("edges_i32");
  Value* a = graph->add_input("a", {DType::i32, {6}});
  Value* b = graph->add_input("b", {DType::i32, {6}});
  Value* f = graph->add_input("f", {DType::f32, {6}});
  Value* extremes =
      graph->add_constant({DType::i32, {6}}, {-2147483647.0, 2147483647, -1, 0, 7, -7});
  std::vector<std::pair<std::string, Value*>> outputs = {
      {"max", build::max(a, b)},
      {"min", build::min(a, extremes)},
      {"div", build::div(a, build::full(*graph, {DType::i32, {6}}, -1.0))},
      {"div_b", build::div(extremes, b)},
      {"sign", build::sign(extremes)},
      {"greater", build::greater(a, extremes)},
      {"equal", build::equal(a, extremes)},
      {"select", build::select(b, a, extremes)},
      {"to_f32", build::cast(a, DType::f32)},
      {"to_f64", build::cast(extremes, DType::f64)},
      {"from_f32", build::cast(f, DType::i32)},
      {"reduce_sum", build::reduce_sum(b, {0})},
      {"reduce_max", build::reduce_max(a, {0})},
  };
  for (const auto& [name, value] : outputs) graph->add_output(name, value);
  return graph;
}

}  // namespace rnnc::cases
