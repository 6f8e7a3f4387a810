#include "mlahub/core/status.h"

#include <cstdio>
#include <cstdlib>

namespace mlahub {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kMalformed: return "malformed";
    case Code::kOversize: return "too_large";
    case Code::kBadSignature: return "bad_signature";
    case Code::kTamperedHeader: return "tampered_header";
    case Code::kTamperedCiphertext: return "tampered_ciphertext";
    case Code::kWrongRecipient: return "wrong_recipient";
    case Code::kExpired: return "expired";
    case Code::kUnknownKind: return "unknown_kind";
    case Code::kUnknownSender: return "unknown_sender";
    case Code::kUnknownRecipient: return "unknown_recipient";
    case Code::kKindNotAccepted: return "kind_not_accepted";
    case Code::kDuplicate: return "duplicate";
    case Code::kRevoked: return "revoked";
    case Code::kSenderMismatch: return "sender_mismatch";
    case Code::kUnsupportedVersion: return "unsupported_version";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kIoError: return "io_error";
    case Code::kCorruption: return "corruption";
    case Code::kBadPassphrase: return "bad_passphrase";
    case Code::kUnavailable: return "unavailable";
    case Code::kPermissionDenied: return "permission_denied";
    case Code::kInternal: return "internal";
  }
  return "unknown_code";
}

Code CodeFromName(std::string_view name) {
  static constexpr Code kAll[] = {
      Code::kOk,           Code::kMalformed,      Code::kOversize,          Code::kBadSignature,
      Code::kTamperedHeader, Code::kTamperedCiphertext, Code::kWrongRecipient, Code::kExpired,
      Code::kUnknownKind,  Code::kUnknownSender,  Code::kUnknownRecipient,  Code::kKindNotAccepted,
      Code::kDuplicate,    Code::kRevoked,        Code::kSenderMismatch,    Code::kUnsupportedVersion,
      Code::kInvalidArgument, Code::kNotFound,    Code::kAlreadyExists,     Code::kIoError,
      Code::kCorruption,   Code::kBadPassphrase,  Code::kUnavailable,       Code::kPermissionDenied,
      Code::kInternal};
  for (Code c : kAll)
    if (CodeName(c) == name) return c;
  return Code::kInternal;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(CodeName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

Status Status::Annotate(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message_;
  return {code_, std::move(m)};
}

void CheckFailed(const char* file, int line, const char* expr, std::string_view msg) {
  std::fprintf(stderr, "mlahub: invariant violated at %s:%d: %s %.*s\n", file, line, expr,
               static_cast<int>(msg.size()), msg.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace mlahub
