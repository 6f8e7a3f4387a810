// The legal workflow: every allowed transition, a table of refused ones
// (the other side's step, out of order, a refusal without grounds and
// reasons), and the extradite-or-prosecute follow-up.
#include "mlahub/workflow/workflow.h"

#include <gtest/gtest.h>

namespace mlahub::workflow {
namespace {

using K = wire::MessageKind;
constexpr Role kReq = Role::kRequesting;
constexpr Role kRqd = Role::kRequested;

Step S(K kind, UnixMillis at = 1000) {
  Step s;
  s.kind = kind;
  s.at_ms = at;
  return s;
}
Step Decide(Outcome o, std::vector<std::string> grounds = {}, std::string reasons = "") {
  Step s = S(K::Decision);
  s.outcome = o;
  s.refusal_grounds = std::move(grounds);
  s.reasons = std::move(reasons);
  if (o == Outcome::kPostpone) {
    s.postponement_ground = "InterferesWithInvestigation";
    if (s.reasons.empty()) s.reasons = "A domestic investigation is under way.";
  }
  if (o == Outcome::kConsult) s.consultation_topics = {"TermsAndConditions"};
  return s;
}
Step Report(const char* completeness) {
  Step s = S(K::ExecutionReport);
  s.completeness = completeness;
  return s;
}

CaseState Must(const CaseState& st, Role r, const Step& s) {
  auto n = Apply(st, r, s);
  EXPECT_TRUE(n.ok()) << wire::EnumNameMessageKind(s.kind) << ": " << n.status().ToString();
  return n.ok() ? *n : st;
}

CaseState New(K kind = K::MlaRequest) {
  RequestInfo info;
  info.kind = kind;
  info.received_ms = 1;
  return Start(info);
}

TEST(WorkflowTest, MainLineToExecutionAndClosure) {
  CaseState s = New();
  EXPECT_EQ(s.stage, Stage::kReceived);
  s = Must(s, kRqd, S(K::Acknowledgement));
  EXPECT_EQ(s.stage, Stage::kAcknowledged);
  s = Must(s, kRqd, S(K::FurtherInformationRequest));
  EXPECT_EQ(s.stage, Stage::kFurtherInformationRequested);
  s = Must(s, kReq, S(K::FurtherInformationReply));
  EXPECT_EQ(s.stage, Stage::kAcknowledged);  // supplied -> back
  s = Must(s, kRqd, Decide(Outcome::kExecute));
  EXPECT_EQ(s.stage, Stage::kInExecution);
  EXPECT_EQ(s.decision, Outcome::kExecute);
  s = Must(s, kRqd, S(K::FurtherInformationRequest));
  s = Must(s, kReq, S(K::FurtherInformationReply));
  EXPECT_EQ(s.stage, Stage::kInExecution);  // back to where it was asked
  s = Must(s, kReq, S(K::ProgressEnquiry));
  s = Must(s, kRqd, S(K::ProgressReport));
  s = Must(s, kRqd, Report("Partial"));
  EXPECT_EQ(s.stage, Stage::kPartiallyExecuted);
  s = Must(s, kRqd, Report("Full"));
  EXPECT_EQ(s.stage, Stage::kExecuted);
  s = Must(s, kReq, S(K::CaseClosed));
  EXPECT_EQ(s.stage, Stage::kClosed);
  EXPECT_TRUE(s.AllowedSteps(kReq).empty());
  EXPECT_TRUE(s.AllowedSteps(kRqd).empty());
  ASSERT_EQ(s.history.size(), 11u);
  EXPECT_EQ(s.history[0].step.kind, K::Acknowledgement);
  EXPECT_EQ(s.history.back().stage_after, Stage::kClosed);
}

TEST(WorkflowTest, PostponeConsultRefuseWithdraw) {
  CaseState s = Must(New(), kRqd, S(K::Acknowledgement));
  s = Must(s, kRqd, Decide(Outcome::kPostpone));
  EXPECT_EQ(s.stage, Stage::kDecided);
  EXPECT_EQ(s.decision, Outcome::kPostpone);
  s = Must(s, kRqd, Decide(Outcome::kConsult));
  EXPECT_EQ(s.decision, Outcome::kConsult);
  s = Must(s, kReq, S(K::FurtherInformationReply));  // the requesting side answers the consultation
  EXPECT_EQ(s.stage, Stage::kAcknowledged);
  s = Must(s, kRqd,
           Decide(Outcome::kExecutePartially, {"ProhibitedForSimilarOffence"},
                  "Item A2 cannot be executed."));
  EXPECT_EQ(s.stage, Stage::kInExecution);
  s = Must(s, kReq, S(K::Withdrawal));
  EXPECT_EQ(s.stage, Stage::kWithdrawn);
  s = Must(s, kRqd, S(K::CaseClosed));
  EXPECT_EQ(s.stage, Stage::kClosed);

  CaseState r = Must(New(), kRqd, S(K::Acknowledgement));
  r = Must(r, kRqd,
           Decide(Outcome::kRefuse, {"PrejudiceToEssentialInterests"}, "Reasons given here."));
  EXPECT_EQ(r.stage, Stage::kDecided);
  EXPECT_FALSE(r.HasOpenFollowUp());  // an MLA refusal opens no follow-up
  r = Must(r, kRqd, S(K::CaseClosed));
  EXPECT_EQ(r.stage, Stage::kClosed);

  // A partial withdrawal leaves the case where it is.
  CaseState w = Must(New(), kRqd, S(K::Acknowledgement));
  Step part = S(K::Withdrawal);
  part.items = {"A2"};
  w = Must(w, kReq, part);
  EXPECT_EQ(w.stage, Stage::kAcknowledged);
}

TEST(WorkflowTest, VerificationAndSurrender) {
  CaseState v = New(K::DocumentVerificationRequest);
  v = Must(v, kRqd, S(K::VerificationResult));
  EXPECT_EQ(v.stage, Stage::kExecuted);
  v = Must(v, kRqd, S(K::CaseClosed));

  CaseState e = Must(New(K::ExtraditionRequest), kRqd, S(K::Acknowledgement));
  e = Must(e, kRqd, Decide(Outcome::kExecute));
  Step proposed = S(K::SurrenderArrangement);
  proposed.stage = "Proposed";
  e = Must(e, kReq, proposed);
  EXPECT_EQ(e.stage, Stage::kInExecution);
  Step done = S(K::SurrenderArrangement);
  done.stage = "Completed";
  e = Must(e, kRqd, done);
  EXPECT_EQ(e.stage, Stage::kExecuted);
  e = Must(e, kReq, S(K::CaseClosed));
}

TEST(WorkflowTest, DeadlineExtensionNeedsReasonsAndDate) {
  CaseState s = Must(New(), kRqd, S(K::Acknowledgement));
  Step x = S(K::DeadlineExtension);
  x.deadline_kind = "RecognitionDecision";
  x.extension_mode = "Notice";
  x.new_deadline_ms = 99;
  auto bad = Apply(s, kRqd, x);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("reasons"), std::string::npos);
  x.reasons = "The bank has not yet answered.";
  s = Must(s, kRqd, x);
  s = Must(s, kReq, x);  // either side
  EXPECT_EQ(s.stage, Stage::kAcknowledged);
}

struct Illegal {
  const char* name;
  std::vector<std::pair<Role, Step>> before;
  Role actor;
  Step step;
  Code code;
  const char* says;  // part of the message
};

TEST(WorkflowTest, IllegalStepsAreRefusedWithTheStepsAllowed) {
  Step ack = S(K::Acknowledgement);
  Step exec = Decide(Outcome::kExecute);
  const std::vector<Illegal> table = {
      // Each side only its own steps.
      {"requesting side acknowledges",
       {},
       kReq,
       ack,
       Code::kPermissionDenied,
       "requested state's step"},
      {"requesting side decides", {{kRqd, ack}}, kReq, exec, Code::kPermissionDenied, "requested"},
      {"requested side withdraws",
       {{kRqd, ack}},
       kRqd,
       S(K::Withdrawal),
       Code::kPermissionDenied,
       "requesting state's step"},
      {"requested side answers its own question",
       {{kRqd, ack}, {kRqd, S(K::FurtherInformationRequest)}},
       kRqd,
       S(K::FurtherInformationReply),
       Code::kPermissionDenied,
       "requesting"},
      {"requesting side reports execution",
       {{kRqd, ack}, {kRqd, exec}},
       kReq,
       Report("Full"),
       Code::kPermissionDenied,
       "requested"},
      {"requesting side enquires of itself: progress report",
       {{kRqd, ack}},
       kReq,
       S(K::ProgressReport),
       Code::kPermissionDenied,
       "requested"},
      {"requested side sends a progress enquiry",
       {{kRqd, ack}},
       kRqd,
       S(K::ProgressEnquiry),
       Code::kPermissionDenied,
       "requesting"},
      // Out of order.
      {"decision before acknowledgement", {}, kRqd, exec, Code::kInvalidArgument, "received"},
      {"acknowledged twice", {{kRqd, ack}}, kRqd, ack, Code::kInvalidArgument, "acknowledged"},
      {"execution report before a decision",
       {{kRqd, ack}},
       kRqd,
       Report("Full"),
       Code::kInvalidArgument,
       "Decision"},
      {"reply with no question",
       {{kRqd, ack}},
       kReq,
       S(K::FurtherInformationReply),
       Code::kInvalidArgument,
       "not allowed now"},
      {"decision after execution began",
       {{kRqd, ack}, {kRqd, exec}},
       kRqd,
       exec,
       Code::kInvalidArgument,
       "in_execution"},
      {"close while executing",
       {{kRqd, ack}, {kRqd, exec}},
       kRqd,
       S(K::CaseClosed),
       Code::kInvalidArgument,
       "in_execution"},
      {"withdraw after full execution",
       {{kRqd, ack}, {kRqd, exec}, {kRqd, Report("Full")}},
       kReq,
       S(K::Withdrawal),
       Code::kInvalidArgument,
       "executed"},
      {"anything after closure",
       {{kRqd, ack}, {kRqd, exec}, {kRqd, Report("Full")}, {kReq, S(K::CaseClosed)}},
       kRqd,
       S(K::ProgressReport),
       Code::kInvalidArgument,
       "closed"},
      {"verification result to an MLA request",
       {{kRqd, ack}},
       kRqd,
       S(K::VerificationResult),
       Code::kInvalidArgument,
       "verification"},
      {"surrender for an MLA request",
       {{kRqd, ack}, {kRqd, exec}},
       kReq,
       S(K::SurrenderArrangement),
       Code::kInvalidArgument,
       "extradition"},
      {"prosecution notice without a refusal on nationality",
       {{kRqd, ack}},
       kRqd,
       S(K::ProsecutionSubmissionNotice),
       Code::kInvalidArgument,
       "16(10)"},
      {"a request kind is not a step",
       {},
       kRqd,
       S(K::MlaRequest),
       Code::kInvalidArgument,
       "not a step"},
      // Invalid in itself.
      {"refusal without grounds or reasons",
       {{kRqd, ack}},
       kRqd,
       Decide(Outcome::kRefuse),
       Code::kInvalidArgument,
       "18(23)"},
      {"refusal without reasons",
       {{kRqd, ack}},
       kRqd,
       Decide(Outcome::kRefuse, {"NotInConformity"}),
       Code::kInvalidArgument,
       "reasons missing"},
      {"refusal without grounds",
       {{kRqd, ack}},
       kRqd,
       Decide(Outcome::kRefuse, {}, "Because."),
       Code::kInvalidArgument,
       "grounds missing"},
      {"partial execution without grounds",
       {{kRqd, ack}},
       kRqd,
       Decide(Outcome::kExecutePartially),
       Code::kInvalidArgument,
       "refusal in part"},
      {"decision without outcome",
       {{kRqd, ack}},
       kRqd,
       Decide(Outcome::kNone),
       Code::kInvalidArgument,
       "outcome"},
      {"execution report without completeness",
       {{kRqd, ack}, {kRqd, exec}},
       kRqd,
       S(K::ExecutionReport),
       Code::kInvalidArgument,
       "Partial or Full"},
  };
  for (const auto& t : table) {
    CaseState s = New();
    for (const auto& [r, st] : t.before) s = Must(s, r, st);
    auto res = Apply(s, t.actor, t.step);
    ASSERT_FALSE(res.ok()) << t.name;
    EXPECT_EQ(res.status().code(), t.code) << t.name << ": " << res.status().ToString();
    EXPECT_NE(res.status().message().find(t.says), std::string::npos)
        << t.name << ": " << res.status().message();
    // Validate agrees with Apply, and the state is untouched.
    EXPECT_EQ(Validate(s, t.actor, t.step).code(), t.code) << t.name;
  }
  // Order errors name the steps allowed now.
  auto r = Apply(New(), kRqd, Decide(Outcome::kExecute));
  EXPECT_NE(r.status().message().find("the requested side may now send: Acknowledgement"),
            std::string::npos)
      << r.status().message();
  // A postponement needs its ground and reasons.
  CaseState s = Must(New(), kRqd, S(K::Acknowledgement));
  Step p = S(K::Decision);
  p.outcome = Outcome::kPostpone;
  EXPECT_EQ(Apply(s, kRqd, p).status().code(), Code::kInvalidArgument);
  Step c = S(K::Decision);
  c.outcome = Outcome::kConsult;
  EXPECT_EQ(Apply(s, kRqd, c).status().code(), Code::kInvalidArgument);
}

TEST(WorkflowTest, ExtraditeOrProsecuteFollowUpOpensAndCloses) {
  CaseState s = Must(New(K::ExtraditionRequest), kRqd, S(K::Acknowledgement));
  s = Must(s, kRqd,
           Decide(Outcome::kRefuse, {"NationalityOfPerson"}, "The person is a national of NG."));
  ASSERT_EQ(s.follow_ups.size(), 1u);
  EXPECT_EQ(s.follow_ups[0].what, "prosecution_submission");
  EXPECT_EQ(s.follow_ups[0].citation, "UNTOC Art. 16(10)");
  EXPECT_TRUE(s.HasOpenFollowUp());
  // The case cannot be closed while it is open, by either side.
  for (Role r : {kReq, kRqd}) {
    auto closed = Apply(s, r, S(K::CaseClosed));
    EXPECT_EQ(closed.status().code(), Code::kInvalidArgument);
    EXPECT_NE(closed.status().message().find("ProsecutionSubmissionNotice"), std::string::npos);
  }
  // Only the requested side sends the notice.
  EXPECT_EQ(Apply(s, kReq, S(K::ProsecutionSubmissionNotice)).status().code(),
            Code::kPermissionDenied);
  Step notice = S(K::ProsecutionSubmissionNotice, 5000);
  notice.status = "Submitted";
  s = Must(s, kRqd, notice);
  EXPECT_FALSE(s.HasOpenFollowUp());
  EXPECT_EQ(s.follow_ups[0].closed_ms, 5000);
  // Later notices report progress.
  notice.status = "Charged";
  s = Must(s, kRqd, notice);
  s = Must(s, kReq, S(K::CaseClosed));

  // Refused on nationality AND another ground: not "solely", no follow-up.
  CaseState t = Must(New(K::ExtraditionRequest), kRqd, S(K::Acknowledgement));
  t = Must(t, kRqd,
           Decide(Outcome::kRefuse, {"NationalityOfPerson", "LapseOfTime"},
                  "Time-barred, and a national."));
  EXPECT_FALSE(t.HasOpenFollowUp());
}

TEST(WorkflowTest, StepFromJsonDecodesEssentials) {
  auto d = StepFromJson(
      K::Decision,
      R"({"outcome":"Refuse","decided_ms":5,"refusal_grounds":["NationalityOfPerson"],"reasons":"  "})",
      77);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->outcome, Outcome::kRefuse);
  EXPECT_EQ(d->at_ms, 77);
  EXPECT_EQ(d->refusal_grounds, std::vector<std::string>{"NationalityOfPerson"});
  EXPECT_TRUE(d->reasons.empty());  // blank is no reason
  CaseState s = Must(New(K::ExtraditionRequest), kRqd, S(K::Acknowledgement));
  EXPECT_EQ(Apply(s, kRqd, *d).status().code(), Code::kInvalidArgument);
  auto x = StepFromJson(
      K::DeadlineExtension,
      R"j({"deadline":"Execution","mode":"Grant","new_deadline_ms":123,"reasons":"r","legal_basis_for_extension":"EIO Art. 12(6)"
})j",
      1);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->deadline_kind, "Execution");
  EXPECT_EQ(x->extension_mode, "Grant");
  EXPECT_EQ(x->new_deadline_ms, 123);
  EXPECT_EQ(StepFromJson(K::MlaRequest, "{}", 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(StepFromJson(K::Decision, "[1]", 1).status().code(), Code::kMalformed);
}

}  // namespace
}  // namespace mlahub::workflow
