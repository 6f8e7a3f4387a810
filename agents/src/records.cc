#include "mlahub/agents/records.h"

namespace mlahub::agents {

using nlohmann::json;

std::string TimeText(UnixMillis t) { return t == 0 ? std::string() : FormatRfc3339(t); }

namespace {

template <typename T>
T Get(const json& j, const char* key, T dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  return it->get<T>();
}

std::optional<uint64_t> GetOpt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<uint64_t>();
}

void PutOpt(json& j, const char* key, const std::optional<uint64_t>& v) {
  if (v) j[key] = *v;
}

std::vector<EvidenceEvent> TimelineFromJson(const json& j) {
  std::vector<EvidenceEvent> out;
  auto it = j.find("timeline");
  if (it == j.end() || !it->is_array()) return out;
  for (const json& e : *it) out.push_back(EvidenceEventFromJson(e));
  return out;
}

json TimelineToJson(const std::vector<EvidenceEvent>& t) {
  json a = json::array();
  for (const EvidenceEvent& e : t) a.push_back(ToJson(e));
  return a;
}

// Parses stored JSON; a record that does not parse is corruption of the
// case store (it was written by this program).
template <typename F>
auto ParseStored(std::string_view text, const char* what, F&& f) -> decltype(f(json())) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption(std::string(what) + " record is not a JSON object");
  try {
    return f(j);
  } catch (const json::exception& e) {
    return Status::Corruption(std::string(what) + " record: " + e.what());
  }
}

}  // namespace

json ToJson(const EvidenceEvent& e) {
  json j;
  j["event"] = e.event;
  j["at_ms"] = e.at_ms;
  j["at"] = TimeText(e.at_ms);
  j["source"] = e.source;
  PutOpt(j, "ledger_index", e.ledger_index);
  if (!e.code.empty()) j["code"] = e.code;
  if (!e.detail.empty()) j["detail"] = e.detail;
  if (e.attempt != 0) j["attempt"] = e.attempt;
  return j;
}

EvidenceEvent EvidenceEventFromJson(const json& j) {
  EvidenceEvent e;
  e.event = Get<std::string>(j, "event", "");
  e.at_ms = Get<int64_t>(j, "at_ms", 0);
  e.source = Get<std::string>(j, "source", "");
  e.ledger_index = GetOpt(j, "ledger_index");
  e.code = Get<std::string>(j, "code", "");
  e.detail = Get<std::string>(j, "detail", "");
  e.attempt = Get<uint32_t>(j, "attempt", 0);
  return e;
}

std::string_view OutStateName(OutState s) {
  switch (s) {
    case OutState::kSubmitted: return "submitted";
    case OutState::kAccepted: return "accepted";
    case OutState::kDelivered: return "delivered";
    case OutState::kReceipted: return "receipted";
    case OutState::kRejected: return "rejected";
    case OutState::kExpired: return "expired";
  }
  return "unknown";
}

Result<OutState> ParseOutState(std::string_view name) {
  for (OutState s : {OutState::kSubmitted, OutState::kAccepted, OutState::kDelivered, OutState::kReceipted,
                     OutState::kRejected, OutState::kExpired}) {
    if (OutStateName(s) == name) return s;
  }
  return Status::Corruption("unknown outgoing state \"" + std::string(name) + "\"");
}

json ToJson(const OutgoingRecord& r) {
  json j;
  j["message_id"] = r.message_id;
  j["box"] = "out";
  j["seq"] = r.local_seq;
  j["recipient"] = r.recipient;
  j["kind"] = r.kind;
  j["case_ref"] = r.case_ref;
  j["in_reply_to"] = r.in_reply_to;
  j["handling"] = r.handling;
  j["legal_basis"] = r.legal_basis;
  j["priority"] = r.priority;
  j["created_ms"] = r.created_ms;
  j["expires_ms"] = r.expires_ms;
  j["envelope_hash"] = r.envelope_hash;
  j["envelope_size"] = r.envelope_size;
  j["state"] = std::string(OutStateName(r.state));
  j["submitted_ms"] = r.submitted_ms;
  j["accepted_ms"] = r.accepted_ms;
  j["delivered_ms"] = r.delivered_ms;
  j["receipt_ms"] = r.receipt_ms;
  PutOpt(j, "ledger_index", r.ledger_index);
  PutOpt(j, "tree_size", r.tree_size);
  PutOpt(j, "receipt_ledger_index", r.receipt_ledger_index);
  if (!r.refusal_code.empty()) {
    j["refusal_code"] = r.refusal_code;
    j["refusal_message"] = r.refusal_message;
  }
  j["warnings"] = r.warnings;
  j["failures"] = r.failures;
  j["included"] = r.included;
  j["timeline"] = TimelineToJson(r.timeline);
  return j;
}

Result<OutgoingRecord> OutgoingFromJson(std::string_view text) {
  return ParseStored(text, "outgoing message", [](const json& j) -> Result<OutgoingRecord> {
    OutgoingRecord r;
    r.message_id = Get<std::string>(j, "message_id", "");
    r.local_seq = Get<uint64_t>(j, "seq", 0);
    r.recipient = Get<std::string>(j, "recipient", "");
    r.kind = Get<std::string>(j, "kind", "");
    r.case_ref = Get<std::string>(j, "case_ref", "");
    r.in_reply_to = Get<std::string>(j, "in_reply_to", "");
    r.handling = Get<std::string>(j, "handling", "");
    r.legal_basis = Get<std::string>(j, "legal_basis", "");
    r.priority = Get<std::string>(j, "priority", "");
    r.created_ms = Get<int64_t>(j, "created_ms", 0);
    r.expires_ms = Get<int64_t>(j, "expires_ms", 0);
    r.envelope_hash = Get<std::string>(j, "envelope_hash", "");
    r.envelope_size = Get<uint64_t>(j, "envelope_size", 0);
    MLAHUB_ASSIGN_OR_RETURN(r.state, ParseOutState(Get<std::string>(j, "state", "")));
    r.submitted_ms = Get<int64_t>(j, "submitted_ms", 0);
    r.accepted_ms = Get<int64_t>(j, "accepted_ms", 0);
    r.delivered_ms = Get<int64_t>(j, "delivered_ms", 0);
    r.receipt_ms = Get<int64_t>(j, "receipt_ms", 0);
    r.ledger_index = GetOpt(j, "ledger_index");
    r.tree_size = GetOpt(j, "tree_size");
    r.receipt_ledger_index = GetOpt(j, "receipt_ledger_index");
    r.refusal_code = Get<std::string>(j, "refusal_code", "");
    r.refusal_message = Get<std::string>(j, "refusal_message", "");
    r.warnings = Get<std::vector<std::string>>(j, "warnings", {});
    r.failures = Get<std::vector<std::string>>(j, "failures", {});
    r.included = Get<bool>(j, "included", false);
    r.timeline = TimelineFromJson(j);
    if (r.message_id.empty()) return Status::Corruption("outgoing message record without a message id");
    return r;
  });
}

json ToJson(const IncomingRecord& r) {
  json j;
  j["message_id"] = r.message_id;
  j["box"] = "in";
  j["seq"] = r.delivery_seq;
  j["sender"] = r.sender;
  j["sender_sign_key"] = r.sender_sign_key;
  j["kind"] = r.kind;
  j["case_ref"] = r.case_ref;
  j["in_reply_to"] = r.in_reply_to;
  j["handling"] = r.handling;
  j["legal_basis"] = r.legal_basis;
  j["priority"] = r.priority;
  j["created_ms"] = r.created_ms;
  j["expires_ms"] = r.expires_ms;
  j["delivery_seq"] = r.delivery_seq;
  j["ledger_index"] = r.ledger_index;
  j["envelope_hash"] = r.envelope_hash;
  j["envelope_size"] = r.envelope_size;
  j["received_ms"] = r.received_ms;
  j["state"] = r.receipt_recorded ? "receipted" : "stored";
  j["receipt_recorded"] = r.receipt_recorded;
  PutOpt(j, "receipt_ledger_index", r.receipt_ledger_index);
  j["included"] = r.included;
  j["timeline"] = TimelineToJson(r.timeline);
  return j;
}

Result<IncomingRecord> IncomingFromJson(std::string_view text) {
  return ParseStored(text, "incoming message", [](const json& j) -> Result<IncomingRecord> {
    IncomingRecord r;
    r.message_id = Get<std::string>(j, "message_id", "");
    r.sender = Get<std::string>(j, "sender", "");
    r.sender_sign_key = Get<std::string>(j, "sender_sign_key", "");
    r.kind = Get<std::string>(j, "kind", "");
    r.case_ref = Get<std::string>(j, "case_ref", "");
    r.in_reply_to = Get<std::string>(j, "in_reply_to", "");
    r.handling = Get<std::string>(j, "handling", "");
    r.legal_basis = Get<std::string>(j, "legal_basis", "");
    r.priority = Get<std::string>(j, "priority", "");
    r.created_ms = Get<int64_t>(j, "created_ms", 0);
    r.expires_ms = Get<int64_t>(j, "expires_ms", 0);
    r.delivery_seq = Get<uint64_t>(j, "delivery_seq", 0);
    r.ledger_index = Get<uint64_t>(j, "ledger_index", 0);
    r.envelope_hash = Get<std::string>(j, "envelope_hash", "");
    r.envelope_size = Get<uint64_t>(j, "envelope_size", 0);
    r.received_ms = Get<int64_t>(j, "received_ms", 0);
    r.receipt_recorded = Get<bool>(j, "receipt_recorded", false);
    r.receipt_ledger_index = GetOpt(j, "receipt_ledger_index");
    r.included = Get<bool>(j, "included", false);
    r.timeline = TimelineFromJson(j);
    if (r.message_id.empty()) return Status::Corruption("incoming message record without a message id");
    return r;
  });
}

json ToJson(const RefusedDelivery& r) {
  json j;
  j["delivery_seq"] = r.delivery_seq;
  j["ledger_index"] = r.ledger_index;
  j["message_id"] = r.message_id;
  j["sender"] = r.sender;
  j["envelope_hash"] = r.envelope_hash;
  j["code"] = r.code;
  j["message"] = r.message;
  j["first_ms"] = r.first_ms;
  j["last_ms"] = r.last_ms;
  j["attempts"] = r.attempts;
  return j;
}

Result<RefusedDelivery> RefusedFromJson(std::string_view text) {
  return ParseStored(text, "refused delivery", [](const json& j) -> Result<RefusedDelivery> {
    RefusedDelivery r;
    r.delivery_seq = Get<uint64_t>(j, "delivery_seq", 0);
    r.ledger_index = Get<uint64_t>(j, "ledger_index", 0);
    r.message_id = Get<std::string>(j, "message_id", "");
    r.sender = Get<std::string>(j, "sender", "");
    r.envelope_hash = Get<std::string>(j, "envelope_hash", "");
    r.code = Get<std::string>(j, "code", "");
    r.message = Get<std::string>(j, "message", "");
    r.first_ms = Get<int64_t>(j, "first_ms", 0);
    r.last_ms = Get<int64_t>(j, "last_ms", 0);
    r.attempts = Get<uint32_t>(j, "attempts", 0);
    return r;
  });
}

json ToJson(const Alarm& a) {
  json j;
  j["id"] = a.id;
  j["at_ms"] = a.at_ms;
  j["at"] = TimeText(a.at_ms);
  j["kind"] = a.kind;
  j["message"] = a.message;
  j["details"] = a.details;
  return j;
}

Result<Alarm> AlarmFromJson(std::string_view text) {
  return ParseStored(text, "alarm", [](const json& j) -> Result<Alarm> {
    Alarm a;
    a.id = Get<uint64_t>(j, "id", 0);
    a.at_ms = Get<int64_t>(j, "at_ms", 0);
    a.kind = Get<std::string>(j, "kind", "");
    a.message = Get<std::string>(j, "message", "");
    auto it = j.find("details");
    if (it != j.end() && it->is_object()) a.details = *it;
    return a;
  });
}

std::string_view AuditJobKindName(AuditJobKind k) {
  switch (k) {
    case AuditJobKind::kSubmitted: return "submitted";
    case AuditJobKind::kReceived: return "received";
    case AuditJobKind::kReceipt: return "receipt";
  }
  return "unknown";
}

json ToJson(const AuditJob& a) {
  json j;
  j["index"] = a.index;
  j["kind"] = std::string(AuditJobKindName(a.kind));
  j["message_id"] = a.message_id;
  j["hash"] = a.hash;
  if (!a.alt_hash.empty()) j["alt_hash"] = a.alt_hash;
  j["since_ms"] = a.since_ms;
  return j;
}

Result<AuditJob> AuditJobFromJson(std::string_view text) {
  return ParseStored(text, "audit job", [](const json& j) -> Result<AuditJob> {
    AuditJob a;
    a.index = Get<uint64_t>(j, "index", 0);
    std::string kind = Get<std::string>(j, "kind", "");
    if (kind == "submitted") {
      a.kind = AuditJobKind::kSubmitted;
    } else if (kind == "received") {
      a.kind = AuditJobKind::kReceived;
    } else if (kind == "receipt") {
      a.kind = AuditJobKind::kReceipt;
    } else {
      return Status::Corruption("audit job of unknown kind \"" + kind + "\"");
    }
    a.message_id = Get<std::string>(j, "message_id", "");
    a.hash = Get<std::string>(j, "hash", "");
    a.alt_hash = Get<std::string>(j, "alt_hash", "");
    a.since_ms = Get<int64_t>(j, "since_ms", 0);
    return a;
  });
}

}  // namespace mlahub::agents
