#pragma once
#include <string>
#include <vector>

#include "codegen/aot/library.h"
#include "codegen/cpu/program_renderer.h"

/// The CPU-specific pieces of an ahead-of-time library (codegen/cpu/aot.h); the API
/// description, header and shared runtime text are codegen/aot/library.h's.
namespace rnnc::cpu::aot {

using rnnc::aot::c_string;
using rnnc::aot::c_type;
using rnnc::aot::CTensor;
using rnnc::aot::Entry;
using rnnc::aot::kFirstProgramError;
using rnnc::aot::Library;
using rnnc::aot::upper;

/// The C99 runtime NAME_runtime.c: context, create/destroy/reset, the entry points calling the
/// object's programs, and the shared parameter runtime.
std::string render_runtime(const Library& library);

/// NAME_parallel.c: the thread pool the programs' parallel products call
/// (codegen/cpu/runtime/rnnc_parallel.{h,c} in one file), its entry point named
/// `parallel_symbol` and hidden.
std::string render_parallel_source(const std::string& parallel_symbol);

/// A program to put in the object file under `symbol`.
struct ObjectProgram {
  const ir::Program* program;
  std::string symbol;
  /// Receives the rendered program's error messages, the bytes its arena must have and its
  /// pack cache's (program_renderer.h).
  Entry* entry;
};

/// The relocatable object (ELF, position independent) holding every program's entry
/// function and, as `initial_symbol`, `initial_bytes` (the parameters' initial values that
/// are not all zeros, at their CTensor::initial_offset); all hidden, so a shared library exports
/// none of them. Code is tuned for `target_cpu` (empty: this machine's CPU); large generated
/// products call `parallel_symbol` (render_parallel_source). Throws rnnc::Error when LLVM
/// fails or the CPU name is unknown. `options` (its symbol aside) says how every program is
/// rendered (render_program).
std::string emit_object(const std::vector<ObjectProgram>& programs,
                        const std::string& initial_symbol, const std::string& initial_bytes,
                        const std::string& target_cpu, const RenderOptions& options);

/// The embedded text of codegen/cpu/runtime/rnnc_parallel.h (cmake/EmbedText.cmake).
const std::string& parallel_header_text();
/// The embedded text of codegen/cpu/runtime/rnnc_parallel.c.
const std::string& parallel_source_text();

}  // namespace rnnc::cpu::aot
