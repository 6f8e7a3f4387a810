// mlahub-broker --config FILE: the hub daemon. A thin program over
// mlahub::broker (broker/include/mlahub/broker/broker.h): load the config,
// set up logging, run the Broker until SIGTERM/SIGINT, write and remove
// <data>/ready.json (docs: broker/README.md, the shared process contract).
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "mlahub/broker/broker.h"
#include "mlahub/config/config.h"
#include "mlahub/core/file.h"
#include "mlahub/ops/log.h"
#include "mlahub/ops/process.h"

namespace {

std::atomic<int> g_signal{0};

extern "C" void OnSignal(int sig) { g_signal.store(sig); }
// SIGHUP: reopen the log file (logrotate), not stop.
std::atomic<bool> g_reopen_logs{false};
extern "C" void OnHangup(int) { g_reopen_logs.store(true); }

// Exit codes of the README ("Exit codes").
int ExitCodeFor(const mlahub::Status& s) {
  using mlahub::Code;
  switch (s.code()) {
    case Code::kOk:
      return 0;
    case Code::kInvalidArgument:
      return 2;
    case Code::kNotFound:
      return 4;
    case Code::kIoError:
    case Code::kUnavailable:
    case Code::kPermissionDenied:
    case Code::kAlreadyExists:
      return 5;
    case Code::kCorruption:
      return 6;
    case Code::kBadPassphrase:
      return 7;
    case Code::kInternal:
      return 1;
    default:
      return static_cast<int>(s.code()) < 100 ? 3 : 1;
  }
}

int Fail(const mlahub::Status& s) {
  std::cerr << "mlahub-broker: " << s.ToString() << std::endl;
  return ExitCodeFor(s);
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  struct sigaction hup {};
  hup.sa_handler = OnHangup;
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "mlahub-broker: the mlahub hub. Verifies, records and routes sealed envelopes between the "
      "national\n"
      "agents over ZeroMQ CURVE, keeps the tamper-evident ledger, and stores envelopes for agents "
      "that\n"
      "are offline. Runs until SIGTERM or SIGINT, then drains and exits 0.\n"
      "Exit codes: 0 ok, 1 failure, 2 usage or bad configuration, 3 refused (e.g. a directory with "
      "a\n"
      "bad signature), 4 not found, 5 unavailable (e.g. port in use), 6 corruption, 7 passphrase.",
      "mlahub-broker"};
  std::string config_path;
  bool version = false;
  app.add_option("--config", config_path,
                 "The broker's configuration file (TOML; see docs/CONFIG.md)");
  app.add_flag("--version", version, "Print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "mlahub-broker: " << e.what() << "\n(see mlahub-broker --help)" << std::endl;
    return 2;
  }
  if (version) {
    std::cout << "mlahub-broker " << MLAHUB_VERSION << std::endl;
    return 0;
  }
  if (config_path.empty()) {
    std::cerr << "mlahub-broker: --config FILE is required (see mlahub-broker --help)" << std::endl;
    return 2;
  }
  InstallSignalHandlers();
  // Evidence chunks pass through in buffers of 256 KiB and more. A fixed
  // mmap threshold (glibc otherwise raises it after the first frees) gives
  // each such buffer back to the system when freed instead of keeping it in
  // a thread's arena, so the broker's memory does not grow with a transfer.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);

  auto cfg = mlahub::config::LoadBrokerConfig(config_path);
  if (!cfg.ok()) return Fail(cfg.status());
  if (mlahub::Status s = mlahub::ops::InitLogging(cfg->log, "mlahub-broker"); !s.ok())
    return Fail(s.Annotate("[log]"));
  mlahub::ops::RaiseFdLimitAndLog();

  const std::string ready_path = (std::filesystem::path(cfg->data) / "ready.json").string();
  std::error_code ec;
  std::filesystem::remove(ready_path, ec);  // a stale one from a killed process

  auto broker = mlahub::broker::Broker::Create(*cfg);
  if (!broker.ok()) {
    mlahub::ops::Error("broker.start_failed", {{"error", broker.status().ToString()}});
    mlahub::ops::FlushLogs();
    return Fail(broker.status());
  }
  if (mlahub::Status s = (*broker)->Start(); !s.ok()) return Fail(s);

  mlahub::broker::BrokerInfo info = (*broker)->info();
  nlohmann::json ready;
  ready["pid"] = static_cast<int64_t>(getpid());
  ready["node_id"] = info.node_id;
  ready["endpoint"] = info.endpoint;
  ready["metrics"] = info.metrics;
  std::string text = ready.dump() + "\n";
  // The log line first: whoever sees ready.json finds "broker.ready" in the log.
  mlahub::ops::Info("broker.ready", {{"node_id", info.node_id},
                                     {"endpoint", info.endpoint},
                                     {"metrics", info.metrics},
                                     {"directory_version", info.directory_version},
                                     {"ledger_size", info.ledger_size}});
  if (mlahub::Status s = mlahub::WriteFileAtomic(ready_path, mlahub::AsBytes(text), 0644);
      !s.ok()) {
    (*broker)->Stop().IgnoreError();
    return Fail(s.Annotate("writing " + ready_path));
  }

  while (g_signal.load() == 0 && !(*broker)->stopped()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (g_reopen_logs.exchange(false)) mlahub::ops::ReopenLogsAndLog();
  }
  int sig = g_signal.load();
  if (sig != 0) mlahub::ops::Info("broker.stopping", {{"signal", sig}});
  mlahub::Status s = (*broker)->Stop();
  broker->reset();
  std::filesystem::remove(ready_path, ec);
  if (!s.ok()) {
    mlahub::ops::Error("broker.exit", {{"error", s.ToString()}});
    mlahub::ops::FlushLogs();
    std::cerr << "mlahub-broker: " << s.ToString() << std::endl;
    return 1;
  }
  mlahub::ops::Info("broker.exit", {{"code", 0}});
  mlahub::ops::FlushLogs();
  return 0;
}
