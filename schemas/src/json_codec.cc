#include "mlahub/schemas/json_codec.h"

#include <flatbuffers/idl.h>
#include <flatbuffers/reflection.h>

#include <mutex>

namespace mlahub::schemas {

extern const uint8_t kBinarySchema[];
extern const size_t kBinarySchemaSize;

struct JsonCodec::Impl {
  std::mutex mu;
  flatbuffers::Parser parser;
  const reflection::Schema* schema = nullptr;
};

namespace {

flatbuffers::IDLOptions Options() {
  flatbuffers::IDLOptions o;
  o.strict_json = true;           // quoted field names: valid JSON for any tool
  o.output_default_scalars_in_json = true;
  o.output_enum_identifiers = true;
  o.natural_utf8 = true;
  o.indent_step = 2;
  o.skip_unexpected_fields_in_json = false;  // a misspelt field is an error
  return o;
}

std::string Qualify(std::string_view type) {
  if (type.find('.') != std::string_view::npos) return std::string(type);
  return std::string(kNamespace) + std::string(type);
}

}  // namespace

JsonCodec::JsonCodec() : impl_(new Impl{{}, flatbuffers::Parser(Options()), nullptr}) {
  flatbuffers::Verifier v(kBinarySchema, kBinarySchemaSize);
  MLAHUB_CHECK_MSG(reflection::VerifySchemaBuffer(v), "embedded binary schema is corrupt");
  MLAHUB_CHECK_MSG(impl_->parser.Deserialize(kBinarySchema, kBinarySchemaSize),
                   "embedded binary schema does not load");
  impl_->schema = reflection::GetSchema(kBinarySchema);
}

JsonCodec& JsonCodec::Instance() {
  static JsonCodec* codec = new JsonCodec();  // never destroyed: safe at exit
  return *codec;
}

Result<Bytes> JsonCodec::ToBinary(std::string_view type, std::string_view json,
                                  std::string_view file_identifier) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& p = impl_->parser;
  std::string name = Qualify(type);
  if (!p.SetRootType(name.c_str())) return Status::InvalidArgument("no table " + name + " in the schema");
  p.file_identifier_ = std::string(file_identifier);
  std::string text(json);
  if (!p.ParseJson(text.c_str())) {
    std::string err = p.error_;
    p.error_.clear();
    return Status::Malformed("JSON does not match " + name + ": " + err);
  }
  Bytes out(p.builder_.GetBufferPointer(), p.builder_.GetBufferPointer() + p.builder_.GetSize());
  p.builder_.Clear();
  return out;
}

Result<std::string> JsonCodec::ToJson(std::string_view type, ByteView buffer) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::string name = Qualify(type);
  const reflection::Object* obj = impl_->schema->objects()->LookupByKey(name.c_str());
  if (obj == nullptr) return Status::InvalidArgument("no table " + name + " in the schema");
  if (buffer.size() < 8 || buffer.size() > FLATBUFFERS_MAX_BUFFER_SIZE)
    return Status::Malformed("buffer too small or too large for " + name);
  if (!flatbuffers::Verify(*impl_->schema, *obj, buffer.data(), buffer.size()))
    return Status::Malformed("bytes are not a valid " + name);
  auto& p = impl_->parser;
  if (!p.SetRootType(name.c_str())) return Status::InvalidArgument("no table " + name);
  std::string text;
  if (!flatbuffers::GenerateText(p, buffer.data(), &text))
    return Status::Malformed(name + " holds a string that is not valid UTF-8");
  return text;
}

Result<std::string> JsonCodec::TableToJson(std::string_view type, const void* table) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::string name = Qualify(type);
  std::string text;
  if (!flatbuffers::GenerateTextFromTable(impl_->parser, table, name, &text))
    return Status::Malformed(name + " holds a string that is not valid UTF-8");
  return text;
}

std::vector<std::string> JsonCodec::TableNames() {
  std::vector<std::string> out;
  for (const auto* o : *impl_->schema->objects())
    if (!o->is_struct()) out.push_back(o->name()->str());
  return out;
}

std::string JsonCodec::Documentation(std::string_view type) {
  std::string name = Qualify(type);
  const auto* obj = impl_->schema->objects()->LookupByKey(name.c_str());
  std::string out;
  if (obj == nullptr || obj->documentation() == nullptr) return out;
  for (const auto* line : *obj->documentation()) {
    if (!out.empty()) out += ' ';
    std::string l = line->str();
    size_t b = l.find_first_not_of(' ');
    out += (b == std::string::npos) ? "" : l.substr(b);
  }
  return out;
}

}  // namespace mlahub::schemas
