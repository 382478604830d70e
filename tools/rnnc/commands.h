#pragma once

namespace rnnc::driver {

/// `rnnc dump`: parses, verifies and prints a model file. Returns the exit status.
int dump_command(int argc, char** argv);
/// `rnnc run`: runs a model's graph once on .npy inputs and writes each output as .npy.
int run_command(int argc, char** argv);

}  // namespace rnnc::driver
