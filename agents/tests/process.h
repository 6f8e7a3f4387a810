// Child processes for the integration tests: the real mlahub-broker,
// mlahub-agent and mlahub programs, with their output in log files.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mlahub/core/status.h"

namespace mlahub::agents::testing {

class Process {
 public:
  Process() = default;
  // Starts `binary args...` with `extra_env` ("NAME=value") added to this
  // process's environment; stdout and stderr go to `log_path` (appended).
  static Result<Process> Spawn(const std::string& binary, const std::vector<std::string>& args,
                               const std::vector<std::string>& extra_env, const std::string& log_path);
  Process(Process&& o) noexcept : pid_(o.pid_), status_(o.status_) { o.pid_ = -1; }
  Process& operator=(Process&& o) noexcept;
  ~Process();  // SIGKILL and reap if still running

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // The exit status once it has exited: the exit code, or -signal.
  std::optional<int> Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Polls `cond` every 50 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

// Waits until `ready_path` exists and names `proc`'s pid; fails early if the
// process exits.
Status WaitReady(const std::string& ready_path, Process& proc, std::chrono::milliseconds timeout);

// Runs a shell command; returns its exit code and fills `output` (stdout).
int RunCommand(const std::string& command, std::string* output = nullptr);

}  // namespace mlahub::agents::testing
