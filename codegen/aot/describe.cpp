// The description of an ahead-of-time library's C API (codegen/aot/library.h): the
// parameter table, the initial values, each entry point's arguments and externals.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "codegen/aot/library.h"
#include "codegen/interp/constant_evaluator.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"
#include "passes/plan_memory.h"
#include "runtime/initializers.h"

namespace rnnc::aot {
namespace {

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
    for (int k = 2; taken.count(upper(candidate)); ++k) candidate = base + "_" + std::to_string(k);
    taken.insert(upper(candidate));
    tensor->c_name = candidate;
  }
}

/// `graph`'s Parameter values, by name.
std::map<std::string, const ir::Node*> parameters_of(const ir::Graph& graph) {
  std::map<std::string, const ir::Node*> parameters;
  for (const ir::Node* node : graph.nodes_of(ir::OpKind::Parameter))
    parameters[node->result()->name()] = node;
  return parameters;
}

}  // namespace

bool is_valid_library_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  if (!std::isalpha(static_cast<unsigned char>(name[0])) && name[0] != '_') return false;
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '_') return false;
  return !reserved_words().count(name);
}

void check_library_name(const std::string& name) {
  if (!is_valid_library_name(name))
    throw Error("invalid library name '" + name +
                "': it starts every C identifier of the library, so it must match "
                "[A-Za-z_][A-Za-z0-9_]*, be at most 64 characters and not a C keyword");
}

std::string source_description(const std::string& description, const ir::Graph& forward) {
  std::string source = description.empty() ? "@" + forward.name() : description;
  for (size_t at; (at = source.find("*/")) != std::string::npos;) source.replace(at, 2, "* /");
  return source;
}

/// A copy of `graph` optimized by the pipeline of `level`.
std::unique_ptr<ir::Graph> optimized_copy(const ir::Graph& graph, const std::string& level) {
  auto copy = ir::parse_graph(ir::print_graph(graph), graph.name());
  passes::PassManager manager(interp::pass_context_with_kernels());
  manager.add_pipeline(passes::default_pipeline(level));
  manager.run(*copy);
  return copy;
}

PlannedPrograms plan_programs(const ir::Graph& forward, const ir::Graph* train,
                              const std::string& level) {
  PlannedPrograms planned;
  for (const ir::Graph* graph : {&forward, train}) {
    if (!graph) continue;
    planned.graphs.push_back(optimized_copy(*graph, level));
    planned.programs.push_back(passes::plan_memory(*planned.graphs.back()));
  }
  return planned;
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

}  // namespace rnnc::aot
