// Memory the CPU executables run in: their arenas and pack caches.
#pragma once

#include <cstddef>
#include <memory>

namespace rnnc::cpu {

/// Blocks of this many bytes or more start on a multiple of it and are advised for Linux's
/// transparent huge pages (madvise MADV_HUGEPAGE; the kernels Debian ships give huge pages
/// only to advised memory). A large step streams 12-16 MiB of packed weights from L3: in 4 KiB
/// pages that is 3-4 thousand pages a step, beyond the second-level TLB. The ahead-of-time
/// runtime (aot_runtime.cpp) allocates the same way.
inline constexpr size_t kHugePageBytes = size_t{2} << 20;

/// Frees what allocate_zeroed returned.
struct FreeHostMemory {
  void operator()(void* memory) const;
};

/// `bytes` (at least one) of zeroed memory aligned to ir::Program::kAlignment, and from
/// kHugePageBytes on to kHugePageBytes and advised for huge pages; null when out of memory.
/// Touching every page now spares the runs first-touch page faults.
std::unique_ptr<void, FreeHostMemory> allocate_zeroed(size_t bytes);

}  // namespace rnnc::cpu
