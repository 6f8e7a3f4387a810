// Tests of the secret stream wrapper (secretstream.h) and of SHA-256 state
// save/restore (hash.h).
#include "mlahub/crypto/secretstream.h"

#include <gtest/gtest.h>

#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"

namespace mlahub::crypto {
namespace {

Bytes Msg(std::string_view s) { return ToBytes(s); }
ByteView Ad(uint8_t& b) { return ByteView(&b, 1); }

TEST(SecretStreamTest, RoundTripWithFinalTag) {
  SecretStreamKey key = NewSecretStreamKey();
  SecretStreamHeader header{};
  auto push = SecretStreamPush::Start(key, header);
  Bytes c1 = push.Push(Msg("first"), {}, StreamTag::kMessage);
  Bytes c2 = push.Push(Msg(""), {}, StreamTag::kMessage);
  Bytes c3 = push.Push(Msg("last"), {}, StreamTag::kFinal);
  EXPECT_EQ(c1.size(), 5 + kSecretStreamOverhead);
  EXPECT_EQ(c2.size(), kSecretStreamOverhead);

  auto pull = SecretStreamPull::Start(key, header);
  ASSERT_TRUE(pull.ok());
  Bytes out(5);
  StreamTag tag;
  ASSERT_TRUE(pull->Pull(c1, {}, out.data(), &tag).ok());
  EXPECT_EQ(AsString(out), "first");
  EXPECT_EQ(tag, StreamTag::kMessage);
  ASSERT_TRUE(pull->Pull(c2, {}, out.data(), &tag).ok());
  EXPECT_EQ(tag, StreamTag::kMessage);
  out.resize(4);
  ASSERT_TRUE(pull->Pull(c3, {}, out.data(), &tag).ok());
  EXPECT_EQ(AsString(out), "last");
  EXPECT_EQ(tag, StreamTag::kFinal);
}

TEST(SecretStreamTest, RefusalsLeaveTheStateUnchanged) {
  SecretStreamKey key = NewSecretStreamKey();
  SecretStreamHeader header{};
  auto push = SecretStreamPush::Start(key, header);
  uint8_t a0 = 0, a1 = 1;
  Bytes c0 = push.Push(Msg("zero"), Ad(a0), StreamTag::kMessage);
  Bytes c1 = push.Push(Msg("one!"), Ad(a1), StreamTag::kFinal);
  auto pull = SecretStreamPull::Start(key, header);
  ASSERT_TRUE(pull.ok());
  Bytes out(4);
  StreamTag tag;
  // Out of order, altered, wrong associated data, too short: all refused.
  EXPECT_EQ(pull->Pull(c1, Ad(a1), out.data(), &tag).code(), Code::kTamperedCiphertext);
  EXPECT_EQ(out, Bytes(4, 0)) << "output wiped on refusal";
  Bytes bad = c0;
  bad[3] ^= 0x01;
  EXPECT_EQ(pull->Pull(bad, Ad(a0), out.data(), &tag).code(), Code::kTamperedCiphertext);
  EXPECT_EQ(pull->Pull(c0, Ad(a1), out.data(), &tag).code(), Code::kTamperedCiphertext);
  EXPECT_EQ(pull->Pull(ByteView(c0.data(), 16), {}, out.data(), &tag).code(), Code::kMalformed);
  // The genuine messages still go through, in order.
  ASSERT_TRUE(pull->Pull(c0, Ad(a0), out.data(), &tag).ok());
  EXPECT_EQ(AsString(out), "zero");
  EXPECT_EQ(pull->Pull(c0, Ad(a0), out.data(), &tag).code(), Code::kTamperedCiphertext)
      << "a replayed message is refused";
  ASSERT_TRUE(pull->Pull(c1, Ad(a1), out.data(), &tag).ok());
  EXPECT_EQ(AsString(out), "one!");
  EXPECT_EQ(tag, StreamTag::kFinal);
}

TEST(SecretStreamTest, WrongKeyOrHeaderIsRefused) {
  SecretStreamKey key = NewSecretStreamKey();
  SecretStreamHeader header{};
  auto push = SecretStreamPush::Start(key, header);
  Bytes c = push.Push(Msg("data"), {}, StreamTag::kFinal);
  Bytes out(4);
  StreamTag tag;
  SecretStreamKey other = NewSecretStreamKey();
  auto p1 = SecretStreamPull::Start(other, header);
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(p1->Pull(c, {}, out.data(), &tag).code(), Code::kTamperedCiphertext);
  SecretStreamHeader h2 = header;
  h2[0] ^= 1;
  auto p2 = SecretStreamPull::Start(key, h2);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->Pull(c, {}, out.data(), &tag).code(), Code::kTamperedCiphertext);
}

TEST(SecretStreamTest, ExportedStatesResumeBothSides) {
  SecretStreamKey key = NewSecretStreamKey();
  SecretStreamHeader header{};
  auto push = SecretStreamPush::Start(key, header);
  Bytes c0 = push.Push(Msg("aa"), {}, StreamTag::kMessage);
  SecretStreamState saved_push = push.Export();
  Bytes c1 = push.Push(Msg("bb"), {}, StreamTag::kFinal);
  // A resumed pusher produces the same next message as the original did.
  auto resumed_push = SecretStreamPush::Resume(saved_push);
  EXPECT_EQ(resumed_push.Push(Msg("bb"), {}, StreamTag::kFinal), c1);

  auto pull = SecretStreamPull::Start(key, header);
  ASSERT_TRUE(pull.ok());
  Bytes out(2);
  StreamTag tag;
  ASSERT_TRUE(pull->Pull(c0, {}, out.data(), &tag).ok());
  SecretStreamState saved_pull = pull->Export();
  auto resumed_pull = SecretStreamPull::Resume(saved_pull);
  ASSERT_TRUE(resumed_pull.Pull(c1, {}, out.data(), &tag).ok());
  EXPECT_EQ(AsString(out), "bb");
  EXPECT_EQ(tag, StreamTag::kFinal);
}

TEST(SecretStreamTest, KeyFromBytesChecksSize) {
  EXPECT_EQ(SecretStreamKeyFromBytes(Bytes(31)).status().code(), Code::kMalformed);
  auto k = SecretStreamKeyFromBytes(Bytes(32, 7));
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->data()[31], 7);
}

TEST(Sha256StreamTest, SaveAndRestoreContinuesTheSameHash) {
  Sha256Stream a;
  a.Update(AsBytes("hello "));
  Bytes saved = a.SaveState();
  Sha256Stream b;
  ASSERT_TRUE(b.RestoreState(saved));
  b.Update(AsBytes("world"));
  EXPECT_EQ(b.Final(), Sha256(AsBytes("hello world")));
  Sha256Stream c;
  EXPECT_FALSE(c.RestoreState(ByteView(saved.data(), saved.size() - 1)));
  EXPECT_EQ(c.Final(), Sha256(ByteView()));
}

}  // namespace
}  // namespace mlahub::crypto
