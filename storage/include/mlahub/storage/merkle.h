// RFC 9162 section 2.1 Merkle trees: hashing, proof plans and proof checks.
//
// Leaf hash SHA-256(0x00 || entry), interior SHA-256(0x01 || left || right),
// the empty tree's root SHA-256(""). A perfect subtree of 2^level leaves
// starting at leaf index * 2^level is named by NodePos{level, index}; every
// RFC 9162 root, audit path and consistency proof is a fold of O(log n) such
// nodes, so a store that can read any NodePos answers each in O(log n) reads.
//
// Proofs are made in two steps: a *plan* lists the leaf ranges whose subtree
// hashes make up the proof (InclusionPlan, ConsistencyPlan), and
// ResolvePlan reads the perfect nodes of those ranges from a NodeSource in one
// batch and folds them. The Verify* functions are the RFC 9162 2.1.3.2 and
// 2.1.4.2 verification algorithms, usable by any client.
//
// Thread-safety: free functions are pure; MerkleFrontier is a value type
// owned by one thread at a time.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/hash.h"

namespace mlahub::storage {

inline constexpr size_t kHashSize = crypto::kSha256Size;
using Hash = crypto::Digest32;

Hash HashLeaf(ByteView entry);
Hash HashChildren(const Hash& left, const Hash& right);
Hash EmptyRoot();

// A perfect subtree: leaves [index << level, (index + 1) << level).
struct NodePos {
  uint8_t level = 0;
  uint64_t index = 0;
  uint64_t begin() const { return index << level; }
  uint64_t end() const { return (index + 1) << level; }
  bool operator==(const NodePos&) const = default;
};

// A range of leaves [begin, end) whose RFC 9162 subtree hash MTH(D[begin:end])
// is one element of a proof. Ranges in plans are always aligned so that they
// are subtrees of the RFC 9162 recursion.
struct LeafRange {
  uint64_t begin = 0;
  uint64_t end = 0;
};

// The perfect subtrees that make up `range`, left to right (binary
// decomposition of its length). MTH(range) is the right fold
// H(p0, H(p1, ... H(pk-1, pk))). Aborts on an empty or misaligned range.
std::vector<NodePos> PerfectNodes(LeafRange range);

// RFC 9162 2.1.3.1 PATH(index, D[size]): the ranges of the audit path, from
// the leaf's sibling up. kInvalidArgument unless index < size.
Result<std::vector<LeafRange>> InclusionPlan(uint64_t index, uint64_t size);
// RFC 9162 2.1.4.1 PROOF(old_size, D[new_size]); empty when old_size is 0 or
// equals new_size. kInvalidArgument if old_size > new_size.
Result<std::vector<LeafRange>> ConsistencyPlan(uint64_t old_size, uint64_t new_size);

// Reads perfect-subtree hashes. Implementations may batch the reads.
class NodeSource {
 public:
  virtual ~NodeSource() = default;
  // Fills out[i] with the hash of nodes[i]. kCorruption if a stored node is
  // missing or malformed, kIoError if the store cannot be read.
  virtual Status ReadNodes(std::span<const NodePos> nodes, std::span<Hash> out) const = 0;
};

// MTH of each range, reading every needed node in one ReadNodes call.
Result<std::vector<Hash>> ResolvePlan(std::span<const LeafRange> plan, const NodeSource& source);
// MTH(D[0:size]); EmptyRoot() for size 0.
Result<Hash> RootFromSource(uint64_t size, const NodeSource& source);

// RFC 9162 2.1.3.2. kBadSignature-free: failures are kCorruption with what
// did not match (a proof that does not verify is evidence of tampering).
Result<Hash> RootFromInclusionProof(uint64_t index, uint64_t size, const Hash& leaf_hash,
                                    std::span<const Hash> proof);
[[nodiscard]] Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                                     std::span<const Hash> proof, const Hash& root);
// RFC 9162 2.1.4.2, with the conventions of RFC 9162 2.1.4: sizes 0 -> n and
// n -> n are consistent with an empty proof (n -> n only if the roots match).
[[nodiscard]] Status VerifyConsistency(uint64_t old_size, uint64_t new_size,
                                       std::span<const Hash> proof, const Hash& old_root,
                                       const Hash& new_root);

// The right edge of a growing tree: one hash per set bit of size (largest
// subtree first). Appending a leaf completes the perfect subtrees that end at
// it; Root() folds the edge. O(log n) memory; what verify streams with.
class MerkleFrontier {
 public:
  MerkleFrontier() = default;
  // From the perfect nodes of [0, size) (PerfectNodes({0, size})), in order.
  static Result<MerkleFrontier> FromNodes(uint64_t size, std::span<const Hash> nodes);

  // Appends a leaf hash; calls on_node(NodePos, const Hash&) for every
  // perfect subtree of level >= 1 that this leaf completes, lowest first.
  template <typename F>
  void Append(const Hash& leaf, F&& on_node) {
    Hash h = leaf;
    uint64_t s = size_;
    uint8_t level = 0;
    while ((s >> level) & 1u) {
      h = HashChildren(edge_.back(), h);
      edge_.pop_back();
      ++level;
      on_node(NodePos{level, ((size_ + 1) >> level) - 1}, static_cast<const Hash&>(h));
    }
    edge_.push_back(h);
    ++size_;
  }
  void Append(const Hash& leaf) {
    Append(leaf, [](const NodePos&, const Hash&) {});
  }

  uint64_t size() const { return size_; }
  Hash Root() const;
  const std::vector<Hash>& edge() const { return edge_; }

 private:
  uint64_t size_ = 0;
  std::vector<Hash> edge_;
};

}  // namespace mlahub::storage
