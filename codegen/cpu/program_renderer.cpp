#include "codegen/cpu/program_renderer.h"

#include <llvm/IR/Function.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cassert>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>

#include "codegen/cpu/emitter.h"

namespace rnnc::cpu {
namespace {

using ir::BufferId;
using ir::Placement;
using ir::StepKind;

/// Where a buffer's bytes lie: its root (an external, a constant, the arena) and the byte
/// range within the root it may touch over all iterations of its loop.
struct Extent {
  Placement root = Placement::arena;
  int64_t root_id = 0;  ///< external index or constant buffer id (0 for the arena)
  int64_t begin = 0, end = 0;
  bool loop_dependent = false;  ///< its address depends on a loop counter
};

bool overlap(const Extent& a, const Extent& b) {
  return a.root == b.root && a.root_id == b.root_id && a.begin < b.end && b.begin < a.end;
}

/// Where the scratch memory after a program's arena starts: the arena's bytes, aligned.
int64_t scratch_start(const ir::Program& program) {
  const int64_t align = ir::Program::kAlignment;
  return (program.arena_bytes + align - 1) / align * align;
}

/// "matmul_hidden": a readable kernel name.
std::string kernel_hint(const ir::Step& step) {
  std::string name = ir::step_kind_name(step.kind);
  if (step.node) name += "_" + step.node->result()->name();
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

class ProgramEmitter {
 public:
  ProgramEmitter(ModuleContext& module, llvm::Function* entry, bool cache_parameter_packs)
      : module_(module), program_(module.program()), main_(module, entry) {
    // Each parameter may be packed as B (transposed or not) and as a transposed A's panels.
    if (cache_parameter_packs) module_.start_pack_cache(4 * program_.parameters.size());
    collect_trip_counts(program_.steps);
    llvm::IRBuilder<>& b = main_.builder();
    llvm::Value* table = entry->getArg(0);
    for (BufferId id : program_.externals()) {
      int32_t index = program_.buffers.at(id).external_index;
      externals_[index] = b.CreateLoad(
          module_.pointer(), b.CreateConstInBoundsGEP1_64(module_.pointer(), table, index),
          "external." + std::to_string(index));
    }
  }

  /// The packs emit() sent to the pack cache (distinct buffer, transposition and width).
  int64_t cached_packs() const { return static_cast<int64_t>(cache_slots_.size()); }

  void emit() {
    count_readers(program_.steps);
    collect_written(program_.steps, program_writes_);
    reserve_top_level_panels();
    emit_steps(program_.steps);
    main_.finish();
  }

 private:
  void collect_trip_counts(const std::vector<ir::Step>& steps) {
    for (const ir::Step& step : steps)
      if (step.kind == StepKind::loop) {
        trip_counts_[step.loop_id] = step.trip_count;
        collect_trip_counts(step.body);
      }
  }

  Extent extent(BufferId id) const {
    const ir::Buffer& buffer = program_.buffers.at(id);
    switch (buffer.placement) {
      case Placement::external:
        return {Placement::external, buffer.external_index, 0, buffer.bytes, false};
      case Placement::constant:
        return {Placement::constant, id, 0, buffer.bytes, false};
      case Placement::arena:
        return {Placement::arena, 0, buffer.offset, buffer.offset + buffer.bytes, false};
      case Placement::view: {
        Extent base = extent(buffer.base);
        Extent result = base;
        result.begin = base.begin + buffer.offset;
        result.end = result.begin + buffer.bytes;
        if (buffer.step_stride != 0) {
          int64_t reach = buffer.step_stride * (trip_counts_.at(buffer.loop_id) - 1);
          result.begin += std::min<int64_t>(0, reach);
          result.end += std::max<int64_t>(0, reach);
          result.loop_dependent = true;
        }
        return result;
      }
    }
    assert(false && "unknown placement");
    return {};
  }

  /// The address of buffer `id` in the entry function, at the current loop counters.
  llvm::Value* address(BufferId id) {
    const ir::Buffer& buffer = program_.buffers.at(id);
    switch (buffer.placement) {
      case Placement::external:
        return externals_.at(buffer.external_index);
      case Placement::constant:
        return module_.buffer_global(id);
      case Placement::arena:
        return main_.byte_address(main_.function()->getArg(1), main_.index(buffer.offset));
      case Placement::view: {
        llvm::Value* at = main_.byte_address(address(buffer.base), main_.index(buffer.offset));
        if (buffer.step_stride == 0) return at;
        llvm::Value* t = counters_.at(buffer.loop_id);
        return main_.byte_address(at,
                                  main_.builder().CreateMul(t, main_.index(buffer.step_stride)));
      }
    }
    assert(false && "unknown placement");
    return nullptr;
  }

  /// How many steps (and loop write-backs) read each buffer.
  void count_readers(const std::vector<ir::Step>& steps) {
    for (const ir::Step& step : steps) {
      for (BufferId id : step.operands) ++readers_[id];
      for (BufferId id : step.body_outputs) ++readers_[id];
      count_readers(step.body);
    }
  }

  /// How many steps (and loop write-backs) read buffer `id`.
  int reader_count(BufferId id) const {
    auto found = readers_.find(id);
    return found == readers_.end() ? 0 : found->second;
  }

  /// The buffer a step reading `id` reads: a slice read in place, its source.
  BufferId read_buffer(BufferId id) const {
    auto view = module_.slice_views().find(id);
    return view == module_.slice_views().end() ? id : view->second.buffer;
  }

  /// The buffers a step computing `id` writes: a result written into concats, their results.
  std::vector<BufferId> written_buffers(BufferId id) const {
    auto views = module_.concat_views().find(id);
    if (views == module_.concat_views().end()) return {id};
    std::vector<BufferId> buffers;
    for (const ModuleContext::StridedView& view : views->second) buffers.push_back(view.buffer);
    return buffers;
  }

  /// The index of the first of `steps` after `after` that reads `id` (steps.size(): none).
  static size_t first_reader(const std::vector<ir::Step>& steps, size_t after, BufferId id) {
    size_t j = after + 1;
    while (j < steps.size() && std::find(steps[j].operands.begin(), steps[j].operands.end(), id) ==
                                   steps[j].operands.end())
      ++j;
    return j;
  }

  /// The extents step `step` reads and writes (slices read in place and results written into
  /// concats: the buffers they view; a loop: everything its body touches).
  void touched(const ir::Step& step, std::vector<Extent>& reads, std::vector<Extent>& writes) {
    if (step.kind == StepKind::copy && elided_.count(&step)) return;  // its maker's (folded)
    // A slice read in place writes nothing (its buffer stays unused): its reader reads the
    // source, and a product writing the slice counts as its writer.
    if (step.kind == StepKind::layout && elided_.count(&step) &&
        module_.slice_views().count(step.results.at(0)))
      return;
    for (BufferId id : step.operands) reads.push_back(extent(read_buffer(id)));
    for (BufferId id : step.results)
      for (BufferId written : written_buffers(id)) writes.push_back(extent(written));
    auto copies = module_.elementwise_copies().find(&step);
    if (copies != module_.elementwise_copies().end())
      for (const ModuleContext::ElementwiseCopy& copy : copies->second) {
        reads.push_back(extent(read_buffer(copy.source)));
        writes.push_back(extent(copy.target));
      }
    for (BufferId id : step.body_outputs) reads.push_back(extent(id));
    for (const ir::Step& inner : step.body) touched(inner, reads, writes);
  }

  /// The extents steps (begin, end) of `steps` read and write (the copies an elementwise
  /// step makes count as its reads and writes, not the copy steps').
  void touched_between(const std::vector<ir::Step>& steps, size_t begin, size_t end,
                       std::vector<Extent>& reads, std::vector<Extent>& writes) {
    for (size_t between = begin + 1; between < end; ++between)
      touched(steps[between], reads, writes);
  }

  /// Where slice step `slice` finds its elements in the buffer it slices, read in place.
  ModuleContext::StridedView view_of_slice(const ir::Step& slice) const {
    ModuleContext::StridedView view;
    view.buffer = slice.operands.at(0);
    view.strides = ir::row_major_strides(program_.buffers.at(view.buffer).type.shape);
    const std::vector<int64_t>& starts = slice.node->attrs().get_ints("starts");
    for (size_t d = 0; d < starts.size(); ++d) view.offset += starts[d] * view.strides[d];
    return view;
  }

  /// Slices (a gate's columns of a step's pre-activations) that only one later elementwise
  /// step reads are not copied out: that step reads them in place
  /// (ModuleContext::slice_views), unless it or a step between writes over their source.
  void elide_slices(const std::vector<ir::Step>& steps) {
    for (size_t i = 0; i < steps.size(); ++i) {
      const ir::Step& step = steps[i];
      if (step.kind != StepKind::layout || step.node->kind() != ir::OpKind::Slice) continue;
      const BufferId slice = step.results.at(0);
      if (program_.buffers.at(slice).placement != Placement::arena || reader_count(slice) != 1)
        continue;
      const size_t j = first_reader(steps, i, slice);
      if (j == steps.size() || steps[j].kind != StepKind::elementwise) continue;
      const BufferId source = step.operands.at(0);
      const Extent from = extent(source);
      bool clobbered = from.root == Placement::constant;
      for (BufferId id : steps[j].results) clobbered = clobbered || overlap(extent(id), from);
      std::vector<Extent> reads, writes;
      touched_between(steps, i, j, reads, writes);
      for (const Extent& write : writes) clobbered = clobbered || overlap(write, from);
      if (clobbered) continue;
      module_.slice_views()[slice] = view_of_slice(step);
      elided_.insert(&step);
    }
  }

  /// Concats whose operands are all results of one earlier elementwise step are not copied:
  /// that step writes those results in place in each concat's result
  /// (ModuleContext::concat_views), provided concats are their only readers, the steps
  /// between touch no concat's result, and no concat's result overlaps what the step reads.
  void elide_concats(const std::vector<ir::Step>& steps) {
    for (size_t p = 0; p < steps.size(); ++p) {
      const ir::Step& producer = steps[p];
      if (producer.kind != StepKind::elementwise) continue;
      std::vector<Extent> read;
      for (BufferId id : producer.operands) read.push_back(extent(read_buffer(id)));
      std::vector<Extent> between_reads, between_writes;  // of steps p+1 .. j-1
      std::vector<size_t> concats;
      for (size_t j = p + 1; j < steps.size(); ++j) {
        const ir::Step& step = steps[j];
        if (step.kind == StepKind::layout && step.node->kind() == ir::OpKind::Concat) {
          const Extent target = extent(step.results.at(0));
          const std::set<BufferId> parts(step.operands.begin(), step.operands.end());
          bool fits = parts.size() == step.operands.size();
          for (BufferId id : step.operands)
            fits = fits && program_.buffers.at(id).placement == Placement::arena &&
                   std::find(producer.results.begin(), producer.results.end(), id) !=
                       producer.results.end();
          for (const std::vector<Extent>* list : {&read, &between_reads, &between_writes})
            for (const Extent& e : *list) fits = fits && !overlap(e, target);
          if (fits) concats.push_back(j);
        }
        touched(step, between_reads, between_writes);
      }
      // Drop the concats holding a result that something else reads too, until none does.
      for (bool dropped = true; dropped;) {
        dropped = false;
        std::map<BufferId, int> taken;
        for (size_t j : concats)
          for (BufferId id : steps[j].operands) ++taken[id];
        for (size_t c = 0; c < concats.size() && !dropped; ++c)
          for (BufferId id : steps[concats[c]].operands)
            if (taken[id] != reader_count(id)) {
              concats.erase(concats.begin() + static_cast<std::ptrdiff_t>(c));
              dropped = true;
              break;
            }
      }
      for (size_t j : concats) {
        const ir::Step& step = steps[j];
        const BufferId target = step.results.at(0);
        const int64_t axis = step.node->attrs().get_int("axis");
        ModuleContext::StridedView view;
        view.buffer = target;
        view.strides = ir::row_major_strides(program_.buffers.at(target).type.shape);
        for (BufferId id : step.operands) {
          module_.concat_views()[id].push_back(view);
          view.offset += program_.buffers.at(id).type.shape.at(axis) * view.strides.at(axis);
        }
        elided_.insert(&step);
      }
    }
  }

  /// Whether `sum` (an elementwise step) only adds its operands, each once, and which of them
  /// it adds to every row (a vector of the last dimension broadcast to the sum's shape; else the
  /// operand has the sum's shape). Nothing: not such a sum.
  static std::optional<std::vector<bool>> sum_operands(const ir::Step& sum) {
    const ir::Node& node = *sum.node;
    if (node.kind() == ir::OpKind::Add) return std::vector<bool>(2, false);
    if (node.kind() != ir::OpKind::Fused || node.body().outputs().size() != 1) return std::nullopt;
    std::vector<ir::Node*> inputs = node.body().nodes_of(ir::OpKind::Input);
    std::vector<bool> rows(inputs.size(), false);
    const ir::Shape& shape = node.result()->shape();
    std::map<const ir::Value*, int> uses;
    for (const auto& inner : node.body().nodes()) {
      if (inner->kind() == ir::OpKind::Input) continue;
      if (inner->kind() == ir::OpKind::Broadcast) {
        auto input = std::find(inputs.begin(), inputs.end(), inner->operand(0)->producer());
        if (input == inputs.end() || inner->operand(0)->shape().size() != 1 ||
            inner->operand(0)->shape()[0] != shape.back() || inner->result()->shape() != shape)
          return std::nullopt;
        rows[input - inputs.begin()] = true;
      } else if (inner->kind() != ir::OpKind::Add) {
        return std::nullopt;
      }
      for (const ir::Value* operand : inner->operands()) ++uses[operand];
    }
    ++uses[node.body().outputs()[0].value];
    for (const auto& [value, count] : uses)
      if (count != 1) return std::nullopt;
    return rows;
  }

  /// Vector `id` (rank 1) added to every row by a product: read in place when a slice.
  ModuleContext::RowAddend row_addend(BufferId id) const {
    auto view = module_.slice_views().find(id);
    if (view == module_.slice_views().end()) return {id, 0};
    return {view->second.buffer, view->second.offset};
  }

  /// Buffer `id` and the views of all of it (a reshape), or nothing when a view of `id` takes
  /// only part of it.
  std::optional<std::set<BufferId>> whole_views(BufferId id) const {
    std::set<BufferId> ids{id};
    const ir::Buffer& buffer = program_.buffers.at(id);
    for (BufferId v = 0; v < static_cast<BufferId>(program_.buffers.size()); ++v) {
      const ir::Buffer& view = program_.buffers.at(v);
      if (view.placement != Placement::view || view.base != id) continue;
      if (view.offset != 0 || view.bytes != buffer.bytes || view.step_stride != 0)
        return std::nullopt;
      ids.insert(v);
    }
    return ids;
  }

  /// The buffer the steps read product result `c` as: `c`, or its one reader a view of all of it
  /// (a reshape of a top-level product's rows back into steps).
  BufferId read_as(BufferId c) const {
    if (reader_count(c) > 0) return c;
    const std::optional<std::set<BufferId>> ids = whole_views(c);
    if (!ids || ids->size() != 2) return c;
    return *ids->begin() == c ? *ids->rbegin() : *ids->begin();
  }

  /// What sum `steps[at]` adds to `part` (a product's result or a slice of it, computed by
  /// `steps[from]`): its result, the operands of `part`'s shape (`addends`) and the vectors it
  /// adds to every row (`row_addends`). Nothing when it is not an elementwise sum reading
  /// `part` once, an addend overlaps its result (but for being that result), or a step between
  /// writes an addend.
  std::optional<ModuleContext::ProductSum> sum_terms(const std::vector<ir::Step>& steps,
                                                     size_t from, size_t at, BufferId part) {
    const ir::Step& sum = steps[at];
    if (sum.kind != StepKind::elementwise || sum.results.size() != 1) return std::nullopt;
    std::optional<std::vector<bool>> rows = sum_operands(sum);
    if (!rows) return std::nullopt;
    ModuleContext::ProductSum terms;
    terms.result = sum.results.at(0);
    std::vector<Extent> read;
    for (size_t o = 0; o < sum.operands.size(); ++o) {
      const BufferId id = sum.operands[o];
      if (id == part) continue;
      if (rows->at(o)) {
        terms.row_addends.push_back(row_addend(id));
      } else {
        if (module_.slice_views().count(id)) return std::nullopt;
        terms.addends.push_back(id);
      }
      read.push_back(extent(read_buffer(id)));
      if (id != terms.result && overlap(read.back(), extent(terms.result))) return std::nullopt;
    }
    if (read.size() + 1 != sum.operands.size()) return std::nullopt;
    std::vector<Extent> reads, writes;
    touched_between(steps, from, at, reads, writes);
    for (const Extent& write : writes)
      for (const Extent& addend : read)
        if (overlap(write, addend)) return std::nullopt;
    return terms;
  }

  /// A generated product whose result only a sum reads (the gates' bias and input projection
  /// in a recurrent step, a carried gradient plus its product, an input projection plus its
  /// bias) computes that sum (ModuleContext::product_sums): its accumulators start from the
  /// other operands, and the sum's step is not emitted. The steps between them must not touch
  /// the sum's result or write its operands.
  void fold_product_sums(const std::vector<ir::Step>& steps) {
    for (size_t i = 0; i + 1 < steps.size(); ++i) {
      const ir::Step& product = steps[i];
      if (product.kind != StepKind::matmul || product.node == nullptr) continue;
      const BufferId c = read_as(product.results.at(0));
      const size_t j = first_reader(steps, i, c);
      if (j == steps.size()) continue;
      const ir::Node& node = *product.node;
      const bool packed =
          module_.packed_b_steps().count(&product) || top_level_packed_.count(&product);
      const ir::TensorType& type = program_.buffers.at(product.results.at(0)).type;
      if (type.dtype == ir::DType::i32 || type.rank() != 2 || !generated_gemm_fits(node, packed) ||
          reader_count(c) != 1)
        continue;
      std::optional<ModuleContext::ProductSum> folded = sum_terms(steps, i, j, c);
      if (!folded) continue;
      const BufferId result = folded->result;
      const ir::TensorType& sum_type = program_.buffers.at(result).type;
      bool fits = sum_type.dtype == type.dtype &&
                  ir::num_elements(sum_type.shape) == ir::num_elements(type.shape) &&
                  sum_type.shape.back() == type.shape.back() &&
                  !module_.concat_views().count(result);
      for (BufferId id : product.operands) fits = fits && !overlap(extent(id), extent(result));
      std::vector<Extent> reads, writes;
      touched_between(steps, i, j, reads, writes);
      for (const std::vector<Extent>* list : {&reads, &writes})
        for (const Extent& e : *list) fits = fits && !overlap(e, extent(result));
      if (!fits) continue;
      module_.product_sums()[&product] = *folded;
      elided_.insert(&steps[j]);
    }
  }

  /// A generated rank-2 product whose result only column slices read (a backward step's
  /// input gradient and carried gradient, the weight gradients of a layer's fused product, a
  /// GRU's input projection per gate), each starting at a column block, writes each slice's
  /// columns straight into the slice's buffer (ModuleContext::product_slices), and the
  /// slices' steps are not emitted. A slice whose one reader adds vectors to every row of it
  /// (a gate's bias) gets that sum's result instead, the vectors added. The steps between
  /// must not touch a destination or write a vector, nor may the destinations overlap each
  /// other or the product's operands.
  void write_product_slices(const std::vector<ir::Step>& steps) {
    for (size_t i = 0; i + 1 < steps.size(); ++i) {
      const ir::Step& product = steps[i];
      if (product.kind != StepKind::matmul || product.node == nullptr ||
          module_.product_sums().count(&product))
        continue;
      const ir::TensorType& type = program_.buffers.at(product.results.at(0)).type;
      const BufferId c = read_as(product.results.at(0));
      const ir::Shape& shape = program_.buffers.at(c).type.shape;
      const bool packed =
          module_.packed_b_steps().count(&product) || top_level_packed_.count(&product);
      if (type.dtype == ir::DType::i32 || type.rank() != 2 ||
          !generated_gemm_fits(*product.node, packed) || reader_count(c) == 0)
        continue;
      const int64_t block = generated_gemm_panel_columns(module_, type.dtype);
      std::map<int64_t, ModuleContext::ProductSlice> by_first;
      std::vector<const ir::Step*> elided;
      std::vector<BufferId> unviewed;
      bool fits = true;
      for (size_t j = i + 1; j < steps.size() && fits; ++j) {
        const ir::Step& step = steps[j];
        if (std::find(step.operands.begin(), step.operands.end(), c) == step.operands.end())
          continue;
        // A slice read in place (elide_slices) no longer is: the product writes it.
        const bool in_place = module_.slice_views().count(step.results.at(0)) != 0;
        fits = step.kind == StepKind::layout && step.node->kind() == ir::OpKind::Slice &&
               (!elided_.count(&step) || in_place);
        if (!fits) break;
        if (in_place) unviewed.push_back(step.results.at(0));
        const std::vector<int64_t>& starts = step.node->attrs().get_ints("starts");
        const std::vector<int64_t>& ends = step.node->attrs().get_ints("ends");
        for (size_t d = 0; d + 1 < shape.size(); ++d)
          fits = fits && starts[d] == 0 && ends[d] == shape[d];
        ModuleContext::ProductSlice slice{
            step.results.at(0), starts.back(), ends.back() - starts.back(), {}};
        fits = fits && slice.first % block == 0;
        elided.push_back(&step);
        size_t last = j;  // the last step computed by the product
        if (const size_t e = first_reader(steps, j, slice.buffer);
            reader_count(slice.buffer) == 1 && e < steps.size()) {
          std::optional<ModuleContext::ProductSum> sum = sum_terms(steps, i, e, slice.buffer);
          if (sum && sum->addends.empty() &&
              program_.buffers.at(sum->result).type == program_.buffers.at(slice.buffer).type) {
            slice.buffer = sum->result;
            slice.row_addends = sum->row_addends;
            elided.push_back(&steps[e]);
            last = e;
          }
        }
        const Extent target = extent(slice.buffer);
        fits = fits && !module_.concat_views().count(slice.buffer) &&
               (slice.buffer == step.results.at(0) || !module_.slice_views().count(slice.buffer)) &&
               by_first.emplace(slice.first, slice).second;
        for (BufferId id : product.operands) fits = fits && !overlap(extent(id), target);
        std::vector<Extent> reads, writes;
        touched_between(steps, i, last, reads, writes);
        for (const std::vector<Extent>* list : {&reads, &writes})
          for (const Extent& e : *list) fits = fits && !overlap(e, target);
      }
      if (!fits || static_cast<int>(by_first.size()) != reader_count(c)) continue;
      std::vector<ModuleContext::ProductSlice> slices;
      int64_t next = 0;
      for (const auto& [first, slice] : by_first) {
        fits = fits && first == next;
        next = first + slice.columns;
        for (const ModuleContext::ProductSlice& other : slices)
          fits = fits && !overlap(extent(other.buffer), extent(slice.buffer));
        slices.push_back(slice);
      }
      if (!fits || next != type.shape[1]) continue;
      module_.product_slices()[&product] = slices;
      elided_.insert(elided.begin(), elided.end());
      for (BufferId id : unviewed) module_.slice_views().erase(id);
    }
  }

  /// A concat along the last axis that only products packing it as B read (a backward step's
  /// [W_hh, W_ih], read by the loop's packed product; a weight gradient's [h, x], read by a
  /// top-level packed product) is not copied: the packs read its parts (concat_parts_). The
  /// steps up to the last pack must not write a part, and each part but the last must be
  /// whole panels.
  void pack_concat_parts(const std::vector<ir::Step>& steps) {
    for (size_t i = 0; i < steps.size(); ++i) {
      const ir::Step& concat = steps[i];
      if (concat.kind != StepKind::layout || concat.node->kind() != ir::OpKind::Concat ||
          elided_.count(&concat))
        continue;
      const BufferId c = concat.results.at(0);
      const ir::TensorType& type = program_.buffers.at(c).type;
      const std::optional<std::set<BufferId>> ids = whole_views(c);
      if (!ids || type.dtype == ir::DType::i32 ||
          concat.node->attrs().get_int("axis") != static_cast<int64_t>(type.rank()) - 1)
        continue;
      const int64_t width = generated_gemm_panel_columns(module_, type.dtype);
      bool fits = true;
      for (size_t p = 0; p < concat.operands.size(); ++p) {
        const ir::TensorType& part = program_.buffers.at(concat.operands[p]).type;
        fits = fits && !extent(concat.operands[p]).loop_dependent &&
               (p + 1 == concat.operands.size() || part.shape.back() % width == 0);
      }
      // Every read of c (or a view of it) must be a pack: a loop's operand, read in its body by
      // products packing it, or a top-level packed product's untransposed B.
      auto reads = [&](const ir::Step& step) {
        int count = 0;
        for (BufferId id : step.operands) count += static_cast<int>(ids->count(id));
        return count;
      };
      auto packs = [&](const ir::Step& step) {
        return step.kind == StepKind::matmul && step.node != nullptr &&
               step.node->attrs().get_int("transpose_b") == 0 && ids->count(step.operands.at(1)) &&
               !ids->count(step.operands.at(0));
      };
      int allowed = 0;
      size_t last = i;
      for (size_t j = i + 1; j < steps.size() && fits; ++j) {
        const ir::Step& step = steps[j];
        if (reads(step) == 0) continue;
        last = j;
        if (step.kind == StepKind::loop) {
          const std::vector<Extent> written = loop_writes(step);
          allowed += reads(step);
          for (const ir::Step& inner : step.body)
            if (packs(inner) && packs_loop_invariant(inner, written)) allowed += 1;
        } else if (packs(step) && top_level_packed_.count(&step)) {
          allowed += 1;
        } else {
          fits = false;
        }
      }
      int total = 0;
      for (BufferId id : *ids) total += reader_count(id);
      if (!fits || last == i || allowed != total) continue;
      std::vector<Extent> reads_between, writes_between;
      touched_between(steps, i, last + 1, reads_between, writes_between);
      for (const Extent& write : writes_between)
        for (BufferId part : concat.operands) fits = fits && !overlap(write, extent(part));
      if (!fits) continue;
      for (BufferId id : *ids) concat_parts_[id] = concat.operands;
      elided_.insert(&concat);
    }
  }

  /// An elementwise step of one result that only a reduction to one element reads (a weight
  /// gradient squared for the clipping norm, a squared error before its mean) is not emitted:
  /// the reduction evaluates its expression on the fly (ModuleContext::reduced_expressions),
  /// which saves writing and reading the result. The steps between must not write what the
  /// elementwise step reads.
  void fold_reduced_expressions(const std::vector<ir::Step>& steps) {
    for (size_t i = 0; i + 1 < steps.size(); ++i) {
      const ir::Step& producer = steps[i];
      if (producer.kind != StepKind::elementwise || producer.results.size() != 1 ||
          elided_.count(&producer))
        continue;
      const BufferId c = producer.results[0];
      const BufferId read = read_as(c);
      if (program_.buffers.at(c).placement != Placement::arena || module_.concat_views().count(c) ||
          reader_count(read) != 1)
        continue;
      const size_t j = first_reader(steps, i, read);
      if (j == steps.size() || steps[j].kind != StepKind::reduce || elided_.count(&steps[j]) ||
          program_.buffers.at(steps[j].results.at(0)).type.num_elements() != 1)
        continue;
      std::vector<Extent> reads, writes;
      touched_between(steps, i, j, reads, writes);
      bool fits = true;
      for (BufferId id : producer.operands)
        for (const Extent& write : writes) fits = fits && !overlap(write, extent(read_buffer(id)));
      if (!fits) continue;
      module_.reduced_expressions()[&steps[j]] = &producer;
      elided_.insert(&producer);
    }
  }

  /// A copy in a loop body (a carry saved into its row of a residual stack) whose source and
  /// target have the shape of an elementwise step of the body is made by that step: it loads
  /// the source and stores it to the target beside its results
  /// (ModuleContext::elementwise_copies), one pass on the pool instead of a memcpy on one core,
  /// and the copy's step is not emitted. The nearest such step before the copy is taken, else
  /// the nearest after it.
  void fold_loop_copies(const std::vector<ir::Step>& body) {
    for (size_t k = 0; k < body.size(); ++k) {
      const ir::Step& copy = body[k];
      if (copy.kind != StepKind::copy || elided_.count(&copy) ||
          copy.operands.at(0) == copy.results.at(0) ||
          program_.buffers.at(copy.operands.at(0)).type !=
              program_.buffers.at(copy.results.at(0)).type)
        continue;
      std::optional<size_t> maker;
      for (size_t e = k; e-- > 0 && !maker;)
        if (makes_copy(body, e, k)) maker = e;
      for (size_t e = k + 1; e < body.size() && !maker; ++e)
        if (makes_copy(body, e, k)) maker = e;
      if (!maker) continue;
      module_.elementwise_copies()[&body[*maker]].push_back(
          {copy.operands.at(0), copy.results.at(0)});
      elided_.insert(&copy);
    }
  }

  /// A slice of a loop body that the next elementwise step reading it reads at the index it
  /// computes, and that goes to a buffer of its own too (a GRU's gate slice saved into its
  /// row of a residual stack), is made by that step: it reads the slice in place in the
  /// sliced buffer (ModuleContext::slice_views) and stores it into the slice's buffer beside
  /// its results (an ElementwiseCopy of the slice into itself), and the slice's step is not
  /// emitted. Nothing but that step and the loop's write-backs may read the slice; no step
  /// between may write the sliced buffer or touch the slice's; the elementwise step may not
  /// write the sliced buffer.
  void fold_slice_copies(const std::vector<ir::Step>& body) {
    for (size_t k = 0; k < body.size(); ++k) {
      const ir::Step& slice = body[k];
      if (slice.kind != StepKind::layout || slice.node->kind() != ir::OpKind::Slice ||
          elided_.count(&slice))
        continue;
      const BufferId source = slice.operands.at(0), target = slice.results.at(0);
      size_t e = k + 1, readers = 0;
      while (e < body.size() && std::find(body[e].operands.begin(), body[e].operands.end(),
                                          target) == body[e].operands.end())
        ++e;
      for (const ir::Step& step : body)
        readers += std::count(step.operands.begin(), step.operands.end(), target);
      if (e == body.size() || body[e].kind != StepKind::elementwise || elided_.count(&body[e]) ||
          readers != 1 || !reads_in_step(body[e], target) ||
          std::count(body[e].operands.begin(), body[e].operands.end(), target) != 1)
        continue;
      const Extent from = extent(source), to = extent(target);
      bool fits = from.root != Placement::constant && !overlap(from, to);
      std::vector<Extent> reads, writes;
      touched_between(body, k, e, reads, writes);
      for (const Extent& write : writes)
        fits = fits && !overlap(write, from) && !overlap(write, to);
      for (const Extent& read : reads) fits = fits && !overlap(read, to);
      for (BufferId id : body[e].results)
        for (BufferId written : written_buffers(id)) fits = fits && !overlap(extent(written), from);
      if (!fits) continue;
      module_.slice_views()[target] = view_of_slice(slice);
      module_.elementwise_copies()[&body[e]].push_back({target, target});
      elided_.insert(&slice);
    }
  }

  /// Whether elementwise step body[e] can make copy body[k] (fold_loop_copies): of the copy's
  /// shape, neither it nor a step between them writes the source or touches the target.
  bool makes_copy(const std::vector<ir::Step>& body, size_t e, size_t k) {
    const ir::Step& step = body[e];
    const BufferId source = body[k].operands.at(0), target = body[k].results.at(0);
    if (step.kind != StepKind::elementwise || elided_.count(&step) ||
        step.node->result()->shape() != program_.buffers.at(target).type.shape)
      return false;
    const Extent from = extent(source), to = extent(target);
    std::vector<Extent> reads, writes;
    touched(step, reads, writes);
    touched_between(body, std::min(e, k), std::max(e, k), reads, writes);
    for (const Extent& read : reads)
      if (overlap(read, to)) return false;
    for (const Extent& write : writes)
      if (overlap(write, from) || overlap(write, to)) return false;
    return true;
  }

  /// A recurrent step's gate math, the elementwise step right after a product (only slices
  /// read in place and a sum the product computes between them), is computed in the product's
  /// parallel region when everything both steps read and write is either shared and never
  /// written (the weights, a bias) or a matrix of the product's rows accessed at one row
  /// index at a time (ModuleContext::gate_math): the parts split C by rows, and each part then
  /// applies the gate math to its rows from its own cache. One hand-off per step instead of
  /// two. Each part streams all of B's panels, so only products whose panels fit a core's
  /// cache (kGateMathMaxPanelBytes) take it, with rows enough for two parts.
  void fuse_gate_math(const std::vector<ir::Step>& body) {
    if (module_.parallel_symbol().empty()) return;
    for (size_t i = 0; i < body.size(); ++i) {
      const ir::Step& product = body[i];
      if (product.kind != StepKind::matmul || product.node == nullptr ||
          !module_.recurrent_products().count(&product) ||
          module_.product_slices().count(&product) ||
          product.node->attrs().get_int("transpose_a") != 0)
        continue;
      const ir::TensorType& type = program_.buffers.at(product.results.at(0)).type;
      const BufferId b = product.operands.at(1);
      if ((type.dtype != ir::DType::f32 && type.dtype != ir::DType::f64) || type.rank() != 2 ||
          !generated_gemm_fits(*product.node, true) || type.shape[0] < kGateMathMinRows ||
          type.num_elements() * program_.buffers.at(b).type.num_elements() / type.shape[1] <
              kParallelGemmMinMacs ||
          panel_bytes(b, product.node->attrs().get_int("transpose_b") != 0) >
              kGateMathMaxPanelBytes)
        continue;
      // The nearest step after it, else before it, but for steps not emitted.
      auto fits = [&](size_t k) {
        if (k >= body.size() || body[k].kind != StepKind::elementwise ||
            gate_products_.count(&body[k]) || module_.reduced_expressions().count(&body[k]))
          return false;
        const ir::Shape& space = body[k].node->result()->shape();
        return space.size() == 2 && space[0] == type.shape[0] && rows_stay_apart(product, body[k]);
      };
      size_t after = i + 1, before = i - 1;
      while (after < body.size() && elided_.count(&body[after])) ++after;
      while (before < body.size() && elided_.count(&body[before])) --before;
      const bool first = !fits(after);
      if (first && !fits(before)) continue;
      const ir::Step& gate = body[first ? before : after];
      module_.gate_math()[&product] = {&gate, first};
      gate_products_[&gate] = &product;
      elided_.insert(&gate);
    }
  }

  /// A buffer a step reads or writes: by rows (row r only where it computes row r), or shared.
  struct RowAccess {
    BufferId id = -1;
    Extent extent;
    bool by_rows = false;
  };

  /// Whether product `product` and elementwise step `gate` may run split by rows across
  /// parts (fuse_gate_math): what one writes overlaps nothing either reads or writes but the
  /// same buffer by rows, and the buffers taken by rows have the product's rows (the
  /// elementwise step's results stored in place in a concat of those rows).
  bool rows_stay_apart(const ir::Step& product, const ir::Step& gate,
                       std::optional<BufferId> carry = std::nullopt) const {
    const int64_t rows = program_.buffers.at(product.results.at(0)).type.shape[0];
    std::vector<RowAccess> reads, writes;
    auto add = [&](std::vector<RowAccess>& list, BufferId id, bool by_rows) {
      list.push_back({id, extent(id), by_rows});
    };
    auto sum = module_.product_sums().find(&product);
    add(reads, product.operands.at(0), true);
    add(reads, product.operands.at(1), false);
    add(writes, sum != module_.product_sums().end() ? sum->second.result : product.results.at(0),
        true);
    if (sum != module_.product_sums().end()) {
      for (BufferId id : sum->second.addends) add(reads, id, true);
      for (const ModuleContext::RowAddend& addend : sum->second.row_addends)
        add(reads, addend.buffer, false);
    }
    for (BufferId id : gate.operands) add(reads, read_buffer(id), reads_in_step(gate, id));
    for (BufferId id : gate.results)
      for (BufferId written : written_buffers(id)) add(writes, written, true);
    if (carry) add(writes, *carry, true);
    auto copies = module_.elementwise_copies().find(&gate);
    if (copies != module_.elementwise_copies().end())
      for (const ModuleContext::ElementwiseCopy& copy : copies->second) {
        add(reads, read_buffer(copy.source), true);
        add(writes, copy.target, true);
      }
    // A concat taking a result stores it at its row index: along the last axis only.
    for (BufferId id : gate.results) {
      auto views = module_.concat_views().find(id);
      if (views == module_.concat_views().end()) continue;
      for (const ModuleContext::StridedView& view : views->second)
        if (view.strides.empty() || view.offset >= view.strides[0]) return false;
    }
    for (const std::vector<RowAccess>* list : {&reads, &writes})
      for (const RowAccess& access : *list)
        if (access.by_rows && program_.buffers.at(access.id).type.shape.at(0) != rows) return false;
    for (const RowAccess& write : writes)
      for (const std::vector<RowAccess>* list : {&reads, &writes})
        for (const RowAccess& other : *list)
          if (&other != &write && overlap(write.extent, other.extent) &&
              !(write.by_rows && other.by_rows && write.id == other.id))
            return false;
    return true;
  }

  /// Whether elementwise step `step` reads buffer `id` only element by element, each at the
  /// index it computes (an operand of its result's shape, not broadcast in a fused body), so
  /// that it may overwrite `id` in place.
  bool reads_in_step(const ir::Step& step, BufferId id) const {
    const ir::Node& node = *step.node;
    if (program_.buffers.at(id).type.shape != node.result()->shape()) return false;
    if (node.kind() != ir::OpKind::Fused) return true;
    std::vector<ir::Node*> inputs = node.body().nodes_of(ir::OpKind::Input);
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (step.operands.at(i) != id) continue;
      for (const auto& inner : node.body().nodes())
        if (inner->kind() == ir::OpKind::Broadcast && inner->operand(0) == inputs[i]->result() &&
            inner->result()->shape() != inner->operand(0)->shape())
          return false;
    }
    return true;
  }

  /// A loop carry whose next value one step of the body computes gets it written straight
  /// into the carry's buffer, and the write-back after the body skips it (carried_in_place_):
  /// an elementwise step stores it there too (ModuleContext::concat_views; not into its own
  /// buffer when only the write-back reads that), a generated product writes it there instead
  /// (a ProductSum without addends) when nothing else reads its result. No step after it may
  /// touch the carry; the elementwise step may read the carry only at the index it computes,
  /// the product not at all. Not with lengths, whose rows past their length keep their carry.
  void write_carries_in_place(const ir::Step& loop) {
    const size_t num_carry = loop.node->attrs().get_int("num_carry");
    const std::vector<ir::Step>& body = loop.body;
    for (size_t i = 0; i < num_carry; ++i) {
      const BufferId carry = loop.results.at(i), next = loop.body_outputs.at(i);
      const ir::TensorType& type = program_.buffers.at(carry).type;
      if (carry == next || program_.buffers.at(next).type != type) continue;
      // The step computing `next`: the step with that result, or a product computing the sum
      // with that result (whose step is elided and happens in the product).
      size_t p = body.size();
      for (size_t j = 0; j < body.size(); ++j) {
        if (elided_.count(&body[j]) && !gate_products_.count(&body[j])) continue;
        auto sum = module_.product_sums().find(&body[j]);
        if ((sum != module_.product_sums().end() && sum->second.result == next) ||
            std::find(body[j].results.begin(), body[j].results.end(), next) !=
                body[j].results.end())
          p = j;
      }
      if (p == body.size()) continue;
      const ir::Step& producer = body[p];
      const Extent target = extent(carry);
      // Gate math and a product split by rows (fuse_gate_math): the carry written in place
      // must be one of their buffers taken by rows.
      if (auto fused = gate_products_.find(&producer); fused != gate_products_.end()) {
        if (!rows_stay_apart(*fused->second, producer, carry)) continue;
      } else if (auto math = module_.gate_math().find(&producer);
                 math != module_.gate_math().end()) {
        if (!rows_stay_apart(producer, *math->second.elementwise, carry)) continue;
      }
      std::vector<Extent> reads, writes;
      for (size_t j = p + 1; j < body.size(); ++j)
        if (!elided_.count(&body[j]) || std::find(body[j].results.begin(), body[j].results.end(),
                                                  next) == body[j].results.end())
          touched(body[j], reads, writes);
      bool fits = true;
      for (const std::vector<Extent>* list : {&reads, &writes})
        for (const Extent& e : *list) fits = fits && !overlap(e, target);
      for (BufferId id : producer.operands)
        fits = fits && (!overlap(extent(read_buffer(id)), target) ||
                        (id == carry && producer.kind == StepKind::elementwise &&
                         reads_in_step(producer, id)));
      // The other write-backs must not read the carry, now new from `producer` on.
      for (size_t j = 0; j < loop.body_outputs.size(); ++j)
        fits = fits && (j == i || !overlap(extent(loop.body_outputs[j]), target));
      if (!fits) continue;
      // Only this write-back reads `next`: the step need not store it in its own buffer.
      const bool only_carried = reader_count(next) == 1;
      if (producer.kind == StepKind::elementwise) {
        auto views = module_.concat_views().find(next);
        if (views != module_.concat_views().end() && !carried_views_.count(next)) continue;
        auto whole = [&](BufferId id) {
          return ModuleContext::StridedView{id, 0, ir::row_major_strides(type.shape)};
        };
        std::vector<ModuleContext::StridedView>& stores = module_.concat_views()[next];
        if (stores.empty() && !only_carried) stores.push_back(whole(next));
        stores.push_back(whole(carry));
        carried_views_.insert(next);
      } else if (producer.kind == StepKind::matmul && producer.node) {
        // A sum's addends (of C's shape) may be the carry itself: each element is read before
        // the product writes it; its vectors must not overlap the carry.
        const bool packed =
            module_.packed_b_steps().count(&producer) || top_level_packed_.count(&producer);
        auto found = module_.product_sums().find(&producer);
        ModuleContext::ProductSum sum;
        if (found != module_.product_sums().end()) sum = found->second;
        for (BufferId id : sum.addends)
          fits = fits && (id == carry || !overlap(extent(id), target));
        for (const ModuleContext::RowAddend& addend : sum.row_addends)
          fits = fits && !overlap(extent(addend.buffer), target);
        if (!fits || !only_carried || module_.product_slices().count(&producer) ||
            type.dtype == ir::DType::i32 || type.rank() != 2 ||
            !generated_gemm_fits(*producer.node, packed))
          continue;
        sum.result = carry;
        module_.product_sums()[&producer] = sum;
      } else {
        continue;
      }
      carried_in_place_.insert({&loop, i});
    }
  }

  /// The decisions of what `steps` emit and where (the folds above).
  void plan_steps(const std::vector<ir::Step>& steps) {
    elide_slices(steps);
    elide_concats(steps);
    fold_product_sums(steps);
    write_product_slices(steps);
    pack_concat_parts(steps);
    fold_reduced_expressions(steps);
  }

  void emit_steps(const std::vector<ir::Step>& steps) {
    plan_steps(steps);
    emit_planned(steps);
  }

  /// The steps' code, after plan_steps.
  void emit_planned(const std::vector<ir::Step>& steps) {
    for (const ir::Step& step : steps) {
      if (elided_.count(&step)) continue;
      switch (step.kind) {
        case StepKind::copy:
          emit_copy(step);
          break;
        case StepKind::loop:
          emit_loop(step);
          break;
        case StepKind::elementwise:
        case StepKind::matmul:
        case StepKind::reduce:
        case StepKind::gather:
        case StepKind::scatter_add:
        case StepKind::coalesce_rows:
        case StepKind::scatter_rows:
        case StepKind::layout:
          emit_kernel(step);
          break;
      }
    }
  }

  void emit_copy(const ir::Step& step) {
    BufferId from = step.operands.at(0), to = step.results.at(0);
    if (from == to) return;
    main_.copy_bytes(address(to), address(from), main_.index(program_.buffers.at(to).bytes));
  }

  /// One kernel function per step, called from the entry function with its buffers.
  void emit_kernel(const ir::Step& step) {
    llvm::Value* packed_a = nullptr;
    if (top_level_packed_.count(&step)) {
      packed_[&step] = pack_panels(
          step.operands.at(1), step.node->attrs().get_int("transpose_b") != 0, top_level_panels_);
      module_.packed_b_steps().insert(&step);
      if (step.node->attrs().get_int("transpose_a") != 0) {
        // A transposed A's rows are columns of the stored K x M matrix, M elements apart:
        // packed, a row tile reads them sequentially.
        packed_a = pack_panels(step.operands.at(0), false, top_level_a_panels_,
                               a_panel_rows(step.operands.at(0)));
        module_.packed_a_steps().insert(&step);
      }
    }
    std::vector<BufferId> buffers;
    auto packed = packed_.find(&step);
    // A slice read in place, or a result written in place into a concat: the buffer viewed.
    std::vector<BufferId> operands = step.operands, results = step.results;
    auto sum = module_.product_sums().find(&step);
    if (sum != module_.product_sums().end()) {  // the sum after the product: its result
      results = {sum->second.result};
      operands.insert(operands.end(), sum->second.addends.begin(), sum->second.addends.end());
      for (const ModuleContext::RowAddend& addend : sum->second.row_addends)
        operands.push_back(addend.buffer);
    }
    auto reduced = module_.reduced_expressions().find(&step);
    if (reduced != module_.reduced_expressions().end()) operands = reduced->second->operands;
    // The gate math a product computes (fuse_gate_math): its buffers too.
    auto gate = module_.gate_math().find(&step);
    const ir::Step* math = gate == module_.gate_math().end() ? nullptr : gate->second.elementwise;
    if (math) {
      operands.insert(operands.end(), math->operands.begin(), math->operands.end());
      results.insert(results.end(), math->results.begin(), math->results.end());
    }
    for (const ir::Step* maker : {&step, math}) {
      if (!maker) continue;
      auto copies = module_.elementwise_copies().find(maker);
      if (copies != module_.elementwise_copies().end())
        for (const ModuleContext::ElementwiseCopy& copy : copies->second) {
          operands.push_back(copy.source);
          results.push_back(copy.target);
        }
    }
    auto sliced = module_.product_slices().find(&step);
    if (sliced != module_.product_slices().end()) {  // the slices of the result: their buffers
      results.clear();
      for (const ModuleContext::ProductSlice& slice : sliced->second) {
        results.push_back(slice.buffer);
        for (const ModuleContext::RowAddend& addend : slice.row_addends)
          operands.push_back(addend.buffer);
      }
    }
    for (BufferId& id : operands) id = read_buffer(id);
    std::vector<BufferId> written;
    for (BufferId id : results)
      for (BufferId buffer : written_buffers(id)) written.push_back(buffer);
    results = written;
    for (const std::vector<BufferId>* list : {&operands, &results})
      for (BufferId id : *list) {
        Extent e = extent(id);
        const bool packed_operand = (packed != packed_.end() && id == step.operands.at(1)) ||
                                    (packed_a && id == step.operands.at(0));
        bool direct = e.root == Placement::constant && !e.loop_dependent && !packed_operand;
        if (!direct && std::find(buffers.begin(), buffers.end(), id) == buffers.end())
          buffers.push_back(id);
      }
    // coalesce_rows: a table of first positions, one i32 per row, in scratch memory.
    llvm::Value* first_positions = nullptr;
    if (step.kind == StepKind::coalesce_rows) {
      const int64_t rows = step.node->attrs().get_int("rows");
      first_positions =
          scratch_address(module_.reserve_scratch(rows * ir::dtype_size(ir::DType::i32)));
    }
    std::vector<llvm::Type*> parameters(buffers.size() + (first_positions ? 1 : 0),
                                        module_.pointer());
    auto* type = llvm::FunctionType::get(module_.i32(), parameters, false);
    llvm::Function* function =
        llvm::Function::Create(type, llvm::GlobalValue::InternalLinkage,
                               module_.function_name(kernel_hint(step)), module_.module());
    function->setDoesNotThrow();
    std::map<BufferId, llvm::Value*> arguments;
    for (size_t i = 0; i < buffers.size(); ++i) {
      llvm::Argument* argument = function->getArg(i);
      argument->setName(program_.buffers.at(buffers[i]).name);
      arguments[buffers[i]] = argument;
      bool alone = true;
      for (size_t j = 0; j < buffers.size(); ++j)
        alone = alone && (i == j || !overlap(extent(buffers[i]), extent(buffers[j])));
      if (alone) function->addParamAttr(i, llvm::Attribute::NoAlias);
      function->addParamAttr(i, llvm::Attribute::NoCapture);
    }
    KernelEmitter kernel(module_, function, step, std::move(arguments));
    switch (step.kind) {
      case StepKind::elementwise:
        emit_elementwise(kernel);
        break;
      case StepKind::matmul:
        emit_matmul(kernel);
        break;
      case StepKind::reduce:
        emit_reduce(kernel);
        break;
      case StepKind::gather:
        emit_gather(kernel);
        break;
      case StepKind::scatter_add:
        emit_scatter_add(kernel);
        break;
      case StepKind::coalesce_rows:
        emit_coalesce_rows(kernel, function->getArg(buffers.size()));
        break;
      case StepKind::scatter_rows:
        emit_scatter_rows(kernel);
        break;
      case StepKind::layout:
        emit_layout(kernel);
        break;
      case StepKind::copy:
      case StepKind::loop:
        assert(false && "copies and loops are emitted inline");
        break;
    }
    kernel.finish();
    std::vector<llvm::Value*> call_arguments;
    for (BufferId id : buffers) {
      if (packed != packed_.end() && id == step.operands.at(1))
        call_arguments.push_back(packed->second);
      else if (packed_a && id == step.operands.at(0))
        call_arguments.push_back(packed_a);
      else
        call_arguments.push_back(address(id));
    }
    if (first_positions) call_arguments.push_back(first_positions);
    main_.call_checked(function, call_arguments);
  }

  /// The extents every step of `steps` (nested loops included) writes.
  void collect_written(const std::vector<ir::Step>& steps, std::vector<Extent>& written) const {
    for (const ir::Step& step : steps) {
      for (BufferId id : step.results) written.push_back(extent(id));
      for (BufferId id : step.body_outputs) written.push_back(extent(id));
      collect_written(step.body, written);
    }
  }

  /// Before loop `step`: each body matmul whose B operand the loop never writes (a recurrent
  /// weight) and whose shape the generated products take gets B packed once into panels in
  /// the scratch memory after the arena (emit_generated_gemm), so that every iteration
  /// streams each column block's B contiguously, whether the node transposes B or not
  /// (emit_kernel passes the copy; contraction.cpp knows from packed_b_steps()).
  void pack_loop_invariants(const ir::Step& loop) {
    const std::vector<Extent> written = loop_writes(loop);
    std::map<std::pair<BufferId, bool>, llvm::Value*> packed_here;
    for (const ir::Step& step : loop.body) {
      if (!packs_loop_invariant(step, written)) continue;
      const BufferId id = step.operands.at(1);
      const bool transposed = step.node->attrs().get_int("transpose_b") != 0;
      llvm::Value*& packed = packed_here[{id, transposed}];
      if (!packed) packed = pack_panels(id, transposed);
      packed_[&step] = packed;
      module_.packed_b_steps().insert(&step);
      module_.recurrent_products().insert(&step);
    }
  }

  /// What loop `loop` writes: its results and everything its body writes.
  std::vector<Extent> loop_writes(const ir::Step& loop) const {
    std::vector<Extent> written;
    for (BufferId id : loop.results) written.push_back(extent(id));
    collect_written(loop.body, written);
    return written;
  }

  /// Whether `step`, a step of a loop's body that writes `written`, is a product whose B the
  /// loop packs before it runs (pack_loop_invariants): rank 2, taken by the generated
  /// products, B not the loop's to change.
  bool packs_loop_invariant(const ir::Step& step, const std::vector<Extent>& written) const {
    if (!takes_packed_b(step)) return false;
    const Extent e = extent(step.operands.at(1));
    if (e.loop_dependent) return false;
    for (const Extent& w : written)
      if (overlap(e, w)) return false;
    return true;
  }

  /// The bytes of the panels, `width` columns each (0: generated_gemm_panel_columns), of
  /// rank-2 buffer `id` read as B of a product (transposed: B = id^T).
  int64_t panel_bytes(BufferId id, bool transposed, int64_t width = 0) const {
    const ir::TensorType& type = program_.buffers.at(id).type;
    const int64_t k = type.shape.at(transposed ? 1 : 0), n = type.shape.at(transposed ? 0 : 1);
    if (width == 0) width = generated_gemm_panel_columns(module_, type.dtype);
    return (n + width - 1) / width * k * width * ir::dtype_size(type.dtype);
  }

  /// The panel width of transposed A operand `id` (stored K x M): its rows per panel.
  int64_t a_panel_rows(BufferId id) const {
    return generated_gemm_a_panel_rows(program_.buffers.at(id).type.dtype);
  }

  /// The address of scratch memory at `offset` (from ModuleContext::reserve_scratch).
  llvm::Value* scratch_address(int64_t offset) {
    return main_.byte_address(main_.function()->getArg(1),
                              main_.index(scratch_start(program_) + offset));
  }

  /// Packs rank-2 buffer `id`, read as B of a product (transposed: B = id^T), into panels of
  /// `width` columns (0: generated_gemm_panel_columns) at `packed` (null: newly reserved
  /// scratch memory); returns the panels' address.
  llvm::Value* pack_panels(BufferId id, bool transposed, llvm::Value* packed = nullptr,
                           int64_t width = 0) {
    const ir::TensorType& type = program_.buffers.at(id).type;
    const int64_t k = type.shape.at(transposed ? 1 : 0), n = type.shape.at(transposed ? 0 : 1);
    if (packs_into_cache(id, transposed)) return cached_pack(id, transposed, k, n, width);
    if (!packed)
      packed = scratch_address(module_.reserve_scratch(panel_bytes(id, transposed, width)));
    auto parts = concat_parts_.find(id);
    if (parts == concat_parts_.end() || transposed) {
      emit_pack_panels(main_, address(id), packed, type.dtype, k, n, transposed, width);
      return packed;
    }
    std::vector<PackPart> sources;
    for (BufferId part : parts->second)
      sources.push_back({address(part), program_.buffers.at(part).type.shape.back()});
    emit_pack_panels(main_, sources, packed, type.dtype, k, n, width);
    return packed;
  }

  /// Whether packing `id` (as B, transposed or not, or a transposed A) goes to the pack cache
  /// (RenderOptions::cache_parameter_packs): a parameter, or a view of one, that no step of
  /// the program writes, packed from one source.
  bool packs_into_cache(BufferId id, bool transposed) const {
    if (module_.pack_cache_slots() == 0) return false;
    if (!transposed && concat_parts_.count(id)) return false;
    const Extent e = extent(id);
    if (e.root != Placement::external || e.loop_dependent) return false;
    bool parameter = false;
    for (BufferId p : program_.parameters)
      parameter = parameter || program_.buffers.at(p).external_index == e.root_id;
    if (!parameter) return false;
    for (const Extent& w : program_writes_)
      if (overlap(e, w)) return false;
    return true;
  }

  /// The panels of parameter `id` (packs_into_cache) in the pack cache: packed here only when
  /// the cache's header slot for them does not hold the address they come from (the first
  /// call, a parameter bound to other memory, or the header zeroed since), which it then
  /// does. A second pack of the same buffer the same way shares the panels and the slot.
  /// `k` and `n`: B's rows and columns (pack_panels).
  llvm::Value* cached_pack(BufferId id, bool transposed, int64_t k, int64_t n, int64_t width) {
    auto [it, added] = cache_slots_.try_emplace({id, transposed, width});
    if (added) {
      it->second.slot = static_cast<int64_t>(cache_slots_.size()) - 1;
      it->second.offset = module_.reserve_pack_cache(panel_bytes(id, transposed, width));
    }
    assert(it->second.slot < module_.pack_cache_slots());
    llvm::IRBuilder<>& b = main_.builder();
    llvm::Value* cache = main_.function()->getArg(2);
    llvm::Value* slot =
        main_.byte_address(cache, main_.index(it->second.slot * int64_t{sizeof(void*)}));
    llvm::Value* packed = main_.byte_address(cache, main_.index(it->second.offset));
    llvm::Value* source = address(id);
    main_.if_then(b.CreateICmpNE(b.CreateLoad(module_.pointer(), slot), source), [&] {
      emit_pack_panels(main_, source, packed, program_.buffers.at(id).type.dtype, k, n, transposed,
                       width);
      b.CreateStore(source, slot);
    });
    return packed;
  }

  /// True for a top-level product that OpenBLAS would otherwise compute (too large for
  /// generated code reading B in place, or B transposed): its B is packed just before it, and
  /// the generated product then runs on the thread pool without OpenBLAS's threads.
  bool packs_at_top_level(const ir::Step& step) const {
    if (!takes_packed_b(step)) return false;
    const ir::Node& node = *step.node;
    return !generated_gemm_fits(node, false) &&
           node.result()->shape().at(0) >= kTopLevelPackMinRows;
  }

  /// Whether matmul step `step` is a rank-2 product that the generated products take with its
  /// B (rank 2, not also its A) packed in panels.
  bool takes_packed_b(const ir::Step& step) const {
    if (step.kind != StepKind::matmul || step.node == nullptr) return false;
    const ir::Node& node = *step.node;
    const BufferId id = step.operands.at(1);
    return node.result()->type().rank() == 2 && program_.buffers.at(id).type.rank() == 2 &&
           step.operands.at(0) != id && generated_gemm_fits(node, true);
  }

  /// One scratch region, as large as the largest, for the panels of every top-level product
  /// that packs_at_top_level (they run one after the other).
  void reserve_top_level_panels() {
    int64_t bytes = 0, a_bytes = 0;
    for (const ir::Step& step : program_.steps)
      if (packs_at_top_level(step)) {
        top_level_packed_.insert(&step);
        const BufferId a = step.operands.at(0), b = step.operands.at(1);
        const bool transposed_b = step.node->attrs().get_int("transpose_b") != 0;
        if (!packs_into_cache(b, transposed_b))
          bytes = std::max(bytes, panel_bytes(b, transposed_b));
        if (step.node->attrs().get_int("transpose_a") != 0 && !packs_into_cache(a, false))
          a_bytes = std::max(a_bytes, panel_bytes(a, false, a_panel_rows(a)));
      }
    if (bytes > 0) top_level_panels_ = scratch_address(module_.reserve_scratch(bytes));
    if (a_bytes > 0) top_level_a_panels_ = scratch_address(module_.reserve_scratch(a_bytes));
  }

  /// A scan: T iterations of the body, each followed by the write-back of the body outputs
  /// (masked by lengths when the scan has them).
  void emit_loop(const ir::Step& step) {
    const ir::Node& scan = *step.node;
    const size_t num_carry = scan.attrs().get_int("num_carry");
    const bool reverse = scan.attrs().get_int("reverse") != 0;
    const bool has_lengths = scan.attrs().get_int("has_lengths") != 0;
    const int64_t steps = step.trip_count;
    llvm::IRBuilder<>& b = main_.builder();
    pack_loop_invariants(step);
    llvm::Value* lengths = nullptr;
    int64_t rows = 0;
    if (has_lengths) {
      BufferId id = step.operands.back();
      rows = program_.buffers.at(id).type.num_elements();
      lengths = address(id);
      int32_t code = module_.add_error("node " + ir::describe_node(scan) +
                                       ": lengths outside [1, " + std::to_string(steps) + "]");
      main_.for_range(rows, [&](llvm::Value* row) {
        llvm::Value* length = b.CreateSExt(
            b.CreateLoad(module_.i32(), main_.element_address(lengths, ir::DType::i32, row)),
            module_.i64());
        main_.fail_if(b.CreateOr(b.CreateICmpSLT(length, main_.index(1)),
                                 b.CreateICmpSGT(length, main_.index(steps))),
                      code);
      });
    }
    main_.for_range(steps, [&](llvm::Value* n) {
      llvm::Value* t = reverse ? b.CreateSub(main_.index(steps - 1), n, "t") : n;
      counters_[step.loop_id] = t;
      plan_steps(step.body);
      fold_loop_copies(step.body);
      fold_slice_copies(step.body);
      fuse_gate_math(step.body);
      if (!has_lengths) write_carries_in_place(step);
      emit_planned(step.body);
      for (size_t i = 0; i < step.body_outputs.size(); ++i) {
        if (carried_in_place_.count({&step, i})) continue;
        BufferId from = step.body_outputs[i];
        const int64_t bytes = program_.buffers.at(from).bytes;
        const bool in_place = i >= num_carry && program_.writes_back_in_place(step, i);
        if (in_place && !has_lengths) continue;
        llvm::Value* source = address(from);
        llvm::Value* target = address(step.results.at(i));
        if (i >= num_carry) target = main_.byte_address(target, b.CreateMul(t, main_.index(bytes)));
        if (!has_lengths) {
          if (source != target) main_.copy_bytes(target, source, main_.index(bytes));
          continue;
        }
        // Rows past their length keep their carry and get a zero output row.
        const int64_t row_bytes = rows ? bytes / rows : 0;
        main_.for_range(rows, [&](llvm::Value* row) {
          llvm::Value* length =
              b.CreateLoad(module_.i32(), main_.element_address(lengths, ir::DType::i32, row));
          llvm::Value* active = b.CreateICmpSLT(t, b.CreateSExt(length, module_.i64()));
          llvm::Value* offset = b.CreateMul(row, main_.index(row_bytes));
          llvm::Value* to = main_.byte_address(target, offset);
          llvm::Value* from_row = main_.byte_address(source, offset);
          if (!in_place)
            main_.if_then(active, [&] { main_.copy_bytes(to, from_row, main_.index(row_bytes)); });
          if (i >= num_carry)
            main_.if_then(b.CreateNot(active),
                          [&] { main_.zero_bytes(to, main_.index(row_bytes)); });
        });
      }
    });
    counters_.erase(step.loop_id);
  }

  ModuleContext& module_;
  const ir::Program& program_;
  FunctionEmitter main_;
  std::map<int32_t, int64_t> trip_counts_;
  std::map<int32_t, llvm::Value*> counters_;
  std::map<int32_t, llvm::Value*> externals_;
  /// Panel copies of loop-invariant B operands, by matmul step.
  std::map<const ir::Step*, llvm::Value*> packed_;
  /// Readers per buffer (count_readers), and the steps not emitted: slices read in place,
  /// concats written in place, sums computed by their product.
  std::map<BufferId, int> readers_;
  std::set<const ir::Step*> elided_;
  /// The carries of loops (by loop step and carry index) whose body writes the next value
  /// into the carry's buffer: no write-back (write_carries_in_place).
  std::set<std::pair<const ir::Step*, size_t>> carried_in_place_;
  /// The body results that write_carries_in_place stores into carries (concat_views).
  std::set<BufferId> carried_views_;
  /// The gate math steps that products compute (fuse_gate_math), with their product.
  std::map<const ir::Step*, const ir::Step*> gate_products_;
  /// Concats that no step copies (pack_concat_parts), and the views of all of one: their
  /// parts, which the packs of products reading them as B read instead.
  std::map<BufferId, std::vector<BufferId>> concat_parts_;
  /// The top-level products whose B is packed just before them, and their panels' region.
  std::set<const ir::Step*> top_level_packed_;
  llvm::Value* top_level_panels_ = nullptr;
  llvm::Value* top_level_a_panels_ = nullptr;  ///< transposed A operands
  /// Everything the program's steps write (packs_into_cache).
  std::vector<Extent> program_writes_;
  /// Where the pack cache keeps a parameter's panels: its header slot and the panels' offset.
  struct CacheSlot {
    int64_t slot = 0, offset = 0;
  };
  /// By (buffer, transposed, panel width) as pack_panels takes them.
  std::map<std::tuple<BufferId, bool, int64_t>, CacheSlot> cache_slots_;
};

/// MXCSR's flush-to-zero (results) and denormals-are-zero (operands) bits.
constexpr uint32_t kFlushDenormals = 0x8000 | 0x0040;

/// Makes `entry` compute with denormals flushed to zero and give the caller its own control
/// word back at every return (the thread pool's workers take the caller's word with each
/// region). On Intel cores every operation on a denormal costs a microcode assist of about a
/// hundred cycles: the serving GRU training step, whose gradients become that small, took
/// 13.5 instead of 2.9 ms on an Emerald Rapids.
void flush_denormals_while_running(llvm::Function& entry) {
  llvm::Module& module = *entry.getParent();
  llvm::BasicBlock& first = entry.getEntryBlock();
  llvm::IRBuilder<> b(&first, first.getFirstInsertionPt());
  llvm::Type* i32 = b.getInt32Ty();
  llvm::Value* caller = b.CreateAlloca(i32, nullptr, "caller_mxcsr");
  llvm::Value* flushing = b.CreateAlloca(i32, nullptr, "flushing_mxcsr");
  llvm::Function* save = llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::x86_sse_stmxcsr);
  llvm::Function* load = llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::x86_sse_ldmxcsr);
  b.CreateCall(save, {caller});
  b.CreateStore(b.CreateOr(b.CreateLoad(i32, caller), b.getInt32(kFlushDenormals)), flushing);
  b.CreateCall(load, {flushing});
  for (llvm::BasicBlock& block : entry)
    if (auto* exit = llvm::dyn_cast_or_null<llvm::ReturnInst>(block.getTerminator())) {
      b.SetInsertPoint(exit);
      b.CreateCall(load, {caller});
    }
}

}  // namespace

int64_t arena_bytes(const ir::Program& program, const RenderedProgram& rendered) {
  return scratch_start(program) + rendered.scratch_bytes;
}

RenderedProgram render_program(const ir::Program& program, llvm::LLVMContext& context,
                               const llvm::TargetMachine& machine, const RenderOptions& options) {
  const std::string& symbol = options.symbol;
  RenderedProgram rendered;
  rendered.symbol = symbol;
  rendered.module = std::make_unique<llvm::Module>(symbol, context);
  llvm::Module& module = *rendered.module;
  module.setTargetTriple(machine.getTargetTriple().str());
  module.setDataLayout(machine.createDataLayout());

  ModuleContext module_context(module, program);
  module_context.set_parallel_symbol(options.parallel_symbol);
  const llvm::MCSubtargetInfo& subtarget = *machine.getMCSubtargetInfo();
  module_context.set_vector_bytes(subtarget.checkFeatures("+avx512f") ? 64
                                  : subtarget.checkFeatures("+avx")   ? 32
                                                                      : 16);
  llvm::PointerType* pointer = module_context.pointer();
  auto* type = llvm::FunctionType::get(module_context.i32(), {pointer, pointer, pointer}, false);
  llvm::Function* entry =
      llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage, symbol, module);
  entry->setDoesNotThrow();
  entry->getArg(0)->setName("externals");
  entry->getArg(1)->setName("arena");
  entry->getArg(2)->setName("packs");
  entry->addParamAttr(1, llvm::Attribute::NoAlias);
  entry->addParamAttr(2, llvm::Attribute::NoAlias);
  ProgramEmitter emitter(module_context, entry, options.cache_parameter_packs);
  emitter.emit();
  if (options.flush_denormals && machine.getTargetTriple().isX86())
    flush_denormals_while_running(*entry);
  rendered.scratch_bytes = module_context.scratch_bytes();
  rendered.cached_packs = emitter.cached_packs();
  if (rendered.cached_packs > 0) {
    rendered.pack_cache_bytes = module_context.pack_cache_bytes();
    rendered.pack_cache_header_bytes =
        module_context.pack_cache_slots() * static_cast<int64_t>(sizeof(void*));
  }

  const std::string cpu = machine.getTargetCPU().str();
  const std::string features = machine.getTargetFeatureString().str();
  // LLVM's tuning for Intel's AVX-512 server cores (skylake-avx512 up to sapphirerapids)
  // prefers 256-bit vectors, so that the loop vectorizer would give the elementwise kernels 8
  // lanes where the products use 16: every kernel gets the full width (the gate kernel of a
  // GRU step at medium size took 1.2x the profile samples with ymm on an Emerald Rapids).
  const std::string vector_bits = std::to_string(module_context.vector_bytes() * 8);
  // Divisions marked for it (emit_quotient_f32) become a reciprocal estimate and Newton steps:
  // one after AVX-512's 14-bit estimate, two after AVX's and SSE's 12-bit one, so that the
  // quotient is within an ulp and a sigmoid's 1 / (1 + 0) exactly 1.
  const std::string reciprocal_estimates =
      module_context.vector_bytes() >= 64 ? "vec-divf:1" : "vec-divf:2";
  for (llvm::Function& function : module) {
    if (function.isDeclaration()) continue;
    function.addFnAttr("target-cpu", cpu);
    if (!features.empty()) function.addFnAttr("target-features", features);
    function.addFnAttr("prefer-vector-width", vector_bits);
    function.addFnAttr("min-legal-vector-width", vector_bits);
    function.addFnAttr("reciprocal-estimates", reciprocal_estimates);
  }
  std::string problems;
  llvm::raw_string_ostream stream(problems);
  if (llvm::verifyModule(module, &stream))
    throw std::logic_error("the rendered LLVM module is invalid: " + stream.str());
  rendered.errors = module_context.errors();
  return rendered;
}

}  // namespace rnnc::cpu
