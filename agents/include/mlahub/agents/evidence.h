// Transport evidence of outgoing messages, in the spirit of e-CODEX's
// (submission acceptance / rejection, relay, delivery, retrieval) with
// timeouts that raise a warning, then a failure, per stage:
//
//   stage       clock starts at   over when                       config keys
//   acceptance  submitted         SubmitResult (accepted/refused) accept_warning_ms / accept_failure_ms
//   delivery    accepted          a Delivered event from the hub  delivery_warning_ms / delivery_failure_ms
//   receipt     accepted          the recipient's signed receipt  receipt_warning_ms / receipt_failure_ms
//
// A later positive event overrides a declared failure of its stage (and a
// receipt overrides every failure): the record's state moves on, `failures`
// loses the stage, and the timeline keeps both the failure and a
// "failure_overridden" event, so nothing is rewritten after the fact.
//
// The functions below are the whole state machine; they take the time as an
// argument (the agent's Clock), so tests drive them with a FakeClock. Each
// returns true if it changed the record (the caller stores it). Pure
// functions over a value; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "mlahub/agents/records.h"
#include "mlahub/config/config.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/status.h"

namespace mlahub::agents {

// The defaults are the configuration's (config::AgentConfig, [evidence]).
struct EvidenceTimeouts {
  int64_t accept_warning_ms = config::AgentConfig{}.accept_warning_ms;
  int64_t accept_failure_ms = config::AgentConfig{}.accept_failure_ms;
  int64_t delivery_warning_ms = config::AgentConfig{}.delivery_warning_ms;
  int64_t delivery_failure_ms = config::AgentConfig{}.delivery_failure_ms;
  int64_t receipt_warning_ms = config::AgentConfig{}.receipt_warning_ms;
  int64_t receipt_failure_ms = config::AgentConfig{}.receipt_failure_ms;
  static EvidenceTimeouts FromConfig(const config::AgentConfig& c);
};

// At most this many "delivered" events (one per ledgered delivery attempt)
// are kept in a message's timeline.
inline constexpr size_t kMaxDeliveryEvents = 64;

inline constexpr std::string_view kStageAcceptance = "acceptance";
inline constexpr std::string_view kStageDelivery = "delivery";
inline constexpr std::string_view kStageReceipt = "receipt";

// A new outgoing record starts here (state submitted, one "submitted" event).
void RecordSubmitted(OutgoingRecord& r, UnixMillis now);
// SubmitResult accepted (also when it repeats an earlier answer: duplicate).
bool RecordAccepted(OutgoingRecord& r, UnixMillis now, uint64_t ledger_index, uint64_t tree_size, bool duplicate);
// SubmitResult refused with a named code: final.
bool RecordRejected(OutgoingRecord& r, UnixMillis now, Code code, std::string_view message,
                    std::optional<uint64_t> ledger_index);
// A Delivered event (Notice or StatusResponse); one timeline entry per
// ledger entry (attempt).
bool RecordDelivered(OutgoingRecord& r, UnixMillis now, UnixMillis hub_at_ms, uint32_t attempt,
                     uint64_t ledger_index);
// The recipient's signed receipt, verified by the caller: final, overrides
// every declared failure.
bool RecordReceipt(OutgoingRecord& r, UnixMillis now, UnixMillis received_ms,
                   std::optional<uint64_t> ledger_index);
// The hub declared the message expired before delivery (a non-delivery).
bool RecordExpired(OutgoingRecord& r, UnixMillis now, UnixMillis hub_at_ms, uint64_t ledger_index);
// The audit proved the Accepted entry in a verified checkpoint of tree_size.
bool RecordIncluded(OutgoingRecord& r, UnixMillis now, uint64_t tree_size);

// Declares every warning and failure whose time has come and returns the
// events it added (empty: nothing new).
std::vector<EvidenceEvent> CheckTimeouts(OutgoingRecord& r, UnixMillis now, const EvidenceTimeouts& t);

// The earliest time at which CheckTimeouts will declare something new;
// nullopt if nothing is left to declare.
std::optional<UnixMillis> NextTimeout(const OutgoingRecord& r, const EvidenceTimeouts& t);

// Receipted or rejected: no timeouts, no status queries any more. (Expired
// and failed messages stay open: a late receipt still overrides.)
bool IsFinal(const OutgoingRecord& r);

// One line for people: "delivered, waiting for the receipt (receipt warning)".
std::string Summary(const OutgoingRecord& r);

}  // namespace mlahub::agents
