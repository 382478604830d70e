// The CUDA emulator: compiling rendered sources for the host (cached), and replaying a launch
// plan on host memory as codegen/cuda/cuda_backend.cpp replays it on a device.
#ifdef RNNC_HAVE_CUDA
#include "tests/support/cuda_emulator.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "ir/error.h"
#include "runtime/tensor.h"
#include "tests/support/cuda_emulator_internal.h"

#ifndef RNNC_CXX_COMPILER
#define RNNC_CXX_COMPILER "c++"
#endif

namespace rnnc::cuda_emulation {
namespace {

namespace fs = std::filesystem;

uint64_t fnv1a(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

/// The kernel text of `name` in `source` (from its signature to the next kernel).
std::string kernel_text(const std::string& source, const std::string& name) {
  const size_t begin = source.find(" " + name + "(RnncArgs");
  if (begin == std::string::npos) return "";
  const size_t end = source.find("__global__", begin);
  return source.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

/// `source` made ready for one namespace of the emulation library: no C linkage, dynamic
/// shared memory declarations rewritten (the contract in cuda_emulator.h).
std::string adapt(const std::string& source) {
  static const std::regex extern_c(R"(extern\s+"C"\s+)");
  static const std::regex shared(
      R"(extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w\s]*?)\s+rnnc_shared\s*\[\s*\]\s*;)");
  std::string text = std::regex_replace(source, extern_c, "");
  return std::regex_replace(text, shared, "$1* const rnnc_shared = ($1*)rnnc_emu_shared();");
}

/// The translation unit holding every source of `renders`, each in namespace rnnc_emu_N with
/// a C function rnnc_emu_table_N listing its kernels.
std::string translation_unit(const std::vector<const cuda::RenderedCuda*>& renders) {
  std::string text = emulation_header();
  for (size_t n = 0; n < renders.size(); ++n) {
    const cuda::RenderedCuda& rendered = *renders[n];
    const std::string space = "rnnc_emu_" + std::to_string(n);
    text += "\nnamespace " + space + " {\n#line 1 \"source" + std::to_string(n) + ".cu\"\n";
    text += adapt(rendered.source);
    text += "\n";
    for (const std::string& kernel : rendered.kernels)
      text += "static void call_" + kernel +
              "(const RnncEmuThread* thread, const void* args) {\n"
              "  rnnc_emu_thread = thread;\n  RnncArgs copy;\n"
              "  std::memcpy(&copy, args, sizeof copy);\n  " +
              kernel + "(copy);\n}\n";
    text += "static const RnncEmuKernel table[] = {\n";
    for (const std::string& kernel : rendered.kernels)
      text += "  {\"" + kernel + "\", &call_" + kernel + "},\n";
    text += "  {nullptr, nullptr}};\n}  // namespace " + space + "\n";
    text += "extern \"C\" const RnncEmuKernel* rnnc_emu_table_" + std::to_string(n) +
            "(long long* args_size) {\n  *args_size = (long long)sizeof(" + space +
            "::RnncArgs);\n  return " + space + "::table;\n}\n";
  }
  return text;
}

/// Runs `command` through the shell; returns its exit status, its output in `output`.
int run_command(const std::string& command, std::string& output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buffer[4096];
  size_t count;
  while ((count = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, count);
  return pclose(pipe);
}

/// Removes what `folder` holds from more than a week ago (libraries of older renderings).
void prune(const fs::path& folder) {
  std::error_code error;
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(24 * 7);
  for (const auto& entry : fs::directory_iterator(folder, error))
    if (entry.last_write_time(error) < old) fs::remove(entry.path(), error);
}

/// The shared library built from `text` (compiled now, or found in the cache).
void* load_library(const std::string& text) {
  const std::string compiler = RNNC_CXX_COMPILER;
  const char* extra = std::getenv("RNNC_EMULATION_FLAGS");  // -g, -fsanitize=... for debugging
  const std::string flags = std::string("-std=c++20 -O0 -shared -fPIC -w ") + (extra ? extra : "");
  const std::string key = text + "\n" + compiler + " " + flags;
  char name[64];
  std::snprintf(name, sizeof name, "%016llx%08zx", static_cast<unsigned long long>(fnv1a(key)),
                key.size());
  const fs::path folder =
      fs::temp_directory_path() / ("rnnc-cuda-emulation-" + std::to_string(getuid()));
  fs::create_directories(folder);
  const fs::path library = folder / (std::string(name) + ".so");
  if (!fs::exists(library)) {
    static std::atomic<int> counter{0};
    const std::string unique = std::to_string(getpid()) + "-" + std::to_string(counter++);
    const fs::path source = folder / (std::string(name) + "-" + unique + ".cpp");
    const fs::path built = folder / (std::string(name) + "-" + unique + ".so");
    std::ofstream(source) << text;
    std::string output;
    const int status = run_command(
        compiler + " " + flags + " -o '" + built.string() + "' '" + source.string() + "'", output);
    if (status != 0) {
      // Keep the source for reading the compiler's line numbers.
      throw Error("the CUDA emulation does not compile (" + source.string() + "):\n" +
                  output.substr(0, 20000));
    }
    fs::remove(source);
    fs::rename(built, library);  // atomic: concurrent tests see a whole library or none
    prune(folder);
  }
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw Error(std::string("cannot load the CUDA emulation: ") + dlerror());
  return handle;  // never closed: kernels may be in use until the process ends
}

}  // namespace

std::vector<std::shared_ptr<const CompiledEmulation>> compile_emulations(
    const std::vector<const cuda::RenderedCuda*>& renders) {
  // Libraries of at most kChunk sources, two compiled at a time.
  constexpr size_t kChunk = 16;
  std::vector<std::vector<const cuda::RenderedCuda*>> chunks;
  for (size_t n = 0; n < renders.size(); n += kChunk)
    chunks.emplace_back(renders.begin() + n,
                        renders.begin() + std::min(renders.size(), n + kChunk));
  std::vector<void*> handles(chunks.size(), nullptr);
  std::vector<std::string> failures(chunks.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t c = next++; c < chunks.size(); c = next++) {
      try {
        handles[c] = load_library(translation_unit(chunks[c]));
      } catch (const std::exception& error) {
        failures[c] = error.what();
      }
    }
  };
  std::thread helper(work);
  work();
  helper.join();
  for (const std::string& failure : failures)
    if (!failure.empty()) throw Error(failure);
  std::vector<std::shared_ptr<const CompiledEmulation>> result;
  for (size_t n = 0; n < renders.size(); ++n) {
    using TableFunction = const RnncEmuKernel* (*)(long long*);
    auto function = reinterpret_cast<TableFunction>(
        dlsym(handles[n / kChunk], ("rnnc_emu_table_" + std::to_string(n % kChunk)).c_str()));
    if (!function) throw Error("the CUDA emulation library lacks a kernel table");
    auto compiled = std::make_shared<CompiledEmulation>();
    long long args_size = 0;
    for (const RnncEmuKernel* kernel = function(&args_size); kernel->name; ++kernel) {
      KernelEntry& entry = compiled->kernels[kernel->name];
      entry.call = kernel->call;
      const std::string text = kernel_text(renders[n]->source, kernel->name);
      for (const char* primitive : {"__syncthreads", "__syncwarp", "__shfl", "rnnc_grid_sync"})
        entry.synchronizes = entry.synchronizes || text.find(primitive) != std::string::npos;
    }
    compiled->args_size = args_size;
    result.push_back(std::move(compiled));
  }
  return result;
}

}  // namespace rnnc::cuda_emulation
#endif
