// f32/f64 products as generated code: a register-tiled, explicitly vectorized loop nest, split
// by column blocks across rnnc's thread pool when large: a scan step's recurrent product (where
// cblas_sgemm's per-call overhead and OpenBLAS's thread hand-off cost more than the
// arithmetic) and, with B packed just before them, large top-level products (where OpenBLAS's
// own threads would compete with the pool's).
//
// C[i, j] = sum_k A(i, k) * B(k, j), with j contiguous in C and in B: B(k, j..j+V) is one vector
// load. A tile of MR rows by NR vectors of C lives in registers while k runs; A(i, k) is one
// scalar broadcast (A may be transposed, then packed too at the top level). A transposed B is
// only taken pre-packed: the scan loop packs a loop-invariant B (transposed or not) once before
// its loop into panels, one column block after another, each K rows of exactly one block's
// width (zero padded), so that a tile streams its B panel contiguously; a large top-level
// product gets its B packed just before it (program_renderer.cpp). k runs in slices of
// kGemmDepthSlice so that a slice of a panel stays in cache while every row tile reads it.
// With B or a transposed A packed (a weight gradient's A is as large as the activations; an
// input gradient's after the backward loop is [T * B, 4H]), the rows go in blocks of
// kGemmRowBlock, each block through every column block of the part, so that the block of A
// comes from cache for all but the first instead of from memory for each.
// A product that computes the sum after it (ModuleContext::ProductSum: a recurrent step's
// gates plus bias and input projection) starts its accumulators from the other addends in the
// first k slice, and meanwhile fetches those of the part's next column block into the second
// level of cache (the input projection was written long before: reading it cold at each
// tile's start took a C replica of a large LSTM step's product from 466 to 530 us).
// Panels of 2 MiB or more (a large step's weights, a large top-level product's B) do not stay
// in a core's second-level cache from one use to the next: while a k slice runs, its row
// tiles fetch the part's next panel slice there, each a share (fetch_next_slice).
#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "codegen/cpu/emitter.h"

namespace rnnc::cpu {
namespace {

using ir::DType;

/// The shape of one product of a matmul step (the last two dimensions; batch apart).
struct GemmShape {
  int64_t m = 0, n = 0, k = 0, batch = 0;
  bool ta = false, tb = false;
};

GemmShape gemm_shape(const ir::Node& node) {
  const ir::TensorType& out = node.result()->type();
  GemmShape s;
  s.ta = node.attrs().get_int("transpose_a") != 0;
  s.tb = node.attrs().get_int("transpose_b") != 0;
  const int64_t rank = out.rank();
  s.m = out.shape[rank - 2];
  s.n = out.shape[rank - 1];
  const ir::Shape& a = node.operand(0)->shape();
  s.k = s.ta ? a[rank - 2] : a[rank - 1];
  s.batch = ir::num_elements(ir::Shape(out.shape.begin(), out.shape.end() - 2));
  return s;
}

class GemmEmitter {
 public:
  GemmEmitter(KernelEmitter& kernel, const GemmShape& shape, DType dtype, bool panels,
              bool a_panels = false)
      : kernel_(kernel),
        b_(kernel.builder()),
        s_(shape),
        dtype_(dtype),
        panels_(panels),
        a_panels_(a_panels) {
    scalar_ = kernel.module().element_type(dtype);
    lanes_ = kernel.module().vector_bytes() / static_cast<int64_t>(ir::dtype_size(dtype));
    vector_ = llvm::FixedVectorType::get(scalar_, static_cast<unsigned>(lanes_));
    // Registers: MR * NR accumulators, NR loaded vectors and one broadcast (6 rows on
    // AVX-512 timed no faster, 8 twice as slow).
    rows_ = tile_rows();
    vectors_ = tile_vectors(kernel.module());
  }

  /// Rows of C per register tile (MR).
  static int64_t tile_rows() { return 4; }

  /// Vectors of C per register tile row (NR).
  static int64_t tile_vectors(const ModuleContext& module) {
    return module.vector_bytes() >= 64 ? 4 : 2;
  }

  /// Where C's columns [first, first + columns) go: a matrix of `columns` columns, plus
  /// `row_addends` (vectors of those columns) on every row.
  struct Destination {
    llvm::Value* matrix = nullptr;
    int64_t first = 0, columns = 0;
    std::vector<llvm::Value*> row_addends;
  };

  /// C = A B for every batch entry. With `part` and `parts` (i64 values), only the part-th
  /// of `parts` slices of every entry's column blocks (the last part also takes the columns
  /// left over after the last whole block).
  /// `destinations`: C, or (rank 2) matrices taking its columns in order, each starting at
  /// a column block (ModuleContext::product_slices).
  /// `addends`: matrices of C's shape the sums start from (ModuleContext::ProductSum).
  /// `row_tiles` (rank 2; row_tiles_of_part): only these row tiles of C instead, every
  /// column. `backwards` (i1, or null): the column blocks go from the last to the first.
  void emit(llvm::Value* a, llvm::Value* bm, const std::vector<Destination>& destinations,
            const std::vector<llvm::Value*>& addends, llvm::Value* part = nullptr,
            llvm::Value* parts = nullptr, const FunctionEmitter::PartRange* row_tiles = nullptr,
            llvm::Value* backwards = nullptr) {
    backwards_ = backwards;
    const int64_t panel_blocks = (s_.n + vectors_ * lanes_ - 1) / (vectors_ * lanes_);
    const int64_t panel_bytes =
        panel_blocks * panel_elements() * static_cast<int64_t>(ir::dtype_size(dtype_));
    fetch_ahead_ = panels_ && !row_tiles && panel_bytes >= kGemmFetchAheadMinPanelBytes;
    if (row_tiles) {
      tile_begin_ = row_tiles->begin;
      tile_end_ = row_tiles->end;
      rest_rows_ = row_tiles->last;
    }
    kernel_.for_range(s_.batch, [&](llvm::Value* p) {
      a_ = kernel_.element_address(a, dtype_, b_.CreateMul(p, kernel_.index(s_.m * s_.k)));
      bmat_ = kernel_.element_address(bm, dtype_, b_.CreateMul(p, kernel_.index(s_.k * s_.n)));
      addends_.clear();
      for (llvm::Value* addend : addends)
        addends_.push_back(
            kernel_.element_address(addend, dtype_, b_.CreateMul(p, kernel_.index(s_.m * s_.n))));
      const int64_t block = vectors_ * lanes_;
      const int64_t full_blocks = s_.n / block;
      auto whole_block = [&](llvm::Value* jb) {
        column_block(jb, b_.CreateMul(jb, kernel_.index(block)), vectors_, lanes_);
      };
      const int64_t rest = s_.n - full_blocks * block;
      auto rest_block = [&] {
        const int64_t vectors = (rest + lanes_ - 1) / lanes_;
        column_block(kernel_.index(full_blocks), kernel_.index(full_blocks * block), vectors,
                     rest - (vectors - 1) * lanes_);
      };
      auto [begin, end, last] = kernel_.part_range(full_blocks, row_tiles ? nullptr : part, parts);
      for_row_blocks([&] {
        for (const Destination& d : destinations) {
          c_ = kernel_.element_address(d.matrix, dtype_,
                                       b_.CreateMul(p, kernel_.index(s_.m * d.columns)));
          c_columns_ = d.columns;
          c_first_ = d.first;
          row_addends_ = d.row_addends;
          llvm::Value* first = kernel_.index(d.first / block);
          llvm::Value* after = kernel_.index((d.first + d.columns) / block);
          llvm::Value* low = b_.CreateSelect(b_.CreateICmpSLT(begin, first), first, begin);
          llvm::Value* high = b_.CreateSelect(b_.CreateICmpSLT(end, after), end, after);
          // From the last block down when backwards: low + high - 1 - jb.
          auto in_order = [&](llvm::Value* jb) {
            if (!backwards_) return jb;
            llvm::Value* mirrored =
                b_.CreateSub(b_.CreateSub(b_.CreateAdd(low, high), kernel_.index(1)), jb);
            return b_.CreateSelect(backwards_, mirrored, jb);
          };
          kernel_.for_between(low, high, [&](llvm::Value* jb) {
            // The addends and the panel of the block after this one are fetched while this
            // one runs (the last block fetches its own).
            if (!addends_.empty() || fetch_ahead_) {
              llvm::Value* next = b_.CreateAdd(jb, kernel_.index(1));
              next = b_.CreateSelect(b_.CreateICmpSLT(next, high), next, jb);
              next_jb_ = in_order(next);
            }
            whole_block(in_order(jb));
            next_jb_ = nullptr;
          });
          if (rest > 0 && d.first + d.columns == s_.n) kernel_.if_then(last, rest_block);
        }
      });
    });
  }

  /// Runs `body` (which goes over the column blocks) once per block of row_block_rows() rows
  /// (row_begin_, row_count_; the last block may be shorter), or once for all rows.
  void for_row_blocks(const std::function<void()>& body) {
    const int64_t block = row_block_rows();
    if (block >= s_.m || tile_begin_) {
      row_begin_ = kernel_.index(0);
      row_count_ = s_.m;
      return body();
    }
    const int64_t full = s_.m / block;
    kernel_.for_range(full, [&](llvm::Value* rb) {
      row_begin_ = b_.CreateMul(rb, kernel_.index(block));
      row_count_ = block;
      body();
    });
    if (s_.m > full * block) {
      row_begin_ = kernel_.index(full * block);
      row_count_ = s_.m - full * block;
      body();
    }
  }

  /// Rows per row block: kGemmRowBlock when A is a packed transposed A (its packed copy is
  /// as large as the activations it was packed from) or B is packed (a large top-level
  /// product; a recurrent step's has fewer rows than a block), else all of them.
  int64_t row_block_rows() const { return a_panels_ || panels_ ? kGemmRowBlock : s_.m; }

  /// Column blocks (whole ones) of one batch entry.
  int64_t full_blocks() const { return s_.n / (vectors_ * lanes_); }

  /// The row tiles of C (the last one possibly short, with the last part) that part `part`
  /// of `parts` (i64 values, in `kernel`) computes when the parts split C by rows.
  static FunctionEmitter::PartRange row_tiles_of_part(KernelEmitter& kernel, const GemmShape& shape,
                                                      llvm::Value* part, llvm::Value* parts) {
    return kernel.part_range((shape.m + tile_rows() - 1) / tile_rows(), part, parts);
  }

  /// The first row of C of row tile `tile` (i64), or C's row count past the last tile.
  static llvm::Value* first_row(KernelEmitter& kernel, const GemmShape& shape, llvm::Value* tile) {
    llvm::IRBuilder<>& b = kernel.builder();
    llvm::Value* first = b.CreateMul(tile, kernel.index(tile_rows()));
    return b.CreateSelect(b.CreateICmpSLT(first, kernel.index(shape.m)), first,
                          kernel.index(shape.m));
  }

 private:
  /// Columns [j0, j0 + (vectors - 1) * lanes + last_lanes) (column block `jb`) for every row.
  /// A long k range goes in slices of kGemmDepthSlice, all rows per slice, so that the slice
  /// of B stays in cache while every row tile reads it (C accumulates after the first).
  void column_block(llvm::Value* jb, llvm::Value* j0, int64_t vectors, int64_t last_lanes) {
    // B(k, j0 + c) is at bmat_ + k * row_stride + column: in B itself, or in the block's panel.
    llvm::Value* first = panels_ ? b_.CreateMul(jb, kernel_.index(panel_elements())) : j0;
    const int64_t row_stride = panels_ ? vectors_ * lanes_ : s_.n;
    auto all_rows = [&](const Depth& depth) {
      if (tile_begin_) {  // the part's row tiles; the last one may be short
        const int64_t full_tiles = s_.m / rows_;
        llvm::Value* end = b_.CreateSelect(b_.CreateICmpSLT(tile_end_, kernel_.index(full_tiles)),
                                           tile_end_, kernel_.index(full_tiles));
        kernel_.for_between(tile_begin_, end, [&](llvm::Value* it) {
          tile(b_.CreateMul(it, kernel_.index(rows_)), rows_, j0, first, row_stride, vectors,
               last_lanes, depth);
        });
        if (const int64_t rest = s_.m - full_tiles * rows_; rest > 0)
          kernel_.if_then(rest_rows_, [&] {
            tile(kernel_.index(full_tiles * rows_), rest, j0, first, row_stride, vectors,
                 last_lanes, depth);
          });
        return;
      }
      const int64_t full_tiles = row_count_ / rows_;
      kernel_.for_range(full_tiles, [&](llvm::Value* it) {
        tile(b_.CreateAdd(row_begin_, b_.CreateMul(it, kernel_.index(rows_))), rows_, j0, first,
             row_stride, vectors, last_lanes, depth);
      });
      const int64_t rest = row_count_ - full_tiles * rows_;
      if (rest > 0)
        tile(b_.CreateAdd(row_begin_, kernel_.index(full_tiles * rows_)), rest, j0, first,
             row_stride, vectors, last_lanes, depth);
    };
    // The panel slice read after this one (next_slice_, when fetch_ahead_): the block's next
    // k slice, else the next block's first (the partial last block, after the whole ones,
    // has none: its own).
    const int64_t panel_slice = slice_depth() * vectors_ * lanes_;
    llvm::Value* next_block = nullptr;
    if (fetch_ahead_)
      next_block = next_jb_ ? b_.CreateMul(next_jb_, kernel_.index(panel_elements())) : first;
    next_slice_per_row_ = (panel_slice + row_count_ - 1) / row_count_;
    if (s_.k <= kGemmDepthSlice) {
      next_slice_ = next_block;
      all_rows({kernel_.index(0), kernel_.index(s_.k), nullptr});
      next_slice_ = nullptr;
      return;
    }
    const int64_t slices = (s_.k + kGemmDepthSlice - 1) / kGemmDepthSlice;
    kernel_.for_range(slices, [&](llvm::Value* slice) {
      if (next_block) {
        llvm::Value* following = b_.CreateAdd(
            first, b_.CreateMul(b_.CreateAdd(slice, kernel_.index(1)), kernel_.index(panel_slice)));
        next_slice_ = b_.CreateSelect(b_.CreateICmpSLT(slice, kernel_.index(slices - 1)), following,
                                      next_block);
      }
      llvm::Value* begin = b_.CreateMul(slice, kernel_.index(kGemmDepthSlice));
      llvm::Value* end = b_.CreateAdd(begin, kernel_.index(kGemmDepthSlice));
      end = b_.CreateSelect(b_.CreateICmpULT(end, kernel_.index(s_.k)), end, kernel_.index(s_.k));
      all_rows({begin, end, b_.CreateICmpNE(slice, kernel_.index(0))});
    });
    next_slice_ = nullptr;
  }

  /// Fetches, at k step `q` of a tile of `rows` rows from row i0, its share of next_slice_
  /// into the second level of cache: the row block's tiles split the slice by their rows, and
  /// each spreads its share over the k steps of a slice, a cache line (or a few, for tiles
  /// of few rows) per step. A panel slice is 64 KiB, a core's panels of a large product
  /// megabytes: without this, the first row tile of every slice waited on the third level.
  /// Instrumented AOT builds, interleaved, medians of 5: large LSTM inference 51.9 -> 47.3
  /// ms; with 2 of each, GRU inference 37 -> 34 ms, GRU forward+backward 127-131 -> 116-118
  /// ms, DeepBench-like LSTM forward+backward 90-92 -> 79-80 ms.
  /// `share`: the first element of the tile's share (next_slice_share).
  void fetch_next_slice(llvm::Value* share, int64_t rows, llvm::Value* step) {
    const int64_t depth = slice_depth();
    const int64_t line = 64 / static_cast<int64_t>(ir::dtype_size(dtype_));
    const int64_t per_step = (next_slice_per_row_ * rows + depth - 1) / depth;
    const int64_t fetches = std::min<int64_t>((per_step + line - 1) / line, 4);
    const int64_t stride = fetches == 1 ? per_step : line;
    for (int64_t f = 0; f < fetches; ++f) {
      llvm::Value* element = b_.CreateAdd(
          share,
          b_.CreateAdd(b_.CreateMul(step, kernel_.index(stride)), kernel_.index(f * depth * line)));
      // Not inbounds: a short last slice's shares reach past the panels (a fetch never faults).
      fetch_into_second_level(b_.CreateGEP(scalar_, bmat_, element));
    }
  }

  /// The first element of next_slice_ that the tile from row i0 fetches.
  llvm::Value* next_slice_share(llvm::Value* i0) {
    return b_.CreateAdd(next_slice_, b_.CreateMul(b_.CreateSub(i0, row_begin_),
                                                  kernel_.index(next_slice_per_row_)));
  }

  /// A prefetch of the line at `at`: a read, kept in the second level (locality 2), of data.
  void fetch_into_second_level(llvm::Value* at) {
    b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {at->getType()},
                       {at, b_.getInt32(0), b_.getInt32(2), b_.getInt32(1)});
  }

  /// Elements of one column block's panel: K rows of the block's width.
  int64_t panel_elements() const { return s_.k * vectors_ * lanes_; }

  /// The k steps of a full slice.
  int64_t slice_depth() const { return std::min(s_.k, kGemmDepthSlice); }

  /// A range of k, and whether C already holds the sum of the earlier ones (null: it does not).
  struct Depth {
    llvm::Value* begin;
    llvm::Value* end;
    llvm::Value* accumulate;
  };

  /// The mask of a vector with its first `count` lanes on.
  llvm::Value* mask(int64_t count) {
    std::vector<llvm::Constant*> bits;
    for (int64_t l = 0; l < lanes_; ++l) bits.push_back(b_.getInt1(l < count));
    return llvm::ConstantVector::get(bits);
  }

  /// A vector of B at `at`, of which only the first `count` lanes when `partial`.
  llvm::Value* load_vector(llvm::Value* at, bool partial, int64_t count) {
    // Panels are zero padded to whole blocks and start at vector-aligned addresses.
    if (panels_)
      return b_.CreateAlignedLoad(vector_, at, llvm::Align(kernel_.module().vector_bytes()));
    return load_unpadded(at, partial, count);
  }

  /// A vector at `at` in an unpadded matrix (B read in place, or C), the lanes past `count`
  /// masked off (zero) when `partial`.
  llvm::Value* load_unpadded(llvm::Value* at, bool partial, int64_t count) {
    llvm::Align align(ir::dtype_size(dtype_));
    if (!partial) return b_.CreateAlignedLoad(vector_, at, align);
    return b_.CreateMaskedLoad(vector_, at, align, mask(count),
                               llvm::Constant::getNullValue(vector_));
  }

  void store_vector(llvm::Value* value, llvm::Value* at, bool partial, int64_t count) {
    llvm::Align align(ir::dtype_size(dtype_));
    if (!partial) {
      b_.CreateAlignedStore(value, at, align);
      return;
    }
    b_.CreateMaskedStore(value, at, align, mask(count));
  }

  /// Rows [i0, i0 + rows) by the column block at j0 (B's columns from `first`, rows
  /// `row_stride` apart): accumulators in registers over k.
  void tile(llvm::Value* i0, int64_t rows, llvm::Value* j0, llvm::Value* first, int64_t row_stride,
            int64_t vectors, int64_t last_lanes, const Depth& depth) {
    const bool partial = last_lanes != lanes_;
    // Element (i0 + r, block + v * lanes - first) of a matrix of `columns` columns.
    auto at_in = [&](llvm::Value* matrix, int64_t columns, int64_t first, int64_t r, int64_t v,
                     llvm::Value* block) {
      llvm::Value* i = b_.CreateAdd(i0, kernel_.index(r));
      llvm::Value* row = b_.CreateAdd(b_.CreateMul(i, kernel_.index(columns)), block);
      return kernel_.element_address(matrix, dtype_,
                                     b_.CreateAdd(row, kernel_.index(v * lanes_ - first)));
    };
    auto at = [&](llvm::Value* matrix, int64_t r, int64_t v) {
      return at_in(matrix, s_.n, 0, r, v, j0);
    };
    auto c_at = [&](int64_t r, int64_t v) { return at_in(c_, c_columns_, c_first_, r, v, j0); };
    std::vector<llvm::Value*> slots;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t v = 0; v < vectors; ++v) slots.push_back(kernel_.entry_alloca(vector_));
    // The first k slice starts from the addends (and fetches the next block's); the others
    // from C.
    auto start_from_addends = [&] {
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t v = 0; v < vectors; ++v) {
          const bool masked = partial && v == vectors - 1;
          llvm::Value* start = llvm::Constant::getNullValue(vector_);
          std::vector<llvm::Value*> terms;
          for (llvm::Value* addend : addends_)
            terms.push_back(load_unpadded(at(addend, r, v), masked, last_lanes));
          for (llvm::Value* addend : row_addends_) {
            llvm::Value* column = b_.CreateAdd(j0, kernel_.index(v * lanes_ - c_first_));
            terms.push_back(
                load_unpadded(kernel_.element_address(addend, dtype_, column), masked, last_lanes));
          }
          for (size_t e = 0; e < terms.size(); ++e)
            start = e == 0 ? terms[e] : b_.CreateFAdd(start, terms[e]);
          b_.CreateStore(start, slots[r * vectors + v]);
        }
      if (!next_jb_) return;
      llvm::Value* next_j0 = b_.CreateMul(next_jb_, kernel_.index(vectors_ * lanes_));
      for (llvm::Value* addend : addends_)
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t v = 0; v < vectors; ++v)
            fetch_into_second_level(at_in(addend, s_.n, 0, r, v, next_j0));
    };
    if (!depth.accumulate) {
      start_from_addends();
    } else {
      kernel_.if_then(b_.CreateNot(depth.accumulate), start_from_addends);
      kernel_.if_then(depth.accumulate, [&] {
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t v = 0; v < vectors; ++v)
            b_.CreateStore(load_unpadded(c_at(r, v), partial && v == vectors - 1, last_lanes),
                           slots[r * vectors + v]);
      });
    }
    llvm::Value* share = next_slice_ ? next_slice_share(i0) : nullptr;
    kernel_.for_between(depth.begin, depth.end, [&](llvm::Value* q) {
      if (share) fetch_next_slice(share, rows, b_.CreateSub(q, depth.begin));
      std::vector<llvm::Value*> columns;
      llvm::Value* row = b_.CreateAdd(b_.CreateMul(q, kernel_.index(row_stride)), first);
      for (int64_t v = 0; v < vectors; ++v) {
        llvm::Value* at =
            kernel_.element_address(bmat_, dtype_, b_.CreateAdd(row, kernel_.index(v * lanes_)));
        columns.push_back(load_vector(at, partial && v == vectors - 1, last_lanes));
      }
      for (int64_t r = 0; r < rows; ++r) {
        llvm::Value* i = b_.CreateAdd(i0, kernel_.index(r));
        llvm::Value* a_at = s_.ta ? b_.CreateAdd(b_.CreateMul(q, kernel_.index(s_.m)), i)
                                  : b_.CreateAdd(b_.CreateMul(i, kernel_.index(s_.k)), q);
        if (a_panels_) {
          // Row i is lane i % W of group q of panel i / W (W = generated_gemm_a_panel_rows).
          const int64_t w = generated_gemm_a_panel_rows(dtype_);
          llvm::Value* panel = b_.CreateUDiv(i, kernel_.index(w));
          a_at = b_.CreateAdd(b_.CreateAdd(b_.CreateMul(panel, kernel_.index(s_.k * w)),
                                           b_.CreateMul(q, kernel_.index(w))),
                              b_.CreateURem(i, kernel_.index(w)));
        }
        llvm::Value* scalar = b_.CreateLoad(scalar_, kernel_.element_address(a_, dtype_, a_at));
        llvm::Value* splat = b_.CreateVectorSplat(static_cast<unsigned>(lanes_), scalar);
        for (int64_t v = 0; v < vectors; ++v) {
          llvm::Value* slot = slots[r * vectors + v];
          llvm::Value* sum = b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vector_},
                                                {splat, columns[v], b_.CreateLoad(vector_, slot)});
          b_.CreateStore(sum, slot);
        }
      }
    });
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t v = 0; v < vectors; ++v)
        store_vector(b_.CreateLoad(vector_, slots[r * vectors + v]), c_at(r, v),
                     partial && v == vectors - 1, last_lanes);
  }

  KernelEmitter& kernel_;
  llvm::IRBuilder<>& b_;
  GemmShape s_;
  DType dtype_;
  llvm::Type* scalar_ = nullptr;
  llvm::FixedVectorType* vector_ = nullptr;
  bool panels_ = false, a_panels_ = false;
  int64_t lanes_ = 0, rows_ = 0, vectors_ = 0;
  llvm::Value *a_ = nullptr, *bmat_ = nullptr;
  llvm::Value* c_ = nullptr;          ///< the current destination of C's columns
  int64_t c_columns_ = 0;             ///< its columns
  int64_t c_first_ = 0;               ///< the first of C's columns it takes
  llvm::Value* backwards_ = nullptr;  ///< i1: the column blocks in reverse order (emit)
  /// With row tiles (emit): the part's row tiles [tile_begin_, tile_end_), and whether it
  /// takes the short last one (i1).
  llvm::Value* tile_begin_ = nullptr;
  llvm::Value* tile_end_ = nullptr;
  llvm::Value* rest_rows_ = nullptr;
  llvm::Value* row_begin_ = nullptr;  ///< the first row of the current row block
  int64_t row_count_ = 0;             ///< its rows
  std::vector<llvm::Value*> addends_;
  std::vector<llvm::Value*> row_addends_;  ///< the current destination's
  llvm::Value* next_jb_ = nullptr;         ///< the part's next column block (or null)
  /// With B in panels: the first element (of bmat_) of the panel slice the part reads after
  /// the current one (fetch_next_slice), or null; and each row's share of it, in elements.
  llvm::Value* next_slice_ = nullptr;
  int64_t next_slice_per_row_ = 0;
  bool fetch_ahead_ = false;  ///< whether the tiles fetch the next panel slice (emit)
};

}  // namespace

bool generated_gemm_fits(const ir::Node& node, bool b_packed) {
  const DType dtype = node.result()->dtype();
  if (dtype != DType::f32 && dtype != DType::f64) return false;
  const GemmShape s = gemm_shape(node);
  if (s.tb && !b_packed) return false;
  if (s.m == 0 || s.n == 0 || s.k == 0) return false;
  // Up to here a call's fixed cost (and OpenBLAS's thread hand-off) outweighs its better
  // blocking: timed both ways on the benchmark shapes (recurrent steps up to B = 32, H = 256).
  return s.m * s.n * s.k <= (b_packed ? kGeneratedPackedGemmMaxMacs : kGeneratedGemmMaxMacs);
}

int64_t generated_gemm_panel_columns(const ModuleContext& module, ir::DType dtype) {
  return GemmEmitter::tile_vectors(module) * module.vector_bytes() /
         static_cast<int64_t>(ir::dtype_size(dtype));
}

int64_t generated_gemm_a_panel_rows(ir::DType) { return GemmEmitter::tile_rows(); }

void emit_generated_gemm(KernelEmitter& kernel, bool b_packed, bool a_packed) {
  const ir::Step& step = kernel.step();
  const ir::Node& node = *step.node;
  GemmShape shape = gemm_shape(node);
  if (b_packed) shape.tb = false;
  const ir::DType dtype = node.result()->dtype();
  ModuleContext& module = kernel.module();
  const ir::BufferId a = step.operands.at(0), b = step.operands.at(1);
  const ir::BufferId c = step.results.at(0);
  std::vector<ir::BufferId> addends;
  std::vector<ModuleContext::ProductSlice> slices{{c, 0, shape.n, {}}};
  auto sum = module.product_sums().find(&step);
  if (sum != module.product_sums().end()) {
    addends = sum->second.addends;
    slices = {{sum->second.result, 0, shape.n, sum->second.row_addends}};
  }
  auto sliced = module.product_slices().find(&step);
  if (sliced != module.product_slices().end()) slices = sliced->second;
  auto pointers = [&](KernelEmitter& emitter) {
    std::vector<llvm::Value*> values;
    for (ir::BufferId id : addends) values.push_back(emitter.pointer(id));
    return values;
  };
  auto destinations = [&](KernelEmitter& emitter) {
    std::vector<GemmEmitter::Destination> values;
    for (const ModuleContext::ProductSlice& slice : slices) {
      values.push_back({emitter.pointer(slice.buffer), slice.first, slice.columns, {}});
      for (const ModuleContext::RowAddend& addend : slice.row_addends)
        values.back().row_addends.push_back(emitter.element_address(
            emitter.pointer(addend.buffer), dtype, emitter.index(addend.offset)));
    }
    return values;
  };
  // A recurrent step's product alternates the order of its column blocks from one call to
  // the next (a flag of its own, flipped after each call): the blocks it computed last, whose
  // panels are still in the core's cache, come first. Any order gives the same numbers.
  llvm::GlobalVariable* flag = nullptr;
  if (module.recurrent_products().count(&step)) {
    llvm::Type* i32 = module.i32();
    flag = new llvm::GlobalVariable(module.module(), i32, false, llvm::GlobalValue::InternalLinkage,
                                    llvm::ConstantInt::get(i32, 0), "backwards_blocks");
  }
  auto load_flag = [&](llvm::IRBuilder<>& b) {
    llvm::LoadInst* load = b.CreateAlignedLoad(module.i32(), flag, llvm::Align(4));
    load->setAtomic(llvm::AtomicOrdering::Monotonic);
    return load;
  };
  auto backwards = [&](KernelEmitter& emitter) -> llvm::Value* {
    if (!flag) return nullptr;
    llvm::IRBuilder<>& b = emitter.builder();
    return b.CreateICmpNE(load_flag(b), b.getInt32(0));
  };
  auto flip = [&] {
    if (!flag) return;
    llvm::IRBuilder<>& b = kernel.builder();
    llvm::StoreInst* store =
        b.CreateAlignedStore(b.CreateXor(load_flag(b), b.getInt32(1)), flag, llvm::Align(4));
    store->setAtomic(llvm::AtomicOrdering::Monotonic);
  };
  auto gate_math = module.gate_math().find(&step);
  if (gate_math != module.gate_math().end()) {
    // Each part: all columns of its rows of C, and the gate math of those rows.
    const ModuleContext::GateMath& math = gate_math->second;
    emit_parallel_parts(kernel, [&](KernelEmitter& part, llvm::Value* index, llvm::Value* parts) {
      const FunctionEmitter::PartRange tiles =
          GemmEmitter::row_tiles_of_part(part, shape, index, parts);
      llvm::Value* begin = GemmEmitter::first_row(part, shape, tiles.begin);
      llvm::Value* end = GemmEmitter::first_row(part, shape, tiles.end);
      if (math.first) emit_elementwise_rows(part, *math.elementwise, begin, end);
      GemmEmitter(part, shape, dtype, b_packed, a_packed)
          .emit(part.pointer(a), part.pointer(b), destinations(part), pointers(part), index, parts,
                &tiles, backwards(part));
      if (!math.first) emit_elementwise_rows(part, *math.elementwise, begin, end);
    });
    flip();
    return;
  }
  const bool parallel = !module.parallel_symbol().empty() &&
                        shape.m * shape.n * shape.k * shape.batch >= kParallelGemmMinMacs &&
                        GemmEmitter(kernel, shape, dtype, b_packed).full_blocks() >= 2;
  if (!parallel) {
    GemmEmitter(kernel, shape, dtype, b_packed, a_packed)
        .emit(kernel.pointer(a), kernel.pointer(b), destinations(kernel), pointers(kernel), nullptr,
              nullptr, nullptr, backwards(kernel));
    flip();
    return;
  }
  emit_parallel_parts(kernel, [&](KernelEmitter& part, llvm::Value* index, llvm::Value* parts) {
    GemmEmitter(part, shape, dtype, b_packed, a_packed)
        .emit(part.pointer(a), part.pointer(b), destinations(part), pointers(part), index, parts,
              nullptr, backwards(part));
  });
  flip();
}

}  // namespace rnnc::cpu
