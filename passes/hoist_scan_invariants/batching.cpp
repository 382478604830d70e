#include "passes/hoist_scan_invariants/batching.h"

#include <cassert>

#include "ir/builder.h"

namespace rnnc::passes::hoist {

namespace build = ir::build;
using ir::OpKind;
using ir::Shape;
using ir::Value;

namespace {

/// [steps] + shape.
Shape over_time(int64_t steps, const Shape& shape) {
  Shape stacked{steps};
  stacked.insert(stacked.end(), shape.begin(), shape.end());
  return stacked;
}

/// Each entry plus one (axes of a per-step value, as axes of its stack).
std::vector<int64_t> shifted(const std::vector<int64_t>& axes) {
  std::vector<int64_t> result;
  for (int64_t axis : axes) result.push_back(axis + 1);
  return result;
}

/// (x W) for every step, x_t [M, K] a per-step operand (op(x_t) when `transpose_x`) and W an
/// invariant of rank 2: one matmul of the stack flattened to [T * M, K].
Value* per_step_times_invariant(Value* x_stack, Value* weight, bool transpose_x, bool transpose_w) {
  const Shape& shape = x_stack->shape();  // [T, M, K], or [T, K, M] when transposed
  Value* rows = transpose_x ? build::transpose(x_stack, {0, 2, 1}) : x_stack;
  const int64_t steps = shape[0], m = rows->shape()[1], k = rows->shape()[2];
  Value* flat = build::reshape(rows, {steps * m, k});
  Value* product = build::matmul(flat, weight, false, transpose_w);
  return build::reshape(product, {steps, m, product->shape()[1]});
}

/// (W x) for every step, W an invariant of rank 2 and x_t per step: one matmul with the stack
/// laid out as [K, T * N], the result [M, T * N] brought back to [T, M, N].
Value* invariant_times_per_step(Value* weight, Value* x_stack, bool transpose_w, bool transpose_x) {
  const int64_t steps = x_stack->shape()[0];
  Value* columns = nullptr;
  if (transpose_x) {  // x_t [N, K]: stack [T, N, K] -> [T * N, K], used transposed
    columns = build::reshape(x_stack, {steps * x_stack->shape()[1], x_stack->shape()[2]});
  } else {  // x_t [K, N]: stack [T, K, N] -> [K, T, N] -> [K, T * N]
    Value* moved = build::transpose(x_stack, {1, 0, 2});
    columns = build::reshape(moved, {x_stack->shape()[1], steps * x_stack->shape()[2]});
  }
  Value* product = build::matmul(weight, columns, transpose_w, transpose_x);
  const int64_t m = product->shape()[0];
  const int64_t n = product->shape()[1] / steps;
  return build::transpose(build::reshape(product, {m, steps, n}), {1, 0, 2});
}

}  // namespace

bool can_batch(const ir::Node& node, const std::vector<bool>& per_step) {
  switch (node.kind()) {
    case OpKind::Input:
    case OpKind::Parameter:
    case OpKind::Constant:
    case OpKind::Iota:
    case OpKind::ScatterAdd:
    case OpKind::CoalesceRows:
    case OpKind::ScatterRows:
    case OpKind::Scan:
    case OpKind::Fused:  // its body would need batching too
      return false;
    case OpKind::Neg:
    case OpKind::Abs:
    case OpKind::Sign:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
    case OpKind::Relu:
    case OpKind::Cast:
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Pow:
    case OpKind::Max:
    case OpKind::Min:
    case OpKind::Greater:
    case OpKind::Less:
    case OpKind::Equal:
    case OpKind::Select:
    case OpKind::Broadcast:
    case OpKind::Reshape:
    case OpKind::Transpose:
    case OpKind::Slice:
    case OpKind::Pad:
    case OpKind::Concat:
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean:
      return true;
    case OpKind::Gather:
      return !per_step[0];
    case OpKind::MatMul: {
      const bool rank2 = node.operand(0)->type().rank() == 2;
      return (per_step[0] && per_step[1]) || rank2;
    }
  }
  return false;
}

Value* build_batched(ir::Graph& graph, const ir::Node& node, const std::vector<Value*>& operands,
                     const std::vector<bool>& per_step, int64_t steps) {
  assert(can_batch(node, per_step));
  // Operand i over time: its stack, or the invariant repeated for every step.
  auto stacked = [&](size_t i) {
    return per_step[i] ? operands[i]
                       : build::broadcast(operands[i], over_time(steps, operands[i]->shape()));
  };
  const ir::Attributes& attrs = node.attrs();
  const Shape& result_shape = node.result()->shape();
  switch (node.kind()) {
    case OpKind::Input:
    case OpKind::Parameter:
    case OpKind::Constant:
    case OpKind::Iota:
    case OpKind::ScatterAdd:
    case OpKind::CoalesceRows:
    case OpKind::ScatterRows:
    case OpKind::Scan:
    case OpKind::Fused:
      break;
    case OpKind::Neg:
    case OpKind::Abs:
    case OpKind::Sign:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
    case OpKind::Relu:
    case OpKind::Cast:
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Pow:
    case OpKind::Max:
    case OpKind::Min:
    case OpKind::Greater:
    case OpKind::Less:
    case OpKind::Equal:
    case OpKind::Select:
    case OpKind::Concat: {
      std::vector<Value*> all;
      for (size_t i = 0; i < operands.size(); ++i) all.push_back(stacked(i));
      ir::Attributes batched = attrs;
      if (node.kind() == OpKind::Concat) {
        int64_t axis = attrs.get_int("axis");
        if (axis < 0) axis += node.result()->type().rank();
        batched.set("axis", axis + 1);
      }
      return graph.add(node.kind(), std::move(all), std::move(batched));
    }
    case OpKind::Broadcast: {
      // Size-1 dimensions between time and the value's own keep numpy's alignment.
      Value* x = operands[0];
      const size_t rank = node.operand(0)->type().rank();
      if (rank < result_shape.size()) {
        Shape padded{steps};
        padded.insert(padded.end(), result_shape.size() - rank, 1);
        const Shape& own = node.operand(0)->shape();
        padded.insert(padded.end(), own.begin(), own.end());
        x = build::reshape(x, padded);
      }
      return build::broadcast(x, over_time(steps, result_shape));
    }
    case OpKind::Reshape:
      return build::reshape(operands[0], over_time(steps, result_shape));
    case OpKind::Transpose: {
      std::vector<int64_t> perm{0};
      for (int64_t axis : attrs.get_ints("perm")) perm.push_back(axis + 1);
      return build::transpose(operands[0], perm);
    }
    case OpKind::Slice: {
      std::vector<int64_t> starts{0}, ends{steps};
      for (int64_t start : attrs.get_ints("starts")) starts.push_back(start);
      for (int64_t end : attrs.get_ints("ends")) ends.push_back(end);
      return build::slice(operands[0], starts, ends);
    }
    case OpKind::Pad: {
      std::vector<int64_t> low{0}, high{0};
      for (int64_t amount : attrs.get_ints("low")) low.push_back(amount);
      for (int64_t amount : attrs.get_ints("high")) high.push_back(amount);
      return build::pad(operands[0], low, high);
    }
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean:
      return graph.add(node.kind(), {operands[0]}, {{"axes", shifted(attrs.get_ints("axes"))}});
    case OpKind::Gather:
      return build::gather(operands[0], operands[1]);
    case OpKind::MatMul: {
      const bool ta = attrs.get_int("transpose_a") != 0;
      const bool tb = attrs.get_int("transpose_b") != 0;
      if (per_step[0] && per_step[1]) return build::matmul(operands[0], operands[1], ta, tb);
      if (per_step[0]) return per_step_times_invariant(operands[0], operands[1], ta, tb);
      return invariant_times_per_step(operands[0], operands[1], ta, tb);
    }
  }
  assert(false && "build_batched: a node can_batch rejects");
  return nullptr;
}

Value* summed_matmul(Value* a_stack, Value* b_stack, bool transpose_a, bool transpose_b) {
  // The contraction index of both flattened operands is t * K + k.
  auto flatten = [](Value* stack, bool contraction_first) {
    const Shape& s = stack->shape();  // [T, R, C]
    if (contraction_first) return build::reshape(stack, {s[0] * s[1], s[2]});
    Value* moved = build::transpose(stack, {1, 0, 2});  // [R, T, C]
    return build::reshape(moved, {s[1], s[0] * s[2]});
  };
  // op(a_t) = a_t^T when transposed: a_t [K, M] has the contraction first.
  Value* a = flatten(a_stack, transpose_a);
  // op(b_t) = b_t [K, N] untransposed: the contraction first.
  Value* b = flatten(b_stack, !transpose_b);
  return build::matmul(a, b, transpose_a, transpose_b);
}

}  // namespace rnnc::passes::hoist
