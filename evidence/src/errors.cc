#include "mlahub/evidence/errors.h"

#include <array>

namespace mlahub::evidence {
namespace {
struct Entry {
  Errc errc;
  std::string_view name;
  Code code;
};
constexpr std::array<Entry, 8> kEntries = {{
    {Errc::kTamperedChunk, "tampered_chunk", Code::kTamperedCiphertext},
    {Errc::kOutOfOrder, "out_of_order", Code::kInvalidArgument},
    {Errc::kMissingChunk, "missing_chunk", Code::kNotFound},
    {Errc::kDuplicateChunk, "duplicate_chunk", Code::kDuplicate},
    {Errc::kFileHashMismatch, "file_hash_mismatch", Code::kCorruption},
    {Errc::kMalformedChunk, "malformed_chunk", Code::kMalformed},
    {Errc::kWrongTransfer, "wrong_transfer", Code::kInvalidArgument},
    {Errc::kSourceChanged, "source_changed", Code::kCorruption},
}};
}  // namespace

std::string_view ErrcName(Errc e) {
  for (const auto& entry : kEntries)
    if (entry.errc == e) return entry.name;
  return "";
}

Status MakeError(Errc e, std::string_view message) {
  for (const auto& entry : kEntries)
    if (entry.errc == e)
      return Status(entry.code, std::string(entry.name) + ": " + std::string(message));
  return Status::Internal(std::string(message));
}

Errc ErrcOf(const Status& status) {
  if (status.ok()) return Errc::kNone;
  for (const auto& entry : kEntries) {
    const std::string& m = status.message();
    if (status.code() == entry.code && m.size() > entry.name.size() && m.starts_with(entry.name) &&
        m[entry.name.size()] == ':')
      return entry.errc;
  }
  return Errc::kNone;
}

}  // namespace mlahub::evidence
