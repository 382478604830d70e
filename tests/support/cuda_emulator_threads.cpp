// The CUDA emulator's threads: barriers, and kernels run by concurrent emulated threads.
#ifdef RNNC_HAVE_CUDA
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "ir/error.h"
#include "tests/support/cuda_emulator_internal.h"

namespace rnnc::cuda_emulation {

HostMemory::HostMemory(int64_t bytes) {
  const int64_t page = sysconf(_SC_PAGESIZE);
  const int64_t rounded = (std::max<int64_t>(bytes, 1) + 63) / 64 * 64;
  mapped_ = (rounded + page - 1) / page * page + page;
  base_ = static_cast<unsigned char*>(
      mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (base_ == MAP_FAILED) throw Error("the CUDA emulator cannot map memory");
  mprotect(base_ + mapped_ - page, page, PROT_NONE);
  data_ = base_ + mapped_ - page - rounded;
}

HostMemory::~HostMemory() {
  if (base_) munmap(base_, mapped_);
}

namespace {

class Barrier {
 public:
  Barrier(int64_t count, double timeout_s) : count_(count), timeout_s_(timeout_s) {}

  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!broken_.empty()) throw Error(broken_);
    if (departed_ > 0) fail("a barrier is awaited by some threads but not all (a thread finished)");
    const int64_t generation = generation_;
    if (++waiting_ == count_) {
      waiting_ = 0;
      ++generation_;
      changed_.notify_all();
      return;
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
    while (generation_ == generation && broken_.empty())
      if (changed_.wait_until(lock, deadline) == std::cv_status::timeout &&
          generation_ == generation && broken_.empty())
        fail("a barrier timed out: not every thread reached it");
    if (generation_ == generation) throw Error(broken_);
  }

  /// A thread finished its kernel.
  void leave() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++departed_;
    if (waiting_ > 0 && broken_.empty()) {
      broken_ = "a barrier is awaited by some threads but not all (a thread finished)";
      changed_.notify_all();
    }
  }

 private:
  [[noreturn]] void fail(const std::string& message) {
    broken_ = message;
    changed_.notify_all();
    throw Error(broken_);
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  const int64_t count_;
  const double timeout_s_;
  int64_t waiting_ = 0, generation_ = 0, departed_ = 0;
  std::string broken_;
};

/// The barriers one emulated thread takes part in (null: a barrier here is an error).
struct ThreadBarriers {
  Barrier* block = nullptr;
  Barrier* grid = nullptr;
  Barrier* warp = nullptr;
};

void barrier_callback(const RnncEmuThread* thread, int kind) {
  auto* barriers = static_cast<ThreadBarriers*>(thread->context);
  Barrier* barrier = kind == 0 ? barriers->block : kind == 1 ? barriers->grid : barriers->warp;
  if (!barrier)
    throw Error(kind == 1 ? "rnnc_grid_sync() in a kernel that is not a cooperative launch"
                          : "a barrier in a kernel run without concurrent threads");
  barrier->arrive_and_wait();
}

}  // namespace

/// Runs `kernel` over `blocks` x `threads`, all threads at once (one std::thread each), each
/// block with `shared_bytes` of shared memory; returns the first failure's message ("" if
/// none).
std::string run_concurrently(const KernelEntry& kernel, int64_t blocks, int64_t threads,
                             int64_t shared_bytes, const void* args, bool grid_barrier,
                             double timeout_s) {
  const int64_t warps = (threads + 31) / 32;
  Barrier grid(blocks * threads, timeout_s);
  std::vector<std::unique_ptr<Barrier>> block_barriers, warp_barriers;
  std::vector<HostMemory> shared, slots;
  for (int64_t b = 0; b < blocks; ++b) {
    block_barriers.push_back(std::make_unique<Barrier>(threads, timeout_s));
    shared.emplace_back(shared_bytes);
    std::memset(shared.back().get(), 0xff, static_cast<size_t>(shared_bytes));  // NaN floats
    for (int64_t w = 0; w < warps; ++w) {
      warp_barriers.push_back(
          std::make_unique<Barrier>(std::min<int64_t>(32, threads - w * 32), timeout_s));
      slots.emplace_back(32 * 8);
    }
  }
  const size_t total = static_cast<size_t>(blocks * threads);
  std::vector<RnncEmuThread> states(total);
  std::vector<ThreadBarriers> barriers(total);
  std::vector<std::string> failures(total);
  std::vector<std::thread> workers;
  workers.reserve(total);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t t = 0; t < threads; ++t) {
      const size_t n = static_cast<size_t>(b * threads + t);
      const size_t warp = static_cast<size_t>(b * warps + t / 32);
      barriers[n] = {block_barriers[b].get(), grid_barrier ? &grid : nullptr,
                     warp_barriers[warp].get()};
      states[n] = {{static_cast<unsigned>(t), 0, 0},
                   {static_cast<unsigned>(b), 0, 0},
                   {static_cast<unsigned>(threads), 1, 1},
                   {static_cast<unsigned>(blocks), 1, 1},
                   shared[b].get(),
                   slots[warp].get(),
                   &barrier_callback,
                   &barriers[n]};
      workers.emplace_back([&, n] {
        try {
          kernel.call(&states[n], args);
        } catch (const std::exception& error) {
          failures[n] = error.what();
        }
        if (barriers[n].grid) barriers[n].grid->leave();
        barriers[n].block->leave();
        barriers[n].warp->leave();
      });
    }
  for (std::thread& worker : workers) worker.join();
  for (const std::string& failure : failures)
    if (!failure.empty()) return failure;
  return "";
}

std::string run_serially(const KernelEntry& kernel, int64_t blocks, int64_t threads,
                         const void* args, bool reverse) {
  ThreadBarriers none;
  for (int64_t n = 0; n < blocks * threads; ++n) {
    const int64_t global = reverse ? blocks * threads - 1 - n : n;
    const int64_t b = global / threads, t = global % threads;
    RnncEmuThread state = {{static_cast<unsigned>(t), 0, 0},
                           {static_cast<unsigned>(b), 0, 0},
                           {static_cast<unsigned>(threads), 1, 1},
                           {static_cast<unsigned>(blocks), 1, 1},
                           nullptr,
                           nullptr,
                           &barrier_callback,
                           &none};
    try {
      kernel.call(&state, args);
    } catch (const std::exception& error) {
      return error.what();
    }
  }
  return "";
}

}  // namespace rnnc::cuda_emulation
#endif
