#include "mlahub/identity/keys.h"

#include <sys/stat.h>

#include <filesystem>

#include "mlahub/core/file.h"
#include "mlahub/crypto/aead.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/kdf.h"
#include "mlahub/crypto/random.h"
#include "mlahub/schemas/directory_generated.h"
#include "mlahub/schemas/json_codec.h"
#include "mlahub/schemas/keyfile_generated.h"

namespace mlahub::identity {
namespace {

constexpr char kSecretFile[] = "node.key";
constexpr char kIdentityJson[] = "identity.json";
constexpr char kIdentityBin[] = "identity.bin";
constexpr size_t kSecretsSize = 96;
constexpr std::string_view kKeyFileAad = "mlahub-keyfile-v1";

Bytes KeyFileAad(const std::string& id) {
  Bytes aad(kKeyFileAad.begin(), kKeyFileAad.end());
  aad.push_back(0);
  aad.insert(aad.end(), id.begin(), id.end());
  return aad;
}

template <size_t N>
bool CopyExact(const flatbuffers::Vector<uint8_t>* v, std::array<uint8_t, N>& out) {
  if (v == nullptr || v->size() != N) return false;
  std::copy(v->begin(), v->end(), out.begin());
  return true;
}

}  // namespace

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kAuthority: return "authority";
    case Role::kHub: return "hub";
    case Role::kOperator: return "operator";
    default: return "unspecified";
  }
}

Result<Role> ParseRole(std::string_view name) {
  if (name == "authority") return Role::kAuthority;
  if (name == "hub") return Role::kHub;
  if (name == "operator") return Role::kOperator;
  return Status::InvalidArgument("unknown role '" + std::string(name) +
                                 "' (expected authority, hub or operator)");
}

KeyId KeyIdOf(ByteView public_key) {
  auto d = crypto::Sha256(public_key);
  KeyId id;
  std::copy(d.begin(), d.begin() + id.size(), id.begin());
  return id;
}

PublicIdentity NodeKeys::Public() const {
  PublicIdentity p;
  p.id = id;
  p.role = role;
  p.sign_key = sign.public_key();
  p.enc_key = enc.public_key();
  p.curve_key = curve.public_key();
  p.created_ms = created_ms;
  return p;
}

NodeKeys GenerateNodeKeys(const NodeId& id, Role role, UnixMillis now) {
  return NodeKeys{id, role, now, crypto::SigningKey::Generate(), crypto::X25519KeyPair::Generate(),
                  crypto::X25519KeyPair::Generate()};
}

flatbuffers::Offset<wire::Identity> BuildIdentity(flatbuffers::FlatBufferBuilder& b, const PublicIdentity& p) {
  auto id = b.CreateString(p.id.str());
  auto sk = b.CreateVector(p.sign_key.data(), p.sign_key.size());
  auto ek = b.CreateVector(p.enc_key.data(), p.enc_key.size());
  auto ck = b.CreateVector(p.curve_key.data(), p.curve_key.size());
  return wire::CreateIdentity(b, id, static_cast<wire::NodeRole>(p.role), sk, ek, ck, p.created_ms);
}

Bytes EncodeIdentity(const PublicIdentity& p) {
  flatbuffers::FlatBufferBuilder b(256);
  b.Finish(BuildIdentity(b, p));
  return Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

Result<PublicIdentity> IdentityFromTable(const wire::Identity* t) {
  PublicIdentity p;
  MLAHUB_ASSIGN_OR_RETURN(p.id, NodeId::Parse(t->id()->string_view()));
  p.role = static_cast<Role>(t->role());
  if (p.role != Role::kAuthority && p.role != Role::kHub && p.role != Role::kOperator)
    return Status::Malformed("identity of " + p.id.str() + " has no valid role");
  if (!CopyExact(t->sign_key(), p.sign_key) || !CopyExact(t->enc_key(), p.enc_key) ||
      !CopyExact(t->curve_key(), p.curve_key))
    return Status::Malformed("identity of " + p.id.str() + " needs three 32-byte public keys");
  p.created_ms = t->created_ms();
  return p;
}

Result<PublicIdentity> DecodeIdentity(ByteView buf) {
  flatbuffers::Verifier v(buf.data(), buf.size());
  if (!v.VerifyBuffer<wire::Identity>(nullptr)) return Status::Malformed("not a valid Identity");
  return IdentityFromTable(flatbuffers::GetRoot<wire::Identity>(buf.data()));
}

std::string IdentityToJson(const PublicIdentity& p) {
  Bytes bin = EncodeIdentity(p);
  auto json = schemas::JsonCodec::Instance().ToJson("Identity", bin);
  MLAHUB_CHECK_MSG(json.ok(), json.status().ToString());
  return *json;
}

Result<PublicIdentity> IdentityFromJson(std::string_view json) {
  MLAHUB_ASSIGN_OR_RETURN(Bytes bin, schemas::JsonCodec::Instance().ToBinary("Identity", json));
  return DecodeIdentity(bin);
}

Result<PublicIdentity> LoadIdentity(const std::string& path) {
  std::error_code ec;
  std::string file = path;
  if (std::filesystem::is_directory(path, ec)) file = (std::filesystem::path(path) / kIdentityBin).string();
  MLAHUB_ASSIGN_OR_RETURN(Bytes data, ReadFile(file, 1 << 20));
  // JSON text starts with '{' after optional whitespace; a FlatBuffer never
  // begins with one (its first four bytes are an offset).
  size_t i = 0;
  while (i < data.size() && std::isspace(data[i])) ++i;
  Result<PublicIdentity> r = (i < data.size() && data[i] == '{') ? IdentityFromJson(AsString(data))
                                                                 : DecodeIdentity(data);
  if (!r.ok()) return r.status().Annotate(file);
  return r;
}

Status WriteKeyDir(const NodeKeys& keys, const std::string& dir, std::string_view passphrase) {
  MLAHUB_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  std::string secret_path = (std::filesystem::path(dir) / kSecretFile).string();
  if (FileExists(secret_path))
    return Status::AlreadyExists(secret_path + " exists; refusing to overwrite a node's keys "
                                 "(move it away first if you mean to replace them)");

  crypto::Secret<kSecretsSize> secrets;
  std::copy(keys.sign.secret().data(), keys.sign.secret().data() + 32, secrets.data());
  std::copy(keys.enc.secret().data(), keys.enc.secret().data() + 32, secrets.data() + 32);
  std::copy(keys.curve.secret().data(), keys.curve.secret().data() + 32, secrets.data() + 64);

  flatbuffers::FlatBufferBuilder b(512);
  auto id = b.CreateString(keys.id.str());
  wire::KeyProtection protection = wire::KeyProtection::None;
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> salt_off, nonce_off, secrets_off;
  uint64_t ops = 0, mem = 0;
  if (!passphrase.empty()) {
    protection = wire::KeyProtection::Argon2idXChaCha20Poly1305;
    Bytes salt = crypto::RandomBytes(crypto::kPwSaltSize);
    auto params = crypto::PwHashParams::Moderate();
    ops = params.ops_limit;
    mem = params.mem_limit;
    MLAHUB_ASSIGN_OR_RETURN(crypto::Secret<32> kek, crypto::PassphraseKey(passphrase, salt, params));
    crypto::AeadNonce nonce;
    crypto::RandomBytes(nonce.data(), nonce.size());
    Bytes ct = crypto::AeadEncrypt(kek, nonce, ByteView(secrets.data(), secrets.size()),
                                   KeyFileAad(keys.id.str()));
    salt_off = b.CreateVector(salt);
    nonce_off = b.CreateVector(nonce.data(), nonce.size());
    secrets_off = b.CreateVector(ct);
  } else {
    secrets_off = b.CreateVector(secrets.data(), secrets.size());
  }
  auto sk = b.CreateVector(keys.sign.public_key().data(), 32);
  auto ek = b.CreateVector(keys.enc.public_key().data(), 32);
  auto ck = b.CreateVector(keys.curve.public_key().data(), 32);
  wire::KeyFileBuilder kb(b);
  kb.add_id(id);
  kb.add_created_ms(keys.created_ms);
  kb.add_protection(protection);
  kb.add_kdf_ops_limit(ops);
  kb.add_kdf_mem_limit(mem);
  if (!passphrase.empty()) {
    kb.add_kdf_salt(salt_off);
    kb.add_nonce(nonce_off);
  }
  kb.add_secrets(secrets_off);
  kb.add_sign_key(sk);
  kb.add_enc_key(ek);
  kb.add_curve_key(ck);
  wire::FinishKeyFileBuffer(b, kb.Finish());
  Status st = WriteFileAtomic(secret_path, ByteView(b.GetBufferPointer(), b.GetSize()), 0600);
  // The builder held the clear secrets when unprotected: wipe its memory.
  crypto::Wipe(b.GetBufferPointer(), b.GetSize());
  MLAHUB_RETURN_IF_ERROR(st);

  PublicIdentity pub = keys.Public();
  Bytes bin = EncodeIdentity(pub);
  MLAHUB_RETURN_IF_ERROR(WriteFileAtomic((std::filesystem::path(dir) / kIdentityBin).string(), bin, 0644));
  std::string json = IdentityToJson(pub);
  return WriteFileAtomic((std::filesystem::path(dir) / kIdentityJson).string(), AsBytes(json), 0644);
}

namespace {
Result<Bytes> ReadSecretFile(const std::string& dir, std::string* path_out) {
  std::string path = (std::filesystem::path(dir) / kSecretFile).string();
  *path_out = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Status::NotFound(path + " not found (create keys with: mlahub keygen --id CC-AUTH --out " + dir + ")");
  if ((st.st_mode & 077) != 0)
    return Status::PermissionDenied(path + " is readable by others; run: chmod 600 " + path);
  MLAHUB_ASSIGN_OR_RETURN(Bytes data, ReadFile(path, 1 << 16));
  flatbuffers::Verifier v(data.data(), data.size());
  if (!wire::VerifyKeyFileBuffer(v)) {
    crypto::Wipe(data.data(), data.size());
    return Status::Corruption(path + " is not an mlahub key file");
  }
  return data;
}
}  // namespace

Result<bool> KeyDirIsProtected(const std::string& dir) {
  std::string path;
  MLAHUB_ASSIGN_OR_RETURN(Bytes data, ReadSecretFile(dir, &path));
  bool prot = wire::GetKeyFile(data.data())->protection() != wire::KeyProtection::None;
  crypto::Wipe(data.data(), data.size());
  return prot;
}

Result<NodeKeys> LoadKeyDir(const std::string& dir, std::string_view passphrase) {
  std::string path;
  MLAHUB_ASSIGN_OR_RETURN(Bytes data, ReadSecretFile(dir, &path));
  struct Wiper {
    Bytes& d;
    ~Wiper() { crypto::Wipe(d.data(), d.size()); }
  } wiper{data};
  const wire::KeyFile* kf = wire::GetKeyFile(data.data());
  auto id = NodeId::Parse(kf->id()->string_view());
  if (!id.ok()) return Status::Corruption(path + ": " + id.status().message());
  crypto::Secret<kSecretsSize> secrets;
  const auto* sv = kf->secrets();
  switch (kf->protection()) {
    case wire::KeyProtection::None:
      if (sv->size() != kSecretsSize) return Status::Corruption(path + ": secrets have the wrong size");
      std::copy(sv->begin(), sv->end(), secrets.data());
      break;
    case wire::KeyProtection::Argon2idXChaCha20Poly1305: {
      if (passphrase.empty())
        return Status::BadPassphrase(path + " is protected by a passphrase; set MLAHUB_PASSPHRASE or "
                                            "run on a terminal to be asked for it");
      if (kf->kdf_salt() == nullptr || kf->nonce() == nullptr ||
          kf->nonce()->size() != crypto::kAeadNonceSize || sv->size() != kSecretsSize + crypto::kAeadTagSize)
        return Status::Corruption(path + ": protection parameters are missing");
      auto kek = crypto::PassphraseKey(passphrase, ByteView(kf->kdf_salt()->data(), kf->kdf_salt()->size()),
                                       {kf->kdf_ops_limit(), kf->kdf_mem_limit()});
      if (!kek.ok()) return kek.status().code() == Code::kMalformed ? Status::Corruption(path + ": " + kek.status().message()) : kek.status();
      crypto::AeadNonce nonce;
      std::copy(kf->nonce()->begin(), kf->nonce()->end(), nonce.begin());
      Bytes pt;
      if (!crypto::AeadDecrypt(*kek, nonce, ByteView(sv->data(), sv->size()), KeyFileAad(id->str()), pt))
        return Status::BadPassphrase("wrong passphrase for " + path + " (or the file was altered)");
      std::copy(pt.begin(), pt.end(), secrets.data());
      crypto::Wipe(pt.data(), pt.size());
      break;
    }
    default:
      return Status::Corruption(path + ": unknown key protection");
  }
  crypto::Secret<32> seed, enc_sk, curve_sk;
  std::copy(secrets.data(), secrets.data() + 32, seed.data());
  std::copy(secrets.data() + 32, secrets.data() + 64, enc_sk.data());
  std::copy(secrets.data() + 64, secrets.data() + 96, curve_sk.data());
  NodeKeys keys{*id, Role::kAuthority, kf->created_ms(), crypto::SigningKey::FromSeed(seed),
                crypto::X25519KeyPair::FromSecret(std::move(enc_sk)),
                crypto::X25519KeyPair::FromSecret(std::move(curve_sk))};
  // Cross-check against the stored public keys.
  crypto::SignPublicKey spk;
  crypto::X25519PublicKey epk, cpk;
  if (!CopyExact(kf->sign_key(), spk) || !CopyExact(kf->enc_key(), epk) || !CopyExact(kf->curve_key(), cpk) ||
      spk != keys.sign.public_key() || epk != keys.enc.public_key() || cpk != keys.curve.public_key())
    return Status::Corruption(path + ": secret keys do not match the public keys stored with them");
  // The role lives in the public identity beside the key file.
  auto pub = LoadIdentity((std::filesystem::path(dir) / kIdentityBin).string());
  if (pub.ok() && pub->sign_key == keys.sign.public_key()) keys.role = pub->role;
  return keys;
}

}  // namespace mlahub::identity
