#pragma once
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>
#include <vector>

#include "ir/program.h"

/// Renders a scheduled program (ir/program.h) as one LLVM module: the ABI every CPU build of a
/// program shares, JIT and (later) object files alike.
namespace rnnc::cpu {

/// A rendered program.
struct RenderedProgram {
  std::unique_ptr<llvm::Module> module;
  /// The exported entry function:
  ///   int32_t SYMBOL(void* const* externals, void* arena, void* packs)
  /// `externals` holds one pointer per Program::externals() entry, in that order (inputs,
  /// parameters, outputs); `arena` points to arena_bytes(program, *this) bytes aligned to
  /// Program::kAlignment; `packs` to pack_cache_bytes bytes so aligned (null when that is
  /// 0), kept from call to call, all zero at first. It returns 0, or an error code c whose
  /// message is errors[c - 1].
  std::string symbol;
  /// Bytes the code uses after the program's arena (from Program::arena_bytes rounded up to
  /// Program::kAlignment): the loop-invariant product operands packed once per call.
  int64_t scratch_bytes = 0;
  /// With RenderOptions::cache_parameter_packs: the bytes of the pack cache, the panels of
  /// the parameters that the program packs but never writes, kept between calls. Its first
  /// pack_cache_header_bytes bytes say which panels hold which parameter's values: zeroing
  /// them makes the next call pack every parameter again.
  int64_t pack_cache_bytes = 0;
  int64_t pack_cache_header_bytes = 0;
  /// The packs that use the cache (a parameter packed twice the same way counts once).
  int64_t cached_packs = 0;
  /// The messages of the error codes, each naming the node that reports it (a gather index
  /// out of range, scan lengths outside [1, T], an integer division by zero).
  std::vector<std::string> errors;
};

/// The bytes the arena of `rendered` (a rendering of `program`) must have: the program's
/// own arena, aligned, then the rendering's scratch memory.
int64_t arena_bytes(const ir::Program& program, const RenderedProgram& rendered);

/// How render_program renders a program.
struct RenderOptions {
  /// The entry function's name.
  std::string symbol = "rnnc_program";
  /// The thread pool's entry point (codegen/cpu/runtime/rnnc_parallel.h); empty: every
  /// product stays on the calling thread.
  std::string parallel_symbol = "rnnc_run_parallel";
  /// x86: the entry function computes with denormal results and operands flushed to zero
  /// (MXCSR's FTZ and DAZ) and restores the caller's control word before it returns.
  bool flush_denormals = true;
  /// The panels of a parameter that the program packs for its products but never writes (an
  /// inference or forward+backward program's weights) go to the pack cache (the entry's
  /// `packs`) with the address they were packed from, and a later call packs them again only
  /// when that address differs or the cache's header was zeroed: the caller must zero it
  /// whenever a parameter's values change (RenderedProgram::pack_cache_header_bytes).
  bool cache_parameter_packs = false;
};

/// Renders `program` into a new module of `context` for `machine` (its triple, data layout,
/// CPU and features are recorded in the module). Constants become private globals; each step
/// but copies and loops becomes an internal kernel function whose buffer arguments are
/// noalias where the plan keeps them apart; loops are real loops in the entry function. The
/// module calls nothing of rnnc but the thread pool's entry point: only libm, memcpy/memset
/// and cblas_sgemm/cblas_dgemm.
RenderedProgram render_program(const ir::Program& program, llvm::LLVMContext& context,
                               const llvm::TargetMachine& machine,
                               const RenderOptions& options = {});

}  // namespace rnnc::cpu
