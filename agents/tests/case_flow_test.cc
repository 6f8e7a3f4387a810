// A case end to end with the real programs (mlahub-broker, two mlahub-agent
// processes, the mlahub tool): IT-MOJ asks NG-AGF for assistance; NG-AGF
// acknowledges, asks for further information, IT-MOJ replies, NG-AGF refuses
// (first without grounds: refused by its own agent, exit 3; then with grounds
// and reasons); `mlahub list --json` and `mlahub case ID --json` show it at
// both ends. Every wait is for a condition with a generous deadline.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>

#include "mlahub/agents/api_client.h"
#include "mlahub/core/file.h"
#include "daemons_fixture.h"
#include "process.h"
#include "test_bodies.h"
#include "test_network.h"

namespace mlahub::agents {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using support::Process;
using support::WaitFor;

constexpr std::chrono::milliseconds kLong = seconds(180);
const std::string kBin = MLAHUB_BIN_DIR;

class CaseFlowTest : public testing::DaemonsTest {
 protected:
  CaseFlowTest() : DaemonsTest(kLong) {}
  void SetUp() override {
    if (!FileExists(kBin + "/mlahub-broker") || !FileExists(kBin + "/mlahub-agent") || !FileExists(kBin + "/mlahub"))
      GTEST_SKIP() << "build mlahub-broker, mlahub-agent and mlahub first";
    dir_ = testing::MakeTempDir("agents-case-flow");
    uint16_t port = testing::PickFreePorts(20);
    auto net = testing::InitNetworkWithTool(kBin, dir_ + "/net", {"IT-MOJ", "NG-AGF"}, port);
    ASSERT_TRUE(net.ok()) << net.status().ToString();
    net_ = *net;
  }
  void Start() {
    StartBroker();
    for (const std::string& id : net_.nodes) {
      if (HasFatalFailure()) return;
      StartAgent(id);
    }
  }
  ApiClient Api(const std::string& id) {
    auto c = ApiClient::FromConfigFile(net_.agent_config(id));
    MLAHUB_CHECK_MSG(c.ok(), c.status().ToString());
    return *c;
  }
  json Case(const std::string& at, const std::string& id) {
    auto r = Api(at).Get("/v1/cases/" + id);
    return r.ok() ? *r : json{{"error", r.status().ToString()}};
  }
  bool StageIs(const std::string& at, const std::string& id, const std::string& stage) {
    return WaitFor([&] { return Case(at, id).value("stage", "") == stage; }, kLong);
  }
  int Mlahub(const std::string& at, const std::string& args, std::string* out = nullptr) {
    return support::RunShell(kBin + "/mlahub " + args + " --agent " + net_.agent_config(at), out);
  }

};

TEST_F(CaseFlowTest, RequestAcknowledgeFurtherInformationRefuse) {
  Start();
  // An incomplete request is refused by the sending agent, with its findings.
  auto bad = Api("IT-MOJ").PostJson("/v1/messages", json{{"to", "NG-AGF"}, {"kind", "MlaRequest"},
                                                         {"body", {{"language", "en"}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("request incomplete: ", 0), 0u) << bad.status().ToString();

  json body = json::parse(workflow::testing::CompleteBody("MlaRequest").dump());
  auto sent = Api("IT-MOJ").PostJson("/v1/messages", json{{"to", "NG-AGF"}, {"kind", "MlaRequest"}, {"body", body},
                                                          {"case_ref", "PA-2026-117"}});
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  const std::string req = (*sent)["message_id"];
  EXPECT_EQ(Case("IT-MOJ", req).value("role", ""), "requesting");
  ASSERT_TRUE(StageIs("NG-AGF", req, "received")) << Case("NG-AGF", req).dump();

  // The requesting side cannot acknowledge (its agent refuses: exit 3).
  EXPECT_EQ(Mlahub("IT-MOJ", "respond " + req + " --step acknowledge"), 3);
  EXPECT_EQ(Mlahub("NG-AGF", "respond " + req + " --step acknowledge --reference NG-77"), 0);
  ASSERT_TRUE(StageIs("IT-MOJ", req, "acknowledged")) << Case("IT-MOJ", req).dump();

  EXPECT_EQ(Mlahub("NG-AGF", "respond " + req +
                                 " --step request-info --question 'Which branch holds account P1?' --reasons "
                                 "'Needed for the production order'"),
            0);
  ASSERT_TRUE(StageIs("IT-MOJ", req, "further_information_requested"));
  EXPECT_EQ(Mlahub("IT-MOJ", "respond " + req + " --step reply-info --answer 'The main branch in Lagos'"), 0);
  ASSERT_TRUE(StageIs("NG-AGF", req, "acknowledged"));

  // A refusal without grounds and reasons never leaves the requested agent.
  std::string out;
  EXPECT_EQ(Mlahub("NG-AGF", "respond " + req + " --step decide --decide refuse --json", &out), 3);
  EXPECT_NE(out.find("step_refused"), std::string::npos) << out;
  EXPECT_EQ(Mlahub("NG-AGF", "respond " + req +
                                 " --step decide --decide refuse --grounds PrejudiceToEssentialInterests --reasons "
                                 "'It would prejudice an ongoing national investigation'"),
            0);
  ASSERT_TRUE(StageIs("IT-MOJ", req, "decided"));

  ASSERT_EQ(Mlahub("IT-MOJ", "list --json", &out), 0);
  json list = json::parse(out, nullptr, false);
  ASSERT_TRUE(list.is_object()) << out;
  ASSERT_EQ(list["count"], 1);
  EXPECT_EQ(list["cases"][0]["id"], req);
  EXPECT_EQ(list["cases"][0]["decision"], "refuse");
  EXPECT_EQ(list["cases"][0]["partner"], "NG-AGF");

  ASSERT_EQ(Mlahub("IT-MOJ", "case " + req + " --json", &out), 0);
  json one = json::parse(out, nullptr, false);
  ASSERT_TRUE(one.is_object()) << out;
  EXPECT_EQ(one["stage"], "decided");
  ASSERT_EQ(one["timeline"].size(), 5u) << one.dump();
  EXPECT_EQ(one["timeline"][4]["kind"], "Decision");
  EXPECT_EQ(one["timeline"][4]["step"]["refusal_grounds"][0], "PrejudiceToEssentialInterests");
  EXPECT_TRUE(one["timeline"][0]["transport"].is_object());
  // People's views and the statistics answer too.
  EXPECT_EQ(Mlahub("IT-MOJ", "case " + req, &out), 0);
  EXPECT_EQ(Mlahub("NG-AGF", "list --state decided", &out), 0);
  EXPECT_NE(out.find(req), std::string::npos) << out;
  EXPECT_EQ(Mlahub("NG-AGF", "stats --json", &out), 0);
  json st = json::parse(out, nullptr, false);
  ASSERT_TRUE(st.is_object()) << out;
  EXPECT_EQ(st["by_outcome"]["refuse"], 1);
  EXPECT_EQ(st["time_to_acknowledge"]["count"], 1);
  EXPECT_EQ(Mlahub("NG-AGF", "case 00000000000000000000000000000000"), 4);
}

}  // namespace
}  // namespace mlahub::agents
