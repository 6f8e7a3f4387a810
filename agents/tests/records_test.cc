// Records: JSON forms round-trip; damaged stored records are corruption.
#include "mlahub/agents/records.h"

#include <gtest/gtest.h>

namespace mlahub::agents {
namespace {

TEST(RecordsTest, IncomingRoundTrips) {
  IncomingRecord r;
  r.message_id = "0123456789abcdef0123456789abcdef";
  r.sender = "IT-MOJ";
  r.sender_sign_key = "ab";
  r.kind = "MlaRequest";
  r.delivery_seq = 7;
  r.ledger_index = 12;
  r.receipt_recorded = true;
  r.receipt_ledger_index = 15;
  r.timeline.push_back({"delivered", 5, "hub", 12, "", "delivery_seq 7", 0});
  auto back = IncomingFromJson(ToJson(r).dump());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(ToJson(*back), ToJson(r));
}

TEST(RecordsTest, AlarmAndJobRoundTrip) {
  Alarm a{3, 99, "inclusion_proof", "does not verify", {{"index", 4}}};
  auto ab = AlarmFromJson(ToJson(a).dump());
  ASSERT_TRUE(ab.ok());
  EXPECT_EQ(ab->kind, "inclusion_proof");
  EXPECT_EQ(ab->details["index"], 4);
  AuditJob j{17, AuditJobKind::kReceipt, "0123456789abcdef0123456789abcdef", "aa", 5};
  auto jb = AuditJobFromJson(ToJson(j).dump());
  ASSERT_TRUE(jb.ok());
  EXPECT_EQ(*jb, j);
}

TEST(RecordsTest, DamagedRecordsAreCorruption) {
  EXPECT_EQ(OutgoingFromJson("{not json").status().code(), Code::kCorruption);
  EXPECT_EQ(OutgoingFromJson("[]").status().code(), Code::kCorruption);
  EXPECT_EQ(OutgoingFromJson(R"({"message_id":"x","state":"teleported"})").status().code(), Code::kCorruption);
  EXPECT_EQ(IncomingFromJson(R"({"message_id":5})").status().code(), Code::kCorruption);
  EXPECT_EQ(AuditJobFromJson(R"({"kind":"other"})").status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace mlahub::agents
