// The append memtable (append_memtable.h) through RocksDB: ascending writes,
// out-of-order writes (overwrites, deletes, keys below the last), snapshots,
// iterators in both directions, flush and WAL replay, checked against a model.
#include "append_memtable.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "test_util.h"

namespace mlahub::storage {
namespace {

std::string Key(uint64_t i) {
  std::string s(8, '\0');
  for (int b = 0; b < 8; ++b) s[static_cast<size_t>(b)] = static_cast<char>(i >> (56 - 8 * b));
  return s;
}

class AppendMemTableTest : public ::testing::Test {
 protected:
  void Open() {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.allow_concurrent_memtable_write = false;
    o.memtable_factory = std::make_shared<AppendMemTableRepFactory>();
    o.write_buffer_size = 1 << 20;  // flushes during the random test too
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(o, dir_.path() + "/db", &db);
    ASSERT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
  }
  std::optional<std::string> Get(const std::string& k, const rocksdb::Snapshot* snap = nullptr) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    std::string v;
    rocksdb::Status s = db_->Get(ro, k, &v);
    if (s.IsNotFound()) return std::nullopt;
    EXPECT_TRUE(s.ok()) << s.ToString();
    return v;
  }
  void Put(const std::string& k, const std::string& v) { ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), k, v).ok()); }
  void Del(const std::string& k) { ASSERT_TRUE(db_->Delete(rocksdb::WriteOptions(), k).ok()); }
  // The whole database, forward and backward, must equal the model.
  void CheckAgainst(const std::map<std::string, std::string>& model) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    auto m = model.begin();
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++m) {
      ASSERT_NE(m, model.end());
      ASSERT_EQ(it->key().ToString(), m->first);
      ASSERT_EQ(it->value().ToString(), m->second);
    }
    ASSERT_EQ(m, model.end());
    ASSERT_TRUE(it->status().ok());
    auto r = model.rbegin();
    for (it->SeekToLast(); it->Valid(); it->Prev(), ++r) {
      ASSERT_NE(r, model.rend());
      ASSERT_EQ(it->key().ToString(), r->first);
    }
    ASSERT_EQ(r, model.rend());
  }

  testing::TempDir dir_;
  std::unique_ptr<rocksdb::DB> db_;
};

TEST_F(AppendMemTableTest, AscendingWritesAndReads) {
  Open();
  std::map<std::string, std::string> model;
  for (uint64_t i = 0; i < 5000; ++i) {
    Put(Key(i * 2), "v" + std::to_string(i));
    model[Key(i * 2)] = "v" + std::to_string(i);
  }
  for (uint64_t i = 0; i < 10000; ++i) {
    auto v = Get(Key(i));
    if (i % 2 == 0) {
      ASSERT_EQ(v.value_or("-"), "v" + std::to_string(i / 2));
    } else {
      ASSERT_FALSE(v.has_value());
    }
  }
  CheckAgainst(model);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->Seek(Key(101));
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key().ToString(), Key(102));
  it->SeekForPrev(Key(101));
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key().ToString(), Key(100));
  it->Prev();
  EXPECT_EQ(it->key().ToString(), Key(98));
  it->SeekForPrev(std::string(1, '\0'));
  EXPECT_FALSE(it->Valid());
  it->Seek(Key(20000));
  EXPECT_FALSE(it->Valid());
}

TEST_F(AppendMemTableTest, OutOfOrderWritesSnapshotsFlushAndReplay) {
  Open();
  for (uint64_t i = 0; i < 100; ++i) Put(Key(i), "a" + std::to_string(i));
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  Put(Key(50), "overwritten");  // same key, newer sequence: sorts before the old one
  Del(Key(60));
  Put(Key(7) + "x", "between");  // below the last key
  EXPECT_EQ(Get(Key(50)).value_or("-"), "overwritten");
  EXPECT_EQ(Get(Key(50), snap).value_or("-"), "a50");
  EXPECT_FALSE(Get(Key(60)).has_value());
  EXPECT_EQ(Get(Key(60), snap).value_or("-"), "a60");
  EXPECT_EQ(Get(Key(7) + "x").value_or("-"), "between");
  EXPECT_FALSE(Get(Key(7) + "x", snap).has_value());
  std::map<std::string, std::string> model;
  for (uint64_t i = 0; i < 100; ++i) model[Key(i)] = "a" + std::to_string(i);
  model[Key(50)] = "overwritten";
  model.erase(Key(60));
  model[Key(7) + "x"] = "between";
  CheckAgainst(model);
  db_->ReleaseSnapshot(snap);
  // Appends after the out-of-order ones still work.
  for (uint64_t i = 100; i < 200; ++i) {
    Put(Key(i), "b");
    model[Key(i)] = "b";
  }
  CheckAgainst(model);
  // WAL replay into a fresh memtable, then a flush to a table file.
  db_.reset();
  Open();
  CheckAgainst(model);
  ASSERT_TRUE(db_->Flush(rocksdb::FlushOptions()).ok());
  CheckAgainst(model);
  EXPECT_EQ(Get(Key(50)).value_or("-"), "overwritten");
}

TEST_F(AppendMemTableTest, RandomOperationsMatchAModel) {
  Open();
  std::mt19937_64 rng(7);
  std::map<std::string, std::string> model;
  uint64_t next = 0;
  std::vector<std::pair<const rocksdb::Snapshot*, std::map<std::string, std::string>>> snaps;
  for (int op = 0; op < 15000; ++op) {
    uint64_t r = rng() % 100;
    if (r < 80) {  // mostly appends, as the ledger writes
      std::string k = Key(next++), v = std::string(1 + rng() % 300, static_cast<char>('a' + rng() % 26));
      Put(k, v);
      model[k] = v;
    } else if (r < 88 && next > 0) {  // overwrite an older key
      std::string k = Key(rng() % next), v = "o" + std::to_string(op);
      Put(k, v);
      model[k] = v;
    } else if (r < 94 && next > 0) {
      std::string k = Key(rng() % next);
      Del(k);
      model.erase(k);
    } else if (r < 96) {
      snaps.emplace_back(db_->GetSnapshot(), model);
    } else if (next > 0) {
      std::string k = Key(rng() % (next + 10));
      auto it = model.find(k);
      auto v = Get(k);
      ASSERT_EQ(v.has_value(), it != model.end()) << op;
      if (v) {
        ASSERT_EQ(*v, it->second) << op;
      }
    }
  }
  CheckAgainst(model);
  for (auto& [snap, m] : snaps) {
    for (int j = 0; j < 50; ++j) {
      std::string k = Key(rng() % next);
      auto it = m.find(k);
      auto v = Get(k, snap);
      ASSERT_EQ(v.has_value(), it != m.end());
      if (v) {
        ASSERT_EQ(*v, it->second);
      }
    }
    db_->ReleaseSnapshot(snap);
  }
  db_.reset();
  Open();
  CheckAgainst(model);
}

}  // namespace
}  // namespace mlahub::storage
