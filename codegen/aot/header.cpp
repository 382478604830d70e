// The C header of an ahead-of-time library: the API, documented, with every shape and size
// as a #define.
#include <cstdio>
#include <sstream>

#include "codegen/aot/library.h"

namespace rnnc::aot {
namespace {

/// "f32[32, 8]".
std::string describe(const ir::TensorType& type) { return type.to_string(); }

/// The macros of one tensor: RANK, DIM0..., SIZE (elements); `index` first when given.
void tensor_macros(std::ostringstream& out, const std::string& prefix, const CTensor& tensor,
                   int index) {
  if (index >= 0) out << "#define " << prefix << " " << index << "\n";
  out << "#define " << prefix << "_RANK " << tensor.type.rank() << "\n";
  for (size_t d = 0; d < tensor.type.shape.size(); ++d)
    out << "#define " << prefix << "_DIM" << d << " " << tensor.type.shape[d] << "\n";
  out << "#define " << prefix << "_SIZE " << tensor.type.num_elements() << "\n";
}

/// "const float* x, const int32_t* labels, float* loss": an entry's arguments after the
/// context.
std::string arguments(const Entry& entry) {
  std::string text;
  for (const CTensor& input : entry.inputs)
    text += ", const " + c_type(input.type.dtype) + "* " + input.c_name;
  for (const CTensor& output : entry.outputs)
    text += ", " + c_type(output.type.dtype) + "* " + output.c_name;
  return text;
}

}  // namespace

std::string c_type(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::f32:
      return "float";
    case ir::DType::f64:
      return "double";
    case ir::DType::i32:
      return "int32_t";
  }
  return "void";
}

std::string upper(const std::string& text) {
  std::string result = text;
  for (char& c : result)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return result;
}

std::string c_string(const std::string& text) {
  std::string result = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      result += '\\';
      result += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f && c != '?') {  // '?' would risk trigraphs
      result += static_cast<char>(c);
    } else {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\%03o", c);
      result += escape;
    }
  }
  return result + "\"";
}

std::string render_header(const Library& library) {
  const std::string& n = library.name;
  const std::string N = upper(n);
  const bool has_train = library.entries.size() > 1;
  std::ostringstream out;
  out << "/* " << n << ".h: the C API of the model " << library.source
      << ",\n * compiled ahead of time by `rnnc compile` (" << library.target_description
      << ", pipeline -" << library.pipeline_level << "). Generated; do not edit.\n"
      << " *\n";
  for (const std::string& line : library.link_notes) out << " * " << line << "\n";
  out << " *\n"
      << " * A context owns the model's parameters (weights and optimizer state) and its scratch\n"
      << " * memory. Calls on one context must not overlap; separate contexts are independent.\n"
      << " * Every array is dense and row-major with the shape given below; outputs must not\n"
      << " * overlap inputs. Functions returning int return " << N << "_OK (0) or an error code\n"
      << " * that " << n << "_error_message describes. Arrays on 64-byte boundaries are read\n"
      << " * and written fastest, large ones (2 MiB or more) on transparent huge pages too (on\n"
      << " * Linux: posix_memalign to 2 MiB, then madvise MADV_HUGEPAGE), as the context's own.\n"
      << " *\n"
      << " * Parameter files (" << n << "_save, " << n << "_load), all integers little-endian:\n"
      << " *   8 bytes \"RNNCPAR1\", uint32 count, then per tensor: uint32 name length, the name\n"
      << " *   (no NUL), uint32 dtype (0 f32, 1 f64, 2 i32), uint32 rank, rank x int64 dims,\n"
      << " *   uint64 data bytes, the data (row-major).\n"
      << " */\n"
      << "#ifndef " << N << "_H_INCLUDED\n"
      << "#define " << N << "_H_INCLUDED\n\n"
      << "#include <stdint.h>\n\n"
      << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";

  out << "/* Return codes. */\n"
      << "#define " << N << "_OK 0\n"
      << "#define " << N << "_ERROR_NULL_ARGUMENT 1      /* a null context, array or path */\n"
      << "#define " << N << "_ERROR_OUT_OF_MEMORY 2\n"
      << "#define " << N << "_ERROR_OPEN 3               /* a file that cannot be opened */\n"
      << "#define " << N << "_ERROR_IO 4                 /* reading or writing a file failed */\n"
      << "#define " << N << "_ERROR_FORMAT 5             /* not a parameter file, or truncated */\n"
      << "#define " << N << "_ERROR_UNKNOWN_PARAMETER 6  /* a file's tensor the model lacks */\n"
      << "#define " << N << "_ERROR_MISMATCH 7           /* a file's tensor of another type */\n"
      << "/* GPU libraries only (--target cuda): */\n"
      << "#define " << N
      << "_ERROR_NO_DRIVER 8          /* no CUDA driver (libcuda.so.1) or device */\n"
      << "#define " << N << "_ERROR_DRIVER_TOO_OLD 9     /* the driver cannot run the GPU code */\n"
      << "#define " << N
      << "_ERROR_NO_CUBLAS 10         /* cuBLAS (libcublas.so.13 or .12) missing */\n"
      << "#define " << N
      << "_ERROR_DEVICE 11            /* a CUDA call failed or a kernel faulted */\n"
      << "/* Codes from here on: bad data found while running a program (a gather index out of\n"
      << " * range, sequence lengths outside [1, T], ...), each naming the node. */\n"
      << "#define " << N << "_FIRST_PROGRAM_ERROR " << kFirstProgramError << "\n\n";

  out << "/* Sizes. */\n"
      << "#define " << N << "_NUM_PARAMETERS " << library.parameters.size()
      << "  /* weights and optimizer state */\n"
      << "#define " << N << "_PARAMETER_BYTES " << library.parameter_bytes
      << "  /* all of them, 64-byte aligned */\n"
      << "#define " << N << "_HAS_TRAIN_STEP " << (has_train ? 1 : 0) << "\n";
  for (const Entry& entry : library.entries) {
    out << "#define " << N << "_" << entry.macro << "_ARENA_BYTES " << entry.arena_bytes
        << "  /* scratch memory of " << n << "_" << entry.function << " */\n";
    if (entry.pack_cache_bytes > 0)
      out << "#define " << N << "_" << entry.macro << "_PACK_CACHE_BYTES " << entry.pack_cache_bytes
          << "  /* its weights' packed panels, kept between calls */\n";
  }
  out << "\n";

  out << "/* Parameters: the index for " << n << "_parameter, rank, dimensions, elements. */\n";
  for (size_t i = 0; i < library.parameters.size(); ++i) {
    const CTensor& parameter = library.parameters[i];
    out << "/* " << parameter.name << ": " << describe(parameter.type) << ", " << parameter.role
        << " */\n";
    tensor_macros(out, N + "_PARAM_" + upper(parameter.c_name), parameter, static_cast<int>(i));
  }
  out << "\n";

  for (const Entry& entry : library.entries) {
    out << "/* " << n << "_" << entry.function << ": inputs and outputs. */\n";
    for (const CTensor& input : entry.inputs) {
      out << "/* input " << input.name << ": " << describe(input.type) << " */\n";
      tensor_macros(out, N + "_" + entry.macro + "_INPUT_" + upper(input.c_name), input, -1);
    }
    for (const CTensor& output : entry.outputs) {
      out << "/* output " << output.name << ": " << describe(output.type) << " */\n";
      tensor_macros(out, N + "_" + entry.macro + "_OUTPUT_" + upper(output.c_name), output, -1);
    }
    out << "\n";
  }

  out << "/* The state of one model: parameters and scratch memory. */\n"
      << "typedef struct " << n << "_context " << n << "_context;\n\n"
      << "/* A new context whose parameters hold their initial values (those rnnc's\n"
      << " * initialize_parameters gives, or an imported model's); NULL on failure (out of\n"
      << " * memory; for a GPU library also no driver or device): " << n << "_last_error says\n"
      << " * which. */\n"
      << n << "_context* " << n << "_create(void);\n"
      << "/* Frees a context (null is allowed). */\n"
      << "void " << n << "_destroy(" << n << "_context* context);\n"
      << "/* Puts every parameter back to its initial value. */\n"
      << "void " << n << "_reset(" << n << "_context* context);\n\n";

  for (const Entry& entry : library.entries) {
    if (entry.function == "forward")
      out << "/* Runs the model once (inference); the parameters are not changed.\n";
    else
      out << "/* One whole training step: the loss, its gradients, the optimizer's update of\n"
          << " * every parameter and optimizer state (in place, in the context).\n";
    out << " *   inputs: ";
    for (size_t i = 0; i < entry.inputs.size(); ++i)
      out << (i ? ", " : "") << entry.inputs[i].c_name << " " << describe(entry.inputs[i].type);
    out << "\n *   outputs (written): ";
    for (size_t i = 0; i < entry.outputs.size(); ++i)
      out << (i ? ", " : "") << entry.outputs[i].c_name << " " << describe(entry.outputs[i].type);
    out << " */\n"
        << "int " << n << "_" << entry.function << "(" << n << "_context* context"
        << arguments(entry) << ");\n\n";
  }

  out << "/* Parameter i (0 <= i < " << N << "_NUM_PARAMETERS): its elements, read and written in\n"
      << " * place; NULL for a bad index or context. The pointer is for use until the model\n"
      << " * next runs: call this again after a run before reading or writing. A library keeps\n"
      << " * what it derives from the parameters between runs (a CPU library its packed\n"
      << " * weights, a GPU library the device's copy), and only this call, " << n << "_load,\n"
      << " * " << n << "_reset and a training step tell it that they may change. */\n"
      << "void* " << n << "_parameter(" << n << "_context* context, int index);\n"
      << "/* Its name as the model names it (\"l1.weight\"); NULL for a bad index. */\n"
      << "const char* " << n << "_parameter_name(int index);\n"
      << "/* \"weight\" or \"state\" (optimizer state); NULL for a bad index. */\n"
      << "const char* " << n << "_parameter_role(int index);\n"
      << "/* \"f32\", \"f64\" or \"i32\"; NULL for a bad index. */\n"
      << "const char* " << n << "_parameter_dtype(int index);\n"
      << "/* Its rank, or -1 for a bad index. */\n"
      << "int " << n << "_parameter_rank(int index);\n"
      << "/* Its dimensions (rank of them), or NULL for a bad index. */\n"
      << "const int64_t* " << n << "_parameter_shape(int index);\n"
      << "/* Its number of elements, or -1 for a bad index. */\n"
      << "int64_t " << n << "_parameter_size(int index);\n"
      << "/* The index of the parameter named `name`, or -1. */\n"
      << "int " << n << "_find_parameter(const char* name);\n\n"
      << "/* Writes every parameter to `path` (the format above), through a temporary file\n"
      << " * renamed into place. */\n"
      << "int " << n << "_save(const " << n << "_context* context, const char* path);\n"
      << "/* Reads parameters from `path`: every tensor there must be a parameter of this model\n"
      << " * with the same dtype and shape; parameters the file lacks keep their values. On an\n"
      << " * error nothing changes. */\n"
      << "int " << n << "_load(" << n << "_context* context, const char* path);\n"
      << "/* What a return code means (a static string). */\n"
      << "const char* " << n << "_error_message(int code);\n"
      << "/* The code of the last error a function of this library returned or met in this\n"
      << " * thread (" << N << "_OK when none): the reason " << n << "_create returned NULL. */\n"
      << "int " << n << "_last_error(void);\n"
      << "/* That error in a sentence with its details (which CUDA call failed, and how), or\n"
      << " * \"\" when none; valid until the next call in this thread. */\n"
      << "const char* " << n << "_last_error_message(void);\n\n"
      << "/* How the library runs, for logs: its target; for a GPU library also the device, the\n"
      << " * driver, cuBLAS's math mode (TF32 or not) and whether each program runs as a CUDA\n"
      << " * graph and with persistent kernels. Valid until the next call in this thread. */\n"
      << "const char* " << n << "_describe(const " << n << "_context* context);\n\n"
      << "#ifdef __cplusplus\n}\n#endif\n\n"
      << "#endif /* " << N << "_H_INCLUDED */\n";
  return out.str();
}

}  // namespace rnnc::aot
