#include "mlahub/transport/curve.h"

#include <gtest/gtest.h>

#include <cstring>

#include "mlahub/crypto/x25519.h"

namespace mlahub::transport {
namespace {

// A key pair from libzmq's own CURVE tests (Z85 text, RFC 32).
constexpr char kPublicZ85[] = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
constexpr char kSecretZ85[] = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

TEST(CurveZ85Test, KnownKeyPairDecodesAndMatchesX25519) {
  auto pub = Z85DecodePublicKey(kPublicZ85);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  auto sec = Z85DecodeSecretKey(kSecretZ85);
  ASSERT_TRUE(sec.ok()) << sec.status().ToString();
  auto pair = crypto::X25519KeyPair::FromSecret(std::move(*sec));
  EXPECT_EQ(pair.public_key(), *pub);
  EXPECT_EQ(Z85EncodePublicKey(*pub), kPublicZ85);
  Z85Secret text = Z85EncodeSecretKey(pair.secret());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(text.data())), kSecretZ85);
}

TEST(CurveZ85Test, RoundTripsGeneratedKeys) {
  for (int i = 0; i < 20; ++i) {
    auto pair = crypto::X25519KeyPair::Generate();
    std::string text = Z85EncodePublicKey(pair.public_key());
    ASSERT_EQ(text.size(), kZ85KeySize);
    auto back = Z85DecodePublicKey(text);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, pair.public_key());
    Z85Secret st = Z85EncodeSecretKey(pair.secret());
    EXPECT_EQ(st.data()[kZ85KeySize], 0);
    auto sb = Z85DecodeSecretKey(std::string_view(reinterpret_cast<const char*>(st.data()), kZ85KeySize));
    ASSERT_TRUE(sb.ok());
    EXPECT_TRUE(*sb == pair.secret());
  }
}

TEST(CurveZ85Test, RefusesWrongLengthAndAlphabet) {
  EXPECT_EQ(Z85DecodePublicKey("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Z85DecodePublicKey(std::string(kPublicZ85).substr(0, 35)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Z85DecodePublicKey(std::string(kPublicZ85) + "abcde").status().code(), Code::kInvalidArgument);
  std::string bad = kPublicZ85;
  bad[3] = '~';  // not in the Z85 alphabet
  EXPECT_EQ(Z85DecodePublicKey(bad).status().code(), Code::kInvalidArgument);
  bad[3] = '\0';
  EXPECT_EQ(Z85DecodePublicKey(bad).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Z85DecodeSecretKey("short").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace mlahub::transport
