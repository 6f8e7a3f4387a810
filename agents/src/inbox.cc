#include "mlahub/agents/inbox.h"

#include "mlahub/agents/cases.h"

#include "mlahub/crypto/encoding.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/envelope/receipt.h"
#include "mlahub/ops/log.h"
#include "internal.h"

namespace mlahub::agents {

namespace tp = transport;

Inbox::Inbox(CaseStore& store, const identity::NodeKeys& keys, DirectoryFn directory, const Clock& clock,
             AlarmSink& alarms, ops::Registry* metrics, InboxOptions options)
    : store_(store),
      keys_(keys),
      directory_(std::move(directory)),
      clock_(clock),
      alarms_(alarms),
      metrics_(metrics),
      options_(std::move(options)) {}

Status Inbox::Load() {
  MLAHUB_ASSIGN_OR_RETURN(last_seq_, store_.LastDeliverySeq());
  MLAHUB_ASSIGN_OR_RETURN(std::vector<uint64_t> handled, store_.HandledSeqsAfter(last_seq_));
  handled_above_.insert(handled.begin(), handled.end());
  MLAHUB_ASSIGN_OR_RETURN(auto receipts, store_.PendingReceipts());
  for (auto& [seq, id] : receipts) pending_.emplace(seq, Pending{id, 0, 0});
  MLAHUB_ASSIGN_OR_RETURN(uint64_t count, store_.GetCounter("in_count"));
  stored_ = count;
  last_seq_atomic_ = last_seq_;
  pending_atomic_ = pending_.size();
  return Status::Ok();
}

void Inbox::Count(const char* name, const char* help, const ops::Labels& labels) {
  if (metrics_ != nullptr) metrics_->counter(name, help, labels).Inc();
}

// What a group of deliveries will change, applied only once its batch is
// durable.
struct Inbox::Staging {
  StoreBatch batch;
  uint64_t last = 0;
  std::set<uint64_t> above;
  std::map<std::string, uint64_t> ids;       // message ids stored in this batch
  std::map<std::string, std::string> hashes; // their envelope hashes (hex)
  std::map<uint64_t, std::string> seq_ids;   // stored or duplicate in this batch
  std::set<uint64_t> refused;                // refused in this batch
  std::vector<std::pair<uint64_t, std::string>> receipts;  // become due
  uint64_t stored = 0;
  std::vector<std::function<void()>> after;  // logs, metrics, alarms
};

void Inbox::Handled(Staging& st, uint64_t seq) {
  if (seq <= st.last) return;
  if (seq != st.last + 1) {
    st.above.insert(seq);
    return;
  }
  st.last = seq;
  while (st.above.erase(st.last + 1) != 0) ++st.last;
}

void Inbox::Settled(Staging& st, uint64_t below) {
  // The hub says nothing below `below` will come again (receipted, or
  // expired; one that expired before it could be delivered was never sent):
  // a gap there is final.
  if (below == 0 || below - 1 <= st.last) return;
  st.last = below - 1;
  st.above.erase(st.above.begin(), st.above.upper_bound(st.last));
  while (st.above.erase(st.last + 1) != 0) ++st.last;
}

std::vector<Inbox::Outcome> Inbox::OnDeliveries(const std::vector<const tp::Deliver*>& ds) {
  Staging st;
  st.last = last_seq_;
  st.above = handled_above_;
  std::vector<Outcome> outs;
  outs.reserve(ds.size());
  Status w;
  {
    // The cases' read-check-write spans the whole batch (cases.h); ended on
    // every way out, an exception included (the staged batch is then
    // dropped unwritten, and nothing of it was applied).
    struct CasesBatch {
      Cases* cases;
      explicit CasesBatch(Cases* c) : cases(c) {
        if (cases != nullptr) cases->BeginBatch();
      }
      ~CasesBatch() {
        if (cases != nullptr) cases->EndBatch();
      }
    } guard(options_.cases);
    for (const tp::Deliver* d : ds) {
      Settled(st, d->settled_below);
      outs.push_back(Stage(st, *d));
    }
    if (!st.batch.empty()) {
      CaseStore::PutLastDeliverySeq(st.batch, st.last);
      if (st.stored != 0) CaseStore::PutCounter(st.batch, "in_count", stored_.load() + st.stored);
      w = store_.Write(st.batch);
    }
  }
  if (!w.ok()) {
    // Nothing stored, nothing receipted: the hub delivers them again.
    ops::Error("agent.store_failed", {{"what", "delivery"}, {"count", uint64_t{ds.size()}}, {"error", w.ToString()}});
    for (Outcome& o : outs) {
      if (o.kind != Outcome::Kind::kNotHandled) {
        o.kind = Outcome::Kind::kNotHandled;
        o.why = w;
        o.job.reset();
      }
    }
    return outs;
  }
  if (st.stored != 0 && options_.after_store) options_.after_store();
  last_seq_ = st.last;
  handled_above_ = std::move(st.above);
  last_seq_atomic_ = last_seq_;
  stored_ += st.stored;
  for (auto& [seq, id] : st.receipts) pending_[seq] = Pending{id, 0, 0};
  pending_atomic_ = pending_.size();
  for (auto& f : st.after) f();
  return outs;
}

Inbox::Outcome Inbox::OnDeliver(const tp::Deliver& d) { return OnDeliveries({&d})[0]; }

Inbox::Outcome Inbox::Stage(Staging& st, const tp::Deliver& d) {
  Outcome out;
  const uint64_t seq = d.delivery_seq;
  if (seq == 0) {
    out.why = Status::Malformed("Deliver with delivery_seq 0");
    return out;
  }
  UnixMillis now = clock_.NowMillis();
  // Already handled under this sequence number: the same receipt again.
  if (st.refused.count(seq) != 0) {
    out.kind = Outcome::Kind::kRefused;
    out.why = Status::Duplicate("delivery_seq " + std::to_string(seq) + " was refused just now");
    return out;
  }
  std::optional<std::string> known;
  if (auto it = st.seq_ids.find(seq); it != st.seq_ids.end()) known = it->second;
  if (!known) {
    auto k = store_.IdForDeliverySeq(seq);
    if (!k.ok()) {
      out.why = k.status();
      return out;
    }
    known = *k;
  }
  // The hash of the envelope this delivery carries; a "duplicate" must carry
  // the very envelope stored before, or it is another message under a reused
  // sequence number or id (a hub restored from an old backup, say), refused
  // with an alarm, never eliminated silently.
  const crypto::Digest32 hash = envelope::EnvelopeHash(d.envelope);
  const std::string hash_hex = HexOf(hash);
  auto stored_hash = [&](const std::string& id) -> Result<std::optional<std::string>> {
    if (auto it = st.hashes.find(id); it != st.hashes.end()) return std::optional<std::string>(it->second);
    MLAHUB_ASSIGN_OR_RETURN(std::optional<IncomingRecord> r, store_.GetIncoming(id));
    if (!r) return std::optional<std::string>();
    return std::optional<std::string>(r->envelope_hash);
  };
  if (known) {
    auto h = stored_hash(*known);
    if (!h.ok()) {
      out.why = h.status();
      return out;
    }
    if (*h && **h != hash_hex) {
      return Refuse(st, d,
                    Status::Duplicate("delivery_seq " + std::to_string(seq) + " already carried message " + *known +
                                      " (envelope " + **h + "); this delivery carries another envelope (" + hash_hex +
                                      ") under the same sequence number"),
                    "", "");
    }
    out.kind = Outcome::Kind::kDuplicate;
    out.message_id = *known;
    // A refusal recorded for this number (another envelope came under it
    // before) is over: the stored message came again.
    if (auto r = store_.GetRefused(seq); r.ok() && r->has_value()) CaseStore::DeleteRefused(st.batch, seq);
    if (pending_.count(seq) == 0 && st.seq_ids.count(seq) == 0) st.receipts.emplace_back(seq, *known);
    st.after.push_back([this, seq, id = *known] {
      Count("mlahub_agent_duplicates_total", "Deliveries of already stored messages (eliminated)");
      ops::Debug("delivery.duplicate", {{"delivery_seq", seq}, {"message_id", id}});
    });
    return out;
  }
  auto parsed = envelope::Parse(d.envelope, options_.max_envelope_bytes);
  if (!parsed.ok()) return Refuse(st, d, parsed.status(), "", "");
  std::string id(parsed->message_id());
  std::string sender(parsed->sender());

  // The same message under a new sequence number: eliminated, receipted again.
  auto before = stored_hash(id);
  if (!before.ok()) {
    out.why = before.status();
    return out;
  }
  if (*before && **before != hash_hex) {
    return Refuse(st, d,
                  Status::Duplicate("message id " + id + " was received before with another envelope (" + **before +
                                    "); this one (" + hash_hex + ") is a different message under the same id"),
                  id, sender);
  }
  if (*before) {
    CaseStore::PutDuplicateSeq(st.batch, seq, id);
    CaseStore::PutPendingReceipt(st.batch, seq, id);
    Handled(st, seq);
    st.seq_ids[seq] = id;
    st.receipts.emplace_back(seq, id);
    st.after.push_back([this, seq, id] {
      Count("mlahub_agent_duplicates_total", "Deliveries of already stored messages (eliminated)");
      ops::Info("delivery.duplicate", {{"delivery_seq", seq}, {"message_id", id}});
    });
    out.kind = Outcome::Kind::kDuplicate;
    out.message_id = id;
    return out;
  }

  // Open with the sender's key from the directory in force.
  auto dir = directory_();
  const directory::Entry* se = dir->Find(sender);
  if (se == nullptr) {
    return Refuse(st, d,
                  Status::UnknownSender(sender + " is not in directory version " + std::to_string(dir->version())), id,
                  sender);
  }
  if (Status s = dir->CheckSender(sender, now); !s.ok()) return Refuse(st, d, s, id, sender);
  envelope::OpenOptions oo;
  oo.max_size = options_.max_envelope_bytes;
  oo.max_clock_skew_ms = options_.max_clock_skew_ms;
  // The times are checked as of `now`, the receipt's received_ms: the hub
  // checks that against the envelope's window (PROTOCOL.md section 8).
  FakeClock at(now);
  oo.clock = &at;
  auto opened = options_.opening_keys.empty()
                    ? envelope::Open(d.envelope, keys_, se->identity, oo)
                    : envelope::OpenWithAny(d.envelope, options_.opening_keys, se->identity, oo);
  if (!opened.ok()) return Refuse(st, d, opened.status(), id, sender);

  envelope::ReceiptInfo ri;
  ri.message_id = id;
  ri.envelope_hash = hash;
  ri.sender = sender;
  ri.recipient = keys_.id.str();
  ri.received_ms = now;
  Bytes receipt = envelope::SignReceipt(ri, keys_.sign);

  IncomingRecord rec;
  rec.message_id = id;
  rec.sender = sender;
  rec.sender_sign_key = crypto::ToHex(se->identity.sign_key);
  rec.kind = wire::EnumNameMessageKind(opened->kind);
  rec.case_ref = opened->case_ref;
  rec.in_reply_to = opened->in_reply_to;
  rec.handling = wire::EnumNameHandlingCode(opened->handling);
  rec.legal_basis = wire::EnumNameLegalBasis(opened->legal_basis);
  rec.priority = wire::EnumNamePriority(opened->priority);
  rec.created_ms = opened->created_ms;
  rec.expires_ms = opened->expires_ms;
  rec.delivery_seq = seq;
  rec.ledger_index = d.ledger_index;
  rec.envelope_hash = hash_hex;
  rec.envelope_size = d.envelope.size();
  rec.received_ms = now;
  rec.timeline = {
      EvidenceEvent{"delivered", now, "hub", d.ledger_index, "", "delivery_seq " + std::to_string(seq), 0},
      EvidenceEvent{"stored", now, "local", std::nullopt, "", "envelope and signed receipt stored together", 0}};

  if (options_.cases != nullptr) {
    // The case this message starts or moves on, in the same batch; a step
    // the workflow refuses is still stored and receipted (cases.h).
    auto body = envelope::BodyToJson(opened->payload());
    options_.cases->StageIncoming(st.batch, rec, body.ok() ? std::string_view(*body) : std::string_view("null"), now);
  }
  AuditJob job{d.ledger_index, AuditJobKind::kReceived, id, rec.envelope_hash, now};
  // Envelope, receipt, record, order index, receipt marker and audit job:
  // one batch (with the rest of this turn's deliveries), fsync'd before any
  // receipt leaves.
  CaseStore::PutNewIncoming(st.batch, rec, d.envelope, receipt);
  CaseStore::DeleteRefused(st.batch, seq);
  CaseStore::PutAuditJob(st.batch, job);
  Handled(st, seq);
  st.ids[id] = seq;
  st.hashes[id] = hash_hex;
  st.seq_ids[seq] = id;
  st.receipts.emplace_back(seq, id);
  ++st.stored;
  st.after.push_back([this, id, sender, kind = rec.kind, seq, index = d.ledger_index] {
    Count("mlahub_agent_received_total", "Envelopes received, opened and stored");
    ops::Info("delivery.stored", {{"message_id", id}, {"sender", sender}, {"kind", kind},
                                  {"delivery_seq", seq}, {"ledger_index", index}});
  });
  out.kind = Outcome::Kind::kStored;
  out.message_id = id;
  out.job = job;
  return out;
}

Inbox::Outcome Inbox::Refuse(Staging& st, const tp::Deliver& d, const Status& why, std::string message_id,
                             std::string sender) {
  Outcome out;
  out.why = why;
  out.message_id = message_id;
  UnixMillis now = clock_.NowMillis();
  const uint64_t seq = d.delivery_seq;
  auto prev = store_.GetRefused(seq);
  RefusedDelivery r;
  bool first = true;
  if (prev.ok() && prev->has_value()) {
    r = **prev;
    first = false;
  } else {
    r.delivery_seq = seq;
    r.first_ms = now;
  }
  r.ledger_index = d.ledger_index;
  r.message_id = std::move(message_id);
  r.sender = std::move(sender);
  r.envelope_hash = HexOf(envelope::EnvelopeHash(d.envelope));
  r.code = std::string(CodeName(why.code()));
  r.message = why.message();
  r.last_ms = now;
  ++r.attempts;
  CaseStore::PutRefused(st.batch, r);
  Handled(st, seq);
  st.refused.insert(seq);
  out.kind = Outcome::Kind::kRefused;
  st.after.push_back([this, r, first] {
    Count("mlahub_agent_delivery_refused_total", "Delivered envelopes that could not be opened, by code",
          {{"code", r.code}});
    ops::Warn("delivery.refused", {{"delivery_seq", r.delivery_seq}, {"ledger_index", r.ledger_index},
                                   {"message_id", r.message_id}, {"code", r.code}, {"attempt", uint64_t{r.attempts}}});
    if (first) {
      alarms_.RaiseAlarm("delivery_refused",
                         "a delivered envelope could not be opened (" + r.code + ": " + r.message +
                             "); it was not stored and no receipt was sent",
                         {{"delivery_seq", r.delivery_seq}, {"ledger_index", r.ledger_index},
                          {"message_id", r.message_id}, {"sender", r.sender}, {"code", r.code},
                          {"envelope_hash", r.envelope_hash}});
    }
  });
  return out;
}

std::optional<Bytes> Inbox::SignedAgain(ByteView stored) const {
  // Only after a rotation of this node's signing key.
  bool rotated = false;
  for (size_t i = 1; i < options_.opening_keys.size(); ++i)
    rotated = rotated || options_.opening_keys[i]->sign.public_key() != keys_.sign.public_key();
  if (!rotated || envelope::VerifyReceipt(stored, keys_.sign.public_key()).ok()) return std::nullopt;
  for (size_t i = 1; i < options_.opening_keys.size(); ++i) {
    auto info = envelope::VerifyReceipt(stored, options_.opening_keys[i]->sign.public_key());
    if (info.ok()) return envelope::SignReceipt(*info, keys_.sign);  // deterministic: the same bytes each time
  }
  ops::Error("agent.store_damaged", {{"what", "stored receipt verifies with none of this node's keys"}});
  return std::nullopt;
}

std::optional<tp::SubmitReceipt> Inbox::ReceiptFor(uint64_t seq, uint64_t correlation) {
  auto it = pending_.find(seq);
  if (it == pending_.end()) return std::nullopt;
  auto bytes = store_.GetIncomingReceipt(it->second.id);
  if (!bytes.ok() || !bytes->has_value()) {
    ops::Error("agent.store_damaged", {{"what", "receipt missing"}, {"message_id", it->second.id}});
    return std::nullopt;
  }
  if (std::optional<Bytes> again = SignedAgain(**bytes)) {
    ops::Info("receipt.signed_again", {{"message_id", it->second.id}, {"delivery_seq", seq},
                                       {"why", "stored receipt signed with an earlier key of this node"}});
    **bytes = std::move(*again);
  }
  tp::SubmitReceipt s;
  s.correlation = correlation;
  s.delivery_seq = seq;
  s.signed_receipt = std::move(**bytes);
  return s;
}

void Inbox::Sent(uint64_t seq, uint64_t correlation) {
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  if (it->second.correlation != 0) by_correlation_.erase(it->second.correlation);
  it->second.correlation = correlation;
  it->second.sent_ms = clock_.NowMillis();
  if (it->second.sent_ms == 0) it->second.sent_ms = 1;
  by_correlation_[correlation] = seq;
  Count("mlahub_agent_receipts_sent_total", "Signed receipts sent (including resends)");
}

std::vector<uint64_t> Inbox::DueReceipts(int64_t resend_ms) const {
  UnixMillis now = clock_.NowMillis();
  std::vector<uint64_t> out;
  for (const auto& [seq, p] : pending_)
    if (p.sent_ms == 0 || now - p.sent_ms >= resend_ms) out.push_back(seq);
  return out;
}

void Inbox::OnDisconnect() {
  for (auto& [seq, p] : pending_) p.sent_ms = 0;
  by_correlation_.clear();
}

std::optional<AuditJob> Inbox::OnReceiptResult(const tp::ReceiptResult& r) {
  uint64_t seq = 0;
  if (auto c = by_correlation_.find(r.correlation); c != by_correlation_.end()) {
    seq = c->second;
  } else if (!r.message_id.empty()) {
    for (const auto& [s, p] : pending_)
      if (p.id == r.message_id) {
        seq = s;
        break;
      }
  }
  auto it = pending_.find(seq);
  if (it == pending_.end()) return std::nullopt;  // recorded already (a repeated answer)
  if (!r.message_id.empty() && r.message_id != it->second.id) {
    ops::Warn("agent.receipt_result_mismatch", {{"message_id", r.message_id}, {"expected", it->second.id}});
    return std::nullopt;
  }
  const std::string id = it->second.id;
  if (!r.accepted && Transient(r.error)) {
    ops::Warn("receipt.deferred", {{"message_id", id}, {"code", CodeName(r.error)}});
    return std::nullopt;  // due again after the resend interval
  }
  UnixMillis now = clock_.NowMillis();
  auto rec = store_.GetIncoming(id);
  if (!rec.ok() || !rec->has_value()) return std::nullopt;
  IncomingRecord& in = **rec;
  StoreBatch b;
  std::optional<AuditJob> job;
  if (r.accepted) {
    if (!in.receipt_recorded) {
      in.receipt_recorded = true;
      in.receipt_ledger_index = r.ledger_index;
      in.timeline.push_back(EvidenceEvent{"receipted", now, "hub", r.ledger_index, "",
                                          r.duplicate ? "receipt already recorded" : "receipt recorded by the hub", 0});
      auto bytes = store_.GetIncomingReceipt(id);
      if (bytes.ok() && bytes->has_value()) {
        job = AuditJob{r.ledger_index, AuditJobKind::kReceipt, id, HexOf(crypto::Sha256(**bytes)), now};
        // Signed again after a key rotation: the hub holds whichever copy
        // reached it first (a lost answer may hide an earlier one).
        if (std::optional<Bytes> again = SignedAgain(**bytes)) job->alt_hash = HexOf(crypto::Sha256(*again));
        CaseStore::PutAuditJob(b, *job);
      }
      CaseStore::PutIncoming(b, in);
    }
  } else {
    in.timeline.push_back(EvidenceEvent{"receipt_refused", now, "hub", std::nullopt, std::string(CodeName(r.error)),
                                        r.message, 0});
    CaseStore::PutIncoming(b, in);
  }
  CaseStore::ClearPendingReceipt(b, seq);
  // Not fsync'd: if a power loss drops it, the receipt is sent again and the
  // hub answers it as a duplicate.
  b.set_sync(false);
  Status st = store_.Write(b);
  if (!st.ok()) {
    ops::Error("agent.store_failed", {{"what", "receipt result"}, {"error", st.ToString()}});
    return std::nullopt;
  }
  by_correlation_.erase(it->second.correlation);
  pending_.erase(it);
  pending_atomic_ = pending_.size();
  if (r.accepted) {
    ops::Info("receipt.recorded", {{"message_id", id}, {"delivery_seq", seq}, {"ledger_index", r.ledger_index}});
  } else {
    alarms_.RaiseAlarm("receipt_refused",
                       "the hub refused this agent's signed receipt (" + std::string(CodeName(r.error)) + ": " +
                           r.message + ")",
                       {{"message_id", id}, {"delivery_seq", seq}, {"code", std::string(CodeName(r.error))}});
  }
  return job;
}

}  // namespace mlahub::agents
