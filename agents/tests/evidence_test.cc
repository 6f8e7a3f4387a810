// The transport evidence state machine, driven by a FakeClock.
#include "mlahub/agents/evidence.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace mlahub::agents {
namespace {

constexpr UnixMillis kT0 = 1'800'000'000'000;

class EvidenceTest : public ::testing::Test {
 protected:
  EvidenceTest() : clock_(kT0) {
    t_.accept_warning_ms = 1000;
    t_.accept_failure_ms = 5000;
    t_.delivery_warning_ms = 10'000;
    t_.delivery_failure_ms = 20'000;
    t_.receipt_warning_ms = 30'000;
    t_.receipt_failure_ms = 60'000;
    r_.message_id = "00112233445566778899aabbccddeeff";
    RecordSubmitted(r_, clock_.NowMillis());
  }
  std::vector<std::string> Events() const {
    std::vector<std::string> v;
    for (const auto& e : r_.timeline) v.push_back(e.event);
    return v;
  }
  bool HasEvent(const std::string& name) const {
    auto v = Events();
    return std::find(v.begin(), v.end(), name) != v.end();
  }
  std::vector<std::string> Tick(int64_t advance_ms) {
    clock_.Advance(advance_ms);
    std::vector<std::string> out;
    for (const auto& e : CheckTimeouts(r_, clock_.NowMillis(), t_)) out.push_back(e.event);
    return out;
  }

  FakeClock clock_;
  EvidenceTimeouts t_;
  OutgoingRecord r_;
};

TEST_F(EvidenceTest, HappyPathEndsReceiptedWithoutWarnings) {
  EXPECT_EQ(r_.state, OutState::kSubmitted);
  EXPECT_TRUE(Tick(500).empty());
  EXPECT_TRUE(RecordAccepted(r_, clock_.NowMillis(), 7, 8, false));
  EXPECT_EQ(r_.state, OutState::kAccepted);
  EXPECT_EQ(r_.ledger_index, 7u);
  EXPECT_TRUE(Tick(500).empty());
  EXPECT_TRUE(RecordDelivered(r_, clock_.NowMillis(), clock_.NowMillis(), 1, 9));
  EXPECT_FALSE(RecordDelivered(r_, clock_.NowMillis(), clock_.NowMillis(), 1, 9)) << "same ledger entry twice";
  EXPECT_EQ(r_.state, OutState::kDelivered);
  EXPECT_TRUE(RecordReceipt(r_, clock_.NowMillis(), clock_.NowMillis(), 10));
  EXPECT_EQ(r_.state, OutState::kReceipted);
  EXPECT_TRUE(IsFinal(r_));
  EXPECT_TRUE(r_.warnings.empty());
  EXPECT_TRUE(r_.failures.empty());
  EXPECT_EQ(Events(), (std::vector<std::string>{"submitted", "accepted", "delivered", "receipt"}));
  // Nothing more is ever declared for a final message.
  EXPECT_TRUE(Tick(1'000'000).empty());
  EXPECT_FALSE(NextTimeout(r_, t_).has_value());
}

TEST_F(EvidenceTest, DeliveryAttemptsShownUpToABound) {
  EXPECT_TRUE(RecordAccepted(r_, clock_.NowMillis(), 7, 8, false));
  // The hub may report any number of attempts (each a ledger index of its
  // own); the timeline keeps kMaxDeliveryEvents of them.
  for (uint64_t i = 0; i < kMaxDeliveryEvents; ++i)
    EXPECT_TRUE(RecordDelivered(r_, clock_.NowMillis(), clock_.NowMillis(), uint32_t(i + 1), 100 + i));
  EXPECT_FALSE(RecordDelivered(r_, clock_.NowMillis(), clock_.NowMillis(), 999, 100000));
  auto ev = Events();
  EXPECT_EQ(static_cast<size_t>(std::count(ev.begin(), ev.end(), "delivered")), kMaxDeliveryEvents);
  EXPECT_TRUE(RecordReceipt(r_, clock_.NowMillis(), clock_.NowMillis(), 200000)) << "the receipt still counts";
}

TEST_F(EvidenceTest, AcceptanceWarningThenFailureOnce) {
  EXPECT_EQ(NextTimeout(r_, t_), kT0 + 1000);
  EXPECT_TRUE(Tick(999).empty());
  EXPECT_EQ(Tick(1), (std::vector<std::string>{"acceptance_warning"}));
  EXPECT_TRUE(Tick(1000).empty()) << "declared once";
  EXPECT_EQ(NextTimeout(r_, t_), kT0 + 5000);
  EXPECT_EQ(Tick(3000), (std::vector<std::string>{"acceptance_failure"}));
  EXPECT_TRUE(Tick(100000).empty());
  EXPECT_EQ(r_.failures, (std::vector<std::string>{"acceptance"}));
  EXPECT_FALSE(NextTimeout(r_, t_).has_value());
}

TEST_F(EvidenceTest, LateAcceptanceOverridesAcceptanceFailure) {
  Tick(6000);
  ASSERT_EQ(r_.failures, (std::vector<std::string>{"acceptance"}));
  EXPECT_TRUE(RecordAccepted(r_, clock_.NowMillis(), 3, 4, true));
  EXPECT_TRUE(r_.failures.empty());
  EXPECT_TRUE(HasEvent("acceptance_failure")) << "the declared failure stays in the timeline";
  EXPECT_TRUE(HasEvent("failure_overridden"));
}

TEST_F(EvidenceTest, LateReceiptOverridesDeclaredFailures) {
  RecordAccepted(r_, clock_.NowMillis(), 1, 2, false);
  // Delivery warning (10 s), delivery failure (20 s), receipt warning (30 s),
  // receipt failure (60 s): all declared while nothing arrives.
  EXPECT_EQ(Tick(10'000), (std::vector<std::string>{"delivery_warning"}));
  EXPECT_EQ(Tick(10'000), (std::vector<std::string>{"delivery_failure"}));
  EXPECT_EQ(Tick(10'000), (std::vector<std::string>{"receipt_warning"}));
  EXPECT_EQ(Tick(30'000), (std::vector<std::string>{"receipt_failure"}));
  EXPECT_EQ(r_.failures, (std::vector<std::string>{"delivery", "receipt"}));
  EXPECT_FALSE(IsFinal(r_)) << "a failed message stays open for a late receipt";
  EXPECT_NE(Summary(r_).find("failure"), std::string::npos);

  // Days later the signed receipt arrives: it overrides both failures.
  clock_.Advance(3LL * 24 * 3600 * 1000);
  EXPECT_TRUE(RecordReceipt(r_, clock_.NowMillis(), clock_.NowMillis() - 1000, 42));
  EXPECT_EQ(r_.state, OutState::kReceipted);
  EXPECT_TRUE(r_.failures.empty());
  EXPECT_TRUE(IsFinal(r_));
  EXPECT_EQ(Summary(r_), "receipted by the recipient");
  int overridden = 0;
  for (const auto& e : r_.timeline) overridden += e.event == "failure_overridden";
  EXPECT_EQ(overridden, 2);
  EXPECT_TRUE(HasEvent("delivery_failure"));
  EXPECT_TRUE(HasEvent("receipt_failure"));
  EXPECT_TRUE(Tick(1'000'000).empty());
}

TEST_F(EvidenceTest, DeliveryClearsOnlyTheDeliveryFailure) {
  RecordAccepted(r_, clock_.NowMillis(), 1, 2, false);
  Tick(25'000);
  ASSERT_EQ(r_.failures, (std::vector<std::string>{"delivery"}));
  EXPECT_TRUE(RecordDelivered(r_, clock_.NowMillis(), clock_.NowMillis(), 3, 5));
  EXPECT_TRUE(r_.failures.empty());
  EXPECT_EQ(r_.state, OutState::kDelivered);
  EXPECT_EQ(Tick(40'000), (std::vector<std::string>{"receipt_warning", "receipt_failure"}));
}

TEST_F(EvidenceTest, RejectionIsFinal) {
  EXPECT_TRUE(RecordRejected(r_, clock_.NowMillis(), Code::kKindNotAccepted, "NG-AGF does not accept it", 5));
  EXPECT_EQ(r_.state, OutState::kRejected);
  EXPECT_EQ(r_.refusal_code, "kind_not_accepted");
  EXPECT_TRUE(IsFinal(r_));
  EXPECT_FALSE(RecordAccepted(r_, clock_.NowMillis(), 1, 2, false)) << "no acceptance after a rejection";
  EXPECT_FALSE(RecordRejected(r_, clock_.NowMillis(), Code::kMalformed, "again", 6));
  EXPECT_TRUE(Tick(1'000'000).empty());
}

TEST_F(EvidenceTest, ExpiryDeclaresNonDeliveryAndAReceiptStillOverrides) {
  RecordAccepted(r_, clock_.NowMillis(), 1, 2, false);
  EXPECT_TRUE(RecordExpired(r_, clock_.NowMillis(), clock_.NowMillis(), 9));
  EXPECT_EQ(r_.state, OutState::kExpired);
  EXPECT_EQ(r_.failures, (std::vector<std::string>{"delivery"}));
  EXPECT_FALSE(IsFinal(r_));
  EXPECT_TRUE(Tick(1'000'000).empty()) << "no more timeouts after expiry";
  EXPECT_TRUE(RecordReceipt(r_, clock_.NowMillis(), clock_.NowMillis(), 12));
  EXPECT_TRUE(r_.failures.empty());
}

TEST_F(EvidenceTest, RecordRoundTripsThroughJson) {
  RecordAccepted(r_, clock_.NowMillis(), 1, 2, false);
  Tick(25'000);
  RecordIncluded(r_, clock_.NowMillis(), 100);
  auto back = OutgoingFromJson(ToJson(r_).dump());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(ToJson(*back), ToJson(r_));
  EXPECT_EQ(back->timeline, r_.timeline);
  EXPECT_TRUE(back->included);
}

}  // namespace
}  // namespace mlahub::agents
