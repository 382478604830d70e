// The text IR: printing, parsing, exact round trips, error messages, and a fuzz test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <set>

#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"

namespace rnnc {
namespace {

using namespace ir;

TensorType f32(Shape shape) { return {DType::f32, std::move(shape)}; }

/// The lecture's diabetes classifier (8 -> 6 -> 1) with a BCE loss and a plain SGD update.
std::unique_ptr<Graph> diabetes_graph() {
  auto graph = std::make_unique<Graph>("diabetes_train");
  Value* x = graph->add_input("x", f32({32, 8}));
  Value* y = graph->add_input("y", f32({32, 1}));
  Value* w1 = graph->add_parameter("w1", f32({8, 6}), "xavier_uniform", 1);
  Value* b1 = graph->add_parameter("b1", f32({6}), "zeros");
  Value* w2 = graph->add_parameter("w2", f32({6, 1}), "xavier_uniform", 2);
  Value* h = build::sigmoid(build::add(build::matmul(x, w1), build::broadcast(b1, {32, 6})));
  Value* p = build::sigmoid(build::matmul(h, w2));
  Value* one = build::full_like(p, 1.0);
  Value* log_likelihood = build::add(
      build::mul(y, build::log(p)), build::mul(build::sub(one, y), build::log(build::sub(one, p))));
  Value* loss = build::neg(build::reduce_mean(log_likelihood, {0, 1}));
  graph->add_output("loss", loss);
  graph->add_output("p", p);
  Value* lr = build::broadcast(build::scalar(*graph, DType::f32, 0.1), {8, 6});
  Value* w1_new = graph->add(OpKind::Sub, {w1, build::mul(lr, w1)}, {}, "w1_new");
  graph->add_update(w1, w1_new);
  return graph;
}

/// Layout ops, reductions and a batched matmul, in f64.
std::unique_ptr<Graph> layout_graph() {
  auto graph = std::make_unique<Graph>("layout");
  Value* a = graph->add_input("a", {DType::f64, {2, 3, 4}});
  Value* batched = build::matmul(a, a, false, true);  // [2, 3, 3]
  Value* flat = build::reshape(a, {6, 4});
  Value* turned = build::transpose(flat, {1, 0});              // [4, 6]
  Value* part = build::slice(turned, {0, 1}, {4, 5});          // [4, 4]
  Value* padded = build::pad(part, {1, 0}, {0, 2});            // [5, 6]
  Value* joined = build::concat({padded, padded, padded}, 0);  // [15, 6]
  Value* row_max = build::reduce_max(joined, {1});             // [15]
  Value* total = build::reduce_sum(build::exp(build::tanh(row_max)), {0});
  Value* scaled = build::div(build::sqrt(build::abs(total)), build::relu(build::neg(total)));
  graph->add_output("scaled", scaled);
  graph->add_output("batched", build::reduce_mean(batched, {0, 2}));
  return graph;
}

/// Indexing, comparisons, select, casts, iota, and literal corner cases.
std::unique_ptr<Graph> indexing_graph() {
  auto graph = std::make_unique<Graph>("indexing.v2");
  Value* table =
      graph->add_parameter("table", f32({10, 4}), "he \"quoted\" \\ back\nslash", -7, "state");
  Value* ids = graph->add_input("ids", {DType::i32, {3, 5}});
  Value* rows = build::gather(table, ids);  // [3, 5, 4]
  Value* grad = build::scatter_add(ids, rows, {10, 4});
  graph->add_update(table, build::scatter_rows(table, ids, build::coalesce_rows(ids, rows, 10)));
  Value* positions = graph
                         ->add_node(OpKind::Iota, {}, {{"axis", int64_t{1}}},
                                    {{DType::i32, {10, 4}}}, {"positions"})
                         ->result();
  Value* as_float = build::cast(positions, DType::f32);
  double inf = std::numeric_limits<double>::infinity();
  std::vector<double> specials{std::nan(""),           inf,       -inf, 1e-05, 0.1, -0.0, 5e-324,
                               1.7976931348623157e308, 1.0 / 3.0, 1e20, 100,   -2.5};
  Value* odd = graph->add_constant(f32({12}), specials, "specials");
  Value* ints = graph->add_constant({DType::i32, {2}}, {-3, 2147483647}, "ints");
  Value* cond = build::greater(grad, as_float);
  Value* picked = build::select(build::less(grad, as_float), build::max(grad, as_float),
                                build::min(grad, build::sign(as_float)));
  Value* same = build::equal(picked, build::pow(grad, as_float));
  graph->add_output("picked", build::select(cond, picked, same));
  graph->add_output("odd", odd);
  graph->add_output("ints", ints);
  graph->add_output("empty", graph->add_constant(f32({0}), {}, "empty"));
  return graph;
}

/// A graph whose name must be quoted.
std::unique_ptr<Graph> quoted_name_graph() {
  auto graph = std::make_unique<Graph>("lstm body #1");
  Value* x = graph->add_input("x.t", f32({}));
  graph->add_output("x.out", build::sigmoid(x));
  return graph;
}

/// A vanilla RNN over variable-length sequences: a scan whose body is a nested graph.
std::unique_ptr<Graph> scan_graph() {
  auto graph = std::make_unique<Graph>("rnn");
  Value* xs = graph->add_input("xs", f32({5, 2, 3}));
  Value* lengths = graph->add_input("lengths", {DType::i32, {2}});
  Value* w_x = graph->add_parameter("w_x", f32({3, 4}), "xavier_uniform", 1);
  Value* w_h = graph->add_parameter("w_h", f32({4, 4}), "xavier_uniform", 2);
  Value* h0 = build::full(*graph, f32({2, 4}), 0.0);
  ScanBuilder scan(*graph, "rnn_step");
  Value* h = scan.carry(h0, "h");
  Value* x = scan.sequence(xs, "x");
  Value* wx = scan.invariant(w_x, "w_x");
  Value* wh = scan.invariant(w_h, "w_h");
  Value* next = build::tanh(build::add(build::matmul(x, wx), build::matmul(h, wh)));
  scan.set_next(h, next);
  scan.add_output("y", next);
  scan.set_lengths(lengths);
  scan.set_reverse(true);
  std::vector<Value*> results = scan.finish();
  graph->add_output("h_final", results[0]);
  graph->add_output("ys", results[1]);
  return graph;
}

/// An elementwise expression fused into one node: a body graph with a broadcast operand, a
/// splat constant and two outputs.
std::unique_ptr<Graph> fused_graph() {
  auto graph = std::make_unique<Graph>("fused_gates");
  Value* x = graph->add_input("x", f32({2, 4}));
  Value* b = graph->add_input("b", f32({4}));
  auto body = std::make_unique<Graph>("gate");
  Value* bx = body->add_input("x", f32({2, 4}));
  Value* bb = body->add_input("b", f32({4}));
  Value* gate = build::sigmoid(build::add(bx, build::broadcast(bb, {2, 4})));
  Value* half = body->add_constant(f32({2, 4}), {0.5}, "half");
  body->add_output("gate", gate);
  body->add_output("mixed", build::mul(build::sub(gate, half), bx));
  std::vector<std::unique_ptr<Graph>> bodies;
  bodies.push_back(std::move(body));
  Node* fused =
      graph->add_node(OpKind::Fused, {x, b}, {}, {}, {"gate", "mixed"}, std::move(bodies));
  graph->add_output("gate", fused->result(0));
  graph->add_output("mixed", fused->result(1));
  return graph;
}

std::vector<std::function<std::unique_ptr<Graph>()>> representative_graphs() {
  return {diabetes_graph, layout_graph, indexing_graph, quoted_name_graph, scan_graph, fused_graph};
}

void expect_same_structure(const Graph& a, const Graph& b) {
  ASSERT_EQ(a.name(), b.name());
  ASSERT_EQ(a.nodes().size(), b.nodes().size());
  for (size_t i = 0; i < a.nodes().size(); ++i) {
    const Node& m = *a.nodes()[i];
    const Node& n = *b.nodes()[i];
    EXPECT_EQ(m.kind(), n.kind());
    ASSERT_EQ(m.num_results(), n.num_results());
    for (size_t r = 0; r < m.num_results(); ++r) {
      EXPECT_EQ(m.result(r)->name(), n.result(r)->name());
      EXPECT_EQ(m.result(r)->type(), n.result(r)->type());
    }
    ASSERT_EQ(m.operands().size(), n.operands().size());
    for (size_t o = 0; o < m.operands().size(); ++o)
      EXPECT_EQ(m.operand(o)->name(), n.operand(o)->name());
  }
  ASSERT_EQ(a.outputs().size(), b.outputs().size());
  for (size_t i = 0; i < a.outputs().size(); ++i) {
    EXPECT_EQ(a.outputs()[i].name, b.outputs()[i].name);
    EXPECT_EQ(a.outputs()[i].value->name(), b.outputs()[i].value->name());
  }
  ASSERT_EQ(a.updates().size(), b.updates().size());
  for (size_t i = 0; i < a.updates().size(); ++i) {
    EXPECT_EQ(a.updates()[i].parameter->name(), b.updates()[i].parameter->name());
    EXPECT_EQ(a.updates()[i].new_value->name(), b.updates()[i].new_value->name());
  }
}

TEST(TextIr, RoundTripOfRepresentativeGraphsCoversEveryOp) {
  std::set<OpKind> covered;
  for (const auto& make : representative_graphs()) {
    std::unique_ptr<Graph> graph = make();
    std::string text = print_graph(*graph);
    std::unique_ptr<Graph> parsed = parse_graph(text, "roundtrip.rnn");
    EXPECT_EQ(print_graph(*parsed), text);
    expect_same_structure(*graph, *parsed);
    verify(*parsed);
    for (const auto& node : graph->nodes()) covered.insert(node->kind());
  }
  for (OpKind kind : all_ops())
    EXPECT_TRUE(covered.count(kind))
        << "op '" << op_info(kind).name << "' is in no round-trip graph: add it to one";
}

TEST(TextIr, PrintsTheDocumentedFormat) {
  Graph graph("g");
  Value* x = graph.add_input("x", f32({2, 3}));
  Value* w = graph.add_parameter("w", f32({3, 1}), "xavier_uniform", 1);
  Value* c = graph.add_constant(f32({}), {0.5});
  Value* t = build::matmul(x, w);
  Value* s = build::concat({t, t}, 1);
  Value* y = build::cast(s, DType::i32);
  graph.add_output("y", y);
  graph.add_output("c", c);
  graph.add_update(w, build::mul(w, build::full_like(w, 1e-05)));
  EXPECT_EQ(print_graph(graph),
            "graph @g {\n"
            "  %x = input() : f32[2, 3]\n"
            "  %w = parameter() {init = \"xavier_uniform\", seed = 1, role = \"weight\"} : "
            "f32[3, 1]\n"
            "  %c = constant() {value = [0.5]} : f32[]\n"
            "  %matmul = matmul(%x, %w) {transpose_a = 0, transpose_b = 0} : f32[2, 1]\n"
            "  %concat = concat(%matmul, %matmul) {axis = 1} : f32[2, 2]\n"
            "  %cast = cast(%concat) {dtype = i32} : i32[2, 2]\n"
            "  %c_1 = constant() {value = [1e-05]} : f32[3, 1]\n"
            "  %mul = mul(%w, %c_1) : f32[3, 1]\n"
            "  output y = %cast\n"
            "  output c = %c\n"
            "  update %w = %mul\n"
            "}\n");
}

TEST(TextIr, FloatsPrintShortestAndReadBackExactly) {
  Graph graph("g");
  std::vector<double> values{1.0, 0.1, 1e-05, 1e20, 123456.75, -0.0, 5e-324, 2.0 / 3.0};
  graph.add_constant({DType::f64, {8}}, values, "c");
  std::string text = print_graph(graph);
  EXPECT_NE(text.find("{value = [1.0, 0.1, 1e-05, 1e+20, 123456.75, -0.0, 5e-324, "
                      "0.6666666666666666]}"),
            std::string::npos)
      << text;
  auto parsed = parse_graph(text, "f.rnn");
  const auto& read = parsed->nodes()[0]->attrs().get_floats("value");
  ASSERT_EQ(read.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(read[i], values[i]);
    EXPECT_EQ(std::signbit(read[i]), std::signbit(values[i]));
  }
}

TEST(TextIr, ParsedGraphComputesWhatTheOriginalComputes) {
  std::unique_ptr<Graph> graph = diabetes_graph();
  std::unique_ptr<Graph> parsed = parse_graph(print_graph(*graph), "d.rnn");
  std::vector<double> x(32 * 8), y(32), w1(8 * 6), b1(6), w2(6);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * static_cast<double>(i));
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<double>(i % 2);
  for (size_t i = 0; i < w1.size(); ++i) w1[i] = std::cos(0.11 * static_cast<double>(i));
  for (size_t i = 0; i < b1.size(); ++i) b1[i] = 0.1 * static_cast<double>(i);
  for (size_t i = 0; i < w2.size(); ++i) w2[i] = 0.5 - 0.2 * static_cast<double>(i);
  Bindings inputs{{"x", Tensor::from_doubles(DType::f32, {32, 8}, x)},
                  {"y", Tensor::from_doubles(DType::f32, {32, 1}, y)}};
  Bindings state{{"w1", Tensor::from_doubles(DType::f32, {8, 6}, w1)},
                 {"b1", Tensor::from_doubles(DType::f32, {6}, b1)},
                 {"w2", Tensor::from_doubles(DType::f32, {6, 1}, w2)}};
  Bindings state_copy = state;
  Bindings expected = interp::run_graph(*graph, inputs, state);
  Bindings actual = interp::run_graph(*parsed, inputs, state_copy);
  double loss = expected.at("loss").to_doubles().at(0);
  EXPECT_TRUE(std::isfinite(loss) && loss > 0);
  EXPECT_EQ(actual.at("loss").to_doubles(), expected.at("loss").to_doubles());
  EXPECT_EQ(actual.at("p").to_doubles(), expected.at("p").to_doubles());
  EXPECT_EQ(state_copy.at("w1").to_doubles(), state.at("w1").to_doubles());
  EXPECT_NE(state.at("w1").to_doubles(), w1);  // the update ran
}

TEST(TextIr, AcceptsCommentsDefaultsIntLiteralsAndAnyStatementOrder) {
  const char* text =
      "# a hand-written file\n"
      "\n"
      "graph @hand {   # trailing comment\n"
      "  %w = parameter() {init = \"ones\"} : f32[2]\n"
      "  %k = constant() {value = [1, 2]} : f32[2]\n"
      "  output k = %k\n"
      "  %s = add(%w, %k) {} : f32[2]\n"
      "  update %w = %s\n"
      "  %m = matmul(%e, %e) : f32[1, 1]\n"  // %e is not defined yet: error below
      "}\n";
  EXPECT_THROW(parse_graph(text, "h.rnn"), Error);
  std::string fixed = text;
  fixed.replace(fixed.find("  %m = matmul(%e, %e) : f32[1, 1]\n"), 34, "");
  auto graph = parse_graph(fixed, "h.rnn");
  EXPECT_EQ(print_graph(*graph),
            "graph @hand {\n"
            "  %w = parameter() {init = \"ones\", seed = 0, role = \"weight\"} : f32[2]\n"
            "  %k = constant() {value = [1.0, 2.0]} : f32[2]\n"
            "  %s = add(%w, %k) : f32[2]\n"
            "  output k = %k\n"
            "  update %w = %s\n"
            "}\n");
  auto one_line = parse_graph("graph @a { %x = input() : i32[] }", "a.rnn");
  EXPECT_EQ(print_graph(*one_line), "graph @a {\n  %x = input() : i32[]\n}\n");
}

TEST(TextIr, ExampleOfTheDocumentationParsesAndIsCanonical) {
  std::ifstream doc(std::string(RNNC_SOURCE_DIR) + "/docs/text-ir.md");
  ASSERT_TRUE(doc) << "docs/text-ir.md is missing";
  std::string markdown((std::istreambuf_iterator<char>(doc)), std::istreambuf_iterator<char>());
  size_t start = markdown.find("```\n# comment");
  ASSERT_NE(start, std::string::npos);
  start += 4;
  std::string example = markdown.substr(start, markdown.find("```", start) - start);
  auto graph = parse_graph(example, "text-ir.md");
  verify(*graph);
  // Without its comment line, the example is exactly what the printer writes.
  EXPECT_EQ(print_graph(*graph), example.substr(example.find('\n') + 1));
}

/// Parses `text` as "m.rnn" and expects an rnnc::Error with exactly `message`.
void expect_error(const std::string& text, const std::string& message) {
  try {
    parse_graph(text, "m.rnn");
    ADD_FAILURE() << "no error for:\n" << text;
  } catch (const Error& error) {
    EXPECT_EQ(error.what(), message) << "for:\n" << text;
  }
}

const char* kHeader =
    "graph @g {\n"
    "  %x = input() : f32[32, 8]\n"
    "  %w = parameter() : f32[8, 6]\n";

TEST(TextIr, ErrorsNameFileLineColumnAndWhat) {
  std::string h = kHeader;
  expect_error(h + "  %t = matmull(%x, %w) : f32[32, 6]\n}\n", "m.rnn:4:8: unknown op 'matmull'");
  expect_error(h + "  %t = matmul(%x, %w) {transpose = 1} : f32[32, 6]\n}\n",
               "m.rnn:4:24: op 'matmul' has no attribute 'transpose'");
  expect_error(h + "  %t = concat(%x, %x) {axis = \"1\"} : f32[32, 16]\n}\n",
               "m.rnn:4:31: attribute 'axis' of op 'concat' must be of kind int, not str");
  expect_error(h + "  %t = concat(%x, %x) {axis = [1]} : f32[32, 16]\n}\n",
               "m.rnn:4:31: attribute 'axis' of op 'concat' must be of kind int, not ints");
  expect_error(h + "  %t = concat(%x, %x) {axis = 1, axis = 1} : f32[32, 16]\n}\n",
               "m.rnn:4:34: attribute 'axis' is given twice");
  expect_error(h + "  %t = concat(%x, %x) : f32[32, 16]\n}\n",
               "m.rnn:4:8: op 'concat' needs attribute 'axis'");
  expect_error(h + "  %t = matmul(%x, %w2) : f32[32, 6]\n}\n", "m.rnn:4:19: undefined value %w2");
  expect_error(h + "  output y = %t\n}\n", "m.rnn:4:14: undefined value %t");
  expect_error(h + "  %x = exp(%x) : f32[32, 8]\n}\n",
               "m.rnn:4:3: value %x is defined twice (first at line 2)");
  expect_error(h + "  %a, %a = exp(%x) : f32[32, 8], f32[32, 8]\n}\n",
               "m.rnn:4:7: value %a is defined twice (first at line 4)");
  expect_error(h + "  %t = matmul(%x, %w) : f32[3, 3]\n}\n",
               "m.rnn:4:8: node %t = matmul(%x: f32[32, 8], %w: f32[8, 6]): declared type "
               "f32[3, 3] differs from inferred f32[32, 6]");
  expect_error(h + "  %t = matmul(%w, %x) : f32[8, 8]\n}\n",
               "m.rnn:4:8: node %t = matmul(%w: f32[8, 6], %x: f32[32, 8]): inner dimensions 6 "
               "and 32 differ");
  expect_error(h + "  %t = exp(%x, %x) : f32[32, 8]\n}\n",
               "m.rnn:4:8: node %t = exp(%x: f32[32, 8], %x: f32[32, 8]): expects 1 operand(s), "
               "got 2");
  expect_error(h + "  %t = exp(%x) : f32[32, 8], f32[32, 8]\n}\n",
               "m.rnn:4:16: 1 result name(s) but 2 result type(s)");
  expect_error(h + "  update %x = %w\n}\n", "m.rnn:4:10: update target %x is not a parameter");
  expect_error(h + "  output y = %x\n  output y = %w\n}\n",
               "m.rnn:5:10: output name 'y' is already used");
}

TEST(TextIr, SyntaxErrors) {
  std::string h = kHeader;
  // Malformed types.
  expect_error(h + "  %t = exp(%x) : f33[32, 8]\n}\n",
               "m.rnn:4:18: unknown dtype 'f33' (use f32, f64 or i32)");
  expect_error(h + "  %t = exp(%x) : f32(32, 8)\n}\n", "m.rnn:4:21: expected '[' after the dtype");
  expect_error(h + "  %t = exp(%x) : f32[32 8]\n}\n",
               "m.rnn:4:25: expected ',' or ']' after a dimension");
  expect_error(h + "  %t = exp(%x) : f32[-1]\n}\n",
               "m.rnn:4:22: a dimension must be a non-negative integer, not '-1'");
  expect_error(h + "  %t = exp(%x) : f32[2.0]\n}\n",
               "m.rnn:4:22: a dimension must be a non-negative integer, not '2.0'");
  expect_error(h + "  %t = exp(%x) : f32[16777216, 16777216, 16777216]\n}\n",
               "m.rnn:4:42: type has more than 2^48 elements");
  expect_error(h + "  %t = exp(%x) f32[32, 8]\n}\n",
               "m.rnn:4:16: expected ':' before the result type");
  // Bad numbers.
  expect_error(h + "  %t = concat(%x, %x) {axis = 1x} : f32[32, 16]\n}\n",
               "m.rnn:4:31: bad number '1x'");
  expect_error(h + "  %t = concat(%x, %x) {axis = 1.2.3} : f32[32, 16]\n}\n",
               "m.rnn:4:31: bad number '1.2.3'");
  expect_error(h + "  %t = concat(%x, %x) {axis = 99999999999999999999} : f32[32, 16]\n}\n",
               "m.rnn:4:31: number '99999999999999999999' is out of range");
  expect_error(h + "  %c = constant() {value = [1e999]} : f32[]\n}\n",
               "m.rnn:4:29: number '1e999' is out of range");
  // Truncation, braces, trailing garbage.
  expect_error(h + "  %t = matmul(%x, ",
               "m.rnn:4:19: unexpected end of file, expected a value '%name'");
  expect_error("graph @g {\n  %x = input() : f32[2",
               "m.rnn:2:23: unexpected end of file, expected ',' or ']' after a dimension");
  expect_error(h + "  output y = %x\n",
               "m.rnn:5:1: missing '}' at the end of graph @g (opened at line 1)");
  expect_error(h + "}\n}\n", "m.rnn:5:1: unexpected '}' after the end of graph @g");
  expect_error(h + "}\ngraph @h {\n}\n", "m.rnn:5:1: unexpected 'graph' after the end of graph @g");
  expect_error("",
               "m.rnn:1:1: unexpected end of file, expected 'graph @name {' at the start of "
               "the file");
  expect_error("graph g {\n}\n", "m.rnn:1:7: expected a graph name '@name' after 'graph'");
  expect_error(h + "  %t = exp(%x) : f32[32, 8] %u\n}\n",
               "m.rnn:4:29: expected end of line after the node's result types");
  expect_error(h + "  output y = %x extra\n}\n",
               "m.rnn:4:17: expected end of line after the output");
  expect_error(h + "  exp(%x)\n}\n",
               "m.rnn:4:3: expected a node '%name = op(...)', 'output' or 'update'");
  // Lexical errors.
  expect_error(h + "  %t = exp(%x) $ : f32[32, 8]\n}\n", "m.rnn:4:16: unexpected character '$'");
  expect_error(h + "  %1t = exp(%x) : f32[32, 8]\n}\n", "m.rnn:4:3: invalid value name '%1t'");
  expect_error(h + "  %w2 = parameter() {init = \"abc} : f32[2]\n}\n",
               "m.rnn:4:29: unterminated string");
  expect_error(h + "  %w2 = parameter() {init = \"a\\tb\"} : f32[2]\n}\n",
               "m.rnn:4:31: unknown escape '\\t' in a string (use \\\", \\\\ or \\n)");
  expect_error(std::string("graph @g {\n  \x01\n}\n"), "m.rnn:2:3: unexpected character byte 0x01");
}

TEST(TextIr, ParseGraphFile) {
  std::string missing = ::testing::TempDir() + "/no_such_dir/model.rnn";
  try {
    parse_graph_file(missing);
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.what(), "cannot open '" + missing + "'");
  }
  std::string path = ::testing::TempDir() + "/rnnc_ir_text_test_model.rnn";
  std::unique_ptr<Graph> graph = layout_graph();
  {
    std::ofstream file(path);
    file << print_graph(*graph);
  }
  EXPECT_EQ(print_graph(*parse_graph_file(path)), print_graph(*graph));
  {
    std::ofstream file(path);
    file << "graph @g {\n  %x = input() : f32[2]\n  output y = %z\n}\n";
  }
  try {
    parse_graph_file(path);
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.what(), path + ":3:14: undefined value %z");
  }
  std::remove(path.c_str());
}

/// A random edit of `text`: deletes, inserts, replaces, duplicates or truncates.
std::string mutate(const std::string& text, std::mt19937& rng) {
  static const std::string alphabet = "%@{}[](),:=#\"\\\n -.e019afinx_";
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  std::string out = text;
  int edits = 1 + static_cast<int>(pick(3));
  for (int e = 0; e < edits && !out.empty(); ++e) {
    size_t at = pick(out.size());
    switch (pick(6)) {
      case 0:
        out.erase(at, 1 + pick(8));
        break;
      case 1:
        out.insert(at, 1, alphabet[pick(alphabet.size())]);
        break;
      case 2:
        out[at] = alphabet[pick(alphabet.size())];
        break;
      case 3:
        out.insert(at, out.substr(pick(out.size()), 1 + pick(20)));
        break;
      case 4:
        out.resize(at);
        break;
      case 5:
        out[at] = static_cast<char>(pick(256));
        break;
    }
  }
  return out;
}

TEST(TextIr, FuzzedInputEitherParsesOrThrowsError) {
  std::vector<std::string> seeds;
  for (const auto& make : representative_graphs()) seeds.push_back(print_graph(*make()));
  std::mt19937 rng(20240531);
  int parsed = 0, rejected = 0;
  for (int iteration = 0; iteration < 4000; ++iteration) {
    std::string text = mutate(seeds[static_cast<size_t>(iteration) % seeds.size()], rng);
    std::unique_ptr<Graph> graph;
    try {
      graph = parse_graph(text, "fuzz.rnn");
    } catch (const Error& error) {
      ++rejected;
      EXPECT_EQ(std::string(error.what()).rfind("fuzz.rnn:", 0), 0u) << error.what();
      continue;
    } catch (const std::exception& other) {
      ADD_FAILURE() << "non-rnnc exception '" << other.what() << "' for:\n" << text;
      continue;
    }
    ++parsed;
    // Whatever parses is a valid graph that round-trips.
    verify(*graph);
    std::string printed = print_graph(*graph);
    EXPECT_EQ(print_graph(*parse_graph(printed, "fuzz2.rnn")), printed);
  }
  std::printf("fuzz: %d parsed, %d rejected\n", parsed, rejected);
  EXPECT_GT(parsed, 50);  // some mutations (comments, whitespace) keep the file valid
  EXPECT_GT(rejected, 2000);
}

}  // namespace
}  // namespace rnnc
