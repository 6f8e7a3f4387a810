#include "reply_queue.h"

#include <algorithm>

namespace mlahub::broker {

size_t ReplyQueue::SizeOf(const transport::Frames& f) {
  size_t n = 0;
  for (const Bytes& b : f) n += b.size();
  return n;
}

bool ReplyQueue::Keep(Item item) {
  size_t n = SizeOf(item.frames);
  if (items_.size() >= limits_.max_items || bytes_ + n > limits_.max_bytes) return false;
  bytes_ += n;
  items_.push_back(std::move(item));
  return true;
}

ReplyQueue::Result ReplyQueue::Send(std::string peer, transport::Frames frames, const SendFn& send) {
  Item item{std::move(peer), std::move(frames)};
  if (!items_.empty()) return Keep(std::move(item)) ? Result::kQueued : Result::kDroppedFull;
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
  while (!items_.empty()) {
    // Taken out before the send: `send` may Clear() this queue (its node
    // found gone), which must not pull the item from under us.
    Item item = std::move(items_.front());
    items_.pop_front();
    const size_t n = SizeOf(item.frames);
    bytes_ -= n;
    SendOutcome o = send(item.peer, item.frames);
    if (o == SendOutcome::kFull) {
      items_.push_front(std::move(item));
      bytes_ += n;
      return r;
    }
    if (o == SendOutcome::kGone) {
      ++r.dropped_gone;
    } else {
      ++r.sent;
    }
  }
  r.drained = true;
  return r;
}

size_t ReplyQueue::Clear() {
  size_t n = items_.size();
  items_.clear();
  bytes_ = 0;
  return n;
}

size_t ReplyQueue::DropOtherConnections(std::string_view peer) {
  const size_t before = items_.size();
  std::erase_if(items_, [&](const Item& i) {
    if (i.peer.empty() || i.peer == peer) return false;
    bytes_ -= SizeOf(i.frames);
    return true;
  });
  return before - items_.size();
}

}  // namespace mlahub::broker
