// The network directory: every node's keys, capabilities, treaty status,
// validity and status, versioned and signed by the network operator's root key
// (DESIGN.md "Trust"). Broker and agents load it only through Verify (root key
// pinned in their configuration) and accept a replacement only through
// AcceptNewer, which refuses an older or equal version.
//
// Directory is a value type; not thread-safe for mutation (the owner swaps a
// whole new Directory under its own lock or pointer).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlahub/core/bytes.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/ids.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/sign.h"
#include "mlahub/identity/keys.h"
#include "mlahub/schemas/common_generated.h"

namespace mlahub::directory {

struct Entry {
  identity::PublicIdentity identity;
  std::string name;  // e.g. "Ministry of Justice, Rome"
  // Kinds accepted as recipient; empty = every kind.
  std::vector<wire::MessageKind> accepts;
  std::vector<std::string> languages;  // ISO 639-1
  std::string untoc_18_14;             // the state's Art. 18(14) notification
  bool untoc_party = false;
  bool protocol_party = false;
  UnixMillis valid_from_ms = 0;   // 0 = unbounded
  UnixMillis valid_until_ms = 0;  // 0 = unbounded
  bool revoked = false;
  UnixMillis revoked_ms = 0;
  std::string revocation_reason;

  bool Accepts(wire::MessageKind k) const;
};

class Directory {
 public:
  Directory() = default;
  Directory(std::string network, uint64_t version, UnixMillis issued_ms)
      : network_(std::move(network)), version_(version), issued_ms_(issued_ms) {}

  // Verifies a SignedDirectory against the pinned operator root key, then
  // decodes it. kBadSignature, kMalformed as named.
  static Result<Directory> Verify(ByteView signed_directory, const crypto::SignPublicKey& root_key);
  // Decodes the signed form without checking the signature (display only).
  static Result<Directory> DecodeUnverified(ByteView signed_directory);

  // Signs this directory as it is (version included) with the operator key.
  Bytes Sign(const crypto::SigningKey& operator_key, const NodeId& signer) const;

  // Refuses a candidate whose network differs or whose version is not newer.
  static Status AcceptNewer(const Directory& current, const Directory& candidate);

  const std::string& network() const { return network_; }
  uint64_t version() const { return version_; }
  UnixMillis issued_ms() const { return issued_ms_; }
  const std::map<std::string, Entry>& entries() const { return entries_; }
  const Entry* Find(std::string_view id) const;

  // The checks the broker and agents make. At `now`:
  //  - CheckSender: kUnknownSender, kRevoked (revoked or outside validity);
  //  - CheckSigningKey: the key is the sender's current one (kRevoked for a
  //    rotated-out key);
  //  - CheckRecipient: kUnknownRecipient, kRevoked, kKindNotAccepted.
  Status CheckSender(std::string_view id, UnixMillis now) const;
  Status CheckRecipient(std::string_view id, wire::MessageKind kind, UnixMillis now) const;
  // Finds the active node whose CURVE transport key is `curve_key` (ZAP).
  const Entry* FindByCurveKey(const crypto::X25519PublicKey& curve_key, UnixMillis now) const;

  // Operator edits. Each bumps nothing by itself: call NextVersion before Sign.
  Status Add(Entry e);
  Status Revoke(std::string_view id, std::string reason, UnixMillis now);
  // Replaces the keys of an existing node (its old keys are refused from the
  // version that carries the new ones).
  Status Rotate(const identity::PublicIdentity& new_keys);
  // For a draft edited by hand: continue from the version that is signed.
  void ContinueFrom(uint64_t signed_version) { version_ = signed_version; }
  void NextVersion(UnixMillis now) {
    ++version_;
    issued_ms_ = now;
  }

  // FlatBuffers JSON of the (unsigned) wire.Directory table.
  std::string ToJson() const;
  Bytes EncodeUnsigned() const;
  static Result<Directory> DecodeUnsigned(ByteView directory_table);

 private:
  static bool ActiveAt(const Entry& e, UnixMillis now);
  std::string network_;
  uint64_t version_ = 0;
  UnixMillis issued_ms_ = 0;
  std::map<std::string, Entry> entries_;
};

}  // namespace mlahub::directory
