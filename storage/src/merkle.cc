#include "mlahub/storage/merkle.h"

#include <bit>
#include <map>
#include <string>

namespace mlahub::storage {
namespace {

// Largest power of two strictly smaller than n (n >= 2).
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

std::string Hex8(const Hash& h) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 4; ++i) {
    s += kDigits[h[i] >> 4];
    s += kDigits[h[i] & 15];
  }
  return s;
}

void InclusionRec(uint64_t m, uint64_t begin, uint64_t end, std::vector<LeafRange>& out) {
  uint64_t n = end - begin;
  if (n == 1) return;
  uint64_t k = SplitPoint(n);
  if (m < k) {
    InclusionRec(m, begin, begin + k, out);
    out.push_back({begin + k, end});
  } else {
    InclusionRec(m - k, begin + k, end, out);
    out.push_back({begin, begin + k});
  }
}

void SubProofRec(uint64_t m, uint64_t begin, uint64_t end, bool whole, std::vector<LeafRange>& out) {
  uint64_t n = end - begin;
  if (m == n) {
    if (!whole) out.push_back({begin, end});
    return;
  }
  uint64_t k = SplitPoint(n);
  if (m <= k) {
    SubProofRec(m, begin, begin + k, whole, out);
    out.push_back({begin + k, end});
  } else {
    SubProofRec(m - k, begin + k, end, false, out);
    out.push_back({begin, begin + k});
  }
}

}  // namespace

Hash HashLeaf(ByteView entry) {
  crypto::Sha256Stream s;
  s.Update(uint8_t{0x00});
  s.Update(entry);
  return s.Final();
}

Hash HashChildren(const Hash& left, const Hash& right) {
  uint8_t buf[1 + 2 * kHashSize];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 1 + kHashSize);
  return crypto::Sha256(ByteView(buf, sizeof buf));
}

Hash EmptyRoot() { return crypto::Sha256(ByteView()); }

std::vector<NodePos> PerfectNodes(LeafRange range) {
  MLAHUB_CHECK(range.begin < range.end);
  std::vector<NodePos> out;
  uint64_t a = range.begin;
  while (a < range.end) {
    int fit = std::bit_width(range.end - a) - 1;                      // 2^fit <= remaining
    int align = a == 0 ? 63 : std::countr_zero(a);                   // a % 2^align == 0
    int level = std::min(fit, align);
    out.push_back(NodePos{static_cast<uint8_t>(level), a >> level});
    a += uint64_t{1} << level;
  }
  // RFC 9162 subtrees decompose into strictly decreasing perfect subtrees.
  for (size_t i = 1; i < out.size(); ++i) MLAHUB_CHECK(out[i].level < out[i - 1].level);
  return out;
}

Result<std::vector<LeafRange>> InclusionPlan(uint64_t index, uint64_t size) {
  if (index >= size)
    return Status::InvalidArgument("index " + std::to_string(index) + " is not below tree size " +
                                   std::to_string(size));
  std::vector<LeafRange> out;
  InclusionRec(index, 0, size, out);
  return out;
}

Result<std::vector<LeafRange>> ConsistencyPlan(uint64_t old_size, uint64_t new_size) {
  if (old_size > new_size)
    return Status::InvalidArgument("old size " + std::to_string(old_size) + " is larger than new size " +
                                   std::to_string(new_size));
  std::vector<LeafRange> out;
  if (old_size == 0 || old_size == new_size) return out;
  SubProofRec(old_size, 0, new_size, true, out);
  return out;
}

Result<std::vector<Hash>> ResolvePlan(std::span<const LeafRange> plan, const NodeSource& source) {
  std::vector<std::vector<NodePos>> pieces;
  std::vector<NodePos> all;
  pieces.reserve(plan.size());
  for (const LeafRange& r : plan) {
    pieces.push_back(PerfectNodes(r));
    all.insert(all.end(), pieces.back().begin(), pieces.back().end());
  }
  std::vector<Hash> hashes(all.size());
  MLAHUB_RETURN_IF_ERROR(source.ReadNodes(all, hashes));
  std::vector<Hash> out;
  out.reserve(plan.size());
  size_t at = 0;
  for (const auto& p : pieces) {
    size_t last = at + p.size() - 1;
    Hash h = hashes[last];
    for (size_t i = last; i > at; --i) h = HashChildren(hashes[i - 1], h);
    out.push_back(h);
    at += p.size();
  }
  return out;
}

Result<Hash> RootFromSource(uint64_t size, const NodeSource& source) {
  if (size == 0) return EmptyRoot();
  LeafRange r{0, size};
  MLAHUB_ASSIGN_OR_RETURN(std::vector<Hash> h, ResolvePlan(std::span<const LeafRange>(&r, 1), source));
  return h[0];
}

Result<Hash> RootFromInclusionProof(uint64_t index, uint64_t size, const Hash& leaf_hash,
                                    std::span<const Hash> proof) {
  if (index >= size)
    return Status::Corruption("inclusion proof: index " + std::to_string(index) +
                              " is not below tree size " + std::to_string(size));
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return Status::Corruption("inclusion proof is too long");
    if ((fn & 1u) != 0 || fn == sn) {
      r = HashChildren(p, r);
      if ((fn & 1u) == 0) {
        while ((fn & 1u) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Status::Corruption("inclusion proof is too short");
  return r;
}

Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                       std::span<const Hash> proof, const Hash& root) {
  MLAHUB_ASSIGN_OR_RETURN(Hash got, RootFromInclusionProof(index, size, leaf_hash, proof));
  if (got != root)
    return Status::Corruption("inclusion proof leads to root " + Hex8(got) + "..., expected " +
                              Hex8(root) + "...");
  return Status::Ok();
}

Status VerifyConsistency(uint64_t old_size, uint64_t new_size, std::span<const Hash> proof,
                         const Hash& old_root, const Hash& new_root) {
  if (old_size > new_size) return Status::Corruption("consistency proof: old size is larger than new size");
  if (old_size == new_size) {
    if (!proof.empty()) return Status::Corruption("consistency proof between equal sizes must be empty");
    if (old_root != new_root) return Status::Corruption("equal sizes but different roots");
    return Status::Ok();
  }
  if (old_size == 0) {
    if (!proof.empty()) return Status::Corruption("consistency proof from the empty tree must be empty");
    return Status::Ok();
  }
  if (proof.empty()) return Status::Corruption("consistency proof is empty");
  std::vector<Hash> path;
  if (std::has_single_bit(old_size)) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1u) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return Status::Corruption("consistency proof is too long");
    if ((fn & 1u) != 0 || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      if ((fn & 1u) == 0) {
        while ((fn & 1u) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Status::Corruption("consistency proof is too short");
  if (fr != old_root) return Status::Corruption("consistency proof does not lead to the old root");
  if (sr != new_root) return Status::Corruption("consistency proof does not lead to the new root");
  return Status::Ok();
}

Result<MerkleFrontier> MerkleFrontier::FromNodes(uint64_t size, std::span<const Hash> nodes) {
  if (static_cast<size_t>(std::popcount(size)) != nodes.size())
    return Status::Corruption("frontier of size " + std::to_string(size) + " needs " +
                              std::to_string(std::popcount(size)) + " nodes, got " +
                              std::to_string(nodes.size()));
  MerkleFrontier f;
  f.size_ = size;
  f.edge_.assign(nodes.begin(), nodes.end());
  return f;
}

Hash MerkleFrontier::Root() const {
  if (edge_.empty()) return EmptyRoot();
  Hash r = edge_.back();
  for (size_t i = edge_.size() - 1; i > 0; --i) r = HashChildren(edge_[i - 1], r);
  return r;
}

}  // namespace mlahub::storage
