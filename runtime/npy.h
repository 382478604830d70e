#pragma once
#include <string>

#include "runtime/tensor.h"

namespace rnnc {

/// Reads a NumPy .npy file (format 1.0-3.0, little-endian, C order) of dtype f4, f8 or i4
/// (i8 is accepted and narrowed to i32 when every value fits). Throws rnnc::Error naming
/// the file and what is wrong (truncated, bad magic, unsupported dtype or order).
Tensor read_npy(const std::string& path);

/// Writes `tensor` as a .npy file (format 1.0). Throws rnnc::Error when the file cannot be
/// written.
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace rnnc
