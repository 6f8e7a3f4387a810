// Small helpers shared by the agent's source files (not part of the agents
// library's interface).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mlahub/core/status.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"

namespace mlahub::agents {

// Lower-case hex of a SHA-256 digest, as stored in records and shown in the API.
inline std::string HexOf(const crypto::Digest32& d) { return crypto::ToHex(ByteView(d.data(), d.size())); }

// An error worth retrying later (the broker or the store was unavailable), as
// opposed to a refusal that retrying cannot change.
inline bool Transient(Code c) { return c == Code::kUnavailable || c == Code::kInternal || c == Code::kIoError; }

// A record's JSON as stored. Text from outside (a hub's refusal message, a
// checkpoint's origin in an alarm) is checked for UTF-8 where it is decoded;
// should any other byte string still reach a record, it is stored with
// U+FFFD in place of the bad bytes instead of throwing in the middle of a
// delivery (nlohmann's strict dump).
inline std::string StoredJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A local API request body, parsed with its nesting bounded: nlohmann parses
// without recursion, but dumping, copying and comparing recurse once per
// level, and a body of a few hundred kilobytes of brackets would overflow the
// HTTP thread's stack. Discarded (is_discarded()) if not JSON or nested
// deeper than `max_depth`; *too_deep tells which.
inline nlohmann::json ParseRequestJson(std::string_view text, bool* too_deep, int max_depth = 64) {
  bool deep = false;
  nlohmann::json j = nlohmann::json::parse(
      text,
      [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        if (depth >= max_depth) deep = true;  // depth: containers open around this event
        return !deep;  // nothing deeper is kept
      },
      /*allow_exceptions=*/false);
  if (too_deep != nullptr) *too_deep = deep;
  if (deep) return nlohmann::json(nlohmann::json::value_t::discarded);
  return j;
}

}  // namespace mlahub::agents
