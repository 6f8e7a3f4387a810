#include "api.h"

#include <httplib.h>

#include <filesystem>

#include "mlahub/config/config.h"
#include "mlahub/core/file.h"

namespace mlahub::sim {

namespace {

using nlohmann::json;

Result<json> Interpret(const httplib::Result& res) {
  if (!res) return Status::Unavailable("agent API unreachable (" + httplib::to_string(res.error()) + ")");
  json j = json::parse(res->body, nullptr, false);
  if (res->status >= 200 && res->status < 300) {
    if (j.is_discarded()) return Status::Malformed("the agent API answered with something that is not JSON");
    return j;
  }
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    std::string msg = j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>() : "";
    Code code = CodeFromName(j["error"].get<std::string>());
    // A refusal whose name this client does not know is still a refusal, not a fault.
    if (code == Code::kInternal && res->status < 500) code = Code::kInvalidArgument;
    return Status(code, "HTTP " + std::to_string(res->status) + " " + j["error"].get<std::string>() + ": " + msg);
  }
  return Status::Internal("the agent API answered HTTP " + std::to_string(res->status));
}

}  // namespace

Result<AgentApi> AgentApi::FromConfigFile(const std::string& config_path) {
  MLAHUB_ASSIGN_OR_RETURN(config::AgentConfig c, config::LoadAgentConfig(config_path));
  AgentApi a;
  auto colon = c.api_listen.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("[api] listen has no port: " + c.api_listen);
  a.host_ = c.api_listen.substr(0, colon);
  a.port_ = static_cast<uint16_t>(std::stoi(c.api_listen.substr(colon + 1)));
  std::filesystem::path base = std::filesystem::path(config_path).parent_path();
  std::string token_file = c.api_token_file.empty() ? c.data + "/api.token" : c.api_token_file;
  if (std::filesystem::path(token_file).is_relative()) token_file = (base / token_file).string();
  MLAHUB_ASSIGN_OR_RETURN(Bytes b, ReadFile(token_file, 4096));
  a.token_.assign(b.begin(), b.end());
  while (!a.token_.empty() && (a.token_.back() == '\n' || a.token_.back() == '\r' || a.token_.back() == ' '))
    a.token_.pop_back();
  return a;
}

Result<json> AgentApi::Get(const std::string& path) const {
  httplib::Client c(host_, port_);
  c.set_connection_timeout(std::chrono::seconds(5));
  c.set_read_timeout(std::chrono::seconds(60));
  c.set_bearer_token_auth(token_);
  return Interpret(c.Get(path));
}

Result<json> AgentApi::PostJson(const std::string& path, const json& body) const {
  httplib::Client c(host_, port_);
  c.set_connection_timeout(std::chrono::seconds(5));
  c.set_read_timeout(std::chrono::seconds(60));
  c.set_write_timeout(std::chrono::seconds(60));
  c.set_bearer_token_auth(token_);
  return Interpret(c.Post(path, body.dump(), "application/json"));
}

}  // namespace mlahub::sim
