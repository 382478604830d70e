#include "ir/builder.h"

namespace rnnc::ir::build {

Graph& graph_of(Value* value) { return *value->producer()->owner(); }

Value* unary(OpKind kind, Value* x) { return graph_of(x).add(kind, {x}); }
Value* binary(OpKind kind, Value* a, Value* b) { return graph_of(a).add(kind, {a, b}); }

Value* neg(Value* x) { return unary(OpKind::Neg, x); }
Value* abs(Value* x) { return unary(OpKind::Abs, x); }
Value* sign(Value* x) { return unary(OpKind::Sign, x); }
Value* exp(Value* x) { return unary(OpKind::Exp, x); }
Value* log(Value* x) { return unary(OpKind::Log, x); }
Value* sqrt(Value* x) { return unary(OpKind::Sqrt, x); }
Value* tanh(Value* x) { return unary(OpKind::Tanh, x); }
Value* sigmoid(Value* x) { return unary(OpKind::Sigmoid, x); }
Value* relu(Value* x) { return unary(OpKind::Relu, x); }
Value* cast(Value* x, DType dtype) {
  return graph_of(x).add(OpKind::Cast, {x}, {{"dtype", dtype}});
}

Value* add(Value* a, Value* b) { return binary(OpKind::Add, a, b); }
Value* sub(Value* a, Value* b) { return binary(OpKind::Sub, a, b); }
Value* mul(Value* a, Value* b) { return binary(OpKind::Mul, a, b); }
Value* div(Value* a, Value* b) { return binary(OpKind::Div, a, b); }
Value* pow(Value* a, Value* b) { return binary(OpKind::Pow, a, b); }
Value* max(Value* a, Value* b) { return binary(OpKind::Max, a, b); }
Value* min(Value* a, Value* b) { return binary(OpKind::Min, a, b); }
Value* greater(Value* a, Value* b) { return binary(OpKind::Greater, a, b); }
Value* less(Value* a, Value* b) { return binary(OpKind::Less, a, b); }
Value* equal(Value* a, Value* b) { return binary(OpKind::Equal, a, b); }
Value* select(Value* cond, Value* a, Value* b) {
  return graph_of(cond).add(OpKind::Select, {cond, a, b});
}

Value* broadcast(Value* x, const Shape& shape) {
  return graph_of(x).add(OpKind::Broadcast, {x}, {{"shape", shape}});
}
Value* reshape(Value* x, const Shape& shape) {
  return graph_of(x).add(OpKind::Reshape, {x}, {{"shape", shape}});
}
Value* transpose(Value* x, const std::vector<int64_t>& perm) {
  return graph_of(x).add(OpKind::Transpose, {x}, {{"perm", perm}});
}
Value* slice(Value* x, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends) {
  return graph_of(x).add(OpKind::Slice, {x}, {{"starts", starts}, {"ends", ends}});
}
Value* pad(Value* x, const std::vector<int64_t>& low, const std::vector<int64_t>& high) {
  return graph_of(x).add(OpKind::Pad, {x}, {{"low", low}, {"high", high}});
}
Value* concat(const std::vector<Value*>& parts, int64_t axis) {
  return graph_of(parts.at(0)).add(OpKind::Concat, parts, {{"axis", axis}});
}

Value* reduce_sum(Value* x, const std::vector<int64_t>& axes) {
  return graph_of(x).add(OpKind::ReduceSum, {x}, {{"axes", axes}});
}
Value* reduce_max(Value* x, const std::vector<int64_t>& axes) {
  return graph_of(x).add(OpKind::ReduceMax, {x}, {{"axes", axes}});
}
Value* reduce_mean(Value* x, const std::vector<int64_t>& axes) {
  return graph_of(x).add(OpKind::ReduceMean, {x}, {{"axes", axes}});
}

Value* matmul(Value* a, Value* b, bool transpose_a, bool transpose_b) {
  return graph_of(a).add(
      OpKind::MatMul, {a, b},
      {{"transpose_a", int64_t{transpose_a}}, {"transpose_b", int64_t{transpose_b}}});
}
Value* gather(Value* table, Value* indices) {
  return graph_of(table).add(OpKind::Gather, {table, indices});
}
Value* scatter_add(Value* indices, Value* updates, const Shape& shape) {
  return graph_of(indices).add(OpKind::ScatterAdd, {indices, updates}, {{"shape", shape}});
}

Value* coalesce_rows(Value* indices, Value* updates, int64_t rows) {
  return graph_of(indices).add(OpKind::CoalesceRows, {indices, updates}, {{"rows", rows}});
}
Value* scatter_rows(Value* table, Value* indices, Value* rows) {
  return graph_of(table).add(OpKind::ScatterRows, {table, indices, rows});
}

Value* full(Graph& graph, const TensorType& type, double value) {
  return graph.add_constant(type, {value});
}
Value* full_like(Value* like, double value) { return full(graph_of(like), like->type(), value); }
Value* scalar(Graph& graph, DType dtype, double value) {
  return graph.add_constant({dtype, {}}, {value});
}

}  // namespace rnnc::ir::build
