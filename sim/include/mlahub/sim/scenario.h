// A simulation scenario: the states of a cooperation network and their
// authorities (one agent each), who sends what to whom how often, how each
// state behaves as the requested party, evidence sizes, the network, and the
// faults to inject (agent outages, broker crashes). The file format is TOML,
// documented in sim/README.md; LoadScenario / ParseScenario turn a file into
// a validated Scenario or an error naming the file, line and key
// ("smoke.toml:12: states[2].profile: unknown profile 'slow' (profiles: standard)").
//
// All times are milliseconds: absolute ones (start) as UnixMillis, the
// others relative to the scenario start. Values only; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mlahub/core/clock.h"
#include "mlahub/core/status.h"
#include "mlahub/schemas/common_generated.h"
#include "mlahub/workflow/deadlines.h"

namespace mlahub::sim {

// A distribution of durations (ms) or sizes (bytes).
struct Distribution {
  enum class Kind { kFixed, kExponential, kLognormal, kUniform };
  Kind kind = Kind::kFixed;
  double a = 0;  // fixed: value; exponential: mean; lognormal: median; uniform: min
  double b = 0;  // lognormal: sigma; uniform: max
};

struct WorkingHours {
  bool always = true;         // no working hours given: acts at any time
  bool days[7] = {};          // Monday = 0
  int64_t start_ms = 0;       // local time of day
  int64_t end_ms = 0;
};

// How a state behaves (as requested party, and as requesting party answering
// a request for further information).
struct Profile {
  std::string name;
  Distribution acknowledge, decide, execute, verify, surrender, reply;
  double refusal_rate = 0;
  double further_information_rate = 0;
  double extension_rate = 0;  // probability a late decision is preceded by a DeadlineExtension
  WorkingHours hours;
};

struct MixEntry {
  wire::MessageKind kind = wire::MessageKind::MlaRequest;
  wire::LegalBasis basis = wire::LegalBasis::Untoc;
  double share = 1;
  double urgent = 0;                 // probability the request is urgent
  double provisional_measures = 0;   // probability provisional measures are asked for
  int64_t requested_deadline_ms = 0; // the requesting state's deadline after sending (0 = none)
};

struct Mix {
  std::string name;
  std::vector<MixEntry> entries;  // shares sum to > 0
};

struct Authority {
  std::string id;                               // node id, e.g. "IT-MOJ"
  std::vector<wire::MessageKind> kinds;         // kinds it receives (empty = all)
};

struct State {
  std::string id;  // "IT"
  std::vector<Authority> authorities;  // at least one
  std::vector<std::string> groups;
  int profile = 0;                     // index into Scenario::profiles
  int mix = 0;                         // index into Scenario::mixes (its outgoing default)
  double requests_per_day = 0;         // outgoing, averaged over the daily and weekly cycles
  double weight = 1;                   // share of other states' requests it receives
  int64_t utc_offset_ms = 0;
};

// Applies to every (from, to) pair matching both lists; later rules win.
struct PairRule {
  std::vector<std::string> from, to;  // state ids, "group:NAME" or "*"
  int mix = -1;                       // -1: unchanged
  double rate_factor = 1;             // multiplies the pair's rate
  double rate_per_day = -1;           // >= 0: the pair's own rate (replaces the weight rule)
};

struct Burst {
  std::vector<std::string> states;  // senders (ids or group:NAME); empty = all
  int64_t at_ms = 0, for_ms = 0;
  double factor = 1;
};

struct Outage {
  std::string agent;
  int64_t at_ms = 0, for_ms = 0;
};

struct BrokerCrash {
  int64_t at_ms = 0, down_ms = 0;
};

// One request sent at a given time (for hand-checked cases and tests).
struct ScriptedRequest {
  int64_t at_ms = 0;
  std::string from, to;  // state ids
  MixEntry what;         // share unused
  bool urgent = false;
};

struct Scenario {
  std::string file;  // where it was read from
  std::string name;
  uint64_t seed = 1;
  UnixMillis start_ms = 0;
  int64_t duration_ms = 0;  // arrivals stop here
  int64_t drain_ms = 0;     // the simulation runs on this long after
  workflow::Policy policy;  // the default policy, or the scenario's file over it
  std::string policy_file;

  // network
  int64_t delay_ms = 0;        // per hop (sender -> broker, broker -> recipient)
  int64_t jitter_ms = 0;       // exponential mean added per hop
  double bandwidth_bps = 0;    // bytes per second per hop (0 = unlimited)
  Distribution evidence_size;  // bytes of an execution report's evidence
  int64_t request_size = 64 * 1024;
  int64_t message_size = 8 * 1024;

  double daily[24];  // normalised to mean 1
  double weekly[7];  // normalised to mean 1
  std::vector<Burst> bursts;

  std::vector<Profile> profiles;
  std::vector<Mix> mixes;
  std::vector<State> states;
  std::vector<PairRule> pairs;
  std::vector<Outage> outages;
  std::vector<BrokerCrash> broker_crashes;
  std::vector<ScriptedRequest> requests;

  // [live]: the live engine's clock rate (0 = fit the run into a few
  // minutes) and how long (real time) its drain waits for receipts (0 = default).
  double live_clock_rate = 0;
  int64_t live_drain_timeout_ms = 0;
  // [live] network: how the live engine's relays apply [network] delay,
  // jitter and bandwidth: false ("scaled", the default) in simulated time,
  // i.e. divided by the clock rate in real time, as the model does; true
  // ("real") as real time (a real slow link under the daemons: its simulated
  // effect is multiplied by the clock rate).
  bool live_network_real = false;

  size_t AgentCount() const;
};

// Parses scenario text; `origin` names the file in errors and resolves a
// relative `policy` path (its directory). kInvalidArgument for any error,
// the message starting "origin:line: key: ...".
Result<Scenario> ParseScenario(std::string_view text, const std::string& origin);
// Reads and parses a file (kNotFound / kIoError if it cannot be read).
Result<Scenario> LoadScenario(const std::string& path);

// "90m", "1d12h", "250ms", "1.5h", "2w" -> milliseconds.
Result<int64_t> ParseSimDuration(std::string_view text);
// "20MB", "512KB", "1.5GB", "300B" -> bytes (powers of 1000, MiB/KiB/GiB of 1024).
Result<double> ParseSize(std::string_view text);
std::string FormatDuration(int64_t ms);  // "3d4h", "250ms"

}  // namespace mlahub::sim
