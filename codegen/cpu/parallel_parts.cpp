// Parallel regions of generated code: the caller stores the pointers a region needs in a
// context array and calls the thread pool (codegen/cpu/runtime/rnnc_parallel.h) with a part
// function, which loads them back and computes its share.
#include "codegen/cpu/emitter.h"

namespace rnnc::cpu {

ParallelRegion emit_parallel_call(FunctionEmitter& caller, const std::string& name,
                                  const std::vector<llvm::Value*>& pointers) {
  ModuleContext& module = caller.module();
  llvm::IRBuilder<>& builder = caller.builder();
  llvm::PointerType* pointer = module.pointer();
  llvm::Type* i64 = module.i64();
  auto* part_type = llvm::FunctionType::get(module.i32(), {pointer, i64, i64}, false);
  ParallelRegion region;
  region.function =
      llvm::Function::Create(part_type, llvm::GlobalValue::InternalLinkage, name, module.module());
  region.function->setDoesNotThrow();
  region.context_type = llvm::ArrayType::get(pointer, std::max<size_t>(pointers.size(), 1));
  llvm::Value* context = caller.entry_alloca(region.context_type);
  for (unsigned slot = 0; slot < pointers.size(); ++slot)
    builder.CreateStore(pointers[slot],
                        builder.CreateConstGEP2_32(region.context_type, context, 0, slot));
  llvm::FunctionCallee run = module.module().getOrInsertFunction(
      module.parallel_symbol(), llvm::FunctionType::get(module.i32(), {pointer, pointer}, false));
  caller.return_if_failed(builder.CreateCall(run, {region.function, context}));
  return region;
}

llvm::Value* ParallelRegion::load_pointer(FunctionEmitter& part, unsigned slot) const {
  llvm::IRBuilder<>& builder = part.builder();
  return builder.CreateLoad(part.module().pointer(),
                            builder.CreateConstGEP2_32(context_type, function->getArg(0), 0, slot));
}

void emit_parallel_parts(
    KernelEmitter& kernel,
    const std::function<void(KernelEmitter& part, llvm::Value* index, llvm::Value* parts)>& body) {
  emit_parallel_parts(kernel, {},
                      [&](KernelEmitter& part, const std::vector<llvm::Value*>&, llvm::Value* index,
                          llvm::Value* parts) { body(part, index, parts); });
}

void emit_parallel_parts(
    KernelEmitter& kernel, const std::vector<llvm::Value*>& shared,
    const std::function<void(KernelEmitter& part, const std::vector<llvm::Value*>& shared,
                             llvm::Value* index, llvm::Value* parts)>& body) {
  std::vector<llvm::Value*> pointers;
  for (const auto& [id, value] : kernel.arguments()) pointers.push_back(value);
  pointers.insert(pointers.end(), shared.begin(), shared.end());
  ParallelRegion region =
      emit_parallel_call(kernel, kernel.function()->getName().str() + ".part", pointers);
  KernelEmitter part(kernel.module(), region.function, kernel.step(), {});
  unsigned slot = 0;
  for (const auto& [id, value] : kernel.arguments())
    part.set_argument(id, region.load_pointer(part, slot++));
  std::vector<llvm::Value*> loaded;
  for (size_t i = 0; i < shared.size(); ++i) loaded.push_back(region.load_pointer(part, slot++));
  body(part, loaded, region.index(), region.parts());
  part.finish();
}

}  // namespace rnnc::cpu
