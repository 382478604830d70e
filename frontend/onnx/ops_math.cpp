// Elementwise arithmetic and activations, Gemm, MatMul, Softmax and LogSoftmax.
#include <cmath>

#include "frontend/onnx/ops_util.h"
#include "ir/builder.h"

namespace rnnc::onnx_import {

namespace {

namespace build = ir::build;
using ir::Value;

/// Both inputs of a binary op, checked to have one dtype.
void expect_same_dtype(const NodeContext& context) {
  if (context.input_type(0).dtype != context.input_type(1).dtype)
    throw context.error("inputs '" + context.input_name(0) + "' (" +
                        context.input_type(0).to_string() + ") and '" + context.input_name(1) +
                        "' (" + context.input_type(1).to_string() + ") differ in element type");
}

/// a `op` b for one pair of elements on the host; ints divide truncating toward zero.
template <class T>
T apply_binary(const NodeContext& context, const std::string& op, T a, T b) {
  if (op == "Add") return a + b;
  if (op == "Sub") return a - b;
  if (op == "Mul") return a * b;
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) throw context.error("integer division by zero while folding constants");
  }
  return a / b;
}

void convert_binary(NodeContext& context) {
  context.expect_inputs(2, 2);
  context.expect_attributes({});
  expect_same_dtype(context);
  const std::string& op = context.op();
  ir::Shape shape =
      broadcast_shapes(context, context.input_type(0).shape, context.input_type(1).shape);
  if (context.all_constant() && ir::num_elements(shape) <= kMaxFoldedElements) {
    HostTensor a = broadcast_host(*context.constant(0), shape);
    HostTensor b = broadcast_host(*context.constant(1), shape);
    for (int64_t i = 0; i < a.size(); ++i) {
      if (a.is_int)
        a.ints[i] = apply_binary(context, op, a.ints[i], b.ints[i]);
      else
        a.floats[i] = apply_binary(context, op, a.floats[i], b.floats[i]);
    }
    context.set_output(0, std::move(a));
    return;
  }
  Value* a = broadcast_to(context.input(0), shape);
  Value* b = broadcast_to(context.input(1), shape);
  ir::OpKind kind = op == "Add"   ? ir::OpKind::Add
                    : op == "Sub" ? ir::OpKind::Sub
                    : op == "Mul" ? ir::OpKind::Mul
                                  : ir::OpKind::Div;
  context.set_output(0, build::binary(kind, a, b));
}

void convert_unary(NodeContext& context) {
  context.expect_inputs(1, 1);
  context.expect_attributes({});
  const std::string& op = context.op();
  if (context.input_type(0).dtype == ir::DType::i32 && op != "Relu")
    throw context.error("input '" + context.input_name(0) + "' must be floating-point");
  if (const HostTensor* x = context.constant(0)) {
    HostTensor y = *x;
    for (int64_t i = 0; i < y.size(); ++i) {
      if (y.is_int) {
        y.ints[i] = std::max<int64_t>(y.ints[i], 0);
        continue;
      }
      double v = y.floats[i];
      y.floats[i] = op == "Sigmoid" ? 1.0 / (1.0 + std::exp(-v))
                    : op == "Tanh"  ? std::tanh(v)
                                    : std::max(v, 0.0);
    }
    context.set_output(0, std::move(y));
    return;
  }
  Value* x = context.input(0);
  context.set_output(0, op == "Sigmoid" ? build::sigmoid(x)
                        : op == "Tanh"  ? build::tanh(x)
                                        : build::relu(x));
}

/// A floating-point input `i`, checked.
Value* float_input(NodeContext& context, size_t i) {
  if (!ir::is_float(context.input_type(i).dtype))
    throw context.error("input '" + context.input_name(i) + "' (" +
                        context.input_type(i).to_string() + ") must be floating-point");
  return context.input(i);
}

void convert_gemm(NodeContext& context) {
  context.expect_inputs(2, 3);
  context.expect_attributes({"alpha", "beta", "transA", "transB"});
  const double alpha = context.attr_float("alpha", 1.0);
  const double beta = context.attr_float("beta", 1.0);
  const bool trans_a = context.attr_int("transA", 0) != 0;
  const bool trans_b = context.attr_int("transB", 0) != 0;
  Value* a = float_input(context, 0);
  Value* b = float_input(context, 1);
  if (a->type().rank() != 2 || b->type().rank() != 2)
    throw context.error("A " + a->type().to_string() + " and B " + b->type().to_string() +
                        " must be matrices");
  if (a->dtype() != b->dtype()) throw context.error("A and B differ in element type");
  Value* product = build::matmul(a, b, trans_a, trans_b);
  if (alpha != 1.0) product = build::mul(product, build::full_like(product, alpha));
  if (context.has_input(2) && beta != 0.0) {
    Value* c = float_input(context, 2);
    ir::Shape shape = broadcast_shapes(context, product->shape(), c->shape());
    if (shape != product->shape())
      throw context.error("C " + c->type().to_string() + " does not broadcast to " +
                          product->type().to_string());
    c = broadcast_to(c, shape);
    if (beta != 1.0) c = build::mul(c, build::full_like(c, beta));
    product = build::add(product, c);
  }
  context.set_output(0, product);
}

void convert_matmul(NodeContext& context) {
  context.expect_inputs(2, 2);
  context.expect_attributes({});
  Value* a = float_input(context, 0);
  Value* b = float_input(context, 1);
  if (a->dtype() != b->dtype()) throw context.error("A and B differ in element type");
  const int64_t rank_a = a->type().rank(), rank_b = b->type().rank();
  if (rank_a == 0 || rank_b == 0) throw context.error("MatMul needs operands of rank >= 1");
  // numpy: a vector operand gains an axis that the result loses again.
  if (rank_a == 1) a = build::reshape(a, {1, a->shape()[0]});
  if (rank_b == 1) b = build::reshape(b, {b->shape()[0], 1});
  ir::Shape sa = a->shape(), sb = b->shape();
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  if (sb[sb.size() - 2] != k)
    throw context.error("inner dimensions differ: " + ir::shape_to_string(sa) + " x " +
                        ir::shape_to_string(sb));
  ir::Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  Value* result = nullptr;
  ir::Shape batch;
  if (batch_b.empty()) {
    // [..., M, K] x [K, N]: one product over all rows.
    batch = batch_a;
    int64_t rows = ir::num_elements(batch) * m;
    result = build::matmul(build::reshape(a, {rows, k}), b);
  } else {
    batch = broadcast_shapes(context, batch_a, batch_b);
    ir::Shape full_a = batch, full_b = batch;
    full_a.insert(full_a.end(), {m, k});
    full_b.insert(full_b.end(), {k, n});
    result = build::matmul(broadcast_to(a, full_a), broadcast_to(b, full_b));
  }
  ir::Shape out = batch;
  if (rank_a != 1) out.push_back(m);
  if (rank_b != 1) out.push_back(n);
  context.set_output(0, result->shape() == out ? result : build::reshape(result, out));
}

/// Softmax or LogSoftmax of `x` along `axis`.
Value* softmax_along(Value* x, int64_t axis, bool log) {
  Value* max = insert_axis(build::reduce_max(x, {axis}), axis);
  Value* shifted = build::sub(x, build::broadcast(max, x->shape()));
  Value* exps = build::exp(shifted);
  Value* sum = insert_axis(build::reduce_sum(exps, {axis}), axis);
  if (log) return build::sub(shifted, build::broadcast(build::log(sum), x->shape()));
  return build::div(exps, build::broadcast(sum, x->shape()));
}

void convert_softmax(NodeContext& context) {
  context.expect_inputs(1, 1);
  context.expect_attributes({"axis"});
  const bool log = context.op() == "LogSoftmax";
  Value* x = float_input(context, 0);
  const int64_t rank = x->type().rank();
  if (rank == 0) throw context.error("input must have rank >= 1");
  const bool coerce_2d = context.opset() < 13;
  int64_t axis =
      normalize_axis(context, context.attr_int("axis", coerce_2d ? 1 : -1), rank, "axis");
  if (!coerce_2d) {
    context.set_output(0, softmax_along(x, axis, log));
    return;
  }
  // Before opset 13 the input is seen as a matrix [prod(dims before axis), prod(the rest)].
  const ir::Shape& shape = x->shape();
  int64_t rows = 1;
  for (int64_t i = 0; i < axis; ++i) rows *= shape[i];
  Value* matrix = build::reshape(x, {rows, x->type().num_elements() / std::max<int64_t>(rows, 1)});
  context.set_output(0, build::reshape(softmax_along(matrix, 1, log), shape));
}

}  // namespace

void add_math_ops(OpTable& table) {
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) table[op] = convert_binary;
  for (const char* op : {"Sigmoid", "Tanh", "Relu"}) table[op] = convert_unary;
  table["Gemm"] = convert_gemm;
  table["MatMul"] = convert_matmul;
  table["Softmax"] = convert_softmax;
  table["LogSoftmax"] = convert_softmax;
}

}  // namespace rnnc::onnx_import
