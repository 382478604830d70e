// `rnnc compile`: a model compiled ahead of time into a self-contained C library (a header, an
// object file, a static and a shared library; codegen/cpu/aot.h, docs/aot.md).
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "codegen/aot/library.h"
#include "ir/error.h"
#include "tools/rnnc/commands.h"
#ifdef RNNC_HAVE_CPU
#include "codegen/cpu/aot.h"
#endif
#ifdef RNNC_HAVE_CUDA
#include "codegen/cuda/cuda_aot.h"
#include "codegen/cuda/cuda_renderer.h"
#endif
#include "frontend/losses.h"
#include "frontend/optimizers.h"
#include "frontend/training.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"

namespace rnnc::driver {
namespace {

const char* kCompileHelp =
    "usage: rnnc compile MODEL -o DIR [--name NAME] [-O0|-O1] [--target cpu|cuda]\n"
    "                    [--target-cpu CPU] [--keep-denormals] [--repack-weights]\n"
    "                    [--cuda-arch sm_XY]\n"
    "                    [--cuda-gemm C] [--cc CC]\n"
    "                    [--train-model TRAIN.rnn |\n"
    "                     --train --loss mse|bce|cross-entropy [--output NAME]\n"
    "                             [--optimizer SPEC] [--clip-norm X]]\n"
    "\n"
    "Compiles MODEL (text IR, or ONNX when it ends in .onnx) ahead of time for this CPU into\n"
    "folder DIR: NAME.h (the C API, every shape a #define), NAME.o, NAME_runtime.c, libNAME.a\n"
    "and libNAME.so. The library needs only libc, libm and OpenBLAS at run time. It is built\n"
    "in a temporary folder and renamed into place, so a failure leaves nothing behind.\n"
    "  -o DIR              the output folder (created when missing)\n"
    "  --name NAME         the prefix of every C symbol (default: the graph's name, or the\n"
    "                      ONNX file's name)\n"
    "  -O<level>           the graph optimization pipeline (default -O1)\n"
    "  --target T          cpu (default): machine code through LLVM, needing OpenBLAS;\n"
    "                      cuda: a GPU library (NAME.c embeds the CUBIN and PTX NVRTC made;\n"
    "                      it loads the CUDA driver and cuBLAS at run time), same header\n"
    "  --cuda-arch sm_XY   --target cuda: the CUBIN's architecture (default sm_90); the PTX\n"
    "                      serves newer GPUs\n"
    "  --cuda-gemm C       --target cuda: f32/f64 products by cuBLAS (cublas), generated\n"
    "                      kernels (generated: the library never loads cuBLAS), or per\n"
    "                      shape (auto, the default; the same as setting RNNC_CUDA_GEMM)\n"
    "  --target-cpu CPU    an LLVM CPU name (x86-64-v3, skylake-avx512, znver4, ...);\n"
    "                      default: this machine's CPU with exactly its features\n"
    "  --keep-denormals    compute with IEEE denormal floats (default: flushed to zero while\n"
    "                      the library runs, as TensorFlow does; on Intel cores every\n"
    "                      operation on a denormal costs a microcode assist)\n"
    "  --repack-weights    pack the weights for the products on every call (default: the\n"
    "                      forward function packs them once and keeps them in the context\n"
    "                      until NAME_parameter, NAME_load, NAME_reset or a training step)\n"
    "  --cc CC             the C compiler building the runtime and libraries (default: $CC,\n"
    "                      else cc)\n"
    "  --train-model FILE  also compile FILE, a training step of the same model (text IR),\n"
    "                      as NAME_train_step; the two share parameters by name\n"
    "  --train             derive NAME_train_step from MODEL: a new input 'labels', the loss\n"
    "                      of output --output (needed when MODEL has several outputs), its\n"
    "                      gradients, clipping and the optimizer's update\n"
    "  --loss L            mse or bce (labels typed as the output), cross-entropy (i32\n"
    "                      labels: the output's shape without its last, class, axis)\n"
    "  --optimizer SPEC    sgd, adagrad, rmsprop, adam, with hyper-parameters as in\n"
    "                      'adagrad:lr=0.1' or 'sgd:lr=0.1,momentum=0.9' (default: sgd)\n"
    "  --clip-norm X       clip the gradients by global norm X (adds output grad_norm)\n"
    "\n"
    "Parameters start as the model declares them (init, seed), or at an ONNX model's\n"
    "initializers; NAME_load and NAME_save read and write them (see NAME.h).\n";

/// `text` made a C identifier for the library's name ("char-lstm" -> "char_lstm").
std::string default_name(const std::string& text) {
  std::string name;
  for (unsigned char c : text) name += std::isalnum(c) ? static_cast<char>(c) : '_';
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) name = "model_" + name;
  return aot::is_valid_library_name(name) ? name : "model";
}

double parse_positive(const std::string& text, const char* option) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(value > 0) || value > 1e30)
    throw Error(std::string("--") + option + " expects a positive number, got '" + text + "'");
  return value;
}

/// The training step of `forward` that --train describes: a copy of it with input "labels",
/// the loss, and make_training_step's gradients, clipping and updates.
std::unique_ptr<ir::Graph> derive_training_step(const ir::Graph& forward,
                                                const Arguments& arguments) {
  auto train = ir::parse_graph(ir::print_graph(forward), forward.name());
  if (!arguments.has("loss"))
    throw Error("--train needs --loss (mse, bce or cross-entropy)\n\n" + std::string(kCompileHelp));
  std::string loss_name = arguments.get("loss");
  ir::Value* prediction = nullptr;
  if (arguments.has("output")) {
    prediction = train->output(arguments.get("output"));
    if (!prediction)
      throw Error("--output: the model has no output named '" + arguments.get("output") + "'");
  } else {
    if (train->outputs().size() != 1)
      throw Error("the model has " + std::to_string(train->outputs().size()) +
                  " outputs: name the one the loss compares with the labels with --output");
    prediction = train->outputs()[0].value;
  }
  if (!ir::is_float(prediction->dtype()))
    throw Error("the output the loss reads is " + prediction->type().to_string() +
                ", not a float tensor");
  if (train->find("labels"))
    throw Error(
        "--train adds an input named 'labels', but the model already has a value of "
        "that name");

  ir::Value* loss = nullptr;
  if (loss_name == "cross-entropy") {
    if (prediction->type().rank() < 1)
      throw Error("cross-entropy needs logits with a class axis, got " +
                  prediction->type().to_string());
    ir::Shape shape(prediction->shape().begin(), prediction->shape().end() - 1);
    ir::Value* labels = train->add_input("labels", {ir::DType::i32, shape});
    loss = nn::cross_entropy(prediction, labels);
  } else if (loss_name == "mse" || loss_name == "bce") {
    ir::Value* labels = train->add_input("labels", prediction->type());
    loss = loss_name == "mse" ? nn::mse(prediction, labels) : nn::bce(prediction, labels);
  } else {
    throw Error("unknown loss '" + loss_name + "' (known: mse, bce, cross-entropy)");
  }
  nn::TrainingConfig config;
  config.optimizer = nn::OptimizerConfig::parse(arguments.get("optimizer", "sgd"));
  if (arguments.has("clip-norm"))
    config.clip_norm = parse_positive(arguments.get("clip-norm"), "clip-norm");
  nn::make_training_step(*train, loss, config);
  ir::verify(*train);
  return train;
}

}  // namespace

int compile_command(int argc, char** argv) {
  if (wants_help(argc, argv)) return std::fputs(kCompileHelp, stdout), 0;
  // "-o DIR" is the one short option; the parser knows long ones.
  std::vector<std::string> words(argv, argv + argc);
  for (std::string& word : words)
    if (word == "-o") word = "--output-dir";
  std::vector<char*> pointers;
  for (std::string& word : words) pointers.push_back(word.data());
  Arguments arguments =
      parse_arguments(argc, pointers.data(), 2,
                      {"output-dir", "name", "O", "target", "target-cpu", "cuda-arch", "cuda-gemm",
                       "cc", "train-model", "loss", "output", "optimizer", "clip-norm"},
                      {"train", "keep-denormals", "repack-weights"});
  if (arguments.positional.size() != 1)
    throw Error("expected one model file\n\n" + std::string(kCompileHelp));
  if (!arguments.has("output-dir"))
    throw Error("-o DIR is required\n\n" + std::string(kCompileHelp));
  bool train = arguments.has("train");
  if (train && arguments.has("train-model"))
    throw Error("--train and --train-model exclude each other");
  for (const char* option : {"loss", "output", "optimizer", "clip-norm"})
    if (!train && arguments.has(option))
      throw Error(std::string("--") + option + " applies only with --train");
  const std::string target = arguments.get("target", "cpu");
  if (target != "cpu" && target != "cuda")
    throw Error("--target expects cpu or cuda, got '" + target + "'");
  if (target == "cuda" && arguments.has("target-cpu"))
    throw Error("--target-cpu applies only to --target cpu");
  if (target == "cuda" && arguments.has("keep-denormals"))
    throw Error("--keep-denormals applies only to --target cpu");
  if (target == "cpu" && arguments.has("cuda-arch"))
    throw Error("--cuda-arch applies only to --target cuda");
  if (target == "cpu" && arguments.has("cuda-gemm"))
    throw Error("--cuda-gemm applies only to --target cuda");
#ifdef RNNC_HAVE_CUDA
  if (arguments.has("cuda-gemm")) {
    // The renderer reads the choice from the environment (cuda::GemmChoice::automatic).
    const std::string choice = arguments.get("cuda-gemm");
    cuda::parse_gemm_choice(choice, "--cuda-gemm");
    setenv("RNNC_CUDA_GEMM", choice.c_str(), 1);
  }
#endif
#ifndef RNNC_HAVE_CPU
  if (target == "cpu")
    throw Error(
        "this rnnc was built without the CPU backend (LLVM 19 and OpenBLAS), which "
        "`rnnc compile --target cpu` needs (try --target cuda)");
#endif
#ifndef RNNC_HAVE_CUDA
  if (target == "cuda")
    throw Error(
        "this rnnc was built without the CUDA backend (the CUDA toolkit's NVRTC), which "
        "`rnnc compile --target cuda` needs");
#endif
  const std::string& path = arguments.positional[0];
  ModelFile model = load_model_file(path);
  std::unique_ptr<ir::Graph> train_graph;
  if (arguments.has("train-model")) {
    train_graph = load_model_file(arguments.get("train-model")).graph;
  } else if (train) {
    train_graph = derive_training_step(*model.graph, arguments);
  }
  std::string stem = std::filesystem::path(path).stem().string();
  if (size_t dot = stem.find('.'); dot != std::string::npos) stem = stem.substr(0, dot);
  const std::string name = arguments.has("name")
                               ? arguments.get("name")
                               : default_name(is_onnx_path(path) ? stem : model.graph->name());
  const std::string level = arguments.get("O", "1").empty() ? "O1" : "O" + arguments.get("O", "1");
  passes::default_pipeline(level);  // an unknown level fails here
  const char* cc = std::getenv("CC");
  const std::string c_compiler = arguments.get("cc", cc && *cc ? cc : "cc");
  std::string description = path;
  if (arguments.has("train-model")) description += " + " + arguments.get("train-model");

  std::vector<std::string> files;
  int64_t parameter_bytes = 0, forward_arena = 0, train_arena = 0;
  if (target == "cpu") {
#ifdef RNNC_HAVE_CPU
    cpu::AotOptions options;
    options.name = name;
    options.pipeline_level = level;
    options.target_cpu = arguments.get("target-cpu");
    options.flush_denormals = !arguments.has("keep-denormals");
    options.cache_parameter_packs = !arguments.has("repack-weights");
    options.c_compiler = c_compiler;
    options.source_description = description;
    cpu::AotResult result = cpu::compile_library(*model.graph, train_graph.get(), model.parameters,
                                                 arguments.get("output-dir"), options);
    files = result.files;
    parameter_bytes = result.parameter_bytes;
    forward_arena = result.forward_arena_bytes;
    train_arena = result.train_arena_bytes;
#endif
  } else {
#ifdef RNNC_HAVE_CUDA
    cuda::CudaAotOptions options;
    options.name = name;
    options.pipeline_level = level;
    options.architecture = arguments.get("cuda-arch", "sm_90");
    options.c_compiler = c_compiler;
    options.source_description = description;
    cuda::CudaAotResult result = cuda::compile_library(
        *model.graph, train_graph.get(), model.parameters, arguments.get("output-dir"), options);
    files = result.files;
    parameter_bytes = result.parameter_bytes;
    forward_arena = result.forward_arena_bytes;
    train_arena = result.train_arena_bytes;
#endif
  }
  std::printf("rnnc compile: %s (%s): parameters %lld bytes, forward arena %lld bytes",
              name.c_str(), target.c_str(), static_cast<long long>(parameter_bytes),
              static_cast<long long>(forward_arena));
  if (train_graph)
    std::printf(", train_step arena %lld bytes", static_cast<long long>(train_arena));
  std::printf("\n");
  for (const std::string& file : files) std::printf("  %s\n", file.c_str());
  return 0;
}

}  // namespace rnnc::driver
