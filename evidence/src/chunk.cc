#include "mlahub/evidence/chunk.h"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstring>

#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/random.h"
#include "mlahub/evidence/errors.h"
#include "mlahub/schemas/evidence_generated.h"

namespace mlahub::evidence {
namespace fb = flatbuffers;

namespace {
constexpr std::string_view kChainLabel = "mlahub-evidence-chain-v1";

Status Malformed(const std::string& what) { return MakeError(Errc::kMalformedChunk, what); }

bool CopyHash(const fb::Vector<uint8_t>* v, Link& out) {
  if (v == nullptr || v->size() != kLinkSize) return false;
  std::copy(v->begin(), v->end(), out.begin());
  return true;
}
}  // namespace

bool IsValidTransferId(std::string_view id) {
  if (id.size() != kTransferIdSize) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string NewTransferId() { return crypto::NewMessageIdText(); }

Link HashCiphertext(ByteView ciphertext) { return crypto::Blake2b256(ciphertext); }

Link ChainLink(uint64_t index, const Link& ciphertext_hash, const Link& next_link) {
  crypto::Blake2bStream h;
  h.Update(AsBytes(kChainLabel));
  auto ad = ChunkAd(index);
  h.Update(ad);
  h.Update(ciphertext_hash);
  h.Update(next_link);
  return h.Final();
}

std::array<uint8_t, 8> ChunkAd(uint64_t index) {
  std::array<uint8_t, 8> out;
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(index >> (8 * i));
  return out;
}

uint64_t ChunkCountFor(uint64_t size, uint32_t chunk_size) {
  if (chunk_size == 0) return 0;
  return size == 0 ? 1 : (size + chunk_size - 1) / chunk_size;
}

uint64_t PlainLengthOf(uint64_t size, uint32_t chunk_size, uint64_t index) {
  uint64_t start = index * chunk_size;
  if (start >= size) return 0;
  return std::min<uint64_t>(chunk_size, size - start);
}

Bytes EncodeChunk(const ChunkFrame& f) {
  fb::FlatBufferBuilder b(f.ciphertext.size() + 256);
  auto id = b.CreateString(f.transfer_id);
  auto ct = b.CreateVector(f.ciphertext);
  auto h = b.CreateVector(f.ciphertext_hash.data(), f.ciphertext_hash.size());
  auto next = b.CreateVector(f.next_link.data(), f.next_link.size());
  auto root = wire::CreateEvidenceChunk(b, id, f.chunk_index, f.chunk_count, ct, h, next);
  b.Finish(root, wire::EvidenceChunkIdentifier());
  return Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

Result<ChunkFrame> DecodeChunk(ByteView frame) {
  if (frame.size() > kMaxChunkFrameSize)
    return Malformed("frame of " + std::to_string(frame.size()) + " bytes exceeds " +
                     std::to_string(kMaxChunkFrameSize));
  if (frame.size() < 8 || !fb::BufferHasIdentifier(frame.data(), wire::EvidenceChunkIdentifier()))
    return Malformed("not an EvidenceChunk frame (identifier MLEC)");
  fb::Verifier verifier(frame.data(), frame.size(), /*max_depth=*/4, /*max_tables=*/8);
  if (!wire::VerifyEvidenceChunkBuffer(verifier))
    return Malformed("EvidenceChunk fails the FlatBuffers verifier");
  const wire::EvidenceChunk* c = wire::GetEvidenceChunk(frame.data());
  ChunkFrame out;
  if (c->transfer_id() == nullptr ||
      !IsValidTransferId(std::string_view(c->transfer_id()->c_str(), c->transfer_id()->size())))
    return Malformed("transfer_id must be 32 lowercase hex characters");
  out.transfer_id = c->transfer_id()->str();
  out.chunk_index = c->chunk_index();
  out.chunk_count = c->chunk_count();
  if (out.chunk_count == 0 || out.chunk_index >= out.chunk_count)
    return Malformed("chunk_index " + std::to_string(out.chunk_index) + " not below chunk_count " +
                     std::to_string(out.chunk_count));
  const auto* ct = c->ciphertext();
  if (ct == nullptr || ct->size() < kChunkOverhead || ct->size() > kMaxChunkSize + kChunkOverhead)
    return Malformed("ciphertext must be 17 .. " + std::to_string(kMaxChunkSize + kChunkOverhead) +
                     " bytes");
  if (!CopyHash(c->ciphertext_hash(), out.ciphertext_hash))
    return Malformed("ciphertext_hash must be 32 bytes");
  if (!CopyHash(c->next_link(), out.next_link)) return Malformed("next_link must be 32 bytes");
  out.ciphertext.assign(ct->begin(), ct->end());
  if (HashCiphertext(out.ciphertext) != out.ciphertext_hash)
    return MakeError(Errc::kTamperedChunk, "chunk " + std::to_string(out.chunk_index) + " of " +
                                               out.transfer_id +
                                               " does not match its ciphertext_hash");
  return out;
}

}  // namespace mlahub::evidence
