// Deadlines: the default policy (DOMAIN.md's table) and the clocks of EIO,
// EAW, e-Evidence and UNTOC cases in explicit (fake) time, extensions with
// reasons, progress enquiries, and policy files whose errors name the line
// and key.
#include "mlahub/workflow/deadlines.h"

#include <gtest/gtest.h>

namespace mlahub::workflow {
namespace {

using K = wire::MessageKind;
constexpr UnixMillis kT0 = 1'780'000'000'000;  // a fixed instant; no wall clock anywhere

Step At(K kind, UnixMillis at) {
  Step s;
  s.kind = kind;
  s.at_ms = at;
  return s;
}

CaseState Go(CaseState s, Role r, Step st) {
  auto n = Apply(s, r, st);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return n.ok() ? *n : s;
}

const ClockStatus* Find(const Clocks& c, const std::string& name) {
  for (const auto& x : c.open)
    if (x.name == name) return &x;
  return nullptr;
}

CaseState NewCase(K kind, wire::LegalBasis basis, bool urgent = false) {
  RequestInfo info;
  info.kind = kind;
  info.legal_basis = basis;
  info.urgent = urgent;
  info.received_ms = kT0;
  return Start(info);
}

Step Execute(UnixMillis at) {
  Step s = At(K::Decision, at);
  s.outcome = Outcome::kExecute;
  return s;
}

TEST(DeadlinesTest, DefaultPolicyHasDomainTable) {
  const Policy& p = DefaultPolicy();
  auto due = [&](wire::LegalBasis b, const char* clock) {
    const ClockRule* r = p.Find(b, clock);
    return r == nullptr ? int64_t{-1} : r->due_ms;
  };
  EXPECT_EQ(due(wire::LegalBasis::EuEio, "acknowledge"), 7 * kDayMs);
  EXPECT_EQ(due(wire::LegalBasis::EuEio, "decision"), 30 * kDayMs);
  EXPECT_EQ(p.Find(wire::LegalBasis::EuEio, "decision")->extension_ms, 30 * kDayMs);
  EXPECT_EQ(due(wire::LegalBasis::EuEio, "execution"), 90 * kDayMs);
  EXPECT_EQ(due(wire::LegalBasis::EuEio, "provisional_measures"), 24 * kHourMs);
  EXPECT_EQ(due(wire::LegalBasis::EuEaw, "surrender_decision"), 60 * kDayMs);
  EXPECT_EQ(due(wire::LegalBasis::EuEaw, "surrender_decision_after_consent"), 10 * kDayMs);
  EXPECT_EQ(due(wire::LegalBasis::EuEaw, "surrender"), 10 * kDayMs);
  EXPECT_EQ(due(wire::LegalBasis::EuEEvidence, "production_order"), 10 * kDayMs);
  EXPECT_EQ(p.Find(wire::LegalBasis::EuEEvidence, "production_order")->urgent_due_ms, 8 * kHourMs);
  EXPECT_EQ(due(wire::LegalBasis::EuropeanConventionExtradition, "full_extradition_request"),
            18 * kDayMs);
  // UNTOC sets no acknowledgement, decision or execution time ("as soon as
  // possible", Art. 18(24)): the defaults are policy values and say so.
  EXPECT_EQ(due(wire::LegalBasis::Untoc, "acknowledge"), 10 * kDayMs);
  EXPECT_EQ(due(wire::LegalBasis::Untoc, "decision"), 60 * kDayMs);
  EXPECT_EQ(due(wire::LegalBasis::Untoc, "execution"), 180 * kDayMs);
  EXPECT_EQ(due(wire::LegalBasis::PalermoProtocol, "acknowledge"), 10 * kDayMs);
  for (const char* clock : {"acknowledge", "decision", "execution"}) {
    for (auto b : {wire::LegalBasis::Untoc, wire::LegalBasis::PalermoProtocol}) {
      EXPECT_NE(p.Find(b, clock)->note.find("policy value"), std::string::npos) << clock;
      EXPECT_NE(p.Find(b, clock)->citation.find("18(24)"), std::string::npos) << clock;
    }
  }
  // Bases the defaults give no generic clocks keep none.
  EXPECT_EQ(due(wire::LegalBasis::BilateralTreaty, "acknowledge"), -1);
  // Every rule has a citation.
  for (const auto& [sec, clocks] : p.sections)
    for (const auto& [name, rule] : clocks)
      EXPECT_FALSE(rule.citation.empty()) << sec << "." << name;
}

TEST(DeadlinesTest, EioAcknowledgeDecideExecute) {
  const Policy& p = DefaultPolicy();
  CaseState s = NewCase(K::MlaRequest, wire::LegalBasis::EuEio);
  Clocks c = ComputeClocks(s, p, kT0 + 6 * kDayMs);
  const ClockStatus* ack = Find(c, "acknowledge");
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->due_ms, kT0 + 7 * kDayMs);
  EXPECT_EQ(ack->time_left_ms, kDayMs);
  EXPECT_FALSE(ack->overdue);
  EXPECT_EQ(ack->owner, Role::kRequested);
  EXPECT_NE(ack->citation.find("Art. 16(1)"), std::string::npos);
  ASSERT_NE(Find(c, "decision"), nullptr);
  EXPECT_EQ(Find(c, "decision")->due_ms, kT0 + 30 * kDayMs);
  EXPECT_EQ(c.open.front().name, "acknowledge");  // soonest first
  // Day 8 without acknowledgement: overdue.
  c = ComputeClocks(s, p, kT0 + 8 * kDayMs);
  EXPECT_TRUE(Find(c, "acknowledge")->overdue);
  EXPECT_EQ(Find(c, "acknowledge")->time_left_ms, -kDayMs);
  // Acknowledged on day 5: that clock stops, the decision clock runs.
  s = Go(s, Role::kRequested, At(K::Acknowledgement, kT0 + 5 * kDayMs));
  c = ComputeClocks(s, p, kT0 + 8 * kDayMs);
  EXPECT_EQ(Find(c, "acknowledge"), nullptr);
  ASSERT_NE(Find(c, "decision"), nullptr);
  // Extension of the decision by 30 days with reasons (Art. 12(5)).
  Step x = At(K::DeadlineExtension, kT0 + 25 * kDayMs);
  x.deadline_kind = "RecognitionDecision";
  x.extension_mode = "Notice";
  x.new_deadline_ms = kT0 + 60 * kDayMs;
  x.reasons = "The court hearing on the search is on day 50.";
  x.legal_basis_for_extension = "Directive 2014/41/EU Art. 12(5)";
  s = Go(s, Role::kRequested, x);
  c = ComputeClocks(s, p, kT0 + 40 * kDayMs);
  const ClockStatus* dec = Find(c, "decision");
  ASSERT_NE(dec, nullptr);
  EXPECT_EQ(dec->due_ms, kT0 + 60 * kDayMs);
  EXPECT_FALSE(dec->overdue);
  ASSERT_EQ(dec->extensions.size(), 1u);
  EXPECT_EQ(dec->extensions[0].reasons, x.reasons);
  EXPECT_FALSE(dec->extensions[0].beyond_allowed);
  // Beyond +30: flagged.
  CaseState s2 = s;
  x.new_deadline_ms = kT0 + 75 * kDayMs;
  s2 = Go(s2, Role::kRequested, x);
  EXPECT_TRUE(
      Find(ComputeClocks(s2, p, kT0 + 40 * kDayMs), "decision")->extensions.back().beyond_allowed);
  // Decided on day 45: execution has 90 days from the decision.
  s = Go(s, Role::kRequested, Execute(kT0 + 45 * kDayMs));
  c = ComputeClocks(s, p, kT0 + 46 * kDayMs);
  EXPECT_EQ(Find(c, "decision"), nullptr);
  const ClockStatus* ex = Find(c, "execution");
  ASSERT_NE(ex, nullptr);
  EXPECT_EQ(ex->due_ms, kT0 + 135 * kDayMs);
  EXPECT_NE(ex->citation.find("Art. 12(4)"), std::string::npos);
  EXPECT_TRUE(Find(ComputeClocks(s, p, kT0 + 136 * kDayMs), "execution")->overdue);
  Step full = At(K::ExecutionReport, kT0 + 100 * kDayMs);
  full.completeness = "Full";
  s = Go(s, Role::kRequested, full);
  EXPECT_TRUE(ComputeClocks(s, p, kT0 + 136 * kDayMs).open.empty());
}

TEST(DeadlinesTest, EioProvisionalMeasures24Hours) {
  CaseState s = NewCase(K::MlaRequest, wire::LegalBasis::EuEio);
  s.request.provisional_measures = true;
  Clocks c = ComputeClocks(s, DefaultPolicy(), kT0 + 25 * kHourMs);
  const ClockStatus* pm = Find(c, "provisional_measures");
  ASSERT_NE(pm, nullptr);
  EXPECT_EQ(pm->due_ms, kT0 + 24 * kHourMs);
  EXPECT_TRUE(pm->overdue);
}

TEST(DeadlinesTest, EawDecisionAndSurrender) {
  const Policy& p = DefaultPolicy();
  CaseState s = NewCase(K::ExtraditionRequest, wire::LegalBasis::EuEaw);
  s.request.arrest_ms = kT0 + 2 * kDayMs;
  Clocks c = ComputeClocks(s, p, kT0 + 3 * kDayMs);
  const ClockStatus* d = Find(c, "surrender_decision");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->due_ms, kT0 + 62 * kDayMs);  // 60 days after the arrest
  // The person consents: 10 days from consent.
  s.request.consent_ms = kT0 + 4 * kDayMs;
  c = ComputeClocks(s, p, kT0 + 5 * kDayMs);
  EXPECT_EQ(Find(c, "surrender_decision"), nullptr);
  ASSERT_NE(Find(c, "surrender_decision_after_consent"), nullptr);
  EXPECT_EQ(Find(c, "surrender_decision_after_consent")->due_ms, kT0 + 14 * kDayMs);
  // Granted on day 12: surrender within 10 days.
  s = Go(s, Role::kRequested, At(K::Acknowledgement, kT0 + 5 * kDayMs));
  s = Go(s, Role::kRequested, Execute(kT0 + 12 * kDayMs));
  c = ComputeClocks(s, p, kT0 + 13 * kDayMs);
  EXPECT_EQ(Find(c, "surrender_decision_after_consent"), nullptr);
  ASSERT_NE(Find(c, "surrender"), nullptr);
  EXPECT_EQ(Find(c, "surrender")->due_ms, kT0 + 22 * kDayMs);
  Step done = At(K::SurrenderArrangement, kT0 + 20 * kDayMs);
  done.stage = "Completed";
  s = Go(s, Role::kRequested, done);
  EXPECT_EQ(Find(ComputeClocks(s, p, kT0 + 23 * kDayMs), "surrender"), nullptr);
}

TEST(DeadlinesTest, EEvidenceEmergencyEightHours) {
  CaseState urgent = NewCase(K::MlaRequest, wire::LegalBasis::EuEEvidence, /*urgent=*/true);
  Clocks clocks = ComputeClocks(urgent, DefaultPolicy(), kT0 + kHourMs);
  const ClockStatus* c = Find(clocks, "production_order");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->due_ms, kT0 + 8 * kHourMs);
  EXPECT_EQ(c->time_left_ms, 7 * kHourMs);
  CaseState normal = NewCase(K::MlaRequest, wire::LegalBasis::EuEEvidence);
  EXPECT_EQ(Find(ComputeClocks(normal, DefaultPolicy(), kT0), "production_order")->due_ms,
            kT0 + 10 * kDayMs);
  // An extension notice moves it.
  Step x = At(K::DeadlineExtension, kT0 + kHourMs);
  x.deadline_kind = "ProductionOrder";
  x.extension_mode = "Notice";
  x.new_deadline_ms = kT0 + 12 * kHourMs;
  x.reasons = "De facto impossibility: the server is offline.";
  urgent = Go(urgent, Role::kRequested, x);
  clocks = ComputeClocks(urgent, DefaultPolicy(), kT0 + 9 * kHourMs);
  c = Find(clocks, "production_order");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->overdue);
  // A mere request for an extension does not move it.
  Step q = x;
  q.extension_mode = "Request";
  q.new_deadline_ms = kT0 + 48 * kHourMs;
  urgent = Go(urgent, Role::kRequested, q);
  EXPECT_EQ(
      Find(ComputeClocks(urgent, DefaultPolicy(), kT0 + 9 * kHourMs), "production_order")->due_ms,
      kT0 + 12 * kHourMs);
}

TEST(DeadlinesTest, UntocRequestedDeadlineEnquiriesAndFollowUp) {
  const Policy& p = DefaultPolicy();
  CaseState s = NewCase(K::MlaRequest, wire::LegalBasis::Untoc);
  s.request.requested_deadline_ms = kT0 + 50 * kDayMs;
  Clocks c = ComputeClocks(s, p, kT0 + kDayMs);
  // The requesting state's deadline, and the policy's acknowledge and decision.
  ASSERT_EQ(c.open.size(), 3u);
  EXPECT_EQ(c.open[0].name, "acknowledge");
  EXPECT_EQ(c.open[1].name, "requested_deadline");
  EXPECT_EQ(c.open[1].citation, "UNTOC Art. 18(24)");
  EXPECT_EQ(c.open[1].due_ms, kT0 + 50 * kDayMs);
  EXPECT_EQ(c.open[2].name, "decision");
  // Progress enquiries and whether they were answered.
  s = Go(s, Role::kRequested, At(K::Acknowledgement, kT0 + kDayMs));
  s = Go(s, Role::kRequesting, At(K::ProgressEnquiry, kT0 + 10 * kDayMs));
  c = ComputeClocks(s, p, kT0 + 30 * kDayMs);
  ASSERT_EQ(c.enquiries.size(), 1u);
  EXPECT_EQ(c.enquiries[0].due_ms, kT0 + 24 * kDayMs);  // 14-day policy value
  EXPECT_TRUE(c.enquiries[0].overdue);
  EXPECT_EQ(c.enquiries[0].answered_ms, 0);
  s = Go(s, Role::kRequested, At(K::ProgressReport, kT0 + 31 * kDayMs));
  c = ComputeClocks(s, p, kT0 + 32 * kDayMs);
  EXPECT_EQ(c.enquiries[0].answered_ms, kT0 + 31 * kDayMs);
  EXPECT_FALSE(c.enquiries[0].overdue);
  // Further information: the requesting side's clock, reply_by honoured.
  Step fir = At(K::FurtherInformationRequest, kT0 + 33 * kDayMs);
  fir.reply_by_ms = kT0 + 40 * kDayMs;
  s = Go(s, Role::kRequested, fir);
  c = ComputeClocks(s, p, kT0 + 34 * kDayMs);
  const ClockStatus* fi = Find(c, "further_information_reply");
  ASSERT_NE(fi, nullptr);
  EXPECT_EQ(fi->owner, Role::kRequesting);
  EXPECT_EQ(fi->due_ms, kT0 + 40 * kDayMs);
  s = Go(s, Role::kRequesting, At(K::FurtherInformationReply, kT0 + 35 * kDayMs));
  EXPECT_EQ(Find(ComputeClocks(s, p, kT0 + 36 * kDayMs), "further_information_reply"), nullptr);

  // Extradite or prosecute: the follow-up clock runs until the notice.
  CaseState e = NewCase(K::ExtraditionRequest, wire::LegalBasis::Untoc);
  e = Go(e, Role::kRequested, At(K::Acknowledgement, kT0));
  Step refuse = At(K::Decision, kT0 + kDayMs);
  refuse.outcome = Outcome::kRefuse;
  refuse.refusal_grounds = {"NationalityOfPerson"};
  refuse.reasons = "A national of the requested state.";
  e = Go(e, Role::kRequested, refuse);
  Clocks at40 = ComputeClocks(e, p, kT0 + 40 * kDayMs);
  const ClockStatus* ps = Find(at40, "prosecution_submission");
  ASSERT_NE(ps, nullptr);
  EXPECT_TRUE(ps->overdue);
  EXPECT_EQ(ps->citation, "UNTOC Art. 16(10)");
  e = Go(e, Role::kRequested, At(K::ProsecutionSubmissionNotice, kT0 + 41 * kDayMs));
  EXPECT_EQ(Find(ComputeClocks(e, p, kT0 + 42 * kDayMs), "prosecution_submission"), nullptr);

  // Closed: nothing runs.
  CaseState w = NewCase(K::MlaRequest, wire::LegalBasis::EuEio);
  w = Go(w, Role::kRequesting, At(K::Withdrawal, kT0 + kDayMs));
  EXPECT_TRUE(ComputeClocks(w, p, kT0 + 20 * kDayMs).open.empty());
}

TEST(DeadlinesTest, UntocPolicyValuesForAcknowledgeDecideExecute) {
  const Policy& p = DefaultPolicy();
  CaseState s = NewCase(K::MlaRequest, wire::LegalBasis::Untoc);
  Clocks c = ComputeClocks(s, p, kT0);
  const ClockStatus* ack = Find(c, "acknowledge");
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->due_ms, kT0 + 10 * kDayMs);
  EXPECT_NE(ack->note.find("policy value"), std::string::npos);
  ASSERT_NE(Find(c, "decision"), nullptr);
  EXPECT_EQ(Find(c, "decision")->due_ms, kT0 + 60 * kDayMs);
  EXPECT_EQ(Find(c, "execution"), nullptr);  // not before a decision to execute
  s = Go(s, Role::kRequested, At(K::Acknowledgement, kT0 + 3 * kDayMs));
  s = Go(s, Role::kRequested, Execute(kT0 + 20 * kDayMs));
  c = ComputeClocks(s, p, kT0 + 21 * kDayMs);
  EXPECT_EQ(Find(c, "acknowledge"), nullptr);
  EXPECT_EQ(Find(c, "decision"), nullptr);
  ASSERT_NE(Find(c, "execution"), nullptr);
  EXPECT_EQ(Find(c, "execution")->due_ms, kT0 + 200 * kDayMs);
  EXPECT_FALSE(Find(c, "execution")->overdue);
  EXPECT_TRUE(Find(ComputeClocks(s, p, kT0 + 201 * kDayMs), "execution")->overdue);
  // Urgent: the shorter policy values.
  CaseState u = NewCase(K::MlaRequest, wire::LegalBasis::PalermoProtocol, /*urgent=*/true);
  c = ComputeClocks(u, p, kT0);
  EXPECT_EQ(Find(c, "acknowledge")->due_ms, kT0 + 2 * kDayMs);
  EXPECT_EQ(Find(c, "decision")->due_ms, kT0 + 15 * kDayMs);
  // Extradition: UNTOC Art. 16 sets no time; no generic decision clock.
  CaseState e = NewCase(K::ExtraditionRequest, wire::LegalBasis::Untoc);
  c = ComputeClocks(e, p, kT0);
  EXPECT_NE(Find(c, "acknowledge"), nullptr);
  EXPECT_EQ(Find(c, "decision"), nullptr);
  // A verification has its own clock, not a second generic one.
  CaseState v = NewCase(K::DocumentVerificationRequest, wire::LegalBasis::PalermoProtocol);
  c = ComputeClocks(v, p, kT0);
  EXPECT_NE(Find(c, "document_verification"), nullptr);
  EXPECT_EQ(Find(c, "decision"), nullptr);
  // A network switches them off.
  auto off = ParsePolicy("[untoc]\nacknowledge = { due = \"off\" }\ndecision = { due = \"off\" }\n", "net.toml", p);
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_TRUE(ComputeClocks(NewCase(K::MlaRequest, wire::LegalBasis::Untoc), *off, kT0).open.empty());
}

TEST(DeadlinesTest, FullExtraditionRequestClockStopsWhenTheFullRequestArrives) {
  const Policy& p = DefaultPolicy();
  CaseState s = NewCase(K::ProvisionalArrestRequest, wire::LegalBasis::Untoc, /*urgent=*/true);
  s = Go(s, Role::kRequested, At(K::Acknowledgement, kT0 + kHourMs));
  s = Go(s, Role::kRequested, Execute(kT0 + kDayMs));  // the person is arrested provisionally
  Clocks c = ComputeClocks(s, p, kT0 + 2 * kDayMs);
  const ClockStatus* f = Find(c, "full_extradition_request");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->owner, Role::kRequesting);
  EXPECT_EQ(f->due_ms, kT0 + 41 * kDayMs);  // 40-day policy value from the arrest
  EXPECT_TRUE(Find(ComputeClocks(s, p, kT0 + 42 * kDayMs), "full_extradition_request")->overdue);
  // The full request arrives on day 30: the clock stops then (not only at closure).
  s.request.full_request_ms = kT0 + 30 * kDayMs;
  EXPECT_NE(Find(ComputeClocks(s, p, kT0 + 29 * kDayMs), "full_extradition_request"), nullptr);
  EXPECT_EQ(Find(ComputeClocks(s, p, kT0 + 30 * kDayMs), "full_extradition_request"), nullptr);
  EXPECT_EQ(Find(ComputeClocks(s, p, kT0 + 60 * kDayMs), "full_extradition_request"), nullptr);
  // Under the European Convention on Extradition: 18 days (+22).
  CaseState ece = NewCase(K::ProvisionalArrestRequest, wire::LegalBasis::EuropeanConventionExtradition);
  ece = Go(ece, Role::kRequested, At(K::Acknowledgement, kT0));
  ece = Go(ece, Role::kRequested, Execute(kT0));
  EXPECT_EQ(Find(ComputeClocks(ece, p, kT0 + kDayMs), "full_extradition_request")->due_ms, kT0 + 18 * kDayMs);
}

TEST(DeadlinesTest, RequestingSideCountsFromReceiptOnceConfirmed) {
  const Policy& p = DefaultPolicy();
  // Before the receipt: counted from sending, flagged.
  CaseState s = NewCase(K::MlaRequest, wire::LegalBasis::EuEio);
  s.request.receipt_unconfirmed = true;
  Clocks c = ComputeClocks(s, p, kT0 + kHourMs);
  const ClockStatus* ack = Find(c, "acknowledge");
  ASSERT_NE(ack, nullptr);
  EXPECT_TRUE(ack->receipt_unconfirmed);
  EXPECT_EQ(ack->started_ms, kT0);
  EXPECT_EQ(ack->due_ms, kT0 + 7 * kDayMs);
  // With the requested authority's receipt time (its clock, here 2 days
  // later): counted from then, not flagged.
  s.request.receipt_unconfirmed = false;
  s.request.received_ms = kT0 + 2 * kDayMs;
  c = ComputeClocks(s, p, kT0 + 2 * kDayMs);
  ack = Find(c, "acknowledge");
  ASSERT_NE(ack, nullptr);
  EXPECT_FALSE(ack->receipt_unconfirmed);
  EXPECT_EQ(ack->started_ms, kT0 + 2 * kDayMs);
  EXPECT_EQ(ack->due_ms, kT0 + 9 * kDayMs);
  // An acknowledgement this side logged (its own clock) a little before the
  // partner's receipt time still stops the clock.
  s = Go(s, Role::kRequested, At(K::Acknowledgement, kT0 + 2 * kDayMs - 1000));
  EXPECT_EQ(Find(ComputeClocks(s, p, kT0 + 3 * kDayMs), "acknowledge"), nullptr);
  // Clocks started by later steps are never flagged.
  s = Go(s, Role::kRequested, Execute(kT0 + 3 * kDayMs));
  s.request.receipt_unconfirmed = true;
  Clocks later = ComputeClocks(s, p, kT0 + 4 * kDayMs);
  const ClockStatus* ex = Find(later, "execution");
  ASSERT_NE(ex, nullptr);
  EXPECT_FALSE(ex->receipt_unconfirmed);
}

TEST(DeadlinesTest, RulesInEffectAndDurationText) {
  EXPECT_EQ(DurationText(7 * kDayMs), "7d");
  EXPECT_EQ(DurationText(36 * kHourMs), "1d12h");
  EXPECT_EQ(DurationText(90 * 60 * 1000), "1h30m");
  EXPECT_EQ(DurationText(0), "off");
  auto p = ParsePolicy("[eu_eio]\nacknowledge = { due = \"3d\", citation = \"net 1\" }\n", "net.toml", DefaultPolicy());
  ASSERT_TRUE(p.ok());
  bool seen = false;
  size_t n = 0;
  for (const auto& [sec, clocks] : DefaultPolicy().sections) n += clocks.size();
  auto rules = RulesInEffect(*p);
  EXPECT_EQ(rules.size(), n);
  for (const RuleInEffect& r : rules)
    if (r.section == "eu_eio" && r.clock == "acknowledge") {
      seen = true;
      EXPECT_EQ(r.rule.due_ms, 3 * kDayMs);
      EXPECT_EQ(r.rule.citation, "net 1");
    }
  EXPECT_TRUE(seen);
  EXPECT_EQ(rules.front().section, "default");
}

TEST(DeadlinesTest, ProtocolVerificationPolicyValue) {
  CaseState s = NewCase(K::DocumentVerificationRequest, wire::LegalBasis::PalermoProtocol);
  Clocks clocks = ComputeClocks(s, DefaultPolicy(), kT0);
  const ClockStatus* v = Find(clocks, "document_verification");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->due_ms, kT0 + 30 * kDayMs);
  EXPECT_EQ(v->citation, "Protocol Art. 13");
  s = Go(s, Role::kRequested, At(K::VerificationResult, kT0 + kDayMs));
  EXPECT_TRUE(ComputeClocks(s, DefaultPolicy(), kT0 + 2 * kDayMs).open.empty());
}

TEST(DeadlinesTest, NetworkPolicyOverridesDefaults) {
  auto p = ParsePolicy(R"(
[palermo_protocol]
document_verification = { due = "14d", citation = "Protocol Art. 13; network policy 2026/3" }
[eu_eio]
acknowledge = { due = "off" }
)",
                       "net.toml", DefaultPolicy());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->Find(wire::LegalBasis::PalermoProtocol, "document_verification")->due_ms,
            14 * kDayMs);
  EXPECT_EQ(p->Find(wire::LegalBasis::Untoc, "document_verification")->due_ms,
            30 * kDayMs);  // default
  EXPECT_EQ(p->Find(wire::LegalBasis::EuEio, "acknowledge"), nullptr);
  EXPECT_EQ(p->Find(wire::LegalBasis::EuEio, "decision")->due_ms, 30 * kDayMs);  // kept
}

TEST(DeadlinesTest, PolicyErrorsNameFileLineAndKey) {
  struct Case {
    const char* text;
    Code code;
    const char* says;
  };
  const Case cases[] = {
      {"[eu_eio]\nacknowledge = { due = \"7d\", citation = \"x\" }\n[eu_eoi]\n",
       Code::kInvalidArgument, "net.toml:3: unknown section [eu_eoi]"},
      {"[eu_eio]\n\nacknowledgment = { due = \"7d\", citation = \"x\" }\n", Code::kInvalidArgument,
       "net.toml:3: unknown clock 'acknowledgment' in [eu_eio]"},
      {"[eu_eio]\nacknowledge = { due = \"7d\", citation = \"x\", grace = \"1d\" }\n",
       Code::kInvalidArgument, "net.toml:2: unknown key 'grace' in eu_eio.acknowledge"},
      {"[eu_eio]\nacknowledge = { due = \"seven days\", citation = \"x\" }\n",
       Code::kInvalidArgument, "net.toml:2: eu_eio.acknowledge.due: bad duration"},
      {"[eu_eio]\nacknowledge = { citation = \"x\" }\n", Code::kInvalidArgument, "has no 'due'"},
      {"[eu_eio]\nacknowledge = { due = \"7d\" }\n", Code::kInvalidArgument, "has no 'citation'"},
      {"[eu_eio]\nacknowledge = \"7d\"\n", Code::kInvalidArgument, "must be a table"},
      {"[eu_eio\n", Code::kMalformed, "TOML syntax error"},
  };
  for (const auto& c : cases) {
    auto r = ParsePolicy(c.text, "net.toml", DefaultPolicy());
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), c.code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(*ParseDuration("1d12h"), 36 * kHourMs);
  EXPECT_EQ(*ParseDuration("90m"), 90 * 60 * 1000);
  EXPECT_FALSE(ParseDuration("12").ok());
  EXPECT_FALSE(ParseDuration("d").ok());
  EXPECT_FALSE(ParseDuration("5w").ok());
}

TEST(DeadlinesTest, DefaultPolicyTextParsesOnItsOwn) {
  auto p = ParsePolicy(DefaultPolicyToml(), "default", Policy{});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->sections.size(), DefaultPolicy().sections.size());
}

}  // namespace
}  // namespace mlahub::workflow
