// State keys and record encodings of the broker (mlahub/broker/state.h).
#include "mlahub/broker/state.h"

#include <gtest/gtest.h>

namespace mlahub::broker {
namespace {

TEST(StateKeysTest, LayoutAndOrder) {
  EXPECT_EQ(QueuePrefix("NG-AGF"), "q/NG-AGF/");
  std::string k1 = QueueKey("NG-AGF", 1);
  std::string k2 = QueueKey("NG-AGF", 256);
  std::string k3 = QueueKey("NG-AGF", uint64_t{1} << 40);
  EXPECT_EQ(k1.size(), 9u + 8u);
  EXPECT_LT(k1, k2);  // big-endian: byte order is numeric order
  EXPECT_LT(k2, k3);
  EXPECT_EQ(*QueueKeySeq(QueuePrefix("NG-AGF"), k2), 256u);
  EXPECT_EQ(*QueueKeySeq(QueuePrefix("NG-AGF"), k3), uint64_t{1} << 40);
  EXPECT_EQ(QueueKeySeq(QueuePrefix("NG-AGF"), "q/NG-AGF/abc").status().code(), Code::kCorruption);
  EXPECT_EQ(QueueKeySeq(QueuePrefix("NG-AGF"), QueueKey("IT-MOJ", 1)).status().code(),
            Code::kCorruption);
  // One node's prefix never covers another's.
  EXPECT_FALSE(QueueKey("IT-MOJX", 1).starts_with(QueuePrefix("IT-MOJ")));
  EXPECT_EQ(NextSeqKey("IT-MOJ"), "n/IT-MOJ");
  EXPECT_EQ(ReceiptCountKey("IT-MOJ"), "c/IT-MOJ");
  EXPECT_EQ(MessageKey("00112233445566778899aabbccddeeff"), "m/00112233445566778899aabbccddeeff");
  EXPECT_EQ(ReceiptKey("00112233445566778899aabbccddeeff"), "r/00112233445566778899aabbccddeeff");
  EXPECT_EQ(*ParseBe64(AsBytes(Be64Key(0x0102030405060708ULL))), 0x0102030405060708ULL);
  EXPECT_EQ(ParseBe64(AsBytes("1234567")).status().code(), Code::kCorruption);
}

QueueRecord SampleQueueRecord() {
  QueueRecord r;
  r.ledger_index = 4242;
  r.kind = 1;
  r.envelope_hash.fill(0xAB);
  r.expires_ms = 1'800'000'000'000;
  r.message_id = "00112233445566778899aabbccddeeff";
  r.sender = "IT-MOJ";
  r.envelope = Bytes(1000, 0x5A);
  return r;
}

TEST(StateRecordsTest, QueueRecordRoundTripAndTruncation) {
  QueueRecord r = SampleQueueRecord();
  Bytes b = EncodeQueueRecord(r);
  auto d = DecodeQueueRecord(b);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, r);
  // Every truncation up to the envelope is corruption, never a crash.
  size_t fixed = b.size() - r.envelope.size();
  for (size_t n = 0; n <= fixed; ++n) {
    auto t = DecodeQueueRecord(ByteView(b.data(), n));
    EXPECT_EQ(t.status().code(), Code::kCorruption) << "length " << n;
  }
  Bytes bad = b;
  bad[0] = 9;
  EXPECT_EQ(DecodeQueueRecord(bad).status().code(), Code::kCorruption);
}

TEST(StateRecordsTest, QueueRecordVersion1IsStillRead) {
  // Version 1 (before the expiry index): no expires_ms.
  QueueRecord r = SampleQueueRecord();
  Bytes v1;
  v1.push_back(1);
  PutU64Be(v1, r.ledger_index);
  v1.push_back(r.kind);
  v1.insert(v1.end(), r.envelope_hash.begin(), r.envelope_hash.end());
  for (const std::string& s : {r.message_id, r.sender}) {
    v1.push_back(0);
    v1.push_back(static_cast<uint8_t>(s.size()));
    v1.insert(v1.end(), s.begin(), s.end());
  }
  v1.insert(v1.end(), r.envelope.begin(), r.envelope.end());
  auto d = DecodeQueueRecord(v1);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  r.expires_ms = 0;
  EXPECT_EQ(*d, r);
}

TEST(StateRecordsTest, ExpiryKeysSortByTimeAndParse) {
  std::string a = ExpiryKey(1000, "NG-AGF", 7);
  std::string b = ExpiryKey(999, "TH-OAG", 9);
  std::string c = ExpiryKey(1000, "IT-MOJ", 1);
  EXPECT_TRUE(a.starts_with("x/"));
  EXPECT_LT(b, a);  // earlier expiry first, whatever the recipient
  EXPECT_LT(c, a);
  auto p = ParseExpiryKey(a);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->expires_ms, 1000);
  EXPECT_EQ(p->recipient, "NG-AGF");
  EXPECT_EQ(p->seq, 7u);
  // A recipient whose id bytes contain the separator's neighbours still parses.
  auto q = ParseExpiryKey(ExpiryKey(0x2F2F2F2F, "A", 0x2F));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->recipient, "A");
  EXPECT_EQ(q->seq, 0x2Fu);
  for (size_t n = 0; n < a.size(); ++n)
    EXPECT_EQ(ParseExpiryKey(a.substr(0, n)).status().code(), Code::kCorruption) << n;
  EXPECT_EQ(ParseExpiryKey("q/NG-AGF/12345678").status().code(), Code::kCorruption);
}

TEST(StateRecordsTest, MessageRecordRoundTripAndChecks) {
  MessageRecord r;
  r.accepted = true;
  r.ledger_index = 7;
  r.sender = "IT-MOJ";
  r.recipient = "NG-AGF";
  r.seq = 3;
  r.state = HubState::kReceipted;
  r.envelope_hash.fill(0x11);
  r.receipt_index = 9;
  Bytes b = EncodeMessageRecord(r);
  auto d = DecodeMessageRecord(b);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, r);

  MessageRecord refused;
  refused.accepted = false;
  refused.error = Code::kExpired;
  refused.message = "envelope expired at ...";
  refused.ledger_index = 12;
  refused.sender = "IT-MOJ";
  refused.state = HubState::kRejected;
  auto d2 = DecodeMessageRecord(EncodeMessageRecord(refused));
  ASSERT_TRUE(d2.ok());
  EXPECT_EQ(*d2, refused);

  MessageRecord expired = r;
  expired.state = HubState::kExpired;
  expired.receipt_index = 0;
  auto d3 = DecodeMessageRecord(EncodeMessageRecord(expired));
  ASSERT_TRUE(d3.ok()) << d3.status().ToString();
  EXPECT_EQ(*d3, expired);

  for (size_t n = 0; n < b.size(); ++n)
    EXPECT_EQ(DecodeMessageRecord(ByteView(b.data(), n)).status().code(), Code::kCorruption) << n;
  Bytes extra = b;
  extra.push_back(0);
  EXPECT_EQ(DecodeMessageRecord(extra).status().code(), Code::kCorruption);
  // accepted with an error code is inconsistent.
  Bytes inconsistent = b;
  inconsistent[3] = 7;  // error low byte
  EXPECT_EQ(DecodeMessageRecord(inconsistent).status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace mlahub::broker
