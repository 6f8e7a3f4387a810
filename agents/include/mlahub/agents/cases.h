// Cases in the agent: a request (kinds 1-31) and the answers that refer to it
// (`in_reply_to`, kinds 32-63) form a case. The agent keeps each case's legal
// workflow (workflow::CaseState, replayed from the steps kept here) in its
// case store, beside the transport records:
//
//   case/c/<request id>   CaseRecord (JSON): the request's essentials and every
//                         step with its message id, actor, time and, for a step
//                         refused on receipt, the reason
//   case/m/<message id>   the case id (request id) a message belongs to
//
// Both are written in the SAME atomic batch as the message that changes them
// (Outbox::Add's batch for a message sent, the Inbox's delivery batch for a
// message received), so a case never knows a message the store lacks or the
// reverse.
//
//  - Requesting side: the case starts when the agent accepts the request into
//    its outbox (POST /v1/messages, after workflow::ReadyToSubmit). Requested
//    side: when the request is received (stored with its receipt).
//  - Before sending a step, the agent checks it with workflow::Validate for its
//    own role (PrepareOutgoing); a refused step is never sealed.
//  - On receipt, a step invalid for the sender's role or the case's state is
//    still stored and receipted (transport is fine) but kept here with
//    `refused` set: it changes nothing and shows in the case's timeline; the
//    message's record gets a "workflow_refused" evidence event.
//
// No bodies are kept in the case record: only the step essentials
// (workflow::Step), the form(s) of exploitation and whether a child victim is
// concerned (for the anonymous statistics); never a name. The body of each
// message this agent SENDS in a case is kept beside it (it cannot open its own
// envelope, sealed to the recipient), sealed at rest (victims.h):
//
//   case/b/<message id>   "v1:<base64>": the body's JSON, with each victim's
//                         identifying values sealed ({"sealed":"v1:..."}),
//                         the whole sealed again under the at-rest key
//                         (associated data "mlahub sent body v1|<message id>")
//   reveal/r/<BE64 id>, reveal/n   the reveals of victims' data (victims.h)
//
// A full extradition request whose body names a provisional arrest request
// of this agent (`provisional_arrest_ref`, same partner) is noted on that
// case (info.full_request_ms, full_request_id) in the same batch: it stops
// the provisional arrest's full_extradition_request clock (UNTOC 16(9)).
//
// Clocks: the requested side counts from its own receipt of the request;
// the requesting side from the requested authority's receipt time in the
// signed receipt once it has it (OutgoingRecord::receipt_ms), and until then
// from sending, each such clock flagged `receipt_unconfirmed`
// (workflow/README.md "Clocks").
//
// The deadline policy is the network's file ([cases] policy in the agent's
// configuration, read over workflow::DefaultPolicy() at start by
// LoadCasesPolicy) or the embedded default; GET /v1/policy shows which.
//
// A child victim (victims.h HasChildVictim) makes the case Urgent at both
// ends (priority "Urgent", info.urgent for the clocks), whatever the
// envelope's signed priority, which stays as the sender sent it
// (envelope_priority, priority_raised "child_victim").
//
// Thread-safety: callers hold mu() around each read-check-write sequence
// (API threads for sending, the network thread for a delivery batch); the
// readers (Get, All) may run without it.
#pragma once

#include <map>
#include <atomic>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlahub/agents/case_store.h"
#include "mlahub/agents/records.h"
#include "mlahub/agents/victims.h"
#include "mlahub/core/status.h"
#include "mlahub/workflow/deadlines.h"
#include "mlahub/workflow/workflow.h"

namespace httplib {
class Server;
struct Request;
}

namespace mlahub::agents {

class LocalApi;

// Kinds 1-31 are requests, 32-63 answers and later steps.
bool IsRequestKind(wire::MessageKind k);
bool IsAnswerKind(wire::MessageKind k);

struct CaseStepRecord {
  std::string message_id;
  std::string direction;  // "out" (this agent sent it) or "in"
  workflow::Role actor = workflow::Role::kRequested;
  workflow::Step step;
  std::string refused_code;    // set when the step was refused on receipt
  std::string refused_reason;
};

struct CaseRecord {
  std::string id;  // the request's message id
  workflow::Role role = workflow::Role::kRequesting;  // this agent's role
  std::string partner;                                 // the other node
  std::string kind;                                    // MessageKind name of the request
  std::string legal_basis;                             // LegalBasis name
  std::string priority;           // this agent's view: at least "Urgent" for a child victim
  std::string envelope_priority;  // the request envelope's priority, when priority was raised
  std::string priority_raised;    // "child_victim" when the agent raised it, else ""
  std::string case_ref;
  workflow::RequestInfo info;
  std::vector<std::string> exploitation_forms;  // ExploitationPurpose names found in the body
  std::optional<bool> child_victim;             // TraffickingElements.child_victim, when given
  std::vector<CaseStepRecord> steps;
  // A provisional arrest: the message id of the full extradition request that
  // followed it (info.full_request_ms says when), "" = none yet.
  std::string full_request_id;
  // Not stored in the record: other cases changed by the same message (the
  // provisional arrest a full extradition request follows), written by Put.
  std::vector<CaseRecord> linked;
  // Not stored in the record: the sealed copy of the body of the message
  // being sent, written by Put under case/b/ (PrepareOutgoing sets it).
  std::string sealed_body;
};

nlohmann::json ToJson(const CaseRecord& c);
Result<CaseRecord> CaseFromJson(std::string_view text);
nlohmann::json StepToJson(const workflow::Step& s);
workflow::Step StepFromStoredJson(const nlohmann::json& j);

// The workflow state: Start(info), then every step not refused, in order.
// kCorruption if a stored (accepted) step no longer applies.
Result<workflow::CaseState> Replay(const CaseRecord& c);

// What the agent is about to send.
struct OutgoingStep {
  std::string message_id;
  wire::MessageKind kind = wire::MessageKind::Unspecified;
  std::string to;
  std::string in_reply_to;
  wire::LegalBasis legal_basis = wire::LegalBasis::Untoc;
  wire::Priority priority = wire::Priority::Normal;
  std::string case_ref;
  std::string body_json;
  UnixMillis now = 0;
};

// Prefixes of the messages of refused steps and incomplete requests; the API
// answers them with their own error names (case_api.cc CaseErrorBody).
inline constexpr std::string_view kStepRefusedPrefix = "step refused: ";
inline constexpr std::string_view kIncompletePrefix = "request incomplete: ";

// The deadline policy an agent works with, and where it comes from.
struct PolicyInEffect {
  std::string path;    // the network's policy file as configured; "" = the embedded default
  std::string sha256;  // lowercase hex SHA-256 of the file's bytes (of the embedded text for the default)
  workflow::Policy policy;
};
// Reads `path` ([cases] policy, already resolved against the config file's
// directory) over workflow::DefaultPolicy(); "" gives the embedded default.
// kNotFound / kIoError if the file cannot be read; kInvalidArgument with
// "FILE:LINE: ..." if it does not parse (TOML syntax errors included).
Result<PolicyInEffect> LoadCasesPolicy(const std::string& path);
// {"source":"file"|"embedded_default","path","sha256","rules":[{"basis","clock",
//  "due","due_ms","urgent_due","extension","citation","note"}...]}: what
// GET /v1/policy and `mlahub policy check --json` show.
nlohmann::json PolicyJson(const PolicyInEffect& p);

class Cases {
 public:
  Cases(CaseStore& store, std::string node_id, workflow::Policy policy)
      : Cases(store, std::move(node_id), PolicyInEffect{"", "", std::move(policy)}) {}
  Cases(CaseStore& store, std::string node_id, PolicyInEffect policy)
      : store_(store), node_id_(std::move(node_id)), policy_(std::move(policy)), reveals_(store) {}

  std::mutex& mu() { return mu_; }
  // The at-rest key for victims' data (agent.cc sets it at start). Without
  // one, no body copy is kept and nothing can be revealed.
  void SetVictims(std::unique_ptr<VictimVault> v) { victims_ = std::move(v); }
  const VictimVault* victims() const { return victims_.get(); }
  RevealLog& reveals() { return reveals_; }
  // The body this agent sent as `message_id` (victims' values still sealed),
  // or nullopt if no copy is kept (another store, no key).
  Result<std::optional<nlohmann::json>> SentBody(std::string_view message_id) const;
  const workflow::Policy& policy() const { return policy_.policy; }
  const PolicyInEffect& policy_in_effect() const { return policy_; }
  const std::string& node_id() const { return node_id_; }
  const CaseStore& store() const { return store_; }

  // Reads (the staging overlay first while a delivery batch is being built).
  Result<std::optional<CaseRecord>> Get(std::string_view case_id) const;
  Result<std::optional<std::string>> CaseOf(std::string_view message_id) const;
  Result<std::vector<CaseRecord>> All() const;

  // Sending (under mu()). A request starts a case; an answer to a message of a
  // case is checked with workflow::Validate for this agent's role: refused with
  // kInvalidArgument / kPermissionDenied whose message starts with
  // kStepRefusedPrefix and names the steps allowed now. Returns the record to
  // store with the message (Put), or nullopt when the message is in no case.
  // (Completeness of requests: workflow::ReadyToSubmit, checked by the caller.)
  Result<std::optional<CaseRecord>> PrepareOutgoing(const OutgoingStep& m) const;
  static void Put(StoreBatch& b, const CaseRecord& c, std::string_view message_id);

  // Receiving (network thread). Begin/EndBatch bracket one delivery batch
  // (they take mu()); StageIncoming adds the case changes of one stored
  // message to `b` and, for a refused step, a "workflow_refused" event to
  // `rec.timeline`. Never fails the delivery: a body that cannot be read is a
  // refused step.
  void BeginBatch();
  void EndBatch();
  void StageIncoming(StoreBatch& b, IncomingRecord& rec, std::string_view body_json, UnixMillis now);

 private:
  CaseStore& store_;
  std::string node_id_;
  PolicyInEffect policy_;
  std::unique_ptr<VictimVault> victims_;
  RevealLog reveals_;
  std::mutex mu_;
  // Staging overlay of the delivery batch being built (network thread, under mu_).
  std::atomic<std::thread::id> stager_{};  // the thread between BeginBatch and EndBatch
  std::map<std::string, CaseRecord, std::less<>> overlay_;
  std::map<std::string, std::string, std::less<>> overlay_index_;
};

// ---- views (case_api.cc) ----

struct CaseQuery {
  std::string state;    // stage name ("acknowledged", ...) or "open" / "closed"
  std::string partner;  // node id
  std::string kind;     // MessageKind name
  bool overdue = false;
  int64_t due_within_ms = -1;  // -1 = any
};

// GET /v1/cases: {"now","cases":[summary...]}.
Result<nlohmann::json> ListCasesJson(const Cases& cases, const CaseQuery& q, UnixMillis now);
// GET /v1/cases/{id}: the case, its timeline (steps with the transport
// evidence of their messages), clocks and allowed steps.
Result<nlohmann::json> CaseJson(const Cases& cases, const CaseStore& store, std::string_view id, UnixMillis now);
// The state and clocks of one case at `now` (what the views show). On the
// requesting side the clocks that count from receipt start at the requested
// authority's receipt time from the signed receipt of the request (its
// outgoing record's receipt_ms), else at sending, flagged receipt_unconfirmed.
Result<workflow::CaseState> ClockState(const Cases& cases, const CaseRecord& c);
// GET /v1/stats: aggregate, anonymous figures.
Result<nlohmann::json> StatsJson(const Cases& cases, UnixMillis now);

// For the POST /v1/messages answer: notes on `record` (the outgoing record's
// JSON) that the case's priority was raised (a child victim).
void NoteCasePriority(const CaseRecord& c, nlohmann::json& record);

// The error body and HTTP status for a refused step or incomplete request;
// false for any other error.
bool CaseErrorBody(const Status& s, int* http_status, nlohmann::json* body);

// reveal / reason / user from the query (or the X-Mlahub-Reveal,
// X-Mlahub-Reveal-Reason, X-Mlahub-User headers) and the bearer token's
// fingerprint; kInvalidArgument for reveal=1 without a reason.
Result<RevealRequest> RevealFromHttp(const httplib::Request& req);

// Registers GET /v1/cases, /v1/cases/{id}, /v1/stats, /v1/reveals on the API server
// (api_server.cc calls it from its routes).
void AddCaseRoutes(httplib::Server& server, LocalApi& api);

}  // namespace mlahub::agents
