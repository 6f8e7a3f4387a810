// Shared helpers of the evidence tests: temp dirs, deterministic files,
// status assertions, peak memory.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "mlahub/core/file.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/evidence/errors.h"
#include "mlahub/evidence/manifest.h"

#define ASSERT_OK(expr)                    \
  do {                                     \
    const ::mlahub::Status _s = (expr);    \
    ASSERT_TRUE(_s.ok()) << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                    \
  do {                                     \
    const ::mlahub::Status _s = (expr);    \
    EXPECT_TRUE(_s.ok()) << _s.ToString(); \
  } while (0)
// The evidence error named by a Status (evaluated once).
#define EXPECT_ERRC(status_expr, errc)                                       \
  do {                                                                       \
    const ::mlahub::Status _st = (status_expr);                              \
    EXPECT_EQ(::mlahub::evidence::ErrcName(::mlahub::evidence::ErrcOf(_st)), \
              ::mlahub::evidence::ErrcName(errc))                            \
        << _st.ToString();                                                   \
  } while (0)

namespace mlahub::evidence::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mlahub-evidence-test-XXXXXX";
    MLAHUB_CHECK(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes `size` bytes of a deterministic pseudo-random sequence (xorshift64*
// seeded by `seed`) in 1 MiB blocks; returns their SHA-256.
inline crypto::Digest32 WritePatternFile(const std::string& path, uint64_t size,
                                         uint64_t seed = 1) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  MLAHUB_CHECK(fd >= 0);
  crypto::Sha256Stream h;
  Bytes block(1 << 20);
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  uint64_t left = size;
  while (left > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, block.size()));
    for (size_t i = 0; i < n; i += 8) {
      x ^= x >> 12;
      x ^= x << 25;
      x ^= x >> 27;
      uint64_t v = x * 0x2545F4914F6CDD1DULL;
      std::memcpy(block.data() + i, &v, std::min<size_t>(8, n - i));
    }
    h.Update(ByteView(block.data(), n));
    MLAHUB_CHECK(::write(fd, block.data(), n) == static_cast<ssize_t>(n));
    left -= n;
  }
  MLAHUB_CHECK(::close(fd) == 0);
  return h.Final();
}

inline AtRestKey TestKey(uint8_t fill = 0x42) {
  AtRestKey k;
  std::memset(k.data(), fill, k.size());
  return k;
}

// Peak resident set of this process in bytes (VmHWM).
inline uint64_t PeakRssBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

inline uint64_t FileSizeOf(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

}  // namespace mlahub::evidence::testing
