// `rnnc dump`: every stage of the compiler made observable (text IR, optimized IR, the IR
// after any pass, pass timings, Graphviz, the scheduled program, LLVM IR, CUDA C and PTX).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "codegen/interp/constant_evaluator.h"
#ifdef RNNC_HAVE_CPU
#include "codegen/cpu/cpu_backend.h"
#endif
#ifdef RNNC_HAVE_CUDA
#include "codegen/cuda/cuda_backend.h"
#include "codegen/cuda/cuda_renderer.h"
#endif
#include "ir/dot.h"
#include "ir/error.h"
#include "ir/printer.h"
#include "ir/program.h"
#include "passes/pass_manager.h"
#include "passes/plan_memory.h"
#include "tools/rnnc/commands.h"

namespace rnnc::driver {
namespace {

/// The help text, with the registered passes and the levels' pipelines (from passes.def).
std::string dump_help() {
  std::string help =
      "usage: rnnc dump MODEL.rnn [--emit=ir|opt-ir|program|llvm|cuda|ptx]\n"
      "                 [-O<level> | --passes=P1,...]\n"
      "                 [--print-after=PASS]... [--time-passes] [--no-verify-each]\n"
      "                 [--dot[=FILE]]\n"
      "\n"
      "Parses and verifies MODEL.rnn and prints it as text IR (or Graphviz with --dot).\n"
      "  --emit=ir           the graph as parsed (the default without the options below)\n"
      "  --emit=opt-ir       the graph after the optimization pipeline (-O1 unless told);\n"
      "                      each option below but --dot implies it\n"
      "  --emit=program      the scheduled program: the optimized graph (as for opt-ir)\n"
      "                      lowered by plan-memory to kernels and buffers in one arena,\n"
      "                      with arena, unshared and residual bytes\n"
      "  --emit=llvm         the program rendered as LLVM IR by the CPU backend\n"
      "  --emit=cuda         the program rendered as CUDA C by the CUDA backend, with its\n"
      "                      launch plan (kernels, cuBLAS calls, copies, loops)\n"
      "  --emit=ptx          that CUDA C compiled by NVRTC to PTX for sm_90, with ptxas's\n"
      "                      register and spill report per kernel (no GPU needed)\n"
      "  --cuda-gemm=C       with --emit=cuda|ptx: f32/f64 products by cuBLAS (cublas),\n"
      "                      generated kernels (generated), or per shape (auto, the default;\n"
      "                      the same as setting RNNC_CUDA_GEMM)\n"
      "  -O<level>           run the default pipeline of a level:\n";
  for (const passes::PipelineLevel& level : passes::default_pipelines())
    help += "                        -" + std::string(level.level) + ": " +
            (level.pipeline.empty() ? std::string("(no passes)") : std::string(level.pipeline)) +
            "\n";
  help +=
      "  --passes=P1,P2,...  run these passes in this order instead (see below); ending\n"
      "                      with plan-memory implies --emit=program\n"
      "  --print-after=PASS  print the IR to stderr after each run of PASS\n"
      "                      (repeatable)\n"
      "  --time-passes       print the time each pass took to stderr\n"
      "  --no-verify-each    skip the verifier after each pass\n"
      "  --dot               print Graphviz (DOT) instead of text IR\n"
      "  --dot=FILE          write Graphviz to FILE, and the text IR to stdout\n"
      "\n"
      "passes:\n";
  auto line = [&](std::string_view name, const std::string& description) {
    help += "  " + std::string(name) + std::string(name.size() < 16 ? 16 - name.size() : 1, ' ') +
            description + "\n";
  };
  for (const passes::PassInfo& pass : passes::registered_passes())
    line(pass.name, std::string(pass.description));
  const passes::LoweringInfo& lowering = passes::plan_memory_lowering();
  line(lowering.name, std::string(lowering.description) + " (last item only)");
  return help;
}

/// The default pipeline of -O<level>; an unknown level is an error listing the known ones.
std::string_view pipeline_of_level(const std::string& level) {
  std::string known;
  for (const passes::PipelineLevel& entry : passes::default_pipelines()) {
    if (entry.level == "O" + level) return entry.pipeline;
    known += (known.empty() ? "-" : ", -") + std::string(entry.level);
  }
  throw Error("unknown optimization level -O" + level + " (known: " + known + ")");
}

/// Runs the pipeline the options ask for on `graph` (--passes without a final plan-memory).
void optimize(ir::Graph& graph, const Arguments& arguments, const std::string& passes_text) {
  if (arguments.has("passes") && arguments.has("O"))
    throw Error("give either --passes or -O<level>, not both");
  passes::PassManagerOptions options;
  options.verify_each = !arguments.has("no-verify-each");
  options.time_passes = arguments.has("time-passes");
  passes::PassManager manager(interp::pass_context_with_kernels(), options);
  if (arguments.has("passes")) {
    try {
      manager.add_pipeline(passes_text);
    } catch (const Error& error) {
      throw Error(std::string("--passes: ") + error.what());
    }
  } else {
    manager.add_pipeline(pipeline_of_level(arguments.get("O", "1")));
  }
  for (const std::string& name : arguments.all("print-after")) {
    try {
      manager.print_after(name, std::cerr);
    } catch (const Error& error) {
      throw Error(std::string("--print-after: ") + error.what());
    }
  }
  manager.run(graph);
  if (options.time_passes) manager.print_timing_report(std::cerr);
}

}  // namespace

int dump_command(int argc, char** argv) {
  if (wants_help(argc, argv)) return std::fputs(dump_help().c_str(), stdout), 0;
  Arguments arguments =
      parse_arguments(argc, argv, 2, {"emit", "passes", "print-after", "O", "cuda-gemm"},
                      {"time-passes", "no-verify-each"}, {"dot"});
  // The options that shape the pipeline ask for opt-ir themselves; with --emit=ir they
  // contradict it.
  const std::vector<std::string> pipeline_options = {"passes", "print-after", "time-passes",
                                                     "no-verify-each", "O"};
  std::string given;
  for (const std::string& option : pipeline_options)
    if (given.empty() && arguments.has(option)) given = option == "O" ? "-O<level>" : "--" + option;
  // --passes may end with plan-memory: then it asks for the program.
  passes::PipelineWithLowering pipeline;
  try {
    pipeline = passes::split_lowering(arguments.get("passes"));
  } catch (const Error& error) {
    throw Error(std::string("--passes: ") + error.what());
  }
  std::string emit = arguments.get("emit", pipeline.plan_memory ? "program"
                                           : given.empty()      ? "ir"
                                                                : "opt-ir");
  const bool renders = emit == "llvm" || emit == "cuda" || emit == "ptx";
  if (emit != "ir" && emit != "opt-ir" && emit != "program" && !renders)
    throw Error("--emit=" + emit +
                " is not supported (supported: ir, opt-ir, program, llvm, cuda, ptx)");
#ifndef RNNC_HAVE_CPU
  if (emit == "llvm") throw Error("--emit=llvm needs the CPU backend, which this rnnc lacks");
#endif
#ifndef RNNC_HAVE_CUDA
  if (emit == "cuda" || emit == "ptx")
    throw Error("--emit=" + emit + " needs the CUDA backend, which this rnnc lacks");
#endif
  if (emit == "ir" && !given.empty())
    throw Error(given + " runs passes, which --emit=ir does not (use --emit=opt-ir)");
  if (pipeline.plan_memory && emit != "program" && !renders)
    throw Error("--passes ends with plan-memory, which makes a program: use --emit=program");
  if (arguments.has("cuda-gemm")) {
    if (emit != "cuda" && emit != "ptx")
      throw Error("--cuda-gemm applies only to --emit=cuda and --emit=ptx");
#ifdef RNNC_HAVE_CUDA
    // The renderer reads the choice from the environment (cuda::GemmChoice::automatic).
    const std::string choice = arguments.get("cuda-gemm");
    cuda::parse_gemm_choice(choice, "--cuda-gemm");
    setenv("RNNC_CUDA_GEMM", choice.c_str(), 1);
#endif
  }
  if ((emit == "program" || renders) && arguments.has("dot"))
    throw Error("--dot draws a graph, not a program: use it with --emit=ir or --emit=opt-ir");
  auto graph = load_model(arguments, dump_help());
  if (emit != "ir") optimize(*graph, arguments, pipeline.passes);
  if (emit == "program") {
    std::cout << ir::print_program(passes::plan_memory(*graph));
    return 0;
  }
#ifdef RNNC_HAVE_CPU
  if (emit == "llvm") {
    // The graph is optimized above as the options ask: no second pipeline.
    codegen::CompileOptions options;
    options.pipeline_level = "O0";
    std::cout << cpu::render_llvm_ir(*graph, options, /*optimized=*/false);
    return 0;
  }
#endif
#ifdef RNNC_HAVE_CUDA
  if (emit == "cuda") {
    std::cout << cuda::render_source(passes::plan_memory(*graph));
    return 0;
  }
  if (emit == "ptx") {
    std::cout << cuda::render_ptx(passes::plan_memory(*graph), "sm_90");
    return 0;
  }
#endif

  std::string dot_file = arguments.get("dot");
  if (arguments.has("dot") && dot_file.empty()) {
    std::cout << ir::print_dot(*graph);
    return 0;
  }
  if (!dot_file.empty()) {
    std::ofstream out(dot_file);
    if (!out) throw Error("cannot write " + dot_file);
    out << ir::print_dot(*graph);
    if (!out.flush()) throw Error("cannot write " + dot_file);
  }
  std::cout << ir::print_graph(*graph);
  return 0;
}

}  // namespace rnnc::driver
