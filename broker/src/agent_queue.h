// One recipient's delivery queue at the broker: the envelopes accepted for it
// and not yet receipted, in order of acceptance (delivery_seq from 1, no
// gaps), with a bounded part in memory and the rest paged in from the
// ledger state (q/<recipient>/<BE64 seq>, see mlahub/broker/state.h).
//
// Invariant: `resident` holds exactly the queued (durable, unreceipted)
// sequences below `resident_end`; everything at or above it lives only on
// disk. New accepts join the resident part while it is contiguous and has
// room (at most `memory_items` envelopes and `memory_bytes` bytes); the rest
// is read back, in order, when the delivery cursor reaches the end of the
// resident part. So an offline agent with a million queued envelopes costs
// at most `memory_items` envelopes of memory.
//
// Delivery state per item: attempts (Deliver sends so far, this process) and
// whether a Deliver is outstanding on the current connection (in flight,
// waiting for its receipt or its redelivery time). `cursor` is the lowest
// sequence not yet sent on the current connection; ResetCursor() on every
// Hello makes everything unreceipted eligible again, lowest first.
//
// Leaving the queue: a receipt (OnReceipted) or an expiry (OnExpired). An
// expiry is first marked (MarkExpiring: its StatusChange is being made
// durable); a marked item is never handed out again (NextToSend skips it),
// and the broker's receipt path treats a receipt for it as late (recorded,
// but the expiry already took the item out of the queue and its count).
//
// Thread-safety: none; the broker's socket thread owns every AgentQueue.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "mlahub/broker/state.h"
#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"

namespace mlahub::broker {

struct QueueItem {
  uint64_t seq = 0;
  QueueRecord record;
  uint32_t attempts = 0;   // Deliver sends so far (this process)
  bool in_flight = false;  // sent on the current connection, no receipt yet
  int64_t due_ms = 0;      // in flight: when to send it again
};

class AgentQueue {
 public:
  // Reads committed state records: Ledger::ScanState.
  using Scanner =
      std::function<Status(std::string_view prefix, std::string_view start,
                           const std::function<bool(std::string_view, ByteView)>& visit)>;
  // Called for a queue record that does not decode (it is skipped).
  using CorruptHandler = std::function<void(uint64_t seq, const Status& why)>;

  AgentQueue(std::string node, size_t memory_items, size_t memory_bytes, Scanner scanner,
             CorruptHandler on_corrupt = {});

  const std::string& node() const { return node_; }

  // State restored at start (n/<node>, c/<node>): the next sequence to assign
  // and the number receipted so far. Nothing is loaded until needed.
  void Restore(uint64_t next_seq, uint64_t receipted);

  // A new accept for this recipient gets the next sequence (not yet durable).
  uint64_t AssignSeq() { return next_seq_++; }
  uint64_t next_seq() const { return next_seq_; }
  // The Accepted entry and queue record of `seq` are durable. Must be called
  // in sequence order (ledger callbacks come in index order).
  void OnDurable(uint64_t seq, QueueRecord record);
  // The receipt of `seq` is durable: the item leaves the queue.
  void OnReceipted(uint64_t seq) { Remove(seq); }
  // The expiry of `seq` (marked before) is durable: the item leaves the queue.
  void OnExpired(uint64_t seq) { Remove(seq); }
  // A receipt or expiry append is being issued: the count of items that left
  // the queue its batch records (c/<node>), counting those still in flight.
  uint64_t IssueReceipt() { return ++receipts_issued_; }
  uint64_t IssueRemoval() { return ++receipts_issued_; }
  // Expiry of `seq` issued (not yet durable): false if it already was.
  bool MarkExpiring(uint64_t seq) { return expiring_.insert(seq).second; }
  bool IsExpiring(uint64_t seq) const { return expiring_.count(seq) != 0; }
  size_t expiring() const { return expiring_.size(); }
  // Sequences below this are durable.
  uint64_t durable_next() const { return durable_next_; }

  // The resident item with this sequence, or nullptr (not queued, or on disk
  // only).
  QueueItem* Find(uint64_t seq);

  // Delivery on a (new) connection: everything unreceipted is sent again from
  // the lowest sequence; nothing counts as in flight.
  void ResetCursor();
  // The next item to send on this connection, paging in from the ledger
  // state when the resident part is used up. nullptr when all queued items
  // were sent (or memory holds only in-flight items).
  Result<QueueItem*> NextToSend();
  // `item` (from NextToSend) was handed to the transport.
  void MarkSent(QueueItem* item, int64_t due_ms);
  // `item` (from NextToSend) is not sent on this connection (it is expiring):
  // the cursor moves past it.
  void Skip(const QueueItem* item) { cursor_ = std::max(cursor_, item->seq + 1); }

  // The lowest sequence still queued: every one below it has left the queue
  // (receipted or expired, durably) and is never delivered again. Exact
  // while the resident part is not empty (the lowest queued sequence is
  // then resident); Deliver carries it as settled_below.
  uint64_t settled_below() const { return resident_.empty() ? resident_end_ : resident_.begin()->first; }
  // Durable accepted and not receipted or expired.
  uint64_t depth() const { return durable_next_ - 1 - receipted_; }
  uint64_t receipted() const { return receipted_; }
  size_t resident_items() const { return resident_.size(); }
  size_t resident_bytes() const { return resident_bytes_; }
  size_t in_flight() const { return in_flight_; }
  // Number of page-in scans so far (tests, metrics).
  uint64_t page_ins() const { return page_ins_; }

 private:
  bool HasRoom(size_t bytes) const;
  Status PageIn();
  void Remove(uint64_t seq);

  std::string node_;
  size_t memory_items_;
  size_t memory_bytes_;
  Scanner scanner_;
  CorruptHandler on_corrupt_;

  uint64_t next_seq_ = 1;      // next to assign
  uint64_t durable_next_ = 1;  // sequences below are durable
  uint64_t receipted_ = 0;         // left the queue: receipted or expired
  uint64_t receipts_issued_ = 0;  // receipts and expiries issued (c/<node>)
  std::set<uint64_t> expiring_;   // expiry issued, not yet durable
  uint64_t resident_end_ = 1;  // resident = queue ∩ [1, resident_end)
  std::map<uint64_t, QueueItem> resident_;
  size_t resident_bytes_ = 0;
  size_t in_flight_ = 0;
  uint64_t cursor_ = 1;  // lowest sequence not yet sent on this connection
  uint64_t page_ins_ = 0;
};

}  // namespace mlahub::broker
