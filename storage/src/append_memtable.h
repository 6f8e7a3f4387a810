// A RocksDB memtable representation for column families whose keys are
// written in ascending order (the ledger's `entries`, `nodes` and
// `checkpoints`: BE64 keys, each written once, in index order).
//
// An insert of a key above every key held is an append to an array (no
// search, no comparisons beyond one); readers binary-search the array
// without locks. RocksDB's skiplist costs about 20 key comparisons per insert
// instead (and this build's RocksDB checks its skiplist invariants on every
// insert), which was half of the ledger committer's time.
//
// Any other insert (never made by the ledger, but possible after someone
// else wrote the database, e.g. WAL replay of an outside write) goes to a
// small ordered set; while that set is non-empty, iterators work on a merged
// copy. Correct for any write order, fast for ascending ones.
#pragma once

#include <rocksdb/memtablerep.h>
#include <rocksdb/version.h>

#include <memory>

namespace mlahub::storage {

// Get reads the layout of rocksdb::LookupKey (an internal class; see
// append_memtable.cc), which was checked against RocksDB 7.8 (Debian 12).
// Built against any other RocksDB, the ledger keeps RocksDB's skiplist.
inline constexpr bool kAppendMemTableTested = ROCKSDB_MAJOR == 7 && ROCKSDB_MINOR == 8;

class AppendMemTableRepFactory final : public rocksdb::MemTableRepFactory {
 public:
  using rocksdb::MemTableRepFactory::CreateMemTableRep;
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                          rocksdb::Allocator* allocator, const rocksdb::SliceTransform*,
                                          rocksdb::Logger*) override;
  const char* Name() const override { return "mlahub.AppendMemTableRepFactory"; }
  bool IsInsertConcurrentlySupported() const override { return false; }
  bool CanHandleDuplicatedKey() const override { return false; }
};

}  // namespace mlahub::storage
