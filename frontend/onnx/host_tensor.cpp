#include "frontend/onnx/host_tensor.h"

#include <onnx/onnx_pb.h>

#include <cassert>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "ir/error.h"

namespace rnnc::onnx_import {

namespace {

namespace fs = std::filesystem;

/// ONNX's name of element type `elem_type`, for messages.
std::string elem_type_name(int elem_type) {
  if (onnx::TensorProto_DataType_IsValid(elem_type))
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(elem_type));
  return "#" + std::to_string(elem_type);
}

/// Bytes per element of the supported element types.
size_t element_bytes(int elem_type) {
  switch (elem_type) {
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::INT32:
      return 4;
    case onnx::TensorProto::DOUBLE:
    case onnx::TensorProto::INT64:
      return 8;
  }
  return 0;
}

/// Decodes `count` little-endian elements of `elem_type` from `bytes` into `out`.
void decode_raw(const std::string& bytes, int elem_type, int64_t count, HostTensor& out) {
  const char* p = bytes.data();
  for (int64_t i = 0; i < count; ++i) {
    switch (elem_type) {
      case onnx::TensorProto::FLOAT: {
        float v;
        std::memcpy(&v, p + 4 * i, 4);
        out.floats[i] = v;
        break;
      }
      case onnx::TensorProto::DOUBLE: {
        double v;
        std::memcpy(&v, p + 8 * i, 8);
        out.floats[i] = v;
        break;
      }
      case onnx::TensorProto::INT32: {
        int32_t v;
        std::memcpy(&v, p + 4 * i, 4);
        out.ints[i] = v;
        break;
      }
      case onnx::TensorProto::INT64: {
        int64_t v;
        std::memcpy(&v, p + 8 * i, 8);
        out.ints[i] = v;
        break;
      }
    }
  }
}

/// The bytes of an external-data tensor: `location` resolved inside `base_dir` only.
std::string read_external(const onnx::TensorProto& proto, const std::string& base_dir,
                          size_t expected_bytes, const std::string& what) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& entry : proto.external_data()) {
    try {
      if (entry.key() == "location") location = entry.value();
      if (entry.key() == "offset") offset = std::stoll(entry.value());
      if (entry.key() == "length") length = std::stoll(entry.value());
    } catch (const std::exception&) {
      throw Error(what + ": external data " + entry.key() + " '" + entry.value() +
                  "' is not a number");
    }
  }
  if (base_dir.empty())
    throw Error(what + ": external data '" + location +
                "' cannot be read: the model was not loaded from a file");
  if (location.empty()) throw Error(what + ": external data without a location");
  fs::path relative(location);
  if (relative.is_absolute() || relative.has_root_name() || relative.has_root_directory())
    throw Error(what + ": external data path '" + location +
                "' is absolute; it must lie in the model's folder");
  for (const fs::path& part : relative)
    if (part == "..")
      throw Error(what + ": external data path '" + location + "' leaves the model's folder");
  std::error_code error;
  fs::path base = fs::weakly_canonical(fs::path(base_dir), error);
  fs::path file = fs::weakly_canonical(fs::path(base_dir) / relative, error);
  if (error) throw Error(what + ": external data '" + location + "': " + error.message());
  auto [base_end, file_it] = std::mismatch(base.begin(), base.end(), file.begin(), file.end());
  if (base_end != base.end())
    throw Error(what + ": external data path '" + location +
                "' resolves outside the model's folder (" + file.string() + ")");
  if (!fs::is_regular_file(file, error))
    throw Error(what + ": external data file '" + file.string() + "' does not exist");
  const uint64_t file_size = fs::file_size(file, error);
  if (error) throw Error(what + ": external data '" + file.string() + "': " + error.message());
  if (length < 0) length = static_cast<int64_t>(expected_bytes);
  if (offset < 0 || static_cast<uint64_t>(length) != expected_bytes ||
      static_cast<uint64_t>(offset) > file_size ||
      static_cast<uint64_t>(length) > file_size - static_cast<uint64_t>(offset))
    throw Error(what + ": external data '" + location + "' offset " + std::to_string(offset) +
                " length " + std::to_string(length) + " does not fit the file (" +
                std::to_string(file_size) + " bytes) or the tensor (" +
                std::to_string(expected_bytes) + " bytes)");
  std::ifstream in(file, std::ios::binary);
  std::string bytes(expected_bytes, '\0');
  in.seekg(offset);
  in.read(bytes.data(), static_cast<std::streamsize>(expected_bytes));
  if (!in) throw Error(what + ": cannot read external data '" + file.string() + "'");
  return bytes;
}

/// Copies typed repeated field `field` (of `count` elements) into `out`.
template <class Field, class Out>
void copy_field(const Field& field, int64_t count, std::vector<Out>& out, const std::string& what,
                const char* field_name) {
  if (field.size() != count)
    throw Error(what + ": " + field_name + " holds " + std::to_string(field.size()) +
                " values, the dimensions say " + std::to_string(count));
  for (int64_t i = 0; i < count; ++i) out[i] = static_cast<Out>(field.Get(static_cast<int>(i)));
}

}  // namespace

double HostTensor::get(int64_t i) const {
  return is_int ? static_cast<double>(ints[i]) : floats[i];
}

HostTensor HostTensor::of_ints(ir::Shape shape, std::vector<int64_t> values) {
  HostTensor tensor;
  tensor.is_int = true;
  tensor.dtype = ir::DType::i32;
  tensor.shape = std::move(shape);
  tensor.ints = std::move(values);
  assert(static_cast<int64_t>(tensor.ints.size()) == tensor.size());
  return tensor;
}

HostTensor HostTensor::of_floats(ir::DType dtype, ir::Shape shape, std::vector<double> values) {
  HostTensor tensor;
  tensor.dtype = dtype;
  tensor.shape = std::move(shape);
  tensor.floats = std::move(values);
  assert(static_cast<int64_t>(tensor.floats.size()) == tensor.size());
  return tensor;
}

ir::DType dtype_of_onnx(int elem_type, bool& is_int, const std::string& what) {
  switch (elem_type) {
    case onnx::TensorProto::FLOAT:
      is_int = false;
      return ir::DType::f32;
    case onnx::TensorProto::DOUBLE:
      is_int = false;
      return ir::DType::f64;
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::INT64:
      is_int = true;
      return ir::DType::i32;
  }
  throw Error(what + ": element type " + elem_type_name(elem_type) +
              " is not supported (rnnc supports FLOAT, DOUBLE, INT32 and INT64)");
}

int64_t checked_num_elements(const std::vector<int64_t>& dims, const std::string& what) {
  int64_t count = 1;
  for (int64_t dim : dims) {
    if (dim < 0) throw Error(what + ": negative dimension " + std::to_string(dim));
    if (dim > kMaxElements)
      throw Error(what + ": dimension " + std::to_string(dim) + " is absurdly large");
    count *= dim;
    if (count > kMaxElements)
      throw Error(what + ": shape " + ir::shape_to_string(dims) + " has more than " +
                  std::to_string(kMaxElements) + " elements");
  }
  return count;
}

HostTensor decode_tensor(const onnx::TensorProto& proto, const std::string& base_dir,
                         const std::string& what) {
  HostTensor out;
  out.dtype = dtype_of_onnx(proto.data_type(), out.is_int, what);
  out.shape.assign(proto.dims().begin(), proto.dims().end());
  const int64_t count = checked_num_elements(out.shape, what);
  if (proto.has_segment()) throw Error(what + ": segmented tensors are not supported");
  if (out.is_int)
    out.ints.resize(count);
  else
    out.floats.resize(count);
  const int elem_type = proto.data_type();
  const size_t bytes = static_cast<size_t>(count) * element_bytes(elem_type);
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    decode_raw(read_external(proto, base_dir, bytes, what), elem_type, count, out);
    return out;
  }
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != bytes)
      throw Error(what + ": raw_data holds " + std::to_string(proto.raw_data().size()) +
                  " bytes, the dimensions " + ir::shape_to_string(out.shape) + " need " +
                  std::to_string(bytes));
    decode_raw(proto.raw_data(), elem_type, count, out);
    return out;
  }
  switch (elem_type) {
    case onnx::TensorProto::FLOAT:
      copy_field(proto.float_data(), count, out.floats, what, "float_data");
      break;
    case onnx::TensorProto::DOUBLE:
      copy_field(proto.double_data(), count, out.floats, what, "double_data");
      break;
    case onnx::TensorProto::INT32:
      copy_field(proto.int32_data(), count, out.ints, what, "int32_data");
      break;
    case onnx::TensorProto::INT64:
      copy_field(proto.int64_data(), count, out.ints, what, "int64_data");
      break;
  }
  return out;
}

Tensor to_runtime_tensor(const HostTensor& tensor, const std::string& what) {
  Tensor out(tensor.type());
  for (int64_t i = 0; i < tensor.size(); ++i) {
    if (tensor.is_int) {
      int64_t v = tensor.ints[i];
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
        throw Error(what + ": int64 value " + std::to_string(v) + " at element " +
                    std::to_string(i) + " does not fit rnnc's i32 index type");
      out.set(i, static_cast<double>(v));
    } else {
      out.set(i, tensor.floats[i]);
    }
  }
  return out;
}

HostTensor from_runtime_tensor(const Tensor& tensor) {
  if (tensor.dtype() == ir::DType::i32) {
    std::vector<int64_t> values(tensor.num_elements());
    for (int64_t i = 0; i < tensor.num_elements(); ++i)
      values[i] = static_cast<int64_t>(tensor.get(i));
    return HostTensor::of_ints(tensor.shape(), std::move(values));
  }
  return HostTensor::of_floats(tensor.dtype(), tensor.shape(), tensor.to_doubles());
}

HostTensor take(const HostTensor& source, ir::Shape shape, const std::vector<int64_t>& index) {
  HostTensor out;
  out.is_int = source.is_int;
  out.dtype = source.dtype;
  out.shape = std::move(shape);
  assert(static_cast<int64_t>(index.size()) == out.size());
  if (source.is_int) {
    out.ints.resize(index.size());
    for (size_t i = 0; i < index.size(); ++i) out.ints[i] = source.ints.at(index[i]);
  } else {
    out.floats.resize(index.size());
    for (size_t i = 0; i < index.size(); ++i) out.floats[i] = source.floats.at(index[i]);
  }
  return out;
}

}  // namespace rnnc::onnx_import
