// Shape and data-movement ops. Each folds on the host when its data input is known at import
// (the Shape -> Gather -> Unsqueeze -> Concat -> Expand chains PyTorch emits around a
// recurrent layer), and otherwise becomes IR data movement.
#include <algorithm>
#include <limits>

#include "frontend/onnx/ops_util.h"
#include "ir/builder.h"

namespace rnnc::onnx_import {

namespace {

namespace build = ir::build;
using ir::Shape;
using ir::Value;

/// Output 0 is input 0 with a new shape of equal element count.
void reshape_output(NodeContext& context, const Shape& shape) {
  if (ir::num_elements(shape) != ir::num_elements(context.input_type(0).shape))
    throw context.error("cannot reshape " + context.input_type(0).to_string() + " to " +
                        ir::shape_to_string(shape));
  if (const HostTensor* x = context.constant(0)) {
    HostTensor y = *x;
    y.shape = shape;
    context.set_output(0, std::move(y));
    return;
  }
  Value* x = context.input(0);
  context.set_output(0, x->shape() == shape ? x : build::reshape(x, shape));
}

/// Axes from the attribute `axes` (before `input_opset`) or from input 1 (from it on).
std::vector<int64_t> axes_argument(const NodeContext& context, int64_t input_opset) {
  if (context.opset() < input_opset) return context.attr_ints("axes");
  if (!context.has_input(1)) return {};
  return context.ints_input(1, "axes");
}

void convert_shape(NodeContext& context) {
  context.expect_inputs(1, 1);
  context.expect_attributes({"start", "end"});
  const Shape& shape = context.input_type(0).shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  auto clamp = [&](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
  int64_t start = clamp(context.attr_int("start", 0));
  int64_t end = clamp(context.attr_int("end", rank));
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back(shape[i]);
  const int64_t n = static_cast<int64_t>(dims.size());
  context.set_output(0, HostTensor::of_ints({n}, std::move(dims)));
}

void convert_gather(NodeContext& context) {
  context.expect_inputs(2, 2);
  context.expect_attributes({"axis"});
  const Shape& data_shape = context.input_type(0).shape;
  const int64_t rank = static_cast<int64_t>(data_shape.size());
  if (rank == 0) throw context.error("data must have rank >= 1");
  const int64_t axis = normalize_axis(context, context.attr_int("axis", 0), rank, "axis");
  const int64_t extent = data_shape[axis];
  if (context.input_type(1).dtype != ir::DType::i32)
    throw context.error("indices '" + context.input_name(1) + "' must be int32 or int64");
  const Shape& index_shape = context.input_type(1).shape;
  Shape out(data_shape.begin(), data_shape.begin() + axis);
  out.insert(out.end(), index_shape.begin(), index_shape.end());
  out.insert(out.end(), data_shape.begin() + axis + 1, data_shape.end());
  if (const HostTensor* indices = context.constant(1)) {
    std::vector<int64_t> flat = indices->ints;
    for (int64_t& i : flat) {
      if (i < -extent || i >= extent)
        throw context.error("index " + std::to_string(i) + " is out of range for axis " +
                            std::to_string(axis) + " of size " + std::to_string(extent));
      if (i < 0) i += extent;
    }
    if (const HostTensor* data = context.constant(0)) {
      HostTensor y = take_along_axis_host(*data, axis, flat);
      y.shape = out;
      context.set_output(0, std::move(y));
      return;
    }
    Value* taken = take_along_axis(context.input(0), axis, flat);
    context.set_output(0, taken->shape() == out ? taken : build::reshape(taken, out));
    return;
  }
  // Indices computed at run time (token ids): negative ones count from the end.
  Value* indices = context.input(1);
  Value* zero = build::full_like(indices, 0.0);
  Value* wrapped = build::add(indices, build::full_like(indices, static_cast<double>(extent)));
  indices = build::select(build::less(indices, zero), wrapped, indices);
  Value* data = context.input(0);
  std::vector<int64_t> to_front = iota(rank);
  to_front.erase(to_front.begin() + axis);
  to_front.insert(to_front.begin(), axis);
  Value* front = axis == 0 ? data : build::transpose(data, to_front);
  Value* gathered = build::gather(front, indices);
  if (axis != 0) {
    const int64_t r = static_cast<int64_t>(index_shape.size());
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < axis; ++i) perm.push_back(r + i);
    for (int64_t i = 0; i < r; ++i) perm.push_back(i);
    for (int64_t i = r + axis; i < gathered->type().rank(); ++i) perm.push_back(i);
    gathered = build::transpose(gathered, perm);
  }
  context.set_output(0, gathered);
}

void convert_concat(NodeContext& context) {
  context.expect_attributes({"axis"});
  if (context.num_inputs() == 0) throw context.error("needs at least one input");
  const Shape& first = context.input_type(0).shape;
  const int64_t rank = static_cast<int64_t>(first.size());
  if (rank == 0) throw context.error("inputs must have rank >= 1");
  const int64_t axis = normalize_axis(context, context.attr_int("axis", 0), rank, "axis");
  Shape out = first;
  out[axis] = 0;
  std::vector<size_t> parts;
  for (size_t i = 0; i < context.num_inputs(); ++i) {
    if (!context.has_input(i)) throw context.error("input " + std::to_string(i) + " is empty");
    const ir::TensorType& type = context.input_type(i);
    Shape other = type.shape;
    bool fits =
        static_cast<int64_t>(other.size()) == rank && type.dtype == context.input_type(0).dtype;
    for (int64_t d = 0; fits && d < rank; ++d) fits = d == axis || other[d] == first[d];
    if (!fits)
      throw context.error("input '" + context.input_name(i) + "' " + type.to_string() +
                          " does not concatenate with " + context.input_type(0).to_string() +
                          " along axis " + std::to_string(axis));
    out[axis] += other[axis];
    if (other[axis] > 0) parts.push_back(i);
  }
  if (context.all_constant()) {
    HostTensor y = *context.constant(0);
    y.shape = out;
    y.ints.clear();
    y.floats.clear();
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out[d];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= out[d];
    for (int64_t o = 0; o < outer; ++o)
      for (size_t i : parts) {
        const HostTensor& x = *context.constant(i);
        const int64_t block = x.shape[axis] * inner;
        for (int64_t j = o * block; j < (o + 1) * block; ++j) {
          if (y.is_int)
            y.ints.push_back(x.ints[j]);
          else
            y.floats.push_back(x.floats[j]);
        }
      }
    context.set_output(0, std::move(y));
    return;
  }
  std::vector<Value*> values;
  for (size_t i : parts) values.push_back(context.input(i));
  context.set_output(0, values.size() == 1 ? values[0] : build::concat(values, axis));
}

/// The elements ONNX's Slice selects along an axis: start, start + step, ... (count of them).
struct SliceRange {
  int64_t start = 0, step = 1, count = 0;
  /// The selected indices (count of them: the caller bounds count).
  std::vector<int64_t> indices() const {
    std::vector<int64_t> picked(count);
    for (int64_t i = 0; i < count; ++i) picked[i] = start + i * step;
    return picked;
  }
};

/// ONNX's Slice of an axis of size `dim`: bounds clamped as the specification says.
SliceRange slice_range(int64_t start, int64_t end, int64_t step, int64_t dim) {
  // Bounds beyond +-dim clamp anyway: bringing them into [-2 dim, 2 dim] first avoids overflow.
  start = std::clamp(start, -2 * dim - 1, 2 * dim + 1);
  end = std::clamp(end, -2 * dim - 1, 2 * dim + 1);
  step = std::clamp(step, -dim - 1, dim + 1);  // |step| > dim selects one element at most
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  SliceRange range;
  range.step = step;
  if (step > 0) {
    range.start = std::clamp(start, int64_t{0}, dim);
    end = std::clamp(end, int64_t{0}, dim);
    range.count = end > range.start ? (end - range.start + step - 1) / step : 0;
  } else {
    range.start = std::clamp(start, int64_t{0}, dim - 1);
    end = std::clamp(end, int64_t{-1}, dim - 1);
    range.count = range.start > end ? (range.start - end + (-step) - 1) / (-step) : 0;
  }
  return range;
}

void convert_slice(NodeContext& context) {
  std::vector<int64_t> starts, ends, axes, steps;
  if (context.opset() < 10) {
    context.expect_inputs(1, 1);
    context.expect_attributes({"starts", "ends", "axes"});
    starts = context.attr_ints("starts");
    ends = context.attr_ints("ends");
    axes = context.attr_ints("axes");
  } else {
    context.expect_inputs(3, 5);
    context.expect_attributes({});
    starts = context.ints_input(1, "starts");
    ends = context.ints_input(2, "ends");
    if (context.has_input(3)) axes = context.ints_input(3, "axes");
    if (context.has_input(4)) steps = context.ints_input(4, "steps");
  }
  const Shape& shape = context.input_type(0).shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (axes.empty()) axes = iota(static_cast<int64_t>(starts.size()));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    throw context.error("starts, ends, axes and steps differ in length");
  std::vector<SliceRange> ranges(rank);
  std::vector<bool> sliced(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t axis = normalize_axis(context, axes[i], rank, "axis");
    if (sliced[axis]) throw context.error("axis " + std::to_string(axis) + " is sliced twice");
    if (steps[i] == 0) throw context.error("step 0 on axis " + std::to_string(axis));
    sliced[axis] = true;
    ranges[axis] = slice_range(starts[i], ends[i], steps[i], shape[axis]);
    if (ranges[axis].count == 0)
      throw context.error("the slice of axis " + std::to_string(axis) +
                          " is empty (rnnc's IR has no empty tensors)");
  }
  if (const HostTensor* x = context.constant(0)) {
    HostTensor y = *x;
    for (int64_t axis = 0; axis < rank; ++axis)
      if (sliced[axis]) y = take_along_axis_host(y, axis, ranges[axis].indices());
    context.set_output(0, std::move(y));
    return;
  }
  Value* x = context.input(0);
  // Unit steps are one slice; other steps pick their indices with a gather per axis.
  std::vector<int64_t> low(rank, 0), high = shape;
  for (int64_t axis = 0; axis < rank; ++axis) {
    if (!sliced[axis]) continue;
    const SliceRange& range = ranges[axis];
    if (range.step == 1 || range.count == 1) {
      low[axis] = range.start;
      high[axis] = range.start + range.count;
    } else {
      if (range.count > kMaxFoldedElements)
        throw context.error("a strided slice of " + std::to_string(range.count) +
                            " elements is more than the importer supports");
      x = take_along_axis(x, axis, range.indices());
      high[axis] = range.count;
    }
  }
  if (low != std::vector<int64_t>(rank, 0) || high != x->shape()) x = build::slice(x, low, high);
  context.set_output(0, x);
}

void convert_split(NodeContext& context) {
  context.expect_attributes({"axis", "split"});
  const Shape& shape = context.input_type(0).shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (rank == 0) throw context.error("input must have rank >= 1");
  const int64_t axis = normalize_axis(context, context.attr_int("axis", 0), rank, "axis");
  std::vector<int64_t> sizes;
  if (context.opset() < 13) {
    context.expect_inputs(1, 1);
    sizes = context.attr_ints("split");
  } else {
    context.expect_inputs(1, 2);
    if (context.has_attr("split")) throw context.error("attribute 'split' is an input since 13");
    if (context.has_input(1)) sizes = context.ints_input(1, "split");
  }
  const int64_t outputs = static_cast<int64_t>(context.num_outputs());
  if (outputs == 0) throw context.error("has no outputs");
  if (sizes.empty()) {
    if (shape[axis] % outputs != 0)
      throw context.error("axis " + std::to_string(axis) + " of size " +
                          std::to_string(shape[axis]) + " does not split into " +
                          std::to_string(outputs) + " equal parts");
    sizes.assign(outputs, shape[axis] / outputs);
  }
  int64_t total = 0;
  for (int64_t size : sizes) {
    if (size < 0) throw context.error("negative split size " + std::to_string(size));
    total += size;
  }
  if (static_cast<int64_t>(sizes.size()) != outputs || total != shape[axis])
    throw context.error("split sizes must be one per output and add up to " +
                        std::to_string(shape[axis]));
  int64_t offset = 0;
  for (int64_t i = 0; i < outputs; ++i) {
    if (const HostTensor* x = context.constant(0)) {
      std::vector<int64_t> indices = iota(sizes[i]);
      for (int64_t& index : indices) index += offset;
      context.set_output(i, take_along_axis_host(*x, axis, indices));
    } else {
      std::vector<int64_t> low(rank, 0), high = shape;
      low[axis] = offset;
      high[axis] = offset + sizes[i];
      context.set_output(i, build::slice(context.input(0), low, high));
    }
    offset += sizes[i];
  }
}

void convert_squeeze(NodeContext& context) {
  context.expect_inputs(1, context.opset() < 13 ? 1 : 2);
  context.expect_attributes({"axes"});
  const Shape& shape = context.input_type(0).shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> axes = axes_argument(context, 13);
  std::vector<bool> drop(rank, false);
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) drop[d] = shape[d] == 1;
  for (int64_t axis : axes) {
    int64_t a = normalize_axis(context, axis, rank, "axis");
    if (shape[a] != 1)
      throw context.error("cannot squeeze axis " + std::to_string(a) + " of size " +
                          std::to_string(shape[a]));
    drop[a] = true;
  }
  Shape out;
  for (int64_t d = 0; d < rank; ++d)
    if (!drop[d]) out.push_back(shape[d]);
  reshape_output(context, out);
}

void convert_unsqueeze(NodeContext& context) {
  context.expect_inputs(1, context.opset() < 13 ? 1 : 2);
  context.expect_attributes({"axes"});
  const Shape& shape = context.input_type(0).shape;
  std::vector<int64_t> axes = axes_argument(context, 13);
  if (axes.empty()) throw context.error("needs axes");
  const int64_t rank = static_cast<int64_t>(shape.size() + axes.size());
  std::vector<bool> inserted(rank, false);
  for (int64_t axis : axes) {
    int64_t a = normalize_axis(context, axis, rank, "axis");
    if (inserted[a]) throw context.error("axis " + std::to_string(a) + " is given twice");
    inserted[a] = true;
  }
  Shape out;
  size_t next = 0;
  for (int64_t d = 0; d < rank; ++d) out.push_back(inserted[d] ? 1 : shape[next++]);
  reshape_output(context, out);
}

void convert_transpose(NodeContext& context) {
  context.expect_inputs(1, 1);
  context.expect_attributes({"perm"});
  const int64_t rank = context.input_type(0).rank();
  std::vector<int64_t> perm = context.attr_ints("perm");
  if (perm.empty())
    for (int64_t d = rank - 1; d >= 0; --d) perm.push_back(d);
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  if (sorted != iota(rank)) throw context.error("perm is not a permutation of the axes");
  if (const HostTensor* x = context.constant(0)) {
    context.set_output(0, transpose_host(*x, perm));
    return;
  }
  Value* x = context.input(0);
  context.set_output(0, perm == iota(rank) ? x : build::transpose(x, perm));
}

void convert_reshape(NodeContext& context) {
  context.expect_inputs(2, 2);
  context.expect_attributes({"allowzero"});
  const bool allow_zero = context.attr_int("allowzero", 0) != 0;
  const Shape& in = context.input_type(0).shape;
  std::vector<int64_t> shape = context.ints_input(1, "shape");
  int64_t inferred = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0 && !allow_zero) {
      if (i >= in.size())
        throw context.error("shape entry 0 at " + std::to_string(i) +
                            " has no input dimension to copy");
      shape[i] = in[i];
    }
    if (shape[i] == -1) {
      if (inferred >= 0) throw context.error("shape has more than one -1");
      inferred = static_cast<int64_t>(i);
      continue;
    }
    if (shape[i] < 0 || shape[i] > kMaxElements)
      throw context.error("shape entry " + std::to_string(shape[i]));
    known *= shape[i];
    checked_num_elements({known}, context.describe());
  }
  if (inferred >= 0) {
    const int64_t total = ir::num_elements(in);
    if (known == 0 || total % known != 0)
      throw context.error("cannot infer the -1 of " + ir::shape_to_string(shape) + " for " +
                          context.input_type(0).to_string());
    shape[inferred] = total / known;
  }
  reshape_output(context, shape);
}

void convert_flatten(NodeContext& context) {
  context.expect_inputs(1, 1);
  context.expect_attributes({"axis"});
  const Shape& in = context.input_type(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  int64_t axis = context.attr_int("axis", 1);
  if (axis < -rank || axis > rank)
    throw context.error("axis " + std::to_string(axis) + " is out of range");
  if (axis < 0) axis += rank;
  int64_t rows = 1;
  for (int64_t d = 0; d < axis; ++d) rows *= in[d];
  int64_t total = ir::num_elements(in);
  reshape_output(context, {rows, rows == 0 ? 0 : total / rows});
}

void convert_expand(NodeContext& context) {
  context.expect_inputs(2, 2);
  context.expect_attributes({});
  std::vector<int64_t> target = context.ints_input(1, "shape");
  checked_num_elements(target, context.describe() + ": shape");
  Shape out = broadcast_shapes(context, context.input_type(0).shape, target);
  checked_num_elements(out, context.describe() + ": result");
  if (const HostTensor* x = context.constant(0); x && ir::num_elements(out) <= kMaxFoldedElements) {
    context.set_output(0, broadcast_host(*x, out));
    return;
  }
  context.set_output(0, broadcast_to(context.input(0), out));
}

void convert_constant_of_shape(NodeContext& context) {
  context.expect_inputs(1, 1);
  context.expect_attributes({"value"});
  std::vector<int64_t> shape = context.ints_input(0, "shape");
  const int64_t count = checked_num_elements(shape, context.describe() + ": shape");
  HostTensor value = HostTensor::of_floats(ir::DType::f32, {1}, {0.0});
  if (std::optional<HostTensor> given = context.attr_tensor("value")) {
    if (given->size() != 1) throw context.error("attribute 'value' must hold one element");
    value = *given;
  }
  if (count > kMaxFoldedElements) {
    ir::Graph& graph = context.graph();
    context.set_output(0, graph.add_constant({value.dtype, shape}, {value.get(0)},
                                             sanitize_name(context.output_name(0))));
    return;
  }
  HostTensor out = value;
  out.shape = {};
  context.set_output(
      0, broadcast_host(out.is_int ? HostTensor::of_ints({}, {value.ints[0]})
                                   : HostTensor::of_floats(value.dtype, {}, {value.floats[0]}),
                        shape));
}

void convert_identity(NodeContext& context) {
  context.expect_inputs(1, 1);
  context.expect_attributes({});
  if (const HostTensor* x = context.constant(0))
    context.set_output(0, *x);
  else
    context.set_output(0, context.input(0));
}

void convert_constant(NodeContext& context) {
  context.expect_inputs(0, 0);
  context.expect_attributes({"value", "value_float", "value_floats", "value_int", "value_ints"});
  if (std::optional<HostTensor> value = context.attr_tensor("value")) {
    context.set_output(0, std::move(*value));
  } else if (context.has_attr("value_float")) {
    context.set_output(
        0, HostTensor::of_floats(ir::DType::f32, {}, {context.attr_float("value_float", 0.0)}));
  } else if (context.has_attr("value_floats")) {
    std::vector<double> values = context.attr_floats("value_floats");
    const int64_t n = static_cast<int64_t>(values.size());
    context.set_output(0, HostTensor::of_floats(ir::DType::f32, {n}, std::move(values)));
  } else if (context.has_attr("value_int")) {
    context.set_output(0, HostTensor::of_ints({}, {context.attr_int("value_int", 0)}));
  } else if (context.has_attr("value_ints")) {
    std::vector<int64_t> values = context.attr_ints("value_ints");
    const int64_t n = static_cast<int64_t>(values.size());
    context.set_output(0, HostTensor::of_ints({n}, std::move(values)));
  } else {
    throw context.error("has no value attribute");
  }
}

}  // namespace

void add_shape_ops(OpTable& table) {
  table["Shape"] = convert_shape;
  table["Gather"] = convert_gather;
  table["Concat"] = convert_concat;
  table["Slice"] = convert_slice;
  table["Split"] = convert_split;
  table["Squeeze"] = convert_squeeze;
  table["Unsqueeze"] = convert_unsqueeze;
  table["Transpose"] = convert_transpose;
  table["Reshape"] = convert_reshape;
  table["Flatten"] = convert_flatten;
  table["Expand"] = convert_expand;
  table["ConstantOfShape"] = convert_constant_of_shape;
  table["Identity"] = convert_identity;
  table["Constant"] = convert_constant;
}

}  // namespace rnnc::onnx_import
