#include "codegen/interp/program_runner.h"

#include <cassert>
#include <cstring>
#include <map>

#include "codegen/interp/fused.h"
#include "codegen/interp/kernels.h"
#include "ir/error.h"

namespace rnnc::interp {
namespace {

using ir::Buffer;
using ir::BufferId;
using ir::Placement;
using ir::Program;
using ir::Step;
using ir::StepKind;

/// The memory one run of a program works in, and the loop counters that place views.
class Memory {
 public:
  Memory(const Program& program, std::vector<unsigned char*> externals,
         const std::vector<std::vector<unsigned char>>& constants)
      : program_(program),
        // Poisoned (NaN for floats, -1 for i32): a step reading bytes nobody wrote shows.
        arena_(program.arena_bytes, 0xff),
        externals_(std::move(externals)),
        constants_(constants) {}

  /// Where buffer `id`'s bytes are now (views follow the current loop counters).
  unsigned char* address(BufferId id) {
    const Buffer& buffer = program_.buffers.at(id);
    switch (buffer.placement) {
      case Placement::external:
        return externals_.at(buffer.external_index);
      case Placement::constant:
        return const_cast<unsigned char*>(constants_.at(id).data());
      case Placement::arena:
        assert(buffer.offset % Program::kAlignment == 0);
        assert(buffer.offset + buffer.bytes <= static_cast<int64_t>(arena_.size()));
        return arena_.data() + buffer.offset;
      case Placement::view: {
        int64_t offset = buffer.offset;
        if (buffer.step_stride != 0) offset += counters_.at(buffer.loop_id) * buffer.step_stride;
        assert(offset >= 0 && offset + buffer.bytes <= program_.buffers.at(buffer.base).bytes);
        return address(buffer.base) + offset;
      }
    }
    return nullptr;
  }

  Tensor read(BufferId id) {
    const Buffer& buffer = program_.buffers.at(id);
    Tensor tensor(buffer.type);
    if (buffer.bytes > 0) std::memcpy(tensor.raw(), address(id), buffer.bytes);
    return tensor;
  }

  void write(BufferId id, const Tensor& tensor) {
    const Buffer& buffer = program_.buffers.at(id);
    assert(tensor.num_bytes() == buffer.bytes);
    assert(buffer.placement != Placement::constant);
    if (buffer.bytes > 0) std::memcpy(address(id), tensor.raw(), buffer.bytes);
  }

  void set_counter(int32_t loop_id, int64_t t) { counters_[loop_id] = t; }
  void clear_counter(int32_t loop_id) { counters_.erase(loop_id); }
  const Program& program() const { return program_; }

 private:
  const Program& program_;
  std::vector<unsigned char> arena_;
  std::vector<unsigned char*> externals_;
  const std::vector<std::vector<unsigned char>>& constants_;
  std::map<int32_t, int64_t> counters_;
};

void run_steps(const std::vector<Step>& steps, Memory& memory);

/// The lengths of a loop with has_lengths, checked to lie in [1, T].
std::vector<int64_t> loop_lengths(const Step& loop, Memory& memory) {
  std::vector<int64_t> lengths;
  if (loop.node->attrs().get_int("has_lengths") == 0) return lengths;
  Tensor given = memory.read(loop.operands.back());
  for (int64_t b = 0; b < given.num_elements(); ++b) {
    int64_t length = static_cast<int64_t>(given.get(b));
    if (length < 1 || length > loop.trip_count)
      throw Error("lengths[" + std::to_string(b) + "] = " + std::to_string(length) +
                  " is outside [1, " + std::to_string(loop.trip_count) + "]");
    lengths.push_back(length);
  }
  return lengths;
}

/// Copies body output `source` into `target` (a carry, or row t of a stacked result): rows b
/// whose length has passed keep the carry, or get zeros.
void write_back(Memory& memory, BufferId source, unsigned char* target, bool is_carry, int64_t t,
                const std::vector<int64_t>& lengths) {
  const int64_t bytes = memory.program().buffers.at(source).bytes;
  const unsigned char* from = memory.address(source);
  if (lengths.empty()) {
    if (bytes > 0) std::memmove(target, from, bytes);
    return;
  }
  const int64_t row = bytes / static_cast<int64_t>(lengths.size());
  for (size_t b = 0; b < lengths.size(); ++b) {
    if (t < lengths[b])
      std::memmove(target + b * row, from + b * row, row);
    else if (!is_carry)
      std::memset(target + b * row, 0, row);
  }
}

void run_loop(const Step& loop, Memory& memory) {
  const size_t num_carry = loop.node->attrs().get_int("num_carry");
  const bool reverse = loop.node->attrs().get_int("reverse") != 0;
  const std::vector<int64_t> lengths = loop_lengths(loop, memory);
  const int64_t steps = loop.trip_count;
  for (int64_t n = 0; n < steps; ++n) {
    const int64_t t = reverse ? steps - 1 - n : n;
    memory.set_counter(loop.loop_id, t);
    run_steps(loop.body, memory);
    for (size_t i = 0; i < loop.body_outputs.size(); ++i) {
      unsigned char* target = memory.address(loop.results[i]);
      if (i >= num_carry) target += t * memory.program().buffers.at(loop.body_outputs[i]).bytes;
      write_back(memory, loop.body_outputs[i], target, i < num_carry, t, lengths);
    }
  }
  memory.clear_counter(loop.loop_id);
}

void run_kernel(const Step& step, Memory& memory) {
  std::vector<Tensor> operands;
  for (BufferId id : step.operands) operands.push_back(memory.read(id));
  std::vector<const Tensor*> pointers;
  for (const Tensor& operand : operands) pointers.push_back(&operand);
  std::vector<Tensor> results;
  if (step.node->kind() == ir::OpKind::Fused)
    results = run_fused(*step.node, pointers);
  else
    results.push_back(evaluate_node(*step.node, pointers));
  assert(results.size() == step.results.size());
  for (size_t i = 0; i < results.size(); ++i) memory.write(step.results[i], results[i]);
}

void run_steps(const std::vector<Step>& steps, Memory& memory) {
  for (const Step& step : steps) {
    if (step.kind == StepKind::copy) {
      const int64_t bytes = memory.program().buffers.at(step.results[0]).bytes;
      assert(bytes == memory.program().buffers.at(step.operands[0]).bytes);
      if (bytes > 0)
        std::memmove(memory.address(step.results[0]), memory.address(step.operands[0]), bytes);
      continue;
    }
    try {
      if (step.kind == StepKind::loop)
        run_loop(step, memory);
      else
        run_kernel(step, memory);
    } catch (const Error& error) {
      throw Error("node " + ir::describe_node(*step.node) + ": " + error.what());
    }
  }
}

/// The bytes of a constant buffer, in its dtype.
std::vector<unsigned char> constant_bytes(const Buffer& buffer) {
  std::vector<double> values(buffer.type.num_elements());
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = buffer.constant_values.size() == 1 ? buffer.constant_values[0]
                                                   : buffer.constant_values.at(i);
  Tensor tensor = Tensor::from_doubles(buffer.type.dtype, buffer.type.shape, values);
  const auto* raw = static_cast<const unsigned char*>(tensor.raw());
  return std::vector<unsigned char>(raw, raw + tensor.num_bytes());
}

}  // namespace

ProgramInterpreter::ProgramInterpreter(ir::Program program) : program_(std::move(program)) {
  assert(program_.graph);
  for (const Buffer& buffer : program_.buffers)
    constants_.push_back(buffer.placement == Placement::constant ? constant_bytes(buffer)
                                                                 : std::vector<unsigned char>{});
}

Bindings ProgramInterpreter::run(const Bindings& inputs, Bindings& state) {
  const ir::Graph& graph = *program_.graph;
  check_bindings(graph, inputs, state);
  // The external buffers in external_index order: copies of the inputs and parameters (so
  // that a failed run leaves `state` as it was), then the outputs.
  std::vector<ir::Node*> input_nodes = graph.nodes_of(ir::OpKind::Input);
  std::vector<ir::Node*> parameter_nodes = graph.nodes_of(ir::OpKind::Parameter);
  std::vector<Tensor> externals;
  for (const ir::Node* node : input_nodes) externals.push_back(inputs.at(node->result()->name()));
  for (const ir::Node* node : parameter_nodes)
    externals.push_back(state.at(node->result()->name()));
  for (const ir::GraphOutput& output : graph.outputs())
    externals.emplace_back(output.value->type());
  assert(externals.size() == program_.externals().size());
  std::vector<unsigned char*> addresses;
  for (Tensor& tensor : externals) addresses.push_back(static_cast<unsigned char*>(tensor.raw()));

  Memory memory(program_, std::move(addresses), constants_);
  run_steps(program_.steps, memory);

  Bindings outputs;
  const size_t first_output = input_nodes.size() + parameter_nodes.size();
  for (size_t k = 0; k < graph.outputs().size(); ++k)
    outputs[graph.outputs()[k].name] = std::move(externals[first_output + k]);
  for (size_t k = 0; k < parameter_nodes.size(); ++k)
    state[parameter_nodes[k]->result()->name()] = std::move(externals[input_nodes.size() + k]);
  return outputs;
}

}  // namespace rnnc::interp
