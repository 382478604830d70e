// Reduce, gather, scatter-add, layout and matmul steps, and the plumbing kernels of loops with
// lengths: one thread per result element, reading its operands through strides (as
// codegen/interp/kernels.cpp computes them, element by element); a layout step that is a
// plain contiguous copy moves 16-byte vectors where aligned. Generated products are in
// render_gemm.cpp.
#include <cassert>
#include <cmath>
#include <optional>
#include <set>

#include "codegen/cuda/render_internal.h"

namespace rnnc::cuda {
namespace {

using ir::DType;
using ir::OpKind;

std::string hint(const std::string& kind, const ir::Step& step) {
  return kind + "_" + step.node->result()->name();
}

/// A kernel storing zeros into all of buffer `id`.
Launch zero_kernel(SourceWriter& module, const ir::Step& step, ir::BufferId id) {
  KernelWriter kernel(module, &step, hint("zero", step));
  const ir::Buffer& buffer = module.buffer(id);
  kernel.line(kernel.pointer(id) + "[i] = " + literal(buffer.type.dtype, 0.0) + ";");
  return kernel.finish(buffer.type.num_elements());
}

/// `acc` (a double) stored as `dtype`.
std::string from_double(const std::string& acc, DType dtype) {
  return dtype == DType::i32 ? "rnnc_to_i32(" + acc + ")"
                             : "((" + std::string(c_type(dtype)) + ")" + acc + ")";
}

/// Sum over dimensions of `digits[d] * strides[d]` (terms with a zero stride left out).
std::string linear(const std::vector<std::string>& digits, const std::vector<int64_t>& strides) {
  std::string text;
  for (size_t d = 0; d < digits.size(); ++d) {
    if (strides[d] == 0) continue;
    text += (text.empty() ? "" : " + ") + digits[d] +
            (strides[d] == 1 ? "" : " * " + std::to_string(strides[d]) + "LL");
  }
  return text.empty() ? "0" : text;
}

/// The elements of one row (dimension 0 dropped) of `shape`, also when it has no rows.
int64_t row_elements(const ir::Shape& shape) {
  return ir::num_elements(ir::Shape(shape.begin() + 1, shape.end()));
}

/// Finishes `kernel` as a check of `count` indices against [0, rows) (error `code`): what a
/// gather or scatter-add whose rows hold no elements does.
Launch index_check(KernelWriter& kernel, const std::string& indices, int64_t rows, int32_t code,
                   int64_t count) {
  kernel.line("const int index = " + indices + "[i];");
  kernel.line("if (index < 0 || index >= " + std::to_string(rows) + ") rnnc_fail(args.error, " +
              std::to_string(code) + ");");
  return kernel.finish(count);
}

/// For a layout step that copies its operand's elements in order (a reshape; a transpose,
/// broadcast or slice moving no dimension of more than one element), the element of the
/// operand that result element 0 comes from: result element i is operand element i + that.
std::optional<int64_t> contiguous_source(const ir::Node& node) {
  const ir::Shape& shape = node.result()->shape();
  const ir::Shape& from = node.operand(0)->shape();
  const std::vector<int64_t> in_strides = ir::row_major_strides(from);
  std::vector<int64_t> strides(shape.size(), 0);
  int64_t first = 0;
  if (node.kind() == OpKind::Reshape) return 0;
  if (node.kind() == OpKind::Transpose) {
    const std::vector<int64_t>& perm = node.attrs().get_ints("perm");
    for (size_t d = 0; d < perm.size(); ++d) strides[d] = in_strides[perm[d]];
  } else if (node.kind() == OpKind::Broadcast) {
    const size_t offset = shape.size() - from.size();
    for (size_t d = 0; d < from.size(); ++d) strides[d + offset] = from[d] == 1 ? 0 : in_strides[d];
  } else if (node.kind() == OpKind::Slice) {
    const std::vector<int64_t>& starts = node.attrs().get_ints("starts");
    strides = in_strides;
    for (size_t d = 0; d < starts.size(); ++d) first += starts[d] * in_strides[d];
  } else {
    return std::nullopt;  // pad, concat: never a plain copy of the whole operand
  }
  const std::vector<int64_t> out_strides = ir::row_major_strides(shape);
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > 1 && strides[d] != out_strides[d]) return std::nullopt;
  return first;
}

/// Finishes `kernel` as a copy of `count` elements from element `first` of buffer `in` to
/// buffer `out` in 16-byte vectors (the last, partial one element by element), when both
/// buffers' addresses allow it for every loop counter; nullopt otherwise.
std::optional<Launch> vector_copy(KernelWriter& kernel, ir::BufferId out, ir::BufferId in,
                                  int64_t first, int64_t count) {
  SourceWriter& module = kernel.module();
  const DType dtype = module.buffer(out).type.dtype;
  const int64_t element = ir::dtype_size(dtype);
  const int64_t width = kVectorBytes / element;
  if (!module.options().vectorize || count < width || module.alignment(out) % kVectorBytes != 0 ||
      module.alignment(in) % kVectorBytes != 0 || (first * element) % kVectorBytes != 0)
    return std::nullopt;
  const std::string type = vector_type(dtype, width);
  const std::string w = std::to_string(width) + "LL", n = std::to_string(count) + "LL";
  const std::string to = kernel.pointer(out), from = kernel.pointer(in);
  const std::string source = first ? from + " + " + std::to_string(first) + "LL" : from;
  const bool tail = count % width != 0;
  kernel.line("const long long i = j * " + w + ";");
  if (tail) kernel.line("if (i + " + w + " <= " + n + ") {");
  kernel.line(std::string(tail ? "  " : "") + "*(" + type + "*)(" + to + " + i) = *(const " + type +
              "*)(" + source + " + i);");
  if (tail) {
    kernel.line("} else {");
    kernel.line("  for (long long e = i; e < " + n + "; ++e) " + to + "[e] = (" + source + ")[e];");
    kernel.line("}");
  }
  return kernel.finish((count + width - 1) / width, "j");
}

}  // namespace

std::vector<Launch> render_reduce(SourceWriter& module, const ir::Step& step) {
  const ir::Node& node = *step.node;
  const ir::Shape& in_shape = node.operand(0)->shape();
  const ir::Shape& out_shape = node.result()->shape();
  const DType dtype = node.result()->dtype();
  std::set<int64_t> axes;
  for (int64_t axis : node.attrs().get_ints("axes")) axes.insert(axis);
  std::vector<int64_t> in_strides = ir::row_major_strides(in_shape);
  std::vector<std::string> kept_digits, reduced_digits;
  std::vector<int64_t> kept_strides, reduced_strides;
  ir::Shape reduced_shape;
  for (size_t d = 0; d < in_shape.size(); ++d)
    if (axes.count(static_cast<int64_t>(d))) reduced_shape.push_back(in_shape[d]);
  for (size_t d = 0, kept = 0, reduced = 0; d < in_shape.size(); ++d) {
    if (axes.count(static_cast<int64_t>(d))) {
      reduced_digits.push_back(digit("r", reduced_shape, reduced++));
      reduced_strides.push_back(in_strides[d]);
    } else {
      kept_digits.push_back(digit("i", out_shape, kept++));
      kept_strides.push_back(in_strides[d]);
    }
  }
  KernelWriter kernel(module, &step, hint("reduce", step));
  const std::string in = kernel.pointer(step.operands.at(0));
  const std::string out = kernel.pointer(step.results.at(0));
  const bool is_max = node.kind() == OpKind::ReduceMax;
  const std::string nan = literal(DType::f64, NAN);
  kernel.line("const long long base = " + linear(kept_digits, kept_strides) + ";");
  kernel.line("double acc = " + (is_max ? literal(DType::f64, -INFINITY) : "0.0") + ";");
  kernel.line("for (long long r = 0; r < " + std::to_string(ir::num_elements(reduced_shape)) +
              "LL; ++r) {");
  kernel.line("  const double v = (double)" + in + "[base + " +
              linear(reduced_digits, reduced_strides) + "];");
  if (is_max)
    kernel.line("  acc = (v != v || acc != acc) ? " + nan + " : (acc < v ? v : acc);");
  else
    kernel.line("  acc += v;");
  kernel.line("}");
  if (node.kind() == OpKind::ReduceMean) {
    const int64_t outputs = std::max<int64_t>(ir::num_elements(out_shape), 1);
    const double count = static_cast<double>(ir::num_elements(in_shape)) / outputs;
    kernel.line("acc /= " + literal(DType::f64, count) + ";");
  }
  kernel.line(out + "[i] = " + from_double("acc", dtype) + ";");
  return {kernel.finish(ir::num_elements(out_shape))};
}

std::vector<Launch> render_gather(SourceWriter& module, const ir::Step& step) {
  const ir::Node& node = *step.node;
  const ir::Shape& table_shape = node.operand(0)->shape();
  const int64_t rows = table_shape.at(0);
  const int64_t row = row_elements(table_shape);
  const int64_t count = node.operand(1)->type().num_elements();
  KernelWriter kernel(module, &step, hint("gather", step));
  const int32_t code = kernel.error("an index is out of range [0, " + std::to_string(rows) + ")");
  const std::string indices = kernel.pointer(step.operands.at(1));
  if (row == 0) return {index_check(kernel, indices, rows, code, count)};
  const std::string table = kernel.pointer(step.operands.at(0));
  const std::string out = kernel.pointer(step.results.at(0));
  const std::string r = std::to_string(row) + "LL";
  kernel.line("const int index = " + indices + "[i / " + r + "];");
  kernel.line("if (index < 0 || index >= " + std::to_string(rows) + ") {");
  kernel.line("  rnnc_fail(args.error, " + std::to_string(code) + ");");
  kernel.line("  " + out + "[i] = " + literal(node.result()->dtype(), 0.0) + ";");
  kernel.line("} else {");
  kernel.line("  " + out + "[i] = " + table + "[(long long)index * " + r + " + i % " + r + "];");
  kernel.line("}");
  return {kernel.finish(count * row)};
}

std::vector<Launch> render_scatter_add(SourceWriter& module, const ir::Step& step) {
  const ir::Node& node = *step.node;
  const ir::Shape& shape = node.result()->shape();
  const int64_t rows = shape.at(0);
  const int64_t row = row_elements(shape);
  const int64_t count = node.operand(0)->type().num_elements();
  std::vector<Launch> launches = {zero_kernel(module, step, step.results.at(0))};
  KernelWriter kernel(module, &step, hint("scatter_add", step));
  const int32_t code = kernel.error("an index is out of range [0, " + std::to_string(rows) + ")");
  const std::string indices = kernel.pointer(step.operands.at(0));
  if (row == 0) {
    launches.push_back(index_check(kernel, indices, rows, code, count));
    return launches;
  }
  const std::string updates = kernel.pointer(step.operands.at(1));
  const std::string out = kernel.pointer(step.results.at(0));
  const std::string r = std::to_string(row) + "LL";
  kernel.line("const int index = " + indices + "[i / " + r + "];");
  kernel.line("if (index < 0 || index >= " + std::to_string(rows) + ")");
  kernel.line("  rnnc_fail(args.error, " + std::to_string(code) + ");");
  kernel.line("else");
  kernel.line("  atomicAdd(&" + out + "[(long long)index * " + r + " + i % " + r + "], " + updates +
              "[i]);");
  launches.push_back(kernel.finish(count * row));
  return launches;
}

std::optional<Launch> copy_launch(const SourceWriter& module, ir::BufferId from, ir::BufferId to) {
  const int64_t bytes = module.buffer(to).bytes;
  if (from == to || bytes == 0) return std::nullopt;
  Launch copy;
  copy.kind = Launch::Kind::copy;
  copy.from.buffer = from;
  copy.to.buffer = to;
  copy.bytes = bytes;
  return copy;
}

std::vector<Launch> render_coalesce_rows(SourceWriter& module, const ir::Step& step) {
  const ir::Node& node = *step.node;
  const int64_t rows = node.attrs().get_int("rows");
  const int64_t count = node.operand(0)->type().num_elements();
  const int64_t row = count ? node.result()->type().num_elements() / count : 0;
  const DType dtype = node.result()->dtype();
  KernelWriter kernel(module, &step, hint("coalesce_rows", step));
  const int32_t code = kernel.error("an index is out of range [0, " + std::to_string(rows) + ")");
  const std::string indices = kernel.pointer(step.operands.at(0));
  if (row == 0) return {index_check(kernel, indices, rows, code, count)};
  const std::string updates = kernel.pointer(step.operands.at(1));
  const std::string out = kernel.pointer(step.results.at(0));
  const std::string r = std::to_string(row) + "LL";
  // Each element finds whether its position is the first of its index; the first sums the
  // rows of every position with that index, in position order.
  kernel.line("const long long p = i / " + r + ";");
  kernel.line("const int index = " + indices + "[p];");
  kernel.line(std::string(c_type(dtype)) + " acc = " + literal(dtype, 0.0) + ";");
  kernel.line("if (index < 0 || index >= " + std::to_string(rows) + ") {");
  kernel.line("  rnnc_fail(args.error, " + std::to_string(code) + ");");
  kernel.line("} else {");
  kernel.line("  long long k = 0;");
  kernel.line("  while (k < p && " + indices + "[k] != index) ++k;");
  kernel.line("  if (k == p)");
  kernel.line("    for (long long q = p; q < " + std::to_string(count) + "LL; ++q)");
  kernel.line("      if (" + indices + "[q] == index) acc += " + updates + "[q * " + r + " + i % " +
              r + "];");
  kernel.line("}");
  kernel.line(out + "[i] = acc;");
  return {kernel.finish(count * row)};
}

std::vector<Launch> render_scatter_rows(SourceWriter& module, const ir::Step& step) {
  const ir::Node& node = *step.node;
  const ir::Shape& shape = node.operand(0)->shape();
  const int64_t rows = shape.at(0);
  const int64_t row = row_elements(shape);
  const int64_t count = node.operand(1)->type().num_elements();
  // Every index is checked before any row is written: the result may be the table itself
  // (an update in place), which a failed step leaves as it was.
  KernelWriter check(module, &step, hint("scatter_rows_check", step));
  const int32_t code = check.error("an index is out of range [0, " + std::to_string(rows) + ")");
  std::vector<Launch> launches = {
      index_check(check, check.pointer(step.operands.at(1)), rows, code, count)};
  if (row == 0) return launches;
  if (std::optional<Launch> copy = copy_launch(module, step.operands.at(0), step.results.at(0))) {
    copy->node = node.result()->name();
    launches.push_back(std::move(*copy));
  }
  KernelWriter kernel(module, &step, hint("scatter_rows", step));
  const std::string indices = kernel.pointer(step.operands.at(1));
  const std::string new_rows = kernel.pointer(step.operands.at(2));
  const std::string out = kernel.pointer(step.results.at(0));
  const std::string r = std::to_string(row) + "LL";
  // The row of an index's first position is the one written.
  kernel.line("const long long p = i / " + r + ";");
  kernel.line("const int index = " + indices + "[p];");
  kernel.line("if (*(volatile int*)args.error == 0 && index >= 0 && index < " +
              std::to_string(rows) + ") {");
  kernel.line("  long long k = 0;");
  kernel.line("  while (k < p && " + indices + "[k] != index) ++k;");
  kernel.line("  if (k == p) " + out + "[(long long)index * " + r + " + i % " + r +
              "] = " + new_rows + "[i];");
  kernel.line("}");
  launches.push_back(kernel.finish(count * row));
  return launches;
}

std::vector<Launch> render_layout(SourceWriter& module, const ir::Step& step) {
  const ir::Node& node = *step.node;
  const ir::Shape& shape = node.result()->shape();
  KernelWriter kernel(module, &step, hint(std::string(node.info().name), step));
  if (std::optional<int64_t> first = contiguous_source(node))
    if (std::optional<Launch> copy = vector_copy(kernel, step.results.at(0), step.operands.at(0),
                                                 *first, ir::num_elements(shape)))
      return {*copy};
  const std::string out = kernel.pointer(step.results.at(0));
  const std::string in = kernel.pointer(step.operands.at(0));
  const ir::Shape& from = node.operand(0)->shape();
  const std::vector<int64_t> in_strides = ir::row_major_strides(from);
  std::vector<std::string> digits;
  for (size_t d = 0; d < shape.size(); ++d) digits.push_back(digit("i", shape, d));
  switch (node.kind()) {
    case OpKind::Broadcast: {
      const size_t offset = shape.size() - from.size();
      std::vector<std::string> used;
      std::vector<int64_t> strides;
      for (size_t d = 0; d < from.size(); ++d) {
        used.push_back(digits[d + offset]);
        strides.push_back(from[d] == 1 ? 0 : in_strides[d]);
      }
      kernel.line(out + "[i] = " + in + "[" + linear(used, strides) + "];");
      break;
    }
    case OpKind::Transpose: {
      const std::vector<int64_t>& perm = node.attrs().get_ints("perm");
      std::vector<int64_t> strides;
      for (size_t d = 0; d < perm.size(); ++d) strides.push_back(in_strides[perm[d]]);
      kernel.line(out + "[i] = " + in + "[" + linear(digits, strides) + "];");
      break;
    }
    case OpKind::Slice: {
      const std::vector<int64_t>& starts = node.attrs().get_ints("starts");
      std::vector<std::string> shifted;
      for (size_t d = 0; d < digits.size(); ++d)
        shifted.push_back(starts[d] ? "(" + digits[d] + " + " + std::to_string(starts[d]) + "LL)"
                                    : digits[d]);
      kernel.line(out + "[i] = " + in + "[" + linear(shifted, in_strides) + "];");
      break;
    }
    case OpKind::Pad: {
      const std::vector<int64_t>& low = node.attrs().get_ints("low");
      std::vector<std::string> shifted;
      std::string inside;
      for (size_t d = 0; d < digits.size(); ++d) {
        std::string name = "p" + std::to_string(d);
        kernel.line("const long long " + name + " = " + digits[d] + " - " + std::to_string(low[d]) +
                    "LL;");
        shifted.push_back(name);
        inside += (inside.empty() ? "" : " && ") + name + " >= 0 && " + name + " < " +
                  std::to_string(from[d]) + "LL";
      }
      if (inside.empty()) inside = "true";
      kernel.line(out + "[i] = (" + inside + ") ? " + in + "[" + linear(shifted, in_strides) +
                  "] : " + literal(node.result()->dtype(), 0.0) + ";");
      break;
    }
    case OpKind::Concat: {
      const size_t axis = static_cast<size_t>(node.attrs().get_int("axis"));
      kernel.line("const long long a = " + digits[axis] + ";");
      int64_t begin = 0;
      for (size_t p = 0; p < node.operands().size(); ++p) {
        const ir::Shape& part = node.operand(p)->shape();
        const int64_t end = begin + part[axis];
        std::vector<std::string> local = digits;
        local[axis] = begin ? "(a - " + std::to_string(begin) + "LL)" : "a";
        const std::string read = kernel.pointer(step.operands.at(p)) + "[" +
                                 linear(local, ir::row_major_strides(part)) + "]";
        const bool last = p + 1 == node.operands().size();
        if (last)
          kernel.line((p ? "else " : "") + out + "[i] = " + read + ";");
        else
          kernel.line((p ? "else if (a < " : "if (a < ") + std::to_string(end) + "LL) " + out +
                      "[i] = " + read + ";");
        begin = end;
      }
      break;
    }
    case OpKind::Reshape:
      kernel.line(out + "[i] = " + in + "[i];");
      break;
    case OpKind::Input:
    case OpKind::Parameter:
    case OpKind::Constant:
    case OpKind::Iota:
    case OpKind::Neg:
    case OpKind::Abs:
    case OpKind::Sign:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
    case OpKind::Relu:
    case OpKind::Cast:
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Pow:
    case OpKind::Max:
    case OpKind::Min:
    case OpKind::Greater:
    case OpKind::Less:
    case OpKind::Equal:
    case OpKind::Select:
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean:
    case OpKind::MatMul:
    case OpKind::Gather:
    case OpKind::ScatterAdd:
    case OpKind::CoalesceRows:
    case OpKind::ScatterRows:
    case OpKind::Scan:
    case OpKind::Fused:
      assert(false && "not a layout op");
      break;
  }
  return {kernel.finish(ir::num_elements(shape))};
}

std::vector<Launch> render_matmul(SourceWriter& module, const ir::Step& step) {
  const ir::Node& node = *step.node;
  const ir::Shape& out_shape = node.result()->shape();
  const size_t rank = out_shape.size();
  GemmCall gemm;
  gemm.dtype = node.result()->dtype();
  gemm.transpose_a = node.attrs().get_int("transpose_a") != 0;
  gemm.transpose_b = node.attrs().get_int("transpose_b") != 0;
  gemm.m = out_shape[rank - 2];
  gemm.n = out_shape[rank - 1];
  const ir::Shape& a_shape = node.operand(0)->shape();
  gemm.k = gemm.transpose_a ? a_shape[rank - 2] : a_shape[rank - 1];
  gemm.batch = ir::num_elements(ir::Shape(out_shape.begin(), out_shape.end() - 2));
  gemm.a = step.operands.at(0);
  gemm.b = step.operands.at(1);
  gemm.c = step.results.at(0);
  if (gemm.m * gemm.n * gemm.batch == 0) return {};
  if (gemm.k == 0) return {zero_kernel(module, step, gemm.c)};
  if (!gemm_is_generated(gemm, module.options())) {
    Launch launch;
    launch.kind = Launch::Kind::gemm;
    launch.node = ir::describe_node(node);
    launch.gemm = gemm;
    return {launch};
  }
  return {render_generated_gemm(module, step, gemm)};
}

Launch render_lengths_check(SourceWriter& module, const ir::Step& loop) {
  KernelWriter kernel(module, &loop, hint("check_lengths", loop));
  const int32_t code = kernel.error("lengths outside [1, " + std::to_string(loop.trip_count) + "]");
  const ir::BufferId lengths = loop.operands.back();
  kernel.line("const int length = " + kernel.pointer(lengths) + "[i];");
  kernel.line("if (length < 1 || length > " + std::to_string(loop.trip_count) +
              ") rnnc_fail(args.error, " + std::to_string(code) + ");");
  return kernel.finish(module.buffer(lengths).type.num_elements());
}

Launch render_masked_write_back(SourceWriter& module, const ir::Step& loop, size_t index) {
  const size_t num_carry = loop.node->attrs().get_int("num_carry");
  const bool is_carry = index < num_carry;
  const ir::BufferId source = loop.body_outputs.at(index);
  const ir::BufferId target = loop.results.at(index);
  const ir::BufferId lengths = loop.operands.back();
  const int64_t rows = module.buffer(lengths).type.num_elements();
  const int64_t elements = module.buffer(source).type.num_elements();
  const int64_t row = rows ? elements / rows : 0;
  KernelWriter kernel(module, &loop, hint("write_back", loop));
  const std::string t = "args.t[" + std::to_string(loop.loop_id) + "]";
  const std::string to = kernel.pointer(target) + "[" +
                         (is_carry ? "" : t + " * " + std::to_string(elements) + "LL + ") + "i]";
  kernel.line("const bool active = " + t + " < (long long)" + kernel.pointer(lengths) + "[i / " +
              std::to_string(row) + "LL];");
  if (is_carry) {
    kernel.line("if (active) " + to + " = " + kernel.pointer(source) + "[i];");
  } else {
    kernel.line(to + " = active ? " + kernel.pointer(source) +
                "[i] : " + literal(module.buffer(source).type.dtype, 0.0) + ";");
  }
  return kernel.finish(rows ? elements : 0);
}

}  // namespace rnnc::cuda
