// Real processes for integration tests and benchmarks: start a daemon,
// wait until it serves (its <data>/ready.json names its pid), signal it,
// read its memory from /proc, pick free loopback ports.
//
// Not a module of the product: linked only by tests and mlahub-bench.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mlahub/core/status.h"

namespace mlahub::support {

struct SpawnOptions {
  // Restrict the child to these CPUs (sched_setaffinity); empty: any.
  std::vector<int> cpus;
  // Extra environment entries "KEY=VALUE" (added to the parent's).
  std::vector<std::string> env;
  // Redirect the child's stderr (and stdout) to this file; empty: inherit.
  std::string log_file;
};

class Process {
 public:
  // Starts argv[0] (a path) with argv.
  static Result<Process> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});
  Process() = default;
  Process(Process&& o) noexcept : pid_(o.pid_), exited_(o.exited_), status_(o.status_) { o.pid_ = -1; }
  Process& operator=(Process&& o) noexcept;
  ~Process();  // SIGKILLs and reaps a child still running

  pid_t pid() const { return pid_; }
  bool running();
  // Sends a signal (no-op once reaped).
  void Signal(int sig);
  // Waits for the exit; nullopt on timeout. The value is the exit code, or
  // 128 + signal number for a signal.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // SIGKILL and reap.
  void Kill();

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// Waits until `path` holds JSON with "pid" equal to `pid` (a daemon's
// ready.json) or the process dies; returns the file's text.
Result<std::string> WaitForReadyFile(const std::string& path, Process& process, std::chrono::milliseconds timeout);

// Memory of a process in bytes from /proc/<pid>/status: VmRSS and VmHWM.
struct Memory {
  uint64_t rss = 0;
  uint64_t peak = 0;
};
Result<Memory> ReadMemory(pid_t pid);

// A base port such that base .. base+count-1 are free on 127.0.0.1 now.
Result<uint16_t> FreePortRange(int count);

}  // namespace mlahub::support
