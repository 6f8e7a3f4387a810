// Victims' data in the agent (issue 6 item 5; Protocol Art. 6(1): the
// privacy and identity of victims of trafficking are protected).
//
// A victim is a Person (schemas/content.fbs) whose role is Victim, or the
// person of a NationalityVerificationRequest or RepatriationRequest (Protocol
// Art. 8: victims by definition). Their identifying fields are the Person
// fields the schema marks `personal_data` (names, aliases, date and place of
// birth, documents, addresses, ...), read from the embedded reflection schema
// (workflow::DescribeTable), never hard-coded.
//
//  - At rest: whatever the agent writes of a body (the copy of a sent body
//    under case/b/, cases.h) has each such value replaced by a sealed value
//        {"sealed": "v1:<base64 of nonce(24) || XChaCha20-Poly1305(JSON of the value)>"}
//    (associated data "mlahub victim v1|<field name>") under the agent's
//    at-rest key, 32 random bytes in <data>/victims.key (mode 0600, created on
//    first start, refused if readable by others). The key is read from the
//    file for each use into a crypto::Secret, which wipes it when it goes out
//    of scope; it is never logged. The signed envelopes themselves are not
//    changed (they are sealed end to end to the recipient already).
//  - In the API: bodies are shown with those values masked ("•••") unless the
//    request says reveal=1 with a reason; each reveal is a durable record
//    (reveal/ keys of the case store) listed by GET /v1/reveals.
//  - A child victim (TraffickingElements.child_victim, or a victim whose
//    is_child is true or whose date of birth says under 18) makes the case
//    Urgent at this agent (cases.cc), whatever the envelope's priority.
//
// Thread-safety: the free functions are pure; VictimVault is immutable after
// Open (reads its key file on each call); RevealLog serialises its writes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlahub/agents/case_store.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/status.h"
#include "mlahub/schemas/common_generated.h"

namespace mlahub::agents {

// What a masked value shows, and the note beside a body that has some.
inline constexpr std::string_view kVictimMask = "\xE2\x80\xA2\xE2\x80\xA2\xE2\x80\xA2";  // "•••"
inline constexpr std::string_view kVictimMaskNote =
    "[victim data: use --reveal --reason TEXT (API: reveal=1&reason=TEXT); every reveal is recorded]";
inline constexpr std::string_view kSealedPrefix = "v1:";

// The Person fields marked personal_data in the schema.
const std::vector<std::string>& VictimFieldNames();

// Calls fn on each victim Person object in `body` (the JSON of `kind`'s
// table), walking the schema's tables.
void ForEachVictim(nlohmann::json& body, wire::MessageKind kind, const std::function<void(nlohmann::json&)>& fn);

// Replaces every victim's identifying value, clear or sealed, by kVictimMask
// (and any other sealed value found anywhere). Returns how many.
size_t MaskVictims(nlohmann::json& body, wire::MessageKind kind);

// True if the body shows a child victim: a "child_victim": true anywhere
// (TraffickingElements), or a victim with is_child true or a date of birth
// ("YYYY-MM-DD", "YYYY-MM", "YYYY": the earliest date it allows) less than
// 18 years before `now`.
bool HasChildVictim(const nlohmann::json& body, wire::MessageKind kind, UnixMillis now);

bool IsSealedValue(const nlohmann::json& v);

class VictimVault {
 public:
  // Opens the key file, creating it (32 random bytes, 0600) if absent.
  // kPermissionDenied if it is readable by group or others, kCorruption if it
  // is not 32 bytes, kIoError if it cannot be written.
  static Result<std::unique_ptr<VictimVault>> Open(std::string key_path);

  const std::string& key_path() const { return path_; }

  // Seals every victim's identifying values in `body` (values already sealed
  // are kept). Returns how many were sealed.
  Result<size_t> SealVictims(nlohmann::json& body, wire::MessageKind kind) const;
  // Replaces every sealed value anywhere in `v` by its clear value; a value
  // that does not open (another agent's key, damage) becomes null and counts
  // in *failed.
  Result<size_t> Unseal(nlohmann::json& v, size_t* failed = nullptr) const;

  // A whole text sealed with the same key: "v1:<base64 nonce || ciphertext>".
  Result<std::string> SealText(std::string_view plaintext, std::string_view aad) const;
  Result<std::string> OpenText(std::string_view sealed, std::string_view aad) const;

 private:
  explicit VictimVault(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Who asks to see victims' data, and why.
struct RevealRequest {
  bool reveal = false;
  std::string reason;    // mandatory with reveal (1..500 characters)
  std::string token_id;  // "api-token:<first 16 hex of SHA-256 of the bearer token>"
  std::string user;      // optional X-Mlahub-User header / user= query (who, in the caller's words)
};

// One reveal, as stored under reveal/r/<BE64 id> (JSON) and listed.
struct RevealRecord {
  uint64_t id = 0;
  UnixMillis at_ms = 0;
  std::string what;       // "message" or "case"
  std::string target;     // the message id or case id asked for
  std::string reason;
  std::string token_id;
  std::string user;
  uint64_t fields = 0;    // how many victims' values were shown
};
nlohmann::json ToJson(const RevealRecord& r);

// The durable record of reveals in the agent's case store.
class RevealLog {
 public:
  explicit RevealLog(CaseStore& store) : store_(store) {}
  // Writes (fsync'd) and returns the record with its id; refuses a reveal
  // without a reason.
  Result<RevealRecord> Record(RevealRecord r);
  Result<std::vector<RevealRecord>> List(uint64_t after, size_t limit) const;

 private:
  CaseStore& store_;
  std::mutex mu_;
};

}  // namespace mlahub::agents
