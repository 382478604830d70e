// The driver's train and bench commands, and run on ONNX models and int64 inputs, end to end:
// results checked against the same work done in process on the interpreter, and clear
// errors on bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/backend.h"
#include "ir/parser.h"
#include "runtime/dataset.h"
#include "runtime/initializers.h"
#include "runtime/npy.h"
#include "runtime/random.h"
#include "tests/support/programs.h"

namespace rnnc {
namespace {

using Outcome = testprog::ProgramRun;

Outcome run_driver(const std::string& arguments) {
  return testprog::run_program(testprog::binary("rnnc") + " " + arguments);
}

const std::string kModels = std::string(RNNC_SOURCE_DIR) + "/examples/models/";
const std::string kDiabetesTrain = kModels + "diabetes.train.rnn";

/// A fresh, empty folder for one test (tests run in parallel processes).
std::string fresh_folder(const std::string& name) {
  std::string path = ::testing::TempDir() + "rnnc_driver_train_" + name;
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool has_backend(const std::string& name) {
  for (const std::string& backend : codegen::available_backends())
    if (backend == name) return true;
  return false;
}

/// A diabetes-shaped dataset, mostly positive: x [n, 8] uniform in [-1, 1), y [n, 1] = 1 where a
/// fixed linear function of x is positive.
struct DiabetesData {
  Tensor x, y;
};

DiabetesData diabetes_data(int64_t n) {
  Rng rng(7);
  DiabetesData data{Tensor(DType::f32, {n, 8}), Tensor(DType::f32, {n, 1})};
  const double weights[8] = {1.0, -0.8, 0.6, 0.0, 0.5, -0.3, 0.9, -1.1};
  for (int64_t i = 0; i < n; ++i) {
    double sum = 1.5;  // about 90% positive
    for (int64_t j = 0; j < 8; ++j) {
      double value = rng.uniform(-1, 1);
      data.x.set(i * 8 + j, value);
      sum += weights[j] * value;
    }
    data.y.set(i, sum > 0 ? 1 : 0);
  }
  return data;
}

/// Writes the data of `n` examples as x.npy and y.npy in `folder`; returns the --data options.
std::string write_diabetes_data(const std::string& folder, int64_t n) {
  DiabetesData data = diabetes_data(n);
  write_npy(folder + "/x.npy", data.x);
  write_npy(folder + "/y.npy", data.y);
  return " --data x=" + folder + "/x.npy --data y=" + folder + "/y.npy";
}

/// The rows of a "step,epoch,loss" CSV; fails the test on a malformed line.
std::vector<std::vector<double>> parse_curve(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "step,epoch,loss");
  std::vector<std::vector<double>> rows;
  while (std::getline(lines, line)) {
    std::vector<double> row;
    std::istringstream fields(line);
    std::string field;
    while (std::getline(fields, field, ',')) row.push_back(std::stod(field));
    EXPECT_EQ(row.size(), 3u) << line;
    rows.push_back(row);
  }
  return rows;
}

TEST(DriverTrain, TrainsDiabetesLikeTheInterpreterInProcess) {
  const int64_t kExamples = 200, kBatch = 32, kEpochs = 20;  // 6 steps an epoch, 8 dropped
  std::string folder = fresh_folder("diabetes");
  std::string data = write_diabetes_data(folder, kExamples);
  Outcome outcome =
      run_driver("train " + kDiabetesTrain + data + " --epochs 20 --no-shuffle --backend interp" +
                 " --batch-size 32 --curve " + folder + "/curve.csv --curve-svg " + folder +
                 "/curve.svg --save-params " + folder + "/params");
  ASSERT_EQ(outcome.status, 0) << outcome.output;
  // stderr is a pipe here: one plain line per epoch.
  EXPECT_NE(outcome.output.find("epoch 1/20: 6 steps, mean loss "), std::string::npos)
      << outcome.output;
  EXPECT_NE(outcome.output.find("epoch 20/20: 6 steps"), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find("steps/s"), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find("8 of 200 examples sit out each epoch"), std::string::npos)
      << outcome.output;

  // The same training in process, on the interpreter: batches in order, full ones only.
  auto graph = ir::parse_graph_file(kDiabetesTrain);
  Bindings state = initialize_parameters(*graph);
  Bindings initial = state;
  auto executable = codegen::compile(*graph, "interp");
  DiabetesData arrays = diabetes_data(kExamples);
  Dataset dataset;
  dataset.add_column("x", arrays.x);
  dataset.add_column("y", arrays.y);
  std::vector<double> losses;
  for (int64_t epoch = 0; epoch < kEpochs; ++epoch)
    for (const auto& rows : make_batches(kExamples, kBatch, false, 0, true))
      losses.push_back(executable->run(dataset.batch(rows, kBatch), state).at("loss").get(0));

  std::vector<std::vector<double>> curve = parse_curve(read_text(folder + "/curve.csv"));
  ASSERT_EQ(curve.size(), losses.size());
  for (size_t i = 0; i < curve.size(); ++i) {
    EXPECT_EQ(curve[i][0], static_cast<double>(i + 1));
    EXPECT_EQ(curve[i][1], static_cast<double>(i / 6 + 1));
    EXPECT_NEAR(curve[i][2], losses[i], 1e-6 * std::abs(losses[i])) << "step " << i + 1;
  }
  double first_epoch = 0, last_epoch = 0;
  for (size_t i = 0; i < 6; ++i) {
    first_epoch += curve[i][2] / 6;
    last_epoch += curve[curve.size() - 6 + i][2] / 6;
  }
  EXPECT_LT(last_epoch, first_epoch - 0.1) << "the loss decreases";

  for (const auto& [name, tensor] : state) {
    Tensor saved = read_npy(folder + "/params/" + name + ".npy");
    EXPECT_EQ(saved.type(), tensor.type()) << name;
    EXPECT_EQ(saved.to_doubles(), tensor.to_doubles()) << name;
    EXPECT_NE(saved.to_doubles(), initial.at(name).to_doubles()) << name << " was trained";
  }

  std::string svg = read_text(folder + "/curve.svg");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u) << svg;
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_NE(svg.find("diabetes.train.rnn: training loss"), std::string::npos);
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '<') - std::count(svg.begin(), svg.end(), '>'), 0);
  size_t polyline = svg.find("<polyline");
  ASSERT_NE(polyline, std::string::npos);
  size_t points = svg.find("points=\"", polyline) + 8;
  std::string coordinates = svg.substr(points, svg.find('"', points) - points);
  EXPECT_EQ(std::count(coordinates.begin(), coordinates.end(), ','), 120) << "one point a step";
}

TEST(DriverTrain, CpuBackendTrainsLikeTheInterpreter) {
  if (!has_backend("cpu")) GTEST_SKIP() << "no cpu backend in this build";
  std::string folder = fresh_folder("backends");
  std::string data = write_diabetes_data(folder, 96);
  for (const char* backend : {"interp", "cpu"}) {
    Outcome outcome =
        run_driver("train " + kDiabetesTrain + data + " --epochs 3 --seed 5 --quiet" +
                   " --backend " + backend + " --save-params " + folder + "/" + backend);
    ASSERT_EQ(outcome.status, 0) << backend << ": " << outcome.output;
    EXPECT_EQ(outcome.output.find("epoch 1/3"), std::string::npos) << "--quiet: no progress";
    EXPECT_NE(outcome.output.find("trained "), std::string::npos) << outcome.output;
  }
  for (const char* name : {"l1.weight", "l1.bias", "l2.weight", "l2.bias", "l3.weight"}) {
    std::vector<double> interp = read_npy(folder + "/interp/" + name + ".npy").to_doubles();
    std::vector<double> cpu = read_npy(folder + "/cpu/" + name + ".npy").to_doubles();
    ASSERT_EQ(interp.size(), cpu.size());
    for (size_t i = 0; i < cpu.size(); ++i) EXPECT_NEAR(cpu[i], interp[i], 1e-4) << name;
  }
}

TEST(DriverTrain, BadTrainingInputsAreClearErrors) {
  std::string folder = fresh_folder("bad");
  std::string data = write_diabetes_data(folder, 64);
  write_npy(folder + "/y_short.npy", Tensor(DType::f32, {50, 1}));
  write_npy(folder + "/x_wide.npy", Tensor(DType::f32, {64, 9}));
  write_npy(folder + "/x_f64.npy", Tensor(DType::f64, {64, 8}));
  std::ofstream(folder + "/a_file") << "not a folder";
  std::string x = " --data x=" + folder + "/x.npy";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {kDiabetesTrain, "no --data given"},
      {kDiabetesTrain + x, "missing --data y=FILE.npy for input 'y' (f32[32, 1])"},
      {kDiabetesTrain + x + " --data y=" + folder + "/y_short.npy",
       "--data arrays hold different numbers of examples: 'x' has 64, 'y' has 50"},
      {kDiabetesTrain + " --data x=" + folder + "/x_wide.npy",
       "the array is f32[64, 9] but input 'x' (f32[32, 8]) takes f32[N, 8], N examples"},
      {kDiabetesTrain + " --data x=" + folder + "/x_f64.npy", "the array is f64[64, 8]"},
      {kDiabetesTrain + data + " --data z=" + folder + "/x.npy",
       "--data z: the model has no input named 'z' (its inputs: x, y)"},
      {kDiabetesTrain + data + " --batch-size 16", "is built for batches of 32"},
      {kDiabetesTrain + data + " --epochs two", "--epochs expects a non-negative integer"},
      {kModels + "diabetes.forward.rnn" + x, "is not a training-step graph (it needs updates)"},
      {kDiabetesTrain + data + " --curve " + folder + "/a_file/curve.csv",
       "--curve: cannot write " + folder + "/a_file/curve.csv"},
      {kDiabetesTrain + data + " --save-params " + folder + "/a_file",
       "--save-params: cannot create folder " + folder + "/a_file"},
      {kDiabetesTrain + data + " --backend tpu", "tpu"},
  };
  for (const auto& [options, message] : cases) {
    Outcome outcome = run_driver("train " + options);
    EXPECT_EQ(outcome.status, 1) << options << ": " << outcome.output;
    EXPECT_NE(outcome.output.find("rnnc: error: "), std::string::npos) << options;
    EXPECT_NE(outcome.output.find(message), std::string::npos) << options << ": " << outcome.output;
  }
  Outcome few = run_driver("train " + kDiabetesTrain + " --data x=" + folder +
                           "/y_short.npy --data y=" + folder + "/y_short.npy");
  EXPECT_EQ(few.status, 1) << few.output;
}

TEST(DriverTrain, BenchPrintsTimings) {
  for (const std::string& model :
       {kModels + "diabetes.forward.rnn", kDiabetesTrain, kModels + "hihell_rnn.forward.rnn",
        kModels + "sst_lstm.forward.rnn"}) {
    // sst_lstm's lengths input is generated as full lengths: 0 would be refused.
    Outcome outcome = run_driver("bench " + model + " --backend interp --min-time 0.02 --warmup 0");
    ASSERT_EQ(outcome.status, 0) << model << ": " << outcome.output;
    auto fields = testprog::result_fields(outcome.output);
    ASSERT_EQ(fields.count("median_ms"), 1u) << outcome.output;
    EXPECT_EQ(fields["backend"], "interp");
    EXPECT_GE(std::stoll(fields["runs"]), 5);
    double median = std::stod(fields["median_ms"]), minimum = std::stod(fields["min_ms"]);
    EXPECT_GT(median, 0);
    EXPECT_LE(minimum, median);
    EXPECT_GT(std::stod(fields["runs_per_s"]), 0);
    EXPECT_GE(std::stod(fields["compile_ms"]), 0);
    EXPECT_NE(outcome.output.find("per run: median "), std::string::npos) << outcome.output;
  }
  // The default backend, keeping the weights' packs (the default) or packing them each run.
  for (const char* packs : {"", " --repack-weights"}) {
    Outcome outcome =
        run_driver("bench " + kModels + "sst_lstm.forward.rnn --min-time 0.02 --warmup 1" + packs);
    ASSERT_EQ(outcome.status, 0) << packs << ": " << outcome.output;
    EXPECT_EQ(testprog::result_fields(outcome.output).count("min_ms"), 1u) << outcome.output;
  }
  Outcome bad = run_driver("bench " + kDiabetesTrain + " --min-time -1");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("--min-time expects a number of seconds"), std::string::npos)
      << bad.output;
}

TEST(DriverTrain, RunChecksInputsAndOutputFolder) {
  std::string folder = fresh_folder("run");
  std::string model = kModels + "hihell_rnn.forward.rnn";  // x : i32[6, 1]
  std::vector<int32_t> ids = {0, 1, 0, 2, 3, 3};
  write_npy(folder + "/ids.npy", Tensor::from_ints({6, 1}, ids));
  // The same ids as int64, written by hand: NumPy's default integer type.
  {
    std::string header = "{'descr': '<i8', 'fortran_order': False, 'shape': (6, 1), }";
    header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
    header += '\n';
    std::ofstream out(folder + "/ids64.npy", std::ios::binary);
    out.write("\x93NUMPY\x01\x00", 8);
    const char length[2] = {static_cast<char>(header.size()), 0};
    out.write(length, 2);
    out << header;
    for (int64_t id : ids) out.write(reinterpret_cast<const char*>(&id), 8);
    std::ofstream big(folder + "/big64.npy", std::ios::binary);
    big.write("\x93NUMPY\x01\x00", 8);
    big.write(length, 2);
    big << header;
    for (int64_t id : ids) {
      int64_t value = id == 2 ? (int64_t{1} << 40) : id;
      big.write(reinterpret_cast<const char*>(&value), 8);
    }
  }
  Outcome i32 = run_driver("run " + model + " --input x=" + folder + "/ids.npy --output-dir " +
                           folder + "/out32 --backend interp");
  ASSERT_EQ(i32.status, 0) << i32.output;
  Outcome i64 = run_driver("run " + model + " --input x=" + folder + "/ids64.npy --output-dir " +
                           folder + "/out64 --backend interp");
  ASSERT_EQ(i64.status, 0) << i64.output;
  for (const auto& entry : std::filesystem::directory_iterator(folder + "/out32")) {
    std::string name = entry.path().filename().string();
    EXPECT_EQ(read_npy(folder + "/out64/" + name).to_doubles(),
              read_npy(entry.path().string()).to_doubles())
        << name;
  }

  write_npy(folder + "/ids_f32.npy", Tensor(DType::f32, {6, 1}));
  write_npy(folder + "/ids_short.npy", Tensor(DType::i32, {5, 1}));
  std::ofstream(folder + "/a_file") << "not a folder";
  std::string ok_input = " --input x=" + folder + "/ids.npy";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" --input x=" + folder + "/ids_short.npy --output-dir " + folder + "/o",
       "input 'x' is i32[5, 1] but the graph declares i32[6, 1]"},
      {" --input x=" + folder + "/ids_f32.npy --output-dir " + folder + "/o",
       "input 'x' is f32[6, 1] but the graph declares i32[6, 1] (save the array as integers"},
      {" --input x=" + folder + "/big64.npy --output-dir " + folder + "/o",
       "int64 value 1099511627776 at index 3 does not fit in i32"},
      {ok_input + ok_input + " --output-dir " + folder + "/o", "--input x is given twice"},
      {" --input h=" + folder + "/ids.npy --output-dir " + folder + "/o",
       "the model has no input named 'h' (its inputs: x)"},
      {ok_input + " --output-dir " + folder + "/a_file",
       "--output-dir: cannot create folder " + folder + "/a_file"},
      {ok_input + " --output-dir " + folder + "/a_file/sub",
       "--output-dir: cannot create folder " + folder + "/a_file/sub"},
      {ok_input + " --output-dir " + folder + "/o --param rnn.weight_ih_l0=" + folder + "/ids.npy",
       "parameter 'rnn.weight_ih_l0' is i32[6, 1] but the graph declares f32[5, 5]"},
  };
  for (const auto& [options, message] : cases) {
    Outcome outcome = run_driver("run " + model + options + " --backend interp");
    EXPECT_EQ(outcome.status, 1) << options << ": " << outcome.output;
    EXPECT_NE(outcome.output.find("rnnc: error: "), std::string::npos) << options;
    EXPECT_NE(outcome.output.find(message), std::string::npos) << options << ": " << outcome.output;
  }
}

#ifdef RNNC_HAVE_ONNX
TEST(DriverTrain, RunsAndDumpsOnnxModels) {
  const std::string fixture = std::string(RNNC_SOURCE_DIR) + "/tests/data/onnx_pytorch/";
  std::string folder = fresh_folder("onnx");
  std::vector<std::string> backends = {"interp"};
  if (has_backend("cpu")) backends.push_back("cpu");
  // hihell_embedding_rnn takes int64 token ids (input_x.npy is '<i8', as PyTorch wrote it).
  for (std::string name : {"hihell_embedding_rnn", "diabetes_mlp"})
    for (const std::string& backend : backends) {
      std::string out = folder + "/" + name + "_" + backend;
      Outcome outcome =
          run_driver("run " + fixture + name + "/model.onnx --input x=" + fixture + name +
                     "/input_x.npy --output-dir " + out + " --backend " + backend);
      ASSERT_EQ(outcome.status, 0) << name << " " << backend << ": " << outcome.output;
      int outputs = 0;
      for (const auto& entry : std::filesystem::directory_iterator(fixture + name)) {
        std::string file = entry.path().filename().string();
        if (file.rfind("output_", 0) != 0) continue;
        ++outputs;
        Tensor expected = read_npy(entry.path().string());
        Tensor actual = read_npy(out + "/" + file.substr(7));
        ASSERT_EQ(actual.type(), expected.type()) << name << " " << file;
        for (int64_t i = 0; i < expected.num_elements(); ++i)
          EXPECT_NEAR(actual.get(i), expected.get(i), 1e-5) << name << " " << file << " " << i;
      }
      EXPECT_GT(outputs, 0) << name;
    }
  Outcome dump = run_driver("dump " + fixture + "diabetes_mlp/model.onnx");
  EXPECT_EQ(dump.status, 0) << dump.output;
  EXPECT_NE(dump.output.find("graph @"), std::string::npos) << dump.output;
  EXPECT_NE(dump.output.find("output y = "), std::string::npos) << dump.output;

  // --param overrides an initializer: with l3's weight zero every row's output is the same.
  write_npy(folder + "/zeros.npy", Tensor(DType::f32, {1, 4}));
  Outcome zeroed = run_driver("run " + fixture + "diabetes_mlp/model.onnx --input x=" + fixture +
                              "diabetes_mlp/input_x.npy --param l3.weight=" + folder +
                              "/zeros.npy --output-dir " + folder + "/zeroed --backend interp");
  ASSERT_EQ(zeroed.status, 0) << zeroed.output;
  std::vector<double> rows = read_npy(folder + "/zeroed/y.npy").to_doubles();
  std::vector<double> trained = read_npy(fixture + "diabetes_mlp/output_y.npy").to_doubles();
  ASSERT_EQ(rows.size(), 5u);
  for (double row : rows) EXPECT_EQ(row, rows[0]);
  EXPECT_NE(trained[0], trained[1]) << "the fixture's rows differ";

  Outcome bench = run_driver("bench " + fixture + "diabetes_mlp/model.onnx --input x=" + fixture +
                             "diabetes_mlp/input_x.npy --backend interp --min-time 0.01");
  EXPECT_EQ(bench.status, 0) << bench.output;
  Outcome wrong = run_driver("run " + fixture + "diabetes_mlp/model.onnx --input x=" + fixture +
                             "hihell_embedding_rnn/input_x.npy --output-dir " + folder + "/w");
  EXPECT_EQ(wrong.status, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("input 'x'"), std::string::npos) << wrong.output;
}
#endif

TEST(DriverTrain, HelpForTrainAndBench) {
  for (const char* command : {"train --help", "bench --help", "run --help"}) {
    Outcome outcome = run_driver(command);
    EXPECT_EQ(outcome.status, 0) << command;
    EXPECT_NE(outcome.output.find("usage: rnnc"), std::string::npos) << command;
  }
  Outcome usage = run_driver("--help");
  for (const char* command : {"dump", "run", "compile", "train", "bench"})
    EXPECT_NE(usage.output.find(std::string("\n  ") + command + " "), std::string::npos) << command;
}

}  // namespace
}  // namespace rnnc
