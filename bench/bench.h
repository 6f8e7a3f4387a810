// Benchmark registration and small shared helpers.
#pragma once

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace mlahub::bench {

void RegisterEnvelopeBench(CLI::App& app, int& rc);
void RegisterLedgerBench(CLI::App& app, int& rc);
void RegisterBrokerBench(CLI::App& app, int& rc);
void RegisterEvidenceBench(CLI::App& app, int& rc);
void RegisterHostBench(CLI::App& app, int& rc);

inline double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median of a sample (copies).
// The q-quantile (0..1) of v by nearest rank (0 for none).
inline double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::min<double>(double(v.size() - 1), std::floor(q * double(v.size() - 1) + 0.5)));
  return v[i];
}

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Peak resident set size of this process, bytes (from /proc/self/status VmHWM).
uint64_t PeakRssBytes();

// A /proc stat file (/proc/PID/stat or /proc/PID/task/TID/stat): the
// process's or thread's name and its CPU seconds (utime + stime). False if it
// cannot be read.
bool ReadProcStat(const std::string& path, std::string* name, double* cpu_s);

// What a process has used so far: CPU seconds of all its threads
// (/proc/PID/stat) and context switches, voluntary and not, summed over its
// live threads (/proc/PID/task/*/status). pid 0: this process.
struct ProcUsage {
  double cpu_s = 0;
  uint64_t switches = 0;
};
ProcUsage ReadProcUsage(int pid);

}  // namespace mlahub::bench
