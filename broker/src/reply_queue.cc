#include "reply_queue.h"

namespace mlahub::broker {

size_t ReplyQueue::SizeOf(const transport::Frames& f) {
  size_t n = 0;
  for (const Bytes& b : f) n += b.size();
  return n;
}

bool ReplyQueue::Keep(transport::Frames frames) {
  size_t n = SizeOf(frames);
  if (items_.size() >= limits_.max_items || bytes_ + n > limits_.max_bytes) return false;
  bytes_ += n;
  items_.push_back(std::move(frames));
  return true;
}

ReplyQueue::Result ReplyQueue::Send(transport::Frames frames, const SendFn& send) {
  if (!items_.empty()) return Keep(std::move(frames)) ? Result::kQueued : Result::kDroppedFull;
  switch (send(frames)) {
    case SendOutcome::kSent:
      return Result::kSent;
    case SendOutcome::kGone:
      return Result::kDroppedGone;
    case SendOutcome::kFull:
      break;
  }
  return Keep(std::move(frames)) ? Result::kQueued : Result::kDroppedFull;
}

ReplyQueue::FlushResult ReplyQueue::Flush(const SendFn& send) {
  FlushResult r;
  while (!items_.empty()) {
    SendOutcome o = send(items_.front());
    if (o == SendOutcome::kFull) return r;
    if (o == SendOutcome::kGone) {
      r.dropped_gone = Clear();
      break;
    }
    bytes_ -= SizeOf(items_.front());
    items_.pop_front();
    ++r.sent;
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

}  // namespace mlahub::broker
