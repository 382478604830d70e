#include <algorithm>
#include <cassert>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>

#include "codegen/cuda/render_internal.h"

namespace rnnc::cuda {
namespace {

using ir::BufferId;
using ir::Placement;
using ir::StepKind;

/// Helpers every kernel may use; they are not static, so unused ones draw no warning.
constexpr const char* kPrelude =
    R"(// CUDA C rendered by rnnc from a scheduled program (ir/program.h).
__device__ __forceinline__ void rnnc_fail(int* error, int code) { atomicCAS(error, 0, code); }
// f64 to i32, truncating and saturating (NaN gives 0), as the CPU backend converts.
__device__ __forceinline__ int rnnc_to_i32(double v) {
  if (v != v) return 0;
  if (v >= 2147483647.0) return 2147483647;
  if (v <= -2147483648.0) return -2147483647 - 1;
  return (int)v;
}
// i32 division: truncates; division by zero and INT_MIN / -1 set the error flag.
__device__ __forceinline__ int rnnc_div_i32(int x, int y, int* error, int zero_code,
                                            int overflow_code) {
  if (y == 0) { rnnc_fail(error, zero_code); return 0; }
  if (x == -2147483647 - 1 && y == -1) { rnnc_fail(error, overflow_code); return 0; }
  return x / y;
}
// Vectors of 8 or 16 bytes: the loads and stores of vectorized kernels.
struct __align__(16) rnnc_float4 { float x, y, z, w; };
struct __align__(8) rnnc_float2 { float x, y; };
struct __align__(16) rnnc_int4 { int x, y, z, w; };
struct __align__(8) rnnc_int2 { int x, y; };
struct __align__(16) rnnc_double2 { double x, y; };
)";

class ProgramRenderer {
 public:
  ProgramRenderer(const ir::Program& program, RenderedCuda& out, const RenderOptions& options)
      : program_(program), out_(out), module_(program, out, options), options_(options) {}

  void render() {
    render_steps(program_.steps, out_.plan);
    module_.finish();
  }

 private:
  void render_steps(const std::vector<ir::Step>& steps, std::vector<Launch>& plan) {
    for (const ir::Step& step : steps) {
      std::vector<Launch> launches;
      switch (step.kind) {
        case StepKind::copy:
          render_copy(step, plan);
          continue;
        case StepKind::loop:
          render_loop(step, plan);
          continue;
        case StepKind::elementwise:
          launches = render_elementwise(module_, step);
          break;
        case StepKind::matmul:
          launches = render_matmul(module_, step);
          break;
        case StepKind::reduce:
          launches = render_reduce(module_, step);
          break;
        case StepKind::gather:
          launches = render_gather(module_, step);
          break;
        case StepKind::scatter_add:
          launches = render_scatter_add(module_, step);
          break;
        case StepKind::coalesce_rows:
          launches = render_coalesce_rows(module_, step);
          break;
        case StepKind::scatter_rows:
          launches = render_scatter_rows(module_, step);
          break;
        case StepKind::layout:
          launches = render_layout(module_, step);
          break;
      }
      for (Launch& launch : launches) plan.push_back(std::move(launch));
    }
  }

  void render_copy(const ir::Step& step, std::vector<Launch>& plan) {
    BufferId from = step.operands.at(0), to = step.results.at(0);
    assert(program_.buffers.at(to).bytes == program_.buffers.at(from).bytes);
    if (std::optional<Launch> copy = copy_launch(module_, from, to))
      plan.push_back(std::move(*copy));
  }

  void render_loop(const ir::Step& step, std::vector<Launch>& plan) {
    const ir::Node& scan = *step.node;
    const size_t num_carry = scan.attrs().get_int("num_carry");
    const bool has_lengths = scan.attrs().get_int("has_lengths") != 0;
    if (has_lengths) plan.push_back(render_lengths_check(module_, step));
    Launch loop;
    loop.kind = Launch::Kind::loop;
    loop.node = ir::describe_node(scan);
    loop.loop_id = step.loop_id;
    loop.trip_count = step.trip_count;
    loop.reverse = scan.attrs().get_int("reverse") != 0;
    // launch_owner[j]: the body step (or, past the body, the write-back) launch j comes from.
    std::vector<size_t> launch_owner;
    for (size_t s = 0; s < step.body.size(); ++s) {
      render_steps(std::vector<ir::Step>{step.body[s]}, loop.body);
      launch_owner.resize(loop.body.size(), s);
    }
    for (size_t i = 0; i < step.body_outputs.size(); ++i) {
      const BufferId from = step.body_outputs[i];
      const int64_t bytes = program_.buffers.at(from).bytes;
      if (bytes == 0) continue;
      if (has_lengths) {
        loop.body.push_back(render_masked_write_back(module_, step, i));
        launch_owner.push_back(step.body.size() + i);
        continue;
      }
      if (i < num_carry && from == step.results.at(i)) continue;
      if (i >= num_carry && program_.writes_back_in_place(step, i)) continue;
      Launch copy;
      copy.kind = Launch::Kind::copy;
      copy.from.buffer = from;
      copy.to.buffer = step.results.at(i);
      if (i >= num_carry) {
        copy.to.t_stride = bytes;
        copy.to.loop_id = step.loop_id;
      }
      copy.bytes = bytes;
      loop.body.push_back(std::move(copy));
      launch_owner.push_back(step.body.size() + i);
    }
    std::optional<Launch> persistent =
        render_persistent(module_, step, loop, launch_owner, options_);
    plan.push_back(persistent ? std::move(*persistent) : std::move(loop));
  }

  const ir::Program& program_;
  RenderedCuda& out_;
  SourceWriter module_;
  const RenderOptions& options_;
};

std::string address_text(const DeviceAddress& address) {
  std::string text = "b" + std::to_string(address.buffer);
  if (address.extra) text += "+" + std::to_string(address.extra);
  if (address.t_stride)
    text += "+t" + std::to_string(address.loop_id) + "*" + std::to_string(address.t_stride);
  return text;
}

void print_launches(const std::vector<Launch>& plan, const std::string& indent, std::string& out) {
  for (const Launch& launch : plan) {
    switch (launch.kind) {
      case Launch::Kind::kernel:
        out += indent + "kernel " + launch.kernel + " threads=" + std::to_string(launch.threads);
        if (launch.shared_bytes) out += " shared=" + std::to_string(launch.shared_bytes);
        break;
      case Launch::Kind::gemm: {
        const GemmCall& g = launch.gemm;
        out += indent + "gemm " + (g.dtype == ir::DType::f64 ? "dgemm" : "sgemm") +
               " m=" + std::to_string(g.m) + " n=" + std::to_string(g.n) +
               " k=" + std::to_string(g.k) + " batch=" + std::to_string(g.batch) + " a=b" +
               std::to_string(g.a) + (g.transpose_a ? "^T" : "") + " b=b" + std::to_string(g.b) +
               (g.transpose_b ? "^T" : "") + " c=b" + std::to_string(g.c);
        break;
      }
      case Launch::Kind::copy:
        out += indent + "copy " + std::to_string(launch.bytes) + " bytes " +
               address_text(launch.from) + " -> " + address_text(launch.to);
        break;
      case Launch::Kind::loop:
        out += indent + "loop t" + std::to_string(launch.loop_id) +
               " T=" + std::to_string(launch.trip_count) + (launch.reverse ? " reversed" : "") +
               " (" + launch.node + ")\n";
        print_launches(launch.body, indent + "  ", out);
        out += indent + "end loop t" + std::to_string(launch.loop_id);
        break;
      case Launch::Kind::persistent:
        out += indent + "persistent " + launch.kernel + " blocks=" + std::to_string(launch.blocks) +
               "x" + std::to_string(launch.block_threads) +
               " shared=" + std::to_string(launch.shared_bytes) + " (" + launch.node +
               "); fallback:\n";
        print_launches(launch.body, indent + "  ", out);
        out += indent + "end persistent " + launch.kernel;
        break;
    }
    if (launch.kind != Launch::Kind::loop && launch.kind != Launch::Kind::persistent &&
        !launch.node.empty())
      out += "  (" + launch.node + ")";
    out += "\n";
  }
}

}  // namespace

const char* c_type(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::f32:
      return "float";
    case ir::DType::f64:
      return "double";
    case ir::DType::i32:
      return "int";
  }
  assert(false && "unknown dtype");
  return "float";
}

std::string literal(ir::DType dtype, double value) {
  char text[64];
  if (dtype == ir::DType::i32) {
    auto v = static_cast<int64_t>(value);
    if (v == INT32_MIN) return "(-2147483647 - 1)";
    return "(" + std::to_string(v) + ")";
  }
  if (dtype == ir::DType::f32) {
    auto single = static_cast<float>(value);
    if (std::isfinite(single)) {
      std::snprintf(text, sizeof text, "%.9g", single);
      if (std::strtof(text, nullptr) == single && std::strpbrk(text, ".e") == nullptr)
        std::strcat(text, ".0");
      if (std::strtof(text, nullptr) == single) return "(" + std::string(text) + "f)";
    }
    uint32_t bits;
    std::memcpy(&bits, &single, sizeof bits);
    std::snprintf(text, sizeof text, "__int_as_float(0x%08x)", bits);
    return text;
  }
  if (std::isfinite(value)) {
    std::snprintf(text, sizeof text, "%.17g", value);
    if (std::strpbrk(text, ".e") == nullptr) std::strcat(text, ".0");
    if (std::strtod(text, nullptr) == value) return "(" + std::string(text) + ")";
  }
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  std::snprintf(text, sizeof text, "__longlong_as_double(0x%016llxLL)",
                static_cast<unsigned long long>(bits));
  return text;
}

std::string vector_type(ir::DType dtype, int64_t width) {
  assert(width * ir::dtype_size(dtype) == 8 || width * ir::dtype_size(dtype) == 16);
  return "rnnc_" + std::string(c_type(dtype)) + std::to_string(width);
}

const char* vector_lane(int64_t lane) {
  static const char* const lanes[] = {".x", ".y", ".z", ".w"};
  assert(lane >= 0 && lane < 4);
  return lanes[lane];
}

std::string digit(const std::string& flat, const ir::Shape& shape, size_t d) {
  int64_t inner = 1;
  for (size_t k = d + 1; k < shape.size(); ++k) inner *= shape[k];
  std::string text = inner == 1 ? flat : "(" + flat + " / " + std::to_string(inner) + "LL)";
  bool outermost = true;
  for (size_t k = 0; k < d; ++k) outermost = outermost && shape[k] == 1;
  if (outermost) return text;
  return "(" + text + " % " + std::to_string(shape[d]) + "LL)";
}

SourceWriter::SourceWriter(const ir::Program& program, RenderedCuda& out,
                           const RenderOptions& options)
    : program_(program), out_(out), options_(options) {
  out_.constant_offsets.assign(program.buffers.size(), -1);
  for (size_t id = 0; id < program.buffers.size(); ++id) {
    const ir::Buffer& buffer = program.buffers[id];
    if (buffer.placement != Placement::constant) continue;
    out_.constant_offsets[id] = out_.constant_pool_bytes;
    out_.constant_pool_bytes += (buffer.bytes + ir::Program::kAlignment - 1) /
                                ir::Program::kAlignment * ir::Program::kAlignment;
  }
  std::function<void(const std::vector<ir::Step>&)> count = [&](const auto& steps) {
    for (const ir::Step& step : steps)
      if (step.kind == StepKind::loop) {
        out_.num_loops = std::max<int64_t>(out_.num_loops, step.loop_id + 1);
        count(step.body);
      }
  };
  count(program.steps);
}

int32_t SourceWriter::add_error(std::string message) {
  out_.errors.push_back(std::move(message));
  return static_cast<int32_t>(out_.errors.size());
}

std::string SourceWriter::kernel_name(const std::string& hint) {
  std::string name = "k" + std::to_string(next_kernel_++) + "_" + hint;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  if (name.size() > 64) name.resize(64);
  return name;
}

std::string SourceWriter::constant_array(ir::DType dtype, const std::vector<double>& values) {
  std::string name = "rnnc_array" + std::to_string(next_array_++);
  arrays_ += "__device__ const " + std::string(c_type(dtype)) + " " + name + "[" +
             std::to_string(std::max<size_t>(values.size(), 1)) + "] = {";
  for (size_t i = 0; i < values.size(); ++i) arrays_ += (i ? ", " : "") + literal(dtype, values[i]);
  arrays_ += "};\n";
  return name;
}

std::string SourceWriter::address(BufferId id) const {
  const ir::Buffer& buffer = program_.buffers.at(id);
  switch (buffer.placement) {
    case Placement::external:
      return "args.externals[" + std::to_string(buffer.external_index) + "]";
    case Placement::constant:
      return "(args.constants + " + std::to_string(out_.constant_offsets.at(id)) + "LL)";
    case Placement::arena:
      return "(args.arena + " + std::to_string(buffer.offset) + "LL)";
    case Placement::view: {
      std::string text = "(" + address(buffer.base) + " + " + std::to_string(buffer.offset) + "LL";
      if (buffer.step_stride != 0)
        text += " + args.t[" + std::to_string(buffer.loop_id) + "] * " +
                std::to_string(buffer.step_stride) + "LL";
      return text + ")";
    }
  }
  assert(false && "unknown placement");
  return "";
}

int64_t SourceWriter::alignment(BufferId id) const {
  int64_t known = ir::Program::kAlignment;
  auto lower = [&](int64_t bytes) {
    while (bytes % known != 0) known /= 2;
  };
  for (BufferId at = id;; at = program_.buffers.at(at).base) {
    const ir::Buffer& buffer = program_.buffers.at(at);
    switch (buffer.placement) {
      case Placement::external:
        return known;
      case Placement::constant:
        lower(out_.constant_offsets.at(at));
        return known;
      case Placement::arena:
        lower(buffer.offset);
        return known;
      case Placement::view:
        lower(buffer.offset);
        lower(buffer.step_stride);
        break;
    }
  }
}

void SourceWriter::add_kernel(const std::string& name, const std::string& text) {
  kernels_ += text;
  out_.kernels.push_back(name);
}

void SourceWriter::finish() {
  std::string source = kPrelude;
  source += "// The kernels' one argument (the host fills the same layout).\n";
  source += "struct RnncArgs {\n  unsigned char* arena;\n  unsigned char* const* externals;\n";
  source += "  unsigned char* constants;\n  int* error;\n";
  source += "  long long t[" + std::to_string(std::max<int64_t>(out_.num_loops, 1)) + "];\n};\n";
  source += arrays_;
  source += kernels_;
  out_.source = std::move(source);
}

KernelWriter::KernelWriter(SourceWriter& module, const ir::Step* step, const std::string& hint)
    : module_(module), step_(step), name_(module.kernel_name(hint)) {}

std::string KernelWriter::pointer(BufferId id) {
  auto found = pointers_.find(id);
  if (found != pointers_.end()) return found->second;
  std::string name = "b" + std::to_string(id);
  const char* type = c_type(module_.buffer(id).type.dtype);
  declarations_ += "  " + std::string(type) + "* const " + name + " = (" + type + "*)" +
                   module_.address(id) + ";\n";
  pointers_[id] = name;
  return name;
}

int32_t KernelWriter::error(const std::string& what) {
  assert(step_ && step_->node);
  auto found = errors_.find(what);
  if (found != errors_.end()) return found->second;
  return errors_[what] = module_.add_error("node " + ir::describe_node(*step_->node) + ": " + what);
}

Launch KernelWriter::finish(int64_t threads, const std::string& index) {
  std::string text = "extern \"C\" __global__ void " + name_ + "(RnncArgs args) {\n";
  text += declarations_;
  text += "  for (long long " + index + " = blockIdx.x * (long long)blockDim.x + threadIdx.x; " +
          index + " < " + std::to_string(threads) + "LL; " + index +
          " += (long long)gridDim.x * blockDim.x) {\n";
  text += body_;
  text += "  }\n}\n";
  module_.add_kernel(name_, text);
  Launch launch;
  launch.kind = Launch::Kind::kernel;
  launch.kernel = name_;
  launch.threads = threads;
  if (step_ && step_->node) launch.node = ir::describe_node(*step_->node);
  return launch;
}

RenderedCuda render_cuda(const ir::Program& program, const RenderOptions& options) {
  RenderedCuda rendered;
  ProgramRenderer(program, rendered, options).render();
  finish_persistent_source(program, options, rendered);
  return rendered;
}

int64_t args_bytes(int64_t num_loops) { return 4 * 8 + 8 * std::max<int64_t>(num_loops, 1); }

std::string print_plan(const RenderedCuda& rendered, const ir::Program& program) {
  std::string out = "launch plan: " + std::to_string(rendered.kernels.size()) + " kernels, arena " +
                    std::to_string(program.arena_bytes) + " bytes, constant pool " +
                    std::to_string(rendered.constant_pool_bytes) + " bytes\n";
  print_launches(rendered.plan, "  ", out);
  return out;
}

}  // namespace rnnc::cuda
