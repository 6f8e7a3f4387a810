// Request files: the header fields a sender chooses plus the body
// (workflow/README.md "Request files").
#include <nlohmann/json.hpp>

#include "mlahub/schemas/kinds.h"
#include "mlahub/workflow/check.h"

namespace mlahub::workflow {

using json = nlohmann::ordered_json;

namespace {

template <typename E>
Result<E> ParseEnum(const json& v, const char* const* names, const char* what) {
  std::string known;
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    for (int i = 0; names[i] != nullptr; ++i) {
      if (names[i][0] == '\0') continue;
      if (s == names[i]) return static_cast<E>(i);
    }
  }
  for (int i = 0; names[i] != nullptr; ++i)
    if (names[i][0] != '\0') known += std::string(known.empty() ? "" : ", ") + names[i];
  return Status::InvalidArgument(std::string("\"") + what + "\": " + v.dump() +
                                 " is not one of: " + known);
}

}  // namespace

Result<Draft> ParseDraft(std::string_view text, wire::MessageKind kind_if_bare) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return Status::Malformed("the request file is not valid JSON");
  if (!j.is_object()) return Status::Malformed("the request file must be a JSON object");
  Draft d;
  if (!j.contains("body")) {
    if (kind_if_bare == wire::MessageKind::Unspecified)
      return Status::InvalidArgument(
          "the file has no \"body\": a request file is {\"kind\", \"to\", \"legal_basis\", "
          "\"language\", \"priority\", \"case_ref\", \"body\"} (workflow/README.md); for a bare "
          "body give --kind");
    d.kind = kind_if_bare;
    d.body_json = j.dump(2);
    if (j.contains("language") && j["language"].is_string())
      d.language = j["language"].get<std::string>();
    if (j.contains("legal_basis") && j["legal_basis"].is_object() &&
        j["legal_basis"].contains("basis")) {
      auto b = ParseEnum<wire::LegalBasis>(j["legal_basis"]["basis"], wire::EnumNamesLegalBasis(),
                                           "legal_basis.basis");
      if (b.ok()) d.legal_basis = *b;
    }
    return d;
  }
  static const char* const kKeys[] = {"kind",     "from",     "to",   "legal_basis", "language",
                                      "priority", "case_ref", "body", "comment"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : kKeys) known = known || it.key() == k;
    if (!known)
      return Status::InvalidArgument("unknown key \"" + it.key() +
                                     "\" in the request file (keys: kind, from, to, legal_basis, "
                                     "language, priority, case_ref, comment, body)");
  }
  auto str = [&](const char* k, std::string& out) -> Status {
    if (!j.contains(k) || j[k].is_null()) return Status::Ok();
    if (!j[k].is_string())
      return Status::InvalidArgument(std::string("\"") + k + "\" must be a string");
    out = j[k].get<std::string>();
    return Status::Ok();
  };
  if (j.contains("kind")) {
    if (!j["kind"].is_string()) return Status::InvalidArgument("\"kind\" must be a string");
    MLAHUB_ASSIGN_OR_RETURN(auto k, schemas::ResolveKind(j["kind"].get<std::string>()));
    d.kind = k.kind;
  } else {
    d.kind = kind_if_bare;
  }
  MLAHUB_RETURN_IF_ERROR(str("from", d.from));
  MLAHUB_RETURN_IF_ERROR(str("to", d.to));
  MLAHUB_RETURN_IF_ERROR(str("language", d.language));
  MLAHUB_RETURN_IF_ERROR(str("case_ref", d.case_ref));
  if (j.contains("legal_basis") && !j["legal_basis"].is_null()) {
    MLAHUB_ASSIGN_OR_RETURN(
        d.legal_basis,
        ParseEnum<wire::LegalBasis>(j["legal_basis"], wire::EnumNamesLegalBasis(), "legal_basis"));
  }
  if (j.contains("priority") && !j["priority"].is_null()) {
    MLAHUB_ASSIGN_OR_RETURN(d.priority, ParseEnum<wire::Priority>(
                                            j["priority"], wire::EnumNamesPriority(), "priority"));
  }
  if (!j["body"].is_object()) return Status::InvalidArgument("\"body\" must be a JSON object");
  d.body_json = j["body"].dump(2);
  return d;
}

Result<std::string> DraftToJson(const Draft& d) {
  json body = json::parse(d.body_json, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return Status::Malformed("the draft's body is not a JSON object");
  json j;
  j["kind"] = d.kind == wire::MessageKind::Unspecified ? "" : wire::EnumNameMessageKind(d.kind);
  j["from"] = d.from;
  j["to"] = d.to;
  j["legal_basis"] = wire::EnumNameLegalBasis(d.legal_basis);
  j["language"] = d.language;
  j["priority"] = wire::EnumNamePriority(d.priority);
  j["case_ref"] = d.case_ref;
  j["body"] = std::move(body);
  return j.dump(2) + "\n";
}

}  // namespace mlahub::workflow
