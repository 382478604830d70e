// The emulation header put before rendered CUDA C when the emulator compiles it for the host
// (see the contract in cuda_emulator.h).
#ifdef RNNC_HAVE_CUDA
#include <string>

#include "tests/support/cuda_emulator.h"

namespace rnnc::cuda_emulation {

const std::string& emulation_header() {
  static const std::string header =
      R"EMU(// CUDA emulation on the host (tests/support/cuda_emulator.h).
#define RNNC_CUDA_EMULATION 1
#include <math.h>
#include <stdio.h>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

struct RnncEmuDim { unsigned x, y, z; };
/// One emulated thread: its indices, its block's shared memory and warp exchange slots, and
/// the host's barrier (kind 0: block, 1: grid, 2: warp).
struct RnncEmuThread {
  RnncEmuDim thread_index, block_index, block_dim, grid_dim;
  unsigned char* shared;
  unsigned char* warp_slots;
  void (*barrier)(const RnncEmuThread* thread, int kind);
  void* context;
};
/// A kernel of the library: its name and a call running it as the given thread.
struct RnncEmuKernel {
  const char* name;
  void (*call)(const RnncEmuThread* thread, const void* args);
};
static thread_local const RnncEmuThread* rnnc_emu_thread = nullptr;

#define threadIdx (rnnc_emu_thread->thread_index)
#define blockIdx (rnnc_emu_thread->block_index)
#define blockDim (rnnc_emu_thread->block_dim)
#define gridDim (rnnc_emu_thread->grid_dim)
#define warpSize 32
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ RNNC_EMULATION_ALLOWS_ONLY_EXTERN_SHARED_rnnc_shared

static inline unsigned char* rnnc_emu_shared() { return rnnc_emu_thread->shared; }
static inline void __syncthreads() { rnnc_emu_thread->barrier(rnnc_emu_thread, 0); }
static inline void rnnc_grid_sync() { rnnc_emu_thread->barrier(rnnc_emu_thread, 1); }
static inline void __syncwarp(unsigned = 0xffffffffu) {
  rnnc_emu_thread->barrier(rnnc_emu_thread, 2);
}
static inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
static inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// Warp shuffles: every lane writes its value, the warp meets, each reads its source lane.
template <typename T>
static inline T rnnc_emu_shuffle(T value, int source, bool valid) {
  const unsigned lane = threadIdx.x % 32u;
  T* slots = reinterpret_cast<T*>(rnnc_emu_thread->warp_slots);
  slots[lane] = value;
  __syncwarp();
  T result = valid ? slots[source] : value;
  __syncwarp();
  return result;
}
template <typename T>
static inline T __shfl_sync(unsigned, T value, int source, int width = 32) {
  const int lane = (int)(threadIdx.x % 32u);
  return rnnc_emu_shuffle(value, (lane & ~(width - 1)) + (source & (width - 1)), true);
}
template <typename T>
static inline T __shfl_xor_sync(unsigned, T value, int mask, int width = 32) {
  const int lane = (int)(threadIdx.x % 32u);
  const int source = lane ^ mask;
  return rnnc_emu_shuffle(value, source, (source & ~(width - 1)) == (lane & ~(width - 1)));
}
template <typename T>
static inline T __shfl_down_sync(unsigned, T value, unsigned delta, int width = 32) {
  const int lane = (int)(threadIdx.x % 32u);
  const int source = lane + (int)delta;
  return rnnc_emu_shuffle(value, source, (source & ~(width - 1)) == (lane & ~(width - 1)));
}
template <typename T>
static inline T __shfl_up_sync(unsigned, T value, unsigned delta, int width = 32) {
  const int lane = (int)(threadIdx.x % 32u);
  const int source = lane - (int)delta;
  return rnnc_emu_shuffle(value, source, source >= (lane & ~(width - 1)));
}

// Atomics (return the old value, as CUDA's do).
template <typename T>
static inline T rnnc_emu_atomic_add(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value);
}
static inline int atomicAdd(int* a, int v) { return rnnc_emu_atomic_add(a, v); }
static inline unsigned atomicAdd(unsigned* a, unsigned v) { return rnnc_emu_atomic_add(a, v); }
static inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
  return rnnc_emu_atomic_add(a, v);
}
static inline float atomicAdd(float* a, float v) { return rnnc_emu_atomic_add(a, v); }
static inline double atomicAdd(double* a, double v) { return rnnc_emu_atomic_add(a, v); }
template <typename T>
static inline T rnnc_emu_atomic_cas(T* address, T compare, T value) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, value);
  return compare;
}
static inline int atomicCAS(int* a, int c, int v) { return rnnc_emu_atomic_cas(a, c, v); }
static inline unsigned atomicCAS(unsigned* a, unsigned c, unsigned v) {
  return rnnc_emu_atomic_cas(a, c, v);
}
static inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long c,
                                           unsigned long long v) {
  return rnnc_emu_atomic_cas(a, c, v);
}
template <typename T>
static inline T atomicExch(T* a, T v) { return std::atomic_ref<T>(*a).exchange(v); }
static inline int atomicMax(int* a, int v) {
  std::atomic_ref<int> ref(*a);
  int old = ref.load();
  while (old < v && !ref.compare_exchange_weak(old, v)) {}
  return old;
}
static inline int atomicMin(int* a, int v) {
  std::atomic_ref<int> ref(*a);
  int old = ref.load();
  while (old > v && !ref.compare_exchange_weak(old, v)) {}
  return old;
}

// Bit casts and the device math library's extras.
static inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
static inline int __float_as_int(float v) { int i; std::memcpy(&i, &v, 4); return i; }
static inline double __longlong_as_double(long long v) {
  double d; std::memcpy(&d, &v, 8); return d;
}
static inline long long __double_as_longlong(double v) {
  long long i; std::memcpy(&i, &v, 8); return i;
}
// glibc declares __expf and friends itself: the fast intrinsics are macros here.
#define __expf expf
#define __logf logf
#define __tanhf tanhf
#define __powf powf
#define __sinf sinf
#define __cosf cosf
static inline float __fdividef(float x, float y) { return x / y; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a < b ? b : a; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a < b ? b : a; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a < b ? b : a; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }
template <typename T>
static inline T __ldg(const T* p) { return *p; }
)EMU";
  return header;
}

}  // namespace rnnc::cuda_emulation
#endif
