// Data movement: layout ops as strided copy loop nests (pad = zero, then copy; concat = one
// copy per part), and gather / scatter-add / coalesce-rows / scatter-rows with their indices
// checked at run time.
#include <cassert>
#include <functional>

#include "codegen/cpu/emitter.h"

namespace rnnc::cpu {
namespace {

using ir::DType;
using ir::OpKind;
using ir::Shape;

/// One side of a strided copy: a base pointer, an element offset, strides per dimension.
struct Side {
  llvm::Value* base;
  int64_t offset = 0;
  std::vector<int64_t> strides;
};

/// Copies `shape` elements of `dtype` from `from` to `to`. Size-1 dimensions are dropped and
/// neighbouring dimensions both sides walk contiguously are merged.
void strided_copy(KernelEmitter& kernel, DType dtype, const Shape& shape, Side to, Side from) {
  Shape sizes;
  std::vector<int64_t> to_strides, from_strides;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return;
    if (shape[d] == 1) continue;
    if (!sizes.empty() && to_strides.back() == to.strides[d] * shape[d] &&
        from_strides.back() == from.strides[d] * shape[d]) {
      sizes.back() *= shape[d];
      to_strides.back() = to.strides[d];
      from_strides.back() = from.strides[d];
      continue;
    }
    sizes.push_back(shape[d]);
    to_strides.push_back(to.strides[d]);
    from_strides.push_back(from.strides[d]);
  }
  llvm::IRBuilder<>& b = kernel.builder();
  llvm::Type* type = kernel.module().element_type(dtype);
  kernel.for_shape(sizes, [&](const std::vector<llvm::Value*>& indices) {
    llvm::Value* to_offset = kernel.index(to.offset);
    llvm::Value* from_offset = kernel.index(from.offset);
    for (size_t k = 0; k < indices.size(); ++k) {
      to_offset = b.CreateAdd(to_offset, b.CreateMul(indices[k], kernel.index(to_strides[k])));
      from_offset =
          b.CreateAdd(from_offset, b.CreateMul(indices[k], kernel.index(from_strides[k])));
    }
    llvm::Value* value = b.CreateLoad(type, kernel.element_address(from.base, dtype, from_offset));
    b.CreateStore(value, kernel.element_address(to.base, dtype, to_offset));
  });
}

int64_t dot(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  int64_t sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

/// Checks a loaded i32 index against [0, rows); returns it as i64.
llvm::Value* checked_row(KernelEmitter& kernel, llvm::Value* index, int64_t rows, int32_t code) {
  llvm::IRBuilder<>& b = kernel.builder();
  llvm::Value* row = b.CreateSExt(index, b.getInt64Ty());
  kernel.fail_if(b.CreateICmpUGE(row, kernel.index(rows)), code);
  return row;
}

/// One of `rows` rows of a value of `type`: its elements and bytes (0 when there are none).
struct RowSize {
  int64_t elements, bytes;
};
RowSize row_size(const ir::TensorType& type, int64_t rows) {
  const int64_t elements = rows ? type.num_elements() / rows : 0;
  return {elements, elements * static_cast<int64_t>(ir::dtype_size(type.dtype))};
}

/// to[j] += from[j] for the `elements` of a row.
void add_row(KernelEmitter& kernel, llvm::Value* to, llvm::Value* from, DType dtype,
             int64_t elements) {
  llvm::IRBuilder<>& b = kernel.builder();
  llvm::Type* type = kernel.module().element_type(dtype);
  kernel.for_range(elements, [&](llvm::Value* j) {
    llvm::Value* slot = kernel.element_address(to, dtype, j);
    llvm::Value* update = b.CreateLoad(type, kernel.element_address(from, dtype, j));
    llvm::Value* sum = b.CreateLoad(type, slot);
    b.CreateStore(dtype == DType::i32 ? b.CreateAdd(sum, update) : b.CreateFAdd(sum, update), slot);
  });
}

/// Emits `body` (rows of a gather or scatter: part `part` of `parts`, or all of them when
/// both are null) on the calling thread, or across the thread pool when it moves
/// kParallelGatherMinBytes or more.
void emit_rows_split_when_large(
    KernelEmitter& kernel, int64_t bytes,
    const std::function<void(KernelEmitter&, llvm::Value* part, llvm::Value* parts)>& body) {
  if (kernel.module().parallel_symbol().empty() || bytes < kParallelGatherMinBytes)
    return body(kernel, nullptr, nullptr);
  emit_parallel_parts(kernel, body);
}

}  // namespace

void emit_layout(KernelEmitter& kernel) {
  const ir::Step& step = kernel.step();
  const ir::Node& node = *step.node;
  const ir::TensorType& out = node.result()->type();
  const DType dtype = out.dtype;
  llvm::Value* result = kernel.pointer(step.results.at(0));
  const std::vector<int64_t> out_strides = ir::row_major_strides(out.shape);
  auto input = [&](size_t i) { return kernel.pointer(step.operands.at(i)); };
  auto input_strides = [&](size_t i) { return ir::row_major_strides(node.operand(i)->shape()); };
  const ir::Attributes& attrs = node.attrs();
  switch (node.kind()) {
    case OpKind::Broadcast: {
      const Shape& from = node.operand(0)->shape();
      std::vector<int64_t> strides(out.shape.size(), 0), from_strides = input_strides(0);
      size_t offset = out.shape.size() - from.size();
      for (size_t j = 0; j < from.size(); ++j)
        if (from[j] != 1) strides[j + offset] = from_strides[j];
      return strided_copy(kernel, dtype, out.shape, {result, 0, out_strides},
                          {input(0), 0, strides});
    }
    case OpKind::Transpose: {
      const auto& perm = attrs.get_ints("perm");
      std::vector<int64_t> from_strides = input_strides(0), strides(perm.size());
      for (size_t d = 0; d < perm.size(); ++d) strides[d] = from_strides[perm[d]];
      return strided_copy(kernel, dtype, out.shape, {result, 0, out_strides},
                          {input(0), 0, strides});
    }
    case OpKind::Slice: {
      std::vector<int64_t> strides = input_strides(0);
      return strided_copy(kernel, dtype, out.shape, {result, 0, out_strides},
                          {input(0), dot(attrs.get_ints("starts"), strides), strides});
    }
    case OpKind::Pad: {
      kernel.zero_bytes(result, kernel.index(out.num_elements() * ir::dtype_size(dtype)));
      return strided_copy(kernel, dtype, node.operand(0)->shape(),
                          {result, dot(attrs.get_ints("low"), out_strides), out_strides},
                          {input(0), 0, input_strides(0)});
    }
    case OpKind::Concat: {
      int64_t axis = attrs.get_int("axis"), position = 0;
      for (size_t i = 0; i < node.operands().size(); ++i) {
        const Shape& part = node.operand(i)->shape();
        strided_copy(kernel, dtype, part, {result, position * out_strides[axis], out_strides},
                     {input(i), 0, input_strides(i)});
        position += part[axis];
      }
      return;
    }
    case OpKind::Reshape:
      return kernel.copy_bytes(result, input(0),
                               kernel.index(out.num_elements() * ir::dtype_size(dtype)));
    case OpKind::Input:
    case OpKind::Parameter:
    case OpKind::Constant:
    case OpKind::Iota:
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
      assert(false && "not a layout op");
      return;
  }
}

void emit_gather(KernelEmitter& kernel) {
  const ir::Step& step = kernel.step();
  const ir::Node& node = *step.node;
  const ir::TensorType& table = node.operand(0)->type();
  const int64_t rows = table.shape.at(0);
  const auto [row_elements, row_bytes] = row_size(table, rows);
  const int32_t code = kernel.error("gather index out of range [0, " + std::to_string(rows) + ")");
  const int64_t count = node.operand(1)->type().num_elements();
  // Positions [begin, end) of the indices (all of them without `part`).
  auto gather = [&](KernelEmitter& emitter, llvm::Value* part, llvm::Value* parts) {
    llvm::IRBuilder<>& b = emitter.builder();
    llvm::Value* table_pointer = emitter.pointer(step.operands.at(0));
    llvm::Value* indices = emitter.pointer(step.operands.at(1));
    llvm::Value* result = emitter.pointer(step.results.at(0));
    const FunctionEmitter::PartRange range = emitter.part_range(count, part, parts);
    emitter.for_between(range.begin, range.end, [&](llvm::Value* i) {
      llvm::Value* index =
          b.CreateLoad(b.getInt32Ty(), emitter.element_address(indices, DType::i32, i));
      llvm::Value* row = checked_row(emitter, index, rows, code);
      emitter.copy_bytes(
          emitter.byte_address(result, b.CreateMul(i, emitter.index(row_bytes))),
          emitter.byte_address(table_pointer, b.CreateMul(row, emitter.index(row_bytes))),
          emitter.index(row_bytes));
    });
  };
  // Large gathers (an embedding's rows for a batch of sequences) on the pool: each row is a
  // cache miss away in a large table.
  emit_rows_split_when_large(kernel, count * row_bytes, gather);
}

void emit_scatter_add(KernelEmitter& kernel) {
  const ir::Step& step = kernel.step();
  const ir::Node& node = *step.node;
  const ir::TensorType& out = node.result()->type();
  const int64_t rows = out.shape.at(0);
  const int64_t row_elements = row_size(out, rows).elements;
  const int32_t code =
      kernel.error("scatter_add index out of range [0, " + std::to_string(rows) + ")");
  llvm::IRBuilder<>& b = kernel.builder();
  llvm::Value* indices = kernel.pointer(step.operands.at(0));
  llvm::Value* updates = kernel.pointer(step.operands.at(1));
  llvm::Value* result = kernel.pointer(step.results.at(0));
  kernel.zero_bytes(result, kernel.index(out.num_elements() * ir::dtype_size(out.dtype)));
  kernel.for_range(node.operand(0)->type().num_elements(), [&](llvm::Value* i) {
    llvm::Value* index =
        b.CreateLoad(b.getInt32Ty(), kernel.element_address(indices, DType::i32, i));
    llvm::Value* row = checked_row(kernel, index, rows, code);
    llvm::Value* to =
        kernel.element_address(result, out.dtype, b.CreateMul(row, kernel.index(row_elements)));
    llvm::Value* from =
        kernel.element_address(updates, out.dtype, b.CreateMul(i, kernel.index(row_elements)));
    add_row(kernel, to, from, out.dtype, row_elements);
  });
}

void emit_coalesce_rows(KernelEmitter& kernel, llvm::Value* first_positions) {
  const ir::Step& step = kernel.step();
  const ir::Node& node = *step.node;
  const ir::TensorType& out = node.result()->type();
  const int64_t positions = node.operand(0)->type().num_elements();
  const int64_t rows = node.attrs().get_int("rows");
  const auto [row_elements, row_bytes] = row_size(out, positions);
  const int32_t code =
      kernel.error("coalesce_rows index out of range [0, " + std::to_string(rows) + ")");
  llvm::IRBuilder<>& b = kernel.builder();
  llvm::Value* indices = kernel.pointer(step.operands.at(0));
  llvm::Value* updates = kernel.pointer(step.operands.at(1));
  llvm::Value* result = kernel.pointer(step.results.at(0));
  kernel.for_range(positions, [&](llvm::Value* p) {
    llvm::Value* index =
        b.CreateLoad(b.getInt32Ty(), kernel.element_address(indices, DType::i32, p));
    llvm::Value* row = checked_row(kernel, index, rows, code);
    // The table of first positions is never cleared: an entry counts only when it names an
    // earlier position holding the same index (which the first occurrence always wrote).
    llvm::Value* slot = kernel.element_address(first_positions, DType::i32, row);
    llvm::Value* seen = b.CreateSExt(b.CreateLoad(b.getInt32Ty(), slot), b.getInt64Ty());
    llvm::Value* earlier = b.CreateICmpULT(seen, p);
    llvm::Value* probe = b.CreateSelect(earlier, seen, kernel.index(0));
    llvm::Value* same = b.CreateICmpEQ(
        b.CreateLoad(b.getInt32Ty(), kernel.element_address(indices, DType::i32, probe)), index);
    llvm::Value* repeated = b.CreateAnd(earlier, same);
    llvm::Value* to = kernel.byte_address(result, b.CreateMul(p, kernel.index(row_bytes)));
    llvm::Value* from = kernel.byte_address(updates, b.CreateMul(p, kernel.index(row_bytes)));
    kernel.if_then(b.CreateNot(repeated), [&] {
      b.CreateStore(b.CreateTrunc(p, b.getInt32Ty()), slot);
      kernel.copy_bytes(to, from, kernel.index(row_bytes));
    });
    kernel.if_then(repeated, [&] {
      kernel.zero_bytes(to, kernel.index(row_bytes));
      llvm::Value* first = kernel.byte_address(result, b.CreateMul(seen, kernel.index(row_bytes)));
      add_row(kernel, first, from, out.dtype, row_elements);
    });
  });
}

void emit_scatter_rows(KernelEmitter& kernel) {
  const ir::Step& step = kernel.step();
  const ir::Node& node = *step.node;
  const ir::TensorType& table_type = node.operand(0)->type();
  const int64_t rows = table_type.shape.at(0);
  const int64_t row_bytes = row_size(table_type, rows).bytes;
  const int64_t positions = node.operand(1)->type().num_elements();
  const int32_t code =
      kernel.error("scatter_rows index out of range [0, " + std::to_string(rows) + ")");
  llvm::IRBuilder<>& b = kernel.builder();
  llvm::Value* table = kernel.pointer(step.operands.at(0));
  llvm::Value* indices = kernel.pointer(step.operands.at(1));
  llvm::Value* result = kernel.pointer(step.results.at(0));
  // Position p's row of the table, read through `emitter` (the kernel or a part of it).
  auto row_of = [&](KernelEmitter& emitter, llvm::Value* index_pointer, llvm::Value* p) {
    llvm::IRBuilder<>& e = emitter.builder();
    return e.CreateSExt(
        e.CreateLoad(e.getInt32Ty(), emitter.element_address(index_pointer, DType::i32, p)),
        e.getInt64Ty());
  };
  // Every index is checked before anything is written: the result may be the table itself
  // (an update in place), which a failed step must leave as it was.
  kernel.for_range(positions, [&](llvm::Value* p) {
    kernel.fail_if(b.CreateICmpUGE(row_of(kernel, indices, p), kernel.index(rows)), code);
  });
  kernel.if_then(b.CreateICmpNE(result, table), [&] {
    kernel.copy_bytes(result, table,
                      kernel.index(table_type.num_elements() * ir::dtype_size(table_type.dtype)));
  });
  // The last position first, so that the first position of a repeated index is written last.
  // On the pool, each part writes the rows of its range of the table: it reads every
  // position's index, in the same order, and so keeps the first position winning.
  auto write_rows = [&](KernelEmitter& emitter, llvm::Value* part, llvm::Value* parts) {
    llvm::IRBuilder<>& e = emitter.builder();
    llvm::Value* target = emitter.pointer(step.results.at(0));
    llvm::Value* sources = emitter.pointer(step.operands.at(2));
    llvm::Value* row_indices = emitter.pointer(step.operands.at(1));
    const FunctionEmitter::PartRange range = emitter.part_range(rows, part, parts);
    emitter.for_range(positions, [&](llvm::Value* n) {
      llvm::Value* p = e.CreateSub(emitter.index(positions - 1), n);
      llvm::Value* row = row_of(emitter, row_indices, p);
      llvm::Value* mine =
          e.CreateAnd(e.CreateICmpSGE(row, range.begin), e.CreateICmpSLT(row, range.end));
      emitter.if_then(mine, [&] {
        emitter.copy_bytes(emitter.byte_address(target, e.CreateMul(row, emitter.index(row_bytes))),
                           emitter.byte_address(sources, e.CreateMul(p, emitter.index(row_bytes))),
                           emitter.index(row_bytes));
      });
    });
  };
  emit_rows_split_when_large(kernel, positions * row_bytes, write_rows);
}

}  // namespace rnnc::cpu
