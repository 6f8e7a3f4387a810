#include "mlahub/workflow/check.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "mlahub/schemas/content_generated.h"
#include "mlahub/schemas/json_codec.h"
#include "mlahub/schemas/kinds.h"
#include "mlahub/schemas/requests_generated.h"
#include "schema_walk.h"

namespace mlahub::workflow {

using json = nlohmann::ordered_json;
using internal::Attribute;
using internal::Doc;
using internal::FieldObject;
using internal::FieldsById;
using internal::FindObject;
using internal::FirstCitation;

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kMissing:
      return "missing";
    case Severity::kRefused:
      return "refused";
    case Severity::kWarning:
      return "warning";
  }
  return "warning";
}

bool Blocks(const std::vector<Finding>& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity != Severity::kWarning; });
}

namespace {

// ---- JSON helpers ---------------------------------------------------------

const json* Get(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(std::string(key));
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string Str(const json& j, std::string_view key) {
  const json* v = Get(j, key);
  return v != nullptr && v->is_string() ? Trim(v->get<std::string>()) : "";
}

bool True(const json& j, std::string_view key) {
  const json* v = Get(j, key);
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

bool False(const json& j, std::string_view key) {
  const json* v = Get(j, key);
  return v != nullptr && v->is_boolean() && !v->get<bool>();
}

int64_t Num(const json& j, std::string_view key) {
  const json* v = Get(j, key);
  if (v == nullptr) return 0;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_unsigned()) return static_cast<int64_t>(v->get<uint64_t>());
  if (v->is_string()) {
    try {
      return std::stoll(v->get<std::string>());
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

// An enum value as FlatBuffers prints it (identifier) or as a number.
std::string EnumStr(const json& v, const char* const* names) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer() && names != nullptr) {
    int64_t i = v.get<int64_t>();
    for (int64_t k = 0; names[k] != nullptr; ++k)
      if (k == i) return names[k];
  }
  return "";
}

bool ArrayHas(const json& j, std::string_view key, std::string_view value) {
  const json* v = Get(j, key);
  if (v == nullptr || !v->is_array()) return false;
  for (const auto& e : *v)
    if (e.is_string() && e.get<std::string>() == value) return true;
  return false;
}

size_t ArraySize(const json& j, std::string_view key) {
  const json* v = Get(j, key);
  return v != nullptr && v->is_array() ? v->size() : 0;
}

// Is the field stated? Strings non-blank, lists and tables non-empty, enums
// not Unspecified, numbers non-zero (0 = "not stated", content.fbs), bools
// present at all (false is an answer).
bool IsPresent(const reflection::Field* f, const json& obj) {
  const json* v = Get(obj, f->name()->c_str());
  if (v == nullptr) return false;
  auto bt = f->type()->base_type();
  switch (bt) {
    case reflection::String:
      return v->is_string() && !Trim(v->get<std::string>()).empty();
    case reflection::Vector:
      return v->is_array() && !v->empty();
    case reflection::Obj:
      return v->is_object() && !v->empty();
    case reflection::Union:
      return true;
    case reflection::Bool:
      return true;
    default:
      break;
  }
  if (f->type()->index() >= 0) {  // an enum
    if (v->is_string())
      return !v->get<std::string>().empty() && v->get<std::string>() != "Unspecified";
    if (v->is_number()) return v->get<double>() != 0;
    return false;
  }
  if (v->is_number()) return v->get<double>() != 0;
  if (v->is_string()) return !v->get<std::string>().empty() && v->get<std::string>() != "0";
  return true;
}

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// ---- the checker ------------------------------------------------------------

class Checker {
 public:
  Checker(wire::MessageKind kind, wire::LegalBasis header_basis, const json& body,
          const directory::Entry* sender, const directory::Entry* recipient, const Draft* header)
      : kind_(kind),
        header_basis_(header_basis),
        body_(body),
        sender_(sender),
        recipient_(recipient),
        header_(header) {
    kind_name_ = wire::EnumNameMessageKind(kind);
    auto info = schemas::ResolveKind(kind_name_);
    if (info.ok()) kind_basis_ = info->legal_basis;
  }

  std::vector<Finding> Run() {
    obj_ = FindObject(kind_name_);
    MLAHUB_CHECK(obj_ != nullptr);
    HeaderRules();
    Walk(obj_, body_, "", true);
    TraffickingRules();
    DeadlineRules();
    LegalBasisRules();
    PropertyRules();
    switch (kind_) {
      case wire::MessageKind::MlaRequest:
        MlaRules();
        break;
      case wire::MessageKind::ConfiscationRequest:
        ConfiscationRules();
        break;
      case wire::MessageKind::ExtraditionRequest:
        ExtraditionRules();
        break;
      case wire::MessageKind::ProvisionalArrestRequest:
        ProvisionalArrestRules();
        break;
      case wire::MessageKind::RepatriationRequest:
        RepatriationRules();
        break;
      case wire::MessageKind::NationalityVerificationRequest:
        NationalityRules();
        break;
      case wire::MessageKind::DocumentVerificationRequest:
        DocumentRules();
        break;
      default:
        break;
    }
    DirectoryRules();
    // Order: by severity (missing, refused, warning), then header fields,
    // then body fields in schema order.
    auto rank = [this](const Finding& f) -> int {
      if (f.path.empty()) return -2;
      if (f.path.rfind("header.", 0) == 0) return -1;
      std::string top = f.path.substr(0, f.path.find_first_of(".["));
      const reflection::Field* fld = internal::FindField(obj_, top);
      return fld == nullptr ? 1000 : fld->id();
    };
    std::stable_sort(out_.begin(), out_.end(), [&](const Finding& a, const Finding& b) {
      if (a.severity != b.severity)
        return static_cast<int>(a.severity) < static_cast<int>(b.severity);
      return rank(a) < rank(b);
    });
    return std::move(out_);
  }

 private:
  void Add(Severity s, std::string path, std::string citation, std::string message) {
    for (const auto& f : out_)
      if (f.path == path && f.severity == s) return;  // one finding per field and severity
    out_.push_back({s, std::move(path), std::move(citation), std::move(message)});
  }

  std::string Cite(const reflection::Field* f) {
    std::string c = FirstCitation(Doc(f));
    return c.empty() ? kind_basis_ : c;
  }

  // A finding for field `name` of table `table` (citation and text from its doc).
  void AddField(Severity s, const std::string& path, const char* table, const char* name,
                std::string citation = {}, std::string why = {}) {
    const reflection::Object* o = FindObject(table);
    const reflection::Field* f = o != nullptr ? internal::FindField(o, name) : nullptr;
    std::string doc = f != nullptr ? Doc(f) : "";
    if (citation.empty()) citation = f != nullptr ? Cite(f) : kind_basis_;
    std::string msg = (s == Severity::kWarning ? "where possible, add " : "add ") + path;
    if (!why.empty()) msg += " (" + why + ")";
    if (!doc.empty()) msg += ": " + doc;
    Add(s, path, std::move(citation), std::move(msg));
  }

  static std::string Path(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
  }

  // Generic rules from the schema's presence attributes. Inside a Person only
  // mandatory fields are asked for: what else to say about a person depends
  // on their role (Protocol Art. 6(1): send only what the request needs), so
  // the person rules below decide.
  void Walk(const reflection::Object* obj, const json& j, const std::string& prefix,
            bool where_possible) {
    for (const reflection::Field* f : FieldsById(obj)) {
      if (f->deprecated()) continue;
      std::string name = f->name()->str();
      std::string path = Path(prefix, name);
      std::string presence = Attribute(f, "presence");
      if (!IsPresent(f, j)) {
        std::string doc = Doc(f);
        if (presence == "mandatory")
          Add(Severity::kMissing, path, Cite(f), "add " + path + (doc.empty() ? "" : ": " + doc));
        else if (presence == "where_possible" && where_possible)
          Add(Severity::kWarning, path, Cite(f),
              "where possible, add " + path + (doc.empty() ? "" : ": " + doc));
        continue;
      }
      const reflection::Object* sub = FieldObject(f);
      if (sub == nullptr) continue;
      bool sub_wp = where_possible && internal::ShortName(sub) != "Person";
      const json& v = *Get(j, name);
      if (f->type()->base_type() == reflection::Vector) {
        for (size_t i = 0; i < v.size(); ++i)
          if (v[i].is_object()) Walk(sub, v[i], path + "[" + std::to_string(i) + "]", sub_wp);
      } else {
        Walk(sub, v, path, sub_wp);
      }
    }
  }

  // ---- header ----
  void HeaderRules() {
    if (header_ == nullptr) return;
    if (header_->to.empty())
      Add(Severity::kMissing, "header.to", "",
          "add the recipient's node id (\"to\": \"NG-AGF\"); see mlahub directory show");
    if (header_->legal_basis == wire::LegalBasis::Unspecified && BodyBasis().empty())
      Add(Severity::kMissing, "header.legal_basis", kind_basis_,
          "add the legal basis (\"legal_basis\": \"Untoc\", \"PalermoProtocol\", "
          "\"BilateralTreaty\", \"Reciprocity\", \"EuEio\", ...)");
    if (header_->language.empty() && Str(body_, "language").empty())
      Add(Severity::kMissing, "header.language", "UNTOC Art. 18(14)",
          "add the language of the request (ISO 639-1, one the recipient accepts)");
    if (!header_->from.empty() && header_->from == header_->to)
      Add(Severity::kRefused, "header.to", "", "the request is addressed to its own sender");
  }

  std::string BodyBasis() {
    const json* lb = Get(body_, "legal_basis");
    if (lb == nullptr) return "";
    const json* b = Get(*lb, "basis");
    if (b == nullptr) return "";
    std::string s = EnumStr(*b, wire::EnumNamesLegalBasis());
    return s == "Unspecified" ? "" : s;
  }

  // The legal basis that counts: the header's, else the body's.
  std::string Basis() {
    if (header_basis_ != wire::LegalBasis::Unspecified)
      return wire::EnumNameLegalBasis(header_basis_);
    return BodyBasis();
  }

  std::string Language() {
    if (header_ != nullptr && !header_->language.empty()) return header_->language;
    return Str(body_, "language");
  }

  // ---- every request ----

  // Every Person in the body, with its path.
  std::vector<std::pair<std::string, const json*>> Persons() {
    std::vector<std::pair<std::string, const json*>> out;
    for (const reflection::Field* f : FieldsById(obj_)) {
      const reflection::Object* sub = FieldObject(f);
      if (sub == nullptr || internal::ShortName(sub) != "Person") continue;
      const json* v = Get(body_, f->name()->c_str());
      if (v == nullptr) continue;
      if (v->is_array()) {
        for (size_t i = 0; i < v->size(); ++i)
          out.push_back({f->name()->str() + "[" + std::to_string(i) + "]", &(*v)[i]});
      } else if (v->is_object()) {
        out.push_back({f->name()->str(), v});
      }
    }
    return out;
  }

  static std::string Role(const json& p) {
    const json* r = Get(p, "role");
    return r == nullptr ? "" : EnumStr(*r, wire::EnumNamesPersonRole());
  }

  bool AnyChildVictim() {
    for (auto& [path, p] : Persons())
      if (True(*p, "is_child") &&
          (Role(*p) == "Victim" || kind_ == wire::MessageKind::RepatriationRequest ||
           kind_ == wire::MessageKind::NationalityVerificationRequest))
        return true;
    return false;
  }

  bool HasTraffickingOffence() {
    const json* offs = Get(body_, "offences");
    if (offs == nullptr || !offs->is_array()) return false;
    for (const auto& o : *offs) {
      const json* c = Get(o, "category");
      if (c != nullptr && EnumStr(*c, wire::EnumNamesOffenceCategory()) == "TraffickingInPersons")
        return true;
    }
    return false;
  }

  void TraffickingRules() {
    if (internal::FindField(obj_, "trafficking") == nullptr) return;
    const json* t = Get(body_, "trafficking");
    bool tip = HasTraffickingOffence();
    bool child_person = AnyChildVictim();
    if (t == nullptr || t->empty()) {
      if (tip)
        Add(Severity::kMissing, "trafficking", "Protocol Art. 3(a)",
            "an offence is trafficking in persons: add trafficking with its elements: the acts "
            "(recruitment, transportation, transfer, harbouring, receipt), the purposes of "
            "exploitation" +
                std::string(child_person ? " (the victim is a child: the means need not be shown, "
                                           "Art. 3(c))"
                                         : " and the means used"));
      if (child_person) ChildPriority();
      return;
    }
    bool child = True(*t, "child_victim") || child_person;
    if (child_person && !True(*t, "child_victim"))
      Add(Severity::kWarning, "trafficking.child_victim", "Protocol Art. 3(c)-(d)",
          "a victim listed in the request is a child: set trafficking.child_victim to true "
          "(the means then need not be shown)");
    if (child) {
      // The means are never asked for where the victim is a child (Art. 3(c)).
      // Counts that show adult victims too: for them the means are an element.
      const json* vc = Get(*t, "victims");
      int64_t adults = 0;
      if (vc != nullptr)
        adults =
            Num(*vc, "adult_female") + Num(*vc, "adult_male") + Num(*vc, "adult_other_or_unknown");
      if (ArraySize(*t, "means") > 0 && vc != nullptr && adults == 0)
        Add(Severity::kWarning, "trafficking.means", "Protocol Art. 3(c)",
            "every victim is a child: the means are not an element of the offence and need not "
            "be shown; keep them only if they matter to the facts");
      if (ArraySize(*t, "means") == 0 && adults > 0)
        Add(Severity::kWarning, "trafficking.means", "Protocol Art. 3(a)",
            "there are adult victims too: for them the means are an element of the offence; "
            "where known, add trafficking.means");
      ChildPriority();
    } else if (ArraySize(*t, "means") == 0) {
      Add(Severity::kMissing, "trafficking.means", "Protocol Art. 3(a)",
          "add trafficking.means: how the victims were controlled (threat, force, coercion, "
          "abduction, fraud, deception, abuse of power or of a position of vulnerability, "
          "payments); not needed only if a victim is a child (then set child_victim true, Art. "
          "3(c))");
    }
    if (ArrayHas(*t, "purposes", "Other") && Str(*t, "purpose_other").empty())
      AddField(Severity::kMissing, "trafficking.purpose_other", "TraffickingElements",
               "purpose_other", "Protocol Art. 3(a)", "purposes include Other");
  }

  void ChildPriority() {
    if (header_ != nullptr && header_->priority != wire::Priority::Urgent)
      Add(Severity::kWarning, "header.priority", "Protocol Art. 6(4)",
          "a victim is a child, a priority category: set \"priority\": \"Urgent\" (and give "
          "ChildInvolved in the deadline's urgency)");
  }

  void CheckDeadline(const std::string& field) {
    const json* d = Get(body_, field);
    if (d == nullptr) return;
    if (Num(*d, "deadline_ms") != 0 && Str(*d, "reason_for_urgency").empty())
      AddField(Severity::kMissing, field + ".reason_for_urgency", "Deadline", "reason_for_urgency",
               "UNTOC Art. 18(24)", "a deadline is set: say why");
  }

  void DeadlineRules() { CheckDeadline("deadline"); }

  void LegalBasisRules() {
    const json* lb = Get(body_, "legal_basis");
    std::string body_basis = BodyBasis();
    if (lb != nullptr) {
      if ((body_basis == "BilateralTreaty" || body_basis == "DomesticLaw") &&
          Str(*lb, "instrument").empty())
        AddField(Severity::kMissing, "legal_basis.instrument", "LegalBasisDetails", "instrument",
                 kind_basis_, "name the treaty or law relied on");
      if (body_basis == "Reciprocity" && Str(*lb, "reciprocity_assurance").empty())
        AddField(Severity::kMissing, "legal_basis.reciprocity_assurance", "LegalBasisDetails",
                 "reciprocity_assurance", kind_basis_, "reciprocity is relied on");
    }
    if (header_basis_ != wire::LegalBasis::Unspecified && !body_basis.empty() &&
        body_basis != wire::EnumNameLegalBasis(header_basis_))
      Add(Severity::kRefused, "legal_basis.basis", "",
          "the body's legal_basis.basis (" + body_basis + ") differs from the header's (" +
              wire::EnumNameLegalBasis(header_basis_) + "): make them the same");
    std::string body_lang = Str(body_, "language");
    if (header_ != nullptr && !header_->language.empty() && !body_lang.empty() &&
        body_lang != header_->language)
      Add(Severity::kRefused, "language", "UNTOC Art. 18(14)",
          "the body's language (" + body_lang + ") differs from the header's (" +
              header_->language + "): make them the same");
  }

  // Property: a bank account needs its account details (PropertyItem.account).
  void PropertyRules() {
    const json* props = Get(body_, "property");
    if (props == nullptr || !props->is_array()) return;
    for (size_t i = 0; i < props->size(); ++i) {
      const json& p = (*props)[i];
      std::string path = "property[" + std::to_string(i) + "]";
      const json* type = Get(p, "type");
      if (type == nullptr || EnumStr(*type, wire::EnumNamesPropertyType()) != "BankAccount")
        continue;
      const json* acc = Get(p, "account");
      if (acc == nullptr || acc->empty()) {
        AddField(Severity::kMissing, path + ".account", "PropertyItem", "account",
                 "UNTOC Art. 18(3)(f)", "the property is a bank account");
      } else if (Str(*acc, "iban").empty() && Str(*acc, "account_number").empty()) {
        AddField(Severity::kMissing, path + ".account.account_number", "BankAccount",
                 "account_number", "UNTOC Art. 18(3)(f)", "the account has no IBAN");
      }
    }
  }

  // UNTOC 18(15)(e): where possible, identity, location and nationality of
  // the persons concerned; victims are named only as far as needed (Protocol
  // Art. 6(1)).
  void PersonsConcernedRules() {
    for (auto& [path, p] : Persons()) {
      if (Role(*p) == "Victim") continue;
      if (Str(*p, "family_name").empty() && Str(*p, "given_names").empty())
        AddField(Severity::kWarning, path + ".family_name", "Person", "family_name",
                 "UNTOC Art. 18(15)(e)", "identity");
      if (ArraySize(*p, "nationalities") == 0)
        AddField(Severity::kWarning, path + ".nationalities", "Person", "nationalities",
                 "UNTOC Art. 18(15)(e)", "nationality");
      if (Str(*p, "location").empty() && Str(*p, "last_known_address").empty())
        AddField(Severity::kWarning, path + ".location", "Person", "location",
                 "UNTOC Art. 18(15)(e)", "location");
    }
  }

  std::set<std::string> Labels(const char* field) {
    std::set<std::string> out;
    const json* v = Get(body_, field);
    if (v != nullptr && v->is_array())
      for (const auto& e : *v) out.insert(Str(e, "label"));
    return out;
  }

  // ---- per kind ----
  void MlaRules() {
    const json* sought = Get(body_, "assistance_sought");
    std::set<std::string> types;
    if (sought != nullptr && sought->is_array())
      for (const auto& t : *sought) types.insert(EnumStr(t, wire::EnumNamesAssistanceType()));
    const json* items = Get(body_, "assistance_items");
    std::set<std::string> item_types;
    if (items != nullptr && items->is_array())
      for (const auto& it : *items)
        if (const json* t = Get(it, "type"))
          item_types.insert(EnumStr(*t, wire::EnumNamesAssistanceType()));
    std::set<std::string> all = types;
    all.insert(item_types.begin(), item_types.end());
    all.erase("Unspecified");
    bool service_only =
        !all.empty() && all.size() == 1 && *all.begin() == "ServiceOfJudicialDocuments";
    if (!service_only && Str(body_, "summary_of_facts").empty())
      AddField(Severity::kMissing, "summary_of_facts", "MlaRequest", "summary_of_facts",
               "UNTOC Art. 18(15)(c)");
    bool property_needed =
        all.count("SearchSeizureAndFreezing") || all.count("IdentifyingOrTracingProceeds");
    if (property_needed && ArraySize(body_, "property") == 0)
      AddField(Severity::kMissing, "property", "MlaRequest", "property", "UNTOC Art. 18(3)(c), (g)",
               "search, seizure, freezing or tracing of property is sought");
    for (const auto& t : item_types)
      if (t != "Unspecified" && !types.count(t))
        Add(Severity::kWarning, "assistance_sought", "UNTOC Art. 18(15)(d)",
            "an assistance item is of type " + t +
                ", which assistance_sought does not list: add it");
    // Labels that items refer to must exist.
    std::set<std::string> persons = Labels("persons_concerned"), property = Labels("property");
    if (items != nullptr && items->is_array()) {
      for (size_t i = 0; i < items->size(); ++i) {
        const json& it = (*items)[i];
        for (const char* ref : {"persons", "property"}) {
          const json* refs = Get(it, ref);
          if (refs == nullptr || !refs->is_array()) continue;
          const auto& known = std::string(ref) == "persons" ? persons : property;
          for (const auto& r : *refs)
            if (r.is_string() && !known.count(r.get<std::string>()))
              Add(Severity::kWarning, "assistance_items[" + std::to_string(i) + "]." + ref,
                  "UNTOC Art. 18(15)(d)",
                  "refers to " + r.get<std::string>() + ", which is not a label in " +
                      (std::string(ref) == "persons" ? "persons_concerned" : "property"));
        }
      }
    }
    PersonsConcernedRules();
  }

  void ConfiscationRules() {
    const json* m = Get(body_, "measures");
    std::set<std::string> measures;
    if (m != nullptr && m->is_array())
      for (const auto& e : *m) measures.insert(EnumStr(e, wire::EnumNamesConfiscationMeasure()));
    const json* order = Get(body_, "order");
    bool has_order = order != nullptr && !order->empty();
    if (measures.count("EnforceConfiscationOrder")) {
      if (!has_order)
        AddField(Severity::kMissing, "order", "ConfiscationRequest", "order", "UNTOC Art. 13(3)(b)",
                 "the confiscation order to be enforced, a legally admissible copy");
      if (Str(body_, "extent_of_execution").empty())
        AddField(Severity::kMissing, "extent_of_execution", "ConfiscationRequest",
                 "extent_of_execution", "UNTOC Art. 13(3)(b)");
    } else if ((measures.count("Freezing") || measures.count("Seizure")) && !has_order) {
      AddField(Severity::kWarning, "order", "ConfiscationRequest", "order", "UNTOC Art. 13(3)(c)",
               "where available, a legally admissible copy of the freezing or seizure order");
    }
    PersonsConcernedRules();
  }

  void PersonSoughtRules(const char* field) {
    const json* p = Get(body_, field);
    if (p == nullptr || p->empty()) return;
    std::string path = field;
    if (Str(*p, "family_name").empty() && Str(*p, "given_names").empty())
      AddField(Severity::kMissing, path + ".family_name", "Person", "family_name", "UNTOC Art. 16",
               "the identity of the person sought");
    if (ArraySize(*p, "nationalities") == 0)
      AddField(Severity::kWarning, path + ".nationalities", "Person", "nationalities",
               "UNTOC Art. 16(10)-(11)", "nationality decides whether Art. 16(10) applies");
    if (Str(*p, "location").empty() && Str(*p, "last_known_address").empty())
      AddField(Severity::kWarning, path + ".location", "Person", "location", "UNTOC Art. 16",
               "where the person is believed to be");
    if (Str(*p, "date_of_birth").empty())
      AddField(Severity::kWarning, path + ".date_of_birth", "Person", "date_of_birth",
               "UNTOC Art. 16", "identity");
  }

  void OffencePenalties() {
    const json* offs = Get(body_, "offences");
    if (offs == nullptr || !offs->is_array()) return;
    for (size_t i = 0; i < offs->size(); ++i) {
      const json* mp = Get((*offs)[i], "max_penalty");
      if (mp == nullptr || mp->empty())
        AddField(Severity::kMissing, "offences[" + std::to_string(i) + "].max_penalty", "Offence",
                 "max_penalty", "UNTOC Art. 16(7)", "extradition depends on the penalty");
    }
  }

  void ExtraditionRules() {
    PersonSoughtRules("person_sought");
    OffencePenalties();
    const json* purpose = Get(body_, "purpose");
    std::string p =
        purpose != nullptr ? EnumStr(*purpose, wire::EnumNamesExtraditionPurpose()) : "";
    auto empty_obj = [&](const char* k) {
      const json* v = Get(body_, k);
      return v == nullptr || v->empty();
    };
    const json* wj = Get(body_, "warrants_and_judgments");
    std::set<std::string> decision_kinds;
    bool in_absentia = false;
    if (wj != nullptr && wj->is_array())
      for (const auto& d : *wj) {
        if (const json* k = Get(d, "kind"))
          decision_kinds.insert(EnumStr(*k, wire::EnumNamesJudicialDecisionKind()));
        in_absentia = in_absentia || True(d, "in_absentia");
      }
    if (p == "Prosecution") {
      if (empty_obj("penalty_imposable"))
        AddField(Severity::kMissing, "penalty_imposable", "ExtraditionRequest", "penalty_imposable",
                 "UNTOC Art. 16(7)", "extradition for prosecution");
      if (wj != nullptr && !decision_kinds.count("ArrestWarrant") &&
          !decision_kinds.count("DetentionOrder"))
        Add(Severity::kWarning, "warrants_and_judgments", "UNTOC Art. 16(8)",
            "extradition for prosecution normally rests on a warrant of arrest (kind "
            "ArrestWarrant or DetentionOrder): add it");
    } else if (p == "EnforcementOfSentence") {
      if (empty_obj("sentence_imposed"))
        AddField(Severity::kMissing, "sentence_imposed", "ExtraditionRequest", "sentence_imposed",
                 "UNTOC Art. 16(12)", "extradition to enforce a sentence");
      if (Num(body_, "sentence_remaining_days") == 0)
        AddField(Severity::kMissing, "sentence_remaining_days", "ExtraditionRequest",
                 "sentence_remaining_days", "UNTOC Art. 16(12)",
                 "extradition to enforce a sentence");
      if (wj != nullptr && !decision_kinds.count("Judgment"))
        Add(Severity::kWarning, "warrants_and_judgments", "UNTOC Art. 16(12)",
            "extradition to enforce a sentence rests on the judgment (kind Judgment): add it");
    }
    if (in_absentia && Str(body_, "retrial_guarantee").empty())
      AddField(Severity::kMissing, "retrial_guarantee", "ExtraditionRequest", "retrial_guarantee",
               "UNTOC Art. 16(7)", "a judgment was rendered in absentia");
  }

  void ProvisionalArrestRules() {
    PersonSoughtRules("person_sought");
    OffencePenalties();
    if (False(body_, "full_request_to_follow"))
      Add(Severity::kMissing, "full_request_to_follow", "UNTOC Art. 16(9)",
          "a provisional arrest is granted pending an extradition request: state that the full "
          "request will follow (full_request_to_follow: true)");
    const json* u = Get(body_, "urgency");
    if (u != nullptr && !u->empty() && ArraySize(*u, "urgency") == 0 &&
        Str(*u, "reason_for_urgency").empty())
      AddField(Severity::kMissing, "urgency.reason_for_urgency", "Deadline", "reason_for_urgency",
               "UNTOC Art. 16(9)", "why the case is urgent");
    CheckDeadline("urgency");
  }

  void RepatriationRules() {
    const json* victim = Get(body_, "victim");
    if (victim != nullptr && !victim->empty() && Role(*victim) != "Victim" &&
        !Role(*victim).empty())
      Add(Severity::kWarning, "victim.role", "Protocol Art. 8",
          "a repatriation concerns a victim of trafficking: set victim.role to Victim");
    if (True(body_, "voluntary") && Num(body_, "consent_recorded_ms") == 0)
      AddField(Severity::kMissing, "consent_recorded_ms", "RepatriationRequest",
               "consent_recorded_ms", "Protocol Art. 8(2)",
               "the return is voluntary: when was informed consent recorded?");
    if (False(body_, "voluntary"))
      Add(Severity::kWarning, "voluntary", "Protocol Art. 8(2)",
          "the return is not voluntary: it \"shall preferably be voluntary\"; record the person's "
          "view and why a return without consent is proposed");
    const json* sa = Get(body_, "safety_assessment");
    if (sa != nullptr && !sa->empty()) {
      if (False(*sa, "non_refoulement_considered"))
        Add(Severity::kMissing, "safety_assessment.non_refoulement_considered",
            "Protocol Art. 14(1)",
            "the principle of non-refoulement must be considered before a return: assess it and "
            "set non_refoulement_considered to true");
      const json* rl = Get(*sa, "risk_level");
      if (rl != nullptr && EnumStr(*rl, wire::EnumNamesRiskLevel()) == "High")
        Add(Severity::kWarning, "safety_assessment.risk_level", "Protocol Art. 8(2), 14(1)",
            "the risk of return is High: a return must have due regard for the person's safety; "
            "consider a residence permit (Art. 7) instead");
      const json* pc = Get(*sa, "protection_claim");
      if (pc != nullptr && EnumStr(*pc, wire::EnumNamesProtectionClaim()) == "Pending")
        Add(Severity::kWarning, "safety_assessment.protection_claim", "Protocol Art. 14(1)",
            "a claim for international protection is pending: no return before it is decided "
            "(non-refoulement)");
    }
    bool child = (victim != nullptr && True(*victim, "is_child"));
    if (const json* t = Get(body_, "trafficking")) child = child || True(*t, "child_victim");
    const json* cs = Get(body_, "child_safeguards");
    if (child && (cs == nullptr || cs->empty()))
      AddField(Severity::kMissing, "child_safeguards", "RepatriationRequest", "child_safeguards",
               "Protocol Art. 6(4)", "the victim is a child");
    if (cs != nullptr && True(*cs, "guardian_appointed") && Str(*cs, "guardian").empty())
      AddField(Severity::kMissing, "child_safeguards.guardian", "ChildSafeguards", "guardian",
               "Protocol Art. 6(4)", "a guardian was appointed");
    if (child) ChildPriority();
  }

  std::string RecipientState() {
    if (header_ == nullptr || header_->to.size() < 2) return "";
    return header_->to.substr(0, 2);
  }

  void NationalityRules() {
    std::string st = RecipientState(), claimed = Str(body_, "claimed_state");
    if (!st.empty() && !claimed.empty() && claimed != st)
      Add(Severity::kWarning, "claimed_state", "Protocol Art. 8(3)",
          "the person claims to be of " + claimed + " but the request goes to " + header_->to +
              ": the state of claimed nationality or residence verifies it");
    if (False(body_, "consent_to_disclosure"))
      Add(Severity::kWarning, "consent_to_disclosure", "Protocol Art. 6(1), 14(1)",
          "the person has not agreed to the disclosure of their identity to this state: where "
          "they seek protection, contacting it may endanger them");
  }

  void DocumentRules() {
    const json* d = Get(body_, "document");
    std::string st = RecipientState();
    if (d != nullptr && !st.empty() && !Str(*d, "issuing_state").empty() &&
        Str(*d, "issuing_state") != st)
      Add(Severity::kWarning, "document.issuing_state", "Protocol Art. 13",
          "the document was issued in the name of " + Str(*d, "issuing_state") +
              ", but the request goes to " + header_->to +
              ": the state in whose name it was issued verifies it");
  }

  // ---- the directory: kinds, languages, treaty status ----
  void DirectoryRules() {
    if (recipient_ == nullptr) {
      Add(Severity::kWarning, "header.to", "",
          "no directory entry for the recipient: its accepted kinds and languages and its "
          "treaty status were not checked (give --directory and --to)");
    } else {
      if (!recipient_->Accepts(kind_)) {
        std::vector<std::string> acc;
        for (auto k : recipient_->accepts) acc.push_back(wire::EnumNameMessageKind(k));
        Add(Severity::kRefused, "header.kind", "directory: capabilities of the recipient",
            std::string(recipient_->identity.id.str()) + " does not accept " + kind_name_ +
                " (it accepts: " + Join(acc, ", ") + ")");
      }
      std::string lang = Language();
      if (!lang.empty() && !recipient_->languages.empty() &&
          std::find(recipient_->languages.begin(), recipient_->languages.end(), lang) ==
              recipient_->languages.end()) {
        std::string msg =
            std::string(recipient_->identity.id.str()) + " does not accept requests in \"" + lang +
            "\"; it accepts: " + Join(recipient_->languages, ", ") + ": translate the request";
        if (!recipient_->untoc_18_14.empty())
          msg += " (its notification: " + recipient_->untoc_18_14 + ")";
        Add(Severity::kRefused, "language", "UNTOC Art. 18(14)", msg);
      }
    }
    std::string basis = Basis();
    auto party_check = [&](const char* instrument, const char* cite, bool directory::Entry::*flag) {
      std::vector<std::string> not_parties;
      for (const directory::Entry* e : {sender_, recipient_})
        if (e != nullptr && !(e->*flag)) not_parties.push_back(std::string(e->identity.id.str()));
      if (!not_parties.empty())
        Add(Severity::kRefused, "legal_basis.basis", cite,
            std::string(instrument) +
                " is a legal basis only between its States Parties; the "
                "directory does not list " +
                Join(not_parties, " and ") +
                " as a party: rely on a treaty, domestic law or reciprocity instead");
      else if (sender_ == nullptr && recipient_ != nullptr)
        Add(Severity::kWarning, "legal_basis.basis", cite,
            "the sender's party status was not checked (give --from)");
    };
    if (basis == "Untoc") {
      const char* cite = "UNTOC Art. 18(1)";
      if (kind_ == wire::MessageKind::ExtraditionRequest ||
          kind_ == wire::MessageKind::ProvisionalArrestRequest)
        cite = "UNTOC Art. 16(4)";
      party_check("UNTOC", cite, &directory::Entry::untoc_party);
    } else if (basis == "PalermoProtocol") {
      party_check("The Trafficking in Persons Protocol", "Protocol Art. 1; UNTOC Art. 37(2)",
                  &directory::Entry::protocol_party);
    }
  }

  wire::MessageKind kind_;
  wire::LegalBasis header_basis_;
  const json& body_;
  const directory::Entry* sender_;
  const directory::Entry* recipient_;
  const Draft* header_;
  std::string kind_name_;
  std::string kind_basis_;
  const reflection::Object* obj_ = nullptr;
  std::vector<Finding> out_;
};

Status CheckRequestKind(wire::MessageKind kind) {
  auto v = static_cast<int>(kind);
  if (v < 1 || v > 31 || !schemas::IsKnownKind(kind))
    return Status::InvalidArgument(std::string("kind ") + wire::EnumNameMessageKind(kind) +
                                   " is not a request kind; see: mlahub request kinds");
  return Status::Ok();
}

// Parses a body as the kind's table: FlatBuffers' parser first (so a
// misspelt field or a wrong type is named), then nlohmann for the walk.
Result<json> ParseBody(wire::MessageKind kind, std::string_view text) {
  std::string table = wire::EnumNameMessageKind(kind);
  auto bin = schemas::JsonCodec::Instance().ToBinary(table, text);
  if (!bin.ok()) return bin.status();
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) {
    // FlatBuffers accepts a relaxed JSON; read its canonical print instead.
    auto canon = schemas::JsonCodec::Instance().ToJson(table, *bin);
    if (!canon.ok()) return canon.status();
    j = json::parse(*canon, nullptr, false);
    if (j.is_discarded()) return Status::Malformed("body is not JSON");
  }
  if (!j.is_object()) return Status::Malformed("the body must be a JSON object");
  return j;
}

Result<std::vector<Finding>> Run(wire::MessageKind kind, wire::LegalBasis basis, const json& body,
                                 const directory::Entry* sender, const directory::Entry* recipient,
                                 const Draft* header) {
  MLAHUB_RETURN_IF_ERROR(CheckRequestKind(kind));
  Checker c(kind, basis, body, sender, recipient, header);
  return c.Run();
}

}  // namespace

Result<std::vector<Finding>> CheckBody(wire::MessageKind kind, wire::LegalBasis legal_basis,
                                       std::string_view body_json, const directory::Entry* sender,
                                       const directory::Entry* recipient) {
  MLAHUB_RETURN_IF_ERROR(CheckRequestKind(kind));
  MLAHUB_ASSIGN_OR_RETURN(json body, ParseBody(kind, body_json));
  return Run(kind, legal_basis, body, sender, recipient, nullptr);
}

Result<std::vector<Finding>> CheckBinaryBody(wire::MessageKind kind, wire::LegalBasis legal_basis,
                                             ByteView bytes, const directory::Entry* sender,
                                             const directory::Entry* recipient) {
  MLAHUB_RETURN_IF_ERROR(CheckRequestKind(kind));
  MLAHUB_ASSIGN_OR_RETURN(std::string text, schemas::JsonCodec::Instance().ToJson(
                                                wire::EnumNameMessageKind(kind), bytes));
  json body = json::parse(text, nullptr, false);
  if (body.is_discarded()) return Status::Internal("the codec printed invalid JSON");
  return Run(kind, legal_basis, body, sender, recipient, nullptr);
}

Result<std::vector<Finding>> CheckRequest(const Draft& draft, const directory::Entry* sender,
                                          const directory::Entry* recipient) {
  if (draft.kind == wire::MessageKind::Unspecified)
    return Status::InvalidArgument("the request file names no kind (\"kind\": \"MlaRequest\")");
  MLAHUB_RETURN_IF_ERROR(CheckRequestKind(draft.kind));
  MLAHUB_ASSIGN_OR_RETURN(json body, ParseBody(draft.kind, draft.body_json));
  return Run(draft.kind, draft.legal_basis, body, sender, recipient, &draft);
}

Result<std::vector<Finding>> CheckRequest(const Draft& draft, const directory::Directory& dir,
                                          UnixMillis now) {
  std::vector<Finding> pre;
  const directory::Entry* sender = nullptr;
  const directory::Entry* recipient = nullptr;
  if (!draft.from.empty()) {
    Status st = dir.CheckSender(draft.from, now);
    if (!st.ok())
      pre.push_back({Severity::kRefused, "header.from", "directory",
                     "the sender cannot send on this network: " + st.message()});
    sender = dir.Find(draft.from);
  }
  if (!draft.to.empty()) {
    Status st = dir.CheckRecipient(draft.to, draft.kind, now);
    if (!st.ok() && st.code() != Code::kKindNotAccepted)  // reported with the capabilities below
      pre.push_back({Severity::kRefused, "header.to", "directory",
                     "the recipient cannot receive: " + st.message() +
                         " (mlahub directory show lists the nodes)"});
    recipient = dir.Find(draft.to);
  }
  MLAHUB_ASSIGN_OR_RETURN(std::vector<Finding> rest, CheckRequest(draft, sender, recipient));
  if (recipient == nullptr && !draft.to.empty()) {
    // The "no directory entry" warning says nothing new here.
    rest.erase(std::remove_if(rest.begin(), rest.end(),
                              [](const Finding& f) {
                                return f.severity == Severity::kWarning && f.path == "header.to";
                              }),
               rest.end());
  }
  pre.insert(pre.end(), rest.begin(), rest.end());
  std::stable_sort(pre.begin(), pre.end(), [](const Finding& a, const Finding& b) {
    return static_cast<int>(a.severity) < static_cast<int>(b.severity);
  });
  return pre;
}

Status ReadyToSubmit(const Draft& draft, const directory::Entry* sender,
                     const directory::Entry* recipient) {
  MLAHUB_ASSIGN_OR_RETURN(std::vector<Finding> findings, CheckRequest(draft, sender, recipient));
  if (!Blocks(findings)) return Status::Ok();
  std::string msg = "the request is not ready to send; first:";
  for (const auto& f : findings) {
    if (f.severity == Severity::kWarning) continue;
    msg += "\n  " + std::string(SeverityName(f.severity)) + " " +
           (f.path.empty() ? "request" : f.path);
    if (!f.citation.empty()) msg += " (" + f.citation + ")";
    msg += ": " + f.message;
  }
  msg += "\n(mlahub request check FILE lists every finding)";
  return Status::InvalidArgument(msg);
}

Result<std::vector<FieldInfo>> DescribeTable(std::string_view table) {
  const reflection::Object* obj = FindObject(table);
  if (obj == nullptr)
    return Status::InvalidArgument("no table " + std::string(table) + " in the schema");
  std::vector<FieldInfo> out;
  for (const reflection::Field* f : FieldsById(obj)) {
    if (f->deprecated()) continue;
    FieldInfo fi;
    fi.name = f->name()->str();
    fi.presence = Attribute(f, "presence");
    fi.type = internal::TypeName(f);
    fi.enum_values = internal::EnumValues(f);
    fi.doc = Doc(f);
    fi.citation = FirstCitation(fi.doc);
    fi.personal_data = internal::HasAttribute(f, "personal_data");
    out.push_back(std::move(fi));
  }
  return out;
}

}  // namespace mlahub::workflow
