#include "codegen/cuda/nvrtc_compiler.h"

#include <nvrtc.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "ir/error.h"

namespace rnnc::cuda {
namespace {

namespace fs = std::filesystem;

std::atomic<int64_t> compilations{0};

/// 128 bits of FNV-1a (two 64-bit hashes with different offsets), as hex.
std::string hash_hex(const std::string& text) {
  uint64_t a = 14695981039346656037ull, b = 0x6c62272e07bb0142ull;
  for (unsigned char c : text) {
    a = (a ^ c) * 1099511628211ull;
    b = (b ^ c) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
  }
  char out[40];
  std::snprintf(out, sizeof out, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return out;
}

/// The disk cache's directory, or empty when there is none to use.
fs::path cache_directory() {
  fs::path base;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    base = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home)
    base = fs::path(home) / ".cache";
  else
    return {};
  std::error_code error;
  fs::create_directories(base / "rnnc", error);
  if (error || !fs::is_directory(base / "rnnc", error)) return {};
  return base / "rnnc";
}

bool read_file(const fs::path& path, std::string& contents) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  contents = text.str();
  return static_cast<bool>(in) || in.eof();
}

/// Writes atomically (a temporary file renamed), silently doing nothing on failure: the disk
/// cache is an optimization only.
void write_file(const fs::path& path, const char* data, size_t size) {
  fs::path temporary = path;
  temporary += ".tmp" + std::to_string(std::rand());
  {
    std::ofstream out(temporary, std::ios::binary);
    if (!out) return;
    out.write(data, static_cast<std::streamsize>(size));
    if (!out.flush()) return;
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) fs::remove(temporary, error);
}

void check(nvrtcResult result, const char* what) {
  if (result != NVRTC_SUCCESS)
    throw Error(std::string("NVRTC: ") + what + " failed: " + nvrtcGetErrorString(result));
}

/// NVRTC's log with each "NAME(LINE): error" followed by that line of the source.
std::string annotate(const std::string& log, const std::string& source, const std::string& name) {
  std::vector<std::string> lines;
  std::istringstream in(source);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out;
  std::istringstream log_in(log);
  for (std::string line; std::getline(log_in, line);) {
    out += line + "\n";
    if (line.rfind(name + "(", 0) != 0) continue;
    size_t close = line.find(')', name.size());
    if (close == std::string::npos || line.find("error", close) == std::string::npos) continue;
    size_t number = std::strtoull(line.c_str() + name.size() + 1, nullptr, 10);
    if (number >= 1 && number <= lines.size())
      out += "  source line " + std::to_string(number) + ": " + lines[number - 1] + "\n";
  }
  return out;
}

std::shared_ptr<CompiledModule> run_nvrtc(const std::string& source,
                                          const std::vector<std::string>& arguments,
                                          const std::string& name, bool real_architecture) {
  nvrtcProgram program = nullptr;
  check(nvrtcCreateProgram(&program, source.c_str(), name.c_str(), 0, nullptr, nullptr),
        "nvrtcCreateProgram");
  struct Destroy {
    nvrtcProgram& program;
    ~Destroy() { nvrtcDestroyProgram(&program); }
  } destroy{program};
  std::vector<const char*> pointers;
  for (const std::string& argument : arguments) pointers.push_back(argument.c_str());
  ++compilations;
  nvrtcResult result =
      nvrtcCompileProgram(program, static_cast<int>(pointers.size()), pointers.data());
  auto module = std::make_shared<CompiledModule>();
  size_t size = 0;
  check(nvrtcGetProgramLogSize(program, &size), "nvrtcGetProgramLogSize");
  std::string log(size, '\0');
  check(nvrtcGetProgramLog(program, log.data()), "nvrtcGetProgramLog");
  while (!log.empty() && log.back() == '\0') log.pop_back();
  module->log = log;
  if (result != NVRTC_SUCCESS)
    throw Error("NVRTC failed to compile " + name + " (" + nvrtcGetErrorString(result) + "):\n" +
                annotate(log, source, name));
  check(nvrtcGetPTXSize(program, &size), "nvrtcGetPTXSize");
  module->ptx.assign(size, '\0');
  check(nvrtcGetPTX(program, module->ptx.data()), "nvrtcGetPTX");
  while (!module->ptx.empty() && module->ptx.back() == '\0') module->ptx.pop_back();
  if (real_architecture) {
    check(nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize");
    module->cubin.resize(size);
    check(nvrtcGetCUBIN(program, module->cubin.data()), "nvrtcGetCUBIN");
  }
  return module;
}

}  // namespace

std::vector<std::string> nvrtc_arguments(const NvrtcOptions& options) {
  std::vector<std::string> arguments = {"--gpu-architecture=" + options.architecture,
                                        "--std=c++17"};
  if (options.ptxas_report) arguments.push_back("--ptxas-options=-v");
  for (const std::string& extra : options.extra) arguments.push_back(extra);
  return arguments;
}

std::shared_ptr<const CompiledModule> compile_cuda(const std::string& source,
                                                   const NvrtcOptions& options,
                                                   const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const CompiledModule>> memory;
  const std::vector<std::string> arguments = nvrtc_arguments(options);
  std::string keyed = nvrtc_version() + '\0' + name + '\0' + source;
  for (const std::string& argument : arguments) keyed += '\0' + argument;
  const std::string key = hash_hex(keyed);
  // The lock covers the table only: NVRTC compiles in parallel when called from threads.
  auto remember = [&](std::shared_ptr<const CompiledModule> module) {
    std::lock_guard<std::mutex> lock(mutex);
    return memory.emplace(key, std::move(module)).first->second;
  };
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto found = memory.find(key); found != memory.end()) return found->second;
  }

  const bool real = options.architecture.rfind("sm_", 0) == 0;
  // The report lives in the log, which the disk cache does not keep: compile when asked.
  const fs::path directory =
      options.disk_cache && !options.ptxas_report ? cache_directory() : fs::path();
  if (!directory.empty()) {
    auto module = std::make_shared<CompiledModule>();
    std::string cubin;
    if (read_file(directory / (key + ".ptx"), module->ptx) &&
        (!real || read_file(directory / (key + ".cubin"), cubin)) && !module->ptx.empty()) {
      module->cubin.assign(cubin.begin(), cubin.end());
      module->architecture = options.architecture;
      module->key = key;
      module->from_disk = true;
      return remember(module);
    }
  }
  std::shared_ptr<CompiledModule> module = run_nvrtc(source, arguments, name, real);
  module->architecture = options.architecture;
  module->key = key;
  if (!directory.empty()) {
    write_file(directory / (key + ".ptx"), module->ptx.data(), module->ptx.size());
    if (real) write_file(directory / (key + ".cubin"), module->cubin.data(), module->cubin.size());
  }
  return remember(module);
}

int64_t nvrtc_compilations() { return compilations.load(); }

std::string nvrtc_version() {
  int major = 0, minor = 0;
  check(nvrtcVersion(&major, &minor), "nvrtcVersion");
  return std::to_string(major) + "." + std::to_string(minor);
}

std::vector<int> nvrtc_architectures() {
  int count = 0;
  check(nvrtcGetNumSupportedArchs(&count), "nvrtcGetNumSupportedArchs");
  std::vector<int> architectures(count);
  if (count > 0) check(nvrtcGetSupportedArchs(architectures.data()), "nvrtcGetSupportedArchs");
  return architectures;
}

std::vector<std::string> nvrtc_diagnostics(const std::string& log) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.rfind("ptxas", 0) != 0) lines.push_back(line);
  return lines;
}

}  // namespace rnnc::cuda
