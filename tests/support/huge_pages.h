#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace rnnc::testhuge {

/// Whether the mapping that holds `address` is advised for transparent huge pages (the "hg"
/// flag of its VmFlags in /proc/self/smaps); nullopt where the kernel has no transparent huge
/// pages or no smaps to read, or no mapping holds the address.
inline std::optional<bool> advised_for_huge_pages(const void* address) {
  if (!std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled")) return {};
  std::ifstream smaps("/proc/self/smaps");
  auto wanted = reinterpret_cast<std::uintptr_t>(address);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream header(line);
    // A mapping's first line: "start-end perms offset device inode path" in hexadecimal.
    if (line.find(':') > line.find(' ') && header >> std::hex >> start >> dash >> end &&
        dash == '-') {
      inside = start <= wanted && wanted < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0)
      return (line + " ").find(" hg ") != std::string::npos;
  }
  return {};
}

}  // namespace rnnc::testhuge
