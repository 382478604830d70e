#pragma once
#include <deque>
#include <string>
#include <vector>

#include "codegen/cuda/cuda_renderer.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "codegen/cuda/runtime/rnnc_cuda_runtime.h"
#include "ir/program.h"

/// A rendered and compiled program as the host runtime's static tables
/// (runtime/rnnc_cuda_runtime.h): built in memory for the JIT backend, and printed as C for the
/// ahead-of-time libraries, so that both replay the very same tables with the same C code.
namespace rnnc::cuda {

/// The tables and the storage they point into. Not copyable (the program points into it).
struct RuntimeTables {
  RuntimeTables() = default;
  RuntimeTables(const RuntimeTables&) = delete;
  RuntimeTables& operator=(const RuntimeTables&) = delete;

  std::deque<std::string> strings;  ///< names, nodes, messages (stable addresses)
  std::vector<const char*> kernels, errors;
  std::vector<rnnc_cuda_launch> launches;
  std::vector<rnnc_cuda_buffer> buffers;
  std::vector<unsigned char> constants;
  std::vector<unsigned char> cubin;
  std::string ptx;
  rnnc_cuda_program program{};  ///< points into the members above
};

/// The tables of `rendered` (rendered from `program`) and `compiled` (its NVRTC output; the
/// CUBIN when it has one, else only PTX), named `name` (messages, RNNC_CUDA_IMAGE_DIR). The
/// launch table holds the plan's top-level launches first, each body contiguous after.
std::unique_ptr<RuntimeTables> make_runtime_tables(const RenderedCuda& rendered,
                                                   const ir::Program& program,
                                                   const CompiledModule& compiled,
                                                   const std::string& name);

/// The constant pool `pool` as C99: a zero-initialized array PREFIX_constants and
/// `static void PREFIX_fill_constants(void)`, which writes its non-zero bytes (runs repeating
/// a 4- or 8-byte pattern as loops, so that filled constants cost no source text).
std::string constant_pool_text(const std::vector<unsigned char>& pool, const std::string& prefix);

/// The tables as C99 definitions: static arrays named PREFIX_* and
/// `static const rnnc_cuda_program PREFIX` (the CUBIN and PTX as byte arrays), with the
/// constant pool of constant_pool_text (call PREFIX_fill_constants() before loading it).
std::string render_runtime_tables(const RuntimeTables& tables, const std::string& prefix);

/// `size` bytes as the initializer of a C array of unsigned char of size + 1 elements: string
/// literals of 100 characters or so a line, every byte that is not printable ASCII (and '"',
/// '\\', '?') as a three-digit octal escape. Much faster for a C compiler than a list of
/// numbers.
std::string c_bytes_literal(const unsigned char* data, size_t size);

/// The host runtime's header and sources (runtime/rnnc_cuda_runtime.{h,c}, and
/// rnnc_cuda_replay.c, which the .c includes) as text, embedded at build time; the
/// ahead-of-time libraries are built from them.
const std::string& runtime_header_text();
/// See runtime_header_text.
const std::string& runtime_source_text();
/// See runtime_header_text.
const std::string& runtime_replay_text();

/// The CUDA version of the toolkit NVRTC belongs to, as the driver counts (13000 for 13.0).
int toolkit_version_number();

/// The compute capability of a real architecture "sm_90" (90), or 0 for PTX only.
int architecture_number(const std::string& architecture);

}  // namespace rnnc::cuda
