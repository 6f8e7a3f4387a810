#include "mlahub/transport/curve.h"

#include <zmq.h>

#include <array>
#include <cstring>

namespace mlahub::transport {
namespace {

// libzmq's zmq_z85_decode accepts any length multiple of 5 and stops at the
// NUL: check the exact length and alphabet first.
bool IsZ85Key(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  if (text.size() != kZ85KeySize) return false;
  for (char c : text) {
    if (kAlphabet.find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

std::string Z85EncodePublicKey(const crypto::X25519PublicKey& key) {
  std::array<char, kZ85KeySize + 1> out{};
  zmq_z85_encode(out.data(), key.data(), key.size());
  return std::string(out.data(), kZ85KeySize);
}

Result<crypto::X25519PublicKey> Z85DecodePublicKey(std::string_view text) {
  if (!IsZ85Key(text)) {
    return Status::InvalidArgument("a CURVE public key in Z85 is exactly 40 characters of the Z85 alphabet");
  }
  std::array<char, kZ85KeySize + 1> in{};
  std::memcpy(in.data(), text.data(), kZ85KeySize);
  crypto::X25519PublicKey key{};
  if (zmq_z85_decode(key.data(), in.data()) == nullptr) {
    return Status::InvalidArgument("not a Z85 CURVE public key");
  }
  return key;
}

Z85Secret Z85EncodeSecretKey(const crypto::Secret<crypto::kX25519KeySize>& key) {
  Z85Secret out;  // zero-filled: the last byte stays NUL
  zmq_z85_encode(reinterpret_cast<char*>(out.data()), key.data(), key.size());
  return out;
}

Result<crypto::Secret<crypto::kX25519KeySize>> Z85DecodeSecretKey(std::string_view text) {
  if (!IsZ85Key(text)) {
    return Status::InvalidArgument("a CURVE secret key in Z85 is exactly 40 characters of the Z85 alphabet");
  }
  Z85Secret in;
  std::memcpy(in.data(), text.data(), kZ85KeySize);
  crypto::Secret<crypto::kX25519KeySize> key;
  if (zmq_z85_decode(key.data(), reinterpret_cast<const char*>(in.data())) == nullptr) {
    return Status::InvalidArgument("not a Z85 CURVE secret key");
  }
  return key;
}

}  // namespace mlahub::transport
