// The object file of an ahead-of-time library: every program rendered into its own module,
// the modules linked into one, optimized, and emitted as position-independent machine code.
#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/Linker/Linker.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/raw_ostream.h>

#include <optional>
#include <stdexcept>

#include "codegen/cpu/aot_parts.h"
#include "codegen/cpu/jit.h"
#include "codegen/cpu/program_renderer.h"
#include "ir/error.h"

namespace rnnc::cpu::aot {
namespace {

/// A target machine like make_target_machine(cpu) (same triple, CPU and features; it also
/// checks the CPU name) but generating position-independent code, which a shared library
/// needs.
std::unique_ptr<llvm::TargetMachine> pic_target_machine(const std::string& cpu) {
  std::unique_ptr<llvm::TargetMachine> probe = make_target_machine(cpu);
  const llvm::Target& target = probe->getTarget();
  std::unique_ptr<llvm::TargetMachine> machine(target.createTargetMachine(
      probe->getTargetTriple().str(), probe->getTargetCPU(), probe->getTargetFeatureString(),
      probe->Options, llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine) throw Error("cannot create an LLVM target machine for '" + cpu + "'");
  return machine;
}

}  // namespace

std::string render_parallel_source(const std::string& parallel_symbol) {
  std::string source = parallel_source_text();
  const std::string include = "#include \"rnnc_parallel.h\"\n";
  size_t at = source.find(include);
  if (at == std::string::npos)
    throw std::logic_error("rnnc_parallel.c does not include its header");
  source.replace(at, include.size(), parallel_header_text());
  return "/* The thread pool of the library's parallel products (rnnc's\n"
         " * codegen/cpu/runtime/rnnc_parallel.{h,c}). */\n"
         "#define RNNC_PARALLEL_NAME " +
         parallel_symbol +
         "\n"
         "#define RNNC_PARALLEL_API __attribute__((visibility(\"hidden\")))\n" +
         source;
}

std::string emit_object(const std::vector<ObjectProgram>& programs,
                        const std::string& initial_symbol, const std::string& initial_bytes,
                        const std::string& target_cpu, const RenderOptions& options) {
  std::unique_ptr<llvm::TargetMachine> machine = pic_target_machine(target_cpu);
  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> module;
  for (const ObjectProgram& item : programs) {
    RenderOptions program_options = options;
    program_options.symbol = item.symbol;
    RenderedProgram rendered = render_program(*item.program, context, *machine, program_options);
    item.entry->errors = rendered.errors;
    item.entry->arena_bytes = arena_bytes(*item.program, rendered);
    item.entry->pack_cache_bytes = rendered.pack_cache_bytes;
    item.entry->pack_cache_header_bytes = rendered.pack_cache_header_bytes;
    rendered.module->getFunction(item.symbol)->setVisibility(llvm::GlobalValue::HiddenVisibility);
    if (!module) {
      module = std::move(rendered.module);
      module->setModuleIdentifier(initial_symbol);
    } else if (llvm::Linker::linkModules(*module, std::move(rendered.module))) {
      throw Error("cannot link the rendered programs into one LLVM module");
    }
  }
  if (!module) throw Error("nothing to compile: no program");

  // The parameters' initial values: one constant byte array, aligned as the block it fills.
  llvm::Type* byte = llvm::Type::getInt8Ty(context);
  std::string bytes = initial_bytes.empty() ? std::string(1, '\0') : initial_bytes;
  llvm::Constant* data = llvm::ConstantDataArray::getRaw(bytes, bytes.size(), byte);
  auto* initial =
      new llvm::GlobalVariable(*module, data->getType(), /*isConstant=*/true,
                               llvm::GlobalValue::ExternalLinkage, data, initial_symbol);
  initial->setVisibility(llvm::GlobalValue::HiddenVisibility);
  initial->setAlignment(llvm::Align(ir::Program::kAlignment));

  optimize_module(*module, *machine);

  llvm::SmallVector<char, 0> object;
  llvm::raw_svector_ostream stream(object);
  llvm::legacy::PassManager emitter;
  if (machine->addPassesToEmitFile(emitter, stream, nullptr, llvm::CodeGenFileType::ObjectFile))
    throw Error("LLVM cannot emit an object file for this target");
  emitter.run(*module);
  return std::string(object.begin(), object.end());
}

}  // namespace rnnc::cpu::aot
