// An agent's case store: every message it sent and received, with envelopes,
// receipts, transport evidence, alarms and audit state, in one
// storage::Store (RocksDB) under <data>/store.
//
// Atomicity: callers assemble a StoreBatch with the Put*/Delete* helpers
// below and commit it with Write, which is atomic and fsync'd. The agent
// relies on this for its guarantees: a received envelope, its signed
// receipt, its delivery sequence number and its "receipt to send" marker are
// one batch (never a stored message without its receipt or the reverse); an
// outgoing envelope and its outbox entry are one batch.
//
// Key layout (BE64 = 8-byte big-endian, so numeric keys sort in order):
//   meta/format                "1"
//   meta/node                  the node id the store belongs to
//   dir/signed                 the newest verified SignedDirectory
//   out/m/<id>                 OutgoingRecord (JSON)
//   out/e/<id>                 the sealed envelope, byte for byte
//   out/r/<id>                 the recipient's SignedReceipt
//   out/s/<BE64 local_seq>     id   (every outgoing message, in order)
//   out/p/<BE64 local_seq>     id   (outbox: no SubmitResult yet)
//   out/o/<id>                 ""   (evidence not final)
//   in/m/<id>                  IncomingRecord (JSON)
//   in/e/<id>                  the envelope as delivered
//   in/r/<id>                  our SignedReceipt for it
//   in/s/<BE64 delivery_seq>   id   (every stored message, in delivery order)
//   in/d/<BE64 delivery_seq>   id   (a later sequence number of an id already stored)
//   in/p/<BE64 delivery_seq>   id   (receipt sent, no ReceiptResult yet)
//   in/x/<BE64 delivery_seq>   RefusedDelivery (JSON)
//   in/last                    BE64: every delivery_seq <= it is handled
//   alarm/<BE64 id>            Alarm (JSON)
//   audit/cp                   the latest verified hub checkpoint (signed note)
//   audit/j/<BE64 index>       AuditJob (JSON), until its inclusion is verified
//   stat/<name>                BE64 counters
//   case/c/<id>, case/m/<id>   cases (cases.h)
//   case/b/<id>                sealed copy of a body this agent sent (cases.h, victims.h)
//   reveal/n, reveal/r/<BE64>  reveals of victims' data (victims.h)
//
// Thread-safety: as storage::Store, every method may be called from any
// thread; the agent serialises its read-modify-write sequences itself.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mlahub/agents/records.h"
#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/storage/store.h"

namespace mlahub::agents {

using storage::StoreBatch;

class CaseStore {
 public:
  // Opens (creating) the store in `dir`. kInvalidArgument if it belongs to
  // another node; kUnavailable if another process holds it.
  static Result<std::unique_ptr<CaseStore>> Open(const std::string& dir, const std::string& node_id);
  Status Close();

  // Atomic and fsync'd.
  Status Write(const StoreBatch& batch);

  // ---- directory ----
  Result<std::optional<Bytes>> LoadDirectory() const;
  static void PutDirectory(StoreBatch& b, ByteView signed_directory);

  // ---- outgoing ----
  // A new message: record, envelope, order index and outbox entry.
  static void PutNewOutgoing(StoreBatch& b, const OutgoingRecord& r, ByteView envelope);
  // The record, and its "open" marker according to IsFinal.
  static void PutOutgoing(StoreBatch& b, const OutgoingRecord& r);
  static void ClearOutbox(StoreBatch& b, uint64_t local_seq);
  static void PutOutgoingReceipt(StoreBatch& b, std::string_view id, ByteView signed_receipt);
  Result<std::optional<OutgoingRecord>> GetOutgoing(std::string_view id) const;
  Result<std::optional<Bytes>> GetOutgoingEnvelope(std::string_view id) const;
  Result<std::optional<Bytes>> GetOutgoingReceipt(std::string_view id) const;
  // (local_seq, id) of the outbox, ascending.
  Result<std::vector<std::pair<uint64_t, std::string>>> Outbox() const;
  // Ids of outgoing messages whose evidence is not final.
  Result<std::vector<std::string>> OpenOutgoing() const;
  // Outgoing messages refused for good whose case step is not yet released
  // (PutOutgoing marks them; ClearRefusedToRelease, in the case's write).
  Result<std::vector<std::string>> RefusedToRelease() const;
  static void ClearRefusedToRelease(StoreBatch& b, std::string_view id);
  Result<uint64_t> LastLocalSeq() const;
  // Outgoing records with local_seq > after, ascending, at most `limit`.
  Result<std::vector<OutgoingRecord>> ListOutgoing(uint64_t after, size_t limit) const;

  // ---- incoming ----
  // A new message: record, envelope, our receipt, order index and the
  // "receipt to send" marker.
  static void PutNewIncoming(StoreBatch& b, const IncomingRecord& r, ByteView envelope, ByteView receipt);
  static void PutIncoming(StoreBatch& b, const IncomingRecord& r);
  static void PutDuplicateSeq(StoreBatch& b, uint64_t delivery_seq, std::string_view id);
  static void PutPendingReceipt(StoreBatch& b, uint64_t delivery_seq, std::string_view id);
  static void ClearPendingReceipt(StoreBatch& b, uint64_t delivery_seq);
  static void PutRefused(StoreBatch& b, const RefusedDelivery& r);
  static void DeleteRefused(StoreBatch& b, uint64_t delivery_seq);
  static void PutLastDeliverySeq(StoreBatch& b, uint64_t seq);
  Result<std::optional<IncomingRecord>> GetIncoming(std::string_view id) const;
  Result<std::optional<Bytes>> GetIncomingEnvelope(std::string_view id) const;
  Result<std::optional<Bytes>> GetIncomingReceipt(std::string_view id) const;
  Result<std::optional<RefusedDelivery>> GetRefused(uint64_t delivery_seq) const;
  // The id stored for a delivery sequence number (in/s or in/d).
  Result<std::optional<std::string>> IdForDeliverySeq(uint64_t delivery_seq) const;
  Result<uint64_t> LastDeliverySeq() const;
  // Sequence numbers > after that are handled (stored, duplicate or refused).
  Result<std::vector<uint64_t>> HandledSeqsAfter(uint64_t after) const;
  // (delivery_seq, id) of receipts without a ReceiptResult, ascending.
  Result<std::vector<std::pair<uint64_t, std::string>>> PendingReceipts() const;
  Result<std::vector<IncomingRecord>> ListIncoming(uint64_t after, size_t limit) const;
  Result<std::vector<RefusedDelivery>> ListRefused(size_t limit) const;

  // ---- alarms ----
  static void PutAlarm(StoreBatch& b, const Alarm& a);
  Result<std::vector<Alarm>> ListAlarms(uint64_t after, size_t limit) const;
  Result<uint64_t> LastAlarmId() const;

  // ---- audit ----
  static void PutCheckpoint(StoreBatch& b, std::string_view note);
  Result<std::optional<std::string>> LoadCheckpoint() const;
  static void PutAuditJob(StoreBatch& b, const AuditJob& j);
  static void DeleteAuditJob(StoreBatch& b, uint64_t index);
  Result<std::vector<AuditJob>> AuditJobs() const;

  // ---- counters ----
  static void PutCounter(StoreBatch& b, std::string_view name, uint64_t value);
  Result<uint64_t> GetCounter(std::string_view name) const;

  // ---- keys of the case workflow (cases.h: case/c/, case/m/) ----
  Result<std::optional<std::string>> GetRaw(std::string_view key) const { return Get(key); }
  Status ScanRaw(std::string_view prefix,
                 const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
    return store_->Scan(prefix, "", fn);
  }

 private:
  explicit CaseStore(std::unique_ptr<storage::Store> s) : store_(std::move(s)) {}
  Result<std::optional<std::string>> Get(std::string_view key) const;
  // The ids of the keys under `prefix` (an id-keyed mark set such as out/o/).
  Result<std::vector<std::string>> IdsUnder(std::string_view prefix) const;
  std::unique_ptr<storage::Store> store_;
};

}  // namespace mlahub::agents
