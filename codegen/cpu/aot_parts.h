#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/program.h"
#include "ir/types.h"

/// The pieces of an ahead-of-time library (codegen/cpu/aot.h), shared by the files that make
/// them: the description of the library's C API (aot.cpp), the C header and runtime sources
/// (aot_sources.cpp) and the object file (aot_object.cpp).
namespace rnnc::cpu::aot {

/// The first error code a program can return through the C API; the codes below it are the
/// runtime's own (null argument, out of memory, file errors). Keep in step with
/// aot_sources.cpp's table.
constexpr int kFirstProgramError = 16;

/// One tensor of the C API: an input, an output or a parameter.
struct CTensor {
  std::string name;    ///< as the graph names it
  std::string c_name;  ///< a C identifier (lower case), unique among its function's tensors
  ir::TensorType type;
  std::string role;    ///< parameters: "weight" or "state"
  int64_t offset = 0;  ///< parameters: byte offset in the context's parameter block
  /// parameters: byte offset of the initial value in the object's initial data, or -1 when
  /// it is all zeros (optimizer state, biases), which the runtime clears instead of storing.
  int64_t initial_offset = -1;
};

/// One entry point (a program): NAME_forward or NAME_train_step.
struct Entry {
  std::string function;  ///< "forward", "train_step"
  std::string macro;     ///< its macros' infix: "FORWARD", "TRAIN"
  std::string symbol;    ///< the program's symbol in the object: NAME_forward_program
  /// The function's arguments after the context: every input of the graph, then every
  /// output, in the graph's order.
  std::vector<CTensor> inputs, outputs;
  /// What the program's externals (ABI order, ir::Program::externals) point to.
  struct Slot {
    enum Kind { input, parameter, output } kind;
    int index;  ///< into inputs, Library::parameters or outputs
  };
  std::vector<Slot> externals;
  int64_t arena_bytes = 0;
  std::vector<std::string> errors;  ///< the program's error messages (code c: errors[c - 1])
  int first_error_code = kFirstProgramError;  ///< the C API code of the program's code 1
};

/// The whole C API of a library.
struct Library {
  std::string name;    ///< the prefix of every symbol (lower case as given)
  std::string source;  ///< where the model came from, for comments
  std::string target_cpu;
  std::string pipeline_level;
  /// Every parameter and optimizer state of the model, in one block of parameter_bytes
  /// bytes (each tensor at a multiple of ir::Program::kAlignment).
  std::vector<CTensor> parameters;
  int64_t parameter_bytes = 0;
  std::vector<Entry> entries;  ///< forward, then train_step when there is one
};

/// The C type of an element of `dtype`: "float", "double", "int32_t".
std::string c_type(ir::DType dtype);
/// `text` in upper case (for macro names).
std::string upper(const std::string& text);
/// `text` as a C string literal, quotes included, every byte outside printable ASCII escaped.
std::string c_string(const std::string& text);

/// The C header NAME.h.
std::string render_header(const Library& library);
/// The C99 runtime NAME_runtime.c.
std::string render_runtime(const Library& library);

/// A program to put in the object file under `symbol`.
struct ObjectProgram {
  const ir::Program* program;
  std::string symbol;
  std::vector<std::string>* errors;  ///< receives the rendered program's error messages
};

/// The relocatable object (ELF, position independent) holding every program's entry
/// function and, as `initial_symbol`, `initial_bytes` (the parameters' initial values that
/// are not all zeros, at their CTensor::initial_offset); all hidden, so a shared library exports
/// none of them. Code is tuned for `target_cpu` (empty: this machine's CPU). Throws rnnc::Error
/// when LLVM fails or the CPU name is unknown.
std::string emit_object(const std::vector<ObjectProgram>& programs,
                        const std::string& initial_symbol, const std::string& initial_bytes,
                        const std::string& target_cpu);

}  // namespace rnnc::cpu::aot
