#include "mlahub/envelope/envelope.h"

#include <gtest/gtest.h>

#include <map>

#include "mlahub/crypto/aead.h"
#include "mlahub/crypto/kdf.h"
#include "mlahub/crypto/random.h"
#include "mlahub/schemas/envelope_generated.h"

namespace mlahub::envelope {
namespace {

constexpr UnixMillis kNow = 1795824000000;  // 2026-11-28T00:00:00Z

const char* kMlaBody = R"({
  "summary_of_facts": "Request for bank records in a forced-labour case",
  "offences": [{"name": "Trafficking in persons"}]
})";

class EnvelopeTest : public ::testing::Test {
 protected:
  EnvelopeTest()
      : clock_(kNow),
        it_(identity::GenerateNodeKeys(*NodeId::Parse("IT-MOJ"), identity::Role::kAuthority, kNow)),
        ng_(identity::GenerateNodeKeys(*NodeId::Parse("NG-AGF"), identity::Role::kAuthority, kNow)),
        th_(identity::GenerateNodeKeys(*NodeId::Parse("TH-OAG"), identity::Role::kAuthority, kNow)) {}

  SealParams Params() {
    SealParams p;
    p.kind = wire::MessageKind::MlaRequest;
    p.case_ref = "IT-MOJ/2026/0042";
    p.handling = wire::HandlingCode::H2;
    p.legal_basis = wire::LegalBasis::Untoc;
    p.priority = wire::Priority::Urgent;
    return p;
  }
  Bytes SealMla(const SealParams& p) {
    auto payload = BuildPayloadFromJson(p.kind, kMlaBody);
    EXPECT_TRUE(payload.ok()) << payload.status().ToString();
    auto env = Seal(p, it_, ng_.Public(), *payload, clock_);
    EXPECT_TRUE(env.ok()) << env.status().ToString();
    return *env;
  }
  Result<Opened> OpenAtNg(ByteView frame, OpenOptions o = {}) {
    o.clock = &clock_;
    return Open(frame, ng_, it_.Public(), o);
  }

  FakeClock clock_;
  identity::NodeKeys it_, ng_, th_;
};

TEST_F(EnvelopeTest, RoundTrip) {
  SealParams p = Params();
  p.in_reply_to = "00112233445566778899aabbccddeeff";
  Bytes env = SealMla(p);
  auto o = OpenAtNg(env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->sender, "IT-MOJ");
  EXPECT_EQ(o->recipient, "NG-AGF");
  EXPECT_EQ(o->kind, wire::MessageKind::MlaRequest);
  EXPECT_EQ(o->case_ref, "IT-MOJ/2026/0042");
  EXPECT_EQ(o->created_ms, kNow);
  EXPECT_EQ(o->expires_ms, kNow + kDefaultLifetimeMs);
  EXPECT_EQ(o->in_reply_to, "00112233445566778899aabbccddeeff");
  EXPECT_EQ(o->handling, wire::HandlingCode::H2);
  EXPECT_EQ(o->legal_basis, wire::LegalBasis::Untoc);
  EXPECT_EQ(o->priority, wire::Priority::Urgent);
  EXPECT_EQ(o->message_id.size(), 32u);
  auto json = BodyToJson(o->payload());
  ASSERT_TRUE(json.ok());
  EXPECT_NE(json->find("forced-labour"), std::string::npos) << *json;
}

TEST_F(EnvelopeTest, PlaintextNeverInFrameAndIdsAreFresh) {
  Bytes a = SealMla(Params());
  Bytes b = SealMla(Params());
  std::string_view needle = "forced-labour";
  EXPECT_EQ(std::search(a.begin(), a.end(), needle.begin(), needle.end()), a.end());
  EXPECT_NE(Parse(a)->message_id(), Parse(b)->message_id());
  // Fresh ephemeral key per message.
  auto ea = Parse(a)->header->ephemeral_key();
  auto eb = Parse(b)->header->ephemeral_key();
  EXPECT_FALSE(std::equal(ea->begin(), ea->end(), eb->begin()));
  // The ciphertext length hides the body size to a 256-byte bucket.
  EXPECT_EQ((Parse(a)->ciphertext.size() - 16) % kPaddingBucket, 0u);
}

TEST_F(EnvelopeTest, KeepsCallerMessageId) {
  SealParams p = Params();
  p.message_id = "0123456789abcdef0123456789abcdef";
  Bytes env = SealMla(p);
  EXPECT_EQ(OpenAtNg(env)->message_id, p.message_id);
  p.message_id = "not-an-id";
  auto payload = BuildPayloadFromJson(p.kind, kMlaBody);
  EXPECT_EQ(Seal(p, it_, ng_.Public(), *payload, clock_).status().code(), Code::kInvalidArgument);
}

TEST_F(EnvelopeTest, BadSignature) {
  Bytes env = SealMla(Params());
  Bytes sig_flip = env;
  sig_flip[env.size() - 1] ^= 0x01;
  EXPECT_EQ(OpenAtNg(sig_flip).status().code(), Code::kBadSignature);
  // Verified against somebody else's key: the signer is not who we expect.
  auto r = Open(env, ng_, th_.Public(), {.clock = &clock_});
  EXPECT_EQ(r.status().code(), Code::kBadSignature);
}

TEST_F(EnvelopeTest, WrongRecipient) {
  Bytes env = SealMla(Params());
  auto r = Open(env, th_, it_.Public(), {.clock = &clock_});
  EXPECT_EQ(r.status().code(), Code::kWrongRecipient);
  // Same node id, rotated encryption key: still not for this key.
  identity::NodeKeys ng2 = identity::GenerateNodeKeys(ng_.id, identity::Role::kAuthority, kNow);
  EXPECT_EQ(Open(env, ng2, it_.Public(), {.clock = &clock_}).status().code(), Code::kWrongRecipient);
  // With the earlier keys kept beside the new ones, the key the header names opens it.
  const identity::NodeKeys* both[] = {&ng2, &ng_};
  auto opened = OpenWithAny(env, both, it_.Public(), {.clock = &clock_});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  const identity::NodeKeys* only_new[] = {&ng2};
  EXPECT_EQ(OpenWithAny(env, only_new, it_.Public(), {.clock = &clock_}).status().code(), Code::kWrongRecipient);
  const identity::NodeKeys* other_node[] = {&ng2, &th_};
  EXPECT_EQ(OpenWithAny(env, other_node, it_.Public(), {.clock = &clock_}).status().code(), Code::kWrongRecipient);
}

TEST_F(EnvelopeTest, TamperedHeader) {
  Bytes env = SealMla(Params());
  auto parsed = Parse(env);
  ASSERT_TRUE(parsed.ok());
  // Change the case reference in place (same length): header bytes differ.
  std::string_view cref = parsed->header->case_ref()->string_view();
  size_t at = static_cast<size_t>(reinterpret_cast<const uint8_t*>(cref.data()) - env.data());
  Bytes t = env;
  t[at + cref.size() - 1] = '3';
  EXPECT_EQ(OpenAtNg(t).status().code(), Code::kTamperedHeader);
}

TEST_F(EnvelopeTest, TamperedCiphertext) {
  Bytes env = SealMla(Params());
  auto parsed = Parse(env);
  size_t at = static_cast<size_t>(parsed->ciphertext.data() - env.data());
  Bytes t = env;
  t[at + 5] ^= 0x80;
  EXPECT_EQ(OpenAtNg(t).status().code(), Code::kTamperedCiphertext);
  // The broker, without the recipient's key, names it too.
  EXPECT_EQ(VerifyOrigin(*Parse(t), it_.sign.public_key()).code(), Code::kTamperedCiphertext);
  EXPECT_TRUE(VerifyOrigin(*Parse(env), it_.sign.public_key()).ok());
}

TEST_F(EnvelopeTest, Expired) {
  SealParams p = Params();
  p.expires_ms = kNow + 1000;
  Bytes env = SealMla(p);
  clock_.Set(kNow + 1001);
  EXPECT_EQ(OpenAtNg(env).status().code(), Code::kExpired);
  // Dated too far in the future.
  clock_.Set(kNow - kDefaultMaxClockSkewMs - 1);
  EXPECT_EQ(OpenAtNg(env).status().code(), Code::kExpired);
  clock_.Set(kNow - kDefaultMaxClockSkewMs + 1);
  EXPECT_TRUE(OpenAtNg(env).ok());
}

TEST_F(EnvelopeTest, MalformedAndOversize) {
  Bytes env = SealMla(Params());
  EXPECT_EQ(OpenAtNg(Bytes{}).status().code(), Code::kMalformed);
  EXPECT_EQ(OpenAtNg(Bytes(200, 0xab)).status().code(), Code::kMalformed);
  Bytes truncated(env.begin(), env.end() - 1);
  EXPECT_EQ(OpenAtNg(truncated).status().code(), Code::kMalformed);
  Bytes longer = env;
  longer.push_back(0);
  EXPECT_EQ(OpenAtNg(longer).status().code(), Code::kMalformed);
  EXPECT_EQ(OpenAtNg(env, {.max_size = env.size() - 1}).status().code(), Code::kOversize);
  EXPECT_TRUE(OpenAtNg(env, {.max_size = env.size()}).ok());
}

// An independent sealer written from docs/PROTOCOL.md with the primitives
// alone: it lets the test forge envelopes that mlahub's Seal refuses to make
// (unknown kinds, odd payloads) and checks the documented construction.
struct Knobs {
  size_t extra_padding = 0;         // bytes of zero padding beyond the least
  std::string in_reply_to;
  bool low_order_ephemeral = false;  // an all-zero ephemeral public key
  size_t key_id_size = 8;
  std::string case_ref = "REF/1";
};

Bytes ReferenceSeal(const identity::NodeKeys& from, const identity::PublicIdentity& to, uint8_t kind,
                    ByteView payload, UnixMillis created, UnixMillis expires, const Knobs& knobs = {}) {
  auto eph = crypto::X25519KeyPair::Generate();
  crypto::AeadNonce nonce;
  crypto::RandomBytes(nonce.data(), nonce.size());
  flatbuffers::FlatBufferBuilder b;
  auto skid = identity::KeyIdOf(from.sign.public_key());
  auto rkid = to.enc_key_id();
  std::vector<uint8_t> skv(skid.begin(), skid.begin() + knobs.key_id_size), rkv(rkid.begin(), rkid.end()),
      ekv(eph.public_key().begin(), eph.public_key().end()), nv(nonce.begin(), nonce.end());
  if (knobs.low_order_ephemeral) std::fill(ekv.begin(), ekv.end(), 0);
  std::string mid = crypto::NewMessageIdText();
  auto hdr = wire::CreateHeaderDirect(b, 1, mid.c_str(), from.id.str().c_str(), to.id.str().c_str(),
                                      static_cast<wire::MessageKind>(kind), knobs.case_ref.c_str(), created, expires,
                                      knobs.in_reply_to.c_str(), wire::HandlingCode::H0, wire::LegalBasis::Untoc,
                                      wire::Priority::Normal, &skv, &rkv, &ekv, &nv);
  wire::FinishHeaderBuffer(b, hdr);
  Bytes header(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  auto shared = eph.Agree(to.enc_key);
  if (knobs.low_order_ephemeral) std::fill(shared->data(), shared->data() + 32, 0);
  std::string_view ctx{"mlahub-envelope-key-v1\0", 23};
  crypto::AeadKey key = crypto::DeriveKey(ctx, {ByteView(shared->data(), 32), eph.public_key(), to.enc_key});
  Bytes plain;
  PutU32Le(plain, static_cast<uint32_t>(payload.size()));
  plain.insert(plain.end(), payload.begin(), payload.end());
  plain.resize((plain.size() + 255) / 256 * 256 + knobs.extra_padding, 0);
  Bytes ct = crypto::AeadEncrypt(key, nonce, plain, header);
  auto ct_hash = crypto::Blake2b256(ct);
  Bytes signed_bytes = ToBytes(std::string_view{"mlahub-envelope-v1\0", 19});
  signed_bytes.insert(signed_bytes.end(), header.begin(), header.end());
  signed_bytes.insert(signed_bytes.end(), ct_hash.begin(), ct_hash.end());
  auto sig = from.sign.Sign(signed_bytes);
  Bytes frame = ToBytes("MLE1");
  PutU32Le(frame, static_cast<uint32_t>(header.size()));
  frame.insert(frame.end(), header.begin(), header.end());
  PutU32Le(frame, static_cast<uint32_t>(ct.size()));
  frame.insert(frame.end(), ct.begin(), ct.end());
  frame.insert(frame.end(), ct_hash.begin(), ct_hash.end());
  frame.insert(frame.end(), sig.begin(), sig.end());
  return frame;
}

TEST_F(EnvelopeTest, ReferenceConstructionInteroperates) {
  auto payload = BuildPayloadFromJson(wire::MessageKind::MlaRequest, kMlaBody);
  Bytes env = ReferenceSeal(it_, ng_.Public(), 1, *payload, kNow, kNow + 60000);
  auto o = OpenAtNg(env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(Bytes(o->payload().begin(), o->payload().end()), *payload);
}

TEST_F(EnvelopeTest, StrictRulesForSignedButMalformedEnvelopes) {
  auto payload = *BuildPayloadFromJson(wire::MessageKind::MlaRequest, kMlaBody);
  auto seal = [&](Knobs k, UnixMillis expires = kNow + 60000) {
    return ReferenceSeal(it_, ng_.Public(), 1, payload, kNow, expires, k);
  };
  EXPECT_TRUE(OpenAtNg(seal({})).ok());
  EXPECT_EQ(OpenAtNg(seal({.extra_padding = 256})).status().code(), Code::kMalformed);
  EXPECT_EQ(OpenAtNg(seal({.in_reply_to = "not-a-message-id"})).status().code(), Code::kMalformed);
  EXPECT_TRUE(OpenAtNg(seal({.in_reply_to = "00112233445566778899aabbccddeeff"})).ok());
  EXPECT_EQ(OpenAtNg(seal({.low_order_ephemeral = true})).status().code(), Code::kMalformed);
  EXPECT_EQ(OpenAtNg(seal({.key_id_size = 7})).status().code(), Code::kMalformed);
  EXPECT_EQ(OpenAtNg(seal({}, kNow + kMaxLifetimeMs + 1)).status().code(), Code::kExpired);
  EXPECT_TRUE(OpenAtNg(seal({}, kNow + kMaxLifetimeMs)).ok());
  // Header strings must be UTF-8: refused at parsing (the hub refuses it
  // too), before they reach a log, a JSON record or a person.
  EXPECT_TRUE(OpenAtNg(seal({.case_ref = "caf\xC3\xA9/2026"})).ok());
  for (std::string bad : {"\xFF\xFE", "REF/\xC0\xAF", "\xED\xA0\x80", "REF/\xE2\x82"}) {
    Bytes env = seal({.case_ref = bad});
    EXPECT_EQ(Parse(env).status().code(), Code::kMalformed);
    auto o = OpenAtNg(env);
    EXPECT_EQ(o.status().code(), Code::kMalformed);
    EXPECT_NE(o.status().message().find("case_ref is not valid UTF-8"), std::string::npos) << o.status().message();
  }
  SealParams p;
  p.kind = wire::MessageKind::MlaRequest;
  p.case_ref = "IT-MOJ/\xFF";
  auto payload2 = BuildPayloadFromJson(p.kind, kMlaBody);
  EXPECT_EQ(Seal(p, it_, ng_.Public(), *payload2, clock_).status().code(), Code::kInvalidArgument);
}

TEST_F(EnvelopeTest, UnknownKind) {
  auto payload = BuildPayloadFromJson(wire::MessageKind::MlaRequest, kMlaBody);
  Bytes env = ReferenceSeal(it_, ng_.Public(), 200, *payload, kNow, kNow + 60000);
  EXPECT_EQ(OpenAtNg(env).status().code(), Code::kUnknownKind);
  SealParams p = Params();
  p.kind = static_cast<wire::MessageKind>(200);
  EXPECT_EQ(Seal(p, it_, ng_.Public(), *payload, clock_).status().code(), Code::kUnknownKind);
}

TEST_F(EnvelopeTest, KindMustMatchBody) {
  auto payload = BuildPayloadFromJson(wire::MessageKind::MlaRequest, kMlaBody);
  Bytes env = ReferenceSeal(it_, ng_.Public(), static_cast<uint8_t>(wire::MessageKind::ExtraditionRequest),
                            *payload, kNow, kNow + 60000);
  EXPECT_EQ(OpenAtNg(env).status().code(), Code::kMalformed);
  SealParams p = Params();
  p.kind = wire::MessageKind::ExtraditionRequest;
  EXPECT_EQ(Seal(p, it_, ng_.Public(), *payload, clock_).status().code(), Code::kMalformed);
}

TEST_F(EnvelopeTest, SenderMismatch) {
  // TH-OAG signs an envelope that names IT-MOJ as its sender.
  auto payload = BuildPayloadFromJson(wire::MessageKind::MlaRequest, kMlaBody);
  identity::NodeKeys impostor = identity::GenerateNodeKeys(it_.id, identity::Role::kAuthority, kNow);
  Bytes env = ReferenceSeal(impostor, ng_.Public(), 1, *payload, kNow, kNow + 60000);
  // Verified with the real IT-MOJ key: the signature fails.
  EXPECT_EQ(OpenAtNg(env).status().code(), Code::kBadSignature);
  // Verified with TH-OAG's identity, whose key did sign: the header lies about the sender.
  identity::PublicIdentity as_th = impostor.Public();
  as_th.id = th_.id;
  EXPECT_EQ(Open(env, ng_, as_th, {.clock = &clock_}).status().code(), Code::kSenderMismatch);
}

// Every single-bit change anywhere in the frame is refused.
TEST_F(EnvelopeTest, EveryByteFlipIsRefused) {
  Bytes env = SealMla(Params());
  std::map<Code, int> seen;
  for (size_t i = 0; i < env.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80}) {
      Bytes t = env;
      t[i] ^= mask;
      auto r = OpenAtNg(t);
      ASSERT_FALSE(r.ok()) << "flip of byte " << i << " mask " << int(mask) << " was accepted";
      ++seen[r.status().code()];
    }
  }
  // The refusals are classified, not all lumped together.
  EXPECT_GT(seen[Code::kTamperedCiphertext], 0);
  EXPECT_GT(seen[Code::kBadSignature], 0);
  EXPECT_GT(seen[Code::kTamperedHeader], 0);
  EXPECT_GT(seen[Code::kMalformed], 0);
}

TEST_F(EnvelopeTest, ParseKindAcceptsNamesAndAliases) {
  EXPECT_EQ(*ParseKind("MlaRequest"), wire::MessageKind::MlaRequest);
  EXPECT_EQ(*ParseKind("mla"), wire::MessageKind::MlaRequest);
  EXPECT_EQ(*ParseKind("extradition"), wire::MessageKind::ExtraditionRequest);
  EXPECT_EQ(*ParseKind("document-verification"), wire::MessageKind::DocumentVerificationRequest);
  EXPECT_EQ(*ParseKind("acknowledgement"), wire::MessageKind::Acknowledgement);
  EXPECT_EQ(ParseKind("teleportation").status().code(), Code::kInvalidArgument);
}

TEST_F(EnvelopeTest, BodyJsonErrorsAreNamed) {
  auto r = BuildPayloadFromJson(wire::MessageKind::MlaRequest, "{\"summary\": 5");
  EXPECT_EQ(r.status().code(), Code::kMalformed);
}

}  // namespace
}  // namespace mlahub::envelope
