// The live engine with real processes: the smoke-live scenario (the smoke
// scenario kept small: a few dozen requests, four states, five agents) on a
// real broker and real agents on loopback ports picked at run time, with one
// agent outage (kill -9 and restart) and one broker crash (kill -9 and
// restart). Nothing may be lost or duplicated and the hub's ledger must
// verify. Deadlines are generous; nothing asserts on timing. Skipped when
// the daemons are not built. Also: the bodies the live engine sends are
// complete for their kind (workflow's own check) and read back as the step
// the model takes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "../src/bodies.h"
#include "mlahub/core/file.h"
#include "mlahub/sim/live.h"
#include "mlahub/sim/scenario.h"
#include "mlahub/workflow/check.h"
#include "mlahub/workflow/deadlines.h"
#include "mlahub/workflow/workflow.h"

namespace mlahub::sim {
namespace {

using K = wire::MessageKind;
// The daemons: the build's bin/, or $MLAHUB_SIM_BIN_DIR (a copy that other
// builds do not relink while the test runs).
const std::string kBin = std::getenv("MLAHUB_SIM_BIN_DIR") != nullptr ? std::getenv("MLAHUB_SIM_BIN_DIR") : MLAHUB_BIN_DIR;

// A fresh output directory under $TMPDIR and the options both live runs use
// (generous deadlines: a loaded machine).
std::string FreshOutDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string out = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + prefix + "-" + std::to_string(::getpid());
  std::filesystem::remove_all(out);
  return out;
}

LiveOptions TestLiveOptions(const std::string& out) {
  LiveOptions opt;
  opt.out_dir = out;
  opt.bin_dir = kBin;
  opt.drain_timeout_ms = 180000;
  opt.ready_timeout_ms = 120000;
  opt.note = [](const std::string& s) { std::cerr << s << "\n"; };
  return opt;
}

// What every live run must show: messages accepted, none lost or
// duplicated, all drained and receipted, the hub's ledger verified with more
// entries than accepted envelopes, and no step refused by the workflow or the API.
void ExpectNothingLost(const LiveResults& r) {
  const LiveCounts& c = r.live;
  EXPECT_GT(c.accepted, 0);
  EXPECT_EQ(c.api_refused, 0);
  EXPECT_EQ(c.lost, 0);
  EXPECT_EQ(c.duplicated, 0);
  EXPECT_TRUE(c.drained);
  EXPECT_EQ(c.receipted, c.accepted);
  EXPECT_TRUE(c.ledger_verified) << c.ledger_detail;
  EXPECT_GT(c.ledger_entries, c.accepted);
  EXPECT_EQ(r.results.workflow_rejections, 0);
}

TEST(LiveBodies, RequestsAreCompleteForTheirKind) {
  for (auto [kind, basis] : {std::pair{K::MlaRequest, wire::LegalBasis::Untoc},
                             std::pair{K::MlaRequest, wire::LegalBasis::EuEio},
                             std::pair{K::ExtraditionRequest, wire::LegalBasis::Untoc},
                             std::pair{K::ExtraditionRequest, wire::LegalBasis::EuEaw},
                             std::pair{K::DocumentVerificationRequest, wire::LegalBasis::PalermoProtocol},
                             std::pair{K::NationalityVerificationRequest, wire::LegalBasis::PalermoProtocol}}) {
    BodyParams p;
    p.kind = kind;
    p.basis = basis;
    auto findings = workflow::CheckBody(kind, basis, BodyFor(p).dump(), nullptr, nullptr);
    ASSERT_TRUE(findings.ok()) << wire::EnumNameMessageKind(kind) << ": " << findings.status().ToString();
    std::string blocking;
    for (const auto& f : *findings)
      if (f.severity != workflow::Severity::kWarning) blocking += "\n  " + f.path + ": " + f.message;
    EXPECT_TRUE(blocking.empty()) << wire::EnumNameMessageKind(kind) << " under "
                                  << wire::EnumNameLegalBasis(basis) << " is incomplete:" << blocking;
  }
}

TEST(LiveBodies, AnswersReadBackAsTheModelsSteps) {
  struct Case {
    K kind;
    Variant v;
  };
  for (const Case& c : {Case{K::Acknowledgement, Variant::kPlain}, Case{K::Decision, Variant::kExecuteDecision},
                        Case{K::Decision, Variant::kRefuseDecision}, Case{K::ExecutionReport, Variant::kFull},
                        Case{K::SurrenderArrangement, Variant::kCompleted},
                        Case{K::VerificationResult, Variant::kPlain},
                        Case{K::FurtherInformationRequest, Variant::kPlain},
                        Case{K::FurtherInformationReply, Variant::kPlain},
                        Case{K::DeadlineExtension, Variant::kExtension}}) {
    BodyParams p;
    p.kind = c.kind;
    p.variant = c.v;
    p.extension_kind = "RecognitionDecision";
    p.new_deadline_ms = 1800000000000;
    auto step = workflow::StepFromJson(c.kind, BodyFor(p).dump(), 5);
    ASSERT_TRUE(step.ok()) << step.status().ToString();
    workflow::Step want = MakeStep(c.kind, c.v, 5);
    EXPECT_EQ(step->outcome, want.outcome) << wire::EnumNameMessageKind(c.kind);
    EXPECT_EQ(step->refusal_grounds, want.refusal_grounds);
    EXPECT_EQ(step->completeness, want.completeness);
    EXPECT_EQ(step->stage, want.stage);
    EXPECT_EQ(step->extension_mode, want.extension_mode);
    if (c.v == Variant::kRefuseDecision || c.v == Variant::kExtension) {
      EXPECT_EQ(step->reasons, want.reasons);
    }
    if (c.v == Variant::kExtension) {
      EXPECT_EQ(step->deadline_kind, "RecognitionDecision");
      EXPECT_EQ(step->new_deadline_ms, 1800000000000);
    }
  }
}

TEST(LiveEngine, SmokeWithAnAgentOutageAndABrokerRestartLosesNothing) {
  for (const char* b : {"mlahub", "mlahub-broker", "mlahub-agent"})
    if (!FileExists(kBin + "/" + b)) GTEST_SKIP() << "build mlahub, mlahub-broker and mlahub-agent first";
  auto sc = LoadScenario(std::string(MLAHUB_SOURCE_DIR) + "/scenarios/smoke-live.toml");
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  ASSERT_EQ(sc->outages.size(), 1u);
  ASSERT_EQ(sc->broker_crashes.size(), 1u);
  const std::string out = FreshOutDir("sim-live-test");
  auto r = RunLive(*sc, TestLiveOptions(out));
  ASSERT_TRUE(r.ok()) << r.status().ToString() << " (logs in " << out << "/logs)";
  const LiveCounts& c = r->live;
  std::cerr << LiveSummaryTable(*r, out);

  EXPECT_GT(r->results.requests, 10);
  EXPECT_EQ(c.agent_kills, 1);
  EXPECT_EQ(c.agent_restarts, 1);
  EXPECT_EQ(c.broker_kills, 1);
  EXPECT_EQ(c.broker_restarts, 1);
  EXPECT_GT(c.posted, r->results.requests);
  ExpectNothingLost(*r);
  EXPECT_GT(c.requests_per_second, 0);

  ASSERT_TRUE(WriteLiveReport(*r, out).ok());
  for (const char* f : {"metrics.json", "live.json", "throughput.csv", "latency.svg", "faults.csv"})
    EXPECT_TRUE(FileExists(out + "/" + f)) << f;
  auto m = ReadFile(out + "/metrics.json");
  ASSERT_TRUE(m.ok());
  auto j = nlohmann::json::parse(AsString(*m));
  EXPECT_EQ(j["engine"], "live");
  EXPECT_EQ(j["live"]["lost"], 0);
  EXPECT_EQ(j["live"]["duplicated"], 0);
  if (!HasFailure()) std::filesystem::remove_all(out);
  else std::cerr << "kept for inspection: " << out << "\n";
}

// A broker restart long after the start (day 40: without a shared clock
// origin the restarted broker's clock would be 40 simulated days behind the
// agents' and it would refuse their envelopes as expired), over relays that
// add a real network delay under CURVE. Checked against what the broker and
// the agents recorded (refusals, outbox states, inboxes, the ledger), not
// against timing.
TEST(LiveEngine, LateBrokerRestartOverADelayedNetworkKeepsOneClock) {
  for (const char* b : {"mlahub", "mlahub-broker", "mlahub-agent"})
    if (!FileExists(kBin + "/" + b)) GTEST_SKIP() << "build mlahub, mlahub-broker and mlahub-agent first";
  auto sc = LoadScenario(std::string(MLAHUB_SOURCE_DIR) + "/scenarios/live-restart.toml");
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  ASSERT_EQ(sc->broker_crashes.size(), 1u);
  ASSERT_TRUE(sc->live_network_real);
  const int64_t restart_day = (sc->broker_crashes[0].at_ms + sc->broker_crashes[0].down_ms) / workflow::kDayMs;
  ASSERT_GE(restart_day, 31);  // beyond the largest clock skew a config allows (30 days)
  const std::string out = FreshOutDir("sim-live-restart");
  auto r = RunLive(*sc, TestLiveOptions(out));
  ASSERT_TRUE(r.ok()) << r.status().ToString() << " (logs in " << out << "/logs)";
  const LiveCounts& c = r->live;
  std::cerr << LiveSummaryTable(*r, out);

  // The restart happened, late, and requests were sent after it.
  EXPECT_EQ(c.broker_kills, 1);
  EXPECT_EQ(c.broker_restarts, 1);
  int64_t after_restart = 0;
  for (size_t d = static_cast<size_t>(restart_day) + 1; d < r->results.days.size(); ++d)
    after_restart += r->results.days[d].created;
  EXPECT_GT(after_restart, 0) << "no request was sent after the restart";
  // One clock: the daemons got the same origin.
  EXPECT_GT(c.clock_origin_ms, 0);
  for (const char* cfg : {"/network/hub/broker.toml", "/network/nodes/IT-MOJ/agent.toml"}) {
    auto text = ReadFile(out + cfg);
    ASSERT_TRUE(text.ok()) << cfg;
    EXPECT_NE(AsString(*text).find("clock_origin_ms = " + std::to_string(c.clock_origin_ms) + "\n"),
              std::string::npos)
        << cfg;
  }
  // Nothing refused: not by the broker (its log), not per the agents' outboxes.
  EXPECT_EQ(c.hub_refused, 0);
  auto broker_log = ReadFile(out + "/logs/broker.log", 256u << 20);
  ASSERT_TRUE(broker_log.ok());
  std::string blog(AsString(*broker_log));
  EXPECT_EQ(blog.find("envelope.refused"), std::string::npos) << "the broker refused an envelope";
  // Every message made it, once, through the relays.
  ExpectNothingLost(*r);
  EXPECT_EQ(c.accepted, c.posted);
  // The relays: one per agent, the scenario's delay in real time, and the
  // agents connected through them again after the restart.
  EXPECT_EQ(c.relays, 3);
  EXPECT_EQ(c.network_mode, "real");
  EXPECT_EQ(c.relay_delay_ms, 30.0);
  EXPECT_EQ(c.relay_jitter_ms, 10.0);
  EXPECT_GT(c.relay_connections, c.relays);
  EXPECT_GT(c.relay_bytes, 0);
  // Each agent's config points at its relay, not at the broker's endpoint.
  auto btext = ReadFile(out + "/network/hub/broker.toml");
  ASSERT_TRUE(btext.ok());
  std::string bt(AsString(*btext));
  size_t lp = bt.find("\nlisten = \"");
  ASSERT_NE(lp, std::string::npos);
  std::string listen = bt.substr(lp + 11, bt.find('"', lp + 11) - (lp + 11));
  ASSERT_EQ(listen.rfind("tcp://", 0), 0u) << listen;
  for (const auto& id : {"IT-MOJ", "NG-AGF", "TH-OAG"}) {
    auto text = ReadFile(out + "/network/nodes/" + id + "/agent.toml");
    ASSERT_TRUE(text.ok());
    std::string at(AsString(*text));
    EXPECT_NE(at.find("broker = \"tcp://127.0.0.1:"), std::string::npos) << id;
    EXPECT_EQ(at.find("broker = \"" + listen + "\""), std::string::npos) << id << " bypasses its relay";
  }

  ASSERT_TRUE(WriteLiveReport(*r, out).ok());
  auto m = ReadFile(out + "/live.json");
  ASSERT_TRUE(m.ok());
  auto j = nlohmann::json::parse(AsString(*m));
  EXPECT_EQ(j["network"]["mode"], "real");
  EXPECT_EQ(j["network"]["relays"], 3);
  EXPECT_EQ(j["network"]["delay_ms"], 30.0);
  if (!HasFailure()) std::filesystem::remove_all(out);
  else std::cerr << "kept for inspection: " << out << "\n";
}

}  // namespace
}  // namespace mlahub::sim
