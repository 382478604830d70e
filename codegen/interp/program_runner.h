#pragma once
#include <vector>

#include "ir/program.h"
#include "runtime/executable.h"

namespace rnnc::interp {

/// Runs a scheduled program (ir/program.h) for real: one arena of Program::arena_bytes, the
/// caller's tensors as the external buffers, constants materialized, and every step reading
/// and writing bytes at its planned address with the interpreter's kernels. Because buffers
/// live at their planned arena offsets, a wrong plan (live buffers sharing bytes, a missing
/// copy) gives wrong numbers: comparing with the graph interpreter checks the plan.
class ProgramInterpreter : public Executable {
 public:
  /// Keeps `program`; its graph must outlive the interpreter.
  explicit ProgramInterpreter(ir::Program program);
  /// See Executable::run. `state` changes only when the whole step succeeds.
  Bindings run(const Bindings& inputs, Bindings& state) override;
  const ir::Program& program() const { return program_; }

 private:
  ir::Program program_;
  /// Per buffer, the bytes of a constant buffer (empty for the others).
  std::vector<std::vector<unsigned char>> constants_;
};

}  // namespace rnnc::interp
