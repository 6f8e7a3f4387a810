// RFC 9162 Merkle trees: known vectors (transparency-dev/merkle, the
// RFC 6962 test data also used by certificate-transparency-go) and a
// comparison against the straightforward recursive reference.
#include "mlahub/storage/merkle.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace mlahub::storage {
namespace {

using testing::H;
using testing::Hex;
using testing::Reference;
using testing::ReferenceSource;

std::vector<Bytes> VectorLeaves() {
  std::vector<Bytes> out;
  for (const char* h : {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                        "606162636465666768696a6b6c6d6e6f"})
    out.push_back(*h == '\0' ? Bytes{} : *crypto::FromHex(h));  // FromHex("") trips UBSan in crypto
  return out;
}

// Roots of the trees of the first 0..8 leaves.
const char* const kRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct InclusionVector {
  uint64_t index;  // 0-based
  uint64_t size;
  std::vector<const char*> proof;
};

const InclusionVector kInclusion[] = {
    {0, 1, {}},
    {0, 8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5, 8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1, 5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

struct ConsistencyVector {
  uint64_t old_size;
  uint64_t new_size;
  std::vector<const char*> proof;
};

const ConsistencyVector kConsistency[] = {
    {1, 1, {}},
    {1, 8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6, 7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

std::vector<Hash> Hashes(const std::vector<const char*>& hex) {
  std::vector<Hash> out;
  for (const char* h : hex) out.push_back(H(h));
  return out;
}

TEST(MerkleTest, EmptyRootIsSha256OfNothing) {
  EXPECT_EQ(Hex(EmptyRoot()), kRoots[0]);
}

TEST(MerkleTest, KnownRoots) {
  std::vector<Bytes> leaves = VectorLeaves();
  Reference ref(leaves);
  ReferenceSource src(ref);
  MerkleFrontier f;
  EXPECT_EQ(Hex(f.Root()), kRoots[0]);
  for (size_t n = 0; n <= leaves.size(); ++n) {
    if (n > 0) f.Append(HashLeaf(leaves[n - 1]));
    EXPECT_EQ(Hex(f.Root()), kRoots[n]) << "frontier, size " << n;
    EXPECT_EQ(Hex(ref.Mth(0, n)), kRoots[n]) << "reference, size " << n;
    auto r = RootFromSource(n, src);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(Hex(*r), kRoots[n]) << "plan, size " << n;
  }
}

TEST(MerkleTest, FrontierReportsCompletedNodes) {
  std::vector<Bytes> leaves = VectorLeaves();
  Reference ref(leaves);
  MerkleFrontier f;
  std::vector<NodePos> seen;
  for (const Bytes& l : leaves) {
    f.Append(HashLeaf(l), [&](const NodePos& p, const Hash& h) {
      seen.push_back(p);
      EXPECT_EQ(Hex(h), Hex(ref.Mth(p.begin(), p.end())));
    });
  }
  // Level-1 nodes after leaves 1, 3, 5, 7; level 2 after 3 and 7; level 3 after 7.
  std::vector<NodePos> want = {{1, 0}, {1, 1}, {2, 0}, {1, 2}, {1, 3}, {2, 1}, {3, 0}};
  EXPECT_EQ(seen, want);
}

TEST(MerkleTest, KnownInclusionProofs) {
  std::vector<Bytes> leaves = VectorLeaves();
  Reference ref(leaves);
  ReferenceSource src(ref);
  for (const auto& v : kInclusion) {
    auto plan = InclusionPlan(v.index, v.size);
    ASSERT_TRUE(plan.ok());
    auto got = ResolvePlan(*plan, src);
    ASSERT_TRUE(got.ok());
    std::vector<Hash> want = Hashes(v.proof);
    EXPECT_EQ(*got, want) << "index " << v.index << " size " << v.size;
    Hash leaf = HashLeaf(leaves[v.index]);
    EXPECT_OK(VerifyInclusion(v.index, v.size, leaf, want, H(kRoots[v.size])));
  }
}

TEST(MerkleTest, KnownConsistencyProofs) {
  std::vector<Bytes> leaves = VectorLeaves();
  Reference ref(leaves);
  ReferenceSource src(ref);
  for (const auto& v : kConsistency) {
    auto plan = ConsistencyPlan(v.old_size, v.new_size);
    ASSERT_TRUE(plan.ok());
    auto got = ResolvePlan(*plan, src);
    ASSERT_TRUE(got.ok());
    std::vector<Hash> want = Hashes(v.proof);
    EXPECT_EQ(*got, want) << v.old_size << " -> " << v.new_size;
    EXPECT_OK(VerifyConsistency(v.old_size, v.new_size, want, H(kRoots[v.old_size]), H(kRoots[v.new_size])));
  }
}

TEST(MerkleTest, VerifiersRejectCorruptedProofs) {
  std::vector<Bytes> leaves = VectorLeaves();
  for (const auto& v : kInclusion) {
    std::vector<Hash> p = Hashes(v.proof);
    Hash leaf = HashLeaf(leaves[v.index]);
    Hash root = H(kRoots[v.size]);
    if (v.index > 0) {
      EXPECT_FALSE(VerifyInclusion(v.index - 1, v.size, leaf, p, root).ok());
    }
    EXPECT_FALSE(VerifyInclusion(v.index + 1, v.size, leaf, p, root).ok());
    EXPECT_FALSE(VerifyInclusion(v.index, v.size * 2, leaf, p, root).ok());
    EXPECT_FALSE(VerifyInclusion(v.index, v.size, HashLeaf(AsBytes("WrongLeaf")), p, root).ok());
    EXPECT_FALSE(VerifyInclusion(v.index, v.size, leaf, p, EmptyRoot()).ok());
    auto longer = p;
    longer.push_back(root);
    EXPECT_FALSE(VerifyInclusion(v.index, v.size, leaf, longer, root).ok());
    for (size_t i = 0; i < p.size(); ++i) {
      auto flipped = p;
      flipped[i][0] ^= 8;
      EXPECT_FALSE(VerifyInclusion(v.index, v.size, leaf, flipped, root).ok());
    }
    if (!p.empty()) {
      auto shorter = p;
      shorter.pop_back();
      EXPECT_FALSE(VerifyInclusion(v.index, v.size, leaf, shorter, root).ok());
    }
  }
  for (const auto& v : kConsistency) {
    std::vector<Hash> p = Hashes(v.proof);
    if (p.empty()) continue;
    Hash r1 = H(kRoots[v.old_size]), r2 = H(kRoots[v.new_size]);
    EXPECT_FALSE(VerifyConsistency(v.old_size, v.new_size, p, r2, r1).ok());
    EXPECT_FALSE(VerifyConsistency(v.old_size + 1, v.new_size, p, r1, r2).ok());
    EXPECT_FALSE(VerifyConsistency(v.old_size, v.new_size * 2, p, r1, r2).ok());
    EXPECT_FALSE(VerifyConsistency(v.old_size, v.new_size, {}, r1, r2).ok());
    for (size_t i = 0; i < p.size(); ++i) {
      auto flipped = p;
      flipped[i][0] ^= 16;
      EXPECT_FALSE(VerifyConsistency(v.old_size, v.new_size, flipped, r1, r2).ok());
    }
    auto shorter = p;
    shorter.pop_back();
    EXPECT_FALSE(VerifyConsistency(v.old_size, v.new_size, shorter, r1, r2).ok());
  }
  // Trivial cases of RFC 9162 2.1.4.
  Hash a = H(kRoots[1]), b = H(kRoots[2]);
  EXPECT_OK(VerifyConsistency(0, 5, {}, EmptyRoot(), b));
  EXPECT_OK(VerifyConsistency(3, 3, {}, a, a));
  EXPECT_FALSE(VerifyConsistency(3, 3, {}, a, b).ok());
  EXPECT_FALSE(VerifyConsistency(2, 1, {}, a, b).ok());
  EXPECT_FALSE(VerifyInclusion(0, 0, a, {}, a).ok());
}

TEST(MerkleTest, PlansMatchReferenceAtEverySize) {
  std::vector<Bytes> leaves;
  for (int i = 0; i < 130; ++i) leaves.push_back(ToBytes("leaf " + std::to_string(i)));
  Reference ref(leaves);
  ReferenceSource src(ref);
  for (uint64_t n = 1; n <= leaves.size(); ++n) {
    Hash root = ref.Mth(0, n);
    for (uint64_t m = 0; m < n; ++m) {
      auto got = ResolvePlan(*InclusionPlan(m, n), src);
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(*got, ref.Path(m, 0, n)) << m << "/" << n;
      ASSERT_OK(VerifyInclusion(m, n, HashLeaf(leaves[m]), *got, root));
    }
    for (uint64_t m = 0; m <= n; ++m) {
      auto got = ResolvePlan(*ConsistencyPlan(m, n), src);
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(*got, ref.Consistency(m, n)) << m << " -> " << n;
      ASSERT_OK(VerifyConsistency(m, n, *got, ref.Mth(0, m), root));
    }
  }
  EXPECT_FALSE(InclusionPlan(5, 5).ok());
  EXPECT_FALSE(ConsistencyPlan(6, 5).ok());
}

TEST(MerkleTest, PerfectNodesDecompose) {
  EXPECT_EQ(PerfectNodes({0, 13}), (std::vector<NodePos>{{3, 0}, {2, 2}, {0, 12}}));
  EXPECT_EQ(PerfectNodes({8, 11}), (std::vector<NodePos>{{1, 4}, {0, 10}}));
  EXPECT_EQ(PerfectNodes({0, 1}), (std::vector<NodePos>{{0, 0}}));
}

}  // namespace
}  // namespace mlahub::storage
