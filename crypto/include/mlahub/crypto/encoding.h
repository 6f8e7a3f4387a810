// Text encodings of bytes: lowercase hex and standard base64 with padding
// (RFC 4648 section 4), as used by C2SP notes and RFC 9162 tooling. Decoders
// reject anything but the canonical form.
#pragma once

#include <string>
#include <string_view>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"

namespace mlahub::crypto {

std::string ToHex(ByteView b);
Result<Bytes> FromHex(std::string_view s);
std::string ToBase64(ByteView b);
Result<Bytes> FromBase64(std::string_view s);

}  // namespace mlahub::crypto
