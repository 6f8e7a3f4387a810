// Node identities: key generation, secret key files and public identity files.
//
// A node has three key pairs (DESIGN.md "Trust"): Ed25519 for signatures,
// X25519 for payload encryption, X25519 for ZeroMQ CURVE transport. On disk a
// key directory holds
//   node.key       secret keys (FlatBuffer KeyFile, mode 0600), optionally
//                  encrypted under a passphrase with Argon2id + XChaCha20-Poly1305
//   identity.json  the public identity (FlatBuffers JSON of wire Identity),
//                  what the operator puts into the directory
//   identity.bin   the same as a binary FlatBuffer
// NodeKeys is move-only and wipes its secrets when it dies.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "mlahub/core/bytes.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/ids.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/sign.h"
#include "mlahub/crypto/x25519.h"
#include "mlahub/schemas/directory_generated.h"

namespace mlahub::identity {

enum class Role : uint8_t { kUnspecified = 0, kAuthority = 1, kHub = 2, kOperator = 3 };
std::string_view RoleName(Role r);
Result<Role> ParseRole(std::string_view name);

using KeyId = std::array<uint8_t, 8>;
// First 8 bytes of SHA-256 of a public key (envelope header key ids).
KeyId KeyIdOf(ByteView public_key);

// The public half of a node: what others need to verify and encrypt to it.
struct PublicIdentity {
  NodeId id;
  Role role = Role::kAuthority;
  crypto::SignPublicKey sign_key{};
  crypto::X25519PublicKey enc_key{};
  crypto::X25519PublicKey curve_key{};
  UnixMillis created_ms = 0;

  KeyId sign_key_id() const { return KeyIdOf(sign_key); }
  KeyId enc_key_id() const { return KeyIdOf(enc_key); }
};

struct NodeKeys {
  NodeId id;
  Role role = Role::kAuthority;
  UnixMillis created_ms = 0;
  crypto::SigningKey sign;
  crypto::X25519KeyPair enc;
  crypto::X25519KeyPair curve;

  PublicIdentity Public() const;
};

NodeKeys GenerateNodeKeys(const NodeId& id, Role role, UnixMillis now);

// Writes node.key (0600), identity.json and identity.bin into `dir` (created
// 0700 if missing). Refuses (kAlreadyExists) to overwrite an existing node.key.
// An empty passphrase stores the secrets unencrypted.
Status WriteKeyDir(const NodeKeys& keys, const std::string& dir, std::string_view passphrase);

// Loads node.key from `dir`. kBadPassphrase if it is encrypted and the
// passphrase is wrong or missing; kCorruption if it fails its own checks;
// kPermissionDenied if the file is readable by group or others.
Result<NodeKeys> LoadKeyDir(const std::string& dir, std::string_view passphrase);
// True if node.key in `dir` is passphrase-protected.
Result<bool> KeyDirIsProtected(const std::string& dir);

// Public identity <-> bytes. The binary form is a FlatBuffer wire.Identity;
// the text form is FlatBuffers JSON of the same table.
Bytes EncodeIdentity(const PublicIdentity& id);
Result<PublicIdentity> DecodeIdentity(ByteView flatbuffer);  // verifies first
std::string IdentityToJson(const PublicIdentity& id);
Result<PublicIdentity> IdentityFromJson(std::string_view json);
// The wire.Identity table inside a larger buffer (the directory): build one,
// and read one that the caller's verifier has already checked.
flatbuffers::Offset<wire::Identity> BuildIdentity(flatbuffers::FlatBufferBuilder& b, const PublicIdentity& p);
Result<PublicIdentity> IdentityFromTable(const wire::Identity* t);
// Accepts a key directory, an identity.json or an identity.bin.
Result<PublicIdentity> LoadIdentity(const std::string& path);

}  // namespace mlahub::identity
