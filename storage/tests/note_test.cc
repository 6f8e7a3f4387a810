// C2SP signed notes and checkpoints. The Ed25519 vector is the example of
// golang.org/x/mod/sumdb/note (Ed25519 is deterministic, so signing the same
// text with the same key must give the same note byte for byte).
#include "mlahub/storage/note.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace mlahub::storage {
namespace {

constexpr std::string_view kPeterSeed = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";  // 0x01 || seed
constexpr std::string_view kPeterVerifier = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr std::string_view kPeterText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr std::string_view kPeterNote =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xE2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

std::unique_ptr<Ed25519NoteSigner> PeterSigner() {
  auto raw = crypto::FromBase64(kPeterSeed);
  MLAHUB_CHECK(raw.ok() && raw->size() == 33 && (*raw)[0] == 0x01);
  crypto::Secret<crypto::kSignSeedSize> seed;
  std::copy(raw->begin() + 1, raw->end(), seed.data());
  return std::move(Ed25519NoteSigner::Create("PeterNeumann", crypto::SigningKey::FromSeed(seed))).value();
}

TEST(NoteTest, GoSumdbVectorSignsByteForByte) {
  auto signer = PeterSigner();
  EXPECT_EQ(VerifierKey("PeterNeumann", signer->public_key()), kPeterVerifier);
  EXPECT_EQ(NoteKeyId("PeterNeumann", signer->public_key()), 0xc74f20a3u);
  EXPECT_EQ(SignNote(kPeterText, *signer), kPeterNote);
}

TEST(NoteTest, OpenVerifiesAndRejectsTampering) {
  auto vk = ParseVerifierKey(kPeterVerifier);
  ASSERT_TRUE(vk.ok()) << vk.status().ToString();
  EXPECT_EQ(vk->name, "PeterNeumann");
  auto text = OpenNote(kPeterNote, vk->name, vk->public_key);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, kPeterText);

  std::string bad(kPeterNote);
  bad[10] ^= 1;
  EXPECT_EQ(OpenNote(bad, vk->name, vk->public_key).status().code(), Code::kBadSignature);
  // A signature by another key is ignored, so no trusted signature remains.
  auto other = testing::TestSigner("PeterNeumann", 9);
  EXPECT_EQ(OpenNote(SignNote(kPeterText, *other), vk->name, vk->public_key).status().code(),
            Code::kBadSignature);
  // Both signatures: the known one verifies, the unknown one is ignored.
  std::string two = SignNote(kPeterText, *other);
  two += std::string(kPeterNote).substr(kPeterText.size() + 1);
  EXPECT_TRUE(OpenNote(two, vk->name, vk->public_key).ok());
  EXPECT_EQ(OpenNote("no blank line\n", vk->name, vk->public_key).status().code(), Code::kMalformed);
  EXPECT_EQ(OpenNote(std::string(kPeterNote).substr(0, kPeterNote.size() - 1), vk->name, vk->public_key)
                .status()
                .code(),
            Code::kMalformed);
}

TEST(NoteTest, VerifierKeyParsing) {
  std::string k(kPeterVerifier);
  EXPECT_FALSE(ParseVerifierKey(k.substr(0, k.size() - 1)).ok());
  std::string wrong_id = k;
  wrong_id[13] = wrong_id[13] == '0' ? '1' : '0';
  EXPECT_FALSE(ParseVerifierKey(wrong_id).ok());
  EXPECT_FALSE(ParseVerifierKey("no-plus").ok());
  EXPECT_FALSE(IsValidKeyName("has space"));
  EXPECT_FALSE(IsValidKeyName("has+plus"));
  EXPECT_FALSE(IsValidKeyName(""));
  EXPECT_TRUE(IsValidKeyName("example.com/log42"));
}

TEST(NoteTest, CheckpointTextRoundTrip) {
  // The example of c2sp.org/tlog-checkpoint.
  const std::string text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  auto c = ParseCheckpointText(text);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->origin, "example.com/behind-the-sofa");
  EXPECT_EQ(c->size, 20852163u);
  EXPECT_EQ(CheckpointText(*c), text);

  Checkpoint empty{"o", 0, EmptyRoot()};
  EXPECT_EQ(CheckpointText(empty), "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
  EXPECT_TRUE(ParseCheckpointText("o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next\n").ok());
  EXPECT_FALSE(ParseCheckpointText("o\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n").ok());
  EXPECT_FALSE(ParseCheckpointText("o\n1\nAAAA\n").ok());
  EXPECT_FALSE(ParseCheckpointText("\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n").ok());
  EXPECT_FALSE(ParseCheckpointText("o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").ok());
  EXPECT_FALSE(ParseCheckpointText("o\n-1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n").ok());
}

TEST(NoteTest, SignedCheckpointOpens) {
  auto signer = testing::TestSigner();
  Checkpoint c{signer->key_name(), 42, HashLeaf(AsBytes("x"))};
  std::string note = SignNote(CheckpointText(c), *signer);
  auto text = OpenNote(note, signer->key_name(), signer->public_key());
  ASSERT_TRUE(text.ok());
  auto back = ParseCheckpointText(*text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->size, 42u);
  EXPECT_EQ(back->root, c.root);
}

}  // namespace
}  // namespace mlahub::storage
