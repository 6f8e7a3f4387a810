#include "schema_walk.h"

#include <algorithm>
#include <regex>

#include "mlahub/core/status.h"
#include "mlahub/schemas/json_codec.h"

namespace mlahub::schemas {
// The binary schema embedded by schemas/ (generated schema_bfbs.cc).
extern const uint8_t kBinarySchema[];
extern const size_t kBinarySchemaSize;
}  // namespace mlahub::schemas

namespace mlahub::workflow::internal {

const reflection::Schema& Schema() {
  static const reflection::Schema* schema = [] {
    flatbuffers::Verifier v(schemas::kBinarySchema, schemas::kBinarySchemaSize);
    MLAHUB_CHECK_MSG(reflection::VerifySchemaBuffer(v), "embedded binary schema is corrupt");
    return reflection::GetSchema(schemas::kBinarySchema);
  }();
  return *schema;
}

const reflection::Object* FindObject(std::string_view name) {
  std::string q(name);
  if (q.find('.') == std::string::npos) q = std::string(schemas::kNamespace) + q;
  return Schema().objects()->LookupByKey(q.c_str());
}

std::string ShortName(const reflection::Object* obj) {
  std::string n = obj->name()->str();
  auto dot = n.rfind('.');
  return dot == std::string::npos ? n : n.substr(dot + 1);
}

std::vector<const reflection::Field*> FieldsById(const reflection::Object* obj) {
  std::vector<const reflection::Field*> out(obj->fields()->begin(), obj->fields()->end());
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->id() < b->id(); });
  // Unions appear twice (the _type field); keep the value field only.
  out.erase(std::remove_if(out.begin(), out.end(),
                           [](auto* f) { return f->type()->base_type() == reflection::UType; }),
            out.end());
  return out;
}

const reflection::Field* FindField(const reflection::Object* obj, std::string_view name) {
  return obj->fields()->LookupByKey(std::string(name).c_str());
}

std::string Attribute(const reflection::Field* f, const char* key) {
  if (f->attributes() == nullptr) return "";
  const auto* kv = f->attributes()->LookupByKey(key);
  if (kv == nullptr || kv->value() == nullptr) return "";
  std::string v = kv->value()->str();
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return v;
}

bool HasAttribute(const reflection::Field* f, const char* key) {
  return f->attributes() != nullptr && f->attributes()->LookupByKey(key) != nullptr;
}

std::string Doc(const reflection::Field* f) {
  std::string out;
  if (f->documentation() == nullptr) return out;
  for (const auto* line : *f->documentation()) {
    std::string s = line->str();
    size_t b = s.find_first_not_of(' ');
    if (b == std::string::npos) continue;
    if (!out.empty()) out += ' ';
    out += s.substr(b);
  }
  return out;
}

std::string FirstCitation(const std::string& text) {
  static const std::regex re(
      R"((UNTOC|Protocol|EIO Directive|EAW Framework Decision|e-Evidence Regulation) Art\. )"
      R"([0-9]+(?:\([0-9a-z]+\)|-\([0-9a-z]+\))*(?:, [0-9]+(?:\([0-9a-z]+\)|-\([0-9a-z]+\))*)*)");
  std::smatch m;
  if (std::regex_search(text, m, re)) return m.str(0);
  return "";
}

namespace {
const reflection::Enum* FieldEnum(const reflection::Field* f) {
  auto bt = f->type()->base_type();
  int idx = f->type()->index();
  if (idx < 0) return nullptr;
  if (bt == reflection::Obj || bt == reflection::Union) return nullptr;
  if (bt == reflection::Vector &&
      (f->type()->element() == reflection::Obj || f->type()->element() == reflection::Union))
    return nullptr;
  return Schema().enums()->Get(idx);
}
std::string EnumShort(const reflection::Enum* e) {
  std::string n = e->name()->str();
  auto dot = n.rfind('.');
  return dot == std::string::npos ? n : n.substr(dot + 1);
}
std::string ScalarName(reflection::BaseType t) {
  switch (t) {
    case reflection::Bool:
      return "bool";
    case reflection::String:
      return "string";
    case reflection::Long:
      return "long";
    case reflection::ULong:
      return "ulong";
    case reflection::Int:
      return "int";
    case reflection::UInt:
      return "uint";
    case reflection::Float:
    case reflection::Double:
      return "number";
    default:
      return "integer";
  }
}
}  // namespace

std::vector<std::string> EnumValues(const reflection::Field* f) {
  std::vector<std::string> out;
  const reflection::Enum* e = FieldEnum(f);
  if (e == nullptr) return out;
  for (const auto* v : *e->values())
    if (v->name()->str() != "Unspecified") out.push_back(v->name()->str());
  return out;
}

const reflection::Object* FieldObject(const reflection::Field* f) {
  auto bt = f->type()->base_type();
  if (bt == reflection::Obj ||
      (bt == reflection::Vector && f->type()->element() == reflection::Obj))
    return Schema().objects()->Get(f->type()->index());
  return nullptr;
}

std::string TypeName(const reflection::Field* f) {
  auto bt = f->type()->base_type();
  if (bt == reflection::Union) return "union";
  if (const auto* o = FieldObject(f)) {
    std::string t = "table:" + ShortName(o);
    return bt == reflection::Vector ? "[" + t + "]" : t;
  }
  if (const auto* e = FieldEnum(f)) {
    std::string t = "enum:" + EnumShort(e);
    return bt == reflection::Vector ? "[" + t + "]" : t;
  }
  if (bt == reflection::Vector) return "[" + ScalarName(f->type()->element()) + "]";
  return ScalarName(bt);
}

}  // namespace mlahub::workflow::internal
