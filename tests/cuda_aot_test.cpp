// GPU ahead-of-time libraries (`rnnc compile --target cuda`, codegen/cuda/cuda_aot.h) and the
// host runtime they share with the CUDA backend (codegen/cuda/runtime/): every lecture model
// builds (forward and training step) into libraries that export only their API and need
// neither libcuda, cuBLAS, libstdc++ nor rnnc to load; on a machine without a driver a C
// program gets the plain "no CUDA driver" error from NAME_create; the runtime's tables, in
// memory and as the generated C, print back exactly as cuda::print_plan prints the plan; and
// the runtime's own copies of the driver's and cuBLAS's constants equal the CUDA headers'.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#ifdef RNNC_HAVE_CUDA
#include "codegen/aot/library.h"
#include "codegen/cuda/cuda_aot.h"
#include "codegen/cuda/cuda_renderer.h"
#include "codegen/cuda/driver_api.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "codegen/cuda/runtime_tables.h"
#include "ir/parser.h"
#include "passes/plan_memory.h"
#include "tests/support/programs.h"
#include "tests/support/scratch_dir.h"

namespace rnnc {
namespace {

namespace fs = std::filesystem;
using testprog::ProgramRun;
using testprog::run_program;

const std::vector<std::string> kModels = {"char_lstm", "diabetes", "hihell_rnn", "names_gru",
                                          "sst_lstm"};

std::string source_path(const std::string& relative) {
  return std::string(RNNC_SOURCE_DIR) + "/" + relative;
}

/// An empty folder of its own for `name`, removed when the returned object goes away.
testdir::ScratchDir scratch(const std::string& name) {
  return testdir::ScratchDir("cuda_aot_" + name);
}

std::string read_text(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

struct Model {
  std::unique_ptr<ir::Graph> forward, train;
};

Model load(const std::string& stem) {
  return {ir::parse_graph_file(source_path("examples/models/" + stem + ".forward.rnn")),
          ir::parse_graph_file(source_path("examples/models/" + stem + ".train.rnn"))};
}

/// The library of a lecture model, built on first use in this process (each test runs in a
/// process of its own: a test builds only what it needs).
class CudaAot : public ::testing::Test {
 protected:
  static const cuda::CudaAotResult& library(const std::string& stem) {
    static const testdir::ScratchDir models = scratch("models");
    const fs::path& folder = models.path();
    static std::map<std::string, cuda::CudaAotResult> built;
    auto found = built.find(stem);
    if (found != built.end()) return found->second;
    Model model = load(stem);
    cuda::CudaAotOptions options;
    options.name = stem;
    options.source_description = stem;
    return built[stem] = cuda::compile_library(*model.forward, model.train.get(), {},
                                               (folder / stem).string(), options);
  }
  static fs::path folder(const std::string& stem) {
    return fs::path(library(stem).files.at(0)).parent_path();
  }
};

TEST_F(CudaAot, EveryModelBuildsExportsOnlyItsApiAndLoadsNothingOfCuda) {
  for (const std::string& n : kModels) {
    const cuda::CudaAotResult& result = library(n);
    const fs::path dir = folder(n);
    for (const std::string& file : std::vector<std::string>{
             n + ".h", n + ".c", "rnnc_cuda_runtime.c", "rnnc_cuda_replay.c", "rnnc_cuda_runtime.h",
             n + "_forward.cu", n + "_train.cu", "lib" + n + ".a", "lib" + n + ".so"})
      EXPECT_TRUE(fs::exists(dir / file)) << dir / file;
    EXPECT_GT(result.cubin_bytes, 0) << n;
    ASSERT_EQ(result.library.entries.size(), 2u) << n;
    // The header is the CPU library's: same functions, shapes as macros.
    std::string header = read_text(dir / (n + ".h"));
    const std::string N = aot::upper(n);
    for (const std::string& declaration : std::vector<std::string>{
             n + "_context* " + n + "_create(void);", "int " + n + "_train_step(",
             "int " + n + "_last_error(void);", "const char* " + n + "_error_message(int code);",
             "#define " + N + "_HAS_TRAIN_STEP 1", "#define " + N + "_ERROR_NO_DRIVER 8"})
      EXPECT_NE(header.find(declaration), std::string::npos) << n << ": " << declaration;
    // The runtime the library compiles is the one the backend links.
    for (const char* file : {"rnnc_cuda_runtime.c", "rnnc_cuda_replay.c", "rnnc_cuda_runtime.h"})
      EXPECT_EQ(read_text(dir / file), read_text(source_path("codegen/cuda/runtime/") + file))
          << file;
  }
  // The shared library exports only its API and loads nothing of CUDA or rnnc.

  for (const std::string& n : kModels) {
    const std::string so = (folder(n) / ("lib" + n + ".so")).string();
    ProgramRun exports = run_program("nm -D --defined-only " + so);
    ASSERT_EQ(exports.status, 0) << exports.output;
    std::istringstream symbols(exports.output);
    int count = 0;
    for (std::string line; std::getline(symbols, line); ++count) {
      std::string symbol = line.substr(line.rfind(' ') + 1);
      EXPECT_EQ(symbol.rfind(n + "_", 0), 0u) << n << " exports " << symbol;
      EXPECT_EQ(symbol.find("_program"), std::string::npos) << symbol;
    }
    EXPECT_GE(count, 15) << exports.output;
    ProgramRun ldd = run_program("ldd " + so);
    ASSERT_EQ(ldd.status, 0) << ldd.output;
    for (const char* forbidden : {"libcuda", "libcublas", "libstdc++", "rnnc", "LLVM", "nvrtc"})
      EXPECT_EQ(ldd.output.find(forbidden), std::string::npos) << n << ": " << ldd.output;
  }
}

TEST_F(CudaAot, CProgramGetsTheNoDriverErrorFromCreate) {
  std::string why;
  if (cuda::cuda_usable(&why))
    GTEST_SKIP() << "a CUDA driver and device are here: nothing to refuse";
  const std::string n = "hihell_rnn";
  const fs::path dir = folder(n);
  std::ofstream(dir / "use.c") << "#include <stdio.h>\n#include \"" << n << ".h\"\n"
                               << "int main(void) {\n"
                               << "  " << n << "_context* context = " << n << "_create();\n"
                               << "  if (context) return 1;\n"
                               << "  printf(\"%d|%s|%s\\n\", " << n << "_last_error(), " << n
                               << "_error_message(" << n << "_last_error()), " << n
                               << "_last_error_message());\n"
                               << "  return " << n
                               << "_last_error() == HIHELL_RNN_ERROR_NO_DRIVER ? 0 : 2;\n"
                               << "}\n";
  for (const std::string& link : std::vector<std::string>{
           "lib" + n + ".a -ldl -lpthread", "-L. -l" + n + " -Wl,-rpath," + dir.string()}) {
    ProgramRun built =
        run_program("cd " + dir.string() + " && cc -std=c99 -Wall -Wextra -Werror use.c -I. " +
                    link + " -o use && ./use");
    EXPECT_EQ(built.status, 0) << link << "\n" << built.output;
    EXPECT_NE(built.output.find("8|no CUDA driver (libcuda.so.1) or no CUDA device|"),
              std::string::npos)
        << built.output;
    EXPECT_NE(built.output.find(why), std::string::npos) << built.output;
  }
  EXPECT_EQ(why, "no CUDA driver (libcuda.so.1 not found)");
}

/// The program of `graph` as compile_library makes it: optimized, planned, rendered.
struct Rendered {
  std::unique_ptr<ir::Graph> optimized;
  ir::Program program;
  cuda::RenderedCuda rendered;
};

Rendered render(const ir::Graph& graph) {
  Rendered r;
  r.optimized = aot::optimized_copy(graph, "O1");
  r.program = passes::plan_memory(*r.optimized);
  r.rendered = cuda::render_cuda(r.program);
  return r;
}

std::string runtime_print(const rnnc_cuda_program& program) {
  std::string text(rnnc_cuda_print_plan(&program, nullptr, 0) + 1, '\0');
  rnnc_cuda_print_plan(&program, text.data(), text.size());
  text.pop_back();
  return text;
}

TEST_F(CudaAot, RuntimeTablesPrintBackThePlan) {
  // In memory, as the JIT backend builds them.
  for (const std::string& stem : kModels) {
    Model model = load(stem);
    for (const ir::Graph* graph : {model.forward.get(), model.train.get()}) {
      Rendered r = render(*graph);
      cuda::CompiledModule none;
      auto tables = cuda::make_runtime_tables(r.rendered, r.program, none, stem);
      EXPECT_EQ(runtime_print(tables->program), cuda::print_plan(r.rendered, r.program)) << stem;
      EXPECT_EQ(tables->program.num_externals, static_cast<int32_t>(r.program.externals().size()));
    }
  }
  // As the generated C of a library: NAME.c included by a program that prints its tables.
  const std::string n = "hihell_rnn";
  Model model = load(n);
  const fs::path dir = folder(n);
  std::ofstream(dir / "print.c") << "#include \"" << n << ".c\"\n"
                                 << "int main(void) {\n"
                                 << "  static char text[1 << 20];\n"
                                 << "  rnnc_cuda_print_plan(&" << n
                                 << "_forward_program, text, sizeof text);\n"
                                 << "  fputs(text, stdout);\n  puts(\"=====\");\n"
                                 << "  rnnc_cuda_print_plan(&" << n
                                 << "_train_program, text, sizeof text);\n"
                                 << "  fputs(text, stdout);\n  return 0;\n}\n";
  ProgramRun printed = run_program(
      "cd " + dir.string() + " && cc -std=c99 -O0 print.c -o print -ldl -lpthread && ./print");
  ASSERT_EQ(printed.status, 0) << printed.output.substr(0, 4000);
  Rendered forward = render(*model.forward), train = render(*model.train);
  EXPECT_EQ(printed.output, cuda::print_plan(forward.rendered, forward.program) + "=====\n" +
                                cuda::print_plan(train.rendered, train.program));
}

TEST_F(CudaAot, GeneratedSourcesAreCleanC99) {
  const std::string n = "diabetes";
  const fs::path dir = folder(n);
  ProgramRun c99 = run_program(
      "cc -std=c99 -Wall -Wextra -Wpedantic -Werror -Wno-overlength-strings "
      "-fsyntax-only -I " +
      dir.string() + " " + (dir / (n + ".c")).string());
  EXPECT_EQ(c99.status, 0) << c99.output.substr(0, 4000);
  std::ofstream(dir / "use.cpp") << "#include \"" << n << ".h\"\nint main() { return 0; }\n";
  ProgramRun cxx = run_program("c++ -Wall -Wextra -Werror -fsyntax-only -I " + dir.string() + " " +
                               (dir / "use.cpp").string());
  EXPECT_EQ(cxx.status, 0) << cxx.output;
}

TEST(CudaRuntime, ConstantsMatchTheCudaHeaders) {
  const testdir::ScratchDir scratch_dir = scratch("constants");
  const fs::path& dir = scratch_dir.path();
  std::ofstream(dir / "check.c")
      << "#include <cuda.h>\n#include <cublas_api.h>\n"
      << "#define RNNC_RT_API static\n"
      << "#include \"" << source_path("codegen/cuda/runtime/rnnc_cuda_runtime.c") << "\"\n"
      << "#define SAME(a, b) _Static_assert((int)(a) == (int)(b), #a)\n"
      << "SAME(RNNC_CU_SUCCESS, CUDA_SUCCESS);\n"
      << "SAME(RNNC_CU_ERROR_OUT_OF_MEMORY, CUDA_ERROR_OUT_OF_MEMORY);\n"
      << "SAME(RNNC_CU_ERROR_NO_DEVICE, CUDA_ERROR_NO_DEVICE);\n"
      << "SAME(RNNC_CU_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE, "
         "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE);\n"
      << "SAME(RNNC_CU_ERROR_INVALID_IMAGE, CUDA_ERROR_INVALID_IMAGE);\n"
      << "SAME(RNNC_CU_ERROR_NO_BINARY_FOR_GPU, CUDA_ERROR_NO_BINARY_FOR_GPU);\n"
      << "SAME(RNNC_CU_ERROR_INVALID_PTX, CUDA_ERROR_INVALID_PTX);\n"
      << "SAME(RNNC_CU_ERROR_JIT_COMPILER_NOT_FOUND, CUDA_ERROR_JIT_COMPILER_NOT_FOUND);\n"
      << "SAME(RNNC_CU_ERROR_UNSUPPORTED_PTX_VERSION, CUDA_ERROR_UNSUPPORTED_PTX_VERSION);\n"
      << "SAME(RNNC_CU_ERROR_SYSTEM_DRIVER_MISMATCH, CUDA_ERROR_SYSTEM_DRIVER_MISMATCH);\n"
      << "SAME(700, CUDA_ERROR_ILLEGAL_ADDRESS);\nSAME(719, CUDA_ERROR_LAUNCH_FAILED);\n"
      << "SAME(RNNC_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "
         "CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);\n"
      << "SAME(RNNC_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "
         "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);\n"
      << "SAME(RNNC_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "
         "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);\n"
      << "SAME(RNNC_CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, "
         "CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH);\n"
      << "SAME(RNNC_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, "
         "CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);\n"
      << "SAME(RNNC_CU_STREAM_NON_BLOCKING, CU_STREAM_NON_BLOCKING);\n"
      << "SAME(RNNC_CU_STREAM_CAPTURE_MODE_THREAD_LOCAL, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);\n"
      << "SAME(RNNC_CUBLAS_OP_N, CUBLAS_OP_N);\nSAME(RNNC_CUBLAS_OP_T, CUBLAS_OP_T);\n"
      << "SAME(RNNC_CUBLAS_DEFAULT_MATH, CUBLAS_DEFAULT_MATH);\n"
      << "SAME(RNNC_CUBLAS_TF32_TENSOR_OP_MATH, CUBLAS_TF32_TENSOR_OP_MATH);\n"
      << "_Static_assert(sizeof(rnnc_devptr) == sizeof(CUdeviceptr), \"CUdeviceptr\");\n"
      // The symbols the runtime looks up are the ones cuda.h maps its names to.
      << "static const void* mapped[] = {(const void*)&cuDevicePrimaryCtxRelease, "
         "(const void*)&cuMemAlloc, (const void*)&cuMemFree, (const void*)&cuStreamDestroy, "
         "(const void*)&cuStreamBeginCapture, (const void*)&cuGraphInstantiate};\n"
      << "int main(void) { return mapped[0] != 0 ? 0 : 1; }\n";
  std::string includes;
  for (const std::string& include : {std::string(RNNC_CUDA_INCLUDE_DIRS)}) {
    std::stringstream list(include);
    for (std::string dir_entry; std::getline(list, dir_entry, '|');) includes += " -I" + dir_entry;
  }
  ProgramRun compiled =
      run_program("cc -std=c11 -Wall -Wextra -c" + includes + " " + (dir / "check.c").string() +
                  " -o " + (dir / "check.o").string());
  EXPECT_EQ(compiled.status, 0) << compiled.output;
  // The exported names cuda.h's macros stand for (cuMemAlloc -> cuMemAlloc_v2, ...), as the
  // object references them, are among those the runtime's table asks dlsym for.
  ProgramRun undefined = run_program("nm -u " + (dir / "check.o").string());
  const std::string runtime = read_text(source_path("codegen/cuda/runtime/rnnc_cuda_runtime.c"));
  std::istringstream names(undefined.output);
  int checked = 0;
  for (std::string line; std::getline(names, line);) {
    std::string symbol = line.substr(line.rfind(' ') + 1);
    if (symbol.rfind("cu", 0) != 0 || symbol.rfind("cublas", 0) == 0) continue;
    EXPECT_NE(runtime.find("\"" + symbol + "\""), std::string::npos) << symbol;
    ++checked;
  }
  EXPECT_EQ(checked, 6) << undefined.output;
  fs::remove_all(dir);
}

// ---- The libraries run on a mock driver ------------------------------------------------------
//
// Without a GPU the runtime's replay still runs end to end against a CUDA driver and cuBLAS
// emulated on the host: device memory is host memory, a module's kernels are its CUDA C
// compiled for the host behind a small emulation header (ordinary grid-stride kernels, and
// generated product kernels with shared memory and block barriers; the mock refuses cooperative
// launches, so persistent loops run as their fallback), streams run
// their work at once or record it while captured, and cuGraphLaunch replays the record; cuBLAS
// is a naive column-major gemm written from cuBLAS's definition, not from rnnc's mapping. The
// gpu-check folder's own checker then compares every output, gradient and updated parameter
// with the interpreter's references.

/// The mock libcuda.so.1 and libcublas.so.13 (the same library under both names).
const char* const kMockDriver =
    R"MOCK(// A CUDA driver and cuBLAS on the host, for tests without a GPU: device memory is host memory,
// kernels are the program's CUDA C compiled for the host (one .so per module, see
// RNNC_MOCK_KERNELS), run block after block and thread after thread (a kernel with shared
// memory, whose threads meet at __syncthreads, as one fiber per thread); stream work runs at once
// or, while a stream is captured, is recorded and replayed by cuGraphLaunch. Only what the
// rnnc runtime calls is here. RNNC_MOCK_LOG names a file that receives counts at exit.
#include <dlfcn.h>
#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Dim { unsigned x, y, z; };
struct Thread {
  Dim thread_index, block_index, block_dim, grid_dim;
  unsigned char* shared;
  unsigned char* warp_slots;
  void (*barrier)(const Thread*, int);
  void* context;
};
using KernelCall = void (*)(const Thread*, const void*);
struct Function {
  KernelCall call;
  size_t args_bytes;
};
struct Module {
  void* library;
  size_t args_bytes;
};

bool capturing = false;
std::vector<std::function<void()>> captured;
struct Counts {
  long kernels = 0, gemms = 0, copies = 0, captures = 0, graph_launches = 0, modules = 0,
       cooperative = 0;
  ~Counts() {
    const char* path = std::getenv("RNNC_MOCK_LOG");
    if (!path) return;
    if (FILE* file = std::fopen(path, "a")) {
      std::fprintf(file,
                   "kernels=%ld gemms=%ld copies=%ld captures=%ld graph_launches=%ld "
                   "modules=%ld cooperative=%ld\n",
                   kernels, gemms, copies, captures, graph_launches, modules, cooperative);
      std::fclose(file);
    }
  }
} counts;

void enqueue(std::function<void()> work) {
  if (capturing)
    captured.push_back(std::move(work));
  else
    work();
}

void no_barrier(const Thread*, int) {
  std::fprintf(stderr, "mock CUDA: a barrier in a kernel without shared memory is not emulated\n");
  std::abort();
}

// A block of a kernel with shared memory (a generated product's tiles, which meet at
// __syncthreads) runs as one fiber per thread on this thread: each runs until its next barrier
// or its end, in turn, so every thread reaches a barrier before any passes it.
struct Fiber {
  ucontext_t context;
  Thread thread;
  bool done;
};
ucontext_t scheduler;
Fiber* running_fiber = nullptr;
const Function* fiber_function = nullptr;
const unsigned char* fiber_args = nullptr;

void fiber_entry() {
  Fiber* fiber = running_fiber;
  fiber_function->call(&fiber->thread, fiber_args);
  fiber->done = true;  // returns to the scheduler (uc_link)
}

void fiber_barrier(const Thread* thread, int kind) {
  if (kind != 0) no_barrier(thread, kind);
  swapcontext(&static_cast<Fiber*>(thread->context)->context, &scheduler);
}

void run_block_as_fibers(const Function* function, const unsigned char* args, Thread t,
                         unsigned block, unsigned threads, unsigned shared) {
  constexpr size_t kStack = 128 * 1024;
  static std::vector<Fiber> fibers;
  static std::vector<char> stacks;
  fibers.assign(threads, Fiber{});
  if (stacks.size() < threads * kStack) stacks.resize(threads * kStack);
  std::vector<unsigned char> memory(shared, 0xff);
  fiber_function = function;
  fiber_args = args;
  for (unsigned i = 0; i < threads; ++i) {
    Fiber& fiber = fibers[i];
    fiber.thread = t;
    fiber.thread.block_index = {block, 0, 0};
    fiber.thread.thread_index = {i, 0, 0};
    fiber.thread.shared = memory.data();
    fiber.thread.barrier = fiber_barrier;
    fiber.thread.context = &fiber;
    getcontext(&fiber.context);
    fiber.context.uc_stack.ss_sp = &stacks[i * kStack];
    fiber.context.uc_stack.ss_size = kStack;
    fiber.context.uc_link = &scheduler;
    makecontext(&fiber.context, fiber_entry, 0);
  }
  for (bool left = true; left;) {
    left = false;
    for (Fiber& fiber : fibers) {
      if (fiber.done) continue;
      running_fiber = &fiber;
      swapcontext(&scheduler, &fiber.context);
      left = left || !fiber.done;
    }
  }
}

std::set<std::string> entries_of(const std::string& ptx) {
  std::set<std::string> names;
  for (size_t at = 0; (at = ptx.find(".entry ", at)) != std::string::npos;) {
    at += 7;
    size_t end = ptx.find_first_of("( \n", at);
    names.insert(ptx.substr(at, end - at));
  }
  return names;
}

template <class T>
void gemm(int ta, int tb, int m, int n, int k, T alpha, const T* a, int lda, long long sa,
                 const T* b, int ldb, long long sb, T beta, T* c, int ldc, long long sc,
                 int batch) {
  for (int p = 0; p < batch; ++p)
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        double sum = 0;
        for (int l = 0; l < k; ++l) {
          const T x = ta ? a[p * sa + l + static_cast<long long>(i) * lda]
                         : a[p * sa + i + static_cast<long long>(l) * lda];
          const T y = tb ? b[p * sb + j + static_cast<long long>(l) * ldb]
                         : b[p * sb + l + static_cast<long long>(j) * ldb];
          sum += static_cast<double>(x) * static_cast<double>(y);
        }
        T& out = c[p * sc + i + static_cast<long long>(j) * ldc];
        out = static_cast<T>(alpha * sum + (beta == 0 ? 0 : beta * out));
      }
}

}  // namespace

extern "C" {

int cuInit(unsigned) { return 0; }
int cuDriverGetVersion(int* version) { *version = 13000; return 0; }
int cuDeviceGetCount(int* count) { *count = 1; return 0; }
int cuDeviceGet(int* device, int) { *device = 0; return 0; }
int cuDeviceGetName(char* name, int length, int) {
  std::snprintf(name, static_cast<size_t>(length), "rnnc mock GPU");
  return 0;
}
int cuDeviceGetAttribute(int* value, int attribute, int) {
  switch (attribute) {
    case 75: *value = 10; break;  // compute capability 10.0: the runtime loads the PTX
    case 76: *value = 0; break;
    case 16: *value = 132; break;
    case 95: *value = std::getenv("RNNC_MOCK_COOPERATIVE") ? 1 : 0; break;
    default: *value = 0;
  }
  return 0;
}
int cuDevicePrimaryCtxRetain(void** context, int) { *context = reinterpret_cast<void*>(1); return 0; }
int cuDevicePrimaryCtxRelease_v2(int) { return 0; }
int cuCtxSetCurrent(void*) { return 0; }
int cuModuleLoadData(void** module, const void* image) {
  if (const char* fail = std::getenv("RNNC_MOCK_LOAD_RESULT")) return std::atoi(fail);
  const std::set<std::string> wanted = entries_of(static_cast<const char*>(image));
  std::stringstream list(std::getenv("RNNC_MOCK_KERNELS") ? std::getenv("RNNC_MOCK_KERNELS") : "");
  Module* found = nullptr;
  for (std::string path; std::getline(list, path, ':');) {
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library) continue;
    auto names = static_cast<const char* const*>(dlsym(library, "rnnc_mock_kernel_names"));
    std::set<std::string> has;
    for (; names && *names; ++names) has.insert(*names);
    if (has != wanted) continue;
    if (found) {
      std::fprintf(stderr, "mock CUDA: two kernel libraries match a module\n");
      return 200;
    }
    found = new Module{library, *static_cast<const size_t*>(dlsym(library, "rnnc_mock_args_bytes"))};
  }
  if (!found) return 218;  // CUDA_ERROR_INVALID_PTX
  ++counts.modules;
  *module = found;
  return 0;
}
int cuModuleUnload(void*) { return 0; }
int cuModuleGetFunction(void** function, void* module, const char* name) {
  Module* m = static_cast<Module*>(module);
  void* call = dlsym(m->library, (std::string("rnnc_mock_") + name).c_str());
  if (!call) return 500;  // CUDA_ERROR_NOT_FOUND
  *function = new Function{reinterpret_cast<KernelCall>(call), m->args_bytes};
  return 0;
}
int cuFuncSetAttribute(void*, int, int) { return 0; }
int cuOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, void*, int, size_t) {
  *blocks = 0;  // never resident: persistent loops run as their fallback
  return 0;
}
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned shared, void*, void** params, void**) {
  const Function* function = static_cast<const Function*>(f);
  const unsigned char* raw = static_cast<const unsigned char*>(params[0]);
  std::vector<unsigned char> args(raw, raw + function->args_bytes);
  enqueue([=] {
    ++counts.kernels;
    Thread t{};
    t.grid_dim = {gx, gy, gz};
    t.block_dim = {bx, by, bz};
    if (shared > 0) {
      for (unsigned b = 0; b < gx; ++b) run_block_as_fibers(function, args.data(), t, b, bx, shared);
      return;
    }
    t.barrier = no_barrier;
    for (unsigned b = 0; b < gx; ++b)
      for (unsigned i = 0; i < bx; ++i) {
        t.block_index = {b, 0, 0};
        t.thread_index = {i, 0, 0};
        function->call(&t, args.data());
      }
  });
  return 0;
}
int cuLaunchCooperativeKernel(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                              unsigned, void*, void**) {
  ++counts.cooperative;
  return 801;  // CUDA_ERROR_NOT_SUPPORTED: never chosen (occupancy 0)
}
int cuMemAlloc_v2(unsigned long long* pointer, size_t bytes) {
  if (const char* limit = std::getenv("RNNC_MOCK_MEMORY"))
    if (bytes > static_cast<size_t>(std::atoll(limit))) return 2;  // CUDA_ERROR_OUT_OF_MEMORY
  void* memory = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!memory) return 2;
  std::memset(memory, 0xA5, bytes);  // garbage, as device memory is
  *pointer = reinterpret_cast<uintptr_t>(memory);
  return 0;
}
int cuMemFree_v2(unsigned long long pointer) { std::free(reinterpret_cast<void*>(pointer)); return 0; }
int cuMemcpyHtoDAsync_v2(unsigned long long to, const void* from, size_t bytes, void*) {
  if (capturing) return 900;
  std::memcpy(reinterpret_cast<void*>(to), from, bytes);
  return 0;
}
int cuMemcpyDtoHAsync_v2(void* to, unsigned long long from, size_t bytes, void*) {
  if (capturing) return 900;
  std::memcpy(to, reinterpret_cast<const void*>(from), bytes);
  return 0;
}
int cuMemcpyDtoDAsync_v2(unsigned long long to, unsigned long long from, size_t bytes, void*) {
  enqueue([=] {
    ++counts.copies;
    std::memmove(reinterpret_cast<void*>(to), reinterpret_cast<const void*>(from), bytes);
  });
  return 0;
}
int cuMemsetD8Async(unsigned long long to, unsigned char value, size_t bytes, void*) {
  enqueue([=] { std::memset(reinterpret_cast<void*>(to), value, bytes); });
  return 0;
}
int cuStreamCreate(void** stream, unsigned) { *stream = reinterpret_cast<void*>(2); return 0; }
int cuStreamDestroy_v2(void*) { return 0; }
int cuStreamSynchronize(void*) { return capturing ? 900 : 0; }
int cuStreamBeginCapture_v2(void*, int) {
  if (std::getenv("RNNC_MOCK_NO_CAPTURE")) return 801;
  capturing = true;
  captured.clear();
  return 0;
}
int cuStreamEndCapture(void*, void** graph) {
  capturing = false;
  ++counts.captures;
  *graph = new std::vector<std::function<void()>>(std::move(captured));
  captured.clear();
  return 0;
}
int cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long) {
  *exec = new std::vector<std::function<void()>>(
      *static_cast<std::vector<std::function<void()>>*>(graph));
  return 0;
}
int cuGraphLaunch(void* exec, void*) {
  ++counts.graph_launches;
  for (auto& work : *static_cast<std::vector<std::function<void()>>*>(exec)) work();
  return 0;
}
int cuGraphExecDestroy(void* exec) {
  delete static_cast<std::vector<std::function<void()>>*>(exec);
  return 0;
}
int cuGraphDestroy(void* graph) {
  delete static_cast<std::vector<std::function<void()>>*>(graph);
  return 0;
}
int cuGetErrorName(int result, const char** name) {
  *name = result == 2 ? "CUDA_ERROR_OUT_OF_MEMORY"
        : result == 222 ? "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"
                        : "CUDA_ERROR_MOCK";
  return 0;
}
int cuGetErrorString(int, const char** text) { *text = "mock"; return 0; }

// cuBLAS: column-major, as cuBLAS defines it (independently of rnnc's row-major mapping).
int cublasCreate_v2(void** handle) { *handle = reinterpret_cast<void*>(3); return 0; }
int cublasDestroy_v2(void*) { return 0; }
int cublasSetStream_v2(void*, void*) { return 0; }
int cublasSetWorkspace_v2(void*, void*, size_t) { return 0; }
int cublasSetMathMode(void*, int) { return 0; }

void rnnc_mock_enqueue(std::function<void()>* work);
static void enqueue_from_blas(std::function<void()> work) {
  // The driver mock's recorder, through the very copy the runtime loaded.
  static auto record = reinterpret_cast<void (*)(std::function<void()>*)>(
      dlsym(dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD), "rnnc_mock_enqueue"));
  record(&work);
}

void rnnc_mock_enqueue(std::function<void()>* work) {
  ++counts.gemms;
  enqueue(std::move(*work));
}

int cublasSgemmStridedBatched(void*, int ta, int tb, int m, int n, int k, const float* alpha,
                              const float* a, int lda, long long sa, const float* b, int ldb,
                              long long sb, const float* beta, float* c, int ldc, long long sc,
                              int batch) {
  const float al = *alpha, be = *beta;
  enqueue_from_blas([=] { gemm(ta, tb, m, n, k, al, a, lda, sa, b, ldb, sb, be, c, ldc, sc, batch); });
  return 0;
}
int cublasDgemmStridedBatched(void*, int ta, int tb, int m, int n, int k, const double* alpha,
                              const double* a, int lda, long long sa, const double* b, int ldb,
                              long long sb, const double* beta, double* c, int ldc,
                              long long sc, int batch) {
  const double al = *alpha, be = *beta;
  enqueue_from_blas([=] { gemm(ta, tb, m, n, k, al, a, lda, sa, b, ldb, sb, be, c, ldc, sc, batch); });
  return 0;
}

// NVRTC asks the driver it finds for its export table: there is none.
int cuGetExportTable(const void**, const void*) { return 500; }

}  // extern "C"
)MOCK";

/// What the host compiler needs to compile rendered kernels.
const char* const kMockEmulation =
    R"MOCK(// Rendered CUDA C on the host, for the mock driver: ordinary (grid-stride) kernels only.
#define RNNC_CUDA_EMULATION 1
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <math.h>
struct RnncMockDim { unsigned x, y, z; };
struct RnncMockThread {
  RnncMockDim thread_index, block_index, block_dim, grid_dim;
  unsigned char* shared;
  unsigned char* warp_slots;
  void (*barrier)(const RnncMockThread*, int);
  void* context;
};
static thread_local const RnncMockThread* rnnc_mock_thread = nullptr;
#define threadIdx (rnnc_mock_thread->thread_index)
#define blockIdx (rnnc_mock_thread->block_index)
#define blockDim (rnnc_mock_thread->block_dim)
#define gridDim (rnnc_mock_thread->grid_dim)
#define warpSize 32
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// A block's threads are fibers of one thread (the mock driver): each restores its own view.
static inline void __syncthreads() {
  const RnncMockThread* self = rnnc_mock_thread;
  self->barrier(self, 0);
  rnnc_mock_thread = self;
}
static inline void rnnc_grid_sync() { rnnc_mock_thread->barrier(rnnc_mock_thread, 1); }
static inline void __syncwarp(unsigned = 0xffffffffu) { rnnc_mock_thread->barrier(rnnc_mock_thread, 2); }
template <class T> static inline T __shfl_down_sync(unsigned, T v, int, int = 32) { __syncwarp(); return v; }
template <class T> static inline T __shfl_xor_sync(unsigned, T v, int, int = 32) { __syncwarp(); return v; }
template <class T> static inline T __shfl_up_sync(unsigned, T v, int, int = 32) { __syncwarp(); return v; }
template <class T> static inline T __shfl_sync(unsigned, T v, int, int = 32) { __syncwarp(); return v; }
static inline void __threadfence() {}
static inline void __threadfence_block() {}
template <class T> static inline T atomicAdd(T* a, T v) { T old = *a; *a = old + v; return old; }
template <class T> static inline T atomicCAS(T* a, T compare, T v) { T old = *a; if (old == compare) *a = v; return old; }
template <class T> static inline T atomicExch(T* a, T v) { T old = *a; *a = v; return old; }
static inline int atomicMax(int* a, int v) { int old = *a; if (v > old) *a = v; return old; }
static inline int atomicMin(int* a, int v) { int old = *a; if (v < old) *a = v; return old; }
static inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
static inline int __float_as_int(float v) { int i; std::memcpy(&i, &v, 4); return i; }
static inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
static inline long long __double_as_longlong(double v) { long long i; std::memcpy(&i, &v, 8); return i; }
#define __expf expf
#define __logf logf
#define __tanhf tanhf
#define __powf powf
static inline float __fdividef(float x, float y) { return x / y; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a < b ? b : a; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a < b ? b : a; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }
template <class T> static inline T __ldg(const T* p) { return *p; }
)MOCK";

/// The host library of one rendered source (NAME.cu): the emulation header, the source with its
/// dynamic shared memory the launch's block buffer (persistent kernels never run here;
/// generated product kernels do), and per kernel a wrapper rnnc_mock_NAME(thread, args).
std::string mock_kernels_source(const std::string& cuda) {
  std::string source;
  std::vector<std::string> names;
  std::istringstream lines(cuda);
  const std::string kernel = "extern \"C\" __global__ void ", shared = "extern __shared__";
  for (std::string line; std::getline(lines, line);) {
    if (size_t at = line.find(shared); at != std::string::npos) {
      // "extern __shared__ __align__(16) TYPE rnnc_shared[];"
      std::string type = line.substr(line.find(')', at) + 2);
      type = type.substr(0, type.find(" rnnc_shared"));
      line = line.substr(0, at) + type + "* const rnnc_shared = (" + type +
             "*)rnnc_mock_thread->shared;";
    }
    if (line.rfind(kernel, 0) == 0)
      names.push_back(line.substr(kernel.size(), line.find('(') - kernel.size()));
    source += line + "\n";
  }
  source = "#include \"emulation.h\"\n" + source +
           "extern \"C\" const size_t rnnc_mock_args_bytes = sizeof(RnncArgs);\n"
           "extern \"C\" const char* const rnnc_mock_kernel_names[] = {";
  for (const std::string& name : names) source += "\"" + name + "\", ";
  source += "nullptr};\n";
  for (const std::string& name : names)
    source += "extern \"C\" void rnnc_mock_" + name +
              "(const RnncMockThread* t, const void* args) { rnnc_mock_thread = t; " + name +
              "(*static_cast<const RnncArgs*>(args)); }\n";
  return source;
}

TEST(CudaAotMock, GpuCheckLibrariesMatchTheInterpreterOnAMockDriver) {
  const testdir::ScratchDir scratch_dir = scratch("mock");
  const fs::path& dir = scratch_dir.path();
  std::ofstream(dir / "mock_driver.cpp") << kMockDriver;
  std::ofstream(dir / "emulation.h") << kMockEmulation;
  ProgramRun driver = run_program("cd " + dir.string() +
                                  " && c++ -std=c++20 -O1 -shared -fPIC mock_driver.cpp -o "
                                  "libcuda.so.1 -ldl && cp libcuda.so.1 libcublas.so.13");
  ASSERT_EQ(driver.status, 0) << driver.output;
  // A gpu-check folder: a lecture model (names_gru, with sequence lengths, would take the
  // interpreter 25 s for its references), and a GRU layer and training step at the tiny
  // size.
  const fs::path folder = dir / "folder";
  ProgramRun prepared = run_program(
      testprog::binary("rnnc_gpu_check_prepare") + " --source-dir " + RNNC_SOURCE_DIR + " --out " +
      folder.string() + " --models hihell_rnn --configs tiny --cells gru --modes fwdbwd,train");
  ASSERT_EQ(prepared.status, 0) << prepared.output;
  std::string kernel_libraries;
  for (const auto& library : fs::directory_iterator(folder / "libs"))
    for (const auto& file : fs::directory_iterator(library.path())) {
      if (file.path().extension() != ".cu") continue;
      const std::string stem = file.path().stem().string();
      std::ofstream(dir / ("kernels_" + stem + ".cpp"))
          << mock_kernels_source(read_text(file.path()));
      kernel_libraries +=
          (kernel_libraries.empty() ? "" : ":") + (dir / ("kernels_" + stem + ".so")).string();
    }
  ProgramRun compiled = run_program(
      "cd " + dir.string() +
      " && ls kernels_*.cpp | sed 's/[.]cpp$//' | xargs -P 2 -I{} c++ -std=c++20 -O1 -w -shared "
      "-fPIC {}.cpp -o {}.so");
  ASSERT_EQ(compiled.status, 0) << compiled.output.substr(0, 4000);
  // Packed as `scripts/gpu-check prepare` packs it: the run script unpacks libs.tar.xz.
  ProgramRun packed =
      run_program(std::string(RNNC_SOURCE_DIR) + "/scripts/gpu-check pack " + folder.string());
  ASSERT_EQ(packed.status, 0) << packed.output;
  ASSERT_FALSE(fs::exists(folder / "libs"));
  // RNNC_CUBLAS: the run script puts the CUDA toolkit's folders on the library path.
  const std::string environment = "LD_LIBRARY_PATH=" + dir.string() +
                                  " RNNC_CUBLAS=" + (dir / "libcublas.so.13").string() +
                                  " RNNC_MOCK_KERNELS=" + kernel_libraries +
                                  " RNNC_MOCK_LOG=" + (dir / "log.txt").string() + " ";
  ProgramRun run = run_program("cd " + folder.string() + " && " + environment +
                               "./run --check-only --no-pytorch --jobs 2");
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("gpu-check: 3 of 3 libraries passed"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("\"ok\": false"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("one CUDA graph"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("as ordinary launches"), std::string::npos) << run.output;
  const std::string log = read_text(dir / "log.txt");
  EXPECT_NE(log.find("captures=5 graph_launches=5"), std::string::npos) << log;

  // Launch by launch: the same results, and no capture.
  fs::remove(dir / "log.txt");
  run = run_program("cd " + folder.string() + " && " + environment +
                    "RNNC_CUDA_GRAPHS=0 ./checker --check-only --only hihell_rnn");
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("launches (RNNC_CUDA_GRAPHS=0)"), std::string::npos) << run.output;
  EXPECT_NE(read_text(dir / "log.txt").find("captures=0 graph_launches=0 modules=2"),
            std::string::npos);

  // The JIT backend replays through the same runtime: `rnnc bench --backend cuda` (NVRTC
  // renders the same source as the library's, so the same host kernels serve it).
  fs::remove(dir / "log.txt");
  run = run_program(environment + testprog::binary("rnnc") + " bench " +
                    source_path("examples/models/hihell_rnn.forward.rnn") +
                    " --backend cuda --min-time 0.05");
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("RESULT backend=cuda"), std::string::npos) << run.output;
  EXPECT_NE(read_text(dir / "log.txt").find("captures=1 graph_launches="), std::string::npos)
      << read_text(dir / "log.txt");

  // A driver that cannot load the code, and a device without memory: plain errors.
  run = run_program("cd " + folder.string() + " && " + environment +
                    "RNNC_MOCK_LOAD_RESULT=222 ./checker --check-only --only hihell_rnn");
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_NE(run.output.find("\"code\": 9"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("CUDA_ERROR_UNSUPPORTED_PTX_VERSION"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("compiled by CUDA"), std::string::npos) << run.output;
  run = run_program("cd " + folder.string() + " && " + environment +
                    "RNNC_MOCK_MEMORY=100000 ./checker --check-only --only gru_tiny_train");
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_NE(run.output.find("\"code\": 2"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("GPU out of memory: allocating"), std::string::npos) << run.output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rnnc

#else

TEST(CudaAot, NeedsTheCudaToolkit) { GTEST_SKIP() << "built without the CUDA toolkit (NVRTC)"; }

#endif
