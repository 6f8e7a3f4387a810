// The durable KV store: atomic batches, scans both ways, reopen, locking.
#include "mlahub/storage/store.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace mlahub::storage {
namespace {

using testing::TempDir;

TEST(StoreTest, BatchesAreAtomicAndSurviveReopen) {
  TempDir dir;
  {
    auto s = Store::Open(dir.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    StoreBatch b;
    b.Put("in/" + KeyBe64(1), std::string_view("first"));
    b.Put("in/" + KeyBe64(2), std::string_view("second"));
    b.Put("msg/abc", std::string_view("envelope"));
    ASSERT_TRUE((*s)->Write(b).ok());
    StoreBatch d;
    d.Delete("msg/abc");
    d.Put("msg/def", std::string_view("other"));
    ASSERT_TRUE((*s)->Write(d).ok());
    ASSERT_TRUE((*s)->Close().ok());
    EXPECT_EQ((*s)->Get("x").status().code(), Code::kUnavailable);
  }
  auto s = Store::Open(dir.path());
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->Get("msg/abc").value().has_value());
  EXPECT_EQ(*(*s)->Get("msg/def").value(), "other");
  std::vector<uint64_t> fwd, rev;
  ASSERT_TRUE((*s)->Scan("in/", "", [&](std::string_view k, std::string_view) {
                 fwd.push_back(ReadKeyBe64(k.substr(3)));
                 return true;
               }).ok());
  ASSERT_TRUE((*s)->ScanReverse("in/", [&](std::string_view k, std::string_view) {
                 rev.push_back(ReadKeyBe64(k.substr(3)));
                 return true;
               }).ok());
  EXPECT_EQ(fwd, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(rev, (std::vector<uint64_t>{2, 1}));
  // Scan from a start key, and stopping early.
  int seen = 0;
  ASSERT_TRUE((*s)->Scan("in/", "in/" + KeyBe64(2), [&](std::string_view, std::string_view v) {
                 EXPECT_EQ(v, "second");
                 ++seen;
                 return false;
               }).ok());
  EXPECT_EQ(seen, 1);
}

TEST(StoreTest, ReverseScanOfAnAllOnesPrefix) {
  TempDir dir;
  auto s = Store::Open(dir.path());
  ASSERT_TRUE(s.ok());
  std::string p("\xff\xff", 2);
  ASSERT_TRUE((*s)->Put(p + "a", ToBytes("1")).ok());
  ASSERT_TRUE((*s)->Put(p + "b", ToBytes("2")).ok());
  ASSERT_TRUE((*s)->Put("a", ToBytes("0")).ok());
  std::vector<std::string> got;
  ASSERT_TRUE((*s)->ScanReverse(p, [&](std::string_view k, std::string_view) {
                 got.emplace_back(k);
                 return true;
               }).ok());
  EXPECT_EQ(got, (std::vector<std::string>{p + "b", p + "a"}));
}

TEST(StoreTest, SecondOpenIsUnavailableAndMissingStoreNotCreated) {
  TempDir dir;
  auto a = Store::Open(dir.path());
  ASSERT_TRUE(a.ok());
  auto b = Store::Open(dir.path());
  EXPECT_EQ(b.status().code(), Code::kUnavailable) << b.status().ToString();
  StoreOptions o;
  o.create_if_missing = false;
  EXPECT_FALSE(Store::Open(dir.path() + "/none", o).ok());
}

}  // namespace
}  // namespace mlahub::storage
