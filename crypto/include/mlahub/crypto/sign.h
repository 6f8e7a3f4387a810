// Ed25519 signatures (libsodium crypto_sign_detached / verify_detached).
//
// SigningKey holds the 64-byte libsodium secret key (seed || public key); it
// is move-only and wiped on destruction. Verify is [[nodiscard]].
#pragma once

#include <array>
#include <cstdint>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/secret.h"

namespace mlahub::crypto {

inline constexpr size_t kSignPublicKeySize = 32;
inline constexpr size_t kSignSecretKeySize = 64;
inline constexpr size_t kSignSeedSize = 32;
inline constexpr size_t kSignatureSize = 64;

using SignPublicKey = std::array<uint8_t, kSignPublicKeySize>;
using Signature = std::array<uint8_t, kSignatureSize>;

class SigningKey {
 public:
  static SigningKey Generate();
  static SigningKey FromSeed(const Secret<kSignSeedSize>& seed);
  // From the 64-byte libsodium form; checks that the public half matches.
  static Result<SigningKey> FromBytes(ByteView sk64);

  Signature Sign(ByteView message) const;
  const SignPublicKey& public_key() const { return pk_; }
  const Secret<kSignSecretKeySize>& secret() const { return sk_; }

 private:
  Secret<kSignSecretKeySize> sk_;
  SignPublicKey pk_{};
};

[[nodiscard]] bool Verify(const SignPublicKey& pk, ByteView message, ByteView signature);

Result<SignPublicKey> SignPublicKeyFromBytes(ByteView b);

}  // namespace mlahub::crypto
