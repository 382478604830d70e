// Elementwise steps: a single elementwise op, or a Fused node's body (an expression of
// elementwise ops, constants and broadcasts), as one kernel with a thread per element of the
// result's index space. Every operand is addressed by strides over that space (0 along
// broadcast dimensions); an operand laid out like the index space is read at the flat index.
// Vectorized (docs/cuda-backend.md, "Rendering"): when every result's address is a multiple
// of 16 bytes for every loop counter, a thread handles `width` consecutive elements (16 bytes
// of the widest dtype involved): one vector store per result, one vector load per operand read
// at the flat index whose address is as aligned, a scalar read per lane for the others
// (broadcasts, strided reads, constant arrays), and each lane's arithmetic exactly as one
// element's; the last, partial vector is done element by element.
#include <algorithm>
#include <cassert>
#include <map>
#include <optional>
#include <utility>

#include "codegen/cuda/render_internal.h"
#include "codegen/interp/kernels.h"

namespace rnnc::cuda {
namespace {

using ir::DType;
using ir::OpKind;

/// For each dimension of a value, the index-space dimension its index follows, or -1 where
/// its index is always 0 (a stretched size-1 dimension).
using IndexMap = std::vector<int>;
using Key = std::pair<const ir::Value*, IndexMap>;

class ExpressionRenderer {
 public:
  ExpressionRenderer(SourceWriter& module, const ir::Step& step)
      : module_(module), step_(step), kernel_(module, &step, hint(step)) {}

  std::vector<Launch> render() {
    const ir::Node& node = *step_.node;
    std::vector<std::pair<const ir::Value*, ir::BufferId>> outputs;
    if (node.kind() == OpKind::Fused) {
      std::vector<ir::Node*> inputs = node.body().nodes_of(OpKind::Input);
      assert(inputs.size() == step_.operands.size());
      for (size_t i = 0; i < inputs.size(); ++i) bound_[inputs[i]->result()] = step_.operands[i];
      const auto& body_outputs = node.body().outputs();
      for (size_t i = 0; i < body_outputs.size(); ++i)
        outputs.emplace_back(body_outputs[i].value, step_.results.at(i));
    } else {
      for (size_t i = 0; i < node.operands().size(); ++i)
        bound_[node.operand(i)] = step_.operands.at(i);
      outputs.emplace_back(node.result(), step_.results.at(0));
    }
    space_ = node.result()->shape();
    const int64_t count = ir::num_elements(space_);
    const int64_t width = vector_width(outputs, count);
    if (width == 1) {
      store_elements(outputs, "i");
      return {kernel_.finish(count)};
    }
    // A thread per vector of `width` elements starting at element i = j * width.
    width_ = width;
    const std::string w = std::to_string(width) + "LL";
    kernel_.line("const long long i = j * " + w + ";");
    const bool tail = count % width != 0;
    if (tail) {
      kernel_.line("if (i + " + w + " <= " + std::to_string(count) + "LL) {");
      indent_ = "  ";
    }
    std::vector<std::vector<std::string>> lanes(outputs.size());
    for (int64_t lane = 0; lane < width; ++lane) {
      lane_ = lane;
      index_ = lane == 0 ? "i" : "(i + " + std::to_string(lane) + "LL)";
      computed_.clear();
      for (size_t o = 0; o < outputs.size(); ++o)
        lanes[o].push_back(evaluate(outputs[o].first, identity()));
    }
    for (size_t o = 0; o < outputs.size(); ++o) {
      const std::string type = vector_type(module_.buffer(outputs[o].second).type.dtype, width);
      std::string values;
      for (const std::string& lane : lanes[o]) values += (values.empty() ? "" : ", ") + lane;
      emit("*(" + type + "*)(" + kernel_.pointer(outputs[o].second) + " + i) = " + type + "{" +
           values + "};");
    }
    if (tail) {
      // The last, partial vector: element by element.
      width_ = 1;
      kernel_.line("} else {");
      kernel_.line("  for (long long e = i; e < " + std::to_string(count) + "LL; ++e) {");
      indent_ = "    ";
      store_elements(outputs, "e");
      kernel_.line("  }");
      kernel_.line("}");
    }
    return {kernel_.finish((count + width - 1) / width, "j")};
  }

 private:
  static std::string hint(const ir::Step& step) {
    return "elementwise_" + step.node->result()->name();
  }

  /// Appends a line to the kernel at the current nesting.
  void emit(const std::string& text) { kernel_.line(indent_ + text); }

  /// The index map of the index space itself.
  IndexMap identity() const {
    IndexMap map(space_.size());
    for (size_t d = 0; d < space_.size(); ++d) map[d] = static_cast<int>(d);
    return map;
  }

  /// Computes every result at element `index`, then stores each (a result may overwrite an
  /// operand in place (program.h), which the other results may still read).
  void store_elements(const std::vector<std::pair<const ir::Value*, ir::BufferId>>& outputs,
                      const std::string& index) {
    index_ = index;
    computed_.clear();
    std::vector<std::string> results;
    for (const auto& [value, buffer] : outputs) results.push_back(evaluate(value, identity()));
    for (size_t i = 0; i < outputs.size(); ++i)
      emit(kernel_.pointer(outputs[i].second) + "[" + index + "] = " + results[i] + ";");
  }

  /// The elements a thread handles: 16 bytes of the widest dtype among the results and
  /// operands, when vectorizing is on, there is at least one whole vector and every result's
  /// address is a multiple of its vector's bytes for every loop counter; else 1.
  int64_t vector_width(const std::vector<std::pair<const ir::Value*, ir::BufferId>>& outputs,
                       int64_t count) const {
    if (!module_.options().vectorize) return 1;
    int64_t widest = 1;
    for (const auto& output : outputs)
      widest = std::max(widest, ir::dtype_size(module_.buffer(output.second).type.dtype));
    for (ir::BufferId operand : step_.operands)
      widest = std::max(widest, ir::dtype_size(module_.buffer(operand).type.dtype));
    const int64_t width = kVectorBytes / widest;
    if (width < 2 || count < width) return 1;
    for (const auto& output : outputs)
      if (!vector_aligned(output.second, width)) return 1;
    return width;
  }

  /// Whether `width` elements of buffer `id` starting at any multiple of `width` are one
  /// aligned vector for every loop counter.
  bool vector_aligned(ir::BufferId id, int64_t width) const {
    return module_.alignment(id) % (width * ir::dtype_size(module_.buffer(id).type.dtype)) == 0;
  }

  /// The index map of operand `i` of `node` when its result has map `map`.
  static IndexMap operand_map(const ir::Node& node, size_t i, const IndexMap& map) {
    if (node.kind() != OpKind::Broadcast) return map;
    const ir::Shape& from = node.operand(i)->shape();
    const ir::Shape& to = node.result()->shape();
    size_t offset = to.size() - from.size();
    IndexMap result(from.size());
    for (size_t j = 0; j < from.size(); ++j) result[j] = from[j] == 1 ? -1 : map[j + offset];
    return result;
  }

  /// A single value repeated over a whole buffer or constant, if `value` is one.
  std::optional<double> splat(const ir::Value* value) const {
    auto found = bound_.find(value);
    if (found != bound_.end()) {
      const ir::Buffer& buffer = module_.buffer(found->second);
      if (buffer.placement == ir::Placement::constant && buffer.constant_values.size() == 1)
        return buffer.constant_values[0];
      return std::nullopt;
    }
    const ir::Node& node = *value->producer();
    if (node.kind() == OpKind::Constant && node.attrs().get_floats("value").size() == 1)
      return node.attrs().get_floats("value")[0];
    return std::nullopt;
  }

  bool is_leaf(const ir::Value* value) const {
    OpKind kind = value->producer()->kind();
    return bound_.count(value) || kind == OpKind::Constant || kind == OpKind::Iota;
  }

  /// The element offset of a leaf of `shape` read through `map` at the current flat index
  /// (index_ itself when the leaf is laid out like the index space).
  std::string offset(const ir::Shape& shape, const IndexMap& map) const {
    std::vector<int64_t> strides(space_.size(), 0);
    std::vector<int64_t> row_major = ir::row_major_strides(shape);
    for (size_t j = 0; j < map.size(); ++j)
      if (map[j] >= 0) strides[map[j]] += row_major[j];
    // Laid out like the index space (size-1 dimensions aside): the flat index.
    std::vector<int64_t> space_strides = ir::row_major_strides(space_);
    bool same = true;
    for (size_t d = 0; d < space_.size(); ++d)
      same = same && (space_[d] == 1 || strides[d] == space_strides[d]);
    if (same) return index_;
    std::string text;
    for (size_t d = 0; d < space_.size(); ++d) {
      if (strides[d] == 0 || space_[d] == 1) continue;
      text += (text.empty() ? "" : " + ") + digit(index_, space_, d) +
              (strides[d] == 1 ? "" : " * " + std::to_string(strides[d]) + "LL");
    }
    return text.empty() ? "0" : text;
  }

  std::string load(const ir::Value* value, const IndexMap& map) {
    std::string base;
    const std::string at = offset(value->shape(), map);
    auto found = bound_.find(value);
    if (found != bound_.end()) {
      base = kernel_.pointer(found->second);
      if (width_ > 1 && at == index_ && vector_aligned(found->second, width_))
        return vector_load(found->second) + vector_lane(lane_);
    } else {
      auto array = arrays_.find(value);
      if (array == arrays_.end()) {
        Tensor values = interp::evaluate_constant(*value->producer());
        array = arrays_.emplace(value, module_.constant_array(value->dtype(), values.to_doubles()))
                    .first;
      }
      base = array->second;
    }
    return base + "[" + at + "]";
  }

  /// The local holding the vector of buffer `id` at element i (loaded on first use, before
  /// any store).
  std::string vector_load(ir::BufferId id) {
    auto found = vectors_.find(id);
    if (found != vectors_.end()) return found->second;
    const std::string type = vector_type(module_.buffer(id).type.dtype, width_);
    const std::string name = kernel_.local();
    emit("const " + type + " " + name + " = *(const " + type + "*)(" + kernel_.pointer(id) +
         " + i);");
    return vectors_[id] = name;
  }

  /// The name of a local holding `value` at the current index.
  std::string evaluate(const ir::Value* value, const IndexMap& map) {
    Key key{value, map};
    auto found = computed_.find(key);
    if (found != computed_.end()) return found->second;
    std::string expression;
    if (is_leaf(value)) {
      std::optional<double> single = splat(value);
      if (single) return computed_[key] = literal(value->dtype(), *single);
      expression = load(value, map);
    } else {
      const ir::Node& node = *value->producer();
      std::vector<std::string> operands;
      std::vector<DType> types;
      for (size_t i = 0; i < node.operands().size(); ++i) {
        operands.push_back(evaluate(node.operand(i), operand_map(node, i, map)));
        types.push_back(node.operand(i)->dtype());
      }
      if (node.kind() == OpKind::Broadcast) return computed_[key] = operands[0];
      expression = scalar_op(kernel_, node, operands, types, value->dtype());
    }
    std::string name = kernel_.local();
    emit("const " + std::string(c_type(value->dtype())) + " " + name + " = " + expression + ";");
    return computed_[key] = name;
  }

  SourceWriter& module_;
  const ir::Step& step_;
  KernelWriter kernel_;
  std::map<const ir::Value*, ir::BufferId> bound_;
  std::map<const ir::Value*, std::string> arrays_;
  ir::Shape space_;
  std::map<Key, std::string> computed_;
  // Where the expression is being written: the flat index's expression, the nesting, and
  // when vectorized the vector width, the lane, and the vectors loaded.
  std::string index_ = "i", indent_;
  int64_t width_ = 1, lane_ = 0;
  std::map<ir::BufferId, std::string> vectors_;
};

}  // namespace

std::vector<Launch> render_elementwise(SourceWriter& module, const ir::Step& step) {
  return ExpressionRenderer(module, step).render();
}

}  // namespace rnnc::cuda
