#include "codegen/backend.h"

#include <algorithm>

#include "codegen/interp/interpreter.h"
#ifdef RNNC_HAVE_CPU
#include "codegen/cpu/cpu_backend.h"
#endif
#ifdef RNNC_HAVE_CUDA
#include "codegen/cuda/cuda_backend.h"
#endif
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

std::vector<std::string> available_backends() {
  std::vector<std::string> names = {"interp"};
#ifdef RNNC_HAVE_CPU
  names.push_back("cpu");
#endif
#ifdef RNNC_HAVE_CUDA
  if (cuda::device_usable()) names.push_back("cuda");
#endif
  return names;
}

std::string default_backend() {
  std::vector<std::string> names = available_backends();
  return std::find(names.begin(), names.end(), "cpu") != names.end() ? "cpu" : "interp";
}

std::unique_ptr<Executable> compile(const ir::Graph& graph, const std::string& name,
                                    const CompileOptions& options) {
  if (name == "interp")
    return std::make_unique<GraphInterpreter>(
        ir::parse_graph(ir::print_graph(graph), graph.name()));
#ifdef RNNC_HAVE_CPU
  if (name == "cpu") return cpu::compile(graph, options);
#endif
#ifdef RNNC_HAVE_CUDA
  // Without a driver or device this throws that reason ("no CUDA device", ...).
  if (name == "cuda") return cuda::compile(graph, options);
#endif
  (void)options;
  throw Error("unknown or unavailable backend '" + name +
              "' (available: " + join(available_backends()) + ")");
}

}  // namespace rnnc::codegen
