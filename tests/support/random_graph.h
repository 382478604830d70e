#pragma once
// A seeded generator of random, valid IR graphs for pass tests: every pass test drives its
// property test with these (a pass must leave the outputs unchanged on all of them).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/graph.h"
#include "ir/scan_builder.h"
#include "runtime/tensor.h"

namespace rnnc::testgen {

/// What make_random_graph builds.
struct RandomGraphOptions {
  /// Random steps (each appends one or a few nodes).
  int steps = 28;
  /// Whether the graph may hold a Scan with a random body (about one graph in two).
  bool allow_scan = true;
};

/// A random graph with data to run it on: f64 values in [-1, 1] for every input and
/// parameter.
struct RandomGraph {
  std::unique_ptr<ir::Graph> graph;
  Bindings inputs;
  Bindings state;
};

/// A portable seeded generator (splitmix64): the same seed gives the same graph everywhere.
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n).
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
  /// Uniform in [lo, hi].
  int64_t between(int64_t lo, int64_t hi) { return lo + below(hi - lo + 1); }
  /// Uniform in [-1, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0; }
  bool chance(int percent) { return below(100) < percent; }
  template <typename T>
  T pick(const std::vector<T>& items) {
    return items[below(static_cast<int64_t>(items.size()))];
  }

 private:
  uint64_t state_;
};

namespace detail {

using ir::DType;
using ir::OpKind;
using ir::Shape;
using ir::TensorType;
using ir::Value;

/// Appends random nodes to one graph (the main graph or a scan body) over a pool of f64
/// values. It adds no sources but constants and iotas (a body may hold no parameters).
class RandomBuilder {
 public:
  RandomBuilder(ir::Graph& graph, SplitMix& rng) : graph_(graph), rng_(rng) {}

  std::vector<Value*>& pool() { return pool_; }

  /// One random step: an op over pool values, an identity the passes should remove, a
  /// constant subgraph, or a duplicate of an earlier node.
  void step() {
    switch (rng_.below(16)) {
      case 0:
      case 1:
        return keep(unary(any()));
      case 2:
      case 3:
        return keep(binary(any()));
      case 4:
        return keep(identity(any()));
      case 5:
        return keep(layout(any()));
      case 6:
        return keep(reduce(any()));
      case 7:
        return keep(matmul());
      case 8:
        return keep(constant_subgraph(any()));
      case 9:
      case 10:
        return duplicate();
      case 11:
        return keep(concat_then_slice(any()));
      case 12:
        return keep(select(any()));
      case 13:
        return keep(reshape(any()));
      case 14:
        return keep(broadcast(any()));
      default:
        return keep(identity(unary(any())));
    }
  }

  /// A random pool value.
  Value* any() { return rng_.pick(pool_); }
  /// A pool value of `shape`, or a new constant of it.
  Value* like(const Shape& shape) {
    std::vector<Value*> same;
    for (Value* v : pool_)
      if (v->shape() == shape) same.push_back(v);
    if (!same.empty() && rng_.chance(80)) return rng_.pick(same);
    return constant(shape);
  }
  /// A constant of random values, or a splat.
  Value* constant(const Shape& shape) {
    TensorType type{DType::f64, shape};
    if (rng_.chance(30)) return graph_.add_constant(type, {rng_.unit()});
    std::vector<double> values(type.num_elements());
    for (double& v : values) v = rng_.unit();
    return graph_.add_constant(type, values);
  }
  void keep(Value* value) { pool_.push_back(value); }

  /// Pool values nothing reads yet (the ends of the computation), in pool order.
  std::vector<Value*> sinks() const {
    std::vector<const Value*> used;
    for (const auto& node : graph_.nodes())
      for (const Value* operand : node->operands()) used.push_back(operand);
    std::vector<Value*> unused;
    for (Value* v : pool_)
      if (std::find(used.begin(), used.end(), v) == used.end() &&
          std::find(unused.begin(), unused.end(), v) == unused.end())
        unused.push_back(v);
    return unused;
  }

  /// About `percent`% of the sinks (at most `limit`, at least one): outputs that keep most of
  /// the graph live while the other sinks stay dead.
  std::vector<Value*> some_sinks(int percent, size_t limit) {
    std::vector<Value*> chosen;
    for (Value* v : sinks())
      if (chosen.size() < limit && rng_.chance(percent)) chosen.push_back(v);
    if (chosen.empty()) chosen.push_back(any());
    return chosen;
  }

 private:
  Value* unary(Value* x) {
    static const std::vector<OpKind> kinds = {OpKind::Neg,     OpKind::Abs,  OpKind::Tanh,
                                              OpKind::Sigmoid, OpKind::Relu, OpKind::Sign};
    return ir::build::unary(rng_.pick(kinds), x);
  }

  Value* binary(Value* a) {
    Value* b = like(a->shape());
    switch (rng_.below(6)) {
      case 0:
        return ir::build::add(a, b);
      case 1:
        return ir::build::sub(a, b);
      case 2:
        return ir::build::mul(a, b);
      case 3:
        return ir::build::max(b, a);
      case 4:
        return ir::build::min(a, b);
      default:  // a / (|b| + 1): never a division by zero
        return ir::build::div(a, ir::build::add(ir::build::abs(b), ones(a->shape())));
    }
  }

  Value* ones(const Shape& shape) {
    if (rng_.chance(50)) return ir::build::full(graph_, {DType::f64, shape}, 1.0);
    return ir::build::broadcast(ir::build::scalar(graph_, DType::f64, 1.0), shape);
  }
  Value* zeros(const Shape& shape) { return ir::build::full(graph_, {DType::f64, shape}, 0.0); }

  /// Identities the canonicalizer removes.
  Value* identity(Value* x) {
    const Shape& shape = x->shape();
    switch (rng_.below(12)) {
      case 0:
        return rng_.chance(50) ? ir::build::mul(x, ones(shape)) : ir::build::mul(ones(shape), x);
      case 1:
        return rng_.chance(50) ? ir::build::add(x, zeros(shape)) : ir::build::add(zeros(shape), x);
      case 2:
        return ir::build::sub(x, zeros(shape));
      case 3:
        return ir::build::div(x, ones(shape));
      case 4:
        return ir::build::neg(ir::build::neg(x));
      case 5: {
        std::vector<int64_t> p = perm(x->type().rank()), q = perm(x->type().rank());
        return ir::build::transpose(ir::build::transpose(x, p), q);
      }
      case 6:
        return ir::build::reshape(ir::build::reshape(x, factorization(x->type().num_elements())),
                                  shape);
      case 7:
        return rng_.chance(50) ? ir::build::broadcast(x, shape) : ir::build::reshape(x, shape);
      case 8:
        return ir::build::slice(x, Shape(shape.size(), 0), shape);
      case 9:
        if (x->type().rank() == 0) return ir::build::cast(x, DType::f64);
        return ir::build::concat({x}, rng_.below(x->type().rank()));
      case 10:
        return ir::build::cast(x, DType::f64);
      default:
        return ir::build::select(ir::build::greater(x, like(shape)), x, x);
    }
  }

  /// A transpose or slice (data movement that stays).
  Value* layout(Value* x) {
    if (x->type().rank() >= 2 && rng_.chance(50))
      return ir::build::transpose(x, perm(x->type().rank()));
    if (x->type().rank() == 0) return ir::build::reshape(x, {1});
    std::vector<int64_t> starts, ends;
    for (int64_t dim : x->shape()) {
      int64_t start = rng_.between(0, dim - 1);
      starts.push_back(start);
      ends.push_back(rng_.between(start + 1, dim));
    }
    return ir::build::slice(x, starts, ends);
  }

  Value* reduce(Value* x) {
    if (x->type().rank() == 0) return ir::build::neg(x);
    std::vector<int64_t> axes;
    for (int64_t d = 0; d < x->type().rank(); ++d)
      if (rng_.chance(50)) axes.push_back(d);
    if (axes.empty()) axes.push_back(rng_.below(x->type().rank()));
    switch (rng_.below(3)) {
      case 0:
        return ir::build::reduce_sum(x, axes);
      case 1:
        return ir::build::reduce_max(x, axes);
      default:
        return ir::build::reduce_mean(x, axes);
    }
  }

  /// [m, k] x [k, n] from a rank-2 pool value (made from a rank-1 one when there is none).
  Value* matmul() {
    std::vector<Value*> matrices;
    for (Value* v : pool_)
      if (v->type().rank() == 2) matrices.push_back(v);
    Value* a = nullptr;
    if (matrices.empty()) {
      Value* x = any();
      a = ir::build::reshape(x, {1, x->type().num_elements()});
    } else {
      a = rng_.pick(matrices);
    }
    int64_t k = a->shape()[1];
    int64_t n = rng_.between(1, 4);
    bool transposed = rng_.chance(40);
    Value* b = like(transposed ? Shape{n, k} : Shape{k, n});
    return ir::build::matmul(a, b, false, transposed);
  }

  /// An op over constants only (folded by the canonicalizer), combined with `x`.
  Value* constant_subgraph(Value* x) {
    const Shape& shape = x->shape();
    Value* folded = unary(ir::build::add(constant(shape), constant(shape)));
    if (rng_.chance(30)) folded = ir::build::mul(folded, ir::build::broadcast(constant({}), shape));
    if (rng_.chance(30) && !shape.empty()) {
      Value* iota =
          graph_.add_node(OpKind::Iota, {}, {{"axis", int64_t{0}}}, {{DType::f64, shape}})
              ->result();
      folded = ir::build::add(folded, iota);
    }
    return ir::build::add(x, folded);
  }

  /// A copy of an earlier non-source node with the same operands (swapped when commutative,
  /// and sometimes when not).
  void duplicate() {
    std::vector<ir::Node*> candidates;
    for (const auto& node : graph_.nodes())
      if (!node->info().has(ir::kSource) && node->bodies().empty())
        candidates.push_back(node.get());
    if (candidates.empty()) return keep(unary(any()));
    ir::Node* node = rng_.pick(candidates);
    std::vector<Value*> operands = node->operands();
    // Commuted operands: the same value for commutative ops, a different one otherwise.
    bool same_types = operands.size() == 2 && operands[0]->type() == operands[1]->type();
    if (node->info().has(ir::kCommutative) || (same_types && rng_.chance(40)))
      std::reverse(operands.begin(), operands.end());
    keep(graph_.add_node(node->kind(), operands, node->attrs())->result());
  }

  /// A slice of concat(x, y) that lies within x or within y.
  Value* concat_then_slice(Value* x) {
    if (x->type().rank() == 0) return ir::build::neg(x);
    int64_t axis = rng_.below(x->type().rank());
    Value* y = like(x->shape());
    Value* joined = ir::build::concat({x, y}, axis);
    Shape starts(x->shape().size(), 0), ends = x->shape();
    int64_t size = x->shape()[axis];
    int64_t part = rng_.below(2);
    starts[axis] = part * size + rng_.below(size);
    ends[axis] = rng_.between(starts[axis] + 1, (part + 1) * size);
    return ir::build::slice(joined, starts, ends);
  }

  Value* select(Value* x) {
    Value* y = like(x->shape());
    return ir::build::select(ir::build::less(x, y), x, y);
  }

  Value* reshape(Value* x) {
    return ir::build::reshape(x, factorization(x->type().num_elements()));
  }

  /// [2] + shape, or a size-1 dimension stretched.
  Value* broadcast(Value* x) {
    if (x->type().num_elements() > 24) return unary(x);
    Shape shape = x->shape();
    for (int64_t& dim : shape)
      if (dim == 1 && rng_.chance(50)) dim = rng_.between(2, 3);
    if (shape == x->shape() || shape.size() < 3) shape.insert(shape.begin(), rng_.between(1, 3));
    return ir::build::broadcast(x, shape);
  }

  std::vector<int64_t> perm(int64_t rank) {
    std::vector<int64_t> p(rank);
    for (int64_t d = 0; d < rank; ++d) p[d] = d;
    for (int64_t d = rank - 1; d > 0; --d) std::swap(p[d], p[rng_.below(d + 1)]);
    return p;
  }

  /// A random shape with `count` elements, rank 1 to 3.
  Shape factorization(int64_t count) {
    Shape shape;
    int64_t rest = count;
    int64_t rank = rng_.between(1, 3);
    for (int64_t d = 0; d + 1 < rank; ++d) {
      std::vector<int64_t> divisors;
      for (int64_t f = 1; f <= rest; ++f)
        if (rest % f == 0) divisors.push_back(f);
      int64_t f = rng_.pick(divisors);
      shape.push_back(f);
      rest /= f;
    }
    shape.push_back(rest);
    return shape;
  }

  ir::Graph& graph_;
  SplitMix& rng_;
  std::vector<Value*> pool_;
};

inline Shape random_shape(SplitMix& rng, int64_t min_rank) {
  Shape shape(rng.between(min_rank, 3));
  for (int64_t& dim : shape) dim = rng.between(1, 4);
  return shape;
}

inline Tensor random_tensor(SplitMix& rng, const TensorType& type) {
  std::vector<double> values(type.num_elements());
  for (double& v : values) v = rng.unit();
  return Tensor::from_doubles(type.dtype, type.shape, values);
}

/// Appends a Scan over a pool value of rank >= 2 (its leading dimension is time): carry and
/// invariant of the step's shape, a random body, a tanh'd next carry and a random per-step
/// output. Returns the scan's results.
inline std::vector<Value*> add_random_scan(ir::Graph& graph, RandomBuilder& outer, SplitMix& rng,
                                           int steps) {
  std::vector<Value*> sequences;
  for (Value* v : outer.pool())
    if (v->type().rank() >= 2) sequences.push_back(v);
  if (sequences.empty()) return {};
  Value* xs = rng.pick(sequences);
  Shape step_shape(xs->shape().begin() + 1, xs->shape().end());
  ir::ScanBuilder scan(graph, "step");
  Value* h = scan.carry(outer.like(step_shape), "h");
  Value* x = scan.sequence(xs, "x");
  Value* w = scan.invariant(outer.like(step_shape), "w");
  scan.set_reverse(rng.chance(30));
  RandomBuilder body(scan.body(), rng);
  body.pool() = {h, x, w};
  for (int i = 0; i < steps; ++i) body.step();
  Value* next = ir::build::tanh(body.like(step_shape));
  scan.set_next(h, next);
  std::vector<Value*> outputs = body.some_sinks(60, 3);
  for (size_t i = 0; i < outputs.size(); ++i)
    scan.add_output("y" + std::to_string(i), ir::build::tanh(outputs[i]));
  return scan.finish();
}

}  // namespace detail

/// A random valid graph for seed `seed`: two inputs and one or two parameters (f64, shapes of
/// rank 0 to 3, dimensions 1 to 4), random elementwise, broadcast, reduce, matmul, reshape,
/// transpose, slice, concat, select and constant nodes over them, with identities the
/// canonicalizer should remove, duplicated subexpressions, dead nodes and foldable constant
/// subgraphs; often a Scan with a random body. Outputs are most of the values nothing reads
/// (the others stay dead) and the last value built; the first parameter is updated.
inline RandomGraph make_random_graph(uint64_t seed, const RandomGraphOptions& options = {}) {
  SplitMix rng(seed * 0x100000001b3ull + 17);
  RandomGraph result;
  result.graph = std::make_unique<ir::Graph>("random" + std::to_string(seed));
  ir::Graph& graph = *result.graph;
  detail::RandomBuilder builder(graph, rng);
  for (int i = 0; i < 2; ++i) {
    ir::TensorType type{ir::DType::f64, detail::random_shape(rng, i == 0 ? 2 : 0)};
    builder.keep(graph.add_input("in" + std::to_string(i), type));
    result.inputs["in" + std::to_string(i)] = detail::random_tensor(rng, type);
  }
  int parameters = static_cast<int>(rng.between(1, 2));
  std::vector<ir::Value*> params;
  for (int i = 0; i < parameters; ++i) {
    ir::TensorType type{ir::DType::f64, detail::random_shape(rng, 0)};
    params.push_back(graph.add_parameter("p" + std::to_string(i), type, "zeros"));
    builder.keep(params.back());
    result.state["p" + std::to_string(i)] = detail::random_tensor(rng, type);
  }
  bool with_scan = options.allow_scan && rng.chance(50);
  for (int i = 0; i < options.steps; ++i) {
    builder.step();
    if (with_scan && i == options.steps / 2)
      for (ir::Value* v : detail::add_random_scan(graph, builder, rng, options.steps / 2))
        builder.keep(v);
  }
  ir::Value* last = builder.pool().back();
  std::vector<ir::Value*> outputs = builder.some_sinks(70, 8);
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i] != last) graph.add_output("out" + std::to_string(i), outputs[i]);
  graph.add_output("last", last);
  ir::Value* p = params[0];
  ir::Value* step = ir::build::mul(ir::build::full(graph, p->type(), 0.125),
                                   ir::build::tanh(builder.like(p->shape())));
  graph.add_update(p, ir::build::sub(p, step));
  return result;
}

}  // namespace rnnc::testgen
