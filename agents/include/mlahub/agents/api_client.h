// A client of the agent's local API (api.h), for the `mlahub` commands and
// tests: finds the address and token from the agent's config file, sends
// authenticated requests and turns the API's JSON errors back into Status
// values with the same code names.
//
// Thread-safety: one ApiClient per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"

namespace mlahub::agents {

class ApiClient {
 public:
  ApiClient(std::string host, uint16_t port, std::string token);
  // From the agent's configuration file (what `mlahub --agent` takes): the
  // API address ([api] api_listen, or <data>/ready.json when the port is
  // chosen at start) and the token ([api] api_token_file).
  static Result<ApiClient> FromConfigFile(const std::string& config_path);

  Result<nlohmann::json> Get(const std::string& path_and_query) const;
  Result<nlohmann::json> PostJson(const std::string& path, const nlohmann::json& body) const;
  Result<nlohmann::json> PostBytes(const std::string& path, ByteView body) const;

  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  // How long a call waits for the agent's answer (default 60 s). Spooling
  // large evidence files (POST /v1/evidence) takes longer: `mlahub send
  // --evidence` sets it from the files' size.
  void set_read_timeout(std::chrono::seconds t) { read_timeout_ = t; }

 private:
  std::string host_;
  uint16_t port_ = 0;
  std::string token_;
  std::chrono::seconds read_timeout_{60};
};

}  // namespace mlahub::agents
