#include "bodies.h"

#include <map>
#include <mutex>

#include "mlahub/schemas/json_codec.h"
#include "mlahub/workflow/check.h"

namespace mlahub::sim {

namespace {

using json = nlohmann::json;
using K = wire::MessageKind;

// Simulated contents for every field of a table, from the schema's own
// description (workflow::DescribeTable): text, the first real enum value,
// numbers, nested tables and one element of each vector. Fixed placeholder
// values, never a name of a real person.
void FillTable(const std::string& table, json& j, int depth) {
  if (!j.is_object()) j = json::object();
  if (depth > 5) return;
  auto fields = workflow::DescribeTable(table);
  if (!fields.ok()) return;
  for (const auto& f : *fields) {
    const std::string& t = f.type;
    const std::string& n = f.name;
    if (n.ends_with("_type")) continue;  // a union's discriminator: keep the template's
    bool vec = t.size() > 2 && t.front() == '[' && t.back() == ']';
    std::string e = vec ? t.substr(1, t.size() - 2) : t;
    json v;
    if (e == "string") {
      if (n.find("language") != std::string::npos) v = "en";
      else if (n.find("country") != std::string::npos || n.find("nationalit") != std::string::npos ||
               n.find("state") != std::string::npos)
        v = "XX";
      else if (n.find("date") != std::string::npos) v = "2026-01-05";
      else v = "simulated " + n;
    } else if (e == "bool") {
      if (j.contains(n)) continue;
      v = false;
    } else if (e.rfind("enum:", 0) == 0) {
      if (f.enum_values.empty()) continue;
      v = f.enum_values.front();
    } else if (e.rfind("table:", 0) == 0) {
      v = j.contains(n) ? (vec ? (j[n].is_array() && !j[n].empty() ? j[n][0] : json::object()) : j[n])
                        : json::object();
      FillTable(e.substr(6), v, depth + 1);
    } else if (e == "ubyte" && vec) {
      v = json::array();
      for (int i = 0; i < 32; ++i) v.push_back(i + 1);
      j[n] = v;
      continue;
    } else if (e.rfind("union", 0) == 0) {
      continue;
    } else {  // numbers
      if (n.ends_with("_ms")) v = int64_t{1767571200000};
      else v = 1;
    }
    if (vec) j[n] = json::array({v});
    else j[n] = v;
  }
}

// No streamed evidence: an object naming a transfer would make the agent look
// for a spooled file (POST /v1/evidence), which the simulator does not send.
void DropStreams(json& j) {
  if (j.is_object()) {
    j.erase("transfer_id");
    j.erase("stream_key");
    for (auto& [k, v] : j.items()) DropStreams(v);
  } else if (j.is_array()) {
    for (auto& e : j) DropStreams(e);
  }
}

json Template(const std::string& table, bool fill) {
  static std::mutex mu;
  static std::map<std::string, json> cache;
  std::lock_guard<std::mutex> lock(mu);
  std::string key = table + (fill ? "+" : "");
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  json j = json::object();
  auto t = schemas::JsonTemplate("mlahub.wire." + table);
  if (t.ok()) {
    j = json::parse(*t, nullptr, false);
    if (!j.is_object()) j = json::object();
  }
  if (fill) FillTable(table, j, 0);
  DropStreams(j);
  cache[key] = j;
  return j;
}

}  // namespace

workflow::Step MakeStep(K kind, Variant v, int64_t t) {
  workflow::Step s;
  s.kind = kind;
  s.at_ms = t;
  switch (v) {
    case Variant::kExtension:
      s.extension_mode = "Notice";
      s.reasons = "simulated: the decision needs more time";
      break;
    case Variant::kExecuteDecision:
      s.outcome = workflow::Outcome::kExecute;
      break;
    case Variant::kRefuseDecision:
      s.outcome = workflow::Outcome::kRefuse;
      s.refusal_grounds = {"AbsenceOfDualCriminality"};
      s.reasons = "simulated refusal";
      break;
    case Variant::kFull:
      s.completeness = "Full";
      break;
    case Variant::kCompleted:
      s.stage = "Completed";
      break;
    case Variant::kPlain:
      break;
  }
  return s;
}

json BodyFor(const BodyParams& p) {
  const std::string table = wire::EnumNameMessageKind(p.kind);
  const bool request = static_cast<int>(p.kind) < 32;
  json j = Template(table, request);
  if (request && j.contains("legal_basis") && j["legal_basis"].is_object())
    j["legal_basis"]["basis"] = wire::EnumNameLegalBasis(p.basis);
  workflow::Step s = MakeStep(p.kind, p.variant, 0);
  switch (p.variant) {
    case Variant::kExecuteDecision:
      j["outcome"] = "Execute";
      break;
    case Variant::kRefuseDecision:
      j["outcome"] = "Refuse";
      j["refusal_grounds"] = s.refusal_grounds;
      j["reasons"] = s.reasons;
      break;
    case Variant::kFull:
      j["completeness"] = "Full";
      break;
    case Variant::kCompleted:
      j["stage"] = "Completed";
      break;
    case Variant::kExtension:
      j["deadline"] = p.extension_kind;
      j["mode"] = "Notice";
      j["new_deadline_ms"] = p.new_deadline_ms;
      j["reasons"] = s.reasons;
      j["legal_basis_for_extension"] = wire::EnumNameLegalBasis(p.basis);
      break;
    case Variant::kPlain:
      break;
  }
  return j;
}

}  // namespace mlahub::sim
