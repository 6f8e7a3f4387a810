// An Env whose write-ahead log files are written over zeros laid down ahead
// of them, so that a synced write does not change the file's size.
//
// Why: RocksDB appends each write to its WAL and, with sync, calls
// fdatasync. When the append grows the file, fdatasync must also write the
// inode (the new size): on ext4 that is a second, dependent device write
// before the cache flush. Measured on this project's machines: 162-202 us
// per 1.5 KiB append + fdatasync on a growing (fallocate'd) file, 95-112 us
// when the same bytes overwrite blocks already written. RocksDB's own answer,
// recycle_log_file_num, is refused with the point-in-time WAL recovery the
// ledger and the store need.
//
// How: each WAL file (*.log, made by NewWritableFile) is wrapped. Before an
// append would come within a chunk (1 MiB) of the end of the zeros written
// so far, another chunk of zeros is written after them through a second
// descriptor and its writeback started (sync_file_range, no wait); the
// file's own descriptor keeps writing at its position, inside the zeros. Close trims the file to
// what was written (RocksDB does the same for its preallocation).
//
// Recovery after a crash: the log reader treats a zero header (type 0,
// length 0) as padding and skips to the next block, so a zero tail reads as
// the end of the log (RocksDB's mmap writer used to leave the same tails).
// The ledger's crash tests kill writers with SIGKILL over such tails.
//
// If writing the zeros fails, the file is left to grow as before: only the
// speed is lost.
#pragma once

#include <rocksdb/env.h>

namespace mlahub::storage {

// A process-wide Env over the default one (same threads), with the WAL
// files above. Never freed: databases hold it for their whole life.
rocksdb::Env* PrezeroedWalEnv();

}  // namespace mlahub::storage
