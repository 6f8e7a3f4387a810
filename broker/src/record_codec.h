// The broker's own durable records (queue entries, message states, evidence
// transfers): a version byte, then big-endian integers, fixed-size arrays and
// strings with a 16-bit length. Reader checks every bound and reports a
// malformed record as kCorruption naming it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"

namespace mlahub::broker::record {

inline void PutU16Be(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
inline void PutStr(Bytes& out, std::string_view s) {
  // Callers pass ids and short texts; anything longer is cut (a record never
  // fails to encode).
  size_t n = std::min<size_t>(s.size(), 0xFFFF);
  PutU16Be(out, static_cast<uint16_t>(n));
  out.insert(out.end(), s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n));
}

// Bounds-checked reader; every failure is kCorruption naming the record.
class Reader {
 public:
  Reader(ByteView b, const char* what) : b_(b), what_(what) {}
  bool U8(uint8_t* v) {
    if (!Need(1)) return false;
    *v = b_[pos_++];
    return true;
  }
  bool U16(uint16_t* v) {
    if (!Need(2)) return false;
    *v = static_cast<uint16_t>((b_[pos_] << 8) | b_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool U64(uint64_t* v) {
    if (!Need(8)) return false;
    *v = GetU64Be(b_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool Fixed(uint8_t* out, size_t n) {
    if (!Need(n)) return false;
    std::copy_n(b_.data() + pos_, n, out);
    pos_ += n;
    return true;
  }
  bool Str(std::string* s) {
    uint16_t n;
    if (!U16(&n) || !Need(n)) return false;
    s->assign(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  ByteView Rest() const { return b_.subspan(pos_); }
  bool AtEnd() const { return pos_ == b_.size(); }
  Status Bad(std::string_view why) const {
    return Status::Corruption(std::string(what_) + " record: " + std::string(why));
  }

 private:
  bool Need(size_t n) const { return b_.size() - pos_ >= n; }
  ByteView b_;
  size_t pos_ = 0;
  const char* what_;
};

}  // namespace mlahub::broker::record
