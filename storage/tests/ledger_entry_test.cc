// LedgerEntry encoding, verified decoding and FlatBuffers JSON.
#include "mlahub/storage/ledger_entry.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace mlahub::storage {
namespace {

LedgerEntryFields Sample() {
  LedgerEntryFields f;
  f.event = wire::LedgerEvent::Accepted;
  f.ledger_ms = 1764344940000;
  f.message_id = "0123456789abcdef0123456789abcdef";
  f.sender = "IT-MOJ";
  f.recipient = "NG-AGF";
  f.kind = wire::MessageKind::MlaRequest;
  f.created_ms = 1764344939000;
  f.expires_ms = 1764949739000;
  f.legal_basis = wire::LegalBasis::Untoc;
  f.envelope_size = 4242;
  f.envelope_hash = Bytes(32, 0xab);
  f.sender_key_id = Bytes(8, 0x11);
  f.origin_signature = Bytes(64, 0x22);
  f.state = wire::MessageState::Queued;
  return f;
}

TEST(LedgerEntryTest, RoundTrip) {
  Bytes b = EncodeLedgerEntry(Sample());
  auto e = DecodeLedgerEntry(b);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->event(), wire::LedgerEvent::Accepted);
  EXPECT_EQ((*e)->message_id()->str(), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ((*e)->recipient()->str(), "NG-AGF");
  EXPECT_EQ((*e)->envelope_hash()->size(), 32u);
  EXPECT_EQ((*e)->version(), 1);
  EXPECT_EQ((*e)->receipt_signature(), nullptr);
}

TEST(LedgerEntryTest, JsonComesFromFlatBuffers) {
  auto json = LedgerEntryToJson(EncodeLedgerEntry(Sample()));
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_NE(json->find("\"event\": \"Accepted\""), std::string::npos) << *json;
  EXPECT_NE(json->find("\"kind\": \"MlaRequest\""), std::string::npos) << *json;
  EXPECT_NE(json->find("\"sender\": \"IT-MOJ\""), std::string::npos) << *json;
}

TEST(LedgerEntryTest, RejectsGarbageAndWrongSizes) {
  EXPECT_EQ(DecodeLedgerEntry(ToBytes("short")).status().code(), Code::kMalformed);
  EXPECT_EQ(DecodeLedgerEntry(Bytes(64, 0)).status().code(), Code::kMalformed);
  Bytes b = EncodeLedgerEntry(Sample());
  Bytes truncated(b.begin(), b.begin() + static_cast<long>(b.size() / 2));
  EXPECT_EQ(DecodeLedgerEntry(truncated).status().code(), Code::kMalformed);
  LedgerEntryFields f = Sample();
  f.envelope_hash = Bytes(31, 1);
  EXPECT_EQ(DecodeLedgerEntry(EncodeLedgerEntry(f)).status().code(), Code::kMalformed);
  f = Sample();
  f.sender = std::string(300, 'x');
  EXPECT_EQ(DecodeLedgerEntry(EncodeLedgerEntry(f)).status().code(), Code::kMalformed);
  // Any single flipped byte either still verifies or is refused; never a crash.
  for (size_t i = 0; i < b.size(); ++i) {
    Bytes c = b;
    c[i] ^= 0xff;
    DecodeLedgerEntry(c).status().IgnoreError();
  }
}

}  // namespace
}  // namespace mlahub::storage
