// A delaying TCP relay for the live engine's added network delay.
//
// The relay accepts on a loopback port and, for each accepted connection,
// connects to the target (the broker's port) and forwards bytes both ways,
// holding each chunk it reads for the configured one-way delay (plus an
// exponential jitter and, with a bandwidth, the chunk's transmission time)
// before writing it on. Order is kept: a chunk is never released before the
// one read before it, so jitter delays but never reorders. The bytes are not
// looked at: CURVE runs end to end over the relay, untouched.
//
// When either side closes, what is still held for the other side is
// delivered and then that side is shut down; a side that fails (reset,
// broken pipe) closes the pair. When the target refuses the connection (the
// broker is down), the accepted connection is closed at once; the client
// (libzmq) reconnects and the relay accepts again, so a relay outlives any
// number of broker restarts.
//
// One thread per relay runs a poll(2) loop; Start returns once the port is
// bound. Thread-safe: port(), endpoint() and stats() may be called from any
// thread; the destructor stops the thread and closes every socket.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "mlahub/core/status.h"

namespace mlahub::sim {

struct RelayOptions {
  uint16_t listen_port = 0;  // on 127.0.0.1; 0: the kernel picks one (see Relay::port)
  std::string target_host = "127.0.0.1";  // an IPv4 address
  uint16_t target_port = 0;
  // One-way, real time, in each direction.
  double delay_ms = 0;        // fixed part
  double jitter_mean_ms = 0;  // mean of an exponential draw per chunk
  double bytes_per_ms = 0;    // bandwidth per direction; 0 = unlimited
  uint64_t seed = 1;          // for the jitter draws
  // Bytes held per direction before the relay stops reading that side.
  size_t max_held_bytes = 8u << 20;
};

struct RelayStats {
  uint64_t accepted = 0;   // connections accepted
  uint64_t connected = 0;  // of which the target took
  uint64_t refused = 0;    // of which the target refused (closed at once)
  uint64_t closed = 0;     // pairs closed
  uint64_t bytes_up = 0;   // client -> target, written
  uint64_t bytes_down = 0; // target -> client, written
};

class Relay {
 public:
  // Binds the port and starts the thread. kUnavailable when the port cannot
  // be bound, kInvalidArgument for a bad option.
  static Result<std::unique_ptr<Relay>> Start(const RelayOptions& options);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  uint16_t port() const { return port_; }
  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  const RelayOptions& options() const { return options_; }
  RelayStats stats() const;

 private:
  struct Counters {
    std::atomic<uint64_t> accepted{0}, connected{0}, refused{0}, closed{0}, bytes_up{0}, bytes_down{0};
  };
  explicit Relay(const RelayOptions& options) : options_(options) {}
  void Loop();

  RelayOptions options_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  Counters counters_;
};

}  // namespace mlahub::sim
