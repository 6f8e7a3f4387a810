// CURVE transport keys in ZeroMQ's Z85 text form (ZeroMQ RFC 32).
//
// The transport itself hands libzmq the 32 binary bytes; Z85 is for
// configuration files, logs (public keys only) and interoperability with
// tools such as `curve_keygen`. A secret key in text form is held in a
// crypto::Secret (wiped when it dies); it must never be logged.
//
// Stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "mlahub/core/bytes.h"  // before crypto/x25519.h, which uses ByteView
#include "mlahub/core/status.h"
#include "mlahub/crypto/secret.h"
#include "mlahub/crypto/x25519.h"

namespace mlahub::transport {

// A 32-byte key is 40 Z85 characters.
inline constexpr size_t kZ85KeySize = 40;

// Z85 text of a CURVE secret key: 40 characters and a terminating NUL.
using Z85Secret = crypto::Secret<kZ85KeySize + 1>;

std::string Z85EncodePublicKey(const crypto::X25519PublicKey& key);
// kInvalidArgument unless `text` is exactly 40 Z85 characters.
Result<crypto::X25519PublicKey> Z85DecodePublicKey(std::string_view text);

Z85Secret Z85EncodeSecretKey(const crypto::Secret<crypto::kX25519KeySize>& key);
// kInvalidArgument unless `text` is exactly 40 Z85 characters. The caller
// owns (and should wipe) `text`.
Result<crypto::Secret<crypto::kX25519KeySize>> Z85DecodeSecretKey(std::string_view text);

}  // namespace mlahub::transport
