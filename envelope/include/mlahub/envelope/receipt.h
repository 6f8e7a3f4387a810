// Signed receipts: the recipient's non-repudiable statement that it stored a
// given envelope (DESIGN.md "Receipts"). Format in docs/PROTOCOL.md section 8.
#pragma once

#include <string>

#include "mlahub/core/bytes.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/sign.h"

namespace mlahub::envelope {

struct ReceiptInfo {
  std::string message_id;
  crypto::Digest32 envelope_hash{};
  std::string sender;     // the envelope's sender
  std::string recipient;  // the signer
  UnixMillis received_ms = 0;
};

// A SignedReceipt FlatBuffer (identifier "MLAR").
Bytes SignReceipt(const ReceiptInfo& r, const crypto::SigningKey& recipient_key);

// Verifies structure and the recipient's signature; kMalformed, kBadSignature.
Result<ReceiptInfo> VerifyReceipt(ByteView signed_receipt, const crypto::SignPublicKey& recipient_key);
// Decodes without checking the signature (to find out who should have signed).
Result<ReceiptInfo> DecodeReceipt(ByteView signed_receipt);
// The 64-byte signature inside a verified SignedReceipt (kept by the ledger).
Result<crypto::Signature> ReceiptSignature(ByteView signed_receipt);

}  // namespace mlahub::envelope
