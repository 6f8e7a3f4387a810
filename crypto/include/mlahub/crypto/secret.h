// Secret<N>: fixed-size secret key material.
//
// Move-only; the bytes are wiped (sodium_memzero) when the object dies or is
// moved from, and compared only in constant time. Never log one.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace mlahub::crypto {

void Wipe(void* p, size_t n);
bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t n);

template <size_t N>
class Secret {
 public:
  static constexpr size_t kSize = N;
  Secret() { bytes_.fill(0); }
  ~Secret() { Wipe(bytes_.data(), N); }
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& o) noexcept : bytes_(o.bytes_) { Wipe(o.bytes_.data(), N); }
  Secret& operator=(Secret&& o) noexcept {
    if (this != &o) {
      bytes_ = o.bytes_;
      Wipe(o.bytes_.data(), N);
    }
    return *this;
  }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  static constexpr size_t size() { return N; }
  bool operator==(const Secret& o) const { return ConstantTimeEqual(data(), o.data(), N); }

 private:
  std::array<uint8_t, N> bytes_;
};

}  // namespace mlahub::crypto
