// The ZAP handler (ZeroMQ RFC 27) that decides which CURVE clients the
// broker's server sockets admit.
//
// It binds inproc://zeromq.zap.01 in its Context and answers every handshake
// on its own thread:
//  - mechanism CURVE, domain equal to the configured one, and `lookup` returns
//    a node id for the client's long-term public key: 200, with the node id as
//    ZAP User-Id (a Server reads it back from each message as "User-Id");
//  - anything else (NULL or PLAIN mechanism, another domain, a key `lookup`
//    does not know, a malformed request): 400, counted as a denial.
// `lookup` is consulted on every handshake, so a directory swapped at run time
// (a revocation, a rotation) applies from the next connection. It runs on the
// authenticator's thread and must be thread-safe and quick; if it throws, the
// client is denied (500).
//
// Fail-closed: libzmq admits every CURVE client of a server whose context has
// no ZAP handler. A Server therefore refuses to bind unless this authenticator
// is running in the same Context, and Stop() refuses while a Server still
// depends on it.
//
// Thread-safety: Start, Stop, running and stats may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "mlahub/core/bytes.h"  // before crypto/x25519.h, which uses ByteView
#include "mlahub/core/status.h"
#include "mlahub/crypto/x25519.h"
#include "mlahub/transport/context.h"

namespace mlahub::transport {

// The ZAP domain mlahub servers use (ZMQ_ZAP_DOMAIN).
inline constexpr char kDefaultZapDomain[] = "mlahub";

struct AuthStats {
  uint64_t admitted = 0;
  uint64_t denied = 0;              // all denials (the sum of the below)
  uint64_t denied_unknown_key = 0;  // CURVE key `lookup` did not know
  uint64_t denied_mechanism = 0;    // NULL, PLAIN or another mechanism
  uint64_t denied_domain = 0;       // ZAP domain other than ours
  uint64_t denied_malformed = 0;    // request not as RFC 27 says
  uint64_t denied_lookup_error = 0; // `lookup` threw
};

// One decision, for the owner's logs and metrics.
struct AuthDecision {
  bool admitted = false;
  std::string node_id;      // admitted: the node
  std::string mechanism;    // "CURVE", "NULL", "PLAIN", ...
  std::string address;      // the peer's IP address as libzmq reports it
  std::string curve_key;    // Z85 of the client's public key (CURVE only)
  std::string reason;       // denied: why, in words
};

class Authenticator {
 public:
  using Lookup = std::function<std::optional<std::string>(const crypto::X25519PublicKey&)>;
  using Observer = std::function<void(const AuthDecision&)>;

  struct Options {
    std::string domain = kDefaultZapDomain;
    // Called on the authenticator's thread after each decision (optional;
    // must be thread-safe and must not block).
    Observer observer;
  };

  Authenticator(std::shared_ptr<Context> context, Lookup lookup, Options options);
  Authenticator(std::shared_ptr<Context> context, Lookup lookup)
      : Authenticator(std::move(context), std::move(lookup), Options()) {}
  ~Authenticator();  // stops
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // Binds the ZAP endpoint and starts the thread. Idempotent while running.
  // kAlreadyExists if another ZAP handler is bound in this Context.
  Status Start();
  // Stops the thread and unbinds. Idempotent. kInvalidArgument (and keeps
  // running) while a Server made with this authenticator is still open.
  Status Stop();
  bool running() const;
  AuthStats stats() const;
  const std::string& domain() const { return options_.domain; }
  const std::shared_ptr<Context>& context() const { return context_; }

  // Used by Server: a guard that keeps Stop() from leaving its socket open to
  // everyone. Fails (kInvalidArgument) if the authenticator is not running.
  class Guard;
  Result<std::unique_ptr<Guard>> Attach();

  struct Impl;

 private:
  std::shared_ptr<Context> context_;
  Options options_;
  std::unique_ptr<Impl> impl_;
};

class Authenticator::Guard {
 public:
  explicit Guard(Authenticator::Impl* impl) : impl_(impl) {}
  ~Guard();
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  Authenticator::Impl* impl_;
};

}  // namespace mlahub::transport
