// mlahub-sim as a program: exit codes, the report files, --json.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Out {
  int code = -1;
  std::string stdout_text;
};

Out Sim(const std::string& args, const std::string& stderr_to = "/dev/null") {
  std::string cmd = std::string(MLAHUB_BIN_DIR) + "/mlahub-sim " + args + " 2>" + stderr_to;
  Out o;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return o;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.stdout_text.append(buf.data(), n);
  int st = ::pclose(p);
  o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

std::string Smoke() { return std::string(MLAHUB_SOURCE_DIR) + "/scenarios/smoke.toml"; }

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sim_cli_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(CliTest, Help) {
  Out o = Sim("--help");
  EXPECT_EQ(o.code, 0);
  EXPECT_NE(o.stdout_text.find("run"), std::string::npos);
  EXPECT_EQ(Sim("").code, 2);
  EXPECT_EQ(Sim("frobnicate").code, 2);
  EXPECT_EQ(Sim("run " + Smoke()).code, 2);  // --out missing
}

TEST_F(CliTest, Check) {
  EXPECT_EQ(Sim("check " + Smoke()).code, 0);
  Out j = Sim("check --json " + Smoke());
  EXPECT_EQ(j.code, 0);
  auto doc = nlohmann::json::parse(j.stdout_text);
  EXPECT_EQ(doc["states"], 4);
  std::string bad = Write("bad.toml", "duration = \"10d\"\nseed = \"seven\"\n");
  Out b = Sim("check --json " + bad);
  EXPECT_EQ(b.code, 2);
  auto err = nlohmann::json::parse(b.stdout_text);
  std::string msg = err["error"]["message"];
  EXPECT_NE(msg.find("bad.toml:2: seed"), std::string::npos) << msg;
  EXPECT_EQ(Sim("check " + (dir_ / "nonexistent.toml").string()).code, 4);
}

TEST_F(CliTest, RunWritesTheReport) {
  std::string out = (dir_ / "report").string();
  Out o = Sim("run " + Smoke() + " --out " + out + " --json");
  ASSERT_EQ(o.code, 0) << o.stdout_text;
  auto j = nlohmann::json::parse(o.stdout_text);
  EXPECT_GT(j["events"].get<int64_t>(), 0);
  EXPECT_TRUE(j.contains("events_per_second"));
  EXPECT_EQ(j["workflow_rejections"], 0);
  for (const char* f : {"metrics.json", "throughput.csv", "latency.csv", "latency_by_kind.csv", "backlog.csv",
                        "compliance_by_basis.csv", "compliance_by_state.csv", "compliance_by_clock.csv",
                        "faults.csv", "throughput.svg", "latency.svg", "backlog.svg", "compliance.svg",
                        "faults.svg"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  std::ifstream svg(fs::path(out) / "latency.svg");
  std::stringstream ss;
  ss << svg.rdbuf();
  EXPECT_EQ(ss.str().rfind("<?xml", 0), 0u);
  EXPECT_NE(ss.str().find("</svg>"), std::string::npos);
  // The same seed gives the same metrics.json, byte for byte.
  std::string out2 = (dir_ / "report2").string();
  // Not a terminal: no progress bar on stderr.
  std::string err = (dir_ / "stderr.txt").string();
  ASSERT_EQ(Sim("run " + Smoke() + " --out " + out2, err).code, 0);
  EXPECT_EQ(fs::file_size(err), 0u);
  std::ifstream a(fs::path(out) / "metrics.json"), b(fs::path(out2) / "metrics.json");
  std::stringstream sa, sb;
  sa << a.rdbuf();
  sb << b.rdbuf();
  EXPECT_EQ(sa.str(), sb.str());
}

TEST_F(CliTest, LiveEngineNeedsTheDaemons) {
  // Without the daemons in --bin-dir: not found (4), naming what to build.
  std::filesystem::create_directories(dir_ / "nobin");
  Out o = Sim("run " + Smoke() + " --out " + (dir_ / "live").string() + " --engine live --bin-dir " +
              (dir_ / "nobin").string() + " --json");
  EXPECT_EQ(o.code, 4);
  EXPECT_NE(o.stdout_text.find("not found"), std::string::npos) << o.stdout_text;
  EXPECT_EQ(Sim("run " + Smoke() + " --out " + (dir_ / "x").string() + " --engine warp").code, 2);
  EXPECT_EQ(Sim("run " + Smoke() + " --out " + (dir_ / "x").string() + " --engine live --rate 0").code, 2);
}

TEST_F(CliTest, BadScenarioExitsTwo) {
  std::string bad = Write("bad.toml", "duration = \"10d\"\n[[states]]\nid = \"A\"\nprofile = \"nope\"\n"
                                      "[[states]]\nid = \"B\"\n");
  EXPECT_EQ(Sim("run " + bad + " --out " + (dir_ / "r").string()).code, 2);
}

}  // namespace
