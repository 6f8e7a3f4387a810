#include "mlahub/storage/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "mlahub/core/file.h"
#include "rocks.h"

namespace mlahub::storage {

void StoreBatch::Put(std::string_view key, ByteView value) {
  ops_.push_back({std::string(key), std::string(reinterpret_cast<const char*>(value.data()), value.size())});
}
void StoreBatch::Put(std::string_view key, std::string_view value) {
  ops_.push_back({std::string(key), std::string(value)});
}
void StoreBatch::Delete(std::string_view key) { ops_.push_back({std::string(key), std::nullopt}); }

struct Store::Impl {
  std::string dir;
  rocksdb::DB* db = nullptr;
  std::shared_ptr<rocksdb::Cache> cache;

  ~Impl() { CloseDb(); }
  void CloseDb() {
    if (db == nullptr) return;
    db->Close().PermitUncheckedError();
    delete db;
    db = nullptr;
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() { Close().IgnoreError(); }

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, StoreOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  if (options.create_if_missing) MLAHUB_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  rocksdb::Options o;
  o.create_if_missing = options.create_if_missing;
  o.paranoid_checks = true;
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.write_buffer_size = options.write_buffer_bytes;
  o.max_write_buffer_number = 2;
  o.max_background_jobs = 2;
  // RocksDB's own info LOG: rolled at 16 MiB, four old ones kept (without a
  // size it is one file per open, growing for as long as the daemon runs).
  o.keep_log_file_num = 4;
  o.max_log_file_size = 16 << 20;
  impl->cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = impl->cache;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  rocksdb::Status s = rocksdb::DB::Open(o, dir, &impl->db);
  if (!s.ok()) return FromRocks(s, "cannot open store " + dir);
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Status Store::Write(const StoreBatch& batch) {
  if (impl_->db == nullptr) return Status::Unavailable("store is closed");
  if (batch.empty()) return Status::Ok();
  rocksdb::WriteBatch wb;
  for (const auto& op : batch.ops()) {
    if (op.value) {
      wb.Put(AsSlice(op.key), AsSlice(*op.value));
    } else {
      wb.Delete(AsSlice(op.key));
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = batch.sync();
  rocksdb::Status s = impl_->db->Write(wo, &wb);
  if (!s.ok()) return FromRocks(s, "store write failed");
  return Status::Ok();
}

Status Store::Put(std::string_view key, ByteView value) {
  StoreBatch b;
  b.Put(key, value);
  return Write(b);
}

Result<std::optional<std::string>> Store::Get(std::string_view key) const {
  if (impl_->db == nullptr) return Status::Unavailable("store is closed");
  std::string v;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), AsSlice(key), &v);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "store read failed");
  return std::optional<std::string>(std::move(v));
}

Status Store::Scan(std::string_view prefix, std::string_view start,
                   const std::function<bool(std::string_view, std::string_view)>& visit) const {
  if (impl_->db == nullptr) return Status::Unavailable("store is closed");
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  std::string from = start.empty() || start < prefix ? std::string(prefix) : std::string(start);
  for (it->Seek(AsSlice(from)); it->Valid() && it->key().starts_with(AsSlice(prefix)); it->Next()) {
    if (!visit(AsView(it->key()), AsView(it->value()))) break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "store read failed");
  return Status::Ok();
}

Status Store::ScanReverse(std::string_view prefix,
                          const std::function<bool(std::string_view, std::string_view)>& visit) const {
  if (impl_->db == nullptr) return Status::Unavailable("store is closed");
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  // The first key after every key with `prefix`: prefix with its last
  // non-0xff byte incremented.
  std::string end(prefix);
  while (!end.empty() && static_cast<uint8_t>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) {
    it->SeekToLast();
  } else {
    end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
    it->SeekForPrev(AsSlice(end));
    if (it->Valid() && it->key() == AsSlice(end)) it->Prev();
  }
  for (; it->Valid() && it->key().starts_with(AsSlice(prefix)); it->Prev()) {
    if (!visit(AsView(it->key()), AsView(it->value()))) break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "store read failed");
  return Status::Ok();
}

Status Store::Close() {
  if (impl_ == nullptr || impl_->db == nullptr) return Status::Ok();
  rocksdb::Status s = impl_->db->SyncWAL();
  impl_->CloseDb();
  if (!s.ok()) return FromRocks(s, "store close failed");
  return Status::Ok();
}

std::string KeyBe64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (56 - 8 * i));
  return out;
}

uint64_t ReadKeyBe64(std::string_view b) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < b.size(); ++i) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return v;
}

}  // namespace mlahub::storage
