// The model engine: deadline compliance against a hand calculation,
// store-and-forward under an outage, determinism for a seed.
#include <gtest/gtest.h>

#include <string>

#include "mlahub/sim/model.h"
#include "mlahub/sim/report.h"
#include "mlahub/sim/scenario.h"

namespace mlahub::sim {
namespace {

constexpr int64_t kDay = workflow::kDayMs;
constexpr int64_t kSec = 1000;

// Two states, fixed times, no working hours, 1 s per hop, one EIO request
// from A to B at t = 0. Default policy (EIO): acknowledge 7d, decision 30d,
// execution 90d after the decision.
std::string HandScenario(const std::string& extra) {
  return R"(
duration = "1d"
drain = "300d"
[network]
delay = "1s"
[profiles.fixed]
acknowledge = "3d"
decide = "40d"
execute = "100d"
[[states]]
id = "A"
[[states]]
id = "B"
[[requests]]
at = "0s"
from = "A"
to = "B"
kind = "MlaRequest"
basis = "EuEio"
)" + extra;
}

Results RunText(const std::string& text) {
  auto sc = ParseScenario(text, "hand.toml");
  EXPECT_TRUE(sc.ok()) << sc.status().ToString();
  auto r = RunModel(*sc);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->workflow_rejections, 0);
  return std::move(*r);
}

TEST(ModelTest, ComplianceMatchesHandCalculation) {
  Results r = RunText(HandScenario(""));
  // Received at 2 s (two hops). Acknowledged at 3d + 2s: within 7d -> met.
  // Decided (execute) at 43d + 2s: the decision clock (30d) is missed.
  // Executed at 143d + 2s: the execution clock started at the decision and
  // ran 90d, due 133d + 2s -> missed. Answer back at 143d + 4s.
  EXPECT_EQ(r.requests, 1);
  EXPECT_EQ(r.completed, 1);
  EXPECT_EQ(r.compliance.met, 1);
  EXPECT_EQ(r.compliance.missed, 2);
  EXPECT_EQ(r.compliance.pending, 0);
  EXPECT_EQ(r.by_clock.at("acknowledge").met, 1);
  EXPECT_EQ(r.by_clock.at("decision").missed, 1);
  EXPECT_EQ(r.by_clock.at("execution").missed, 1);
  EXPECT_EQ(r.by_basis.at("EuEio").missed, 2);
  EXPECT_EQ(r.by_state.at("B").met, 1);
  EXPECT_EQ(r.latency.count, 1);
  EXPECT_DOUBLE_EQ(r.latency.p50, static_cast<double>(143 * kDay + 4 * kSec));
  // 1 request + acknowledgement + decision + execution report
  EXPECT_EQ(r.messages, 4);
}

TEST(ModelTest, FasterRequestedStateMeetsEveryClock) {
  std::string text = HandScenario("");
  text.replace(text.find("\"40d\""), 5, "\"20d\"");
  text.replace(text.find("\"100d\""), 6, "\"60d\"");
  Results r = RunText(text);
  EXPECT_EQ(r.compliance.met, 3);
  EXPECT_EQ(r.compliance.missed, 0);
  EXPECT_DOUBLE_EQ(r.latency.p50, static_cast<double>(83 * kDay + 4 * kSec));
}

TEST(ModelTest, DeadlineExtensionMovesTheDecisionClock) {
  // As in the hand calculation, but B notifies an extension when it will
  // decide late: the EIO allows 30 more days (Art. 12(5)), so the decision
  // (due 30d + 2s, extended to 60d + 2s) taken at 43d + 2s is on time.
  std::string text = HandScenario("");
  text.replace(text.find("execute = \"100d\"\n"), 17, "execute = \"100d\"\nextension_rate = 1.0\n");
  Results r = RunText(text);
  EXPECT_EQ(r.extensions, 1);
  EXPECT_EQ(r.by_clock.at("decision").met, 1);
  EXPECT_EQ(r.by_clock.at("execution").missed, 1);
  EXPECT_EQ(r.compliance.met, 2);
  EXPECT_EQ(r.compliance.missed, 1);
  EXPECT_EQ(r.messages, 5);
}

TEST(ModelTest, OutageHoldsStepsAndDelaysDeadlines) {
  // B's agent is down from day 2 to day 12: the acknowledgement (taken at
  // 3d + 2s) leaves only at 12d, so the acknowledge clock (7d) is missed.
  Results r = RunText(HandScenario("[[outages]]\nagent = \"B-CA\"\nat = \"2d\"\nfor = \"10d\"\n"));
  EXPECT_EQ(r.by_clock.at("acknowledge").missed, 1);
  EXPECT_EQ(r.by_clock.at("decision").missed, 1);
  ASSERT_EQ(r.faults.size(), 1u);
  EXPECT_EQ(r.faults[0].what, "agent B-CA");
  EXPECT_EQ(r.faults[0].messages_held, 1);
  EXPECT_EQ(r.faults[0].max_held_ms, 9 * kDay - 2 * kSec);
  EXPECT_EQ(r.faults[0].cases_affected, 1);
  EXPECT_EQ(r.faults[0].clocks.missed, 3);
}

TEST(ModelTest, OutageOfRecipientDelaysDelivery) {
  // B is down when the request arrives: the broker keeps it until 5d; the
  // clocks start at delivery (5d + 1s), so all is as in the hand calculation, shifted.
  Results r = RunText(HandScenario("[[outages]]\nagent = \"B-CA\"\nat = \"0s\"\nfor = \"5d\"\n"));
  EXPECT_EQ(r.compliance.met, 1);
  EXPECT_EQ(r.compliance.missed, 2);
  EXPECT_DOUBLE_EQ(r.latency.p50, static_cast<double>(148 * kDay + 3 * kSec));
  EXPECT_EQ(r.faults[0].messages_held, 1);
}

TEST(ModelTest, BrokerCrashHoldsMessages) {
  // The broker is down from 1s for one hour: the request reaches it at 1s and waits.
  Results r = RunText(HandScenario("[[broker_crashes]]\nat = \"500ms\"\ndown = \"1h\"\n"));
  ASSERT_EQ(r.faults.size(), 1u);
  EXPECT_EQ(r.faults[0].what, "broker");
  EXPECT_EQ(r.faults[0].messages_held, 1);
  EXPECT_EQ(r.faults[0].max_held_ms, 3600 * kSec - 500);
  EXPECT_DOUBLE_EQ(r.latency.p50, static_cast<double>(143 * kDay + 4 * kSec + 3599500));
}

TEST(ModelTest, OpenClocksAtTheEnd) {
  // Stop at day 50: the execution clock runs (due 133d) -> pending.
  std::string text = HandScenario("");
  text.replace(text.find("\"300d\""), 6, "\"49d\"");
  Results r = RunText(text);
  EXPECT_EQ(r.completed, 0);
  EXPECT_EQ(r.open_at_end, 1);
  EXPECT_EQ(r.compliance.met, 1);
  EXPECT_EQ(r.compliance.missed, 1);
  EXPECT_EQ(r.compliance.pending, 1);
}

TEST(ModelTest, WorkingHours) {
  // B works Mon-Fri 09:00-17:00 local time, UTC+2, and takes one hour per
  // step. A request received Saturday 12:00 UTC is acknowledged Monday 09:00
  // local (07:00 UTC), decided at 08:00 UTC and executed at 09:00 UTC: the
  // answer arrives 45 hours after it was sent (no network delay).
  std::string text = R"(
start = 2026-01-10T12:00:00Z
duration = "1d"
drain = "5d"
[profiles.office]
acknowledge = "1h"
decide = "1h"
execute = "1h"
working_hours = { days = "Mon-Fri", start = "09:00", end = "17:00" }
[[states]]
id = "A"
profile = "office"
[[states]]
id = "B"
profile = "office"
utc_offset = 2
[[requests]]
at = "0s"
from = "A"
to = "B"
kind = "MlaRequest"
basis = "EuEio"
)";
  Results r = RunText(text);
  EXPECT_EQ(r.completed, 1);
  EXPECT_DOUBLE_EQ(r.latency.p50, static_cast<double>(45 * workflow::kHourMs));
  EXPECT_EQ(r.compliance.met, 3);
  EXPECT_EQ(r.messages, 4);
}

TEST(ModelTest, DeterministicForASeed) {
  auto sc = LoadScenario(std::string(MLAHUB_SOURCE_DIR) + "/scenarios/smoke.toml");
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  auto a = RunModel(*sc);
  auto b = RunModel(*sc);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->workflow_rejections, 0);
  EXPECT_GT(a->requests, 50);
  EXPECT_GT(a->compliance.met, 0);
  std::string ja = MetricsJson(*a), jb = MetricsJson(*b);
  EXPECT_EQ(ja, jb);
  sc->seed += 1;
  auto c = RunModel(*sc);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(MetricsJson(*c), ja);
}

TEST(ModelTest, Palermo30RunsCleanly) {
  auto sc = LoadScenario(std::string(MLAHUB_SOURCE_DIR) + "/scenarios/palermo-30.toml");
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  auto r = RunModel(*sc);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->workflow_rejections, 0);
  EXPECT_GT(r->requests, 10000);
  EXPECT_EQ(r->requests, r->delivered);
  EXPECT_EQ(r->completed + r->open_at_end, r->requests);
  EXPECT_GT(r->extensions, 0);
  EXPECT_GT(r->further_information, 0);
  EXPECT_EQ(r->by_state.size(), 30u);
  for (const char* basis : {"Untoc", "PalermoProtocol", "EuEio", "EuEaw"})
    EXPECT_TRUE(r->by_basis.count(basis)) << basis;
  for (const auto& f : r->faults) EXPECT_GT(f.messages_held, 0) << f.what;
}

TEST(ModelTest, SmokeTouchesTheFaults) {
  auto sc = LoadScenario(std::string(MLAHUB_SOURCE_DIR) + "/scenarios/smoke.toml");
  ASSERT_TRUE(sc.ok());
  auto r = RunModel(*sc);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->faults.size(), 2u);
  EXPECT_GT(r->faults[0].messages_held, 0);  // NG-AGF offline five days
  EXPECT_EQ(r->requests, r->delivered);       // store and forward: nothing lost
  EXPECT_EQ(r->completed + r->open_at_end, r->requests);
}

}  // namespace
}  // namespace mlahub::sim
