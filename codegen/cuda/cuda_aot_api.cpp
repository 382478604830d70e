// The C API of a GPU ahead-of-time library (cuda_aot_parts.h): parameters live on the device
// inside the context, mirrored on the host for NAME_parameter, NAME_save and NAME_load (each
// side copied to the other only when it changed); inputs and outputs are the caller's host
// arrays, copied to and from the device on every call.
#include <algorithm>
#include <sstream>

#include "codegen/cuda/cuda_aot_parts.h"
#include "codegen/cuda/runtime_tables.h"

namespace rnnc::cuda::aot {
namespace {

using rnnc::cuda::c_bytes_literal;

using rnnc::aot::c_type;
using rnnc::aot::CTensor;
using rnnc::aot::Entry;
using rnnc::aot::Library;
using rnnc::aot::upper;

/// Device inputs and outputs of an entry are packed at multiples of this.
constexpr int64_t kIoAlignment = 256;

int64_t bytes_of(const CTensor& tensor) {
  return tensor.type.num_elements() * ir::dtype_size(tensor.type.dtype);
}

int64_t aligned(int64_t bytes) { return (bytes + kIoAlignment - 1) / kIoAlignment * kIoAlignment; }

/// The byte offsets of an entry's inputs then outputs in its device block, and its size.
std::vector<int64_t> io_offsets(const Entry& entry, int64_t& total) {
  std::vector<int64_t> offsets;
  total = 0;
  for (const CTensor& input : entry.inputs)
    offsets.push_back(total), total += aligned(bytes_of(input));
  for (const CTensor& output : entry.outputs)
    offsets.push_back(total), total += aligned(bytes_of(output));
  return offsets;
}

void entry_function(std::ostringstream& out, const Library& library, const Entry& entry,
                    size_t index) {
  const std::string& n = library.name;
  const std::string N = upper(n);
  int64_t total = 0;
  std::vector<int64_t> offsets = io_offsets(entry, total);
  out << "int " << n << "_" << entry.function << "(" << n << "_context* context";
  for (const CTensor& input : entry.inputs)
    out << ", const " << c_type(input.type.dtype) << "* " << input.c_name;
  for (const CTensor& output : entry.outputs)
    out << ", " << c_type(output.type.dtype) << "* " << output.c_name;
  out << ") {\n"
      << "  rnnc_cuda_status status;\n"
      << "  int code;\n"
      << "  if (!context";
  for (const CTensor& input : entry.inputs) out << " || !" << input.c_name;
  for (const CTensor& output : entry.outputs) out << " || !" << output.c_name;
  out << ") return set_error(" << N << "_ERROR_NULL_ARGUMENT, NULL);\n"
      << "  if ((code = upload_parameters(context)) != 0) return code;\n";
  for (size_t i = 0; i < entry.inputs.size(); ++i)
    out << "  if (rnnc_cuda_upload(context->session, context->io[" << index << "] + " << offsets[i]
        << ", " << entry.inputs[i].c_name << ", " << bytes_of(entry.inputs[i]) << ", "
        << rnnc::aot::c_string("input " + entry.inputs[i].name) << ", &status))\n"
        << "    return runtime_error(&status, 0);\n";
  if (entry.function == "train_step") out << "  context->device_newer = 1;\n";
  out << "  if (rnnc_cuda_instance_run(context->programs[" << index << "], &status))\n"
      << "    return runtime_error(&status, " << entry.first_error_code << ");\n";
  for (size_t i = 0; i < entry.outputs.size(); ++i)
    out << "  if (rnnc_cuda_download(context->session, " << entry.outputs[i].c_name
        << ", context->io[" << index << "] + " << offsets[entry.inputs.size() + i] << ", "
        << bytes_of(entry.outputs[i]) << ", "
        << rnnc::aot::c_string("output " + entry.outputs[i].name) << ", &status))\n"
        << "    return runtime_error(&status, 0);\n";
  out << "  return " << N << "_OK;\n}\n\n";
}

}  // namespace

std::string render_cuda_api(const Library& library, const std::vector<std::string>& program_symbols,
                            const std::string& initial) {
  const std::string& n = library.name;
  const std::string N = upper(n);
  const size_t entries = library.entries.size();
  size_t program_errors = 0;
  for (const Entry& entry : library.entries) program_errors += entry.errors.size();
  std::ostringstream out;
  out << "#define ALIGNMENT " << ir::Program::kAlignment << "\n"
      << "#define NUM_PARAMETERS " << library.parameters.size() << "\n"
      << "#define NUM_PROGRAM_ERRORS " << program_errors << "\n"
      << "#define NUM_ENTRIES " << entries << "\n\n";
  out << "/* The parameters' initial values that are not all zeros. */\n"
      << "static const unsigned char " << n << "_initial_parameters[" << initial.size() + 1 << "] ="
      << c_bytes_literal(reinterpret_cast<const unsigned char*>(initial.data()), initial.size())
      << ";\n\n";
  out << "static const rnnc_cuda_program* const programs[NUM_ENTRIES] = {";
  for (size_t i = 0; i < entries; ++i) out << (i ? ", " : "") << "&" << program_symbols[i];
  out << "};\n";
  out << "/* Writes every program's constant pool, once per process. */\n"
      << "static void fill_constants(void) {\n";
  for (const std::string& symbol : program_symbols) out << "  " << symbol << "_fill_constants();\n";
  out << "}\n"
      << "static pthread_once_t constants_filled = PTHREAD_ONCE_INIT;\n";
  out << "static const int64_t io_bytes[NUM_ENTRIES] = {";
  for (size_t i = 0; i < entries; ++i) {
    int64_t total = 0;
    io_offsets(library.entries[i], total);
    out << (i ? ", " : "") << total;
  }
  out << "};\n\n";

  out << "/* Parameters live on the device (device_parameters, one block laid out as\n"
      << " * " << N << "_PARAMETER_BYTES on the host); `parameters` mirrors them on the host.\n"
      << " * host_newer: the mirror changed (NAME_parameter, _load, _reset) and is uploaded\n"
      << " * before the next program runs; device_newer: a training step changed the device's,\n"
      << " * downloaded before the mirror is read. */\n"
      << "struct " << n << "_context {\n"
      << "  unsigned char* parameters;\n"
      << "  int host_newer, device_newer;\n"
      << "  rnnc_cuda_session* session;\n"
      << "  rnnc_devptr device_parameters;\n"
      << "  rnnc_devptr io[NUM_ENTRIES]; /* each entry's inputs, then outputs */\n"
      << "  rnnc_cuda_instance* programs[NUM_ENTRIES];\n"
      << "};\n\n"
      << "static void* allocate(size_t bytes) {\n"
      << "  void* memory = NULL;\n"
      << "  bytes = (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;\n"
      << "  if (bytes == 0) bytes = ALIGNMENT;\n"
      << "  if (posix_memalign(&memory, ALIGNMENT, bytes) != 0) return NULL;\n"
      << "  return memory;\n"
      << "}\n\n";
  out << "static int download_parameters(" << n << "_context* context);\n\n";
  out << rnnc::aot::render_parameter_runtime(
      library, {"download_parameters((" + n + "_context*)context)", "context->host_newer = 1;"});

  out << "/* A runtime failure as the API's code (recorded with its message); a program's own\n"
      << " * error code c becomes first_program_code + c - 1. */\n"
      << "static int runtime_error(const rnnc_cuda_status* status, int first_program_code) {\n"
      << "  switch (status->code) {\n"
      << "    case RNNC_CUDA_NO_DRIVER:\n"
      << "    case RNNC_CUDA_NO_DEVICE:\n"
      << "      return set_error(" << N << "_ERROR_NO_DRIVER, status->message);\n"
      << "    case RNNC_CUDA_DRIVER_TOO_OLD:\n"
      << "      return set_error(" << N << "_ERROR_DRIVER_TOO_OLD, status->message);\n"
      << "    case RNNC_CUDA_NO_CUBLAS:\n"
      << "      return set_error(" << N << "_ERROR_NO_CUBLAS, status->message);\n"
      << "    case RNNC_CUDA_OUT_OF_MEMORY:\n"
      << "      return set_error(" << N << "_ERROR_OUT_OF_MEMORY, status->message);\n"
      << "    case RNNC_CUDA_PROGRAM_ERROR:\n"
      << "      if (first_program_code > 0)\n"
      << "        return set_error(first_program_code + status->program_error - 1, "
         "status->message);\n"
      << "      return set_error(" << N << "_ERROR_DEVICE, status->message);\n"
      << "    default:\n"
      << "      return set_error(" << N << "_ERROR_DEVICE, status->message);\n"
      << "  }\n"
      << "}\n\n"
      << "static int download_parameters(" << n << "_context* context) {\n"
      << "  rnnc_cuda_status status;\n"
      << "  if (!context->device_newer) return " << N << "_OK;\n"
      << "  if (rnnc_cuda_download(context->session, context->parameters, "
         "context->device_parameters,\n"
      << "                         " << N << "_PARAMETER_BYTES, \"the parameters\", &status))\n"
      << "    return runtime_error(&status, 0);\n"
      << "  context->device_newer = 0;\n"
      << "  return " << N << "_OK;\n"
      << "}\n\n"
      << "static int upload_parameters(" << n << "_context* context) {\n"
      << "  rnnc_cuda_status status;\n"
      << "  if (!context->host_newer) return " << N << "_OK;\n"
      << "  if (rnnc_cuda_upload(context->session, context->device_parameters, "
         "context->parameters,\n"
      << "                       " << N << "_PARAMETER_BYTES, \"the parameters\", &status))\n"
      << "    return runtime_error(&status, 0);\n"
      << "  context->host_newer = 0;\n"
      << "  return " << N << "_OK;\n"
      << "}\n\n";

  // create / destroy / reset
  out << "void " << n << "_destroy(" << n << "_context* context) {\n"
      << "  int i;\n"
      << "  if (!context) return;\n"
      << "  for (i = 0; i < NUM_ENTRIES; ++i) {\n"
      << "    rnnc_cuda_instance_destroy(context->programs[i]);\n"
      << "    rnnc_cuda_free(context->session, context->io[i]);\n"
      << "  }\n"
      << "  rnnc_cuda_free(context->session, context->device_parameters);\n"
      << "  rnnc_cuda_session_destroy(context->session);\n"
      << "  free(context->parameters);\n"
      << "  free(context);\n"
      << "}\n\n"
      << "void " << n << "_reset(" << n << "_context* context) {\n"
      << "  if (!context) return;\n"
      << "  reset_parameter_block(context->parameters);\n"
      << "  context->host_newer = 1;\n"
      << "  context->device_newer = 0;\n"
      << "}\n\n";
  out << "/* The device addresses of entry `e`'s externals. */\n"
      << "static void entry_externals(const " << n
      << "_context* context, int e, rnnc_devptr* externals) {\n"
      << "  switch (e) {\n";
  for (size_t e = 0; e < entries; ++e) {
    const Entry& entry = library.entries[e];
    int64_t total = 0;
    std::vector<int64_t> offsets = io_offsets(entry, total);
    out << "    case " << e << ":\n";
    for (size_t slot = 0; slot < entry.externals.size(); ++slot) {
      const Entry::Slot& external = entry.externals[slot];
      out << "      externals[" << slot << "] = ";
      switch (external.kind) {
        case Entry::Slot::input:
          out << "context->io[" << e << "] + " << offsets.at(external.index) << ";\n";
          break;
        case Entry::Slot::parameter:
          out << "context->device_parameters + " << library.parameters.at(external.index).offset
              << ";\n";
          break;
        case Entry::Slot::output:
          out << "context->io[" << e << "] + " << offsets.at(entry.inputs.size() + external.index)
              << ";\n";
          break;
      }
    }
    out << "      break;\n";
  }
  out << "  }\n"
      << "}\n\n";
  size_t most_externals = 1;
  for (const Entry& entry : library.entries)
    most_externals = std::max(most_externals, entry.externals.size());
  out << n << "_context* " << n << "_create(void) {\n"
      << "  rnnc_cuda_status status;\n"
      << "  rnnc_devptr externals[" << most_externals << "];\n"
      << "  int e;\n"
      << "  " << n << "_context* context = (" << n << "_context*)calloc(1, sizeof *context);\n"
      << "  if (!context) {\n"
      << "    set_error(" << N << "_ERROR_OUT_OF_MEMORY, NULL);\n"
      << "    return NULL;\n"
      << "  }\n"
      << "  context->parameters = (unsigned char*)allocate(" << N << "_PARAMETER_BYTES);\n"
      << "  if (!context->parameters) {\n"
      << "    free(context);\n"
      << "    set_error(" << N << "_ERROR_OUT_OF_MEMORY, NULL);\n"
      << "    return NULL;\n"
      << "  }\n"
      << "  pthread_once(&constants_filled, fill_constants);\n"
      << "  if (rnnc_cuda_session_create(&context->session, &status) ||\n"
      << "      rnnc_cuda_alloc(context->session, &context->device_parameters, " << N
      << "_PARAMETER_BYTES,\n"
      << "                      \"the parameters\", &status))\n"
      << "    goto failed;\n"
      << "  for (e = 0; e < NUM_ENTRIES; ++e)\n"
      << "    if (rnnc_cuda_alloc(context->session, &context->io[e], io_bytes[e],\n"
      << "                        \"the inputs and outputs\", &status))\n"
      << "      goto failed;\n"
      << "  for (e = 0; e < NUM_ENTRIES; ++e) {\n"
      << "    entry_externals(context, e, externals);\n"
      << "    if (rnnc_cuda_instance_create(&context->programs[e], context->session, "
         "programs[e],\n"
      << "                                  externals, &status))\n"
      << "      goto failed;\n"
      << "  }\n"
      << "  " << n << "_reset(context);\n"
      << "  if (upload_parameters(context) != " << N << "_OK) {\n"
      << "    " << n << "_destroy(context);\n"
      << "    return NULL;\n"
      << "  }\n"
      << "  return context;\n"
      << "failed:\n"
      << "  runtime_error(&status, 0);\n"
      << "  " << n << "_destroy(context);\n"
      << "  return NULL;\n"
      << "}\n\n";
  for (size_t e = 0; e < entries; ++e) entry_function(out, library, library.entries[e], e);
  out << "/* How the library runs here, for logs: the device, the driver, cuBLAS's math mode, and\n"
      << " * per program whether it runs as a CUDA graph and which persistent kernels it uses\n"
      << " * (\"\" for a null context). */\n"
      << "const char* " << n << "_describe(const " << n << "_context* context) {\n"
      << "  static THREAD_LOCAL char text[2048];\n"
      << "  int e;\n"
      << "  size_t length;\n"
      << "  if (!context) return \"\";\n"
      << "  snprintf(text, sizeof text, \"%s\", rnnc_cuda_session_describe(context->session));\n"
      << "  for (e = 0; e < NUM_ENTRIES; ++e) {\n"
      << "    length = strlen(text);\n"
      << "    snprintf(text + length, sizeof text - length, \"; %s: %s\", programs[e]->name,\n"
      << "             rnnc_cuda_instance_mode(context->programs[e]));\n"
      << "  }\n"
      << "  return text;\n"
      << "}\n";
  return out.str();
}

}  // namespace rnnc::cuda::aot
