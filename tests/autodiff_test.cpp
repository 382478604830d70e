// The symbolic backward pass (passes/autodiff.h): every gradient rule against central finite
// differences of the interpreter in float64, composed graphs, and the pass's bookkeeping.
#include "passes/autodiff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <unordered_set>

#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "ir/scan_builder.h"
#include "passes/fuse_elementwise.h"
#include "tests/support/errors.h"

namespace rnnc {
namespace {

using namespace ir;
using passes::append_gradients;

/// Seeded random test values, kept away from zero and from the kinks of the ops.
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  double uniform(double low, double high) {
    return std::uniform_real_distribution<double>(low, high)(engine_);
  }
  /// Magnitude in [0.2, 2], either sign.
  std::vector<double> away_from_zero(int64_t n) {
    std::vector<double> values(n);
    for (double& v : values) v = uniform(0.2, 2.0) * (uniform(0, 1) < 0.5 ? -1 : 1);
    return values;
  }
  /// In [0.5, 2].
  std::vector<double> positive(int64_t n) {
    std::vector<double> values(n);
    for (double& v : values) v = uniform(0.5, 2.0);
    return values;
  }
  /// Pairwise at least 0.2 apart (no ties for max), in random order.
  std::vector<double> distinct(int64_t n) {
    std::vector<double> values(n);
    for (int64_t i = 0; i < n; ++i)
      values[i] = 0.3 * static_cast<double>(i - n / 2) + uniform(0, 0.1);
    std::shuffle(values.begin(), values.end(), engine_);
    return values;
  }

 private:
  std::mt19937_64 engine_;
};

uint64_t seed_of(const std::string& text) {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a: stable across platforms
  for (char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return hash;
}

/// A graph under test with its input and parameter values and the values to differentiate.
struct Problem {
  Graph graph;
  Bindings inputs;
  Bindings state;
  std::vector<Value*> wrt;

  /// An f64 input that gradients are taken with respect to.
  Value* wrt_input(const std::string& name, const Shape& shape, std::vector<double> values) {
    Value* value = fixed_input(name, DType::f64, shape, std::move(values));
    wrt.push_back(value);
    return value;
  }
  /// An input held fixed (indices, conditions, labels).
  Value* fixed_input(const std::string& name, DType dtype, const Shape& shape,
                     std::vector<double> values) {
    inputs[name] = Tensor::from_doubles(dtype, shape, values);
    return graph.add_input(name, {dtype, shape});
  }
  /// An f64 parameter that gradients are taken with respect to.
  Value* wrt_parameter(const std::string& name, const Shape& shape, std::vector<double> values) {
    state[name] = Tensor::from_doubles(DType::f64, shape, values);
    Value* value = graph.add_parameter(name, {DType::f64, shape}, "zeros");
    wrt.push_back(value);
    return value;
  }
  /// Runs the graph and returns output `name`.
  Tensor run(const std::string& name, const Bindings& inputs_now, const Bindings& state_now) const {
    Bindings state_copy = state_now;
    return interp::run_graph(graph, inputs_now, state_copy).at(name);
  }
};

/// reduce_sum(out * weights) over every axis, with fixed random weights: every element of
/// `out` matters, each with its own factor.
Value* weighted_sum(Value* out, Random& random) {
  Graph& graph = build::graph_of(out);
  Value* weights =
      graph.add_constant(out->type(), random.away_from_zero(out->type().num_elements()));
  std::vector<int64_t> axes(out->shape().size());
  for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
  return build::reduce_sum(build::mul(out, weights), axes);
}

/// Central finite differences of the loss with respect to every element of every wrt value
/// (inputs or parameters), computed before the backward pass is appended; then the symbolic
/// gradients, which must agree within `tolerance` * max(1, |g|). Returns the gradients.
std::vector<Value*> expect_gradients_match_finite_differences(Problem& problem, Value* loss,
                                                              double eps = 1e-6,
                                                              double tolerance = 1e-6) {
  problem.graph.add_output("loss", loss);
  std::vector<std::vector<double>> numeric;
  for (Value* value : problem.wrt) {
    bool is_input = value->producer()->kind() == OpKind::Input;
    std::vector<double> slopes(value->type().num_elements());
    for (int64_t i = 0; i < value->type().num_elements(); ++i) {
      double losses[2];
      for (int side = 0; side < 2; ++side) {
        Bindings inputs = problem.inputs, state = problem.state;
        Tensor& tensor = is_input ? inputs.at(value->name()) : state.at(value->name());
        tensor.set(i, tensor.get(i) + (side == 0 ? eps : -eps));
        losses[side] = problem.run("loss", inputs, state).get(0);
      }
      slopes[i] = (losses[0] - losses[1]) / (2 * eps);
    }
    numeric.push_back(slopes);
  }
  std::vector<Value*> grads = append_gradients(problem.graph, loss, problem.wrt);
  EXPECT_EQ(grads.size(), problem.wrt.size());
  for (size_t k = 0; k < grads.size(); ++k) {
    Value* wrt = problem.wrt[k];
    EXPECT_EQ(grads[k]->type(), wrt->type()) << wrt->name();
    EXPECT_EQ(grads[k]->name(), "grad_" + wrt->name());
    problem.graph.add_output("gradient_" + std::to_string(k), grads[k]);
  }
  Bindings state = problem.state;
  Bindings outputs = interp::run_graph(problem.graph, problem.inputs, state);
  for (size_t k = 0; k < grads.size(); ++k) {
    std::vector<double> symbolic = outputs.at("gradient_" + std::to_string(k)).to_doubles();
    for (size_t i = 0; i < symbolic.size(); ++i)
      EXPECT_NEAR(symbolic[i], numeric[k][i], tolerance * std::max(1.0, std::abs(symbolic[i])))
          << "d loss / d " << problem.wrt[k]->name() << "[" << i << "]";
  }
  return grads;
}

/// One op's gradient check: `build` makes the op's output from inputs it declares.
struct GradientCase {
  std::string name;
  OpKind op;
  std::function<Value*(Problem&, Random&)> build;
  bool zero_gradient = false;  ///< the op passes no gradient to the wrt inputs
  double eps = 1e-6;
  double tolerance = 1e-6;
};

/// Names a case in test output.
void PrintTo(const GradientCase& c, std::ostream* os) { *os << c.name; }

using Builder = std::function<Value*(Problem&, Random&)>;

Builder unary(Value* (*op)(Value*), bool positive = false) {
  return [=](Problem& p, Random& r) {
    return op(p.wrt_input("x", {2, 3}, positive ? r.positive(6) : r.away_from_zero(6)));
  };
}

Builder binary(Value* (*op)(Value*, Value*)) {
  return [=](Problem& p, Random& r) {
    return op(p.wrt_input("a", {2, 3}, r.away_from_zero(6)),
              p.wrt_input("b", {2, 3}, r.away_from_zero(6)));
  };
}

/// max/min with operands at least 0.2 apart, each winning somewhere.
Builder separated(Value* (*op)(Value*, Value*)) {
  return [=](Problem& p, Random& r) {
    std::vector<double> a = r.away_from_zero(6), b(6);
    for (size_t i = 0; i < 6; ++i) b[i] = a[i] + (i % 2 ? 1 : -1) * r.uniform(0.2, 1.0);
    return op(p.wrt_input("a", {2, 3}, a), p.wrt_input("b", {2, 3}, b));
  };
}

Builder of_input(const Shape& shape, std::function<Value*(Value*)> op) {
  return [=](Problem& p, Random& r) {
    return op(p.wrt_input("x", shape, r.away_from_zero(num_elements(shape))));
  };
}

Builder of_distinct_input(const Shape& shape, std::function<Value*(Value*)> op) {
  return [=](Problem& p, Random& r) {
    return op(p.wrt_input("x", shape, r.distinct(num_elements(shape))));
  };
}

/// Fused nodes: a single-output expression with a broadcast operand and a constant, and a
/// two-result node whose results feed a second fused node (so both result adjoints flow).
Builder fused_case(bool two_results) {
  return [=](Problem& p, Random& r) -> Value* {
    Value* x = p.wrt_input("x", {2, 3}, r.away_from_zero(6));
    Value* b = p.wrt_input("b", {3}, r.away_from_zero(3));
    Value* c = p.fixed_input("c", DType::f64, {2, 3}, r.away_from_zero(6));
    ir::Node* first =
        passes::add_fused_node(p.graph, {x, b, c}, [&](const std::vector<Value*>& in) {
          Value* bb = build::broadcast(in[1], {2, 3});
          Value* gate = build::sigmoid(build::mul(in[0], bb));
          Value* mixed =
              build::add(build::mul(gate, build::tanh(in[2])), build::full_like(gate, 0.5));
          if (!two_results) return std::vector<Value*>{build::mul(mixed, in[0])};
          return std::vector<Value*>{mixed, build::sub(build::exp(bb), in[0])};
        });
    if (!two_results) return first->result();
    return passes::add_fused_node(
               p.graph, {first->result(0), first->result(1)},
               [](const std::vector<Value*>& in) {
                 return std::vector<Value*>{build::mul(in[0], build::tanh(in[1]))};
               })
        ->result();
  };
}

Builder matmul_case(const Shape& batch, bool ta, bool tb) {
  return [=](Problem& p, Random& r) {
    const int64_t m = 2, k = 3, n = 4;
    Shape a = batch, b = batch;
    for (int64_t dim : ta ? Shape{k, m} : Shape{m, k}) a.push_back(dim);
    for (int64_t dim : tb ? Shape{n, k} : Shape{k, n}) b.push_back(dim);
    return build::matmul(p.wrt_input("a", a, r.away_from_zero(num_elements(a))),
                         p.wrt_input("b", b, r.away_from_zero(num_elements(b))), ta, tb);
  };
}

/// A small RNN scan h' = tanh(h w + x) over xs [3, 2, 2], its stacked outputs as the result.
/// tests/scan_autodiff_test.cpp checks the scan gradient in depth (cells, directions,
/// lengths, nesting, structure).
Builder scan_case(bool reverse, bool lengths) {
  return [=](Problem& p, Random& r) {
    Value* xs = p.wrt_input("xs", {3, 2, 2}, r.away_from_zero(12));
    Value* h0 = p.wrt_input("h0", {2, 2}, r.away_from_zero(4));
    std::vector<double> weights = r.away_from_zero(4);
    for (double& w : weights) w *= 0.5;
    Value* w = p.wrt_input("w", {2, 2}, weights);
    ScanBuilder scan(p.graph, "step");
    Value* h = scan.carry(h0, "h");
    Value* next =
        build::tanh(build::add(build::matmul(h, scan.invariant(w, "w")), scan.sequence(xs, "x")));
    scan.set_next(h, next);
    scan.add_output("y", next);
    scan.set_reverse(reverse);
    if (lengths) scan.set_lengths(p.fixed_input("lengths", DType::i32, {2}, {1, 3}));
    return scan.finish()[1];
  };
}

std::vector<GradientCase> gradient_cases() {
  using K = OpKind;
  std::vector<GradientCase> cases = {
      {"neg", K::Neg, unary(build::neg)},
      {"abs", K::Abs, unary(build::abs)},
      {"exp", K::Exp, unary(build::exp)},
      {"log", K::Log, unary(build::log, true)},
      {"sqrt", K::Sqrt, unary(build::sqrt, true)},
      {"tanh", K::Tanh, unary(build::tanh)},
      {"sigmoid", K::Sigmoid, unary(build::sigmoid)},
      {"relu", K::Relu, unary(build::relu)},
      // f64 -> f32 -> f64 is linear; the f32 rounding needs a larger step.
      {"cast_through_f32", K::Cast,
       of_input({2, 3},
                [](Value* x) { return build::cast(build::cast(x, DType::f32), DType::f64); }),
       false, 1e-2, 1e-4},
      {"add", K::Add, binary(build::add)},
      {"sub", K::Sub, binary(build::sub)},
      {"mul", K::Mul, binary(build::mul)},
      {"div", K::Div, binary(build::div)},
      {"pow", K::Pow,
       [](Problem& p, Random& r) {
         return build::pow(p.wrt_input("a", {2, 3}, r.positive(6)),
                           p.wrt_input("b", {2, 3}, r.away_from_zero(6)));
       }},
      {"max", K::Max, separated(build::max)},
      {"min", K::Min, separated(build::min)},
      {"select", K::Select,
       [](Problem& p, Random& r) {
         Value* condition = p.fixed_input("c", DType::i32, {2, 3}, {1, 0, 2, 0, 0, 1});
         return build::select(condition, p.wrt_input("a", {2, 3}, r.away_from_zero(6)),
                              p.wrt_input("b", {2, 3}, r.away_from_zero(6)));
       }},
      {"broadcast_leading", K::Broadcast,
       of_input({3},
                [](Value* x) {
                  return build::broadcast(x, {2, 3});
                })},
      {"broadcast_stretch", K::Broadcast,
       of_input({2, 1},
                [](Value* x) {
                  return build::broadcast(x, {2, 4});
                })},
      {"broadcast_both", K::Broadcast,
       of_input({1, 3},
                [](Value* x) {
                  return build::broadcast(x, {2, 4, 3});
                })},
      {"broadcast_scalar", K::Broadcast,
       of_input({},
                [](Value* x) {
                  return build::broadcast(x, {2, 2});
                })},
      {"broadcast_identity", K::Broadcast,
       of_input({2, 3},
                [](Value* x) {
                  return build::broadcast(x, {2, 3});
                })},
      {"reshape", K::Reshape,
       of_input({2, 3},
                [](Value* x) {
                  return build::reshape(x, {3, 1, 2});
                })},
      {"transpose", K::Transpose,
       of_input({2, 3, 4},
                [](Value* x) {
                  return build::transpose(x, {2, 0, 1});
                })},
      {"slice", K::Slice,
       of_input({4, 5},
                [](Value* x) {
                  return build::slice(x, {1, 0}, {3, 4});
                })},
      {"pad", K::Pad,
       of_input({2, 3},
                [](Value* x) {
                  return build::pad(x, {1, 0}, {0, 2});
                })},
      {"concat_three_parts", K::Concat,
       [](Problem& p, Random& r) {
         return build::concat({p.wrt_input("a", {2, 1}, r.away_from_zero(2)),
                               p.wrt_input("b", {2, 3}, r.away_from_zero(6)),
                               p.wrt_input("c", {2, 2}, r.away_from_zero(4))},
                              1);
       }},
      {"reduce_sum_two_axes", K::ReduceSum,
       of_input({2, 3, 4},
                [](Value* x) {
                  return build::reduce_sum(x, {0, 2});
                })},
      {"reduce_sum_all_axes", K::ReduceSum,
       of_input({2, 3},
                [](Value* x) {
                  return build::reduce_sum(x, {0, 1});
                })},
      {"reduce_sum_no_axes", K::ReduceSum,
       of_input({2, 3}, [](Value* x) { return build::reduce_sum(x, {}); })},
      {"reduce_mean_two_axes", K::ReduceMean,
       of_input({2, 3, 4},
                [](Value* x) {
                  return build::reduce_mean(x, {1, 2});
                })},
      {"reduce_mean_first_axis", K::ReduceMean,
       of_input({3, 2}, [](Value* x) { return build::reduce_mean(x, {0}); })},
      {"reduce_max_last_axis", K::ReduceMax,
       of_distinct_input({3, 4}, [](Value* x) { return build::reduce_max(x, {1}); })},
      {"reduce_max_two_axes", K::ReduceMax,
       of_distinct_input({2, 3, 4},
                         [](Value* x) {
                           return build::reduce_max(x, {0, 2});
                         })},
      {"gather_repeated_indices", K::Gather,
       [](Problem& p, Random& r) {
         Value* table = p.wrt_input("table", {4, 3}, r.away_from_zero(12));
         return build::gather(table, p.fixed_input("indices", DType::i32, {5}, {1, 3, 1, 0, 1}));
       }},
      {"gather_2d_indices", K::Gather,
       [](Problem& p, Random& r) {
         Value* table = p.wrt_input("table", {3, 2, 2}, r.away_from_zero(12));
         return build::gather(table, p.fixed_input("indices", DType::i32, {2, 2}, {2, 2, 0, 2}));
       }},
      {"scan_forward", K::Scan, scan_case(false, false)},
      {"scan_reverse_with_lengths", K::Scan, scan_case(true, true)},
      {"fused_broadcast_and_constant", K::Fused, fused_case(false)},
      {"fused_two_results_into_fused", K::Fused, fused_case(true)},
      {"scatter_add_repeated_indices", K::ScatterAdd,
       [](Problem& p, Random& r) {
         Value* indices = p.fixed_input("indices", DType::i32, {5}, {2, 0, 2, 2, 1});
         return build::scatter_add(indices, p.wrt_input("updates", {5, 3}, r.away_from_zero(15)),
                                   {4, 3});
       }},
      {"coalesce_rows_repeated_indices", K::CoalesceRows,
       [](Problem& p, Random& r) {
         Value* indices = p.fixed_input("indices", DType::i32, {2, 3}, {2, 0, 2, 2, 1, 0});
         return build::coalesce_rows(indices,
                                     p.wrt_input("updates", {2, 3, 2}, r.away_from_zero(12)), 4);
       }},
      {"scatter_rows_repeated_indices", K::ScatterRows,
       [](Problem& p, Random& r) {
         Value* indices = p.fixed_input("indices", DType::i32, {5}, {2, 0, 2, 2, 1});
         Value* table = p.wrt_input("table", {4, 3}, r.away_from_zero(12));
         return build::scatter_rows(table, indices,
                                    p.wrt_input("rows", {5, 3}, r.away_from_zero(15)));
       }},
      // Piecewise constant ops: zero gradient (finite differences too, away from the steps).
      {"sign", K::Sign, unary(build::sign), true},
      {"greater", K::Greater, separated(build::greater), true},
      {"less", K::Less, separated(build::less), true},
      {"equal", K::Equal, separated(build::equal), true},
      {"cast_through_i32", K::Cast,
       of_input({2, 3},
                [](Value* x) { return build::cast(build::cast(x, DType::i32), DType::f64); }),
       true},
  };
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (bool batched : {false, true}) {
        std::string name = std::string("matmul_") + (ta ? "t" : "n") + (tb ? "t" : "n") +
                           (batched ? "_batched" : "");
        cases.push_back({name, K::MatMul, matmul_case(batched ? Shape{2} : Shape{}, ta, tb)});
      }
  return cases;
}

class OpGradient : public testing::TestWithParam<GradientCase> {};

TEST_P(OpGradient, MatchesFiniteDifferences) {
  const GradientCase& c = GetParam();
  Random random(seed_of(c.name));
  Problem problem;
  Value* out = c.build(problem, random);
  ASSERT_EQ(out->producer()->kind(), c.op) << "the case must end in the op it tests";
  Value* loss = weighted_sum(out, random);
  std::vector<Value*> grads =
      expect_gradients_match_finite_differences(problem, loss, c.eps, c.tolerance);
  if (c.zero_gradient) {
    for (Value* grad : grads)
      EXPECT_EQ(grad->producer()->kind(), OpKind::Constant)
          << grad->name() << ": a zero gradient must cost no computation";
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, OpGradient, testing::ValuesIn(gradient_cases()),
                         [](const testing::TestParamInfo<GradientCase>& info) {
                           return info.param.name;
                         });

// A new op in ops.def needs a gradient case here (or a reason to have none).
TEST(AutodiffCoverage, EveryOpHasAGradientCase) {
  // Sources have no operands; their gradients are the wrt results themselves, checked by
  // the inputs and parameters of every case.
  const std::set<OpKind> sources = {OpKind::Input, OpKind::Parameter, OpKind::Constant,
                                    OpKind::Iota};
  // Piecewise constant: their cases must show a zero gradient.
  const std::set<OpKind> piecewise_constant = {OpKind::Sign, OpKind::Greater, OpKind::Less,
                                               OpKind::Equal};
  std::set<OpKind> with_gradient, with_zero_gradient;
  for (const GradientCase& c : gradient_cases())
    (c.zero_gradient ? with_zero_gradient : with_gradient).insert(c.op);
  for (OpKind op : all_ops()) {
    if (sources.count(op)) continue;
    if (piecewise_constant.count(op))
      EXPECT_TRUE(with_zero_gradient.count(op))
          << op_info(op).name << " needs a zero-gradient case";
    else
      EXPECT_TRUE(with_gradient.count(op)) << op_info(op).name << " needs a gradient case";
  }
}

// A 2-layer perceptron with sigmoid and a softmax cross-entropy built from primitives.
TEST(Autodiff, MlpWithSoftmaxCrossEntropy) {
  Random random(7);
  Problem p;
  const int64_t batch = 4, in = 3, hidden = 5, classes = 3;
  Value* x = p.wrt_input("x", {batch, in}, random.away_from_zero(batch * in));
  Value* w1 = p.wrt_parameter("w1", {in, hidden}, random.away_from_zero(in * hidden));
  Value* b1 = p.wrt_parameter("b1", {hidden}, random.away_from_zero(hidden));
  Value* w2 = p.wrt_parameter("w2", {hidden, classes}, random.away_from_zero(hidden * classes));
  Value* b2 = p.wrt_parameter("b2", {classes}, random.away_from_zero(classes));
  Value* labels = p.fixed_input("labels", DType::i32, {batch}, {0, 2, 1, 2});

  Value* h =
      build::sigmoid(build::add(build::matmul(x, w1), build::broadcast(b1, {batch, hidden})));
  Value* logits = build::add(build::matmul(h, w2), build::broadcast(b2, {batch, classes}));
  auto per_row = [&](Value* row_values) {  // [batch] -> [batch, classes]
    return build::broadcast(build::reshape(row_values, {batch, 1}), {batch, classes});
  };
  Value* shifted = build::sub(logits, per_row(build::reduce_max(logits, {1})));
  Value* log_sum = build::log(build::reduce_sum(build::exp(shifted), {1}));
  Value* log_probs = build::sub(shifted, per_row(log_sum));
  Value* column =
      p.graph.add_node(OpKind::Iota, {}, {{"axis", int64_t{1}}}, {{DType::i32, {batch, classes}}})
          ->result();
  Value* one_hot = build::cast(build::equal(column, per_row(labels)), DType::f64);
  Value* picked = build::reduce_sum(build::mul(one_hot, log_probs), {1});
  Value* loss = build::neg(build::reduce_mean(picked, {0}));
  expect_gradients_match_finite_differences(p, loss);
}

TEST(Autodiff, ValueUsedSeveralTimes) {
  Random random(11);
  Problem p;
  std::vector<double> xs = random.away_from_zero(6);
  Value* x = p.wrt_input("x", {2, 3}, xs);
  Value* loss = build::reduce_sum(build::add(build::mul(x, x), x), {0, 1});
  std::vector<Value*> grads = expect_gradients_match_finite_differences(p, loss);
  Bindings state;
  std::vector<double> grad =
      interp::run_graph(p.graph, p.inputs, state).at("gradient_0").to_doubles();
  for (size_t i = 0; i < xs.size(); ++i) EXPECT_NEAR(grad[i], 2 * xs[i] + 1, 1e-12);
}

TEST(Autodiff, GradientWithRespectToAnIntermediateValue) {
  Random random(13);
  Problem p;
  std::vector<double> xs = random.away_from_zero(3), ws = random.away_from_zero(3);
  Value* x = p.wrt_input("x", {3}, xs);
  Value* h = build::mul(x, x);
  Value* weights = p.graph.add_constant({DType::f64, {3}}, ws);
  Value* loss = build::reduce_sum(build::mul(build::tanh(h), weights), {0});
  std::vector<Value*> grads = append_gradients(p.graph, loss, {h, x});
  EXPECT_EQ(grads[0]->name(), "grad_mul");
  p.graph.add_output("grad_h", grads[0]);
  p.graph.add_output("grad_x", grads[1]);
  Bindings state, out = interp::run_graph(p.graph, p.inputs, state);
  for (size_t i = 0; i < 3; ++i) {
    double t = std::tanh(xs[i] * xs[i]);
    double grad_h = ws[i] * (1 - t * t);
    EXPECT_NEAR(out.at("grad_h").get(i), grad_h, 1e-12);
    EXPECT_NEAR(out.at("grad_x").get(i), grad_h * 2 * xs[i], 1e-12);
  }
}

TEST(Autodiff, UnrelatedValueGetsZeroGradient) {
  Problem p;
  Value* x = p.wrt_input("x", {2}, {1.5, -0.5});
  Value* z = p.wrt_input("z", {3}, {1, 2, 3});
  Value* loss = build::reduce_sum(build::exp(x), {0});
  build::tanh(z);  // used, but not by the loss
  size_t nodes_before = p.graph.nodes().size();
  std::vector<Value*> grads = append_gradients(p.graph, loss, {z, x});
  EXPECT_EQ(grads[0]->name(), "grad_z");
  EXPECT_EQ(grads[0]->producer()->kind(), OpKind::Constant);
  EXPECT_EQ(grads[0]->type(), z->type());
  p.graph.add_output("gz", grads[0]);
  p.graph.add_output("gx", grads[1]);
  Bindings state, out = interp::run_graph(p.graph, p.inputs, state);
  EXPECT_EQ(out.at("gz").to_doubles(), (std::vector<double>{0, 0, 0}));
  EXPECT_NEAR(out.at("gx").get(1), std::exp(-0.5), 1e-15);
  // Nothing about tanh(z) was differentiated.
  for (size_t i = nodes_before; i < p.graph.nodes().size(); ++i)
    for (Value* operand : p.graph.nodes()[i]->operands())
      EXPECT_NE(operand->producer()->kind(), OpKind::Tanh);
}

/// Whether every node appended after `first` is used, directly or not, by one of `grads`.
bool every_appended_node_is_used(const Graph& graph, size_t first,
                                 const std::vector<Value*>& grads) {
  std::unordered_set<const Node*> used;
  std::vector<const Node*> work;
  for (Value* grad : grads) work.push_back(grad->producer());
  while (!work.empty()) {
    const Node* node = work.back();
    work.pop_back();
    if (!used.insert(node).second) continue;
    for (Value* operand : node->operands()) work.push_back(operand->producer());
  }
  for (size_t i = first; i < graph.nodes().size(); ++i)
    if (!used.count(graph.nodes()[i].get())) return false;
  return true;
}

TEST(Autodiff, AppendsNoUselessNodes) {
  Problem p;
  Value* x = p.wrt_input("x", {2, 3}, std::vector<double>(6, 0.5));
  Value* c = p.fixed_input("c", DType::f64, {2, 3}, std::vector<double>(6, 0.25));
  Value* w = p.graph.add_constant({DType::f64, {2, 3}}, {2.0});
  // Constant operands of mul and matmul get no adjoint; the greater() path carries none.
  Value* a = build::mul(build::tanh(c), x);
  Value* b = build::mul(build::greater(x, c), w);
  Value* m = build::matmul(c, x, true, false);
  Value* loss =
      build::add(build::reduce_sum(build::add(a, b), {0, 1}), build::reduce_sum(m, {0, 1}));
  size_t first = p.graph.nodes().size();
  std::vector<Value*> grads = append_gradients(p.graph, loss, {x});
  EXPECT_TRUE(every_appended_node_is_used(p.graph, first, grads));
  for (size_t i = first; i < p.graph.nodes().size(); ++i)
    EXPECT_NE(p.graph.nodes()[i]->kind(), OpKind::Sub) << "tanh of a constant was differentiated";
}

TEST(Autodiff, SimpleGraphGetsExactlyTheNeededNodes) {
  Problem p;
  Value* x = p.wrt_input("x", {2, 3}, std::vector<double>(6, 0.5));
  Value* w = p.graph.add_constant({DType::f64, {2, 3}}, {2.0});
  Value* loss = build::reduce_sum(build::mul(x, w), {0, 1});
  size_t first = p.graph.nodes().size();
  std::vector<Value*> grads = append_gradients(p.graph, loss, {x});
  // seed 1, reshape to [1, 1], broadcast to [2, 3], times w.
  std::vector<OpKind> kinds;
  for (size_t i = first; i < p.graph.nodes().size(); ++i)
    kinds.push_back(p.graph.nodes()[i]->kind());
  EXPECT_EQ(kinds, (std::vector<OpKind>{OpKind::Constant, OpKind::Reshape, OpKind::Broadcast,
                                        OpKind::Mul}));
  EXPECT_EQ(grads[0], p.graph.nodes().back()->result());
  EXPECT_EQ(grads[0]->name(), "grad_x");
}

TEST(Autodiff, LossWithRespectToItselfIsOne) {
  Problem p;
  Value* x = p.wrt_input("x", {2}, {1, 2});
  Value* loss = build::reduce_sum(x, {0});
  std::vector<Value*> grads = append_gradients(p.graph, loss, {loss, x, x});
  EXPECT_EQ(grads[0]->name(), "grad_reduce_sum");
  EXPECT_EQ(grads[1], grads[2]) << "a repeated wrt entry shares one gradient";
  p.graph.add_output("g", grads[0]);
  Bindings state;
  EXPECT_EQ(interp::run_graph(p.graph, p.inputs, state).at("g").get(0), 1.0);
}

// At a tie the maximum is not differentiable; the adjoint is shared evenly among the tied
// positions, so it still sums to the derivative along (1, 1, ...), which is exactly 1.
TEST(Autodiff, ReduceMaxSharesTiesEvenly) {
  Problem p;
  Value* x = p.wrt_input("x", {2, 3}, {2, 2, 1, -1, 3, 3});
  Value* scale = p.graph.add_constant({DType::f64, {2}}, {1, 6});
  Value* loss = build::reduce_sum(build::mul(build::reduce_max(x, {1}), scale), {0});
  p.graph.add_output("g", append_gradients(p.graph, loss, {x})[0]);
  Bindings state;
  EXPECT_EQ(interp::run_graph(p.graph, p.inputs, state).at("g").to_doubles(),
            (std::vector<double>{0.5, 0.5, 0, 0, 3, 3}));
}

using testerr::error_of;

TEST(Autodiff, RejectsNonScalarOrIntegerLossAndIntegerWrt) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2}});
  Value* labels = graph.add_input("labels", {DType::i32, {2}});
  Value* vector_loss = build::exp(x);
  Value* integer_loss = build::reduce_sum(labels, {0});
  Value* loss = build::reduce_sum(x, {0});
  EXPECT_EQ(error_of([&] { append_gradients(graph, vector_loss, {x}); }),
            "autodiff: loss %exp must be a float scalar, got f64[2]");
  EXPECT_EQ(error_of([&] { append_gradients(graph, integer_loss, {x}); }),
            "autodiff: loss %reduce_sum must be a float scalar, got i32[]");
  EXPECT_EQ(error_of([&] { append_gradients(graph, loss, {labels}); }),
            "autodiff: cannot differentiate with respect to %labels of integer type i32[2]");
  Graph other;
  Value* stranger = other.add_input("stranger", {DType::f64, {}});
  EXPECT_NE(error_of([&] { append_gradients(graph, stranger, {x}); }).find("%stranger"),
            std::string::npos);
  EXPECT_NE(error_of([&] { append_gradients(graph, loss, {stranger}); }).find("%stranger"),
            std::string::npos);
}

TEST(Autodiff, Float32GraphMatchesFloat64) {
  // The same function in both precisions: the rules build values of the graph's dtype.
  std::map<DType, std::vector<double>> gradients;
  for (DType dtype : {DType::f32, DType::f64}) {
    Graph graph;
    Value* x = graph.add_input("x", {dtype, {2, 3}});
    Value* y = build::div(build::sigmoid(x),
                          build::sqrt(build::add(build::mul(x, x), build::full_like(x, 1.0))));
    Value* loss = build::reduce_mean(build::max(y, build::full_like(y, 0.3)), {0, 1});
    graph.add_output("g", append_gradients(graph, loss, {x})[0]);
    Bindings state;
    gradients[dtype] =
        interp::run_graph(
            graph, {{"x", Tensor::from_doubles(dtype, {2, 3}, {-1.5, -0.5, 0.25, 0.75, 1.5, 3})}},
            state)
            .at("g")
            .to_doubles();
  }
  for (size_t i = 0; i < 6; ++i)
    EXPECT_NEAR(gradients[DType::f32][i], gradients[DType::f64][i], 1e-6);
  EXPECT_EQ(gradients[DType::f64][0], 0.0) << "max(y, 0.3) routes nothing to y where y < 0.3";
}

}  // namespace
}  // namespace rnnc
