// runtime/host_memory.h: tensors, arenas and pack caches on cache lines, and from 2 MiB on
// on transparent huge pages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include "runtime/host_memory.h"
#include "runtime/tensor.h"
#include "tests/support/huge_pages.h"

namespace rnnc {
namespace {

/// Whether `memory` starts on a multiple of `alignment`.
bool aligned_to(const void* memory, size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(memory) % alignment == 0;
}

/// Expects the block of `bytes` at `memory` to be advised for huge pages (skips where this
/// machine cannot tell).
void expect_advised(const void* memory, size_t bytes) {
  const auto* first = static_cast<const unsigned char*>(memory);
  for (const unsigned char* byte : {first, first + bytes - 1}) {
    std::optional<bool> advised = testhuge::advised_for_huge_pages(byte);
    if (!advised) GTEST_SKIP() << "no transparent huge pages or no /proc/self/smaps here";
    EXPECT_TRUE(*advised);
  }
}

TEST(HostMemory, BlocksOfTwoMebibytesOrMoreAreOnHugePagesAndAllAreZeroed) {
  // The JIT's arenas and pack caches come from allocate_zeroed.
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{4096} + 3, kHugePageBytes - 64, kHugePageBytes,
                       3 * kHugePageBytes + 100}) {
    SCOPED_TRACE(bytes);
    auto memory = allocate_zeroed(bytes);
    ASSERT_NE(memory, nullptr);
    bool huge = bytes >= kHugePageBytes;
    EXPECT_TRUE(aligned_to(memory.get(), huge ? kHugePageBytes : kCacheLineBytes));
    const auto* first = static_cast<const unsigned char*>(memory.get());
    EXPECT_TRUE(std::all_of(first, first + bytes, [](unsigned char b) { return b == 0; }));
    if (huge) expect_advised(memory.get(), bytes);
  }
}

TEST(HostMemory, TensorsStartOnACacheLineAndFromTwoMebibytesOnAreOnHugePages) {
  // Compiled code reads a tensor in place (weights a pack reads column by column, a product's
  // A, its output C): a small one starts on a cache line, a large one on a huge page; a
  // copy too.
  Tensor small(DType::f32, {3, 5});
  EXPECT_TRUE(aligned_to(small.raw(), kCacheLineBytes));
  Tensor large(DType::f32, {1024, 1024});
  EXPECT_EQ(large.get(1024 * 1024 - 1), 0.0);
  Tensor copy = large;
  for (const Tensor* tensor : {&large, &copy}) {
    EXPECT_TRUE(aligned_to(tensor->raw(), kHugePageBytes));
    expect_advised(tensor->raw(), static_cast<size_t>(tensor->num_bytes()));
  }
}

}  // namespace
}  // namespace rnnc
