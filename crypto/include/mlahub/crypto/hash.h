// Hash functions: SHA-256 (Merkle tree, envelope hashes, C2SP key ids) and
// BLAKE2b-256 (ciphertext digests, key derivation). Thread-safe, stateless
// except Sha256Stream, which one thread owns at a time.
#pragma once

#include <array>
#include <cstdint>

#include "mlahub/core/bytes.h"

namespace mlahub::crypto {

inline constexpr size_t kSha256Size = 32;
inline constexpr size_t kBlake2b256Size = 32;
using Digest32 = std::array<uint8_t, 32>;

Digest32 Sha256(ByteView data);
Digest32 Blake2b256(ByteView data);

// Keyed 64-bit hash (libsodium crypto_shorthash, SipHash-2-4) for hash tables
// and multiset digests over data an attacker may choose; not a MAC.
inline constexpr size_t kShortHashKeySize = 16;
using ShortHashKey = std::array<uint8_t, kShortHashKeySize>;
uint64_t ShortHash(const ShortHashKey& key, ByteView data);

class Sha256Stream {
 public:
  Sha256Stream();
  void Update(ByteView data);
  void Update(uint8_t byte) { Update(ByteView(&byte, 1)); }
  Digest32 Final();

  // Resumable hashing (evidence streams hash files across restarts): the
  // state as opaque bytes, to be restored only by the same build. It
  // summarises the data hashed so far; keep it as private as that data.
  Bytes SaveState() const;
  // false (state unchanged) if `saved` does not have the size SaveState gives.
  [[nodiscard]] bool RestoreState(ByteView saved);

 private:
  alignas(16) unsigned char state_[128];
};

class Blake2bStream {
 public:
  Blake2bStream();
  void Update(ByteView data);
  Digest32 Final();

 private:
  alignas(64) unsigned char state_[384];
};

}  // namespace mlahub::crypto
