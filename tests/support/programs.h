#pragma once
// Running the project's executables from tests: output, exit status, RESULT lines.
#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>

namespace rnnc::testprog {

/// The output (stdout and stderr) and exit status of running a command.
struct ProgramRun {
  std::string output;
  int status = -1;
};

/// Runs `command` through the shell, capturing stdout and stderr together.
inline ProgramRun run_program(const std::string& command) {
  ProgramRun result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  size_t count;
  while ((count = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, count);
  int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

/// The path of executable `name` in the build's bin/ folder.
inline std::string binary(const std::string& name) {
  return std::string(RNNC_BINARY_DIR) + "/bin/" + name;
}

/// The key=value fields of the last line starting with "RESULT ", as text.
inline std::map<std::string, std::string> result_fields(const std::string& output) {
  std::map<std::string, std::string> fields;
  std::istringstream lines(output);
  std::string line, last;
  while (std::getline(lines, line))
    if (line.rfind("RESULT ", 0) == 0) last = line;
  std::istringstream words(last.substr(last.empty() ? 0 : 7));
  std::string word;
  while (words >> word) {
    size_t equals = word.find('=');
    if (equals != std::string::npos) fields[word.substr(0, equals)] = word.substr(equals + 1);
  }
  return fields;
}

}  // namespace rnnc::testprog
