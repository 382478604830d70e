#include "codegen/cpu/perf_map.h"

#include <llvm/ExecutionEngine/JITLink/JITLink.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace rnnc::cpu {
namespace {

/// Keeps every named symbol of `graph` to the end of linking: a call to an internal kernel
/// refers to its section and offset, so the kernel's own symbol would be pruned before it
/// has an address.
llvm::Error keep_named_symbols(llvm::jitlink::LinkGraph& graph) {
  for (llvm::jitlink::Symbol* symbol : graph.defined_symbols())
    if (symbol->hasName()) symbol->setLive(true);
  return llvm::Error::success();
}

/// Appends "start size name" (hexadecimal addresses) for each function of `graph`, once it
/// is placed, to /tmp/perf-PID.map.
llvm::Error write_perf_map(llvm::jitlink::LinkGraph& graph) {
  static std::mutex lock;
  std::lock_guard<std::mutex> guard(lock);
  std::string path = "/tmp/perf-" + std::to_string(static_cast<long>(::getpid())) + ".map";
  if (FILE* map = std::fopen(path.c_str(), "a")) {
    for (llvm::jitlink::Symbol* symbol : graph.defined_symbols())
      if (symbol->isCallable() && symbol->hasName() && symbol->getSize() > 0)
        std::fprintf(
            map, "%llx %llx %s\n", static_cast<unsigned long long>(symbol->getAddress().getValue()),
            static_cast<unsigned long long>(symbol->getSize()), symbol->getName().str().c_str());
    std::fclose(map);
  }
  return llvm::Error::success();
}

/// Adds the two passes above to every link.
class PerfMapPlugin : public llvm::orc::ObjectLinkingLayer::Plugin {
 public:
  void modifyPassConfig(llvm::orc::MaterializationResponsibility&, llvm::jitlink::LinkGraph&,
                        llvm::jitlink::PassConfiguration& config) override {
    config.PrePrunePasses.emplace_back(&keep_named_symbols);
    config.PostFixupPasses.emplace_back(&write_perf_map);
  }
  llvm::Error notifyFailed(llvm::orc::MaterializationResponsibility&) override {
    return llvm::Error::success();
  }
  llvm::Error notifyRemovingResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey) override {
    return llvm::Error::success();
  }
  void notifyTransferringResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey,
                                   llvm::orc::ResourceKey) override {}
};

}  // namespace

void name_functions_for_perf(llvm::orc::LLJIT& jit) {
  if (!std::getenv("RNNC_PERF_MAP")) return;
  if (auto* linker = llvm::dyn_cast<llvm::orc::ObjectLinkingLayer>(&jit.getObjLinkingLayer()))
    linker->addPlugin(std::make_shared<PerfMapPlugin>());
}

}  // namespace rnnc::cpu
