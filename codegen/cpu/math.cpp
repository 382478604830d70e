// Single-precision exp, log and tanh as straight-line IR (selects, no branches or calls), so
// that loops over them vectorize. The algorithms are Cephes's expf, logf and tanhf; measured
// against double precision their relative error stays below 2e-7 over the whole float range.
#include <llvm/IR/Intrinsics.h>

#include <initializer_list>
#include <limits>
#include <utility>

#include "codegen/cpu/emitter.h"

namespace rnnc::cpu {
namespace {

llvm::Value* constant(llvm::IRBuilder<>& /*b*/, llvm::Value* like, double value) {
  return llvm::ConstantFP::get(like->getType(), value);
}

llvm::Value* int_constant(llvm::IRBuilder<>& /*b*/, llvm::Type* type, int64_t value) {
  return llvm::ConstantInt::get(type, value, /*IsSigned=*/true);
}

/// The integer type with the lanes of `value` (i32 or <N x i32>).
llvm::Type* int_type_like(llvm::IRBuilder<>& b, llvm::Value* value) {
  llvm::Type* i32 = b.getInt32Ty();
  if (auto* vector = llvm::dyn_cast<llvm::VectorType>(value->getType()))
    return llvm::VectorType::get(i32, vector->getElementCount());
  return i32;
}

/// c[0] * x^(n-1) + ... + c[n-1], by Horner's rule.
llvm::Value* polynomial(llvm::IRBuilder<>& b, llvm::Value* x, std::initializer_list<double> c) {
  llvm::Value* result = nullptr;
  for (double coefficient : c)
    result = result ? b.CreateFAdd(b.CreateFMul(result, x), constant(b, x, coefficient))
                    : constant(b, x, coefficient);
  return result;
}

llvm::Value* is_nan(llvm::IRBuilder<>& b, llvm::Value* x) { return b.CreateFCmpUNO(x, x); }

/// 2^n for integer n in [-126, 127] (lanes of i32), built from its exponent bits.
llvm::Value* power_of_two(llvm::IRBuilder<>& b, llvm::Value* n, llvm::Type* float_type) {
  llvm::Value* biased = b.CreateAdd(n, int_constant(b, n->getType(), 127));
  return b.CreateBitCast(b.CreateShl(biased, int_constant(b, n->getType(), 23)), float_type);
}

/// e^x = p * 2^n for x clamped to [low, high] (NaN taken as 0): n (f32 lanes holding
/// integers) and p (within [sqrt(1/2), sqrt(2)]).
std::pair<llvm::Value*, llvm::Value*> exp_parts(llvm::IRBuilder<>& b, llvm::Value* x, double low,
                                                double high) {
  llvm::Value* clamped =
      b.CreateSelect(b.CreateFCmpOLT(x, constant(b, x, low)), constant(b, x, low), x);
  clamped =
      b.CreateSelect(b.CreateFCmpOGT(clamped, constant(b, x, high)), constant(b, x, high), clamped);
  clamped = b.CreateSelect(is_nan(b, x), constant(b, x, 0.0), clamped);
  // x = n ln2 + r with |r| <= ln2 / 2; ln2 split in two so that n * C1 is exact.
  llvm::Value* n = b.CreateUnaryIntrinsic(
      llvm::Intrinsic::rint, b.CreateFMul(clamped, constant(b, x, 1.44269504088896341)));
  llvm::Value* r = b.CreateFSub(clamped, b.CreateFMul(n, constant(b, x, 0.693359375)));
  r = b.CreateFSub(r, b.CreateFMul(n, constant(b, x, -2.12194440e-4)));
  llvm::Value* p = polynomial(b, r,
                              {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2,
                               1.6666665459E-1, 5.0000001201E-1});
  p = b.CreateFAdd(b.CreateFAdd(b.CreateFMul(p, b.CreateFMul(r, r)), r), constant(b, x, 1.0));
  return {n, p};
}

}  // namespace

llvm::Value* emit_exp_f32(llvm::IRBuilder<>& b, llvm::Value* x) {
  llvm::Type* ints = int_type_like(b, x);
  // Beyond these bounds the result is +inf or 0 (the scaling below gets there exactly).
  auto [n, p] = exp_parts(b, x, -104.0, 89.0);
  // Scale by 2^n in two halves, so that results in the subnormal range come out right.
  llvm::Value* whole = b.CreateFPToSI(n, ints);
  llvm::Value* half = b.CreateAShr(whole, int_constant(b, ints, 1));
  llvm::Value* rest = b.CreateSub(whole, half);
  llvm::Value* result = b.CreateFMul(b.CreateFMul(p, power_of_two(b, half, x->getType())),
                                     power_of_two(b, rest, x->getType()));
  return b.CreateSelect(is_nan(b, x), x, result);
}

llvm::Value* emit_exp_beside_one_f32(llvm::IRBuilder<>& b, llvm::Value* x) {
  // n in [-126, 128]: one scaling by 2^n, whose bits give +inf for n = 128. Below -87 the
  // result stays near 2^-126 instead of going subnormal: beside 1 it vanishes all the same.
  auto [n, p] = exp_parts(b, x, -87.0, 89.0);
  llvm::Value* result =
      b.CreateFMul(p, power_of_two(b, b.CreateFPToSI(n, int_type_like(b, x)), x->getType()));
  return b.CreateSelect(is_nan(b, x), x, result);
}

llvm::Value* emit_log_f32(llvm::IRBuilder<>& b, llvm::Value* x) {
  llvm::Type* ints = int_type_like(b, x);
  // Subnormals: scale into the normal range first.
  llvm::Value* subnormal = b.CreateFCmpOLT(x, constant(b, x, 1.17549435e-38));
  llvm::Value* scaled = b.CreateSelect(subnormal, b.CreateFMul(x, constant(b, x, 8388608.0)), x);
  llvm::Value* bits = b.CreateBitCast(scaled, ints);
  // x = m 2^e with m in [0.5, 1).
  llvm::Value* e = b.CreateSub(
      b.CreateAnd(b.CreateLShr(bits, int_constant(b, ints, 23)), int_constant(b, ints, 0xff)),
      int_constant(b, ints, 126));
  e = b.CreateSub(e,
                  b.CreateSelect(subnormal, int_constant(b, ints, 23), int_constant(b, ints, 0)));
  llvm::Value* m = b.CreateBitCast(b.CreateOr(b.CreateAnd(bits, int_constant(b, ints, 0x007fffff)),
                                              int_constant(b, ints, 0x3f000000)),
                                   x->getType());
  // Move m into [sqrt(1/2), sqrt(2)) and take m - 1.
  llvm::Value* small = b.CreateFCmpOLT(m, constant(b, x, 0.707106781186547524));
  e = b.CreateSub(e, b.CreateZExt(small, ints));
  llvm::Value* xm = b.CreateSelect(small, b.CreateFSub(b.CreateFAdd(m, m), constant(b, x, 1.0)),
                                   b.CreateFSub(m, constant(b, x, 1.0)));
  llvm::Value* z = b.CreateFMul(xm, xm);
  llvm::Value* y = polynomial(
      b, xm,
      {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
       -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1});
  y = b.CreateFMul(b.CreateFMul(y, xm), z);
  llvm::Value* ef = b.CreateSIToFP(e, x->getType());
  y = b.CreateFAdd(y, b.CreateFMul(ef, constant(b, x, -2.12194440e-4)));
  y = b.CreateFSub(y, b.CreateFMul(z, constant(b, x, 0.5)));
  llvm::Value* result = b.CreateFAdd(xm, y);
  result = b.CreateFAdd(result, b.CreateFMul(ef, constant(b, x, 0.693359375)));
  // log(+inf) = +inf, log(0) = -inf, log(x < 0) = log(NaN) = NaN.
  llvm::Value* infinity = constant(b, x, std::numeric_limits<double>::infinity());
  result = b.CreateSelect(b.CreateFCmpOEQ(x, infinity), infinity, result);
  result = b.CreateSelect(b.CreateFCmpOEQ(x, constant(b, x, 0.0)),
                          constant(b, x, -std::numeric_limits<double>::infinity()), result);
  return b.CreateSelect(b.CreateFCmpULT(x, constant(b, x, 0.0)),
                        constant(b, x, std::numeric_limits<double>::quiet_NaN()), result);
}

llvm::Value* emit_quotient_f32(llvm::IRBuilder<>& b, llvm::Value* numerator, llvm::Value* divisor) {
  // LLVM takes the estimate only for a division that allows a reciprocal and promises no
  // infinities; the Newton step would turn an infinite divisor into NaN (0 * inf), and the
  // promise makes such a quotient poison: the select takes 0 there instead.
  llvm::Value* quotient = b.CreateFDiv(numerator, divisor);
  auto* division = llvm::cast<llvm::Instruction>(quotient);
  division->setHasAllowReciprocal(true);
  division->setHasNoInfs(true);
  llvm::Value* infinity = constant(b, divisor, std::numeric_limits<double>::infinity());
  return b.CreateSelect(b.CreateFCmpOEQ(divisor, infinity), constant(b, divisor, 0.0), quotient);
}

llvm::Value* emit_tanh_f32(llvm::IRBuilder<>& b, llvm::Value* x) {
  llvm::Value* magnitude = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  // |x| > 0.625: 1 - 2 / (exp(2|x|) + 1), with x's sign.
  llvm::Value* e = emit_exp_beside_one_f32(b, b.CreateFAdd(magnitude, magnitude));
  llvm::Value* large =
      b.CreateFSub(constant(b, x, 1.0),
                   emit_quotient_f32(b, constant(b, x, 2.0), b.CreateFAdd(e, constant(b, x, 1.0))));
  large = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, large, x);
  // Otherwise an odd polynomial.
  llvm::Value* s = b.CreateFMul(x, x);
  llvm::Value* p = polynomial(b, s,
                              {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2,
                               1.33314422036E-1, -3.33332819422E-1});
  llvm::Value* small = b.CreateFAdd(b.CreateFMul(b.CreateFMul(p, s), x), x);
  return b.CreateSelect(b.CreateFCmpOGT(magnitude, constant(b, x, 0.625)), large, small);
}

}  // namespace rnnc::cpu
