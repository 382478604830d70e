#include "codegen/backend.h"

#include "codegen/interp/interpreter.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/printer.h"

namespace rnnc::codegen {
namespace {

/// The interpreter over its own copy of a graph.
class GraphInterpreter : public Executable {
 public:
  explicit GraphInterpreter(std::unique_ptr<ir::Graph> graph)
      : graph_(std::move(graph)), interpreter_(*graph_) {}
  Bindings run(const Bindings& inputs, Bindings& state) override {
    return interpreter_.run(inputs, state);
  }

 private:
  std::unique_ptr<ir::Graph> graph_;
  interp::Interpreter interpreter_;
};

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

}  // namespace

std::vector<std::string> available_backends() { return {"interp"}; }

std::unique_ptr<Executable> compile(const ir::Graph& graph, const std::string& name,
                                    const CompileOptions& /*options*/) {
  if (name == "interp")
    return std::make_unique<GraphInterpreter>(ir::parse_graph(ir::print_graph(graph), graph.name()));
  throw Error("unknown or unavailable backend '" + name + "' (available: " +
              join(available_backends()) + ")");
}

}  // namespace rnnc::codegen
