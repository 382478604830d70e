#include "codegen/cpu/jit.h"

#include <cblas.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>

#include <cmath>
#include <cstring>
#include <mutex>

#include "codegen/cpu/perf_map.h"
#include "codegen/cpu/runtime/rnnc_parallel.h"
#include "ir/error.h"

namespace rnnc::cpu {
namespace {

// The rendered code passes CBLAS dimensions as 32-bit ints.
static_assert(sizeof(blasint) == 4, "rnnc expects OpenBLAS with 32-bit integers");

void initialize_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

std::string message_of(llvm::Error error) { return llvm::toString(std::move(error)); }

/// The JIT's target description: the host (with its features) or a named CPU.
llvm::orc::JITTargetMachineBuilder target_builder(const std::string& cpu) {
  initialize_llvm();
  if (cpu.empty()) {
    auto host = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!host) throw Error("cannot describe the host CPU to LLVM: " + message_of(host.takeError()));
    host->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
    return std::move(*host);
  }
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string problem;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple.str(), problem);
  if (!target) throw Error("LLVM has no target for " + triple.str() + ": " + problem);
  std::unique_ptr<llvm::MCSubtargetInfo> info(target->createMCSubtargetInfo(triple.str(), "", ""));
  if (!info || !info->isCPUStringValid(cpu))
    throw Error("unknown target CPU '" + cpu + "' for " + triple.str() +
                " (an LLVM CPU name such as 'x86-64-v3', 'skylake-avx512' or 'znver4')");
  llvm::orc::JITTargetMachineBuilder builder(triple);
  builder.setCPU(cpu);
  builder.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  return builder;
}

/// What the rendered code may call, resolved to this process's definitions.
llvm::orc::SymbolMap runtime_symbols(llvm::orc::LLJIT& jit) {
  llvm::orc::SymbolMap symbols;
  auto add = [&](const char* name, auto* address) {
    symbols[jit.mangleAndIntern(name)] = {
        llvm::orc::ExecutorAddr::fromPtr(reinterpret_cast<void*>(address)),
        llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
  };
  add("cblas_sgemm", &cblas_sgemm);
  add("cblas_dgemm", &cblas_dgemm);
  add("rnnc_run_parallel", &rnnc_run_parallel);
  add("exp", static_cast<double (*)(double)>(&::exp));
  add("log", static_cast<double (*)(double)>(&::log));
  add("tanh", static_cast<double (*)(double)>(&::tanh));
  add("pow", static_cast<double (*)(double, double)>(&::pow));
  add("expf", static_cast<float (*)(float)>(&::expf));
  add("logf", static_cast<float (*)(float)>(&::logf));
  add("powf", static_cast<float (*)(float, float)>(&::powf));
  add("memcpy", &::memcpy);
  add("memmove", &::memmove);
  add("memset", &::memset);
  return symbols;
}

}  // namespace

std::unique_ptr<llvm::TargetMachine> make_target_machine(const std::string& cpu) {
  auto machine = target_builder(cpu).createTargetMachine();
  if (!machine)
    throw Error("cannot create an LLVM target machine: " + message_of(machine.takeError()));
  return std::move(*machine);
}

void optimize_module(llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager sccs;
  llvm::ModuleAnalysisManager modules;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  tuning.LoopUnrolling = false;
  llvm::PassBuilder builder(&machine, tuning);
  builder.registerModuleAnalyses(modules);
  builder.registerCGSCCAnalyses(sccs);
  builder.registerFunctionAnalyses(functions);
  builder.registerLoopAnalyses(loops);
  builder.crossRegisterProxies(loops, functions, sccs, modules);
  llvm::ModulePassManager pipeline =
      builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  pipeline.run(module, modules);
}

JitCode::JitCode(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context,
                 const std::string& cpu, const std::string& symbol) {
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(target_builder(cpu)).create();
  if (!jit) throw Error("cannot start LLVM's JIT: " + message_of(jit.takeError()));
  jit_ = std::move(*jit);
  name_functions_for_perf(*jit_);
  if (llvm::Error error =
          jit_->getMainJITDylib().define(llvm::orc::absoluteSymbols(runtime_symbols(*jit_))))
    throw Error("cannot define the JIT's runtime symbols: " + message_of(std::move(error)));
  if (llvm::Error error =
          jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(context))))
    throw Error("cannot add the program to LLVM's JIT: " + message_of(std::move(error)));
  auto address = jit_->lookup(symbol);
  if (!address) throw Error("cannot compile the program: " + message_of(address.takeError()));
  entry_ = address->toPtr<ProgramEntry>();
}

JitCode::~JitCode() = default;

}  // namespace rnnc::cpu
