#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/program.h"
#include "ir/types.h"
#include "runtime/tensor.h"

/// What every ahead-of-time library (`rnnc compile`) shares, whatever its target (the CPU
/// through LLVM, codegen/cpu/aot.h; the GPU through NVRTC, codegen/cuda/cuda_aot.h): the
/// description of its C API, the header NAME.h, the target-independent part of its generated C
/// runtime (parameter tables, parameter files, error messages), and writing a folder
/// atomically. Needs no LLVM and no CUDA.
namespace rnnc::aot {

/// The first error code a program can return through the C API; the codes below it are the
/// runtime's own (null argument, out of memory, file errors, GPU errors).
constexpr int kFirstProgramError = 16;

/// One tensor of the C API: an input, an output or a parameter.
struct CTensor {
  std::string name;    ///< as the graph names it
  std::string c_name;  ///< a C identifier (lower case), unique among its function's tensors
  ir::TensorType type;
  std::string role;    ///< parameters: "weight" or "state"
  int64_t offset = 0;  ///< parameters: byte offset in the context's parameter block
  /// parameters: byte offset of the initial value in the initial data, or -1 when it is all
  /// zeros (optimizer state, biases), which the runtime clears instead of storing.
  int64_t initial_offset = -1;
};

/// One entry point (a program): NAME_forward or NAME_train_step.
struct Entry {
  std::string function;  ///< "forward", "train_step"
  std::string macro;     ///< its macros' infix: "FORWARD", "TRAIN"
  std::string symbol;    ///< the program's symbol: NAME_forward_program
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
  /// CPU: the bytes of the program's pack cache and of its header (RenderedProgram); 0: none.
  int64_t pack_cache_bytes = 0, pack_cache_header_bytes = 0;
  std::vector<std::string> errors;  ///< the program's error messages (code c: errors[c - 1])
  int first_error_code = kFirstProgramError;  ///< the C API code of the program's code 1
};

/// The whole C API of a library.
struct Library {
  std::string name;    ///< the prefix of every symbol (lower case as given)
  std::string source;  ///< where the model came from, for comments
  /// The header's first line says what the code is for: "target CPU x86-64-v3".
  std::string target_description;
  /// The header's paragraph on linking and run-time needs (comment lines without " * ").
  std::vector<std::string> link_notes;
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

/// The C header NAME.h (the same API for every target).
std::string render_header(const Library& library);

/// What a target's runtime does around the shared functions that touch the parameter block
/// `context->parameters` (C statements, in a function returning int unless said otherwise).
struct RuntimeHooks {
  /// Before the block is read (NAME_save; NAME_parameter, which returns NULL on failure:
  /// use `return FAIL;`, FAIL being replaced by the function's failure value).
  std::string before_read;
  /// After the block may have been written (NAME_parameter, NAME_load).
  std::string after_write;
};

/// The target-independent part of the runtime: the parameter tables, the error messages with
/// NAME_error_message, NAME_last_error and NAME_last_error_message (and the static function
/// `set_error(code, detail)` recording them), the parameter accessors, NAME_save and
/// NAME_load, and `reset_parameter_block(block)` (every parameter's initial value). Expects
/// before it: the includes, ALIGNMENT, NUM_PARAMETERS, NUM_PROGRAM_ERRORS, the context struct
/// with member `unsigned char* parameters`, `allocate(bytes)` and NAME_initial_parameters.
std::string render_parameter_runtime(const Library& library, const RuntimeHooks& hooks);

/// True when `name` can start the library's C identifiers: [A-Za-z_][A-Za-z0-9_]*, not a C
/// keyword, at most 64 characters.
bool is_valid_library_name(const std::string& name);
/// Throws rnnc::Error naming the rule unless is_valid_library_name(name).
void check_library_name(const std::string& name);

/// Library::source for a library of `forward`: `description` (a file name, say), or
/// "@GRAPH" when it is empty, made safe inside a C comment.
std::string source_description(const std::string& description, const ir::Graph& forward);

/// A copy of `graph` optimized by the pipeline of `level`.
std::unique_ptr<ir::Graph> optimized_copy(const ir::Graph& graph, const std::string& level);

/// A library's programs: `forward` and, when not null, `train`, each optimized by the
/// pipeline of `level` and planned (the optimized graphs the programs point into are kept).
struct PlannedPrograms {
  std::vector<std::unique_ptr<ir::Graph>> graphs;
  std::vector<ir::Program> programs;  ///< forward, then the training step
};
PlannedPrograms plan_programs(const ir::Graph& forward, const ir::Graph* train,
                              const std::string& level);

/// The table of every parameter (the training step's, else the forward graph's), each at an
/// aligned offset of one block of `block_bytes`. Checks that the forward graph's parameters are
/// among them with the same types.
std::vector<CTensor> parameter_table(const ir::Graph& forward, const ir::Graph* train,
                                     int64_t& block_bytes);

/// The initial values of the parameters that are not all zeros, packed (8-byte aligned):
/// `given` values where there are, otherwise each Parameter's (init, seed). Sets each tensor's
/// initial_offset.
std::string initial_data(const ir::Graph& owner, std::vector<CTensor>& table,
                         const Bindings& given);

/// The entry point of one program: its arguments (the original graph's inputs and outputs)
/// and what each of the program's externals points to.
Entry describe_entry(const ir::Graph& original, const ir::Program& program,
                     const std::vector<CTensor>& table, const std::string& function,
                     const std::string& macro, const std::string& symbol);

/// The folder a library is written to: made absolute, created when missing (with its
/// parents), and checked to be writable.
std::filesystem::path prepare_folder(const std::string& directory);

/// A temporary folder next to a target folder, removed on destruction.
class TemporaryFolder {
 public:
  /// Creates ".TARGET.tmp-PID-N" next to `target`.
  explicit TemporaryFolder(const std::filesystem::path& target);
  ~TemporaryFolder();
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  /// The folder.
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Runs `words` (a command and its arguments) in folder `folder`; throws with its output when
/// it fails.
void run_tool(const std::filesystem::path& folder, const std::vector<std::string>& words);

/// Writes `contents` to `path`; throws when it cannot.
void write_file(const std::filesystem::path& path, const std::string& contents);

/// Moves `files` from `temporary` into `target`: the folder itself when `target` is new, else
/// file by file (each rename atomic). Returns the paths in `target`.
std::vector<std::string> install_files(const std::filesystem::path& temporary,
                                       const std::filesystem::path& target,
                                       const std::vector<std::string>& files);

}  // namespace rnnc::aot
