#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

/// CUDA C to PTX and CUBIN with NVRTC (linked at build time: it needs no GPU), behind a cache
/// keyed by a hash of the source and the options: in memory for the process, and on disk under
/// $XDG_CACHE_HOME/rnnc (or ~/.cache/rnnc) when that directory is writable.
namespace rnnc::cuda {

/// What NVRTC made of one source.
struct CompiledModule {
  std::string ptx;           ///< the PTX (always kept, so newer GPUs can JIT it)
  std::vector<char> cubin;   ///< the CUBIN for a real architecture (sm_XY); else empty
  std::string log;           ///< NVRTC's log (warnings; ptxas's report when asked for)
  std::string architecture;  ///< "sm_90", or "compute_90" for PTX only
  std::string key;           ///< the cache key: a hash of the source and the options
  bool from_disk = false;    ///< loaded from the disk cache (the log is then empty)
};

/// How to compile.
struct NvrtcOptions {
  /// "sm_90" (CUBIN and PTX) or "compute_90" (PTX only).
  std::string architecture = "sm_90";
  /// Ask ptxas for its register and spill report (--ptxas-options=-v); it lands in the log.
  bool ptxas_report = false;
  /// Further NVRTC options, passed as given.
  std::vector<std::string> extra;
  /// Use and fill the disk cache.
  bool disk_cache = true;
};

/// The NVRTC options `options` stands for, in order.
std::vector<std::string> nvrtc_arguments(const NvrtcOptions& options);

/// Compiles `source` (named `name` in NVRTC's messages), or returns the cached module of the
/// same source and options (the very same object while it is alive in this process). A
/// compilation failure throws rnnc::Error with NVRTC's log, each error followed by the
/// offending line of the source.
std::shared_ptr<const CompiledModule> compile_cuda(const std::string& source,
                                                   const NvrtcOptions& options = {},
                                                   const std::string& name = "rnnc_program.cu");

/// How many times NVRTC actually compiled in this process (cache misses), for tests.
int64_t nvrtc_compilations();

/// NVRTC's version as "13.0".
std::string nvrtc_version();

/// The real architectures NVRTC can make CUBIN for, as numbers (90 for sm_90).
std::vector<int> nvrtc_architectures();

/// The lines of `log` that are warnings or errors of the front end (not ptxas's report).
std::vector<std::string> nvrtc_diagnostics(const std::string& log);

}  // namespace rnnc::cuda
