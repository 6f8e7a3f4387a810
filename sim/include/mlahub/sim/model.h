// The model engine: a discrete-event simulation of a scenario in virtual
// time. Each request is driven through workflow's legal state machine
// (workflow::Start / Apply) and its deadline clocks are read from
// workflow::ComputeClocks under the scenario's policy, exactly as the agents
// do; the network (agent -> broker -> agent) is a store-and-forward model in
// which an agent outage holds the agent's outgoing messages and the broker's
// queue for it, and a broker crash holds everything until the restart.
//
// Deterministic for a seed: one std::mt19937_64 stream and distributions
// implemented here (random.h), events ordered by (time, sequence number).
//
// Not thread-safe per run; separate runs are independent.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "mlahub/core/status.h"
#include "mlahub/sim/scenario.h"

namespace mlahub::sim {

struct Compliance {
  int64_t met = 0;      // stopped on or before its due date
  int64_t missed = 0;   // stopped after its due date, or still running past it at the end
  int64_t pending = 0;  // still running at the end, not yet due
  double Rate() const { return met + missed == 0 ? 1.0 : static_cast<double>(met) / (met + missed); }
  void Add(const Compliance& o) { met += o.met; missed += o.missed; pending += o.pending; }
};

struct DayStats {
  int64_t created = 0;     // requests sent by requesting agents
  int64_t delivered = 0;   // requests delivered to the requested agent
  int64_t completed = 0;   // final answers (executed, verified, refused) received by the requesting side
  int64_t messages = 0;    // messages accepted by the broker
  int64_t held = 0;        // messages released after being held by an outage or crash
  // latency of the requests completed that day (ms); -1 when none
  double p50 = -1, p90 = -1, p99 = -1;
};

struct Percentiles {
  int64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;  // ms
};

// What one fault did: messages it held, for how long, and the deadline
// record of the requests it touched (a message of theirs was held).
struct FaultEffect {
  std::string what;  // "agent NG-AGF" or "broker"
  int64_t at_ms = 0, for_ms = 0;  // relative to the start
  int64_t messages_held = 0;
  int64_t held_ms_total = 0;
  int64_t max_held_ms = 0;
  int64_t cases_affected = 0;
  Compliance clocks;  // of the cases affected
};

struct Results {
  std::string scenario;
  uint64_t seed = 0;
  UnixMillis start_ms = 0;
  int64_t duration_ms = 0, drain_ms = 0;
  int64_t states = 0, agents = 0;

  int64_t events = 0;  // events processed
  // of which arrival candidates the thinning rejected (arrivals are drawn at
  // the peak rate and kept with probability rate / peak)
  int64_t arrival_candidates_rejected = 0;
  int64_t requests = 0, delivered = 0, completed = 0, open_at_end = 0;
  int64_t refused = 0, further_information = 0, executed = 0, extensions = 0;
  int64_t messages = 0;
  int64_t workflow_rejections = 0;  // steps the state machine refused (0 unless the model is wrong)

  std::vector<DayStats> days;
  Percentiles latency;                             // request sent -> final answer received
  std::map<std::string, Percentiles> latency_by_kind;
  Compliance compliance;                           // every clock
  std::map<std::string, Compliance> by_basis;      // LegalBasis name
  std::map<std::string, Compliance> by_state;      // requested state
  std::map<std::string, Compliance> by_clock;      // clock name
  std::vector<std::string> agent_ids;
  // per day (index) per agent: requests received and not yet answered finally, and messages queued
  std::vector<std::vector<int32_t>> backlog, queued;
  std::vector<FaultEffect> faults;  // outages in scenario order, then broker crashes

  double wall_seconds = 0;  // not part of metrics.json (it would break determinism)
};

struct RunOptions {
  // Called now and then with the fraction of virtual time done (0..1).
  std::function<void(double)> progress;
};

// Runs the scenario. Fails only on an internal inconsistency (kInternal).
Result<Results> RunModel(const Scenario& scenario, const RunOptions& options = {});

}  // namespace mlahub::sim
