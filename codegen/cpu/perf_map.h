// Names for the JIT's machine code in `perf` profiles.
#pragma once

namespace llvm::orc {
class LLJIT;
}

namespace rnnc::cpu {

/// When the environment sets RNNC_PERF_MAP, makes `jit` append "start size name" for every
/// function it links (the program and each kernel, internal ones included) to
/// /tmp/perf-PID.map, where `perf report` looks for the symbols of code that is in no file:
///   RNNC_PERF_MAP=1 perf record rnnc bench MODEL && perf report --sort sym
/// Otherwise does nothing.
void name_functions_for_perf(llvm::orc::LLJIT& jit);

}  // namespace rnnc::cpu
