#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "bench.h"

namespace mlahub::bench {

uint64_t PeakRssBytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) {
      std::sscanf(line + 6, "%lu", &kb);
      break;
    }
  }
  std::fclose(f);
  return kb * 1024;
}

bool ReadProcStat(const std::string& path, std::string* name, double* cpu_s) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  size_t a = line.find('('), b = line.rfind(')');
  if (a == std::string::npos || b == std::string::npos || b + 2 >= line.size()) return false;
  if (name != nullptr) *name = line.substr(a + 1, b - a - 1);
  std::istringstream rest(line.substr(b + 2));
  std::string field;
  double ut = 0, st = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) ut = std::stod(field);
    if (i == 15) st = std::stod(field);
  }
  *cpu_s = (ut + st) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return true;
}

ProcUsage ReadProcUsage(int pid) {
  ProcUsage u;
  const std::string base = pid == 0 ? std::string("/proc/self") : "/proc/" + std::to_string(pid);
  ReadProcStat(base + "/stat", nullptr, &u.cpu_s);
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator(base + "/task", ec)) {
    std::ifstream f(d.path() / "status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
        u.switches += std::stoull(line.substr(line.find(':') + 1));
    }
  }
  return u;
}

}  // namespace mlahub::bench
