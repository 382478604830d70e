// Tests of .npy reading and writing against files written by NumPy itself
// (tests/data/npy/, made by tests/data/npy/make_fixtures.py with NumPy 1.24).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ir/error.h"
#include "runtime/npy.h"

namespace rnnc {
namespace {

std::string fixture(const std::string& name) {
  return std::string(RNNC_SOURCE_DIR) + "/tests/data/npy/" + name;
}

/// A path in the test temp dir unique to this process.
std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "rnnc_npy_test_" + std::to_string(getpid()) + "_" + name;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// The message of the rnnc::Error that reading `path` throws.
std::string read_error(const std::string& path) {
  try {
    read_npy(path);
  } catch (const Error& error) {
    return error.what();
  }
  return "<no error>";
}

/// Expects reading `path` to fail with a message that starts with the path and holds `part`.
void expect_read_error(const std::string& path, const std::string& part) {
  const std::string message = read_error(path);
  EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
  EXPECT_NE(message.find(part), std::string::npos) << message;
}

const std::vector<float> kF32_2x3 = {1.5f, -2.25f, 3.0e-8f, 65504.0f, -0.0f, 0.1f};

void expect_f32_2x3(const Tensor& tensor) {
  ASSERT_EQ(tensor.type().to_string(), "f32[2, 3]");
  for (size_t i = 0; i < kF32_2x3.size(); ++i) EXPECT_EQ(tensor.data<float>()[i], kF32_2x3[i]);
  EXPECT_TRUE(std::signbit(tensor.data<float>()[4]));
}

// ---------------------------------------------------------------------------------------
// Reading NumPy's files

TEST(ReadNpy, Float32Matrix) { expect_f32_2x3(read_npy(fixture("f32_2x3.npy"))); }

TEST(ReadNpy, Formats2And3HaveAFourByteHeaderLength) {
  expect_f32_2x3(read_npy(fixture("f32_v2.npy")));
  expect_f32_2x3(read_npy(fixture("f32_v3.npy")));
}

TEST(ReadNpy, Float64VectorKeepsEveryBit) {
  const Tensor tensor = read_npy(fixture("f64_vec.npy"));
  ASSERT_EQ(tensor.type().to_string(), "f64[4]");
  EXPECT_EQ(tensor.to_doubles(),
            (std::vector<double>{3.141592653589793, -2.718281828459045, 1e300, 5e-324}));
}

TEST(ReadNpy, Int32ThreeDimensional) {
  const Tensor tensor = read_npy(fixture("i32_2x2x2.npy"));
  ASSERT_EQ(tensor.type().to_string(), "i32[2, 2, 2]");
  const std::vector<int32_t> expected = {0, -1, 2147483647, -2147483647 - 1, 7, 8, 9, 10};
  EXPECT_EQ(std::vector<int32_t>(tensor.data<int32_t>(), tensor.data<int32_t>() + 8), expected);
}

TEST(ReadNpy, ZeroDimensionalAndEmpty) {
  const Tensor scalar = read_npy(fixture("f64_scalar.npy"));
  EXPECT_EQ(scalar.type().to_string(), "f64[]");
  EXPECT_EQ(scalar.to_doubles(), std::vector<double>{-42.5});
  const Tensor empty = read_npy(fixture("f32_empty_0x3.npy"));
  EXPECT_EQ(empty.type().to_string(), "f32[0, 3]");
  EXPECT_EQ(empty.num_bytes(), 0);
}

TEST(ReadNpy, Int64IsNarrowedToInt32WhenEveryValueFits) {
  const Tensor tensor = read_npy(fixture("i64_fits.npy"));
  ASSERT_EQ(tensor.type().to_string(), "i32[2, 3]");
  EXPECT_EQ(tensor.to_doubles(), (std::vector<double>{1, -2, 3, 2147483647, -2147483648.0, 0}));
  expect_read_error(fixture("i64_too_big.npy"),
                    "int64 value 2147483648 at index 1 does not fit in i32");
}

// ---------------------------------------------------------------------------------------
// Writing: byte for byte what NumPy writes, and round trips

TEST(WriteNpy, BytesEqualNumPys) {
  const std::vector<std::pair<std::string, Tensor>> cases = {
      {"f32_2x3.npy", Tensor::from_floats({2, 3}, kF32_2x3)},
      {"f64_vec.npy", Tensor::from_doubles(DType::f64, {4},
                                           {3.141592653589793, -2.718281828459045, 1e300, 5e-324})},
      {"i32_2x2x2.npy",
       Tensor::from_ints({2, 2, 2}, {0, -1, 2147483647, -2147483647 - 1, 7, 8, 9, 10})},
      {"f64_scalar.npy", Tensor::scalar(DType::f64, -42.5)},
      {"f32_empty_0x3.npy", Tensor(DType::f32, {0, 3})},
  };
  for (const auto& [name, tensor] : cases) {
    const std::string path = temp_path(name);
    write_npy(path, tensor);
    EXPECT_EQ(read_bytes(path), read_bytes(fixture(name))) << name;
    std::remove(path.c_str());
  }
}

TEST(WriteNpy, RoundTripsAndAlignsTheData) {
  const std::vector<Tensor> tensors = {
      Tensor::scalar(DType::f32, 0.1),
      Tensor::scalar(DType::i32, -5),
      Tensor::from_floats({1}, {7.25f}),
      Tensor::from_doubles(DType::f64, {3, 1, 2}, {1e-310, -1, 2, 3.5, 1e308, -0.0}),
      Tensor::from_ints({2, 3}, {1, 2, 3, -4, -5, 2147483647}),
      Tensor(DType::f64, {0}),
      Tensor(DType::f32, {1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}),  // a long header
      Tensor(DType::i32, {123456789012, 0}),                     // a first axis of many digits
  };
  for (const Tensor& tensor : tensors) {
    const std::string text = tensor.type().to_string();
    const std::string path = temp_path("round_trip.npy");
    write_npy(path, tensor);
    const Tensor back = read_npy(path);
    EXPECT_EQ(back.type(), tensor.type()) << text;
    EXPECT_EQ(read_bytes(path).substr(read_bytes(path).size() - tensor.num_bytes()),
              std::string(static_cast<const char*>(tensor.raw()), tensor.num_bytes()))
        << text;
    EXPECT_EQ(std::string(static_cast<const char*>(back.raw()), back.num_bytes()),
              std::string(static_cast<const char*>(tensor.raw()), tensor.num_bytes()))
        << text;
    const size_t header_bytes = read_bytes(path).size() - tensor.num_bytes();
    EXPECT_EQ(header_bytes % 64, 0u) << text;
    EXPECT_EQ(read_bytes(path)[header_bytes - 1], '\n') << text;
    std::remove(path.c_str());
  }
}

TEST(WriteNpy, UnwritablePathIsAnError) {
  const std::string path = "/nonexistent-dir/x.npy";
  try {
    write_npy(path, Tensor::scalar(DType::f32, 1));
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()).rfind(path + ": cannot open file for writing", 0), 0u)
        << error.what();
  }
}

// ---------------------------------------------------------------------------------------
// Errors, each naming the file

TEST(ReadNpyErrors, UnsupportedDtypesAndOrders) {
  expect_read_error(fixture("u8_vec.npy"), "unsupported dtype '|u1'");
  expect_read_error(fixture("f16_vec.npy"), "unsupported dtype '<f2'");
  expect_read_error(fixture("f32_big_endian.npy"), "big-endian dtype '>f4'");
  expect_read_error(fixture("f32_fortran.npy"), "Fortran-order arrays are not supported");
}

TEST(ReadNpyErrors, MissingFile) {
  expect_read_error(temp_path("does_not_exist.npy"), "cannot open file");
}

TEST(ReadNpyErrors, TruncatedData) {
  const std::string bytes = read_bytes(fixture("f32_2x3.npy"));
  const std::string path = temp_path("truncated.npy");
  write_bytes(path, bytes.substr(0, bytes.size() - 5));
  EXPECT_EQ(read_error(path), path + ": truncated: expected 24 bytes of data, found 19");
  write_bytes(path, bytes.substr(0, 128));  // the header only
  EXPECT_EQ(read_error(path), path + ": truncated: expected 24 bytes of data, found 0");
  write_bytes(path, bytes.substr(0, 60));  // inside the header
  expect_read_error(path, "truncated: expected a header of 118 bytes, found 50");
  write_bytes(path, bytes.substr(0, 9));  // inside the header length
  expect_read_error(path, "truncated");
  write_bytes(path, bytes + "xyz");
  expect_read_error(path, "3 unexpected bytes after the data");
  std::remove(path.c_str());
}

TEST(ReadNpyErrors, NotAnNpyFile) {
  const std::string path = temp_path("text.npy");
  write_bytes(path, "hours,points\n1,2\n2,4\n");
  expect_read_error(path, "not a .npy file (bad magic");
  write_bytes(path, "");
  expect_read_error(path, "not a .npy file");
  write_bytes(path, "\x93NUMP");
  expect_read_error(path, "not a .npy file");
  std::remove(path.c_str());
}

/// A format-1.0 file with `header` as its header text and `data` after it.
std::string npy_with_header(const std::string& header, const std::string& data = "") {
  std::string bytes = "\x93NUMPY\x01";
  bytes += '\0';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  return bytes + header + data;
}

TEST(ReadNpyErrors, MalformedHeaders) {
  const std::string path = temp_path("header.npy");
  const std::string four_floats(16, '\0');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{'descr': '<f4', 'shape': (4,), }\n", "missing key 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'extra': 1}",
       "unexpected key 'extra'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}",
       "key 'descr' given twice"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-4,)}", "non-negative integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4)}", "'shape' is not a tuple"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (4,)}", "not True or False"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,)}", "structured"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,)", "malformed .npy header"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (4,)}", "expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} junk", "unexpected text"},
      {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (4,)}", "unexpected name 'Maybe'"},
      {"['descr', '<f4']", "not a dictionary"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
       "integer too large"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
       "too many elements"},
      // A shape far larger than the file: an error, not an attempt to allocate 4 TB.
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,)}",
       "truncated: expected 4000000000000 bytes of data, found 16"},
  };
  for (const auto& [header, message] : cases) {
    write_bytes(path, npy_with_header(header, four_floats));
    expect_read_error(path, message);
  }
  // What NumPy accepts: double quotes, no spaces, Python 2 longs, keys in any order.
  write_bytes(path, npy_with_header("{\"shape\":(2L,2L),\"fortran_order\":False,\"descr\":\"<f4\"}",
                                    four_floats));
  EXPECT_EQ(read_npy(path).type().to_string(), "f32[2, 2]");
  std::remove(path.c_str());
}

TEST(ReadNpyErrors, UnknownVersion) {
  std::string bytes = read_bytes(fixture("f32_2x3.npy"));
  bytes[6] = 4;
  const std::string path = temp_path("version.npy");
  write_bytes(path, bytes);
  expect_read_error(path, "unsupported .npy format version 4.0");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace rnnc
