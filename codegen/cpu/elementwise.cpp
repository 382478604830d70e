// Elementwise steps: a single elementwise op, or a Fused node's body (an expression of
// elementwise ops, constants and broadcasts), as one loop nest over the result's index space.
// Every operand is addressed by strides over that space (0 along broadcast dimensions);
// dimensions every operand walks contiguously are merged, so the innermost loop is as long as
// possible and vectorizes.
#include <llvm/IR/Constants.h>

#include <cassert>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "codegen/cpu/emitter.h"
#include "codegen/interp/kernels.h"

namespace rnnc::cpu {
namespace {

using ir::DType;
using ir::OpKind;

/// For each dimension of a value, the index-space dimension its index follows, or -1 where
/// its index is always 0 (a stretched size-1 dimension).
using IndexMap = std::vector<int>;
using Key = std::pair<const ir::Value*, IndexMap>;

/// An operand element loaded from memory (a buffer, or a constant of the fused body), or
/// where a result element is stored.
struct Leaf {
  llvm::Value* base = nullptr;
  DType dtype = DType::f32;
  std::vector<int64_t> strides;  ///< elements per step of each index-space dimension
  std::vector<int64_t> merged;   ///< the same per merged dimension
};

class ExpressionEmitter {
 public:
  /// Emits, in `kernel`, elementwise step `step` (the kernel's own, or the producer of a
  /// reduction that evaluates it on the fly).
  ExpressionEmitter(KernelEmitter& kernel, const ir::Step& step)
      : kernel_(kernel), step_(step), b_(kernel.builder()) {}

  /// Binds the step's operands and results and finds the loaded leaves and the merged
  /// dimensions (no code yet). `reduced`: the one result is reduced, not stored (its layout
  /// does not constrain the merged dimensions). `by_rows`: the first dimension stays a
  /// merged dimension of its own (for emit_rows).
  void analyze(bool reduced = false, bool by_rows = false) {
    by_rows_ = by_rows;
    const ir::Step& step = step_;
    const ir::Node& node = *step.node;
    if (node.kind() == OpKind::Fused) {
      std::vector<ir::Node*> inputs = node.body().nodes_of(OpKind::Input);
      assert(inputs.size() == step.operands.size());
      for (size_t i = 0; i < inputs.size(); ++i) bound_[inputs[i]->result()] = step.operands[i];
      const auto& outputs = node.body().outputs();
      for (size_t i = 0; i < outputs.size(); ++i)
        outputs_.emplace_back(outputs[i].value, step.results.at(i));
    } else {
      for (size_t i = 0; i < node.operands().size(); ++i)
        bound_[node.operand(i)] = step.operands.at(i);
      outputs_.emplace_back(node.result(), step.results.at(0));
    }
    space_ = node.result()->shape();
    for (const auto& [value, buffer] : outputs_) collect(value, identity_map());
    if (reduced) {
      assert(outputs_.size() == 1);
      return merge_dimensions();
    }
    // Each output row-major in its buffer, or else in each concat's result that takes it.
    const auto& views = kernel_.module().concat_views();
    for (size_t i = 0; i < outputs_.size(); ++i) {
      auto found = views.find(outputs_[i].second);
      const size_t count = found == views.end() ? 1 : found->second.size();
      for (size_t v = 0; v < count; ++v) {
        Store store;
        store.output = i;
        store.view = found == views.end() ? nullptr : &found->second[v];
        store.buffer = outputs_[i].second;
        store.leaf.dtype = outputs_[i].first->dtype();
        store.leaf.strides = store.view ? store.view->strides : ir::row_major_strides(space_);
        stores_.push_back(std::move(store));
      }
    }
    // The copies the step makes: each source a leaf (a slice read in place through the
    // sliced buffer's strides), stored row-major into its target.
    auto copies = kernel_.module().elementwise_copies().find(&step);
    if (copies != kernel_.module().elementwise_copies().end())
      for (const ModuleContext::ElementwiseCopy& copy : copies->second) {
        Leaf leaf;
        leaf.dtype = kernel_.buffer(copy.source).type.dtype;
        leaf.strides = ir::row_major_strides(space_);
        copies_.emplace_back(leaves_.size(), copy.source);
        Store store;
        store.output = outputs_.size() + copies_.size() - 1;
        store.buffer = copy.target;
        store.leaf = leaf;
        if (const auto* view = buffer_view(copy.source)) leaf.strides = view->strides;
        leaves_.push_back(std::move(leaf));
        stores_.push_back(std::move(store));
      }
    merge_dimensions();
  }

  /// About what one element of `kind` costs, in simple ops: a transcendental is a range
  /// reduction and a polynomial (math.cpp).
  static int64_t op_cost(OpKind kind) {
    switch (kind) {
      case OpKind::Input:
      case OpKind::Constant:
        return 0;
      case OpKind::Exp:
      case OpKind::Log:
      case OpKind::Tanh:
      case OpKind::Sigmoid:
      case OpKind::Pow:
        return 12;
      default:
        return 1;
    }
  }

  /// The number of elements times the number of ops computed per element.
  int64_t work() const {
    const ir::Node& node = *step_.node;
    int64_t ops = op_cost(node.kind());
    if (node.kind() == OpKind::Fused) {
      ops = 1;
      for (const auto& inner : node.body().nodes()) ops += op_cost(inner->kind());
    }
    return ir::num_elements(space_) * ops;
  }

  /// The loop nest; with `part` and `parts` (i64 values), only the part-th of `parts` slices
  /// of the outermost merged dimension (in multiples of kGrain elements when it is the only
  /// one, so that the vectorized loop keeps whole vectors).
  void emit(llvm::Value* part = nullptr, llvm::Value* parts = nullptr) {
    for_each_element(part, parts, [&] { store_element(); });
  }

  /// After analyze(false, true): the loop nest over rows [begin, end) (i64 values) of the
  /// first dimension, every index of the others.
  void emit_rows(llvm::Value* begin, llvm::Value* end) {
    assert(by_rows_ && !space_.empty() && space_[0] > 1);
    const ir::Shape inner(merged_sizes_.begin() + 1, merged_sizes_.end());
    kernel_.for_between(begin, end, [&](llvm::Value* row) {
      kernel_.for_shape(inner, [&](const std::vector<llvm::Value*>& rest) {
        indices_ = {row};
        indices_.insert(indices_.end(), rest.begin(), rest.end());
        store_element();
      });
    });
  }

  /// After analyze(true): the loop nest combining the one result's elements (of part `part`
  /// of `parts`, as in emit) by reduction `kind` into a value starting at `identity`; returns
  /// that value, after the loop.
  llvm::Value* emit_reduction(OpKind kind, llvm::Value* identity, llvm::Value* part,
                              llvm::Value* parts) {
    const DType dtype = outputs_.at(0).first->dtype();
    llvm::Value* accumulator = kernel_.entry_alloca(kernel_.module().element_type(dtype));
    b_.CreateStore(identity, accumulator);
    IndexMap identity_index = identity_map();
    for_each_element(part, parts, [&] {
      llvm::Value* value = evaluate(outputs_[0].first, identity_index);
      b_.CreateStore(combine_reduction(b_, kind, dtype,
                                       b_.CreateLoad(value->getType(), accumulator), value, true),
                     accumulator);
    });
    return b_.CreateLoad(kernel_.module().element_type(dtype), accumulator);
  }

  /// Elements of a lone merged dimension per slice boundary.
  static constexpr int64_t kGrain = 64;

 private:
  /// The results (and copies) at the current index, stored. Every result is computed before
  /// any is stored: a result may overwrite an operand in place (program.h), which the other
  /// results may still read.
  void store_element() {
    IndexMap identity = identity_map();
    std::vector<llvm::Value*> results;
    for (const auto& [value, buffer] : outputs_) results.push_back(evaluate(value, identity));
    for (const auto& [index, source] : copies_) {
      Leaf& leaf = leaves_[index];
      if (!leaf.base) leaf.base = base_address(source, buffer_view(source), leaf.dtype);
      results.push_back(b_.CreateLoad(kernel_.module().element_type(leaf.dtype), address(leaf)));
    }
    for (Store& store : stores_) {
      Leaf& leaf = store.leaf;
      if (!leaf.base) leaf.base = base_address(store.buffer, store.view, leaf.dtype);
      b_.CreateStore(results[store.output], address(leaf));
    }
  }

  /// The index map of the index space itself.
  IndexMap identity_map() const {
    IndexMap identity(space_.size());
    for (size_t d = 0; d < space_.size(); ++d) identity[d] = static_cast<int>(d);
    return identity;
  }

  /// Emits `element()` inside the loop nest over the merged dimensions (indices_ set), or
  /// over part `part` of `parts` of them (see emit; a lone element is part 0's).
  void for_each_element(llvm::Value* part, llvm::Value* parts,
                        const std::function<void()>& element) {
    auto at = [&](const std::vector<llvm::Value*>& indices) {
      indices_ = indices;
      element();
    };
    if (!part) return kernel_.for_shape(merged_sizes_, at);
    if (merged_sizes_.empty())  // a single element: part 0's
      return kernel_.if_then(b_.CreateICmpEQ(part, kernel_.index(0)), [&] { at({}); });
    const int64_t outer = merged_sizes_[0];
    const int64_t grain = merged_sizes_.size() == 1 ? kGrain : 1;
    const int64_t blocks = (outer + grain - 1) / grain;
    auto bound = [&](llvm::Value* index) {
      llvm::Value* block = b_.CreateSDiv(b_.CreateMul(index, kernel_.index(blocks)), parts);
      llvm::Value* first = b_.CreateMul(block, kernel_.index(grain));
      return b_.CreateSelect(b_.CreateICmpSLT(first, kernel_.index(outer)), first,
                             kernel_.index(outer));
    };
    llvm::Value* begin = bound(part);
    llvm::Value* end = bound(b_.CreateAdd(part, kernel_.index(1)));
    const ir::Shape inner(merged_sizes_.begin() + 1, merged_sizes_.end());
    kernel_.for_between(begin, end, [&](llvm::Value* i) {
      kernel_.for_shape(inner, [&](const std::vector<llvm::Value*>& rest) {
        std::vector<llvm::Value*> indices = {i};
        indices.insert(indices.end(), rest.begin(), rest.end());
        at(indices);
      });
    });
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
      const ir::Buffer& buffer = kernel_.buffer(found->second);
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

  /// Where operand `value` is a slice read in place (ModuleContext::slice_views), its view.
  const ModuleContext::StridedView* slice_view(const ir::Value* value) const {
    auto bound = bound_.find(value);
    return bound == bound_.end() ? nullptr : buffer_view(bound->second);
  }

  /// The address of buffer `id`'s first element: in `view`'s buffer when it has one (a slice
  /// read in place, a result stored into a concat).
  llvm::Value* base_address(ir::BufferId id, const ModuleContext::StridedView* view, DType dtype) {
    if (!view) return kernel_.pointer(id);
    return kernel_.element_address(kernel_.pointer(view->buffer), dtype,
                                   kernel_.index(view->offset));
  }

  /// Where buffer `id` is a slice read in place, its view.
  const ModuleContext::StridedView* buffer_view(ir::BufferId id) const {
    const auto& views = kernel_.module().slice_views();
    auto view = views.find(id);
    return view == views.end() ? nullptr : &view->second;
  }

  /// Phase 1: finds the loaded leaves and their strides.
  void collect(const ir::Value* value, const IndexMap& map) {
    Key key{value, map};
    if (!visited_.insert(key).second) return;
    if (is_leaf(value)) {
      if (splat(value)) return;
      Leaf leaf;
      leaf.dtype = value->dtype();
      leaf.strides.assign(space_.size(), 0);
      std::vector<int64_t> row_major = ir::row_major_strides(value->shape());
      if (const auto* view = slice_view(value)) row_major = view->strides;
      for (size_t j = 0; j < map.size(); ++j)
        if (map[j] >= 0) leaf.strides[map[j]] += row_major[j];
      leaf_index_[key] = leaves_.size();
      leaves_.push_back(std::move(leaf));
      return;
    }
    const ir::Node& node = *value->producer();
    for (size_t i = 0; i < node.operands().size(); ++i)
      collect(node.operand(i), operand_map(node, i, map));
  }

  /// Phase 2: drops size-1 dimensions and merges neighbours every leaf walks contiguously.
  void merge_dimensions() {
    std::vector<std::vector<int64_t>> groups;  // index-space dimensions per merged dimension
    for (size_t d = 0; d < space_.size(); ++d) {
      if (space_[d] == 1) continue;
      bool contiguous = !groups.empty() && !(by_rows_ && d == 1);
      if (contiguous) {
        size_t previous = groups.back().back();
        for (const Leaf& leaf : leaves_)
          contiguous = contiguous && leaf.strides[previous] == leaf.strides[d] * space_[d];
        for (const Store& store : stores_)
          contiguous =
              contiguous && store.leaf.strides[previous] == store.leaf.strides[d] * space_[d];
      }
      if (contiguous)
        groups.back().push_back(d);
      else
        groups.push_back({static_cast<int64_t>(d)});
    }
    for (const auto& group : groups) {
      int64_t size = 1;
      for (int64_t d : group) size *= space_[d];
      merged_sizes_.push_back(size);
      for (Leaf& leaf : leaves_) leaf.merged.push_back(leaf.strides[group.back()]);
      for (Store& store : stores_) store.leaf.merged.push_back(store.leaf.strides[group.back()]);
    }
  }

  llvm::Value* immediate(DType dtype, double value) {
    llvm::Type* type = kernel_.module().element_type(dtype);
    if (dtype == DType::i32)
      return llvm::ConstantInt::get(type, static_cast<uint64_t>(static_cast<int32_t>(value)), true);
    return llvm::ConstantFP::get(type, value);
  }

  llvm::Value* load(const Key& key) {
    Leaf& leaf = leaves_.at(leaf_index_.at(key));
    if (!leaf.base) {
      const ir::Value* value = key.first;
      auto found = bound_.find(value);
      if (found != bound_.end()) {
        leaf.base = base_address(found->second, slice_view(value), leaf.dtype);
      } else {
        Tensor values = interp::evaluate_constant(*value->producer());
        leaf.base =
            kernel_.module().constant_global(value->dtype(), values.to_doubles(), "fused.const");
      }
    }
    return b_.CreateLoad(kernel_.module().element_type(leaf.dtype), address(leaf));
  }

  /// The address of `leaf`'s element at the current index.
  llvm::Value* address(const Leaf& leaf) {
    llvm::Value* offset = kernel_.index(0);
    bool first = true;
    for (size_t k = 0; k < indices_.size(); ++k) {
      if (leaf.merged[k] == 0) continue;
      llvm::Value* term =
          leaf.merged[k] == 1
              ? indices_[k]
              : b_.CreateMul(indices_[k], kernel_.index(leaf.merged[k]), "", true, true);
      offset = first ? term : b_.CreateAdd(offset, term, "", true, true);
      first = false;
    }
    return kernel_.element_address(leaf.base, leaf.dtype, offset);
  }

  /// Phase 3: the value of `value` at the current index.
  llvm::Value* evaluate(const ir::Value* value, const IndexMap& map) {
    Key key{value, map};
    auto found = computed_.find(key);
    if (found != computed_.end()) return found->second;
    llvm::Value* result = nullptr;
    if (is_leaf(value)) {
      std::optional<double> single = splat(value);
      result = single ? immediate(value->dtype(), *single) : load(key);
    } else {
      const ir::Node& node = *value->producer();
      std::vector<llvm::Value*> operands;
      std::vector<DType> types;
      for (size_t i = 0; i < node.operands().size(); ++i) {
        operands.push_back(evaluate(node.operand(i), operand_map(node, i, map)));
        types.push_back(node.operand(i)->dtype());
      }
      result = node.kind() == OpKind::Broadcast
                   ? operands[0]
                   : emit_scalar_op(kernel_, node, operands, types, value->dtype());
    }
    computed_[key] = result;
    return result;
  }

  KernelEmitter& kernel_;
  const ir::Step& step_;
  llvm::IRBuilder<>& b_;
  std::map<const ir::Value*, ir::BufferId> bound_;
  std::vector<std::pair<const ir::Value*, ir::BufferId>> outputs_;
  ir::Shape space_;
  std::set<Key> visited_;
  std::map<Key, size_t> leaf_index_;
  std::vector<Leaf> leaves_;
  /// Where an output (or, past the outputs, a copy's source) is stored: a buffer, or one
  /// concat's result.
  struct Store {
    size_t output = 0;
    const ModuleContext::StridedView* view = nullptr;  ///< null: `buffer`
    ir::BufferId buffer = -1;
    Leaf leaf;
  };
  std::vector<Store> stores_;
  /// The copies the step makes: the leaf loading each source, and the source.
  std::vector<std::pair<size_t, ir::BufferId>> copies_;
  bool by_rows_ = false;  ///< the first dimension merged with no other (analyze)
  ir::Shape merged_sizes_;
  std::vector<llvm::Value*> indices_;
  std::map<Key, llvm::Value*> computed_;
};

}  // namespace

void emit_elementwise(KernelEmitter& kernel) {
  ExpressionEmitter expression(kernel, kernel.step());
  expression.analyze();
  if (kernel.module().parallel_symbol().empty() ||
      expression.work() < kParallelElementwiseMinWork) {
    expression.emit();
    return;
  }
  emit_parallel_parts(kernel, [&](KernelEmitter& part, llvm::Value* index, llvm::Value* parts) {
    ExpressionEmitter slice(part, part.step());
    slice.analyze();
    slice.emit(index, parts);
  });
}

void emit_elementwise_rows(KernelEmitter& kernel, const ir::Step& step, llvm::Value* begin,
                           llvm::Value* end) {
  ExpressionEmitter rows(kernel, step);
  rows.analyze(false, true);
  rows.emit_rows(begin, end);
}

llvm::Value* emit_reduced_expression(KernelEmitter& kernel, const ir::Step& producer, OpKind kind,
                                     llvm::Value* identity) {
  llvm::IRBuilder<>& b = kernel.builder();
  llvm::Type* type = identity->getType();
  auto* partials_type = llvm::ArrayType::get(type, kReductionChunks);
  llvm::Value* partials = kernel.entry_alloca(partials_type);
  // Chunks [first, end) of the index space, each into its partial.
  auto emit_chunks = [&](KernelEmitter& emitter, llvm::Value* array, llvm::Value* first,
                         llvm::Value* end) {
    emitter.for_between(first, end, [&](llvm::Value* chunk) {
      ExpressionEmitter expression(emitter, producer);
      expression.analyze(true);
      llvm::Value* partial =
          expression.emit_reduction(kind, identity, chunk, emitter.index(kReductionChunks));
      emitter.builder().CreateStore(
          partial, emitter.builder().CreateGEP(partials_type, array, {emitter.index(0), chunk}));
    });
  };
  ExpressionEmitter probe(kernel, producer);
  probe.analyze(true);
  if (kernel.module().parallel_symbol().empty() || probe.work() < kParallelElementwiseMinWork) {
    emit_chunks(kernel, partials, kernel.index(0), kernel.index(kReductionChunks));
  } else {
    emit_parallel_parts(kernel, {partials},
                        [&](KernelEmitter& part, const std::vector<llvm::Value*>& shared,
                            llvm::Value* index, llvm::Value* parts) {
                          const FunctionEmitter::PartRange chunks =
                              part.part_range(kReductionChunks, index, parts);
                          emit_chunks(part, shared.at(0), chunks.begin, chunks.end);
                        });
  }
  const DType dtype = producer.node->result()->dtype();
  llvm::Value* total = identity;
  for (int64_t chunk = 0; chunk < kReductionChunks; ++chunk) {
    llvm::Value* partial =
        b.CreateLoad(type, b.CreateConstGEP2_64(partials_type, partials, 0, chunk));
    total = combine_reduction(b, kind, dtype, total, partial, false);
  }
  return total;
}

}  // namespace rnnc::cpu
