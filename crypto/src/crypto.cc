// The only translation unit family in mlahub that includes <sodium.h>.
#include <sodium.h>

#include <mutex>

#include "mlahub/crypto/aead.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/init.h"
#include "mlahub/crypto/kdf.h"
#include "mlahub/crypto/random.h"
#include "mlahub/crypto/secret.h"
#include "mlahub/crypto/sign.h"
#include "mlahub/crypto/x25519.h"

namespace mlahub::crypto {

static_assert(sizeof(crypto_hash_sha256_state) <= 128);
static_assert(sizeof(crypto_generichash_state) <= 384);
static_assert(crypto_sign_PUBLICKEYBYTES == kSignPublicKeySize);
static_assert(crypto_sign_SECRETKEYBYTES == kSignSecretKeySize);
static_assert(crypto_sign_BYTES == kSignatureSize);
static_assert(crypto_scalarmult_BYTES == kX25519KeySize);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kAeadKeySize);
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kAeadNonceSize);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kAeadTagSize);
static_assert(crypto_pwhash_SALTBYTES == kPwSaltSize);

namespace {
void InitOrDie() {
  static std::once_flag once;
  std::call_once(once, [] { MLAHUB_CHECK_MSG(sodium_init() >= 0, "libsodium failed to initialise"); });
}
}  // namespace

Status EnsureInit() {
  InitOrDie();
  return Status::Ok();
}

void Wipe(void* p, size_t n) { sodium_memzero(p, n); }
bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t n) {
  return sodium_memcmp(a, b, n) == 0;
}

// ---- random ----
void RandomBytes(uint8_t* out, size_t n) {
  InitOrDie();
  randombytes_buf(out, n);
}
Bytes RandomBytes(size_t n) {
  Bytes b(n);
  RandomBytes(b.data(), n);
  return b;
}
std::string NewMessageIdText() {
  uint8_t id[16];
  RandomBytes(id, sizeof id);
  return ToHex(ByteView(id, sizeof id));
}

// ---- hashes ----
Digest32 Sha256(ByteView data) {
  Digest32 out;
  crypto_hash_sha256(out.data(), data.data(), data.size());
  return out;
}
Digest32 Blake2b256(ByteView data) {
  Digest32 out;
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
  return out;
}

uint64_t ShortHash(const ShortHashKey& key, ByteView data) {
  static_assert(crypto_shorthash_KEYBYTES == kShortHashKeySize && crypto_shorthash_BYTES == 8);
  unsigned char out[8];
  crypto_shorthash(out, data.data(), data.size(), key.data());
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | out[i];  // little-endian, as SipHash defines it
  return v;
}

Sha256Stream::Sha256Stream() {
  crypto_hash_sha256_init(reinterpret_cast<crypto_hash_sha256_state*>(state_));
}
void Sha256Stream::Update(ByteView data) {
  crypto_hash_sha256_update(reinterpret_cast<crypto_hash_sha256_state*>(state_), data.data(),
                            data.size());
}
Digest32 Sha256Stream::Final() {
  Digest32 out;
  crypto_hash_sha256_final(reinterpret_cast<crypto_hash_sha256_state*>(state_), out.data());
  return out;
}
Blake2bStream::Blake2bStream() {
  crypto_generichash_init(reinterpret_cast<crypto_generichash_state*>(state_), nullptr, 0, 32);
}
void Blake2bStream::Update(ByteView data) {
  crypto_generichash_update(reinterpret_cast<crypto_generichash_state*>(state_), data.data(),
                            data.size());
}
Digest32 Blake2bStream::Final() {
  Digest32 out;
  crypto_generichash_final(reinterpret_cast<crypto_generichash_state*>(state_), out.data(), 32);
  return out;
}

// ---- Ed25519 ----
SigningKey SigningKey::Generate() {
  InitOrDie();
  SigningKey k;
  crypto_sign_keypair(k.pk_.data(), k.sk_.data());
  return k;
}
SigningKey SigningKey::FromSeed(const Secret<kSignSeedSize>& seed) {
  InitOrDie();
  SigningKey k;
  crypto_sign_seed_keypair(k.pk_.data(), k.sk_.data(), seed.data());
  return k;
}
Result<SigningKey> SigningKey::FromBytes(ByteView sk64) {
  if (sk64.size() != kSignSecretKeySize) return Status::Malformed("Ed25519 secret key must be 64 bytes");
  Secret<kSignSeedSize> seed;
  std::copy(sk64.begin(), sk64.begin() + kSignSeedSize, seed.data());
  SigningKey k = FromSeed(seed);
  if (!ConstantTimeEqual(k.pk_.data(), sk64.data() + kSignSeedSize, kSignPublicKeySize))
    return Status::Corruption("Ed25519 secret key's public half does not match its seed");
  return k;
}
Signature SigningKey::Sign(ByteView message) const {
  Signature sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), sk_.data());
  return sig;
}
bool Verify(const SignPublicKey& pk, ByteView message, ByteView signature) {
  if (signature.size() != kSignatureSize) return false;
  InitOrDie();
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(), pk.data()) == 0;
}
Result<SignPublicKey> SignPublicKeyFromBytes(ByteView b) {
  if (b.size() != kSignPublicKeySize) return Status::Malformed("Ed25519 public key must be 32 bytes");
  SignPublicKey pk;
  std::copy(b.begin(), b.end(), pk.begin());
  return pk;
}

// ---- X25519 ----
X25519KeyPair X25519KeyPair::Generate() {
  InitOrDie();
  X25519KeyPair kp;
  crypto_box_keypair(kp.pk_.data(), kp.sk_.data());
  return kp;
}
X25519KeyPair X25519KeyPair::FromSecret(Secret<kX25519KeySize> sk) {
  InitOrDie();
  X25519KeyPair kp;
  kp.sk_ = std::move(sk);
  crypto_scalarmult_base(kp.pk_.data(), kp.sk_.data());
  return kp;
}
Result<Secret<kX25519KeySize>> X25519KeyPair::Agree(const X25519PublicKey& peer) const {
  Secret<kX25519KeySize> shared;
  if (crypto_scalarmult(shared.data(), sk_.data(), peer.data()) != 0)
    return Status::InvalidArgument("X25519 public key is a low-order point");
  return shared;
}
Result<X25519PublicKey> X25519PublicKeyFromBytes(ByteView b) {
  if (b.size() != kX25519KeySize) return Status::Malformed("X25519 public key must be 32 bytes");
  X25519PublicKey pk;
  std::copy(b.begin(), b.end(), pk.begin());
  return pk;
}

// ---- AEAD ----
Bytes AeadEncrypt(const AeadKey& key, const AeadNonce& nonce, ByteView pt, ByteView aad) {
  Bytes out(pt.size() + kAeadTagSize);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &clen, pt.data(), pt.size(), aad.data(),
                                             aad.size(), nullptr, nonce.data(), key.data());
  out.resize(clen);
  return out;
}
bool AeadDecrypt(const AeadKey& key, const AeadNonce& nonce, ByteView ct, ByteView aad, Bytes& out) {
  if (ct.size() < kAeadTagSize) return false;
  out.resize(ct.size() - kAeadTagSize);
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &mlen, nullptr, ct.data(), ct.size(),
                                                 aad.data(), aad.size(), nonce.data(),
                                                 key.data()) != 0) {
    sodium_memzero(out.data(), out.size());
    out.clear();
    return false;
  }
  out.resize(mlen);
  return true;
}

void AeadEncryptInPlace(const AeadKey& key, const AeadNonce& nonce, uint8_t* buf, size_t plaintext_len,
                        ByteView aad) {
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(buf, &clen, buf, plaintext_len, aad.data(), aad.size(), nullptr,
                                             nonce.data(), key.data());
}
bool AeadDecryptInPlace(const AeadKey& key, const AeadNonce& nonce, uint8_t* buf, size_t len, ByteView aad) {
  if (len < kAeadTagSize) return false;
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, &mlen, nullptr, buf, len, aad.data(), aad.size(),
                                                 nonce.data(), key.data()) != 0) {
    sodium_memzero(buf, len);
    return false;
  }
  return true;
}

// ---- KDF ----
Secret<32> DeriveKey(std::string_view label, std::initializer_list<ByteView> parts) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(label.data()), label.size());
  for (ByteView p : parts) crypto_generichash_update(&st, p.data(), p.size());
  Secret<32> out;
  crypto_generichash_final(&st, out.data(), 32);
  sodium_memzero(&st, sizeof st);
  return out;
}
PwHashParams PwHashParams::Interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}
PwHashParams PwHashParams::Moderate() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}
Result<Secret<32>> PassphraseKey(std::string_view pass, ByteView salt, PwHashParams p) {
  InitOrDie();
  if (salt.size() != kPwSaltSize) return Status::Malformed("Argon2id salt must be 16 bytes");
  if (p.ops_limit < crypto_pwhash_OPSLIMIT_MIN || p.ops_limit > crypto_pwhash_OPSLIMIT_MAX ||
      p.mem_limit < crypto_pwhash_MEMLIMIT_MIN || p.mem_limit > (size_t{4} << 30))
    return Status::Malformed("Argon2id parameters out of range");
  Secret<32> key;
  if (crypto_pwhash(key.data(), 32, pass.data(), pass.size(), salt.data(), p.ops_limit,
                    static_cast<size_t>(p.mem_limit), crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Status::Unavailable("Argon2id ran out of memory");
  return key;
}

// ---- encodings ----
std::string ToHex(ByteView b) {
  std::string out(b.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), b.data(), b.size());
  out.pop_back();
  return out;
}
Result<Bytes> FromHex(std::string_view s) {
  if (s.size() % 2 != 0) return Status::Malformed("hex string has odd length");
  if (s.empty()) return Bytes{};
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return Status::Malformed("hex string must be lowercase 0-9a-f");
  Bytes out(s.size() / 2);
  size_t len = 0;
  if (sodium_hex2bin(out.data(), out.size(), s.data(), s.size(), nullptr, &len, nullptr) != 0 ||
      len != out.size())
    return Status::Malformed("invalid hex string");
  return out;
}
std::string ToBase64(ByteView b) {
  InitOrDie();
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(b.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), b.data(), b.size(), variant);
  out.pop_back();
  return out;
}
Result<Bytes> FromBase64(std::string_view s) {
  InitOrDie();
  Bytes out(s.size() / 4 * 3 + 3);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), s.data(), s.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != s.data() + s.size())
    return Status::Malformed("invalid base64 (expected standard alphabet with padding)");
  out.resize(len);
  // Canonical form only: re-encoding must give the same text.
  if (ToBase64(out) != s) return Status::Malformed("non-canonical base64");
  return out;
}

}  // namespace mlahub::crypto
