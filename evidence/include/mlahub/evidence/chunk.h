// Evidence chunk frames (schemas/evidence.fbs, identifier "MLEC") and the
// hash chain that commits to a stream's ciphertext chunks.
//
// DecodeChunk runs the FlatBuffers verifier before reading anything, checks
// every size (transfer id 32 lowercase hex, 1 <= count, index < count,
// 17 <= ciphertext <= kMaxChunkSize + 17, hashes 32 bytes) and that
// ciphertext_hash is the BLAKE2b-256 of the ciphertext; it copies what it
// reads. A frame that passes is well formed and undamaged, not yet
// authentic: the Assembler checks the chain link and the MAC.
//
// Frame size: kMaxChunkFrameSize bounds a frame for the largest chunk size.
// With the default 256 KiB chunk a frame is 256 KiB + 17 + at most
// kChunkFrameOverhead bytes. Stateless and thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"

namespace mlahub::evidence {

inline constexpr size_t kDefaultChunkSize = 256 * 1024;
inline constexpr size_t kMinChunkSize = 1024;
inline constexpr size_t kMaxChunkSize = 4 * 1024 * 1024;
// Secret stream expansion per chunk (tag byte + MAC).
inline constexpr size_t kChunkOverhead = 17;
// FlatBuffers framing, the transfer id, the two hashes and the integers fit
// in far less; the margin keeps the bound simple.
inline constexpr size_t kChunkFrameOverhead = 1024;
inline constexpr size_t kMaxChunkFrameSize = kMaxChunkSize + kChunkOverhead + kChunkFrameOverhead;
inline constexpr size_t kLinkSize = 32;
inline constexpr size_t kTransferIdSize = 32;  // hex characters

using Link = std::array<uint8_t, kLinkSize>;

struct ChunkFrame {
  std::string transfer_id;
  uint64_t chunk_index = 0;
  uint64_t chunk_count = 0;
  Bytes ciphertext;
  Link ciphertext_hash{};
  Link next_link{};
  bool operator==(const ChunkFrame&) const = default;
};

Bytes EncodeChunk(const ChunkFrame& frame);
// kMalformed (Errc kMalformedChunk) for anything that is not a well-formed
// frame; kTamperedCiphertext (kTamperedChunk) if ciphertext_hash does not
// match the ciphertext.
Result<ChunkFrame> DecodeChunk(ByteView frame);

// True for 32 lowercase hex characters (the only transfer ids accepted; they
// also name directories, so nothing else may pass).
bool IsValidTransferId(std::string_view id);
std::string NewTransferId();

// BLAKE2b-256 of a ciphertext chunk.
Link HashCiphertext(ByteView ciphertext);
// L(i) = BLAKE2b-256("mlahub-evidence-chain-v1" || u64le(i) ||
// ciphertext_hash || next_link); L(count) is all zero; L(0) = chunks_root.
Link ChainLink(uint64_t index, const Link& ciphertext_hash, const Link& next_link);
// Associated data of chunk i in the secret stream: u64le(i).
std::array<uint8_t, 8> ChunkAd(uint64_t index);

// Geometry of a stream of `size` plaintext bytes in chunks of `chunk_size`.
uint64_t ChunkCountFor(uint64_t size, uint32_t chunk_size);
// Plaintext length of chunk `index`.
uint64_t PlainLengthOf(uint64_t size, uint32_t chunk_size, uint64_t index);

}  // namespace mlahub::evidence
