// ReplyQueue: answers kept while a node's pipe is full, sent in order once
// it drains, bounded, each to its own connection, dropped when that is gone.
#include "reply_queue.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace mlahub::broker {
namespace {

transport::Frames Answer(uint8_t n, size_t size = 10) { return {Bytes(size, n)}; }

// A fake pipe: takes answers while `room` > 0, else says full (or gone:
// every connection, or those in `gone_peers`).
struct FakePipe {
  size_t room = 0;
  bool gone = false;
  std::set<std::string> gone_peers;
  std::vector<uint8_t> got;
  std::vector<std::string> to;  // the connection of each answer in `got`
  ReplyQueue::SendFn Fn() {
    return [this](const std::string& peer, const transport::Frames& f) {
      if (gone || gone_peers.count(peer) != 0) return SendOutcome::kGone;
      if (room == 0) return SendOutcome::kFull;
      --room;
      got.push_back(f.at(0).at(0));
      to.push_back(peer);
      return SendOutcome::kSent;
    };
  }
};

TEST(ReplyQueueTest, SentAtOnceWhilePipeHasRoom) {
  ReplyQueue q;
  FakePipe pipe;
  pipe.room = 2;
  EXPECT_EQ(q.Send("p", Answer(1), pipe.Fn()), ReplyQueue::Result::kSent);
  EXPECT_EQ(q.Send("p", Answer(2), pipe.Fn()), ReplyQueue::Result::kSent);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(pipe.got, (std::vector<uint8_t>{1, 2}));
}

TEST(ReplyQueueTest, KeptWhileFullAndSentInOrderWhenItDrains) {
  ReplyQueue q;
  FakePipe pipe;
  pipe.room = 1;
  EXPECT_EQ(q.Send("p", Answer(1), pipe.Fn()), ReplyQueue::Result::kSent);
  EXPECT_EQ(q.Send("p", Answer(2), pipe.Fn()), ReplyQueue::Result::kQueued);
  // Behind a kept answer, a new one waits even if the pipe has room again:
  // answers leave in the order they were made.
  pipe.room = 10;
  EXPECT_EQ(q.Send("p", Answer(3), pipe.Fn()), ReplyQueue::Result::kQueued);
  EXPECT_EQ(pipe.got, (std::vector<uint8_t>{1}));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.bytes(), 20u);
  // Partly drained: stops at the first refusal, keeps the rest in order.
  pipe.room = 1;
  auto r = q.Flush(pipe.Fn());
  EXPECT_EQ(r.sent, 1u);
  EXPECT_FALSE(r.drained);
  EXPECT_EQ(q.size(), 1u);
  pipe.room = 10;
  r = q.Flush(pipe.Fn());
  EXPECT_EQ(r.sent, 1u);
  EXPECT_TRUE(r.drained);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(pipe.got, (std::vector<uint8_t>{1, 2, 3}));
}

TEST(ReplyQueueTest, BoundedInItemsAndBytes) {
  ReplyQueue q(ReplyQueue::Limits{3, 1000});
  FakePipe pipe;  // full
  for (uint8_t i = 0; i < 3; ++i) EXPECT_EQ(q.Send("p", Answer(i), pipe.Fn()), ReplyQueue::Result::kQueued);
  EXPECT_EQ(q.Send("p", Answer(9), pipe.Fn()), ReplyQueue::Result::kDroppedFull);
  EXPECT_EQ(q.size(), 3u);

  ReplyQueue small(ReplyQueue::Limits{100, 25});
  EXPECT_EQ(small.Send("p", Answer(1, 10), pipe.Fn()), ReplyQueue::Result::kQueued);
  EXPECT_EQ(small.Send("p", Answer(2, 10), pipe.Fn()), ReplyQueue::Result::kQueued);
  EXPECT_EQ(small.Send("p", Answer(3, 10), pipe.Fn()), ReplyQueue::Result::kDroppedFull);
  EXPECT_EQ(small.Send("p", Answer(4, 5), pipe.Fn()), ReplyQueue::Result::kQueued);
  pipe.room = 10;
  small.Flush(pipe.Fn());
  EXPECT_EQ(pipe.got, (std::vector<uint8_t>{1, 2, 4}));
}

// A connection that stopped reading keeps at most its own share, in answers
// and in bytes: the node's other connections still have room when their
// pipes fill for a moment.
TEST(ReplyQueueTest, OneStuckConnectionCannotTakeTheWholeBound) {
  ReplyQueue::Limits limits;
  limits.max_items = 6;
  limits.max_bytes = 1000;
  limits.max_items_per_peer = 3;
  limits.max_bytes_per_peer = 100;
  ReplyQueue q(limits);
  FakePipe pipe;  // full
  // The stuck connection offers as many answers as the node's whole bound;
  // it keeps its share, and the rest of the bound stays for the others.
  for (uint8_t i = 0; i < 6; ++i)
    EXPECT_EQ(q.Send("stuck", Answer(i), pipe.Fn()), i < 3 ? ReplyQueue::Result::kQueued : ReplyQueue::Result::kDroppedFull);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.Send("busy", Answer(10), pipe.Fn()), ReplyQueue::Result::kQueued);
  EXPECT_EQ(q.Send("busy", Answer(11), pipe.Fn()), ReplyQueue::Result::kQueued);

  // Bytes: one connection's 100, although the node's bound is 1000.
  ReplyQueue by_bytes(limits);
  EXPECT_EQ(by_bytes.Send("stuck", Answer(1, 60), pipe.Fn()), ReplyQueue::Result::kQueued);
  EXPECT_EQ(by_bytes.Send("stuck", Answer(2, 60), pipe.Fn()), ReplyQueue::Result::kDroppedFull);
  EXPECT_EQ(by_bytes.Send("busy", Answer(3, 60), pipe.Fn()), ReplyQueue::Result::kQueued);
  EXPECT_EQ(by_bytes.Send("big", Answer(4, 101), pipe.Fn()), ReplyQueue::Result::kDroppedFull);

  // The busy connection drains while the stuck one stays full; the shares
  // are counted again after a flush.
  ReplyQueue::SendFn only_busy = [&](const std::string& peer, const transport::Frames& f) {
    if (peer != "busy") return SendOutcome::kFull;
    pipe.got.push_back(f.at(0).at(0));
    return SendOutcome::kSent;
  };
  auto r = q.Flush(only_busy);
  EXPECT_EQ(r.sent, 2u);
  EXPECT_EQ(pipe.got, (std::vector<uint8_t>{10, 11}));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.Send("stuck", Answer(4), pipe.Fn()), ReplyQueue::Result::kDroppedFull);
  for (uint8_t i = 12; i < 15; ++i) EXPECT_EQ(q.Send("busy", Answer(i), pipe.Fn()), ReplyQueue::Result::kQueued);
}

TEST(ReplyQueueTest, DroppedWhenTheNodeIsGone) {
  ReplyQueue q;
  FakePipe pipe;
  pipe.gone = true;
  EXPECT_EQ(q.Send("p", Answer(1), pipe.Fn()), ReplyQueue::Result::kDroppedGone);
  EXPECT_TRUE(q.empty());
  pipe.gone = false;
  EXPECT_EQ(q.Send("p", Answer(2), pipe.Fn()), ReplyQueue::Result::kQueued);
  EXPECT_EQ(q.Send("p", Answer(3), pipe.Fn()), ReplyQueue::Result::kQueued);
  pipe.gone = true;
  auto r = q.Flush(pipe.Fn());
  EXPECT_EQ(r.dropped_gone, 2u);
  EXPECT_TRUE(r.drained);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.Clear(), 0u);
}

TEST(ReplyQueueTest, EachAnswerGoesToItsOwnConnection) {
  ReplyQueue q;
  FakePipe pipe;
  EXPECT_EQ(q.Send("a", Answer(1), pipe.Fn()), ReplyQueue::Result::kQueued);
  EXPECT_EQ(q.Send("b", Answer(2), pipe.Fn()), ReplyQueue::Result::kQueued);
  EXPECT_EQ(q.Send("c", Answer(3), pipe.Fn()), ReplyQueue::Result::kQueued);
  EXPECT_EQ(q.Send("a", Answer(4), pipe.Fn()), ReplyQueue::Result::kQueued);
  // Connection "a" went away: its answers are dropped, the others still go,
  // in order.
  pipe.gone_peers = {"a"};
  pipe.room = 10;
  auto r = q.Flush(pipe.Fn());
  EXPECT_EQ(r.sent, 2u);
  EXPECT_EQ(r.dropped_gone, 2u);
  EXPECT_TRUE(r.drained);
  EXPECT_EQ(pipe.got, (std::vector<uint8_t>{2, 3}));
  EXPECT_EQ(pipe.to, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(ReplyQueueTest, AFullConnectionDoesNotHoldBackTheOthers) {
  ReplyQueue q;
  FakePipe pipe;  // full
  ASSERT_EQ(q.Send("slow", Answer(1), pipe.Fn()), ReplyQueue::Result::kQueued);
  // Nothing is kept for "agent": its answer goes at once.
  pipe.room = 1;
  EXPECT_EQ(q.Send("agent", Answer(2), pipe.Fn()), ReplyQueue::Result::kSent);
  EXPECT_TRUE(q.HasFor("slow"));
  EXPECT_FALSE(q.HasFor("agent"));
  // "slow" stays full: behind its kept answer its next one waits; "agent"'s
  // are sent past them.
  auto slow_full = [&](const std::string& peer, const transport::Frames& f) {
    if (peer == "slow") return SendOutcome::kFull;
    pipe.got.push_back(f.at(0).at(0));
    return SendOutcome::kSent;
  };
  EXPECT_EQ(q.Send("slow", Answer(3), slow_full), ReplyQueue::Result::kQueued);
  EXPECT_EQ(q.Send("agent", Answer(4), slow_full), ReplyQueue::Result::kSent);
  auto r = q.Flush(slow_full);
  EXPECT_EQ(r.sent, 0u);
  EXPECT_FALSE(r.drained);
  EXPECT_EQ(q.size(), 2u);
  pipe.room = 10;
  r = q.Flush(pipe.Fn());
  EXPECT_EQ(r.sent, 2u);
  EXPECT_TRUE(r.drained);
  EXPECT_FALSE(q.HasFor("slow"));
  EXPECT_EQ(pipe.got, (std::vector<uint8_t>{2, 4, 1, 3}));
}

TEST(ReplyQueueTest, FlushSurvivesTheSendClearingTheQueue) {
  ReplyQueue q;
  FakePipe pipe;  // full
  for (uint8_t i = 1; i <= 3; ++i) ASSERT_EQ(q.Send("a", Answer(i), pipe.Fn()), ReplyQueue::Result::kQueued);
  ASSERT_EQ(q.Send("b", Answer(4), pipe.Fn()), ReplyQueue::Result::kQueued);
  // The broker's send, finding the node gone, drops what is kept (Clear)
  // from inside the flush; every answer is then reported gone once.
  size_t calls = 0;
  auto r = q.Flush([&](const std::string&, const transport::Frames&) {
    ++calls;
    q.Clear();
    return SendOutcome::kGone;
  });
  EXPECT_EQ(calls, 4u);
  EXPECT_EQ(r.dropped_gone, 4u);
  EXPECT_TRUE(r.drained);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_FALSE(q.HasFor("a"));
}

}  // namespace
}  // namespace mlahub::broker
