#include "mlahub/schemas/kinds.h"

#include <cctype>

namespace mlahub::schemas {
namespace {

// What this file knows about a kind beyond the schema: extra short names and
// the instrument it rests on. Kinds missing here (added to common.fbs later)
// still work under their names, with an empty legal basis.
struct KindExtras {
  wire::MessageKind kind;
  std::vector<std::string_view> aliases;  // beyond the names every kind has
  std::string_view legal_basis;
};

const std::vector<KindExtras>& Extras() {
  using K = wire::MessageKind;
  static const auto* extras = new std::vector<KindExtras>{
      {K::MlaRequest, {}, "UNTOC Art. 18"},
      {K::ExtraditionRequest, {}, "UNTOC Art. 16"},
      {K::ProvisionalArrestRequest, {}, "UNTOC Art. 16(9)"},
      {K::ConfiscationRequest, {"asset-tracing"}, "UNTOC Art. 12-14"},
      {K::DocumentVerificationRequest, {}, "Protocol Art. 13"},
      {K::NationalityVerificationRequest, {}, "Protocol Art. 8(3)-(4)"},
      {K::RepatriationRequest, {}, "Protocol Art. 8, 14"},
      {K::InformationExchange, {"spontaneous-information"}, "Protocol Art. 10; UNTOC Art. 18(4)"},
      {K::JointInvestigationProposal, {"joint-investigation", "jit"}, "UNTOC Art. 19"},
      {K::TransferOfProceedingsRequest, {}, "UNTOC Art. 21"},
      {K::Acknowledgement, {"ack"}, "UNTOC Art. 18(13); EIO Directive Art. 16(1)"},
      {K::FurtherInformationRequest, {}, "UNTOC Art. 18(16)"},
      {K::FurtherInformationReply, {}, "UNTOC Art. 18(16)"},
      {K::Decision, {}, "UNTOC Art. 18(21)-(26), 16(7)-(16)"},
      {K::ExecutionReport, {}, "UNTOC Art. 18(3), 18(17), 13"},
      {K::ProgressEnquiry, {}, "UNTOC Art. 18(24)"},
      {K::ProgressReport, {}, "UNTOC Art. 18(24)"},
      {K::Withdrawal, {}, "requesting state"},
      {K::DeadlineExtension, {}, "UNTOC Art. 18(24); EIO Art. 12; EAW Art. 17, 23"},
      {K::SurrenderArrangement, {"surrender"}, "UNTOC Art. 16; EAW Art. 23"},
      {K::ProsecutionSubmissionNotice, {"prosecution-submission"}, "UNTOC Art. 16(10)"},
      {K::VerificationResult, {}, "Protocol Art. 8(3)-(4), 13"},
      {K::CaseClosed, {}, "either side"},
  };
  return *extras;
}

// "ProvisionalArrestRequest" -> "provisional-arrest-request".
std::string Kebab(std::string_view camel) {
  std::string out;
  for (char c : camel) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (!out.empty()) out += '-';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}


// Every known kind, in MessageKind order. The accepted spellings are those
// envelope seal accepts (the name, its kebab-case, and that without
// "-request"), plus the aliases above.
std::vector<KindInfo> BuildKinds() {
  std::vector<KindInfo> out;
  for (wire::MessageKind k : wire::EnumValuesMessageKind()) {
    if (k == wire::MessageKind::Unspecified) continue;
    KindInfo i;
    i.kind = k;
    i.name = wire::EnumNameMessageKind(k);
    std::string kebab = Kebab(i.name);
    i.alias = kebab;
    if (i.alias.size() > 8 && i.alias.ends_with("-request")) i.alias.resize(i.alias.size() - 8);
    i.names = {i.name, kebab, i.alias};
    i.is_request = static_cast<uint8_t>(k) < 32;
    for (const auto& e : Extras()) {
      if (e.kind != k) continue;
      for (auto a : e.aliases) i.names.emplace_back(a);
      i.legal_basis = e.legal_basis;
    }
    out.push_back(std::move(i));
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const std::vector<KindInfo>& AllKinds() {
  static const auto* kinds = new std::vector<KindInfo>(BuildKinds());
  return *kinds;
}

bool IsKnownKind(wire::MessageKind kind) {
  for (const auto& k : AllKinds())
    if (k.kind == kind) return true;
  return false;
}

Result<KindInfo> ResolveKind(std::string_view text) {
  std::string want = Lower(text);
  std::string valid;
  for (const auto& k : AllKinds()) {
    for (const auto& n : k.names)
      if (Lower(n) == want) return k;
    valid += valid.empty() ? "" : ", ";
    valid += k.alias;
  }
  return Status::InvalidArgument("unknown kind '" + std::string(text) + "'; valid kinds: " + valid +
                                 " (or their MessageKind names; see: mlahub request kinds)");
}

}  // namespace mlahub::schemas
