// Secret streams: libsodium crypto_secretstream_xchacha20poly1305, for files
// too large to seal in one piece (evidence, evidence/README.md).
//
// A stream is a sequence of authenticated, encrypted messages under one
// 32-byte key and a 24-byte header chosen by the pushing side. Each message
// is authenticated together with its position: the puller detects a message
// that is altered, dropped, repeated or moved, and the kFinal tag marks the
// last one so a truncated stream is detected too.
//
// Resume: the state of either side can be exported as a SecretStreamState
// and imported later (after a crash, from a durable record), so a stream
// continues where it stopped. The exported state contains the key: it is as
// secret as the key (move-only, wiped, never logged; seal it before storing).
// It is libsodium's own struct, valid only for the same libsodium build.
//
// Thread-safety: a SecretStreamPush/Pull is one stream's state; one thread
// at a time. The free functions are thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/secret.h"

namespace mlahub::crypto {

inline constexpr size_t kSecretStreamKeySize = 32;
inline constexpr size_t kSecretStreamHeaderSize = 24;
// Ciphertext expansion per message (1 tag byte + 16 byte MAC).
inline constexpr size_t kSecretStreamOverhead = 17;
// sizeof(crypto_secretstream_xchacha20poly1305_state) (checked in the .cc).
inline constexpr size_t kSecretStreamStateSize = 52;

using SecretStreamKey = Secret<kSecretStreamKeySize>;
using SecretStreamHeader = std::array<uint8_t, kSecretStreamHeaderSize>;
using SecretStreamState = Secret<kSecretStreamStateSize>;

// The message tags used here. libsodium's PUSH and REKEY tags are not used;
// a pulled message carrying one is refused.
enum class StreamTag : uint8_t { kMessage = 0, kFinal = 3 };

SecretStreamKey NewSecretStreamKey();
// kMalformed unless `b` is exactly 32 bytes.
Result<SecretStreamKey> SecretStreamKeyFromBytes(ByteView b);

class SecretStreamPush {
 public:
  // A new stream under `key`; writes the header the puller needs.
  static SecretStreamPush Start(const SecretStreamKey& key, SecretStreamHeader& header);
  // Continues a stream from an exported state.
  static SecretStreamPush Resume(const SecretStreamState& state);

  // Encrypts `plaintext` as the next message into `out`, which must hold
  // plaintext.size() + kSecretStreamOverhead bytes (it must not overlap the
  // plaintext). `ad` is authenticated, not encrypted (may be empty).
  void Push(ByteView plaintext, ByteView ad, StreamTag tag, uint8_t* out);
  Bytes Push(ByteView plaintext, ByteView ad, StreamTag tag);

  SecretStreamState Export() const;

 private:
  SecretStreamPush() = default;
  SecretStreamState state_;
};

class SecretStreamPull {
 public:
  // kMalformed if the header is invalid for this key (libsodium refuses it).
  static Result<SecretStreamPull> Start(const SecretStreamKey& key,
                                        const SecretStreamHeader& header);
  static SecretStreamPull Resume(const SecretStreamState& state);

  // Decrypts the next message into `out` (ciphertext.size() -
  // kSecretStreamOverhead bytes, not overlapping the ciphertext) and sets
  // *tag. On failure (kTamperedCiphertext: altered, out of place, or an
  // unknown tag; kMalformed: shorter than the overhead) the state is left
  // exactly as before the call and `out` is wiped, so the right message can
  // still be pulled next.
  [[nodiscard]] Status Pull(ByteView ciphertext, ByteView ad, uint8_t* out, StreamTag* tag);

  SecretStreamState Export() const;

 private:
  SecretStreamPull() = default;
  SecretStreamState state_;
};

}  // namespace mlahub::crypto
