// Contractions: matmul (cblas_sgemm / cblas_dgemm for f32 / f64, one call per batch entry;
// a loop nest for i32) and reductions (a loop nest over the operand accumulating into the
// result; trailing reduced dimensions are summed in a register, reassociably, so they vectorize;
// large ones split the first dimension they keep across the thread pool).
#include <llvm/IR/Constants.h>

#include <algorithm>
#include <cassert>
#include <functional>
#include <limits>
#include <optional>

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

/// The first dimension a reduction keeps, or -1 when it reduces them all.
int64_t first_kept_dimension(const std::vector<bool>& reduced) {
  for (size_t d = 0; d < reduced.size(); ++d)
    if (!reduced[d]) return static_cast<int64_t>(d);
  return -1;
}

/// A dimension of a loop nest run over [begin, end) (i64 values) instead of its whole size.
struct RestrictedDimension {
  int64_t dimension = -1;
  llvm::Value* begin = nullptr;
  llvm::Value* end = nullptr;
};

/// Emits `body(indices)` over the first `count` dimensions of `shape`, outermost first, with
/// `restricted` (when it is one of them) over its range only.
void for_dimensions(FunctionEmitter& emitter, const ir::Shape& shape, size_t count,
                    const std::optional<RestrictedDimension>& restricted,
                    const std::function<void(const std::vector<llvm::Value*>&)>& body) {
  std::vector<llvm::Value*> indices;
  std::function<void(size_t)> nest = [&](size_t d) {
    if (d == count) return body(indices);
    auto inner = [&](llvm::Value* i) {
      indices.push_back(i);
      nest(d + 1);
      indices.pop_back();
    };
    if (restricted && restricted->dimension == static_cast<int64_t>(d))
      emitter.for_between(restricted->begin, restricted->end, inner);
    else
      emitter.for_range(shape[d], inner);
  };
  nest(0);
}

/// A ReduceMean's division of a sum by the count of its elements.
using MeanOfSum = std::function<llvm::Value*(llvm::IRBuilder<>&, llvm::Value*)>;

/// Emits the loop nest of the kernel's reduction over its results (all of them, or those
/// of `restricted`'s range, which must be a kept dimension): each set to `identity`, the
/// operand's elements combined into them in row-major order, and for a ReduceMean divided
/// by `mean`. Trailing reduced dimensions are summed in a register, reassociably, so they
/// vectorize.
void emit_reduction_nest(KernelEmitter& kernel, llvm::Value* identity,
                         const std::vector<bool>& reduced,
                         const std::optional<RestrictedDimension>& restricted,
                         const MeanOfSum& mean) {
  const ir::Step& step = kernel.step();
  const ir::Node& node = *step.node;
  const OpKind kind = node.kind();
  const ir::TensorType& in = node.operand(0)->type();
  const DType dtype = in.dtype;
  llvm::IRBuilder<>& b = kernel.builder();
  llvm::Type* type = kernel.module().element_type(dtype);
  llvm::Value* source = kernel.pointer(step.operands.at(0));
  llvm::Value* result = kernel.pointer(step.results.at(0));
  // The result's row-major stride of each kept dimension (0 for reduced ones).
  std::vector<int64_t> out_strides(in.shape.size(), 0);
  int64_t stride = 1;
  for (size_t d = in.shape.size(); d-- > 0;) {
    if (reduced[d]) continue;
    out_strides[d] = stride;
    stride *= in.shape[d];
  }
  std::vector<int64_t> in_strides = ir::row_major_strides(in.shape);
  auto offset = [&](const std::vector<llvm::Value*>& index, const std::vector<int64_t>& strides) {
    llvm::Value* at = kernel.index(0);
    for (size_t d = 0; d < index.size(); ++d)
      if (strides[d] != 0) at = b.CreateAdd(at, b.CreateMul(index[d], kernel.index(strides[d])));
    return at;
  };
  // The results (of the range), over the kept dimensions (the reduced ones run once).
  ir::Shape kept_shape = in.shape;
  for (size_t d = 0; d < kept_shape.size(); ++d)
    if (reduced[d]) kept_shape[d] = 1;
  auto for_results = [&](const std::function<void(llvm::Value*)>& body) {
    for_dimensions(kernel, kept_shape, kept_shape.size(), restricted,
                   [&](const std::vector<llvm::Value*>& index) {
                     body(kernel.element_address(result, dtype, offset(index, out_strides)));
                   });
  };
  for_results([&](llvm::Value* slot) { b.CreateStore(identity, slot); });
  // Dimensions [0, split) are looped over; [split, rank) are all reduced and contiguous.
  size_t split = in.shape.size();
  while (split > 0 && reduced[split - 1]) --split;
  int64_t inner = ir::num_elements(Shape(in.shape.begin() + split, in.shape.end()));
  llvm::Value* accumulator = kernel.entry_alloca(type);
  for_dimensions(kernel, in.shape, split, restricted, [&](const std::vector<llvm::Value*>& index) {
    llvm::Value* in_offset = offset(index, in_strides);
    b.CreateStore(identity, accumulator);
    kernel.for_range(inner, [&](llvm::Value* j) {
      llvm::Value* value =
          b.CreateLoad(type, kernel.element_address(source, dtype, b.CreateAdd(in_offset, j)));
      b.CreateStore(combine_reduction(b, kind, dtype, b.CreateLoad(type, accumulator), value, true),
                    accumulator);
    });
    llvm::Value* slot = kernel.element_address(result, dtype, offset(index, out_strides));
    b.CreateStore(combine_reduction(b, kind, dtype, b.CreateLoad(type, slot),
                                    b.CreateLoad(type, accumulator), false),
                  slot);
  });
  if (kind == OpKind::ReduceMean)
    for_results([&](llvm::Value* slot) { b.CreateStore(mean(b, b.CreateLoad(type, slot)), slot); });
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
  auto mean = [&](llvm::IRBuilder<>& builder, llvm::Value* sum) {
    if (dtype != DType::i32)
      return builder.CreateFDiv(sum, llvm::ConstantFP::get(type, static_cast<double>(count)));
    return count == 0 ? sum
                      : builder.CreateSDiv(sum, builder.getInt32(static_cast<int32_t>(count)));
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
    if (kind == OpKind::ReduceMean) value = mean(b, value);
    b.CreateStore(value, result);
    return;
  }
  std::vector<bool> reduced(in.shape.size(), false);
  for (int64_t axis : node.attrs().get_ints("axes")) reduced[axis] = true;
  const int64_t kept = first_kept_dimension(reduced);
  const bool parallel = !kernel.module().parallel_symbol().empty() && kept >= 0 &&
                        in.shape[kept] > 1 && in.num_elements() >= kParallelElementwiseMinWork;
  if (!parallel) return emit_reduction_nest(kernel, identity, reduced, {}, mean);
  // Each part owns a range of the first kept dimension: its results, summed in the order of
  // the serial nest (so the numbers do not depend on the number of parts). A range of the
  // innermost dimension is a whole number of cache lines.
  const int64_t unit = kept + 1 == in.rank() ? std::max<int64_t>(1, 64 / ir::dtype_size(dtype)) : 1;
  const int64_t size = in.shape[kept];
  emit_parallel_parts(kernel, [&](KernelEmitter& part, llvm::Value* index, llvm::Value* parts) {
    llvm::IRBuilder<>& pb = part.builder();
    const FunctionEmitter::PartRange units =
        part.part_range((size + unit - 1) / unit, index, parts);
    llvm::Value* begin = pb.CreateMul(units.begin, part.index(unit));
    llvm::Value* end = pb.CreateBinaryIntrinsic(
        llvm::Intrinsic::smin, pb.CreateMul(units.end, part.index(unit)), part.index(size));
    emit_reduction_nest(part, identity, reduced, RestrictedDimension{kept, begin, end}, mean);
  });
}

}  // namespace rnnc::cpu
