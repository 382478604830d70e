// Packing a loop-invariant B operand (or a large product's B or transposed A) into the panels
// the generated products stream (small_gemm.cpp): for each block of `width` columns, K rows
// of `width` elements, the last block zero padded.
//
// An untransposed source is copied 16 rows at a time, one panel row at a time; it may come as
// column runs in buffers of their own (a concat's parts, each but the last whole panels). A
// transposed one (the source holds B^T, a recurrent weight W used as h W^T) is read lanes x
// lanes at a time: `lanes` vector loads of source rows, a transpose in registers (log2(lanes)
// rounds of shuffles, each swapping one bit of the row index with the same bit of the column
// index), `lanes` vector stores into panel rows. Edges that do not fill a block are copied
// element by element.
#include <llvm/IR/Constants.h>

#include <algorithm>
#include <cassert>
#include <vector>

#include "codegen/cpu/emitter.h"

namespace rnnc::cpu {
namespace {

/// Rows of an untransposed source packed together (see pack_part).
constexpr int64_t kPackRowBlock = 16;

/// The rows of a lanes x lanes block (`rows`, one vector each) transposed in registers.
std::vector<llvm::Value*> transpose_in_registers(llvm::IRBuilder<>& b,
                                                 std::vector<llvm::Value*> rows) {
  const int lanes = static_cast<int>(rows.size());
  for (int bit = 1; bit < lanes; bit <<= 1) {
    // new[r0][c] = c & bit ? old[r1][c - bit] : old[r0][c]
    // new[r1][c] = c & bit ? old[r1][c] : old[r0][c + bit]     (r1 = r0 + bit)
    std::vector<int> low(lanes), high(lanes);
    for (int c = 0; c < lanes; ++c) {
      low[c] = (c & bit) ? lanes + c - bit : c;
      high[c] = (c & bit) ? lanes + c : c + bit;
    }
    std::vector<llvm::Value*> next(rows.size());
    for (int r0 = 0; r0 < lanes; ++r0) {
      if (r0 & bit) continue;
      next[r0] = b.CreateShuffleVector(rows[r0], rows[r0 + bit], low);
      next[r0 + bit] = b.CreateShuffleVector(rows[r0], rows[r0 + bit], high);
    }
    rows = std::move(next);
  }
  return rows;
}

/// Emits, in `f`, the packing of the panels of part `part` of `parts` (i64 values; null: all
/// panels); the last part also packs the partial last panel. An untransposed B may come as
/// several column runs (`sources`); a transposed one is one source.
void pack_part(FunctionEmitter& f, const std::vector<PackPart>& sources, llvm::Value* packed,
               ir::DType dtype, int64_t k, int64_t n, bool transposed, int64_t width,
               llvm::Value* part, llvm::Value* parts) {
  assert(!sources.empty() && (!transposed || sources.size() == 1));
  llvm::Value* source = sources.front().source;
  llvm::IRBuilder<>& b = f.builder();
  ModuleContext& module = f.module();
  const int64_t size = ir::dtype_size(dtype);
  const int64_t lanes = module.vector_bytes() / size;
  llvm::Type* element = module.element_type(dtype);
  auto* vector = llvm::FixedVectorType::get(element, static_cast<unsigned>(lanes));
  const llvm::Align element_align(size);
  auto at = [&](llvm::Value* base, llvm::Value* index) {
    return f.element_address(base, dtype, index);
  };
  auto mul = [&](llvm::Value* x, int64_t y) { return b.CreateMul(x, f.index(y)); };

  // Panel `p` holding `columns` real columns (its first is column p * width of B).
  auto pack_panel = [&](llvm::Value* p, int64_t columns) {
    llvm::Value* panel = at(packed, mul(p, k * width));
    llvm::Value* first = mul(p, width);
    // B(q, first + c) = source[(first + c) * k + q] -> panel[q * width + c].
    auto element_by_element = [&](int64_t c_begin, int64_t c_end, int64_t q_begin, int64_t q_end) {
      if (c_begin >= c_end || q_begin >= q_end) return;
      f.for_range(c_end - c_begin, [&](llvm::Value* dc) {
        llvm::Value* c = b.CreateAdd(dc, f.index(c_begin));
        llvm::Value* row = at(source, mul(b.CreateAdd(first, c), k));
        f.for_range(q_end - q_begin, [&](llvm::Value* dq) {
          llvm::Value* q = b.CreateAdd(dq, f.index(q_begin));
          b.CreateStore(b.CreateLoad(element, at(row, q)),
                        at(panel, b.CreateAdd(mul(q, width), c)));
        });
      });
    };
    const int64_t column_blocks = columns / lanes, row_blocks = k / lanes;
    f.for_range(row_blocks, [&](llvm::Value* qb) {
      llvm::Value* q0 = mul(qb, lanes);
      f.for_range(column_blocks, [&](llvm::Value* cb) {
        llvm::Value* c0 = mul(cb, lanes);
        std::vector<llvm::Value*> rows;
        for (int64_t r = 0; r < lanes; ++r) {
          llvm::Value* c = b.CreateAdd(c0, f.index(r));
          rows.push_back(b.CreateAlignedLoad(
              vector, at(source, b.CreateAdd(mul(b.CreateAdd(first, c), k), q0)), element_align));
        }
        rows = transpose_in_registers(b, std::move(rows));
        for (int64_t r = 0; r < lanes; ++r) {
          llvm::Value* q = b.CreateAdd(q0, f.index(r));
          b.CreateAlignedStore(rows[r], at(panel, b.CreateAdd(mul(q, width), c0)), element_align);
        }
      });
    });
    element_by_element(column_blocks * lanes, columns, 0, k);
    element_by_element(0, column_blocks * lanes, row_blocks * lanes, k);
  };

  const int64_t full_panels = n / width, rest = n - full_panels * width;
  if (!transposed) {
    // kPackRowBlock rows of the source at a time, the rows of every panel of the part in
    // turn: each panel's part of them is one contiguous run of the panel, and the source rows
    // stay in cache while all panels read them. Narrow panels (a transposed A's) would
    // otherwise read the source in column strips, one cache line for a few elements.
    const auto [begin, end, last] = f.part_range(full_panels, part, parts);
    // Row q of panel p (`columns` of them) from column run `from`, whose first column is B's
    // column `first`.
    auto copy_row = [&](llvm::Value* q, llvm::Value* p, int64_t columns, const PackPart& from,
                        int64_t first) {
      llvm::Value* column = b.CreateSub(mul(p, width), f.index(first));
      f.copy_bytes(at(packed, b.CreateAdd(mul(p, k * width), mul(q, width))),
                   at(from.source, b.CreateAdd(mul(q, from.columns), column)),
                   f.index(columns * size));
    };
    if (rest > 0)
      f.if_then(last, [&] {
        f.zero_bytes(at(packed, f.index(full_panels * k * width)), f.index(k * width * size));
      });
    auto clamp = [&](llvm::Value* x, int64_t low, int64_t high) {
      x = b.CreateSelect(b.CreateICmpSLT(x, f.index(low)), f.index(low), x);
      return b.CreateSelect(b.CreateICmpSGT(x, f.index(high)), f.index(high), x);
    };
    // Rows [q0, q0 + rows) of every panel of the part, one panel after another.
    auto row_block = [&](llvm::Value* q0, int64_t rows) {
      auto panel_rows = [&](llvm::Value* p, int64_t columns, const PackPart& from, int64_t first) {
        f.for_range(
            rows, [&](llvm::Value* dq) { copy_row(b.CreateAdd(q0, dq), p, columns, from, first); });
      };
      int64_t first = 0;  // the column run's first column of B
      for (const PackPart& from : sources) {
        // The whole panels within this run: [first / width, (first + columns) / width).
        const int64_t p0 = first / width;
        const int64_t p1 = std::min(full_panels, (first + from.columns) / width);
        f.for_between(clamp(begin, p0, p1), clamp(end, p0, p1),
                      [&](llvm::Value* p) { panel_rows(p, width, from, first); });
        first += from.columns;
      }
      if (rest > 0)
        f.if_then(last, [&] {
          panel_rows(f.index(full_panels), rest, sources.back(), n - sources.back().columns);
        });
    };
    const int64_t blocks = k / kPackRowBlock;
    f.for_range(blocks, [&](llvm::Value* qb) { row_block(mul(qb, kPackRowBlock), kPackRowBlock); });
    if (k > blocks * kPackRowBlock)
      row_block(f.index(blocks * kPackRowBlock), k - blocks * kPackRowBlock);
    return;
  }
  auto partial_panel = [&] {
    f.zero_bytes(at(packed, f.index(full_panels * k * width)), f.index(k * width * size));
    pack_panel(f.index(full_panels), rest);
  };
  const auto [begin, end, last] = f.part_range(full_panels, part, parts);
  f.for_between(begin, end, [&](llvm::Value* p) { pack_panel(p, width); });
  if (rest > 0) f.if_then(last, partial_panel);
}

/// emit_pack_panels for B given as `sources` (one, or an untransposed B's column runs).
void pack_panels(FunctionEmitter& f, const std::vector<PackPart>& sources, llvm::Value* packed,
                 ir::DType dtype, int64_t k, int64_t n, bool transposed, int64_t width) {
  ModuleContext& module = f.module();
  if (width == 0) width = generated_gemm_panel_columns(module, dtype);
  if (module.parallel_symbol().empty() || n <= width || k * n < kParallelPackMinElements)
    return pack_part(f, sources, packed, dtype, k, n, transposed, width, nullptr, nullptr);
  std::vector<llvm::Value*> pointers{packed};
  for (const PackPart& from : sources) pointers.push_back(from.source);
  ParallelRegion region = emit_parallel_call(f, module.function_name("pack_panels"), pointers);
  FunctionEmitter part(module, region.function);
  std::vector<PackPart> loaded = sources;
  for (size_t s = 0; s < loaded.size(); ++s)
    loaded[s].source = region.load_pointer(part, static_cast<unsigned>(s + 1));
  pack_part(part, loaded, region.load_pointer(part, 0), dtype, k, n, transposed, width,
            region.index(), region.parts());
  part.finish();
}

}  // namespace

void emit_pack_panels(FunctionEmitter& f, llvm::Value* source, llvm::Value* packed, ir::DType dtype,
                      int64_t k, int64_t n, bool transposed, int64_t width) {
  pack_panels(f, {{source, n}}, packed, dtype, k, n, transposed, width);
}

void emit_pack_panels(FunctionEmitter& f, const std::vector<PackPart>& parts, llvm::Value* packed,
                      ir::DType dtype, int64_t k, int64_t n, int64_t width) {
  if (width == 0) width = generated_gemm_panel_columns(f.module(), dtype);
  int64_t columns = 0;
  for (size_t s = 0; s < parts.size(); ++s) {
    assert((s + 1 == parts.size() || parts[s].columns % width == 0) &&
           "a column run that is not the last must be whole panels");
    columns += parts[s].columns;
  }
  assert(columns == n);
  (void)columns;
  pack_panels(f, parts, packed, dtype, k, n, false, width);
}

}  // namespace rnnc::cpu
