#include "wal_file_system.h"

#include <fcntl.h>
#include <unistd.h>

#include <rocksdb/file_system.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

namespace mlahub::storage {
namespace {

// Zeros are kept at least this far ahead of the log's end and laid down this
// much at a time: one extension (and one size change to sync) per this many
// bytes of log; their writeback starts a chunk before they are written over.
// (1 MiB measured better than 256 KiB and 4 MiB for 2.5 KiB synced appends.)
constexpr uint64_t kZeroChunk = uint64_t{1} << 20;
constexpr size_t kZeroWrite = size_t{256} << 10;

bool IsWalFile(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0;
}

class PrezeroedWalFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  PrezeroedWalFile(std::unique_ptr<rocksdb::FSWritableFile> file, const std::string& name)
      : FSWritableFileOwnerWrapper(std::move(file)) {
    fd_ = ::open(name.c_str(), O_WRONLY | O_CLOEXEC);
  }
  ~PrezeroedWalFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    Extend(options, dbg, data.size());
    return FSWritableFileOwnerWrapper::Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info, rocksdb::IODebugContext* dbg) override {
    Extend(options, dbg, data.size());
    return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
  }
  // Positioned appends are for direct I/O, which the WAL does not use here;
  // they pass through (the file then grows as usual).

  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = FSWritableFileOwnerWrapper::Truncate(size, options, dbg);
    if (zeroed_to_ > size) zeroed_to_ = size;
    return s;
  }

  rocksdb::IOStatus Close(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    const uint64_t written = GetFileSize(options, dbg);
    rocksdb::IOStatus s = FSWritableFileOwnerWrapper::Close(options, dbg);
    if (fd_ >= 0) {
      // Trim the zeros not written over (RocksDB's Close trims only its own
      // preallocation). A failure leaves a zero tail, which reads as padding.
      if (zeroed_to_ > written && ::ftruncate(fd_, static_cast<off_t>(written)) == 0) zeroed_to_ = written;
      ::close(fd_);
      fd_ = -1;
    }
    return s;
  }

 private:
  void Extend(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg, size_t n) {
    if (fd_ < 0) return;
    const uint64_t size = GetFileSize(options, dbg);
    const uint64_t end = size + n + kZeroChunk;
    if (end <= zeroed_to_) return;
    const uint64_t from = std::max(zeroed_to_, size);
    const uint64_t to = (end / kZeroChunk + 1) * kZeroChunk;
    static const std::vector<char> zeros(kZeroWrite, 0);
    for (uint64_t at = from; at < to;) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(to - at, zeros.size()));
      ssize_t w = ::pwrite(fd_, zeros.data(), len, static_cast<off_t>(at));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        // Give up on this file: it grows as RocksDB writes, as without us.
        ::close(fd_);
        fd_ = -1;
        return;
      }
      at += static_cast<uint64_t>(w);
    }
    // Start the zeros' writeback now, so that the next sync finds them on
    // the device and writes only the new size.
    ::sync_file_range(fd_, static_cast<off_t>(from), static_cast<off_t>(to - from), SYNC_FILE_RANGE_WRITE);
    zeroed_to_ = to;
  }

  int fd_ = -1;
  uint64_t zeroed_to_ = 0;
};

class PrezeroedWalFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit PrezeroedWalFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target)
      : FileSystemWrapper(target) {}
  const char* Name() const override { return "MlahubPrezeroedWalFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = FileSystemWrapper::NewWritableFile(name, options, result, dbg);
    if (s.ok() && IsWalFile(name) && !options.use_direct_writes)
      *result = std::make_unique<PrezeroedWalFile>(std::move(*result), name);
    return s;
  }
};

}  // namespace

rocksdb::Env* PrezeroedWalEnv() {
  static rocksdb::Env* env =
      rocksdb::NewCompositeEnv(std::make_shared<PrezeroedWalFileSystem>(rocksdb::FileSystem::Default())).release();
  return env;
}

}  // namespace mlahub::storage
