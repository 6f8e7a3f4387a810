// The ledger's on-disk layout in RocksDB (docs/LEDGER.md, "Key layout").
// Private to storage/ (and its tests, which use it to tamper with a ledger).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mlahub::storage::layout {

// RocksDB lives in <ledger dir>/db.
inline constexpr std::string_view kDbSubdir = "db";

// Column families.
inline constexpr std::string_view kCfDefault = "default";        // meta and head
inline constexpr std::string_view kCfEntries = "entries";        // BE64(i) -> leaf hash || entry
inline constexpr std::string_view kCfNodes = "nodes";            // BE64(i) -> node hashes completed by leaf i
inline constexpr std::string_view kCfCheckpoints = "checkpoints";// BE64(size) -> signed note
inline constexpr std::string_view kCfIndex = "index";            // BE16(len) key BE64(i) -> ""
inline constexpr std::string_view kCfState = "state";            // the owner's records (StateWrite)

// Keys in the default column family.
inline constexpr std::string_view kMetaFormat = "meta/format";      // "1"
inline constexpr std::string_view kMetaOrigin = "meta/origin";
inline constexpr std::string_view kMetaKeyName = "meta/key_name";
inline constexpr std::string_view kMetaPublicKey = "meta/public_key";  // 32 bytes
inline constexpr std::string_view kHead = "head";  // BE64(size) || root(32) || BE64(checkpoint size)
inline constexpr std::string_view kFormatVersion = "1";
inline constexpr size_t kHeadSize = 8 + 32 + 8;

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

}  // namespace mlahub::storage::layout
