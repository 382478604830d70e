// runtime Dataset (batching, padding, seeded shuffles and splits) and Trainer (epochs,
// evaluation over every example once, early stopping, restoring the best parameters).
#include "runtime/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "codegen/interp/interpreter.h"
#include "frontend/nn.h"
#include "frontend/training.h"
#include "ir/error.h"
#include "runtime/dataset.h"
#include "runtime/initializers.h"

namespace rnnc {
namespace {

using ir::DType;
using ir::Value;
using Rows = std::vector<int64_t>;

/// Examples 0..n-1 with an i32 "id" column and a float "pair" column [n, 2] = (id, 10 id).
Dataset numbered(int64_t n) {
  std::vector<int32_t> ids;
  std::vector<float> pairs;
  for (int32_t i = 0; i < n; ++i) {
    ids.push_back(i);
    pairs.insert(pairs.end(), {float(i), 10.0f * i});
  }
  Dataset data;
  data.add_column("id", Tensor::from_ints({n}, ids));
  data.add_column("pair", Tensor::from_floats({n, 2}, pairs));
  return data;
}

std::vector<double> ids_of(const Dataset& data) { return data.column("id").to_doubles(); }

TEST(Dataset, ColumnsMustAgreeOnTheNumberOfExamples) {
  Dataset data = numbered(5);
  EXPECT_EQ(data.size(), 5);
  EXPECT_EQ(data.column_names(), (std::vector<std::string>{"id", "pair"}));
  EXPECT_THROW(data.add_column("short", Tensor(DType::f32, {4})), Error);
  EXPECT_THROW(data.add_column("id", Tensor(DType::f32, {5})), Error);
  EXPECT_THROW(data.add_column("scalar", Tensor::scalar(DType::f32, 1)), Error);
  EXPECT_THROW(data.column("missing"), Error);
}

TEST(Dataset, SubsetAndBatchGatherRowsAndPadWithTheFirstRow) {
  Dataset data = numbered(6);
  Dataset picked = data.subset({4, 1, 4});
  EXPECT_EQ(ids_of(picked), (std::vector<double>{4, 1, 4}));
  EXPECT_EQ(picked.column("pair").to_doubles(), (std::vector<double>{4, 40, 1, 10, 4, 40}));
  Bindings batch = data.batch({5, 2}, 4);
  EXPECT_EQ(batch.at("id").shape(), (Shape{4}));
  EXPECT_EQ(batch.at("id").to_doubles(), (std::vector<double>{5, 2, 5, 5}));
  EXPECT_EQ(batch.at("pair").shape(), (Shape{4, 2}));
  EXPECT_EQ(batch.at("pair").to_doubles(), (std::vector<double>{5, 50, 2, 20, 5, 50, 5, 50}));
  EXPECT_THROW(data.batch({0, 1, 2}, 2), Error);
  EXPECT_THROW(data.batch({6}, 2), Error);
  EXPECT_THROW(data.batch({}, 2), Error);
  EXPECT_THROW(data.subset({-1}), Error);
}

TEST(Dataset, SplitIsSeededAndPartitionsTheExamples) {
  Dataset data = numbered(10);
  auto [test, train] = data.split(0.2, 42);
  EXPECT_EQ(test.size(), 2);
  EXPECT_EQ(train.size(), 8);
  std::vector<double> all = ids_of(test);
  for (double id : ids_of(train)) all.push_back(id);
  EXPECT_EQ(std::set<double>(all.begin(), all.end()).size(), 10u);
  auto [again, rest] = data.split(0.2, 42);
  EXPECT_EQ(ids_of(again), ids_of(test));
  EXPECT_EQ(ids_of(rest), ids_of(train));
  bool differs = false;
  for (uint64_t seed = 43; seed < 48; ++seed)
    differs |= ids_of(data.split(0.2, seed).first) != ids_of(test);
  EXPECT_TRUE(differs);
  EXPECT_NE(ids_of(train), (std::vector<double>{2, 3, 4, 5, 6, 7, 8, 9}));  // shuffled
  EXPECT_THROW(data.split(1.5, 0), Error);
}

TEST(Dataset, BatchesCoverEveryExampleOnce) {
  for (bool shuffle : {false, true}) {
    std::vector<Rows> batches = make_batches(10, 4, shuffle, 7, false);
    ASSERT_EQ(batches.size(), 3u);
    EXPECT_EQ(batches[2].size(), 2u);
    std::multiset<int64_t> seen;
    for (const Rows& batch : batches) seen.insert(batch.begin(), batch.end());
    EXPECT_EQ(seen.size(), 10u);
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 10u);
  }
  EXPECT_EQ(make_batches(10, 4, false, 0, false)[0], (Rows{0, 1, 2, 3}));
  EXPECT_EQ(make_batches(10, 4, false, 0, true).size(), 2u);
  EXPECT_EQ(make_batches(8, 4, false, 0, true).size(), 2u);
  EXPECT_EQ(make_batches(10, 4, true, 7, false), make_batches(10, 4, true, 7, false));
  EXPECT_NE(make_batches(10, 4, true, 7, false), make_batches(10, 4, true, 8, false));
  EXPECT_THROW(make_batches(10, 0, false, 0, false), Error);
}

TEST(Dataset, TakeColumnsSlicesATable) {
  Tensor table = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(take_columns(table, 1, 3).to_doubles(), (std::vector<double>{2, 3, 5, 6}));
  EXPECT_EQ(take_columns(table, 2, 3).shape(), (Shape{2, 1}));
  EXPECT_THROW(take_columns(table, 2, 4), Error);
  EXPECT_THROW(take_columns(Tensor(DType::f32, {3}), 0, 1), Error);
}

/// An executable scripted in C++: `body` sees the inputs and state and returns the outputs.
class Scripted : public Executable {
 public:
  using Body = std::function<Bindings(const Bindings&, Bindings&)>;
  explicit Scripted(Body body) : body_(std::move(body)) {}
  Bindings run(const Bindings& inputs, Bindings& state) override { return body_(inputs, state); }

 private:
  Body body_;
};

TEST(Trainer, EvaluationCountsEveryRealExampleOnce) {
  std::multiset<double> seen;
  int64_t runs = 0;
  Scripted evaluate([&](const Bindings& inputs, Bindings&) {
    ++runs;
    const Tensor& id = inputs.at("id");
    for (int64_t i = 0; i < id.num_elements(); ++i) seen.insert(id.get(i));
    // Every row "correct", padding included: counting padding would exceed accuracy 1.
    std::vector<float> ones(4, 1.0f), loss(4);
    for (int i = 0; i < 4; ++i) loss[i] = static_cast<float>(inputs.at("pair").get(2 * i));
    return Bindings{{"correct", Tensor::from_floats({4}, ones)},
                    {"example_loss", Tensor::from_floats({4}, loss)}};
  });
  Scripted unused([](const Bindings&, Bindings&) { return Bindings{}; });
  TrainerConfig config;
  config.batch_size = 4;
  Trainer trainer(unused, evaluate, config);
  Bindings state;
  Evaluation result = trainer.evaluate(state, numbered(10));
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(result.examples, 10);
  EXPECT_EQ(result.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(result.loss, 4.5);  // mean of ids 0..9; padded rows excluded
  for (int id = 0; id < 10; ++id) EXPECT_EQ(seen.count(id), id == 8 ? 3u : 1u);
  EXPECT_EQ(seen.count(8), 3u);  // example 8 and two padding rows repeating it
}

/// A fake training run: each step adds 1 to state "w"; after each epoch the dev accuracy is
/// the next entry of `script` (the evaluation reads the epoch from w).
struct ScriptedRun {
  std::vector<double> script;
  std::vector<double> losses = {};
  int64_t batches_per_epoch = 3;  // 12 training examples, batch 4

  FitResult fit(TrainerConfig config, Bindings& state) {
    Scripted train([&](const Bindings&, Bindings& s) {
      double w = s.at("w").get(0) + 1;
      s["w"] = Tensor::scalar(DType::f32, w);
      auto epoch = static_cast<size_t>((w - 1) / batches_per_epoch);
      double loss = epoch < losses.size() ? losses[epoch] : 1.0;
      return Bindings{{"loss", Tensor::scalar(DType::f32, loss)}};
    });
    Scripted evaluate([&](const Bindings&, Bindings& s) {
      auto epoch = static_cast<size_t>(s.at("w").get(0) / batches_per_epoch);
      std::vector<float> correct(10, 0.0f);
      for (int i = 0; i < std::lround(script.at(epoch - 1) * 10); ++i) correct[i] = 1;
      return Bindings{{"correct", Tensor::from_floats({10}, correct)}};
    });
    config.batch_size = 4;
    config.eval_batch_size = 10;
    Trainer trainer(train, evaluate, config);
    state = {{"w", Tensor::scalar(DType::f32, 0)}};
    Dataset dev = numbered(10);
    return trainer.fit(state, numbered(12), &dev);
  }
};

TEST(Trainer, EarlyStoppingRestoresTheBestEpoch) {
  ScriptedRun run{{0.5, 0.7, 0.6, 0.7, 0.6, 0.9}};
  TrainerConfig config;
  config.epochs = 6;
  config.patience = 2;
  Bindings state;
  FitResult result = run.fit(config, state);
  ASSERT_EQ(result.epochs.size(), 4u);  // epochs 3 and 4 bring no better accuracy (a tie is not)
  EXPECT_TRUE(result.stopped_early);
  EXPECT_EQ(result.best_epoch, 2);
  EXPECT_DOUBLE_EQ(result.best_dev_accuracy, 0.7);
  EXPECT_DOUBLE_EQ(result.epochs[2].dev_accuracy, 0.6);
  EXPECT_TRUE(std::isnan(result.epochs[0].train_accuracy));  // no "correct" output
  EXPECT_EQ(state.at("w").get(0), 2 * 3);                    // the state after epoch 2

  config.restore_best = false;
  run.fit(config, state);
  EXPECT_EQ(state.at("w").get(0), 4 * 3);

  config.patience = 0;
  config.restore_best = true;
  result = run.fit(config, state);
  EXPECT_EQ(result.epochs.size(), 6u);
  EXPECT_FALSE(result.stopped_early);
  EXPECT_EQ(result.best_epoch, 6);
  EXPECT_EQ(state.at("w").get(0), 6 * 3);
}

TEST(Trainer, StopsWhenTheLossDiverges) {
  ScriptedRun run{{0.5, 0.8, 0.9, 0.9}, {2.0, NAN, 1.0}};
  TrainerConfig config;
  config.epochs = 4;
  Bindings state;
  FitResult result = run.fit(config, state);
  EXPECT_TRUE(result.diverged);
  ASSERT_EQ(result.epochs.size(), 2u);
  EXPECT_EQ(result.epochs[0].train_loss, 2.0);
  EXPECT_EQ(result.best_epoch, 1);  // the diverged epoch 2 is never the best
  EXPECT_EQ(state.at("w").get(0), 1 * 3);
}

/// Logistic regression on a separable 2-d problem: label 1 when x0 + x1 > 0.
struct Logistic {
  static nn::Model build(int64_t batch, bool training) {
    nn::Model model(DType::f32, 3);
    nn::Linear fc(model, "fc", 2, 1);
    Value* p = nn::sigmoid(fc(model.input("x", {batch, 2})));
    Value* y = model.input("y", {batch, 1});
    model.output("correct", nn::binary_correct(p, y));
    if (training) {
      nn::TrainingConfig config;
      config.optimizer = nn::OptimizerConfig::parse("sgd:lr=0.5");
      nn::make_training_step(model.graph(), nn::bce(p, y), config);
    } else {
      model.output("example_loss", nn::per_example_mean(nn::bce(p, y, nn::Reduction::none)));
    }
    return model;
  }

  static Dataset data(int64_t n, double phase) {
    std::vector<float> x, y;
    for (int64_t i = 0; i < n; ++i) {
      float a = static_cast<float>(std::sin(1.7 * i + phase)),
            b = static_cast<float>(std::cos(2.3 * i));
      x.insert(x.end(), {a, b});
      y.push_back(a + b > 0 ? 1.0f : 0.0f);
    }
    Dataset d;
    d.add_column("x", Tensor::from_floats({n, 2}, x));
    d.add_column("y", Tensor::from_floats({n, 1}, y));
    return d;
  }
};

TEST(Trainer, TrainsWithTheInterpreterAndReportsDroppedExamples) {
  nn::Model train_model = Logistic::build(8, true);
  nn::Model eval_model = Logistic::build(5, false);
  interp::Interpreter train_step(train_model.graph());
  interp::Interpreter evaluate(eval_model.graph());
  std::vector<std::string> lines;
  TrainerConfig config;
  config.epochs = 15;
  config.batch_size = 8;
  config.eval_batch_size = 5;
  config.seed = 9;
  config.verbose = true;
  config.printer = [&](const std::string& line) { lines.push_back(line); };
  Dataset train = Logistic::data(50, 0), dev = Logistic::data(23, 0.4);
  Trainer trainer(train_step, evaluate, config);
  Bindings state = initialize_parameters(train_model.graph());
  FitResult result = trainer.fit(state, train, &dev);

  EXPECT_EQ(result.dropped_per_epoch, 2);
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("dropping"), std::string::npos) << lines[0];
  ASSERT_EQ(result.epochs.size(), 15u);
  EXPECT_LT(result.epochs.back().train_loss, 0.5 * result.epochs.front().train_loss);
  EXPECT_GE(result.epochs.back().train_accuracy, 0.9);
  EXPECT_GE(result.best_dev_accuracy, 0.9);
  EXPECT_EQ(trainer.evaluate(state, dev).accuracy, result.best_dev_accuracy);
  EXPECT_EQ(trainer.evaluate(state, dev).examples, 23);

  Bindings again = initialize_parameters(train_model.graph());
  FitResult repeat = trainer.fit(again, train, &dev);  // same seed: the same run
  EXPECT_EQ(repeat.epochs.back().train_loss, result.epochs.back().train_loss);
  EXPECT_EQ(again.at("fc.weight").to_doubles(), state.at("fc.weight").to_doubles());
}

TEST(Trainer, RejectsTooSmallDataAndPatienceWithoutDev) {
  Scripted nothing([](const Bindings&, Bindings&) { return Bindings{}; });
  TrainerConfig config;
  config.batch_size = 16;
  Trainer trainer(nothing, nothing, config);
  Bindings state;
  EXPECT_THROW(trainer.fit(state, numbered(10)), Error);
  config.patience = 2;
  Trainer patient(nothing, nothing, config);
  EXPECT_THROW(patient.fit(state, numbered(20)), Error);
}

}  // namespace
}  // namespace rnnc
