// Ahead-of-time libraries (codegen/cpu/aot.h): the graphs optimized and planned, the C API
// described, the object and sources made in memory, then written to a temporary folder, built
// by the system's C compiler, and renamed into place.
#include "codegen/cpu/aot.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "codegen/cpu/aot_parts.h"
#include "codegen/interp/constant_evaluator.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "passes/plan_memory.h"
#include "runtime/initializers.h"

namespace rnnc::cpu {
namespace {

namespace fs = std::filesystem;
using aot::CTensor;
using aot::Entry;

/// Words a C or C++ compiler would not take as an identifier, and names the generated code
/// uses itself (its locals, the standard library's macros).
const std::set<std::string>& reserved_words() {
  static const std::set<std::string> words = {
      "auto",     "break",      "case",     "char",      "const",     "continue", "default",
      "do",       "double",     "else",     "enum",      "extern",    "float",    "for",
      "goto",     "if",         "inline",   "int",       "long",      "register", "restrict",
      "return",   "short",      "signed",   "sizeof",    "static",    "struct",   "switch",
      "typedef",  "union",      "unsigned", "void",      "volatile",  "while",    "_Bool",
      "_Complex", "_Imaginary", "bool",     "true",      "false",     "class",    "new",
      "delete",   "this",       "template", "typename",  "namespace", "operator", "private",
      "public",   "protected",  "friend",   "virtual",   "try",       "catch",    "throw",
      "using",    "export",     "explicit", "mutable",   "and",       "or",       "not",
      "xor",      "asm",        "context",  "externals", "code",      "errno",    "stdin",
      "stdout",   "stderr",     "assert",   "offsetof",  "NULL",      "EOF"};
  return words;
}

/// `name` made a lower-case C identifier: other characters become '_'.
std::string c_identifier(const std::string& name) {
  std::string result;
  for (unsigned char c : name) result += std::isalnum(c) ? static_cast<char>(std::tolower(c)) : '_';
  if (result.empty() || std::isdigit(static_cast<unsigned char>(result[0]))) result = "t_" + result;
  if (reserved_words().count(result)) result += "_";
  return result;
}

/// Gives each tensor a C name unique (ignoring case, as macros upper-case them) among them.
void assign_c_names(std::vector<CTensor*> tensors) {
  std::set<std::string> taken;
  for (CTensor* tensor : tensors) {
    std::string base = c_identifier(tensor->name), candidate = base;
    for (int k = 2; taken.count(aot::upper(candidate)); ++k)
      candidate = base + "_" + std::to_string(k);
    taken.insert(aot::upper(candidate));
    tensor->c_name = candidate;
  }
}

/// A copy of `graph` optimized by the pipeline of `level`.
std::unique_ptr<ir::Graph> optimized_copy(const ir::Graph& graph, const std::string& level) {
  auto copy = ir::parse_graph(ir::print_graph(graph), graph.name());
  passes::PassManager manager(interp::pass_context_with_kernels());
  manager.add_pipeline(passes::default_pipeline(level));
  manager.run(*copy);
  return copy;
}

/// `graph`'s Parameter values, by name.
std::map<std::string, const ir::Node*> parameters_of(const ir::Graph& graph) {
  std::map<std::string, const ir::Node*> parameters;
  for (const ir::Node* node : graph.nodes_of(ir::OpKind::Parameter))
    parameters[node->result()->name()] = node;
  return parameters;
}

/// The table of every parameter (the training step's, else the forward graph's), each at an
/// aligned offset of one block. Checks that the forward graph's parameters are among them.
std::vector<CTensor> parameter_table(const ir::Graph& forward, const ir::Graph* train,
                                     int64_t& block_bytes) {
  const ir::Graph& owner = train ? *train : forward;
  std::vector<CTensor> table;
  for (const ir::Node* node : owner.nodes_of(ir::OpKind::Parameter)) {
    CTensor tensor;
    tensor.name = node->result()->name();
    tensor.type = node->result()->type();
    tensor.role = node->attrs().has("role") ? node->attrs().get_str("role") : "weight";
    table.push_back(tensor);
  }
  if (train) {
    std::map<std::string, const ir::Node*> trained = parameters_of(*train);
    for (const ir::Node* node : forward.nodes_of(ir::OpKind::Parameter)) {
      const ir::Value* value = node->result();
      auto found = trained.find(value->name());
      if (found == trained.end())
        throw Error("the forward graph's parameter '" + value->name() +
                    "' is not a parameter of the training step (graph @" + train->name() + ")");
      if (found->second->result()->type() != value->type())
        throw Error("parameter '" + value->name() + "' is " + value->type().to_string() +
                    " in the forward graph but " + found->second->result()->type().to_string() +
                    " in the training step");
    }
  }
  block_bytes = 0;
  for (CTensor& tensor : table) {
    tensor.offset = block_bytes;
    int64_t bytes = tensor.type.num_elements() * ir::dtype_size(tensor.type.dtype);
    block_bytes +=
        (bytes + ir::Program::kAlignment - 1) / ir::Program::kAlignment * ir::Program::kAlignment;
  }
  std::vector<CTensor*> pointers;
  for (CTensor& tensor : table) pointers.push_back(&tensor);
  assign_c_names(pointers);
  return table;
}

/// The initial values of the parameters that are not all zeros, packed (8-byte aligned):
/// `given` values where there are, otherwise each Parameter's (init, seed). Sets each
/// tensor's initial_offset.
std::string initial_data(const ir::Graph& owner, std::vector<CTensor>& table,
                         const Bindings& given) {
  std::string data;
  std::map<std::string, const ir::Node*> declared = parameters_of(owner);
  for (CTensor& tensor : table) {
    Tensor value;
    if (auto found = given.find(tensor.name); found != given.end()) {
      if (found->second.type() != tensor.type)
        throw Error("the initial value of parameter '" + tensor.name + "' is " +
                    found->second.type().to_string() + ", the model declares " +
                    tensor.type.to_string());
      value = found->second;
    } else {
      const ir::Node* node = declared.at(tensor.name);
      try {
        value = initialize(tensor.type, node->attrs().get_str("init"),
                           static_cast<uint64_t>(node->attrs().get_int("seed")));
      } catch (const Error& error) {
        throw Error("parameter '" + tensor.name + "': " + error.what());
      }
    }
    size_t bytes =
        static_cast<size_t>(tensor.type.num_elements() * ir::dtype_size(tensor.type.dtype));
    const char* raw = static_cast<const char*>(value.raw());
    if (std::all_of(raw, raw + bytes, [](char c) { return c == 0; })) {
      tensor.initial_offset = -1;
      continue;
    }
    tensor.initial_offset = static_cast<int64_t>(data.size());
    data.append(raw, bytes);
    data.resize((data.size() + 7) / 8 * 8, '\0');
  }
  return data;
}

/// The entry point of one program: its arguments (the original graph's inputs and outputs)
/// and what each of the program's externals points to.
Entry describe_entry(const ir::Graph& original, const ir::Program& program,
                     const std::vector<CTensor>& table, const std::string& function,
                     const std::string& macro, const std::string& symbol) {
  Entry entry;
  entry.function = function;
  entry.macro = macro;
  entry.symbol = symbol;
  entry.arena_bytes = program.arena_bytes;
  std::map<std::string, int> inputs, outputs, parameters;
  for (const ir::Node* node : original.nodes_of(ir::OpKind::Input)) {
    inputs[node->result()->name()] = static_cast<int>(entry.inputs.size());
    entry.inputs.push_back({node->result()->name(), "", node->result()->type(), "", 0});
  }
  for (const ir::GraphOutput& output : original.outputs()) {
    outputs[output.name] = static_cast<int>(entry.outputs.size());
    entry.outputs.push_back({output.name, "", output.value->type(), "", 0});
  }
  for (size_t i = 0; i < table.size(); ++i) parameters[table[i].name] = static_cast<int>(i);
  std::vector<CTensor*> arguments;
  for (CTensor& input : entry.inputs) arguments.push_back(&input);
  for (CTensor& output : entry.outputs) arguments.push_back(&output);
  assign_c_names(arguments);

  // The program's externals are those of the optimized graph: inputs and parameters by name,
  // outputs in order (the passes keep every one).
  const ir::Graph& optimized = *program.graph;
  std::vector<ir::Node*> program_inputs = optimized.nodes_of(ir::OpKind::Input);
  std::vector<ir::Node*> program_parameters = optimized.nodes_of(ir::OpKind::Parameter);
  auto index_of = [](const std::map<std::string, int>& names, const std::string& name) {
    auto found = names.find(name);
    if (found == names.end())
      throw Error("internal error: the optimized graph has '" + name + "', the model does not");
    return found->second;
  };
  entry.externals.resize(program.externals().size());
  for (size_t i = 0; i < program.inputs.size(); ++i)
    entry.externals[program.buffers.at(program.inputs[i]).external_index] = {
        Entry::Slot::input, index_of(inputs, program_inputs.at(i)->result()->name())};
  for (size_t i = 0; i < program.parameters.size(); ++i)
    entry.externals[program.buffers.at(program.parameters[i]).external_index] = {
        Entry::Slot::parameter, index_of(parameters, program_parameters.at(i)->result()->name())};
  for (size_t i = 0; i < program.outputs.size(); ++i)
    entry.externals[program.buffers.at(program.outputs[i]).external_index] = {
        Entry::Slot::output, index_of(outputs, optimized.outputs().at(i).name)};
  return entry;
}

/// `text` quoted for the POSIX shell.
std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

/// Runs `words` (a command and its arguments) in folder `folder`; throws with its output when
/// it fails.
void run_tool(const fs::path& folder, const std::vector<std::string>& words) {
  std::string command = "cd " + shell_quote(folder.string()) + " &&";
  std::string shown;
  for (const std::string& word : words) {
    command += " " + shell_quote(word);
    shown += (shown.empty() ? "" : " ") + word;
  }
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw Error("cannot run '" + shown + "': " + std::strerror(errno));
  std::string output;
  char buffer[4096];
  size_t count;
  while ((count = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, count);
  int status = pclose(pipe);
  if (status != 0)
    throw Error("'" + shown + "' failed (status " + std::to_string(status) + ")" +
                (output.empty() ? std::string() : ":\n" + output));
}

void write_file(const fs::path& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary);
  file.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  file.close();
  if (!file) throw Error("cannot write " + path.string());
}

/// The folder a library is written to: made absolute, created when missing (with its
/// parents), and checked to be writable.
fs::path prepare_folder(const std::string& directory) {
  if (directory.empty()) throw Error("the output folder is empty");
  fs::path target = fs::absolute(fs::path(directory)).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  std::error_code error;
  if (fs::exists(target, error) && !fs::is_directory(target, error))
    throw Error("cannot write the library to " + directory + ": it is not a folder");
  fs::create_directories(target.parent_path(), error);
  if (error)
    throw Error("cannot write the library to " + directory + ": cannot create " +
                target.parent_path().string() + ": " + error.message());
  // A probe file, so that a folder we may not write fails before compiling (access() would
  // say yes to root on a read-only file system).
  fs::path probe = (fs::exists(target, error) ? target : target.parent_path()) /
                   (".rnnc-probe-" + std::to_string(getpid()));
  {
    std::ofstream file(probe);
    if (!file)
      throw Error("cannot write the library to " + directory + ": " + probe.parent_path().string() +
                  " is not writable");
  }
  fs::remove(probe, error);
  return target;
}

/// A temporary folder next to the target, removed on destruction unless released.
class TemporaryFolder {
 public:
  explicit TemporaryFolder(const fs::path& target) {
    static std::atomic<int> counter{0};
    path_ = target.parent_path() / ("." + target.filename().string() + ".tmp-" +
                                    std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::error_code error;
    fs::remove_all(path_, error);
    if (!fs::create_directory(path_, error) || error)
      throw Error("cannot create the temporary folder " + path_.string() + ": " + error.message());
  }
  ~TemporaryFolder() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

bool is_valid_library_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  if (!std::isalpha(static_cast<unsigned char>(name[0])) && name[0] != '_') return false;
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '_') return false;
  return !reserved_words().count(name);
}

AotResult compile_library(const ir::Graph& forward, const ir::Graph* train,
                          const Bindings& initial_values, const std::string& directory,
                          const AotOptions& options) {
  const std::string& name = options.name;
  if (!is_valid_library_name(name))
    throw Error("invalid library name '" + name +
                "': it starts every C identifier of the library, so it must match "
                "[A-Za-z_][A-Za-z0-9_]*, be at most 64 characters and not a C keyword");
  ir::verify(forward);
  if (train) ir::verify(*train);
  fs::path target = prepare_folder(directory);

  // The programs.
  aot::Library library;
  library.name = name;
  library.source =
      options.source_description.empty() ? "@" + forward.name() : options.source_description;
  for (size_t at; (at = library.source.find("*/")) != std::string::npos;)
    library.source.replace(at, 2, "* /");
  library.target_cpu = options.target_cpu.empty() ? "host" : options.target_cpu;
  library.pipeline_level = options.pipeline_level;
  library.parameters = parameter_table(forward, train, library.parameter_bytes);
  std::string initial = initial_data(train ? *train : forward, library.parameters, initial_values);

  std::vector<const ir::Graph*> originals = {&forward};
  if (train) originals.push_back(train);
  std::vector<std::unique_ptr<ir::Graph>> optimized;
  std::vector<ir::Program> programs;
  for (const ir::Graph* graph : originals) {
    optimized.push_back(optimized_copy(*graph, options.pipeline_level));
    programs.push_back(passes::plan_memory(*optimized.back()));
  }
  library.entries.push_back(describe_entry(forward, programs[0], library.parameters, "forward",
                                           "FORWARD", name + "_forward_program"));
  if (train)
    library.entries.push_back(describe_entry(*train, programs[1], library.parameters, "train_step",
                                             "TRAIN", name + "_train_program"));

  std::vector<aot::ObjectProgram> objects;
  for (size_t i = 0; i < programs.size(); ++i)
    objects.push_back({&programs[i], library.entries[i].symbol, &library.entries[i].errors});
  std::string object =
      aot::emit_object(objects, name + "_initial_parameters", initial, options.target_cpu);
  int next_code = aot::kFirstProgramError;
  for (Entry& entry : library.entries) {
    entry.first_error_code = next_code;
    next_code += static_cast<int>(entry.errors.size());
  }

  // The files, built in a temporary folder.
  TemporaryFolder temporary(target);
  const fs::path& folder = temporary.path();
  write_file(folder / (name + ".h"), aot::render_header(library));
  write_file(folder / (name + "_runtime.c"), aot::render_runtime(library));
  write_file(folder / (name + ".o"), object);
  run_tool(folder, {options.c_compiler, "-std=c99", "-O2", "-fPIC", "-c", name + "_runtime.c", "-o",
                    name + "_runtime.o"});
  run_tool(folder, {"ar", "rcs", "lib" + name + ".a", name + "_runtime.o", name + ".o"});
  run_tool(folder, {options.c_compiler, "-shared", "-o", "lib" + name + ".so",
                    "-Wl,-soname,lib" + name + ".so", "-Wl,-z,defs", name + "_runtime.o",
                    name + ".o", "-lopenblas", "-lm"});
  fs::remove(folder / (name + "_runtime.o"));

  // Into place: the folder itself when it is new, else file by file (each rename atomic).
  AotResult result;
  const std::vector<std::string> files = {name + ".h", name + "_runtime.c", name + ".o",
                                          "lib" + name + ".a", "lib" + name + ".so"};
  std::error_code error;
  if (!fs::exists(target, error)) {
    fs::rename(folder, target, error);
    if (error)
      throw Error("cannot rename the library into " + target.string() + ": " + error.message());
  } else {
    for (const std::string& file : files) {
      fs::rename(folder / file, target / file, error);
      if (error)
        throw Error("cannot move " + file + " into " + target.string() + ": " + error.message());
    }
  }
  for (const std::string& file : files) result.files.push_back((target / file).string());
  result.forward_arena_bytes = library.entries[0].arena_bytes;
  result.train_arena_bytes = train ? library.entries[1].arena_bytes : 0;
  result.parameter_bytes = library.parameter_bytes;
  return result;
}

}  // namespace rnnc::cpu
