// Opens a closed ledger's RocksDB directly so that tests can alter it the
// way an attacker with disk access could.
#pragma once

#include <rocksdb/db.h>

#include <functional>
#include <map>
#include <memory>
#include <vector>
#include <string>

#include "ledger_keys.h"
#include "test_util.h"

namespace mlahub::storage::testing {

class Tamper {
 public:
  explicit Tamper(const std::string& ledger_dir) {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (auto n : {layout::kCfDefault, layout::kCfEntries, layout::kCfNodes, layout::kCfCheckpoints,
                   layout::kCfIndex, layout::kCfState})
      cfs.emplace_back(std::string(n), rocksdb::ColumnFamilyOptions());
    rocksdb::DBOptions o;
    rocksdb::Status s =
        rocksdb::DB::Open(o, ledger_dir + "/" + std::string(layout::kDbSubdir), cfs, &handles_, &db_);
    MLAHUB_CHECK_MSG(s.ok(), s.ToString());
    for (size_t i = 0; i < cfs.size(); ++i) cf_[cfs[i].name] = handles_[i];
  }
  ~Tamper() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
    delete db_;
  }

  std::string Get(std::string_view cf, const std::string& key) {
    std::string v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_.at(std::string(cf)), key, &v);
    MLAHUB_CHECK_MSG(s.ok(), s.ToString());
    return v;
  }
  void Put(std::string_view cf, const std::string& key, const std::string& value) {
    MLAHUB_CHECK(db_->Put(rocksdb::WriteOptions(), cf_.at(std::string(cf)), key, value).ok());
  }
  void Delete(std::string_view cf, const std::string& key) {
    MLAHUB_CHECK(db_->Delete(rocksdb::WriteOptions(), cf_.at(std::string(cf)), key).ok());
  }
  // Every key of a column family, in order.
  std::vector<std::string> Keys(std::string_view cf) {
    std::vector<std::string> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_.at(std::string(cf))));
    for (it->SeekToFirst(); it->Valid(); it->Next()) out.push_back(it->key().ToString());
    MLAHUB_CHECK(it->status().ok());
    return out;
  }
  // Offset of the entry bytes (or of the index key) in entry i's record.
  size_t EntryBytesOffset(uint64_t i) {
    layout::EntryRecordView rv;
    std::string v = Get(layout::kCfEntries, layout::Be64(i));
    MLAHUB_CHECK(layout::ParseEntryRecord(i, v, &rv));
    return static_cast<size_t>(rv.entry.data() - v.data());
  }
  size_t IndexKeyOffset(uint64_t i) { return layout::RecordHeaderSize(i); }
  // XORs one byte of a value.
  void Flip(std::string_view cf, const std::string& key, size_t offset, uint8_t mask = 0x01) {
    std::string v = Get(cf, key);
    MLAHUB_CHECK(offset < v.size());
    v[offset] = static_cast<char>(v[offset] ^ mask);
    Put(cf, key, v);
  }

 private:
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> cf_;
};

}  // namespace mlahub::storage::testing
