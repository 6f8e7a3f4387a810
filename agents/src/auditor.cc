#include "mlahub/agents/auditor.h"

#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/ops/log.h"
#include "mlahub/storage/ledger_entry.h"
#include "internal.h"

namespace mlahub::agents {

using nlohmann::json;
using storage::Checkpoint;
using storage::Hash;
using transport::ProofKind;
using transport::ProofRequest;
using transport::ProofResponse;

namespace {

std::string B64(const Hash& h) { return crypto::ToBase64(ByteView(h.data(), h.size())); }
std::string Hex(ByteView b) { return crypto::ToHex(b); }

std::vector<Hash> ToHashes(const std::vector<transport::Hash>& v) { return {v.begin(), v.end()}; }

}  // namespace

Result<std::string> FindNoteKeyName(std::string_view note, const crypto::SignPublicKey& key) {
  size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return Status::Malformed("checkpoint note has no signature block");
  std::string_view sigs = note.substr(split + 2);
  const std::string_view dash = storage::kEmDash;
  while (!sigs.empty()) {
    size_t nl = sigs.find('\n');
    std::string_view line = sigs.substr(0, nl);
    sigs = nl == std::string_view::npos ? std::string_view() : sigs.substr(nl + 1);
    if (line.size() < dash.size() + 1 || line.substr(0, dash.size()) != dash || line[dash.size()] != ' ') continue;
    line.remove_prefix(dash.size() + 1);
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) continue;
    std::string_view name = line.substr(0, sp);
    auto raw = crypto::FromBase64(line.substr(sp + 1));
    if (!raw.ok() || raw->size() < 4 || !storage::IsValidKeyName(name)) continue;
    uint32_t id = (uint32_t{(*raw)[0]} << 24) | (uint32_t{(*raw)[1]} << 16) | (uint32_t{(*raw)[2]} << 8) | (*raw)[3];
    if (id == storage::NoteKeyId(name, key)) return std::string(name);
  }
  return Status::BadSignature("checkpoint note carries no signature by the hub's key (from the directory)");
}

Auditor::Auditor(CaseStore& store, AlarmSink& alarms, const Clock& clock, NextCorrelation next,
                 OnIncluded on_included, ops::Registry* metrics, AuditorOptions options)
    : store_(store),
      alarms_(alarms),
      clock_(clock),
      next_(std::move(next)),
      on_included_(std::move(on_included)),
      metrics_(metrics),
      options_(options) {}

Status Auditor::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> note, store_.LoadCheckpoint());
  if (note) {
    size_t split = note->rfind("\n\n");
    if (split == std::string::npos) return Status::Corruption("stored hub checkpoint is not a signed note");
    auto cp = storage::ParseCheckpointText(std::string_view(*note).substr(0, split + 1));
    if (!cp.ok()) return Status::Corruption("stored hub checkpoint: " + cp.status().message());
    held_ = *cp;
    held_note_ = *note;
    origin_ = cp->origin;
  }
  MLAHUB_ASSIGN_OR_RETURN(std::vector<AuditJob> jobs, store_.AuditJobs());
  for (AuditJob& j : jobs) {
    tracked_at_.emplace(j.index, adoptions_);
    jobs_[j.index] = std::move(j);
  }
  MLAHUB_ASSIGN_OR_RETURN(consistency_ok_, store_.GetCounter("audit_consistency_ok"));
  MLAHUB_ASSIGN_OR_RETURN(inclusion_ok_, store_.GetCounter("audit_inclusion_ok"));
  MLAHUB_ASSIGN_OR_RETURN(checks_failed_, store_.GetCounter("audit_failed"));
  last_update_ms_ = clock_.NowMillis();
  return Status::Ok();
}

void Auditor::SetHubKey(std::optional<crypto::SignPublicKey> key) {
  std::lock_guard<std::mutex> lock(mu_);
  hub_key_ = key;
}

void Auditor::Count(const char* check, bool ok) {
  if (metrics_ == nullptr) return;
  metrics_
      ->counter("mlahub_agent_audit_checks_total", "Audit checks of the hub's ledger, by check and result",
                {{"check", check}, {"result", ok ? "ok" : "failed"}})
      .Inc();
}

void Auditor::Alarm(const std::string& kind, const std::string& message, json details) {
  ++checks_failed_;
  StoreBatch b;
  CaseStore::PutCounter(b, "audit_failed", checks_failed_);
  b.set_sync(false);
  Status st = store_.Write(b);
  if (!st.ok()) ops::Error("audit.store_failed", {{"error", st.ToString()}});
  alarms_.RaiseAlarm(kind, message, std::move(details));
}

Result<Checkpoint> Auditor::VerifyNote(const std::string& note) {
  if (!hub_key_) return Status::UnknownSender("the directory has no hub entry, so no key to verify checkpoints with");
  MLAHUB_ASSIGN_OR_RETURN(std::string name, FindNoteKeyName(note, *hub_key_));
  MLAHUB_ASSIGN_OR_RETURN(std::string text, storage::OpenNote(note, name, *hub_key_));
  MLAHUB_ASSIGN_OR_RETURN(Checkpoint cp, storage::ParseCheckpointText(text));
  if (!origin_.empty() && cp.origin != origin_)
    return Status::SenderMismatch("checkpoint origin \"" + cp.origin + "\" differs from the pinned origin \"" +
                                  origin_ + "\"");
  return cp;
}

bool Auditor::FirstTime(std::set<std::string>& seen, const std::string& digest) {
  // Bounded, one set per kind of note (refused, forked, older), so that a
  // hub filling one with new notes cannot silence another: past
  // kMaxNotesRemembered distinct notes of a kind, further ones are still
  // refused and logged but no longer alarmed or checked one by one.
  if (seen.count(digest) != 0) return false;
  if (seen.size() >= kMaxNotesRemembered) {
    ops::Warn("audit.notes_not_remembered", {{"note_sha256", digest}});
    return false;
  }
  seen.insert(digest);
  return true;
}

void Auditor::Adopt(const std::string& note, const Checkpoint& cp) {
  StoreBatch b;
  CaseStore::PutCheckpoint(b, note);
  CaseStore::PutCounter(b, "audit_consistency_ok", consistency_ok_);
  b.set_sync(false);  // if lost, the previous checkpoint is held and the proof asked again
  Status st = store_.Write(b);
  if (!st.ok()) {
    ops::Error("audit.store_failed", {{"error", st.ToString()}});
    return;  // not adopted; the next update tries again
  }
  held_ = cp;
  held_note_ = note;
  if (origin_.empty()) origin_ = cp.origin;
  ++adoptions_;
  if (candidate_ && candidate_->cp.size <= cp.size) candidate_.reset();
  ops::Info("checkpoint.verified", {{"tree_size", cp.size}, {"origin", cp.origin}});
}

ProofRequest Auditor::Issue(Inflight f) {
  f.request.correlation = next_();
  f.sent_ms = clock_.NowMillis();
  if (f.request.kind == ProofKind::kInclusion) inflight_indices_.insert(f.request.index);
  if (f.request.kind == ProofKind::kConsistency && !f.stale_check) consistency_inflight_ = true;
  ProofRequest r = f.request;
  inflight_.emplace(r.correlation, std::move(f));
  return r;
}

// Requests for whatever can be checked now: the candidate's consistency,
// then jobs covered by the held checkpoint.
std::vector<ProofRequest> Auditor::RequestsLocked() {
  std::vector<ProofRequest> out;
  if (candidate_ && held_ && !consistency_inflight_ && inflight_.size() < options_.max_inflight) {
    Inflight f;
    f.request.kind = ProofKind::kConsistency;
    f.request.old_size = held_->size;
    f.request.tree_size = candidate_->cp.size;
    f.old_root = held_->root;
    f.root = candidate_->cp.root;
    f.note = candidate_->note;
    out.push_back(Issue(std::move(f)));
  }
  if (!held_) return out;
  for (const auto& [index, job] : jobs_) {
    if (index >= held_->size) break;
    if (inflight_.size() >= options_.max_inflight) break;
    if (inflight_indices_.count(index) != 0) continue;
    Inflight f;
    f.request.kind = ProofKind::kInclusion;
    f.request.index = index;
    f.request.tree_size = held_->size;
    f.root = held_->root;
    out.push_back(Issue(std::move(f)));
  }
  return out;
}

std::vector<ProofRequest> Auditor::OnCheckpointUpdate(const transport::CheckpointUpdate& update) {
  std::lock_guard<std::mutex> lock(mu_);
  last_update_ms_ = clock_.NowMillis();
  ++checkpoints_seen_;
  std::string note(update.note.begin(), update.note.end());
  auto cp = VerifyNote(note);
  if (!cp.ok()) {
    Count("checkpoint", false);
    std::string digest = crypto::ToHex(crypto::Sha256(update.note));
    if (FirstTime(refused_notes_, digest)) {
      Alarm("checkpoint_signature", "hub checkpoint refused: " + cp.status().ToString(),
            {{"note_sha256", digest}, {"code", std::string(CodeName(cp.status().code()))}});
    }
    return {};
  }
  Count("checkpoint", true);
  if (!held_) {
    // Trust on first use: nothing to be consistent with yet.
    Adopt(note, *cp);
    return RequestsLocked();
  }
  if (cp->size == held_->size) {
    if (cp->root != held_->root) {
      Count("consistency", false);
      if (!FirstTime(forked_notes_, crypto::ToHex(crypto::Sha256(update.note)))) return RequestsLocked();
      Alarm("checkpoint_fork",
            "the hub signed two different roots for tree size " + std::to_string(cp->size) +
                " (a forked ledger)",
            {{"tree_size", cp->size}, {"held_root", B64(held_->root)}, {"new_root", B64(cp->root)},
             {"held_note", held_note_}, {"new_note", note}});
    }
    return RequestsLocked();
  }
  if (cp->size < held_->size) {
    // An older view: harmless if it is a prefix of what we hold. Ask, once
    // per distinct note (a hub may send the same old one again and again).
    if (!FirstTime(older_notes_, crypto::ToHex(crypto::Sha256(update.note)))) return RequestsLocked();
    Inflight f;
    f.request.kind = ProofKind::kConsistency;
    f.request.old_size = cp->size;
    f.request.tree_size = held_->size;
    f.old_root = cp->root;
    f.root = held_->root;
    f.note = note;
    f.stale_check = true;
    std::vector<ProofRequest> out{Issue(std::move(f))};
    for (auto& r : RequestsLocked()) out.push_back(r);
    return out;
  }
  // Newer.
  if (update.old_size == held_->size && held_->size > 0) {
    Status v = storage::VerifyConsistency(held_->size, cp->size, ToHashes(update.consistency), held_->root, cp->root);
    if (v.ok()) {
      Count("consistency", true);
      ++consistency_ok_;
      Adopt(note, *cp);
    } else {
      Count("consistency", false);
      Alarm("consistency_proof",
            "the hub's checkpoint of size " + std::to_string(cp->size) + " is not consistent with the verified one of size " +
                std::to_string(held_->size) + ": " + v.message(),
            {{"old_size", held_->size}, {"new_size", cp->size}, {"held_root", B64(held_->root)},
             {"new_root", B64(cp->root)}, {"new_note", note}});
    }
    return RequestsLocked();
  }
  if (held_->size == 0) {
    // Everything is consistent with the empty tree.
    ++consistency_ok_;
    Adopt(note, *cp);
    return RequestsLocked();
  }
  // The update's proof starts elsewhere: keep the newest candidate, ask.
  if (!candidate_ || candidate_->cp.size < cp->size) candidate_ = Candidate{note, *cp};
  return RequestsLocked();
}

std::vector<ProofRequest> Auditor::OnProofResponse(const ProofResponse& r) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = inflight_.find(r.correlation);
  if (it == inflight_.end()) return {};  // stale (answered after a retry) or not ours
  Inflight f = std::move(it->second);
  inflight_.erase(it);
  if (f.request.kind == ProofKind::kInclusion) {
    inflight_indices_.erase(f.request.index);
    return HandleInclusion(f, r);
  }
  if (!f.stale_check) consistency_inflight_ = false;
  return HandleConsistency(f, r);
}

std::vector<ProofRequest> Auditor::HandleConsistency(const Inflight& f, const ProofResponse& r) {
  const uint64_t m = f.request.old_size, n = f.request.tree_size;
  json details = {{"old_size", m}, {"new_size", n}};
  if (r.error != Code::kOk) {
    if (Transient(r.error)) return {};  // Tick asks again
    Count("consistency", false);
    if (!f.stale_check) candidate_.reset();
    Alarm("proof_refused",
          "the hub refused a consistency proof between checkpoints it signed (" + std::string(CodeName(r.error)) +
              ": " + r.message + ")",
          details);
    return RequestsLocked();
  }
  Status v = (r.kind != ProofKind::kConsistency || r.old_size != m || r.tree_size != n)
                 ? Status::Corruption("the answer does not match the request")
                 : storage::VerifyConsistency(m, n, ToHashes(r.proof), f.old_root, f.root);
  if (!v.ok()) {
    Count("consistency", false);
    if (!f.stale_check) candidate_.reset();
    details["old_root"] = B64(f.old_root);
    details["new_root"] = B64(f.root);
    details["note"] = f.note;
    Alarm(f.stale_check ? "checkpoint_fork" : "consistency_proof",
          "consistency proof from tree size " + std::to_string(m) + " to " + std::to_string(n) +
              " does not verify: " + v.message(),
          details);
    return RequestsLocked();
  }
  Count("consistency", true);
  ++consistency_ok_;
  if (!f.stale_check && held_ && held_->size == m) {
    auto cp = storage::ParseCheckpointText(std::string_view(f.note).substr(0, f.note.rfind("\n\n") + 1));
    if (cp.ok()) Adopt(f.note, *cp);
  }
  return RequestsLocked();
}

std::vector<ProofRequest> Auditor::HandleInclusion(const Inflight& f, const ProofResponse& r) {
  auto jit = jobs_.find(f.request.index);
  if (jit == jobs_.end()) return RequestsLocked();
  const AuditJob job = jit->second;
  json details = {{"index", job.index}, {"tree_size", f.request.tree_size}, {"message_id", job.message_id},
                  {"check", std::string(AuditJobKindName(job.kind))}};
  if (r.error != Code::kOk) {
    if (Transient(r.error)) return {};
    Count("inclusion", false);
    details["code"] = std::string(CodeName(r.error));
    Alarm("proof_refused",
          "the hub refused an inclusion proof of entry " + std::to_string(job.index) + " in a tree of size " +
              std::to_string(f.request.tree_size) + " it signed (" + std::string(CodeName(r.error)) + ": " + r.message +
              ")",
          details);
    FinishJob(job, false, f.request.tree_size);
    return RequestsLocked();
  }
  Status v;
  if (r.kind != ProofKind::kInclusion || r.index != f.request.index || r.tree_size != f.request.tree_size) {
    v = Status::Corruption("the answer does not match the request");
  } else {
    v = storage::VerifyInclusion(job.index, f.request.tree_size, storage::HashLeaf(r.entry), ToHashes(r.proof), f.root);
  }
  if (!v.ok()) {
    Count("inclusion", false);
    details["root"] = B64(f.root);
    Alarm("inclusion_proof",
          "inclusion proof of entry " + std::to_string(job.index) + " does not verify against the checkpoint of size " +
              std::to_string(f.request.tree_size) + ": " + v.message(),
          details);
    FinishJob(job, false, f.request.tree_size);
    return RequestsLocked();
  }
  // The path is right: now the entry must say what the hub told us.
  std::string why;
  auto e = storage::DecodeLedgerEntry(r.entry);
  if (!e.ok()) {
    why = "entry does not decode: " + e.status().ToString();
  } else {
    const wire::LedgerEntry* le = *e;
    wire::LedgerEvent want = job.kind == AuditJobKind::kReceipt ? wire::LedgerEvent::Receipt : wire::LedgerEvent::Accepted;
    std::string id = le->message_id() ? le->message_id()->str() : std::string();
    const flatbuffers::Vector<uint8_t>* h =
        job.kind == AuditJobKind::kReceipt ? le->receipt_hash() : le->envelope_hash();
    std::string hash = h ? Hex(ByteView(h->data(), h->size())) : std::string();
    if (le->event() != want) {
      why = std::string("entry records ") + wire::EnumNameLedgerEvent(le->event()) + ", expected " +
            wire::EnumNameLedgerEvent(want);
    } else if (id != job.message_id) {
      why = "entry names message " + id;
    } else if (hash != job.hash && (job.alt_hash.empty() || hash != job.alt_hash)) {
      why = std::string("entry's ") + (job.kind == AuditJobKind::kReceipt ? "receipt" : "envelope") +
            " hash differs from ours";
      details["entry_hash"] = hash;
      details["our_hash"] = job.hash;
    }
  }
  if (!why.empty()) {
    Count("inclusion", false);
    Alarm("ledger_entry_mismatch", "ledger entry " + std::to_string(job.index) + ": " + why, details);
    FinishJob(job, false, f.request.tree_size);
    return RequestsLocked();
  }
  Count("inclusion", true);
  FinishJob(job, true, f.request.tree_size);
  return RequestsLocked();
}

void Auditor::FinishJob(const AuditJob& job, bool ok, uint64_t tree_size) {
  StoreBatch b;
  CaseStore::DeleteAuditJob(b, job.index);
  if (ok) {
    ++inclusion_ok_;
    CaseStore::PutCounter(b, "audit_inclusion_ok", inclusion_ok_);
    if (on_included_) on_included_(job, tree_size, b);
  }
  b.set_sync(false);  // if lost, the check is simply made again
  Status st = store_.Write(b);
  if (!st.ok()) {
    ops::Error("audit.store_failed", {{"error", st.ToString()}});
    return;  // keep the job; it is checked again
  }
  tracked_at_.erase(job.index);
  jobs_.erase(job.index);
}

std::vector<ProofRequest> Auditor::Track(const AuditJob& job) {
  std::lock_guard<std::mutex> lock(mu_);
  tracked_at_.emplace(job.index, adoptions_);
  jobs_[job.index] = job;
  return RequestsLocked();
}

std::vector<ProofRequest> Auditor::Tick() {
  std::lock_guard<std::mutex> lock(mu_);
  UnixMillis now = clock_.NowMillis();
  // A job the hub's checkpoints do not reach: the hub named a ledger index
  // (in an acknowledgement, a delivery or a receipt's answer) that its
  // signed log does not grow to, or withholds it. Every index the hub gives
  // is durable before it is given, so any checkpoint it signs afterwards
  // covers it; checkpoints signed before may still arrive and be adopted
  // after the job: the one being verified, and the latest signed before the
  // index when the hub signs on an interval. A third newer checkpoint
  // adopted since the job that still falls short is therefore the hub's
  // doing (counted in checkpoints, not time: an agent that was down, or a
  // simulation's fast clock, changes nothing). The job stays: should a
  // checkpoint cover it later, it is checked as any other.
  const uint64_t held_size = held_ ? held_->size : 0;
  for (auto it = jobs_.lower_bound(held_size); it != jobs_.end(); ++it) {
    const AuditJob& job = it->second;
    auto at = tracked_at_.find(it->first);
    if (at == tracked_at_.end() || adoptions_ - at->second < kUncoveredAfterCheckpoints) continue;
    if (!uncovered_alarmed_.insert(it->first).second) continue;
    Alarm("audit_uncovered",
          "the hub gave ledger index " + std::to_string(job.index) + " for message " + job.message_id + ", but " +
              std::to_string(adoptions_ - at->second) + " checkpoints it signed since (newest: size " +
              std::to_string(held_size) + ") do not reach it",
          {{"index", job.index}, {"message_id", job.message_id}, {"held_size", held_size},
           {"job", std::string(AuditJobKindName(job.kind))}, {"since_ms", job.since_ms}});
  }
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    if (now - it->second.sent_ms >= options_.retry_ms) {
      if (it->second.request.kind == ProofKind::kInclusion) inflight_indices_.erase(it->second.request.index);
      if (it->second.request.kind == ProofKind::kConsistency && !it->second.stale_check) consistency_inflight_ = false;
      it = inflight_.erase(it);
    } else {
      ++it;
    }
  }
  return RequestsLocked();
}

void Auditor::OnDisconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  inflight_.clear();
  inflight_indices_.clear();
  consistency_inflight_ = false;
}

void Auditor::Unsent(uint64_t correlation) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = inflight_.find(correlation);
  if (it == inflight_.end()) return;
  if (it->second.request.kind == ProofKind::kInclusion) inflight_indices_.erase(it->second.request.index);
  if (it->second.request.kind == ProofKind::kConsistency && !it->second.stale_check) consistency_inflight_ = false;
  inflight_.erase(it);
}

bool Auditor::WantsNewerCheckpoint(int64_t quiet_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t size = held_ ? held_->size : 0;
  bool waiting = candidate_.has_value() || (!jobs_.empty() && jobs_.rbegin()->first >= size);
  return waiting && clock_.NowMillis() - last_update_ms_ >= quiet_ms;
}

uint64_t Auditor::held_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_ ? held_->size : 0;
}

std::optional<Checkpoint> Auditor::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_;
}

size_t Auditor::pending_jobs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

json Auditor::Report() const {
  std::lock_guard<std::mutex> lock(mu_);
  json j;
  if (held_) {
    j["checkpoint"] = {{"origin", held_->origin}, {"tree_size", held_->size}, {"root", B64(held_->root)},
                       {"note", held_note_}};
  } else {
    j["checkpoint"] = nullptr;
  }
  j["hub_key_known"] = hub_key_.has_value();
  j["candidate_size"] = candidate_ ? json(candidate_->cp.size) : json(nullptr);
  j["jobs_pending"] = jobs_.size();
  uint64_t size = held_ ? held_->size : 0;
  size_t waiting = 0;
  for (const auto& [index, job] : jobs_)
    if (index >= size) ++waiting;
  j["jobs_waiting_for_checkpoint"] = waiting;
  j["requests_outstanding"] = inflight_.size();
  j["consistency_verified"] = consistency_ok_;
  j["inclusion_verified"] = inclusion_ok_;
  j["checks_failed"] = checks_failed_;
  j["checkpoints_received"] = checkpoints_seen_;
  return j;
}

}  // namespace mlahub::agents
