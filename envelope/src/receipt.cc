#include "mlahub/envelope/receipt.h"

#include "mlahub/core/utf8.h"
#include "mlahub/schemas/receipt_generated.h"

namespace mlahub::envelope {
namespace {

constexpr std::string_view kContext = "mlahub-receipt-v1";  // followed by 0x00

Bytes SignedBytes(ByteView receipt) {
  Bytes m(kContext.begin(), kContext.end());
  m.push_back(0);
  m.insert(m.end(), receipt.begin(), receipt.end());
  return m;
}

Result<const wire::SignedReceipt*> Outer(ByteView buf) {
  flatbuffers::Verifier v(buf.data(), buf.size());
  if (!wire::VerifySignedReceiptBuffer(v)) return Status::Malformed("not a valid signed receipt");
  const auto* sr = wire::GetSignedReceipt(buf.data());
  if (sr->signature()->size() != crypto::kSignatureSize) return Status::Malformed("receipt signature must be 64 bytes");
  return sr;
}

Result<ReceiptInfo> Decode(const wire::SignedReceipt* sr) {
  flatbuffers::Verifier v(sr->receipt()->data(), sr->receipt()->size());
  if (!v.VerifyBuffer<wire::Receipt>(nullptr)) return Status::Malformed("receipt body is not a valid Receipt");
  const auto* r = flatbuffers::GetRoot<wire::Receipt>(sr->receipt()->data());
  for (const flatbuffers::String* str : {r->message_id(), r->sender(), r->recipient()}) {
    if (str != nullptr && !IsValidUtf8(str->string_view())) return Status::Malformed("receipt string is not valid UTF-8");
  }
  ReceiptInfo out;
  out.message_id = r->message_id()->str();
  if (r->envelope_hash()->size() != 32) return Status::Malformed("receipt envelope hash must be 32 bytes");
  std::copy(r->envelope_hash()->begin(), r->envelope_hash()->end(), out.envelope_hash.begin());
  out.sender = r->sender() ? r->sender()->str() : "";
  out.recipient = r->recipient() ? r->recipient()->str() : "";
  out.received_ms = r->received_ms();
  return out;
}

}  // namespace

Bytes SignReceipt(const ReceiptInfo& r, const crypto::SigningKey& key) {
  flatbuffers::FlatBufferBuilder ib(256);
  std::vector<uint8_t> hash(r.envelope_hash.begin(), r.envelope_hash.end());
  ib.Finish(wire::CreateReceiptDirect(ib, r.message_id.c_str(), &hash, r.sender.c_str(), r.recipient.c_str(),
                                      r.received_ms));
  ByteView receipt(ib.GetBufferPointer(), ib.GetSize());
  crypto::Signature sig = key.Sign(SignedBytes(receipt));
  flatbuffers::FlatBufferBuilder ob(receipt.size() + 128);
  auto rv = ob.CreateVector(receipt.data(), receipt.size());
  auto sv = ob.CreateVector(sig.data(), sig.size());
  wire::FinishSignedReceiptBuffer(ob, wire::CreateSignedReceipt(ob, rv, sv));
  return Bytes(ob.GetBufferPointer(), ob.GetBufferPointer() + ob.GetSize());
}

Result<ReceiptInfo> VerifyReceipt(ByteView buf, const crypto::SignPublicKey& key) {
  MLAHUB_ASSIGN_OR_RETURN(const wire::SignedReceipt* sr, Outer(buf));
  ByteView receipt(sr->receipt()->data(), sr->receipt()->size());
  if (!crypto::Verify(key, SignedBytes(receipt), ByteView(sr->signature()->data(), sr->signature()->size())))
    return Status::BadSignature("receipt signature does not verify with the recipient's key");
  return Decode(sr);
}

Result<ReceiptInfo> DecodeReceipt(ByteView buf) {
  MLAHUB_ASSIGN_OR_RETURN(const wire::SignedReceipt* sr, Outer(buf));
  return Decode(sr);
}

Result<crypto::Signature> ReceiptSignature(ByteView buf) {
  MLAHUB_ASSIGN_OR_RETURN(const wire::SignedReceipt* sr, Outer(buf));
  crypto::Signature s;
  std::copy(sr->signature()->begin(), sr->signature()->end(), s.begin());
  return s;
}

}  // namespace mlahub::envelope
