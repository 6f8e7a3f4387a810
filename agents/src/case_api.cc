// The cases part of the local API: GET /v1/cases, /v1/cases/{id}, /v1/stats
// (agents/README.md "Local API"), the error bodies of refused steps, and the
// Agent's LocalApi methods for them.
#include <httplib.h>

#include <algorithm>
#include <map>

#include "mlahub/agents/agent.h"
#include "mlahub/agents/api.h"
#include "mlahub/agents/cases.h"
#include "mlahub/agents/victims.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/ops/log.h"
#include "internal.h"
#include "mlahub/schemas/kinds.h"

namespace mlahub::agents {

using nlohmann::json;
using workflow::Role;
using workflow::Stage;

namespace {

bool IsOpenStage(Stage s) { return s != Stage::kClosed && s != Stage::kWithdrawn; }

json ClockJson(const workflow::ClockStatus& c) {
  json ext = json::array();
  for (const workflow::Extension& e : c.extensions)
    ext.push_back({{"at", TimeText(e.at_ms)},
                   {"at_ms", e.at_ms},
                   {"new_due", TimeText(e.new_due_ms)},
                   {"new_due_ms", e.new_due_ms},
                   {"reasons", e.reasons},
                   {"legal_basis", e.legal_basis},
                   {"beyond_allowed", e.beyond_allowed}});
  return {{"name", c.name},
          {"what", c.what},
          {"citation", c.citation},
          {"owner", std::string(workflow::RoleName(c.owner))},
          {"started_ms", c.started_ms},
          {"due", TimeText(c.due_ms)},
          {"due_ms", c.due_ms},
          {"time_left_ms", c.time_left_ms},
          {"overdue", c.overdue},
          {"extensions", std::move(ext)},
          {"note", c.note},
          {"receipt_unconfirmed", c.receipt_unconfirmed},
          {"start_note", c.receipt_unconfirmed ? "counted from sending: the requested authority's receipt is not "
                                                 "yet confirmed (it counts from that receipt once confirmed)"
                                               : ""}};
}

json FollowUpsJson(const workflow::CaseState& s) {
  json f = json::array();
  for (const workflow::FollowUp& u : s.follow_ups)
    f.push_back({{"what", u.what},
                 {"citation", u.citation},
                 {"opened_ms", u.opened_ms},
                 {"closed_ms", u.closed_ms},
                 {"open", u.open()}});
  return f;
}

struct Computed {
  workflow::CaseState state;
  workflow::Clocks clocks;
  bool overdue = false;
  UnixMillis next_due_ms = 0;  // 0 = no open clock
};

Result<Computed> Compute(const Cases& cases, const CaseRecord& c, UnixMillis now) {
  Computed k;
  MLAHUB_ASSIGN_OR_RETURN(k.state, ClockState(cases, c));
  k.clocks = workflow::ComputeClocks(k.state, cases.policy(), now);
  for (const workflow::ClockStatus& cl : k.clocks.open) {
    k.overdue = k.overdue || cl.overdue;
    if (k.next_due_ms == 0 || cl.due_ms < k.next_due_ms) k.next_due_ms = cl.due_ms;
  }
  for (const workflow::Enquiry& e : k.clocks.enquiries) k.overdue = k.overdue || e.overdue;
  return k;
}

json Summary(const CaseRecord& c, const Computed& k, UnixMillis now) {
  json clocks = json::array();
  for (const workflow::ClockStatus& cl : k.clocks.open) clocks.push_back(ClockJson(cl));
  size_t refused = 0;
  for (const CaseStepRecord& s : c.steps) refused += s.refused_code.empty() ? 0 : 1;
  return {{"id", c.id},
          {"kind", c.kind},
          {"legal_basis", c.legal_basis},
          {"partner", c.partner},
          {"role", std::string(workflow::RoleName(c.role))},
          {"case_ref", c.case_ref},
          {"priority", c.priority},
          {"priority_raised", c.priority_raised.empty() ? json(nullptr) : json(c.priority_raised)},
          {"child_victim", c.child_victim.value_or(false)},
          {"opened", TimeText(c.info.received_ms)},
          {"opened_ms", c.info.received_ms},
          {"clocks_from", c.role == Role::kRequested ? "our receipt"
                          : k.state.request.receipt_unconfirmed
                              ? "sending (the requested authority's receipt is not yet confirmed)"
                              : "the requested authority's receipt"},
          {"clocks_from_ms", k.state.request.received_ms},
          {"stage", std::string(workflow::StageName(k.state.stage))},
          {"decision", std::string(workflow::OutcomeName(k.state.decision))},
          {"open", IsOpenStage(k.state.stage)},
          {"clocks", std::move(clocks)},
          {"next_due", k.next_due_ms == 0 ? json(nullptr) : json(TimeText(k.next_due_ms))},
          {"next_due_ms", k.next_due_ms == 0 ? json(nullptr) : json(k.next_due_ms)},
          {"time_left_ms", k.next_due_ms == 0 ? json(nullptr) : json(k.next_due_ms - now)},
          {"overdue", k.overdue},
          {"follow_ups", FollowUpsJson(k.state)},
          {"steps", c.steps.size()},
          {"refused_steps", refused}};
}

int64_t Percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

json Durations(const std::vector<int64_t>& v) {
  if (v.empty()) return {{"count", 0}, {"median_ms", nullptr}, {"p90_ms", nullptr}};
  return {{"count", v.size()}, {"median_ms", Percentile(v, 0.5)}, {"p90_ms", Percentile(v, 0.9)},
          {"median_days", static_cast<double>(Percentile(v, 0.5)) / workflow::kDayMs},
          {"p90_days", static_cast<double>(Percentile(v, 0.9)) / workflow::kDayMs}};
}

std::string OutcomeOf(const workflow::CaseState& s) {
  if (s.stage == Stage::kWithdrawn) return "withdrawn";
  if (s.stage == Stage::kExecuted) return "executed";
  if (s.stage == Stage::kPartiallyExecuted) return "partially_executed";
  if (s.decision != workflow::Outcome::kNone) return std::string(workflow::OutcomeName(s.decision));
  return "pending";
}

}  // namespace

Result<workflow::CaseState> ClockState(const Cases& cases, const CaseRecord& c) {
  MLAHUB_ASSIGN_OR_RETURN(workflow::CaseState state, Replay(c));
  if (c.role == Role::kRequesting) {
    // The law counts from receipt by the requested authority: its signed
    // receipt says when; until it is back, from sending, and flagged.
    auto out = cases.store().GetOutgoing(c.id);
    if (out.ok() && out->has_value() && (*out)->receipt_ms != 0) {
      state.request.received_ms = (*out)->receipt_ms;
    } else {
      state.request.receipt_unconfirmed = true;
    }
  }
  return state;
}

Result<json> ListCasesJson(const Cases& cases, const CaseQuery& q, UnixMillis now) {
  MLAHUB_ASSIGN_OR_RETURN(std::vector<CaseRecord> all, cases.All());
  json items = json::array();
  std::string kind_name;
  if (!q.kind.empty()) {
    auto k = schemas::ResolveKind(q.kind);
    if (!k.ok()) return k.status();
    kind_name = k->name;
  }
  for (const CaseRecord& c : all) {
    if (!q.partner.empty() && c.partner != q.partner) continue;
    if (!kind_name.empty() && c.kind != kind_name) continue;
    MLAHUB_ASSIGN_OR_RETURN(Computed k, Compute(cases, c, now));
    std::string stage(workflow::StageName(k.state.stage));
    if (!q.state.empty()) {
      bool open = IsOpenStage(k.state.stage);
      if (q.state == "open" ? !open : q.state == "closed" ? open : q.state != stage) continue;
    }
    if (q.overdue && !k.overdue) continue;
    if (q.due_within_ms >= 0 && (k.next_due_ms == 0 || k.next_due_ms > now + q.due_within_ms)) continue;
    items.push_back(Summary(c, k, now));
  }
  // Cases with a child victim first (a priority category, Protocol Art.
  // 6(4)), then soonest due, then the rest by opening time.
  std::stable_sort(items.begin(), items.end(), [](const json& a, const json& b) {
    bool ca = a["child_victim"].get<bool>(), cb = b["child_victim"].get<bool>();
    if (ca != cb) return ca;
    int64_t da = a["next_due_ms"].is_null() ? INT64_MAX : a["next_due_ms"].get<int64_t>();
    int64_t db = b["next_due_ms"].is_null() ? INT64_MAX : b["next_due_ms"].get<int64_t>();
    if (da != db) return da < db;
    return a["opened_ms"].get<int64_t>() < b["opened_ms"].get<int64_t>();
  });
  return json{{"now", TimeText(now)}, {"now_ms", now}, {"count", items.size()}, {"cases", std::move(items)}};
}

Result<json> CaseJson(const Cases& cases, const CaseStore& store, std::string_view id, UnixMillis now) {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> case_id, cases.CaseOf(id));
  if (!case_id) return Status::NotFound("no case " + std::string(id) + " in this agent's case store");
  MLAHUB_ASSIGN_OR_RETURN(std::optional<CaseRecord> c, cases.Get(*case_id));
  if (!c) return Status::NotFound("no case " + *case_id + " in this agent's case store");
  MLAHUB_ASSIGN_OR_RETURN(Computed k, Compute(cases, *c, now));
  json j = Summary(*c, k, now);
  j["exploitation_forms"] = c->exploitation_forms;
  j["child_victim"] = c->child_victim ? json(*c->child_victim) : json(nullptr);
  if (!c->priority_raised.empty()) j["envelope_priority"] = c->envelope_priority;
  if (!c->full_request_id.empty())  // a provisional arrest followed by the full extradition request
    j["full_request"] = {{"message_id", c->full_request_id},
                         {"at", TimeText(c->info.full_request_ms)},
                         {"at_ms", c->info.full_request_ms}};
  Role mine = c->role;
  Role theirs = mine == Role::kRequesting ? Role::kRequested : Role::kRequesting;
  j["allowed_steps"] = {{"mine", k.state.AllowedSteps(mine)}, {"partner", k.state.AllowedSteps(theirs)}};
  json enquiries = json::array();
  for (const workflow::Enquiry& e : k.clocks.enquiries)
    enquiries.push_back({{"asked_ms", e.asked_ms}, {"due_ms", e.due_ms}, {"answered_ms", e.answered_ms},
                         {"overdue", e.overdue}});
  j["enquiries"] = std::move(enquiries);
  // The timeline: the request, then every step, each with its transport evidence.
  auto transport = [&](const std::string& mid, const std::string& dir) -> json {
    if (dir == "out") {
      auto r = store.GetOutgoing(mid);
      if (!r.ok() || !r->has_value()) return nullptr;
      json t = {{"state", std::string(OutStateName((*r)->state))}, {"timeline", json::array()}};
      for (const EvidenceEvent& e : (*r)->timeline) t["timeline"].push_back(ToJson(e));
      return t;
    }
    auto r = store.GetIncoming(mid);
    if (!r.ok() || !r->has_value()) return nullptr;
    json t = {{"state", (*r)->receipt_recorded ? "receipted" : "stored"}, {"timeline", json::array()}};
    for (const EvidenceEvent& e : (*r)->timeline) t["timeline"].push_back(ToJson(e));
    return t;
  };
  json tl = json::array();
  std::string req_dir = c->role == Role::kRequesting ? "out" : "in";
  tl.push_back({{"message_id", c->id},
                {"kind", c->kind},
                {"direction", req_dir},
                {"actor", "requesting"},
                {"at", TimeText(c->info.received_ms)},
                {"at_ms", c->info.received_ms},
                {"transport", transport(c->id, req_dir)}});
  for (const CaseStepRecord& s : c->steps) {
    json e = {{"message_id", s.message_id},
              {"kind", wire::EnumNameMessageKind(s.step.kind)},
              {"direction", s.direction},
              {"actor", std::string(workflow::RoleName(s.actor))},
              {"at", TimeText(s.step.at_ms)},
              {"at_ms", s.step.at_ms},
              {"step", StepToJson(s.step)},
              {"transport", transport(s.message_id, s.direction)}};
    if (!s.refused_code.empty()) e["workflow_refused"] = {{"code", s.refused_code}, {"reason", s.refused_reason}};
    tl.push_back(std::move(e));
  }
  j["timeline"] = std::move(tl);
  return j;
}

Result<json> StatsJson(const Cases& cases, UnixMillis now) {
  MLAHUB_ASSIGN_OR_RETURN(std::vector<CaseRecord> all, cases.All());
  std::map<std::string, uint64_t> by_kind, by_partner, by_outcome, by_role, by_stage;
  std::map<std::string, std::map<std::string, uint64_t>> by_form;  // form -> outcome -> n
  std::map<std::string, uint64_t> victims;                         // child / adult
  std::vector<int64_t> to_ack, to_exec;
  uint64_t overdue = 0;
  for (const CaseRecord& c : all) {
    MLAHUB_ASSIGN_OR_RETURN(Computed k, Compute(cases, c, now));
    std::string outcome = OutcomeOf(k.state);
    ++by_kind[c.kind];
    ++by_partner[c.partner];
    ++by_outcome[outcome];
    ++by_role[std::string(workflow::RoleName(c.role))];
    ++by_stage[std::string(workflow::StageName(k.state.stage))];
    if (k.overdue) ++overdue;
    for (const std::string& f : c.exploitation_forms) {
      ++by_form[f]["cases"];
      ++by_form[f][outcome];
    }
    if (c.child_victim) ++victims[*c.child_victim ? "child" : "adult"];
    bool acked = false, executed = false;
    for (const CaseStepRecord& s : c.steps) {
      if (!s.refused_code.empty()) continue;
      if (!acked && s.step.kind == wire::MessageKind::Acknowledgement) {
        acked = true;
        to_ack.push_back(s.step.at_ms - c.info.received_ms);
      }
      if (!executed && s.step.kind == wire::MessageKind::ExecutionReport && s.step.completeness == "Full") {
        executed = true;
        to_exec.push_back(s.step.at_ms - c.info.received_ms);
      }
    }
  }
  json forms = json::object();
  for (auto& [f, m] : by_form) forms[f] = m;
  return json{{"now", TimeText(now)},
              {"cases", all.size()},
              {"overdue", overdue},
              {"by_kind", by_kind},
              {"by_partner", by_partner},
              {"by_role", by_role},
              {"by_stage", by_stage},
              {"by_outcome", by_outcome},
              {"by_exploitation_form", std::move(forms)},
              {"victims", victims},
              {"time_to_acknowledge", Durations(to_ack)},
              {"time_to_execute", Durations(to_exec)}};
}

Result<RevealRequest> RevealFromHttp(const httplib::Request& req) {
  RevealRequest r;
  auto param = [&](const char* q, const char* header) {
    if (req.has_param(q)) return req.get_param_value(q);
    return req.get_header_value(header);
  };
  std::string reveal = param("reveal", "X-Mlahub-Reveal");
  if (!reveal.empty() && reveal != "0" && reveal != "1" && reveal != "true" && reveal != "false")
    return Status::InvalidArgument("reveal must be 1 or 0");
  r.reveal = reveal == "1" || reveal == "true";
  r.reason = param("reason", "X-Mlahub-Reveal-Reason");
  r.user = param("user", "X-Mlahub-User");
  if (r.reason.size() > 500) return Status::InvalidArgument("reason: at most 500 characters");
  if (r.user.size() > 100) return Status::InvalidArgument("user: at most 100 characters");
  if (r.reveal && r.reason.find_first_not_of(" \t\r\n") == std::string::npos)
    return Status::InvalidArgument(
        "reveal=1 needs a reason (reason=TEXT or the X-Mlahub-Reveal-Reason header): every reveal of "
        "victims' data is recorded");
  // Which API token asked: a fingerprint, never the token.
  std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0) {
    crypto::Digest32 d = crypto::Sha256(AsBytes(std::string_view(auth).substr(7)));
    r.token_id = "api-token:" + crypto::ToHex(ByteView(d.data(), 8));
  }
  return r;
}

bool CaseErrorBody(const Status& s, int* http_status, json* body) {
  const std::string& m = s.message();
  if (m.rfind(kStepRefusedPrefix, 0) == 0) {
    *http_status = 409;
    *body = {{"error", std::string(CodeName(s.code()))}, {"refusal", "step_refused"}, {"message", m}};
    return true;
  }
  if (m.rfind(kIncompletePrefix, 0) == 0) {
    *http_status = 422;
    *body = {{"error", std::string(CodeName(s.code()))}, {"refusal", "incomplete_request"}, {"message", m}};
    return true;
  }
  return false;
}

void AddCaseRoutes(httplib::Server& server, LocalApi& api) {
  auto reply = [](httplib::Response& res, const Result<json>& r) {
    if (!r.ok()) {
      res.status = HttpStatusFor(r.status().code());
      res.set_content(StoredJson(ErrorBody(r.status())), "application/json");
      return;
    }
    res.status = 200;
    res.set_content(StoredJson(*r), "application/json");
  };
  server.Get("/v1/cases", [&api, reply](const httplib::Request& req, httplib::Response& res) {
    CaseQuery q;
    if (req.has_param("state")) q.state = req.get_param_value("state");
    if (req.has_param("partner")) q.partner = req.get_param_value("partner");
    if (req.has_param("kind")) q.kind = req.get_param_value("kind");
    if (req.has_param("overdue")) {
      std::string v = req.get_param_value("overdue");
      q.overdue = v == "1" || v == "true";
    }
    if (req.has_param("due_within_ms")) {
      std::string v = req.get_param_value("due_within_ms");
      if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos)
        return reply(res, Status::InvalidArgument("due_within_ms must be a non-negative integer (milliseconds)"));
      q.due_within_ms = std::stoll(v);
    }
    reply(res, api.ListCases(q));
  });
  server.Get(R"(/v1/cases/([^/]+))", [&api, reply](const httplib::Request& req, httplib::Response& res) {
    auto rv = RevealFromHttp(req);
    if (!rv.ok()) return reply(res, rv.status());
    reply(res, api.ShowCase(req.matches[1].str(), *rv));
  });
  server.Get("/v1/reveals", [&api, reply](const httplib::Request& req, httplib::Response& res) {
    uint64_t after = 0, limit = 1000;
    for (auto [name, v] : {std::pair<const char*, uint64_t*>{"after", &after}, {"limit", &limit}}) {
      if (!req.has_param(name)) continue;
      std::string t = req.get_param_value(name);
      if (t.empty() || t.size() > 18 || t.find_first_not_of("0123456789") != std::string::npos)
        return reply(res, Status::InvalidArgument(std::string(name) + " must be a non-negative integer"));
      *v = std::stoull(t);
    }
    if (limit == 0 || limit > 10000) return reply(res, Status::InvalidArgument("limit must be 1..10000"));
    reply(res, api.Reveals(after, static_cast<size_t>(limit)));
  });
  server.Get("/v1/stats", [&api, reply](const httplib::Request&, httplib::Response& res) {
    reply(res, api.Stats());
  });
  server.Get("/v1/policy", [&api, reply](const httplib::Request&, httplib::Response& res) {
    reply(res, api.CasesPolicy());
  });
}

// ---- the Agent's side ----

Result<json> Agent::ListCases(const CaseQuery& q) const {
  if (!cases_) return Status::Unavailable("cases are not kept by this agent");
  return ListCasesJson(*cases_, q, clock_->NowMillis());
}

// Masks or reveals the victims' values of `body` (a body of `kind`) in place,
// recording the reveal first: without a durable record nothing is shown.
Result<json> ApplyVictimPolicy(Cases& cases, json body, wire::MessageKind kind, const RevealRequest& r,
                               const char* what, std::string_view target, UnixMillis now, json& out) {
  json masked = body;
  size_t n = MaskVictims(masked, kind);
  if (!r.reveal) {
    out["victim_data"] = n == 0 ? "none" : "masked";
    if (n > 0) out["victim_data_note"] = std::string(kVictimMaskNote);
    return masked;
  }
  RevealRecord rec;
  rec.at_ms = now;
  rec.what = what;
  rec.target = std::string(target);
  rec.reason = r.reason;
  rec.token_id = r.token_id;
  rec.user = r.user;
  rec.fields = n;
  MLAHUB_ASSIGN_OR_RETURN(rec, cases.reveals().Record(std::move(rec)));
  ops::Info("victims.revealed", {{"reveal_id", rec.id}, {"what", rec.what}, {"target", rec.target}});
  size_t failed = 0;
  if (cases.victims() != nullptr) {
    MLAHUB_RETURN_IF_ERROR(cases.victims()->Unseal(body, &failed).status());
  }
  out["victim_data"] = "revealed";
  out["reveal_id"] = rec.id;
  if (failed > 0) out["victim_data_unopened"] = failed;
  return body;
}

Result<json> Agent::ShowCase(std::string_view id, const RevealRequest& r) const {
  if (!cases_) return Status::Unavailable("cases are not kept by this agent");
  UnixMillis now = clock_->NowMillis();
  MLAHUB_ASSIGN_OR_RETURN(json j, CaseJson(*cases_, *store_, id, now));
  // The request's body: our sealed copy if we sent it, else the stored
  // envelope opened with this agent's key.
  std::string case_id = j["id"].get<std::string>();
  wire::MessageKind kind = wire::MessageKind::Unspecified;
  for (auto v : wire::EnumValuesMessageKind())
    if (j["kind"] == wire::EnumNameMessageKind(v)) kind = v;
  json body = nullptr;
  if (j["role"] == "requesting") {
    MLAHUB_ASSIGN_OR_RETURN(std::optional<json> sent, cases_->SentBody(case_id));
    if (sent) body = std::move(*sent);
  } else {
    auto shown = Show(case_id);
    if (shown.ok() && shown->contains("body")) body = (*shown)["body"];
  }
  if (body.is_null()) {
    j["request_body"] = nullptr;
    if (r.reveal) return Status::NotFound("case " + case_id + ": no body of the request is kept here to reveal");
    return j;
  }
  MLAHUB_ASSIGN_OR_RETURN(j["request_body"], ApplyVictimPolicy(*cases_, std::move(body), kind, r, "case", case_id, now, j));
  return j;
}

Result<json> Agent::ShowMessage(std::string_view id, const RevealRequest& r) const {
  MLAHUB_ASSIGN_OR_RETURN(json j, Show(id));
  wire::MessageKind kind = wire::MessageKind::Unspecified;
  std::string kind_name = j["message"].value("kind", "");
  for (auto v : wire::EnumValuesMessageKind())
    if (kind_name == wire::EnumNameMessageKind(v)) kind = v;
  if (!j.contains("body") && cases_) {
    // A message we sent: the sealed copy kept with its case, if any.
    MLAHUB_ASSIGN_OR_RETURN(std::optional<json> sent, cases_->SentBody(id));
    if (sent) j["body"] = std::move(*sent);
  }
  if (!j.contains("body") || j["body"].is_null()) {
    if (r.reveal) return Status::NotFound("message " + std::string(id) + ": no body is kept here to reveal");
    return j;
  }
  if (!cases_) {
    if (r.reveal) return Status::Unavailable("reveals are not recorded by this agent");
    json body = j["body"];
    size_t n = MaskVictims(body, kind);
    j["body"] = std::move(body);
    j["victim_data"] = n == 0 ? "none" : "masked";
    return j;
  }
  json body = j["body"];
  MLAHUB_ASSIGN_OR_RETURN(j["body"], ApplyVictimPolicy(*cases_, std::move(body), kind, r, "message", id,
                                                       clock_->NowMillis(), j));
  return j;
}

Result<json> Agent::Reveals(uint64_t after, size_t limit) const {
  if (!cases_) return Status::Unavailable("reveals are not recorded by this agent");
  MLAHUB_ASSIGN_OR_RETURN(std::vector<RevealRecord> all, cases_->reveals().List(after, limit));
  json a = json::array();
  for (const RevealRecord& x : all) a.push_back(ToJson(x));
  return json{{"count", a.size()}, {"reveals", std::move(a)}};
}

// The default for other LocalApi implementations: masked, never revealed.
Result<json> LocalApi::ShowMessage(std::string_view id, const RevealRequest& r) const {
  if (r.reveal) return Status::Unavailable("reveals are not recorded here");
  MLAHUB_ASSIGN_OR_RETURN(json j, Show(id));
  if (j.contains("body") && !j["body"].is_null() && j.contains("message")) {
    wire::MessageKind kind = wire::MessageKind::Unspecified;
    for (auto v : wire::EnumValuesMessageKind())
      if (j["message"].value("kind", "") == wire::EnumNameMessageKind(v)) kind = v;
    json body = j["body"];
    size_t n = MaskVictims(body, kind);
    j["body"] = std::move(body);
    j["victim_data"] = n == 0 ? "none" : "masked";
  }
  return j;
}

Result<json> Agent::CasesPolicy() const {
  if (!cases_) return Status::Unavailable("cases are not kept by this agent");
  return PolicyJson(cases_->policy_in_effect());
}

Result<json> Agent::Stats() const {
  if (!cases_) return Status::Unavailable("cases are not kept by this agent");
  return StatsJson(*cases_, clock_->NowMillis());
}

}  // namespace mlahub::agents
