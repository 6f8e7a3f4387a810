#include <httplib.h>
#include "internal.h"

#include <thread>

#include "mlahub/agents/api.h"
#include "mlahub/agents/cases.h"
#include "mlahub/crypto/secret.h"
#include "mlahub/ops/log.h"

namespace mlahub::agents {

using nlohmann::json;

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument:
    case Code::kMalformed:
    case Code::kUnknownKind: return 400;
    case Code::kPermissionDenied: return 401;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists:
    case Code::kDuplicate: return 409;
    case Code::kOversize: return 413;
    case Code::kUnavailable: return 503;
    case Code::kIoError:
    case Code::kCorruption:
    case Code::kInternal:
    case Code::kBadPassphrase: return 500;
    default: return static_cast<int>(code) < 100 ? 422 : 500;
  }
}

json ErrorBody(const Status& s) {
  return json{{"error", std::string(CodeName(s.code()))}, {"message", s.message()}};
}

Result<MessageRequest> ParseMessageRequest(std::string_view text) {
  bool too_deep = false;
  json j = ParseRequestJson(text, &too_deep);
  if (too_deep) return Status::InvalidArgument("the request body nests deeper than 64 levels");
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  MessageRequest r;
  auto str = [&](const char* key, std::string& out, bool required) -> Status {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) return Status::InvalidArgument(std::string("\"") + key + "\" is required");
      return Status::Ok();
    }
    if (!it->is_string()) return Status::InvalidArgument(std::string("\"") + key + "\" must be a string");
    out = it->get<std::string>();
    return Status::Ok();
  };
  MLAHUB_RETURN_IF_ERROR(str("to", r.to, true));
  MLAHUB_RETURN_IF_ERROR(str("kind", r.kind, true));
  MLAHUB_RETURN_IF_ERROR(str("case_ref", r.case_ref, false));
  MLAHUB_RETURN_IF_ERROR(str("in_reply_to", r.in_reply_to, false));
  MLAHUB_RETURN_IF_ERROR(str("legal_basis", r.legal_basis, false));
  MLAHUB_RETURN_IF_ERROR(str("priority", r.priority, false));
  MLAHUB_RETURN_IF_ERROR(str("handling", r.handling, false));
  MLAHUB_RETURN_IF_ERROR(str("message_id", r.message_id, false));
  auto body = j.find("body");
  if (body == j.end() || body->is_null()) return Status::InvalidArgument("\"body\" is required (the kind's table as JSON)");
  if (body->is_object()) {
    r.body_json = body->dump();
  } else if (body->is_string()) {
    r.body_json = body->get<std::string>();  // JSON text of the body
  } else {
    return Status::InvalidArgument("\"body\" must be a JSON object (or its text)");
  }
  auto exp = j.find("expires_ms");
  if (exp != j.end() && !exp->is_null()) {
    if (!exp->is_number_integer()) return Status::InvalidArgument("\"expires_ms\" must be an integer");
    r.expires_ms = exp->get<int64_t>();
  }
  return r;
}

struct ApiServer::Impl {
  LocalApi* api = nullptr;
  Options options;
  httplib::Server server;
  std::thread thread;
  uint16_t port = 0;

  void Reply(httplib::Response& res, const Result<json>& r, int ok_status = 200) {
    if (!r.ok()) {
      Error(res, r.status());
      return;
    }
    res.status = ok_status;
    res.set_content(StoredJson(*r), "application/json");
  }
  void Error(httplib::Response& res, const Status& s) {
    json case_body;  // a refused workflow step or an incomplete request (cases.h)
    if (int st = 0; CaseErrorBody(s, &st, &case_body)) {
      res.status = st;
      res.set_content(StoredJson(case_body), "application/json");
      return;
    }
    res.status = HttpStatusFor(s.code());
    // StoredJson: a message may quote the request (a path with "%FF" in it
    // decodes to a byte that is not UTF-8), and nlohmann's strict dump would
    // throw, here in the error handler, where nothing catches it.
    res.set_content(StoredJson(ErrorBody(s)), "application/json");
  }

  bool Authorized(const httplib::Request& req) const {
    std::string want = "Bearer " + options.token;
    std::string got = req.get_header_value("Authorization");
    if (got.size() != want.size()) return false;
    return crypto::ConstantTimeEqual(reinterpret_cast<const uint8_t*>(got.data()),
                                     reinterpret_cast<const uint8_t*>(want.data()), want.size());
  }

  static Result<uint64_t> QueryU64(const httplib::Request& req, const char* name, uint64_t dflt) {
    if (!req.has_param(name)) return dflt;
    std::string v = req.get_param_value(name);
    if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
      return Status::InvalidArgument(std::string("query parameter ") + name + " must be a non-negative integer");
    return static_cast<uint64_t>(std::stoull(v));
  }

  void Routes() {
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (Authorized(req)) return httplib::Server::HandlerResponse::Unhandled;
      res.set_header("WWW-Authenticate", "Bearer realm=\"mlahub-agent\"");
      Error(res, Status::PermissionDenied("missing or wrong bearer token (the agent's [api] token_file holds it)"));
      return httplib::Server::HandlerResponse::Handled;
    });
    server.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      Error(res, Status::Internal("the request could not be processed"));
    });
    // httplib calls the error handler outside its exception handler: an
    // exception here would end the process, so none may leave it.
    server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      try {
        if (res.status == 404) {
          Error(res, Status::NotFound("no such endpoint: " + req.method + " " + req.path));
        } else if (res.status == 413) {
          Error(res, Status::Oversize("the request body exceeds " + std::to_string(options.max_body_bytes) + " bytes"));
        } else {
          res.set_content(StoredJson(json{{"error", "invalid_argument"}, {"message", "HTTP " + std::to_string(res.status)}}),
                          "application/json");
        }
      } catch (...) {
        res.set_content(R"({"error":"internal","message":"the error could not be described"})", "application/json");
      }
    });

    server.Get("/v1/health", [this](const httplib::Request&, httplib::Response& res) {
      Reply(res, api->Health());
    });
    server.Post("/v1/messages", [this](const httplib::Request& req, httplib::Response& res) {
      auto parsed = ParseMessageRequest(req.body);
      if (!parsed.ok()) return Error(res, parsed.status());
      auto out = api->SubmitMessage(*parsed);
      if (!out.ok()) return Error(res, out.status());
      json j = {{"message_id", out->message_id}, {"duplicate", out->duplicate}, {"message", out->record}};
      Reply(res, j, out->duplicate ? 200 : 202);
    });
    server.Post("/v1/envelopes", [this](const httplib::Request& req, httplib::Response& res) {
      ByteView env(reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size());
      auto out = api->SubmitEnvelope(env);
      if (!out.ok()) return Error(res, out.status());
      json j = {{"message_id", out->message_id}, {"duplicate", out->duplicate}, {"message", out->record}};
      Reply(res, j, out->duplicate ? 200 : 202);
    });
    server.Get("/v1/messages", [this](const httplib::Request& req, httplib::Response& res) {
      std::string box = req.has_param("box") ? req.get_param_value("box") : "in";
      if (box != "in" && box != "out") return Error(res, Status::InvalidArgument("box must be \"in\" or \"out\""));
      auto after = QueryU64(req, "after", 0);
      if (!after.ok()) return Error(res, after.status());
      auto limit = QueryU64(req, "limit", 100);
      if (!limit.ok()) return Error(res, limit.status());
      if (*limit == 0 || *limit > 1000) return Error(res, Status::InvalidArgument("limit must be 1..1000"));
      Reply(res, api->List(box == "in" ? Box::kIn : Box::kOut, *after, static_cast<size_t>(*limit)));
    });
    server.Get(R"(/v1/messages/([^/]+)/status)", [this](const httplib::Request& req, httplib::Response& res) {
      Reply(res, api->MessageStatus(req.matches[1].str()));
    });
    server.Get(R"(/v1/messages/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      auto rv = RevealFromHttp(req);  // victims' data: masked unless reveal=1&reason=... (victims.h)
      if (!rv.ok()) return Error(res, rv.status());
      Reply(res, api->ShowMessage(req.matches[1].str(), *rv));
    });
    server.Get("/v1/alarms", [this](const httplib::Request& req, httplib::Response& res) {
      auto after = QueryU64(req, "after", 0);
      if (!after.ok()) return Error(res, after.status());
      auto limit = QueryU64(req, "limit", 1000);
      if (!limit.ok()) return Error(res, limit.status());
      if (*limit == 0 || *limit > 10000) return Error(res, Status::InvalidArgument("limit must be 1..10000"));
      Reply(res, api->Alarms(*after, static_cast<size_t>(*limit)));
    });
    server.Get("/v1/audit", [this](const httplib::Request&, httplib::Response& res) { Reply(res, api->Audit()); });
    AddCaseRoutes(server, *api);  // /v1/cases, /v1/cases/{id}, /v1/stats (case_api.cc)
    // Evidence streams (agents/README.md "Evidence").
    server.Post("/v1/evidence", [this](const httplib::Request& req, httplib::Response& res) {
      json j = ParseRequestJson(req.body, nullptr);
      if (j.is_discarded() || !j.is_object() || !j.contains("paths") || !j["paths"].is_array())
        return Error(res, Status::InvalidArgument("the request body must be {\"paths\": [absolute file paths]}"));
      std::vector<std::string> paths;
      for (const json& p : j["paths"]) {
        if (!p.is_string()) return Error(res, Status::InvalidArgument("\"paths\" must hold strings"));
        paths.push_back(p.get<std::string>());
      }
      std::string custody;
      if (j.contains("chain_of_custody")) {
        if (!j["chain_of_custody"].is_string())
          return Error(res, Status::InvalidArgument("\"chain_of_custody\" must be a string"));
        custody = j["chain_of_custody"].get<std::string>();
      }
      Reply(res, api->AddEvidence(paths, custody), 201);
    });
    server.Get(R"(/v1/evidence/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      Reply(res, api->EvidenceOf(req.matches[1].str()));
    });
    server.Post(R"(/v1/evidence/([^/]+)/fetch)", [this](const httplib::Request& req, httplib::Response& res) {
      json j = ParseRequestJson(req.body, nullptr);
      if (j.is_discarded() || !j.is_object() || !j.contains("out_dir") || !j["out_dir"].is_string())
        return Error(res, Status::InvalidArgument("the request body must be {\"out_dir\": \"/absolute/dir\"}"));
      Reply(res, api->FetchEvidence(req.matches[1].str(), j["out_dir"].get<std::string>()));
    });
  }
};

Result<std::unique_ptr<ApiServer>> ApiServer::Start(LocalApi& api, Options options) {
  if (options.host != "127.0.0.1" && options.host != "::1" && options.host != "localhost")
    return Status::InvalidArgument("the agent API listens on loopback only, not on \"" + options.host + "\"");
  if (options.token.empty()) return Status::InvalidArgument("the agent API needs a token");
  auto impl = std::make_unique<Impl>();
  impl->api = &api;
  impl->options = options;
  impl->server.set_payload_max_length(options.max_body_bytes);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a
  // second agent configured on the same port would bind too and take half
  // the connections instead of failing to start.
  impl->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  impl->server.set_read_timeout(std::chrono::seconds(30));
  impl->server.set_keep_alive_max_count(1000);
  impl->Routes();
  // "localhost" is bound as 127.0.0.1, without depending on the resolver.
  const std::string bind_host = options.host == "localhost" ? "127.0.0.1" : options.host;
  if (options.port == 0) {
    int p = impl->server.bind_to_any_port(bind_host);
    if (p <= 0) return Status::IoError("cannot bind the agent API on " + options.host);
    impl->port = static_cast<uint16_t>(p);
  } else {
    if (!impl->server.bind_to_port(bind_host, options.port))
      return Status::IoError("cannot bind the agent API on " + options.host + ":" + std::to_string(options.port) +
                             " (in use?)");
    impl->port = options.port;
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  // Stop() before the listener runs would be lost: wait until it runs.
  for (int i = 0; i < 5000 && !impl->server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApiServer::~ApiServer() { Stop(); }

void ApiServer::Stop() {
  if (impl_ == nullptr) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

uint16_t ApiServer::port() const { return impl_->port; }

}  // namespace mlahub::agents
