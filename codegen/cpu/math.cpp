// Single-precision exp, log and tanh as straight-line IR (selects, no branches or calls), so
// that loops over them vectorize. exp and log are Cephes's expf and logf; tanh comes from one
// e^x - 1 built on expf's polynomial. Measured against double precision their relative error
// stays below 2.1e-7 over the whole float range. No conversion to integers (NaN would make
// it poison): n of e^x = e^r 2^n comes from the bits of a float rounded by adding 1.5 * 2^23.
#include <llvm/IR/Intrinsics.h>

#include <initializer_list>
#include <limits>

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

/// 2^n for integer n in [-126, 127] (lanes of i32), built from its exponent bits.
llvm::Value* power_of_two(llvm::IRBuilder<>& b, llvm::Value* n, llvm::Type* float_type) {
  llvm::Value* biased = b.CreateAdd(n, int_constant(b, n->getType(), 127));
  return b.CreateBitCast(b.CreateShl(biased, int_constant(b, n->getType(), 23)), float_type);
}

/// x held within [low, high] by two comparisons that NaN fails, so that NaN stays NaN.
llvm::Value* clamp(llvm::IRBuilder<>& b, llvm::Value* x, double low, double high) {
  llvm::Value* above =
      b.CreateSelect(b.CreateFCmpOLT(x, constant(b, x, low)), constant(b, x, low), x);
  return b.CreateSelect(b.CreateFCmpOGT(above, constant(b, x, high)), constant(b, x, high), above);
}

/// x = n ln2 + r with |r| <= ln2 / 2 and n an integer within [-2^22, 2^22].
struct ReducedExponent {
  /// n + 1.5 * 2^23, rounded to the nearest integer by that addition: the low bits of its
  /// mantissa hold n. No conversion to integers, so NaN needs no special case (it stays NaN
  /// through r).
  llvm::Value* shifted;
  llvm::Value* remainder;  ///< r
};

/// 1.5 * 2^23 and its bits: ReducedExponent::shifted's bits minus these are n.
constexpr double kShift = 12582912.0;
constexpr int64_t kShiftedZeroBits = 0x4B400000;

ReducedExponent reduce_exponent(llvm::IRBuilder<>& b, llvm::Value* x) {
  llvm::Value* magic = constant(b, x, kShift);
  llvm::Value* shifted = b.CreateFAdd(b.CreateFMul(x, constant(b, x, 1.44269504088896341)), magic);
  llvm::Value* n = b.CreateFSub(shifted, magic);
  // ln2 split in two so that n * C1 is exact.
  llvm::Value* r = b.CreateFSub(x, b.CreateFMul(n, constant(b, x, 0.693359375)));
  r = b.CreateFSub(r, b.CreateFMul(n, constant(b, x, -2.12194440e-4)));
  return {shifted, r};
}

/// 2^n for n in [-126, 128] from ReducedExponent::shifted (n = 128 gives +inf).
llvm::Value* power_of_two_of(llvm::IRBuilder<>& b, llvm::Value* shifted) {
  llvm::Type* ints = int_type_like(b, shifted);
  llvm::Value* bits = b.CreateShl(b.CreateBitCast(shifted, ints), int_constant(b, ints, 23));
  return b.CreateBitCast(b.CreateAdd(bits, int_constant(b, ints, 127 << 23)), shifted->getType());
}

/// e^r - 1 for |r| <= ln2 / 2, without cancellation near 0 (Cephes's expf polynomial).
llvm::Value* expm1_of_remainder(llvm::IRBuilder<>& b, llvm::Value* r) {
  llvm::Value* p = polynomial(b, r,
                              {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2,
                               1.6666665459E-1, 5.0000001201E-1});
  return b.CreateFAdd(b.CreateFMul(p, b.CreateFMul(r, r)), r);
}

}  // namespace

llvm::Value* emit_exp_f32(llvm::IRBuilder<>& b, llvm::Value* x) {
  llvm::Type* ints = int_type_like(b, x);
  // Beyond these bounds the result is +inf or 0 (the scaling below gets there exactly).
  const ReducedExponent reduced = reduce_exponent(b, clamp(b, x, -104.0, 89.0));
  llvm::Value* p = b.CreateFAdd(expm1_of_remainder(b, reduced.remainder), constant(b, x, 1.0));
  // Scale by 2^n in two halves, so that results in the subnormal range come out right.
  llvm::Value* whole =
      b.CreateSub(b.CreateBitCast(reduced.shifted, ints), int_constant(b, ints, kShiftedZeroBits));
  llvm::Value* half = b.CreateAShr(whole, int_constant(b, ints, 1));
  llvm::Value* rest = b.CreateSub(whole, half);
  return b.CreateFMul(b.CreateFMul(p, power_of_two(b, half, x->getType())),
                      power_of_two(b, rest, x->getType()));
}

llvm::Value* emit_exp_beside_one_f32(llvm::IRBuilder<>& b, llvm::Value* x) {
  // n in [-126, 128]: one scaling by 2^n, whose bits give +inf for n = 128. Below -87 the
  // result stays near 2^-126 instead of going subnormal: beside 1 it vanishes all the same.
  const ReducedExponent reduced = reduce_exponent(b, clamp(b, x, -87.0, 89.0));
  return b.CreateFMul(b.CreateFAdd(expm1_of_remainder(b, reduced.remainder), constant(b, x, 1.0)),
                      power_of_two_of(b, reduced.shifted));
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
  // tanh|x| = -m / (m + 2) with m = e^(-2|x|) - 1, computed as 2^n (e^r - 1) + (2^n - 1): no
  // cancellation near 0 (n = 0 there), and one exponential for the whole range. Cephes's
  // tanhf (a polynomial near 0, 1 - 2 / (e^2|x| + 1) elsewhere, both computed for a vector)
  // took 43 AVX-512 instructions per vector where this takes 31. Within 2.1e-7 of the truth
  // (every fifth float from 2^-126 to 128 tried, on AVX-512, AVX2 and SSE). From |x| = 9 on
  // the result is exactly 1: m + 2 rounds to 1 there, but a 12-bit reciprocal estimate and
  // one Newton step (AVX-512's setting, applied by LLVM to 4- and 8-lane loops too) leave
  // 1 - 2^-24.
  llvm::Value* magnitude = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value* saturated = b.CreateFCmpOGE(magnitude, constant(b, x, 9.0));
  llvm::Value* negated =
      b.CreateFMul(b.CreateSelect(saturated, constant(b, x, 9.0), magnitude), constant(b, x, -2.0));
  const ReducedExponent reduced = reduce_exponent(b, negated);
  llvm::Value* scale = power_of_two_of(b, reduced.shifted);
  llvm::Value* m = b.CreateFAdd(b.CreateFMul(scale, expm1_of_remainder(b, reduced.remainder)),
                                b.CreateFSub(scale, constant(b, x, 1.0)));
  // m + 2 is within [1, 2]: the reciprocal estimate needs no care for infinities.
  auto* quotient = llvm::cast<llvm::Instruction>(
      b.CreateFDiv(b.CreateFNeg(m), b.CreateFAdd(m, constant(b, x, 2.0))));
  quotient->setHasAllowReciprocal(true);
  quotient->setHasNoInfs(true);
  // Below 2^-12, tanh|x| rounds to |x|; there the quotient's correction would be subnormal,
  // flushed to zero, leaving the estimate's error.
  llvm::Value* tiny = b.CreateFCmpOLT(magnitude, constant(b, x, 0x1p-12));
  llvm::Value* result =
      b.CreateSelect(saturated, constant(b, x, 1.0), b.CreateSelect(tiny, magnitude, quotient));
  return b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, result, x);
}

}  // namespace rnnc::cpu
