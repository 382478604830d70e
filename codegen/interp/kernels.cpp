#include "codegen/interp/kernels.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "ir/error.h"

namespace rnnc::interp {
namespace {

using ir::OpKind;
using ir::Shape;

/// The multi-index of flat position `flat` in `shape`.
std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

/// The flat position of `index` in `shape`.
int64_t ravel(const std::vector<int64_t>& index, const Shape& shape) {
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + index[d];
  return flat;
}

/// Stores doubles into a new tensor of `type` (rounding to f32 or truncating to i32). An i32
/// result that does not fit is an error rather than undefined behaviour.
Tensor store(const ir::TensorType& type, const std::vector<double>& values) {
  if (type.dtype == ir::DType::i32)
    for (double v : values)
      if (!(v >= -2147483648.0 && v < 2147483648.0))
        throw Error("value " + std::to_string(v) + " does not fit in i32");
  return Tensor::from_doubles(type.dtype, type.shape, values);
}

std::vector<double> broadcast(const Tensor& in, const Shape& out_shape) {
  std::vector<double> out(ir::num_elements(out_shape));
  size_t offset = out_shape.size() - in.shape().size();
  std::vector<int64_t> in_index(in.shape().size());
  for (int64_t i = 0; i < static_cast<int64_t>(out.size()); ++i) {
    std::vector<int64_t> index = unravel(i, out_shape);
    for (size_t d = 0; d < in_index.size(); ++d)
      in_index[d] = in.shape()[d] == 1 ? 0 : index[offset + d];
    out[i] = in.get(ravel(in_index, in.shape()));
  }
  return out;
}

std::vector<double> transpose(const Tensor& in, const std::vector<int64_t>& perm,
                              const Shape& out_shape) {
  std::vector<double> out(ir::num_elements(out_shape));
  std::vector<int64_t> in_index(perm.size());
  for (int64_t i = 0; i < static_cast<int64_t>(out.size()); ++i) {
    std::vector<int64_t> index = unravel(i, out_shape);
    for (size_t d = 0; d < perm.size(); ++d) in_index[perm[d]] = index[d];
    out[i] = in.get(ravel(in_index, in.shape()));
  }
  return out;
}

std::vector<double> slice(const Tensor& in, const std::vector<int64_t>& starts,
                          const Shape& out_shape) {
  std::vector<double> out(ir::num_elements(out_shape));
  for (int64_t i = 0; i < static_cast<int64_t>(out.size()); ++i) {
    std::vector<int64_t> index = unravel(i, out_shape);
    for (size_t d = 0; d < index.size(); ++d) index[d] += starts[d];
    out[i] = in.get(ravel(index, in.shape()));
  }
  return out;
}

std::vector<double> pad(const Tensor& in, const std::vector<int64_t>& low, const Shape& out_shape) {
  std::vector<double> out(ir::num_elements(out_shape), 0.0);
  for (int64_t i = 0; i < in.num_elements(); ++i) {
    std::vector<int64_t> index = unravel(i, in.shape());
    for (size_t d = 0; d < index.size(); ++d) index[d] += low[d];
    out[ravel(index, out_shape)] = in.get(i);
  }
  return out;
}

std::vector<double> concat(const std::vector<const Tensor*>& parts, int64_t axis,
                           const Shape& out_shape) {
  std::vector<double> out(ir::num_elements(out_shape));
  int64_t axis_offset = 0;
  for (const Tensor* part : parts) {
    for (int64_t i = 0; i < part->num_elements(); ++i) {
      std::vector<int64_t> index = unravel(i, part->shape());
      index[axis] += axis_offset;
      out[ravel(index, out_shape)] = part->get(i);
    }
    axis_offset += part->shape()[axis];
  }
  return out;
}

std::vector<double> reduce(OpKind kind, const Tensor& in, const std::vector<int64_t>& axes,
                           const Shape& out_shape) {
  std::vector<bool> reduced(in.shape().size(), false);
  for (int64_t axis : axes) reduced[axis] = true;
  bool is_max = kind == OpKind::ReduceMax;
  std::vector<double> out(ir::num_elements(out_shape),
                          is_max ? -std::numeric_limits<double>::infinity() : 0.0);
  std::vector<int64_t> out_index;
  for (int64_t i = 0; i < in.num_elements(); ++i) {
    std::vector<int64_t> index = unravel(i, in.shape());
    out_index.clear();
    for (size_t d = 0; d < index.size(); ++d)
      if (!reduced[d]) out_index.push_back(index[d]);
    double& slot = out[ravel(out_index, out_shape)];
    double v = in.get(i);
    slot = is_max ? (std::isnan(v) || std::isnan(slot) ? NAN : std::max(slot, v)) : slot + v;
  }
  if (kind == OpKind::ReduceMean && !out.empty()) {
    double count = static_cast<double>(in.num_elements()) / static_cast<double>(out.size());
    for (double& v : out) v /= count;
  }
  return out;
}

std::vector<double> matmul(const Tensor& a, const Tensor& b, bool ta, bool tb,
                           const Shape& out_shape) {
  int64_t r = static_cast<int64_t>(out_shape.size());
  int64_t m = out_shape[r - 2], n = out_shape[r - 1];
  int64_t k = ta ? a.shape()[r - 2] : a.shape()[r - 1];
  int64_t batch = ir::num_elements(Shape(out_shape.begin(), out_shape.end() - 2));
  std::vector<double> out(ir::num_elements(out_shape), 0.0);
  for (int64_t p = 0; p < batch; ++p) {
    const int64_t a_base = p * m * k, b_base = p * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t q = 0; q < k; ++q) {
          double av = a.get(a_base + (ta ? q * m + i : i * k + q));
          double bv = b.get(b_base + (tb ? j * k + q : q * n + j));
          sum += av * bv;
        }
        out[p * m * n + i * n + j] = sum;
      }
  }
  return out;
}

int64_t checked_index(const Tensor& indices, int64_t i, int64_t rows) {
  int64_t row = static_cast<int64_t>(indices.get(i));
  if (row < 0 || row >= rows)
    throw Error("index " + std::to_string(row) + " out of range [0, " + std::to_string(rows) + ")");
  return row;
}

std::vector<double> gather(const Tensor& table, const Tensor& indices) {
  int64_t rows = table.shape()[0];
  int64_t row_size = rows ? table.num_elements() / rows : 0;
  std::vector<double> out(indices.num_elements() * row_size);
  for (int64_t i = 0; i < indices.num_elements(); ++i) {
    int64_t row = checked_index(indices, i, rows);
    for (int64_t j = 0; j < row_size; ++j) out[i * row_size + j] = table.get(row * row_size + j);
  }
  return out;
}

std::vector<double> scatter_add(const Tensor& indices, const Tensor& updates, const Shape& shape) {
  int64_t rows = shape[0];
  int64_t row_size = rows ? ir::num_elements(shape) / rows : 0;
  std::vector<double> out(ir::num_elements(shape), 0.0);
  for (int64_t i = 0; i < indices.num_elements(); ++i) {
    int64_t row = checked_index(indices, i, rows);
    for (int64_t j = 0; j < row_size; ++j) out[row * row_size + j] += updates.get(i * row_size + j);
  }
  return out;
}

std::vector<double> coalesce_rows(const Tensor& indices, const Tensor& updates, int64_t rows) {
  int64_t positions = indices.num_elements();
  int64_t row_size = positions ? updates.num_elements() / positions : 0;
  std::vector<double> out(updates.num_elements(), 0.0);
  std::unordered_map<int64_t, int64_t> first_position;  // row -> its first position
  for (int64_t i = 0; i < positions; ++i) {
    int64_t row = checked_index(indices, i, rows);
    int64_t first = first_position.emplace(row, i).first->second;
    for (int64_t j = 0; j < row_size; ++j)
      out[first * row_size + j] += updates.get(i * row_size + j);
  }
  return out;
}

std::vector<double> scatter_rows(const Tensor& table, const Tensor& indices, const Tensor& rows) {
  int64_t table_rows = table.shape()[0];
  int64_t row_size = table_rows ? table.num_elements() / table_rows : 0;
  std::vector<double> out(table.num_elements());
  for (int64_t i = 0; i < table.num_elements(); ++i) out[i] = table.get(i);
  std::vector<bool> written(table_rows, false);
  for (int64_t i = 0; i < indices.num_elements(); ++i) {
    int64_t row = checked_index(indices, i, table_rows);
    if (written[row]) continue;  // the first position wins
    written[row] = true;
    for (int64_t j = 0; j < row_size; ++j) out[row * row_size + j] = rows.get(i * row_size + j);
  }
  return out;
}

template <class Fn>
std::vector<double> map_unary(const Tensor& x, Fn fn) {
  std::vector<double> out(x.num_elements());
  for (int64_t i = 0; i < x.num_elements(); ++i) out[i] = fn(x.get(i));
  return out;
}

template <class Fn>
std::vector<double> map_binary(const Tensor& a, const Tensor& b, Fn fn) {
  std::vector<double> out(a.num_elements());
  for (int64_t i = 0; i < a.num_elements(); ++i) out[i] = fn(a.get(i), b.get(i));
  return out;
}

double divide(double a, double b, bool integer) {
  if (!integer) return a / b;
  if (b == 0) throw Error("integer division by zero");
  return std::trunc(a / b);
}

}  // namespace

Tensor evaluate_constant(const ir::Node& node) {
  const ir::TensorType& type = node.result()->type();
  std::vector<double> values(type.num_elements());
  if (node.kind() == OpKind::Iota) {
    int64_t axis = node.attrs().get_int("axis");
    for (int64_t i = 0; i < type.num_elements(); ++i) values[i] = unravel(i, type.shape)[axis];
  } else {
    const auto& given = node.attrs().get_floats("value");
    for (int64_t i = 0; i < type.num_elements(); ++i)
      values[i] = given.size() == 1 ? given[0] : given[i];
  }
  return store(type, values);
}

Tensor evaluate_node(const ir::Node& node, const std::vector<const Tensor*>& in) {
  const ir::TensorType& type = node.result()->type();
  const ir::Attributes& attrs = node.attrs();
  switch (node.kind()) {
    case OpKind::Input:
    case OpKind::Parameter:
    case OpKind::Constant:
    case OpKind::Iota:
      assert(false && "sources are bound, not evaluated");
      return Tensor(type);
    case OpKind::Neg:
      return store(type, map_unary(*in[0], [](double x) { return -x; }));
    case OpKind::Abs:
      return store(type, map_unary(*in[0], [](double x) { return std::abs(x); }));
    case OpKind::Sign:
      return store(type,
                   map_unary(*in[0], [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }));
    case OpKind::Exp:
      return store(type, map_unary(*in[0], [](double x) { return std::exp(x); }));
    case OpKind::Log:
      return store(type, map_unary(*in[0], [](double x) { return std::log(x); }));
    case OpKind::Sqrt:
      return store(type, map_unary(*in[0], [](double x) { return std::sqrt(x); }));
    case OpKind::Tanh:
      return store(type, map_unary(*in[0], [](double x) { return std::tanh(x); }));
    case OpKind::Sigmoid:
      return store(type, map_unary(*in[0], [](double x) { return 1.0 / (1.0 + std::exp(-x)); }));
    case OpKind::Relu:
      return store(type, map_unary(*in[0], [](double x) { return x > 0 ? x : 0.0; }));
    case OpKind::Cast:
      return store(type, map_unary(*in[0], [](double x) { return x; }));
    case OpKind::Add:
      return store(type, map_binary(*in[0], *in[1], [](double a, double b) { return a + b; }));
    case OpKind::Sub:
      return store(type, map_binary(*in[0], *in[1], [](double a, double b) { return a - b; }));
    case OpKind::Mul:
      return store(type, map_binary(*in[0], *in[1], [](double a, double b) { return a * b; }));
    case OpKind::Div: {
      bool integer = type.dtype == ir::DType::i32;
      return store(type, map_binary(*in[0], *in[1],
                                    [&](double a, double b) { return divide(a, b, integer); }));
    }
    case OpKind::Pow:
      return store(type,
                   map_binary(*in[0], *in[1], [](double a, double b) { return std::pow(a, b); }));
    case OpKind::Max:
      return store(type,
                   map_binary(*in[0], *in[1], [](double a, double b) { return std::max(a, b); }));
    case OpKind::Min:
      return store(type,
                   map_binary(*in[0], *in[1], [](double a, double b) { return std::min(a, b); }));
    case OpKind::Greater:
      return store(
          type, map_binary(*in[0], *in[1], [](double a, double b) { return a > b ? 1.0 : 0.0; }));
    case OpKind::Less:
      return store(
          type, map_binary(*in[0], *in[1], [](double a, double b) { return a < b ? 1.0 : 0.0; }));
    case OpKind::Equal:
      return store(
          type, map_binary(*in[0], *in[1], [](double a, double b) { return a == b ? 1.0 : 0.0; }));
    case OpKind::Select: {
      std::vector<double> out(type.num_elements());
      for (int64_t i = 0; i < type.num_elements(); ++i)
        out[i] = in[0]->get(i) != 0 ? in[1]->get(i) : in[2]->get(i);
      return store(type, out);
    }
    case OpKind::Broadcast:
      return store(type, broadcast(*in[0], type.shape));
    case OpKind::Reshape:
      return in[0]->reshaped(type.shape);
    case OpKind::Transpose:
      return store(type, transpose(*in[0], attrs.get_ints("perm"), type.shape));
    case OpKind::Slice:
      return store(type, slice(*in[0], attrs.get_ints("starts"), type.shape));
    case OpKind::Pad:
      return store(type, pad(*in[0], attrs.get_ints("low"), type.shape));
    case OpKind::Concat:
      return store(type, concat(in, attrs.get_int("axis"), type.shape));
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean:
      return store(type, reduce(node.kind(), *in[0], attrs.get_ints("axes"), type.shape));
    case OpKind::MatMul:
      return store(type, matmul(*in[0], *in[1], attrs.get_int("transpose_a") != 0,
                                attrs.get_int("transpose_b") != 0, type.shape));
    case OpKind::Gather:
      return store(type, gather(*in[0], *in[1]));
    case OpKind::ScatterAdd:
      return store(type, scatter_add(*in[0], *in[1], type.shape));
    case OpKind::CoalesceRows:
      return store(type, coalesce_rows(*in[0], *in[1], attrs.get_int("rows")));
    case OpKind::ScatterRows:
      return store(type, scatter_rows(*in[0], *in[1], *in[2]));
    case OpKind::Scan:
    case OpKind::Fused:
      assert(false && "scan and fused nodes are run by run_scan and run_fused");
      return Tensor(type);
  }
  assert(false && "unhandled op");
  return Tensor(type);
}

}  // namespace rnnc::interp
