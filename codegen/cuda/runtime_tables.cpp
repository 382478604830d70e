// The host runtime's tables of a rendered program (runtime_tables.h).
#include "codegen/cuda/runtime_tables.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

#include "codegen/aot/library.h"
#include "runtime/tensor.h"

namespace rnnc::cuda {
namespace {

int32_t kind_code(Launch::Kind kind) {
  switch (kind) {
    case Launch::Kind::kernel:
      return RNNC_LAUNCH_KERNEL;
    case Launch::Kind::gemm:
      return RNNC_LAUNCH_GEMM;
    case Launch::Kind::copy:
      return RNNC_LAUNCH_COPY;
    case Launch::Kind::loop:
      return RNNC_LAUNCH_LOOP;
    case Launch::Kind::persistent:
      return RNNC_LAUNCH_PERSISTENT;
  }
  return -1;
}

int32_t placement_code(ir::Placement placement) {
  switch (placement) {
    case ir::Placement::external:
      return RNNC_PLACE_EXTERNAL;
    case ir::Placement::constant:
      return RNNC_PLACE_CONSTANT;
    case ir::Placement::arena:
      return RNNC_PLACE_ARENA;
    case ir::Placement::view:
      return RNNC_PLACE_VIEW;
  }
  return -1;
}

rnnc_cuda_address address_of(const DeviceAddress& address) {
  return {static_cast<int32_t>(address.buffer), address.loop_id, address.extra, address.t_stride};
}

class Builder {
 public:
  Builder(RuntimeTables& tables, const RenderedCuda& rendered)
      : tables_(tables), rendered_(rendered) {
    for (size_t i = 0; i < rendered.kernels.size(); ++i)
      kernel_index_[rendered.kernels[i]] = static_cast<int32_t>(i);
  }

  /// Writes `plan` into launches [at, at + plan.size()), their bodies after the table's end.
  void place(const std::vector<Launch>& plan, size_t at) {
    for (size_t i = 0; i < plan.size(); ++i) tables_.launches[at + i] = entry(plan[i]);
    for (size_t i = 0; i < plan.size(); ++i) {
      if (plan[i].body.empty()) continue;
      const size_t begin = tables_.launches.size();
      tables_.launches.resize(begin + plan[i].body.size());
      tables_.launches[at + i].body = static_cast<int32_t>(begin);
      tables_.launches[at + i].body_count = static_cast<int32_t>(plan[i].body.size());
      place(plan[i].body, begin);
    }
  }

 private:
  const char* text(const std::string& value) {
    tables_.strings.push_back(value);
    return tables_.strings.back().c_str();
  }

  rnnc_cuda_launch entry(const Launch& launch) {
    rnnc_cuda_launch l{};
    l.kind = kind_code(launch.kind);
    l.kernel = -1;
    if (!launch.kernel.empty()) l.kernel = kernel_index_.at(launch.kernel);
    l.threads = launch.threads;
    const GemmCall& g = launch.gemm;
    l.f64 = g.dtype == ir::DType::f64;
    l.transpose_a = g.transpose_a;
    l.transpose_b = g.transpose_b;
    l.a = g.a;
    l.b = g.b;
    l.c = g.c;
    l.m = g.m;
    l.n = g.n;
    l.k = g.k;
    l.batch = g.batch;
    l.from = address_of(launch.from);
    l.to = address_of(launch.to);
    l.bytes = launch.bytes;
    l.blocks = launch.blocks;
    l.block_threads = launch.block_threads;
    l.shared_bytes = launch.shared_bytes;
    l.loop_id = launch.loop_id;
    l.reverse = launch.reverse;
    l.trip_count = launch.trip_count;
    l.node = text(launch.node);
    return l;
  }

  RuntimeTables& tables_;
  const RenderedCuda& rendered_;
  std::map<std::string, int32_t> kernel_index_;
};

std::string number(int64_t value) { return std::to_string(value); }

}  // namespace

std::string c_bytes_literal(const unsigned char* data, size_t size) {
  std::string out = "\n    \"";
  size_t line = 0;
  for (size_t i = 0; i < size; ++i) {
    const unsigned char c = data[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '?') {
      out += static_cast<char>(c);
      ++line;
    } else {
      char escape[5];
      std::snprintf(escape, sizeof escape, "\\%03o", c);
      out += escape;
      line += 4;
    }
    if (line >= 96 && i + 1 < size) {
      out += "\"\n    \"";
      line = 0;
    }
  }
  return out + "\"";
}

int toolkit_version_number() {
  const std::string version = nvrtc_version();
  const size_t dot = version.find('.');
  const int major = std::stoi(version.substr(0, dot));
  const int minor = dot == std::string::npos ? 0 : std::stoi(version.substr(dot + 1));
  return major * 1000 + minor * 10;
}

int architecture_number(const std::string& architecture) {
  if (architecture.rfind("sm_", 0) != 0) return 0;
  return std::atoi(architecture.c_str() + 3);
}

std::unique_ptr<RuntimeTables> make_runtime_tables(const RenderedCuda& rendered,
                                                   const ir::Program& program,
                                                   const CompiledModule& compiled,
                                                   const std::string& name) {
  auto tables = std::make_unique<RuntimeTables>();
  RuntimeTables& t = *tables;
  for (const std::string& kernel : rendered.kernels) {
    t.strings.push_back(kernel);
    t.kernels.push_back(t.strings.back().c_str());
  }
  for (const std::string& error : rendered.errors) {
    t.strings.push_back(error);
    t.errors.push_back(t.strings.back().c_str());
  }
  t.launches.resize(rendered.plan.size());
  Builder(t, rendered).place(rendered.plan, 0);
  t.constants.assign(static_cast<size_t>(rendered.constant_pool_bytes), 0);
  for (size_t id = 0; id < program.buffers.size(); ++id) {
    const ir::Buffer& buffer = program.buffers[id];
    rnnc_cuda_buffer b{};
    b.placement = placement_code(buffer.placement);
    b.external_index = buffer.external_index;
    b.base = buffer.base;
    b.loop_id = buffer.loop_id;
    b.offset = buffer.offset;
    b.step_stride = buffer.step_stride;
    if (buffer.placement == ir::Placement::constant) {
      b.offset = rendered.constant_offsets.at(id);
      if (buffer.bytes > 0) {
        std::vector<double> values(static_cast<size_t>(buffer.type.num_elements()));
        for (size_t i = 0; i < values.size(); ++i)
          values[i] = buffer.constant_values.size() == 1 ? buffer.constant_values[0]
                                                         : buffer.constant_values.at(i);
        Tensor tensor = Tensor::from_doubles(buffer.type.dtype, buffer.type.shape, values);
        std::memcpy(t.constants.data() + b.offset, tensor.raw(), static_cast<size_t>(buffer.bytes));
      }
    }
    t.buffers.push_back(b);
  }
  t.cubin.assign(compiled.cubin.begin(), compiled.cubin.end());
  t.ptx = compiled.ptx;
  t.strings.push_back(name);
  rnnc_cuda_program& p = t.program;
  p.name = t.strings.back().c_str();
  p.kernels = t.kernels.data();
  p.num_kernels = static_cast<int32_t>(t.kernels.size());
  p.launches = t.launches.data();
  p.num_launches = static_cast<int32_t>(t.launches.size());
  p.num_top = static_cast<int32_t>(rendered.plan.size());
  p.buffers = t.buffers.data();
  p.num_buffers = static_cast<int32_t>(t.buffers.size());
  p.num_externals = static_cast<int32_t>(program.externals().size());
  p.num_loops = static_cast<int32_t>(rendered.num_loops);
  p.arena_bytes = program.arena_bytes;
  p.constants = t.constants.data();
  p.constant_bytes = rendered.constant_pool_bytes;
  p.errors = t.errors.data();
  p.num_errors = static_cast<int32_t>(t.errors.size());
  p.cubin = t.cubin.data();
  p.cubin_bytes = static_cast<int64_t>(t.cubin.size());
  p.cubin_arch = t.cubin.empty() ? 0 : architecture_number(compiled.architecture);
  p.ptx = t.ptx.c_str();
  p.toolkit_version = toolkit_version_number();
  return tables;
}

std::string constant_pool_text(const std::vector<unsigned char>& pool, const std::string& prefix) {
  // Runs of at least kRun bytes repeating a 4- or 8-byte pattern (zeros, a filled constant)
  // become loops; the rest, byte literals copied in place.
  constexpr size_t kRun = 64;
  const std::string array = prefix + "_constants";
  std::ostringstream fill;
  size_t literal_begin = 0;
  auto flush_literal = [&](size_t end) {
    if (end > literal_begin)
      fill << "  memcpy(" << array << " + " << literal_begin << ","
           << c_bytes_literal(pool.data() + literal_begin, end - literal_begin) << ", "
           << end - literal_begin << ");\n";
  };
  size_t i = 0;
  while (i < pool.size()) {
    size_t best_end = i, best_period = 0;
    for (size_t period : {size_t{4}, size_t{8}}) {
      if (i % period != 0 || i + period > pool.size()) continue;
      size_t end = i + period;
      while (end + period <= pool.size() &&
             std::memcmp(pool.data() + end, pool.data() + i, period) == 0)
        end += period;
      if (end - i >= kRun && end > best_end) best_end = end, best_period = period;
    }
    if (!best_period) {
      ++i;
      continue;
    }
    flush_literal(i);
    const bool zeros = std::all_of(pool.begin() + static_cast<std::ptrdiff_t>(i),
                                   pool.begin() + static_cast<std::ptrdiff_t>(i + best_period),
                                   [](unsigned char c) { return c == 0; });
    if (!zeros)
      fill << "  for (i = " << i << "; i < " << best_end << "; i += " << best_period << ") memcpy("
           << array << " + i," << c_bytes_literal(pool.data() + i, best_period) << ", "
           << best_period << ");\n";
    i = literal_begin = best_end;
  }
  flush_literal(pool.size());
  std::ostringstream out;
  out << "/* The constant pool: zero until " << prefix << "_fill_constants() writes its\n"
      << " * non-zero runs (once, before the first program is loaded). */\n"
      << "static unsigned char " << array << "[" << pool.size() + 1 << "];\n"
      << "static void " << prefix << "_fill_constants(void) {\n"
      << "  size_t i = 0;\n"
      << fill.str() << "  (void)i;\n}\n";
  return out.str();
}

std::string render_runtime_tables(const RuntimeTables& t, const std::string& prefix) {
  using aot::c_string;
  const rnnc_cuda_program& p = t.program;
  std::ostringstream out;
  auto strings = [&](const std::vector<const char*>& items) {
    if (items.empty()) return std::string("0");
    std::string text;
    for (size_t i = 0; i < items.size(); ++i)
      text += (i ? ",\n    " : "\n    ") + c_string(items[i]);
    return text;
  };
  auto address = [](const rnnc_cuda_address& a) {
    const int64_t values[] = {a.buffer, a.loop_id, a.extra, a.t_stride};
    std::string text = "{";
    for (int i = 0; i < 4; ++i) {
      if (i) text += ", ";
      text += number(values[i]);
    }
    return text + "}";
  };
  out << "/* Program " << p.name << ": " << p.num_kernels << " kernels, " << p.num_launches
      << " launches, arena " << p.arena_bytes << " bytes. */\n"
      << "static const char* const " << prefix << "_kernels[] = {" << strings(t.kernels) << "};\n"
      << "static const char* const " << prefix << "_errors[] = {" << strings(t.errors) << "};\n"
      << "/* kind, kernel, threads, f64, transpose_a, transpose_b, a, b, c, m, n, k, batch, from,\n"
      << " * to, bytes, blocks, block_threads, shared_bytes, loop_id, reverse, body, body_count,\n"
      << " * trip_count, node */\n"
      << "static const rnnc_cuda_launch " << prefix << "_launches[] = {\n";
  if (t.launches.empty())
    out << "    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0, 0, 0, "
           "0, 0, 0, 0, \"\"}\n";
  for (const rnnc_cuda_launch& l : t.launches)
    out << "    {" << l.kind << ", " << l.kernel << ", " << l.threads << ", " << l.f64 << ", "
        << l.transpose_a << ", " << l.transpose_b << ", " << l.a << ", " << l.b << ", " << l.c
        << ", " << l.m << ", " << l.n << ", " << l.k << ", " << l.batch << ", " << address(l.from)
        << ", " << address(l.to) << ", " << l.bytes << ", " << l.blocks << ", " << l.block_threads
        << ", " << l.shared_bytes << ", " << l.loop_id << ", " << l.reverse << ", " << l.body
        << ", " << l.body_count << ", " << l.trip_count << ", " << c_string(l.node) << "},\n";
  out << "};\n"
      << "/* placement, external_index, base, loop_id, offset, step_stride */\n"
      << "static const rnnc_cuda_buffer " << prefix << "_buffers[] = {\n";
  if (t.buffers.empty()) out << "    {0, 0, 0, 0, 0, 0}\n";
  for (const rnnc_cuda_buffer& b : t.buffers)
    out << "    {" << b.placement << ", " << b.external_index << ", " << b.base << ", " << b.loop_id
        << ", " << b.offset << ", " << b.step_stride << "},\n";
  out << "};\n";
  auto bytes = [&](const std::string& name, const unsigned char* data, size_t size) {
    out << "static const unsigned char " << prefix << "_" << name << "[" << size + 1
        << "] =" << c_bytes_literal(data, size) << ";\n";
  };
  out << constant_pool_text(t.constants, prefix);
  bytes("cubin", t.cubin.data(), t.cubin.size());
  out << "static const char " << prefix << "_ptx[] =";
  if (t.ptx.empty()) out << " \"\"";
  std::istringstream lines(t.ptx);
  for (std::string line; std::getline(lines, line);) out << "\n    " << c_string(line + "\n");
  out << ";\n"
      << "static const rnnc_cuda_program " << prefix << " = {\n"
      << "    " << c_string(p.name) << ",\n"
      << "    " << prefix << "_kernels, " << p.num_kernels << ",\n"
      << "    " << prefix << "_launches, " << p.num_launches << ", " << p.num_top << ",\n"
      << "    " << prefix << "_buffers, " << p.num_buffers << ", " << p.num_externals << ", "
      << p.num_loops << ", " << p.arena_bytes << ",\n"
      << "    " << prefix << "_constants, " << p.constant_bytes << ",\n"
      << "    " << prefix << "_errors, " << p.num_errors << ",\n"
      << "    " << prefix << "_cubin, " << p.cubin_bytes << ", " << p.cubin_arch << ",\n"
      << "    " << prefix << "_ptx, " << p.toolkit_version << "};\n";
  return out.str();
}

}  // namespace rnnc::cuda
