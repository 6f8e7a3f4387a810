// A small client of an agent's local API (agents/README.md "Local API") for
// the live engine: bearer token from the agent's token file, JSON in and
// out, the API's {"error","message"} turned back into a Status with the same
// code. The simulator keeps its own copy (instead of linking the agents
// library) so that it depends only on the API, as any operator's script would.
// Not thread-safe; one per agent on the driver thread.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "mlahub/core/status.h"

namespace mlahub::sim {

class AgentApi {
 public:
  // From the agent's config file: [api] listen and token_file (default <data>/api.token).
  static Result<AgentApi> FromConfigFile(const std::string& config_path);

  Result<nlohmann::json> Get(const std::string& path_and_query) const;
  Result<nlohmann::json> PostJson(const std::string& path, const nlohmann::json& body) const;

 private:
  std::string host_;
  uint16_t port_ = 0;
  std::string token_;
};

}  // namespace mlahub::sim
