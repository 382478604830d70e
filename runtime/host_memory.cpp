#include "runtime/host_memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace rnnc {

void* allocate_host_memory(size_t bytes) {
  size_t alignment = bytes >= kHugePageBytes ? kHugePageBytes : kCacheLineBytes;
  // aligned_alloc wants a multiple of the alignment.
  bytes = std::max<size_t>((bytes + alignment - 1) / alignment * alignment, alignment);
  void* memory = std::aligned_alloc(alignment, bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only: a kernel without transparent huge pages refuses it and keeps small pages.
  if (memory && alignment == kHugePageBytes) madvise(memory, bytes, MADV_HUGEPAGE);
#endif
  return memory;
}

void free_host_memory(void* memory) { std::free(memory); }

std::unique_ptr<void, FreeHostMemory> allocate_zeroed(size_t bytes) {
  bytes = std::max<size_t>(bytes, 1);
  std::unique_ptr<void, FreeHostMemory> memory(allocate_host_memory(bytes));
  if (memory) std::memset(memory.get(), 0, bytes);
  return memory;
}

}  // namespace rnnc
