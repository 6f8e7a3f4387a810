// C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and C2SP
// transparency-log checkpoints (c2sp.org/tlog-checkpoint).
//
// A signed note is its text (ending in a newline), a blank line, and
// signature lines "\u2014 <key name> <base64(4-byte key id || signature)>\n".
// The key id of an Ed25519 key is SHA-256(name || 0x0A || 0x01 || pk)[:4],
// big-endian. A checkpoint is a note whose text is
// "<origin>\n<tree size>\n<base64 root hash>\n".
//
// Thread-safety: free functions are pure; a NoteSigner must be safe to call
// from any thread (Ed25519NoteSigner is: signing reads only its key).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/sign.h"
#include "mlahub/storage/merkle.h"

namespace mlahub::storage {

inline constexpr uint8_t kNoteEd25519Type = 0x01;
inline constexpr std::string_view kEmDash = "\xE2\x80\x94";  // U+2014

// Non-empty, valid UTF-8 without Unicode spaces, '+' or control characters
// (checked for ASCII; non-ASCII bytes are refused to stay on the safe side).
bool IsValidKeyName(std::string_view name);

uint32_t NoteKeyId(std::string_view key_name, const crypto::SignPublicKey& public_key);
// "<name>+<8 hex key id>+<base64(0x01 || public key)>".
std::string VerifierKey(std::string_view key_name, const crypto::SignPublicKey& public_key);

struct ParsedVerifierKey {
  std::string name;
  uint32_t key_id = 0;
  crypto::SignPublicKey public_key{};
};
// kMalformed unless a well-formed Ed25519 verifier key whose id matches.
Result<ParsedVerifierKey> ParseVerifierKey(std::string_view vkey);

// Who signs notes: a key name and an Ed25519 key. The ledger takes one so
// that the hub's key can live elsewhere (a key file, later an HSM).
class NoteSigner {
 public:
  virtual ~NoteSigner() = default;
  virtual const std::string& key_name() const = 0;
  virtual const crypto::SignPublicKey& public_key() const = 0;
  virtual crypto::Signature Sign(ByteView message) const = 0;
};

class Ed25519NoteSigner final : public NoteSigner {
 public:
  // kInvalidArgument if the name is not a valid key name.
  static Result<std::unique_ptr<Ed25519NoteSigner>> Create(std::string key_name, crypto::SigningKey key);
  const std::string& key_name() const override { return name_; }
  const crypto::SignPublicKey& public_key() const override { return key_.public_key(); }
  crypto::Signature Sign(ByteView message) const override { return key_.Sign(message); }

 private:
  Ed25519NoteSigner(std::string name, crypto::SigningKey key) : name_(std::move(name)), key_(std::move(key)) {}
  std::string name_;
  crypto::SigningKey key_;
};

// text + "\n" + one signature line. `text` must end in a newline.
std::string SignNote(std::string_view text, const NoteSigner& signer);

// Checks that `note` is a well-formed signed note carrying a signature by
// (key_name, public_key) that verifies, ignoring signatures of other keys as
// C2SP requires. Returns the text. kMalformed if the note is not well formed,
// kBadSignature if no signature by that key is present or one fails.
Result<std::string> OpenNote(std::string_view note, std::string_view key_name,
                             const crypto::SignPublicKey& public_key);

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Hash root{};
};

std::string CheckpointText(const Checkpoint& c);
// Parses checkpoint text (extension lines are allowed and ignored).
// kMalformed names what is wrong.
Result<Checkpoint> ParseCheckpointText(std::string_view text);

}  // namespace mlahub::storage
