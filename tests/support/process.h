// Real processes for integration tests and benchmarks: start a daemon, wait
// until it serves (its <data>/ready.json names its pid), signal it, read its
// memory from /proc, pick free loopback ports, wait for a condition, run a
// shell command.
//
// The process and port helpers are mlahub::ops's (ops/process.h, one
// implementation for the product and the tests); this header adds the
// test-only ones. Not a module of the product: linked only by tests and
// mlahub-bench.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "mlahub/core/status.h"
#include "mlahub/ops/process.h"

namespace mlahub::support {

using Process = ops::Child;
using SpawnOptions = ops::SpawnOptions;
using ops::FreePortRange;
using ops::WaitForReadyFile;

// Memory of a process in bytes from /proc/<pid>/status: VmRSS and VmHWM.
struct Memory {
  uint64_t rss = 0;
  uint64_t peak = 0;
};
Result<Memory> ReadMemory(pid_t pid);

// Polls `cond` every 50 ms until it holds (true) or `timeout` passes (false).
bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

// Runs `command` with /bin/sh; returns its exit code (-1 if it did not exit
// normally) and fills `output` with its stdout.
int RunShell(const std::string& command, std::string* output = nullptr);

// A program's exit code (128 + signal when killed) and what it wrote.
struct CommandRun {
  int code = -1;
  std::string out;
  std::string err;
};
// Runs `program` with `args` (already shell-quoted) through /bin/sh, stdout
// and stderr captured through files in `scratch`, stdin from `input` when
// given.
CommandRun RunCapturing(const std::string& program, const std::string& args, const std::filesystem::path& scratch,
                        const std::string& input = "");
// 'text' for /bin/sh.
std::string ShellQuote(const std::string& text);
// A whole file as text ("" when it cannot be read).
std::string ReadText(const std::filesystem::path& path);

// GET http://127.0.0.1:PORT/metrics over a plain socket ("host:port" given;
// the host part is ignored): the whole response, headers included; "" when
// nothing listens.
std::string HttpGetMetrics(const std::string& host_port);
// The value of the first sample of `metric` (name, or name{labels}) in a
// Prometheus text exposition; -1 when absent.
double MetricValue(const std::string& exposition, const std::string& metric);

}  // namespace mlahub::support
