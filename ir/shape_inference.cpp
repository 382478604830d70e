#include "ir/shape_inference.h"

#include <algorithm>
#include <cmath>

#include "ir/error.h"

namespace rnnc::ir {
namespace {

std::string ints_to_string(const std::vector<int64_t>& ints) { return shape_to_string(ints); }

void require(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

/// Shapes past 2^48 elements are rejected so that element counts never overflow.
constexpr int64_t kMaxElements = int64_t{1} << 48;

void require_sane_shape(const Shape& shape, const std::string& what) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    require(dim >= 0, "negative dimension in " + what + " " + ints_to_string(shape));
    require(
        dim <= kMaxElements && !__builtin_mul_overflow(count, dim, &count) && count <= kMaxElements,
        what + " " + ints_to_string(shape) + " has more than 2^48 elements");
  }
}

void require_float(const TensorType& type, std::string_view what) {
  require(is_float(type.dtype),
          std::string(what) + " needs a float operand, got " + type.to_string());
}

TensorType infer_source(OpKind kind, const Attributes& attrs,
                        const std::vector<TensorType>& declared) {
  require(declared.size() == 1, "a source op needs its result type declared");
  const TensorType& type = declared[0];
  for (int64_t dim : type.shape) require(dim >= 0, "negative dimension in " + type.to_string());
  if (kind == OpKind::Parameter) {
    require_float(type, "parameter");
    const std::string& role = attrs.get_str("role");
    require(role == "weight" || role == "state",
            "parameter role must be \"weight\" or \"state\", got \"" + role + "\"");
  }
  if (kind == OpKind::Constant) {
    const auto& values = attrs.get_floats("value");
    require(values.size() == 1 || static_cast<int64_t>(values.size()) == type.num_elements(),
            "constant of type " + type.to_string() + " has " + std::to_string(values.size()) +
                " values (need 1 or " + std::to_string(type.num_elements()) + ")");
    if (type.dtype == DType::i32)
      for (double v : values)
        require(std::nearbyint(v) == v && std::abs(v) < 2147483648.0,
                "i32 constant value " + std::to_string(v) + " is not a 32-bit integer");
  }
  if (kind == OpKind::Iota) {
    int64_t axis = attrs.get_int("axis");
    require(axis >= 0 && axis < type.rank(),
            "iota axis " + std::to_string(axis) + " out of range for " + type.to_string());
  }
  return type;
}

TensorType infer_broadcast(const TensorType& in, const Shape& target) {
  require(target.size() >= in.shape.size(),
          "cannot broadcast " + in.to_string() + " to fewer dimensions " + ints_to_string(target));
  size_t offset = target.size() - in.shape.size();
  for (size_t i = 0; i < in.shape.size(); ++i)
    require(in.shape[i] == target[offset + i] || in.shape[i] == 1,
            "cannot broadcast " + in.to_string() + " to " + ints_to_string(target));
  for (int64_t dim : target) require(dim >= 0, "negative dimension in " + ints_to_string(target));
  return {in.dtype, target};
}

TensorType infer_reduction(OpKind kind, const TensorType& in, const std::vector<int64_t>& axes) {
  if (kind == OpKind::ReduceMean) require_float(in, "reduce_mean");
  std::vector<bool> reduced(in.shape.size(), false);
  for (int64_t axis : axes) {
    require(axis >= 0 && axis < in.rank(),
            "axis " + std::to_string(axis) + " out of range for " + in.to_string());
    require(!reduced[axis], "axis " + std::to_string(axis) + " listed twice");
    reduced[axis] = true;
  }
  TensorType out{in.dtype, {}};
  for (size_t i = 0; i < in.shape.size(); ++i)
    if (!reduced[i]) out.shape.push_back(in.shape[i]);
  return out;
}

TensorType infer_matmul(const TensorType& a, const TensorType& b, bool ta, bool tb) {
  require(a.dtype == b.dtype, "operand types differ: " + a.to_string() + " and " + b.to_string());
  require(a.rank() >= 2 && a.rank() == b.rank(), "matmul needs operands of equal rank >= 2, got " +
                                                     a.to_string() + " and " + b.to_string());
  int64_t r = a.rank();
  for (int64_t i = 0; i < r - 2; ++i)
    require(a.shape[i] == b.shape[i],
            "batch dimensions differ: " + a.to_string() + " and " + b.to_string());
  int64_t m = ta ? a.shape[r - 1] : a.shape[r - 2];
  int64_t ka = ta ? a.shape[r - 2] : a.shape[r - 1];
  int64_t kb = tb ? b.shape[r - 1] : b.shape[r - 2];
  int64_t n = tb ? b.shape[r - 2] : b.shape[r - 1];
  require(ka == kb,
          "inner dimensions " + std::to_string(ka) + " and " + std::to_string(kb) + " differ");
  Shape shape(a.shape.begin(), a.shape.end() - 2);
  shape.push_back(m);
  shape.push_back(n);
  return {a.dtype, shape};
}

TensorType infer_concat(const std::vector<Value*>& operands, int64_t axis) {
  const TensorType& first = operands[0]->type();
  require(axis >= 0 && axis < first.rank(),
          "concat axis " + std::to_string(axis) + " out of range for " + first.to_string());
  TensorType out = first;
  out.shape[axis] = 0;
  for (Value* operand : operands) {
    const TensorType& t = operand->type();
    bool compatible = t.dtype == first.dtype && t.rank() == first.rank();
    for (int64_t i = 0; compatible && i < t.rank(); ++i)
      compatible = i == axis || t.shape[i] == first.shape[i];
    require(compatible, "cannot concatenate " + first.to_string() + " and " + t.to_string() +
                            " along axis " + std::to_string(axis));
    out.shape[axis] += t.shape[axis];
  }
  return out;
}

/// The result types of a scan (see ops.def): final carries, then stacked per-step outputs.
std::vector<TensorType> infer_scan(const std::vector<Value*>& operands, const Attributes& attrs,
                                   const Graph& body) {
  int64_t num_carry = attrs.get_int("num_carry");
  int64_t num_sequences = attrs.get_int("num_sequences");
  bool has_lengths = attrs.get_int("has_lengths") != 0;
  require(attrs.get_int("reverse") == 0 || attrs.get_int("reverse") == 1, "reverse must be 0 or 1");
  require(attrs.get_int("has_lengths") == 0 || has_lengths, "has_lengths must be 0 or 1");
  require(num_carry >= 0 && num_sequences >= 1,
          "a scan needs num_carry >= 0 and at least one sequence (num_sequences >= 1)");
  int64_t num_invariants =
      static_cast<int64_t>(operands.size()) - num_carry - num_sequences - (has_lengths ? 1 : 0);
  require(num_invariants >= 0, "a scan with num_carry = " + std::to_string(num_carry) +
                                   ", num_sequences = " + std::to_string(num_sequences) +
                                   (has_lengths ? " and lengths" : "") + " needs at least " +
                                   std::to_string(operands.size() - num_invariants) +
                                   " operands, got " + std::to_string(operands.size()));

  std::vector<Node*> inputs = body.nodes_of(OpKind::Input);
  require(static_cast<int64_t>(inputs.size()) == num_carry + num_sequences + num_invariants,
          "the body has " + std::to_string(inputs.size()) + " inputs, but the scan passes " +
              std::to_string(num_carry + num_sequences + num_invariants) +
              " (carries, sequence slices, invariants)");
  require(body.nodes_of(OpKind::Parameter).empty(),
          "a scan body may not hold parameters (pass weights as invariants)");
  require(static_cast<int64_t>(body.outputs().size()) >= num_carry,
          "the body has " + std::to_string(body.outputs().size()) + " outputs, fewer than its " +
              std::to_string(num_carry) + " carries");

  int64_t steps = -1;
  for (int64_t i = 0; i < static_cast<int64_t>(inputs.size()); ++i) {
    TensorType expected = operands[i]->type();
    std::string role = "carry";
    if (i >= num_carry && i < num_carry + num_sequences) {
      role = "sequence";
      require(expected.rank() >= 1, "sequence %" + operands[i]->name() + " has no time dimension");
      if (steps < 0) steps = expected.shape[0];
      require(expected.shape[0] == steps, "sequences differ in length: %" + operands[i]->name() +
                                              " has " + std::to_string(expected.shape[0]) +
                                              " steps, expected " + std::to_string(steps));
      expected.shape.erase(expected.shape.begin());
    } else if (i >= num_carry) {
      role = "invariant";
    }
    const TensorType& actual = inputs[i]->result()->type();
    require(actual == expected, "body input %" + inputs[i]->result()->name() + " is " +
                                    actual.to_string() + " but the " + role + " operand %" +
                                    operands[i]->name() + " gives " + expected.to_string());
  }
  std::vector<TensorType> results;
  for (int64_t i = 0; i < static_cast<int64_t>(body.outputs().size()); ++i) {
    const GraphOutput& output = body.outputs()[i];
    TensorType type = output.value->type();
    if (i < num_carry) {
      require(type == operands[i]->type(),
              "body output '" + output.name + "' is " + type.to_string() + " but carry %" +
                  operands[i]->name() + " is " + operands[i]->type().to_string());
    } else {
      type.shape.insert(type.shape.begin(), steps);
    }
    results.push_back(type);
  }
  if (has_lengths) {
    const TensorType& lengths = operands.back()->type();
    require(lengths.dtype == DType::i32 && lengths.rank() == 1,
            "lengths %" + operands.back()->name() + " must be i32[B], got " + lengths.to_string());
    int64_t batch = lengths.shape[0];
    for (int64_t i = 0; i < static_cast<int64_t>(body.outputs().size()); ++i) {
      const TensorType& type = body.outputs()[i].value->type();
      require(type.rank() >= 1 && type.shape[0] == batch,
              "with lengths, every carry and per-step output needs leading dimension " +
                  std::to_string(batch) + " (the batch), but body output '" +
                  body.outputs()[i].name + "' is " + type.to_string());
    }
  }
  return results;
}

/// The result types of a fused node (see ops.def): the body outputs' types, after checking
/// that the body is an elementwise expression over one index space reading the operands.
std::vector<TensorType> infer_fused(const std::vector<Value*>& operands, const Graph& body) {
  std::vector<Node*> inputs = body.nodes_of(OpKind::Input);
  require(inputs.size() == operands.size(), "the fused body has " + std::to_string(inputs.size()) +
                                                " inputs, but the node passes " +
                                                std::to_string(operands.size()) + " operands");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorType& actual = inputs[i]->result()->type();
    require(actual == operands[i]->type(), "fused body input %" + inputs[i]->result()->name() +
                                               " is " + actual.to_string() + " but operand %" +
                                               operands[i]->name() + " gives " +
                                               operands[i]->type().to_string());
  }
  for (const auto& node : body.nodes()) {
    OpKind kind = node->kind();
    require(kind == OpKind::Input || kind == OpKind::Constant || kind == OpKind::Broadcast ||
                node->info().has(kElementwise),
            "a fused body may hold only inputs, constants, elementwise ops and broadcasts, not " +
                std::string(node->info().name) + " (%" + node->result()->name() + ")");
  }
  require(!body.outputs().empty(), "a fused body needs at least one output");
  require(body.updates().empty(), "a fused body may not update parameters");
  const Shape& index_space = body.outputs()[0].value->shape();
  std::vector<TensorType> results;
  for (const GraphOutput& output : body.outputs()) {
    require(output.value->shape() == index_space,
            "fused body outputs differ in shape: '" + body.outputs()[0].name + "' is " +
                shape_to_string(index_space) + " but '" + output.name + "' is " +
                output.value->type().to_string() + " (all outputs share one index space)");
    results.push_back(output.value->type());
  }
  return results;
}

TensorType infer_one(OpKind kind, const std::vector<Value*>& operands, const Attributes& attrs) {
  auto type = [&](size_t i) -> const TensorType& { return operands[i]->type(); };
  switch (kind) {
    case OpKind::Input:
    case OpKind::Parameter:
    case OpKind::Constant:
    case OpKind::Iota:
    case OpKind::Scan:
    case OpKind::Fused:
      break;  // handled by infer_source, infer_scan and infer_fused
    case OpKind::Neg:
    case OpKind::Abs:
    case OpKind::Sign:
    case OpKind::Relu:
      return type(0);
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
      require_float(type(0), op_info(kind).name);
      return type(0);
    case OpKind::Cast:
      return {attrs.get_dtype("dtype"), type(0).shape};
    case OpKind::Pow:
      require_float(type(0), "pow");
      [[fallthrough]];
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Max:
    case OpKind::Min:
    case OpKind::Greater:
    case OpKind::Less:
    case OpKind::Equal:
      require(type(0) == type(1), "operand types differ: " + type(0).to_string() + " and " +
                                      type(1).to_string() + " (broadcast explicitly)");
      return type(0);
    case OpKind::Select:
      require(type(0).shape == type(1).shape && type(1) == type(2),
              "select needs a condition of the values' shape and two values of one type, got " +
                  type(0).to_string() + ", " + type(1).to_string() + ", " + type(2).to_string());
      return type(1);
    case OpKind::Broadcast:
      return infer_broadcast(type(0), attrs.get_ints("shape"));
    case OpKind::Reshape: {
      const auto& shape = attrs.get_ints("shape");
      for (int64_t dim : shape) require(dim >= 0, "negative dimension in " + ints_to_string(shape));
      require(num_elements(shape) == type(0).num_elements(),
              "cannot reshape " + type(0).to_string() + " to " + ints_to_string(shape));
      return {type(0).dtype, shape};
    }
    case OpKind::Transpose: {
      const auto& perm = attrs.get_ints("perm");
      std::vector<int64_t> sorted = perm;
      std::sort(sorted.begin(), sorted.end());
      bool is_permutation = static_cast<int64_t>(perm.size()) == type(0).rank();
      for (size_t i = 0; is_permutation && i < sorted.size(); ++i)
        is_permutation = sorted[i] == static_cast<int64_t>(i);
      require(is_permutation, "perm " + ints_to_string(perm) + " is not a permutation of the " +
                                  std::to_string(type(0).rank()) + " dimensions of " +
                                  type(0).to_string());
      TensorType out{type(0).dtype, {}};
      for (int64_t axis : perm) out.shape.push_back(type(0).shape[axis]);
      return out;
    }
    case OpKind::Slice: {
      const auto& starts = attrs.get_ints("starts");
      const auto& ends = attrs.get_ints("ends");
      require(static_cast<int64_t>(starts.size()) == type(0).rank() &&
                  static_cast<int64_t>(ends.size()) == type(0).rank(),
              "slice needs one start and one end per dimension of " + type(0).to_string());
      TensorType out{type(0).dtype, {}};
      for (int64_t i = 0; i < type(0).rank(); ++i) {
        require(0 <= starts[i] && starts[i] <= ends[i] && ends[i] <= type(0).shape[i],
                "slice " + ints_to_string(starts) + " to " + ints_to_string(ends) +
                    " out of range for " + type(0).to_string());
        out.shape.push_back(ends[i] - starts[i]);
      }
      return out;
    }
    case OpKind::Pad: {
      const auto& low = attrs.get_ints("low");
      const auto& high = attrs.get_ints("high");
      require(static_cast<int64_t>(low.size()) == type(0).rank() &&
                  static_cast<int64_t>(high.size()) == type(0).rank(),
              "pad needs low and high per dimension of " + type(0).to_string());
      TensorType out = type(0);
      for (int64_t i = 0; i < type(0).rank(); ++i) {
        require(low[i] >= 0 && high[i] >= 0, "negative padding");
        out.shape[i] += low[i] + high[i];
      }
      return out;
    }
    case OpKind::Concat:
      return infer_concat(operands, attrs.get_int("axis"));
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean:
      return infer_reduction(kind, type(0), attrs.get_ints("axes"));
    case OpKind::MatMul:
      return infer_matmul(type(0), type(1), attrs.get_int("transpose_a") != 0,
                          attrs.get_int("transpose_b") != 0);
    case OpKind::Gather: {
      require(type(0).rank() >= 1, "gather needs a table of rank >= 1");
      require(type(1).dtype == DType::i32,
              "gather indices must be i32, got " + type(1).to_string());
      TensorType out{type(0).dtype, type(1).shape};
      out.shape.insert(out.shape.end(), type(0).shape.begin() + 1, type(0).shape.end());
      return out;
    }
    case OpKind::ScatterAdd: {
      const auto& shape = attrs.get_ints("shape");
      require(!shape.empty(), "scatter_add needs an output shape of rank >= 1");
      require(type(0).dtype == DType::i32,
              "scatter_add indices must be i32, got " + type(0).to_string());
      Shape expected = type(0).shape;
      expected.insert(expected.end(), shape.begin() + 1, shape.end());
      require(type(1).shape == expected, "scatter_add updates must have shape " +
                                             ints_to_string(expected) + ", got " +
                                             type(1).to_string());
      return {type(1).dtype, shape};
    }
    case OpKind::CoalesceRows: {
      require(attrs.get_int("rows") >= 0, "coalesce_rows needs rows >= 0");
      require(type(0).dtype == DType::i32,
              "coalesce_rows indices must be i32, got " + type(0).to_string());
      require(
          type(1).rank() >= type(0).rank() &&
              Shape(type(1).shape.begin(), type(1).shape.begin() + type(0).rank()) == type(0).shape,
          "coalesce_rows updates must have shape indices.shape + row shape, got " +
              type(1).to_string() + " for indices " + type(0).to_string());
      return type(1);
    }
    case OpKind::ScatterRows: {
      require(type(0).rank() >= 1, "scatter_rows needs a table of rank >= 1");
      require(type(1).dtype == DType::i32,
              "scatter_rows indices must be i32, got " + type(1).to_string());
      TensorType expected{type(0).dtype, type(1).shape};
      expected.shape.insert(expected.shape.end(), type(0).shape.begin() + 1, type(0).shape.end());
      require(type(2) == expected,
              "scatter_rows rows must be " + expected.to_string() + ", got " + type(2).to_string());
      return type(0);
    }
  }
  throw Error("no shape rule");
}

}  // namespace

std::vector<TensorType> infer_result_types(OpKind kind, const std::vector<Value*>& operands,
                                           const Attributes& attrs,
                                           const std::vector<TensorType>& declared,
                                           const std::vector<std::unique_ptr<Graph>>& bodies) {
  for (const TensorType& type : declared) require_sane_shape(type.shape, "type");
  if (attrs.has("shape")) require_sane_shape(attrs.get_ints("shape"), "shape");
  for (const char* name : {"low", "high"})
    if (attrs.has(name))
      for (int64_t amount : attrs.get_ints(name))
        require(amount >= 0 && amount <= kMaxElements, std::string("padding ") + name + " " +
                                                           ints_to_string(attrs.get_ints(name)) +
                                                           " out of range");
  if (op_info(kind).has(kSource)) return {infer_source(kind, attrs, declared)};
  std::vector<TensorType> inferred;
  if (kind == OpKind::Scan) {
    require(bodies.size() == 1, "a scan needs exactly one body graph");
    inferred = infer_scan(operands, attrs, *bodies[0]);
  } else if (kind == OpKind::Fused) {
    require(bodies.size() == 1, "a fused node needs exactly one body graph");
    inferred = infer_fused(operands, *bodies[0]);
  } else {
    inferred = {infer_one(kind, operands, attrs)};
  }
  for (const TensorType& type : inferred) require_sane_shape(type.shape, "result shape");
  if (!declared.empty()) {
    require(declared.size() == inferred.size(), std::to_string(declared.size()) +
                                                    " result type(s) declared, the op gives " +
                                                    std::to_string(inferred.size()));
    for (size_t i = 0; i < inferred.size(); ++i)
      require(declared[i] == inferred[i], "declared type " + declared[i].to_string() +
                                              " differs from inferred " + inferred[i].to_string());
  }
  return inferred;
}

}  // namespace rnnc::ir
