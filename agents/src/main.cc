// mlahub-agent: a national authority's node. Thin main over mlahub::agents.
//
//   mlahub-agent --config agent.toml
//
// Exit codes (README, as mlahub-broker): 0 clean stop (SIGTERM / SIGINT),
// 1 failure, 2 usage or bad configuration, 3 refused (e.g. a directory whose
// signature does not verify), 4 a file not found, 5 unavailable / I/O (a
// port in use), 6 corruption, 7 bad or missing passphrase.
#include <malloc.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "mlahub/agents/agent.h"
#include "mlahub/config/config.h"
#include "mlahub/ops/log.h"
#include "mlahub/ops/process.h"

namespace {

int ExitCodeFor(const mlahub::Status& s) {
  using mlahub::Code;
  switch (s.code()) {
    case Code::kOk: return 0;
    case Code::kNotFound: return 4;
    case Code::kIoError:
    case Code::kUnavailable:
    case Code::kPermissionDenied: return 5;
    case Code::kCorruption: return 6;
    case Code::kBadPassphrase: return 7;
    case Code::kInvalidArgument: return 2;
    default: return static_cast<int>(s.code()) < 100 ? 3 : 1;
  }
}

int Fail(const mlahub::Status& s) {
  std::cerr << "mlahub-agent: " << s.ToString() << std::endl;
  return ExitCodeFor(s);
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are taken by sigwait below; block them before any thread starts
  // so that every thread inherits the mask. SIGPIPE: a client hanging up on
  // the API must not kill the agent.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);  // not a stop: reopen the log file (logrotate)
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // Evidence chunks pass through in buffers of 256 KiB and more: a fixed
  // mmap threshold returns each to the system when freed (as in the broker).
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  signal(SIGPIPE, SIG_IGN);

  CLI::App app{
      "mlahub-agent: a national authority's node of an mlahub network. It keeps the node's keys and case store,\n"
      "connects to the hub (ZeroMQ CURVE), stores and receipts what arrives, submits what is sent, audits the\n"
      "hub's ledger, and serves the local API (HTTP/JSON on loopback, bearer token).\n"
      "Exit codes: 0 stopped cleanly, 1 failure, 2 usage or bad configuration, 3 refused (e.g. a directory that\n"
      "does not verify), 4 not found, 5 unavailable (e.g. a port in use), 6 corruption, 7 passphrase.",
      "mlahub-agent"};
  std::string config_path;
  app.add_option("--config", config_path, "The agent's configuration file (TOML)")->required();
  app.set_version_flag("--version", "mlahub-agent 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  auto cfg = mlahub::config::LoadAgentConfig(config_path);
  if (!cfg.ok()) return Fail(cfg.status());
  mlahub::Status log = mlahub::ops::InitLogging(cfg->log, "mlahub-agent");
  if (!log.ok()) return Fail(log.Annotate("[log]"));
  mlahub::ops::RaiseFdLimitAndLog();

  auto agent = mlahub::agents::Agent::Create(*cfg);
  if (!agent.ok()) return Fail(agent.status());
  mlahub::Status st = (*agent)->Start();
  if (!st.ok()) {
    (*agent)->Stop();
    return Fail(st);
  }

  int sig = 0;
  for (;;) {
    if (sigwait(&stop_signals, &sig) != 0) continue;
    if (sig != SIGHUP) break;
    mlahub::ops::ReopenLogsAndLog();
  }
  mlahub::ops::Info("agent.stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*agent)->Stop();
  mlahub::ops::FlushLogs();
  return 0;
}
