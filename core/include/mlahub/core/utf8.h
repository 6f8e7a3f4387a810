// UTF-8 as RFC 3629 defines it: the check every string read from the wire
// passes before it is used, so that a string of arbitrary bytes is refused
// where it arrives (`malformed`) instead of failing later, far away, in a
// JSON encoder or a log line.
#pragma once

#include <string_view>

namespace mlahub {

// True if `text` is well-formed UTF-8: no overlong forms, no surrogates
// (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence. The
// empty string is valid; NUL bytes are valid (U+0000).
bool IsValidUtf8(std::string_view text);

}  // namespace mlahub
