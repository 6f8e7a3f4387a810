// The rules both engines share (model.cc and live.cc): who sends to whom at
// what rate (pair rates, daily / weekly cycles, bursts, thinning), which
// kind and legal basis a request has, which authority receives it, when a
// state's staff act (working hours) and what they decide. Every draw takes
// the caller's Random in a fixed order, so the model engine's results stay
// byte-identical for a seed and the live engine follows the same rules.
//
// Internal to mlahub::sim. Built once per run from a Scenario it keeps a
// reference to; const methods are thread-safe, the draws use the caller's
// Random (one per run).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mlahub/sim/model.h"  // Percentiles
#include "mlahub/sim/random.h"
#include "mlahub/sim/scenario.h"

namespace mlahub::sim::rules {

using K = wire::MessageKind;

inline bool IsVerification(K k) {
  return k == K::DocumentVerificationRequest || k == K::NationalityVerificationRequest;
}

// The p-quantile of a sample (nearest rank; reorders v), -1 when empty.
double Percentile(std::vector<double>& v, double p);
// Count, mean, p50 / p90 / p99 and max of a sample (ms).
Percentiles Summarise(std::vector<double> v);

// True if a selector list (ids, "group:NAME", "*") matches the state.
bool Matches(const std::vector<std::string>& sel, const State& s);

struct Sender {
  std::vector<uint32_t> to;       // recipient states
  std::vector<double> cum;        // cumulative pair rates
  std::vector<uint16_t> mix;      // per recipient
  double base = 0;                // requests per day (sum of pair rates)
  double max_factor = 1;
  std::vector<uint32_t> bursts;   // bursts that apply
};

// A request drawn by DrawArrival / DrawFlags.
struct Arrival {
  uint32_t to = 0;                 // recipient state
  const MixEntry* what = nullptr;  // kind, basis, ...
};

// What the requested state's staff do when they decide (or verify).
enum class Decision { kFurtherInformation, kVerified, kRefuse, kExecute };

class Rules {
 public:
  explicit Rules(const Scenario& sc);

  const Scenario& scenario() const { return sc_; }
  const std::vector<Sender>& senders() const { return senders_; }
  // Agents: every authority of every state, in scenario order.
  const std::vector<std::string>& agent_ids() const { return agent_ids_; }
  const std::vector<uint32_t>& agent_state() const { return agent_state_; }
  uint32_t agent_base(uint32_t state) const { return agent_base_[state]; }

  // The first moment at or after `t` when state `s` works.
  int64_t Work(uint32_t s, int64_t t) const;
  // Arrival rate multiplier of `sender` at `t` (daily x weekly x bursts).
  double RateFactor(uint32_t sender, int64_t t) const;
  // The agent of `state` that receives (or sends) `kind`.
  uint32_t Route(uint32_t state, K kind) const;

  // `t` plus a draw from `d` (at most 100 years), moved into working hours.
  int64_t Later(Random& rng, uint32_t s, int64_t t, const Distribution& d) const;
  // One arrival candidate of `sender` at `t` (thinning): false if rejected.
  bool DrawArrival(Random& rng, uint32_t sender, int64_t t, Arrival* out) const;
  // The time of the next candidate after `t`.
  int64_t NextCandidate(Random& rng, uint32_t sender, int64_t t) const;
  // Urgency and provisional measures of a drawn request (two draws).
  void DrawFlags(Random& rng, const MixEntry& e, bool* urgent, bool* provisional) const;
  // The decision of the requested state's staff: further information first
  // (once per request), then the verification result or refuse / execute.
  Decision DrawDecision(Random& rng, const Profile& p, bool fi_done, bool verification) const;
  // Whether a late decision is preceded by a deadline extension (one draw).
  bool DrawExtension(Random& rng, const Profile& p) const { return rng.Uniform() < p.extension_rate; }
  // The evidence size of an execution report (bytes, at least message_size).
  int64_t DrawEvidenceSize(Random& rng) const;

 private:
  const Scenario& sc_;
  std::vector<Sender> senders_;
  std::vector<std::string> agent_ids_;
  std::vector<uint32_t> agent_state_;
  std::vector<uint32_t> agent_base_;
};

}  // namespace mlahub::sim::rules
