// Complete example bodies of every request kind, shared by the workflow tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "mlahub/directory/directory.h"

namespace mlahub::workflow::testing {

using json = nlohmann::ordered_json;

inline json Authority() {
  return {{"name", "Procura della Repubblica presso il Tribunale di Palermo"},
          {"function", "public prosecutor"},
          {"state", "IT"}};
}
inline json Basis(const char* b) { return {{"basis", b}}; }
inline json TipOffence() {
  return {{"name", "Trafficking in persons"},
          {"category", "TraffickingInPersons"},
          {"legal_provisions", {"Codice penale art. 601"}},
          {"provisions_text", "Chiunque recluta, trasporta ..."},
          {"max_penalty", {{"custody_months", 240}}},
          {"committed_from_ms", 1735689600000},
          {"committed_until_ms", 1780272000000},
          {"places", {"Lagos (NG)", "Ragusa (IT)"}}};
}
inline json AdultTrafficking() {
  return {{"acts", {"Recruitment", "Transportation"}},
          {"means", {"Deception", "Coercion"}},
          {"purposes", {"ForcedLabourOrServices"}},
          {"child_victim", false},
          {"victims", {{"adult_male", 3}}},
          {"description", "V1-V3 were promised farm work and held in debt bondage."}};
}
inline json Suspect() {
  return {{"label", "S1"},
          {"role", "Suspect"},
          {"family_name", "Okafor"},
          {"given_names", "Daniel"},
          {"date_of_birth", "1979-03-14"},
          {"nationalities", {"NG"}},
          {"location", "Ikeja, Lagos"}};
}
inline json File(const char* name) {
  json hash = json::array();
  for (int i = 0; i < 32; ++i) hash.push_back(i);
  return {{"file_name", name}, {"size_bytes", 1024}, {"sha256", hash}};
}
inline json Warrant(const char* kind = "ArrestWarrant") {
  return {{"kind", kind},
          {"issuing_authority", Authority()},
          {"issued_date", "2026-06-01"},
          {"reference", "GIP 123/2026"},
          {"is_final", true},
          {"copy", File("warrant.pdf")}};
}

// A complete body of `kind` (no blocking finding under `basis`).
inline json CompleteBody(const std::string& kind) {
  json b;
  if (kind == "MlaRequest") {
    b = {{"requesting_authority", Authority()},
         {"legal_basis", Basis("Untoc")},
         {"proceedings_stage", "Investigation"},
         {"proceedings_subject", "Organised recruitment of workers for forced labour"},
         {"conducting_authority", Authority()},
         {"offences", {TipOffence()}},
         {"trafficking", AdultTrafficking()},
         {"summary_of_facts", "S1 recruited V1-V3 in Lagos; fees were paid into account P1."},
         {"assistance_sought", {"DocumentsAndRecords"}},
         {"assistance_items",
          {{{"label", "A1"},
            {"type", "DocumentsAndRecords"},
            {"description", "Certified statements of account P1"},
            {"property", {"P1"}}}}},
         {"persons_concerned", {Suspect()}},
         {"property",
          {{{"label", "P1"},
            {"type", "BankAccount"},
            {"description", "Account of S1"},
            {"account", {{"account_number", "0123456789"}, {"institution", "A bank, Lagos"}}}}}},
         {"purpose", "To trace the proceeds for the prosecution in Palermo."},
         {"language", "en"}};
  } else if (kind == "ExtraditionRequest") {
    b = {{"requesting_authority", Authority()},
         {"legal_basis", Basis("Untoc")},
         {"purpose", "Prosecution"},
         {"person_sought", Suspect()},
         {"offences", {TipOffence()}},
         {"trafficking", AdultTrafficking()},
         {"summary_of_facts", "S1 organised the recruitment of V1-V3 in 2025."},
         {"warrants_and_judgments", {Warrant()}},
         {"penalty_imposable", {{"custody_months", 240}}},
         {"dual_criminality_statement",
          "Trafficking is an offence in both states (NG TIPPEA s. 13)."},
         {"language", "en"}};
  } else if (kind == "ProvisionalArrestRequest") {
    b = {{"requesting_authority", Authority()},
         {"legal_basis", Basis("Untoc")},
         {"person_sought", Suspect()},
         {"offences", {TipOffence()}},
         {"trafficking", AdultTrafficking()},
         {"summary_of_facts", "S1 organised the recruitment of V1-V3 in 2025."},
         {"warrant", Warrant()},
         {"penalty", {{"custody_months", 240}}},
         {"urgency",
          {{"urgency", {"RiskOfFlight"}}, {"reason_for_urgency", "S1 has a flight booked."}}},
         {"full_request_to_follow", true},
         {"language", "en"}};
  } else if (kind == "ConfiscationRequest") {
    b = {{"requesting_authority", Authority()},
         {"legal_basis", Basis("Untoc")},
         {"proceedings_stage", "Confiscation"},
         {"proceedings_subject", "Confiscation of the proceeds of trafficking"},
         {"conducting_authority", Authority()},
         {"offences", {TipOffence()}},
         {"trafficking", AdultTrafficking()},
         {"summary_of_facts", "Fees from V1-V3 were paid into P1."},
         {"measures", {"EnforceConfiscationOrder"}},
         {"actions_requested", "Give effect to the confiscation order over P1."},
         {"property",
          {{{"label", "P1"}, {"type", "RealEstate"}, {"description", "A house in Lekki, Lagos"}}}},
         {"order", Warrant("ConfiscationOrder")},
         {"extent_of_execution", "The whole of P1."},
         {"purpose", "To confiscate the proceeds and compensate the victims (UNTOC 14(2))."},
         {"language", "en"}};
  } else if (kind == "DocumentVerificationRequest") {
    b = {{"requesting_authority", Authority()},
         {"legal_basis", Basis("PalermoProtocol")},
         {"document", {{"type", "Passport"}, {"number", "A01234567"}, {"issuing_state", "NG"}}},
         {"doubt_reasons", {"SuspectedForgery"}},
         {"offences", {TipOffence()}},
         {"trafficking", AdultTrafficking()},
         {"language", "en"}};
  } else if (kind == "NationalityVerificationRequest") {
    b = {{"requesting_authority", Authority()},
         {"legal_basis", Basis("PalermoProtocol")},
         {"person", {{"label", "V1"}, {"role", "Victim"}, {"family_name", "A."}}},
         {"claimed_status", "National"},
         {"claimed_state", "NG"},
         {"offences", {TipOffence()}},
         {"trafficking", AdultTrafficking()},
         {"language", "en"}};
  } else if (kind == "RepatriationRequest") {
    b = {{"requesting_authority", Authority()},
         {"legal_basis", Basis("PalermoProtocol")},
         {"victim", {{"label", "V1"}, {"role", "Victim"}}},
         {"voluntary", true},
         {"consent_recorded_ms", 1780272000000},
         {"safety_assessment", {{"risk_level", "Low"}, {"non_refoulement_considered", true}}},
         {"offences", {TipOffence()}},
         {"trafficking", AdultTrafficking()},
         {"language", "en"}};
  } else if (kind == "InformationExchange") {
    b = {{"sending_authority", Authority()},
         {"legal_basis", Basis("PalermoProtocol")},
         {"spontaneous", true},
         {"topics", {"Routes"}},
         {"content", "Victims are moved through Agadez to Tripoli."},
         {"offences", {TipOffence()}},
         {"trafficking", AdultTrafficking()},
         {"language", "en"}};
  } else if (kind == "JointInvestigationProposal") {
    b = {{"proposing_authority", Authority()},
         {"legal_basis", Basis("Untoc")},
         {"purpose", "A joint team on the Lagos-Ragusa network."},
         {"summary_of_facts", "S1 recruits in Lagos, S2 exploits in Ragusa."},
         {"offences", {TipOffence()}},
         {"trafficking", AdultTrafficking()},
         {"participating_authorities", {Authority()}},
         {"scope", "Financial investigation and interviews, 2025-2026."},
         {"language", "en"}};
  } else if (kind == "TransferOfProceedingsRequest") {
    b = {{"requesting_authority", Authority()},
         {"legal_basis", Basis("Untoc")},
         {"proceedings_stage", "Prosecution"},
         {"conducting_authority", Authority()},
         {"persons_concerned", {Suspect()}},
         {"offences", {TipOffence()}},
         {"trafficking", AdultTrafficking()},
         {"case_summary", "S1 is charged; the evidence is in Nigeria."},
         {"transfer_reasons", {"PersonPresent"}},
         {"reasons", "S1 lives in Lagos and cannot be extradited."},
         {"case_file", {{"files", {File("case-file.pdf")}}}},
         {"language", "en"}};
  }
  return b;
}

inline directory::Entry Node(const char* id, bool untoc, bool protocol,
                             std::vector<std::string> languages = {"en"}) {
  directory::Entry e;
  e.identity.id = *NodeId::Parse(id);
  e.name = id;
  e.languages = std::move(languages);
  e.untoc_party = untoc;
  e.protocol_party = protocol;
  uint8_t n = static_cast<uint8_t>(id[0] + id[1] + id[3]);
  e.identity.sign_key[0] = n;
  e.identity.enc_key[0] = n;
  e.identity.curve_key[0] = n;
  return e;
}

}  // namespace mlahub::workflow::testing
