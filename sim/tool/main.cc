// mlahub-sim: runs a network scenario (sim/README.md) in the model engine and
// writes its report. Exit codes as the mlahub tool's (README "Exit codes"):
// 0 ok, 1 internal error, 2 usage or a bad scenario, 4 scenario not found,
// 5 I/O error or an engine that is not available.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "mlahub/sim/live.h"
#include "mlahub/sim/model.h"
#include "mlahub/sim/report.h"
#include "mlahub/sim/scenario.h"

namespace {

using mlahub::Code;
using mlahub::Status;

constexpr int kExitOk = 0, kExitInternal = 1, kExitUsage = 2, kExitNotFound = 4, kExitUnavailable = 5;

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return kExitOk;
    case Code::kInvalidArgument: return kExitUsage;
    case Code::kNotFound: return kExitNotFound;
    case Code::kIoError:
    case Code::kUnavailable:
    case Code::kPermissionDenied:
    case Code::kOversize: return kExitUnavailable;
    default: return kExitInternal;
  }
}

int Fail(const Status& s, bool json) {
  if (json) {
    nlohmann::json j;
    j["error"]["code"] = std::string(mlahub::CodeName(s.code()));
    j["error"]["message"] = s.message();
    std::cout << j.dump() << std::endl;
  } else {
    std::cerr << "mlahub-sim: " << s.ToString() << std::endl;
  }
  return ExitCodeFor(s);
}

// A progress bar on stderr when it is a terminal.
class Progress {
 public:
  Progress() : tty_(::isatty(STDERR_FILENO) == 1) {}
  void operator()(double f) {
    if (!tty_) return;
    int pct = static_cast<int>(f * 100);
    if (pct == last_) return;
    last_ = pct;
    int filled = pct * 40 / 100;
    std::fprintf(stderr, "\r  [%.*s%.*s] %3d%%", filled, "########################################", 40 - filled,
                 "                                        ", pct);
    if (pct >= 100) std::fprintf(stderr, "\r%60s\r", "");
    std::fflush(stderr);
  }

 private:
  bool tty_;
  int last_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "mlahub-sim: simulate a cooperation network (states, authorities, requests, deadlines, outages)\n"
      "Scenario format and report files: sim/README.md. Exit codes: 0 ok, 1 internal, 2 usage or bad\n"
      "scenario, 4 scenario not found, 5 I/O error or engine not available."};
  app.require_subcommand(1);
  std::string scenario, out, engine = "model", bin_dir;
  double rate = 0;
  bool json = false;

  auto* run = app.add_subcommand("run", "run a scenario and write its report to --out");
  run->add_option("scenario", scenario, "scenario file (TOML)")->required();
  run->add_option("--out", out, "report directory (created; files are overwritten)")->required();
  run->add_option("--engine", engine, "model (discrete-event simulation) or live (real processes)")
      ->check(CLI::IsMember({"model", "live"}));
  run->add_option("--rate", rate,
                  "live: clock rate, simulated ms per real ms (default: the scenario's [live] clock_rate, else "
                  "the scenario fitted into 3 minutes)")
      ->check(CLI::Range(1.0, 1e8));
  run->add_option("--bin-dir", bin_dir, "live: directory of mlahub, mlahub-broker, mlahub-agent (default: beside "
                                        "mlahub-sim)");
  run->add_flag("--json", json, "print the summary as JSON on stdout");

  auto* check = app.add_subcommand("check", "parse and validate a scenario");
  check->add_option("scenario", scenario, "scenario file (TOML)")->required();
  check->add_flag("--json", json, "print the result as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  auto sc = mlahub::sim::LoadScenario(scenario);
  if (!sc.ok()) return Fail(sc.status(), json);

  if (check->parsed()) {
    if (json) {
      nlohmann::ordered_json j;
      j["ok"] = true;
      j["scenario"] = sc->name;
      j["states"] = sc->states.size();
      j["agents"] = sc->AgentCount();
      j["outages"] = sc->outages.size();
      j["broker_crashes"] = sc->broker_crashes.size();
      std::cout << j.dump() << std::endl;
    } else {
      std::cout << scenario << ": ok (" << sc->name << ": " << sc->states.size() << " states, "
                << sc->AgentCount() << " agents, " << sc->outages.size() << " outages, "
                << sc->broker_crashes.size() << " broker crashes)" << std::endl;
    }
    return kExitOk;
  }

  Progress progress;
  if (engine == "live") {
    mlahub::sim::LiveOptions lo;
    lo.out_dir = out;
    lo.rate = rate;
    if (bin_dir.empty()) {
      std::error_code ec;
      bin_dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
    }
    lo.bin_dir = bin_dir;
    lo.progress = [&](double f) { progress(f); };
    lo.note = [&](const std::string& s) {
      if (::isatty(STDERR_FILENO) == 1) std::fprintf(stderr, "\r%60s\r", "");
      std::cerr << s << std::endl;
    };
    auto res = mlahub::sim::RunLive(*sc, lo);
    if (!res.ok()) return Fail(res.status(), json);
    Status w = mlahub::sim::WriteLiveReport(*res, out);
    if (!w.ok()) return Fail(w, json);
    if (json)
      std::cout << mlahub::sim::LiveSummaryJson(*res, out) << std::endl;
    else
      std::cout << mlahub::sim::LiveSummaryTable(*res, out);
    return res->live.ok() && res->results.workflow_rejections == 0 ? kExitOk : kExitInternal;
  }

  mlahub::sim::RunOptions opt;
  opt.progress = [&](double f) { progress(f); };
  auto t0 = std::chrono::steady_clock::now();
  auto res = mlahub::sim::RunModel(*sc, opt);
  if (!res.ok()) return Fail(res.status(), json);
  res->wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Status w = mlahub::sim::WriteReport(*res, out);
  if (!w.ok()) return Fail(w, json);
  if (json)
    std::cout << mlahub::sim::SummaryJson(*res, out) << std::endl;
  else
    std::cout << mlahub::sim::SummaryTable(*res, out);
  return res->workflow_rejections == 0 ? kExitOk : kExitInternal;
}
