// NumPy .npy files: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
// The header is a Python dict literal; it is parsed here as such (strings, booleans,
// integers and tuples), not matched against the exact spelling NumPy happens to write.
#include "runtime/npy.h"

#include <bit>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>

#include "ir/error.h"
#include "runtime/text_file.h"

namespace rnnc {
namespace {

static_assert(std::endian::native == std::endian::little,
              ".npy I/O copies little-endian data as is; a big-endian host needs byte swaps");

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
/// NumPy aligns the data of every file it writes to this many bytes.
constexpr size_t kArrayAlign = 64;
/// NumPy leaves room after the header so the first axis can grow in place (its
/// GROWTH_AXIS_MAX_DIGITS); written here too, so files are byte-identical to NumPy's.
constexpr size_t kGrowthAxisMaxDigits = 21;

/// A Python literal as it can appear in a .npy header.
struct PyValue {
  enum class Kind { string, boolean, none, integer, tuple, list, dict };
  Kind kind = Kind::none;
  std::string text;                                  ///< string
  bool flag = false;                                 ///< boolean
  int64_t number = 0;                                ///< integer
  std::vector<PyValue> items;                        ///< tuple, list
  std::vector<std::pair<PyValue, PyValue>> entries;  ///< dict

  static PyValue of_kind(Kind kind) {
    PyValue value;
    value.kind = kind;
    return value;
  }
  static PyValue of_bool(bool flag) {
    PyValue value = of_kind(Kind::boolean);
    value.flag = flag;
    return value;
  }
  static PyValue of_int(int64_t number) {
    PyValue value = of_kind(Kind::integer);
    value.number = number;
    return value;
  }
};

/// A recursive-descent reader of the Python literals found in .npy headers.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : text_(text), path_(path) {}

  PyValue parse_document() {
    PyValue value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the header dictionary");
    return value;
  }

 private:
  static constexpr int kMaxDepth = 32;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(path_ + ": malformed .npy header: " + what +
                " (header: " + std::string(text_.substr(0, 200)) + ")");
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  void expect(char c) {
    if (!accept(c)) fail(std::string("expected '") + c + "'");
  }

  PyValue parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end");
    const char c = text_[pos_];
    if (c == '\'' || c == '"') return parse_string();
    if (c == '(') return parse_sequence(PyValue::Kind::tuple, ')', depth);
    if (c == '[') return parse_sequence(PyValue::Kind::list, ']', depth);
    if (c == '{') return parse_dict(depth);
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) return parse_integer();
    if (std::isalpha(static_cast<unsigned char>(c))) return parse_name();
    fail(std::string("unexpected character '") + c + "'");
  }

  PyValue parse_string() {
    const char quote = text_[pos_++];
    PyValue value = PyValue::of_kind(PyValue::Kind::string);
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') fail("escapes in strings are not supported");
      value.text += text_[pos_++];
    }
    if (pos_ >= text_.size()) fail("unterminated string");
    ++pos_;
    return value;
  }

  PyValue parse_integer() {
    const size_t start = pos_;
    bool negative = false;
    if (text_[pos_] == '-') {
      negative = true;
      ++pos_;
    }
    if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_])))
      fail("expected a digit");
    uint64_t magnitude = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      const uint64_t digit = static_cast<uint64_t>(text_[pos_++] - '0');
      if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10)
        fail("integer too large: " + std::string(text_.substr(start, pos_ - start)));
      magnitude = magnitude * 10 + digit;
    }
    // Python 2 wrote longs as 3L; NumPy still reads such headers.
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;
    if (magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail("integer too large: " + std::string(text_.substr(start, pos_ - start)));
    const int64_t signed_magnitude = static_cast<int64_t>(magnitude);
    return PyValue::of_int(negative ? -signed_magnitude : signed_magnitude);
  }

  PyValue parse_name() {
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_'))
      ++pos_;
    const std::string_view name = text_.substr(start, pos_ - start);
    if (name == "True") return PyValue::of_bool(true);
    if (name == "False") return PyValue::of_bool(false);
    if (name == "None") return PyValue::of_kind(PyValue::Kind::none);
    fail("unexpected name '" + std::string(name) + "'");
  }

  PyValue parse_sequence(PyValue::Kind kind, char close, int depth) {
    ++pos_;  // the opening bracket
    PyValue value = PyValue::of_kind(kind);
    bool saw_comma = false;
    while (!accept(close)) {
      if (!value.items.empty() && !saw_comma) fail(std::string("expected ',' or '") + close + "'");
      value.items.push_back(parse_value(depth + 1));
      saw_comma = accept(',');
    }
    // (3) is the integer 3 in Python, not a tuple; a one-element tuple needs its comma.
    if (kind == PyValue::Kind::tuple && value.items.size() == 1 && !saw_comma)
      return value.items.front();
    return value;
  }

  PyValue parse_dict(int depth) {
    ++pos_;  // '{'
    PyValue value = PyValue::of_kind(PyValue::Kind::dict);
    bool saw_comma = false;
    while (!accept('}')) {
      if (!value.entries.empty() && !saw_comma) fail("expected ',' or '}'");
      PyValue key = parse_value(depth + 1);
      expect(':');
      PyValue item = parse_value(depth + 1);
      value.entries.emplace_back(std::move(key), std::move(item));
      saw_comma = accept(',');
    }
    return value;
  }

  std::string_view text_;
  const std::string& path_;
  size_t pos_ = 0;
};

/// What a .npy header says about its array.
struct NpyHeader {
  DType dtype = DType::f32;
  bool source_is_i64 = false;  ///< '<i8' data, narrowed to i32 on reading
  int64_t item_size = 4;
  Shape shape;
};

DType dtype_from_descr(const std::string& path, const std::string& descr, NpyHeader& header) {
  if (descr == "<f4") return DType::f32;
  if (descr == "<f8") return DType::f64;
  if (descr == "<i4") return DType::i32;
  if (descr == "<i8") {
    header.source_is_i64 = true;
    header.item_size = 8;
    return DType::i32;
  }
  if (!descr.empty() && descr[0] == '>')
    throw Error(path + ": big-endian dtype '" + descr +
                "' is not supported (save it little-endian: arr.astype('<" + descr.substr(1) +
                "'))");
  throw Error(path + ": unsupported dtype '" + descr + "' (supported: <f4, <f8, <i4, <i8)");
}

NpyHeader interpret_header(const std::string& path, const PyValue& dict) {
  if (dict.kind != PyValue::Kind::dict)
    throw Error(path + ": malformed .npy header: not a dictionary");
  std::map<std::string, const PyValue*> fields;
  for (const auto& [key, value] : dict.entries) {
    if (key.kind != PyValue::Kind::string)
      throw Error(path + ": malformed .npy header: a key is not a string");
    if (key.text != "descr" && key.text != "fortran_order" && key.text != "shape")
      throw Error(path + ": malformed .npy header: unexpected key '" + key.text + "'");
    if (!fields.emplace(key.text, &value).second)
      throw Error(path + ": malformed .npy header: key '" + key.text + "' given twice");
  }
  for (const char* key : {"descr", "fortran_order", "shape"})
    if (!fields.count(key))
      throw Error(path + ": malformed .npy header: missing key '" + key + "'");

  NpyHeader header;
  const PyValue& descr = *fields["descr"];
  if (descr.kind != PyValue::Kind::string)
    throw Error(path + ": unsupported dtype: structured arrays (a list 'descr') are not supported");
  header.dtype = dtype_from_descr(path, descr.text, header);
  if (!header.source_is_i64) header.item_size = ir::dtype_size(header.dtype);

  const PyValue& fortran = *fields["fortran_order"];
  if (fortran.kind != PyValue::Kind::boolean)
    throw Error(path + ": malformed .npy header: 'fortran_order' is not True or False");
  if (fortran.flag)
    throw Error(path +
                ": Fortran-order arrays are not supported (save a C-order array: "
                "np.ascontiguousarray)");

  const PyValue& shape = *fields["shape"];
  if (shape.kind != PyValue::Kind::tuple)
    throw Error(path + ": malformed .npy header: 'shape' is not a tuple");
  int64_t elements = 1;
  for (const PyValue& dim : shape.items) {
    if (dim.kind != PyValue::Kind::integer || dim.number < 0)
      throw Error(path +
                  ": malformed .npy header: 'shape' holds something other than a "
                  "non-negative integer");
    if (dim.number != 0 && elements > std::numeric_limits<int64_t>::max() / 8 / dim.number)
      throw Error(path + ": malformed .npy header: the shape has too many elements");
    elements *= dim.number;
    header.shape.push_back(dim.number);
  }
  return header;
}

uint64_t read_little_endian(const std::string& bytes, size_t offset, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i)
    value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  return value;
}

/// The Python repr of a shape tuple: "()", "(3,)", "(2, 3)".
std::string shape_repr(const Shape& shape) {
  if (shape.empty()) return "()";
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

std::string descr_of(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "<f4";
    case DType::f64:
      return "<f8";
    case DType::i32:
      return "<i4";
  }
  return "";
}

}  // namespace

Tensor read_npy(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  if (bytes.size() < kMagicSize || bytes.compare(0, kMagicSize, kMagic, kMagicSize) != 0)
    throw Error(path + ": not a .npy file (bad magic: it must start with \\x93NUMPY)");
  if (bytes.size() < kMagicSize + 2)
    throw Error(path + ": truncated: the file ends inside the .npy version");
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    throw Error(path + ": unsupported .npy format version " + std::to_string(major) + "." +
                std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  const size_t length_width = major == 1 ? 2 : 4;
  const size_t header_start = kMagicSize + 2 + length_width;
  if (bytes.size() < header_start)
    throw Error(path + ": truncated: the file ends inside the .npy header length");
  const uint64_t header_length = read_little_endian(bytes, kMagicSize + 2, length_width);
  if (bytes.size() - header_start < header_length)
    throw Error(path + ": truncated: expected a header of " + std::to_string(header_length) +
                " bytes, found " + std::to_string(bytes.size() - header_start));
  const std::string_view header_text(bytes.data() + header_start, header_length);
  const NpyHeader header = interpret_header(path, HeaderParser(header_text, path).parse_document());

  // Check the size before allocating: a header may claim any shape.
  const size_t data_start = header_start + header_length;
  const uint64_t expected =
      static_cast<uint64_t>(ir::num_elements(header.shape) * header.item_size);
  const uint64_t found = bytes.size() - data_start;
  if (found < expected)
    throw Error(path + ": truncated: expected " + std::to_string(expected) +
                " bytes of data, found " + std::to_string(found));
  if (found > expected)
    throw Error(path + ": " + std::to_string(found - expected) +
                " unexpected bytes after the data (expected " + std::to_string(expected) + ")");

  Tensor tensor(header.dtype, header.shape);
  if (!header.source_is_i64) {
    std::memcpy(tensor.raw(), bytes.data() + data_start, expected);
    return tensor;
  }
  int32_t* out = tensor.data<int32_t>();
  for (int64_t i = 0; i < tensor.num_elements(); ++i) {
    int64_t value;
    std::memcpy(&value, bytes.data() + data_start + 8 * i, 8);
    if (value < std::numeric_limits<int32_t>::min() || value > std::numeric_limits<int32_t>::max())
      throw Error(path + ": int64 value " + std::to_string(value) + " at index " +
                  std::to_string(i) + " does not fit in i32");
    out[i] = static_cast<int32_t>(value);
  }
  return tensor;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  // Exactly what NumPy's write_array writes for format 1.0: the sorted-key dict, spare room
  // for the first axis to grow, spaces up to a 64-byte boundary, a newline.
  std::string header = "{'descr': '" + descr_of(tensor.dtype()) +
                       "', 'fortran_order': False, 'shape': " + shape_repr(tensor.shape()) + ", }";
  if (!tensor.shape().empty()) {
    const size_t first_axis_digits = std::to_string(tensor.shape()[0]).size();
    if (first_axis_digits < kGrowthAxisMaxDigits)
      header.append(kGrowthAxisMaxDigits - first_axis_digits, ' ');
  }
  const size_t unpadded = kMagicSize + 2 + 2 + header.size() + 1;  // + 1: the final newline
  header.append(kArrayAlign - unpadded % kArrayAlign, ' ');
  header += '\n';
  if (header.size() > std::numeric_limits<uint16_t>::max())
    throw Error(path + ": cannot write .npy: a rank-" + std::to_string(tensor.shape().size()) +
                " header does not fit format 1.0");

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path + ": cannot open file for writing: " + std::strerror(errno));
  out.write(kMagic, kMagicSize);
  const char version_and_length[4] = {1, 0, static_cast<char>(header.size() & 0xff),
                                      static_cast<char>(header.size() >> 8)};
  out.write(version_and_length, 4);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(tensor.raw()), tensor.num_bytes());
  out.close();
  if (!out) throw Error(path + ": write error");
}

}  // namespace rnnc
