#include "codegen/cpu/host_memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "ir/program.h"

namespace rnnc::cpu {

void FreeHostMemory::operator()(void* memory) const { std::free(memory); }

std::unique_ptr<void, FreeHostMemory> allocate_zeroed(size_t bytes) {
  size_t alignment = bytes >= kHugePageBytes ? kHugePageBytes : size_t{ir::Program::kAlignment};
  bytes = std::max<size_t>((bytes + alignment - 1) / alignment * alignment, alignment);
  std::unique_ptr<void, FreeHostMemory> memory(std::aligned_alloc(alignment, bytes));
  if (!memory) return memory;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only: a kernel without transparent huge pages refuses it and keeps small pages.
  if (alignment == kHugePageBytes) madvise(memory.get(), bytes, MADV_HUGEPAGE);
#endif
  std::memset(memory.get(), 0, bytes);
  return memory;
}

}  // namespace rnnc::cpu
