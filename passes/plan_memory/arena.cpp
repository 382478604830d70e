#include "passes/plan_memory/arena.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <map>
#include <set>

namespace rnnc::passes::plan_memory_detail {
namespace {

using ir::Buffer;
using ir::BufferId;
using ir::Placement;
using ir::Program;
using ir::Step;
using ir::StepKind;

/// The schedule position range [start, end] of one loop step, its body steps between.
struct LoopRange {
  int64_t start = 0;
  int64_t end = 0;
};

/// Positions [start, end] in the linearized schedule.
struct Interval {
  int64_t start = std::numeric_limits<int64_t>::max();
  int64_t end = -1;
  bool empty() const { return end < start; }
  void cover(int64_t from, int64_t to) {
    start = std::min(start, from);
    end = std::max(end, to);
  }
};

/// One read or write of a buffer at a schedule position, inside a chain of loops (loop ids,
/// outermost first).
struct Access {
  BufferId buffer;
  int64_t position;
  std::vector<int32_t> loops;
  bool is_definition;
};

/// Walks the schedule, numbering steps and recording every access of an arena buffer.
class AccessRecorder {
 public:
  explicit AccessRecorder(const Program& program) : program_(program) {}

  void walk(const std::vector<Step>& steps, std::vector<int32_t>& loops) {
    for (const Step& step : steps) {
      const int64_t position = clock_++;
      if (step.kind != StepKind::loop) {
        for (BufferId id : step.results) record(id, position, loops, true);
        for (BufferId id : step.operands) {
          record(id, position, loops, false);
          // A slice's source lives as long as the slice: a backend may read the slice in
          // place from its source (the CPU backend, for the elementwise step reading it).
          auto sliced = slice_sources_.find(id);
          if (sliced != slice_sources_.end()) record(sliced->second, position, loops, false);
        }
        if (step.kind == StepKind::layout && step.node->kind() == ir::OpKind::Slice) {
          slice_sources_[step.results.at(0)] = step.operands.at(0);
          // A slice of a product's result lives from the product on: a backend may have the
          // product write the slice's columns straight into it (the CPU backend's
          // product_slices).
          auto product = products_.find(root_buffer(program_, step.operands.at(0)));
          if (product != products_.end() && product->second.loops == loops)
            record(step.results.at(0), product->second.position, loops, true);
        }
        if (step.kind == StepKind::matmul) {
          for (BufferId id : step.results) products_[root_buffer(program_, id)] = {position, loops};
          record_concat_parts(step.operands.at(1), position, loops);
        }
        if (step.kind == StepKind::layout && step.node->kind() == ir::OpKind::Concat)
          concat_parts_[root_buffer(program_, step.results.at(0))] = step.operands;
        continue;
      }
      // The loop's results are defined in the enclosing scope; its operands and results are
      // used all through the loop.
      for (BufferId id : step.results) record(id, position, loops, true);
      for (BufferId id : step.operands) record_concat_parts(id, position, loops);
      loops.push_back(step.loop_id);
      for (BufferId id : step.results) record(id, position, loops, false);
      for (BufferId id : step.operands) record(id, position, loops, false);
      walk(step.body, loops);
      const int64_t end = clock_++;
      for (BufferId id : step.body_outputs) record(id, end, loops, false);
      loops.pop_back();
      ranges_[step.loop_id] = {position, end};
    }
  }

  const std::vector<Access>& accesses() const { return accesses_; }
  const std::map<int32_t, LoopRange>& ranges() const { return ranges_; }

 private:
  void record(BufferId id, int64_t position, const std::vector<int32_t>& loops, bool definition) {
    const BufferId root = root_buffer(program_, id);
    if (program_.buffers[root].placement != Placement::arena) return;
    accesses_.push_back({root, position, loops, definition});
  }

  /// A concat read as a product's B, or by a loop, keeps its parts alive to that read: a
  /// backend may pack B from the parts instead of copying them into the concat (the CPU
  /// backend's pack_concat_parts).
  void record_concat_parts(BufferId id, int64_t position, const std::vector<int32_t>& loops) {
    auto parts = concat_parts_.find(root_buffer(program_, id));
    if (parts == concat_parts_.end()) return;
    for (BufferId part : parts->second) record(part, position, loops, false);
  }

  const Program& program_;
  int64_t clock_ = 0;
  std::map<BufferId, BufferId> slice_sources_;  ///< slice result -> the buffer it slices
  /// Where a product's result (its root buffer) was last computed.
  struct ProductStep {
    int64_t position;
    std::vector<int32_t> loops;
  };
  std::map<BufferId, ProductStep> products_;
  std::map<BufferId, std::vector<BufferId>> concat_parts_;  ///< concat result -> its operands
  std::vector<Access> accesses_;
  std::map<int32_t, LoopRange> ranges_;
};

/// Each arena buffer's lifetime.
std::vector<Interval> lifetimes(const Program& program) {
  AccessRecorder recorder(program);
  std::vector<int32_t> loops;
  recorder.walk(program.steps, loops);
  const auto& ranges = recorder.ranges();

  // The loop chain a buffer is defined in (its first write).
  std::vector<std::vector<int32_t>> home(program.buffers.size());
  std::vector<bool> defined(program.buffers.size(), false);
  std::vector<Interval> intervals(program.buffers.size());
  for (const Access& access : recorder.accesses()) {
    if (!defined[access.buffer]) {
      assert(access.is_definition && "an arena buffer is read before it is written");
      defined[access.buffer] = true;
      home[access.buffer] = access.loops;
      if (!access.loops.empty()) {
        const LoopRange& loop = ranges.at(access.loops.back());
        intervals[access.buffer].cover(loop.start, loop.end);
      }
    }
    const std::vector<int32_t>& own = home[access.buffer];
    assert(access.loops.size() >= own.size() &&
           std::equal(own.begin(), own.end(), access.loops.begin()));
    if (access.loops.size() > own.size()) {
      // Used inside a loop it was not defined in: alive for all of that loop.
      const LoopRange& loop = ranges.at(access.loops[own.size()]);
      intervals[access.buffer].cover(loop.start, loop.end);
    } else {
      intervals[access.buffer].cover(access.position, access.position);
    }
  }
  return intervals;
}

}  // namespace

BufferId root_buffer(const Program& program, BufferId id) {
  while (program.buffers[id].placement == Placement::view) id = program.buffers[id].base;
  return id;
}

int64_t aligned_bytes(int64_t bytes) {
  return (bytes + Program::kAlignment - 1) / Program::kAlignment * Program::kAlignment;
}

void place_in_arena(Program& program) {
  std::vector<Interval> intervals = lifetimes(program);
  std::vector<BufferId> order;
  for (size_t id = 0; id < program.buffers.size(); ++id)
    if (program.buffers[id].placement == Placement::arena)
      order.push_back(static_cast<BufferId>(id));
  // Earlier buffers first; among those born together, larger first (first fit packs better).
  std::stable_sort(order.begin(), order.end(), [&](BufferId a, BufferId b) {
    if (intervals[a].start != intervals[b].start) return intervals[a].start < intervals[b].start;
    return program.buffers[a].bytes > program.buffers[b].bytes;
  });

  program.arena_bytes = 0;
  program.unshared_bytes = 0;
  std::vector<BufferId> placed;
  for (BufferId id : order) {
    Buffer& buffer = program.buffers[id];
    const int64_t size = aligned_bytes(buffer.bytes);
    program.unshared_bytes += size;
    buffer.offset = 0;
    if (size == 0) continue;
    // The byte ranges taken by placed buffers alive at the same time, lowest first.
    std::vector<std::pair<int64_t, int64_t>> taken;
    for (BufferId other : placed) {
      const Interval& a = intervals[id];
      const Interval& b = intervals[other];
      bool overlap = a.empty() || b.empty() || (a.start <= b.end && b.start <= a.end);
      if (overlap)
        taken.emplace_back(
            program.buffers[other].offset,
            program.buffers[other].offset + aligned_bytes(program.buffers[other].bytes));
    }
    std::sort(taken.begin(), taken.end());
    int64_t offset = 0;
    for (const auto& [begin, end] : taken) {
      if (offset + size <= begin) break;
      offset = std::max(offset, end);
    }
    buffer.offset = offset;
    program.arena_bytes = std::max(program.arena_bytes, offset + size);
    placed.push_back(id);
  }

  // Residuals: a loop's arena results that a later loop step reads.
  std::set<BufferId> loop_results;
  program.residual_bytes = 0;
  program.num_residuals = 0;
  auto mark = [&](auto&& self, const std::vector<Step>& steps) -> void {
    for (const Step& step : steps) {
      if (step.kind != StepKind::loop) continue;
      for (BufferId operand : step.operands) {
        BufferId root = root_buffer(program, operand);
        Buffer& buffer = program.buffers[root];
        if (loop_results.count(root) && buffer.role == ir::BufferRole::scratch) {
          buffer.role = ir::BufferRole::residual;
          program.residual_bytes += buffer.bytes;
          program.num_residuals += 1;
        }
      }
      self(self, step.body);
      for (BufferId result : step.results)
        if (program.buffers[result].placement == Placement::arena) loop_results.insert(result);
    }
  };
  mark(mark, program.steps);
}

}  // namespace rnnc::passes::plan_memory_detail
