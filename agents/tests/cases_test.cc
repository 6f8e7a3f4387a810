// Cases in the agent, in process: a real case store (RocksDB in a temp dir),
// both ends of a case, steps allowed and refused before sending and on
// receipt, clocks at chosen times, statistics.
#include "mlahub/agents/cases.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "mlahub/agents/case_store.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/random.h"
#include "test_bodies.h"

namespace mlahub::agents {
namespace {

using nlohmann::json;
using K = wire::MessageKind;
constexpr UnixMillis kT0 = 1'800'000'000'000;  // a fixed start; every time below is relative to it
constexpr int64_t kDay = workflow::kDayMs;

std::string TempDir(const char* tag) {
  std::string d = (std::filesystem::temp_directory_path() / (std::string("mlahub-") + tag + "-" +
                                                             crypto::NewMessageIdText()))
                      .string();
  std::filesystem::create_directories(d);
  return d;
}

// One agent's side: its store and cases.
struct Side {
  std::string dir;
  std::unique_ptr<CaseStore> store;
  std::unique_ptr<Cases> cases;
  explicit Side(const char* node, PolicyInEffect policy = {"", "", workflow::DefaultPolicy()}) {
    dir = TempDir(node);
    auto s = CaseStore::Open(dir + "/store", node);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    store = std::move(*s);
    cases = std::make_unique<Cases>(*store, node, std::move(policy));
  }
  ~Side() {
    cases.reset();
    (void)store->Close();
    std::filesystem::remove_all(dir);
  }
  // Sends a message: PrepareOutgoing, then the record stored as Outbox::Add would.
  Status Send(const std::string& id, K kind, const std::string& to, const std::string& in_reply_to,
              const json& body, UnixMillis now) {
    OutgoingStep m;
    m.message_id = id;
    m.kind = kind;
    m.to = to;
    m.in_reply_to = in_reply_to;
    m.body_json = body.dump();
    m.now = now;
    std::lock_guard<std::mutex> lock(cases->mu());
    auto r = cases->PrepareOutgoing(m);
    if (!r.ok()) return r.status();
    if (*r) {
      StoreBatch b;
      Cases::Put(b, **r, id);
      return store->Write(b);
    }
    return Status::Ok();
  }
  // Receives a message as the inbox does; returns its record's timeline events.
  std::vector<std::string> Receive(const std::string& id, K kind, const std::string& from,
                                   const std::string& in_reply_to, const json& body, UnixMillis now) {
    IncomingRecord rec;
    rec.message_id = id;
    rec.sender = from;
    rec.kind = wire::EnumNameMessageKind(kind);
    rec.in_reply_to = in_reply_to;
    rec.legal_basis = "Untoc";
    rec.priority = "Normal";
    StoreBatch b;
    cases->BeginBatch();
    cases->StageIncoming(b, rec, body.dump(), now);
    cases->EndBatch();
    EXPECT_TRUE(store->Write(b).ok());
    std::vector<std::string> ev;
    for (const EvidenceEvent& e : rec.timeline) ev.push_back(e.event);
    return ev;
  }
  workflow::CaseState State(const std::string& id) {
    auto c = cases->Get(id);
    EXPECT_TRUE(c.ok() && c->has_value());
    auto s = Replay(**c);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return *s;
  }
};

json Request() { return json::parse(workflow::testing::CompleteBody("MlaRequest").dump()); }
json Refusal(bool with_reasons) {
  json d = {{"outcome", "Refuse"}};
  if (with_reasons) {
    d["refusal_grounds"] = {"PrejudiceToEssentialInterests"};
    d["reasons"] = "Execution would prejudice an ongoing national investigation.";
  }
  return d;
}

std::string Id() { return crypto::NewMessageIdText(); }

bool IsStepRefusal(const Status& s) { return !s.ok() && s.message().rfind(kStepRefusedPrefix, 0) == 0; }

TEST(CasesTest, BothEndsFollowTheWorkflowAndRefuseOutOfOrderSteps) {
  Side it("IT-MOJ"), ng("NG-AGF");
  const std::string req = Id();
  // Requesting side: the case starts when the request is accepted.
  ASSERT_TRUE(it.Send(req, K::MlaRequest, "NG-AGF", "", Request(), kT0).ok());
  EXPECT_EQ(it.State(req).stage, workflow::Stage::kReceived);
  // Requested side: when it is received.
  EXPECT_TRUE(ng.Receive(req, K::MlaRequest, "IT-MOJ", "", Request(), kT0 + 1000).empty());
  auto c = ng.cases->Get(req);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->role, workflow::Role::kRequested);
  EXPECT_EQ((*c)->exploitation_forms.size(), 1u);  // AdultTrafficking: one purpose
  ASSERT_TRUE((*c)->child_victim.has_value());
  EXPECT_FALSE(*(*c)->child_victim);

  // The requesting side may not acknowledge its own request: refused before sending.
  Status s = it.Send(Id(), K::Acknowledgement, "NG-AGF", req, json::object(), kT0 + 2000);
  EXPECT_TRUE(IsStepRefusal(s)) << s.ToString();
  // A decision before the acknowledgement, or a refusal without grounds: refused at the requested side.
  s = ng.Send(Id(), K::Decision, "IT-MOJ", req, Refusal(false), kT0 + 2000);
  EXPECT_TRUE(IsStepRefusal(s)) << s.ToString();
  EXPECT_NE(s.message().find("allowed"), std::string::npos) << s.message();
  // A step to another node than the partner.
  EXPECT_TRUE(IsStepRefusal(ng.Send(Id(), K::Acknowledgement, "TH-OAG", req, json::object(), kT0)));

  // Acknowledge: allowed at the requested side, accepted at the requesting side.
  const std::string ack = Id();
  ASSERT_TRUE(ng.Send(ack, K::Acknowledgement, "IT-MOJ", req, json::object(), kT0 + 3000).ok());
  EXPECT_TRUE(it.Receive(ack, K::Acknowledgement, "NG-AGF", req, json::object(), kT0 + 4000).empty());
  EXPECT_EQ(it.State(req).stage, workflow::Stage::kAcknowledged);
  EXPECT_EQ(ng.State(req).stage, workflow::Stage::kAcknowledged);

  // Further information: requested side asks, requesting side replies (in reply to the ask).
  const std::string fir = Id();
  ASSERT_TRUE(ng.Send(fir, K::FurtherInformationRequest, "IT-MOJ", req,
                      json{{"questions", {"Which branch holds account P1?"}}}, kT0 + 5000).ok());
  it.Receive(fir, K::FurtherInformationRequest, "NG-AGF", req, json{{"questions", {"Which branch?"}}}, kT0 + 6000);
  EXPECT_EQ(it.State(req).stage, workflow::Stage::kFurtherInformationRequested);
  const std::string rep = Id();
  ASSERT_TRUE(it.Send(rep, K::FurtherInformationReply, "NG-AGF", fir, json{{"answers", {"Lagos main"}}}, kT0 + 7000)
                  .ok());
  ng.Receive(rep, K::FurtherInformationReply, "IT-MOJ", fir, json{{"answers", {"Lagos main"}}}, kT0 + 8000);
  EXPECT_EQ(ng.State(req).stage, workflow::Stage::kAcknowledged);

  // A refusal with grounds and reasons.
  const std::string dec = Id();
  ASSERT_TRUE(ng.Send(dec, K::Decision, "IT-MOJ", req, Refusal(true), kT0 + 9000).ok());
  EXPECT_TRUE(it.Receive(dec, K::Decision, "NG-AGF", req, Refusal(true), kT0 + 10000).empty());
  EXPECT_EQ(it.State(req).stage, workflow::Stage::kDecided);
  EXPECT_EQ(it.State(req).decision, workflow::Outcome::kRefuse);

  // The API views.
  auto one = CaseJson(*it.cases, *it.store, dec, kT0 + 11000);  // any message id of the case finds it
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ((*one)["id"], req);
  EXPECT_EQ((*one)["stage"], "decided");
  EXPECT_EQ((*one)["decision"], "refuse");
  EXPECT_EQ((*one)["timeline"].size(), 5u);  // request, ack, FI request, FI reply, decision
  auto list = ListCasesJson(*it.cases, CaseQuery{"decided", "NG-AGF", "mla", false, -1}, kT0 + 11000);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ((*list)["count"], 1);
  auto none = ListCasesJson(*it.cases, CaseQuery{"closed", "", "", false, -1}, kT0 + 11000);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)["count"], 0);
}

TEST(CasesTest, AStepArrivingOutOfOrderIsStoredButMarkedWorkflowRefused) {
  Side it("IT-MOJ");
  const std::string req = Id();
  ASSERT_TRUE(it.Send(req, K::MlaRequest, "NG-AGF", "", Request(), kT0).ok());
  // An execution report before any acknowledgement or decision.
  const std::string early = Id();
  auto ev = it.Receive(early, K::ExecutionReport, "NG-AGF", req, json{{"completeness", "Full"}}, kT0 + 1000);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0], "workflow_refused");
  EXPECT_EQ(it.State(req).stage, workflow::Stage::kReceived);  // no state change
  // The wrong side's step (a Withdrawal is the requesting state's).
  ev = it.Receive(Id(), K::Withdrawal, "NG-AGF", req, json{{"reasons", "no longer needed"}}, kT0 + 1500);
  ASSERT_EQ(ev.size(), 1u);
  // A step from a node that is not the partner.
  ev = it.Receive(Id(), K::Acknowledgement, "TH-OAG", req, json::object(), kT0 + 1600);
  ASSERT_EQ(ev.size(), 1u);
  auto one = CaseJson(*it.cases, *it.store, req, kT0 + 2000);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)["refused_steps"], 3);
  EXPECT_TRUE((*one)["timeline"][1].contains("workflow_refused"));
  EXPECT_EQ((*one)["stage"], "received");
  // The proper acknowledgement afterwards is accepted.
  EXPECT_TRUE(it.Receive(Id(), K::Acknowledgement, "NG-AGF", req, json::object(), kT0 + 3000).empty());
  EXPECT_EQ(it.State(req).stage, workflow::Stage::kAcknowledged);
  // Withdrawal by the requesting side: allowed; then nothing else from it.
  ASSERT_TRUE(it.Send(Id(), K::Withdrawal, "NG-AGF", req, json{{"reasons", "the suspect died"}}, kT0 + 4000).ok());
  EXPECT_EQ(it.State(req).stage, workflow::Stage::kWithdrawn);
  EXPECT_TRUE(IsStepRefusal(it.Send(Id(), K::ProgressEnquiry, "NG-AGF", req, json::object(), kT0 + 5000)));
}

// The hub delivers in the order it accepted, which after a resend or a
// restart can differ from the order the partner sent: a request for further
// information that arrives before the acknowledgement it follows is applied
// once the acknowledgement arrives.
TEST(CasesTest, AStepThatArrivesBeforeTheStepItFollowsIsAppliedOnceThatOneArrives) {
  Side it("IT-MOJ");
  const std::string req = Id();
  ASSERT_TRUE(it.Send(req, K::MlaRequest, "NG-AGF", "", Request(), kT0).ok());
  const std::string fir = Id();
  auto ev = it.Receive(fir, K::FurtherInformationRequest, "NG-AGF", req, json{{"questions", {"Which branch?"}}},
                       kT0 + 2000);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0], "workflow_refused");  // not allowed yet: the case is only received
  EXPECT_EQ(it.State(req).stage, workflow::Stage::kReceived);
  EXPECT_TRUE(it.Receive(Id(), K::Acknowledgement, "NG-AGF", req, json::object(), kT0 + 1000).empty());
  EXPECT_EQ(it.State(req).stage, workflow::Stage::kFurtherInformationRequested);
  auto one = CaseJson(*it.cases, *it.store, req, kT0 + 3000);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)["refused_steps"], 0);
  // Now the requesting side may answer.
  Status answered = it.Send(Id(), K::FurtherInformationReply, "NG-AGF", fir, json{{"answers", {"Lagos main"}}}, kT0 + 4000);
  EXPECT_TRUE(answered.ok()) << answered.ToString();
}

TEST(CasesTest, ClocksFollowAFakeClock) {
  // UNTOC sets no time of its own: the requesting state's deadline (18(24))
  // runs; the default policy's acknowledge / decision values are switched
  // off here so that it is the only clock.
  auto pol = workflow::ParsePolicy("[untoc]\nacknowledge = { due = \"off\" }\ndecision = { due = \"off\" }\n",
                                   "test.toml", workflow::DefaultPolicy());
  ASSERT_TRUE(pol.ok()) << pol.status().ToString();
  Side ng("NG-AGF", PolicyInEffect{"test.toml", "", std::move(*pol)});
  const std::string req = Id();
  json body = Request();
  body["deadline"] = {{"deadline_ms", kT0 + 20 * kDay}, {"reasons", "The trial opens on that day."}};
  ng.Receive(req, K::MlaRequest, "IT-MOJ", "", body, kT0);
  auto now = ListCasesJson(*ng.cases, CaseQuery{}, kT0);
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  ASSERT_EQ((*now)["count"], 1);
  const json& c = (*now)["cases"][0];
  ASSERT_FALSE(c["clocks"].empty()) << c.dump();
  EXPECT_FALSE(c["overdue"].get<bool>());
  int64_t due = c["next_due_ms"].get<int64_t>();
  EXPECT_GT(due, kT0);
  // Due within: the window decides.
  EXPECT_EQ((*ListCasesJson(*ng.cases, CaseQuery{"", "", "", false, due - kT0}, kT0))["count"], 1);
  EXPECT_EQ((*ListCasesJson(*ng.cases, CaseQuery{"", "", "", false, due - kT0 - 1}, kT0))["count"], 0);
  // Not overdue just before, overdue just after.
  EXPECT_EQ((*ListCasesJson(*ng.cases, CaseQuery{"", "", "", true, -1}, due - 1))["count"], 0);
  auto late = ListCasesJson(*ng.cases, CaseQuery{"", "", "", true, -1}, due + 1);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ((*late)["count"], 1);
  EXPECT_LT((*late)["cases"][0]["time_left_ms"].get<int64_t>(), 0);
  EXPECT_EQ(due, kT0 + 20 * kDay);
  // A refusal stops the clock.
  ASSERT_TRUE(ng.Send(Id(), K::Acknowledgement, "IT-MOJ", req, json::object(), kT0 + kDay).ok());
  ASSERT_TRUE(ng.Send(Id(), K::Decision, "IT-MOJ", req, Refusal(true), kT0 + 2 * kDay).ok());
  auto after = ListCasesJson(*ng.cases, CaseQuery{}, kT0 + 30 * kDay);
  EXPECT_TRUE((*after)["cases"][0]["clocks"].empty()) << after->dump();
  EXPECT_FALSE((*after)["cases"][0]["overdue"].get<bool>());
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string d = TempDir("policy");
  std::string path = d + "/" + name;
  EXPECT_TRUE(WriteFileAtomic(path, AsBytes(text), 0644).ok());
  return path;
}

const json* ClockNamed(const json& c, const std::string& name) {
  for (const json& x : c["clocks"])
    if (x["name"] == name) return &x;
  return nullptr;
}

TEST(CasesTest, ANetworkPolicyFileShortensAClock) {
  std::string path = WriteTemp("policy.toml",
                               "# our network\n[untoc]\nacknowledge = { due = \"3d\", citation = \"UNTOC Art. 18(13); "
                               "network policy 2026/1\" }\n");
  auto pol = LoadCasesPolicy(path);
  ASSERT_TRUE(pol.ok()) << pol.status().ToString();
  EXPECT_EQ(pol->path, path);
  EXPECT_EQ(pol->sha256.size(), 64u);
  json shown = PolicyJson(*pol);
  EXPECT_EQ(shown["source"], "file");
  bool found = false;
  for (const json& r : shown["rules"])
    if (r["basis"] == "untoc" && r["clock"] == "acknowledge") {
      found = true;
      EXPECT_EQ(r["due"], "3d");
      EXPECT_EQ(r["due_ms"], 3 * kDay);
    }
  EXPECT_TRUE(found) << shown.dump();
  Side ng("NG-AGF", std::move(*pol));
  const std::string req = Id();
  ng.Receive(req, K::MlaRequest, "IT-MOJ", "", Request(), kT0);
  auto list = ListCasesJson(*ng.cases, CaseQuery{}, kT0 + kDay);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  const json* ack = ClockNamed((*list)["cases"][0], "acknowledge");
  ASSERT_NE(ack, nullptr) << list->dump();
  EXPECT_EQ((*ack)["due_ms"], kT0 + 3 * kDay);
  EXPECT_EQ((*ack)["citation"], "UNTOC Art. 18(13); network policy 2026/1");
  // Overdue on day 4 under this network's policy (the default's 10 days would not be).
  EXPECT_EQ((*ListCasesJson(*ng.cases, CaseQuery{"", "", "", true, -1}, kT0 + 4 * kDay))["count"], 1);
  // The embedded default names itself.
  auto def = LoadCasesPolicy("");
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(PolicyJson(*def)["source"], "embedded_default");
  EXPECT_EQ(def->sha256.size(), 64u);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(CasesTest, ABadPolicyFileIsRefusedWithItsLine) {
  std::string path = WriteTemp("policy.toml",
                               "[untoc]\nacknowledge = { due = \"3d\", citation = \"x\" }\nacknowledgment = { due = "
                               "\"3d\", citation = \"x\" }\n");
  auto pol = LoadCasesPolicy(path);
  ASSERT_FALSE(pol.ok());
  EXPECT_EQ(pol.status().code(), Code::kInvalidArgument);
  EXPECT_NE(pol.status().message().find(path + ":3: unknown clock 'acknowledgment'"), std::string::npos)
      << pol.status().message();
  std::string syntax = WriteTemp("policy.toml", "[untoc]\n\nacknowledge = { due = \"3d\"\n");
  pol = LoadCasesPolicy(syntax);
  ASSERT_FALSE(pol.ok());
  EXPECT_EQ(pol.status().code(), Code::kInvalidArgument);  // a configuration error (the agent exits 2)
  EXPECT_NE(pol.status().message().find(syntax + ":3:"), std::string::npos) << pol.status().message();
  auto missing = LoadCasesPolicy(path + ".missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().ToString();
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
  std::filesystem::remove_all(std::filesystem::path(syntax).parent_path());
}

TEST(CasesTest, TheRequestingSideCountsFromTheRequestedAuthoritysReceipt) {
  Side it("IT-MOJ");
  const std::string req = Id();
  json body = Request();
  ASSERT_TRUE(it.Send(req, K::MlaRequest, "NG-AGF", "", body, kT0).ok());
  // No receipt yet: counted from sending, and said so.
  auto list = ListCasesJson(*it.cases, CaseQuery{}, kT0 + kDay);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  const json& c = (*list)["cases"][0];
  EXPECT_NE(c["clocks_from"].get<std::string>().find("not yet confirmed"), std::string::npos) << c.dump();
  const json* ack = ClockNamed(c, "acknowledge");
  ASSERT_NE(ack, nullptr) << c.dump();
  EXPECT_TRUE((*ack)["receipt_unconfirmed"].get<bool>());
  EXPECT_EQ((*ack)["started_ms"], kT0);
  EXPECT_EQ((*ack)["due_ms"], kT0 + 10 * kDay);
  EXPECT_FALSE((*ack)["start_note"].get<std::string>().empty());
  // The signed receipt says NG-AGF received it on day 2 (its clock).
  OutgoingRecord out;
  out.message_id = req;
  out.recipient = "NG-AGF";
  out.kind = "MlaRequest";
  out.state = OutState::kReceipted;
  out.receipt_ms = kT0 + 2 * kDay;
  StoreBatch b;
  CaseStore::PutOutgoing(b, out);
  ASSERT_TRUE(it.store->Write(b).ok());
  list = ListCasesJson(*it.cases, CaseQuery{}, kT0 + 3 * kDay);
  ASSERT_TRUE(list.ok());
  const json& d = (*list)["cases"][0];
  EXPECT_EQ(d["clocks_from"], "the requested authority's receipt");
  EXPECT_EQ(d["clocks_from_ms"], kT0 + 2 * kDay);
  ack = ClockNamed(d, "acknowledge");
  ASSERT_NE(ack, nullptr);
  EXPECT_FALSE((*ack)["receipt_unconfirmed"].get<bool>());
  EXPECT_EQ((*ack)["due_ms"], kT0 + 12 * kDay);
  // Day 11: overdue counted from sending, not from receipt.
  EXPECT_EQ((*ListCasesJson(*it.cases, CaseQuery{"", "", "", true, -1}, kT0 + 11 * kDay))["count"], 0);
  EXPECT_EQ((*ListCasesJson(*it.cases, CaseQuery{"", "", "", true, -1}, kT0 + 12 * kDay + 1))["count"], 1);
  // The case view says the same.
  auto shown = CaseJson(*it.cases, *it.store, req, kT0 + 3 * kDay);
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  EXPECT_EQ((*shown)["clocks_from_ms"], kT0 + 2 * kDay);
}

TEST(CasesTest, TheFullExtraditionRequestStopsTheProvisionalArrestClock) {
  Side it("IT-MOJ"), ng("NG-AGF");
  const std::string pa = Id();
  json pa_body = json::parse(workflow::testing::CompleteBody("ProvisionalArrestRequest").dump());
  ASSERT_TRUE(it.Send(pa, K::ProvisionalArrestRequest, "NG-AGF", "", pa_body, kT0).ok());
  ng.Receive(pa, K::ProvisionalArrestRequest, "IT-MOJ", "", pa_body, kT0 + 1000);
  // NG-AGF acknowledges and arrests the person (Decision Execute).
  const std::string ack = Id(), dec = Id();
  json execute = {{"outcome", "Execute"}};
  ASSERT_TRUE(ng.Send(ack, K::Acknowledgement, "IT-MOJ", pa, json::object(), kT0 + kDay).ok());
  ASSERT_TRUE(ng.Send(dec, K::Decision, "IT-MOJ", pa, execute, kT0 + 2 * kDay).ok());
  it.Receive(ack, K::Acknowledgement, "NG-AGF", pa, json::object(), kT0 + kDay);
  it.Receive(dec, K::Decision, "NG-AGF", pa, execute, kT0 + 2 * kDay);
  auto clock_of = [&](Side& s, UnixMillis now) -> std::optional<json> {
    auto c = CaseJson(*s.cases, *s.store, pa, now);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    const json* f = ClockNamed(*c, "full_extradition_request");
    return f == nullptr ? std::nullopt : std::optional<json>(*f);
  };
  auto running = clock_of(it, kT0 + 3 * kDay);
  ASSERT_TRUE(running.has_value());
  EXPECT_EQ((*running)["owner"], "requesting");
  EXPECT_EQ((*running)["due_ms"], kT0 + 42 * kDay);
  ASSERT_TRUE(clock_of(ng, kT0 + 3 * kDay).has_value());
  // The full request, naming the provisional arrest, is sent on day 20 and
  // arrives the same day: the clock stops at both ends, the case stays open.
  const std::string full = Id();
  json full_body = json::parse(workflow::testing::CompleteBody("ExtraditionRequest").dump());
  full_body["provisional_arrest_ref"] = pa;
  ASSERT_TRUE(it.Send(full, K::ExtraditionRequest, "NG-AGF", "", full_body, kT0 + 20 * kDay).ok());
  EXPECT_FALSE(clock_of(it, kT0 + 21 * kDay).has_value());
  EXPECT_FALSE(clock_of(it, kT0 + 60 * kDay).has_value());
  EXPECT_TRUE(clock_of(ng, kT0 + 19 * kDay).has_value());
  ng.Receive(full, K::ExtraditionRequest, "IT-MOJ", "", full_body, kT0 + 20 * kDay + 1000);
  EXPECT_FALSE(clock_of(ng, kT0 + 60 * kDay).has_value());
  auto shown = CaseJson(*ng.cases, *ng.store, pa, kT0 + 60 * kDay);
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ((*shown)["full_request"]["message_id"], full);
  EXPECT_TRUE((*shown)["open"].get<bool>());
  EXPECT_FALSE((*shown)["overdue"].get<bool>());
  // The full request is a case of its own.
  ASSERT_TRUE(ng.cases->Get(full).ok() && ng.cases->Get(full)->has_value());
  // A full request from another state does not stop someone else's clock.
  Side th("TH-OAG");
  const std::string pa2 = Id();
  th.Receive(pa2, K::ProvisionalArrestRequest, "IT-MOJ", "", pa_body, kT0);
  json other = full_body;
  other["provisional_arrest_ref"] = pa2;
  th.Receive(Id(), K::ExtraditionRequest, "NG-AGF", "", other, kT0 + kDay);
  EXPECT_EQ((*th.cases->Get(pa2))->info.full_request_ms, 0);
}

TEST(CasesTest, StatsAreAggregateAndAnonymous) {
  Side ng("NG-AGF");
  const std::string a = Id(), b = Id();
  ng.Receive(a, K::MlaRequest, "IT-MOJ", "", Request(), kT0);
  ng.Receive(b, K::MlaRequest, "TH-OAG", "", Request(), kT0);
  ASSERT_TRUE(ng.Send(Id(), K::Acknowledgement, "IT-MOJ", a, json::object(), kT0 + 2 * kDay).ok());
  ASSERT_TRUE(ng.Send(Id(), K::Acknowledgement, "TH-OAG", b, json::object(), kT0 + 4 * kDay).ok());
  ASSERT_TRUE(ng.Send(Id(), K::Decision, "TH-OAG", b, Refusal(true), kT0 + 5 * kDay).ok());
  auto st = StatsJson(*ng.cases, kT0 + 6 * kDay);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ((*st)["cases"], 2);
  EXPECT_EQ((*st)["by_kind"]["MlaRequest"], 2);
  EXPECT_EQ((*st)["by_partner"]["IT-MOJ"], 1);
  EXPECT_EQ((*st)["by_outcome"]["refuse"], 1);
  EXPECT_EQ((*st)["by_outcome"]["pending"], 1);
  EXPECT_EQ((*st)["victims"]["adult"], 2);
  EXPECT_EQ((*st)["time_to_acknowledge"]["count"], 2);
  EXPECT_EQ((*st)["time_to_acknowledge"]["p90_ms"], 4 * kDay);
  EXPECT_EQ((*st)["time_to_execute"]["count"], 0);
  EXPECT_EQ(st->dump().find(a), std::string::npos);  // no case ids
  ASSERT_TRUE((*st)["by_exploitation_form"].is_object());
  EXPECT_EQ((*st)["by_exploitation_form"].size(), 1u);
}

TEST(CasesTest, ErrorBodiesNameTheRefusal) {
  int status = 0;
  json body;
  EXPECT_TRUE(CaseErrorBody(Status::InvalidArgument(std::string(kStepRefusedPrefix) + "x"), &status, &body));
  EXPECT_EQ(status, 409);
  EXPECT_EQ(body["refusal"], "step_refused");
  EXPECT_TRUE(CaseErrorBody(Status::InvalidArgument(std::string(kIncompletePrefix) + "x"), &status, &body));
  EXPECT_EQ(status, 422);
  EXPECT_EQ(body["refusal"], "incomplete_request");
  EXPECT_FALSE(CaseErrorBody(Status::InvalidArgument("other"), &status, &body));
}

}  // namespace
}  // namespace mlahub::agents
