// Memory for large arrays that compiled code streams: tensors, the CPU backend's arenas and
// pack caches.
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace rnnc {

/// Blocks of this many bytes or more start on a multiple of it and are advised for Linux's
/// transparent huge pages (madvise MADV_HUGEPAGE; Debian's kernels give huge pages only to
/// advised memory). A large recurrent step streams 12-16 MiB of weights: in 4 KiB pages that
/// is 3-4 thousand pages a step, beyond the second-level TLB, and packing a transposed weight
/// reads each of its rows' pages once per panel. The CPU backend's ahead-of-time runtime
/// (codegen/cpu/aot_runtime.cpp) allocates the same way.
inline constexpr size_t kHugePageBytes = size_t{2} << 20;

/// Smaller blocks start on a cache line (an AVX-512 vector): compiled code reads and writes
/// arrays in place, and a vector across two lines costs two accesses (malloc's large blocks
/// start 16 bytes into a page).
inline constexpr size_t kCacheLineBytes = 64;

/// `bytes` of memory (not zeroed) aligned as above; null when out of memory. Free with
/// free_host_memory.
void* allocate_host_memory(size_t bytes);

/// Frees what allocate_host_memory returned (null is ignored).
void free_host_memory(void* memory);

/// Frees what allocate_zeroed returned.
struct FreeHostMemory {
  void operator()(void* memory) const { free_host_memory(memory); }
};

/// allocate_host_memory(max(bytes, 1)) with every byte zeroed: touching every page now spares
/// the runs that use it first-touch page faults. Null when out of memory.
std::unique_ptr<void, FreeHostMemory> allocate_zeroed(size_t bytes);

/// A standard allocator on allocate_host_memory (Tensor's bytes).
template <class T>
struct HostAllocator {
  using value_type = T;
  HostAllocator() = default;
  template <class U>
  HostAllocator(const HostAllocator<U>&) {}
  T* allocate(size_t n) {
    void* memory = allocate_host_memory(n * sizeof(T));
    if (!memory) throw std::bad_alloc();
    return static_cast<T*>(memory);
  }
  void deallocate(T* memory, size_t) { free_host_memory(memory); }
  template <class U>
  bool operator==(const HostAllocator<U>&) const {
    return true;
  }
};

}  // namespace rnnc
