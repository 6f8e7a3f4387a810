// Small helpers shared by the agent's source files (not part of the agents
// library's interface).
#pragma once

#include <string>

#include "mlahub/core/status.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"

namespace mlahub::agents {

// Lower-case hex of a SHA-256 digest, as stored in records and shown in the API.
inline std::string HexOf(const crypto::Digest32& d) { return crypto::ToHex(ByteView(d.data(), d.size())); }

// An error worth retrying later (the broker or the store was unavailable), as
// opposed to a refusal that retrying cannot change.
inline bool Transient(Code c) { return c == Code::kUnavailable || c == Code::kInternal || c == Code::kIoError; }

}  // namespace mlahub::agents
