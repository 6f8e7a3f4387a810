// The agent's LocalApi: what the HTTP endpoints call. Runs on the API
// server's threads: reads the case store, and hands new outbox entries to
// the network thread (agent.cc) through new_outbox_.
#include <unistd.h>

#include "mlahub/agents/agent.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/random.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/envelope/receipt.h"
#include "mlahub/ops/log.h"
#include "mlahub/schemas/kinds.h"
#include "mlahub/workflow/check.h"
#include "internal.h"

namespace mlahub::agents {

using nlohmann::json;

namespace {

Result<wire::HandlingCode> ParseHandling(std::string_view t) {
  if (t.empty()) return wire::HandlingCode::H0;
  for (auto v : wire::EnumValuesHandlingCode())
    if (t == wire::EnumNameHandlingCode(v)) return v;
  return Status::InvalidArgument("handling must be H0, H1, H2 or H3");
}

Result<wire::LegalBasis> ParseLegalBasis(std::string_view t) {
  if (t.empty()) return wire::LegalBasis::Untoc;
  std::string valid;
  for (auto v : wire::EnumValuesLegalBasis()) {
    if (t == wire::EnumNameLegalBasis(v)) return v;
    if (!valid.empty()) valid += ", ";
    valid += wire::EnumNameLegalBasis(v);
  }
  return Status::InvalidArgument("legal_basis must be one of " + valid);
}

Result<wire::Priority> ParsePriority(std::string_view t) {
  if (t.empty() || t == "Normal" || t == "normal") return wire::Priority::Normal;
  if (t == "Urgent" || t == "urgent") return wire::Priority::Urgent;
  return Status::InvalidArgument("priority must be Normal or Urgent");
}

// Listing entries carry metadata only.
json Metadata(json j) {
  j.erase("timeline");
  return j;
}

}  // namespace

Result<std::optional<SubmitOutcome>> Agent::RepeatedSubmission(const std::string& message_id, const std::string& to,
                                                               const std::string& kind) const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<OutgoingRecord> existing, store_->GetOutgoing(message_id));
  if (existing) {
    if (existing->recipient != to || existing->kind != kind)
      return Status::AlreadyExists("message id " + message_id + " is already used for another message");
    return std::optional<SubmitOutcome>(SubmitOutcome{message_id, true, ToJson(*existing)});
  }
  // A received message's id (the one being answered, given by mistake as
  // this message's own): its case index would be overwritten.
  MLAHUB_ASSIGN_OR_RETURN(std::optional<IncomingRecord> received, store_->GetIncoming(message_id));
  if (received)
    return Status::AlreadyExists("message id " + message_id + " is a message received from " + received->sender +
                                 "; give this message an id of its own (or none), and the received one as in_reply_to");
  return std::optional<SubmitOutcome>();
}

Result<SubmitOutcome> Agent::SubmitMessage(const MessageRequest& req) {
  auto kind = schemas::ResolveKind(req.kind);
  if (!kind.ok()) return kind.status();
  auto to = NodeId::Parse(req.to);
  if (!to.ok()) return Status::InvalidArgument("\"to\": " + to.status().message());
  if (to->str() == config_.node_id) return Status::InvalidArgument("a node cannot send a message to itself");
  envelope::SealParams sp;
  sp.kind = kind->kind;
  sp.case_ref = req.case_ref;
  sp.expires_ms = req.expires_ms;
  if (!req.message_id.empty()) {
    auto id = MessageId::Parse(req.message_id);
    if (!id.ok()) return Status::InvalidArgument("\"message_id\": " + id.status().message());
    sp.message_id = req.message_id;
    // An idempotent retry: answer with what is stored, without sealing again.
    MLAHUB_ASSIGN_OR_RETURN(std::optional<SubmitOutcome> repeat, RepeatedSubmission(req.message_id, to->str(), kind->name));
    if (repeat) return std::move(*repeat);
  } else {
    sp.message_id = crypto::NewMessageIdText();
  }
  if (!req.in_reply_to.empty()) {
    auto id = MessageId::Parse(req.in_reply_to);
    if (!id.ok()) return Status::InvalidArgument("\"in_reply_to\": " + id.status().message());
    sp.in_reply_to = req.in_reply_to;
  }
  MLAHUB_ASSIGN_OR_RETURN(sp.handling, ParseHandling(req.handling));
  MLAHUB_ASSIGN_OR_RETURN(sp.legal_basis, ParseLegalBasis(req.legal_basis));
  MLAHUB_ASSIGN_OR_RETURN(sp.priority, ParsePriority(req.priority));
  auto dir = Dir();
  UnixMillis now = clock_->NowMillis();
  MLAHUB_RETURN_IF_ERROR(dir->CheckRecipient(to->str(), kind->kind, now));
  const directory::Entry* re = dir->Find(to->str());
  // The body must decode for its kind (kMalformed names the field) before
  // anything is checked against it.
  MLAHUB_ASSIGN_OR_RETURN(Bytes payload, envelope::BuildPayloadFromJson(kind->kind, req.body_json));
  // FlatBuffers' parser takes a relaxed JSON (comments, say) that the case
  // logic's parser refuses; that logic must then read FlatBuffers' own
  // print of the body, the JSON the recipient will see, instead of finding
  // no body (no child-victim priority, no sealed copy, no evidence route).
  std::string body_json = req.body_json;
  if (!json::accept(body_json)) {
    MLAHUB_ASSIGN_OR_RETURN(body_json, envelope::BodyToJson(payload));
  }
  if (IsRequestKind(kind->kind)) {
    // A new request must be complete for its kind and legal basis (cases.h).
    workflow::Draft draft;
    draft.kind = kind->kind;
    draft.from = config_.node_id;
    draft.to = to->str();
    draft.legal_basis = sp.legal_basis;
    draft.priority = sp.priority;
    draft.case_ref = req.case_ref;
    draft.body_json = body_json;
    Status ready = workflow::ReadyToSubmit(draft, dir->Find(config_.node_id), re);
    if (!ready.ok()) return Status(ready.code(), std::string(kIncompletePrefix) + ready.message());
  }
  // The case: a request starts one, a step is checked against it; stored with
  // the message in one batch (cases.h).
  std::unique_lock<std::mutex> case_lock(cases_->mu());
  if (!req.message_id.empty()) {
    // Again under the lock: a retry that came while the first submission
    // was being stored (its client gave up waiting) is the same answer, not
    // a second sealing that the outbox or the case would refuse.
    MLAHUB_ASSIGN_OR_RETURN(std::optional<SubmitOutcome> repeat, RepeatedSubmission(req.message_id, to->str(), kind->name));
    if (repeat) return std::move(*repeat);
  }
  OutgoingStep os{sp.message_id, kind->kind, to->str(), sp.in_reply_to, sp.legal_basis, sp.priority,
                  req.case_ref, body_json, now};
  MLAHUB_ASSIGN_OR_RETURN(std::optional<CaseRecord> case_rec, cases_->PrepareOutgoing(os));
  MLAHUB_ASSIGN_OR_RETURN(Bytes env, envelope::Seal(sp, keys_, re->identity, payload, *clock_));
  if (env.size() > config_.max_envelope_bytes)
    return Status::Oversize("the sealed envelope is " + std::to_string(env.size()) + " bytes; the maximum is " +
                            std::to_string(config_.max_envelope_bytes));
  // Streamed evidence the body announces travels once the hub accepts it.
  MLAHUB_RETURN_IF_ERROR(NoteOutgoingStreams(sp.message_id, to->str(), body_json));
  MarkBusy();
  auto added = outbox_->Add(env, sp.message_id, [&](StoreBatch& b) {
    if (case_rec) Cases::Put(b, *case_rec, sp.message_id);
  });
  if (added.ok() && case_rec) NoteCasePriority(*case_rec, added->record);  // a child victim: Urgent (cases.h)
  if (added.ok()) wake_.Signal();
  return added;
}

Result<SubmitOutcome> Agent::SubmitEnvelope(ByteView env) {
  MLAHUB_ASSIGN_OR_RETURN(envelope::Parsed p, envelope::Parse(env, config_.max_envelope_bytes));
  if (p.sender() != config_.node_id)
    return Status::SenderMismatch("the envelope's sender is " + std::string(p.sender()) + ", this agent is " +
                                  config_.node_id);
  MLAHUB_RETURN_IF_ERROR(envelope::VerifyOrigin(p, keys_.sign.public_key()));
  if (!envelope::IsKnownKind(p.header->kind()))
    return Status::UnknownKind("the envelope's kind is not one this protocol version defines");
  UnixMillis now = clock_->NowMillis();
  MLAHUB_RETURN_IF_ERROR(envelope::CheckTimes(*p.header, now, config_.max_clock_skew_ms));
  auto id = MessageId::Parse(p.message_id());
  if (!id.ok()) return Status::Malformed("message id: " + id.status().message());
  auto dir = Dir();
  MLAHUB_RETURN_IF_ERROR(dir->CheckRecipient(p.recipient(), p.header->kind(), now));
  const directory::Entry* re = dir->Find(p.recipient());
  identity::KeyId kid = re->identity.enc_key_id();
  const auto* rk = p.header->recipient_key_id();
  if (rk == nullptr || rk->size() != kid.size() || !std::equal(kid.begin(), kid.end(), rk->begin()))
    return Status::WrongRecipient("the envelope is sealed to a key of " + std::string(p.recipient()) +
                                  " that the directory no longer lists");
  MarkBusy();
  auto added = outbox_->Add(env, std::string(p.message_id()));
  if (added.ok()) wake_.Signal();
  return added;
}

json Agent::Health() const {
  auto dir = Dir();
  json j;
  j["node_id"] = config_.node_id;
  j["pid"] = static_cast<int64_t>(::getpid());
  int cs = conn_state_.load();
  j["connection"] = cs == 1 ? "connected" : cs == 2 ? "refused" : "connecting";
  j["broker"] = config_.broker;
  j["connected_since"] = cs == 1 ? TimeText(connected_since_ms_.load()) : std::string();
  // Milliseconds since the last message from the broker while connected: a
  // broker that stopped answering shows here before [reconnect]
  // broker_silence_ms makes the agent reconnect.
  j["broker_silent_ms"] =
      cs == 1 ? json(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now().time_since_epoch())
                             .count() -
                     last_from_broker_ms_.load())
              : json(nullptr);
  j["network"] = dir->network();
  j["directory_version"] = dir->version();
  auto cp = auditor_->held();
  j["checkpoint"] = cp ? json{{"origin", cp->origin}, {"tree_size", cp->size}} : json(nullptr);
  j["outbox"] = outbox_->depth();
  j["inbox"] = inbox_->stored_count();
  j["sent"] = outbox_->total();
  j["open"] = open_atomic_.load();
  j["pending_receipts"] = inbox_->pending_count();
  j["last_delivery_seq"] = inbox_->last_delivery_seq();
  j["alarms"] = alarms_count_.load();
  j["audit_jobs_pending"] = auditor_->pending_jobs();
  j["now"] = TimeText(clock_->NowMillis());
  j["version"] = "0.1.0";
  return j;
}

Result<json> Agent::List(Box box, uint64_t after, size_t limit) const {
  json out;
  out["box"] = box == Box::kIn ? "in" : "out";
  json items = json::array();
  uint64_t last = after;
  if (box == Box::kIn) {
    MLAHUB_ASSIGN_OR_RETURN(std::vector<IncomingRecord> v, store_->ListIncoming(after, limit));
    for (const IncomingRecord& r : v) {
      items.push_back(Metadata(ToJson(r)));
      last = r.delivery_seq;
    }
  } else {
    MLAHUB_ASSIGN_OR_RETURN(std::vector<OutgoingRecord> v, store_->ListOutgoing(after, limit));
    for (const OutgoingRecord& r : v) {
      json m = Metadata(ToJson(r));
      m["summary"] = Summary(r);
      items.push_back(std::move(m));
      last = r.local_seq;
    }
  }
  out["next_after"] = items.size() == limit ? json(last) : json(nullptr);
  out["messages"] = std::move(items);
  return out;
}

Result<json> Agent::Show(std::string_view message_id) const {
  auto id = MessageId::Parse(message_id);
  if (!id.ok()) return Status::InvalidArgument("message id: " + id.status().message());
  MLAHUB_ASSIGN_OR_RETURN(std::optional<OutgoingRecord> out, store_->GetOutgoing(message_id));
  if (out) {
    json j;
    j["message"] = ToJson(*out);
    j["message"]["summary"] = Summary(*out);
    MLAHUB_ASSIGN_OR_RETURN(std::optional<Bytes> rc, store_->GetOutgoingReceipt(message_id));
    if (rc) {
      auto info = envelope::DecodeReceipt(*rc);
      if (info.ok()) {
        j["receipt"] = {{"received_ms", info->received_ms}, {"received", TimeText(info->received_ms)},
                        {"signed_by", info->recipient}, {"envelope_hash", HexOf(info->envelope_hash)},
                        {"signed_receipt", crypto::ToBase64(*rc)}};
      }
    }
    return j;
  }
  MLAHUB_ASSIGN_OR_RETURN(std::optional<IncomingRecord> in, store_->GetIncoming(message_id));
  if (!in) return Status::NotFound("no message " + std::string(message_id) + " in this agent's case store");
  json j;
  j["message"] = ToJson(*in);
  // Open the stored envelope now, with this agent's key. The time check is
  // made as of reception (a stored message stays readable after it expires),
  // and the sender's key is the one that verified it then.
  MLAHUB_ASSIGN_OR_RETURN(std::optional<Bytes> env, store_->GetIncomingEnvelope(message_id));
  if (!env) return Status::Corruption("the envelope of " + std::string(message_id) + " is missing from the case store");
  identity::PublicIdentity sender;
  auto sid = NodeId::Parse(in->sender);
  auto skey = crypto::FromHex(in->sender_sign_key);
  if (!sid.ok() || !skey.ok()) return Status::Corruption("stored record of " + std::string(message_id) + " is damaged");
  sender.id = *sid;
  auto spk = crypto::SignPublicKeyFromBytes(*skey);
  if (!spk.ok()) return Status::Corruption("stored sender key of " + std::string(message_id) + " is damaged");
  sender.sign_key = *spk;
  FakeClock then(in->received_ms);
  envelope::OpenOptions oo;
  oo.max_size = std::max<size_t>(config_.max_envelope_bytes, env->size());
  oo.max_clock_skew_ms = config_.max_clock_skew_ms;
  oo.clock = &then;
  // The current keys, then any earlier ones (LoadPreviousKeys): a body
  // stored before a rotation is opened with the key it was sealed to.
  auto opened = envelope::OpenWithAny(*env, opening_keys_, sender, oo);
  if (!opened.ok()) {
    j["body"] = nullptr;
    j["body_error"] = opened.status().ToString();
    return j;
  }
  auto body = envelope::BodyToJson(opened->payload());
  if (!body.ok()) {
    j["body"] = nullptr;
    j["body_error"] = body.status().ToString();
    return j;
  }
  json parsed = json::parse(*body, nullptr, false);
  j["body"] = parsed.is_discarded() ? json(*body) : parsed;
  return j;
}

Result<json> Agent::MessageStatus(std::string_view message_id) const {
  auto id = MessageId::Parse(message_id);
  if (!id.ok()) return Status::InvalidArgument("message id: " + id.status().message());
  MLAHUB_ASSIGN_OR_RETURN(std::optional<OutgoingRecord> out, store_->GetOutgoing(message_id));
  if (out) {
    json j;
    j["message_id"] = out->message_id;
    j["box"] = "out";
    j["recipient"] = out->recipient;
    j["kind"] = out->kind;
    j["state"] = std::string(OutStateName(out->state));
    j["final"] = IsFinal(*out);
    j["summary"] = Summary(*out);
    j["warnings"] = out->warnings;
    j["failures"] = out->failures;
    j["ledger_index"] = out->ledger_index ? json(*out->ledger_index) : json(nullptr);
    j["included"] = out->included;
    if (!out->refusal_code.empty()) j["refusal"] = {{"code", out->refusal_code}, {"message", out->refusal_message}};
    json tl = json::array();
    for (const EvidenceEvent& e : out->timeline) tl.push_back(ToJson(e));
    j["timeline"] = std::move(tl);
    return j;
  }
  MLAHUB_ASSIGN_OR_RETURN(std::optional<IncomingRecord> in, store_->GetIncoming(message_id));
  if (!in) return Status::NotFound("no message " + std::string(message_id) + " in this agent's case store");
  json j;
  j["message_id"] = in->message_id;
  j["box"] = "in";
  j["sender"] = in->sender;
  j["kind"] = in->kind;
  j["state"] = in->receipt_recorded ? "receipted" : "stored";
  j["final"] = in->receipt_recorded;
  j["summary"] = in->receipt_recorded ? "stored; the hub recorded our signed receipt" : "stored; receipt sent, not yet recorded by the hub";
  j["ledger_index"] = in->ledger_index;
  j["included"] = in->included;
  json tl = json::array();
  for (const EvidenceEvent& e : in->timeline) tl.push_back(ToJson(e));
  j["timeline"] = std::move(tl);
  return j;
}

Result<json> Agent::Alarms(uint64_t after, size_t limit) const {
  MLAHUB_ASSIGN_OR_RETURN(std::vector<Alarm> alarms, store_->ListAlarms(after, limit));
  json j;
  j["count"] = alarms_count_.load();
  json a = json::array();
  for (const Alarm& x : alarms) a.push_back(ToJson(x));
  j["alarms"] = std::move(a);
  MLAHUB_ASSIGN_OR_RETURN(std::vector<RefusedDelivery> refused, store_->ListRefused(1000));
  json r = json::array();
  for (const RefusedDelivery& x : refused) r.push_back(ToJson(x));
  j["refused_deliveries"] = std::move(r);
  return j;
}

json Agent::Audit() const {
  json j = auditor_->Report();
  j["alarms"] = alarms_count_.load();
  return j;
}

}  // namespace mlahub::agents
