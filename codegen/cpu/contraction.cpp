// Contractions: matmul (cblas_sgemm / cblas_dgemm for f32 / f64, one call per batch entry;
// a loop nest for i32) and reductions (a loop nest over the operand accumulating into the
// result; trailing reduced dimensions are summed in a register, reassociably, so they vectorize).
#include <llvm/IR/Constants.h>

#include <cassert>
#include <limits>

#include "codegen/cpu/emitter.h"

namespace rnnc::cpu {
namespace {

using ir::DType;
using ir::OpKind;
using ir::Shape;

// The values of CBLAS's enums.
constexpr int32_t kCblasRowMajor = 101;
constexpr int32_t kCblasNoTrans = 111;
constexpr int32_t kCblasTrans = 112;

/// cblas_sgemm or cblas_dgemm, declared with C's signature (enums and ints are i32).
llvm::FunctionCallee gemm(ModuleContext& module, DType dtype) {
  llvm::Type* scalar = module.element_type(dtype);
  llvm::Type* i32 = module.i32();
  llvm::Type* pointer = module.pointer();
  auto* type = llvm::FunctionType::get(
      llvm::Type::getVoidTy(module.context()),
      {i32, i32, i32, i32, i32, i32, scalar, pointer, i32, pointer, i32, scalar, pointer, i32},
      false);
  return module.module().getOrInsertFunction(dtype == DType::f32 ? "cblas_sgemm" : "cblas_dgemm",
                                             type);
}

}  // namespace

llvm::Value* combine_reduction(llvm::IRBuilder<>& b, OpKind kind, DType dtype, llvm::Value* acc,
                               llvm::Value* value, bool reassociable) {
  bool is_int = dtype == DType::i32;
  if (kind == OpKind::ReduceMax) {
    if (is_int) return b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, acc, value);
    llvm::Value* take = b.CreateOr(b.CreateFCmpOGT(value, acc), b.CreateFCmpUNO(value, value));
    return b.CreateSelect(take, value, acc);
  }
  if (is_int) return b.CreateAdd(acc, value);
  llvm::Value* sum = b.CreateFAdd(acc, value);
  if (reassociable) {
    llvm::FastMathFlags flags;
    flags.setAllowReassoc();
    llvm::cast<llvm::Instruction>(sum)->setFastMathFlags(flags);
  }
  return sum;
}

void emit_matmul(KernelEmitter& kernel) {
  const ir::Step& step = kernel.step();
  const ir::Node& node = *step.node;
  const ir::TensorType& out = node.result()->type();
  const DType dtype = out.dtype;
  const bool ta = node.attrs().get_int("transpose_a") != 0;
  const bool tb = node.attrs().get_int("transpose_b") != 0;
  const int64_t rank = out.rank();
  const int64_t m = out.shape[rank - 2], n = out.shape[rank - 1];
  const Shape& a_shape = node.operand(0)->shape();
  const int64_t k = ta ? a_shape[rank - 2] : a_shape[rank - 1];
  const int64_t batch = ir::num_elements(Shape(out.shape.begin(), out.shape.end() - 2));
  llvm::IRBuilder<>& b = kernel.builder();
  llvm::Value* a = kernel.pointer(step.operands.at(0));
  llvm::Value* bm = kernel.pointer(step.operands.at(1));
  // A product computing the sum after it, or writing its slices: C is elsewhere.
  if (kernel.module().product_sums().count(&step) || kernel.module().product_slices().count(&step))
    return emit_generated_gemm(kernel, kernel.module().packed_b_steps().count(&step) != 0,
                               kernel.module().packed_a_steps().count(&step) != 0);
  llvm::Value* c = kernel.pointer(step.results.at(0));
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) return kernel.zero_bytes(c, kernel.index(out.num_elements() * ir::dtype_size(dtype)));
  if (dtype != DType::i32) {
    const bool packed = kernel.module().packed_b_steps().count(&step) != 0;
    if (generated_gemm_fits(node, packed))
      return emit_generated_gemm(kernel, packed,
                                 kernel.module().packed_a_steps().count(&step) != 0);
    llvm::FunctionCallee callee = gemm(kernel.module(), dtype);
    llvm::Type* scalar = kernel.module().element_type(dtype);
    kernel.for_range(batch, [&](llvm::Value* p) {
      b.CreateCall(
          callee, {b.getInt32(kCblasRowMajor), b.getInt32(ta ? kCblasTrans : kCblasNoTrans),
                   b.getInt32(tb ? kCblasTrans : kCblasNoTrans),
                   b.getInt32(static_cast<int32_t>(m)), b.getInt32(static_cast<int32_t>(n)),
                   b.getInt32(static_cast<int32_t>(k)), llvm::ConstantFP::get(scalar, 1.0),
                   kernel.element_address(a, dtype, b.CreateMul(p, kernel.index(m * k))),
                   b.getInt32(static_cast<int32_t>(ta ? m : k)),
                   kernel.element_address(bm, dtype, b.CreateMul(p, kernel.index(k * n))),
                   b.getInt32(static_cast<int32_t>(tb ? k : n)), llvm::ConstantFP::get(scalar, 0.0),
                   kernel.element_address(c, dtype, b.CreateMul(p, kernel.index(m * n))),
                   b.getInt32(static_cast<int32_t>(n))});
    });
    return;
  }
  // i32: out[p, i, j] = sum_q a[p, i, q] * b[p, q, j], wrapping like the hardware.
  llvm::Type* i32 = b.getInt32Ty();
  kernel.for_shape({batch, m, n}, [&](const std::vector<llvm::Value*>& index) {
    llvm::Value *p = index[0], *i = index[1], *j = index[2];
    llvm::Value* a_base = b.CreateMul(p, kernel.index(m * k));
    llvm::Value* b_base = b.CreateMul(p, kernel.index(k * n));
    llvm::Value* sum = kernel.entry_alloca(i32);
    b.CreateStore(b.getInt32(0), sum);
    kernel.for_range(k, [&](llvm::Value* q) {
      llvm::Value* a_at = ta ? b.CreateAdd(b.CreateMul(q, kernel.index(m)), i)
                             : b.CreateAdd(b.CreateMul(i, kernel.index(k)), q);
      llvm::Value* b_at = tb ? b.CreateAdd(b.CreateMul(j, kernel.index(k)), q)
                             : b.CreateAdd(b.CreateMul(q, kernel.index(n)), j);
      llvm::Value* av =
          b.CreateLoad(i32, kernel.element_address(a, dtype, b.CreateAdd(a_base, a_at)));
      llvm::Value* bv =
          b.CreateLoad(i32, kernel.element_address(bm, dtype, b.CreateAdd(b_base, b_at)));
      b.CreateStore(b.CreateAdd(b.CreateLoad(i32, sum), b.CreateMul(av, bv)), sum);
    });
    llvm::Value* at = b.CreateAdd(
        b.CreateMul(b.CreateAdd(b.CreateMul(p, kernel.index(m)), i), kernel.index(n)), j);
    b.CreateStore(b.CreateLoad(i32, sum), kernel.element_address(c, dtype, at));
  });
}

void emit_reduce(KernelEmitter& kernel) {
  const ir::Step& step = kernel.step();
  const ir::Node& node = *step.node;
  const OpKind kind = node.kind();
  const ir::TensorType& in = node.operand(0)->type();
  const ir::TensorType& out = node.result()->type();
  const DType dtype = out.dtype;
  llvm::IRBuilder<>& b = kernel.builder();
  llvm::Type* type = kernel.module().element_type(dtype);
  llvm::Value* result = kernel.pointer(step.results.at(0));
  const int64_t count = out.num_elements() == 0 ? 0 : in.num_elements() / out.num_elements();
  // A mean of no elements is NaN, like the interpreter's (an i32 one stays 0).
  auto mean = [&](llvm::Value* sum) {
    if (dtype != DType::i32)
      return b.CreateFDiv(sum, llvm::ConstantFP::get(type, static_cast<double>(count)));
    return count == 0 ? sum : b.CreateSDiv(sum, b.getInt32(static_cast<int32_t>(count)));
  };
  llvm::Value* identity = nullptr;
  if (kind != OpKind::ReduceMax)
    identity = llvm::Constant::getNullValue(type);
  else if (dtype == DType::i32)
    identity = b.getInt32(std::numeric_limits<int32_t>::min());
  else
    identity = llvm::ConstantFP::getInfinity(type, /*Negative=*/true);
  auto producer = kernel.module().reduced_expressions().find(&step);
  if (producer != kernel.module().reduced_expressions().end()) {
    // One result element, stored after every operand element is read (it may overlap them).
    llvm::Value* value = emit_reduced_expression(kernel, *producer->second, kind, identity);
    if (kind == OpKind::ReduceMean) value = mean(value);
    b.CreateStore(value, result);
    return;
  }
  llvm::Value* source = kernel.pointer(step.operands.at(0));
  std::vector<bool> reduced(in.shape.size(), false);
  for (int64_t axis : node.attrs().get_ints("axes")) reduced[axis] = true;
  kernel.fill(result, dtype, out.num_elements(), identity);

  // Dimensions [0, split) are looped over; [split, rank) are all reduced and contiguous.
  size_t split = in.shape.size();
  while (split > 0 && reduced[split - 1]) --split;
  int64_t inner = ir::num_elements(Shape(in.shape.begin() + split, in.shape.end()));
  std::vector<int64_t> in_strides = ir::row_major_strides(in.shape);
  std::vector<int64_t> out_strides = ir::row_major_strides(out.shape);
  llvm::Value* accumulator = kernel.entry_alloca(type);
  kernel.for_shape(
      Shape(in.shape.begin(), in.shape.begin() + split),
      [&](const std::vector<llvm::Value*>& index) {
        llvm::Value* in_offset = kernel.index(0);
        llvm::Value* out_offset = kernel.index(0);
        size_t out_dim = 0;
        for (size_t d = 0; d < index.size(); ++d) {
          in_offset = b.CreateAdd(in_offset, b.CreateMul(index[d], kernel.index(in_strides[d])));
          if (!reduced[d])
            out_offset = b.CreateAdd(out_offset,
                                     b.CreateMul(index[d], kernel.index(out_strides[out_dim++])));
        }
        b.CreateStore(identity, accumulator);
        kernel.for_range(inner, [&](llvm::Value* j) {
          llvm::Value* value =
              b.CreateLoad(type, kernel.element_address(source, dtype, b.CreateAdd(in_offset, j)));
          b.CreateStore(
              combine_reduction(b, kind, dtype, b.CreateLoad(type, accumulator), value, true),
              accumulator);
        });
        llvm::Value* slot = kernel.element_address(result, dtype, out_offset);
        b.CreateStore(combine_reduction(b, kind, dtype, b.CreateLoad(type, slot),
                                        b.CreateLoad(type, accumulator), false),
                      slot);
      });
  if (kind != OpKind::ReduceMean || out.num_elements() == 0) return;
  kernel.for_range(out.num_elements(), [&](llvm::Value* i) {
    llvm::Value* slot = kernel.element_address(result, dtype, i);
    b.CreateStore(mean(b.CreateLoad(type, slot)), slot);
  });
}

}  // namespace rnnc::cpu
