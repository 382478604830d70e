#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "codegen/cuda/cuda_renderer.h"
#include "ir/program.h"

/// Internals of the CUDA renderer shared by its files (not part of the public API): the
/// translation unit being written and one kernel being written.
namespace rnnc::cuda {

/// The C type of `dtype`'s elements ("float", "double", "int").
const char* c_type(ir::DType dtype);
/// `value` as an exact literal of `dtype` (bit patterns for non-finite values).
std::string literal(ir::DType dtype, double value);

/// Module-wide state: the program, the source's file-scope parts, error codes, names.
class SourceWriter {
 public:
  /// Writes into `out` (which must outlive the writer).
  SourceWriter(const ir::Program& program, RenderedCuda& out);

  /// The program being rendered.
  const ir::Program& program() const { return program_; }
  /// Buffer `id`.
  const ir::Buffer& buffer(ir::BufferId id) const { return program_.buffers.at(id); }
  /// Registers an error message; returns its code (1, 2, ...).
  int32_t add_error(std::string message);
  /// A kernel name made from `hint`, unique in the source ("k3_matmul_hidden").
  std::string kernel_name(const std::string& hint);
  /// A file-scope __device__ array holding `values` as `dtype`; returns its name.
  std::string constant_array(ir::DType dtype, const std::vector<double>& values);
  /// The device expression (unsigned char*) of buffer `id`'s first byte, from the kernel
  /// argument `args` (views add the loop counter args.t[loop] times their stride).
  std::string address(ir::BufferId id) const;
  /// Appends a kernel's text to the source and its name to the kernel list.
  void add_kernel(const std::string& name, const std::string& text);
  /// Closes the source (prelude, arrays, kernels) into the output.
  void finish();

 private:
  const ir::Program& program_;
  RenderedCuda& out_;
  std::string arrays_, kernels_;
  int64_t next_kernel_ = 0, next_array_ = 0;
};

/// One kernel being written: a grid-stride loop over `threads` elements with the flat index
/// `i` (long long), buffer pointers declared on first use.
class KernelWriter {
 public:
  /// A kernel for `step` (may be null for plumbing kernels), named from `hint`.
  KernelWriter(SourceWriter& module, const ir::Step* step, const std::string& hint);

  /// The module-wide state.
  SourceWriter& module() const { return module_; }
  /// The step this kernel computes (null for plumbing kernels).
  const ir::Step* step() const { return step_; }
  /// The name of a typed pointer to buffer `id`'s elements, declared before the loop.
  std::string pointer(ir::BufferId id);
  /// Appends a line to the loop's body.
  void line(const std::string& text) { body_ += "    " + text + "\n"; }
  /// Registers an error naming this step's node; returns its code.
  int32_t error(const std::string& what);
  /// A fresh local name ("v12").
  std::string local() { return "v" + std::to_string(next_local_++); }
  /// Closes the kernel over `threads` elements; returns its launch.
  Launch finish(int64_t threads);

 private:
  SourceWriter& module_;
  const ir::Step* step_;
  std::string name_;
  std::string declarations_, body_;
  std::map<ir::BufferId, std::string> pointers_;
  int64_t next_local_ = 0;
};

/// Digit `d` of flat index `flat` in `shape` (row-major), as an expression.
std::string digit(const std::string& flat, const ir::Shape& shape, size_t d);

// Kernel renderers, one per step kind (each returns the launches of its step, in order).
std::vector<Launch> render_elementwise(SourceWriter& module, const ir::Step& step);
std::vector<Launch> render_reduce(SourceWriter& module, const ir::Step& step);
std::vector<Launch> render_gather(SourceWriter& module, const ir::Step& step);
std::vector<Launch> render_scatter_add(SourceWriter& module, const ir::Step& step);
std::vector<Launch> render_layout(SourceWriter& module, const ir::Step& step);
/// A matmul: a cuBLAS call for f32/f64, a kernel for i32.
std::vector<Launch> render_matmul(SourceWriter& module, const ir::Step& step);
/// Checks a loop's lengths lie in [1, T] (sets the error flag otherwise).
Launch render_lengths_check(SourceWriter& module, const ir::Step& loop);
/// Writes body output `index` of `loop` back, masked by lengths (rows past their length keep
/// their carry, or get a zero output row).
Launch render_masked_write_back(SourceWriter& module, const ir::Step& loop, size_t index);

/// The text of one elementwise op applied to operand expressions (scalar_ops.cpp).
std::string scalar_op(KernelWriter& kernel, const ir::Node& node,
                      const std::vector<std::string>& operands,
                      const std::vector<ir::DType>& operand_types, ir::DType type);

}  // namespace rnnc::cuda
