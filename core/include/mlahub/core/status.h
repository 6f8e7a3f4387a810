// Status and Result<T>: how every mlahub module reports failure.
//
// A Status is a named Code plus a human message that says what is wrong and,
// where possible, what to do next. Codes are stable: their numeric values are
// the wire error codes of docs/PROTOCOL.md (schemas/common.fbs ErrorCode), so a
// peer in another language sees the same names. No exceptions cross module
// boundaries; untrusted input always yields a Status, never a crash.
//
// Thread-safety: values; safe to copy and move between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mlahub {

// Keep in step with ErrorCode in schemas/common.fbs (checked by a test).
enum class Code : uint16_t {
  kOk = 0,
  // Envelope and protocol refusals (sent on the wire).
  kMalformed = 1,          // bytes do not parse / fail the FlatBuffers verifier
  kOversize = 2,           // larger than the configured maximum
  kBadSignature = 3,       // origin signature does not verify
  kTamperedHeader = 4,     // header altered after sealing
  kTamperedCiphertext = 5, // ciphertext altered after sealing
  kWrongRecipient = 6,     // sealed for another node or key
  kExpired = 7,            // outside the validity window
  kUnknownKind = 8,        // kind not known to this implementation
  kUnknownSender = 9,      // sender not in the directory
  kUnknownRecipient = 10,  // recipient not in the directory
  kKindNotAccepted = 11,   // recipient does not accept this kind
  kDuplicate = 12,         // message id already seen
  kRevoked = 13,           // key or node revoked
  kSenderMismatch = 14,    // envelope sender is not the authenticated peer
  kUnsupportedVersion = 15,
  // Local failures.
  kInvalidArgument = 100,
  kNotFound = 101,
  kAlreadyExists = 102,
  kIoError = 103,
  kCorruption = 104,       // stored data fails its own checks
  kBadPassphrase = 105,
  kUnavailable = 106,
  kPermissionDenied = 107,
  kInternal = 199,
};

// Stable snake_case name of a code, e.g. "bad_signature".
std::string_view CodeName(Code code);
// The code whose CodeName is `name` (e.g. an API's "error" field); kInternal
// for a name no code has.
Code CodeFromName(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
#define MLAHUB_STATUS_FACTORY(Name, CodeValue) \
  static Status Name(std::string msg) { return {Code::CodeValue, std::move(msg)}; }
  MLAHUB_STATUS_FACTORY(Malformed, kMalformed)
  MLAHUB_STATUS_FACTORY(Oversize, kOversize)
  MLAHUB_STATUS_FACTORY(BadSignature, kBadSignature)
  MLAHUB_STATUS_FACTORY(TamperedHeader, kTamperedHeader)
  MLAHUB_STATUS_FACTORY(TamperedCiphertext, kTamperedCiphertext)
  MLAHUB_STATUS_FACTORY(WrongRecipient, kWrongRecipient)
  MLAHUB_STATUS_FACTORY(Expired, kExpired)
  MLAHUB_STATUS_FACTORY(UnknownKind, kUnknownKind)
  MLAHUB_STATUS_FACTORY(UnknownSender, kUnknownSender)
  MLAHUB_STATUS_FACTORY(UnknownRecipient, kUnknownRecipient)
  MLAHUB_STATUS_FACTORY(KindNotAccepted, kKindNotAccepted)
  MLAHUB_STATUS_FACTORY(Duplicate, kDuplicate)
  MLAHUB_STATUS_FACTORY(Revoked, kRevoked)
  MLAHUB_STATUS_FACTORY(SenderMismatch, kSenderMismatch)
  MLAHUB_STATUS_FACTORY(UnsupportedVersion, kUnsupportedVersion)
  MLAHUB_STATUS_FACTORY(InvalidArgument, kInvalidArgument)
  MLAHUB_STATUS_FACTORY(NotFound, kNotFound)
  MLAHUB_STATUS_FACTORY(AlreadyExists, kAlreadyExists)
  MLAHUB_STATUS_FACTORY(IoError, kIoError)
  MLAHUB_STATUS_FACTORY(Corruption, kCorruption)
  MLAHUB_STATUS_FACTORY(BadPassphrase, kBadPassphrase)
  MLAHUB_STATUS_FACTORY(Unavailable, kUnavailable)
  MLAHUB_STATUS_FACTORY(PermissionDenied, kPermissionDenied)
  MLAHUB_STATUS_FACTORY(Internal, kInternal)
#undef MLAHUB_STATUS_FACTORY

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "bad_signature: signature does not verify with IT-MOJ's key"
  std::string ToString() const;

  // Prefix the message with context, keeping the code.
  Status Annotate(std::string_view context) const;

  // Explicitly drop a status; greppable.
  void IgnoreError() const {}

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {    // NOLINT(google-explicit-constructor)
    MLAHUB_CHECK_NOT_OK_RESULT();
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void MLAHUB_CHECK_NOT_OK_RESULT();
  std::variant<T, Status> v_;
};

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr, std::string_view msg);

template <typename T>
void Result<T>::MLAHUB_CHECK_NOT_OK_RESULT() {
  if (std::get<Status>(v_).ok()) CheckFailed(__FILE__, __LINE__, "!status.ok()", "Result built from an OK Status");
}

}  // namespace mlahub

// Invariant checks that stay on in release builds (redpanda's vassert).
#define MLAHUB_CHECK(expr)                                                   \
  do {                                                                       \
    if (!(expr)) ::mlahub::CheckFailed(__FILE__, __LINE__, #expr, "");      \
  } while (0)
#define MLAHUB_CHECK_MSG(expr, msg)                                          \
  do {                                                                       \
    if (!(expr)) ::mlahub::CheckFailed(__FILE__, __LINE__, #expr, (msg));   \
  } while (0)

// Early return helpers.
#define MLAHUB_CONCAT_INNER(a, b) a##b
#define MLAHUB_CONCAT(a, b) MLAHUB_CONCAT_INNER(a, b)
#define MLAHUB_RETURN_IF_ERROR(expr)           \
  do {                                         \
    ::mlahub::Status _st = (expr);             \
    if (!_st.ok()) return _st;                 \
  } while (0)
#define MLAHUB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
#define MLAHUB_ASSIGN_OR_RETURN(lhs, expr) \
  MLAHUB_ASSIGN_OR_RETURN_IMPL(MLAHUB_CONCAT(_res_, __LINE__), lhs, expr)
