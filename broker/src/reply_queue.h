// One node's outgoing answers that the transport could not take at once.
//
// Answers (SubmitResult, ReceiptResult, StatusResponse, ProofResponse,
// ChunkAck, Notice) are sent without blocking; when a connection's pipe is
// full (ROUTER_MANDATORY + ZMQ_DONTWAIT: EAGAIN) the answer is kept here and
// sent again once that pipe drains, in the order the answers for that
// connection were made, and before any delivery on it. Bounded per node (at
// most `max_items` answers and `max_bytes` bytes) and, within that, per
// connection (`max_items_per_peer`, `max_bytes_per_peer`), so that one
// connection that stopped reading cannot take the whole bound from the
// node's other connections. Beyond a bound an answer is dropped (the agent
// resends the request, as it does after a lost answer).
//
// Each answer names its connection (routing id): the one its request came
// from, or for a notice the node's newest when it was made. A node may hold
// several connections; an answer never goes to another than its own, and a
// full connection does not hold back the answers of the others. An answer
// whose connection is gone (EHOSTUNREACH) is dropped: a reconnecting agent
// resends whatever it has not seen answered.
//
// Pure logic over a send function, so it is tested without sockets.
// Thread-safety: none; the broker's socket thread owns every ReplyQueue.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "mlahub/transport/frames.h"

namespace mlahub::broker {

enum class SendOutcome : uint8_t {
  kSent,  // the transport took it
  kFull,  // the connection's pipe is full (EAGAIN): try again later
  kGone,  // the connection is gone (EHOSTUNREACH): sending again is pointless
};

class ReplyQueue {
 public:
  // `peer`: the connection's routing id.
  using SendFn = std::function<SendOutcome(const std::string& peer, const transport::Frames&)>;

  struct Limits {
    size_t max_items = 4096;                        // all of a node's connections
    size_t max_bytes = size_t{32} << 20;
    size_t max_items_per_peer = 1024;               // one connection
    size_t max_bytes_per_peer = size_t{8} << 20;
  };

  // What became of an answer offered with Send.
  enum class Result : uint8_t {
    kSent,          // sent now
    kQueued,        // kept, to be sent by Flush
    kDroppedFull,   // the node's or the connection's bound was reached
    kDroppedGone,   // its connection is gone
  };

  struct FlushResult {
    size_t sent = 0;
    size_t dropped_gone = 0;  // answers whose connection was found gone
    bool drained = false;     // nothing is kept any more
  };

  explicit ReplyQueue(Limits limits) : limits_(limits) {}
  ReplyQueue() : ReplyQueue(Limits{}) {}

  // Sends `frames` to `peer` now if nothing is kept for that connection,
  // else keeps it behind what is (answers leave in the order they were made).
  Result Send(std::string peer, transport::Frames frames, const SendFn& send);
  // Sends what is kept, oldest first; a connection found full keeps the rest
  // of its answers (the others go on), one found gone loses them. Everything
  // kept when the call starts is offered (or kept) once, even if `send`
  // clears the queue meanwhile.
  FlushResult Flush(const SendFn& send);
  // Drops everything kept; returns how many.
  size_t Clear();
  // Whether answers are kept for this connection.
  bool HasFor(std::string_view peer) const { return per_peer_.find(peer) != per_peer_.end(); }

  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  struct Item {
    std::string peer;
    transport::Frames frames;
  };
  bool Keep(Item item);
  void Count(const Item& item);  // adds it to the byte and per-connection counts
  static size_t SizeOf(const transport::Frames& f);

  Limits limits_;
  std::deque<Item> items_;
  struct PeerUse {
    size_t items = 0;
    size_t bytes = 0;
  };
  std::map<std::string, PeerUse, std::less<>> per_peer_;  // what each connection keeps
  size_t bytes_ = 0;
};

}  // namespace mlahub::broker
