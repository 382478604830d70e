// Elementwise steps: a single elementwise op, or a Fused node's body (an expression of
// elementwise ops, constants and broadcasts), as one kernel with a thread per element of the
// result's index space. Every operand is addressed by strides over that space (0 along
// broadcast dimensions); an operand laid out like the index space is read at the flat index.
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
    IndexMap identity(space_.size());
    for (size_t d = 0; d < space_.size(); ++d) identity[d] = static_cast<int>(d);
    // Every result is computed before any is stored: a result may overwrite an operand in
    // place (program.h), which the other results may still read.
    std::vector<std::string> results;
    for (const auto& [value, buffer] : outputs) results.push_back(evaluate(value, identity));
    for (size_t i = 0; i < outputs.size(); ++i)
      kernel_.line(kernel_.pointer(outputs[i].second) + "[i] = " + results[i] + ";");
    return {kernel_.finish(ir::num_elements(space_))};
  }

 private:
  static std::string hint(const ir::Step& step) {
    return "elementwise_" + step.node->result()->name();
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

  /// The element offset of a leaf of `shape` read through `map` at flat index i.
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
    if (same) return "i";
    std::string text;
    for (size_t d = 0; d < space_.size(); ++d) {
      if (strides[d] == 0 || space_[d] == 1) continue;
      text += (text.empty() ? "" : " + ") + digit("i", space_, d) +
              (strides[d] == 1 ? "" : " * " + std::to_string(strides[d]) + "LL");
    }
    return text.empty() ? "0" : text;
  }

  std::string load(const ir::Value* value, const IndexMap& map) {
    std::string base;
    auto found = bound_.find(value);
    if (found != bound_.end()) {
      base = kernel_.pointer(found->second);
    } else {
      auto array = arrays_.find(value);
      if (array == arrays_.end()) {
        Tensor values = interp::evaluate_constant(*value->producer());
        array = arrays_.emplace(value, module_.constant_array(value->dtype(), values.to_doubles()))
                    .first;
      }
      base = array->second;
    }
    return base + "[" + offset(value->shape(), map) + "]";
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
    kernel_.line("const " + std::string(c_type(value->dtype())) + " " + name + " = " + expression +
                 ";");
    return computed_[key] = name;
  }

  SourceWriter& module_;
  const ir::Step& step_;
  KernelWriter kernel_;
  std::map<const ir::Value*, ir::BufferId> bound_;
  std::map<const ir::Value*, std::string> arrays_;
  ir::Shape space_;
  std::map<Key, std::string> computed_;
};

}  // namespace

std::vector<Launch> render_elementwise(SourceWriter& module, const ir::Step& step) {
  return ExpressionRenderer(module, step).render();
}

}  // namespace rnnc::cuda
