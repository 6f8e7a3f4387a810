#include "mlahub/core/ids.h"

namespace mlahub {

Result<NodeId> NodeId::Parse(std::string_view t) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument("node id '" + std::string(t) + "' " + why +
                                   " (expected CC-AUTH, e.g. IT-MOJ: ISO 3166-1 alpha-2 code, "
                                   "'-', 2-16 of A-Z 0-9)");
  };
  if (t.size() < 5 || t.size() > 19) return bad("has the wrong length");
  if (!(t[0] >= 'A' && t[0] <= 'Z' && t[1] >= 'A' && t[1] <= 'Z')) return bad("does not start with a country code");
  if (t[2] != '-') return bad("has no '-' after the country code");
  for (char c : t.substr(3)) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return bad("has an invalid character");
  }
  return NodeId(std::string(t));
}

Result<MessageId> MessageId::Parse(std::string_view t) {
  if (t.size() != 32) return Status::InvalidArgument("message id must be 32 lowercase hex characters");
  for (char c : t) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return Status::InvalidArgument("message id must be 32 lowercase hex characters");
  }
  return MessageId(std::string(t));
}

}  // namespace mlahub
