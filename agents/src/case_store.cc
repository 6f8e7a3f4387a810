#include "mlahub/agents/case_store.h"
#include "internal.h"

#include "mlahub/agents/evidence.h"

namespace mlahub::agents {

using storage::KeyBe64;
using storage::ReadKeyBe64;

namespace {

constexpr std::string_view kFormat = "1";

std::string K(std::string_view prefix, std::string_view id) {
  std::string k(prefix);
  k.append(id);
  return k;
}
std::string K(std::string_view prefix, uint64_t n) {
  std::string k(prefix);
  k += KeyBe64(n);
  return k;
}

Bytes ToBytesOf(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Visits (seq, value) of keys <prefix><BE64 seq> with seq > after.
Status ScanSeq(const storage::Store& s, std::string_view prefix, uint64_t after,
               const std::function<bool(uint64_t, std::string_view)>& visit) {
  if (after == UINT64_MAX) return Status::Ok();
  std::string start = K(prefix, after + 1);
  return s.Scan(prefix, start, [&](std::string_view key, std::string_view value) {
    if (key.size() != prefix.size() + 8) return true;  // not ours
    return visit(ReadKeyBe64(key.substr(prefix.size())), value);
  });
}

}  // namespace

Result<std::unique_ptr<CaseStore>> CaseStore::Open(const std::string& dir, const std::string& node_id) {
  MLAHUB_ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> s, storage::Store::Open(dir));
  std::unique_ptr<CaseStore> cs(new CaseStore(std::move(s)));
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> fmt, cs->Get("meta/format"));
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> node, cs->Get("meta/node"));
  if (!fmt) {
    StoreBatch b;
    b.Put("meta/format", kFormat);
    b.Put("meta/node", node_id);
    MLAHUB_RETURN_IF_ERROR(cs->Write(b));
  } else {
    if (*fmt != kFormat)
      return Status::UnsupportedVersion("case store " + dir + " has format " + *fmt + "; this agent reads format 1");
    if (node && *node != node_id)
      return Status::InvalidArgument("case store " + dir + " belongs to " + *node + ", not " + node_id);
  }
  return cs;
}

Status CaseStore::Close() { return store_->Close(); }

Status CaseStore::Write(const StoreBatch& batch) { return store_->Write(batch); }

Result<std::optional<std::string>> CaseStore::Get(std::string_view key) const { return store_->Get(key); }

// ---- directory ----
Result<std::optional<Bytes>> CaseStore::LoadDirectory() const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get("dir/signed"));
  if (!v) return std::optional<Bytes>();
  return std::optional<Bytes>(ToBytesOf(*v));
}
void CaseStore::PutDirectory(StoreBatch& b, ByteView signed_directory) { b.Put("dir/signed", signed_directory); }

// ---- outgoing ----
void CaseStore::PutNewOutgoing(StoreBatch& b, const OutgoingRecord& r, ByteView envelope) {
  PutOutgoing(b, r);
  b.Put(K("out/e/", r.message_id), envelope);
  b.Put(K("out/s/", r.local_seq), r.message_id);
  b.Put(K("out/p/", r.local_seq), r.message_id);
}

void CaseStore::PutOutgoing(StoreBatch& b, const OutgoingRecord& r) {
  b.Put(K("out/m/", r.message_id), StoredJson(ToJson(r)));
  // Refused for good: its case step is released (Agent::ReleaseRefusedStep)
  // in a later write that deletes this mark; written with the refusal, the
  // mark makes a crash between the two harmless (the next start finishes).
  if (r.state == OutState::kRejected) b.Put(K("out/x/", r.message_id), std::string_view());
  if (IsFinal(r)) {
    b.Delete(K("out/o/", r.message_id));
  } else {
    b.Put(K("out/o/", r.message_id), std::string_view());
  }
}

void CaseStore::ClearOutbox(StoreBatch& b, uint64_t local_seq) { b.Delete(K("out/p/", local_seq)); }

void CaseStore::PutOutgoingReceipt(StoreBatch& b, std::string_view id, ByteView signed_receipt) {
  b.Put(K("out/r/", id), signed_receipt);
}

Result<std::optional<OutgoingRecord>> CaseStore::GetOutgoing(std::string_view id) const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(K("out/m/", id)));
  if (!v) return std::optional<OutgoingRecord>();
  MLAHUB_ASSIGN_OR_RETURN(OutgoingRecord r, OutgoingFromJson(*v));
  return std::optional<OutgoingRecord>(std::move(r));
}

Result<std::optional<Bytes>> CaseStore::GetOutgoingEnvelope(std::string_view id) const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(K("out/e/", id)));
  if (!v) return std::optional<Bytes>();
  return std::optional<Bytes>(ToBytesOf(*v));
}

Result<std::optional<Bytes>> CaseStore::GetOutgoingReceipt(std::string_view id) const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(K("out/r/", id)));
  if (!v) return std::optional<Bytes>();
  return std::optional<Bytes>(ToBytesOf(*v));
}

Result<std::vector<std::pair<uint64_t, std::string>>> CaseStore::Outbox() const {
  std::vector<std::pair<uint64_t, std::string>> out;
  MLAHUB_RETURN_IF_ERROR(ScanSeq(*store_, "out/p/", 0, [&](uint64_t seq, std::string_view id) {
    out.emplace_back(seq, std::string(id));
    return true;
  }));
  return out;
}

Result<std::vector<std::string>> CaseStore::IdsUnder(std::string_view prefix) const {
  std::vector<std::string> out;
  MLAHUB_RETURN_IF_ERROR(store_->Scan(prefix, "", [&](std::string_view key, std::string_view) {
    out.emplace_back(key.substr(prefix.size()));
    return true;
  }));
  return out;
}

Result<std::vector<std::string>> CaseStore::OpenOutgoing() const { return IdsUnder("out/o/"); }

Result<std::vector<std::string>> CaseStore::RefusedToRelease() const { return IdsUnder("out/x/"); }

void CaseStore::ClearRefusedToRelease(StoreBatch& b, std::string_view id) { b.Delete(K("out/x/", id)); }

Result<uint64_t> CaseStore::LastLocalSeq() const {
  uint64_t last = 0;
  MLAHUB_RETURN_IF_ERROR(store_->ScanReverse("out/s/", [&](std::string_view key, std::string_view) {
    if (key.size() == 14) {
      last = ReadKeyBe64(key.substr(6));
      return false;
    }
    return true;
  }));
  return last;
}

Result<std::vector<OutgoingRecord>> CaseStore::ListOutgoing(uint64_t after, size_t limit) const {
  std::vector<std::string> ids;
  MLAHUB_RETURN_IF_ERROR(ScanSeq(*store_, "out/s/", after, [&](uint64_t, std::string_view id) {
    ids.emplace_back(id);
    return ids.size() < limit;
  }));
  std::vector<OutgoingRecord> out;
  for (const std::string& id : ids) {
    MLAHUB_ASSIGN_OR_RETURN(std::optional<OutgoingRecord> r, GetOutgoing(id));
    if (!r) return Status::Corruption("outgoing index names " + id + " but its record is missing");
    out.push_back(std::move(*r));
  }
  return out;
}

// ---- incoming ----
void CaseStore::PutNewIncoming(StoreBatch& b, const IncomingRecord& r, ByteView envelope, ByteView receipt) {
  PutIncoming(b, r);
  b.Put(K("in/e/", r.message_id), envelope);
  b.Put(K("in/r/", r.message_id), receipt);
  b.Put(K("in/s/", r.delivery_seq), r.message_id);
  PutPendingReceipt(b, r.delivery_seq, r.message_id);
}

void CaseStore::PutIncoming(StoreBatch& b, const IncomingRecord& r) { b.Put(K("in/m/", r.message_id), StoredJson(ToJson(r))); }

void CaseStore::PutDuplicateSeq(StoreBatch& b, uint64_t delivery_seq, std::string_view id) {
  b.Put(K("in/d/", delivery_seq), id);
}
void CaseStore::PutPendingReceipt(StoreBatch& b, uint64_t delivery_seq, std::string_view id) {
  b.Put(K("in/p/", delivery_seq), id);
}
void CaseStore::ClearPendingReceipt(StoreBatch& b, uint64_t delivery_seq) { b.Delete(K("in/p/", delivery_seq)); }
void CaseStore::PutRefused(StoreBatch& b, const RefusedDelivery& r) {
  b.Put(K("in/x/", r.delivery_seq), StoredJson(ToJson(r)));
}
void CaseStore::DeleteRefused(StoreBatch& b, uint64_t delivery_seq) { b.Delete(K("in/x/", delivery_seq)); }
void CaseStore::PutLastDeliverySeq(StoreBatch& b, uint64_t seq) { b.Put("in/last", KeyBe64(seq)); }

Result<std::optional<IncomingRecord>> CaseStore::GetIncoming(std::string_view id) const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(K("in/m/", id)));
  if (!v) return std::optional<IncomingRecord>();
  MLAHUB_ASSIGN_OR_RETURN(IncomingRecord r, IncomingFromJson(*v));
  return std::optional<IncomingRecord>(std::move(r));
}

Result<std::optional<Bytes>> CaseStore::GetIncomingEnvelope(std::string_view id) const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(K("in/e/", id)));
  if (!v) return std::optional<Bytes>();
  return std::optional<Bytes>(ToBytesOf(*v));
}

Result<std::optional<Bytes>> CaseStore::GetIncomingReceipt(std::string_view id) const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(K("in/r/", id)));
  if (!v) return std::optional<Bytes>();
  return std::optional<Bytes>(ToBytesOf(*v));
}

Result<std::optional<RefusedDelivery>> CaseStore::GetRefused(uint64_t delivery_seq) const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(K("in/x/", delivery_seq)));
  if (!v) return std::optional<RefusedDelivery>();
  MLAHUB_ASSIGN_OR_RETURN(RefusedDelivery r, RefusedFromJson(*v));
  return std::optional<RefusedDelivery>(std::move(r));
}

Result<std::optional<std::string>> CaseStore::IdForDeliverySeq(uint64_t delivery_seq) const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(K("in/s/", delivery_seq)));
  if (v) return v;
  return Get(K("in/d/", delivery_seq));
}

Result<uint64_t> CaseStore::LastDeliverySeq() const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get("in/last"));
  if (!v) return uint64_t{0};
  if (v->size() != 8) return Status::Corruption("in/last is not an 8-byte number");
  return ReadKeyBe64(*v);
}

Result<std::vector<uint64_t>> CaseStore::HandledSeqsAfter(uint64_t after) const {
  std::vector<uint64_t> out;
  for (std::string_view prefix : {"in/s/", "in/d/", "in/x/"}) {
    MLAHUB_RETURN_IF_ERROR(ScanSeq(*store_, prefix, after, [&](uint64_t seq, std::string_view) {
      out.push_back(seq);
      return true;
    }));
  }
  return out;
}

Result<std::vector<std::pair<uint64_t, std::string>>> CaseStore::PendingReceipts() const {
  std::vector<std::pair<uint64_t, std::string>> out;
  MLAHUB_RETURN_IF_ERROR(ScanSeq(*store_, "in/p/", 0, [&](uint64_t seq, std::string_view id) {
    out.emplace_back(seq, std::string(id));
    return true;
  }));
  return out;
}

Result<std::vector<IncomingRecord>> CaseStore::ListIncoming(uint64_t after, size_t limit) const {
  std::vector<std::string> ids;
  MLAHUB_RETURN_IF_ERROR(ScanSeq(*store_, "in/s/", after, [&](uint64_t, std::string_view id) {
    ids.emplace_back(id);
    return ids.size() < limit;
  }));
  std::vector<IncomingRecord> out;
  for (const std::string& id : ids) {
    MLAHUB_ASSIGN_OR_RETURN(std::optional<IncomingRecord> r, GetIncoming(id));
    if (!r) return Status::Corruption("incoming index names " + id + " but its record is missing");
    out.push_back(std::move(*r));
  }
  return out;
}

Result<std::vector<RefusedDelivery>> CaseStore::ListRefused(size_t limit) const {
  std::vector<RefusedDelivery> out;
  Status inner;
  MLAHUB_RETURN_IF_ERROR(ScanSeq(*store_, "in/x/", 0, [&](uint64_t, std::string_view v) {
    auto r = RefusedFromJson(v);
    if (!r.ok()) {
      inner = r.status();
      return false;
    }
    out.push_back(std::move(*r));
    return out.size() < limit;
  }));
  MLAHUB_RETURN_IF_ERROR(inner);
  return out;
}

// ---- alarms ----
void CaseStore::PutAlarm(StoreBatch& b, const Alarm& a) { b.Put(K("alarm/", a.id), StoredJson(ToJson(a))); }

Result<std::vector<Alarm>> CaseStore::ListAlarms(uint64_t after, size_t limit) const {
  std::vector<Alarm> out;
  Status inner;
  MLAHUB_RETURN_IF_ERROR(ScanSeq(*store_, "alarm/", after, [&](uint64_t, std::string_view v) {
    auto a = AlarmFromJson(v);
    if (!a.ok()) {
      inner = a.status();
      return false;
    }
    out.push_back(std::move(*a));
    return out.size() < limit;
  }));
  MLAHUB_RETURN_IF_ERROR(inner);
  return out;
}

Result<uint64_t> CaseStore::LastAlarmId() const {
  uint64_t last = 0;
  MLAHUB_RETURN_IF_ERROR(store_->ScanReverse("alarm/", [&](std::string_view key, std::string_view) {
    if (key.size() == 14) {
      last = ReadKeyBe64(key.substr(6));
      return false;
    }
    return true;
  }));
  return last;
}

// ---- audit ----
void CaseStore::PutCheckpoint(StoreBatch& b, std::string_view note) { b.Put("audit/cp", note); }

Result<std::optional<std::string>> CaseStore::LoadCheckpoint() const { return Get("audit/cp"); }

void CaseStore::PutAuditJob(StoreBatch& b, const AuditJob& j) { b.Put(K("audit/j/", j.index), StoredJson(ToJson(j))); }

void CaseStore::DeleteAuditJob(StoreBatch& b, uint64_t index) { b.Delete(K("audit/j/", index)); }

Result<std::vector<AuditJob>> CaseStore::AuditJobs() const {
  std::vector<AuditJob> out;
  Status inner;
  MLAHUB_RETURN_IF_ERROR(store_->Scan("audit/j/", "", [&](std::string_view, std::string_view v) {
    auto j = AuditJobFromJson(v);
    if (!j.ok()) {
      inner = j.status();
      return false;
    }
    out.push_back(std::move(*j));
    return true;
  }));
  MLAHUB_RETURN_IF_ERROR(inner);
  return out;
}

// ---- counters ----
void CaseStore::PutCounter(StoreBatch& b, std::string_view name, uint64_t value) {
  b.Put(K("stat/", name), KeyBe64(value));
}

Result<uint64_t> CaseStore::GetCounter(std::string_view name) const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(K("stat/", name)));
  if (!v) return uint64_t{0};
  if (v->size() != 8) return Status::Corruption("counter " + std::string(name) + " is not an 8-byte number");
  return ReadKeyBe64(*v);
}

}  // namespace mlahub::agents
