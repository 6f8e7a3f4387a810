// Tests of the body schemas (content.fbs, requests.fbs, answers.fbs):
// - realistic bodies parse from JSON, read through the generated API, and
//   print back equal;
// - the schema rules of docs/PROTOCOL_BODIES.md hold for every table, field
//   and enum (docs, presence, personal data, naming, offences in every
//   request);
// - the current schemas are a compatible evolution of the frozen release in
//   schemas/compat/v1 (stricter than `flatc --conform`, which the
//   schemas_conform CTest runs as well);
// - the reference docs cover every body field.
#include <flatbuffers/idl.h>
#include <flatbuffers/reflection.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "mlahub/schemas/answers_generated.h"
#include "mlahub/schemas/envelope_generated.h"
#include "mlahub/schemas/json_codec.h"
#include "mlahub/schemas/requests_generated.h"

namespace mlahub::schemas {

extern const uint8_t kBinarySchema[];
extern const size_t kBinarySchemaSize;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSchemasDir = MLAHUB_SCHEMAS_DIR;

// ---------------------------------------------------------------------------
// Bodies from JSON

// Italy asks Nigeria for evidence in a case of trafficking for forced labour
// in agriculture. One victim was 16 when recruited: the means need not be
// shown (Protocol Art. 3(c)), so the request gives none.
constexpr const char* kTraffickingMla = R"json({
  "requesting_authority": {
    "name": "Ministero della Giustizia, Ufficio II - Cooperazione internazionale",
    "function": "central authority (UNTOC Art. 18(13))",
    "node_id": "IT-MOJ",
    "state": "IT",
    "contact_officer": "Dott.ssa A. Rossi, magistrate",
    "phone": "+390668851",
    "email": "cooperazione@giustizia.example",
    "reference": "MLA/2024/0317"
  },
  "legal_basis": {
    "basis": "Untoc",
    "provisions": ["UNTOC Art. 18", "Protocol Art. 1(2)"]
  },
  "proceedings_stage": "Investigation",
  "proceedings_subject": "Criminal investigation of an organized group that recruits workers in Edo State and exploits them on farms near Ragusa.",
  "conducting_authority": {
    "name": "Procura della Repubblica presso il Tribunale di Catania - DDA",
    "function": "public prosecutor (anti-mafia district directorate)",
    "state": "IT",
    "reference": "RGNR 4411/2023"
  },
  "offences": [
    {
      "name": "Trafficking in persons for forced labour",
      "category": "TraffickingInPersons",
      "legal_provisions": ["Art. 601 Codice penale"],
      "max_penalty": {"custody_months": 240},
      "committed_from_ms": 1677628800000,
      "committed_until_ms": 1704067199000,
      "places": ["Benin City (NG)", "Ragusa (IT)"],
      "transnational_grounds": ["CommittedInMoreThanOneState", "GroupActiveInMoreThanOneState"],
      "organized_criminal_group": true,
      "liability": "OrganizingOrDirecting"
    },
    {
      "name": "Participation in a criminal association",
      "category": "ParticipationInOrganizedCriminalGroup",
      "legal_provisions": ["Art. 416 Codice penale"],
      "max_penalty": {"custody_months": 84}
    }
  ],
  "trafficking": {
    "acts": ["Recruitment", "Transportation", "Harbouring"],
    "purposes": ["ForcedLabourOrServices"],
    "child_victim": true,
    "victims": {"adult_male": 6, "child_male": 1},
    "description": "V1 (16) was recruited in Benin City with the promise of schooling, moved through Agadez and Tripoli, and made to work 12 hours a day without pay on a farm near Ragusa.",
    "origin_states": ["NG"],
    "transit_states": ["NE", "LY"],
    "destination_states": ["IT"]
  },
  "summary_of_facts": "Between March and December 2023 S1 recruited seven young men in Benin City, including V1, then aged 16...",
  "assistance_sought": ["TakingEvidenceOrStatements", "DocumentsAndRecords", "IdentifyingOrTracingProceeds"],
  "assistance_items": [
    {
      "label": "A1",
      "type": "TakingEvidenceOrStatements",
      "description": "Hear W1 as a witness on the recruitment of V1 and the payments to S1.",
      "persons": ["W1"],
      "questions": ["How did you meet S1?", "Who paid for the journey to Agadez?"],
      "procedure": "Statement recorded on video, with an interpreter (Edo/English); the Italian prosecutor wishes to follow by videoconference (UNTOC Art. 18(18)).",
      "participation_requested": "The prosecutor in charge, by videoconference"
    },
    {
      "label": "A2",
      "type": "DocumentsAndRecords",
      "description": "Certified copies of the statements of account P1 from 1 January 2023.",
      "persons": ["S1"],
      "property": ["P1"]
    }
  ],
  "procedures_to_follow": "Certify copies of bank records with a certificate of authenticity.",
  "persons_concerned": [
    {
      "label": "S1",
      "role": "Suspect",
      "family_name": "Okoro",
      "given_names": "Friday",
      "aliases": ["Baba Friday"],
      "sex": "Male",
      "date_of_birth": "1979",
      "nationalities": ["NG"],
      "location": "Benin City, Edo State (believed)"
    },
    {
      "label": "V1",
      "role": "Victim",
      "sex": "Male",
      "date_of_birth": "2007-05",
      "nationalities": ["NG"],
      "is_child": true,
      "languages": ["en"]
    },
    {
      "label": "W1",
      "role": "Witness",
      "family_name": "Edosa",
      "given_names": "Grace",
      "location": "Benin City",
      "languages": ["en"]
    }
  ],
  "property": [
    {
      "label": "P1",
      "type": "BankAccount",
      "description": "Current account receiving transfers from Italy",
      "holders": ["S1"],
      "account": {
        "account_number": "0123456789",
        "institution": "Example Bank Plc, Benin City branch",
        "records_from_ms": 1672531200000
      },
      "basis": "ProceedsOfCrime"
    }
  ],
  "purpose": "To prove the recruitment and the flow of proceeds at the trial of S1 and others in Catania.",
  "deadline": {
    "deadline_ms": 1719705600000,
    "urgency": ["PersonInCustody", "ChildInvolved"],
    "reason_for_urgency": "Two co-accused are in pre-trial detention until 30 June 2024.",
    "event_ms": 1719705600000
  },
  "language": "en",
  "confidentiality": {
    "requested": true,
    "scope": "Not to be disclosed to the account holder or to S1."
  },
  "speciality_acknowledged": true,
  "videoconference_requested": true,
  "attachments": [
    {
      "file_name": "decree-4411-2023-en.pdf",
      "size_bytes": 48211,
      "sha256": [227, 176, 196, 66, 152, 252, 28, 20, 154, 251, 244, 200, 153, 111, 185, 36,
                 39, 174, 65, 228, 100, 155, 147, 76, 164, 149, 153, 27, 120, 82, 184, 85],
      "media_type": "application/pdf",
      "description": "Prosecutor's decree, certified English translation"
    }
  ]
})json";

// Every value of `want` appears, equal, at the same place in `got` (which
// also holds the defaults the printer adds). Returns the first difference.
std::string Difference(const json& got, const json& want, const std::string& path = "$") {
  if (want.is_object()) {
    if (!got.is_object()) return path + ": not an object";
    for (auto it = want.begin(); it != want.end(); ++it) {
      if (!got.contains(it.key())) return path + "." + it.key() + ": missing";
      std::string d = Difference(got[it.key()], it.value(), path + "." + it.key());
      if (!d.empty()) return d;
    }
    return "";
  }
  if (want.is_array()) {
    if (!got.is_array() || got.size() != want.size()) return path + ": array differs";
    for (size_t i = 0; i < want.size(); ++i) {
      std::string d = Difference(got[i], want[i], path + "[" + std::to_string(i) + "]");
      if (!d.empty()) return d;
    }
    return "";
  }
  if (got != want) return path + ": " + got.dump() + " != " + want.dump();
  return "";
}

// JSON -> binary -> JSON is lossless and stable.
void ExpectRoundTrip(const std::string& type, const std::string& text, Bytes* binary = nullptr) {
  auto& codec = JsonCodec::Instance();
  auto bin = codec.ToBinary(type, text);
  ASSERT_TRUE(bin.ok()) << bin.status().ToString();
  auto printed = codec.ToJson(type, *bin);
  ASSERT_TRUE(printed.ok()) << printed.status().ToString();
  EXPECT_EQ(Difference(json::parse(*printed), json::parse(text)), "") << *printed;
  auto bin2 = codec.ToBinary(type, *printed);
  ASSERT_TRUE(bin2.ok()) << bin2.status().ToString();
  auto printed2 = codec.ToJson(type, *bin2);
  ASSERT_TRUE(printed2.ok());
  EXPECT_EQ(*printed, *printed2);
  if (binary != nullptr) *binary = std::move(*bin);
}

TEST(BodiesTest, TraffickingMlaRequestRoundTrips) {
  Bytes bin;
  ASSERT_NO_FATAL_FAILURE(ExpectRoundTrip("MlaRequest", kTraffickingMla, &bin));

  flatbuffers::Verifier v(bin.data(), bin.size());
  ASSERT_TRUE(v.VerifyBuffer<wire::MlaRequest>(nullptr));
  const auto* req = flatbuffers::GetRoot<wire::MlaRequest>(bin.data());
  EXPECT_EQ(req->requesting_authority()->node_id()->str(), "IT-MOJ");
  ASSERT_EQ(req->offences()->size(), 2u);
  EXPECT_EQ(req->offences()->Get(0)->category(), wire::OffenceCategory::TraffickingInPersons);
  EXPECT_EQ(req->offences()->Get(0)->max_penalty()->custody_months(), 240u);

  // Protocol Art. 3: act and purpose, and for a child no means.
  const auto* t = req->trafficking();
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->child_victim());
  EXPECT_EQ(t->means(), nullptr);
  ASSERT_EQ(t->acts()->size(), 3u);
  EXPECT_EQ(t->acts()->Get(0), wire::TraffickingAct::Recruitment);
  ASSERT_EQ(t->purposes()->size(), 1u);
  EXPECT_EQ(t->purposes()->Get(0), wire::ExploitationPurpose::ForcedLabourOrServices);
  EXPECT_EQ(t->victims()->child_male(), 1u);

  ASSERT_EQ(req->assistance_items()->size(), 2u);
  EXPECT_EQ(req->assistance_items()->Get(1)->type(), wire::AssistanceType::DocumentsAndRecords);
  EXPECT_EQ(req->persons_concerned()->Get(1)->role(), wire::PersonRole::Victim);
  EXPECT_EQ(req->persons_concerned()->Get(1)->family_name(), nullptr);  // victim by label only
  EXPECT_EQ(req->deadline()->deadline_ms(), 1719705600000);
  EXPECT_EQ(req->attachments()->Get(0)->sha256()->size(), 32u);
  EXPECT_TRUE(req->confidentiality()->requested());
}

TEST(BodiesTest, MlaRequestSealsAsPayloadBody) {
  json body = json::parse(kTraffickingMla);
  json payload = {{"body_type", "MlaRequest"}, {"body", body}};
  Bytes bin;
  ASSERT_NO_FATAL_FAILURE(ExpectRoundTrip("Payload", payload.dump(), &bin));
  const auto* p = flatbuffers::GetRoot<wire::Payload>(bin.data());
  ASSERT_EQ(p->body_type(), wire::Body::MlaRequest);
  EXPECT_EQ(p->body_as_MlaRequest()->purpose()->str(), body["purpose"].get<std::string>());
}

TEST(BodiesTest, RefusalWithGroundsAndReasonsRoundTrips) {
  const char* refusal = R"json({
    "outcome": "Refuse",
    "decided_ms": 1718000000000,
    "deciding_authority": {"name": "Attorney-General of the Federation", "node_id": "NG-AGF"},
    "refusal_grounds": ["NationalityOfPerson"],
    "reasons": "The person sought is a Nigerian national; the Constitution bars extradition of nationals. The case has been submitted for prosecution (UNTOC Art. 16(10)).",
    "is_final": true
  })json";
  Bytes bin;
  ASSERT_NO_FATAL_FAILURE(ExpectRoundTrip("Decision", refusal, &bin));
  const auto* d = flatbuffers::GetRoot<wire::Decision>(bin.data());
  EXPECT_EQ(d->outcome(), wire::DecisionOutcome::Refuse);
  EXPECT_EQ(d->refusal_grounds()->Get(0), wire::RefusalGround::NationalityOfPerson);
}

TEST(BodiesTest, ExecutionReportCarriesEvidenceManifest) {
  json hash = json::array();
  for (int i = 0; i < 32; ++i) hash.push_back(i * 7 % 256);
  json report = {
      {"completeness", "Partial"},
      {"executed_ms", 1718500000000},
      {"summary", "A1 executed: statement of W1 recorded on 12 June 2024."},
      {"items_executed", {"A1"}},
      {"items_remaining", {"A2"}},
      {"remaining_reasons", "The bank's records are expected by 1 July."},
      {"evidence",
       {{"files",
         {{{"file_name", "A1-statement-W1.mp4"},
           {"size_bytes", 734003200},
           {"sha256", hash},
           {"media_type", "video/mp4"},
           {"item_label", "A1"},
           {"chain_of_custody", "Recorded by the Edo State Police Command, sealed copy 1 of 2."}}}},
        {"total_size_bytes", 734003200}}}};
  Bytes bin;
  ASSERT_NO_FATAL_FAILURE(ExpectRoundTrip("ExecutionReport", report.dump(), &bin));
  const auto* r = flatbuffers::GetRoot<wire::ExecutionReport>(bin.data());
  ASSERT_EQ(r->evidence()->files()->size(), 1u);
  EXPECT_EQ(r->evidence()->files()->Get(0)->size_bytes(), 734003200u);
  EXPECT_EQ(r->evidence()->files()->Get(0)->sha256()->Get(1), 7);
}

TEST(BodiesTest, MisspeltEnumValueIsRejected) {
  auto r = JsonCodec::Instance().ToBinary("TraffickingElements", R"({"acts": ["Recruiting"]})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kMalformed);
}

// ---------------------------------------------------------------------------
// Schema rules, checked on the .fbs sources

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses `file` (and its includes from `dir`). Fails the test on error.
std::unique_ptr<flatbuffers::Parser> ParseSchema(const fs::path& dir, const std::string& file) {
  auto p = std::make_unique<flatbuffers::Parser>();
  std::string dir_s = dir.string();
  const char* include_paths[] = {dir_s.c_str(), nullptr};
  std::string path = (dir / file).string();
  std::string text = ReadFile(path);
  EXPECT_FALSE(text.empty()) << path;
  EXPECT_TRUE(p->Parse(text.c_str(), include_paths, path.c_str())) << path << ": " << p->error_;
  return p;
}

bool InBodyFiles(const flatbuffers::Definition& d) {
  for (const char* f : {"content.fbs", "requests.fbs", "answers.fbs"})
    if (fs::path(d.file).filename() == f) return true;
  return false;
}

std::string Joined(const std::vector<std::string>& doc) {
  std::string out;
  for (const auto& l : doc) out += l + " ";
  return out;
}

std::string Attr(const flatbuffers::FieldDef& f, const std::string& name) {
  const auto* v = f.attributes.Lookup(name);
  return v == nullptr ? std::string() : v->constant;
}

bool IsSnakeCase(const std::string& s) {
  if (s.empty() || !std::islower(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

class BodySchemaTest : public ::testing::Test {
 protected:
  void SetUp() override { parser_ = ParseSchema(kSchemasDir, "envelope.fbs"); }

  std::vector<const flatbuffers::StructDef*> Tables() const {
    std::vector<const flatbuffers::StructDef*> out;
    for (const auto* s : parser_->structs_.vec)
      if (InBodyFiles(*s)) out.push_back(s);
    return out;
  }
  std::vector<const flatbuffers::EnumDef*> Enums() const {
    std::vector<const flatbuffers::EnumDef*> out;
    for (const auto* e : parser_->enums_.vec)
      if (InBodyFiles(*e)) out.push_back(e);
    return out;
  }
  // Body union members with their MessageKind value.
  std::vector<std::pair<int64_t, const flatbuffers::StructDef*>> Bodies() const {
    std::vector<std::pair<int64_t, const flatbuffers::StructDef*>> out;
    const auto* body = parser_->enums_.Lookup("mlahub.wire.Body");
    EXPECT_NE(body, nullptr);
    if (body == nullptr) return out;
    for (const auto* v : body->Vals())
      if (v->GetAsInt64() != 0) out.emplace_back(v->GetAsInt64(), v->union_type.struct_def);
    return out;
  }

  std::unique_ptr<flatbuffers::Parser> parser_;
};

TEST_F(BodySchemaTest, EveryEnumHasDocumentedZeroAndDocumentedValues) {
  ASSERT_FALSE(Enums().empty());
  for (const auto* e : Enums()) {
    EXPECT_FALSE(e->doc_comment.empty()) << e->name << " has no doc comment";
    ASSERT_FALSE(e->Vals().empty()) << e->name;
    const auto* zero = e->Vals().front();
    EXPECT_EQ(zero->GetAsInt64(), 0)
        << e->name << " needs 0 = Unspecified (unknown values read as 0)";
    EXPECT_EQ(zero->name, "Unspecified") << e->name;
    for (const auto* v : e->Vals())
      EXPECT_FALSE(v->doc_comment.empty()) << e->name << "." << v->name << " has no doc comment";
  }
}

TEST_F(BodySchemaTest, EveryTableAndFieldIsDocumentedWithPresence) {
  const std::set<std::string> kPresence = {"mandatory", "where_possible", "conditional",
                                           "optional"};
  ASSERT_FALSE(Tables().empty());
  for (const auto* t : Tables()) {
    EXPECT_FALSE(t->fixed) << t->name << ": no structs in bodies (they can never change)";
    EXPECT_FALSE(t->doc_comment.empty()) << t->name << " has no doc comment";
    for (const auto* f : t->fields.vec) {
      std::string where = t->name + "." + f->name;
      EXPECT_FALSE(f->doc_comment.empty()) << where << " has no doc comment";
      EXPECT_TRUE(IsSnakeCase(f->name)) << where;
      EXPECT_EQ(kPresence.count(Attr(*f, "presence")), 1u)
          << where << ": presence attribute missing or unknown";
      EXPECT_FALSE(f->IsRequired()) << where << ": body fields are never `required`";
      bool is_long = f->value.type.base_type == flatbuffers::BASE_TYPE_LONG;
      bool ends_ms = f->name.size() > 3 && f->name.ends_with("_ms");
      EXPECT_EQ(is_long, ends_ms) << where
                                  << ": instants are long Unix ms named *_ms, and only they";
      if (f->name.ends_with("_date")) {
        EXPECT_EQ(f->value.type.base_type, flatbuffers::BASE_TYPE_STRING)
            << where << ": dates are ISO 8601";
      }
    }
  }
}

TEST_F(BodySchemaTest, PersonalDataIsMarked) {
  const std::set<std::string> kPersonal = {"Person", "IdentityDocument", "BankAccount"};
  for (const auto* t : Tables())
    for (const auto* f : t->fields.vec) {
      const auto& type = f->value.type;
      const flatbuffers::StructDef* sd = type.struct_def;
      if (sd != nullptr && kPersonal.count(sd->name) != 0) {
        EXPECT_NE(f->attributes.Lookup("personal_data"), nullptr)
            << t->name << "." << f->name << " holds a " << sd->name
            << " and must be marked personal_data";
      }
    }
  // Names and identifying details of a person are marked.
  const auto* person = parser_->LookupStruct("mlahub.wire.Person");
  ASSERT_NE(person, nullptr);
  for (const char* name :
       {"family_name", "given_names", "aliases", "date_of_birth", "place_of_birth", "nationalities",
        "identity_documents", "last_known_address", "location"})
    EXPECT_NE(person->fields.Lookup(name)->attributes.Lookup("personal_data"), nullptr) << name;
  // The header, which travels in clear, holds none.
  auto header_schema = ParseSchema(kSchemasDir, "header.fbs");
  const auto* header = header_schema->LookupStruct("mlahub.wire.Header");
  ASSERT_NE(header, nullptr);
  for (const auto* f : header->fields.vec) {
    EXPECT_EQ(f->attributes.Lookup("personal_data"), nullptr) << "Header." << f->name;
    EXPECT_EQ(f->value.type.struct_def, nullptr)
        << "Header." << f->name << " must stay flat metadata";
  }
}

TEST_F(BodySchemaTest, EveryRequestNamesItsOffencesAndTraffickingElements) {
  int requests = 0;
  for (const auto& [value, table] : Bodies()) {
    ASSERT_NE(table, nullptr);
    if (value >= 32) continue;
    ++requests;
    const auto* offences = table->fields.Lookup("offences");
    ASSERT_NE(offences, nullptr) << table->name << " must name its offences";
    EXPECT_EQ(offences->value.type.base_type, flatbuffers::BASE_TYPE_VECTOR);
    EXPECT_EQ(offences->value.type.struct_def->name, "Offence");
    EXPECT_EQ(Attr(*offences, "presence"), "mandatory") << table->name;
    const auto* trafficking = table->fields.Lookup("trafficking");
    ASSERT_NE(trafficking, nullptr) << table->name << " must carry the Protocol's Art. 3 elements";
    EXPECT_EQ(trafficking->value.type.struct_def->name, "TraffickingElements");
    for (const char* common : {"legal_basis", "language"})
      EXPECT_NE(table->fields.Lookup(common), nullptr) << table->name << " lacks " << common;
  }
  EXPECT_EQ(requests, 10);
}

TEST_F(BodySchemaTest, MlaRequestHasEachArticle18_15Element) {
  const auto* mla = parser_->LookupStruct("mlahub.wire.MlaRequest");
  ASSERT_NE(mla, nullptr);
  const std::map<std::string, std::string> kElements = {{"requesting_authority", "18(15)(a)"},
                                                        {"proceedings_subject", "18(15)(b)"},
                                                        {"conducting_authority", "18(15)(b)"},
                                                        {"summary_of_facts", "18(15)(c)"},
                                                        {"assistance_sought", "18(15)(d)"},
                                                        {"procedures_to_follow", "18(17)"},
                                                        {"persons_concerned", "18(15)(e)"},
                                                        {"purpose", "18(15)(f)"},
                                                        {"confidentiality", "18(20)"},
                                                        {"speciality_acknowledged", "18(19)"},
                                                        {"deadline", "18(24)"}};
  for (const auto& [field, cite] : kElements) {
    const auto* f = mla->fields.Lookup(field);
    ASSERT_NE(f, nullptr) << field;
    EXPECT_NE(Joined(f->doc_comment).find(cite), std::string::npos)
        << field << " must cite " << cite;
  }
  EXPECT_EQ(Attr(*mla->fields.Lookup("persons_concerned"), "presence"), "where_possible");
}

TEST(BodyBinarySchemaTest, AttributesAndDocsReachTheBinarySchema) {
  flatbuffers::Verifier v(kBinarySchema, kBinarySchemaSize);
  ASSERT_TRUE(reflection::VerifySchemaBuffer(v));
  const auto* schema = reflection::GetSchema(kBinarySchema);
  const auto* mla = schema->objects()->LookupByKey("mlahub.wire.MlaRequest");
  ASSERT_NE(mla, nullptr);
  const auto* f = mla->fields()->LookupByKey("persons_concerned");
  ASSERT_NE(f, nullptr);
  ASSERT_NE(f->attributes(), nullptr);
  EXPECT_NE(f->attributes()->LookupByKey("personal_data"), nullptr);
  const auto* presence = f->attributes()->LookupByKey("presence");
  ASSERT_NE(presence, nullptr);
  EXPECT_EQ(presence->value()->str(), "where_possible");
  ASSERT_NE(f->documentation(), nullptr);
  EXPECT_GT(f->documentation()->size(), 0u);
  EXPECT_NE(JsonCodec::Instance().Documentation("MlaRequest").find("18(15)"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Evolution: the current schemas against the frozen release

// Everything that makes `now` unable to read what `old` wrote, or breaks
// JSON written for `old`: a table, field or enum value removed or renamed,
// a field's id, type, default or `required` changed, an enum's type changed.
std::vector<std::string> EvolutionErrors(const flatbuffers::Parser& old,
                                         const flatbuffers::Parser& now) {
  std::vector<std::string> errors;
  auto type_name = [](const flatbuffers::Type& t) {
    std::string s = std::to_string(t.base_type) + "/" + std::to_string(t.element);
    if (t.struct_def != nullptr) s += "/" + t.struct_def->name;
    if (t.enum_def != nullptr) s += "/" + t.enum_def->name;
    return s;
  };
  for (const auto* os : old.structs_.vec) {
    std::string name = os->defined_namespace->GetFullyQualifiedName(os->name);
    const auto* ns = now.structs_.Lookup(name);
    if (ns == nullptr) {
      errors.push_back("table " + name + " removed or renamed");
      continue;
    }
    if (ns->fixed != os->fixed) errors.push_back(name + ": struct/table changed");
    if (os->fixed && ns->fields.vec.size() != os->fields.vec.size())
      errors.push_back(name + ": a struct can never change");
    for (const auto* of : os->fields.vec) {
      const auto* nf = ns->fields.Lookup(of->name);
      std::string where = name + "." + of->name;
      if (nf == nullptr) {
        errors.push_back(where + " removed or renamed (deprecate it instead)");
        continue;
      }
      if (nf->value.offset != of->value.offset) errors.push_back(where + ": id changed");
      if (type_name(nf->value.type) != type_name(of->value.type))
        errors.push_back(where + ": type changed");
      if (nf->value.constant != of->value.constant) errors.push_back(where + ": default changed");
      if (nf->IsRequired() != of->IsRequired())
        errors.push_back(where + ": `required` added or removed");
      if (of->deprecated && !nf->deprecated) errors.push_back(where + ": un-deprecated");
    }
  }
  for (const auto* oe : old.enums_.vec) {
    std::string name = oe->defined_namespace->GetFullyQualifiedName(oe->name);
    const auto* ne = now.enums_.Lookup(name);
    if (ne == nullptr) {
      errors.push_back("enum " + name + " removed or renamed");
      continue;
    }
    if (type_name(ne->underlying_type) != type_name(oe->underlying_type))
      errors.push_back(name + ": underlying type changed");
    for (const auto* ov : oe->Vals()) {
      const auto* nv = ne->Lookup(ov->name);
      if (nv == nullptr) {
        errors.push_back(name + "." + ov->name + " removed or renamed");
        continue;
      }
      if (nv->GetAsInt64() != ov->GetAsInt64())
        errors.push_back(name + "." + ov->name + ": value changed");
      if (oe->is_union && type_name(nv->union_type) != type_name(ov->union_type))
        errors.push_back(name + "." + ov->name + ": union member type changed");
    }
  }
  return errors;
}

TEST(SchemaEvolutionTest, CurrentSchemasEvolveEveryFrozenRelease) {
  const fs::path compat = kSchemasDir / "compat";
  ASSERT_TRUE(fs::is_directory(compat / "v1")) << compat / "v1";
  int files = 0;
  for (const auto& release : fs::directory_iterator(compat)) {
    if (!release.is_directory()) continue;
    for (const auto& entry : fs::directory_iterator(release.path())) {
      if (entry.path().extension() != ".fbs") continue;
      ++files;
      std::string file = entry.path().filename().string();
      std::string where = release.path().filename().string() + "/" + file;
      SCOPED_TRACE(where);
      ASSERT_TRUE(fs::exists(kSchemasDir / file)) << file << " was released and must stay";
      auto old = ParseSchema(release.path(), file);
      auto now = ParseSchema(kSchemasDir, file);
      for (const auto& e : EvolutionErrors(*old, *now)) ADD_FAILURE() << where << ": " << e;
    }
  }
  EXPECT_GT(files, 0);
}

// The checker itself: it accepts additions and deprecation and catches each
// kind of breaking change.
TEST(SchemaEvolutionTest, CheckerCatchesBreakingChanges) {
  const std::string kOld =
      "namespace t; enum E : ubyte { Unspecified = 0, A = 1 }\n"
      "table T { a: int (id: 0); b: string (id: 1); e: E (id: 2); }\n"
      "table U { x: long (id: 0); }\n";
  auto parse = [](const std::string& text) {
    auto p = std::make_unique<flatbuffers::Parser>();
    EXPECT_TRUE(p->Parse(text.c_str())) << p->error_ << "\n" << text;
    return p;
  };
  auto old = parse(kOld);
  auto ok = parse(
      "namespace t; enum E : ubyte { Unspecified = 0, A = 1, B = 2 }\n"
      "table T { a: int (id: 0); b: string (id: 1, deprecated); e: E (id: 2); c: [E] (id: 3); }\n"
      "table U { x: long (id: 0); } table V { y: bool (id: 0); }\n");
  EXPECT_TRUE(EvolutionErrors(*old, *ok).empty());

  const std::vector<std::pair<std::string, std::string>> kBreaking = {
      {"enum value renamed", "enum E : ubyte { Unspecified = 0, Z = 1 }"},
      {"enum value renumbered", "enum E : ubyte { Unspecified = 0, A = 2 }"},
      {"field retyped", "table T { a: long (id: 0); b: string (id: 1); e: E (id: 2); }"},
      {"field renamed", "table T { aa: int (id: 0); b: string (id: 1); e: E (id: 2); }"},
      {"ids swapped", "table T { a: int (id: 1); b: string (id: 0); e: E (id: 2); }"},
      {"default changed", "table T { a: int = 7 (id: 0); b: string (id: 1); e: E (id: 2); }"},
      {"required added", "table T { a: int (id: 0); b: string (id: 1, required); e: E (id: 2); }"},
  };
  for (const auto& [what, replacement] : kBreaking) {
    std::string text = kOld;
    std::string head = replacement.substr(0, replacement.find('{'));
    size_t start = text.find(head);
    ASSERT_NE(start, std::string::npos) << what;
    size_t end = text.find('}', start);
    text.replace(start, end - start + 1, replacement);
    auto now = parse(text);
    EXPECT_FALSE(EvolutionErrors(*old, *now).empty()) << what << " was not caught";
  }
  auto removed = parse(
      "namespace t; enum E : ubyte { Unspecified = 0, A = 1 }\n"
      "table T { a: int (id: 0); b: string (id: 1); e: E (id: 2); }\n");
  EXPECT_FALSE(EvolutionErrors(*old, *removed).empty()) << "table removal was not caught";
}

// ---------------------------------------------------------------------------
// The reference docs cover every body field

TEST_F(BodySchemaTest, ReferenceDocsCoverEveryField) {
  // docs/PROTOCOL_BODIES.md until it is merged into docs/PROTOCOL.md.
  const fs::path docs = kSchemasDir.parent_path() / "docs";
  std::string text = ReadFile(docs / "PROTOCOL_BODIES.md") + ReadFile(docs / "PROTOCOL.md");
  ASSERT_FALSE(text.empty()) << "no docs/PROTOCOL_BODIES.md or docs/PROTOCOL.md";
  for (const auto* t : Tables()) {
    size_t start = text.find("### " + t->name + "\n");
    if (start == std::string::npos) start = text.find("### " + t->name + " ");
    ASSERT_NE(start, std::string::npos) << "no section '### " << t->name << "'";
    size_t end = text.find("\n### ", start + 4);
    std::string section =
        text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    for (const auto* f : t->fields.vec)
      EXPECT_NE(section.find("| `" + f->name + "` |"), std::string::npos)
          << t->name << "." << f->name << " is not in the docs";
  }
}

}  // namespace
}  // namespace mlahub::schemas
