#pragma once
#include <vector>

#include "ir/graph.h"

/// Terse construction of IR nodes: each function appends one node to the graph that owns its
/// first operand and returns the result. Shape errors throw rnnc::Error naming the node.
namespace rnnc::ir::build {

Value* unary(OpKind kind, Value* x);
Value* binary(OpKind kind, Value* a, Value* b);

Value* neg(Value* x);
Value* abs(Value* x);
Value* sign(Value* x);
Value* exp(Value* x);
Value* log(Value* x);
Value* sqrt(Value* x);
Value* tanh(Value* x);
Value* sigmoid(Value* x);
Value* relu(Value* x);
Value* cast(Value* x, DType dtype);

Value* add(Value* a, Value* b);
Value* sub(Value* a, Value* b);
Value* mul(Value* a, Value* b);
Value* div(Value* a, Value* b);
Value* pow(Value* a, Value* b);
Value* max(Value* a, Value* b);
Value* min(Value* a, Value* b);
Value* greater(Value* a, Value* b);
Value* less(Value* a, Value* b);
Value* equal(Value* a, Value* b);
Value* select(Value* cond, Value* a, Value* b);

Value* broadcast(Value* x, const Shape& shape);
Value* reshape(Value* x, const Shape& shape);
Value* transpose(Value* x, const std::vector<int64_t>& perm);
Value* slice(Value* x, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends);
Value* pad(Value* x, const std::vector<int64_t>& low, const std::vector<int64_t>& high);
Value* concat(const std::vector<Value*>& parts, int64_t axis);

Value* reduce_sum(Value* x, const std::vector<int64_t>& axes);
Value* reduce_max(Value* x, const std::vector<int64_t>& axes);
Value* reduce_mean(Value* x, const std::vector<int64_t>& axes);

Value* matmul(Value* a, Value* b, bool transpose_a = false, bool transpose_b = false);
Value* gather(Value* table, Value* indices);
Value* scatter_add(Value* indices, Value* updates, const Shape& shape);
/// The update rows summed at the first position of each index (ir/ops.def).
Value* coalesce_rows(Value* indices, Value* updates, int64_t rows);
/// `table` with `rows` written at `indices`, the first position winning (ir/ops.def).
Value* scatter_rows(Value* table, Value* indices, Value* rows);

/// A constant of `type` with every element `value`, in `graph`.
Value* full(Graph& graph, const TensorType& type, double value);
/// A constant of `like`'s type with every element `value`, in `like`'s graph.
Value* full_like(Value* like, double value);
/// A scalar constant.
Value* scalar(Graph& graph, DType dtype, double value);

/// The graph that owns `value`.
Graph& graph_of(Value* value);

}  // namespace rnnc::ir::build
