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

#include <filesystem>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "../src/bodies.h"
#include "mlahub/core/file.h"
#include "mlahub/sim/live.h"
#include "mlahub/sim/scenario.h"
#include "mlahub/workflow/check.h"
#include "mlahub/workflow/workflow.h"

namespace mlahub::sim {
namespace {

using K = wire::MessageKind;
const std::string kBin = MLAHUB_BIN_DIR;

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
  const char* tmp = std::getenv("TMPDIR");
  std::string out = std::string(tmp != nullptr ? tmp : "/tmp") + "/sim-live-test-" + std::to_string(::getpid());
  std::filesystem::remove_all(out);

  LiveOptions opt;
  opt.out_dir = out;
  opt.bin_dir = kBin;
  opt.drain_timeout_ms = 180000;   // generous: a loaded machine
  opt.ready_timeout_ms = 120000;
  opt.note = [](const std::string& s) { std::cerr << s << "\n"; };
  auto r = RunLive(*sc, opt);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << " (logs in " << out << "/logs)";
  const LiveCounts& c = r->live;
  std::cerr << LiveSummaryTable(*r, out);

  EXPECT_GT(r->results.requests, 10);
  EXPECT_EQ(c.agent_kills, 1);
  EXPECT_EQ(c.agent_restarts, 1);
  EXPECT_EQ(c.broker_kills, 1);
  EXPECT_EQ(c.broker_restarts, 1);
  EXPECT_EQ(c.api_refused, 0);
  EXPECT_GT(c.posted, r->results.requests);
  EXPECT_GT(c.accepted, 0);
  EXPECT_EQ(c.lost, 0);
  EXPECT_EQ(c.duplicated, 0);
  EXPECT_TRUE(c.ledger_verified) << c.ledger_detail;
  EXPECT_GT(c.ledger_entries, c.accepted);
  EXPECT_TRUE(c.drained);
  EXPECT_EQ(c.receipted, c.accepted);
  EXPECT_EQ(r->results.workflow_rejections, 0);
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

}  // namespace
}  // namespace mlahub::sim
