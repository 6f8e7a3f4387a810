#include "mlahub/storage/ledger_entry.h"

#include <flatbuffers/flatbuffers.h>

#include "mlahub/schemas/json_codec.h"

namespace mlahub::storage {
namespace {

constexpr size_t kMaxStringBytes = 256;

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> BytesOrNull(flatbuffers::FlatBufferBuilder& b,
                                                              const Bytes& v) {
  if (v.empty()) return 0;
  return b.CreateVector(v);
}

flatbuffers::Offset<flatbuffers::String> StringOrNull(flatbuffers::FlatBufferBuilder& b,
                                                      const std::string& s) {
  if (s.empty()) return 0;
  return b.CreateString(s);
}

Status CheckBytes(const flatbuffers::Vector<uint8_t>* v, size_t want, const char* name) {
  if (v == nullptr || v->size() == 0 || v->size() == want) return Status::Ok();
  return Status::Malformed(std::string("ledger entry field ") + name + " must be " + std::to_string(want) +
                           " bytes, is " + std::to_string(v->size()));
}

// String fields hold ids (node ids, message ids): printable ASCII only, so
// an entry never carries free text and always prints as JSON.
Status CheckString(const flatbuffers::String* s, const char* name) {
  if (s == nullptr) return Status::Ok();
  if (s->size() > kMaxStringBytes)
    return Status::Malformed(std::string("ledger entry field ") + name + " is longer than " +
                             std::to_string(kMaxStringBytes) + " bytes");
  for (char c : s->string_view())
    if (c < 0x20 || c > 0x7e)
      return Status::Malformed(std::string("ledger entry field ") + name + " is not printable ASCII");
  return Status::Ok();
}

}  // namespace

Bytes EncodeLedgerEntry(const LedgerEntryFields& f) {
  flatbuffers::FlatBufferBuilder b(512);
  auto message_id = StringOrNull(b, f.message_id);
  auto sender = StringOrNull(b, f.sender);
  auto recipient = StringOrNull(b, f.recipient);
  auto in_reply_to = StringOrNull(b, f.in_reply_to);
  auto envelope_hash = BytesOrNull(b, f.envelope_hash);
  auto sender_key_id = BytesOrNull(b, f.sender_key_id);
  auto origin_signature = BytesOrNull(b, f.origin_signature);
  auto receipt_signature = BytesOrNull(b, f.receipt_signature);
  auto receipt_hash = BytesOrNull(b, f.receipt_hash);
  auto directory_hash = BytesOrNull(b, f.directory_hash);
  auto transfer_id = StringOrNull(b, f.transfer_id);
  auto chunks_root = BytesOrNull(b, f.chunks_root);
  wire::LedgerEntryBuilder e(b);
  e.add_version(kLedgerEntryVersion);
  e.add_event(f.event);
  e.add_ledger_ms(f.ledger_ms);
  e.add_message_id(message_id);
  e.add_sender(sender);
  e.add_recipient(recipient);
  e.add_kind(f.kind);
  e.add_in_reply_to(in_reply_to);
  e.add_created_ms(f.created_ms);
  e.add_expires_ms(f.expires_ms);
  e.add_handling(f.handling);
  e.add_legal_basis(f.legal_basis);
  e.add_priority(f.priority);
  e.add_envelope_size(f.envelope_size);
  e.add_envelope_hash(envelope_hash);
  e.add_sender_key_id(sender_key_id);
  e.add_origin_signature(origin_signature);
  e.add_receipt_signature(receipt_signature);
  e.add_receipt_hash(receipt_hash);
  e.add_received_ms(f.received_ms);
  e.add_error(f.error);
  e.add_state(f.state);
  e.add_attempt(f.attempt);
  e.add_directory_version(f.directory_version);
  e.add_directory_hash(directory_hash);
  e.add_transfer_id(transfer_id);
  e.add_chunk_count(f.chunk_count);
  e.add_chunks_root(chunks_root);
  b.Finish(e.Finish(), wire::LedgerEntryIdentifier());
  return Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

Result<const wire::LedgerEntry*> DecodeLedgerEntry(ByteView bytes) {
  if (bytes.size() < 8 || bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE)
    return Status::Malformed("ledger entry of " + std::to_string(bytes.size()) + " bytes is not a FlatBuffer");
  if (!wire::LedgerEntryBufferHasIdentifier(bytes.data()))
    return Status::Malformed("bytes are not a ledger entry (file identifier is not MLAL)");
  flatbuffers::Verifier::Options vo;
  vo.max_depth = 8;
  vo.max_tables = 64;
  flatbuffers::Verifier v(bytes.data(), bytes.size(), vo);
  if (!wire::VerifyLedgerEntryBuffer(v)) return Status::Malformed("ledger entry fails the FlatBuffers verifier");
  const wire::LedgerEntry* e = wire::GetLedgerEntry(bytes.data());
  if (e->version() > kLedgerEntryVersion)
    return Status::UnsupportedVersion("ledger entry version " + std::to_string(e->version()) +
                                      " is newer than this program's " + std::to_string(kLedgerEntryVersion));
  if (e->version() == 0) return Status::Malformed("ledger entry version 0");
  MLAHUB_RETURN_IF_ERROR(CheckString(e->message_id(), "message_id"));
  MLAHUB_RETURN_IF_ERROR(CheckString(e->sender(), "sender"));
  MLAHUB_RETURN_IF_ERROR(CheckString(e->recipient(), "recipient"));
  MLAHUB_RETURN_IF_ERROR(CheckString(e->in_reply_to(), "in_reply_to"));
  MLAHUB_RETURN_IF_ERROR(CheckBytes(e->envelope_hash(), 32, "envelope_hash"));
  MLAHUB_RETURN_IF_ERROR(CheckBytes(e->sender_key_id(), 8, "sender_key_id"));
  MLAHUB_RETURN_IF_ERROR(CheckBytes(e->origin_signature(), 64, "origin_signature"));
  MLAHUB_RETURN_IF_ERROR(CheckBytes(e->receipt_signature(), 64, "receipt_signature"));
  MLAHUB_RETURN_IF_ERROR(CheckBytes(e->receipt_hash(), 32, "receipt_hash"));
  MLAHUB_RETURN_IF_ERROR(CheckBytes(e->directory_hash(), 32, "directory_hash"));
  MLAHUB_RETURN_IF_ERROR(CheckString(e->transfer_id(), "transfer_id"));
  MLAHUB_RETURN_IF_ERROR(CheckBytes(e->chunks_root(), 32, "chunks_root"));
  return e;
}

Result<std::string> LedgerEntryToJson(ByteView bytes) {
  MLAHUB_RETURN_IF_ERROR(DecodeLedgerEntry(bytes).status());
  return schemas::JsonCodec::Instance().ToJson(kLedgerEntryType, bytes);
}

}  // namespace mlahub::storage
