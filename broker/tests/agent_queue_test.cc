// AgentQueue: order, bounded memory and paging from a real ledger's state.
#include "agent_queue.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <random>

#include "mlahub/crypto/sign.h"
#include "mlahub/storage/ledger.h"
#include "mlahub/storage/note.h"

namespace mlahub::broker {
namespace {

class AgentQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("broker_queue_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(std::random_device{}()));
    auto signer =
        storage::Ed25519NoteSigner::Create("test.mlahub/ledger", crypto::SigningKey::Generate());
    ASSERT_TRUE(signer.ok());
    storage::LedgerOptions o;
    o.create_if_missing = true;
    o.origin = "test.mlahub/ledger";
    o.signer = std::shared_ptr<const storage::NoteSigner>(std::move(*signer));
    auto l = storage::Ledger::Open(dir_.string(), std::move(o));
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    ledger_ = std::move(*l);
  }
  void TearDown() override {
    if (ledger_) {
      ASSERT_TRUE(ledger_->Close().ok());
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static QueueRecord Record(uint64_t seq, size_t size = 100) {
    QueueRecord r;
    r.ledger_index = seq * 10;
    r.kind = 1;
    r.envelope_hash.fill(static_cast<uint8_t>(seq));
    r.message_id = "m" + std::to_string(seq);
    r.sender = "IT-MOJ";
    r.envelope = Bytes(size, static_cast<uint8_t>(seq));
    return r;
  }
  // Writes queue records durably, as the broker's accept batches do.
  void Store(const std::string& node, uint64_t from, uint64_t to, size_t size = 100) {
    std::vector<storage::StateWrite> w;
    for (uint64_t s = from; s <= to; ++s)
      w.push_back(storage::StateWrite::Put(QueueKey(node, s), EncodeQueueRecord(Record(s, size))));
    std::promise<Status> done;
    ledger_->WriteStateAsync(std::move(w), [&](const Status& s, uint64_t) { done.set_value(s); });
    ASSERT_TRUE(done.get_future().get().ok());
  }
  void Erase(const std::string& node, uint64_t seq) {
    std::promise<Status> done;
    ledger_->WriteStateAsync({storage::StateWrite::Delete(QueueKey(node, seq))},
                             [&](const Status& s, uint64_t) { done.set_value(s); });
    ASSERT_TRUE(done.get_future().get().ok());
  }
  std::unique_ptr<AgentQueue> MakeQueue(const std::string& node, size_t items,
                                        size_t bytes = 1 << 30) {
    storage::Ledger* l = ledger_.get();
    return std::make_unique<AgentQueue>(
        node, items, bytes,
        [l](std::string_view p, std::string_view s,
            const std::function<bool(std::string_view, ByteView)>& v) {
          return l->ScanState(p, s, v);
        },
        [this](uint64_t seq, const Status&) { corrupt_.push_back(seq); });
  }
  // Sends everything available, receipting each as it goes; returns the
  // order seen.
  std::vector<uint64_t> DrainAll(AgentQueue& q, size_t max_inflight, const std::string& node) {
    std::vector<uint64_t> order;
    for (int guard = 0; guard < 100000; ++guard) {
      bool progress = false;
      while (q.in_flight() < max_inflight) {
        auto n = q.NextToSend();
        EXPECT_TRUE(n.ok());
        if (!n.ok() || *n == nullptr) break;
        EXPECT_EQ((*n)->record, Record((*n)->seq));
        order.push_back((*n)->seq);
        q.MarkSent(*n, 0);
        progress = true;
      }
      EXPECT_LE(q.resident_items(), max_items_seen_limit_);
      // Receipt the oldest in flight.
      if (order.size() > receipted_) {
        uint64_t seq = order[receipted_++];
        Erase(node, seq);
        q.OnReceipted(seq);
        progress = true;
      }
      if (!progress) break;
    }
    return order;
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Ledger> ledger_;
  std::vector<uint64_t> corrupt_;
  size_t receipted_ = 0;
  size_t max_items_seen_limit_ = 1 << 30;
};

TEST_F(AgentQueueTest, BacklogFarBeyondMemoryIsDeliveredInOrder) {
  const uint64_t n = 1000;
  Store("NG-AGF", 1, n);
  auto q = MakeQueue("NG-AGF", 16);
  q->Restore(n + 1, 0);
  EXPECT_EQ(q->depth(), n);
  EXPECT_EQ(q->resident_items(), 0u);  // nothing loaded until needed
  q->ResetCursor();
  max_items_seen_limit_ = 16;
  std::vector<uint64_t> order = DrainAll(*q, 4, "NG-AGF");
  ASSERT_EQ(order.size(), n);
  for (uint64_t i = 0; i < n; ++i) EXPECT_EQ(order[i], i + 1);
  EXPECT_EQ(q->depth(), 0u);
  EXPECT_GT(q->page_ins(), n / 16);
  EXPECT_TRUE(corrupt_.empty());
}

TEST_F(AgentQueueTest, NewAcceptsJoinMemoryOnlyWhileContiguousAndRoomy) {
  auto q = MakeQueue("NG-AGF", 4);
  q->Restore(1, 0);
  q->ResetCursor();
  // 10 accepts, durable in order; only the first 4 fit in memory.
  for (uint64_t s = 1; s <= 10; ++s) {
    EXPECT_EQ(q->AssignSeq(), s);
    Store("NG-AGF", s, s);
    q->OnDurable(s, Record(s));
  }
  EXPECT_EQ(q->resident_items(), 4u);
  EXPECT_EQ(q->depth(), 10u);
  max_items_seen_limit_ = 4;
  std::vector<uint64_t> order = DrainAll(*q, 2, "NG-AGF");
  ASSERT_EQ(order.size(), 10u);
  for (uint64_t i = 0; i < 10; ++i) EXPECT_EQ(order[i], i + 1);
  // Once drained, new accepts are resident again without reading the disk.
  uint64_t page_ins = q->page_ins();
  uint64_t s = q->AssignSeq();
  Store("NG-AGF", s, s);
  q->OnDurable(s, Record(s));
  auto next = q->NextToSend();
  ASSERT_TRUE(next.ok());
  ASSERT_NE(*next, nullptr);
  EXPECT_EQ((*next)->seq, s);
  EXPECT_EQ(q->page_ins(), page_ins);
}

TEST_F(AgentQueueTest, ReconnectResendsEverythingUnreceiptedFromTheLowest) {
  Store("NG-AGF", 1, 20);
  auto q = MakeQueue("NG-AGF", 8);
  q->Restore(21, 0);
  q->ResetCursor();
  for (int i = 0; i < 5; ++i) {
    auto n = q->NextToSend();
    ASSERT_TRUE(n.ok() && *n != nullptr);
    q->MarkSent(*n, 0);
  }
  EXPECT_EQ(q->in_flight(), 5u);
  Erase("NG-AGF", 2);
  q->OnReceipted(2);
  q->ResetCursor();
  EXPECT_EQ(q->in_flight(), 0u);
  std::vector<uint64_t> seen;
  for (int i = 0; i < 5; ++i) {
    auto n = q->NextToSend();
    ASSERT_TRUE(n.ok() && *n != nullptr);
    seen.push_back((*n)->seq);
    q->MarkSent(*n, 0);
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 3, 4, 5, 6}));
  EXPECT_EQ(q->Find(1)->attempts, 2u);
  EXPECT_EQ(q->Find(6)->attempts, 1u);
}

TEST_F(AgentQueueTest, MemoryIsBoundedInBytesToo) {
  Store("NG-AGF", 1, 50, 10000);
  auto q = MakeQueue("NG-AGF", 1000, 35000);
  q->Restore(51, 0);
  q->ResetCursor();
  auto n = q->NextToSend();
  ASSERT_TRUE(n.ok() && *n != nullptr);
  EXPECT_LE(q->resident_bytes(), 35000u);
  EXPECT_EQ(q->resident_items(), 3u);
}

TEST_F(AgentQueueTest, CorruptRecordIsSkippedAndReported) {
  Store("NG-AGF", 1, 3);
  {
    std::promise<Status> done;
    ledger_->WriteStateAsync({storage::StateWrite::Put(QueueKey("NG-AGF", 2), Bytes{9, 9, 9})},
                             [&](const Status& s, uint64_t) { done.set_value(s); });
    ASSERT_TRUE(done.get_future().get().ok());
  }
  auto q = MakeQueue("NG-AGF", 10);
  q->Restore(4, 0);
  q->ResetCursor();
  std::vector<uint64_t> seen;
  for (;;) {
    auto n = q->NextToSend();
    ASSERT_TRUE(n.ok());
    if (*n == nullptr) break;
    seen.push_back((*n)->seq);
    q->MarkSent(*n, 0);
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(corrupt_, (std::vector<uint64_t>{2}));
}

TEST_F(AgentQueueTest, AcceptsNotYetKnownDurableAreNotPagedIn) {
  // seq 3 is on disk (its batch committed) but its completion has not been
  // processed: the queue must not read it early (it would be queued twice).
  Store("NG-AGF", 1, 3);
  auto q = MakeQueue("NG-AGF", 10);
  q->Restore(3, 0);  // knows 1..2
  EXPECT_EQ(q->AssignSeq(), 3u);
  q->ResetCursor();
  std::vector<uint64_t> seen;
  for (;;) {
    auto n = q->NextToSend();
    ASSERT_TRUE(n.ok());
    if (*n == nullptr) break;
    seen.push_back((*n)->seq);
    q->MarkSent(*n, 0);
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
  q->OnDurable(3, Record(3));
  auto n = q->NextToSend();
  ASSERT_TRUE(n.ok() && *n != nullptr);
  EXPECT_EQ((*n)->seq, 3u);
}

TEST_F(AgentQueueTest, ExpiringItemsAreNeverHandedOutAndLeaveTheCount) {
  Store("NG-AGF", 1, 5);
  auto q = MakeQueue("NG-AGF", 10);
  q->Restore(6, 0);
  q->ResetCursor();
  // seq 1 was sent before it expired; seq 3 expires before it is sent.
  auto first = q->NextToSend();
  ASSERT_TRUE(first.ok() && *first != nullptr);
  ASSERT_EQ((*first)->seq, 1u);
  q->MarkSent(*first, 0);
  EXPECT_TRUE(q->MarkExpiring(1));
  EXPECT_TRUE(q->MarkExpiring(3));
  EXPECT_FALSE(q->MarkExpiring(3));  // once
  EXPECT_EQ(q->IssueRemoval(), 1u);
  EXPECT_EQ(q->IssueRemoval(), 2u);
  std::vector<uint64_t> seen;
  for (;;) {
    auto n = q->NextToSend();
    ASSERT_TRUE(n.ok());
    if (*n == nullptr) break;
    seen.push_back((*n)->seq);
    q->MarkSent(*n, 0);
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 4, 5}));
  // A reconnect does not bring them back while the expiry is pending.
  q->ResetCursor();
  auto n = q->NextToSend();
  ASSERT_TRUE(n.ok() && *n != nullptr);
  EXPECT_EQ((*n)->seq, 2u);
  // Durable: they leave the queue and its depth; the receipt count (c/) the
  // next receipt records counts them.
  Erase("NG-AGF", 1);
  Erase("NG-AGF", 3);
  q->OnExpired(1);
  q->OnExpired(3);
  EXPECT_EQ(q->depth(), 3u);
  EXPECT_EQ(q->expiring(), 0u);
  EXPECT_EQ(q->Find(1), nullptr);
  EXPECT_EQ(q->in_flight(), 0u);  // seq 1 was in flight (before the reset)
  EXPECT_EQ(q->IssueReceipt(), 3u);
}

}  // namespace
}  // namespace mlahub::broker
