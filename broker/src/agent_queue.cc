#include "agent_queue.h"

#include <algorithm>

namespace mlahub::broker {

AgentQueue::AgentQueue(std::string node, size_t memory_items, size_t memory_bytes, Scanner scanner,
                       CorruptHandler on_corrupt)
    : node_(std::move(node)),
      memory_items_(std::max<size_t>(memory_items, 1)),
      memory_bytes_(memory_bytes),
      scanner_(std::move(scanner)),
      on_corrupt_(std::move(on_corrupt)) {}

void AgentQueue::Restore(uint64_t next_seq, uint64_t receipted) {
  MLAHUB_CHECK(next_seq >= 1 && receipted <= next_seq - 1);
  next_seq_ = durable_next_ = next_seq;
  receipted_ = receipts_issued_ = receipted;
  resident_.clear();
  resident_bytes_ = 0;
  in_flight_ = 0;
  expiring_.clear();
  // An empty queue is trivially all resident; otherwise load lazily, from
  // the first queued sequence (resident_end 1: nothing below is queued).
  resident_end_ = depth() == 0 ? next_seq : 1;
  cursor_ = 1;
}

bool AgentQueue::HasRoom(size_t bytes) const {
  if (resident_.empty()) return true;  // always room for one, whatever its size
  return resident_.size() < memory_items_ && resident_bytes_ + bytes <= memory_bytes_;
}

void AgentQueue::OnDurable(uint64_t seq, QueueRecord record) {
  MLAHUB_CHECK_MSG(seq == durable_next_,
                   "accepts of one recipient must become durable in sequence order");
  durable_next_ = seq + 1;
  if (resident_end_ == seq && HasRoom(record.envelope.size())) {
    resident_bytes_ += record.envelope.size();
    QueueItem item;
    item.seq = seq;
    item.record = std::move(record);
    resident_.emplace(seq, std::move(item));
    resident_end_ = seq + 1;
  }
}

void AgentQueue::Remove(uint64_t seq) {
  ++receipted_;
  expiring_.erase(seq);
  auto it = resident_.find(seq);
  if (it == resident_.end()) return;
  if (it->second.in_flight) --in_flight_;
  resident_bytes_ -= it->second.record.envelope.size();
  resident_.erase(it);
}

QueueItem* AgentQueue::Find(uint64_t seq) {
  auto it = resident_.find(seq);
  return it == resident_.end() ? nullptr : &it->second;
}

void AgentQueue::ResetCursor() {
  for (auto& [seq, item] : resident_) item.in_flight = false;
  in_flight_ = 0;
  cursor_ = 1;
}

Result<QueueItem*> AgentQueue::NextToSend() {
  for (int round = 0; round < 2; ++round) {
    auto it = resident_.lower_bound(cursor_);
    while (it != resident_.end() && expiring_.count(it->first) != 0) {
      cursor_ = it->first + 1;  // expiring: never handed out again
      ++it;
    }
    if (it != resident_.end()) return &it->second;
    // Everything resident was sent; read more if any is on disk only.
    if (resident_end_ >= durable_next_ || !HasRoom(0) || round == 1) break;
    MLAHUB_RETURN_IF_ERROR(PageIn());
  }
  return static_cast<QueueItem*>(nullptr);
}

void AgentQueue::MarkSent(QueueItem* item, int64_t due_ms) {
  if (!item->in_flight) ++in_flight_;
  item->in_flight = true;
  item->due_ms = due_ms;
  ++item->attempts;
  cursor_ = std::max(cursor_, item->seq + 1);
}

Status AgentQueue::PageIn() {
  ++page_ins_;
  const std::string prefix = QueuePrefix(node_);
  const uint64_t limit = durable_next_;
  uint64_t end = resident_end_;
  bool full = false;
  Status inner;
  Status s =
      scanner_(prefix, prefix + Be64Key(resident_end_), [&](std::string_view key, ByteView value) {
        auto seq = QueueKeySeq(prefix, key);
        if (!seq.ok()) {
          inner = seq.status();
          return false;
        }
        if (*seq >= limit) return false;  // not yet known to be durable here
        if (!HasRoom(value.size())) {
          full = true;
          return false;
        }
        end = *seq + 1;
        auto rec = DecodeQueueRecord(value);
        if (!rec.ok()) {
          if (on_corrupt_) on_corrupt_(*seq, rec.status());
          return true;  // skipped; it stays on disk for an operator to look at
        }
        resident_bytes_ += rec->envelope.size();
        QueueItem item;
        item.seq = *seq;
        item.record = std::move(*rec);
        resident_.emplace(*seq, std::move(item));
        return true;
      });
  MLAHUB_RETURN_IF_ERROR(s);
  MLAHUB_RETURN_IF_ERROR(inner);
  // Stopped by memory: the rest starts after the last loaded sequence.
  // Otherwise every durable sequence below `limit` was seen.
  resident_end_ = full ? end : limit;
  return Status::Ok();
}

}  // namespace mlahub::broker
