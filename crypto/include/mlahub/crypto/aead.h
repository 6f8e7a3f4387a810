// XChaCha20-Poly1305 (IETF) AEAD: libsodium
// crypto_aead_xchacha20poly1305_ietf_{encrypt,decrypt}.
#pragma once

#include <array>
#include <cstdint>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/secret.h"

namespace mlahub::crypto {

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 24;
inline constexpr size_t kAeadTagSize = 16;
using AeadKey = Secret<kAeadKeySize>;
using AeadNonce = std::array<uint8_t, kAeadNonceSize>;

// out = ciphertext || 16-byte tag.
Bytes AeadEncrypt(const AeadKey& key, const AeadNonce& nonce, ByteView plaintext, ByteView aad);
// Writes into `out` (resized); returns false if authentication fails.
[[nodiscard]] bool AeadDecrypt(const AeadKey& key, const AeadNonce& nonce, ByteView ciphertext,
                               ByteView aad, Bytes& out);

// In place: buf holds plaintext_len bytes of plaintext and room for the tag
// after them; on return it holds ciphertext || tag (plaintext_len + 16 bytes).
void AeadEncryptInPlace(const AeadKey& key, const AeadNonce& nonce, uint8_t* buf, size_t plaintext_len,
                        ByteView aad);
// In place: buf holds ciphertext || tag; on success the first len - 16 bytes
// are the plaintext. On failure the buffer is wiped and false returned.
[[nodiscard]] bool AeadDecryptInPlace(const AeadKey& key, const AeadNonce& nonce, uint8_t* buf, size_t len,
                                      ByteView aad);

}  // namespace mlahub::crypto
