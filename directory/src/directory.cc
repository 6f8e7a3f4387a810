#include "mlahub/directory/directory.h"

#include "mlahub/schemas/directory_generated.h"
#include "mlahub/schemas/json_codec.h"

namespace mlahub::directory {
namespace {

constexpr std::string_view kSignContext = "mlahub-directory-v1";  // followed by 0x00

Bytes SignedBytes(ByteView dir) {
  Bytes m(kSignContext.begin(), kSignContext.end());
  m.push_back(0);
  m.insert(m.end(), dir.begin(), dir.end());
  return m;
}


}  // namespace

bool Entry::Accepts(wire::MessageKind k) const {
  if (accepts.empty()) return true;
  return std::find(accepts.begin(), accepts.end(), k) != accepts.end();
}

const Entry* Directory::Find(std::string_view id) const {
  auto it = entries_.find(std::string(id));
  return it == entries_.end() ? nullptr : &it->second;
}

bool Directory::ActiveAt(const Entry& e, UnixMillis now) {
  if (e.revoked) return false;
  if (e.valid_from_ms != 0 && now < e.valid_from_ms) return false;
  if (e.valid_until_ms != 0 && now > e.valid_until_ms) return false;
  return true;
}

Status Directory::CheckSender(std::string_view id, UnixMillis now) const {
  const Entry* e = Find(id);
  if (e == nullptr) return Status::UnknownSender(std::string(id) + " is not in directory version " + std::to_string(version_));
  if (e->revoked) return Status::Revoked(std::string(id) + " was revoked: " + e->revocation_reason);
  if (!ActiveAt(*e, now)) return Status::Revoked(std::string(id) + "'s keys are outside their validity period");
  return Status::Ok();
}

Status Directory::CheckRecipient(std::string_view id, wire::MessageKind kind, UnixMillis now) const {
  const Entry* e = Find(id);
  if (e == nullptr)
    return Status::UnknownRecipient(std::string(id) + " is not in directory version " + std::to_string(version_));
  if (e->revoked) return Status::Revoked("recipient " + std::string(id) + " was revoked: " + e->revocation_reason);
  if (!ActiveAt(*e, now)) return Status::Revoked("recipient " + std::string(id) + "'s keys are outside their validity period");
  if (!e->Accepts(kind))
    return Status::KindNotAccepted(std::string(id) + " does not accept " + wire::EnumNameMessageKind(kind));
  return Status::Ok();
}

const Entry* Directory::FindByCurveKey(const crypto::X25519PublicKey& key, UnixMillis now) const {
  for (const auto& [id, e] : entries_)
    if (e.identity.curve_key == key && ActiveAt(e, now)) return &e;
  return nullptr;
}

Status Directory::Add(Entry e) {
  const std::string& id = e.identity.id.str();
  if (entries_.count(id) != 0)
    return Status::AlreadyExists(id + " is already in the directory (use rotate to change its keys)");
  for (const auto& [other_id, o] : entries_) {
    if (o.identity.sign_key == e.identity.sign_key || o.identity.enc_key == e.identity.enc_key ||
        o.identity.curve_key == e.identity.curve_key)
      return Status::AlreadyExists(id + " reuses a key of " + other_id);
  }
  entries_.emplace(id, std::move(e));
  return Status::Ok();
}

Status Directory::Revoke(std::string_view id, std::string reason, UnixMillis now) {
  auto it = entries_.find(std::string(id));
  if (it == entries_.end()) return Status::NotFound(std::string(id) + " is not in the directory");
  if (reason.empty()) return Status::InvalidArgument("a revocation needs a reason");
  it->second.revoked = true;
  it->second.revoked_ms = now;
  it->second.revocation_reason = std::move(reason);
  return Status::Ok();
}

Status Directory::Rotate(const identity::PublicIdentity& keys) {
  auto it = entries_.find(keys.id.str());
  if (it == entries_.end()) return Status::NotFound(keys.id.str() + " is not in the directory (use add)");
  if (it->second.identity.sign_key == keys.sign_key && it->second.identity.enc_key == keys.enc_key &&
      it->second.identity.curve_key == keys.curve_key)
    return Status::InvalidArgument(keys.id.str() + " already has these keys");
  it->second.identity = keys;
  it->second.revoked = false;
  it->second.revoked_ms = 0;
  it->second.revocation_reason.clear();
  return Status::Ok();
}

Bytes Directory::EncodeUnsigned() const {
  flatbuffers::FlatBufferBuilder b(4096);
  std::vector<flatbuffers::Offset<wire::DirectoryEntry>> es;
  for (const auto& [id, e] : entries_) {
    const auto& p = e.identity;
    auto ident = identity::BuildIdentity(b, p);
    std::vector<uint8_t> kinds;
    for (auto k : e.accepts) kinds.push_back(static_cast<uint8_t>(k));
    auto caps = wire::CreateCapabilities(
        b, b.CreateVector(reinterpret_cast<const wire::MessageKind*>(kinds.data()), kinds.size()),
        b.CreateVectorOfStrings(e.languages), b.CreateString(e.untoc_18_14));
    auto treaty = wire::CreateTreatyStatus(b, e.untoc_party, e.protocol_party);
    es.push_back(wire::CreateDirectoryEntry(b, ident, b.CreateString(e.name), caps, treaty, e.valid_from_ms,
                                            e.valid_until_ms,
                                            e.revoked ? wire::EntryStatus::Revoked : wire::EntryStatus::Active,
                                            e.revoked_ms, b.CreateString(e.revocation_reason)));
  }
  auto dir = wire::CreateDirectory(b, b.CreateString(network_), version_, issued_ms_, b.CreateVector(es));
  b.Finish(dir);
  return Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

Result<Directory> Directory::DecodeUnsigned(ByteView buf) {
  flatbuffers::Verifier v(buf.data(), buf.size());
  if (!v.VerifyBuffer<wire::Directory>(nullptr)) return Status::Malformed("not a valid Directory");
  const wire::Directory* d = flatbuffers::GetRoot<wire::Directory>(buf.data());
  Directory out(d->network()->str(), d->version(), d->issued_ms());
  if (d->entries() == nullptr) return out;
  for (const auto* de : *d->entries()) {
    Entry e;
    auto ident = identity::IdentityFromTable(de->identity());
    if (!ident.ok()) {
      Status st = ident.status();
      return Status::Malformed("directory entry: " + st.message());
    }
    e.identity = *ident;
    const std::string key = e.identity.id.str();
    if (de->name()) e.name = de->name()->str();
    if (const auto* c = de->capabilities()) {
      if (c->accepts())
        for (auto k : *c->accepts()) e.accepts.push_back(static_cast<wire::MessageKind>(k));
      if (c->languages())
        for (const auto* l : *c->languages()) e.languages.push_back(l->str());
      if (c->untoc_18_14()) e.untoc_18_14 = c->untoc_18_14()->str();
    }
    if (const auto* t = de->treaty()) {
      e.untoc_party = t->untoc_party();
      e.protocol_party = t->protocol_party();
    }
    e.valid_from_ms = de->valid_from_ms();
    e.valid_until_ms = de->valid_until_ms();
    e.revoked = de->status() != wire::EntryStatus::Active;  // unknown status: treat as revoked
    e.revoked_ms = de->revoked_ms();
    if (de->revocation_reason()) e.revocation_reason = de->revocation_reason()->str();
    if (out.entries_.count(key) != 0) return Status::Malformed("directory lists " + key + " twice");
    out.entries_.emplace(key, std::move(e));
  }
  return out;
}

Bytes Directory::Sign(const crypto::SigningKey& key, const NodeId& signer) const {
  Bytes dir = EncodeUnsigned();
  crypto::Signature sig = key.Sign(SignedBytes(dir));
  flatbuffers::FlatBufferBuilder b(dir.size() + 256);
  auto dv = b.CreateVector(dir);
  auto sv = b.CreateString(signer.str());
  auto sg = b.CreateVector(sig.data(), sig.size());
  wire::FinishSignedDirectoryBuffer(b, wire::CreateSignedDirectory(b, dv, sv, sg));
  return Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

namespace {
Result<const wire::SignedDirectory*> Outer(ByteView buf) {
  flatbuffers::Verifier v(buf.data(), buf.size());
  if (!wire::VerifySignedDirectoryBuffer(v)) return Status::Malformed("not a valid signed mlahub directory");
  return wire::GetSignedDirectory(buf.data());
}
}  // namespace

Result<Directory> Directory::Verify(ByteView buf, const crypto::SignPublicKey& root) {
  MLAHUB_ASSIGN_OR_RETURN(const wire::SignedDirectory* sd, Outer(buf));
  ByteView dir(sd->directory()->data(), sd->directory()->size());
  if (!crypto::Verify(root, SignedBytes(dir), ByteView(sd->signature()->data(), sd->signature()->size())))
    return Status::BadSignature("directory signature does not verify with the operator's root key");
  return DecodeUnsigned(dir);
}

Result<Directory> Directory::DecodeUnverified(ByteView buf) {
  MLAHUB_ASSIGN_OR_RETURN(const wire::SignedDirectory* sd, Outer(buf));
  return DecodeUnsigned(ByteView(sd->directory()->data(), sd->directory()->size()));
}

Status Directory::AcceptNewer(const Directory& current, const Directory& candidate) {
  if (candidate.network_ != current.network_)
    return Status::InvalidArgument("directory is for network '" + candidate.network_ + "', not '" + current.network_ + "'");
  if (candidate.version_ <= current.version_)
    return Status::InvalidArgument("directory version " + std::to_string(candidate.version_) +
                                   " is not newer than the version held (" + std::to_string(current.version_) + ")");
  return Status::Ok();
}

std::string Directory::ToJson() const {
  Bytes bin = EncodeUnsigned();
  auto j = schemas::JsonCodec::Instance().ToJson("Directory", bin);
  MLAHUB_CHECK_MSG(j.ok(), j.status().ToString());
  return *j;
}

}  // namespace mlahub::directory
