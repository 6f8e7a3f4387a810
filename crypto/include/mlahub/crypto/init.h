// Crypto module set-up. Every entry point calls EnsureInit() itself; calling it
// early from main() just surfaces a broken libsodium before work starts.
#pragma once

#include "mlahub/core/status.h"

namespace mlahub::crypto {
Status EnsureInit();
}  // namespace mlahub::crypto
