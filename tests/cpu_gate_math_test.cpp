// A recurrent step's gate math runs in the parallel region of the product next to it
// (fuse_gate_math in codegen/cpu/program_renderer.cpp): the parts split the product by rows,
// and each part applies the gate math to its rows, after its product in a forward step, before
// it in a backward step. Checked for structure (the gate math has no kernel of its own once
// the batch has rows enough) and against the interpreter, in process and with 1 to 4 pool
// threads, whose parts get uneven row tiles (18 rows: five tiles of 4, the last one short).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "codegen/interp/interpreter.h"
#include "ir/printer.h"
#include "runtime/npy.h"
#include "tests/support/compare.h"
#include "tests/support/programs.h"
#include "tests/support/recurrent_layers.h"
#include "tests/support/rendered_ir.h"
#include "tests/support/scratch_dir.h"

#ifdef RNNC_HAVE_CPU
#include "codegen/cpu/cpu_backend.h"

namespace rnnc {
namespace {

using nn::CellKind;
using testir::kernel_calls;

constexpr int64_t kSteps = 5, kInput = 8;

/// A layer of `cell` (f64, kSteps x `batch`, `hidden` units), its outputs and final state;
/// with `gradients`, also the gradients of every parameter and of the input.
testlayers::Problem layer(CellKind cell, int64_t batch, int64_t hidden, bool gradients) {
  return testlayers::recurrent_layer(cell, {.steps = kSteps,
                                            .batch = batch,
                                            .input = kInput,
                                            .hidden = hidden,
                                            .h_n = true,
                                            .gradients = gradients});
}

/// The host's vectors, AVX2's and SSE's.
constexpr const char* kTargets[] = {"", "x86-64-v3", "x86-64-v2"};

/// The compiled problem's outputs against the interpreter's, in f64, for the host's vectors
/// and for AVX2's and SSE's (other register tiles, the same row split).
void expect_matches_interpreter(const testlayers::Problem& p, const std::string& what) {
  for (const char* cpu : kTargets) {
    codegen::CompileOptions options;
    options.target_cpu = cpu;
    testcmp::expect_backend_matches_interpreter(p.model->graph(), "cpu", p.inputs, p.state, 1e-10,
                                                what + " on " + (*cpu ? cpu : "the host"), options);
  }
}

struct Cell {
  CellKind kind;
  const char* name;
  int64_t hidden;  // whole column blocks of f64 (32 on AVX-512), enough work for the pool
  int fused;       // loops (forward, backward) whose gate math joins the product
};

// A GRU's forward step saves one gate's slice into a residual stack between the product and
// the gate math: the gate math makes that copy (fold_slice_copies), so both its steps fuse in
// training. A lecture GRU's second product reads the reset gate of every row, so its forward
// step keeps two kernels.
constexpr Cell kCells[] = {{CellKind::Lstm, "lstm", 64, 2},
                           {CellKind::Gru, "gru", 64, 2},
                           {CellKind::RnnTanh, "rnn", 96, 2},
                           {CellKind::LectureGru, "lecture gru", 64, 1}};

TEST(CpuGateMath, RecurrentStepsRunTheirGateMathInTheProductsRegion) {
  for (const Cell& cell : kCells) {
    // 15 rows are too few to split (kGateMathMinRows): every gate math has its kernel.
    testlayers::Problem few = layer(cell.kind, 15, cell.hidden, true);
    testlayers::Problem enough = layer(cell.kind, 18, cell.hidden, true);
    for (const char* cpu : kTargets) {
      codegen::CompileOptions options;
      options.target_cpu = cpu;
      const std::string what = std::string(cell.name) + " on " + (*cpu ? cpu : "the host");
      const std::string ir_few = cpu::render_llvm_ir(few.model->graph(), options, false);
      const std::string ir_enough = cpu::render_llvm_ir(enough.model->graph(), options, false);
      EXPECT_EQ(kernel_calls(ir_few, "_elementwise_") - kernel_calls(ir_enough, "_elementwise_"),
                cell.fused)
          << what << ir_enough;
      EXPECT_EQ(kernel_calls(ir_few, "_matmul_"), kernel_calls(ir_enough, "_matmul_")) << what;
      if (cell.kind == CellKind::Gru) {  // the residual gate slice: no copy of its own
        EXPECT_EQ(kernel_calls(ir_few, "_layout_slice"), 0) << what << ir_few;
      }
    }
    for (testlayers::Problem* p : {&few, &enough}) expect_matches_interpreter(*p, cell.name);
  }
}

TEST(CpuGateMath, InferenceWritesTheCarryByRows) {
  // Without gradients a GRU's forward step fuses too, and its gate math writes the next h in
  // place into the carry that the product of the next step reads, row by row.
  for (const Cell& cell : kCells) {
    testlayers::Problem p = layer(cell.kind, 18, cell.hidden, false);
    const std::string ir = cpu::render_llvm_ir(p.model->graph(), {}, false);
    if (cell.kind != CellKind::LectureGru) {
      EXPECT_EQ(kernel_calls(ir, "_elementwise_"), 0) << cell.name << ir;
    }
    expect_matches_interpreter(p, cell.name);
  }
}

TEST(CpuGateMath, AnyNumberOfPartsGivesTheInterpretersNumbers) {
  // rnnc run with 1 to 4 pool threads (the pool's size is fixed per process): 18 rows are five
  // row tiles, shared out unevenly, the short last one with the last part.
  namespace fs = std::filesystem;
  for (const Cell& cell : {kCells[0], kCells[1]}) {
    const testdir::ScratchDir scratch("gate_math");
    const fs::path& dir = scratch.path();
    testlayers::Problem p = layer(cell.kind, 18, cell.hidden, true);
    std::ofstream(dir / "model.rnn") << ir::print_graph(p.model->graph());
    write_npy((dir / "x.npy").string(), p.inputs.at("x"));
    auto run = [&](const std::string& how, const std::string& out) {
      testprog::ProgramRun result = testprog::run_program(
          how + " " + testprog::binary("rnnc") + " run " + (dir / "model.rnn").string() +
          " --input x=" + (dir / "x.npy").string() + " --output-dir " + (dir / out).string());
      EXPECT_EQ(result.status, 0) << result.output;
    };
    run("RNNC_THREADS=1", "interp --backend interp");
    for (int threads = 1; threads <= 4; ++threads) {
      const std::string out = "cpu" + std::to_string(threads);
      run("RNNC_THREADS=" + std::to_string(threads), out + " --backend cpu");
      for (const auto& output : p.model->graph().outputs()) {
        const std::string file = output.name + ".npy";
        EXPECT_LE(max_relative_difference(read_npy((dir / out / file).string()),
                                          read_npy((dir / "interp" / file).string())),
                  1e-10)
            << cell.name << " " << output.name << " with " << threads << " threads";
      }
    }
  }
}

}  // namespace
}  // namespace rnnc
#endif
