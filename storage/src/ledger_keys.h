// The ledger's on-disk layout in RocksDB (docs/LEDGER.md, "Storage and key
// layout"). Private to storage/ (and its tests, which use it to tamper with a
// ledger).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

namespace mlahub::storage::layout {

// RocksDB lives in <ledger dir>/db.
inline constexpr std::string_view kDbSubdir = "db";

// Column families.
inline constexpr std::string_view kCfDefault = "default";        // meta and head
inline constexpr std::string_view kCfEntries = "entries";        // BE64(i) -> entry record (below)
inline constexpr std::string_view kCfNodes = "nodes";            // BE64(32b+31) -> node hashes of block b and above
inline constexpr std::string_view kCfCheckpoints = "checkpoints";// BE64(size) -> signed note
inline constexpr std::string_view kCfIndex = "index";            // BE16(len) key BE64(i) -> "" (derived, no WAL)
inline constexpr std::string_view kCfState = "state";            // the owner's records (StateWrite)

// Keys in the default column family.
inline constexpr std::string_view kMetaFormat = "meta/format";      // kFormatVersion
inline constexpr std::string_view kMetaOrigin = "meta/origin";
inline constexpr std::string_view kMetaKeyName = "meta/key_name";
inline constexpr std::string_view kMetaPublicKey = "meta/public_key";  // 32 bytes
inline constexpr std::string_view kHead = "head";  // BE64(size) || root(32) || BE64(checkpoint size)
inline constexpr std::string_view kFormatVersion = "2";
inline constexpr size_t kHeadSize = 8 + 32 + 8;

// In the index family: BE64(n), the index holds the keys of entries [0, n).
// Two zero bytes: no index key is that short (real keys have len >= 1 and
// end in BE64(i)).
inline constexpr std::string_view kIndexWatermark{"\0\0", 2};

inline constexpr size_t kHashBytes = 32;

// Node hashes are stored per block of 32 leaves: the record of the block's
// last leaf (i = 32b + 31) in `nodes` holds the 30 hashes of levels 1..4
// inside the block, then those of levels 5..t that leaf i completes (t =
// trailing ones of i).
inline constexpr int kBlockLevels = 4;
inline constexpr uint64_t kBlockLeaves = 32;
inline constexpr size_t kBlockNodes = 30;  // 16 + 8 + 4 + 2

// Perfect subtrees completed by leaf i: levels 1..t, t = trailing ones of i.
inline int CompletedLevels(uint64_t i) { return std::countr_one(i); }
inline bool HasNodesRecord(uint64_t i) { return i % kBlockLeaves == kBlockLeaves - 1; }
// Hashes in the `nodes` record of leaf i (HasNodesRecord(i)).
inline size_t NodesRecordHashes(uint64_t i) {
  return kBlockNodes + static_cast<size_t>(CompletedLevels(i) - kBlockLevels);
}
// Slot of the node (level, index) in its nodes record: levels 1..4 by level,
// then position in the block; levels >= 5 after the 30.
inline size_t NodeSlot(int level, uint64_t index) {
  if (level > kBlockLevels) return kBlockNodes + static_cast<size_t>(level - kBlockLevels - 1);
  static constexpr size_t kLevelStart[5] = {0, 0, 16, 24, 28};
  const uint64_t per_block = kBlockLeaves >> level;
  return kLevelStart[level] + static_cast<size_t>(index % per_block);
}
// The leaf whose nodes record holds node (level, index).
inline uint64_t NodeRecord(int level, uint64_t index) {
  const uint64_t end = (index + 1) << level;  // one past the node's last leaf
  if (level > kBlockLevels) return end - 1;
  return (end - 1) | (kBlockLeaves - 1);
}

// Entry record of entry i (format 2):
//   leaf hash (32) || BE16(len) || index key (len bytes, may be empty) || entry bytes
struct EntryRecordView {
  std::string_view leaf;   // 32 bytes
  std::string_view key;
  std::string_view entry;
};

inline constexpr size_t kRecordHeader = kHashBytes + 2;
inline size_t RecordHeaderSize(uint64_t) { return kRecordHeader; }

// False if `v` is not a well-formed entry record.
inline bool ParseEntryRecord(uint64_t, std::string_view v, EntryRecordView* out) {
  if (v.size() < kRecordHeader) return false;
  const size_t len = static_cast<size_t>(static_cast<uint8_t>(v[kHashBytes])) << 8 |
                     static_cast<uint8_t>(v[kHashBytes + 1]);
  if (v.size() - kRecordHeader < len) return false;
  out->leaf = v.substr(0, kHashBytes);
  out->key = v.substr(kRecordHeader, len);
  out->entry = v.substr(kRecordHeader + len);
  return true;
}

inline std::string Be64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}

inline uint64_t ReadBe64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

inline std::string IndexPrefix(std::string_view key) {
  std::string s;
  s.push_back(static_cast<char>((key.size() >> 8) & 0xff));
  s.push_back(static_cast<char>(key.size() & 0xff));
  s.append(key);
  return s;
}

inline std::string IndexKey(std::string_view key, uint64_t index) { return IndexPrefix(key) + Be64(index); }

// Splits an index key BE16(len) || key || BE64(i); false if malformed.
inline bool ParseIndexKey(std::string_view k, std::string_view* key, uint64_t* index) {
  if (k.size() < 2 + 1 + 8) return false;
  const size_t len = static_cast<size_t>(static_cast<uint8_t>(k[0])) << 8 | static_cast<uint8_t>(k[1]);
  if (len == 0 || k.size() != 2 + len + 8) return false;
  *key = k.substr(2, len);
  *index = ReadBe64(k.data() + 2 + len);
  return true;
}

}  // namespace mlahub::storage::layout
