#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "mlahub/core/file.h"
#include "mlahub/identity/keys.h"

namespace mlahub::identity {
namespace {

class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mlahub_keys_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  NodeKeys Make(const char* id = "IT-MOJ") {
    return GenerateNodeKeys(*NodeId::Parse(id), Role::kAuthority, 1795824000000);
  }
  std::filesystem::path dir_;
};

TEST_F(KeysTest, WriteAndLoadUnprotected) {
  NodeKeys k = Make();
  ASSERT_TRUE(WriteKeyDir(k, dir_.string(), "").ok());
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "node.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = LoadKeyDir(dir_.string(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->id.str(), "IT-MOJ");
  EXPECT_EQ(loaded->sign.public_key(), k.sign.public_key());
  EXPECT_EQ(loaded->enc.public_key(), k.enc.public_key());
  EXPECT_EQ(loaded->curve.public_key(), k.curve.public_key());
  EXPECT_FALSE(*KeyDirIsProtected(dir_.string()));
}

TEST_F(KeysTest, PassphraseProtected) {
  NodeKeys k = Make();
  ASSERT_TRUE(WriteKeyDir(k, dir_.string(), "correct horse battery").ok());
  EXPECT_TRUE(*KeyDirIsProtected(dir_.string()));
  EXPECT_EQ(LoadKeyDir(dir_.string(), "").status().code(), Code::kBadPassphrase);
  EXPECT_EQ(LoadKeyDir(dir_.string(), "wrong").status().code(), Code::kBadPassphrase);
  auto loaded = LoadKeyDir(dir_.string(), "correct horse battery");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->sign.public_key(), k.sign.public_key());
  // The secret seed never appears in the file in clear.
  auto file = ReadFile((dir_ / "node.key").string());
  ASSERT_TRUE(file.ok());
  ByteView seed(k.sign.secret().data(), 32);
  EXPECT_EQ(std::search(file->begin(), file->end(), seed.begin(), seed.end()), file->end());
}

TEST_F(KeysTest, RefusesOverwriteAndLooseModes) {
  NodeKeys k = Make();
  ASSERT_TRUE(WriteKeyDir(k, dir_.string(), "").ok());
  EXPECT_EQ(WriteKeyDir(Make(), dir_.string(), "").code(), Code::kAlreadyExists);
  ::chmod((dir_ / "node.key").c_str(), 0644);
  EXPECT_EQ(LoadKeyDir(dir_.string(), "").status().code(), Code::kPermissionDenied);
}

TEST_F(KeysTest, DetectsAlteredKeyFile) {
  NodeKeys k = Make();
  ASSERT_TRUE(WriteKeyDir(k, dir_.string(), "").ok());
  std::string path = (dir_ / "node.key").string();
  auto data = *ReadFile(path);
  // Flip a byte of the stored public keys' region (the last bytes of the file
  // belong to vectors): loading must never yield keys that do not match.
  int refused = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    Bytes copy = data;
    copy[i] ^= 0x01;
    ASSERT_TRUE(WriteFileAtomic(path, copy, 0600).ok());
    auto r = LoadKeyDir(dir_.string(), "");
    if (!r.ok()) {
      ++refused;
      EXPECT_TRUE(r.status().code() == Code::kCorruption) << i << " " << r.status().ToString();
    } else {
      // Accepted flips are in padding or unused fields: the keys must still be the originals.
      EXPECT_EQ(r->sign.public_key(), k.sign.public_key()) << i;
      EXPECT_EQ(r->enc.public_key(), k.enc.public_key()) << i;
      EXPECT_EQ(r->curve.public_key(), k.curve.public_key()) << i;
    }
  }
  EXPECT_GT(refused, 0);
}

TEST_F(KeysTest, IdentityJsonRoundTrip) {
  NodeKeys k = Make("NG-AGF");
  ASSERT_TRUE(WriteKeyDir(k, dir_.string(), "").ok());
  for (const char* f : {"identity.json", "identity.bin", ""}) {
    auto id = LoadIdentity((dir_ / f).string());
    ASSERT_TRUE(id.ok()) << f << ": " << id.status().ToString();
    EXPECT_EQ(id->id.str(), "NG-AGF");
    EXPECT_EQ(id->sign_key, k.sign.public_key());
    EXPECT_EQ(id->enc_key, k.enc.public_key());
    EXPECT_EQ(id->role, Role::kAuthority);
  }
  std::string json = IdentityToJson(k.Public());
  EXPECT_NE(json.find("\"id\": \"NG-AGF\""), std::string::npos) << json;
  EXPECT_EQ(IdentityFromJson("{\"id\": \"bad id\"}").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(IdentityFromJson("{\"id\": \"NG-AGF\", \"role\": \"Authority\"}").status().code(), Code::kMalformed);
  EXPECT_EQ(IdentityFromJson("not json").status().code(), Code::kMalformed);
}

}  // namespace
}  // namespace mlahub::identity
