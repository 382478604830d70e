#include "codegen/cuda/driver_api.h"

#include "ir/error.h"

namespace rnnc::cuda {

void throw_status(const rnnc_cuda_status& status) { throw Error(status.message); }

int device_compute_capability() {
  rnnc_cuda_status status{};
  int capability = 0;
  if (rnnc_cuda_probe(&capability, &status) != RNNC_CUDA_OK) throw_status(status);
  return capability;
}

bool cuda_usable(std::string* why) {
  rnnc_cuda_status status{};
  if (rnnc_cuda_probe(nullptr, &status) == RNNC_CUDA_OK) return true;
  if (why) *why = status.message;
  return false;
}

}  // namespace rnnc::cuda
