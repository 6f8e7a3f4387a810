// Helpers shared by the transport tests: status assertions, keys, and a
// directory stand-in whose lookup can be changed while the ZAP handler runs.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "mlahub/core/status.h"
#include "mlahub/crypto/x25519.h"
#include "mlahub/transport/authenticator.h"

#define ASSERT_OK(expr)                                   \
  do {                                                    \
    ::mlahub::Status _s = (expr);                         \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                   \
  do {                                                    \
    ::mlahub::Status _s = (expr);                         \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

namespace mlahub::transport::testing {

using namespace std::chrono_literals;

// Key -> node id, swappable at run time like the broker's directory.
class FakeDirectory {
 public:
  void Admit(const crypto::X25519PublicKey& key, std::string node) {
    std::lock_guard<std::mutex> l(mu_);
    nodes_[key] = std::move(node);
  }
  void Revoke(const crypto::X25519PublicKey& key) {
    std::lock_guard<std::mutex> l(mu_);
    nodes_.erase(key);
  }
  std::optional<std::string> Lookup(const crypto::X25519PublicKey& key) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = nodes_.find(key);
    if (it == nodes_.end()) return std::nullopt;
    return it->second;
  }
  Authenticator::Lookup AsLookup() {
    return [this](const crypto::X25519PublicKey& k) { return Lookup(k); };
  }

 private:
  mutable std::mutex mu_;
  std::map<crypto::X25519PublicKey, std::string> nodes_;
};

// Repeats `step` until `done` or the deadline; returns done().
inline bool Eventually(const std::function<bool()>& done, const std::function<void()>& step,
                       std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    step();
  }
  return true;
}

}  // namespace mlahub::transport::testing
