// `mlahub demo --json` end to end (the README's main command): runs the built
// mlahub, which starts the built mlahub-broker and four mlahub-agent
// processes on free loopback ports, into a fresh temporary directory, and
// checks the JSON document it prints: every step ok, every message sent,
// the evidence files hash-checked, the ledger proof verified, every daemon
// stopped with exit code 0. Waits only on the demo's own conditions.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kBin = MLAHUB_BIN_DIR;

struct ShellRun {
  int code = -1;
  std::string out;
};

ShellRun RunShell(const std::string& cmd) {
  ShellRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string TempDir() {
  std::string t = (fs::temp_directory_path() / "mlahub-demo-test-XXXXXX").string();
  char* d = ::mkdtemp(t.data());
  return d == nullptr ? std::string() : std::string(d);
}

TEST(MlahubDemo, EveryStepOk) {
  for (const char* b : {"mlahub", "mlahub-broker", "mlahub-agent"})
    if (!fs::exists(kBin + "/" + b)) GTEST_SKIP() << "build mlahub, mlahub-broker and mlahub-agent first";
  const std::string dir = TempDir();
  ASSERT_FALSE(dir.empty());
  ShellRun r = RunShell(kBin + "/mlahub demo --dir " + dir + "/out --json --timeout 240 2>" + dir + "/stderr.txt");
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << "exit " << r.code << ", output: " << r.out << "\n(see " << dir << ")";
  EXPECT_EQ(r.code, 0) << doc.value("failed_step", json()).dump() << " (logs in " << dir << "/out/logs)";
  EXPECT_EQ(doc["ok"], true);

  ASSERT_TRUE(doc["steps"].is_array());
  std::vector<std::string> names;
  for (const json& s : doc["steps"]) {
    names.push_back(s.value("name", ""));
    EXPECT_EQ(s["ok"], true) << s.dump();
  }
  for (const char* want : {"network", "daemons", "mla_request", "further_information", "evidence", "provisional_arrest",
                           "extradition_refused", "extradite_or_prosecute", "document_verification",
                           "nationality_verification", "timelines", "ledger_proof", "stop"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << "no step " << want;

  // Every request and answer has a message id (32 hex).
  for (const char* label : {"mla_request", "mla_acknowledgement", "mla_further_information",
                            "mla_further_information_reply", "mla_decision", "mla_execution_report",
                            "provisional_arrest", "extradition", "ext_refusal", "prosecution_notice",
                            "document_verification", "document_verification_result", "nationality_verification",
                            "nationality_verification_result"}) {
    ASSERT_TRUE(doc["messages"].contains(label)) << label;
    EXPECT_EQ(doc["messages"][label].value("id", "").size(), 32u) << label;
  }

  // Timelines and clocks as Italy sees them.
  const json& t = doc["timelines"];
  EXPECT_EQ(t["mla_request"]["case"]["stage"], "closed");
  EXPECT_EQ(t["extradition"]["case"]["stage"], "closed");
  EXPECT_EQ(t["extradition"]["case"]["decision"], "refuse");
  ASSERT_FALSE(t["extradition"]["case"]["follow_ups"].empty());
  EXPECT_EQ(t["extradition"]["case"]["follow_ups"][0]["open"], false);
  EXPECT_EQ(t["provisional_arrest"]["case"]["stage"], "closed");
  EXPECT_EQ(t["document_verification"]["case"]["stage"], "executed");
  EXPECT_EQ(t["nationality_verification"]["case"]["stage"], "executed");
  EXPECT_EQ(t["mla_request"]["status"]["state"], "receipted");
  EXPECT_GE(t["mla_request"]["case"]["timeline"].size(), 7u);

  // Evidence: three files, each hash-checked against what was sent.
  ASSERT_EQ(doc["evidence"]["files"].size(), 3u) << doc["evidence"].dump();
  for (const json& f : doc["evidence"]["files"]) {
    EXPECT_EQ(f["match"], true);
    EXPECT_TRUE(fs::exists(f.value("path", ""))) << f.dump();
  }

  // The ledger proof against the signed checkpoint.
  const json& p = doc["ledger_proof"];
  EXPECT_EQ(p["verified"], true);
  EXPECT_EQ(p["message_id"], doc["messages"]["mla_request"]["id"]);
  EXPECT_GT(p["tree_size"].get<uint64_t>(), p["index"].get<uint64_t>());

  // Every daemon stopped on SIGTERM with exit code 0.
  ASSERT_EQ(doc["daemons"].size(), 5u);
  for (const json& d : doc["daemons"]) EXPECT_EQ(d["exit_code"], 0) << d.dump();

  if (!HasFailure()) fs::remove_all(dir);
}

}  // namespace
