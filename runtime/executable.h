#pragma once
#include "ir/graph.h"
#include "runtime/tensor.h"

namespace rnnc {

/// A graph made ready to run by some backend (the interpreter, a JIT, a loaded library).
class Executable {
 public:
  virtual ~Executable() = default;
  /// Runs the graph once. `inputs` binds every graph input by name; `state` binds every
  /// parameter (weights and optimizer state) by name and receives the graph's updates.
  /// Returns the graph's outputs by name. Throws rnnc::Error on missing or mistyped
  /// bindings and on bad data (an index out of range).
  virtual Bindings run(const Bindings& inputs, Bindings& state) = 0;
  /// Runs the graph once like run(), leaving the outputs in `outputs`. Backends that can write
  /// into the caller's memory reuse a tensor already there with the output's name and type
  /// (what a loop calling the graph again and again wants: no fresh memory, no page faults
  /// per call); the others, and this default, replace the contents with run()'s result.
  virtual void run_into(const Bindings& inputs, Bindings& state, Bindings& outputs);
  /// Says that parameter values changed in place since the last run, for backends that keep
  /// something made from them between runs (the CPU backend's cached weight packs,
  /// CompileOptions::cache_parameter_packs); the others ignore it.
  virtual void parameters_changed() {}
};

/// Checks that `inputs` and `state` bind every input and parameter of `graph` with its
/// declared type; throws rnnc::Error naming the first one that does not.
void check_bindings(const ir::Graph& graph, const Bindings& inputs, const Bindings& state);

}  // namespace rnnc
