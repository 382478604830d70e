// The target-independent part of an ahead-of-time library's C99 runtime
// (codegen/aot/library.h): parameter tables, error messages, parameter accessors and files.
#include <algorithm>
#include <sstream>

#include "codegen/aot/library.h"

namespace rnnc::aot {
namespace {

/// The dtype code of the parameter file format (see the header's comment).
int dtype_code(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::f32:
      return 0;
    case ir::DType::f64:
      return 1;
    case ir::DType::i32:
      return 2;
  }
  return -1;
}

/// `items` joined by ", " after `render`, or "0" when empty (C has no empty initializer).
template <class T, class Render>
std::string initializer(const std::vector<T>& items, Render render) {
  if (items.empty()) return "0";
  std::string text;
  for (size_t i = 0; i < items.size(); ++i) text += (i ? ", " : "") + render(items[i]);
  return text;
}

}  // namespace

std::string render_parameter_runtime(const Library& library, const RuntimeHooks& hooks) {
  const std::string& n = library.name;
  const std::string N = upper(n);
  const std::vector<CTensor>& parameters = library.parameters;
  std::vector<std::string> program_errors;
  for (const Entry& entry : library.entries)
    program_errors.insert(program_errors.end(), entry.errors.begin(), entry.errors.end());
  std::ostringstream out;
  // Tables: one entry per parameter (a dummy 0 when there are none).
  std::vector<int64_t> dims, dim_starts;
  for (const CTensor& parameter : parameters) {
    dim_starts.push_back(static_cast<int64_t>(dims.size()));
    dims.insert(dims.end(), parameter.type.shape.begin(), parameter.type.shape.end());
  }
  auto number = [](int64_t value) { return std::to_string(value); };
  out << "static const char* const parameter_names[] = {"
      << initializer(parameters, [](const CTensor& p) { return c_string(p.name); }) << "};\n"
      << "static const char* const parameter_roles[] = {"
      << initializer(parameters, [](const CTensor& p) { return c_string(p.role); }) << "};\n"
      << "static const char* const parameter_dtypes[] = {"
      << initializer(
             parameters,
             [](const CTensor& p) { return c_string(std::string(ir::dtype_name(p.type.dtype))); })
      << "};\n"
      << "static const uint32_t parameter_dtype_codes[] = {"
      << initializer(parameters,
                     [](const CTensor& p) { return std::to_string(dtype_code(p.type.dtype)); })
      << "};\n"
      << "static const int parameter_ranks[] = {"
      << initializer(parameters, [](const CTensor& p) { return std::to_string(p.type.rank()); })
      << "};\n"
      << "static const int64_t parameter_dims[] = {" << initializer(dims, number) << "};\n"
      << "static const int parameter_dim_starts[] = {" << initializer(dim_starts, number) << "};\n"
      << "static const int64_t parameter_sizes[] = {"
      << initializer(parameters,
                     [](const CTensor& p) { return std::to_string(p.type.num_elements()); })
      << "};\n"
      << "static const size_t parameter_offsets[] = {"
      << initializer(parameters, [](const CTensor& p) { return std::to_string(p.offset); })
      << "};\n"
      << "static const int64_t parameter_initial_offsets[] = {"
      << initializer(parameters, [](const CTensor& p) { return std::to_string(p.initial_offset); })
      << "};\n"
      << "static const size_t parameter_bytes[] = {"
      << initializer(parameters,
                     [](const CTensor& p) {
                       return std::to_string(p.type.num_elements() * ir::dtype_size(p.type.dtype));
                     })
      << "};\n"
      << "static const char* const program_errors[] = {"
      << initializer(program_errors, [](const std::string& e) { return c_string(e); }) << "};\n"
      << "static const char* const runtime_errors[] = {\n"
      << "    \"ok\",\n"
      << "    \"a null context, array or path was passed\",\n"
      << "    \"out of memory\",\n"
      << "    \"cannot open the file\",\n"
      << "    \"reading or writing the file failed\",\n"
      << "    \"not an rnnc parameter file (RNNCPAR1), or truncated\",\n"
      << "    \"the file holds a tensor that is not a parameter of " << n << "\",\n"
      << "    \"the file holds a parameter of another dtype or shape\",\n"
      << "    \"no CUDA driver (libcuda.so.1) or no CUDA device\",\n"
      << "    \"the CUDA driver is too old for the library's GPU code\",\n"
      << "    \"cuBLAS (libcublas.so.13 or .so.12) not found\",\n"
      << "    \"a CUDA call failed or a kernel faulted on the device\"};\n\n";

  out << "/* Writes every parameter's initial value (zeros where it has none stored). */\n"
      << "static void reset_parameter_block(unsigned char* block) {\n"
      << "  int i;\n"
      << "  for (i = 0; i < NUM_PARAMETERS; ++i) {\n"
      << "    unsigned char* target = block + parameter_offsets[i];\n"
      << "    if (parameter_initial_offsets[i] < 0)\n"
      << "      memset(target, 0, parameter_bytes[i]);\n"
      << "    else\n"
      << "      memcpy(target, " << n
      << "_initial_parameters + parameter_initial_offsets[i], parameter_bytes[i]);\n"
      << "  }\n"
      << "}\n\n";
  out << "#if defined(__GNUC__)\n#define THREAD_LOCAL __thread\n#else\n#define "
         "THREAD_LOCAL\n#endif\n"
      << "static THREAD_LOCAL int last_error_code;\n"
      << "static THREAD_LOCAL char last_error_text[1024];\n\n"
      << "/* Records an error (with `detail`, or the code's message) and returns its code. */\n"
      << "static int set_error(int code, const char* detail) {\n"
      << "  last_error_code = code;\n"
      << "  snprintf(last_error_text, sizeof last_error_text, \"%s\",\n"
      << "           detail && *detail ? detail : " << n << "_error_message(code));\n"
      << "  return code;\n"
      << "}\n\n"
      << "int " << n << "_last_error(void) { return last_error_code; }\n\n"
      << "const char* " << n << "_last_error_message(void) {\n"
      << "  return last_error_code == " << N << "_OK ? \"\" : last_error_text;\n"
      << "}\n\n";
  out << "void* " << n << "_parameter(" << n << "_context* context, int index) {\n"
      << "  if (!context || index < 0 || index >= NUM_PARAMETERS) return NULL;\n";
  if (!hooks.before_read.empty()) out << "  if (" << hooks.before_read << ") return NULL;\n";
  if (!hooks.after_write.empty()) out << "  " << hooks.after_write << "\n";
  out << "  return context->parameters + parameter_offsets[index];\n"
      << "}\n\n"
      << "const char* " << n << "_parameter_name(int index) {\n"
      << "  return index >= 0 && index < NUM_PARAMETERS ? parameter_names[index] : NULL;\n"
      << "}\n\n"
      << "const char* " << n << "_parameter_role(int index) {\n"
      << "  return index >= 0 && index < NUM_PARAMETERS ? parameter_roles[index] : NULL;\n"
      << "}\n\n"
      << "const char* " << n << "_parameter_dtype(int index) {\n"
      << "  return index >= 0 && index < NUM_PARAMETERS ? parameter_dtypes[index] : NULL;\n"
      << "}\n\n"
      << "int " << n << "_parameter_rank(int index) {\n"
      << "  return index >= 0 && index < NUM_PARAMETERS ? parameter_ranks[index] : -1;\n"
      << "}\n\n"
      << "const int64_t* " << n << "_parameter_shape(int index) {\n"
      << "  return index >= 0 && index < NUM_PARAMETERS ? parameter_dims + "
         "parameter_dim_starts[index]\n"
      << "                                              : NULL;\n"
      << "}\n\n"
      << "int64_t " << n << "_parameter_size(int index) {\n"
      << "  return index >= 0 && index < NUM_PARAMETERS ? parameter_sizes[index] : -1;\n"
      << "}\n\n"
      << "int " << n << "_find_parameter(const char* name) {\n"
      << "  int i;\n"
      << "  if (!name) return -1;\n"
      << "  for (i = 0; i < NUM_PARAMETERS; ++i)\n"
      << "    if (strcmp(parameter_names[i], name) == 0) return i;\n"
      << "  return -1;\n"
      << "}\n\n"
      << "const char* " << n << "_error_message(int code) {\n"
      << "  if (code >= 0 && code < (int)(sizeof runtime_errors / sizeof *runtime_errors))\n"
      << "    return runtime_errors[code];\n"
      << "  if (code >= " << N << "_FIRST_PROGRAM_ERROR && code < " << N
      << "_FIRST_PROGRAM_ERROR + NUM_PROGRAM_ERRORS)\n"
      << "    return program_errors[code - " << N << "_FIRST_PROGRAM_ERROR];\n"
      << "  return \"unknown error code\";\n"
      << "}\n\n";

  // Parameter files.
  out << "static int write_bytes(FILE* file, const void* data, size_t bytes) {\n"
      << "  return bytes == 0 || fwrite(data, 1, bytes, file) == bytes;\n"
      << "}\n\n"
      << "static int write_u32(FILE* file, uint32_t value) {\n"
      << "  unsigned char bytes[4];\n"
      << "  int i;\n"
      << "  for (i = 0; i < 4; ++i) bytes[i] = (unsigned char)(value >> (8 * i));\n"
      << "  return write_bytes(file, bytes, 4);\n"
      << "}\n\n"
      << "static int write_u64(FILE* file, uint64_t value) {\n"
      << "  unsigned char bytes[8];\n"
      << "  int i;\n"
      << "  for (i = 0; i < 8; ++i) bytes[i] = (unsigned char)(value >> (8 * i));\n"
      << "  return write_bytes(file, bytes, 8);\n"
      << "}\n\n"
      << "static int read_u32(FILE* file, uint32_t* value) {\n"
      << "  unsigned char bytes[4];\n"
      << "  int i;\n"
      << "  if (fread(bytes, 1, 4, file) != 4) return 0;\n"
      << "  *value = 0;\n"
      << "  for (i = 0; i < 4; ++i) *value |= (uint32_t)bytes[i] << (8 * i);\n"
      << "  return 1;\n"
      << "}\n\n"
      << "static int read_u64(FILE* file, uint64_t* value) {\n"
      << "  unsigned char bytes[8];\n"
      << "  int i;\n"
      << "  if (fread(bytes, 1, 8, file) != 8) return 0;\n"
      << "  *value = 0;\n"
      << "  for (i = 0; i < 8; ++i) *value |= (uint64_t)bytes[i] << (8 * i);\n"
      << "  return 1;\n"
      << "}\n\n"
      << "int " << n << "_save(const " << n << "_context* context, const char* path) {\n"
      << "  char* aside;\n"
      << "  FILE* file;\n"
      << "  int ok, i, r;\n"
      << "  if (!context || !path) return set_error(" << N << "_ERROR_NULL_ARGUMENT, NULL);\n";
  if (!hooks.before_read.empty())
    out << "  if ((ok = " << hooks.before_read << ") != 0) return ok;\n";
  out << "  aside = (char*)malloc(strlen(path) + 5);\n"
      << "  if (!aside) return " << N << "_ERROR_OUT_OF_MEMORY;\n"
      << "  strcpy(aside, path);\n"
      << "  strcat(aside, \".tmp\");\n"
      << "  file = fopen(aside, \"wb\");\n"
      << "  if (!file) {\n"
      << "    free(aside);\n"
      << "    return set_error(" << N << "_ERROR_OPEN, NULL);\n"
      << "  }\n"
      << "  ok = write_bytes(file, \"RNNCPAR1\", 8) && write_u32(file, NUM_PARAMETERS);\n"
      << "  for (i = 0; ok && i < NUM_PARAMETERS; ++i) {\n"
      << "    size_t length = strlen(parameter_names[i]);\n"
      << "    ok = write_u32(file, (uint32_t)length) && write_bytes(file, parameter_names[i], "
         "length) &&\n"
      << "         write_u32(file, parameter_dtype_codes[i]) &&\n"
      << "         write_u32(file, (uint32_t)parameter_ranks[i]);\n"
      << "    for (r = 0; ok && r < parameter_ranks[i]; ++r)\n"
      << "      ok = write_u64(file, (uint64_t)parameter_dims[parameter_dim_starts[i] + r]);\n"
      << "    ok = ok && write_u64(file, (uint64_t)parameter_bytes[i]) &&\n"
      << "         write_bytes(file, context->parameters + parameter_offsets[i], "
         "parameter_bytes[i]);\n"
      << "  }\n"
      << "  if (fclose(file) != 0) ok = 0;\n"
      << "  if (ok && rename(aside, path) != 0) ok = 0;\n"
      << "  if (!ok) remove(aside);\n"
      << "  free(aside);\n"
      << "  return ok ? " << N << "_OK : set_error(" << N << "_ERROR_IO, NULL);\n"
      << "}\n\n"
      << "/* Reads one tensor record of a parameter file into `staged` (a copy of the block). */\n"
      << "static int load_tensor(FILE* file, unsigned char* staged) {\n"
      << "  char name[4097];\n"
      << "  uint32_t length, dtype, rank;\n"
      << "  uint64_t value;\n"
      << "  int i, r;\n"
      << "  if (!read_u32(file, &length) || length > 4096) return " << N << "_ERROR_FORMAT;\n"
      << "  if (fread(name, 1, length, file) != length) return " << N << "_ERROR_FORMAT;\n"
      << "  name[length] = '\\0';\n"
      << "  i = " << n << "_find_parameter(name);\n"
      << "  if (i < 0 || strlen(name) != length) return " << N << "_ERROR_UNKNOWN_PARAMETER;\n"
      << "  if (!read_u32(file, &dtype) || !read_u32(file, &rank)) return " << N
      << "_ERROR_FORMAT;\n"
      << "  if (dtype != parameter_dtype_codes[i] || rank != (uint32_t)parameter_ranks[i])\n"
      << "    return " << N << "_ERROR_MISMATCH;\n"
      << "  for (r = 0; r < (int)rank; ++r) {\n"
      << "    if (!read_u64(file, &value)) return " << N << "_ERROR_FORMAT;\n"
      << "    if (value != (uint64_t)parameter_dims[parameter_dim_starts[i] + r])\n"
      << "      return " << N << "_ERROR_MISMATCH;\n"
      << "  }\n"
      << "  if (!read_u64(file, &value)) return " << N << "_ERROR_FORMAT;\n"
      << "  if (value != (uint64_t)parameter_bytes[i]) return " << N << "_ERROR_FORMAT;\n"
      << "  if (parameter_bytes[i] > 0 &&\n"
      << "      fread(staged + parameter_offsets[i], 1, parameter_bytes[i], file) != "
         "parameter_bytes[i])\n"
      << "    return " << N << "_ERROR_FORMAT;\n"
      << "  return " << N << "_OK;\n"
      << "}\n\n"
      << "int " << n << "_load(" << n << "_context* context, const char* path) {\n"
      << "  FILE* file;\n"
      << "  unsigned char* staged;\n"
      << "  char magic[8];\n"
      << "  uint32_t count, t;\n"
      << "  int code = " << N << "_OK;\n"
      << "  if (!context || !path) return set_error(" << N << "_ERROR_NULL_ARGUMENT, NULL);\n";
  if (!hooks.before_read.empty())
    out << "  if ((code = " << hooks.before_read << ") != 0) return code;\n";
  out << "  file = fopen(path, \"rb\");\n"
      << "  if (!file) return set_error(" << N << "_ERROR_OPEN, NULL);\n"
      << "  staged = (unsigned char*)allocate(" << N << "_PARAMETER_BYTES);\n"
      << "  if (!staged) {\n"
      << "    fclose(file);\n"
      << "    return " << N << "_ERROR_OUT_OF_MEMORY;\n"
      << "  }\n"
      << "  if (" << N << "_PARAMETER_BYTES > 0)\n"
      << "    memcpy(staged, context->parameters, " << N << "_PARAMETER_BYTES);\n"
      << "  if (fread(magic, 1, 8, file) != 8 || memcmp(magic, \"RNNCPAR1\", 8) != 0 ||\n"
      << "      !read_u32(file, &count))\n"
      << "    code = " << N << "_ERROR_FORMAT;\n"
      << "  for (t = 0; code == " << N
      << "_OK && t < count; ++t) code = load_tensor(file, staged);\n"
      << "  if (code == " << N << "_OK && fgetc(file) != EOF) code = " << N << "_ERROR_FORMAT;\n"
      << "  if (code == " << N << "_OK && ferror(file)) code = " << N << "_ERROR_IO;\n"
      << "  fclose(file);\n"
      << "  if (code == " << N << "_OK && " << N << "_PARAMETER_BYTES > 0)\n"
      << "    memcpy(context->parameters, staged, " << N << "_PARAMETER_BYTES);\n"
      << "  free(staged);\n";
  if (!hooks.after_write.empty())
    out << "  if (code == " << N << "_OK) " << hooks.after_write << "\n";
  out << "  return code == " << N << "_OK ? code : set_error(code, NULL);\n"
      << "}\n";
  return out.str();
}

}  // namespace rnnc::aot
