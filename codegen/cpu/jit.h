#pragma once
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <cstdint>
#include <memory>
#include <string>

namespace llvm::orc {
class LLJIT;
}

/// Target machines, LLVM's optimization pipeline and the ORC JIT for the CPU backend.
namespace rnnc::cpu {

/// A TargetMachine for the host's triple and `cpu` ("znver4", "skylake-avx512", ...; empty
/// means the host CPU with exactly the features it has). Throws rnnc::Error for a CPU name
/// LLVM does not know, naming it.
std::unique_ptr<llvm::TargetMachine> make_target_machine(const std::string& cpu);

/// Runs LLVM's default O3 pipeline (loop and SLP vectorization included) on `module`, with
/// `machine`'s cost model.
void optimize_module(llvm::Module& module, llvm::TargetMachine& machine);

/// The signature of a rendered program's entry function (see program_renderer.h).
using ProgramEntry = int32_t (*)(void* const* externals, void* arena, void* packs);

/// A module compiled to machine code in this process by ORC's LLJIT. Only libm, the C
/// library and cblas_sgemm / cblas_dgemm (OpenBLAS) are resolvable from it.
class JitCode {
 public:
  /// Compiles `module` (already optimized) for `cpu` (as make_target_machine) and looks up
  /// `symbol`. Throws rnnc::Error when LLVM fails.
  JitCode(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context,
          const std::string& cpu, const std::string& symbol);
  ~JitCode();
  JitCode(const JitCode&) = delete;
  JitCode& operator=(const JitCode&) = delete;

  /// The compiled entry function (valid while this object lives).
  ProgramEntry entry() const { return entry_; }

 private:
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  ProgramEntry entry_ = nullptr;
};

}  // namespace rnnc::cpu
