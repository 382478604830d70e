#pragma once
#include <string>
#include <vector>

#include "codegen/aot/library.h"

/// The pieces of a GPU ahead-of-time library (cuda_aot.h) made by separate files.
namespace rnnc::cuda::aot {

/// The API part of NAME.c after the program tables: the context (host mirror of the
/// parameters, device parameter block, per-entry device inputs and outputs, a session and one
/// instance per program), create/destroy/reset, the entry points, and the shared parameter
/// runtime. `program_symbols[i]` is the table of entry i (render_runtime_tables's prefix);
/// `initial` the parameters' initial data.
std::string render_cuda_api(const rnnc::aot::Library& library,
                            const std::vector<std::string>& program_symbols,
                            const std::string& initial);

}  // namespace rnnc::cuda::aot
