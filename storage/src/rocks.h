// RocksDB glue shared by the ledger and the store: slices to views and back,
// and RocksDB's status mapped onto mlahub's named codes.
#pragma once

#include <rocksdb/slice.h>
#include <rocksdb/status.h>

#include <string>
#include <string_view>

#include "mlahub/core/status.h"

namespace mlahub::storage {

inline rocksdb::Slice AsSlice(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view AsView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// `what` says what failed ("cannot open store DIR"); RocksDB's text follows.
inline Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsNotFound() || s.IsPathNotFound()) return Status::NotFound(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return Status::Unavailable(msg);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
    return Status::Unavailable(msg + " (is another process using this database?)");
  return Status::IoError(msg);
}

}  // namespace mlahub::storage
