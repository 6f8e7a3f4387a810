// mlahub list | case | respond | withdraw | extend | stats | reveals: the legal workflow
// of each case, over the agent's local API (GET /v1/cases, /v1/cases/{id},
// /v1/stats; steps are sent with POST /v1/messages, which the agent checks
// against the case's state before sealing: agents/README.md "Cases").
// Victims' identifying data is masked unless `case ID --reveal --reason TEXT`,
// which the agent records (GET /v1/reveals, `mlahub reveals`).
//
// Which agent: --agent CONFIG, else the environment variable MLAHUB_AGENT.
// Exit codes: 0 ok, 2 usage, 3 a step or request the workflow refuses,
// 4 no such case, 5 the agent is unreachable.
#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "mlahub/agents/api_client.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/file.h"
#include "mlahub/workflow/deadlines.h"

namespace mlahub::cli {
// A named namespace, not an anonymous one: under a unity build this file and
// cmd_agent.cc / cmd_evidence.cc share one translation unit (ListArgs, Pad, ...).
namespace case_cmd {

using nlohmann::json;

struct CaseArgs {
  std::string agent;
  bool json = false;
};

void AddOptions(CLI::App* c, CaseArgs& a) {
  c->add_option("--agent", a.agent,
                "The agent's configuration file (agent.toml); default: the environment variable MLAHUB_AGENT");
  c->add_flag("--json", a.json, "Machine-readable output");
}

Result<agents::ApiClient> Client(const CaseArgs& a) {
  std::string path = a.agent;
  if (path.empty())
    if (const char* v = std::getenv("MLAHUB_AGENT"); v != nullptr) path = v;
  if (path.empty())
    return Status::InvalidArgument("which agent? give --agent CONFIG (the agent's configuration file) or set MLAHUB_AGENT");
  return agents::ApiClient::FromConfigFile(path);
}


std::string S(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string Pad(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s + " ";
}

std::string Left(const json& v) {
  if (!v.is_number_integer()) return "-";
  int64_t ms = v.get<int64_t>();
  bool neg = ms < 0;
  int64_t a = neg ? -ms : ms;
  int64_t d = a / workflow::kDayMs, h = (a % workflow::kDayMs) / workflow::kHourMs;
  std::string t = d > 0 ? std::to_string(d) + "d" + std::to_string(h) + "h" : std::to_string(h) + "h" +
                                                                              std::to_string((a % workflow::kHourMs) / 60000) + "m";
  return neg ? "OVERDUE " + t : t;
}

// "2026-12-31", "2026-12-31T12:00:00Z" or milliseconds since the epoch.
Result<UnixMillis> ParseDate(const std::string& t) {
  if (!t.empty() && t.find_first_not_of("0123456789") == std::string::npos && t.size() > 10) return std::stoll(t);
  std::tm tm{};
  const char* end = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) {
    tm = {};
    end = strptime(t.c_str(), "%Y-%m-%d", &tm);
  }
  if (end == nullptr || (*end != 0 && std::string(end) != "Z" && std::string(end) != ".000Z"))
    return Status::InvalidArgument("\"" + t + "\" is not a date: give YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)");
  return static_cast<UnixMillis>(timegm(&tm)) * 1000;
}

UnixMillis Now() { return SystemClock().NowMillis(); }

// ---- list ----
struct ListArgs : CaseArgs {
  bool overdue = false;
  std::string due_within, state, partner, kind;
};

int RunList(const ListArgs& a) {
  std::string q = "/v1/cases?";
  if (a.overdue) q += "overdue=1&";
  if (!a.due_within.empty()) {
    auto d = workflow::ParseDuration(a.due_within);
    if (!d.ok()) return Fail(d.status().Annotate("--due-within"), a.json);
    q += "due_within_ms=" + std::to_string(*d) + "&";
  }
  if (!a.state.empty()) q += "state=" + a.state + "&";
  if (!a.partner.empty()) q += "partner=" + a.partner + "&";
  if (!a.kind.empty()) q += "kind=" + a.kind + "&";
  q.pop_back();
  auto c = Client(a);
  if (!c.ok()) return Fail(c.status(), a.json);
  auto r = c->Get(q);
  if (!r.ok()) return FailWorkflow(r.status(), a.json);
  if (a.json) {
    std::cout << r->dump() << std::endl;
    return kExitOk;
  }
  const json& cases = (*r)["cases"];
  if (cases.empty()) {
    std::cout << "no cases match\n";
    return kExitOk;
  }
  size_t kind_w = 4;  // as wide as the longest kind shown
  for (const json& x : cases) kind_w = std::max(kind_w, S(x, "kind").size());
  std::cout << Pad("CASE ID", 32) << Pad("KIND", kind_w) << Pad("PARTNER", 8) << Pad("ROLE", 10) << Pad("STAGE", 30)
            << Pad("NEXT DUE", 24) << "TIME LEFT\n";
  for (const json& x : cases) {
    std::string stage = S(x, "stage");
    if (S(x, "decision") != "none") stage += " (" + S(x, "decision") + ")";
    std::string due = S(x, "next_due");
    std::string next = due.empty() ? "-" : due;
    std::string left = Left(x["time_left_ms"]);
    if (x.value("overdue", false) && left.rfind("OVERDUE", 0) != 0) left = "OVERDUE (enquiry)";
    std::cout << Pad(S(x, "id"), 32) << Pad(S(x, "kind"), kind_w) << Pad(S(x, "partner"), 8) << Pad(S(x, "role"), 10)
              << Pad(stage, 30) << Pad(next, 24) << left << "\n";
    for (const json& f : x.value("follow_ups", json::array()))
      if (f.value("open", false)) std::cout << "    follow-up open: " << S(f, "what") << " (" << S(f, "citation") << ")\n";
  }
  return kExitOk;
}

// ---- case ----
struct IdArgs : CaseArgs {
  std::string id;
  bool reveal = false;
  bool body = false;
  std::string reason;
};

void PrintCase(const json& j, bool with_body = false) {
  std::string stage = S(j, "stage");
  if (S(j, "decision") != "none") stage += " (" + S(j, "decision") + ")";
  std::cout << "case      " << S(j, "id") << "  " << S(j, "kind") << " under " << S(j, "legal_basis") << "\n"
            << "partner   " << S(j, "partner") << " (we are the " << S(j, "role") << " state)\n"
            << "stage     " << stage << (j.value("overdue", false) ? "   ** OVERDUE **" : "") << "\n"
            << "opened    " << S(j, "opened") << "\n";
  std::cout << "priority  " << S(j, "priority");
  if (!S(j, "priority_raised").empty())
    std::cout << " (raised from " << S(j, "envelope_priority") << ": a victim is a child, Protocol Art. 6(4))";
  std::cout << "\n";
  if (std::string v = S(j, "victim_data"); v == "masked" || v == "revealed")
    std::cout << "victims   "
              << (v == "masked" ? "identifying data masked: " + S(j, "victim_data_note")
                                : "identifying data REVEALED (recorded as reveal #" + S(j, "reveal_id") + ")")
              << "\n";
  if (j.contains("full_request"))
    std::cout << "followed  by the full extradition request " << S(j["full_request"], "message_id") << " ("
              << S(j["full_request"], "at") << ")\n";
  std::cout << "\nclocks (" << j["clocks"].size() << " open; counted from " << S(j, "clocks_from") << ")\n";
  for (const json& c : j["clocks"]) {
    std::cout << "  " << Pad(S(c, "name"), 26) << "due " << Pad(S(c, "due"), 25) << Pad(Left(c["time_left_ms"]), 16)
              << S(c, "owner") << " side; " << S(c, "citation") << "\n";
    if (!S(c, "note").empty()) std::cout << "      " << S(c, "note") << "\n";
    if (c.value("receipt_unconfirmed", false)) std::cout << "      " << S(c, "start_note") << "\n";
    for (const json& e : c.value("extensions", json::array()))
      std::cout << "      extended to " << S(e, "new_due") << ": " << S(e, "reasons") << "\n";
  }
  for (const json& f : j.value("follow_ups", json::array()))
    std::cout << "  follow-up " << S(f, "what") << " (" << S(f, "citation") << ") "
              << (f.value("open", false) ? "OPEN" : "closed") << "\n";
  auto join = [](const json& a) {
    std::string t;
    for (const json& x : a) t += (t.empty() ? "" : ", ") + x.get<std::string>();
    return t.empty() ? std::string("none") : t;
  };
  std::cout << "\nwe may now send:      " << join(j["allowed_steps"]["mine"]) << "\n"
            << "the partner may send: " << join(j["allowed_steps"]["partner"]) << "\n\n";
  // The STEP column is as wide as the longest step name shown (never cut).
  size_t step_w = 4;
  for (const json& e : j["timeline"]) step_w = std::max(step_w, S(e, "kind").size());
  std::cout << Pad("TIME", 25) << Pad("STEP", step_w) << Pad("BY", 11) << Pad("MESSAGE", 32) << Pad("TRANSPORT", 10)
            << "NOTE\n";
  for (const json& e : j["timeline"]) {
    std::string note;
    const json& step = e.value("step", json::object());
    if (step.contains("outcome")) note += S(step, "outcome");
    if (step.contains("refusal_grounds")) note += " grounds " + step["refusal_grounds"].dump();
    if (step.contains("completeness")) note += S(step, "completeness");
    if (e.contains("workflow_refused"))
      note = "REFUSED by the workflow: " + S(e["workflow_refused"], "reason");
    std::string transport = e["transport"].is_object() ? S(e["transport"], "state") : "-";
    std::cout << Pad(S(e, "at"), 25) << Pad(S(e, "kind"), step_w) << Pad(S(e, "actor"), 11)
              << Pad(S(e, "message_id"), 32) << Pad(transport, 10) << note << "\n";
  }
  if (with_body && j.contains("request_body") && !j["request_body"].is_null())
    std::cout << "\nrequest body\n" << j["request_body"].dump(2) << "\n";
}

int RunCase(const IdArgs& a) {
  auto c = Client(a);
  if (!c.ok()) return Fail(c.status(), a.json);
  if (a.reveal && a.reason.empty())
    return Fail(Status::InvalidArgument("--reveal needs --reason TEXT (every reveal of victims' data is recorded)"),
                a.json);
  if (!a.reveal && !a.reason.empty()) return Fail(Status::InvalidArgument("--reason goes with --reveal"), a.json);
  auto r = c->Get("/v1/cases/" + a.id + (a.reveal ? "?" + RevealQuery(a.reason) : ""));
  if (!r.ok()) return FailWorkflow(r.status(), a.json);
  if (a.json) {
    std::cout << r->dump() << std::endl;
  } else {
    PrintCase(*r, a.body || a.reveal);
  }
  return kExitOk;
}

// ---- reveals ----
int RunReveals(const CaseArgs& a) {
  auto c = Client(a);
  if (!c.ok()) return Fail(c.status(), a.json);
  auto r = c->Get("/v1/reveals");
  if (!r.ok()) return FailWorkflow(r.status(), a.json);
  if (a.json) {
    std::cout << r->dump() << std::endl;
    return kExitOk;
  }
  const json& all = (*r)["reveals"];
  if (all.empty()) {
    std::cout << "no reveals of victims' data recorded\n";
    return kExitOk;
  }
  std::cout << Pad("#", 5) << Pad("TIME", 25) << Pad("WHAT", 8) << Pad("ID", 32) << Pad("FIELDS", 7)
            << Pad("WHO", 30) << "REASON\n";
  for (const json& x : all) {
    std::string who = S(x, "user");
    who += (who.empty() ? "" : " ") + S(x, "token");
    std::cout << Pad(S(x, "id"), 5) << Pad(S(x, "at"), 25) << Pad(S(x, "what"), 8) << Pad(S(x, "target"), 32)
              << Pad(S(x, "fields"), 7) << Pad(who, 30) << S(x, "reason") << "\n";
  }
  return kExitOk;
}

// ---- respond / withdraw / extend ----
struct RespondArgs : CaseArgs {
  std::string id, step, body_file, decide, grounds, reasons, summary, reference, completeness = "Full",
                                                                               stage = "InExecution",
                                                                               close_reason = "Executed",
                                                                               message_id;
  std::vector<std::string> questions, answers;
  // withdraw / extend
  std::string withdraw_code = "NoLongerNeeded", deadline, until, mode = "Notice",
              extension_basis = "UNTOC Art. 18(24)";
};

std::string OutcomeName(const std::string& d) {
  if (d == "execute") return "Execute";
  if (d == "execute-partially" || d == "execute_partially" || d == "partial") return "ExecutePartially";
  if (d == "refuse") return "Refuse";
  if (d == "postpone") return "Postpone";
  if (d == "consult") return "Consult";
  return "";
}

// Sends `kind` with `body` in reply to the case `id` (the partner from the case).
int SendStep(const RespondArgs& a, const std::string& kind, json body) {
  auto c = Client(a);
  if (!c.ok()) return Fail(c.status(), a.json);
  auto cs = c->Get("/v1/cases/" + a.id);
  if (!cs.ok()) return FailWorkflow(cs.status(), a.json);
  if (!a.body_file.empty()) {
    auto f = ReadFile(a.body_file, 16u << 20);
    if (!f.ok()) return Fail(f.status().Annotate("--body " + a.body_file), a.json);
    json base = json::parse(f->begin(), f->end(), nullptr, false);
    if (base.is_discarded() || !base.is_object())
      return Fail(Status::InvalidArgument("--body must be a JSON object: the body of a " + kind), a.json);
    base.update(body);  // the flags win
    body = std::move(base);
  }
  json req = {{"to", S(*cs, "partner")}, {"kind", kind}, {"body", body}, {"in_reply_to", a.id}};
  if (!S(*cs, "case_ref").empty()) req["case_ref"] = S(*cs, "case_ref");
  if (!a.message_id.empty()) req["message_id"] = a.message_id;
  auto r = c->PostJson("/v1/messages", req);
  if (!r.ok()) return FailWorkflow(r.status(), a.json);
  if (a.json) {
    std::cout << r->dump() << std::endl;
  } else {
    std::cout << kind << " sent: " << S(*r, "message_id") << "\n";
  }
  return kExitOk;
}

int RunRespond(const RespondArgs& a) {
  const UnixMillis now = Now();
  const std::string& st = a.step;
  json b = json::object();
  if (st == "acknowledge") {
    b = {{"received_ms", now}, {"reference", a.reference.empty() ? a.id : a.reference}};
    return SendStep(a, "Acknowledgement", b);
  }
  if (st == "request-info") {
    if (a.questions.empty() && a.body_file.empty())
      return Fail(Status::InvalidArgument("request-info needs --question TEXT (repeat for more) and --reasons TEXT"), a.json);
    json items = json::array();
    for (size_t i = 0; i < a.questions.size(); ++i)
      items.push_back({{"label", "Q" + std::to_string(i + 1)}, {"question", a.questions[i]}, {"reason", a.reasons}});
    if (!items.empty()) b["items"] = items;
    return SendStep(a, "FurtherInformationRequest", b);
  }
  if (st == "reply-info") {
    if (a.answers.empty() && a.body_file.empty())
      return Fail(Status::InvalidArgument("reply-info needs --answer TEXT (one per question, in order)"), a.json);
    json ans = json::array();
    for (size_t i = 0; i < a.answers.size(); ++i)
      ans.push_back({{"label", "Q" + std::to_string(i + 1)}, {"answer", a.answers[i]}});
    if (!ans.empty()) b["answers"] = ans;
    return SendStep(a, "FurtherInformationReply", b);
  }
  if (st == "decide") {
    std::string o = OutcomeName(a.decide);
    if (o.empty() && a.body_file.empty())
      return Fail(Status::InvalidArgument("decide needs --decide execute|execute-partially|refuse|postpone|consult"),
                  a.json);
    if (!o.empty()) b["outcome"] = o;
    b["decided_ms"] = now;
    if (!a.grounds.empty()) b["refusal_grounds"] = SplitCsv(a.grounds);
    if (!a.reasons.empty()) b["reasons"] = a.reasons;
    return SendStep(a, "Decision", b);
  }
  if (st == "progress") {
    b = {{"stage", a.stage}, {"as_of_ms", now}, {"summary", a.summary.empty() ? "In progress." : a.summary}};
    return SendStep(a, "ProgressReport", b);
  }
  if (st == "execute") {
    b = {{"completeness", a.completeness}, {"executed_ms", now},
         {"summary", a.summary.empty() ? "Executed." : a.summary}};
    return SendStep(a, "ExecutionReport", b);
  }
  if (st == "close") {
    b = {{"reason", a.close_reason}, {"closed_ms", now}};
    return SendStep(a, "CaseClosed", b);
  }
  return Fail(Status::InvalidArgument("--step must be acknowledge, request-info, reply-info, decide, progress, "
                                      "execute or close"),
              a.json);
}

int RunWithdraw(const RespondArgs& a) {
  json b = {{"reason", a.withdraw_code}};
  if (!a.reasons.empty()) b["reasons"] = a.reasons;
  return SendStep(a, "Withdrawal", b);
}

int RunExtend(const RespondArgs& a) {
  auto until = ParseDate(a.until);
  if (!until.ok()) return Fail(until.status().Annotate("--until"), a.json);
  json b = {{"deadline", a.deadline},
            {"mode", a.mode},
            {"new_deadline_ms", *until},
            {"reasons", a.reasons},
            {"legal_basis_for_extension", a.extension_basis}};
  return SendStep(a, "DeadlineExtension", b);
}

// ---- stats ----
int RunStats(const CaseArgs& a) {
  auto c = Client(a);
  if (!c.ok()) return Fail(c.status(), a.json);
  auto r = c->Get("/v1/stats");
  if (!r.ok()) return FailWorkflow(r.status(), a.json);
  if (a.json) {
    std::cout << r->dump() << std::endl;
    return kExitOk;
  }
  const json& j = *r;
  std::cout << "cases " << S(j, "cases") << ", overdue " << S(j, "overdue") << "  (as of " << S(j, "now") << ")\n";
  for (const char* k : {"by_kind", "by_partner", "by_role", "by_stage", "by_outcome", "victims"}) {
    std::cout << "\n" << k << "\n";
    for (const auto& [name, n] : j[k].items()) std::cout << "  " << Pad(name, 34) << n.dump() << "\n";
  }
  std::cout << "\nby_exploitation_form (cases, then outcomes)\n";
  for (const auto& [form, m] : j["by_exploitation_form"].items()) {
    std::cout << "  " << Pad(form, 34) << m.value("cases", 0);
    for (const auto& [o, n] : m.items())
      if (o != "cases") std::cout << "  " << o << " " << n.dump();
    std::cout << "\n";
  }
  for (const char* k : {"time_to_acknowledge", "time_to_execute"}) {
    const json& d = j[k];
    std::cout << "\n" << k << ": " << S(d, "count") << " cases";
    if (d.value("count", 0) > 0) std::cout << ", median " << Left(d["median_ms"]) << ", p90 " << Left(d["p90_ms"]);
    std::cout << "\n";
  }
  return kExitOk;
}

void Register(CLI::App& app) {
  auto list = std::make_shared<ListArgs>();
  CLI::App* l = app.add_subcommand("list", "Cases with their stage and clocks (soonest due first)");
  l->add_flag("--overdue", list->overdue, "Only cases with an overdue clock or unanswered progress enquiry");
  l->add_option("--due-within", list->due_within, "Only cases with a clock due within this time (e.g. 7d, 36h)");
  l->add_option("--state", list->state, "A stage (received, acknowledged, decided, ...), or open / closed");
  l->add_option("--partner", list->partner, "The other state's node id");
  l->add_option("--kind", list->kind, "The request kind (name or alias)");
  AddOptions(l, *list);
  l->callback([list] { ExitCode() = RunList(*list); });

  auto cs = std::make_shared<IdArgs>();
  CLI::App* c = app.add_subcommand("case", "One case: legal timeline with transport evidence, clocks, allowed steps");
  c->add_option("ID", cs->id, "The case id (the request's message id) or any message id of the case")->required();
  c->add_flag("--reveal", cs->reveal,
              "Show victims' identifying data in clear (masked otherwise); needs --reason; the agent records it");
  c->add_option("--reason", cs->reason, "Why the victims' data is needed (recorded with the reveal)");
  c->add_flag("--body", cs->body, "Also print the request's body (victims' data masked unless --reveal)");
  AddOptions(c, *cs);
  c->callback([cs] { ExitCode() = RunCase(*cs); });

  auto rs = std::make_shared<RespondArgs>();
  CLI::App* r = app.add_subcommand(
      "respond",
      "Take a step in a case: acknowledge, request-info, reply-info, decide, progress, execute, close.\n"
      "The agent checks it against the case's state first (exit 3 and the steps allowed if refused).\n"
      "Example: mlahub respond ID --step decide --decide refuse --grounds PrejudiceToEssentialInterests "
      "--reasons TEXT");
  r->add_option("ID", rs->id, "The case id or a message id of the case")->required();
  r->add_option("--step", rs->step, "acknowledge|request-info|reply-info|decide|progress|execute|close")->required();
  r->add_option("--decide", rs->decide, "decide: execute|execute-partially|refuse|postpone|consult");
  r->add_option("--grounds", rs->grounds, "decide refuse: RefusalGround names, comma-separated (UNTOC 18(21))");
  r->add_option("--reasons", rs->reasons, "Reasons in words (refusal, postponement: UNTOC 18(23); request-info)");
  r->add_option("--question", rs->questions, "request-info: a question (repeat for more)");
  r->add_option("--answer", rs->answers, "reply-info: an answer, in the order of the questions (repeat)");
  r->add_option("--summary", rs->summary, "progress / execute: a summary");
  r->add_option("--stage", rs->stage, "progress: ExecutionStage (InExecution, AwaitingCourtDecision, ...)")
      ->capture_default_str();
  r->add_option("--completeness", rs->completeness, "execute: Full or Partial")->capture_default_str();
  r->add_option("--close-reason", rs->close_reason, "close: ClosureReason (Executed, Refused, ...)")->capture_default_str();
  r->add_option("--reference", rs->reference, "acknowledge: our reference (a number, never a name)");
  r->add_option("--body", rs->body_file, "A JSON file with the body; the flags above are merged over it");
  r->add_option("--message-id", rs->message_id, "Choose the message id (makes a retry idempotent)");
  AddOptions(r, *rs);
  r->callback([rs] { ExitCode() = RunRespond(*rs); });

  auto wd = std::make_shared<RespondArgs>();
  CLI::App* w = app.add_subcommand("withdraw", "Withdraw a request this state sent (the requesting side's step)");
  w->add_option("ID", wd->id, "The case id")->required();
  w->add_option("--reason", wd->reasons, "Why, in words");
  w->add_option("--code", wd->withdraw_code, "WithdrawalReason (NoLongerNeeded, ProceedingsEnded, ...)")
      ->capture_default_str();
  w->add_option("--body", wd->body_file, "A JSON file with the Withdrawal body; the flags are merged over it");
  AddOptions(w, *wd);
  w->callback([wd] { ExitCode() = RunWithdraw(*wd); });

  auto ex = std::make_shared<RespondArgs>();
  CLI::App* e = app.add_subcommand("extend", "Extend a deadline of a case, with reasons");
  e->add_option("ID", ex->id, "The case id")->required();
  e->add_option("--deadline", ex->deadline, "DeadlineKind: RecognitionDecision, Execution, Acknowledgement, ...")
      ->required();
  e->add_option("--until", ex->until, "The new date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)")->required();
  e->add_option("--reason", ex->reasons, "Why (mandatory)")->required();
  e->add_option("--mode", ex->mode, "ExtensionMode: Notice, Request, Grant, Refusal")->capture_default_str();
  e->add_option("--legal-basis", ex->extension_basis, "The provision allowing the extension")->capture_default_str();
  AddOptions(e, *ex);
  e->callback([ex] { ExitCode() = RunExtend(*ex); });

  auto st = std::make_shared<CaseArgs>();
  CLI::App* s = app.add_subcommand(
      "stats", "Aggregate, anonymous figures: cases by kind, partner, outcome, form of exploitation, victims; "
               "time to acknowledge and execute");
  AddOptions(s, *st);
  s->callback([st] { ExitCode() = RunStats(*st); });

  auto rv = std::make_shared<CaseArgs>();
  CLI::App* v = app.add_subcommand(
      "reveals", "Every reveal of victims' identifying data at this agent: when, what, who (API token), why");
  AddOptions(v, *rv);
  v->callback([rv] { ExitCode() = RunReveals(*rv); });
}

}  // namespace case_cmd

void PrintCaseView(const nlohmann::json& c) { case_cmd::PrintCase(c); }

void RegisterCaseCommands(CLI::App& app) { case_cmd::Register(app); }

}  // namespace mlahub::cli
