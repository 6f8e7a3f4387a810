// crypto_secretstream_xchacha20poly1305 behind mlahub::crypto (secretstream.h),
// and the SHA-256 state save/restore that resumable evidence streams use.
#include "mlahub/crypto/secretstream.h"

#include <sodium.h>

#include <cstring>

#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/init.h"
#include "mlahub/crypto/random.h"

namespace mlahub::crypto {

static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == kSecretStreamKeySize);
static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == kSecretStreamHeaderSize);
static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == kSecretStreamOverhead);
static_assert(sizeof(crypto_secretstream_xchacha20poly1305_state) == kSecretStreamStateSize);
static_assert(crypto_secretstream_xchacha20poly1305_TAG_MESSAGE == 0);
static_assert(crypto_secretstream_xchacha20poly1305_TAG_FINAL == 3);

namespace {
using SodiumState = crypto_secretstream_xchacha20poly1305_state;
// The state lives in a Secret<52> (wiped on destruction); libsodium's struct
// has only byte arrays, so any alignment is fine.
static_assert(alignof(SodiumState) == 1);
SodiumState* AsState(SecretStreamState& s) { return reinterpret_cast<SodiumState*>(s.data()); }
SecretStreamState CopyState(const SecretStreamState& s) {
  SecretStreamState out;
  std::memcpy(out.data(), s.data(), kSecretStreamStateSize);
  return out;
}
}  // namespace

SecretStreamKey NewSecretStreamKey() {
  MLAHUB_CHECK(EnsureInit().ok());
  SecretStreamKey k;
  crypto_secretstream_xchacha20poly1305_keygen(k.data());
  return k;
}

Result<SecretStreamKey> SecretStreamKeyFromBytes(ByteView b) {
  if (b.size() != kSecretStreamKeySize)
    return Status::Malformed("secret stream key must be 32 bytes");
  SecretStreamKey k;
  std::memcpy(k.data(), b.data(), kSecretStreamKeySize);
  return k;
}

SecretStreamPush SecretStreamPush::Start(const SecretStreamKey& key, SecretStreamHeader& header) {
  MLAHUB_CHECK(EnsureInit().ok());
  SecretStreamPush p;
  crypto_secretstream_xchacha20poly1305_init_push(AsState(p.state_), header.data(), key.data());
  return p;
}

SecretStreamPush SecretStreamPush::Resume(const SecretStreamState& state) {
  SecretStreamPush p;
  p.state_ = CopyState(state);
  return p;
}

void SecretStreamPush::Push(ByteView plaintext, ByteView ad, StreamTag tag, uint8_t* out) {
  MLAHUB_CHECK(tag == StreamTag::kMessage || tag == StreamTag::kFinal);
  unsigned long long clen = 0;
  int rc = crypto_secretstream_xchacha20poly1305_push(AsState(state_), out, &clen, plaintext.data(),
                                                      plaintext.size(), ad.data(), ad.size(),
                                                      static_cast<unsigned char>(tag));
  MLAHUB_CHECK(rc == 0 && clen == plaintext.size() + kSecretStreamOverhead);
}

Bytes SecretStreamPush::Push(ByteView plaintext, ByteView ad, StreamTag tag) {
  Bytes out(plaintext.size() + kSecretStreamOverhead);
  Push(plaintext, ad, tag, out.data());
  return out;
}

SecretStreamState SecretStreamPush::Export() const { return CopyState(state_); }

Result<SecretStreamPull> SecretStreamPull::Start(const SecretStreamKey& key,
                                                 const SecretStreamHeader& header) {
  MLAHUB_CHECK(EnsureInit().ok());
  SecretStreamPull p;
  if (crypto_secretstream_xchacha20poly1305_init_pull(AsState(p.state_), header.data(),
                                                      key.data()) != 0)
    return Status::Malformed("secret stream header refused");
  return p;
}

SecretStreamPull SecretStreamPull::Resume(const SecretStreamState& state) {
  SecretStreamPull p;
  p.state_ = CopyState(state);
  return p;
}

Status SecretStreamPull::Pull(ByteView ciphertext, ByteView ad, uint8_t* out, StreamTag* tag) {
  if (ciphertext.size() < kSecretStreamOverhead)
    return Status::Malformed("secret stream message shorter than its 17-byte overhead");
  const size_t mlen_expected = ciphertext.size() - kSecretStreamOverhead;
  // libsodium leaves the state alone when the MAC fails, but we do not rely
  // on it: a refused message must never advance the stream.
  SecretStreamState before = CopyState(state_);
  unsigned long long mlen = 0;
  unsigned char t = 0;
  int rc = crypto_secretstream_xchacha20poly1305_pull(
      AsState(state_), out, &mlen, &t, ciphertext.data(), ciphertext.size(), ad.data(), ad.size());
  if (rc != 0 || mlen != mlen_expected ||
      (t != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE &&
       t != crypto_secretstream_xchacha20poly1305_TAG_FINAL)) {
    state_ = std::move(before);
    if (mlen_expected > 0) sodium_memzero(out, mlen_expected);
    return Status::TamperedCiphertext(
        rc != 0 ? "secret stream message fails authentication (altered, or not the next one)"
                : "secret stream message carries a tag this reader does not use");
  }
  *tag = static_cast<StreamTag>(t);
  return Status::Ok();
}

SecretStreamState SecretStreamPull::Export() const { return CopyState(state_); }

// ---- Sha256Stream save/restore (declared in hash.h) ----
Bytes Sha256Stream::SaveState() const {
  const auto* p = reinterpret_cast<const uint8_t*>(state_);
  return Bytes(p, p + sizeof(crypto_hash_sha256_state));
}

bool Sha256Stream::RestoreState(ByteView saved) {
  if (saved.size() != sizeof(crypto_hash_sha256_state)) return false;
  std::memcpy(state_, saved.data(), saved.size());
  return true;
}

}  // namespace mlahub::crypto
