// The arithmetic of each elementwise op on one element, in the value's dtype. Semantics follow
// the interpreter (codegen/interp/kernels.cpp): comparisons give 1 or 0 in the operands'
// type, max/min are std::max/std::min (a NaN first operand wins), integer division truncates
// and fails on a zero divisor. i32 transcendentals are computed in f64 and truncated.
#include <llvm/IR/Intrinsics.h>

#include <cassert>

#include "codegen/cpu/emitter.h"

namespace rnnc::cpu {
namespace {

using ir::DType;
using ir::OpKind;

llvm::Value* zero_like(llvm::Value* x) { return llvm::Constant::getNullValue(x->getType()); }

llvm::Value* one_like(llvm::Value* x) {
  if (x->getType()->isFPOrFPVectorTy()) return llvm::ConstantFP::get(x->getType(), 1.0);
  return llvm::ConstantInt::get(x->getType(), 1);
}

/// An i1 as 1 or 0 of `type`.
llvm::Value* boolean_as(llvm::IRBuilder<>& b, llvm::Value* flag, llvm::Type* type) {
  return type->isFloatingPointTy() ? b.CreateUIToFP(flag, type) : b.CreateZExt(flag, type);
}

/// Converts `x` of dtype `from` to dtype `to` (float to int truncates, saturating).
llvm::Value* convert(llvm::IRBuilder<>& b, ModuleContext& module, llvm::Value* x, DType from,
                     DType to) {
  llvm::Type* type = module.element_type(to);
  if (from == to) return x;
  if (from == DType::i32) return b.CreateSIToFP(x, type);
  if (to == DType::i32)
    return b.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {type, x->getType()}, {x});
  return to == DType::f64 ? b.CreateFPExt(x, type) : b.CreateFPTrunc(x, type);
}

/// A libm function of one or two doubles (or floats), declared on first use.
llvm::Value* call_libm(llvm::IRBuilder<>& b, ModuleContext& module, const char* name,
                       const std::vector<llvm::Value*>& arguments) {
  llvm::Type* type = arguments[0]->getType();
  std::vector<llvm::Type*> parameters(arguments.size(), type);
  llvm::FunctionCallee callee =
      module.module().getOrInsertFunction(name, llvm::FunctionType::get(type, parameters, false));
  if (auto* function = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    function->setDoesNotThrow();
    function->setWillReturn();
    function->setMemoryEffects(llvm::MemoryEffects::none());
  }
  return b.CreateCall(callee, arguments);
}

/// exp, log, sqrt, tanh, sigmoid and pow of floating-point `x` (f32 or f64).
llvm::Value* transcendental(llvm::IRBuilder<>& b, ModuleContext& module, OpKind kind,
                            llvm::Value* x, llvm::Value* y, DType dtype) {
  bool single = dtype == DType::f32;
  if (kind == OpKind::Exp)
    return single ? emit_exp_f32(b, x) : b.CreateUnaryIntrinsic(llvm::Intrinsic::exp, x);
  if (kind == OpKind::Log)
    return single ? emit_log_f32(b, x) : b.CreateUnaryIntrinsic(llvm::Intrinsic::log, x);
  if (kind == OpKind::Sqrt) return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
  if (kind == OpKind::Tanh) return single ? emit_tanh_f32(b, x) : call_libm(b, module, "tanh", {x});
  if (kind == OpKind::Sigmoid) {
    llvm::Value* e = single ? emit_exp_beside_one_f32(b, b.CreateFNeg(x))
                            : b.CreateUnaryIntrinsic(llvm::Intrinsic::exp, b.CreateFNeg(x));
    llvm::Value* divisor = b.CreateFAdd(one_like(x), e);
    return single ? emit_quotient_f32(b, one_like(x), divisor) : b.CreateFDiv(one_like(x), divisor);
  }
  assert(kind == OpKind::Pow && "not a transcendental op");
  return call_libm(b, module, single ? "powf" : "pow", {x, y});
}

}  // namespace

llvm::Value* emit_scalar_op(KernelEmitter& kernel, const ir::Node& node,
                            const std::vector<llvm::Value*>& in, const std::vector<DType>& in_types,
                            DType type) {
  llvm::IRBuilder<>& b = kernel.builder();
  ModuleContext& module = kernel.module();
  bool is_int = type == DType::i32;
  llvm::Value* x = in.empty() ? nullptr : in[0];
  llvm::Value* y = in.size() > 1 ? in[1] : nullptr;
  // i32 exp, log, ...: through f64, truncated back.
  auto through_f64 = [&]() {
    llvm::Value* wide_x = convert(b, module, x, DType::i32, DType::f64);
    llvm::Value* wide_y = y ? convert(b, module, y, DType::i32, DType::f64) : nullptr;
    return convert(b, module, transcendental(b, module, node.kind(), wide_x, wide_y, DType::f64),
                   DType::f64, DType::i32);
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
      return nullptr;
    case OpKind::Neg:
      return is_int ? b.CreateNeg(x) : b.CreateFNeg(x);
    case OpKind::Abs:
      return is_int ? b.CreateBinaryIntrinsic(llvm::Intrinsic::abs, x, b.getFalse())
                    : b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
    case OpKind::Sign: {
      llvm::Value* positive =
          is_int ? b.CreateICmpSGT(x, zero_like(x)) : b.CreateFCmpOGT(x, zero_like(x));
      llvm::Value* negative =
          is_int ? b.CreateICmpSLT(x, zero_like(x)) : b.CreateFCmpOLT(x, zero_like(x));
      llvm::Type* t = x->getType();
      return is_int ? b.CreateSub(boolean_as(b, positive, t), boolean_as(b, negative, t))
                    : b.CreateFSub(boolean_as(b, positive, t), boolean_as(b, negative, t));
    }
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
      return is_int ? through_f64() : transcendental(b, module, node.kind(), x, nullptr, type);
    case OpKind::Pow:
      return is_int ? through_f64() : transcendental(b, module, node.kind(), x, y, type);
    case OpKind::Relu:
      return is_int ? b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x, zero_like(x))
                    : b.CreateSelect(b.CreateFCmpOGT(x, zero_like(x)), x, zero_like(x));
    case OpKind::Cast:
      return convert(b, module, x, in_types[0], type);
    case OpKind::Add:
      return is_int ? b.CreateAdd(x, y) : b.CreateFAdd(x, y);
    case OpKind::Sub:
      return is_int ? b.CreateSub(x, y) : b.CreateFSub(x, y);
    case OpKind::Mul:
      return is_int ? b.CreateMul(x, y) : b.CreateFMul(x, y);
    case OpKind::Div: {
      if (!is_int) return b.CreateFDiv(x, y);
      kernel.fail_if(b.CreateICmpEQ(y, zero_like(y)), kernel.error("integer division by zero"));
      llvm::Value* overflow =
          b.CreateAnd(b.CreateICmpEQ(x, b.getInt32(INT32_MIN)), b.CreateICmpEQ(y, b.getInt32(-1)));
      kernel.fail_if(overflow, kernel.error("integer division result does not fit in i32"));
      return b.CreateSDiv(x, y);
    }
    case OpKind::Max:  // std::max(x, y): x < y ? y : x
      return is_int ? b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x, y)
                    : b.CreateSelect(b.CreateFCmpOLT(x, y), y, x);
    case OpKind::Min:  // std::min(x, y): y < x ? y : x
      return is_int ? b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, x, y)
                    : b.CreateSelect(b.CreateFCmpOLT(y, x), y, x);
    case OpKind::Greater:
      return boolean_as(b, is_int ? b.CreateICmpSGT(x, y) : b.CreateFCmpOGT(x, y), x->getType());
    case OpKind::Less:
      return boolean_as(b, is_int ? b.CreateICmpSLT(x, y) : b.CreateFCmpOLT(x, y), x->getType());
    case OpKind::Equal:
      return boolean_as(b, is_int ? b.CreateICmpEQ(x, y) : b.CreateFCmpOEQ(x, y), x->getType());
    case OpKind::Select: {
      llvm::Value* condition = in_types[0] == DType::i32 ? b.CreateICmpNE(x, zero_like(x))
                                                         : b.CreateFCmpUNE(x, zero_like(x));
      return b.CreateSelect(condition, in[1], in[2]);
    }
  }
  assert(false && "unhandled op");
  return nullptr;
}

}  // namespace rnnc::cpu
