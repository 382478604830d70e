#include "frontend/onnx/ops_util.h"

#include <cassert>

#include "ir/builder.h"
#include "ir/error.h"

namespace rnnc::onnx_import {

namespace build = ir::build;

namespace {

/// Throws when folding would compute a tensor of `shape` larger than the importer folds.
void check_foldable(const ir::Shape& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim > kMaxFoldedElements || (dim > 0 && count > kMaxFoldedElements / dim) ||
        count * dim > kMaxFoldedElements)
      throw Error("folding would compute a tensor " + ir::shape_to_string(shape) +
                  ", more than the importer folds (" + std::to_string(kMaxFoldedElements) +
                  " elements)");
    count *= dim;
  }
}

}  // namespace

ir::Shape broadcast_shapes(const NodeContext& context, const ir::Shape& a, const ir::Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  ir::Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw context.error("shapes " + ir::shape_to_string(a) + " and " + ir::shape_to_string(b) +
                          " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

ir::Value* broadcast_to(ir::Value* x, const ir::Shape& shape) {
  return x->shape() == shape ? x : build::broadcast(x, shape);
}

HostTensor broadcast_host(const HostTensor& x, const ir::Shape& shape) {
  if (x.shape == shape) return x;
  check_foldable(shape);
  const size_t rank = shape.size();
  assert(x.shape.size() <= rank);
  const size_t lead = rank - x.shape.size();
  std::vector<int64_t> source_strides(rank, 0);
  std::vector<int64_t> strides = ir::row_major_strides(x.shape);
  for (size_t i = 0; i < x.shape.size(); ++i)
    source_strides[lead + i] = x.shape[i] == 1 ? 0 : strides[i];
  std::vector<int64_t> index(ir::num_elements(shape));
  std::vector<int64_t> out_strides = ir::row_major_strides(shape);
  for (int64_t flat = 0; flat < static_cast<int64_t>(index.size()); ++flat) {
    int64_t rest = flat, source = 0;
    for (size_t d = 0; d < rank; ++d) {
      source += (rest / out_strides[d]) * source_strides[d];
      rest %= out_strides[d];
    }
    index[flat] = source;
  }
  return take(x, shape, index);
}

ir::Value* insert_axis(ir::Value* x, int64_t axis) {
  ir::Shape shape = x->shape();
  shape.insert(shape.begin() + axis, 1);
  return build::reshape(x, shape);
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = i;
  return values;
}

HostTensor transpose_host(const HostTensor& x, const std::vector<int64_t>& perm) {
  const size_t rank = perm.size();
  ir::Shape shape(rank);
  for (size_t i = 0; i < rank; ++i) shape[i] = x.shape[perm[i]];
  std::vector<int64_t> in_strides = ir::row_major_strides(x.shape);
  std::vector<int64_t> out_strides = ir::row_major_strides(shape);
  std::vector<int64_t> index(ir::num_elements(shape));
  for (int64_t flat = 0; flat < static_cast<int64_t>(index.size()); ++flat) {
    int64_t rest = flat, source = 0;
    for (size_t d = 0; d < rank; ++d) {
      source += (rest / out_strides[d]) * in_strides[perm[d]];
      rest %= out_strides[d];
    }
    index[flat] = source;
  }
  return take(x, shape, index);
}

ir::Value* take_along_axis(ir::Value* x, int64_t axis, const std::vector<int64_t>& indices) {
  const int64_t rank = x->type().rank();
  std::vector<int64_t> to_front = iota(rank);
  to_front.erase(to_front.begin() + axis);
  to_front.insert(to_front.begin(), axis);
  ir::Value* front = axis == 0 ? x : build::transpose(x, to_front);
  std::vector<double> index_values(indices.begin(), indices.end());
  ir::Graph& graph = build::graph_of(x);
  ir::Value* index_constant = graph.add_constant(
      {ir::DType::i32, {static_cast<int64_t>(indices.size())}}, index_values, "indices");
  ir::Value* gathered = build::gather(front, index_constant);
  if (axis == 0) return gathered;
  std::vector<int64_t> back(rank);
  for (int64_t i = 0; i < rank; ++i) back[to_front[i]] = i;
  return build::transpose(gathered, back);
}

HostTensor take_along_axis_host(const HostTensor& x, int64_t axis,
                                const std::vector<int64_t>& indices) {
  ir::Shape shape = x.shape;
  shape[axis] = static_cast<int64_t>(indices.size());
  check_foldable(shape);
  std::vector<int64_t> in_strides = ir::row_major_strides(x.shape);
  std::vector<int64_t> out_strides = ir::row_major_strides(shape);
  std::vector<int64_t> index(ir::num_elements(shape));
  for (int64_t flat = 0; flat < static_cast<int64_t>(index.size()); ++flat) {
    int64_t rest = flat, source = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
      int64_t coordinate = rest / out_strides[d];
      rest %= out_strides[d];
      if (static_cast<int64_t>(d) == axis) coordinate = indices[coordinate];
      source += coordinate * in_strides[d];
    }
    index[flat] = source;
  }
  return take(x, shape, index);
}

}  // namespace rnnc::onnx_import
