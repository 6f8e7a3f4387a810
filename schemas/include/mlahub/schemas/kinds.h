// The catalogue of message kinds: every MessageKind with its names, aliases
// and legal basis, and the one parser of a kind given by a person
// (case-insensitive: "MlaRequest", "mla-request", "mla", or an alias).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mlahub/core/status.h"
#include "mlahub/schemas/common_generated.h"

namespace mlahub::schemas {

struct KindInfo {
  wire::MessageKind kind;
  std::string name;                // the MessageKind / Body member name
  std::string alias;               // short name: kebab-case without "-request"
  std::vector<std::string> names;  // every accepted spelling
  std::string legal_basis;         // the instrument it rests on, e.g. "UNTOC Art. 18"
  bool is_request;                 // 1-31 requests, 32-63 answers
};

// Every known kind, in MessageKind order.
const std::vector<KindInfo>& AllKinds();
// kInvalidArgument naming the valid kinds if `text` is none of them.
Result<KindInfo> ResolveKind(std::string_view text);
bool IsKnownKind(wire::MessageKind kind);

}  // namespace mlahub::schemas
