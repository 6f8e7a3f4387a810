// Victims' data (issue 6 item 5; victims.h): the at-rest key file, sealing
// and masking driven by the schema's personal_data attribute, child victims
// making a case Urgent, the reveal log - in process on a real case store; and
// with the real programs (broker, two agents, the mlahub tool): a request
// naming a child victim sent and received, no clear victim name in either
// agent's store afterwards, masked views, a reveal with a reason that is
// recorded and listed.
#include "mlahub/agents/victims.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "mlahub/agents/api_client.h"
#include "mlahub/agents/case_store.h"
#include "mlahub/agents/cases.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/random.h"
#include "daemons_fixture.h"
#include "process.h"
#include "test_bodies.h"
#include "test_network.h"

namespace mlahub::agents {
namespace {

using nlohmann::json;
using K = wire::MessageKind;
constexpr UnixMillis kT0 = 1'800'000'000'000;  // 2027-01-15
const std::string kName = "Zyxwovaqq";         // the victim's family name: must never be stored in clear
const std::string kMask(kVictimMask);

std::string Dir(const char* tag) {
  std::string d = (std::filesystem::temp_directory_path() /
                   (std::string("mlahub-victims-") + tag + "-" + crypto::NewMessageIdText()))
                      .string();
  std::filesystem::create_directories(d);
  return d;
}

json ChildVictim() {
  return {{"label", "V1"},          {"role", "Victim"},           {"family_name", kName},
          {"given_names", "Amaka"}, {"date_of_birth", "2012-05-01"}, {"is_child", true},
          {"nationalities", {"NG"}}, {"last_known_address", "A shelter in Ragusa"}};
}

// A complete MLA request that also names a child victim.
json RequestNamingAChildVictim() {
  json b = json::parse(workflow::testing::CompleteBody("MlaRequest").dump());
  b["persons_concerned"].push_back(ChildVictim());
  return b;
}

// Every value of the store, and every byte of its files, searched for `s`.
bool StoreHolds(const CaseStore& store, const std::string& s, std::string* where) {
  bool found = false;
  EXPECT_TRUE(store
                  .ScanRaw("",
                           [&](std::string_view k, std::string_view v) {
                             if (v.find(s) != std::string_view::npos || k.find(s) != std::string_view::npos) {
                               found = true;
                               *where = std::string(k);
                             }
                             return !found;
                           })
                  .ok());
  return found;
}

bool FilesHold(const std::string& dir, const std::string& s, std::string* where) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(s) != std::string::npos) {
      *where = e.path().string();
      return true;
    }
  }
  return false;
}

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

// ---- in process ----

TEST(VictimsTest, TheKeyFileIsCreated0600AndRefusedWhenOthersCanReadIt) {
  std::string d = Dir("key");
  auto v = VictimVault::Open(d + "/victims.key");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(ModeOf(d + "/victims.key"), 0600u);
  auto bytes = ReadFile(d + "/victims.key");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), 32u);
  // The same key on the next start: what was sealed opens.
  auto sealed = (*v)->SealText("hello", "aad");
  ASSERT_TRUE(sealed.ok());
  auto again = VictimVault::Open(d + "/victims.key");
  ASSERT_TRUE(again.ok());
  auto opened = (*again)->OpenText(*sealed, "aad");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, "hello");
  EXPECT_FALSE((*again)->OpenText(*sealed, "other aad").ok());
  ::chmod((d + "/victims.key").c_str(), 0644);
  auto loose = VictimVault::Open(d + "/victims.key");
  EXPECT_EQ(loose.status().code(), Code::kPermissionDenied) << loose.status().ToString();
  std::filesystem::remove_all(d);
}

TEST(VictimsTest, OnlyVictimsFieldsMarkedPersonalDataAreSealedAndMasked) {
  // The fields come from the schema's personal_data attribute.
  const auto& f = VictimFieldNames();
  for (const char* n : {"family_name", "given_names", "date_of_birth", "last_known_address", "is_child"})
    EXPECT_NE(std::find(f.begin(), f.end(), n), f.end()) << n;
  EXPECT_EQ(std::find(f.begin(), f.end(), "label"), f.end());
  EXPECT_EQ(std::find(f.begin(), f.end(), "role"), f.end());

  std::string d = Dir("seal");
  auto v = VictimVault::Open(d + "/victims.key");
  ASSERT_TRUE(v.ok());
  json body = RequestNamingAChildVictim();
  json sealed = body;
  auto n = (*v)->SealVictims(sealed, K::MlaRequest);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 6u);  // the 6 identifying values given for V1
  EXPECT_EQ(sealed.dump().find(kName), std::string::npos);
  EXPECT_EQ(sealed["offences"], body["offences"]);  // not a person: untouched
  const json& victim = sealed["persons_concerned"][1];
  EXPECT_TRUE(IsSealedValue(victim["family_name"])) << victim.dump();
  EXPECT_EQ(victim["label"], "V1");
  EXPECT_EQ(victim["role"], "Victim");
  // The suspect is not a victim: untouched.
  EXPECT_EQ(sealed["persons_concerned"][0], body["persons_concerned"][0]);
  // Sealing twice changes nothing more.
  json twice = sealed;
  EXPECT_EQ(*(*v)->SealVictims(twice, K::MlaRequest), 0u);
  // Unseal gives the body back.
  json back = sealed;
  size_t failed = 9;
  auto un = (*v)->Unseal(back, &failed);
  ASSERT_TRUE(un.ok());
  EXPECT_EQ(*un, 6u);
  EXPECT_EQ(failed, 0u);
  EXPECT_EQ(back, body);
  // Another agent's key opens nothing.
  auto other = VictimVault::Open(d + "/other.key");
  ASSERT_TRUE(other.ok());
  json foreign = sealed;
  ASSERT_TRUE((*other)->Unseal(foreign, &failed).ok());
  EXPECT_EQ(failed, 6u);
  EXPECT_EQ(foreign.dump().find(kName), std::string::npos);

  // Masking: clear or sealed, the victim's values show as the mask.
  for (json m : {body, sealed}) {
    EXPECT_EQ(MaskVictims(m, K::MlaRequest), 6u);
    EXPECT_EQ(m["persons_concerned"][1]["family_name"], kMask);
    EXPECT_EQ(m["persons_concerned"][1]["label"], "V1");
    EXPECT_EQ(m["persons_concerned"][0]["family_name"], "Okafor");
    EXPECT_EQ(m.dump().find(kName), std::string::npos);
  }
  // The person of a nationality verification is a victim by definition (Protocol Art. 8).
  json nv = json::parse(workflow::testing::CompleteBody("NationalityVerificationRequest").dump());
  nv["person"]["role"] = "Unspecified";
  nv["person"]["family_name"] = kName;
  EXPECT_GE(MaskVictims(nv, K::NationalityVerificationRequest), 1u);
  EXPECT_EQ(nv["person"]["family_name"], kMask);
  std::filesystem::remove_all(d);
}

TEST(VictimsTest, AChildVictimIsFoundFromIsChildTheDateOfBirthOrTheTraffickingElements) {
  json b = json::parse(workflow::testing::CompleteBody("MlaRequest").dump());
  EXPECT_FALSE(HasChildVictim(b, K::MlaRequest, kT0));
  json v = {{"label", "V1"}, {"role", "Victim"}};
  json c = b;
  c["persons_concerned"].push_back(v);
  EXPECT_FALSE(HasChildVictim(c, K::MlaRequest, kT0));
  c["persons_concerned"][1]["is_child"] = true;
  EXPECT_TRUE(HasChildVictim(c, K::MlaRequest, kT0));
  // Dates of birth, at kT0 (2027-01-15).
  auto dob = [&](const char* d) {
    json x = b;
    json p = v;
    p["date_of_birth"] = d;
    x["persons_concerned"].push_back(p);
    return HasChildVictim(x, K::MlaRequest, kT0);
  };
  EXPECT_TRUE(dob("2010-01-16"));   // 17 until tomorrow
  EXPECT_FALSE(dob("2009-01-15"));  // 18 today
  EXPECT_TRUE(dob("2010"));         // born in 2010: under 18 whatever the day
  EXPECT_FALSE(dob("2009"));        // may be 18 already: not said to be a child
  EXPECT_FALSE(dob("1990-04-17"));
  EXPECT_FALSE(dob("not a date"));
  // A suspect who is a child is not a child victim.
  json s = b;
  s["persons_concerned"][0]["is_child"] = true;
  EXPECT_FALSE(HasChildVictim(s, K::MlaRequest, kT0));
  // TraffickingElements.child_victim.
  json t = b;
  t["trafficking"]["child_victim"] = true;
  EXPECT_TRUE(HasChildVictim(t, K::MlaRequest, kT0));
}

TEST(VictimsTest, CasesSealTheSentBodyRaisePriorityAndRecordReveals) {
  std::string d = Dir("cases");
  auto s = CaseStore::Open(d + "/store", "IT-MOJ");
  ASSERT_TRUE(s.ok());
  std::unique_ptr<CaseStore> store = std::move(*s);
  {
    Cases cases(*store, "IT-MOJ", workflow::DefaultPolicy());
    auto v = VictimVault::Open(d + "/victims.key");
    ASSERT_TRUE(v.ok());
    cases.SetVictims(std::move(*v));
    OutgoingStep m;
    m.message_id = crypto::NewMessageIdText();
    m.kind = K::MlaRequest;
    m.to = "NG-AGF";
    m.priority = wire::Priority::Normal;
    m.body_json = RequestNamingAChildVictim().dump();
    m.now = kT0;
    std::optional<CaseRecord> rec;
    {
      std::lock_guard<std::mutex> lock(cases.mu());
      auto r = cases.PrepareOutgoing(m);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_TRUE(r->has_value());
      rec = **r;
    }
    EXPECT_EQ(rec->priority, "Urgent");
    EXPECT_EQ(rec->envelope_priority, "Normal");
    EXPECT_EQ(rec->priority_raised, "child_victim");
    EXPECT_TRUE(rec->info.urgent);
    EXPECT_EQ(rec->child_victim, std::optional<bool>(true));
    EXPECT_FALSE(rec->sealed_body.empty());
    json note;
    NoteCasePriority(*rec, note);
    EXPECT_EQ(note["case_priority"], "Urgent");
    EXPECT_NE(note.value("priority_note", "").find("child"), std::string::npos);
    StoreBatch b;
    Cases::Put(b, *rec, m.message_id);
    ASSERT_TRUE(store->Write(b).ok());
    std::string where;
    EXPECT_FALSE(StoreHolds(*store, kName, &where)) << "clear victim name under " << where;
    EXPECT_FALSE(StoreHolds(*store, "Amaka", &where)) << "clear victim name under " << where;
    // The copy reads back with the victim's values still sealed.
    auto sent = cases.SentBody(m.message_id);
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
    ASSERT_TRUE(sent->has_value());
    EXPECT_TRUE(IsSealedValue((**sent)["persons_concerned"][1]["family_name"]));
    EXPECT_EQ((**sent)["persons_concerned"][0]["family_name"], "Okafor");
    // The listing flags it and the stored record keeps the raised priority.
    auto list = ListCasesJson(cases, CaseQuery{}, kT0);
    ASSERT_TRUE(list.ok());
    EXPECT_EQ((*list)["cases"][0]["priority"], "Urgent");
    EXPECT_EQ((*list)["cases"][0]["child_victim"], true);
    EXPECT_EQ((*list)["cases"][0]["priority_raised"], "child_victim");
    // The receiving side: Urgent on arrival too.
    IncomingRecord in;
    in.message_id = crypto::NewMessageIdText();
    in.sender = "NG-AGF";
    in.kind = "MlaRequest";
    in.legal_basis = "Untoc";
    in.priority = "Normal";
    StoreBatch ib;
    cases.BeginBatch();
    cases.StageIncoming(ib, in, RequestNamingAChildVictim().dump(), kT0);
    cases.EndBatch();
    ASSERT_TRUE(store->Write(ib).ok());
    auto got = cases.Get(in.message_id);
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->priority, "Urgent");
    EXPECT_EQ((*got)->envelope_priority, "Normal");
    EXPECT_FALSE(StoreHolds(*store, kName, &where)) << "clear victim name under " << where;

    // Reveals: a reason is required; each is recorded in order.
    RevealRecord r;
    r.what = "case";
    r.target = m.message_id;
    EXPECT_EQ(cases.reveals().Record(r).status().code(), Code::kInvalidArgument);
    r.reason = "Court order 12/2027 to identify V1";
    r.token_id = "api-token:0011223344556677";
    r.at_ms = kT0;
    auto first = cases.reveals().Record(r);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->id, 1u);
    EXPECT_EQ(cases.reveals().Record(r)->id, 2u);
    auto all = cases.reveals().List(0, 100);
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 2u);
    EXPECT_EQ((*all)[0].reason, r.reason);
    EXPECT_EQ((*all)[0].target, m.message_id);
    EXPECT_EQ(cases.reveals().List(1, 100)->size(), 1u);
  }
  {
    // Reopened: the reveals are durable, numbering goes on.
    Cases cases(*store, "IT-MOJ", workflow::DefaultPolicy());
    RevealRecord r;
    r.reason = "again";
    EXPECT_EQ(cases.reveals().Record(r)->id, 3u);
  }
  ASSERT_TRUE(store->Close().ok());
  std::filesystem::remove_all(d);
}

// ---- with the real programs ----

constexpr std::chrono::milliseconds kLong = std::chrono::seconds(180);

class VictimsFlowTest : public testing::DaemonsTest {
 protected:
  VictimsFlowTest() : DaemonsTest(kLong) {}
  void SetUp() override {
    if (!FileExists(bin_ + "/mlahub-broker") || !FileExists(bin_ + "/mlahub-agent") || !FileExists(bin_ + "/mlahub"))
      GTEST_SKIP() << "build mlahub-broker, mlahub-agent and mlahub first";
    dir_ = testing::MakeTempDir("agents-victims");
    uint16_t port = testing::PickFreePorts(20);
    auto net = testing::InitNetworkWithTool(bin_, dir_ + "/net", {"IT-MOJ", "NG-AGF"}, port);
    ASSERT_TRUE(net.ok()) << net.status().ToString();
    net_ = *net;
  }
  ApiClient Api(const std::string& id) {
    auto c = ApiClient::FromConfigFile(net_.agent_config(id));
    MLAHUB_CHECK_MSG(c.ok(), c.status().ToString());
    return *c;
  }
  int Mlahub(const std::string& at, const std::string& args, std::string* out = nullptr) {
    return support::RunShell(bin_ + "/mlahub " + args + " --agent " + net_.agent_config(at), out);
  }
  json Json(const std::string& text) { return json::parse(text, nullptr, false); }
};

TEST_F(VictimsFlowTest, AChildVictimsDataIsSealedAtRestMaskedAndRevealedOnlyWithAReason) {
  StartBroker();
  StartAgent("IT-MOJ");
  StartAgent("NG-AGF");
  if (HasFatalFailure()) return;
  for (const std::string id : {"IT-MOJ", "NG-AGF"})
    EXPECT_EQ(ModeOf(net_.agent_data(id) + "/victims.key"), 0600u) << id;

  auto sent = Api("IT-MOJ").PostJson("/v1/messages", json{{"to", "NG-AGF"},
                                                          {"kind", "MlaRequest"},
                                                          {"priority", "Normal"},
                                                          {"body", RequestNamingAChildVictim()},
                                                          {"case_ref", "PA-2026-118"}});
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  const std::string req = (*sent)["message_id"];
  // The sender is told the case became Urgent; the envelope keeps Normal.
  EXPECT_EQ((*sent)["message"]["case_priority"], "Urgent") << sent->dump();
  EXPECT_EQ((*sent)["message"]["priority"], "Normal");
  EXPECT_NE((*sent)["message"].value("priority_note", "").find("child"), std::string::npos);

  ASSERT_TRUE(support::WaitFor([&] { return Api("NG-AGF").Get("/v1/cases/" + req).ok(); }, kLong));
  for (const std::string id : {"IT-MOJ", "NG-AGF"}) {
    auto c = Api(id).Get("/v1/cases/" + req);
    ASSERT_TRUE(c.ok()) << id << ": " << c.status().ToString();
    EXPECT_EQ((*c)["priority"], "Urgent") << id;
    EXPECT_EQ((*c)["envelope_priority"], "Normal") << id;
    EXPECT_EQ((*c)["child_victim"], true) << id;
    // Masked by default: the victim's values, not the suspect's.
    EXPECT_EQ((*c)["victim_data"], "masked") << id << ": " << c->dump();
    EXPECT_EQ(c->dump().find(kName), std::string::npos) << id;
    ASSERT_TRUE((*c)["request_body"].is_object()) << id << ": " << c->dump();
    EXPECT_EQ((*c)["request_body"]["persons_concerned"][1]["family_name"], kMask) << id;
    EXPECT_EQ((*c)["request_body"]["persons_concerned"][0]["family_name"], "Okafor") << id;
    // The message view too.
    auto m = Api(id).Get("/v1/messages/" + req);
    ASSERT_TRUE(m.ok()) << id << ": " << m.status().ToString();
    EXPECT_EQ(m->dump().find(kName), std::string::npos) << id << ": " << m->dump();
    EXPECT_EQ((*m)["body"]["persons_concerned"][1]["family_name"], kMask) << id;
    // The listing flags the child victim.
    auto l = Api(id).Get("/v1/cases");
    ASSERT_TRUE(l.ok());
    EXPECT_EQ((*l)["cases"][0]["child_victim"], true) << id;
    // A reveal without a reason is refused, and not recorded.
    auto bare = Api(id).Get("/v1/cases/" + req + "?reveal=1");
    ASSERT_FALSE(bare.ok());
    EXPECT_EQ(bare.status().code(), Code::kInvalidArgument) << bare.status().ToString();
  }
  std::string out;
  EXPECT_EQ(Mlahub("NG-AGF", "case " + req + " --reveal"), 2);
  EXPECT_EQ(Mlahub("NG-AGF", "reveals --json", &out), 0);
  EXPECT_EQ(Json(out)["count"], 0) << out;

  // With a reason: clear values, and the reveal is recorded at that agent.
  ASSERT_EQ(Mlahub("NG-AGF", "case " + req + " --reveal --reason 'Identify V1 for protection measures' --json", &out),
            0);
  json rv = Json(out);
  EXPECT_EQ(rv["victim_data"], "revealed") << out;
  EXPECT_EQ(rv["request_body"]["persons_concerned"][1]["family_name"], kName) << out;
  ASSERT_EQ(Mlahub("IT-MOJ", "show " + req + " --reveal --reason 'Check what was sent' --json", &out), 0);
  EXPECT_EQ(Json(out)["body"]["persons_concerned"][1]["family_name"], kName) << out;
  EXPECT_EQ(Json(out)["body"]["persons_concerned"][1]["date_of_birth"], "2012-05-01") << out;
  ASSERT_EQ(Mlahub("NG-AGF", "reveals --json", &out), 0);
  json log = Json(out);
  ASSERT_EQ(log["count"], 1) << out;
  EXPECT_EQ(log["reveals"][0]["target"], req);
  EXPECT_EQ(log["reveals"][0]["what"], "case");
  EXPECT_EQ(log["reveals"][0]["reason"], "Identify V1 for protection measures");
  EXPECT_EQ(log["reveals"][0]["token"].get<std::string>().rfind("api-token:", 0), 0u) << out;
  EXPECT_EQ(Mlahub("NG-AGF", "reveals", &out), 0);
  EXPECT_NE(out.find("Identify V1"), std::string::npos) << out;
  ASSERT_EQ(Mlahub("IT-MOJ", "reveals --json", &out), 0);
  EXPECT_EQ(Json(out)["count"], 1) << out;
  EXPECT_EQ(Json(out)["reveals"][0]["what"], "message") << out;
  // People's view: masked, with the note.
  ASSERT_EQ(Mlahub("IT-MOJ", "case " + req, &out), 0);
  EXPECT_NE(out.find("masked"), std::string::npos) << out;
  EXPECT_EQ(out.find(kName), std::string::npos) << out;

  // At rest: stop both agents, then no clear victim name in their stores
  // (every value) nor in any file of their data directories.
  for (const std::string id : {"IT-MOJ", "NG-AGF"}) {
    agents_[id].Signal(SIGTERM);
    ASSERT_TRUE(agents_[id].Wait(std::chrono::seconds(60)).has_value()) << id;
  }
  for (const std::string id : {"IT-MOJ", "NG-AGF"}) {
    auto st = CaseStore::Open(net_.agent_data(id) + "/store", id);
    ASSERT_TRUE(st.ok()) << id << ": " << st.status().ToString();
    std::string where;
    ASSERT_TRUE(StoreHolds(**st, "PA-2026-118", &where)) << id << ": the scan sees the case records";
    EXPECT_FALSE(StoreHolds(**st, kName, &where)) << id << ": clear victim name under " << where;
    EXPECT_FALSE(StoreHolds(**st, "Amaka", &where)) << id << ": clear victim name under " << where;
    // The reveal records are there (and hold no victim data).
    bool reveals = false;
    ASSERT_TRUE((*st)->ScanRaw("reveal/r/", [&](std::string_view, std::string_view) { return !(reveals = true); }).ok());
    EXPECT_TRUE(reveals) << id;
    ASSERT_TRUE((*st)->Close().ok());
    EXPECT_FALSE(FilesHold(net_.agent_data(id), kName, &where)) << id << ": clear victim name in " << where;
  }
  // Nor in the logs, the broker's files or anything else of the test network.
  std::string where;
  EXPECT_FALSE(FilesHold(dir_, kName, &where)) << "clear victim name in " << where;
}

}  // namespace
}  // namespace mlahub::agents
