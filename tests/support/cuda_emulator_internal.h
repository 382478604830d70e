#pragma once
// Internals of the CUDA emulator shared by its files: the host's view of the structs the
// emulation header defines in the compiled library (same layout), and a compiled source.
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "tests/support/cuda_emulator.h"

namespace rnnc::cuda_emulation {

/// A block, grid or thread index (CUDA's dim3).
struct RnncEmuDim {
  unsigned x, y, z;
};

/// One emulated thread as the library sees it (the emulation header's RnncEmuThread).
struct RnncEmuThread {
  RnncEmuDim thread_index, block_index, block_dim, grid_dim;
  unsigned char* shared;      ///< the block's dynamic shared memory
  unsigned char* warp_slots;  ///< 32 slots of 8 bytes for the warp's shuffles
  /// The host's barrier: kind 0 block, 1 grid, 2 warp.
  void (*barrier)(const RnncEmuThread* thread, int kind);
  void* context;  ///< the host's per-thread data (the barriers)
};

/// A kernel as the library's table lists it.
struct RnncEmuKernel {
  const char* name;
  void (*call)(const RnncEmuThread* thread, const void* args);
};

/// One kernel of a compiled source.
struct KernelEntry {
  void (*call)(const RnncEmuThread* thread, const void* args) = nullptr;
  /// Whether its text uses a barrier or a warp primitive (its threads must run concurrently).
  bool synchronizes = false;
};

/// A rendered source compiled for the host.
class CompiledEmulation {
 public:
  std::map<std::string, KernelEntry> kernels;  ///< by name
  int64_t args_size = 0;                       ///< sizeof(RnncArgs) in the library
};

/// Host memory standing for one device allocation: 64-byte aligned, its end against an
/// inaccessible page so that reading or writing past it faults.
class HostMemory {
 public:
  HostMemory() = default;
  /// Maps `bytes` (at least 1).
  explicit HostMemory(int64_t bytes);
  HostMemory(const HostMemory&) = delete;
  HostMemory& operator=(const HostMemory&) = delete;
  HostMemory(HostMemory&& other) noexcept { swap(other); }
  HostMemory& operator=(HostMemory&& other) noexcept {
    swap(other);
    return *this;
  }
  ~HostMemory();
  /// The first byte.
  unsigned char* get() const { return data_; }

 private:
  void swap(HostMemory& other) {
    std::swap(base_, other.base_);
    std::swap(data_, other.data_);
    std::swap(mapped_, other.mapped_);
  }
  unsigned char* base_ = nullptr;
  unsigned char* data_ = nullptr;
  int64_t mapped_ = 0;
};

/// Runs `kernel` over `blocks` x `threads` with all threads at once (one std::thread each),
/// each block with `shared_bytes` of shared memory (filled with 0xff bytes: NaN floats) and
/// each warp with its shuffle slots; barriers of the block, the warp and (if `grid_barrier`)
/// the grid work, and fail when not every thread reaches them within `timeout_s`. Returns the
/// first failure's message ("" if none).
std::string run_concurrently(const KernelEntry& kernel, int64_t blocks, int64_t threads,
                             int64_t shared_bytes, const void* args, bool grid_barrier,
                             double timeout_s);

/// Runs `kernel` over `blocks` x `threads`, one thread after another (from the last when
/// `reverse`); a barrier fails the run. Returns the failure's message ("" if none).
std::string run_serially(const KernelEntry& kernel, int64_t blocks, int64_t threads,
                         const void* args, bool reverse);

}  // namespace rnnc::cuda_emulation
