#pragma once
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/program.h"

/// Internals of the CPU backend shared by its emitters (not part of the public API): the
/// module being rendered, one function being emitted, and the kernel emitters' entry points.
namespace rnnc::cpu {

/// Module-wide state of rendering one program: LLVM types, constant globals, and the table
/// of error codes the entry function may return.
class ModuleContext {
 public:
  /// Renders `program` into `module` (both must outlive the context).
  ModuleContext(llvm::Module& module, const ir::Program& program);

  /// The module's LLVM context.
  llvm::LLVMContext& context() const { return module_.getContext(); }
  /// The module being rendered.
  llvm::Module& module() const { return module_; }
  /// The program being rendered.
  const ir::Program& program() const { return program_; }

  /// The LLVM element type of `dtype` (float, double, i32).
  llvm::Type* element_type(ir::DType dtype) const;
  /// i64: every index and byte offset.
  llvm::Type* i64() const { return llvm::Type::getInt64Ty(context()); }
  /// i32: error codes, i32 elements, CBLAS arguments.
  llvm::Type* i32() const { return llvm::Type::getInt32Ty(context()); }
  /// The opaque pointer type of every buffer address.
  llvm::PointerType* pointer() const { return llvm::PointerType::get(context(), 0); }

  /// A private constant global holding `values` converted to `dtype` (64-byte aligned).
  llvm::GlobalVariable* constant_global(ir::DType dtype, const std::vector<double>& values,
                                        const std::string& name);
  /// The global of constant buffer `id` (made on first use; a single value is repeated).
  llvm::GlobalVariable* buffer_global(ir::BufferId id);

  /// Registers an error the program may report; returns its code (1, 2, ...). `message` is
  /// what the user sees: it names the node.
  int32_t add_error(std::string message);
  /// Error messages by code - 1.
  const std::vector<std::string>& errors() const { return errors_; }

  /// `name` made unique among the module's functions ("kernel3_matmul").
  std::string function_name(const std::string& hint);

  /// Bytes of the widest vector register the target has (16, 32 or 64): the width of the
  /// generated matrix products' vectors.
  int64_t vector_bytes() const { return vector_bytes_; }
  /// Sets vector_bytes() (render_program, from the target machine).
  void set_vector_bytes(int64_t bytes) { vector_bytes_ = bytes; }

  /// The function that runs a parallel region's parts on the thread pool
  /// (codegen/cpu/runtime/rnnc_parallel.h: "rnnc_run_parallel" in the JIT, NAME_run_parallel
  /// in an ahead-of-time library); empty: the code stays on the calling thread.
  const std::string& parallel_symbol() const { return parallel_symbol_; }
  /// Sets parallel_symbol() (render_program).
  void set_parallel_symbol(std::string symbol) { parallel_symbol_ = std::move(symbol); }

  /// Matmul steps whose loop-invariant B operand the enclosing loop has packed in panels
  /// (its kernel receives the packed copy as B; see emit_generated_gemm).
  std::set<const ir::Step*>& packed_b_steps() { return packed_b_steps_; }
  /// The matmul steps of a loop body whose B the loop packed (pack_loop_invariants): a
  /// recurrent step's product, which alternates the order of its column blocks.
  std::set<const ir::Step*>& recurrent_products() { return recurrent_products_; }
  /// The matmul steps whose transposed A operand arrives packed (emit_generated_gemm).
  std::set<const ir::Step*>& packed_a_steps() { return packed_a_steps_; }

  /// A vector added to every row of a product's result (a bias): from element `offset` of
  /// `buffer` (a bias's slice read in place) on.
  struct RowAddend {
    ir::BufferId buffer = -1;
    int64_t offset = 0;
  };
  /// A sum right after a product (a bias, an input projection) that the product computes: its
  /// accumulators start from the sum's other operands (`addends`, each with the product's
  /// elements, and `row_addends`), and it writes the sum's `result` instead of its own.
  struct ProductSum {
    ir::BufferId result = -1;
    std::vector<ir::BufferId> addends;
    std::vector<RowAddend> row_addends;  ///< vectors of C's columns added to every row
  };
  /// The generated products that compute the sum after them (see ProductSum), by matmul step.
  std::map<const ir::Step*, ProductSum>& product_sums() { return product_sums_; }

  /// Columns [first, first + columns) of a product's result, written straight into `buffer`
  /// (a slice of those columns that no step copies out), or, with `row_addends` (vectors of
  /// those columns), plus those vectors into the buffer of the sum after the slice.
  struct ProductSlice {
    ir::BufferId buffer = -1;
    int64_t first = 0, columns = 0;
    std::vector<RowAddend> row_addends;
  };
  /// Generated rank-2 products whose result only column slices read, each starting at a
  /// column block: the product writes each slice's columns in the slice's buffer. By matmul
  /// step; the slices in column order, covering every column.
  std::map<const ir::Step*, std::vector<ProductSlice>>& product_slices() { return product_slices_; }

  /// Where an elementwise step finds one of its buffers inside another: from element
  /// `offset` of `buffer`, with `buffer`'s strides per dimension.
  struct StridedView {
    ir::BufferId buffer = -1;
    int64_t offset = 0;            ///< elements
    std::vector<int64_t> strides;  ///< elements per step of each dimension
  };
  /// Slices that no step copies out: their one reader, an elementwise step, reads the
  /// slice's elements in place in the sliced buffer. By slice buffer.
  std::map<ir::BufferId, StridedView>& slice_views() { return slice_views_; }
  /// Elementwise results that no step copies into the concats reading them: the elementwise
  /// step writes them in place in each concat's result. Also a loop carry's next value,
  /// written straight into the carry's buffer (and into its own when something else reads
  /// it). By result buffer: where the step stores it instead of its own buffer.
  std::map<ir::BufferId, std::vector<StridedView>>& concat_views() { return concat_views_; }

  /// A copy an elementwise step makes while it runs: `source` loaded at each index of its
  /// space and stored at that index of `target` (both of the step's result shape).
  struct ElementwiseCopy {
    ir::BufferId source = -1, target = -1;
  };
  /// Copies of a loop body (a carry saved into its row of a residual stack) that an
  /// elementwise step of the body makes instead (the copy's step is not emitted). By
  /// elementwise step.
  std::map<const ir::Step*, std::vector<ElementwiseCopy>>& elementwise_copies() {
    return elementwise_copies_;
  }

  /// Reductions of every element whose operand only they read, computed by an earlier
  /// elementwise step of one result: the reduction evaluates that step's expression on the
  /// fly (emit_reduced_expression), and the step is not emitted. By reduce step, the
  /// elementwise step.
  std::map<const ir::Step*, const ir::Step*>& reduced_expressions() { return reduced_expressions_; }

  /// Recurrent steps' gate math computed in the parallel region of the product next to it
  /// (fuse_gate_math in program_renderer.cpp), by matmul step: the elementwise step, of rank 2
  /// with the product's rows, reads and writes only rows at the index it computes (the gates'
  /// slices read in place among them), and the product's parts split C by rows. So each part
  /// computes every column of its rows of the gates and then the gate math of those rows, from
  /// its own cache; or, `first` (a backward step), the gate math of its rows and then the
  /// product of those rows.
  struct GateMath {
    const ir::Step* elementwise = nullptr;
    bool first = false;  ///< the gate math comes before the product (a backward step's)
  };
  std::map<const ir::Step*, GateMath>& gate_math() { return gate_math_; }

  /// Reserves `bytes` of scratch memory, which the entry function finds after the program's
  /// arena (at Program::arena_bytes rounded up to Program::kAlignment); returns its offset
  /// from the scratch start (aligned to Program::kAlignment).
  int64_t reserve_scratch(int64_t bytes);
  /// The scratch bytes reserved so far.
  int64_t scratch_bytes() const { return scratch_bytes_; }

  /// Starts the pack cache (RenderOptions::cache_parameter_packs) with a header of `slots`
  /// source addresses.
  void start_pack_cache(int64_t slots);
  /// The header slots of the pack cache (0: no cache).
  int64_t pack_cache_slots() const { return pack_cache_slots_; }
  /// Reserves `bytes` of the pack cache after its header; returns their offset from the
  /// cache's start (aligned to Program::kAlignment).
  int64_t reserve_pack_cache(int64_t bytes);
  /// The pack cache's bytes, header included (0: no cache).
  int64_t pack_cache_bytes() const { return pack_cache_bytes_; }

 private:
  llvm::Module& module_;
  const ir::Program& program_;
  std::map<ir::BufferId, llvm::GlobalVariable*> buffer_globals_;
  std::vector<std::string> errors_;
  int64_t next_function_ = 0;
  int64_t vector_bytes_ = 16;
  std::set<const ir::Step*> packed_b_steps_;
  std::set<const ir::Step*> packed_a_steps_;
  std::set<const ir::Step*> recurrent_products_;
  std::map<const ir::Step*, ProductSum> product_sums_;
  std::map<const ir::Step*, std::vector<ProductSlice>> product_slices_;
  std::map<ir::BufferId, StridedView> slice_views_;
  std::map<ir::BufferId, std::vector<StridedView>> concat_views_;
  std::map<const ir::Step*, const ir::Step*> reduced_expressions_;
  std::map<const ir::Step*, std::vector<ElementwiseCopy>> elementwise_copies_;
  std::map<const ir::Step*, GateMath> gate_math_;
  std::string parallel_symbol_;
  int64_t scratch_bytes_ = 0;
  int64_t pack_cache_slots_ = 0;
  int64_t pack_cache_bytes_ = 0;
};

/// One LLVM function being emitted: a builder positioned in it, counted loops, and early
/// returns of error codes. Every emitted function returns i32: 0, or an error code.
class FunctionEmitter {
 public:
  /// Opens the entry block of `function` (which has no body yet).
  FunctionEmitter(ModuleContext& module, llvm::Function* function);

  /// The module-wide state.
  ModuleContext& module() const { return module_; }
  /// The function being emitted.
  llvm::Function* function() const { return function_; }
  /// The builder, positioned where the next instruction goes.
  llvm::IRBuilder<>& builder() { return builder_; }

  /// An i64 constant.
  llvm::Value* index(int64_t value) { return builder_.getInt64(value); }
  /// Emits `body(i)` for i = 0 .. count-1 (nothing when count is 0). The body may open
  /// blocks; the builder ends positioned after the loop.
  void for_range(int64_t count, const std::function<void(llvm::Value*)>& body);
  /// Emits `body(i)` for i = begin .. end-1 (i64 values known only at run time; nothing when
  /// end <= begin). The builder ends positioned after the loop.
  void for_between(llvm::Value* begin, llvm::Value* end,
                   const std::function<void(llvm::Value*)>& body);
  /// Emits a loop nest over `shape` (row-major order); `body` receives the indices, outermost
  /// first. An empty shape runs the body once; a zero dimension not at all.
  void for_shape(const ir::Shape& shape,
                 const std::function<void(const std::vector<llvm::Value*>&)>& body);
  /// Emits `then()` under `condition` (i1); the builder ends after it.
  void if_then(llvm::Value* condition, const std::function<void()>& then);
  /// The items [begin, end) of `count` that part `part` of `parts` (i64 values) takes, and
  /// whether it is the last part (i1), which also takes whatever follows them; with a null
  /// `part`, all of them.
  struct PartRange {
    llvm::Value *begin, *end, *last;
  };
  PartRange part_range(int64_t count, llvm::Value* part, llvm::Value* parts);
  /// A stack slot of `type` in the entry block (LLVM promotes it to a register).
  llvm::Value* entry_alloca(llvm::Type* type);
  /// Returns `code` from the function when `condition` (i1) holds, else continues.
  void fail_if(llvm::Value* condition, int32_t code);
  /// Calls `callee` (which returns an error code) and returns its code when nonzero.
  void call_checked(llvm::Function* callee, const std::vector<llvm::Value*>& arguments);
  /// Returns `code` (an i32 error code) from the function when it is nonzero, else continues.
  void return_if_failed(llvm::Value* code);
  /// `pointer` advanced by `elements` elements of `dtype` (an i64 count).
  llvm::Value* element_address(llvm::Value* pointer, ir::DType dtype, llvm::Value* elements);
  /// `pointer` advanced by `bytes` bytes (i64).
  llvm::Value* byte_address(llvm::Value* pointer, llvm::Value* bytes);
  /// memcpy / memset(0) of `bytes` bytes.
  void copy_bytes(llvm::Value* destination, llvm::Value* source, llvm::Value* bytes);
  void zero_bytes(llvm::Value* destination, llvm::Value* bytes);
  /// Fills `count` elements of `dtype` at `pointer` with `value` (a scalar of that type).
  void fill(llvm::Value* pointer, ir::DType dtype, int64_t count, llvm::Value* value);
  /// Ends the function with `ret i32 0`.
  void finish();

 private:
  ModuleContext& module_;
  llvm::Function* function_;
  llvm::IRBuilder<> builder_;
};

/// A kernel: a function computing one step from pointers to its buffers. Buffers rooted in a
/// constant global (with no loop counter in their address) are addressed directly; the others
/// arrive as arguments, marked noalias where no other argument overlaps them.
class KernelEmitter : public FunctionEmitter {
 public:
  /// A kernel computing `step`; `arguments` are the function's buffer parameters.
  KernelEmitter(ModuleContext& module, llvm::Function* function, const ir::Step& step,
                std::map<ir::BufferId, llvm::Value*> arguments);

  /// The step this kernel computes.
  const ir::Step& step() const { return step_; }
  /// Buffer `id` of the program.
  const ir::Buffer& buffer(ir::BufferId id) const { return module().program().buffers.at(id); }
  /// The address of buffer `id`'s first element.
  llvm::Value* pointer(ir::BufferId id);
  /// Registers an error naming this step's node; returns its code.
  int32_t error(const std::string& what);
  /// The buffers passed as the kernel function's arguments, with their values.
  const std::map<ir::BufferId, llvm::Value*>& arguments() const { return arguments_; }
  /// Addresses buffer `id` by `value` from now on (a pointer computed in the kernel).
  void set_argument(ir::BufferId id, llvm::Value* value) { arguments_[id] = value; }

 private:
  const ir::Step& step_;
  std::map<ir::BufferId, llvm::Value*> arguments_;
};

// Kernel emitters, one per step kind (each in its own file). They emit the body of a kernel
// function; the caller finishes it.
void emit_elementwise(KernelEmitter& kernel);
/// Emits, in `kernel` (whose arguments hold the step's buffers), rows [begin, end) (i64
/// values) of rank-2 elementwise step `step` (ModuleContext::gate_math).
void emit_elementwise_rows(KernelEmitter& kernel, const ir::Step& step, llvm::Value* begin,
                           llvm::Value* end);
void emit_matmul(KernelEmitter& kernel);
void emit_reduce(KernelEmitter& kernel);
void emit_gather(KernelEmitter& kernel);
void emit_scatter_add(KernelEmitter& kernel);
/// `first_positions`: room for one i32 per row of the node's `rows`, contents ignored.
void emit_coalesce_rows(KernelEmitter& kernel, llvm::Value* first_positions);
void emit_scatter_rows(KernelEmitter& kernel);
void emit_layout(KernelEmitter& kernel);

/// A part function of a parallel region: int32 F(ptr context, i64 index, i64 parts), whose
/// context array holds the pointers the caller handed over.
struct ParallelRegion {
  llvm::Function* function = nullptr;  ///< created without a body
  llvm::ArrayType* context_type = nullptr;
  /// The part's index and the number of parts (arguments of `function`).
  llvm::Value* index() const { return function->getArg(1); }
  llvm::Value* parts() const { return function->getArg(2); }
  /// Emits, in `part` (the emitter of `function`), the load of the pointer at `slot`.
  llvm::Value* load_pointer(FunctionEmitter& part, unsigned slot) const;
};

/// Creates the part function `name` and emits, in `caller`, the thread pool's call of it
/// (ModuleContext::parallel_symbol(), which must be set) with `pointers` in its context; the
/// caller returns the lowest failing part's error code.
ParallelRegion emit_parallel_call(FunctionEmitter& caller, const std::string& name,
                                  const std::vector<llvm::Value*>& pointers);

/// Emits, in `kernel`, a call of the thread pool (ModuleContext::parallel_symbol(), which must
/// be set) running a new part function once per part, and emits that function's body with
/// `body(part, index, parts)`: `part` addresses the same buffers as `kernel` (its arguments
/// travel through a context array), `index` and `parts` are i64 values. The kernel returns
/// the lowest failing part's error code.
void emit_parallel_parts(
    KernelEmitter& kernel,
    const std::function<void(KernelEmitter& part, llvm::Value* index, llvm::Value* parts)>& body);
/// emit_parallel_parts, also handing the parts `shared` (pointers of the kernel: an array the
/// parts write), which `body` receives as loaded in the part function.
void emit_parallel_parts(
    KernelEmitter& kernel, const std::vector<llvm::Value*>& shared,
    const std::function<void(KernelEmitter& part, const std::vector<llvm::Value*>& shared,
                             llvm::Value* index, llvm::Value* parts)>& body);

/// Products with at most this many multiply-adds (M * N * K) run as generated code.
inline constexpr int64_t kGeneratedGemmMaxMacs = int64_t{1} << 24;
/// The same for products whose B arrives packed in panels (a recurrent step's product, a
/// large top-level one): streaming the panels on the pool beats OpenBLAS on the skinny
/// per-step shapes and keeps OpenBLAS's threads from competing with the pool's on the large
/// ones (with the k slices and the harness's run_into, the DeepBench-like LSTM
/// forward+backward went from 103 to 70 ms in the sixth session), so in effect no limit.
inline constexpr int64_t kGeneratedPackedGemmMaxMacs = int64_t{1} << 40;
/// Generated products run k in slices of this many (B's slice of a column block, 64 KiB of
/// f32 on AVX-512, stays in cache while every row tile reads it).
inline constexpr int64_t kGemmDepthSlice = 256;
/// Rows of C per row block of a generated product with a packed transposed A or a packed B:
/// each block goes through all of a part's column blocks before the next (large LSTM
/// forward+backward, whose 2048 x 3200 weight-gradient A is 26 MB packed: median 138 -> 129
/// ms, GRU 104 -> 100 ms; 64 rows timed the same. The input gradient after the backward loop,
/// 3200 x 2048 x 512 at large, streamed its 26 MB A once per column block without: large LSTM
/// forward+backward 131 -> 124 ms).
inline constexpr int64_t kGemmRowBlock = 256;
/// Generated products whose B panels (one batch entry's) take at least this many bytes fetch
/// each next panel slice ahead into the second level of cache (small_gemm.cpp,
/// fetch_next_slice): a core's share of them then no longer stays there from one use to the
/// next (2 MiB of second-level cache per core on the Emerald Rapids measured). Smaller
/// ones stay cached, and the fetches only cost: a serving GRU's forward+backward (B = 1)
/// took 2.44 -> 3.22 ms with them.
inline constexpr int64_t kGemmFetchAheadMinPanelBytes = int64_t{2} << 20;
/// Top-level products of fewer rows keep OpenBLAS (or unpacked generated code): packing B
/// costs about as much as such a product.
inline constexpr int64_t kTopLevelPackMinRows = 64;
/// Generated products with at least this many multiply-adds are split by columns across the
/// thread pool (when ModuleContext::parallel_symbol() is set): below it the hand-off costs
/// more than the second core gains. A serving step's product (B = 1: a GRU's 196K
/// multiply-adds, an LSTM's 262K) pays: each core streams half the weights from its own
/// cache (from 2^20 down to 2^17, serving LSTM inference went from 2.0 to 0.85 ms, GRU
/// forward+backward from 4.6 to 2.3 ms; the tiny model's products stay on one core).
inline constexpr int64_t kParallelGemmMinMacs = int64_t{1} << 17;
/// Recurrent products whose gate math runs in their parallel region (ModuleContext::gate_math)
/// have at least this many rows (two register tiles for each of two parts) and at most this
/// many bytes of packed B: each part streams all of them every step.
inline constexpr int64_t kGateMathMinRows = 16;
inline constexpr int64_t kGateMathMaxPanelBytes = int64_t{1} << 20;
/// Packed operands of at least this many elements are packed on the thread pool.
inline constexpr int64_t kParallelPackMinElements = int64_t{1} << 18;
/// Elementwise steps computing at least this many ops (elements times the ops of a fused
/// body) are split by their outermost dimension across the thread pool.
inline constexpr int64_t kParallelElementwiseMinWork = int64_t{1} << 16;
/// Gathers (split by positions) and row scatters (split by table rows) moving at least this
/// many bytes run across the thread pool.
inline constexpr int64_t kParallelGatherMinBytes = int64_t{1} << 18;
/// Whether matmul `node` is rendered as a generated, register-tiled loop nest rather than a
/// cblas call (f32/f64, small; a transposed B only when `b_packed`).
bool generated_gemm_fits(const ir::Node& node, bool b_packed);
/// Emits the body of a matmul kernel as generated code (generated_gemm_fits holds). With
/// `b_packed`, B (rank 2, transposed by the node or not) arrives packed in panels: for each
/// block of generated_gemm_panel_columns() columns, K rows of that many elements (the last
/// block zero padded), each panel aligned to the vector width.
/// With `a_packed`, a transposed A (stored K x M) arrives packed the same way with panels of
/// generated_gemm_a_panel_rows() columns of the stored matrix: for each block of that many
/// rows of A, K groups of that many elements (the last block zero padded), so that a row tile
/// reads its rows of A as one sequential run, whatever M's power of two.
void emit_generated_gemm(KernelEmitter& kernel, bool b_packed, bool a_packed = false);
/// Emits code packing B (K x N of `dtype`; `transposed`: `source` holds B^T, N x K, else B)
/// into panels at `packed` (emit_generated_gemm's layout, vector aligned): transposed
/// sources go through in-register transposes of lanes x lanes blocks. From
/// kParallelPackMinElements elements on, the panels are shared out across the thread pool.
/// `width`: the panels' columns (0: generated_gemm_panel_columns; a transposed source needs
/// that width, an untransposed one takes any).
void emit_pack_panels(FunctionEmitter& function, llvm::Value* source, llvm::Value* packed,
                      ir::DType dtype, int64_t k, int64_t n, bool transposed, int64_t width = 0);
/// One run of columns of an untransposed B held in a buffer of its own: K rows of `columns`
/// elements at `source` (a part of a concat along B's columns that no step copies).
struct PackPart {
  llvm::Value* source = nullptr;
  int64_t columns = 0;
};
/// emit_pack_panels for an untransposed B given as its column parts, in order (their columns
/// summing to n), each but the last a whole number of panels.
void emit_pack_panels(FunctionEmitter& function, const std::vector<PackPart>& parts,
                      llvm::Value* packed, ir::DType dtype, int64_t k, int64_t n, int64_t width);
/// The rows of one panel of a packed transposed A operand (stored K x M): a generated
/// product's register tile (4 rows). Wider panels (a cache line of elements) made each tile
/// touch a new cache line of A at every k: at 1024 x 1600 x 512 the kernel took 6.6 ms
/// against 5.3 ms with A untransposed, 5.45 ms with these panels (perf shares of AOT runs).
int64_t generated_gemm_a_panel_rows(ir::DType dtype);
/// The columns of one panel of a packed B operand of `dtype`: the column block of a
/// generated product's register tile.
int64_t generated_gemm_panel_columns(const ModuleContext& module, ir::DType dtype);

/// acc op value for reduction `kind` (ReduceSum, ReduceMean: a sum; ReduceMax: a max that keeps
/// a NaN from either side, like the interpreter) of `dtype`. `reassociable`: a floating-point
/// sum may be reordered (vectorized).
llvm::Value* combine_reduction(llvm::IRBuilder<>& builder, ir::OpKind kind, ir::DType dtype,
                               llvm::Value* acc, llvm::Value* value, bool reassociable);
/// Fixed slices of the index space a reduction of an elementwise expression sums separately
/// and then in order, whatever the number of parallel parts (so the result does not depend
/// on RNNC_THREADS); the thread pool's most parts.
inline constexpr int64_t kReductionChunks = 4;
/// The reduction `kind` (see combine_reduction), from `identity`, of every element of
/// elementwise step `producer`'s one result, computed on the fly in `kernel` (whose arguments
/// hold the producer's operands): in kReductionChunks chunks, across the thread pool when
/// large. Returns the reduced value (a ReduceMean's sum, not yet divided).
llvm::Value* emit_reduced_expression(KernelEmitter& kernel, const ir::Step& producer,
                                     ir::OpKind kind, llvm::Value* identity);

/// Scalar (or vector-lane) arithmetic of one elementwise op (math.cpp / scalar_ops.cpp).
/// `operands` are the op's operand values, of `operand_types`; the result has `result_type`.
/// Integer division by zero returns `division_error` through `kernel`.
llvm::Value* emit_scalar_op(KernelEmitter& kernel, const ir::Node& node,
                            const std::vector<llvm::Value*>& operands,
                            const std::vector<ir::DType>& operand_types, ir::DType result_type);

/// Vectorizable single-precision approximations (relative error below 2.1e-7), used so that
/// the transcendental functions do not block the loop vectorizer.
llvm::Value* emit_exp_f32(llvm::IRBuilder<>& builder, llvm::Value* x);
/// e^x where it is added to 1 (a sigmoid's divisor): one scaling by a power of
/// two instead of two, results near 2^-126 instead of subnormal for x below -87 (they vanish
/// beside 1), +inf from 88.38 on (emit_exp_f32: from 88.73, where e^x overflows).
llvm::Value* emit_exp_beside_one_f32(llvm::IRBuilder<>& builder, llvm::Value* x);
llvm::Value* emit_log_f32(llvm::IRBuilder<>& builder, llvm::Value* x);
llvm::Value* emit_tanh_f32(llvm::IRBuilder<>& builder, llvm::Value* x);
/// numerator / divisor for a divisor of at least 1 or +inf (a sigmoid's 1 + e^-x, a tanh's
/// e^2x + 1), in f32: allowed to become the target's reciprocal estimate with Newton steps
/// ("reciprocal-estimates" on every function, render_program) instead of a division; an
/// infinite divisor gives exactly 0.
llvm::Value* emit_quotient_f32(llvm::IRBuilder<>& builder, llvm::Value* numerator,
                               llvm::Value* divisor);

}  // namespace rnnc::cpu
