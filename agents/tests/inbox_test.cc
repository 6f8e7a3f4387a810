// The receiving pipeline: exactly once into the case store, the stored
// receipt again for duplicates, refused deliveries, last_delivery_seq.
#include "mlahub/agents/inbox.h"

#include <gtest/gtest.h>

#include "mlahub/envelope/receipt.h"
#include "mlahub/identity/keys.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/encoding.h"
#include "test_keys.h"
#include "test_network.h"

namespace mlahub::agents {
namespace {

using testing::kTestNow;

class InboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("agents-inbox");
    Reopen();
  }
  void TearDown() override {
    inbox_.reset();
    store_.reset();
    testing::RemoveTree(dir_);
  }
  void Reopen() {
    inbox_.reset();
    if (store_) {
      ASSERT_TRUE(store_->Close().ok());
    }
    store_.reset();
    auto s = CaseStore::Open(dir_ + "/store", "NG-AGF");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    inbox_ = std::make_unique<Inbox>(*store_, k_.ng, [this] { return k_.dir; }, clock_, alarms_, nullptr,
                                     InboxOptions{});
    ASSERT_TRUE(inbox_->Load().ok());
  }
  transport::Deliver D(uint64_t seq, const Bytes& env, uint64_t index = 100) {
    transport::Deliver d;
    d.delivery_seq = seq;
    d.ledger_index = index;
    d.envelope = env;
    return d;
  }
  Bytes ReceiptBytes(uint64_t seq) {
    auto r = inbox_->ReceiptFor(seq, ++corr_);
    EXPECT_TRUE(r.has_value());
    if (r) inbox_->Sent(seq, r->correlation);
    return r ? r->signed_receipt : Bytes();
  }

  testing::TestKeys k_;
  FakeClock clock_{kTestNow + 1000};
  testing::AlarmCollector alarms_;
  std::string dir_;
  std::unique_ptr<CaseStore> store_;
  std::unique_ptr<Inbox> inbox_;
  uint64_t corr_ = 0;
};

TEST_F(InboxTest, StoresOnceAndResendsTheStoredReceipt) {
  Bytes env = k_.Seal(k_.it, k_.ng, kTestNow);
  auto o = inbox_->OnDeliver(D(1, env));
  ASSERT_EQ(o.kind, Inbox::Outcome::Kind::kStored) << o.why.ToString();
  ASSERT_TRUE(o.job.has_value());
  EXPECT_EQ(o.job->kind, AuditJobKind::kReceived);
  EXPECT_EQ(o.job->index, 100u);
  Bytes first = ReceiptBytes(1);
  auto info = envelope::VerifyReceipt(first, k_.ng.sign.public_key());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->message_id, o.message_id);
  EXPECT_EQ(info->envelope_hash, envelope::EnvelopeHash(env));

  // The hub redelivers (no receipt recorded yet): same receipt, nothing new.
  clock_.Advance(5000);
  auto again = inbox_->OnDeliver(D(1, env));
  EXPECT_EQ(again.kind, Inbox::Outcome::Kind::kDuplicate);
  EXPECT_EQ(ReceiptBytes(1), first) << "a duplicate gets the STORED receipt, byte for byte";
  // The same message under a new sequence number (e.g. a resubmission the
  // hub did not recognise): eliminated too.
  auto third = inbox_->OnDeliver(D(2, env));
  EXPECT_EQ(third.kind, Inbox::Outcome::Kind::kDuplicate);
  EXPECT_EQ(ReceiptBytes(2), first);
  EXPECT_EQ(inbox_->stored_count(), 1u);
  EXPECT_EQ(inbox_->last_delivery_seq(), 2u);

  // After a restart: still stored once, receipts still due.
  Reopen();
  EXPECT_EQ(inbox_->stored_count(), 1u);
  EXPECT_EQ(inbox_->last_delivery_seq(), 2u);
  EXPECT_EQ(inbox_->DueReceipts(30000), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(inbox_->OnDeliver(D(1, env)).kind, Inbox::Outcome::Kind::kDuplicate);
  EXPECT_EQ(ReceiptBytes(1), first);
  auto list = store_->ListIncoming(0, 10);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
  EXPECT_TRUE(alarms_.alarms.empty());
}

TEST_F(InboxTest, ReceiptResultClearsThePendingReceipt) {
  Bytes env = k_.Seal(k_.it, k_.ng, kTestNow);
  auto o = inbox_->OnDeliver(D(1, env, 40));
  ASSERT_EQ(o.kind, Inbox::Outcome::Kind::kStored);
  auto sr = inbox_->ReceiptFor(1, 77);
  ASSERT_TRUE(sr.has_value());
  EXPECT_EQ(inbox_->DueReceipts(30000), (std::vector<uint64_t>{1})) << "not sent yet";
  inbox_->Sent(1, 77);
  EXPECT_TRUE(inbox_->DueReceipts(30000).empty()) << "just sent";
  transport::ReceiptResult rr;
  rr.correlation = 77;
  rr.message_id = o.message_id;
  rr.accepted = true;
  rr.ledger_index = 41;
  auto job = inbox_->OnReceiptResult(rr);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->kind, AuditJobKind::kReceipt);
  EXPECT_EQ(job->index, 41u);
  EXPECT_EQ(inbox_->pending_count(), 0u);
  EXPECT_FALSE(inbox_->OnReceiptResult(rr).has_value()) << "a repeated answer changes nothing";
  auto rec = store_->GetIncoming(o.message_id);
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_TRUE((*rec)->receipt_recorded);
  Reopen();
  EXPECT_EQ(inbox_->pending_count(), 0u);
}

// After a rotation of the node's keys ([agent] previous_keys): a receipt
// stored under the old signing key is sent signed again with the new one
// (the hub checks the key in force), the same bytes every time; the stored
// copy stays as it was (the hub may have recorded it before an answer was
// lost), and the audit job accepts either copy in the ledger.
TEST_F(InboxTest, AfterAKeyRotationTheStoredReceiptIsSentSignedAgainAndKept) {
  Bytes env = k_.Seal(k_.it, k_.ng, kTestNow);
  auto o = inbox_->OnDeliver(D(1, env, 40));
  ASSERT_EQ(o.kind, Inbox::Outcome::Kind::kStored) << o.why.ToString();
  Bytes stored = ReceiptBytes(1);
  ASSERT_TRUE(envelope::VerifyReceipt(stored, k_.ng.sign.public_key()).ok());

  identity::NodeKeys rotated = identity::GenerateNodeKeys(k_.ng.id, identity::Role::kAuthority, kTestNow);
  inbox_.reset();
  InboxOptions io;
  io.opening_keys = {&rotated, &k_.ng};
  inbox_ = std::make_unique<Inbox>(*store_, rotated, [this] { return k_.dir; }, clock_, alarms_, nullptr, io);
  ASSERT_TRUE(inbox_->Load().ok());
  Bytes sent = ReceiptBytes(1);
  EXPECT_NE(sent, stored);
  auto info = envelope::VerifyReceipt(sent, rotated.sign.public_key());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  auto before = envelope::VerifyReceipt(stored, k_.ng.sign.public_key());
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(info->message_id, before->message_id);
  EXPECT_EQ(info->envelope_hash, before->envelope_hash);
  EXPECT_EQ(info->received_ms, before->received_ms) << "the same receipt, signed again";
  EXPECT_EQ(ReceiptBytes(1), sent) << "deterministic: the same bytes each time";
  auto kept = store_->GetIncomingReceipt(o.message_id);
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ(**kept, stored) << "the stored copy is never replaced";

  transport::ReceiptResult rr;
  rr.correlation = corr_;
  rr.message_id = o.message_id;
  rr.accepted = true;
  rr.duplicate = true;
  rr.ledger_index = 41;
  auto job = inbox_->OnReceiptResult(rr);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->hash, crypto::ToHex(crypto::Sha256(stored)));
  EXPECT_EQ(job->alt_hash, crypto::ToHex(crypto::Sha256(sent)));
  auto again = AuditJobFromJson(ToJson(*job).dump());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *job) << "alt_hash survives the store";
  EXPECT_TRUE(alarms_.alarms.empty());
}

TEST_F(InboxTest, TransientReceiptRefusalKeepsItDue) {
  Bytes env = k_.Seal(k_.it, k_.ng, kTestNow);
  ASSERT_EQ(inbox_->OnDeliver(D(1, env)).kind, Inbox::Outcome::Kind::kStored);
  ASSERT_TRUE(inbox_->ReceiptFor(1, 5).has_value());
  inbox_->Sent(1, 5);
  transport::ReceiptResult rr;
  rr.correlation = 5;
  rr.accepted = false;
  rr.error = Code::kUnavailable;
  EXPECT_FALSE(inbox_->OnReceiptResult(rr).has_value());
  EXPECT_EQ(inbox_->pending_count(), 1u);
  clock_.Advance(30000);
  EXPECT_EQ(inbox_->DueReceipts(30000), (std::vector<uint64_t>{1}));
}

TEST_F(InboxTest, OutOfOrderSequenceNumbersAndTheContiguousMark) {
  Bytes a = k_.Seal(k_.it, k_.ng, kTestNow), b = k_.Seal(k_.it, k_.ng, kTestNow), c = k_.Seal(k_.it, k_.ng, kTestNow);
  ASSERT_EQ(inbox_->OnDeliver(D(1, a)).kind, Inbox::Outcome::Kind::kStored);
  ASSERT_EQ(inbox_->OnDeliver(D(3, c)).kind, Inbox::Outcome::Kind::kStored);
  EXPECT_EQ(inbox_->last_delivery_seq(), 1u) << "2 is missing: Hello must not claim it";
  Reopen();
  EXPECT_EQ(inbox_->last_delivery_seq(), 1u);
  ASSERT_EQ(inbox_->OnDeliver(D(2, b)).kind, Inbox::Outcome::Kind::kStored);
  EXPECT_EQ(inbox_->last_delivery_seq(), 3u);
}

// An envelope that expired at the hub before it could be delivered leaves a
// gap for ever; the hub's settled_below says so, and the mark moves past it
// (before, every later sequence stayed in a set copied for each burst).
TEST_F(InboxTest, AGapTheHubSaysIsSettledDoesNotHoldTheMarkBack) {
  Bytes a = k_.Seal(k_.it, k_.ng, kTestNow), c = k_.Seal(k_.it, k_.ng, kTestNow), d = k_.Seal(k_.it, k_.ng, kTestNow);
  ASSERT_EQ(inbox_->OnDeliver(D(1, a)).kind, Inbox::Outcome::Kind::kStored);
  // 2 expired undelivered; 3 comes while 2 is still queued (not settled).
  transport::Deliver d3 = D(3, c);
  d3.settled_below = 2;
  ASSERT_EQ(inbox_->OnDeliver(d3).kind, Inbox::Outcome::Kind::kStored);
  EXPECT_EQ(inbox_->last_delivery_seq(), 1u);
  // Then 4, once 2 has left the hub's queue: 3 is handled, 2 never comes.
  transport::Deliver d4 = D(4, d);
  d4.settled_below = 3;
  ASSERT_EQ(inbox_->OnDeliver(d4).kind, Inbox::Outcome::Kind::kStored);
  EXPECT_EQ(inbox_->last_delivery_seq(), 4u);
  Reopen();
  EXPECT_EQ(inbox_->last_delivery_seq(), 4u);
  // A repeat of 3 (its receipt was lost) is still a duplicate, not stored again.
  transport::Deliver again = D(3, c);
  again.settled_below = 3;
  EXPECT_EQ(inbox_->OnDeliver(again).kind, Inbox::Outcome::Kind::kDuplicate);
  EXPECT_EQ(inbox_->last_delivery_seq(), 4u);
}

TEST_F(InboxTest, UnopenableDeliveryIsRefusedNotStoredAndAlarmedOnce) {
  Bytes env = k_.Seal(k_.it, k_.ng, kTestNow);
  Bytes bad = env;
  bad[bad.size() - 100] ^= 1;  // inside the ciphertext hash or signature
  auto o = inbox_->OnDeliver(D(1, bad));
  EXPECT_EQ(o.kind, Inbox::Outcome::Kind::kRefused);
  EXPECT_FALSE(o.why.ok());
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"delivery_refused"}));
  EXPECT_FALSE(inbox_->ReceiptFor(1, 1).has_value()) << "no receipt for what was not stored";
  EXPECT_EQ(inbox_->stored_count(), 0u);
  EXPECT_EQ(inbox_->last_delivery_seq(), 1u) << "handled: it must not hold back what follows";
  // Redelivered: counted, not alarmed again.
  EXPECT_EQ(inbox_->OnDeliver(D(1, bad)).kind, Inbox::Outcome::Kind::kRefused);
  EXPECT_EQ(alarms_.alarms.size(), 1u);
  auto refused = store_->GetRefused(1);
  ASSERT_TRUE(refused.ok() && refused->has_value());
  EXPECT_EQ((*refused)->attempts, 2u);
  // Random bytes and a message from a stranger are refused the same way.
  EXPECT_EQ(inbox_->OnDeliver(D(2, Bytes{1, 2, 3})).kind, Inbox::Outcome::Kind::kRefused);
  EXPECT_EQ(inbox_->OnDeliver(D(3, k_.Seal(k_.it, k_.it, kTestNow))).kind, Inbox::Outcome::Kind::kRefused)
      << "sealed for another node";
  EXPECT_EQ(inbox_->last_delivery_seq(), 3u);
  // The hub redelivers a valid envelope under the refused number (e.g. after
  // a directory update made it verifiable): stored, the refusal forgotten.
  auto ok = inbox_->OnDeliver(D(1, env));
  EXPECT_EQ(ok.kind, Inbox::Outcome::Kind::kStored);
  auto gone = store_->GetRefused(1);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST_F(InboxTest, ABurstIsStoredInOneBatchWithTheSameRules) {
  Bytes a = k_.Seal(k_.it, k_.ng, kTestNow), b = k_.Seal(k_.it, k_.ng, kTestNow), c = k_.Seal(k_.it, k_.ng, kTestNow);
  std::vector<transport::Deliver> burst = {D(1, a), D(3, c), D(1, a), D(4, a), D(5, Bytes{9, 9}), D(5, Bytes{9, 9}),
                                           D(2, b)};
  std::vector<const transport::Deliver*> ptrs;
  for (const auto& d : burst) ptrs.push_back(&d);
  auto outs = inbox_->OnDeliveries(ptrs);
  using K = Inbox::Outcome::Kind;
  ASSERT_EQ(outs.size(), burst.size());
  EXPECT_EQ(outs[0].kind, K::kStored);
  EXPECT_EQ(outs[1].kind, K::kStored);
  EXPECT_EQ(outs[2].kind, K::kDuplicate) << "same sequence number again in the burst";
  EXPECT_EQ(outs[3].kind, K::kDuplicate) << "same message under another number in the burst";
  EXPECT_EQ(outs[4].kind, K::kRefused);
  EXPECT_EQ(outs[5].kind, K::kRefused);
  EXPECT_EQ(outs[6].kind, K::kStored);
  EXPECT_EQ(alarms_.alarms.size(), 1u);
  EXPECT_EQ(inbox_->stored_count(), 3u);
  EXPECT_EQ(inbox_->last_delivery_seq(), 5u);
  EXPECT_EQ(inbox_->DueReceipts(30000), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(ReceiptBytes(4), ReceiptBytes(1)) << "the stored receipt of the same message";
  Reopen();
  EXPECT_EQ(inbox_->stored_count(), 3u);
  EXPECT_EQ(inbox_->last_delivery_seq(), 5u);
  EXPECT_EQ(inbox_->DueReceipts(30000), (std::vector<uint64_t>{1, 2, 3, 4}));
}

TEST_F(InboxTest, AnotherEnvelopeUnderAStoredIdOrSequenceIsRefusedAndAlarmed) {
  const std::string id = "00112233445566778899aabbccddeeff";
  Bytes first = k_.Seal(k_.it, k_.ng, kTestNow, id);
  Bytes other = k_.Seal(k_.it, k_.ng, kTestNow, id);  // same id, another envelope
  Bytes third = k_.Seal(k_.it, k_.ng, kTestNow);
  ASSERT_NE(first, other);
  ASSERT_EQ(inbox_->OnDeliver(D(1, first)).kind, Inbox::Outcome::Kind::kStored);
  // The same id under a new number, but another envelope: not a duplicate.
  auto o = inbox_->OnDeliver(D(2, other));
  EXPECT_EQ(o.kind, Inbox::Outcome::Kind::kRefused);
  EXPECT_EQ(o.why.code(), Code::kDuplicate);
  EXPECT_NE(o.why.message().find("different message under the same id"), std::string::npos) << o.why.ToString();
  EXPECT_FALSE(inbox_->ReceiptFor(2, 1).has_value()) << "no receipt of the first message for another one";
  // Another envelope under the stored message's own number (a hub that reuses
  // sequence numbers): refused too, in the same batch as well as later.
  auto p = inbox_->OnDeliver(D(1, third));
  EXPECT_EQ(p.kind, Inbox::Outcome::Kind::kRefused);
  EXPECT_NE(p.why.message().find("under the same sequence number"), std::string::npos) << p.why.ToString();
  Bytes a = k_.Seal(k_.it, k_.ng, kTestNow);
  std::vector<transport::Deliver> burst = {D(3, a), D(3, third)};
  auto outs = inbox_->OnDeliveries({&burst[0], &burst[1]});
  EXPECT_EQ(outs[0].kind, Inbox::Outcome::Kind::kStored);
  EXPECT_EQ(outs[1].kind, Inbox::Outcome::Kind::kRefused);
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"delivery_refused", "delivery_refused", "delivery_refused"}));
  EXPECT_EQ(inbox_->stored_count(), 2u);
  // The true redelivery is still a duplicate, answered with the stored
  // receipt, and the refusal recorded under its number is over.
  auto refused1 = store_->GetRefused(1);
  ASSERT_TRUE(refused1.ok() && refused1->has_value());
  EXPECT_EQ(inbox_->OnDeliver(D(1, first)).kind, Inbox::Outcome::Kind::kDuplicate);
  refused1 = store_->GetRefused(1);
  ASSERT_TRUE(refused1.ok());
  EXPECT_FALSE(refused1->has_value());
  auto stored = store_->GetIncomingEnvelope(id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ(**stored, first);
}

TEST_F(InboxTest, ExpiredOnArrivalIsRefused) {
  Bytes env = k_.Seal(k_.it, k_.ng, kTestNow);
  clock_.Advance(31LL * 24 * 3600 * 1000);  // past the default 30-day lifetime
  auto o = inbox_->OnDeliver(D(1, env));
  EXPECT_EQ(o.kind, Inbox::Outcome::Kind::kRefused);
  EXPECT_EQ(o.why.code(), Code::kExpired);
}

}  // namespace
}  // namespace mlahub::agents
