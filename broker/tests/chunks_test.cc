// ChunkRelay in-process against a real ledger, with recorded hooks: the
// transfer record's encoding, purge after completion, restore after reopen.
#include "chunks.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <set>

#include "mlahub/crypto/random.h"
#include "mlahub/crypto/sign.h"
#include "mlahub/evidence/chunk.h"
#include "mlahub/storage/ledger_entry.h"
#include "mlahub/storage/note.h"

namespace mlahub::broker {
namespace {

std::vector<Bytes> Frames(const std::string& tid, uint64_t count) {
  std::vector<Bytes> ct(count);
  std::vector<evidence::Link> h(count), link(count + 1);
  for (uint64_t i = 0; i < count; ++i) {
    ct[i] = crypto::RandomBytes(1024 + 17);
    h[i] = evidence::HashCiphertext(ct[i]);
  }
  link[count].fill(0);
  for (uint64_t i = count; i-- > 0;) link[i] = evidence::ChainLink(i, h[i], link[i + 1]);
  std::vector<Bytes> out;
  for (uint64_t i = 0; i < count; ++i) out.push_back(evidence::EncodeChunk({tid, i, count, ct[i], h[i], link[i + 1]}));
  return out;
}

class ChunkRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("broker_chunks_test_" + std::to_string(::getpid()) + "_" + std::to_string(std::random_device{}()));
    Open();
  }
  void TearDown() override {
    relay_.reset();
    if (ledger_) {
      EXPECT_TRUE(ledger_->Close().ok());
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Open() {
    if (!signer_) {
      auto signer = storage::Ed25519NoteSigner::Create("test.mlahub/ledger", crypto::SigningKey::Generate());
      ASSERT_TRUE(signer.ok());
      signer_ = std::shared_ptr<const storage::NoteSigner>(std::move(*signer));
    }
    storage::LedgerOptions o;
    o.create_if_missing = true;
    o.origin = "test.mlahub/ledger";
    o.signer = signer_;
    auto l = storage::Ledger::Open(dir_.string(), std::move(o));
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    ledger_ = std::move(*l);
    ChunkRelay::Hooks h;
    h.send = [this](const std::string& node, const transport::Command& c) {
      sent_.emplace_back(node, c);
      return true;
    };
    h.answer = [this](const std::string& node, const std::string& peer, const transport::Command& c) {
      answered_.push_back({node, peer, c});
    };
    // Synchronous durable writes (the broker group-commits them).
    h.write_state = [this](std::vector<storage::StateWrite> w, std::function<void(const Status&)> done) {
      std::promise<Status> p;
      ledger_->WriteStateAsync(std::move(w), [&p](const Status& s, uint64_t) { p.set_value(s); });
      Status s = p.get_future().get();
      ASSERT_TRUE(s.ok()) << s.ToString();
      done(s);
    };
    h.online = [](const std::string&) { return true; };
    h.check_node = [](const std::string& n) {
      return n == "IT-MOJ" || n == "NG-AGF" ? Status::Ok() : Status(Code::kUnknownSender, n + " unknown");
    };
    h.now_ms = [this] { return now_; };
    // The completion entry, appended with the record in one batch.
    h.ledger_completion = [this](const std::string& tid, const TransferRecord& r,
                                 std::vector<storage::StateWrite> w) {
      storage::LedgerEntryFields e;
      e.event = wire::LedgerEvent::EvidenceComplete;
      e.message_id = r.message_id;
      e.sender = r.sender;
      e.recipient = r.recipient;
      e.transfer_id = tid;
      e.chunk_count = r.chunk_count;
      e.chunks_root.assign(r.root.begin(), r.root.end());
      Bytes entry = storage::EncodeLedgerEntry(e);
      completions_.push_back(entry);
      std::promise<Status> p;
      ledger_->AppendAsync(std::move(entry), "", std::move(w), [&p](const Status& s, uint64_t) { p.set_value(s); });
      Status s = p.get_future().get();
      ASSERT_TRUE(s.ok()) << s.ToString();
    };
    ChunkRelayOptions ro;
    ro.retention_ms = retention_ms_;
    ro.resend_ms = 500;
    relay_ = std::make_unique<ChunkRelay>(ledger_.get(), std::move(h), ro);
    ASSERT_TRUE(relay_->Restore().ok());
  }
  void Reopen() {
    sent_.clear();
    relay_.reset();
    ASSERT_TRUE(ledger_->Close().ok());
    ledger_.reset();
    Open();
  }
  template <typename T>
  std::vector<T> Sent(const std::string& node) {
    std::vector<T> out;
    for (auto& [n, c] : sent_)
      if (n == node && std::holds_alternative<T>(c)) out.push_back(std::get<T>(c));
    return out;
  }

  std::filesystem::path dir_;
  std::shared_ptr<const storage::NoteSigner> signer_;
  std::unique_ptr<storage::Ledger> ledger_;
  std::unique_ptr<ChunkRelay> relay_;
  std::vector<std::pair<std::string, transport::Command>> sent_;
  struct Answered {
    std::string node, peer;
    transport::Command cmd;
  };
  std::vector<Answered> answered_;  // through the `answer` hook (a connection named)
  std::vector<Bytes> completions_;  // EvidenceComplete entries appended
  int64_t now_ = 1'000'000;
  int64_t retention_ms_ = 1000;
};

TEST(TransferRecordTest, RoundTripsAndRefusesDamage) {
  TransferRecord r{"IT-MOJ", "NG-AGF", "00112233445566778899aabbccddeeff", 10, 7, 4, {}, {}, 0, false};
  r.root.fill(1);
  r.expected.fill(2);
  Bytes b = EncodeTransferRecord(r);
  auto back = DecodeTransferRecord(b);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, r);
  for (size_t n = 0; n < b.size(); ++n) {
    Bytes cut(b.begin(), b.begin() + n);
    EXPECT_FALSE(DecodeTransferRecord(cut).ok()) << n;
  }
  TransferRecord bad = r;
  bad.received = 8;  // more than stored
  EXPECT_EQ(DecodeTransferRecord(EncodeTransferRecord(bad)).status().code(), Code::kCorruption);
}

TEST_F(ChunkRelayTest, StoresForwardsPurgesAndRestores) {
  const std::string tid = evidence::NewTransferId();
  auto frames = Frames(tid, 10);
  for (uint64_t i = 0; i < 10; ++i) relay_->OnPut("IT-MOJ", {tid, "NG-AGF", i, "", frames[i]});
  auto acks = Sent<transport::ChunkAck>("IT-MOJ");
  ASSERT_EQ(acks.size(), 10u);
  EXPECT_EQ(acks.back().stored, 10u);
  EXPECT_EQ(acks.back().error, Code::kOk);
  // Forwarded under the window (8 beyond the receiver's mark 0).
  auto delivered = Sent<transport::ChunkDeliver>("NG-AGF");
  ASSERT_EQ(delivered.size(), 8u);
  for (uint64_t i = 0; i < 8; ++i) EXPECT_EQ(delivered[i].frame, frames[i]);
  // Nothing acknowledged for resend_ms: sent again from the mark (0).
  relay_->Periodic();
  EXPECT_EQ(Sent<transport::ChunkDeliver>("NG-AGF").size(), 8u);
  now_ += 500;
  relay_->Periodic();
  delivered = Sent<transport::ChunkDeliver>("NG-AGF");
  ASSERT_EQ(delivered.size(), 16u);
  EXPECT_EQ(delivered[8].chunk_index, 0u);
  EXPECT_EQ(delivered[15].chunk_index, 7u);
  relay_->OnReceived("NG-AGF", {tid, 4, Code::kOk});
  EXPECT_EQ(Sent<transport::ChunkDeliver>("NG-AGF").size(), 18u);
  // Someone else's ChunkReceived changes nothing.
  relay_->OnReceived("IT-MOJ", {tid, 10, Code::kOk});
  EXPECT_EQ(relay_->Find(tid)->received, 4u);

  // Restart: the record and frames are back; the receiver resumes at 4.
  Reopen();
  ASSERT_TRUE(relay_->Find(tid).has_value());
  EXPECT_EQ(relay_->Find(tid)->stored, 10u);
  EXPECT_EQ(relay_->Find(tid)->received, 4u);
  EXPECT_EQ(relay_->receiving("NG-AGF"), 1u);
  relay_->OnHello("NG-AGF");
  relay_->Pump("NG-AGF");
  auto again = Sent<transport::ChunkDeliver>("NG-AGF");
  ASSERT_EQ(again.size(), 6u);
  EXPECT_EQ(again.front().chunk_index, 4u);
  EXPECT_EQ(again.back().frame, frames[9]);

  // Complete, then purged after the retention only.
  EXPECT_TRUE(completions_.empty());
  relay_->OnReceived("NG-AGF", {tid, 10, Code::kOk});
  EXPECT_TRUE(Sent<transport::ChunkAck>("IT-MOJ").empty() || !Sent<transport::ChunkAck>("IT-MOJ").back().complete);
  // The broker calls this once the completion batch is durable: the sender
  // is told it may drop its spool.
  sent_.clear();
  relay_->OnCompletionDurable(tid);
  acks = Sent<transport::ChunkAck>("IT-MOJ");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(acks[0].complete);
  EXPECT_EQ(acks[0].stored, 10u);
  relay_->OnCompletionDurable(tid);  // once
  EXPECT_EQ(Sent<transport::ChunkAck>("IT-MOJ").size(), 1u);
  sent_.clear();
  EXPECT_NE(relay_->Find(tid)->completed_ms, 0);
  // One completion entry: ids, count and L(0), nothing else.
  ASSERT_EQ(completions_.size(), 1u);
  {
    auto e = storage::DecodeLedgerEntry(completions_[0]);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ((*e)->event(), wire::LedgerEvent::EvidenceComplete);
    EXPECT_EQ((*e)->transfer_id()->str(), tid);
    EXPECT_EQ((*e)->chunk_count(), 10u);
    EXPECT_EQ((*e)->sender()->str(), "IT-MOJ");
    EXPECT_EQ((*e)->recipient()->str(), "NG-AGF");
    ASSERT_NE((*e)->chunks_root(), nullptr);
    auto root = relay_->Find(tid)->root;
    EXPECT_TRUE(std::equal(root.begin(), root.end(), (*e)->chunks_root()->begin()));
    EXPECT_EQ(ledger_->Size(), 1u);
  }
  relay_->OnReceived("NG-AGF", {tid, 10, Code::kOk});  // a repeated mark ledgers nothing more
  EXPECT_EQ(completions_.size(), 1u);
  // Complete at the recipient: no longer walked by Pump, still held for the
  // retention.
  EXPECT_EQ(relay_->receiving("NG-AGF"), 0u);
  EXPECT_EQ(relay_->transfers(), 1u);
  relay_->Periodic();
  EXPECT_FALSE(relay_->Find(tid)->purged);
  EXPECT_TRUE(Sent<transport::ChunkDeliver>("NG-AGF").empty());  // nothing to resend once complete
  EXPECT_TRUE(ledger_->GetState(ChunkKey("NG-AGF", tid, 0))->has_value());
  now_ += 1000;
  relay_->Periodic();
  EXPECT_TRUE(relay_->Find(tid)->purged);
  EXPECT_EQ(relay_->transfers(), 0u);  // purged: read from its record when named
  for (uint64_t i = 0; i < 10; ++i) EXPECT_FALSE(ledger_->GetState(ChunkKey("NG-AGF", tid, i))->has_value()) << i;
  // A late resend is acknowledged as held, not stored again.
  sent_.clear();
  relay_->OnPut("IT-MOJ", {tid, "NG-AGF", 3, "", frames[3]});
  acks = Sent<transport::ChunkAck>("IT-MOJ");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].error, Code::kOk);
  EXPECT_EQ(acks[0].stored, 10u);
  EXPECT_TRUE(acks[0].complete);
  EXPECT_FALSE(ledger_->GetState(ChunkKey("NG-AGF", tid, 3))->has_value());
  Reopen();
  EXPECT_TRUE(relay_->Find(tid)->purged);
  EXPECT_EQ(relay_->transfers(), 0u);  // not loaded at start either
  // After a restart, a sender's ChunkStatus still learns it is complete.
  relay_->OnStatus("IT-MOJ", {tid});
  acks = Sent<transport::ChunkAck>("IT-MOJ");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(acks[0].complete);
}

// Retention 0: the frames go as soon as the recipient has the whole file;
// the sender is still told "complete" (once the completion entry is
// durable), and only then does the transfer leave the relay's memory.
// A receiver that refuses chunk 0 refuses the rest of the window behind it
// too (out of order). Each refusal used to send the window again, so every
// round multiplied the chunks in flight by the window. Now the window goes
// again at most once a second per transfer, however many refusals come.
TEST_F(ChunkRelayTest, RefusalsResendTheWindowAtMostOnceASecond) {
  const std::string tid = evidence::NewTransferId();
  auto frames = Frames(tid, 10);
  for (uint64_t i = 0; i < 10; ++i) relay_->OnPut("IT-MOJ", {tid, "NG-AGF", i, "", frames[i]});
  ASSERT_EQ(Sent<transport::ChunkDeliver>("NG-AGF").size(), 8u);
  for (int i = 0; i < 8; ++i) relay_->OnReceived("NG-AGF", {tid, 0, Code::kTamperedCiphertext});
  auto delivered = Sent<transport::ChunkDeliver>("NG-AGF");
  ASSERT_EQ(delivered.size(), 16u) << "one resend of the window for eight refusals";
  EXPECT_EQ(delivered[8].chunk_index, 0u);
  now_ += 999;
  for (int i = 0; i < 8; ++i) relay_->OnReceived("NG-AGF", {tid, 0, Code::kInvalidArgument});
  EXPECT_EQ(Sent<transport::ChunkDeliver>("NG-AGF").size(), 16u);
  now_ += 1;
  relay_->OnReceived("NG-AGF", {tid, 0, Code::kInvalidArgument});
  EXPECT_EQ(Sent<transport::ChunkDeliver>("NG-AGF").size(), 24u) << "a second later, again";
  // Progress resumes at once: the mark moves, the window follows it.
  relay_->OnReceived("NG-AGF", {tid, 4, Code::kOk});
  delivered = Sent<transport::ChunkDeliver>("NG-AGF");
  ASSERT_EQ(delivered.size(), 26u);
  EXPECT_EQ(delivered.back().chunk_index, 9u);
}

// Many transfers to one recipient: the window bounds each, and at most 64
// chunks are in flight to the recipient in all (20 transfers x a window of 8
// would be 160 in its receive queue). Each round starts after the transfer
// served last, so every transfer gets its turn.
TEST_F(ChunkRelayTest, ChunksInFlightToOneRecipientAreBoundedAndShared) {
  std::vector<std::string> tids;
  for (int k = 0; k < 20; ++k) {
    tids.push_back(evidence::NewTransferId());
    auto frames = Frames(tids.back(), 10);
    for (uint64_t i = 0; i < 10; ++i) relay_->OnPut("IT-MOJ", {tids.back(), "NG-AGF", i, "", frames[i]});
  }
  auto delivered = Sent<transport::ChunkDeliver>("NG-AGF");
  ASSERT_EQ(delivered.size(), 64u) << "the first 8 transfers put, a window each";
  // The receiver makes 4 chunks of one transfer durable: 4 more go, one each
  // to 4 transfers (round robin), not all to the first in id order.
  relay_->OnReceived("NG-AGF", {tids[0], 4, Code::kOk});
  delivered = Sent<transport::ChunkDeliver>("NG-AGF");
  ASSERT_EQ(delivered.size(), 68u);
  std::set<std::string> last4;
  for (size_t i = 64; i < 68; ++i) last4.insert(delivered[i].transfer_id);
  EXPECT_EQ(last4.size(), 4u);
  // Everything durable at the receiver, transfer by transfer: all 200 chunks go, none twice.
  for (int round = 0; round < 10; ++round)
    for (const auto& tid : tids) {
      uint64_t sent = 0;
      for (const auto& d : Sent<transport::ChunkDeliver>("NG-AGF"))
        if (d.transfer_id == tid) sent = std::max<uint64_t>(sent, d.chunk_index + 1);
      relay_->OnReceived("NG-AGF", {tid, sent, Code::kOk});
    }
  std::set<std::pair<std::string, uint64_t>> seen;
  for (const auto& d : Sent<transport::ChunkDeliver>("NG-AGF")) EXPECT_TRUE(seen.insert({d.transfer_id, d.chunk_index}).second);
  EXPECT_EQ(seen.size(), 200u);
}

TEST_F(ChunkRelayTest, PurgedAtOnceTheSenderIsStillToldThenTheMemoryGoes) {
  retention_ms_ = 0;
  Reopen();
  const std::string tid = evidence::NewTransferId();
  auto frames = Frames(tid, 3);
  for (uint64_t i = 0; i < 3; ++i) relay_->OnPut("IT-MOJ", {tid, "NG-AGF", i, "", frames[i]});
  EXPECT_EQ(relay_->receiving("NG-AGF"), 1u);
  sent_.clear();
  relay_->OnReceived("NG-AGF", {tid, 3, Code::kOk});
  EXPECT_EQ(relay_->receiving("NG-AGF"), 0u);
  EXPECT_TRUE(relay_->Find(tid)->purged);
  EXPECT_FALSE(ledger_->GetState(ChunkKey("NG-AGF", tid, 0))->has_value());
  EXPECT_EQ(relay_->transfers(), 1u);  // the sender is not told yet
  relay_->OnCompletionDurable(tid);
  auto acks = Sent<transport::ChunkAck>("IT-MOJ");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(acks[0].complete);
  EXPECT_EQ(acks[0].stored, 3u);
  EXPECT_EQ(relay_->transfers(), 0u);
  // Named again (a resend, a question, a repeated mark): read from its record.
  sent_.clear();
  relay_->OnPut("IT-MOJ", {tid, "NG-AGF", 2, "", frames[2]});
  relay_->OnStatus("IT-MOJ", {tid});
  relay_->OnReceived("NG-AGF", {tid, 3, Code::kOk});
  acks = Sent<transport::ChunkAck>("IT-MOJ");
  ASSERT_EQ(acks.size(), 2u);
  for (const auto& a : acks) {
    EXPECT_EQ(a.error, Code::kOk);
    EXPECT_TRUE(a.complete);
    EXPECT_EQ(a.stored, 3u);
  }
  EXPECT_TRUE(Sent<transport::ChunkDeliver>("NG-AGF").empty());
  EXPECT_EQ(relay_->transfers(), 0u);
  // Someone else's question learns nothing of it.
  relay_->OnStatus("NG-AGF", {tid});
  EXPECT_EQ(relay_->transfers(), 0u);
}

// The ChunkAck answering a ChunkPut or ChunkStatus goes to the connection
// it came from; the unasked one (the transfer completed) to the node.
TEST_F(ChunkRelayTest, AcksAnswerTheConnectionThatAsked) {
  const std::string tid = evidence::NewTransferId();
  auto frames = Frames(tid, 2);
  relay_->OnPut("IT-MOJ", {tid, "NG-AGF", 0, "", frames[0]}, "conn-a");
  relay_->OnStatus("IT-MOJ", {tid}, "conn-b");
  relay_->OnPut("IT-MOJ", {tid, "NG-AGF", 5, "", frames[1]}, "conn-a");  // refused: out of order
  ASSERT_EQ(answered_.size(), 3u);
  for (const auto& a : answered_) {
    EXPECT_EQ(a.node, "IT-MOJ");
    EXPECT_TRUE(std::holds_alternative<transport::ChunkAck>(a.cmd));
  }
  EXPECT_EQ(answered_[0].peer, "conn-a");
  EXPECT_EQ(std::get<transport::ChunkAck>(answered_[0].cmd).stored, 1u);
  EXPECT_EQ(answered_[1].peer, "conn-b");
  EXPECT_EQ(answered_[2].peer, "conn-a");
  EXPECT_NE(std::get<transport::ChunkAck>(answered_[2].cmd).error, Code::kOk);
  EXPECT_TRUE(Sent<transport::ChunkAck>("IT-MOJ").empty());
}

}  // namespace
}  // namespace mlahub::broker
