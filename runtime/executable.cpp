#include "runtime/executable.h"

#include "ir/error.h"

namespace rnnc {
namespace {

void check_one(const ir::Value& value, const Bindings& bindings, const char* what) {
  auto it = bindings.find(value.name());
  if (it == bindings.end())
    throw Error(std::string("missing ") + what + " '" + value.name() + "' (" +
                value.type().to_string() + ")");
  if (it->second.type() != value.type())
    throw Error(std::string(what) + " '" + value.name() + "' is " + it->second.type().to_string() +
                " but the graph declares " + value.type().to_string());
}

}  // namespace

void check_bindings(const ir::Graph& graph, const Bindings& inputs, const Bindings& state) {
  for (const auto& node : graph.nodes()) {
    if (node->kind() == ir::OpKind::Input) check_one(*node->result(), inputs, "input");
    if (node->kind() == ir::OpKind::Parameter) check_one(*node->result(), state, "parameter");
  }
}

void Executable::run_into(const Bindings& inputs, Bindings& state, Bindings& outputs) {
  outputs = run(inputs, state);
}

}  // namespace rnnc
