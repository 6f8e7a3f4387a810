#include "mlahub/workflow/workflow.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace mlahub::workflow {

using json = nlohmann::ordered_json;
using K = wire::MessageKind;

std::string_view RoleName(Role r) { return r == Role::kRequesting ? "requesting" : "requested"; }

std::string_view StageName(Stage s) {
  switch (s) {
    case Stage::kReceived:
      return "received";
    case Stage::kAcknowledged:
      return "acknowledged";
    case Stage::kFurtherInformationRequested:
      return "further_information_requested";
    case Stage::kDecided:
      return "decided";
    case Stage::kInExecution:
      return "in_execution";
    case Stage::kPartiallyExecuted:
      return "partially_executed";
    case Stage::kExecuted:
      return "executed";
    case Stage::kClosed:
      return "closed";
    case Stage::kWithdrawn:
      return "withdrawn";
  }
  return "unknown";
}

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kNone:
      return "none";
    case Outcome::kExecute:
      return "execute";
    case Outcome::kExecutePartially:
      return "execute_partially";
    case Outcome::kRefuse:
      return "refuse";
    case Outcome::kPostpone:
      return "postpone";
    case Outcome::kConsult:
      return "consult";
  }
  return "none";
}

namespace {

enum class Owner { kRequesting, kRequested, kEither };

Owner OwnerOf(K k) {
  switch (k) {
    case K::FurtherInformationReply:
    case K::ProgressEnquiry:
    case K::Withdrawal:
      return Owner::kRequesting;
    case K::DeadlineExtension:
    case K::SurrenderArrangement:
    case K::CaseClosed:
      return Owner::kEither;
    default:
      return Owner::kRequested;
  }
}

constexpr K kSteps[] = {K::Acknowledgement,
                        K::FurtherInformationRequest,
                        K::FurtherInformationReply,
                        K::Decision,
                        K::ExecutionReport,
                        K::ProgressEnquiry,
                        K::ProgressReport,
                        K::Withdrawal,
                        K::DeadlineExtension,
                        K::SurrenderArrangement,
                        K::ProsecutionSubmissionNotice,
                        K::VerificationResult,
                        K::CaseClosed};

bool IsStep(K k) { return std::find(std::begin(kSteps), std::end(kSteps), k) != std::end(kSteps); }

bool Open(Stage s) { return s != Stage::kClosed && s != Stage::kWithdrawn; }

bool IsVerification(K k) {
  return k == K::DocumentVerificationRequest || k == K::NationalityVerificationRequest;
}

const FollowUp* FindFollowUp(const CaseState& s, std::string_view what) {
  for (const auto& f : s.follow_ups)
    if (f.what == what) return &f;
  return nullptr;
}

std::string Describe(const CaseState& s) {
  std::string d(StageName(s.stage));
  if (s.stage == Stage::kDecided) d += " (" + std::string(OutcomeName(s.decision)) + ")";
  return d;
}

// Is step kind `k` in order now (ignoring who takes it)?
bool InOrder(const CaseState& s, K k) {
  Stage st = s.stage;
  Outcome o = s.decision;
  bool decided_waiting =
      st == Stage::kDecided && (o == Outcome::kPostpone || o == Outcome::kConsult);
  switch (k) {
    case K::Acknowledgement:
      return st == Stage::kReceived;
    case K::FurtherInformationRequest:
      return st == Stage::kAcknowledged || decided_waiting || st == Stage::kInExecution ||
             st == Stage::kPartiallyExecuted;
    case K::FurtherInformationReply:
      return st == Stage::kFurtherInformationRequested ||
             (st == Stage::kDecided && o == Outcome::kConsult);
    case K::Decision:
      return st == Stage::kAcknowledged || decided_waiting;
    case K::ExecutionReport:
      return st == Stage::kInExecution || st == Stage::kPartiallyExecuted;
    case K::VerificationResult:
      return IsVerification(s.request.kind) &&
             (st == Stage::kReceived || st == Stage::kAcknowledged || st == Stage::kInExecution);
    case K::ProgressEnquiry:
      return Open(st) && st != Stage::kExecuted;
    case K::ProgressReport:
      return Open(st);
    case K::Withdrawal:
      return Open(st) && st != Stage::kExecuted;
    case K::DeadlineExtension:
      return Open(st);
    case K::SurrenderArrangement:
      return s.request.kind == K::ExtraditionRequest && st == Stage::kInExecution;
    case K::ProsecutionSubmissionNotice:
      return FindFollowUp(s, "prosecution_submission") != nullptr;
    case K::CaseClosed:
      return !s.HasOpenFollowUp() && (st == Stage::kExecuted || st == Stage::kWithdrawn ||
                                      (st == Stage::kDecided && o == Outcome::kRefuse));
    default:
      return false;
  }
}

bool RoleMay(Role r, K k) {
  Owner o = OwnerOf(k);
  return o == Owner::kEither || (o == Owner::kRequesting) == (r == Role::kRequesting);
}

std::string AllowedText(const CaseState& s) {
  std::string out;
  for (Role r : {Role::kRequested, Role::kRequesting}) {
    auto steps = s.AllowedSteps(r);
    out += "; the " + std::string(RoleName(r)) + " side may now send: ";
    if (steps.empty()) {
      out += "nothing";
    } else {
      for (size_t i = 0; i < steps.size(); ++i) out += (i ? ", " : "") + steps[i];
    }
  }
  return out;
}

Status Order(const CaseState& s, Role actor, K k) {
  std::string name = wire::EnumNameMessageKind(k);
  if (!IsStep(k))
    return Status::InvalidArgument(name +
                                   " is not a step of the legal workflow (answers and later "
                                   "steps are MessageKind 32-44)");
  if (!RoleMay(actor, k)) {
    Role other = actor == Role::kRequesting ? Role::kRequested : Role::kRequesting;
    return Status::PermissionDenied(name + " is the " + std::string(RoleName(other)) +
                                    " state's step, not the " + std::string(RoleName(actor)) +
                                    " state's" + AllowedText(s));
  }
  if (!InOrder(s, k)) {
    std::string why;
    if (k == K::CaseClosed && s.HasOpenFollowUp())
      why =
          " (extradite or prosecute: the case stays open until the ProsecutionSubmissionNotice, "
          "UNTOC Art. 16(10))";
    else if (k == K::VerificationResult && !IsVerification(s.request.kind))
      why = " (it answers a document or nationality verification only)";
    else if (k == K::SurrenderArrangement && s.request.kind != K::ExtraditionRequest)
      why = " (surrender follows a granted extradition request only)";
    else if (k == K::ProsecutionSubmissionNotice)
      why = " (it follows a refusal of extradition solely on nationality, UNTOC Art. 16(10))";
    return Status::InvalidArgument(name + " is not allowed now: the case is " + Describe(s) + why +
                                   AllowedText(s));
  }
  return Status::Ok();
}

Status Content(const CaseState& s, const Step& st) {
  switch (st.kind) {
    case K::Decision:
      switch (st.outcome) {
        case Outcome::kNone:
          return Status::InvalidArgument(
              "a Decision must state its outcome (Execute, ExecutePartially, Refuse, Postpone, "
              "Consult)");
        case Outcome::kRefuse:
        case Outcome::kExecutePartially: {
          bool grounds =
              std::any_of(st.refusal_grounds.begin(), st.refusal_grounds.end(),
                          [](const std::string& g) { return !g.empty() && g != "Unspecified"; });
          if (!grounds || st.reasons.empty())
            return Status::InvalidArgument(
                std::string("a refusal") +
                (st.outcome == Outcome::kExecutePartially ? " in part" : "") +
                " must give its grounds (refusal_grounds) and its reasons (reasons): \"reasons "
                "shall "
                "be given for any refusal\", UNTOC Art. 18(23); grounds " +
                (grounds ? "given" : "missing") + ", reasons " +
                (st.reasons.empty() ? "missing" : "given"));
          return Status::Ok();
        }
        case Outcome::kPostpone:
          if (st.reasons.empty() || st.postponement_ground.empty() ||
              st.postponement_ground == "Unspecified")
            return Status::InvalidArgument(
                "a postponement must give its ground (postponement_ground) and reasons (reasons), "
                "UNTOC Art. 18(25)");
          return Status::Ok();
        case Outcome::kConsult:
          if (st.consultation_topics.empty())
            return Status::InvalidArgument(
                "a consultation must say what it is about (consultation_topics), UNTOC Art. "
                "18(26), "
                "16(16)");
          return Status::Ok();
        default:
          return Status::Ok();
      }
    case K::ExecutionReport:
      if (st.completeness != "Partial" && st.completeness != "Full")
        return Status::InvalidArgument(
            "an ExecutionReport must say whether it is Partial or Full (completeness)");
      return Status::Ok();
    case K::DeadlineExtension:
      if (st.reasons.empty() || st.new_deadline_ms == 0 || st.deadline_kind.empty() ||
          st.deadline_kind == "Unspecified")
        return Status::InvalidArgument(
            "a DeadlineExtension must name the deadline (deadline), the new date (new_deadline_ms) "
            "and its reasons (reasons)");
      return Status::Ok();
    default:
      return Status::Ok();
  }
}

Outcome ParseOutcome(const std::string& s) {
  if (s == "Execute") return Outcome::kExecute;
  if (s == "ExecutePartially") return Outcome::kExecutePartially;
  if (s == "Refuse") return Outcome::kRefuse;
  if (s == "Postpone") return Outcome::kPostpone;
  if (s == "Consult") return Outcome::kConsult;
  return Outcome::kNone;
}

}  // namespace

bool CaseState::HasOpenFollowUp() const {
  return std::any_of(follow_ups.begin(), follow_ups.end(),
                     [](const FollowUp& f) { return f.open(); });
}

std::vector<std::string> CaseState::AllowedSteps(Role role) const {
  std::vector<std::string> out;
  for (K k : kSteps)
    if (RoleMay(role, k) && InOrder(*this, k)) out.push_back(wire::EnumNameMessageKind(k));
  return out;
}

CaseState Start(const RequestInfo& info) {
  CaseState s;
  s.request = info;
  s.stage = Stage::kReceived;
  return s;
}

Status Validate(const CaseState& state, Role actor, const Step& step) {
  MLAHUB_RETURN_IF_ERROR(Order(state, actor, step.kind));
  return Content(state, step);
}

Result<CaseState> Apply(const CaseState& state, Role actor, const Step& step) {
  MLAHUB_RETURN_IF_ERROR(Validate(state, actor, step));
  CaseState s = state;
  switch (step.kind) {
    case K::Acknowledgement:
      s.stage = Stage::kAcknowledged;
      break;
    case K::FurtherInformationRequest:
      s.before_further_information = s.stage;
      s.stage = Stage::kFurtherInformationRequested;
      break;
    case K::FurtherInformationReply:
      if (s.stage == Stage::kFurtherInformationRequested) {
        s.stage = s.before_further_information;
      } else {  // the reply to a consultation: a new decision is awaited
        s.stage = Stage::kAcknowledged;
      }
      break;
    case K::Decision:
      s.decision = step.outcome;
      if (step.outcome == Outcome::kExecute || step.outcome == Outcome::kExecutePartially) {
        s.stage = Stage::kInExecution;
      } else {
        s.stage = Stage::kDecided;
      }
      if (step.outcome == Outcome::kRefuse && s.request.kind == K::ExtraditionRequest &&
          !step.refusal_grounds.empty() &&
          std::all_of(step.refusal_grounds.begin(), step.refusal_grounds.end(),
                      [](const std::string& g) { return g == "NationalityOfPerson"; })) {
        s.follow_ups.push_back({"prosecution_submission", "UNTOC Art. 16(10)", step.at_ms, 0});
      }
      break;
    case K::ExecutionReport:
      s.stage = step.completeness == "Full" ? Stage::kExecuted : Stage::kPartiallyExecuted;
      break;
    case K::VerificationResult:
      s.stage = Stage::kExecuted;
      break;
    case K::Withdrawal:
      if (step.items.empty()) s.stage = Stage::kWithdrawn;
      break;
    case K::SurrenderArrangement:
      if (step.stage == "Completed") s.stage = Stage::kExecuted;
      break;
    case K::ProsecutionSubmissionNotice:
      for (auto& f : s.follow_ups)
        if (f.what == "prosecution_submission" && f.open()) f.closed_ms = step.at_ms;
      break;
    case K::CaseClosed:
      s.stage = Stage::kClosed;
      break;
    default:
      break;  // ProgressEnquiry, ProgressReport, DeadlineExtension: recorded only
  }
  s.history.push_back({actor, step, s.stage});
  return s;
}

Result<Step> StepFromJson(wire::MessageKind kind, std::string_view body_json, UnixMillis at_ms) {
  if (!IsStep(kind))
    return Status::InvalidArgument(std::string(wire::EnumNameMessageKind(kind)) +
                                   " is not a step of the legal workflow");
  json j = json::parse(body_json.begin(), body_json.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::Malformed("the step's body is not a JSON object");
  auto str = [&](const char* k) -> std::string {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string()) return "";
    std::string v = it->get<std::string>();
    return v == "Unspecified" ? "" : v;
  };
  auto num = [&](const char* k) -> UnixMillis {
    auto it = j.find(k);
    if (it == j.end()) return 0;
    if (it->is_number_integer()) return it->get<int64_t>();
    if (it->is_string()) {
      try {
        return std::stoll(it->get<std::string>());
      } catch (...) {
        return 0;
      }
    }
    return 0;
  };
  auto list = [&](const char* k) {
    std::vector<std::string> out;
    auto it = j.find(k);
    if (it != j.end() && it->is_array())
      for (const auto& e : *it)
        if (e.is_string() && e.get<std::string>() != "Unspecified")
          out.push_back(e.get<std::string>());
    return out;
  };
  Step s;
  s.kind = kind;
  s.at_ms = at_ms;
  switch (kind) {
    case K::Decision:
      s.outcome = ParseOutcome(str("outcome"));
      s.refusal_grounds = list("refusal_grounds");
      s.reasons = str("reasons");
      s.postponement_ground = str("postponement_ground");
      s.postponed_until_ms = num("postponed_until_ms");
      s.consultation_topics = list("consultation_topics");
      s.reply_by_ms = num("reply_by_ms");
      break;
    case K::ExecutionReport:
      s.completeness = str("completeness");
      break;
    case K::DeadlineExtension:
      s.deadline_kind = str("deadline");
      s.extension_mode = str("mode");
      s.new_deadline_ms = num("new_deadline_ms");
      s.reasons = str("reasons");
      s.legal_basis_for_extension = str("legal_basis_for_extension");
      break;
    case K::Withdrawal:
      s.items = list("items");
      s.reasons = str("reasons");
      break;
    case K::SurrenderArrangement:
      s.stage = str("stage");
      break;
    case K::ProsecutionSubmissionNotice:
      s.status = str("status");
      break;
    case K::CaseClosed:
      s.closure_reason = str("reason");
      break;
    case K::FurtherInformationRequest:
    case K::ProgressEnquiry:
      s.reply_by_ms = num("reply_by_ms");
      break;
    default:
      break;
  }
  // Trim blank reasons so "   " does not pass for a reason.
  if (s.reasons.find_first_not_of(" \t\r\n") == std::string::npos) s.reasons.clear();
  return s;
}

}  // namespace mlahub::workflow
