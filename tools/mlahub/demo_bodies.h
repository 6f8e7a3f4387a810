// The bodies `mlahub demo` sends: one trafficking case (Palermo, 2026) seen
// from Italy. Every request is complete for its kind and legal basis
// (workflow::ReadyToSubmit), so the sending agent accepts it; the answers
// carry what the workflow asks of each step (grounds and reasons for a
// refusal, the verdict of a verification, ...). Invented people and numbers.
//
// Pure functions returning JSON (FlatBuffers JSON of the kind's table,
// docs/PROTOCOL_BODIES.md); thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace mlahub::cli::demo {

using BodyJson = nlohmann::json;

inline BodyJson PalermoProsecutor() {
  return {{"name", "Procura della Repubblica presso il Tribunale di Palermo"},
          {"function", "public prosecutor"},
          {"node_id", "IT-MOJ"},
          {"state", "IT"},
          {"contact_officer", "Deputy Prosecutor, anti-trafficking unit"},
          {"reference", "RGNR 4471/2026"}};
}

inline BodyJson NigerianAuthority() {
  return {{"name", "Federal Ministry of Justice, Central Authority Unit"},
          {"function", "central authority"},
          {"node_id", "NG-AGF"},
          {"state", "NG"}};
}

inline BodyJson TraffickingOffence() {
  return {{"name", "Trafficking in persons"},
          {"category", "TraffickingInPersons"},
          {"legal_provisions", {"Codice penale art. 601"}},
          {"provisions_text", "Chiunque recluta, introduce nel territorio dello Stato, trasferisce anche al di fuori "
                              "di esso, trasporta, cede l'autorita' sulla persona, ospita ..."},
          {"max_penalty", {{"custody_months", 240}, {"description", "8 to 20 years' imprisonment"}}},
          {"committed_from_ms", int64_t{1735689600000}},
          {"committed_until_ms", int64_t{1780272000000}},
          {"places", {"Benin City (NG)", "Lagos (NG)", "Ragusa (IT)"}},
          {"organized_criminal_group", true},
          {"liability", "OrganizingOrDirecting"}};
}

// Art. 3 elements: acts, means, purposes; one of the victims is a child.
inline BodyJson TraffickingElements() {
  return {{"acts", {"Recruitment", "Transportation", "Harbouring"}},
          {"means", {"Deception", "AbuseOfPositionOfVulnerability", "Coercion"}},
          {"purposes", {"ForcedLabourOrServices"}},
          {"child_victim", true},
          {"victims", {{"adult_female", 3}, {"adult_male", 9}, {"child_male", 1}}},
          {"description", "Workers were promised paid jobs in Italy, charged a debt for the journey, had their "
                          "passports taken and worked in greenhouses for no pay."},
          {"origin_states", {"NG"}},
          {"transit_states", {"NE", "LY"}},
          {"destination_states", {"IT"}}};
}

inline BodyJson SuspectS1() {
  return {{"label", "S1"},
          {"role", "Suspect"},
          {"family_name", "Okafor"},
          {"given_names", "Daniel"},
          {"sex", "Male"},
          {"date_of_birth", "1979-03-14"},
          {"nationalities", {"NG"}},
          {"location", "Ikeja, Lagos"},
          {"last_known_address", "Ikeja, Lagos"}};
}

inline BodyJson ArrestWarrant() {
  BodyJson hash = BodyJson::array();
  for (int i = 0; i < 32; ++i) hash.push_back(i * 7 % 256);
  return {{"kind", "ArrestWarrant"},
          {"issuing_authority",
           {{"name", "Giudice per le indagini preliminari, Tribunale di Palermo"}, {"function", "judge"}, {"state", "IT"}}},
          {"issued_date", "2026-06-01"},
          {"reference", "GIP 123/2026"},
          {"is_final", true},
          {"copy", {{"file_name", "warrant-GIP-123-2026.pdf"}, {"size_bytes", 1024}, {"sha256", hash}}}};
}

// UNTOC Art. 18: bank records (A1) and a witness statement (A2).
inline BodyJson MlaRequestBody() {
  return {
      {"requesting_authority", PalermoProsecutor()},
      {"legal_basis",
       {{"basis", "Untoc"},
        {"instrument", "United Nations Convention against Transnational Organized Crime"},
        {"provisions", {"Art. 18"}}}},
      {"proceedings_stage", "Investigation"},
      {"proceedings_subject", "Criminal investigation into an organised group recruiting workers in Nigeria for "
                              "forced labour in agriculture in Sicily"},
      {"conducting_authority", PalermoProsecutor()},
      {"offences", {TraffickingOffence()}},
      {"trafficking", TraffickingElements()},
      {"summary_of_facts",
       "Between January 2025 and May 2026 the suspects (S1, S2) recruited at least thirteen persons in Edo and Lagos "
       "States, among them a 16-year-old (V1), with offers of paid farm work. Recruitment fees were paid into an "
       "account held in Lagos (P1); wages were withheld to repay a travel debt."},
      {"assistance_sought", {"DocumentsAndRecords", "TakingEvidenceOrStatements"}},
      {"assistance_items",
       {{{"label", "A1"},
         {"type", "DocumentsAndRecords"},
         {"description", "Certified statements of account P1 from 1 January 2025 to 31 May 2026, with account "
                         "opening documents and KYC records"},
         {"property", {"P1"}}},
        {{"label", "A2"},
         {"type", "TakingEvidenceOrStatements"},
         {"description", "Statement of the branch manager who opened account P1"},
         {"questions", {"Who opened the account and with which identity documents?", "Who operated it?"}},
         {"procedure", "Statement before a judicial authority; the Italian prosecutor asks to follow by "
                       "videoconference (UNTOC 18(18))"},
         {"participation_requested", "By videoconference"}}}},
      {"procedures_to_follow", "Certified copies with a certificate of authenticity from the bank."},
      {"persons_concerned",
       {SuspectS1(),
        {{"label", "V1"},
         {"role", "Victim"},
         {"sex", "Male"},
         {"is_child", true},
         {"nationalities", {"NG"}},
         {"notes", "Identity withheld in this request (Protocol Art. 6(1))"}}}},
      {"property",
       {{{"label", "P1"},
         {"type", "BankAccount"},
         {"description", "Current account into which recruitment fees were paid"},
         {"holders", {"S1"}},
         {"account",
          {{"account_number", "0123456789"},
           {"institution", "A commercial bank, Lagos"},
           {"holders", {"S1"}},
           {"records_from_ms", int64_t{1735689600000}},
           {"records_until_ms", int64_t{1780272000000}}}},
         {"basis", "ProceedsOfCrime"}}}},
      {"purpose", "To trace the proceeds of the trafficking and identify the persons who operated the account, for "
                  "the prosecution of the organisers in Palermo."},
      {"deadline",
       {{"deadline_ms", int64_t{1798761600000}},
        {"urgency", {"ChildInvolved", "RiskOfDissipationOfAssets"}},
        {"reason_for_urgency", "A child victim is involved and funds are still being moved out of the account."}}},
      {"language", "en"},
      {"confidentiality", {{"requested", true}, {"scope", "The existence and content of this request (UNTOC 18(20))"}}},
      {"speciality_acknowledged", true}};
}

// UNTOC Art. 16(9): S1 has a flight booked.
inline BodyJson ProvisionalArrestBody() {
  return {{"requesting_authority", PalermoProsecutor()},
          {"legal_basis", {{"basis", "Untoc"}, {"provisions", {"Art. 16(9)"}}}},
          {"person_sought", SuspectS1()},
          {"offences", {TraffickingOffence()}},
          {"trafficking", TraffickingElements()},
          {"summary_of_facts", "S1 organised the recruitment of V1-V13 in Edo and Lagos States in 2025-2026."},
          {"warrant", ArrestWarrant()},
          {"penalty", {{"custody_months", 240}}},
          {"urgency",
           {{"urgency", {"RiskOfFlight"}},
            {"reason_for_urgency", "S1 has a flight booked from Lagos to Dubai in three days."}}},
          {"full_request_to_follow", true},
          {"language", "en"}};
}

// UNTOC Art. 16: the full request that follows the provisional arrest.
inline BodyJson ExtraditionBody() {
  return {{"requesting_authority", PalermoProsecutor()},
          {"legal_basis", {{"basis", "Untoc"}, {"provisions", {"Art. 16"}}}},
          {"purpose", "Prosecution"},
          {"person_sought", SuspectS1()},
          {"offences", {TraffickingOffence()}},
          {"trafficking", TraffickingElements()},
          {"summary_of_facts", "S1 organised the recruitment of V1-V13 in Edo and Lagos States in 2025-2026 and "
                               "received the recruitment fees into account P1."},
          {"warrants_and_judgments", {ArrestWarrant()}},
          {"penalty_imposable", {{"custody_months", 240}}},
          {"dual_criminality_statement",
           "Trafficking in persons is an offence in both states (IT: c.p. art. 601; NG: TIPPEA 2015 s. 13)."},
          {"language", "en"}};
}

// Protocol Art. 13: a Thai passport found on a victim.
inline BodyJson DocumentVerificationBody() {
  return {{"requesting_authority", PalermoProsecutor()},
          {"legal_basis", {{"basis", "PalermoProtocol"}, {"provisions", {"Art. 13"}}}},
          {"document", {{"type", "Passport"}, {"number", "AA1234567"}, {"issuing_state", "TH"}}},
          {"doubt_reasons", {"SuspectedForgery"}},
          {"offences", {TraffickingOffence()}},
          {"trafficking", TraffickingElements()},
          {"language", "en"}};
}

// Protocol Art. 8(3): a victim found in Ragusa says she is British.
inline BodyJson NationalityVerificationBody() {
  return {{"requesting_authority", PalermoProsecutor()},
          {"legal_basis", {{"basis", "PalermoProtocol"}, {"provisions", {"Art. 8(3)"}}}},
          {"person",
           {{"label", "V7"}, {"role", "Victim"}, {"family_name", "A."}, {"sex", "Female"}, {"nationalities", {"GB"}}}},
          {"claimed_status", "National"},
          {"claimed_state", "GB"},
          {"supporting_information", "V7 states she was born in Manchester; she holds no documents."},
          {"travel_documents_needed", true},
          {"return_contemplated", true},
          {"consent_to_disclosure", true},
          {"offences", {TraffickingOffence()}},
          {"trafficking", TraffickingElements()},
          {"language", "en"}};
}

}  // namespace mlahub::cli::demo
