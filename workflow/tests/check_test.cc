// Request checking: per kind, a complete body passes and each mandatory
// content removed in turn yields exactly that finding with its citation; the
// specific rules (UNTOC 18(15), 16, 13(3); Protocol Art. 3, 8, 14) and the
// directory rules (kinds, languages, party status).
#include "mlahub/workflow/check.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "mlahub/schemas/json_codec.h"
#include "test_bodies.h"

namespace mlahub::workflow {
namespace {

using testing::json;

const char* const kAllKinds[] = {"MlaRequest",
                                 "ExtraditionRequest",
                                 "ProvisionalArrestRequest",
                                 "ConfiscationRequest",
                                 "DocumentVerificationRequest",
                                 "NationalityVerificationRequest",
                                 "RepatriationRequest",
                                 "InformationExchange",
                                 "JointInvestigationProposal",
                                 "TransferOfProceedingsRequest"};

wire::MessageKind KindOf(const std::string& name) {
  for (int i = 1; i <= 10; ++i) {
    auto k = static_cast<wire::MessageKind>(i);
    if (name == wire::EnumNameMessageKind(k)) return k;
  }
  ADD_FAILURE() << "no kind " << name;
  return wire::MessageKind::Unspecified;
}

std::vector<Finding> Check(const std::string& kind, const json& body,
                           wire::LegalBasis basis = wire::LegalBasis::Unspecified,
                           const directory::Entry* from = nullptr,
                           const directory::Entry* to = nullptr) {
  auto r = CheckBody(KindOf(kind), basis, body.dump(), from, to);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<Finding>{};
}

std::vector<Finding> Blocking(const std::vector<Finding>& fs) {
  std::vector<Finding> out;
  for (const auto& f : fs)
    if (f.severity != Severity::kWarning) out.push_back(f);
  return out;
}

std::string Dump(const std::vector<Finding>& fs) {
  std::string s;
  for (const auto& f : fs)
    s += std::string(SeverityName(f.severity)) + " " + f.path + " [" + f.citation + "] " +
         f.message + "\n";
  return s;
}

const Finding* FindPath(const std::vector<Finding>& fs, const std::string& path, Severity sev) {
  for (const auto& f : fs)
    if (f.path == path && f.severity == sev) return &f;
  return nullptr;
}

TEST(CheckTest, CompleteBodyOfEveryKindPasses) {
  for (const char* kind : kAllKinds) {
    auto fs = Check(kind, testing::CompleteBody(kind));
    EXPECT_FALSE(Blocks(fs)) << kind << ":\n" << Dump(fs);
  }
}

// Each mandatory top-level field removed in turn yields exactly one blocking
// finding: that field, missing, with a citation.
TEST(CheckTest, EachMandatoryFieldRemovedYieldsExactlyThatFinding) {
  for (const char* kind : kAllKinds) {
    auto fields = DescribeTable(kind);
    ASSERT_TRUE(fields.ok());
    int mandatory = 0;
    for (const auto& f : *fields) {
      if (f.presence != "mandatory") continue;
      ++mandatory;
      json body = testing::CompleteBody(kind);
      ASSERT_TRUE(body.contains(f.name)) << kind << " example lacks " << f.name;
      body.erase(f.name);
      auto blocking = Blocking(Check(kind, body));
      ASSERT_EQ(blocking.size(), 1u) << kind << " without " << f.name << ":\n" << Dump(blocking);
      EXPECT_EQ(blocking[0].severity, Severity::kMissing);
      EXPECT_EQ(blocking[0].path, f.name);
      EXPECT_FALSE(blocking[0].citation.empty()) << kind << "." << f.name;
      EXPECT_NE(blocking[0].message.find(f.name), std::string::npos) << blocking[0].message;
    }
    EXPECT_GE(mandatory, 5) << kind;
  }
}

TEST(CheckTest, MlaNamesEachOf18_15ByItsLetter) {
  const std::pair<const char*, const char*> cases[] = {
      {"requesting_authority", "UNTOC Art. 18(15)(a)"},
      {"proceedings_subject", "UNTOC Art. 18(15)(b)"},
      {"conducting_authority", "UNTOC Art. 18(15)(b)"},
      {"summary_of_facts", "UNTOC Art. 18(15)(c)"},
      {"assistance_items", "UNTOC Art. 18(15)(d)"},
      {"purpose", "UNTOC Art. 18(15)(f)"},
  };
  for (const auto& [field, cite] : cases) {
    json body = testing::CompleteBody("MlaRequest");
    body.erase(field);
    auto fs = Check("MlaRequest", body);
    const Finding* f = FindPath(fs, field, Severity::kMissing);
    ASSERT_NE(f, nullptr) << field << "\n" << Dump(fs);
    EXPECT_EQ(f->citation, cite) << field;
  }
  // (e) is "where possible": a warning, never a blocker.
  json body = testing::CompleteBody("MlaRequest");
  body.erase("persons_concerned");
  auto fs = Check("MlaRequest", body);
  EXPECT_FALSE(Blocks(fs)) << Dump(fs);
  const Finding* e = FindPath(fs, "persons_concerned", Severity::kWarning);
  ASSERT_NE(e, nullptr) << Dump(fs);
  EXPECT_EQ(e->citation, "UNTOC Art. 18(15)(e)");
  // A person without nationality or location: warnings citing (e).
  body = testing::CompleteBody("MlaRequest");
  body["persons_concerned"][0].erase("nationalities");
  fs = Check("MlaRequest", body);
  const Finding* n = FindPath(fs, "persons_concerned[0].nationalities", Severity::kWarning);
  ASSERT_NE(n, nullptr) << Dump(fs);
  EXPECT_EQ(n->citation, "UNTOC Art. 18(15)(e)");
}

TEST(CheckTest, MlaSummaryOfFactsNotNeededForServiceOnly) {
  json body = testing::CompleteBody("MlaRequest");
  body.erase("summary_of_facts");
  body["assistance_sought"] = {"ServiceOfJudicialDocuments"};
  body["assistance_items"] = {{{"label", "A1"},
                               {"type", "ServiceOfJudicialDocuments"},
                               {"description", "Serve the summons on S1"}}};
  EXPECT_FALSE(Blocks(Check("MlaRequest", body))) << Dump(Check("MlaRequest", body));
  body["assistance_sought"].push_back("TakingEvidenceOrStatements");
  auto fs = Check("MlaRequest", body);
  ASSERT_NE(FindPath(fs, "summary_of_facts", Severity::kMissing), nullptr) << Dump(fs);
}

TEST(CheckTest, MlaPropertyNeededForSeizureAndTracing) {
  json body = testing::CompleteBody("MlaRequest");
  body.erase("property");
  body["assistance_items"][0].erase("property");
  EXPECT_FALSE(Blocks(Check("MlaRequest", body)));
  body["assistance_sought"].push_back("IdentifyingOrTracingProceeds");
  auto fs = Check("MlaRequest", body);
  const Finding* f = FindPath(fs, "property", Severity::kMissing);
  ASSERT_NE(f, nullptr) << Dump(fs);
  EXPECT_NE(f->citation.find("UNTOC Art. 18(3)"), std::string::npos);
}

TEST(CheckTest, BankAccountNeedsItsAccount) {
  json body = testing::CompleteBody("MlaRequest");
  body["property"][0].erase("account");
  auto fs = Check("MlaRequest", body);
  ASSERT_NE(FindPath(fs, "property[0].account", Severity::kMissing), nullptr) << Dump(fs);
}

TEST(CheckTest, TraffickingElementsRequiredForTraffickingOffence) {
  json body = testing::CompleteBody("MlaRequest");
  body.erase("trafficking");
  auto fs = Blocking(Check("MlaRequest", body));
  ASSERT_EQ(fs.size(), 1u) << Dump(fs);
  EXPECT_EQ(fs[0].path, "trafficking");
  EXPECT_EQ(fs[0].citation, "Protocol Art. 3(a)");
  // Not for another offence.
  body["offences"][0]["category"] = "MoneyLaundering";
  EXPECT_FALSE(Blocks(Check("MlaRequest", body)));
  // Each element: acts, purposes (generic), means (adult victims).
  for (const char* el : {"acts", "purposes", "means"}) {
    json b = testing::CompleteBody("ExtraditionRequest");
    b["trafficking"].erase(el);
    auto f = Blocking(Check("ExtraditionRequest", b));
    ASSERT_EQ(f.size(), 1u) << el << "\n" << Dump(f);
    EXPECT_EQ(f[0].path, std::string("trafficking.") + el);
    EXPECT_EQ(f[0].citation.rfind("Protocol Art. 3", 0), 0u) << f[0].citation;
  }
}

TEST(CheckTest, ChildVictimNeverAskedForMeansAndPriorityRaised) {
  json body = testing::CompleteBody("MlaRequest");
  body["trafficking"].erase("means");
  body["trafficking"]["child_victim"] = true;
  body["trafficking"]["victims"] = {{"child_female", 2}};
  auto fs = Check("MlaRequest", body);
  EXPECT_FALSE(Blocks(fs)) << Dump(fs);
  for (const auto& f : fs) EXPECT_NE(f.path, "trafficking.means") << Dump(fs);
  // Given anyway, with only child victims: a warning that they are not needed.
  body["trafficking"]["means"] = {"Deception"};
  fs = Check("MlaRequest", body);
  const Finding* w = FindPath(fs, "trafficking.means", Severity::kWarning);
  ASSERT_NE(w, nullptr) << Dump(fs);
  EXPECT_EQ(w->citation, "Protocol Art. 3(c)");
  // Through a request file at normal priority: raise it.
  Draft d;
  d.kind = wire::MessageKind::MlaRequest;
  d.to = "NG-AGF";
  d.legal_basis = wire::LegalBasis::Untoc;
  d.language = "en";
  d.body_json = body.dump();
  auto r = CheckRequest(d, nullptr, nullptr);
  ASSERT_TRUE(r.ok());
  ASSERT_NE(FindPath(*r, "header.priority", Severity::kWarning), nullptr) << Dump(*r);
  d.priority = wire::Priority::Urgent;
  r = CheckRequest(d, nullptr, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(FindPath(*r, "header.priority", Severity::kWarning), nullptr) << Dump(*r);
  // A child listed as a victim person also counts, and child_victim should say so.
  body = testing::CompleteBody("MlaRequest");
  body["trafficking"].erase("means");
  body["persons_concerned"].push_back({{"label", "V1"}, {"role", "Victim"}, {"is_child", true}});
  fs = Check("MlaRequest", body);
  EXPECT_FALSE(Blocks(fs)) << Dump(fs);
  EXPECT_NE(FindPath(fs, "trafficking.child_victim", Severity::kWarning), nullptr) << Dump(fs);
}

TEST(CheckTest, ExtraditionRules) {
  json b = testing::CompleteBody("ExtraditionRequest");
  b.erase("penalty_imposable");
  auto f = Blocking(Check("ExtraditionRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "penalty_imposable");
  EXPECT_EQ(f[0].citation, "UNTOC Art. 16(7)");

  b = testing::CompleteBody("ExtraditionRequest");
  b["purpose"] = "EnforcementOfSentence";
  b["warrants_and_judgments"] = {testing::Warrant("Judgment")};
  f = Blocking(Check("ExtraditionRequest", b));
  ASSERT_EQ(f.size(), 2u) << Dump(f);
  EXPECT_EQ(f[0].path, "sentence_imposed");
  EXPECT_EQ(f[1].path, "sentence_remaining_days");
  b["sentence_imposed"] = {{"custody_months", 96}};
  b["sentence_remaining_days"] = 2000;
  EXPECT_FALSE(Blocks(Check("ExtraditionRequest", b)));
  b["warrants_and_judgments"][0]["in_absentia"] = true;
  f = Blocking(Check("ExtraditionRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "retrial_guarantee");

  b = testing::CompleteBody("ExtraditionRequest");
  b["person_sought"].erase("family_name");
  b["person_sought"].erase("given_names");
  f = Blocking(Check("ExtraditionRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "person_sought.family_name");

  b = testing::CompleteBody("ExtraditionRequest");
  b["offences"][0].erase("max_penalty");
  f = Blocking(Check("ExtraditionRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "offences[0].max_penalty");

  b = testing::CompleteBody("ExtraditionRequest");
  b["person_sought"].erase("nationalities");
  auto all = Check("ExtraditionRequest", b);
  EXPECT_FALSE(Blocks(all));
  EXPECT_NE(FindPath(all, "person_sought.nationalities", Severity::kWarning), nullptr) << Dump(all);
}

TEST(CheckTest, ProvisionalArrestNeedsTheFullRequestToFollow) {
  json b = testing::CompleteBody("ProvisionalArrestRequest");
  b["full_request_to_follow"] = false;
  auto f = Blocking(Check("ProvisionalArrestRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "full_request_to_follow");
  EXPECT_EQ(f[0].citation, "UNTOC Art. 16(9)");
  b = testing::CompleteBody("ProvisionalArrestRequest");
  b["urgency"] = {{"event_ms", 1780272000000}};
  f = Blocking(Check("ProvisionalArrestRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "urgency.reason_for_urgency");
}

TEST(CheckTest, ConfiscationNeedsTheOrderAndItsExtent) {
  json b = testing::CompleteBody("ConfiscationRequest");
  b.erase("order");
  b.erase("extent_of_execution");
  auto f = Blocking(Check("ConfiscationRequest", b));
  ASSERT_EQ(f.size(), 2u) << Dump(f);
  EXPECT_EQ(f[0].path, "order");
  EXPECT_EQ(f[0].citation, "UNTOC Art. 13(3)(b)");
  EXPECT_EQ(f[1].path, "extent_of_execution");
  // Freezing without an order: only a warning ("where available", 13(3)(c)).
  b["measures"] = {"Freezing"};
  auto all = Check("ConfiscationRequest", b);
  EXPECT_FALSE(Blocks(all)) << Dump(all);
  EXPECT_NE(FindPath(all, "order", Severity::kWarning), nullptr);
  // 18(15) contents apply: (c) facts, (f) purpose, and the property.
  for (const char* field : {"summary_of_facts", "purpose", "property"}) {
    json c = testing::CompleteBody("ConfiscationRequest");
    c.erase(field);
    auto g = Blocking(Check("ConfiscationRequest", c));
    ASSERT_EQ(g.size(), 1u) << field;
    EXPECT_EQ(g[0].path, field);
  }
}

TEST(CheckTest, RepatriationNeedsConsentAndSafetyAssessment) {
  json b = testing::CompleteBody("RepatriationRequest");
  b.erase("consent_recorded_ms");
  auto f = Blocking(Check("RepatriationRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "consent_recorded_ms");
  EXPECT_EQ(f[0].citation, "Protocol Art. 8(2)");

  b = testing::CompleteBody("RepatriationRequest");
  b.erase("safety_assessment");
  f = Blocking(Check("RepatriationRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "safety_assessment");
  EXPECT_NE(f[0].citation.find("Protocol Art. 8(2)"), std::string::npos) << f[0].citation;

  b = testing::CompleteBody("RepatriationRequest");
  b["safety_assessment"]["non_refoulement_considered"] = false;
  f = Blocking(Check("RepatriationRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "safety_assessment.non_refoulement_considered");
  EXPECT_EQ(f[0].citation, "Protocol Art. 14(1)");

  b = testing::CompleteBody("RepatriationRequest");
  b["safety_assessment"].erase("non_refoulement_considered");
  f = Blocking(Check("RepatriationRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "safety_assessment.non_refoulement_considered");

  // Not voluntary: a warning, the consent time is then not asked.
  b = testing::CompleteBody("RepatriationRequest");
  b["voluntary"] = false;
  b.erase("consent_recorded_ms");
  auto all = Check("RepatriationRequest", b);
  EXPECT_FALSE(Blocks(all)) << Dump(all);
  EXPECT_NE(FindPath(all, "voluntary", Severity::kWarning), nullptr);

  // A child: safeguards, with a guardian when one was appointed.
  b = testing::CompleteBody("RepatriationRequest");
  b["victim"]["is_child"] = true;
  f = Blocking(Check("RepatriationRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "child_safeguards");
  EXPECT_EQ(f[0].citation, "Protocol Art. 6(4)");
  b["child_safeguards"] = {{"guardian_appointed", true},
                           {"best_interests_determination", "By the juvenile court"},
                           {"care_on_arrival", "Social services of Edo State"}};
  f = Blocking(Check("RepatriationRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "child_safeguards.guardian");
  b["child_safeguards"]["guardian"] = "Guardian appointed by the Tribunale per i minorenni";
  EXPECT_FALSE(Blocks(Check("RepatriationRequest", b)));
}

TEST(CheckTest, DeadlineNeedsReasons) {
  json b = testing::CompleteBody("MlaRequest");
  b["deadline"] = {{"deadline_ms", 1798761600000}};
  auto f = Blocking(Check("MlaRequest", b));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "deadline.reason_for_urgency");
  EXPECT_EQ(f[0].citation, "UNTOC Art. 18(24)");
}

TEST(CheckTest, LegalBasisDetailsAndHeaderAgree) {
  json b = testing::CompleteBody("MlaRequest");
  b["legal_basis"] = {{"basis", "BilateralTreaty"}};
  auto f = Blocking(Check("MlaRequest", b, wire::LegalBasis::BilateralTreaty));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].path, "legal_basis.instrument");
  b["legal_basis"]["instrument"] = "IT-NG MLA Treaty (2016)";
  EXPECT_FALSE(Blocks(Check("MlaRequest", b, wire::LegalBasis::BilateralTreaty)));
  f = Blocking(Check("MlaRequest", b, wire::LegalBasis::Untoc));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].severity, Severity::kRefused);
  EXPECT_EQ(f[0].path, "legal_basis.basis");
}

TEST(CheckTest, UntocAndProtocolOnlyBetweenParties) {
  auto it = testing::Node("IT-MOJ", true, true);
  auto ng = testing::Node("NG-AGF", true, true);
  auto xx = testing::Node("XY-MOJ", false, false);
  auto untoc_only = testing::Node("ZZ-MOJ", true, false);
  json mla = testing::CompleteBody("MlaRequest");
  EXPECT_FALSE(Blocks(Check("MlaRequest", mla, wire::LegalBasis::Untoc, &it, &ng)));
  auto f = Blocking(Check("MlaRequest", mla, wire::LegalBasis::Untoc, &it, &xx));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].severity, Severity::kRefused);
  EXPECT_EQ(f[0].path, "legal_basis.basis");
  EXPECT_EQ(f[0].citation, "UNTOC Art. 18(1)");
  EXPECT_NE(f[0].message.find("XY-MOJ"), std::string::npos) << f[0].message;
  // Sender not a party either.
  f = Blocking(Check("MlaRequest", mla, wire::LegalBasis::Untoc, &xx, &ng));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].message.find("XY-MOJ"), std::string::npos);
  // Extradition cites Art. 16(4).
  f = Blocking(Check("ExtraditionRequest", testing::CompleteBody("ExtraditionRequest"),
                     wire::LegalBasis::Untoc, &it, &xx));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].citation, "UNTOC Art. 16(4)");
  // The Protocol needs both to be parties to it.
  json rep = testing::CompleteBody("RepatriationRequest");
  EXPECT_FALSE(
      Blocks(Check("RepatriationRequest", rep, wire::LegalBasis::PalermoProtocol, &it, &ng)));
  f = Blocking(
      Check("RepatriationRequest", rep, wire::LegalBasis::PalermoProtocol, &it, &untoc_only));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].severity, Severity::kRefused);
  // Reciprocity works between anyone.
  rep["legal_basis"] = {{"basis", "Reciprocity"}, {"reciprocity_assurance", "IT would comply"}};
  EXPECT_FALSE(Blocks(Check("RepatriationRequest", rep, wire::LegalBasis::Reciprocity, &it, &xx)));
}

TEST(CheckTest, KindOrLanguageNotAcceptedIsRefused) {
  auto it = testing::Node("IT-MOJ", true, true);
  auto ng = testing::Node("NG-AGF", true, true, {"en", "fr"});
  ng.accepts = {wire::MessageKind::MlaRequest};
  ng.untoc_18_14 = "English or French";
  json b = testing::CompleteBody("ExtraditionRequest");
  auto f = Blocking(Check("ExtraditionRequest", b, wire::LegalBasis::Untoc, &it, &ng));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].severity, Severity::kRefused);
  EXPECT_EQ(f[0].path, "header.kind");
  json m = testing::CompleteBody("MlaRequest");
  m["language"] = "it";
  f = Blocking(Check("MlaRequest", m, wire::LegalBasis::Untoc, &it, &ng));
  ASSERT_EQ(f.size(), 1u) << Dump(f);
  EXPECT_EQ(f[0].severity, Severity::kRefused);
  EXPECT_EQ(f[0].path, "language");
  EXPECT_EQ(f[0].citation, "UNTOC Art. 18(14)");
  EXPECT_NE(f[0].message.find("en, fr"), std::string::npos) << f[0].message;
  m["language"] = "fr";
  EXPECT_FALSE(Blocks(Check("MlaRequest", m, wire::LegalBasis::Untoc, &it, &ng)));
}

TEST(CheckTest, DirectoryLookupRefusesUnknownRecipient) {
  directory::Directory dir("test", 1, 0);
  ASSERT_TRUE(dir.Add(testing::Node("IT-MOJ", true, true)).ok());
  ASSERT_TRUE(dir.Add(testing::Node("NG-AGF", true, true)).ok());
  Draft d;
  d.kind = wire::MessageKind::MlaRequest;
  d.from = "IT-MOJ";
  d.to = "NG-AGF";
  d.legal_basis = wire::LegalBasis::Untoc;
  d.language = "en";
  d.body_json = testing::CompleteBody("MlaRequest").dump();
  auto r = CheckRequest(d, dir, 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(Blocks(*r)) << Dump(*r);
  d.to = "TH-OAG";
  r = CheckRequest(d, dir, 1000);
  ASSERT_TRUE(r.ok());
  ASSERT_NE(FindPath(*r, "header.to", Severity::kRefused), nullptr) << Dump(*r);
}

TEST(CheckTest, ExampleFilesAndReadyToSubmit) {
  auto read = [](const char* name) {
    std::ifstream in(std::string(MLAHUB_SOURCE_DIR) + "/examples/requests/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  auto complete = ParseDraft(read("mla-trafficking-complete.json"));
  ASSERT_TRUE(complete.ok()) << complete.status().ToString();
  EXPECT_EQ(complete->kind, wire::MessageKind::MlaRequest);
  EXPECT_EQ(complete->to, "NG-AGF");
  EXPECT_EQ(complete->priority, wire::Priority::Urgent);
  auto it = testing::Node("IT-MOJ", true, true);
  auto ng = testing::Node("NG-AGF", true, true);
  EXPECT_TRUE(ReadyToSubmit(*complete, &it, &ng).ok());

  auto incomplete = ParseDraft(read("mla-trafficking-incomplete.json"));
  ASSERT_TRUE(incomplete.ok()) << incomplete.status().ToString();
  auto fs = CheckRequest(*incomplete, &it, &ng);
  ASSERT_TRUE(fs.ok());
  auto blocking = Blocking(*fs);
  ASSERT_EQ(blocking.size(), 3u) << Dump(*fs);
  // In body order: trafficking (id 6), summary_of_facts (7), purpose (13).
  EXPECT_EQ(blocking[0].path, "trafficking.means");
  EXPECT_EQ(blocking[1].path, "summary_of_facts");
  EXPECT_EQ(blocking[2].path, "purpose");
  Status st = ReadyToSubmit(*incomplete, &it, &ng);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("UNTOC Art. 18(15)(c)"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("UNTOC Art. 18(15)(f)"), std::string::npos) << st.message();

  // Round trip of the request file.
  auto text = DraftToJson(*complete);
  ASSERT_TRUE(text.ok());
  auto again = ParseDraft(*text);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->case_ref, complete->case_ref);
  EXPECT_EQ(again->legal_basis, wire::LegalBasis::Untoc);
}

TEST(CheckTest, BadInputsAreErrorsNotFindings) {
  EXPECT_EQ(ParseDraft("not json").status().code(), Code::kMalformed);
  EXPECT_EQ(ParseDraft(R"({"kind":"MlaRequest","body":{},"colour":"red"})").status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ParseDraft(R"({"kind":"NoSuchKind","body":{}})").status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ParseDraft(R"({"purpose":"x"})").status().code(),
            Code::kInvalidArgument);  // bare, no --kind
  auto misspelt = CheckBody(wire::MessageKind::MlaRequest, wire::LegalBasis::Untoc,
                            R"({"purpose_of_request":"x"})", nullptr, nullptr);
  EXPECT_EQ(misspelt.status().code(), Code::kMalformed);
  auto answer =
      CheckBody(wire::MessageKind::Decision, wire::LegalBasis::Untoc, "{}", nullptr, nullptr);
  EXPECT_EQ(answer.status().code(), Code::kInvalidArgument);
}

TEST(CheckTest, BinaryBodyIsVerifiedThenChecked) {
  auto& codec = schemas::JsonCodec::Instance();
  json body = testing::CompleteBody("MlaRequest");
  body.erase("purpose");
  auto bin = codec.ToBinary("MlaRequest", body.dump());
  ASSERT_TRUE(bin.ok());
  auto fs = CheckBinaryBody(wire::MessageKind::MlaRequest, wire::LegalBasis::Untoc, *bin, nullptr,
                            nullptr);
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  auto b = Blocking(*fs);
  ASSERT_EQ(b.size(), 1u) << Dump(*fs);
  EXPECT_EQ(b[0].path, "purpose");
  Bytes garbage(64, 0xff);
  EXPECT_EQ(CheckBinaryBody(wire::MessageKind::MlaRequest, wire::LegalBasis::Untoc, garbage,
                            nullptr, nullptr)
                .status()
                .code(),
            Code::kMalformed);
}

}  // namespace
}  // namespace mlahub::workflow
