#include "mlahub/directory/directory.h"

#include <gtest/gtest.h>

namespace mlahub::directory {
namespace {

constexpr UnixMillis kNow = 1795824000000;

class DirectoryTest : public ::testing::Test {
 protected:
  DirectoryTest()
      : op_(identity::GenerateNodeKeys(*NodeId::Parse("XX-OPS"), identity::Role::kOperator, kNow)),
        it_(identity::GenerateNodeKeys(*NodeId::Parse("IT-MOJ"), identity::Role::kAuthority, kNow)),
        ng_(identity::GenerateNodeKeys(*NodeId::Parse("NG-AGF"), identity::Role::kAuthority, kNow)) {}

  Entry EntryFor(const identity::NodeKeys& k) {
    Entry e;
    e.identity = k.Public();
    e.name = "Authority " + k.id.str();
    e.languages = {"en", "fr"};
    e.untoc_party = true;
    e.protocol_party = true;
    return e;
  }
  Directory Make() {
    Directory d("palermo-net", 1, kNow);
    EXPECT_TRUE(d.Add(EntryFor(it_)).ok());
    Entry ng = EntryFor(ng_);
    ng.accepts = {wire::MessageKind::MlaRequest, wire::MessageKind::Acknowledgement};
    EXPECT_TRUE(d.Add(ng).ok());
    return d;
  }

  identity::NodeKeys op_, it_, ng_;
};

TEST_F(DirectoryTest, SignVerifyRoundTrip) {
  Directory d = Make();
  Bytes s = d.Sign(op_.sign, op_.id);
  auto v = Directory::Verify(s, op_.sign.public_key());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->version(), 1u);
  EXPECT_EQ(v->network(), "palermo-net");
  ASSERT_NE(v->Find("NG-AGF"), nullptr);
  EXPECT_EQ(v->Find("NG-AGF")->identity.enc_key, ng_.enc.public_key());
  EXPECT_EQ(v->Find("NG-AGF")->languages.size(), 2u);
  EXPECT_TRUE(v->Find("NG-AGF")->protocol_party);
  // Another key did not sign it.
  EXPECT_EQ(Directory::Verify(s, it_.sign.public_key()).status().code(), Code::kBadSignature);
  // Any change to the signed content is refused.
  int refused = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    Bytes t = s;
    t[i] ^= 0x04;
    auto r = Directory::Verify(t, op_.sign.public_key());
    if (!r.ok()) {
      ++refused;
      continue;
    }
    EXPECT_EQ(r->ToJson(), v->ToJson()) << "flip " << i << " changed an accepted directory";
  }
  EXPECT_GT(refused, 0);
}

TEST_F(DirectoryTest, ChecksSendersAndRecipients) {
  Directory d = Make();
  EXPECT_TRUE(d.CheckSender("IT-MOJ", kNow).ok());
  EXPECT_EQ(d.CheckSender("TH-OAG", kNow).code(), Code::kUnknownSender);
  EXPECT_EQ(d.CheckRecipient("TH-OAG", wire::MessageKind::MlaRequest, kNow).code(), Code::kUnknownRecipient);
  EXPECT_TRUE(d.CheckRecipient("NG-AGF", wire::MessageKind::MlaRequest, kNow).ok());
  EXPECT_EQ(d.CheckRecipient("NG-AGF", wire::MessageKind::ExtraditionRequest, kNow).code(),
            Code::kKindNotAccepted);
  EXPECT_TRUE(d.CheckRecipient("IT-MOJ", wire::MessageKind::ExtraditionRequest, kNow).ok());
  ASSERT_TRUE(d.Revoke("IT-MOJ", "keys compromised", kNow).ok());
  EXPECT_EQ(d.CheckSender("IT-MOJ", kNow).code(), Code::kRevoked);
  EXPECT_EQ(d.CheckRecipient("IT-MOJ", wire::MessageKind::MlaRequest, kNow).code(), Code::kRevoked);
  EXPECT_EQ(d.FindByCurveKey(it_.curve.public_key(), kNow), nullptr);
  EXPECT_NE(d.FindByCurveKey(ng_.curve.public_key(), kNow), nullptr);
}

TEST_F(DirectoryTest, ValidityWindow) {
  Directory d("net", 1, kNow);
  Entry e = EntryFor(it_);
  e.valid_from_ms = kNow;
  e.valid_until_ms = kNow + 1000;
  ASSERT_TRUE(d.Add(e).ok());
  EXPECT_EQ(d.CheckSender("IT-MOJ", kNow - 1).code(), Code::kRevoked);
  EXPECT_TRUE(d.CheckSender("IT-MOJ", kNow + 500).ok());
  EXPECT_EQ(d.CheckSender("IT-MOJ", kNow + 1001).code(), Code::kRevoked);
}

TEST_F(DirectoryTest, RotationAndVersions) {
  Directory d = Make();
  Directory next = d;
  auto it2 = identity::GenerateNodeKeys(it_.id, identity::Role::kAuthority, kNow + 1);
  ASSERT_TRUE(next.Rotate(it2.Public()).ok());
  next.NextVersion(kNow + 1);
  EXPECT_EQ(next.version(), 2u);
  EXPECT_TRUE(Directory::AcceptNewer(d, next).ok());
  EXPECT_FALSE(Directory::AcceptNewer(next, d).ok());
  EXPECT_FALSE(Directory::AcceptNewer(next, next).ok());
  // The old transport key no longer maps to the node.
  EXPECT_EQ(next.FindByCurveKey(it_.curve.public_key(), kNow), nullptr);
  EXPECT_NE(next.FindByCurveKey(it2.curve.public_key(), kNow), nullptr);
  EXPECT_EQ(next.Rotate(it2.Public()).code(), Code::kInvalidArgument);
  auto th = identity::GenerateNodeKeys(*NodeId::Parse("TH-OAG"), identity::Role::kAuthority, kNow);
  EXPECT_EQ(next.Rotate(th.Public()).code(), Code::kNotFound);
}

TEST_F(DirectoryTest, RefusesDuplicatesAndKeyReuse) {
  Directory d = Make();
  EXPECT_EQ(d.Add(EntryFor(it_)).code(), Code::kAlreadyExists);
  Entry clone = EntryFor(it_);
  clone.identity.id = *NodeId::Parse("TH-OAG");
  EXPECT_EQ(d.Add(clone).code(), Code::kAlreadyExists);
}

TEST_F(DirectoryTest, JsonIsFlatBuffersJson) {
  std::string j = Make().ToJson();
  EXPECT_NE(j.find("\"network\": \"palermo-net\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"MlaRequest\""), std::string::npos) << j;
}

}  // namespace
}  // namespace mlahub::directory
