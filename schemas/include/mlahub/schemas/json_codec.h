// JSON <-> FlatBuffers binary for any table of schemas/*.fbs, done by
// FlatBuffers' own parser and text generator from the binary schema that the
// build compiles out of the same .fbs files (one schema, two encodings, no
// hand-written converters).
//
// Type names are fully qualified, e.g. "mlahub.wire.MlaRequest".
// Thread-safe: calls are serialised on an internal mutex.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"

namespace mlahub::schemas {

inline constexpr std::string_view kNamespace = "mlahub.wire.";

class JsonCodec {
 public:
  // The process-wide codec over the embedded schema.
  static JsonCodec& Instance();

  // Parses JSON text as a table of `type` and returns a finished FlatBuffer
  // (with `file_identifier` if not empty). kMalformed names what is wrong.
  Result<Bytes> ToBinary(std::string_view type, std::string_view json,
                         std::string_view file_identifier = {});
  // Verifies `buffer` against the schema for `type` (the reflection verifier),
  // then prints it as JSON. Never reads unverified bytes.
  Result<std::string> ToJson(std::string_view type, ByteView buffer);
  // Prints one table that lives inside an already verified buffer.
  Result<std::string> TableToJson(std::string_view type, const void* table);

  // Names of every table in the schema (fully qualified).
  std::vector<std::string> TableNames();
  // Doc comment of a table, joined into one string.
  std::string Documentation(std::string_view type);

  struct Impl;

 private:
  JsonCodec();
  Impl* impl_;
};

// A JSON skeleton of a table: every field with an empty or zero value, enums
// with their first value, nested tables expanded and vectors holding one
// example element, unions as "<field>_type" with the first member. Built by
// walking the schema's own type definitions.
Result<std::string> JsonTemplate(std::string_view type);

}  // namespace mlahub::schemas
