#include "reply_queue.h"

#include <set>

namespace mlahub::broker {

size_t ReplyQueue::SizeOf(const transport::Frames& f) {
  size_t n = 0;
  for (const Bytes& b : f) n += b.size();
  return n;
}

void ReplyQueue::Count(const Item& item) {
  const size_t n = SizeOf(item.frames);
  bytes_ += n;
  PeerUse& use = per_peer_[item.peer];
  ++use.items;
  use.bytes += n;
}

bool ReplyQueue::Keep(Item item) {
  const size_t n = SizeOf(item.frames);
  if (items_.size() >= limits_.max_items || bytes_ + n > limits_.max_bytes) return false;
  auto it = per_peer_.find(item.peer);
  const PeerUse use = it == per_peer_.end() ? PeerUse{} : it->second;
  if (use.items >= limits_.max_items_per_peer || use.bytes + n > limits_.max_bytes_per_peer) return false;
  Count(item);
  items_.push_back(std::move(item));
  return true;
}

ReplyQueue::Result ReplyQueue::Send(std::string peer, transport::Frames frames, const SendFn& send) {
  Item item{std::move(peer), std::move(frames)};
  if (HasFor(item.peer)) return Keep(std::move(item)) ? Result::kQueued : Result::kDroppedFull;
  switch (send(item.peer, item.frames)) {
    case SendOutcome::kSent:
      return Result::kSent;
    case SendOutcome::kGone:
      return Result::kDroppedGone;
    case SendOutcome::kFull:
      break;
  }
  return Keep(std::move(item)) ? Result::kQueued : Result::kDroppedFull;
}

ReplyQueue::FlushResult ReplyQueue::Flush(const SendFn& send) {
  FlushResult r;
  // Taken out first, so that nothing `send` does to this queue can pull
  // items from under this loop.
  std::deque<Item> pending;
  pending.swap(items_);
  per_peer_.clear();
  bytes_ = 0;
  std::deque<Item> kept;
  std::set<std::string, std::less<>> full;  // connections found full in this pass
  for (Item& item : pending) {
    if (full.count(item.peer) != 0) {
      kept.push_back(std::move(item));
      continue;
    }
    switch (send(item.peer, item.frames)) {
      case SendOutcome::kSent:
        ++r.sent;
        break;
      case SendOutcome::kGone:
        ++r.dropped_gone;
        break;
      case SendOutcome::kFull:
        full.insert(item.peer);
        kept.push_back(std::move(item));
        break;
    }
  }
  // What was kept goes back ahead of anything queued meanwhile.
  for (Item& item : items_) kept.push_back(std::move(item));
  items_.swap(kept);
  per_peer_.clear();
  bytes_ = 0;
  for (const Item& item : items_) Count(item);
  r.drained = items_.empty();
  return r;
}

size_t ReplyQueue::Clear() {
  size_t n = items_.size();
  items_.clear();
  per_peer_.clear();
  bytes_ = 0;
  return n;
}

}  // namespace mlahub::broker
