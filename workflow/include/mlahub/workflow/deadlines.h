// Deadline policy and the clocks of a request.
//
// A Policy gives, per legal basis (a TOML section: [untoc], [eu_eio], ...,
// with [default] as fallback) and per clock (a key: acknowledge, decision,
// execution, ...), how long the clock runs, for urgent requests too, how far
// it may be extended with reasons, and the provision it rests on. The
// default policy (DefaultPolicyToml) is DOMAIN.md's table; a network
// overrides it with a file of the same form (LoadPolicy merges the file over
// the defaults). Unknown sections, keys and fields are refused with the
// file, line and key.
//
// Which clocks exist, when each starts and what stops it is fixed in code
// (workflow/README.md "Clocks"); the policy decides only whether a clock
// applies to a legal basis and its length. Clocks() is a pure function of the
// case history, the policy and `now` (no hidden clock), so the simulator can
// run it in virtual time.
//
// Thread-safe: values and pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlahub/core/clock.h"
#include "mlahub/core/status.h"
#include "mlahub/workflow/workflow.h"

namespace mlahub::workflow {

inline constexpr int64_t kHourMs = 3600 * 1000;
inline constexpr int64_t kDayMs = 24 * kHourMs;

struct ClockRule {
  int64_t due_ms = 0;         // how long the clock runs
  int64_t urgent_due_ms = 0;  // for urgent requests (0 = as due_ms)
  int64_t extension_ms = 0;   // the most it may be extended with reasons (0 = none)
  std::string citation;       // "Directive 2014/41/EU Art. 16(1)"
  std::string note;           // e.g. "policy value for 'reasonable time'"
};

class Policy {
 public:
  // The rule for `clock` under `basis`: the basis's own section, else [default].
  const ClockRule* Find(wire::LegalBasis basis, std::string_view clock) const;
  // section name -> clock name -> rule
  std::map<std::string, std::map<std::string, ClockRule>> sections;
};

// The embedded default policy, as TOML text (what `mlahub` prints for a network
// to copy and edit).
std::string_view DefaultPolicyToml();
// The default policy. Aborts if the embedded text does not parse (a test keeps it valid).
const Policy& DefaultPolicy();
// Parses a policy file over `base` (pass DefaultPolicy() to override the
// defaults, or an empty Policy for a complete file). `origin` names the file
// in errors: "policy.toml:12: unknown clock 'acknowledgment' in [eu_eio] (known: ...)".
// kMalformed for TOML syntax, kInvalidArgument for unknown sections, keys,
// fields or bad durations.
Result<Policy> ParsePolicy(std::string_view toml_text, const std::string& origin,
                           const Policy& base);
// "7d", "24h", "90m", "1d12h" -> milliseconds; kInvalidArgument otherwise.
Result<int64_t> ParseDuration(std::string_view text);
// The clock names the policy may give (section keys).
const std::vector<std::string>& ClockNames();
// The section names (legal bases): "default", "untoc", "palermo_protocol", ...
const std::vector<std::string>& SectionNames();
// Milliseconds as the policy writes them: "7d", "1d12h", "8h", "90m", "0" -> "off".
std::string DurationText(int64_t ms);

// One rule of a policy as it applies after merging (what `mlahub policy
// check` and the agent's GET /v1/policy list): the section it sits in, the
// clock, and the rule (due_ms 0 = switched off for that basis).
struct RuleInEffect {
  std::string section;  // "default", "untoc", ...
  std::string clock;    // "acknowledge", ...
  ClockRule rule;
};
// Every rule of `policy`, by section (SectionNames order) then clock
// (ClockNames order).
std::vector<RuleInEffect> RulesInEffect(const Policy& policy);

struct Extension {
  UnixMillis at_ms = 0;
  UnixMillis new_due_ms = 0;
  std::string reasons;
  std::string legal_basis;      // DeadlineExtension.legal_basis_for_extension
  bool beyond_allowed = false;  // later than due + the policy's `extension` (when it sets one)
};

struct ClockStatus {
  std::string name;  // "acknowledge", "decision", ...
  std::string what;  // "acknowledge receipt", in words
  std::string citation;
  Role owner = Role::kRequested;  // whose clock it is (who must act)
  UnixMillis started_ms = 0;
  UnixMillis due_ms = 0;
  int64_t time_left_ms = 0;  // due - now (negative when overdue)
  bool overdue = false;
  std::vector<Extension> extensions;
  std::string note;  // the policy rule's note ("policy value for ...")
  // The clock counts from the requested authority's receipt, but on the
  // requesting side that receipt is not confirmed yet
  // (RequestInfo::receipt_unconfirmed): it is shown as started at sending.
  bool receipt_unconfirmed = false;
};

// A progress enquiry (UNTOC 18(24)) and its answer.
struct Enquiry {
  UnixMillis asked_ms = 0;
  UnixMillis due_ms = 0;       // reply_by or the policy's progress_reply
  UnixMillis answered_ms = 0;  // 0 = not answered yet
  bool overdue = false;
};

struct Clocks {
  std::vector<ClockStatus> open;  // clocks still running, soonest due first
  std::vector<Enquiry> enquiries;
};

// Every open clock of `state` at `now` under `policy`.
Clocks ComputeClocks(const CaseState& state, const Policy& policy, UnixMillis now);

}  // namespace mlahub::workflow
