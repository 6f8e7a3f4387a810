// One node's outgoing answers that the transport could not take at once.
//
// Answers (SubmitResult, ReceiptResult, StatusResponse, ProofResponse,
// ChunkAck, Notice) are sent without blocking; when the pipe is full
// (ROUTER_MANDATORY + ZMQ_DONTWAIT: EAGAIN) the answer is kept here, in
// order, and sent again once the pipe drains, before any delivery to that
// node. Bounded: at most `max_items` answers and `max_bytes` bytes; beyond
// that an answer is dropped (the agent resends the request, as it does after
// a lost answer).
//
// Each answer names its connection: the one its request came from (a node
// may hold several connections; an answer never goes to another), or none
// (Notice, ChunkAck: the node's newest connection when it is sent). An
// answer whose connection is gone (EHOSTUNREACH) is dropped: a reconnecting
// agent resends whatever it has not seen answered.
//
// Pure logic over a send function, so it is tested without sockets.
// Thread-safety: none; the broker's socket thread owns every ReplyQueue.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "mlahub/transport/frames.h"

namespace mlahub::broker {

enum class SendOutcome : uint8_t {
  kSent,  // the transport took it
  kFull,  // the node's pipe is full (EAGAIN): try again later
  kGone,  // no connection for the node (EHOSTUNREACH)
};

class ReplyQueue {
 public:
  // `peer`: the connection's routing id, or empty for the node's newest.
  using SendFn = std::function<SendOutcome(const std::string& peer, const transport::Frames&)>;

  struct Limits {
    size_t max_items = 4096;
    size_t max_bytes = size_t{32} << 20;
  };

  // What became of an answer offered with Send.
  enum class Result : uint8_t {
    kSent,          // sent now
    kQueued,        // kept, to be sent by Flush
    kDroppedFull,   // the bound was reached
    kDroppedGone,   // its connection is gone
  };

  struct FlushResult {
    size_t sent = 0;
    size_t dropped_gone = 0;  // answers whose connection was found gone
    bool drained = false;     // nothing is kept any more
  };

  explicit ReplyQueue(Limits limits) : limits_(limits) {}
  ReplyQueue() : ReplyQueue(Limits{}) {}

  // Sends `frames` to `peer` now if nothing is kept before it, else keeps it
  // behind the others (answers leave in the order they were made).
  Result Send(std::string peer, transport::Frames frames, const SendFn& send);
  // Sends what is kept, oldest first, until a pipe is full; an answer whose
  // connection is gone is dropped on the way.
  FlushResult Flush(const SendFn& send);
  // Drops everything kept; returns how many.
  size_t Clear();
  // Drops the answers kept for connections other than `peer` (not those for
  // the newest connection); returns how many. For a reconnection: what was
  // kept for the previous connection will not be read.
  size_t DropOtherConnections(std::string_view peer);

  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  struct Item {
    std::string peer;
    transport::Frames frames;
  };
  bool Keep(Item item);
  static size_t SizeOf(const transport::Frames& f);

  Limits limits_;
  std::deque<Item> items_;
  size_t bytes_ = 0;
};

}  // namespace mlahub::broker
