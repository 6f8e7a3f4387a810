// The agent's local API: HTTP/JSON on a loopback port, every request with
// `Authorization: Bearer <token>` (the token file is 0600 in the agent's data
// directory). Used by the `mlahub` tool, a later web page and national
// case-management systems. Endpoints and JSON shapes: agents/README.md.
//
// LocalApi is what the HTTP layer calls: the Agent implements it. ApiServer
// is the cpp-httplib server over a LocalApi (its own threads; the LocalApi
// must be thread-safe).
//
// Errors: {"error":"<code name>","message":"..."} with an HTTP status chosen
// by HttpStatusFor (401 without a valid token).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"

namespace mlahub::agents {

// POST /v1/messages.
struct MessageRequest {
  std::string to;            // recipient node id
  std::string kind;          // any spelling schemas::ResolveKind accepts ("MlaRequest", "mla")
  std::string body_json;     // the JSON of the kind's body table
  std::string case_ref;
  std::string in_reply_to;   // message id answered, or empty
  std::string legal_basis;   // LegalBasis name; empty = Unspecified
  std::string priority;      // "Normal" (default) or "Urgent"
  std::string handling;      // "H0" (default) .. "H3"
  std::string message_id;    // optional: a client-chosen id makes retries idempotent
  int64_t expires_ms = 0;    // optional; 0 = created + 30 days
};

struct SubmitOutcome {
  std::string message_id;
  bool duplicate = false;  // the id was already in the outbox (same envelope)
  nlohmann::json record;   // the outgoing record (metadata, evidence)
};

enum class Box : uint8_t { kIn, kOut };

struct CaseQuery;      // cases.h
struct RevealRequest;  // victims.h

class LocalApi {
 public:
  virtual ~LocalApi() = default;
  virtual Result<SubmitOutcome> SubmitMessage(const MessageRequest& request) = 0;
  virtual Result<SubmitOutcome> SubmitEnvelope(ByteView envelope) = 0;
  virtual nlohmann::json Health() const = 0;
  virtual Result<nlohmann::json> List(Box box, uint64_t after, size_t limit) const = 0;
  virtual Result<nlohmann::json> Show(std::string_view message_id) const = 0;
  virtual Result<nlohmann::json> MessageStatus(std::string_view message_id) const = 0;
  virtual Result<nlohmann::json> Alarms(uint64_t after, size_t limit) const = 0;
  virtual nlohmann::json Audit() const = 0;
  // Evidence streams (agents/README.md "Evidence"). Spools files on this
  // machine and returns their manifest entries (EvidenceFile JSON, with the
  // stream key: put them in the body of the message that carries them).
  virtual Result<nlohmann::json> AddEvidence(const std::vector<std::string>& /*paths*/,
                                             const std::string& /*chain_of_custody*/) {
    return Status::Unavailable("evidence streams are not served here");
  }
  // Per file of a message (sent or received): state, bytes and chunks done.
  virtual Result<nlohmann::json> EvidenceOf(std::string_view /*message_id*/) const {
    return Status::Unavailable("evidence streams are not served here");
  }
  // Writes the complete files of a received message into out_dir, each
  // after its SHA-256 check.
  virtual Result<nlohmann::json> FetchEvidence(std::string_view /*message_id*/, const std::string& /*out_dir*/) const {
    return Status::Unavailable("evidence streams are not served here");
  }
  // Cases (cases.h; agents/README.md "Local API"): GET /v1/cases, /v1/cases/{id}, /v1/stats.
  virtual Result<nlohmann::json> ListCases(const CaseQuery& /*q*/) const {
    return Status::Unavailable("cases are not served here");
  }
  // Victims' identifying values are masked unless r.reveal (with a reason),
  // and each reveal is recorded (victims.h; agents/README.md "Victims' data").
  virtual Result<nlohmann::json> ShowCase(std::string_view /*id*/, const RevealRequest& /*r*/) const {
    return Status::Unavailable("cases are not served here");
  }
  // GET /v1/messages/{id}: Show, with victims' values masked; the default
  // (case_api.cc) refuses reveal=1.
  virtual Result<nlohmann::json> ShowMessage(std::string_view id, const RevealRequest& r) const;
  // GET /v1/reveals: {"count","reveals":[...]}.
  virtual Result<nlohmann::json> Reveals(uint64_t /*after*/, size_t /*limit*/) const {
    return Status::Unavailable("reveals are not recorded here");
  }
  virtual Result<nlohmann::json> Stats() const { return Status::Unavailable("cases are not served here"); }
  // GET /v1/policy: the deadline policy in effect (cases.h PolicyJson).
  virtual Result<nlohmann::json> CasesPolicy() const { return Status::Unavailable("cases are not served here"); }
};

// 400 invalid_argument/malformed, 401 permission_denied (bad token),
// 404 not_found, 409 already_exists/duplicate, 413 too_large,
// 422 other protocol refusals (unknown_recipient, kind_not_accepted, ...),
// 503 unavailable, 500 the rest.
int HttpStatusFor(Code code);
// The JSON error body.
nlohmann::json ErrorBody(const Status& s);

// Parses a MessageRequest from the POST /v1/messages JSON.
Result<MessageRequest> ParseMessageRequest(std::string_view json_text);

class ApiServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";  // must be loopback
    uint16_t port = 0;               // 0 picks a free port
    std::string token;               // required
    size_t max_body_bytes = (16u << 20) + (64u << 10);
  };
  // Binds and starts serving on its own thread. kInvalidArgument for a
  // non-loopback host or an empty token; kIoError if it cannot bind.
  static Result<std::unique_ptr<ApiServer>> Start(LocalApi& api, Options options);
  ~ApiServer();  // stops
  void Stop();
  uint16_t port() const;

  struct Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlahub::agents
