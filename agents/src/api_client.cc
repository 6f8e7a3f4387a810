#include "mlahub/agents/api_client.h"

#include <httplib.h>

#include "mlahub/agents/agent.h"
#include "mlahub/config/config.h"
#include "mlahub/core/file.h"

namespace mlahub::agents {

using nlohmann::json;

ApiClient::ApiClient(std::string host, uint16_t port, std::string token)
    : host_(std::move(host)), port_(port), token_(std::move(token)) {}

Result<ApiClient> ApiClient::FromConfigFile(const std::string& config_path) {
  auto cfg = config::LoadAgentConfig(config_path);
  if (!cfg.ok()) return cfg.status();
  MLAHUB_ASSIGN_OR_RETURN(ApiEndpoint ep, ApiEndpointFor(*cfg));
  if (!FileExists(ep.token_file))
    return Status::NotFound("the agent's API token " + ep.token_file + " does not exist (the agent creates it at start)");
  auto b = ReadFile(ep.token_file, 4096);
  if (!b.ok()) return b.status().Annotate("API token " + ep.token_file);
  std::string token(b->begin(), b->end());
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  return ApiClient(ep.host, ep.port, token);
}

namespace {

Result<json> Interpret(const httplib::Result& res, const std::string& host, uint16_t port) {
  if (!res) {
    return Status::Unavailable("cannot reach the agent API at " + host + ":" + std::to_string(port) + " (" +
                               httplib::to_string(res.error()) + "); is mlahub-agent running?");
  }
  json j = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (res->status >= 200 && res->status < 300) {
    if (j.is_discarded()) return Status::Malformed("the agent API answered with something that is not JSON");
    return j;
  }
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    std::string msg = j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>() : "";
    return Status(CodeFromName(j["error"].get<std::string>()), msg);
  }
  return Status::Internal("the agent API answered HTTP " + std::to_string(res->status));
}

httplib::Client MakeClient(const std::string& host, uint16_t port, const std::string& token,
                           std::chrono::seconds read_timeout) {
  httplib::Client c(host, port);
  c.set_connection_timeout(std::chrono::seconds(5));
  c.set_read_timeout(read_timeout);
  c.set_write_timeout(std::chrono::seconds(60));
  c.set_bearer_token_auth(token);
  return c;
}

}  // namespace

Result<json> ApiClient::Get(const std::string& path) const {
  httplib::Client c = MakeClient(host_, port_, token_, read_timeout_);
  return Interpret(c.Get(path), host_, port_);
}

Result<json> ApiClient::PostJson(const std::string& path, const json& body) const {
  httplib::Client c = MakeClient(host_, port_, token_, read_timeout_);
  return Interpret(c.Post(path, body.dump(), "application/json"), host_, port_);
}

Result<json> ApiClient::PostBytes(const std::string& path, ByteView body) const {
  httplib::Client c = MakeClient(host_, port_, token_, read_timeout_);
  return Interpret(c.Post(path, reinterpret_cast<const char*>(body.data()), body.size(), "application/octet-stream"),
                   host_, port_);
}

}  // namespace mlahub::agents
