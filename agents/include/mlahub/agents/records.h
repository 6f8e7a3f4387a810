// What an agent keeps about each message, alarm and audit job in its case
// store, and their JSON forms (for the store and for the local API).
//
// These are local records, not wire tables: they are stored as JSON text
// (nlohmann/json) under the keys of case_store.h and shown by the API as the
// same JSON. Envelopes and receipts themselves are kept byte for byte beside
// them, never inside.
//
// Value types; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlahub/core/clock.h"
#include "mlahub/core/status.h"

namespace mlahub::agents {

// One step of a message's transport evidence (e-CODEX style), in the order
// the agent learnt it.
//
// event names (outgoing): submitted, accepted, rejected, delivered, receipt,
//   expired, included (the hub's ledger proved to hold the Accepted entry),
//   acceptance_warning, acceptance_failure, delivery_warning,
//   delivery_failure, receipt_warning, receipt_failure, failure_overridden.
// event names (incoming): delivered, stored, receipt_sent, receipted
//   (the hub recorded our receipt), receipt_refused, included.
struct EvidenceEvent {
  std::string event;
  UnixMillis at_ms = 0;       // local clock for local events, hub clock for hub events
  std::string source;         // "local", "hub" or "recipient" (a signed receipt)
  std::optional<uint64_t> ledger_index;
  std::string code;           // error code name, for refusals
  std::string detail;         // words for people (never personal data)
  uint32_t attempt = 0;       // delivered: the hub's attempt number

  bool operator==(const EvidenceEvent&) const = default;
};

nlohmann::json ToJson(const EvidenceEvent& e);
EvidenceEvent EvidenceEventFromJson(const nlohmann::json& j);

// The state of an outgoing message, from the sender's point of view.
enum class OutState : uint8_t {
  kSubmitted = 0,  // in the outbox, no SubmitResult yet
  kAccepted = 1,   // durable at the hub
  kDelivered = 2,  // the hub handed it to the recipient's agent
  kReceipted = 3,  // the recipient's signed receipt verified (final)
  kRejected = 4,   // refused by the hub with a named code (final)
  kExpired = 5,    // the hub declared it expired before delivery
};
std::string_view OutStateName(OutState s);
Result<OutState> ParseOutState(std::string_view name);

struct OutgoingRecord {
  std::string message_id;
  uint64_t local_seq = 0;     // order of submission at this agent (from 1)
  std::string recipient;
  std::string kind;           // MessageKind name, e.g. "MlaRequest"
  std::string case_ref;
  std::string in_reply_to;
  std::string handling;       // "H0".."H3"
  std::string legal_basis;    // LegalBasis name
  std::string priority;       // "Normal" / "Urgent"
  UnixMillis created_ms = 0;
  UnixMillis expires_ms = 0;
  std::string envelope_hash;  // lowercase hex SHA-256 of the frame
  uint64_t envelope_size = 0;

  OutState state = OutState::kSubmitted;
  UnixMillis submitted_ms = 0;
  UnixMillis accepted_ms = 0;   // local time the acceptance was learnt
  UnixMillis delivered_ms = 0;  // hub time of the first Delivered event
  UnixMillis receipt_ms = 0;    // received_ms inside the recipient's receipt
  std::optional<uint64_t> ledger_index;  // Accepted (or Rejected) entry
  std::optional<uint64_t> tree_size;     // from the SubmitResult
  std::optional<uint64_t> receipt_ledger_index;
  std::string refusal_code;     // rejected: the code name
  std::string refusal_message;
  // Warnings and failures declared by the timeouts (stage names:
  // "acceptance", "delivery", "receipt"); a failure is cleared (but stays in
  // the timeline) when later evidence overrides it.
  std::vector<std::string> warnings;
  std::vector<std::string> failures;
  bool included = false;  // audit: Accepted entry proved in a verified checkpoint
  std::vector<EvidenceEvent> timeline;
};

nlohmann::json ToJson(const OutgoingRecord& r);
Result<OutgoingRecord> OutgoingFromJson(std::string_view text);

struct IncomingRecord {
  std::string message_id;
  std::string sender;
  std::string sender_sign_key;  // lowercase hex: the key that verified it (for reading it later)
  std::string kind;
  std::string case_ref;
  std::string in_reply_to;
  std::string handling;
  std::string legal_basis;
  std::string priority;
  UnixMillis created_ms = 0;
  UnixMillis expires_ms = 0;
  uint64_t delivery_seq = 0;
  uint64_t ledger_index = 0;  // the Accepted entry (Deliver.ledger_index)
  std::string envelope_hash;  // lowercase hex
  uint64_t envelope_size = 0;
  UnixMillis received_ms = 0;  // as stated in our receipt
  bool receipt_recorded = false;  // the hub's ReceiptResult accepted it
  std::optional<uint64_t> receipt_ledger_index;
  bool included = false;
  std::vector<EvidenceEvent> timeline;
};

nlohmann::json ToJson(const IncomingRecord& r);
Result<IncomingRecord> IncomingFromJson(std::string_view text);

// A delivery that could not be opened: not stored, not receipted (a receipt
// would be a signed statement that we stored it). Kept so that it is shown,
// alarmed once, and does not stall Hello.last_delivery_seq.
struct RefusedDelivery {
  uint64_t delivery_seq = 0;
  uint64_t ledger_index = 0;
  std::string message_id;  // if the frame could be parsed
  std::string sender;      // claimed, unauthenticated
  std::string envelope_hash;
  std::string code;
  std::string message;
  UnixMillis first_ms = 0;
  UnixMillis last_ms = 0;
  uint32_t attempts = 0;
};

nlohmann::json ToJson(const RefusedDelivery& r);
Result<RefusedDelivery> RefusedFromJson(std::string_view text);

// Something a person must look at: a failed audit check, a refused directory,
// an envelope that cannot be opened, a receipt that does not verify.
struct Alarm {
  uint64_t id = 0;  // from 1, in order
  UnixMillis at_ms = 0;
  std::string kind;     // e.g. "consistency_proof", "inclusion_proof", "checkpoint_signature"
  std::string message;  // what failed, in words
  nlohmann::json details = nlohmann::json::object();  // ids, sizes, codes (no personal data)
};

nlohmann::json ToJson(const Alarm& a);
Result<Alarm> AlarmFromJson(std::string_view text);

// An inclusion check of one ledger entry the agent has a stake in.
enum class AuditJobKind : uint8_t {
  kSubmitted = 1,  // our envelope's Accepted entry (SubmitResult.ledger_index)
  kReceived = 2,   // a delivered envelope's Accepted entry (Deliver.ledger_index)
  kReceipt = 3,    // our receipt's Receipt entry (ReceiptResult.ledger_index)
};
std::string_view AuditJobKindName(AuditJobKind k);

struct AuditJob {
  uint64_t index = 0;
  AuditJobKind kind = AuditJobKind::kSubmitted;
  std::string message_id;
  std::string hash;  // lowercase hex: envelope hash (kSubmitted, kReceived) or receipt hash
  UnixMillis since_ms = 0;
  // kReceipt of a receipt signed again after a key rotation: the other
  // copy's hash; the entry may hold either. Empty otherwise.
  std::string alt_hash;
  bool operator==(const AuditJob&) const = default;
};

nlohmann::json ToJson(const AuditJob& j);
Result<AuditJob> AuditJobFromJson(std::string_view text);

// Where alarms go: the agent logs (audit.alarm at error), counts and stores
// them. Implementations must be thread-safe.
class AlarmSink {
 public:
  virtual ~AlarmSink() = default;
  virtual void RaiseAlarm(std::string kind, std::string message, nlohmann::json details) = 0;
};

// "2026-11-28T15:49:00.000Z", or "" for 0.
std::string TimeText(UnixMillis t);

}  // namespace mlahub::agents
