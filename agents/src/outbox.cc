#include "mlahub/agents/outbox.h"

#include <chrono>

#include "mlahub/agents/evidence.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/ops/log.h"
#include "internal.h"

namespace mlahub::agents {

namespace tp = transport;

namespace {
int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Outbox::Outbox(CaseStore& store, const Clock& clock, ops::Registry* metrics, size_t max_envelope_bytes)
    : store_(store), clock_(clock), metrics_(metrics), max_envelope_bytes_(max_envelope_bytes) {}

Status Outbox::Load() {
  MLAHUB_ASSIGN_OR_RETURN(last_local_seq_, store_.LastLocalSeq());
  MLAHUB_ASSIGN_OR_RETURN(auto outbox, store_.Outbox());
  for (auto& [seq, id] : outbox) {
    by_id_[id] = seq;
    entries_.emplace(seq, Entry{id, 0, 0, 0});
  }
  total_ = last_local_seq_;  // numbers are given out in order (a failed write leaves a gap)
  depth_ = entries_.size();
  return Status::Ok();
}

Result<SubmitOutcome> Outbox::Add(ByteView env, const std::string& message_id,
                                  const std::function<void(StoreBatch&)>& extra) {
  MLAHUB_ASSIGN_OR_RETURN(envelope::Parsed p, envelope::Parse(env, max_envelope_bytes_));
  if (p.message_id() != message_id)
    return Status::InvalidArgument("the envelope's message id is not " + message_id);
  const wire::Header& h = *p.header;
  const std::string hash = HexOf(envelope::EnvelopeHash(env));
  UnixMillis now = clock_.NowMillis();
  OutgoingRecord r;
  {
    // The id check and the number under the lock; the fsync'd write outside
    // it, so that concurrent submissions share one fsync (RocksDB group
    // commit). An id being written is "adding" meanwhile.
    std::lock_guard<std::mutex> lock(add_mu_);
    if (adding_.count(message_id) != 0)
      return Status::Unavailable("message id " + message_id + " is being stored right now; try again");
    MLAHUB_ASSIGN_OR_RETURN(std::optional<OutgoingRecord> existing, store_.GetOutgoing(message_id));
    if (existing) {
      if (existing->envelope_hash != hash)
        return Status::AlreadyExists("message id " + message_id + " is already used by another envelope");
      return SubmitOutcome{message_id, true, ToJson(*existing)};
    }
    r.local_seq = ++last_local_seq_;
    adding_.insert(message_id);
  }
  // The id is released on every way out, an exception included.
  struct Release {
    Outbox* self;
    const std::string& id;
    ~Release() {
      std::lock_guard<std::mutex> lock(self->add_mu_);
      self->adding_.erase(id);
    }
  } release{this, message_id};
  r.message_id = message_id;
  r.recipient = std::string(p.recipient());
  r.kind = wire::EnumNameMessageKind(h.kind());
  r.case_ref = h.case_ref() ? h.case_ref()->str() : std::string();
  r.in_reply_to = h.in_reply_to() ? h.in_reply_to()->str() : std::string();
  r.handling = wire::EnumNameHandlingCode(h.handling());
  r.legal_basis = wire::EnumNameLegalBasis(h.legal_basis());
  r.priority = wire::EnumNamePriority(h.priority());
  r.created_ms = h.created_ms();
  r.expires_ms = h.expires_ms();
  r.envelope_hash = hash;
  r.envelope_size = env.size();
  RecordSubmitted(r, now);
  StoreBatch b;
  CaseStore::PutNewOutgoing(b, r, env);
  if (extra) extra(b);
  MLAHUB_RETURN_IF_ERROR(store_.Write(b));
  ++total_;
  ++depth_;
  {
    std::lock_guard<std::mutex> q(queue_mu_);
    fresh_.emplace_back(r.local_seq, r.message_id);
  }
  if (metrics_ != nullptr) metrics_->counter("mlahub_agent_submitted_total", "Envelopes put in the outbox").Inc();
  ops::Info("envelope.submitted", {{"message_id", r.message_id}, {"recipient", r.recipient}, {"kind", r.kind},
                                   {"size", r.envelope_size}, {"local_seq", r.local_seq}});
  return SubmitOutcome{r.message_id, false, ToJson(r)};
}

std::vector<std::pair<uint64_t, std::string>> Outbox::TakeNew() {
  std::vector<std::pair<uint64_t, std::string>> fresh;
  {
    std::lock_guard<std::mutex> q(queue_mu_);
    fresh.swap(fresh_);
  }
  for (const auto& [seq, id] : fresh) {
    by_id_[id] = seq;
    entries_.emplace(seq, Entry{id, 0, 0, 0});
  }
  return fresh;
}

std::optional<Outbox::ToSend> Outbox::NextDue(int64_t resend_ms, size_t window, uint64_t correlation,
                                              uint64_t after) {
  UnixMillis now = clock_.NowMillis();
  for (auto it = entries_.upper_bound(after); it != entries_.end(); ++it) {
    const uint64_t seq = it->first;
    Entry& e = it->second;
    bool due = e.sent_ms == 0 || now - e.sent_ms >= resend_ms;
    if (!due) continue;
    if (e.sent_ms == 0 && inflight_ >= window) return std::nullopt;
    auto env = store_.GetOutgoingEnvelope(e.id);
    if (!env.ok() || !env->has_value()) {
      ops::Error("agent.outbox_damaged", {{"message_id", e.id},
                                          {"error", env.ok() ? std::string("envelope missing") : env.status().ToString()}});
      continue;
    }
    ToSend t;
    t.local_seq = seq;
    t.submit.correlation = correlation;
    t.submit.envelope = std::move(**env);
    return t;
  }
  return std::nullopt;
}

void Outbox::Sent(uint64_t local_seq, uint64_t correlation) {
  auto it = entries_.find(local_seq);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.sent_ms == 0) ++inflight_;
  if (e.correlation != 0) by_correlation_.erase(e.correlation);
  e.correlation = correlation;
  e.sent_ms = clock_.NowMillis();
  if (e.sent_ms == 0) e.sent_ms = 1;
  if (e.first_sent_ns == 0) e.first_sent_ns = SteadyNs();
  by_correlation_[correlation] = local_seq;
}

void Outbox::MarkDue(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  auto e = entries_.find(it->second);
  if (e == entries_.end() || e->second.sent_ms == 0) return;
  e->second.sent_ms = 0;
  if (inflight_ > 0) --inflight_;
}

void Outbox::OnDisconnect() {
  for (auto& [seq, e] : entries_) e.sent_ms = 0;
  by_correlation_.clear();
  inflight_ = 0;
}

std::optional<Outbox::Answer> Outbox::OnSubmitResult(const tp::SubmitResult& r) {
  uint64_t seq = 0;
  if (auto it = by_id_.find(r.message_id); !r.message_id.empty() && it != by_id_.end()) {
    seq = it->second;
  } else if (auto c = by_correlation_.find(r.correlation); c != by_correlation_.end()) {
    seq = c->second;
  }
  auto pit = entries_.find(seq);
  if (seq == 0 || pit == entries_.end()) {
    ops::Debug("agent.submit_result_ignored", {{"message_id", r.message_id}, {"correlation", r.correlation}});
    return std::nullopt;
  }
  Entry& e = pit->second;
  if (!r.message_id.empty() && r.message_id != e.id) {
    ops::Warn("agent.submit_result_mismatch", {{"message_id", r.message_id}, {"expected", e.id}});
    return std::nullopt;
  }
  if (!r.accepted && Transient(r.error)) {
    ops::Warn("envelope.deferred", {{"message_id", e.id}, {"code", CodeName(r.error)}, {"message", r.message}});
    return std::nullopt;  // sent again after the resend interval
  }
  UnixMillis now = clock_.NowMillis();
  auto rec = store_.GetOutgoing(e.id);
  if (!rec.ok() || !rec->has_value()) {
    ops::Error("agent.outbox_damaged", {{"message_id", e.id}});
    return std::nullopt;
  }
  Answer a;
  a.record = std::move(**rec);
  StoreBatch b;
  if (r.accepted) {
    RecordAccepted(a.record, now, r.ledger_index, r.tree_size, r.duplicate);
    a.job = AuditJob{r.ledger_index, AuditJobKind::kSubmitted, a.record.message_id, a.record.envelope_hash, now};
    CaseStore::PutAuditJob(b, *a.job);
  } else {
    RecordRejected(a.record, now, r.error, r.message,
                   r.ledger_index != 0 ? std::optional<uint64_t>(r.ledger_index) : std::nullopt);
  }
  CaseStore::PutOutgoing(b, a.record);
  CaseStore::ClearOutbox(b, seq);
  // Not fsync'd: if a power loss drops it, the entry is back in the outbox,
  // is sent again, and the hub repeats the same answer (duplicate).
  b.set_sync(false);
  Status st = store_.Write(b);
  if (!st.ok()) {
    ops::Error("agent.store_failed", {{"what", "submit result"}, {"message_id", e.id}, {"error", st.ToString()}});
    return std::nullopt;  // the resend brings the same answer again
  }
  if (e.first_sent_ns != 0) a.roundtrip_s = double(SteadyNs() - e.first_sent_ns) / 1e9;
  if (e.sent_ms != 0 && inflight_ > 0) --inflight_;
  by_correlation_.erase(e.correlation);
  by_id_.erase(e.id);
  entries_.erase(pit);
  depth_ = entries_.size();
  if (metrics_ != nullptr) {
    if (r.accepted) {
      metrics_->counter("mlahub_agent_accepted_total", "Envelopes the hub accepted (durable)").Inc();
    } else {
      metrics_
          ->counter("mlahub_agent_refused_total", "Envelopes the hub refused, by code",
                    {{"code", std::string(CodeName(r.error))}})
          .Inc();
    }
    if (a.roundtrip_s >= 0)
      metrics_->histogram("mlahub_agent_roundtrip_seconds", "Submit to SubmitResult, first send", ops::LatencyBuckets())
          .Observe(a.roundtrip_s);
  }
  if (r.accepted) {
    ops::Info("envelope.accepted", {{"message_id", a.record.message_id}, {"ledger_index", r.ledger_index},
                                    {"tree_size", r.tree_size}, {"duplicate", r.duplicate}});
  } else {
    ops::Warn("envelope.refused",
              {{"message_id", a.record.message_id}, {"code", CodeName(r.error)}, {"message", r.message}});
  }
  return a;
}

}  // namespace mlahub::agents
