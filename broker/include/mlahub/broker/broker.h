// The hub: mlahub-broker as a class, so the daemon (broker/src/main.cc), the
// benchmarks and tests can run it in-process.
//
// A Broker verifies, records and routes sealed envelopes between the agents
// (DESIGN.md "Trust", "Envelopes", "Delivery"; wire protocol in
// docs/PROTOCOL.md section 13; design notes in broker/README.md):
//  - a ZeroMQ ROUTER with CURVE, admitting only active directory keys (ZAP);
//  - every Submit checked (size, structure, sender = authenticated node,
//    directory, kind, expiry, duplicate id, origin signature on a pool of
//    worker threads) and answered only once its ledger entry and queue record
//    are fsync'd; refusals named, answered after their Rejected entry is
//    durable;
//  - per-recipient queues in ledger state, delivered in order, at most
//    max_inflight_per_agent outstanding, redelivered with backoff until the
//    signed receipt, memory bounded by paging from the ledger state;
//  - the signed directory re-read when its file changes, each newer version
//    recorded in the ledger and pushed to the agents;
//  - Stop(): no new Submits, in-flight work answered, ledger closed with a
//    final checkpoint.
//
// Thread-safety: Create, Start, Stop and Wait from one controlling thread;
// RequestStop from any thread (and from a signal handler's flag poller);
// the getters from any thread. One internal thread owns the socket.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mlahub/config/config.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/status.h"

namespace mlahub::ops {
class Registry;
}

namespace mlahub::broker {

struct BrokerOptions {
  // Clock override (tests); null: the config's clock_rate (SystemClock at 1).
  const Clock* clock = nullptr;
  // Metrics registry to use; null: the broker owns one.
  ops::Registry* registry = nullptr;
  // Passphrase of the hub's key; empty: read the env var named by the
  // config's passphrase_env (if any).
  std::string passphrase;
};

struct BrokerInfo {
  std::string node_id;
  std::string endpoint;  // e.g. "tcp://127.0.0.1:7700" (the port actually bound)
  std::string metrics;   // "127.0.0.1:port", empty without metrics
  uint64_t directory_version = 0;
  uint64_t ledger_size = 0;
};

class Broker {
 public:
  // Loads the hub's keys, the signed directory (verified with the root key),
  // opens (creating) the ledger in <data>/ledger, restores the queues, starts
  // the ZAP handler, binds the ROUTER and the metrics endpoint. Nothing is
  // served until Start(). Errors name what to fix: kInvalidArgument (config,
  // directory contents), kBadPassphrase, kBadSignature (directory),
  // kNotFound, kIoError (bind), kCorruption (ledger).
  static Result<std::unique_ptr<Broker>> Create(const config::BrokerConfig& config,
                                                BrokerOptions options = {});
  ~Broker();  // Stop()
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Starts the socket thread.
  Status Start();
  // Asks the socket thread to drain and stop; returns at once.
  void RequestStop();
  // Waits for the socket thread to finish draining, closes the ledger and
  // the sockets. Returns the first fatal error, if the broker stopped on one
  // (e.g. a failed ledger write), else OK. Idempotent.
  Status Wait();
  Status Stop() {
    RequestStop();
    return Wait();
  }
  // True once the socket thread has stopped (after RequestStop or a fatal
  // error).
  bool stopped() const;

  BrokerInfo info() const;
  ops::Registry& registry();

  struct Impl;

 private:
  explicit Broker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlahub::broker
