#pragma once
#include <memory>

#include "ir/graph.h"
#include "runtime/executable.h"

namespace rnnc::interp {

/// The reference interpreter: runs any graph node by node with plain loops. Every op computes
/// in double precision and rounds its result to the value's dtype, so an f32 graph gives
/// correctly rounded per-op results and an f64 graph is as exact as double allows. It is the
/// oracle every backend and pass is compared with; it is slow on purpose.
class Interpreter : public Executable {
 public:
  /// Keeps a reference to `graph`, which must outlive the interpreter.
  explicit Interpreter(const ir::Graph& graph) : graph_(graph) {}
  Bindings run(const Bindings& inputs, Bindings& state) override;

 private:
  const ir::Graph& graph_;
};

/// Runs `graph` once with the interpreter (see Executable::run).
Bindings run_graph(const ir::Graph& graph, const Bindings& inputs, Bindings& state);

}  // namespace rnnc::interp
