#pragma once
// Running graphs through plan_memory -> render_cuda -> the CUDA emulator and comparing with the
// interpreter, many at once: the sources of a batch compile into one host library.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "codegen/cuda/cuda_renderer.h"
#include "codegen/interp/constant_evaluator.h"
#include "codegen/interp/interpreter.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"
#include "passes/plan_memory.h"
#include "tests/support/cuda_emulator.h"

namespace rnnc::testemu {

/// How a graph is rendered: the pipeline level before planning and the renderer's options.
struct Variant {
  std::string level = "O1";
  bool persistent = false;  ///< RenderOptions::persistent_scans
  /// The persistent grid: small, so the emulator's threads are few.
  int64_t blocks = 2, block_threads = 32;
  /// RenderOptions::gemm. cuBLAS by default here: the emulator computes cuBLAS products
  /// naively and fast, while a generated product kernel synchronizes its threads, so each of
  /// its launches runs a std::thread per emulated thread (milliseconds a launch, which in the
  /// loops of the models' tests adds minutes); tests/cuda_gemm_test.cpp runs those kernels.
  cuda::GemmChoice gemm = cuda::GemmChoice::cublas;
};

/// The render options of `variant`.
inline cuda::RenderOptions render_options(const Variant& variant) {
  cuda::RenderOptions options;
  options.persistent_scans = variant.persistent;
  options.persistent_blocks = variant.blocks;
  options.persistent_block_threads = variant.block_threads;
  options.gemm = variant.gemm;
  return options;
}

inline std::string describe(const Variant& variant) {
  const std::string gemm = variant.gemm == cuda::GemmChoice::cublas
                               ? ""
                               : std::string(" gemm=") + cuda::gemm_choice_name(variant.gemm);
  if (!variant.persistent) return variant.level + gemm;
  return variant.level + " persistent " + std::to_string(variant.blocks) + "x" +
         std::to_string(variant.block_threads) + gemm;
}

/// A graph optimized, planned and rendered, ready for the emulator (and what it needs alive).
struct Rendered {
  std::unique_ptr<ir::Graph> graph;  ///< the optimized copy the program was planned from
  ir::Program program;
  cuda::RenderedCuda rendered;
};

/// `graph` optimized at `level`, planned and rendered with `options`.
inline std::unique_ptr<Rendered> render(const ir::Graph& graph, const std::string& level,
                                        const cuda::RenderOptions& options) {
  auto result = std::make_unique<Rendered>();
  result->graph = ir::parse_graph(ir::print_graph(graph), graph.name());
  passes::PassManager manager(interp::pass_context_with_kernels());
  manager.add_pipeline(passes::default_pipeline(level));
  manager.run(*result->graph);
  result->program = passes::plan_memory(*result->graph);
  result->rendered = cuda::render_cuda(result->program, options);
  return result;
}

/// `graph` optimized at `variant.level`, planned and rendered.
inline std::unique_ptr<Rendered> render(const ir::Graph& graph, const Variant& variant) {
  return render(graph, variant.level, render_options(variant));
}

/// How many persistent launches `plan` holds.
inline int count_persistent(const std::vector<cuda::Launch>& plan) {
  int count = 0;
  for (const cuda::Launch& launch : plan)
    count += (launch.kind == cuda::Launch::Kind::persistent) + count_persistent(launch.body);
  return count;
}

/// What max_relative_difference lets pass: NaN against infinity, an infinity against another
/// or against a finite value; and, when `strict`, any relative difference over `tolerance` of
/// small values (max_relative_difference is absolute below 1).
inline void expect_same_specials(const Tensor& expected, const Tensor& actual, double tolerance,
                                 bool strict, const std::string& name) {
  int reported = 0;
  for (int64_t i = 0; i < expected.num_elements() && reported < 5; ++i) {
    const double want = expected.get(i), got = actual.get(i);
    bool same = true;
    if (std::isnan(want) || std::isnan(got))
      same = std::isnan(want) && std::isnan(got);
    else if (std::isinf(want) || std::isinf(got))
      same = want == got;
    else if (strict)
      same = std::abs(want - got) <= tolerance * std::max(std::abs(want), std::abs(got));
    if (!same) {
      ADD_FAILURE() << name << "[" << i << "]: expected " << want << ", got " << got;
      ++reported;
    }
  }
}

/// The outputs of a run and the state after it as "state.NAME".
inline Bindings run_all(Executable& executable, const Bindings& inputs, Bindings state) {
  Bindings results = executable.run(inputs, state);
  for (auto& [name, tensor] : state) results["state." + name] = tensor;
  return results;
}

/// Graphs to check against the interpreter, rendered in several variants and compiled for the
/// emulator in one library.
class Batch {
 public:
  /// Adds `graph` (which must outlive the batch) with its data, in every one of `variants`.
  /// f32 results must agree within `f32_tolerance` relative, f64 within 1e-9, i32 exactly
  /// (relative to at least 1 unless `strict`); NaN and infinities exactly.
  void add(const std::string& name, const ir::Graph& graph, const Bindings& inputs,
           const Bindings& state, const std::vector<Variant>& variants, double f32_tolerance = 1e-5,
           bool strict = false) {
    for (const Variant& variant : variants) {
      Entry entry;
      entry.group = groups_;
      entry.label = name + " (" + describe(variant) + ")";
      entry.original = &graph;
      entry.inputs = inputs;
      entry.state = state;
      entry.f32_tolerance = f32_tolerance;
      entry.strict = strict;
      try {
        entry.rendered = render(graph, variant);
      } catch (const std::exception& error) {
        ADD_FAILURE() << entry.label << ": " << error.what();
        continue;
      }
      entries_.push_back(std::move(entry));
    }
    ++groups_;
  }

  /// Compiles every entry, runs it on the emulator and on the interpreter, and compares.
  void check(const cuda_emulation::EmulationOptions& options = {}) {
    std::vector<const cuda::RenderedCuda*> renders;
    for (const Entry& entry : entries_) renders.push_back(&entry.rendered->rendered);
    std::vector<std::shared_ptr<const cuda_emulation::CompiledEmulation>> code;
    try {
      code = cuda_emulation::compile_emulations(renders);
    } catch (const std::exception& error) {
      FAIL() << error.what();
    }
    Bindings want;
    for (size_t n = 0; n < entries_.size(); ++n) {
      const Entry& entry = entries_[n];
      SCOPED_TRACE(entry.label);
      const auto start = std::chrono::steady_clock::now();
      // Variants of one graph share the interpreter's run.
      if (n == 0 || entries_[n - 1].group != entry.group) {
        interp::Interpreter interpreter(*entry.original);
        want = run_all(interpreter, entry.inputs, entry.state);
      }
      const auto interpreted = std::chrono::steady_clock::now();
      Bindings got;
      try {
        cuda_emulation::EmulatedCuda emulated(*entry.rendered->graph, entry.rendered->program,
                                              entry.rendered->rendered, code[n], options);
        got = run_all(emulated, entry.inputs, entry.state);
        // Once more with the threads of ordinary kernels in the other order and persistent
        // scans replayed as their fallback loops: the same results.
        cuda_emulation::EmulationOptions other = options;
        other.reverse_thread_order = !options.reverse_thread_order;
        other.run_persistent_kernels = false;
        cuda_emulation::EmulatedCuda again(*entry.rendered->graph, entry.rendered->program,
                                           entry.rendered->rendered, code[n], other);
        Bindings second = run_all(again, entry.inputs, entry.state);
        for (const auto& [name, tensor] : second)
          EXPECT_LE(max_relative_difference(tensor, got.at(name)),
                    tensor.dtype() == ir::DType::f32 ? entry.f32_tolerance : 1e-9)
              << name << " (threads in reverse order, persistent scans as loops)";
      } catch (const std::exception& error) {
        ADD_FAILURE() << error.what();
        continue;
      }
      if (const char* folder = std::getenv("RNNC_EMULATION_DUMP")) {
        // The source and plan of every entry, for reading a failure.
        std::string name = entry.label;
        for (char& c : name)
          if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        std::ofstream(std::string(folder) + "/" + name + ".cu")
            << entry.rendered->rendered.source << "\n/*\n"
            << cuda::print_plan(entry.rendered->rendered, entry.rendered->program) << "\n"
            << ir::print_program(entry.rendered->program) << "*/\n";
      }
      if (std::getenv("RNNC_EMULATION_VERBOSE")) {
        const auto end = std::chrono::steady_clock::now();
        std::printf("%s: %zu kernels, %d persistent; interpreter %.3f s, emulator %.3f s\n",
                    entry.label.c_str(), entry.rendered->rendered.kernels.size(),
                    count_persistent(entry.rendered->rendered.plan),
                    std::chrono::duration<double>(interpreted - start).count(),
                    std::chrono::duration<double>(end - interpreted).count());
      }
      ASSERT_EQ(want.size(), got.size());
      for (const auto& [name, expected] : want) {
        ASSERT_TRUE(got.count(name)) << name;
        const Tensor& actual = got.at(name);
        ASSERT_EQ(actual.type(), expected.type()) << name;
        const double tolerance = expected.dtype() == ir::DType::f32   ? entry.f32_tolerance
                                 : expected.dtype() == ir::DType::f64 ? 1e-9
                                                                      : 0.0;
        EXPECT_LE(max_relative_difference(actual, expected), tolerance) << name;
        expect_same_specials(expected, actual, tolerance, entry.strict, name);
      }
    }
  }

  /// How many rendered programs the batch holds.
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string label;
    int group = 0;  ///< entries of one add() (one graph, one set of data)
    const ir::Graph* original = nullptr;
    Bindings inputs, state;
    double f32_tolerance = 1e-5;
    bool strict = false;  ///< relative differences of small values count too
    std::unique_ptr<Rendered> rendered;
  };
  std::vector<Entry> entries_;
  int groups_ = 0;
};

/// `graph` rendered in `variant` and made runnable by the emulator, with what it needs alive.
struct Emulated {
  std::unique_ptr<Rendered> rendered;
  std::unique_ptr<cuda_emulation::EmulatedCuda> executable;
};

inline Emulated emulate(const ir::Graph& graph, const Variant& variant = {}) {
  Emulated result;
  result.rendered = render(graph, variant);
  auto code = cuda_emulation::compile_emulations({&result.rendered->rendered});
  result.executable = std::make_unique<cuda_emulation::EmulatedCuda>(
      *result.rendered->graph, result.rendered->program, result.rendered->rendered, code.at(0));
  return result;
}

}  // namespace rnnc::testemu
