// Parallel regions of generated kernels: the kernel stores its buffer arguments in a context
// array and calls the thread pool (codegen/cpu/runtime/rnnc_parallel.h) with a part function,
// which loads them back and computes its share of the step.
#include "codegen/cpu/emitter.h"

namespace rnnc::cpu {

void emit_parallel_parts(
    KernelEmitter& kernel,
    const std::function<void(KernelEmitter& part, llvm::Value* index, llvm::Value* parts)>& body) {
  ModuleContext& module = kernel.module();
  llvm::IRBuilder<>& builder = kernel.builder();
  llvm::PointerType* pointer = module.pointer();
  llvm::Type* i64 = module.i64();
  auto* part_type = llvm::FunctionType::get(module.i32(), {pointer, i64, i64}, false);
  llvm::Function* part_function =
      llvm::Function::Create(part_type, llvm::GlobalValue::InternalLinkage,
                             kernel.function()->getName() + ".part", module.module());
  part_function->setDoesNotThrow();

  const std::map<ir::BufferId, llvm::Value*>& arguments = kernel.arguments();
  llvm::ArrayType* context_type =
      llvm::ArrayType::get(pointer, std::max<size_t>(arguments.size(), 1));
  llvm::Value* context = kernel.entry_alloca(context_type);
  unsigned slot = 0;
  for (const auto& [id, value] : arguments)
    builder.CreateStore(value, builder.CreateConstGEP2_32(context_type, context, 0, slot++));
  llvm::FunctionCallee run = module.module().getOrInsertFunction(
      module.parallel_symbol(), llvm::FunctionType::get(module.i32(), {pointer, pointer}, false));
  kernel.return_if_failed(builder.CreateCall(run, {part_function, context}));

  KernelEmitter part(module, part_function, kernel.step(), {});
  llvm::IRBuilder<>& part_builder = part.builder();
  slot = 0;
  for (const auto& [id, value] : arguments)
    part.set_argument(id, part_builder.CreateLoad(
                              pointer, part_builder.CreateConstGEP2_32(
                                           context_type, part_function->getArg(0), 0, slot++)));
  body(part, part_function->getArg(1), part_function->getArg(2));
  part.finish();
}

}  // namespace rnnc::cpu
