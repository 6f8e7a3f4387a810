// Key derivation.
//  - DeriveKey: BLAKE2b-256 over a context label and inputs (unkeyed
//    crypto_generichash of label || parts...), for keys from fresh X25519
//    shared secrets; see docs/PROTOCOL.md for the exact byte string.
//  - PassphraseKey: Argon2id (crypto_pwhash, ALG_ARGON2ID13) for key files.
#pragma once

#include <initializer_list>
#include <string_view>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/secret.h"

namespace mlahub::crypto {

Secret<32> DeriveKey(std::string_view label, std::initializer_list<ByteView> parts);

inline constexpr size_t kPwSaltSize = 16;
struct PwHashParams {
  uint64_t ops_limit;
  uint64_t mem_limit;
  static PwHashParams Interactive();  // libsodium's INTERACTIVE limits
  static PwHashParams Moderate();     // libsodium's MODERATE limits (key files)
};
Result<Secret<32>> PassphraseKey(std::string_view passphrase, ByteView salt, PwHashParams p);

}  // namespace mlahub::crypto
