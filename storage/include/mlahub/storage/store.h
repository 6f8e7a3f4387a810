// A small durable key-value store on RocksDB, for the agents' case stores
// (and anything else outside the ledger that needs fsync'd, atomic writes).
// RocksDB stays private to storage/: callers see bytes and strings only.
//
// Durability: Write(batch) returns only after the batch is in the WAL and
// fsync'd (WriteOptions.sync); a batch is atomic across a crash. A batch
// marked set_sync(false) is written to the WAL without the fsync: it survives
// a crash of the process (kill -9) but maybe not of the machine; for state
// that can be learnt again. WAL order is kept, so the next synced write makes
// it durable too. Concurrent
// Write calls from several threads are grouped by RocksDB's own group commit
// (one fsync for many writers), so callers get throughput from concurrency
// without giving up the guarantee.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"

namespace mlahub::storage {

struct StoreOptions {
  bool create_if_missing = true;
  // Block cache for reads.
  size_t block_cache_bytes = size_t{64} << 20;
  // Memtable size (bounds write-side memory).
  size_t write_buffer_bytes = size_t{16} << 20;
};

// An atomic group of puts and deletes.
class StoreBatch {
 public:
  void Put(std::string_view key, ByteView value);
  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }
  // false: no fsync for this batch (see above). Default true.
  void set_sync(bool sync) { sync_ = sync; }
  bool sync() const { return sync_; }

  struct Op {
    std::string key;
    std::optional<std::string> value;  // nullopt: delete
  };
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
  bool sync_ = true;
};

class Store {
 public:
  // Opens (creating if allowed) the store in `dir`; the process holds
  // RocksDB's lock on it (kUnavailable if another process has it open).
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Atomic, and fsync'd before returning unless batch.sync() is false.
  Status Write(const StoreBatch& batch);
  Status Put(std::string_view key, ByteView value);

  Result<std::optional<std::string>> Get(std::string_view key) const;
  // Visits keys starting with `prefix`, in byte order from `start`
  // (inclusive; empty = the first), until `visit` returns false.
  Status Scan(std::string_view prefix, std::string_view start,
              const std::function<bool(std::string_view key, std::string_view value)>& visit) const;
  // Like Scan, from the last key with `prefix` backwards.
  Status ScanReverse(std::string_view prefix,
                     const std::function<bool(std::string_view key, std::string_view value)>& visit) const;

  Status Close();

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Big-endian fixed-width encoding, so numeric keys sort in order.
std::string KeyBe64(uint64_t v);
uint64_t ReadKeyBe64(std::string_view eight_bytes);

}  // namespace mlahub::storage
