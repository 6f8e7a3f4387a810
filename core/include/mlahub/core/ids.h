// Strong identifier types: node ids and message ids.
//
// NodeId: ISO 3166-1 alpha-2 country code, '-', authority code of 2-16
// characters [A-Z0-9] (e.g. "IT-MOJ", "NG-AGF"). The hub and the network
// operator use the same form ("XX-HUB", "XX-OPS" by default).
// MessageId: 16 random bytes written as 32 lowercase hex characters.
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "mlahub/core/status.h"

namespace mlahub {

class NodeId {
 public:
  NodeId() = default;
  static Result<NodeId> Parse(std::string_view text);
  const std::string& str() const { return value_; }
  std::string_view country() const { return std::string_view(value_).substr(0, 2); }
  bool empty() const { return value_.empty(); }
  auto operator<=>(const NodeId&) const = default;

 private:
  explicit NodeId(std::string v) : value_(std::move(v)) {}
  std::string value_;
};

class MessageId {
 public:
  MessageId() = default;
  static Result<MessageId> Parse(std::string_view text);
  const std::string& str() const { return value_; }
  bool empty() const { return value_.empty(); }
  auto operator<=>(const MessageId&) const = default;

 private:
  explicit MessageId(std::string v) : value_(std::move(v)) {}
  std::string value_;
};

}  // namespace mlahub
