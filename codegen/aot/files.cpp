// Writing an ahead-of-time library's folder (codegen/aot/library.h): a temporary folder next
// to the target, the C compiler run in it, the files renamed into place.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "codegen/aot/library.h"
#include "ir/error.h"

namespace rnnc::aot {

namespace fs = std::filesystem;

namespace {

/// `text` quoted for the POSIX shell.
std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

/// Runs `words` (a command and its arguments) in folder `folder`; throws with its output when
/// it fails.
void run_tool(const fs::path& folder, const std::vector<std::string>& words) {
  std::string command = "cd " + shell_quote(folder.string()) + " &&";
  std::string shown;
  for (const std::string& word : words) {
    command += ' ';
    command += shell_quote(word);
    shown += (shown.empty() ? "" : " ") + word;
  }
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw Error("cannot run '" + shown + "': " + std::strerror(errno));
  std::string output;
  char buffer[4096];
  size_t count;
  while ((count = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, count);
  int status = pclose(pipe);
  // A long output (thousands of diagnostics) is cut to its first lines.
  size_t lines = 0, cut = 0;
  while (cut < output.size() && lines < 60)
    if (output[cut++] == '\n') ++lines;
  if (cut < output.size()) output = output.substr(0, cut) + "[... output cut ...]\n";
  if (status != 0)
    throw Error("'" + shown + "' failed (status " + std::to_string(status) + ")" +
                (output.empty() ? std::string() : ":\n" + output));
}

void write_file(const fs::path& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary);
  file.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  file.close();
  if (!file) throw Error("cannot write " + path.string());
}

/// The folder a library is written to: made absolute, created when missing (with its
/// parents), and checked to be writable.
fs::path prepare_folder(const std::string& directory) {
  if (directory.empty()) throw Error("the output folder is empty");
  fs::path target = fs::absolute(fs::path(directory)).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  std::error_code error;
  if (fs::exists(target, error) && !fs::is_directory(target, error))
    throw Error("cannot write the library to " + directory + ": it is not a folder");
  fs::create_directories(target.parent_path(), error);
  if (error)
    throw Error("cannot write the library to " + directory + ": cannot create " +
                target.parent_path().string() + ": " + error.message());
  // A probe file, so that a folder we may not write fails before compiling (access() would
  // say yes to root on a read-only file system).
  fs::path probe = (fs::exists(target, error) ? target : target.parent_path()) /
                   (".rnnc-probe-" + std::to_string(getpid()));
  {
    std::ofstream file(probe);
    if (!file)
      throw Error("cannot write the library to " + directory + ": " + probe.parent_path().string() +
                  " is not writable");
  }
  fs::remove(probe, error);
  return target;
}

TemporaryFolder::TemporaryFolder(const fs::path& target) {
  static std::atomic<int> counter{0};
  std::string name = ".";
  name += target.filename().string();
  name += ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  path_ = target.parent_path() / name;
  std::error_code error;
  fs::remove_all(path_, error);
  if (!fs::create_directory(path_, error) || error)
    throw Error("cannot create the temporary folder " + path_.string() + ": " + error.message());
}

TemporaryFolder::~TemporaryFolder() {
  std::error_code error;
  fs::remove_all(path_, error);
}

std::vector<std::string> install_files(const fs::path& temporary, const fs::path& target,
                                       const std::vector<std::string>& files) {
  std::error_code error;
  if (!fs::exists(target, error)) {
    fs::rename(temporary, target, error);
    if (error)
      throw Error("cannot rename the library into " + target.string() + ": " + error.message());
  } else {
    for (const std::string& file : files) {
      fs::rename(temporary / file, target / file, error);
      if (error)
        throw Error("cannot move " + file + " into " + target.string() + ": " + error.message());
    }
  }
  std::vector<std::string> paths;
  for (const std::string& file : files) paths.push_back((target / file).string());
  return paths;
}

}  // namespace rnnc::aot
