// The arithmetic of each elementwise op on one element as CUDA C, in the value's dtype.
// Semantics follow the interpreter (codegen/interp/kernels.cpp) as the CPU backend renders
// them: comparisons give 1 or 0 in the operands' type, max/min are std::max/std::min (a NaN
// first operand wins), integer division truncates and fails on a zero divisor, i32
// transcendentals are computed in f64 and truncated (saturating), i32 arithmetic wraps.
#include <cassert>

#include "codegen/cuda/render_internal.h"

namespace rnnc::cuda {
namespace {

using ir::DType;
using ir::OpKind;

/// The libm name of `base` ("exp") for `dtype` ("expf" for f32).
std::string math(const char* base, DType dtype) {
  return std::string(base) + (dtype == DType::f32 ? "f" : "");
}

/// `flag` (a C condition) as 1 or 0 of `type`.
std::string boolean_as(const std::string& flag, DType type) {
  return "((" + std::string(c_type(type)) + ")((" + flag + ") ? 1 : 0))";
}

/// An i32 operation done on unsigned values, so overflow wraps as in the CPU backend.
std::string wrapping(const std::string& x, const char* op, const std::string& y) {
  return "((int)((unsigned)" + x + " " + op + " (unsigned)" + y + "))";
}

}  // namespace

std::string scalar_op(KernelWriter& kernel, const ir::Node& node,
                      const std::vector<std::string>& in, const std::vector<DType>& in_types,
                      DType type) {
  const bool is_int = type == DType::i32;
  const std::string x = in.empty() ? "" : in[0];
  const std::string y = in.size() > 1 ? in[1] : "";
  const std::string zero = literal(type, 0.0);
  // i32 exp, log, ...: through f64, truncated back.
  auto transcendental = [&](const char* base) {
    if (!is_int) return math(base, type) + "(" + x + (y.empty() ? "" : ", " + y) + ")";
    return "rnnc_to_i32(" + std::string(base) + "((double)" + x +
           (y.empty() ? "" : ", (double)" + y) + "))";
  };
  switch (node.kind()) {
    case OpKind::Input:
    case OpKind::Parameter:
    case OpKind::Constant:
    case OpKind::Iota:
    case OpKind::Broadcast:
    case OpKind::Reshape:
    case OpKind::Transpose:
    case OpKind::Slice:
    case OpKind::Pad:
    case OpKind::Concat:
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean:
    case OpKind::MatMul:
    case OpKind::Gather:
    case OpKind::ScatterAdd:
    case OpKind::CoalesceRows:
    case OpKind::ScatterRows:
    case OpKind::Scan:
    case OpKind::Fused:
      assert(false && "not an elementwise op");
      return "";
    case OpKind::Neg:
      return is_int ? wrapping("0", "-", x) : "(-" + x + ")";
    case OpKind::Abs:
      return is_int ? "(" + x + " < 0 ? " + wrapping("0", "-", x) + " : " + x + ")"
                    : math("fabs", type) + "(" + x + ")";
    case OpKind::Sign:
      return "(" + boolean_as(x + " > " + zero, type) + " - " + boolean_as(x + " < " + zero, type) +
             ")";
    case OpKind::Exp:
      return transcendental("exp");
    case OpKind::Log:
      return transcendental("log");
    case OpKind::Sqrt:
      return transcendental("sqrt");
    case OpKind::Tanh:
      return transcendental("tanh");
    case OpKind::Pow:
      return transcendental("pow");
    case OpKind::Sigmoid: {
      if (is_int) return "rnnc_to_i32(1.0 / (1.0 + exp(-(double)" + x + ")))";
      const std::string one = literal(type, 1.0);
      return "(" + one + " / (" + one + " + " + math("exp", type) + "(-" + x + ")))";
    }
    case OpKind::Relu:
      return "(" + x + " > " + zero + " ? " + x + " : " + zero + ")";
    case OpKind::Cast: {
      const DType from = in_types.at(0);
      if (type == DType::i32 && from != DType::i32) return "rnnc_to_i32((double)" + x + ")";
      return "((" + std::string(c_type(type)) + ")" + x + ")";
    }
    case OpKind::Add:
      return is_int ? wrapping(x, "+", y) : "(" + x + " + " + y + ")";
    case OpKind::Sub:
      return is_int ? wrapping(x, "-", y) : "(" + x + " - " + y + ")";
    case OpKind::Mul:
      return is_int ? wrapping(x, "*", y) : "(" + x + " * " + y + ")";
    case OpKind::Div: {
      if (!is_int) return "(" + x + " / " + y + ")";
      const int32_t by_zero = kernel.error("integer division by zero");
      const int32_t overflow = kernel.error("integer division result does not fit in i32");
      return "rnnc_div_i32(" + x + ", " + y + ", args.error, " + std::to_string(by_zero) + ", " +
             std::to_string(overflow) + ")";
    }
    case OpKind::Max:  // std::max(x, y): x < y ? y : x
      return "(" + x + " < " + y + " ? " + y + " : " + x + ")";
    case OpKind::Min:  // std::min(x, y): y < x ? y : x
      return "(" + y + " < " + x + " ? " + y + " : " + x + ")";
    case OpKind::Greater:
      return boolean_as(x + " > " + y, type);
    case OpKind::Less:
      return boolean_as(x + " < " + y, type);
    case OpKind::Equal:
      return boolean_as(x + " == " + y, type);
    case OpKind::Select:
      return "(" + x + " != " + literal(in_types.at(0), 0.0) + " ? " + in[1] + " : " + in[2] + ")";
  }
  assert(false && "unhandled op");
  return "";
}

}  // namespace rnnc::cuda
