// Internal helpers of the evidence module: files (RAII descriptors, full
// reads and writes, fsync), sealed state records (AEAD under the store's
// at-rest key) and a small length-prefixed record encoding.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/evidence/chunk.h"
#include "mlahub/evidence/manifest.h"

namespace mlahub::evidence::internal {

// Where the ciphertext file of a stream of `size` plaintext bytes ends after
// its first k chunks (each chunk adds kChunkOverhead bytes).
inline uint64_t EndOffset(uint64_t size, uint32_t chunk_size, uint64_t k) {
  return std::min<uint64_t>(k * chunk_size, size) + k * kChunkOverhead;
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

Result<Fd> OpenFile(const std::string& path, int flags, unsigned mode = 0600);
Status PreadFull(int fd, uint8_t* buf, size_t n, uint64_t offset, const std::string& what);
Status PwriteFull(int fd, const uint8_t* buf, size_t n, uint64_t offset, const std::string& what);
Status WriteFull(int fd, const uint8_t* buf, size_t n, const std::string& what);
Status SyncFd(int fd, const std::string& what);
Status TruncateFd(int fd, uint64_t size, const std::string& what);
Result<uint64_t> FileSize(int fd, const std::string& what);
Status SyncDir(const std::string& dir);
Status RemoveTree(const std::string& dir);
std::string Errno(std::string_view what);

// Sealed record: nonce(24) || XChaCha20-Poly1305(key, record, aad = label),
// written with WriteFileAtomic (temp, fsync, rename, fsync dir).
Status WriteSealed(const std::string& path, const AtRestKey& key, std::string_view label,
                   ByteView record);
// kNotFound if missing; kCorruption if it does not open (altered, other key).
Result<Bytes> ReadSealed(const std::string& path, const AtRestKey& key, std::string_view label);

// Bytes that wipe themselves (records holding keys and stream states).
struct WipedBytes {
  Bytes b;
  ~WipedBytes();
};

class RecordWriter {
 public:
  explicit RecordWriter(Bytes& out) : out_(out) {}
  void U8(uint8_t v) { out_.push_back(v); }
  void U32(uint32_t v) { PutU32Le(out_, v); }
  void U64(uint64_t v) { PutU64Le(out_, v); }
  void Blob(ByteView b) {
    U32(static_cast<uint32_t>(b.size()));
    out_.insert(out_.end(), b.begin(), b.end());
  }
  void Str(std::string_view s) { Blob(AsBytes(s)); }

 private:
  Bytes& out_;
};

// Every read fails (returns false) once the record is exhausted; the caller
// checks ok() at the end and turns false into kCorruption.
class RecordReader {
 public:
  explicit RecordReader(ByteView in) : in_(in) {}
  uint8_t U8();
  uint32_t U32();
  uint64_t U64();
  ByteView Blob();
  std::string Str();
  // Copies a blob of exactly n bytes into out (fails otherwise).
  void Fixed(uint8_t* out, size_t n);
  bool ok() const { return ok_ && pos_ == in_.size(); }
  bool good() const { return ok_; }

 private:
  bool Need(size_t n);
  ByteView in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace mlahub::evidence::internal
