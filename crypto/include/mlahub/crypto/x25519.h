// X25519 key agreement (libsodium crypto_scalarmult / crypto_box_keypair).
// Used for payload encryption to a recipient and for CURVE transport keys.
#pragma once

#include <array>
#include <cstdint>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/secret.h"

namespace mlahub::crypto {

inline constexpr size_t kX25519KeySize = 32;
using X25519PublicKey = std::array<uint8_t, kX25519KeySize>;

class X25519KeyPair {
 public:
  static X25519KeyPair Generate();
  static X25519KeyPair FromSecret(Secret<kX25519KeySize> sk);
  const X25519PublicKey& public_key() const { return pk_; }
  const Secret<kX25519KeySize>& secret() const { return sk_; }
  // Shared secret with a peer public key; kInvalidArgument for a low-order
  // point (all-zero result), which an honest peer never sends.
  Result<Secret<kX25519KeySize>> Agree(const X25519PublicKey& peer) const;

 private:
  Secret<kX25519KeySize> sk_;
  X25519PublicKey pk_{};
};

Result<X25519PublicKey> X25519PublicKeyFromBytes(ByteView b);

}  // namespace mlahub::crypto
