#include "mlahub/storage/note.h"

#include <charconv>
#include <cstdio>

#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"

namespace mlahub::storage {
namespace {

// Splits off the next line (without its '\n'); false if none is left.
bool NextLine(std::string_view& rest, std::string_view& line) {
  size_t nl = rest.find('\n');
  if (nl == std::string_view::npos) return false;
  line = rest.substr(0, nl);
  rest.remove_prefix(nl + 1);
  return true;
}

}  // namespace

bool IsValidKeyName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == '+' || u >= 0x7f) return false;
  }
  return true;
}

uint32_t NoteKeyId(std::string_view key_name, const crypto::SignPublicKey& public_key) {
  crypto::Sha256Stream s;
  s.Update(AsBytes(key_name));
  s.Update(uint8_t{0x0A});
  s.Update(kNoteEd25519Type);
  s.Update(ByteView(public_key.data(), public_key.size()));
  crypto::Digest32 d = s.Final();
  return (uint32_t{d[0]} << 24) | (uint32_t{d[1]} << 16) | (uint32_t{d[2]} << 8) | uint32_t{d[3]};
}

std::string VerifierKey(std::string_view key_name, const crypto::SignPublicKey& public_key) {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", NoteKeyId(key_name, public_key));
  Bytes material;
  material.push_back(kNoteEd25519Type);
  material.insert(material.end(), public_key.begin(), public_key.end());
  return std::string(key_name) + "+" + hex + "+" + crypto::ToBase64(material);
}

Result<ParsedVerifierKey> ParseVerifierKey(std::string_view vkey) {
  size_t p1 = vkey.find('+');
  if (p1 == std::string_view::npos) return Status::Malformed("verifier key has no '+'");
  size_t p2 = vkey.find('+', p1 + 1);
  if (p2 == std::string_view::npos) return Status::Malformed("verifier key has one '+' only");
  ParsedVerifierKey out;
  out.name = std::string(vkey.substr(0, p1));
  if (!IsValidKeyName(out.name)) return Status::Malformed("verifier key has an invalid key name");
  std::string_view hex = vkey.substr(p1 + 1, p2 - p1 - 1);
  if (hex.size() != 8) return Status::Malformed("verifier key id must be 8 hex digits");
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return Status::Malformed("verifier key id is not lowercase hex");
  std::from_chars(hex.data(), hex.data() + hex.size(), out.key_id, 16);
  MLAHUB_ASSIGN_OR_RETURN(Bytes material, crypto::FromBase64(vkey.substr(p2 + 1)));
  if (material.size() != 1 + crypto::kSignPublicKeySize || material[0] != kNoteEd25519Type)
    return Status::Malformed("verifier key is not an Ed25519 key (type 0x01, 32 bytes)");
  std::copy(material.begin() + 1, material.end(), out.public_key.begin());
  if (NoteKeyId(out.name, out.public_key) != out.key_id)
    return Status::Malformed("verifier key id does not match its name and key");
  return out;
}

Result<std::unique_ptr<Ed25519NoteSigner>> Ed25519NoteSigner::Create(std::string key_name,
                                                                       crypto::SigningKey key) {
  if (!IsValidKeyName(key_name))
    return Status::InvalidArgument("invalid note key name '" + key_name +
                                   "': must be non-empty, ASCII, without spaces or '+'");
  return std::unique_ptr<Ed25519NoteSigner>(new Ed25519NoteSigner(std::move(key_name), std::move(key)));
}

std::string SignNote(std::string_view text, const NoteSigner& signer) {
  MLAHUB_CHECK_MSG(!text.empty() && text.back() == '\n', "note text must end in a newline");
  crypto::Signature sig = signer.Sign(AsBytes(text));
  uint32_t id = NoteKeyId(signer.key_name(), signer.public_key());
  Bytes blob = {static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
  blob.insert(blob.end(), sig.begin(), sig.end());
  std::string out(text);
  out += "\n";
  out += kEmDash;
  out += " " + signer.key_name() + " " + crypto::ToBase64(blob) + "\n";
  return out;
}

Result<std::string> OpenNote(std::string_view note, std::string_view key_name,
                             const crypto::SignPublicKey& public_key) {
  for (char c : note) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\n') return Status::Malformed("note contains a control character");
  }
  if (note.empty() || note.back() != '\n') return Status::Malformed("note does not end in a newline");
  // The text is separated from the signatures by the last blank line.
  size_t sep = note.rfind("\n\n");
  if (sep == std::string_view::npos) return Status::Malformed("note has no blank line before its signatures");
  std::string_view text = note.substr(0, sep + 1);
  std::string_view sigs = note.substr(sep + 2);
  if (sigs.empty()) return Status::Malformed("note has no signature lines");
  uint32_t want_id = NoteKeyId(key_name, public_key);
  bool verified = false;
  std::string_view line;
  while (NextLine(sigs, line)) {
    std::string prefix = std::string(kEmDash) + " ";
    if (line.substr(0, prefix.size()) != prefix) return Status::Malformed("malformed signature line");
    line.remove_prefix(prefix.size());
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return Status::Malformed("signature line has no signature");
    std::string_view name = line.substr(0, sp);
    if (!IsValidKeyName(name)) return Status::Malformed("signature line has an invalid key name");
    MLAHUB_ASSIGN_OR_RETURN(Bytes blob, crypto::FromBase64(line.substr(sp + 1)));
    if (blob.size() < 5) return Status::Malformed("signature is too short");
    uint32_t id = (uint32_t{blob[0]} << 24) | (uint32_t{blob[1]} << 16) | (uint32_t{blob[2]} << 8) | uint32_t{blob[3]};
    if (name != key_name || id != want_id) continue;  // another key: ignored
    if (!crypto::Verify(public_key, AsBytes(text), ByteView(blob).subspan(4)))
      return Status::BadSignature("note signature by " + std::string(key_name) + " does not verify");
    verified = true;
  }
  if (!sigs.empty()) return Status::Malformed("note does not end with a complete signature line");
  if (!verified) return Status::BadSignature("note carries no signature by " + std::string(key_name));
  return std::string(text);
}

std::string CheckpointText(const Checkpoint& c) {
  return c.origin + "\n" + std::to_string(c.size) + "\n" +
         crypto::ToBase64(ByteView(c.root.data(), c.root.size())) + "\n";
}

Result<Checkpoint> ParseCheckpointText(std::string_view text) {
  Checkpoint c;
  std::string_view rest = text, origin, size, root;
  if (!NextLine(rest, origin) || !NextLine(rest, size) || !NextLine(rest, root))
    return Status::Malformed("checkpoint needs origin, size and root lines");
  if (origin.empty()) return Status::Malformed("checkpoint origin is empty");
  c.origin = std::string(origin);
  if (size.empty() || (size.size() > 1 && size[0] == '0') || size.size() > 20)
    return Status::Malformed("checkpoint size is not a canonical decimal");
  auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), c.size);
  if (ec != std::errc() || ptr != size.data() + size.size())
    return Status::Malformed("checkpoint size is not a decimal number");
  MLAHUB_ASSIGN_OR_RETURN(Bytes r, crypto::FromBase64(root));
  if (r.size() != kHashSize) return Status::Malformed("checkpoint root is not 32 bytes");
  std::copy(r.begin(), r.end(), c.root.begin());
  std::string_view ext;
  while (NextLine(rest, ext))
    if (ext.empty()) return Status::Malformed("checkpoint has an empty extension line");
  if (!rest.empty()) return Status::Malformed("checkpoint text does not end in a newline");
  return c;
}

}  // namespace mlahub::storage
