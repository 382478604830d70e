#include "codegen/cpu/emitter.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/MDBuilder.h>

#include <cassert>
#include <cmath>

namespace rnnc::cpu {

ModuleContext::ModuleContext(llvm::Module& module, const ir::Program& program)
    : module_(module), program_(program) {}

llvm::Type* ModuleContext::element_type(ir::DType dtype) const {
  switch (dtype) {
    case ir::DType::f32:
      return llvm::Type::getFloatTy(context());
    case ir::DType::f64:
      return llvm::Type::getDoubleTy(context());
    case ir::DType::i32:
      return llvm::Type::getInt32Ty(context());
  }
  assert(false && "unknown dtype");
  return nullptr;
}

llvm::GlobalVariable* ModuleContext::constant_global(ir::DType dtype,
                                                     const std::vector<double>& values,
                                                     const std::string& name) {
  llvm::Constant* initializer = nullptr;
  bool all_zero = true;
  for (double v : values) all_zero = all_zero && v == 0 && !std::signbit(v);
  llvm::ArrayType* type = llvm::ArrayType::get(element_type(dtype), values.size());
  if (all_zero) {
    initializer = llvm::ConstantAggregateZero::get(type);
  } else {
    switch (dtype) {
      case ir::DType::f32: {
        std::vector<float> floats(values.begin(), values.end());
        initializer = llvm::ConstantDataArray::get(context(), llvm::ArrayRef<float>(floats));
        break;
      }
      case ir::DType::f64:
        initializer = llvm::ConstantDataArray::get(context(), llvm::ArrayRef<double>(values));
        break;
      case ir::DType::i32: {
        std::vector<uint32_t> ints;
        for (double v : values) ints.push_back(static_cast<uint32_t>(static_cast<int32_t>(v)));
        initializer = llvm::ConstantDataArray::get(context(), llvm::ArrayRef<uint32_t>(ints));
        break;
      }
    }
  }
  auto* global = new llvm::GlobalVariable(module_, type, /*isConstant=*/true,
                                          llvm::GlobalValue::PrivateLinkage, initializer, name);
  global->setAlignment(llvm::Align(ir::Program::kAlignment));
  global->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  return global;
}

llvm::GlobalVariable* ModuleContext::buffer_global(ir::BufferId id) {
  auto found = buffer_globals_.find(id);
  if (found != buffer_globals_.end()) return found->second;
  const ir::Buffer& buffer = program_.buffers.at(id);
  assert(buffer.placement == ir::Placement::constant);
  std::vector<double> values = buffer.constant_values;
  int64_t count = buffer.type.num_elements();
  if (values.size() == 1 && count != 1) values.assign(count, values[0]);
  assert(static_cast<int64_t>(values.size()) == count);
  llvm::GlobalVariable* global =
      constant_global(buffer.type.dtype, values, "const." + std::to_string(id));
  buffer_globals_[id] = global;
  return global;
}

int32_t ModuleContext::add_error(std::string message) {
  errors_.push_back(std::move(message));
  return static_cast<int32_t>(errors_.size());
}

namespace {

/// Takes `bytes` from the end of a region of `total` bytes, rounded up to
/// Program::kAlignment; returns where they start.
int64_t reserve_aligned(int64_t& total, int64_t bytes) {
  const int64_t offset = total;
  total +=
      (bytes + ir::Program::kAlignment - 1) / ir::Program::kAlignment * ir::Program::kAlignment;
  return offset;
}

}  // namespace

int64_t ModuleContext::reserve_scratch(int64_t bytes) {
  return reserve_aligned(scratch_bytes_, bytes);
}

void ModuleContext::start_pack_cache(int64_t slots) {
  pack_cache_slots_ = slots;
  pack_cache_bytes_ = 0;
  reserve_pack_cache(slots * static_cast<int64_t>(sizeof(void*)));  // the header
}

int64_t ModuleContext::reserve_pack_cache(int64_t bytes) {
  return reserve_aligned(pack_cache_bytes_, bytes);
}

std::string ModuleContext::function_name(const std::string& hint) {
  return "kernel" + std::to_string(next_function_++) + "_" + hint;
}

FunctionEmitter::FunctionEmitter(ModuleContext& module, llvm::Function* function)
    : module_(module), function_(function), builder_(module.context()) {
  builder_.SetInsertPoint(llvm::BasicBlock::Create(module.context(), "entry", function));
  // A multiply feeding an add may become one fused multiply-add (one rounding instead of
  // two): the polynomials of exp and tanh and the gate math are chains of them.
  llvm::FastMathFlags contract;
  contract.setAllowContract();
  builder_.setFastMathFlags(contract);
}

void FunctionEmitter::for_range(int64_t count, const std::function<void(llvm::Value*)>& body) {
  if (count <= 0) return;
  if (count == 1) return body(index(0));
  llvm::LLVMContext& context = module_.context();
  llvm::BasicBlock* preheader = builder_.GetInsertBlock();
  llvm::BasicBlock* header = llvm::BasicBlock::Create(context, "loop", function_);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(context, "loop.exit", function_);
  builder_.CreateBr(header);
  builder_.SetInsertPoint(header);
  llvm::PHINode* i = builder_.CreatePHI(module_.i64(), 2, "i");
  i->addIncoming(index(0), preheader);
  body(i);
  llvm::Value* next = builder_.CreateAdd(i, index(1), "i.next", /*HasNUW=*/true, /*HasNSW=*/true);
  i->addIncoming(next, builder_.GetInsertBlock());
  builder_.CreateCondBr(builder_.CreateICmpSLT(next, index(count)), header, exit);
  builder_.SetInsertPoint(exit);
}

void FunctionEmitter::for_between(llvm::Value* begin, llvm::Value* end,
                                  const std::function<void(llvm::Value*)>& body) {
  llvm::LLVMContext& context = module_.context();
  llvm::BasicBlock* preheader = builder_.GetInsertBlock();
  llvm::BasicBlock* header = llvm::BasicBlock::Create(context, "range", function_);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(context, "range.exit", function_);
  builder_.CreateCondBr(builder_.CreateICmpSLT(begin, end), header, exit);
  builder_.SetInsertPoint(header);
  llvm::PHINode* i = builder_.CreatePHI(module_.i64(), 2, "i");
  i->addIncoming(begin, preheader);
  body(i);
  llvm::Value* next = builder_.CreateAdd(i, index(1), "i.next", /*HasNUW=*/true, /*HasNSW=*/true);
  i->addIncoming(next, builder_.GetInsertBlock());
  builder_.CreateCondBr(builder_.CreateICmpSLT(next, end), header, exit);
  builder_.SetInsertPoint(exit);
}

void FunctionEmitter::for_shape(const ir::Shape& shape,
                                const std::function<void(const std::vector<llvm::Value*>&)>& body) {
  std::vector<llvm::Value*> indices;
  std::function<void(size_t)> level = [&](size_t d) {
    if (d == shape.size()) return body(indices);
    for_range(shape[d], [&](llvm::Value* i) {
      indices.push_back(i);
      level(d + 1);
      indices.pop_back();
    });
  };
  for (int64_t dim : shape)
    if (dim == 0) return;
  level(0);
}

void FunctionEmitter::if_then(llvm::Value* condition, const std::function<void()>& then) {
  llvm::LLVMContext& context = module_.context();
  llvm::BasicBlock* body = llvm::BasicBlock::Create(context, "then", function_);
  llvm::BasicBlock* done = llvm::BasicBlock::Create(context, "endif", function_);
  builder_.CreateCondBr(condition, body, done);
  builder_.SetInsertPoint(body);
  then();
  builder_.CreateBr(done);
  builder_.SetInsertPoint(done);
}

FunctionEmitter::PartRange FunctionEmitter::part_range(int64_t count, llvm::Value* part,
                                                       llvm::Value* parts) {
  if (!part) return {index(0), index(count), builder_.getTrue()};
  llvm::Value* begin = builder_.CreateSDiv(builder_.CreateMul(part, index(count)), parts);
  llvm::Value* end = builder_.CreateSDiv(
      builder_.CreateMul(builder_.CreateAdd(part, index(1)), index(count)), parts);
  return {begin, end, builder_.CreateICmpEQ(part, builder_.CreateSub(parts, index(1)))};
}

llvm::Value* FunctionEmitter::entry_alloca(llvm::Type* type) {
  llvm::BasicBlock& entry = function_->getEntryBlock();
  llvm::IRBuilder<> at_start(&entry, entry.begin());
  return at_start.CreateAlloca(type);
}

void FunctionEmitter::fail_if(llvm::Value* condition, int32_t code) {
  llvm::LLVMContext& context = module_.context();
  llvm::BasicBlock* fail = llvm::BasicBlock::Create(context, "fail", function_);
  llvm::BasicBlock* ok = llvm::BasicBlock::Create(context, "ok", function_);
  builder_.CreateCondBr(condition, fail, ok);
  builder_.SetInsertPoint(fail);
  builder_.CreateRet(builder_.getInt32(code));
  builder_.SetInsertPoint(ok);
}

void FunctionEmitter::call_checked(llvm::Function* callee,
                                   const std::vector<llvm::Value*>& arguments) {
  return_if_failed(builder_.CreateCall(callee, arguments));
}

void FunctionEmitter::return_if_failed(llvm::Value* code) {
  llvm::LLVMContext& context = module_.context();
  llvm::BasicBlock* fail = llvm::BasicBlock::Create(context, "failed", function_);
  llvm::BasicBlock* ok = llvm::BasicBlock::Create(context, "ok", function_);
  builder_.CreateCondBr(builder_.CreateICmpNE(code, builder_.getInt32(0)), fail, ok,
                        llvm::MDBuilder(context).createBranchWeights(1, 1000));
  builder_.SetInsertPoint(fail);
  builder_.CreateRet(code);
  builder_.SetInsertPoint(ok);
}

llvm::Value* FunctionEmitter::element_address(llvm::Value* pointer, ir::DType dtype,
                                              llvm::Value* elements) {
  return builder_.CreateInBoundsGEP(module_.element_type(dtype), pointer, elements);
}

llvm::Value* FunctionEmitter::byte_address(llvm::Value* pointer, llvm::Value* bytes) {
  return builder_.CreateInBoundsGEP(builder_.getInt8Ty(), pointer, bytes);
}

void FunctionEmitter::copy_bytes(llvm::Value* destination, llvm::Value* source,
                                 llvm::Value* bytes) {
  builder_.CreateMemCpy(destination, llvm::MaybeAlign(4), source, llvm::MaybeAlign(4), bytes);
}

void FunctionEmitter::zero_bytes(llvm::Value* destination, llvm::Value* bytes) {
  builder_.CreateMemSet(destination, builder_.getInt8(0), bytes, llvm::MaybeAlign(4));
}

void FunctionEmitter::fill(llvm::Value* pointer, ir::DType dtype, int64_t count,
                           llvm::Value* value) {
  for_range(count, [&](llvm::Value* i) {
    builder_.CreateStore(value, element_address(pointer, dtype, i));
  });
}

void FunctionEmitter::finish() { builder_.CreateRet(builder_.getInt32(0)); }

KernelEmitter::KernelEmitter(ModuleContext& module, llvm::Function* function, const ir::Step& step,
                             std::map<ir::BufferId, llvm::Value*> arguments)
    : FunctionEmitter(module, function), step_(step), arguments_(std::move(arguments)) {}

llvm::Value* KernelEmitter::pointer(ir::BufferId id) {
  auto found = arguments_.find(id);
  if (found != arguments_.end()) return found->second;
  const ir::Buffer& buffer = this->buffer(id);
  if (buffer.placement == ir::Placement::constant) return module().buffer_global(id);
  assert(buffer.placement == ir::Placement::view && buffer.step_stride == 0 &&
         "a kernel addresses only its arguments and constants");
  return byte_address(pointer(buffer.base), index(buffer.offset));
}

int32_t KernelEmitter::error(const std::string& what) {
  const ir::Node* node = step_.node;
  std::string where = node ? "node " + ir::describe_node(*node) : "a copy";
  if (node && node->owner() && node->owner()->parent())
    where += " (in the body of scan %" + node->owner()->parent()->result()->name() + ")";
  return module().add_error(where + ": " + what);
}

}  // namespace rnnc::cpu
