// Shared helpers of the storage tests: temp dirs, hex, a straightforward
// recursive RFC 9162 reference implementation, and a deterministic signer.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <bit>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/sign.h"
#include "mlahub/storage/merkle.h"
#include "mlahub/storage/note.h"

#define ASSERT_OK(expr)                                  \
  do {                                                   \
    const ::mlahub::Status _s = (expr);                  \
    ASSERT_TRUE(_s.ok()) << _s.ToString();               \
  } while (0)
#define EXPECT_OK(expr)                                  \
  do {                                                   \
    const ::mlahub::Status _s = (expr);                  \
    EXPECT_TRUE(_s.ok()) << _s.ToString();               \
  } while (0)

namespace mlahub::storage::testing {

inline Hash H(std::string_view hex) {
  auto b = crypto::FromHex(hex);
  MLAHUB_CHECK(b.ok() && b->size() == 32);
  Hash h;
  std::copy(b->begin(), b->end(), h.begin());
  return h;
}

inline std::string Hex(const Hash& h) { return crypto::ToHex(ByteView(h.data(), h.size())); }

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mlahub-storage-test-XXXXXX";
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

// RFC 9162 2.1.1-2.1.4 written as the RFC states them, memoised.
class Reference {
 public:
  explicit Reference(std::vector<Bytes> leaves) : d_(std::move(leaves)) {}

  Hash Mth(uint64_t a, uint64_t b) {
    uint64_t n = b - a;
    if (n == 0) return EmptyRoot();
    auto key = std::make_pair(a, b);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    Hash h;
    if (n == 1) {
      h = HashLeaf(d_[a]);
    } else {
      uint64_t k = std::bit_floor(n - 1);
      h = HashChildren(Mth(a, a + k), Mth(a + k, b));
    }
    memo_[key] = h;
    return h;
  }

  std::vector<Hash> Path(uint64_t m, uint64_t a, uint64_t b) {
    uint64_t n = b - a;
    if (n == 1) return {};
    uint64_t k = std::bit_floor(n - 1);
    std::vector<Hash> out;
    if (m < k) {
      out = Path(m, a, a + k);
      out.push_back(Mth(a + k, b));
    } else {
      out = Path(m - k, a + k, b);
      out.push_back(Mth(a, a + k));
    }
    return out;
  }

  std::vector<Hash> SubProof(uint64_t m, uint64_t a, uint64_t b, bool whole) {
    uint64_t n = b - a;
    if (m == n) {
      if (whole) return {};
      return {Mth(a, b)};
    }
    uint64_t k = std::bit_floor(n - 1);
    std::vector<Hash> out;
    if (m <= k) {
      out = SubProof(m, a, a + k, whole);
      out.push_back(Mth(a + k, b));
    } else {
      out = SubProof(m - k, a + k, b, false);
      out.push_back(Mth(a, a + k));
    }
    return out;
  }

  std::vector<Hash> Consistency(uint64_t m, uint64_t n) {
    if (m == 0 || m == n) return {};
    return SubProof(m, 0, n, true);
  }

  size_t size() const { return d_.size(); }

 private:
  std::vector<Bytes> d_;
  std::map<std::pair<uint64_t, uint64_t>, Hash> memo_;
};

// Node source over the reference tree.
class ReferenceSource : public NodeSource {
 public:
  explicit ReferenceSource(Reference& ref) : ref_(ref) {}
  Status ReadNodes(std::span<const NodePos> nodes, std::span<Hash> out) const override {
    for (size_t i = 0; i < nodes.size(); ++i) out[i] = ref_.Mth(nodes[i].begin(), nodes[i].end());
    return Status::Ok();
  }

 private:
  Reference& ref_;
};

inline std::shared_ptr<const NoteSigner> TestSigner(std::string name = "test.mlahub.example/ledger",
                                                    uint8_t seed_byte = 7) {
  crypto::Secret<crypto::kSignSeedSize> seed;
  std::fill(seed.data(), seed.data() + seed.size(), seed_byte);
  auto s = Ed25519NoteSigner::Create(std::move(name), crypto::SigningKey::FromSeed(seed));
  MLAHUB_CHECK(s.ok());
  return std::shared_ptr<const NoteSigner>(std::move(s).value());
}

}  // namespace mlahub::storage::testing
