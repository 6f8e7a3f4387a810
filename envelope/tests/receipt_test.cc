#include "mlahub/envelope/receipt.h"

#include <gtest/gtest.h>

namespace mlahub::envelope {
namespace {

TEST(ReceiptTest, SignVerifyAndRefuseTampering) {
  auto key = crypto::SigningKey::Generate();
  auto other = crypto::SigningKey::Generate();
  ReceiptInfo r;
  r.message_id = "0123456789abcdef0123456789abcdef";
  r.envelope_hash = crypto::Sha256(AsBytes("envelope"));
  r.sender = "IT-MOJ";
  r.recipient = "NG-AGF";
  r.received_ms = 1795824000000;
  Bytes signed_receipt = SignReceipt(r, key);
  auto v = VerifyReceipt(signed_receipt, key.public_key());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->message_id, r.message_id);
  EXPECT_EQ(v->envelope_hash, r.envelope_hash);
  EXPECT_EQ(v->recipient, "NG-AGF");
  EXPECT_EQ(v->received_ms, r.received_ms);
  EXPECT_EQ(VerifyReceipt(signed_receipt, other.public_key()).status().code(), Code::kBadSignature);
  int refused = 0;
  for (size_t i = 0; i < signed_receipt.size(); ++i) {
    Bytes t = signed_receipt;
    t[i] ^= 0x01;
    auto res = VerifyReceipt(t, key.public_key());
    if (!res.ok()) {
      ++refused;
      continue;
    }
    // A flip that is accepted can only be in the outer table's padding: the
    // attested content must be unchanged.
    EXPECT_EQ(res->message_id, r.message_id) << i;
    EXPECT_EQ(res->envelope_hash, r.envelope_hash) << i;
    EXPECT_EQ(res->received_ms, r.received_ms) << i;
  }
  EXPECT_GT(refused, static_cast<int>(signed_receipt.size()) / 2);
  // Correctly signed, but a string is not UTF-8: malformed.
  ReceiptInfo bad = r;
  bad.recipient = "NG-\xFF";
  EXPECT_EQ(VerifyReceipt(SignReceipt(bad, key), key.public_key()).status().code(), Code::kMalformed);
  EXPECT_EQ(VerifyReceipt(Bytes(10, 0), key.public_key()).status().code(), Code::kMalformed);
}

}  // namespace
}  // namespace mlahub::envelope
