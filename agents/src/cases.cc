// Cases in the agent: records, replay, the checks before sending and the
// staging of received steps (cases.h).
#include "mlahub/agents/cases.h"
#include "internal.h"

#include <algorithm>

#include "mlahub/core/file.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/ops/log.h"
#include "mlahub/schemas/kinds.h"

namespace mlahub::agents {

using nlohmann::json;
using workflow::Outcome;
using workflow::Role;
using workflow::Stage;

namespace {

constexpr std::string_view kCasePrefix = "case/c/";
constexpr std::string_view kIndexPrefix = "case/m/";
constexpr std::string_view kBodyPrefix = "case/b/";
constexpr std::string_view kBodyAad = "mlahub sent body v1|";

std::string CaseKey(std::string_view id) { return std::string(kCasePrefix) + std::string(id); }
std::string IndexKey(std::string_view id) { return std::string(kIndexPrefix) + std::string(id); }
std::string BodyKey(std::string_view id) { return std::string(kBodyPrefix) + std::string(id); }

Outcome OutcomeFrom(const std::string& s) {
  for (Outcome o : {Outcome::kNone, Outcome::kExecute, Outcome::kExecutePartially, Outcome::kRefuse,
                    Outcome::kPostpone, Outcome::kConsult})
    if (workflow::OutcomeName(o) == s) return o;
  return Outcome::kNone;
}

Role RoleFrom(const std::string& s) { return s == "requested" ? Role::kRequested : Role::kRequesting; }

wire::MessageKind KindFrom(const std::string& name) {
  for (auto v : wire::EnumValuesMessageKind())
    if (name == wire::EnumNameMessageKind(v)) return v;
  return wire::MessageKind::Unspecified;
}

wire::LegalBasis BasisFrom(const std::string& name) {
  for (auto v : wire::EnumValuesLegalBasis())
    if (name == wire::EnumNameLegalBasis(v)) return v;
  return wire::LegalBasis::Unspecified;
}

int64_t Num(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}
std::string Str(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
std::vector<std::string> Strs(const json& j, const char* k) {
  std::vector<std::string> out;
  auto it = j.find(k);
  if (it != j.end() && it->is_array())
    for (const json& e : *it)
      if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

// The body's anonymous figures: forms of exploitation and child victims,
// wherever a TraffickingElements table sits in it.
void Walk(const json& j, CaseRecord& c) {
  if (j.is_object()) {
    auto p = j.find("purposes");
    if (p != j.end() && p->is_array()) {
      for (const json& e : *p)
        if (e.is_string() && std::find(c.exploitation_forms.begin(), c.exploitation_forms.end(),
                                       e.get<std::string>()) == c.exploitation_forms.end())
          c.exploitation_forms.push_back(e.get<std::string>());
      auto cv = j.find("child_victim");
      bool child = cv != j.end() && cv->is_boolean() && cv->get<bool>();
      c.child_victim = c.child_victim.value_or(false) || child;
    }
    for (const auto& [k, v] : j.items()) Walk(v, c);
  } else if (j.is_array()) {
    for (const json& v : j) Walk(v, c);
  }
}

// A new case from a request's header fields and body.
CaseRecord NewCase(std::string id, Role role, std::string partner, wire::MessageKind kind, std::string legal_basis,
                   std::string priority, std::string case_ref, std::string_view body_json, UnixMillis now) {
  CaseRecord c;
  c.id = std::move(id);
  c.role = role;
  c.partner = std::move(partner);
  c.kind = wire::EnumNameMessageKind(kind);
  c.legal_basis = std::move(legal_basis);
  c.priority = std::move(priority);
  c.case_ref = std::move(case_ref);
  c.info.kind = kind;
  c.info.legal_basis = BasisFrom(c.legal_basis);
  c.info.urgent = c.priority == "Urgent";
  c.info.received_ms = now;
  json body = json::parse(body_json.begin(), body_json.end(), nullptr, false);
  if (!body.is_discarded()) {
    // UNTOC 18(24): the deadline the requesting state asks for.
    for (const auto& [k, v] : body.items()) {
      if (v.is_object() && v.contains("deadline_ms") && v["deadline_ms"].is_number_integer()) {
        c.info.requested_deadline_ms = v["deadline_ms"].get<int64_t>();
        break;
      }
    }
    Walk(body, c);
    // A child victim is a priority category (Protocol Art. 6(4)): the case
    // is Urgent here whatever the envelope says (victims.h).
    if (HasChildVictim(body, kind, now)) {
      c.child_victim = true;
      if (c.priority != "Urgent") {
        c.envelope_priority = c.priority;
        c.priority = "Urgent";
        c.priority_raised = "child_victim";
        c.info.urgent = true;
      }
    }
  }
  return c;
}

// The sealed copy of a body this agent sends (cases.h case/b/); "" without a key.
Result<std::string> SealSentBody(const VictimVault* vault, std::string_view id, wire::MessageKind kind,
                                 std::string_view body_json) {
  if (vault == nullptr) return std::string();
  json body = json::parse(body_json.begin(), body_json.end(), nullptr, false);
  if (body.is_discarded()) return std::string();
  MLAHUB_RETURN_IF_ERROR(vault->SealVictims(body, kind).status());
  return vault->SealText(body.dump(), std::string(kBodyAad) + std::string(id));
}

Role Other(Role r) { return r == Role::kRequesting ? Role::kRequested : Role::kRequesting; }

std::string AllowedText(const workflow::CaseState& s, Role r) {
  std::string t;
  for (const std::string& a : s.AllowedSteps(r)) t += (t.empty() ? "" : ", ") + a;
  return t.empty() ? "none" : t;
}

}  // namespace

bool IsRequestKind(wire::MessageKind k) {
  int v = static_cast<int>(k);
  return v >= 1 && v <= 31;
}
bool IsAnswerKind(wire::MessageKind k) {
  int v = static_cast<int>(k);
  return v >= 32 && v <= 63;
}

json StepToJson(const workflow::Step& s) {
  json j;
  j["kind"] = wire::EnumNameMessageKind(s.kind);
  j["at_ms"] = s.at_ms;
  if (s.outcome != Outcome::kNone) j["outcome"] = std::string(workflow::OutcomeName(s.outcome));
  if (!s.refusal_grounds.empty()) j["refusal_grounds"] = s.refusal_grounds;
  if (!s.reasons.empty()) j["reasons"] = s.reasons;
  if (!s.postponement_ground.empty()) j["postponement_ground"] = s.postponement_ground;
  if (!s.consultation_topics.empty()) j["consultation_topics"] = s.consultation_topics;
  if (s.postponed_until_ms != 0) j["postponed_until_ms"] = s.postponed_until_ms;
  if (!s.completeness.empty()) j["completeness"] = s.completeness;
  if (!s.deadline_kind.empty()) j["deadline_kind"] = s.deadline_kind;
  if (!s.extension_mode.empty()) j["extension_mode"] = s.extension_mode;
  if (s.new_deadline_ms != 0) j["new_deadline_ms"] = s.new_deadline_ms;
  if (!s.legal_basis_for_extension.empty()) j["legal_basis_for_extension"] = s.legal_basis_for_extension;
  if (!s.items.empty()) j["items"] = s.items;
  if (!s.stage.empty()) j["stage"] = s.stage;
  if (!s.status.empty()) j["status"] = s.status;
  if (!s.closure_reason.empty()) j["closure_reason"] = s.closure_reason;
  if (s.reply_by_ms != 0) j["reply_by_ms"] = s.reply_by_ms;
  return j;
}

workflow::Step StepFromStoredJson(const json& j) {
  workflow::Step s;
  s.kind = KindFrom(Str(j, "kind"));
  s.at_ms = Num(j, "at_ms");
  s.outcome = OutcomeFrom(Str(j, "outcome"));
  s.refusal_grounds = Strs(j, "refusal_grounds");
  s.reasons = Str(j, "reasons");
  s.postponement_ground = Str(j, "postponement_ground");
  s.consultation_topics = Strs(j, "consultation_topics");
  s.postponed_until_ms = Num(j, "postponed_until_ms");
  s.completeness = Str(j, "completeness");
  s.deadline_kind = Str(j, "deadline_kind");
  s.extension_mode = Str(j, "extension_mode");
  s.new_deadline_ms = Num(j, "new_deadline_ms");
  s.legal_basis_for_extension = Str(j, "legal_basis_for_extension");
  s.items = Strs(j, "items");
  s.stage = Str(j, "stage");
  s.status = Str(j, "status");
  s.closure_reason = Str(j, "closure_reason");
  s.reply_by_ms = Num(j, "reply_by_ms");
  return s;
}

json ToJson(const CaseRecord& c) {
  json j;
  j["id"] = c.id;
  j["role"] = std::string(workflow::RoleName(c.role));
  j["partner"] = c.partner;
  j["kind"] = c.kind;
  j["legal_basis"] = c.legal_basis;
  j["priority"] = c.priority;
  if (!c.priority_raised.empty()) {
    j["envelope_priority"] = c.envelope_priority;
    j["priority_raised"] = c.priority_raised;
  }
  j["case_ref"] = c.case_ref;
  j["info"] = {{"urgent", c.info.urgent},
               {"received_ms", c.info.received_ms},
               {"requested_deadline_ms", c.info.requested_deadline_ms},
               {"provisional_measures", c.info.provisional_measures},
               {"arrest_ms", c.info.arrest_ms},
               {"consent_ms", c.info.consent_ms}};
  if (c.info.full_request_ms != 0) {
    j["info"]["full_request_ms"] = c.info.full_request_ms;
    j["full_request_id"] = c.full_request_id;
  }
  j["exploitation_forms"] = c.exploitation_forms;
  j["child_victim"] = c.child_victim ? json(*c.child_victim) : json(nullptr);
  json steps = json::array();
  for (const CaseStepRecord& s : c.steps) {
    json e = {{"message_id", s.message_id},
              {"direction", s.direction},
              {"actor", std::string(workflow::RoleName(s.actor))},
              {"step", StepToJson(s.step)}};
    if (!s.refused_code.empty()) e["refused"] = {{"code", s.refused_code}, {"reason", s.refused_reason}};
    steps.push_back(std::move(e));
  }
  j["steps"] = std::move(steps);
  return j;
}

Result<CaseRecord> CaseFromJson(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("a stored case record is not a JSON object");
  CaseRecord c;
  c.id = Str(j, "id");
  c.role = RoleFrom(Str(j, "role"));
  c.partner = Str(j, "partner");
  c.kind = Str(j, "kind");
  c.legal_basis = Str(j, "legal_basis");
  c.priority = Str(j, "priority");
  c.envelope_priority = Str(j, "envelope_priority");
  c.priority_raised = Str(j, "priority_raised");
  c.case_ref = Str(j, "case_ref");
  c.info.kind = KindFrom(c.kind);
  c.info.legal_basis = BasisFrom(c.legal_basis);
  const json info = j.value("info", json::object());
  c.info.urgent = info.value("urgent", false);
  c.info.received_ms = Num(info, "received_ms");
  c.info.requested_deadline_ms = Num(info, "requested_deadline_ms");
  c.info.provisional_measures = info.value("provisional_measures", false);
  c.info.arrest_ms = Num(info, "arrest_ms");
  c.info.consent_ms = Num(info, "consent_ms");
  c.info.full_request_ms = Num(info, "full_request_ms");
  c.full_request_id = Str(j, "full_request_id");
  c.exploitation_forms = Strs(j, "exploitation_forms");
  if (j.contains("child_victim") && j["child_victim"].is_boolean()) c.child_victim = j["child_victim"].get<bool>();
  if (j.contains("steps") && j["steps"].is_array()) {
    for (const json& e : j["steps"]) {
      CaseStepRecord s;
      s.message_id = Str(e, "message_id");
      s.direction = Str(e, "direction");
      s.actor = RoleFrom(Str(e, "actor"));
      s.step = StepFromStoredJson(e.value("step", json::object()));
      if (e.contains("refused") && e["refused"].is_object()) {
        s.refused_code = Str(e["refused"], "code");
        s.refused_reason = Str(e["refused"], "reason");
      }
      c.steps.push_back(std::move(s));
    }
  }
  if (c.id.empty() || c.info.kind == wire::MessageKind::Unspecified)
    return Status::Corruption("a stored case record lacks its id or kind");
  return c;
}

Result<workflow::CaseState> Replay(const CaseRecord& c) {
  workflow::CaseState s = workflow::Start(c.info);
  for (const CaseStepRecord& st : c.steps) {
    if (!st.refused_code.empty()) continue;
    auto next = workflow::Apply(s, st.actor, st.step);
    if (!next.ok())
      return Status::Corruption("case " + c.id + ": stored step " + st.message_id + " no longer applies: " +
                                next.status().message());
    s = std::move(*next);
  }
  return s;
}

// The hub delivers a partner's messages in the order it accepted them, which
// after a resend or a restart need not be the order the partner sent them:
// a step can arrive before the one it follows (a request for further
// information before the acknowledgement). Such a step was stored refused as
// "not allowed now"; once a later arrival makes it valid, it is applied after
// that arrival (log event case.step_applied_late).
static void ApplyEarlyArrivals(CaseRecord& c) {
  bool changed = true;
  while (changed) {
    changed = false;
    auto state = Replay(c);
    if (!state.ok()) return;
    for (size_t i = 0; i + 1 < c.steps.size(); ++i) {
      CaseStepRecord& st = c.steps[i];
      if (st.direction != "in" || st.refused_code.empty() ||
          st.refused_reason.find("is not allowed now") == std::string::npos)
        continue;
      if (!workflow::Validate(*state, st.actor, st.step).ok()) continue;
      CaseStepRecord late = std::move(st);
      late.refused_code.clear();
      late.refused_reason.clear();
      c.steps.erase(c.steps.begin() + static_cast<std::ptrdiff_t>(i));
      ops::Info("case.step_applied_late", {{"case_id", c.id}, {"message_id", late.message_id}});
      c.steps.push_back(std::move(late));
      changed = true;
      break;
    }
  }
}

// A full extradition request names the provisional arrest it follows
// (ExtraditionRequest.provisional_arrest_ref, UNTOC 16(9)): that case, if this
// agent has it in `role` with `partner` and no full request was noted yet,
// with the full request noted (it stops the full_extradition_request clock).
static std::optional<CaseRecord> FollowedProvisionalArrest(const Cases& cases, wire::MessageKind kind,
                                                           std::string_view body_json, Role role,
                                                           const std::string& partner, const std::string& message_id,
                                                           UnixMillis now) {
  if (kind != wire::MessageKind::ExtraditionRequest) return std::nullopt;
  json body = json::parse(body_json.begin(), body_json.end(), nullptr, false);
  if (!body.is_object()) return std::nullopt;
  std::string ref = Str(body, "provisional_arrest_ref");
  if (ref.empty()) return std::nullopt;
  auto case_id = cases.CaseOf(ref);
  if (!case_id.ok() || !case_id->has_value()) return std::nullopt;
  auto got = cases.Get(**case_id);
  if (!got.ok() || !got->has_value()) return std::nullopt;
  CaseRecord pa = std::move(**got);
  if (pa.id != ref || pa.info.kind != wire::MessageKind::ProvisionalArrestRequest || pa.role != role ||
      pa.partner != partner || pa.info.full_request_ms != 0)
    return std::nullopt;
  pa.info.full_request_ms = now == 0 ? 1 : now;
  pa.full_request_id = message_id;
  ops::Info("case.full_request_linked", {{"case_id", pa.id}, {"message_id", message_id}});
  return pa;
}

// ---- the deadline policy ----

Result<PolicyInEffect> LoadCasesPolicy(const std::string& path) {
  PolicyInEffect p;
  p.path = path;
  if (path.empty()) {
    std::string_view text = workflow::DefaultPolicyToml();
    p.sha256 = crypto::ToHex(crypto::Sha256(AsBytes(text)));
    p.policy = workflow::DefaultPolicy();
    return p;
  }
  auto bytes = ReadFile(path, 1u << 20);
  if (!bytes.ok()) return bytes.status().Annotate("deadline policy " + path);
  p.sha256 = crypto::ToHex(crypto::Sha256(*bytes));
  auto parsed = workflow::ParsePolicy(AsString(*bytes), path, workflow::DefaultPolicy());
  if (!parsed.ok()) return Status::InvalidArgument(parsed.status().message());
  p.policy = std::move(*parsed);
  return p;
}

json PolicyJson(const PolicyInEffect& p) {
  json rules = json::array();
  for (const workflow::RuleInEffect& r : workflow::RulesInEffect(p.policy)) {
    json x = {{"basis", r.section},
              {"clock", r.clock},
              {"due", workflow::DurationText(r.rule.due_ms)},
              {"due_ms", r.rule.due_ms},
              {"urgent_due", r.rule.urgent_due_ms > 0 ? workflow::DurationText(r.rule.urgent_due_ms) : ""},
              {"extension", r.rule.extension_ms > 0 ? workflow::DurationText(r.rule.extension_ms) : ""},
              {"citation", r.rule.citation},
              {"note", r.rule.note}};
    // Whether the network's file set this rule differently from the embedded default.
    const auto& def = workflow::DefaultPolicy().sections;
    auto ds = def.find(r.section);
    const workflow::ClockRule* d = nullptr;
    if (ds != def.end())
      if (auto dc = ds->second.find(r.clock); dc != ds->second.end()) d = &dc->second;
    x["changed"] = d == nullptr || d->due_ms != r.rule.due_ms || d->urgent_due_ms != r.rule.urgent_due_ms ||
                   d->extension_ms != r.rule.extension_ms || d->citation != r.rule.citation || d->note != r.rule.note;
    rules.push_back(std::move(x));
  }
  return {{"source", p.path.empty() ? "embedded_default" : "file"},
          {"path", p.path},
          {"sha256", p.sha256},
          {"rules", std::move(rules)}};
}

// ---- reads ----

Result<std::optional<CaseRecord>> Cases::Get(std::string_view case_id) const {
  if (stager_.load() == std::this_thread::get_id()) {
    auto it = overlay_.find(case_id);
    if (it != overlay_.end()) return std::optional<CaseRecord>(it->second);
  }
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, store_.GetRaw(CaseKey(case_id)));
  if (!v) return std::optional<CaseRecord>();
  MLAHUB_ASSIGN_OR_RETURN(CaseRecord c, CaseFromJson(*v));
  return std::optional<CaseRecord>(std::move(c));
}

Result<std::optional<std::string>> Cases::CaseOf(std::string_view message_id) const {
  if (stager_.load() == std::this_thread::get_id()) {
    auto it = overlay_index_.find(message_id);
    if (it != overlay_index_.end()) return std::optional<std::string>(it->second);
  }
  return store_.GetRaw(IndexKey(message_id));
}

Result<std::vector<CaseRecord>> Cases::All() const {
  std::vector<CaseRecord> out;
  Status bad;
  MLAHUB_RETURN_IF_ERROR(store_.ScanRaw(kCasePrefix, [&](std::string_view, std::string_view v) {
    auto c = CaseFromJson(v);
    if (!c.ok()) {
      bad = c.status();
      return false;
    }
    out.push_back(std::move(*c));
    return true;
  }));
  MLAHUB_RETURN_IF_ERROR(bad);
  return out;
}

void Cases::Put(StoreBatch& b, const CaseRecord& c, std::string_view message_id) {
  for (const CaseRecord& l : c.linked) b.Put(CaseKey(l.id), StoredJson(ToJson(l)));
  b.Put(CaseKey(c.id), StoredJson(ToJson(c)));
  b.Put(IndexKey(message_id), c.id);
  if (!c.sealed_body.empty()) b.Put(BodyKey(message_id), c.sealed_body);
}

Result<std::optional<json>> Cases::SentBody(std::string_view message_id) const {
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> v, store_.GetRaw(BodyKey(message_id)));
  if (!v) return std::optional<json>();
  if (victims_ == nullptr) return Status::Unavailable("the copy of a sent body needs the agent's victims.key");
  MLAHUB_ASSIGN_OR_RETURN(std::string text, victims_->OpenText(*v, std::string(kBodyAad) + std::string(message_id)));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return Status::Corruption("the stored copy of sent body " + std::string(message_id) + " is not JSON");
  return std::optional<json>(std::move(j));
}

void NoteCasePriority(const CaseRecord& c, json& record) {
  record["case_priority"] = c.priority;
  if (c.priority_raised.empty()) return;
  record["priority_raised"] = c.priority_raised;
  record["priority_note"] =
      "a victim is a child, a priority category (Protocol Art. 6(4)): the agent treats this case as " + c.priority +
      " and its clocks as urgent; the envelope keeps the priority given (" + c.envelope_priority + ")";
}

// ---- sending ----

Result<std::optional<CaseRecord>> Cases::PrepareOutgoing(const OutgoingStep& m) const {
  if (IsRequestKind(m.kind)) {
    CaseRecord c = NewCase(m.message_id, Role::kRequesting, m.to, m.kind, wire::EnumNameLegalBasis(m.legal_basis),
                           wire::EnumNamePriority(m.priority), m.case_ref, m.body_json, m.now);
    MLAHUB_ASSIGN_OR_RETURN(c.sealed_body, SealSentBody(victims_.get(), m.message_id, m.kind, m.body_json));
    if (auto pa = FollowedProvisionalArrest(*this, m.kind, m.body_json, Role::kRequesting, m.to, m.message_id, m.now))
      c.linked.push_back(std::move(*pa));
    return std::optional<CaseRecord>(std::move(c));
  }
  if (!IsAnswerKind(m.kind) || m.in_reply_to.empty()) return std::optional<CaseRecord>();
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> case_id, CaseOf(m.in_reply_to));
  if (!case_id) return std::optional<CaseRecord>();  // a message outside any case: transport only
  MLAHUB_ASSIGN_OR_RETURN(std::optional<CaseRecord> c, Get(*case_id));
  if (!c) return Status::Corruption("case " + *case_id + " is indexed but not stored");
  if (c->partner != m.to)
    return Status::InvalidArgument(std::string(kStepRefusedPrefix) + "case " + c->id + " is with " + c->partner +
                                   ", not " + m.to);
  MLAHUB_ASSIGN_OR_RETURN(workflow::CaseState state, Replay(*c));
  auto step = workflow::StepFromJson(m.kind, m.body_json, m.now);
  if (!step.ok())
    return Status(step.status().code(), std::string(kStepRefusedPrefix) + step.status().message() +
                                            " (allowed now: " + AllowedText(state, c->role) + ")");
  Status v = workflow::Validate(state, c->role, *step);
  if (!v.ok()) {
    std::string msg = v.message();
    if (msg.find("allowed") == std::string::npos && msg.find("may now send") == std::string::npos)
      msg += " (allowed now: " + AllowedText(state, c->role) + ")";
    return Status(v.code(), std::string(kStepRefusedPrefix) + msg);
  }
  CaseStepRecord s;
  s.message_id = m.message_id;
  s.direction = "out";
  s.actor = c->role;
  s.step = *step;
  c->steps.push_back(std::move(s));
  MLAHUB_ASSIGN_OR_RETURN(c->sealed_body, SealSentBody(victims_.get(), m.message_id, m.kind, m.body_json));
  return c;
}

// ---- receiving ----

void Cases::BeginBatch() {
  mu_.lock();
  stager_ = std::this_thread::get_id();
  overlay_.clear();
  overlay_index_.clear();
}

void Cases::EndBatch() {
  stager_ = std::thread::id();
  overlay_.clear();
  overlay_index_.clear();
  mu_.unlock();
}

void Cases::StageIncoming(StoreBatch& b, IncomingRecord& rec, std::string_view body_json, UnixMillis now) {
  wire::MessageKind kind = KindFrom(rec.kind);
  auto keep = [&](CaseRecord c) {
    Put(b, c, rec.message_id);
    overlay_index_[rec.message_id] = c.id;
    overlay_[c.id] = std::move(c);
  };
  if (IsRequestKind(kind)) {
    CaseRecord c = NewCase(rec.message_id, Role::kRequested, rec.sender, kind, rec.legal_basis, rec.priority,
                           rec.case_ref, body_json, now);
    if (!c.priority_raised.empty())
      ops::Info("case.priority_raised", {{"case_id", c.id}, {"reason", c.priority_raised},
                                         {"envelope_priority", c.envelope_priority}});
    if (auto pa = FollowedProvisionalArrest(*this, kind, body_json, Role::kRequested, rec.sender, rec.message_id, now)) {
      b.Put(CaseKey(pa->id), StoredJson(ToJson(*pa)));
      overlay_[pa->id] = std::move(*pa);
    }
    keep(std::move(c));
    return;
  }
  if (!IsAnswerKind(kind) || rec.in_reply_to.empty()) return;
  auto case_id = CaseOf(rec.in_reply_to);
  if (!case_id.ok() || !case_id->has_value()) return;  // not a case this agent knows
  auto got = Get(**case_id);
  if (!got.ok() || !got->has_value()) {
    ops::Warn("case.unreadable", {{"case_id", **case_id}, {"message_id", rec.message_id}});
    return;
  }
  CaseRecord c = std::move(**got);
  CaseStepRecord s;
  s.message_id = rec.message_id;
  s.direction = "in";
  s.actor = Other(c.role);
  s.step.kind = kind;
  s.step.at_ms = now;
  Status why;
  if (rec.sender != c.partner) {
    why = Status::PermissionDenied(rec.sender + " is not a party to case " + c.id + " (" + c.partner + " is)");
  } else {
    auto state = Replay(c);
    auto step = workflow::StepFromJson(kind, body_json, now);
    if (!state.ok()) {
      why = state.status();
    } else if (!step.ok()) {
      why = step.status();
    } else {
      s.step = *step;
      why = workflow::Validate(*state, s.actor, *step);
    }
  }
  if (!why.ok()) {
    s.refused_code = std::string(CodeName(why.code()));
    s.refused_reason = why.message();
    rec.timeline.push_back(EvidenceEvent{"workflow_refused", now, "local", std::nullopt, s.refused_code,
                                         "step refused by the legal workflow (stored and receipted): " +
                                             why.message(),
                                         0});
    ops::Warn("case.step_refused", {{"case_id", c.id}, {"message_id", rec.message_id}, {"kind", rec.kind},
                                    {"code", s.refused_code}});
  }
  c.steps.push_back(std::move(s));
  if (why.ok()) ApplyEarlyArrivals(c);
  keep(std::move(c));
}

}  // namespace mlahub::agents
