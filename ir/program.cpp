#include "ir/program.h"

#include <cstdio>
#include <string>

namespace rnnc::ir {
namespace {

/// "#3".
std::string buffer_ref(BufferId id) { return "#" + std::to_string(id); }

/// "#1, #2".
std::string buffer_list(const std::vector<BufferId>& ids) {
  std::string text;
  for (BufferId id : ids) text += (text.empty() ? "" : ", ") + buffer_ref(id);
  return text;
}

/// Where a buffer's bytes are, in words: "arena @0", "external 2", "view #4 +16 step 48 loop 0".
std::string placement_text(const Buffer& buffer) {
  switch (buffer.placement) {
    case Placement::external:
      return "external " + std::to_string(buffer.external_index);
    case Placement::constant:
      return "constant (" + std::to_string(buffer.constant_values.size()) +
             (buffer.constant_values.size() == 1 ? " value)" : " values)");
    case Placement::arena:
      return "arena @" + std::to_string(buffer.offset);
    case Placement::view: {
      std::string text = "view " + buffer_ref(buffer.base) + " +" + std::to_string(buffer.offset);
      if (buffer.step_stride != 0)
        text += " step " + std::to_string(buffer.step_stride) + " loop " +
                std::to_string(buffer.loop_id);
      return text;
    }
  }
  return "?";
}

/// The node a step computes, as "op %first_result".
std::string node_text(const Step& step) {
  if (!step.node) return "";
  return std::string(step.node->info().name) + " %" + step.node->result()->name();
}

void print_steps(const std::vector<Step>& steps, int depth, std::string& out) {
  const std::string indent(2 * depth, ' ');
  for (const Step& step : steps) {
    out += indent + step_kind_name(step.kind);
    std::string node = node_text(step);
    if (!node.empty()) out += " " + node;
    out += " (" + buffer_list(step.operands) + ") -> (" + buffer_list(step.results) + ")";
    if (step.kind == StepKind::loop) {
      const Attributes& attrs = step.node->attrs();
      out += " {loop " + std::to_string(step.loop_id) + ", trips " +
             std::to_string(step.trip_count) + (attrs.get_int("reverse") != 0 ? ", reverse" : "") +
             (attrs.get_int("has_lengths") != 0 ? ", lengths" : "") + "}\n";
      print_steps(step.body, depth + 1, out);
      out += indent + "  yield (" + buffer_list(step.body_outputs) + ")\n";
      continue;
    }
    out += "\n";
  }
}

}  // namespace

std::vector<BufferId> Program::externals() const {
  std::vector<BufferId> all = inputs;
  all.insert(all.end(), parameters.begin(), parameters.end());
  all.insert(all.end(), outputs.begin(), outputs.end());
  return all;
}

bool Program::writes_back_in_place(const Step& loop, size_t index) const {
  const Buffer& from = buffers.at(loop.body_outputs.at(index));
  return from.placement == Placement::view && from.base == loop.results.at(index) &&
         from.offset == 0 && from.loop_id == loop.loop_id && from.step_stride == from.bytes;
}

const char* step_kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::elementwise:
      return "elementwise";
    case StepKind::matmul:
      return "matmul";
    case StepKind::reduce:
      return "reduce";
    case StepKind::gather:
      return "gather";
    case StepKind::scatter_add:
      return "scatter_add";
    case StepKind::coalesce_rows:
      return "coalesce_rows";
    case StepKind::scatter_rows:
      return "scatter_rows";
    case StepKind::layout:
      return "layout";
    case StepKind::copy:
      return "copy";
    case StepKind::loop:
      return "loop";
  }
  return "?";
}

const char* buffer_role_name(BufferRole role) {
  switch (role) {
    case BufferRole::input:
      return "input";
    case BufferRole::parameter:
      return "parameter";
    case BufferRole::state:
      return "state";
    case BufferRole::output:
      return "output";
    case BufferRole::constant:
      return "constant";
    case BufferRole::residual:
      return "residual";
    case BufferRole::scratch:
      return "scratch";
  }
  return "?";
}

std::string print_program(const Program& program) {
  std::string out;
  char reuse[32];
  double factor = program.arena_bytes > 0 ? static_cast<double>(program.unshared_bytes) /
                                                static_cast<double>(program.arena_bytes)
                                          : 1.0;
  std::snprintf(reuse, sizeof reuse, "%.2f", factor);
  out += "// program @" + (program.graph ? program.graph->name() : std::string("?")) +
         ": arena_bytes = " + std::to_string(program.arena_bytes) +
         ", unshared_bytes = " + std::to_string(program.unshared_bytes) + " (reuse " + reuse +
         "x), residuals = " + std::to_string(program.num_residuals) + " (" +
         std::to_string(program.residual_bytes) + " bytes)\n";
  out += "buffers {\n";
  for (size_t id = 0; id < program.buffers.size(); ++id) {
    const Buffer& buffer = program.buffers[id];
    out += "  " + buffer_ref(static_cast<BufferId>(id)) + " %" + buffer.name + " : " +
           buffer.type.to_string() + " " + buffer_role_name(buffer.role) + ", " +
           std::to_string(buffer.bytes) + " bytes, " + placement_text(buffer) + "\n";
  }
  out += "}\nsteps {\n";
  print_steps(program.steps, 1, out);
  out += "}\n";
  return out;
}

}  // namespace rnnc::ir
