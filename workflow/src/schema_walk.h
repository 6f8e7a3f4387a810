// Private helpers over the embedded reflection schema (schemas/mlahub.bfbs):
// look up tables and fields, read the `presence` / `personal_data`
// attributes and doc comments, and extract legal citations from them.
// Thread-safe: read-only access to an immutable, verified buffer.
#pragma once

#include <flatbuffers/reflection.h>

#include <string>
#include <string_view>
#include <vector>

namespace mlahub::workflow::internal {

const reflection::Schema& Schema();
// A table by short ("MlaRequest") or qualified name; nullptr if none.
const reflection::Object* FindObject(std::string_view name);
// "mlahub.wire.Person" -> "Person".
std::string ShortName(const reflection::Object* obj);
std::vector<const reflection::Field*> FieldsById(const reflection::Object* obj);
const reflection::Field* FindField(const reflection::Object* obj, std::string_view name);
std::string Attribute(const reflection::Field* f, const char* key);  // "" if absent
bool HasAttribute(const reflection::Field* f, const char* key);
std::string Doc(const reflection::Field* f);
// First legal citation in `text` ("UNTOC Art. 18(15)(a)", "Protocol Art. 3(a)"), or "".
std::string FirstCitation(const std::string& text);
// Enum value names of the field's enum (or vector element enum), without "Unspecified".
std::vector<std::string> EnumValues(const reflection::Field* f);
// "string", "bool", "enum:X", "table:X", "[string]", "[table:X]", ...
std::string TypeName(const reflection::Field* f);
// The table a field (or vector of tables) refers to, or nullptr.
const reflection::Object* FieldObject(const reflection::Field* f);

}  // namespace mlahub::workflow::internal
