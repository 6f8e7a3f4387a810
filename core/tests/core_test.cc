#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "mlahub/core/clock.h"
#include "mlahub/core/file.h"
#include "mlahub/core/ids.h"
#include "mlahub/core/status.h"
#include "mlahub/core/utf8.h"

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

namespace mlahub {
namespace {

// A plain decoder to check IsValidUtf8 against: decode by the bit patterns,
// then refuse what RFC 3629 refuses (overlong, surrogate, above U+10FFFF).
static bool ReferenceUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char b = s[i];
    int n;
    uint32_t cp;
    if (b < 0x80) { n = 0; cp = b; }
    else if ((b & 0xE0) == 0xC0) { n = 1; cp = b & 0x1F; }
    else if ((b & 0xF0) == 0xE0) { n = 2; cp = b & 0x0F; }
    else if ((b & 0xF8) == 0xF0) { n = 3; cp = b & 0x07; }
    else return false;
    if (i + static_cast<size_t>(n) >= s.size()) return false;  // truncated
    for (int k = 1; k <= n; ++k) {
      const unsigned char c = s[i + k];
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

TEST(Utf8Test, AcceptsWellFormedAndRefusesTheRest) {
  for (std::string_view ok : {"", "IT-MOJ", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF",
                              "\xEE\x80\x80", "\xF0\x90\x80\x80", "\xDF\xBF"}) {
    EXPECT_TRUE(IsValidUtf8(ok)) << ok;
  }
  EXPECT_TRUE(IsValidUtf8(std::string_view("a\0b", 3)));
  for (std::string_view bad : {"\x80", "\xBF", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xE0\x9F\xBF",
                               "\xED\xA0\x80", "\xED\xBF\xBF", "\xF0\x80\x80\x80", "\xF0\x8F\xBF\xBF",
                               "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\xFE", "\xE2\x82", "ok\xC3",
                               "\xC3\x41", "\xF0\x90\x80", "IT-M\xFFJ"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << testing::PrintToString(std::string(bad));
  }
}

TEST(Utf8Test, AgreesWithAPlainDecoderOnEveryShortString) {
  // Every string of one and two bytes, and every three-byte string with a
  // lead byte at or above 0xC0 (the interesting ones; 12.6M of them).
  std::string s;
  for (int a = 0; a < 256; ++a) {
    s.assign(1, static_cast<char>(a));
    ASSERT_EQ(IsValidUtf8(s), ReferenceUtf8(s)) << a;
    for (int b = 0; b < 256; ++b) {
      s.assign({static_cast<char>(a), static_cast<char>(b)});
      ASSERT_EQ(IsValidUtf8(s), ReferenceUtf8(s)) << a << " " << b;
      if (a < 0xC0) continue;
      for (int c = 0; c < 256; ++c) {
        s.assign({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
        ASSERT_EQ(IsValidUtf8(s), ReferenceUtf8(s)) << a << " " << b << " " << c;
      }
    }
  }
  // Four-byte forms around the edges (F0 90, F4 8F/90) with every last byte.
  for (int lead : {0xF0, 0xF4, 0xF5})
    for (int b : {0x80, 0x8F, 0x90, 0xBF})
      for (int d = 0; d < 256; ++d) {
        s.assign({static_cast<char>(lead), static_cast<char>(b), '\x80', static_cast<char>(d)});
        ASSERT_EQ(IsValidUtf8(s), ReferenceUtf8(s)) << lead << " " << b << " " << d;
      }
}

}  // namespace
}  // namespace mlahub
