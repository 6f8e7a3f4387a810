// Scenario parsing: the shipped scenarios parse, and every kind of error
// names the file, the line and the key.
#include <gtest/gtest.h>

#include <string>

#include "mlahub/sim/scenario.h"

namespace mlahub::sim {
namespace {

const std::string kTwoStates = R"(
duration = "10d"
[[states]]
id = "A"
[[states]]
id = "B"
)";

// Parses `text` and expects an error starting "t.toml:<line>: " that contains `key` and `what`.
void ExpectError(const std::string& text, int line, const std::string& key, const std::string& what) {
  auto r = ParseScenario(text, "t.toml");
  ASSERT_FALSE(r.ok()) << "parsed: " << text;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  const std::string& m = r.status().message();
  if (line >= 0) EXPECT_EQ(m.rfind("t.toml:" + std::to_string(line) + ":", 0), 0u) << m;
  else EXPECT_EQ(m.rfind("t.toml:", 0), 0u) << m;
  EXPECT_NE(m.find(key), std::string::npos) << m;
  EXPECT_NE(m.find(what), std::string::npos) << m;
}

TEST(ScenarioTest, ShippedScenariosParse) {
  for (const char* name : {"smoke", "palermo-30", "global-190", "smoke-live", "live-bench", "live-restart"}) {
    auto r = LoadScenario(std::string(MLAHUB_SOURCE_DIR) + "/scenarios/" + name + ".toml");
    ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    EXPECT_GE(r->states.size(), 3u) << name;
  }
  auto smoke = LoadScenario(std::string(MLAHUB_SOURCE_DIR) + "/scenarios/smoke.toml");
  ASSERT_TRUE(smoke.ok());
  EXPECT_EQ(smoke->name, "smoke");
  EXPECT_EQ(smoke->seed, 7u);
  EXPECT_EQ(smoke->duration_ms, 30 * workflow::kDayMs);
  EXPECT_EQ(smoke->outages.size(), 1u);
  EXPECT_EQ(smoke->broker_crashes.size(), 1u);
  EXPECT_EQ(smoke->AgentCount(), 5u);
  // the network policy is read over the default
  EXPECT_NE(smoke->policy.Find(wire::LegalBasis::Untoc, "acknowledge"), nullptr);
  EXPECT_NE(smoke->policy.Find(wire::LegalBasis::EuEio, "decision"), nullptr);
  auto g = LoadScenario(std::string(MLAHUB_SOURCE_DIR) + "/scenarios/global-190.toml");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->states.size(), 190u);
  auto p = LoadScenario(std::string(MLAHUB_SOURCE_DIR) + "/scenarios/palermo-30.toml");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->states.size(), 30u);
}

TEST(ScenarioTest, Defaults) {
  auto r = ParseScenario(kTwoStates, "t.toml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "t");
  EXPECT_EQ(r->states[0].authorities[0].id, "A-CA");
  EXPECT_EQ(r->profiles.size(), 1u);
  EXPECT_EQ(r->mixes.size(), 1u);
  double sum = 0;
  for (double d : r->daily) sum += d;
  EXPECT_DOUBLE_EQ(sum, 24.0);
}

TEST(ScenarioTest, Durations) {
  EXPECT_EQ(*ParseSimDuration("250ms"), 250);
  EXPECT_EQ(*ParseSimDuration("1d12h"), 36 * 3600 * 1000LL);
  EXPECT_EQ(*ParseSimDuration("1.5h"), 5400 * 1000LL);
  EXPECT_EQ(*ParseSimDuration("2w"), 14 * 86400 * 1000LL);
  EXPECT_FALSE(ParseSimDuration("").ok());
  EXPECT_FALSE(ParseSimDuration("3 days").ok());
  EXPECT_FALSE(ParseSimDuration("d").ok());
  EXPECT_DOUBLE_EQ(*ParseSize("20MB"), 20e6);
  EXPECT_DOUBLE_EQ(*ParseSize("1KiB"), 1024);
  EXPECT_FALSE(ParseSize("20 parsecs").ok());
  EXPECT_EQ(FormatDuration(36 * 3600 * 1000LL), "1d12h");
}

TEST(ScenarioTest, SyntaxErrorNamesLineAndColumn) {
  auto r = ParseScenario("duration = \"10d\"\nseed = = 3\n", "t.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("t.toml:2:", 0), 0u) << r.status().message();
  EXPECT_NE(r.status().message().find("TOML syntax error"), std::string::npos);
}

TEST(ScenarioTest, Errors) {
  ExpectError("colour = \"red\"\n" + kTwoStates, 1, "colour", "unknown key");
  ExpectError("seed = 3\n", -1, "duration", "missing");
  ExpectError(kTwoStates + "[live]\nclock_rate = 0.5\n", -1, "live.clock_rate", "between 1 and 1e8");
  ExpectError(kTwoStates + "[live]\nspeed = 2\n", -1, "speed", "unknown key");
  {
    auto r = ParseScenario(kTwoStates + "[live]\nclock_rate = 3600\ndrain_timeout = \"90s\"\n", "t.toml");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->live_clock_rate, 3600);
    EXPECT_EQ(r->live_drain_timeout_ms, 90000);
    EXPECT_FALSE(r->live_network_real);  // default: network delay in simulated time
  }
  {
    auto r = ParseScenario(kTwoStates + "[live]\nnetwork = \"real\"\n", "t.toml");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->live_network_real);
  }
  ExpectError(kTwoStates + "[live]\nnetwork = \"fast\"\n", -1, "live.network", "\"scaled\"");
  ExpectError(kTwoStates + "[live]\nnetwork = 1\n", -1, "live.network", "string");
  ExpectError("duration = \"ten days\"\n", 1, "duration", "is not a duration");
  ExpectError("duration = 10\n", 1, "duration", "must be a string");
  ExpectError("duration = \"10d\"\n[[states]]\nid = \"A\"\n", 2, "states", "at least two states");
  ExpectError(kTwoStates + "profile = \"slow\"\n", 7, "states[1] (B).profile", "unknown profile 'slow'");
  ExpectError(kTwoStates + "[profiles.p]\ndecide = { dist = \"gamma\", mean = \"3d\" }\n", 8,
              "profiles.p.decide.dist", "unknown distribution 'gamma'");
  ExpectError(kTwoStates + "[profiles.p]\ndecide = { dist = \"lognormal\", median = \"3d\" }\n", 8,
              "profiles.p.decide", "needs 'sigma'");
  ExpectError(kTwoStates + "[profiles.p]\nrefusal_rate = 1.5\n", 8, "profiles.p.refusal_rate", "probability");
  ExpectError(kTwoStates + "[profiles.p]\nworking_hours = { days = \"Mon-Fry\" }\n", 8,
              "profiles.p.working_hours.days", "not a list of days");
  ExpectError(kTwoStates + "[profiles.p]\nworking_hours = { start = \"18:00\", end = \"08:00\" }\n", 8,
              "profiles.p.working_hours", "end must be later");
  ExpectError(kTwoStates + "[[mixes.m]]\nkind = \"Mla\"\nbasis = \"Untoc\"\nshare = 1\n", 8,
              "mixes.m[0].kind", "unknown request kind 'Mla'");
  ExpectError(kTwoStates + "[[mixes.m]]\nkind = \"MlaRequest\"\nbasis = \"UNTOC\"\nshare = 1\n", 9,
              "mixes.m[0].basis", "unknown legal basis 'UNTOC'");
  ExpectError(kTwoStates + "[[outages]]\nagent = \"C-CA\"\nat = \"1d\"\nfor = \"2d\"\n", 8, "outages[0].agent",
              "unknown authority 'C-CA'");
  ExpectError(kTwoStates + "[[outages]]\nagent = \"A-CA\"\nat = \"1d\"\n", 7, "outages[0]", "missing 'for'");
  ExpectError(kTwoStates + "[[broker_crashes]]\nat = \"1d\"\ndown = \"0s\"\n", 9, "broker_crashes[0].down",
              "longer than 0");
  ExpectError(kTwoStates + "[[pairs]]\nfrom = \"group:eu\"\nto = \"*\"\n", 8, "pairs[0].from",
              "no state is in group 'eu'");
  ExpectError(kTwoStates + "[[requests]]\nat = \"1d\"\nfrom = \"A\"\nto = \"A\"\nkind = \"MlaRequest\"\n"
              "basis = \"Untoc\"\n", 10, "requests[0].to", "to itself");
  ExpectError("duration = \"10d\"\n[[states]]\nid = \"A\"\n[[states]]\nid = \"A\"\n", 5, "states[1].id",
              "duplicate state 'A'");
  ExpectError(kTwoStates + "utc_offset = 20\n", 7, "states[1] (B).utc_offset", "between -12 and +14");
  ExpectError("policy = \"missing-policy.toml\"\n" + kTwoStates, 1, "policy", "cannot read");
  ExpectError(kTwoStates + "[arrivals]\ndaily = [1, 2]\n", 8, "arrivals.daily", "list of 24 numbers");
  ExpectError(kTwoStates + "[evidence]\nsize = { dist = \"fixed\", value = \"3 parsecs\" }\n", 8,
              "evidence.size.value", "is not a size");
}

}  // namespace
}  // namespace mlahub::sim
