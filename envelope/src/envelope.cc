#include "mlahub/envelope/envelope.h"

#include <cstring>
#include <utility>

#include "mlahub/core/utf8.h"
#include "mlahub/crypto/aead.h"
#include "mlahub/crypto/kdf.h"
#include "mlahub/crypto/random.h"
#include "mlahub/crypto/sign.h"
#include "mlahub/crypto/x25519.h"
#include "mlahub/schemas/envelope_generated.h"
#include "mlahub/schemas/json_codec.h"
#include "mlahub/schemas/kinds.h"

namespace mlahub::envelope {
namespace {

constexpr std::string_view kSignContext = "mlahub-envelope-v1";  // followed by 0x00
constexpr std::string_view kKeyContext{"mlahub-envelope-key-v1\0", 23};

uint32_t GetU32Le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
void PutU32LeAt(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

crypto::AeadKey PayloadKey(ByteView shared, ByteView ephemeral_pk, ByteView recipient_pk) {
  return crypto::DeriveKey(kKeyContext, {shared, ephemeral_pk, recipient_pk});
}

// Ed25519 input: context || header || ciphertext_hash.
Bytes SignedBytes(ByteView header, ByteView ct_hash) {
  // Sized once and filled by position (inserts into a reserved vector made
  // GCC 12 report a false -Wstringop-overflow).
  Bytes m(kSignContext.size() + 1 + header.size() + ct_hash.size());
  uint8_t* p = m.data();
  std::memcpy(p, kSignContext.data(), kSignContext.size());
  p += kSignContext.size();
  *p++ = 0;
  if (!header.empty()) std::memcpy(p, header.data(), header.size());
  p += header.size();
  if (!ct_hash.empty()) std::memcpy(p, ct_hash.data(), ct_hash.size());
  return m;
}

bool VecEquals(const flatbuffers::Vector<uint8_t>* v, ByteView b) {
  return v != nullptr && v->size() == b.size() && std::memcmp(v->data(), b.data(), b.size()) == 0;
}

std::string KindName(wire::MessageKind k) {
  const char* n = wire::EnumNameMessageKind(k);
  return (n != nullptr && *n != '\0') ? n : ("#" + std::to_string(static_cast<int>(k)));
}

Status VerifyPayload(ByteView payload, wire::MessageKind kind) {
  flatbuffers::Verifier v(payload.data(), payload.size());
  if (!wire::VerifyPayloadBuffer(v)) return Status::Malformed("payload is not a valid mlahub Payload");
  const wire::Payload* p = wire::GetPayload(payload.data());
  if (static_cast<uint8_t>(p->body_type()) != static_cast<uint8_t>(kind))
    return Status::Malformed("payload body is " + std::string(wire::EnumNameBody(p->body_type())) +
                             " but the header says " + KindName(kind));
  return Status::Ok();
}

}  // namespace

bool IsKnownKind(wire::MessageKind kind) { return schemas::IsKnownKind(kind); }

Result<wire::MessageKind> ParseKind(std::string_view name) {
  MLAHUB_ASSIGN_OR_RETURN(schemas::KindInfo k, schemas::ResolveKind(name));
  return k.kind;
}

crypto::Digest32 EnvelopeHash(ByteView frame) { return crypto::Sha256(frame); }

SecureBuffer::~SecureBuffer() {
  if (data_) crypto::Wipe(data_.get(), size_);
}
SecureBuffer& SecureBuffer::operator=(SecureBuffer&& o) noexcept {
  if (this != &o) {
    if (data_) crypto::Wipe(data_.get(), size_);
    data_ = std::move(o.data_);
    size_ = o.size_;
    o.size_ = 0;
  }
  return *this;
}

namespace {
Result<Bytes> SealImpl(const SealParams& p, const identity::NodeKeys& sender,
                       const identity::PublicIdentity& recipient, ByteView payload, const Clock& clock,
                       crypto::X25519KeyPair eph, const crypto::AeadNonce& nonce);
}  // namespace

Result<Bytes> Seal(const SealParams& p, const identity::NodeKeys& sender,
                   const identity::PublicIdentity& recipient, ByteView payload, const Clock& clock) {
  // Fresh ephemeral key and random nonce per message.
  crypto::AeadNonce nonce;
  crypto::RandomBytes(nonce.data(), nonce.size());
  return SealImpl(p, sender, recipient, payload, clock, crypto::X25519KeyPair::Generate(), nonce);
}

Result<Bytes> SealForTestVector(const SealParams& p, const identity::NodeKeys& sender,
                                const identity::PublicIdentity& recipient, ByteView payload,
                                const crypto::Secret<32>& ephemeral_secret, const std::array<uint8_t, 24>& nonce,
                                const Clock& clock) {
  crypto::Secret<32> sk;
  std::copy(ephemeral_secret.data(), ephemeral_secret.data() + 32, sk.data());
  return SealImpl(p, sender, recipient, payload, clock, crypto::X25519KeyPair::FromSecret(std::move(sk)), nonce);
}

namespace {
Result<Bytes> SealImpl(const SealParams& p, const identity::NodeKeys& sender,
                       const identity::PublicIdentity& recipient, ByteView payload, const Clock& clock,
                       crypto::X25519KeyPair eph, const crypto::AeadNonce& nonce) {
  if (!IsKnownKind(p.kind)) return Status::UnknownKind("cannot seal kind " + KindName(p.kind));
  MLAHUB_RETURN_IF_ERROR(VerifyPayload(payload, p.kind));
  std::string message_id = p.message_id.empty() ? crypto::NewMessageIdText() : p.message_id;
  if (!MessageId::Parse(message_id).ok())
    return Status::InvalidArgument("message id must be 32 lowercase hex characters");
  if (!p.in_reply_to.empty() && !MessageId::Parse(p.in_reply_to).ok())
    return Status::InvalidArgument("in-reply-to must be a message id (32 lowercase hex characters)");
  if (!IsValidUtf8(p.case_ref)) return Status::InvalidArgument("case reference must be UTF-8 text");
  UnixMillis created = p.created_ms != 0 ? p.created_ms : clock.NowMillis();
  UnixMillis expires = p.expires_ms != 0 ? p.expires_ms : created + kDefaultLifetimeMs;
  if (expires <= created) return Status::InvalidArgument("expiry must be after creation");
  if (expires - created > kMaxLifetimeMs) return Status::InvalidArgument("an envelope may live at most 400 days");
  if (payload.size() > UINT32_MAX - 4 - kPaddingBucket - crypto::kAeadTagSize)
    return Status::Oversize("payload too large for one envelope; send it as an evidence stream");

  // key = BLAKE2b(ctx || X25519(e, R) || e_pk || R_pk).
  auto shared = eph.Agree(recipient.enc_key);
  if (!shared.ok()) return Status::InvalidArgument("recipient's encryption key is invalid");
  crypto::AeadKey key = PayloadKey(ByteView(shared->data(), shared->size()), eph.public_key(), recipient.enc_key);

  auto skid = sender.sign.public_key();
  identity::KeyId sender_kid = identity::KeyIdOf(skid);
  identity::KeyId recipient_kid = recipient.enc_key_id();

  flatbuffers::FlatBufferBuilder b(512);
  auto mid = b.CreateString(message_id);
  auto snd = b.CreateString(sender.id.str());
  auto rcp = b.CreateString(recipient.id.str());
  auto cref = b.CreateString(p.case_ref);
  auto irt = b.CreateString(p.in_reply_to);
  auto skv = b.CreateVector(sender_kid.data(), sender_kid.size());
  auto rkv = b.CreateVector(recipient_kid.data(), recipient_kid.size());
  auto ekv = b.CreateVector(eph.public_key().data(), eph.public_key().size());
  auto nv = b.CreateVector(nonce.data(), nonce.size());
  wire::HeaderBuilder hb(b);
  hb.add_version(kHeaderVersion);
  hb.add_message_id(mid);
  hb.add_sender(snd);
  hb.add_recipient(rcp);
  hb.add_kind(p.kind);
  hb.add_case_ref(cref);
  hb.add_created_ms(created);
  hb.add_expires_ms(expires);
  hb.add_in_reply_to(irt);
  hb.add_handling(p.handling);
  hb.add_legal_basis(p.legal_basis);
  hb.add_priority(p.priority);
  hb.add_sender_key_id(skv);
  hb.add_recipient_key_id(rkv);
  hb.add_ephemeral_key(ekv);
  hb.add_nonce(nv);
  b.ForceDefaults(false);
  wire::FinishHeaderBuffer(b, hb.Finish());
  ByteView header(b.GetBufferPointer(), b.GetSize());
  if (header.size() > kMaxHeaderSize) return Status::InvalidArgument("header too large (case reference too long?)");

  // Plaintext: u32le(len) || payload || zeros to a multiple of kPaddingBucket.
  size_t framed = 4 + payload.size();
  size_t padded = (framed + kPaddingBucket - 1) / kPaddingBucket * kPaddingBucket;
  size_t ct_len = padded + crypto::kAeadTagSize;
  size_t total = kFrameOverhead + header.size() + ct_len;

  Bytes frame(total);
  uint8_t* out = frame.data();
  std::memcpy(out, kMagic, 4);
  PutU32LeAt(out + 4, static_cast<uint32_t>(header.size()));
  std::memcpy(out + 8, header.data(), header.size());
  uint8_t* ct_len_at = out + 8 + header.size();
  PutU32LeAt(ct_len_at, static_cast<uint32_t>(ct_len));
  uint8_t* ct = ct_len_at + 4;
  // Build the padded plaintext in place, then encrypt it where it lies.
  PutU32LeAt(ct, static_cast<uint32_t>(payload.size()));
  std::memcpy(ct + 4, payload.data(), payload.size());
  std::memset(ct + framed, 0, padded - framed);
  crypto::AeadEncryptInPlace(key, nonce, ct, padded, header);
  crypto::Digest32 ct_hash = crypto::Blake2b256(ByteView(ct, ct_len));
  std::memcpy(ct + ct_len, ct_hash.data(), ct_hash.size());
  crypto::Signature sig = sender.sign.Sign(SignedBytes(header, ct_hash));
  std::memcpy(ct + ct_len + ct_hash.size(), sig.data(), sig.size());
  return frame;
}
}  // namespace

Result<Parsed> Parse(ByteView f, size_t max_size) {
  if (f.size() > max_size)
    return Status::Oversize("envelope is " + std::to_string(f.size()) + " bytes; the limit is " +
                            std::to_string(max_size) + " (send large evidence as a stream)");
  if (f.size() < kFrameOverhead) return Status::Malformed("envelope is shorter than the frame overhead");
  if (std::memcmp(f.data(), kMagic, 4) != 0) return Status::Malformed("not an mlahub envelope (bad magic)");
  size_t h = GetU32Le(f.data() + 4);
  if (h == 0 || h > kMaxHeaderSize || 8 + h + 4 > f.size())
    return Status::Malformed("header length out of range");
  size_t c = GetU32Le(f.data() + 8 + h);
  if (c < crypto::kAeadTagSize || kFrameOverhead + h + c != f.size())
    return Status::Malformed("ciphertext length does not match the envelope size");
  Parsed p;
  p.frame = f;
  p.header_bytes = f.subspan(8, h);
  p.ciphertext = f.subspan(12 + h, c);
  p.ciphertext_hash = f.subspan(12 + h + c, kCiphertextHashSize);
  p.signature = f.subspan(12 + h + c + kCiphertextHashSize, 64);
  // Copying is not needed: FlatBuffers' verifier checks alignment of scalars
  // against the buffer start, and the header starts at offset 8.
  flatbuffers::Verifier v(p.header_bytes.data(), p.header_bytes.size(),
                          flatbuffers::Verifier::Options{.max_depth = 16, .max_tables = 64});
  if (!wire::VerifyHeaderBuffer(v)) return Status::Malformed("header is not a valid mlahub Header");
  p.header = wire::GetHeader(p.header_bytes.data());
  const wire::Header& hd = *p.header;
  auto len = [](const flatbuffers::Vector<uint8_t>* v) { return v == nullptr ? size_t{0} : v->size(); };
  if (len(hd.sender_key_id()) != kKeyIdSize || len(hd.recipient_key_id()) != kKeyIdSize)
    return Status::Malformed("header key ids must be 8 bytes each");
  if (len(hd.ephemeral_key()) != crypto::kX25519KeySize) return Status::Malformed("header ephemeral key must be 32 bytes");
  if (len(hd.nonce()) != crypto::kAeadNonceSize) return Status::Malformed("header nonce must be 24 bytes");
  // FlatBuffers strings are UTF-8 by the format, but its verifier does not
  // check it; the header's strings go into JSON, logs and stored records.
  for (auto [name, str] : {std::pair{"message_id", hd.message_id()}, {"sender", hd.sender()},
                           {"recipient", hd.recipient()}, {"case_ref", hd.case_ref()},
                           {"in_reply_to", hd.in_reply_to()}}) {
    if (str != nullptr && !IsValidUtf8(str->string_view()))
      return Status::Malformed(std::string("header ") + name + " is not valid UTF-8");
  }
  return p;
}

Status VerifyOrigin(const Parsed& env, const crypto::SignPublicKey& sender_key) {
  if (!crypto::Verify(sender_key, SignedBytes(env.header_bytes, env.ciphertext_hash), env.signature))
    return Status::BadSignature("signature does not verify with " + std::string(env.sender()) + "'s key");
  crypto::Digest32 h = crypto::Blake2b256(env.ciphertext);
  if (!crypto::ConstantTimeEqual(h.data(), env.ciphertext_hash.data(), h.size()))
    return Status::TamperedCiphertext("ciphertext does not match the hash its sender signed");
  if (env.header->version() != kHeaderVersion)
    return Status::UnsupportedVersion("header version " + std::to_string(env.header->version()) +
                                      " is not supported (this implementation speaks 1)");
  return Status::Ok();
}

Status CheckTimes(const wire::Header& h, UnixMillis now, int64_t max_skew_ms) {
  if (h.created_ms() <= 0 || h.expires_ms() <= h.created_ms())
    return Status::Expired("envelope carries no valid validity window");
  if (h.expires_ms() - h.created_ms() > kMaxLifetimeMs)
    return Status::Expired("envelope claims a validity window longer than 400 days");
  if (now > h.expires_ms())
    return Status::Expired("envelope expired at " + FormatRfc3339(h.expires_ms()) + " (now " + FormatRfc3339(now) + ")");
  if (h.created_ms() > now + max_skew_ms)
    return Status::Expired("envelope is dated " + FormatRfc3339(h.created_ms()) +
                           ", in the future beyond the allowed clock skew");
  return Status::Ok();
}

namespace {
Result<Opened> OpenParsed(const Parsed& env, const identity::NodeKeys& me, const identity::PublicIdentity& sender,
                          const OpenOptions& opt);
}  // namespace

Result<Opened> OpenWithAny(ByteView frame, std::span<const identity::NodeKeys* const> keys,
                           const identity::PublicIdentity& sender, const OpenOptions& opt) {
  MLAHUB_CHECK_MSG(!keys.empty(), "OpenWithAny needs at least one key set");
  MLAHUB_ASSIGN_OR_RETURN(Parsed env, Parse(frame, opt.max_size));
  // The key set the header names; the first (current) one when none does.
  const identity::NodeKeys* me = keys.front();
  for (const identity::NodeKeys* k : keys.subspan(1)) {
    if (VecEquals(env.header->recipient_key_id(), k->Public().enc_key_id())) {
      me = k;
      break;
    }
  }
  return OpenParsed(env, *me, sender, opt);
}

Result<Opened> Open(ByteView frame, const identity::NodeKeys& me,
                    const identity::PublicIdentity& sender, const OpenOptions& opt) {
  MLAHUB_ASSIGN_OR_RETURN(Parsed env, Parse(frame, opt.max_size));
  return OpenParsed(env, me, sender, opt);
}

namespace {
Result<Opened> OpenParsed(const Parsed& env, const identity::NodeKeys& me, const identity::PublicIdentity& sender,
                          const OpenOptions& opt) {
  const wire::Header& h = *env.header;
  identity::KeyId my_kid = me.Public().enc_key_id();
  bool addressed_to_me = h.recipient()->string_view() == me.id.str() && VecEquals(h.recipient_key_id(), my_kid);

  // Decrypts with the header as associated data. kMalformed for an ephemeral
  // key that is a low-order point (no honest sealer makes one),
  // kTamperedCiphertext when authentication fails.
  auto decrypt = [&](SecureBuffer& plain) -> Status {
    crypto::X25519PublicKey eph;
    std::copy(h.ephemeral_key()->begin(), h.ephemeral_key()->end(), eph.begin());
    auto shared = me.enc.Agree(eph);
    if (!shared.ok()) return Status::Malformed("ephemeral key is a low-order point");
    crypto::AeadKey key = PayloadKey(ByteView(shared->data(), shared->size()), eph, me.enc.public_key());
    crypto::AeadNonce nonce;
    std::copy(h.nonce()->begin(), h.nonce()->end(), nonce.begin());
    plain = SecureBuffer(env.ciphertext.size());
    std::memcpy(plain.data(), env.ciphertext.data(), env.ciphertext.size());
    if (!crypto::AeadDecryptInPlace(key, nonce, plain.data(), plain.size(), env.header_bytes))
      return Status::TamperedCiphertext("payload does not decrypt with this node's key");
    return Status::Ok();
  };

  SecureBuffer plain;
  if (!crypto::Verify(sender.sign_key, SignedBytes(env.header_bytes, env.ciphertext_hash), env.signature)) {
    // Say which part changed. If the payload still opens with this header as
    // associated data, header and ciphertext are as sealed: the signature (or
    // the signer) is wrong. If not, the header was altered.
    if (addressed_to_me && !decrypt(plain).ok())
      return Status::TamperedHeader("header was altered after sealing (signature and encryption binding fail)");
    return Status::BadSignature("signature does not verify with " + sender.id.str() + "'s key");
  }
  crypto::Digest32 ch = crypto::Blake2b256(env.ciphertext);
  if (!crypto::ConstantTimeEqual(ch.data(), env.ciphertext_hash.data(), ch.size()))
    return Status::TamperedCiphertext("ciphertext does not match the hash its sender signed");
  if (h.version() != kHeaderVersion)
    return Status::UnsupportedVersion("header version " + std::to_string(h.version()) + " is not supported");
  if (h.sender()->string_view() != sender.id.str() || !VecEquals(h.sender_key_id(), identity::KeyIdOf(sender.sign_key)))
    return Status::SenderMismatch("envelope names sender " + std::string(h.sender()->string_view()) +
                                  " but is signed by " + sender.id.str());
  if (!addressed_to_me)
    return Status::WrongRecipient("envelope is sealed for " + std::string(h.recipient()->string_view()) +
                                  (h.recipient()->string_view() == me.id.str() ? " under another encryption key" : "") +
                                  ", not for " + me.id.str());
  if (!IsKnownKind(h.kind()))
    return Status::UnknownKind("kind " + std::to_string(static_cast<int>(h.kind())) +
                               " is not known to this version of mlahub");
  if (!MessageId::Parse(h.message_id()->string_view()).ok())
    return Status::Malformed("message id is not 32 lowercase hex characters");
  if (h.in_reply_to() != nullptr && h.in_reply_to()->size() != 0 &&
      !MessageId::Parse(h.in_reply_to()->string_view()).ok())
    return Status::Malformed("in_reply_to is not a message id (32 lowercase hex characters)");
  MLAHUB_RETURN_IF_ERROR(CheckTimes(h, opt.clock->NowMillis(), opt.max_clock_skew_ms));
  MLAHUB_RETURN_IF_ERROR(decrypt(plain));

  // Unframe: u32le(len) || payload || zero padding.
  size_t plain_size = plain.size() - crypto::kAeadTagSize;
  if (plain_size < 4) return Status::Malformed("payload framing is truncated");
  size_t len = GetU32Le(plain.data());
  if (len > plain_size - 4) return Status::Malformed("payload length exceeds the plaintext");
  if (plain_size != (4 + len + kPaddingBucket - 1) / kPaddingBucket * kPaddingBucket)
    return Status::Malformed("payload padding is not the least multiple of 256 bytes");
  for (size_t i = 4 + len; i < plain_size; ++i)
    if (plain.data()[i] != 0) return Status::Malformed("payload padding is not zero");
  ByteView payload(plain.data() + 4, len);
  MLAHUB_RETURN_IF_ERROR(VerifyPayload(payload, h.kind()));

  Opened o;
  o.message_id = h.message_id()->str();
  o.sender = h.sender()->str();
  o.recipient = h.recipient()->str();
  o.kind = h.kind();
  o.case_ref = h.case_ref() ? h.case_ref()->str() : "";
  o.created_ms = h.created_ms();
  o.expires_ms = h.expires_ms();
  o.in_reply_to = h.in_reply_to() ? h.in_reply_to()->str() : "";
  o.handling = h.handling();
  o.legal_basis = h.legal_basis();
  o.priority = h.priority();
  o.plaintext = std::move(plain);
  o.payload_size = len;
  return o;
}
}  // namespace

Result<Bytes> BuildPayloadFromJson(wire::MessageKind kind, std::string_view body_json) {
  if (!IsKnownKind(kind)) return Status::UnknownKind("unknown kind");
  std::string name = wire::EnumNameMessageKind(kind);
  // FlatBuffers' JSON for a union: the type field, then the table.
  std::string json = "{\"body_type\":\"" + name + "\",\"body\":";
  json.append(body_json);
  json += "}";
  auto r = schemas::JsonCodec::Instance().ToBinary("Payload", json, wire::PayloadIdentifier());
  if (!r.ok()) return Status::Malformed("body is not a valid " + name + ": " + r.status().message());
  return r;
}

Result<std::string> BodyToJson(ByteView payload) {
  flatbuffers::Verifier v(payload.data(), payload.size());
  if (!wire::VerifyPayloadBuffer(v)) return Status::Malformed("payload is not a valid mlahub Payload");
  const wire::Payload* p = wire::GetPayload(payload.data());
  if (p->body() == nullptr) return Status::Malformed("payload has no body");
  return schemas::JsonCodec::Instance().TableToJson(wire::EnumNameBody(p->body_type()), p->body());
}

}  // namespace mlahub::envelope
