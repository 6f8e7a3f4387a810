// The published test vector docs/examples/vector-1: every input that is
// otherwise random is fixed, so the frame is reproducible byte for byte.
// Run with MLAHUB_WRITE_VECTOR=1 to (re)write the files after a deliberate
// protocol change; otherwise the test checks the committed files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "mlahub/core/file.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/kdf.h"
#include "mlahub/envelope/envelope.h"

namespace mlahub::envelope {
namespace {

namespace fs = std::filesystem;

constexpr UnixMillis kCreated = 1795824000000;  // 2026-11-28T00:00:00Z
const fs::path kDir = fs::path(MLAHUB_SOURCE_DIR) / "docs/examples/vector-1";

crypto::Secret<32> Filled(uint8_t b) {
  crypto::Secret<32> s;
  std::fill(s.data(), s.data() + 32, b);
  return s;
}

identity::NodeKeys Keys(const char* id, uint8_t base) {
  crypto::Secret<32> seed = Filled(base);
  return identity::NodeKeys{*NodeId::Parse(id), identity::Role::kAuthority, kCreated,
                            crypto::SigningKey::FromSeed(seed), crypto::X25519KeyPair::FromSecret(Filled(base + 1)),
                            crypto::X25519KeyPair::FromSecret(Filled(base + 2))};
}

std::string Hex(ByteView b) { return crypto::ToHex(b); }

struct Vector {
  nlohmann::ordered_json json;
  Bytes frame;
};

Vector Build() {
  auto sender = Keys("IT-MOJ", 0x01);
  auto recipient = Keys("NG-AGF", 0x11);
  FakeClock clock(kCreated);
  SealParams p;
  p.message_id = "000102030405060708090a0b0c0d0e0f";
  p.kind = wire::MessageKind::Acknowledgement;
  p.case_ref = "NG-AGF/MLA/2026/17";
  p.created_ms = kCreated;
  p.expires_ms = kCreated + kMaxLifetimeMs;
  p.in_reply_to = "ffeeddccbbaa99887766554433221100";
  p.handling = wire::HandlingCode::H1;
  p.legal_basis = wire::LegalBasis::Untoc;
  auto payload = BuildPayloadFromJson(p.kind, R"({"received_ms": 1795824000000, "reference": "NG-AGF/MLA/2026/17"})");
  EXPECT_TRUE(payload.ok()) << payload.status().ToString();
  crypto::Secret<32> eph_sk = Filled(0x21);
  std::array<uint8_t, 24> nonce;
  nonce.fill(0x31);
  auto frame = SealForTestVector(p, sender, recipient.Public(), *payload,
                                 eph_sk, nonce, clock);
  EXPECT_TRUE(frame.ok()) << frame.status().ToString();
  auto parsed = *Parse(*frame);

  auto eph = crypto::X25519KeyPair::FromSecret(Filled(0x21));
  auto shared_r = eph.Agree(recipient.enc.public_key());
  const auto& shared = *shared_r;
  auto key = crypto::DeriveKey(std::string_view{"mlahub-envelope-key-v1\0", 23},
                               {ByteView(shared.data(), 32), eph.public_key(), recipient.enc.public_key()});
  nlohmann::ordered_json j;
  j["description"] =
      "mlahub envelope test vector 1 (docs/PROTOCOL.md). Test keys only. Open it with the time window evaluated at "
      "now_ms.";
  j["sender"] = {{"id", "IT-MOJ"}, {"ed25519_seed", Hex(ByteView(sender.sign.secret().data(), 32))},
                 {"ed25519_public", Hex(sender.sign.public_key())}};
  j["recipient"] = {{"id", "NG-AGF"},
                    {"x25519_enc_secret", Hex(ByteView(recipient.enc.secret().data(), 32))},
                    {"x25519_enc_public", Hex(recipient.enc.public_key())},
                    {"enc_key_id", Hex(recipient.Public().enc_key_id())}};
  j["ephemeral_secret"] = Hex(ByteView(eph.secret().data(), 32));
  j["ephemeral_public"] = Hex(eph.public_key());
  j["nonce"] = Hex(nonce);
  j["shared_secret"] = Hex(ByteView(shared.data(), 32));
  j["payload_key"] = Hex(ByteView(key.data(), 32));
  j["message_id"] = p.message_id;
  j["created_ms"] = p.created_ms;
  j["expires_ms"] = p.expires_ms;
  j["now_ms"] = kCreated + 1000;
  j["payload"] = Hex(*payload);
  j["header"] = Hex(parsed.header_bytes);
  j["ciphertext_hash"] = Hex(parsed.ciphertext_hash);
  j["signature"] = Hex(parsed.signature);
  j["envelope_sha256"] = Hex(EnvelopeHash(*frame));
  j["envelope"] = Hex(*frame);
  return {j, *frame};
}

// Copies a committed key directory to a temp dir with node.key at mode 0600
// (git does not keep file modes other than the executable bit).
std::string PrivateCopy(const fs::path& from, const std::string& name) {
  fs::path to = fs::temp_directory_path() / ("mlahub_vector_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(to);
  fs::create_directories(to);
  for (const auto& f : fs::directory_iterator(from)) fs::copy_file(f.path(), to / f.path().filename());
  ::chmod((to / "node.key").c_str(), 0600);
  return to.string();
}

TEST(VectorTest, CommittedVectorIsReproducedAndOpens) {
  Vector v = Build();
  if (std::getenv("MLAHUB_WRITE_VECTOR") != nullptr) {
    fs::create_directories(kDir / "keys");
    ASSERT_TRUE(WriteFileAtomic((kDir / "vector.json").string(), AsBytes(v.json.dump(2) + "\n"), 0644).ok());
    ASSERT_TRUE(WriteFileAtomic((kDir / "envelope.bin").string(), v.frame, 0644).ok());
    for (auto [id, base] : {std::pair{"IT-MOJ", 0x01}, std::pair{"NG-AGF", 0x11}}) {
      fs::remove_all(kDir / "keys" / id);
      ASSERT_TRUE(identity::WriteKeyDir(Keys(id, static_cast<uint8_t>(base)), (kDir / "keys" / id).string(), "").ok());
    }
    GTEST_SKIP() << "vector written to " << kDir;
  }
  auto committed_json = ReadFile((kDir / "vector.json").string());
  auto committed_frame = ReadFile((kDir / "envelope.bin").string());
  ASSERT_TRUE(committed_json.ok() && committed_frame.ok()) << "missing docs/examples/vector-1";
  EXPECT_EQ(nlohmann::ordered_json::parse(AsString(*committed_json)), v.json)
      << "the sealer no longer reproduces the published vector";
  EXPECT_EQ(*committed_frame, v.frame);

  // The committed key directories open the committed envelope.
  auto ng = identity::LoadKeyDir(PrivateCopy(kDir / "keys/NG-AGF", "ng"), "");
  ASSERT_TRUE(ng.ok()) << ng.status().ToString();
  auto it = identity::LoadIdentity((kDir / "keys/IT-MOJ/identity.json").string());
  ASSERT_TRUE(it.ok()) << it.status().ToString();
  FakeClock now(v.json["now_ms"].get<int64_t>());
  auto o = Open(*committed_frame, *ng, *it, {.clock = &now});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(crypto::ToHex(o->payload()), v.json["payload"].get<std::string>());
  EXPECT_EQ(o->in_reply_to, "ffeeddccbbaa99887766554433221100");
}

}  // namespace
}  // namespace mlahub::envelope
