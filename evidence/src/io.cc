#include "io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "mlahub/core/file.h"
#include "mlahub/crypto/aead.h"
#include "mlahub/crypto/random.h"
#include "mlahub/crypto/secret.h"

namespace mlahub::evidence::internal {

std::string Errno(std::string_view what) { return std::string(what) + ": " + std::strerror(errno); }

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}
Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Result<Fd> OpenFile(const std::string& path, int flags, unsigned mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(Errno("open " + path));
    return Status::IoError(Errno("open " + path));
  }
  return Fd(fd);
}

Status PreadFull(int fd, uint8_t* buf, size_t n, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(Errno("read " + what));
    }
    if (r == 0) return Status::Corruption("read " + what + ": file shorter than expected");
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

Status PwriteFull(int fd, const uint8_t* buf, size_t n, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pwrite(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(Errno("write " + what));
    }
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

Status WriteFull(int fd, const uint8_t* buf, size_t n, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::write(fd, buf + done, n - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(Errno("write " + what));
    }
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

Status SyncFd(int fd, const std::string& what) {
  if (::fdatasync(fd) != 0) return Status::IoError(Errno("fsync " + what));
  return Status::Ok();
}

Status TruncateFd(int fd, uint64_t size, const std::string& what) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0)
    return Status::IoError(Errno("truncate " + what));
  return Status::Ok();
}

Result<uint64_t> FileSize(int fd, const std::string& what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::IoError(Errno("stat " + what));
  return static_cast<uint64_t>(st.st_size);
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(Errno("open directory " + dir));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::IoError(Errno("fsync directory " + dir));
  return Status::Ok();
}

Status RemoveTree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return Status::IoError("remove " + dir + ": " + ec.message());
  return Status::Ok();
}

WipedBytes::~WipedBytes() {
  if (!b.empty()) crypto::Wipe(b.data(), b.size());
}

Status WriteSealed(const std::string& path, const AtRestKey& key, std::string_view label,
                   ByteView record) {
  crypto::AeadNonce nonce;
  crypto::RandomBytes(nonce.data(), nonce.size());
  WipedBytes out;
  out.b.reserve(nonce.size() + record.size() + crypto::kAeadTagSize);
  out.b.assign(nonce.begin(), nonce.end());
  out.b.resize(nonce.size() + record.size() + crypto::kAeadTagSize);
  std::memcpy(out.b.data() + nonce.size(), record.data(), record.size());
  crypto::AeadEncryptInPlace(key, nonce, out.b.data() + nonce.size(), record.size(),
                             AsBytes(label));
  return WriteFileAtomic(path, out.b, 0600);
}

Result<Bytes> ReadSealed(const std::string& path, const AtRestKey& key, std::string_view label) {
  if (!FileExists(path)) return Status::NotFound(path + " does not exist");
  MLAHUB_ASSIGN_OR_RETURN(Bytes data, ReadFile(path, 1 << 20));
  if (data.size() < crypto::kAeadNonceSize + crypto::kAeadTagSize)
    return Status::Corruption(path + ": sealed record too short");
  crypto::AeadNonce nonce;
  std::memcpy(nonce.data(), data.data(), nonce.size());
  uint8_t* body = data.data() + nonce.size();
  size_t len = data.size() - nonce.size();
  if (!crypto::AeadDecryptInPlace(key, nonce, body, len, AsBytes(label)))
    return Status::Corruption(path +
                              ": sealed record does not open (altered, or another at-rest key)");
  Bytes out(body, body + len - crypto::kAeadTagSize);
  crypto::Wipe(data.data(), data.size());
  return out;
}

bool RecordReader::Need(size_t n) {
  if (!ok_ || in_.size() - pos_ < n) {
    ok_ = false;
    return false;
  }
  return true;
}
uint8_t RecordReader::U8() {
  if (!Need(1)) return 0;
  return in_[pos_++];
}
uint32_t RecordReader::U32() {
  if (!Need(4)) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{in_[pos_ + i]} << (8 * i);
  pos_ += 4;
  return v;
}
uint64_t RecordReader::U64() {
  if (!Need(8)) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{in_[pos_ + i]} << (8 * i);
  pos_ += 8;
  return v;
}
ByteView RecordReader::Blob() {
  uint32_t n = U32();
  if (!Need(n)) return {};
  ByteView out = in_.subspan(pos_, n);
  pos_ += n;
  return out;
}
std::string RecordReader::Str() {
  ByteView b = Blob();
  return std::string(AsString(b));
}
void RecordReader::Fixed(uint8_t* out, size_t n) {
  ByteView b = Blob();
  if (!ok_ || b.size() != n) {
    ok_ = false;
    return;
  }
  std::memcpy(out, b.data(), n);
}

}  // namespace mlahub::evidence::internal
