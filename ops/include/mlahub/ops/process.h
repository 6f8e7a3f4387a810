// Child processes and loopback ports, for the simulator's live engine,
// `mlahub demo`, the integration tests and the benchmarks (one implementation
// for all of them): spawn a daemon with its output in a log file, signal it,
// wait for it and for its ready.json; run a command to completion and read its
// standard output; pick free loopback TCP ports; listen on one.
// POSIX fork / exec. Not thread-safe: one Child is driven by one thread (the
// thread that spawned it: the child gets SIGTERM when that thread ends).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mlahub/core/status.h"

namespace mlahub::ops {

struct SpawnOptions {
  // Restrict the child to these CPUs (sched_setaffinity); empty: any.
  std::vector<int> cpus;
  // Extra environment entries "KEY=VALUE", added to (and overriding) the
  // parent's environment.
  std::vector<std::string> env;
  // stdout and stderr appended to this file (created 0644); empty: inherited.
  std::string log_file;
};

class Child {
 public:
  // Starts argv[0] (a path) with argv. kNotFound if it is not executable.
  // (One overload only: a designated initializer `{.log_file = ...}` would
  // make a second one ambiguous.)
  static Result<Child> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options);
  Child() = default;
  Child(Child&& o) noexcept : pid_(o.pid_), exit_code_(o.exit_code_) {
    o.pid_ = -1;
    o.exit_code_.reset();
  }
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();  // SIGKILLs and reaps a child still running

  // The process id (-1 once the exit was returned by Wait, or for an empty Child).
  pid_t pid() const { return pid_; }
  // False once the child has exited (it is reaped then; Wait returns its code).
  bool running();
  // Sends a signal (no-op once it has exited).
  void Signal(int sig);
  // The exit code (128 + signal number for a signal), or nullopt on timeout.
  // The code is returned once; after that (and for an empty Child) 0.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // SIGKILL and reap (no-op once it has exited).
  void Kill();

 private:
  void Reap(int wait_status);
  pid_t pid_ = -1;
  std::optional<int> exit_code_;  // reaped by running(), not yet returned by Wait
};

// Waits until `path` holds a JSON object whose "pid" is the child's (a
// daemon's ready.json, written atomically), the child exits (kUnavailable,
// with its exit code), or `timeout` passes (kUnavailable). Returns the file's
// text.
Result<std::string> WaitForReadyFile(const std::string& path, Child& child, std::chrono::milliseconds timeout);

// Runs argv to completion (at most `timeout`) with stdout captured and
// stderr appended to `log_file`; returns {exit code, stdout}.
struct RunOutput {
  int exit_code = -1;
  std::string out;
};
Result<RunOutput> RunCommand(const std::vector<std::string>& argv, const std::string& log_file,
                             std::chrono::milliseconds timeout);

// A base port P such that P .. P+count-1 are free on 127.0.0.1 now: picks a
// random P below the kernel's ephemeral port range (from 10000; above that
// range, or in 20000..60000, if there is no room below) and binds all
// `count` ports at once (released before returning), up to 200 tries;
// kUnavailable if none is found. The caller's daemons bind them a moment
// later (another process could take one in between: rare, and a daemon then
// fails to start with a clear error).
Result<uint16_t> FreePortRange(int count);

// A listening TCP socket on 127.0.0.1:`port` (0: any free port), SO_REUSEADDR,
// close-on-exec, blocking; `*bound` (if given) receives the port. Returns the
// descriptor (the caller closes it); kUnavailable naming the port otherwise.
Result<int> ListenLoopback(uint16_t port, int backlog, uint16_t* bound = nullptr);

// The daemons' open-file limit. RocksDB keeps every table file of a database
// open, and a broker relaying gigabytes of evidence holds many of them for a
// while, besides its sockets; the usual soft limit of 1024 would then make
// opens fail. At start the broker and the agent raise the soft limit to the
// hard one (at most kWantedFds) and log both.
inline constexpr uint64_t kWantedFds = 1 << 20;
struct FdLimit {
  uint64_t before = 0;  // the soft limit found
  uint64_t soft = 0;    // the soft limit now
  uint64_t hard = 0;
};
Result<FdLimit> RaiseFdLimit(uint64_t wanted = kWantedFds);
// RaiseFdLimit at a daemon's start, logged as process.fd_limit; a soft limit
// still below 4096 is a warning naming what to raise, not a reason to stop.
void RaiseFdLimitAndLog();

}  // namespace mlahub::ops
