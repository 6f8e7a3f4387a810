// The deadline policy from the command line and at the agent's start, with
// the built programs: `mlahub policy show | check` on good and bad files,
// `mlahub network init --policy`, mlahub-agent refusing a bad policy file
// (with its line) before it opens or binds anything, and an agent started
// with a network's policy showing it (GET /v1/policy via `mlahub policy show
// --agent`). The clocks themselves: agents/tests/cases_test.cc, workflow's
// deadlines_test.cc (fake clock).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "mlahub/config/config.h"
#include "mlahub/core/file.h"
#include "process.h"  // tests/support

namespace mlahub {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using PolicyRun = support::CommandRun;



constexpr const char* kGoodPolicy =
    "# a network's policy\n"
    "[untoc]\n"
    "acknowledge = { due = \"3d\", citation = \"UNTOC Art. 18(13); network policy 2026/1\" }\n";
constexpr const char* kBadPolicy =
    "[untoc]\n"
    "acknowledge = { due = \"3d\", citation = \"x\" }\n"
    "acknowledgment = { due = \"3d\", citation = \"x\" }\n";

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() /
           ("mlahub_policy_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  PolicyRun Run(const std::string& program, const std::string& args) {
    return support::RunCapturing(std::string(MLAHUB_BIN_DIR) + "/" + program, args, tmp_);
  }
  PolicyRun Mlahub(const std::string& args) { return Run("mlahub", args); }

  std::string Write(const std::string& name, const std::string& text) {
    fs::path p = tmp_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  fs::path tmp_;
};

TEST_F(PolicyTest, ShowPrintsTheDefaultWhichChecksAsValid) {
  PolicyRun shown = Mlahub("policy show");
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("[untoc]"), std::string::npos);
  EXPECT_NE(shown.out.find("[eu_eio]"), std::string::npos);
  std::string copy = Write("copy.toml", shown.out);
  PolicyRun checked = Mlahub("policy check " + support::ShellQuote(copy));
  EXPECT_EQ(checked.code, 0) << checked.err;
  EXPECT_NE(checked.out.find("valid; 0 rule(s) set by this file"), std::string::npos) << checked.out;
  PolicyRun j = Mlahub("policy show --json");
  ASSERT_EQ(j.code, 0) << j.err;
  json doc = json::parse(j.out);
  EXPECT_EQ(doc["source"], "embedded_default");
  EXPECT_EQ(doc["toml"], shown.out);
  EXPECT_FALSE(doc["rules"].empty());
}

TEST_F(PolicyTest, CheckListsTheRulesOfAGoodFileAndRefusesABadOne) {
  std::string good = Write("good.toml", kGoodPolicy);
  PolicyRun r = Mlahub("policy check " + support::ShellQuote(good));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("1 rule(s) set by this file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("network policy 2026/1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("BASIS"), std::string::npos);
  r = Mlahub("policy check --json " + support::ShellQuote(good));
  ASSERT_EQ(r.code, 0) << r.err;
  json doc = json::parse(r.out);
  EXPECT_TRUE(doc["ok"].get<bool>());
  EXPECT_EQ(doc["source"], "file");
  EXPECT_EQ(doc["sha256"].get<std::string>().size(), 64u);
  bool seen = false;
  for (const json& rule : doc["rules"]) {
    for (const char* k : {"basis", "clock", "due", "urgent_due", "extension", "citation"})
      EXPECT_TRUE(rule.contains(k)) << k;
    if (rule["basis"] == "untoc" && rule["clock"] == "acknowledge") {
      seen = true;
      EXPECT_EQ(rule["due"], "3d");
      EXPECT_TRUE(rule["changed"].get<bool>());
    }
  }
  EXPECT_TRUE(seen);

  std::string bad = Write("bad.toml", kBadPolicy);
  r = Mlahub("policy check " + support::ShellQuote(bad));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(bad + ":3: unknown clock 'acknowledgment' in [untoc]"), std::string::npos) << r.err;
  r = Mlahub("policy check --json " + support::ShellQuote(bad));
  EXPECT_EQ(r.code, 1);
  doc = json::parse(r.out);
  EXPECT_FALSE(doc["ok"].get<bool>());
  EXPECT_EQ(doc["error"]["code"], "invalid_policy");
  EXPECT_NE(doc["error"]["message"].get<std::string>().find(":3:"), std::string::npos);
  std::string syntax = Write("syntax.toml", "[untoc\n");
  EXPECT_EQ(Mlahub("policy check " + support::ShellQuote(syntax)).code, 1);
  EXPECT_EQ(Mlahub("policy check " + support::ShellQuote((tmp_ / "none.toml").string())).code, 4);
  EXPECT_EQ(Mlahub("policy check").code, 2);  // usage
}

TEST_F(PolicyTest, NetworkInitCopiesThePolicyAndTheAgentUsesIt) {
  // A bad policy: nothing is written.
  std::string bad = Write("bad.toml", kBadPolicy);
  fs::path refused = tmp_ / "refused";
  PolicyRun r = Mlahub("network init --dir " + support::ShellQuote(refused.string()) + " --nodes IT-MOJ --policy " +
                       support::ShellQuote(bad));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find(":3: unknown clock"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(refused / "operator"));

  std::string good = Write("good.toml", kGoodPolicy);
  fs::path net = tmp_ / "net";
  r = Mlahub("network init --json --dir " + support::ShellQuote(net.string()) + " --nodes IT-MOJ,NG-AGF --base-port 17900 "
             "--policy " + support::ShellQuote(good));
  ASSERT_EQ(r.code, 0) << r.err;
  json summary = json::parse(r.out);
  EXPECT_EQ(summary["policy"]["file"], (net / "policy.toml").string());
  EXPECT_EQ(support::ReadText(net / "policy.toml"), kGoodPolicy);
  for (const char* node : {"IT-MOJ", "NG-AGF"}) {
    auto c = config::LoadAgentConfig((net / "nodes" / node / "agent.toml").string());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->cases_policy, (net / "policy.toml").string());
  }

  // The agent, started with it: any free API port, no metrics, no broker needed.
  fs::path cfg_path = net / "nodes" / "NG-AGF" / "agent.toml";
  auto cfg = config::LoadAgentConfig(cfg_path.string());
  ASSERT_TRUE(cfg.ok());
  cfg->api_listen = "127.0.0.1:0";
  cfg->metrics.listen = "";
  std::string local = (tmp_ / "agent.toml").string();
  ASSERT_TRUE(WriteFileAtomic(local, AsBytes(config::AgentConfigToToml(*cfg)), 0644).ok());

  // A bad policy file stops the start, naming the line, before the data
  // directory is made or anything is bound.
  std::string broken = (net / "policy.toml").string();
  std::ofstream(broken) << kBadPolicy;
  r = Run("mlahub-agent", "--config " + support::ShellQuote(local));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("[cases] policy: " + broken + ":3: unknown clock 'acknowledgment'"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(cfg->data)) << "the agent made its data directory before checking the policy";

  // The good one: the agent serves and says which policy is in effect.
  std::ofstream(broken, std::ios::trunc) << kGoodPolicy;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string log = (tmp_ / "agent.log").string();
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 2);
      ::dup2(fd, 1);
    }
    std::string bin = std::string(MLAHUB_BIN_DIR) + "/mlahub-agent";
    ::execl(bin.c_str(), bin.c_str(), "--config", local.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  fs::path ready = fs::path(cfg->data) / "ready.json";
  bool up = false;
  for (int i = 0; i < 600 && !up; ++i) {  // generous: up to a minute on a loaded machine
    if (fs::exists(ready)) {
      json j = json::parse(support::ReadText(ready), nullptr, false);
      up = j.is_object() && j.value("pid", 0) == pid;
    }
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int st = 0;
    if (!up && ::waitpid(pid, &st, WNOHANG) == pid) break;
  }
  std::string log_text = support::ReadText(tmp_ / "agent.log");
  if (up) {
    PolicyRun shown = Mlahub("policy show --json --agent " + support::ShellQuote(local));
    EXPECT_EQ(shown.code, 0) << shown.err;
    json doc = json::parse(shown.out, nullptr, false);
    ASSERT_TRUE(doc.is_object()) << shown.out;
    EXPECT_EQ(doc["source"], "file");
    EXPECT_EQ(doc["path"], broken);
    EXPECT_EQ(doc["sha256"], summary["policy"]["sha256"]);
    bool seen = false;
    for (const json& rule : doc["rules"])
      if (rule["basis"] == "untoc" && rule["clock"] == "acknowledge") seen = rule["due"] == "3d";
    EXPECT_TRUE(seen) << shown.out;
    PolicyRun table = Mlahub("policy show --agent " + support::ShellQuote(local));
    EXPECT_EQ(table.code, 0) << table.err;
    EXPECT_NE(table.out.find(broken + " over the embedded default"), std::string::npos) << table.out;
    // The log names the policy by path and hash.
    log_text = support::ReadText(tmp_ / "agent.log");
    EXPECT_NE(log_text.find("cases.policy"), std::string::npos) << log_text;
    EXPECT_NE(log_text.find(summary["policy"]["sha256"].get<std::string>()), std::string::npos);
  }
  ::kill(pid, SIGTERM);
  int st = 0;
  ::waitpid(pid, &st, 0);
  ASSERT_TRUE(up) << "the agent did not become ready: " << log_text;
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << log_text;
}

}  // namespace
}  // namespace mlahub
