// The live engine: runs a scenario on a real network on loopback. It creates
// the network with `mlahub network init` (one node per authority of the
// scenario, free ports), sets a clock rate in every daemon's config (their
// ScaledClock compresses the scenario into minutes; their timeouts follow
// it), starts the real mlahub-broker and mlahub-agent processes and drives
// them through the agents' local API with the same rules as the model
// engine (rules.h: arrivals, kind mix, behaviour draws, working hours):
// requests are POSTed on the requesting agent, every agent's inbox is polled
// and each request is answered step by step (acknowledgement, further
// information, decision, execution report, ...) after the drawn delays in
// scaled time. Faults are real: an agent outage is a kill -9 of the agent at
// its time and a restart at its end, a broker crash a kill -9 of the broker
// and a restart. At the end it drains (every accepted message receipted, or
// a deadline), stops every process with SIGTERM, verifies the hub's ledger
// with `mlahub ledger verify` and counts lost and duplicated messages.
//
// Not deterministic (real processes, real time); not thread-safe per run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mlahub/core/status.h"
#include "mlahub/sim/model.h"
#include "mlahub/sim/scenario.h"

namespace mlahub::sim {

struct LiveOptions {
  std::string out_dir;  // the network goes to <out_dir>/network, daemon logs to <out_dir>/logs
  std::string bin_dir;  // holds mlahub, mlahub-broker, mlahub-agent
  // Simulated ms per real ms. 0: the scenario's live.clock_rate, else the
  // whole scenario (duration + drain) compressed into target_seconds.
  double rate = 0;
  double target_seconds = 180;
  // Real time the drain waits at most for every accepted message's receipt.
  int64_t drain_timeout_ms = 120000;
  // Real time allowed for a daemon to write its ready.json.
  int64_t ready_timeout_ms = 60000;
  std::function<void(double)> progress;          // fraction of simulated time done
  std::function<void(const std::string&)> note;  // one line about what happens (faults, drain)
};

// What only the live engine measures.
struct LiveCounts {
  double clock_rate = 0;
  int64_t clock_origin_ms = 0;   // the daemons' shared clock_origin_ms (Unix ms, real)
  std::string network_dir;
  // Added network delay: one TCP relay per agent between it and the broker
  // (none when the scenario has no [network] delay, jitter or bandwidth).
  // One-way per hop, real time.
  int64_t relays = 0;
  std::string network_mode;      // "scaled" or "real" ([live] network)
  double relay_delay_ms = 0;     // fixed part
  double relay_jitter_ms = 0;    // mean of the exponential part
  double relay_bytes_per_ms = 0; // 0 = unlimited
  int64_t relay_connections = 0; // accepted by the relays (reconnections after restarts included)
  int64_t relay_refused = 0;     // of which the broker refused (it was down)
  int64_t relay_bytes = 0;       // forwarded, both ways
  int64_t posted = 0;            // messages the agents' API took (POST /v1/messages)
  int64_t post_retries = 0;      // POSTs repeated (agent down or unavailable), same message id
  int64_t api_refused = 0;       // POSTs the API refused (4xx): a bug in the simulator or a daemon
  int64_t hub_refused = 0;       // rejected by the broker, or expired (outbox state)
  int64_t accepted = 0;          // accepted by the broker, per the sender's agent
  int64_t receipted = 0;         // of which the recipient's signed receipt came back
  int64_t stored = 0;            // distinct messages stored in the recipients' case stores
  int64_t lost = 0;              // accepted, never stored by the recipient
  int64_t duplicated = 0;        // stored twice (or more) in a case store: the extra copies
  int64_t agent_kills = 0, agent_restarts = 0, broker_kills = 0, broker_restarts = 0;
  bool drained = false;          // every accepted message receipted before the deadline
  bool ledger_verified = false;  // `mlahub ledger verify` exit 0
  int64_t ledger_entries = 0;
  std::string ledger_detail;     // its error, if any
  double arrival_seconds = 0;    // real time of the arrival period (first to last request)
  double requests_per_second = 0;  // sustained: requests sent / arrival_seconds
  double messages_per_second = 0;  // every message posted / real time of the run (before the drain)
  double run_seconds = 0, drain_seconds = 0;
  std::vector<std::string> errors;  // first API refusals and other problems (no personal data: ids and codes)
  bool ok() const { return lost == 0 && duplicated == 0 && ledger_verified && api_refused == 0 && hub_refused == 0; }
};

struct LiveResults {
  Results results;  // the same metrics as the model engine, measured in scaled time
  LiveCounts live;
};

// Runs the scenario live. Errors: kNotFound (a binary missing in bin_dir),
// kUnavailable (a daemon did not start), kIoError; a run that completes but
// loses or duplicates messages is a result (LiveCounts::ok() false).
Result<LiveResults> RunLive(const Scenario& scenario, const LiveOptions& options);

// The live counts as a JSON object (for metrics.json's "live" and live.json).
std::string LiveJson(const LiveCounts& c);
// Writes the model's report files for r.results plus live.json and the
// "live" object in metrics.json.
Status WriteLiveReport(const LiveResults& r, const std::string& dir);
std::string LiveSummaryTable(const LiveResults& r, const std::string& out_dir);
std::string LiveSummaryJson(const LiveResults& r, const std::string& out_dir);

}  // namespace mlahub::sim
