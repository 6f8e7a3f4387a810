#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "mlahub/core/clock.h"
#include "mlahub/core/file.h"
#include "mlahub/core/ids.h"
#include "mlahub/core/status.h"

namespace mlahub {
namespace {

TEST(StatusTest, NamesAndMessages) {
  Status s = Status::BadSignature("does not verify");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "bad_signature: does not verify");
  EXPECT_EQ(s.Annotate("envelope 1").ToString(), "bad_signature: envelope 1: does not verify");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, CodeFromNameInvertsCodeName) {
  for (Code c : {Code::kOk, Code::kMalformed, Code::kOversize, Code::kDuplicate, Code::kUnsupportedVersion,
                 Code::kNotFound, Code::kPermissionDenied, Code::kInternal})
    EXPECT_EQ(CodeFromName(CodeName(c)), c) << CodeName(c);
  EXPECT_EQ(CodeFromName("too_large"), Code::kOversize);
  EXPECT_EQ(CodeFromName("no_such_code"), Code::kInternal);
  EXPECT_EQ(CodeFromName(""), Code::kInternal);
}

TEST(ResultTest, ValueOrStatus) {
  Result<int> r = 5;
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(*r, 5);
  Result<int> e = Status::NotFound("x");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kNotFound);
}

TEST(NodeIdTest, ParsesValidAndRejectsInvalid) {
  EXPECT_TRUE(NodeId::Parse("IT-MOJ").ok());
  EXPECT_TRUE(NodeId::Parse("NG-AGF").ok());
  EXPECT_TRUE(NodeId::Parse("XX-HUB").ok());
  for (const char* bad : {"", "it-moj", "ITMOJ", "I-MOJ", "IT-", "IT-M", "IT-MOJ!", "IT-ABCDEFGHIJKLMNOPQ"}) {
    auto r = NodeId::Parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
  EXPECT_EQ(NodeId::Parse("TH-OAG")->country(), "TH");
}

TEST(MessageIdTest, Parses) {
  EXPECT_TRUE(MessageId::Parse("0123456789abcdef0123456789abcdef").ok());
  EXPECT_FALSE(MessageId::Parse("0123456789ABCDEF0123456789abcdef").ok());
  EXPECT_FALSE(MessageId::Parse("abc").ok());
}

TEST(ClockTest, FakeAndFormat) {
  FakeClock c(1000);
  c.Advance(500);
  EXPECT_EQ(c.NowMillis(), 1500);
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(1795824000123), "2026-11-28T00:00:00.123Z");
}

TEST(FileTest, AtomicWriteSetsModeAndReadsBack) {
  auto dir = std::filesystem::temp_directory_path() / ("mlahub_core_test_" + std::to_string(::getpid()));
  ASSERT_TRUE(MakeDirs(dir.string()).ok());
  std::string path = (dir / "secret").string();
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("hello"), 0600).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto r = ReadFile(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(AsString(*r), "hello");
  EXPECT_EQ(ReadFile(path, 2).status().code(), Code::kOversize);
  EXPECT_EQ(ReadFile((dir / "missing").string()).status().code(), Code::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mlahub
