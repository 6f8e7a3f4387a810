// Cryptographically secure random bytes (libsodium randombytes_buf).
#pragma once

#include <cstddef>
#include <cstdint>

#include "mlahub/core/bytes.h"

namespace mlahub::crypto {
void RandomBytes(uint8_t* out, size_t n);
Bytes RandomBytes(size_t n);
// 16 random bytes as 32 lowercase hex characters.
std::string NewMessageIdText();
}  // namespace mlahub::crypto
