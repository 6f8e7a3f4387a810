// Child processes for the simulator's live engine and `mlahub demo`: spawn a
// daemon with its output in a log file, signal it, wait for it; run a command
// to completion and read its standard output. POSIX fork / exec; not thread-safe (one driver thread).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "mlahub/core/status.h"

namespace mlahub::ops {

class Child {
 public:
  // Starts argv[0] (a path) with stdout and stderr appended to `log_file`.
  static Result<Child> Spawn(const std::vector<std::string>& argv, const std::string& log_file);
  Child() = default;
  Child(Child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();  // SIGKILLs and reaps a child still running

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // The exit code (128 + signal for a signal), or nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
};

// Runs argv to completion (at most `timeout`) with stdout captured and
// stderr appended to `log_file`; returns {exit code, stdout}.
struct RunOutput {
  int exit_code = -1;
  std::string out;
};
Result<RunOutput> RunCommand(const std::vector<std::string>& argv, const std::string& log_file,
                             std::chrono::milliseconds timeout);

}  // namespace mlahub::ops
