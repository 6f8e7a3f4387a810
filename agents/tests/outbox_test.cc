// The sending pipeline: durable outbox, resend of the SAME bytes after a
// reconnect or a restart, until a SubmitResult.
#include "mlahub/agents/outbox.h"

#include <gtest/gtest.h>

#include "test_keys.h"
#include "test_network.h"

namespace mlahub::agents {
namespace {

using testing::kTestNow;

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("agents-outbox");
    Reopen();
  }
  void TearDown() override {
    outbox_.reset();
    store_.reset();
    testing::RemoveTree(dir_);
  }
  void Reopen() {
    outbox_.reset();
    if (store_) {
      ASSERT_TRUE(store_->Close().ok());
    }
    store_.reset();
    auto s = CaseStore::Open(dir_ + "/store", "IT-MOJ");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    outbox_ = std::make_unique<Outbox>(*store_, clock_, nullptr, 16u << 20);
    ASSERT_TRUE(outbox_->Load().ok());
  }
  std::string Add(const Bytes& env) {
    auto p = envelope::Parse(env);
    EXPECT_TRUE(p.ok());
    auto r = outbox_->Add(env, std::string(p->message_id()));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->message_id : "";
  }
  // Everything due now, "sent".
  std::vector<transport::Submit> SendDue(size_t window = 512) {
    std::vector<transport::Submit> out;
    while (auto t = outbox_->NextDue(30000, window, ++corr_)) {
      outbox_->Sent(t->local_seq, t->submit.correlation);
      out.push_back(t->submit);
    }
    return out;
  }

  testing::TestKeys k_;
  FakeClock clock_{kTestNow};
  std::string dir_;
  std::unique_ptr<CaseStore> store_;
  std::unique_ptr<Outbox> outbox_;
  uint64_t corr_ = 0;
};

TEST_F(OutboxTest, ResendsTheSameBytesAfterReconnectAndRestartUntilAnswered) {
  std::vector<Bytes> envs;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    envs.push_back(k_.Seal(k_.it, k_.ng, kTestNow));
    ids.push_back(Add(envs.back()));
  }
  EXPECT_EQ(outbox_->depth(), 3u);
  EXPECT_EQ(outbox_->TakeNew().size(), 3u);
  auto first = SendDue();
  ASSERT_EQ(first.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(first[i].envelope, envs[i]) << "in submission order, byte for byte";
  EXPECT_TRUE(SendDue().empty()) << "nothing is due while answers are awaited";

  // The connection drops: everything unanswered is due again, same bytes.
  outbox_->OnDisconnect();
  auto second = SendDue();
  ASSERT_EQ(second.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(second[i].envelope, envs[i]);
  // No answer for a long time on the same connection: sent again.
  clock_.Advance(30000);
  EXPECT_EQ(SendDue().size(), 3u);

  // Answers: accepted, refused (final), deferred (transient).
  transport::SubmitResult acc;
  acc.message_id = ids[0];
  acc.accepted = true;
  acc.ledger_index = 10;
  acc.tree_size = 11;
  auto a0 = outbox_->OnSubmitResult(acc);
  ASSERT_TRUE(a0.has_value());
  EXPECT_EQ(a0->record.state, OutState::kAccepted);
  ASSERT_TRUE(a0->job.has_value());
  EXPECT_EQ(a0->job->index, 10u);
  EXPECT_FALSE(outbox_->OnSubmitResult(acc).has_value()) << "a repeated answer: already done";

  transport::SubmitResult ref;
  ref.message_id = ids[1];
  ref.error = Code::kKindNotAccepted;
  ref.message = "NG-AGF does not accept InformationExchange";
  auto a1 = outbox_->OnSubmitResult(ref);
  ASSERT_TRUE(a1.has_value());
  EXPECT_EQ(a1->record.state, OutState::kRejected);
  EXPECT_EQ(a1->record.refusal_code, "kind_not_accepted");
  EXPECT_FALSE(a1->job.has_value());

  transport::SubmitResult later;
  later.message_id = ids[2];
  later.error = Code::kUnavailable;
  EXPECT_FALSE(outbox_->OnSubmitResult(later).has_value());
  EXPECT_EQ(outbox_->depth(), 1u);

  // Restart: only the unanswered one comes back, with the same bytes and id.
  Reopen();
  EXPECT_EQ(outbox_->depth(), 1u);
  EXPECT_TRUE(outbox_->Contains(ids[2]));
  auto after = SendDue();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].envelope, envs[2]);
  auto rec0 = store_->GetOutgoing(ids[0]);
  ASSERT_TRUE(rec0.ok() && rec0->has_value());
  EXPECT_EQ((*rec0)->state, OutState::kAccepted);
  auto jobs = store_->AuditJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].message_id, ids[0]);
}

TEST_F(OutboxTest, WindowBoundsUnansweredSubmits) {
  for (int i = 0; i < 5; ++i) Add(k_.Seal(k_.it, k_.ng, kTestNow));
  outbox_->TakeNew();
  EXPECT_EQ(SendDue(2).size(), 2u);
  EXPECT_TRUE(SendDue(2).empty());
  outbox_->OnDisconnect();
  EXPECT_EQ(SendDue(2).size(), 2u);
}

TEST_F(OutboxTest, SameIdSameBytesIsADuplicateOtherBytesAreRefused) {
  Bytes env = k_.Seal(k_.it, k_.ng, kTestNow, "0123456789abcdef0123456789abcdef");
  auto p = envelope::Parse(env);
  ASSERT_TRUE(p.ok());
  auto first = outbox_->Add(env, "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->duplicate);
  auto again = outbox_->Add(env, "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  Bytes other = k_.Seal(k_.it, k_.ng, kTestNow, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(outbox_->Add(other, "0123456789abcdef0123456789abcdef").status().code(), Code::kAlreadyExists);
  EXPECT_EQ(outbox_->depth(), 1u);
}

}  // namespace
}  // namespace mlahub::agents
