#include <gtest/gtest.h>

#include "mlahub/crypto/aead.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/kdf.h"
#include "mlahub/crypto/random.h"
#include "mlahub/crypto/sign.h"
#include "mlahub/crypto/x25519.h"

namespace mlahub::crypto {
namespace {

TEST(HashTest, Sha256KnownVector) {
  // FIPS 180-2 "abc".
  EXPECT_EQ(ToHex(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256Stream s;
  s.Update(AsBytes("a"));
  s.Update(AsBytes("bc"));
  EXPECT_EQ(ToHex(s.Final()), ToHex(Sha256(AsBytes("abc"))));
  // Empty input: RFC 9162's hash of the empty tree.
  EXPECT_EQ(ToHex(Sha256({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(HashTest, Blake2b256KnownVector) {
  // BLAKE2b-256("abc"), RFC 7693 parameters with 32-byte output.
  EXPECT_EQ(ToHex(Blake2b256(AsBytes("abc"))),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST(HashTest, ShortHashIsSipHash24) {
  // SipHash-2-4 reference vectors (vectors.h of the reference implementation):
  // key 00..0f, messages 00..(n-1), read as little-endian 64-bit values.
  ShortHashKey key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  Bytes msg;
  for (uint8_t i = 0; i < 15; ++i) msg.push_back(i);
  EXPECT_EQ(ShortHash(key, ByteView()), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(ShortHash(key, ByteView(msg.data(), 15)), 0xa129ca6149be45e5ULL);
  ShortHashKey other = key;
  other[0] ^= 1;
  EXPECT_NE(ShortHash(other, ByteView(msg.data(), 15)), 0xa129ca6149be45e5ULL);
}

TEST(SignTest, SignVerifyAndRejectTampering) {
  SigningKey k = SigningKey::Generate();
  Bytes msg = ToBytes("request 42");
  Signature sig = k.Sign(msg);
  EXPECT_TRUE(Verify(k.public_key(), msg, sig));
  msg[0] ^= 1;
  EXPECT_FALSE(Verify(k.public_key(), msg, sig));
  EXPECT_FALSE(Verify(k.public_key(), msg, ByteView(sig.data(), 10)));
  auto again = SigningKey::FromBytes(ByteView(k.secret().data(), 64));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->public_key(), k.public_key());
  Bytes bad(k.secret().data(), k.secret().data() + 64);
  bad[40] ^= 1;
  EXPECT_EQ(SigningKey::FromBytes(bad).status().code(), Code::kCorruption);
}

TEST(SignTest, Rfc8032Vector1) {
  // RFC 8032 7.1 TEST 1 (empty message).
  auto seed_bytes = FromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  ASSERT_TRUE(seed_bytes.ok());
  Secret<32> seed;
  std::copy(seed_bytes->begin(), seed_bytes->end(), seed.data());
  SigningKey k = SigningKey::FromSeed(seed);
  EXPECT_EQ(ToHex(k.public_key()), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(ToHex(k.Sign({})),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
}

TEST(X25519Test, AgreementIsSymmetric) {
  auto a = X25519KeyPair::Generate();
  auto b = X25519KeyPair::Generate();
  auto ab = a.Agree(b.public_key());
  auto ba = b.Agree(a.public_key());
  ASSERT_TRUE(ab.ok() && ba.ok());
  EXPECT_TRUE(*ab == *ba);
  X25519PublicKey zero{};
  EXPECT_FALSE(a.Agree(zero).ok());
}

TEST(AeadTest, RoundTripAndAadBinding) {
  AeadKey key;
  RandomBytes(key.data(), key.size());
  AeadNonce nonce;
  RandomBytes(nonce.data(), nonce.size());
  Bytes ct = AeadEncrypt(key, nonce, AsBytes("secret"), AsBytes("header"));
  Bytes pt;
  ASSERT_TRUE(AeadDecrypt(key, nonce, ct, AsBytes("header"), pt));
  EXPECT_EQ(AsString(pt), "secret");
  EXPECT_FALSE(AeadDecrypt(key, nonce, ct, AsBytes("headeR"), pt));
  ct[0] ^= 1;
  EXPECT_FALSE(AeadDecrypt(key, nonce, ct, AsBytes("header"), pt));
}

TEST(KdfTest, PassphraseKeyIsDeterministic) {
  Bytes salt(16, 7);
  auto k1 = PassphraseKey("correct horse", salt, PwHashParams::Interactive());
  auto k2 = PassphraseKey("correct horse", salt, PwHashParams::Interactive());
  auto k3 = PassphraseKey("wrong horse", salt, PwHashParams::Interactive());
  ASSERT_TRUE(k1.ok() && k2.ok() && k3.ok());
  EXPECT_TRUE(*k1 == *k2);
  EXPECT_FALSE(*k1 == *k3);
}

TEST(EncodingTest, Base64AndHexCanonical) {
  EXPECT_EQ(ToBase64(AsBytes("hello")), "aGVsbG8=");
  auto d = FromBase64("aGVsbG8=");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(AsString(*d), "hello");
  EXPECT_FALSE(FromBase64("aGVsbG8").ok());
  EXPECT_FALSE(FromBase64("aGVsbG9=").ok());  // non-canonical trailing bits
  EXPECT_FALSE(FromBase64("aGVs bG8=").ok());
  EXPECT_EQ(ToHex(AsBytes("\x01\xab")), "01ab");
  EXPECT_FALSE(FromHex("0g").ok());
  EXPECT_FALSE(FromHex("ABCD").ok());
}

}  // namespace
}  // namespace mlahub::crypto
