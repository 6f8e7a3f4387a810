// An agent's endpoint: a ZeroMQ DEALER socket, CURVE client with the node's
// own transport key pair and the hub's public transport key (from the
// directory's hub entry), connected to the broker.
//
// libzmq reconnects by itself with exponential backoff (ZMQ_RECONNECT_IVL up
// to ZMQ_RECONNECT_IVL_MAX), each time with a fresh CURVE handshake that the
// broker's ZAP handler judges anew. While no connection is up (as the socket
// monitor last reported), Send returns kUnavailable instead of queueing, so
// the agent's own outbox stays the place where unacknowledged envelopes
// wait. A socket monitor reports each handshake; WaitForHandshake lets agents
// and tests wait for readiness (or an authentication refusal) without
// sleeping.
//
// ZMQ_IMMEDIATE is deliberately NOT set. With it, libzmq 4.3.4 terminates the
// socket's pipe at once when a connection drops (socket_base_t::hiccuped):
// every message already received but not yet read is discarded, and if the
// pipe goes while a multipart message is half read, libzmq aborts the process
// (fq.cpp:112, "!_more"). Without it a broken connection does not drop the
// pipe: what was received is still read, and the few messages sent between
// the drop and the monitor's report go out after the reconnection (the broker
// answers a repeat with its first answer).
//
// Thread-safety: none; one thread owns a Client (stats() excepted).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mlahub/core/bytes.h"  // before crypto/x25519.h, which uses ByteView
#include "mlahub/core/status.h"
#include "mlahub/crypto/x25519.h"
#include "mlahub/transport/context.h"
#include "mlahub/transport/frames.h"

namespace mlahub::transport {

struct ClientOptions {
  // The broker, e.g. "tcp://broker.example:7700".
  std::string endpoint;
  // The hub's CURVE transport public key.
  crypto::X25519PublicKey server_key{};
  // Leave empty: the protocol forbids choosing a routing id (the broker drops
  // such peers). Settable only to test that rule.
  std::string routing_id;
  int send_hwm = 1000;
  int receive_hwm = 10000;
  int64_t max_frame_size = kDefaultMaxFrameSize;
  size_t max_frames = kDefaultMaxFrames;
  // Reconnection backoff: first retry after ivl, doubling up to ivl_max.
  int reconnect_ivl_ms = 100;
  int reconnect_ivl_max_ms = 30000;
  // Handshake bound and dead-peer detection: as ServerOptions (no ZMTP
  // heartbeats, and why).
  int handshake_ivl_ms = 10000;
  int tcp_keepalive_idle_s = 10;
  int tcp_keepalive_intvl_s = 5;
  int tcp_keepalive_cnt = 4;
  int tcp_max_retransmit_ms = 30000;
};

enum class ConnectionState : uint8_t {
  kConnecting = 0,  // no handshake finished yet (or reconnecting)
  kReady = 1,       // the last handshake succeeded and the link is up
  kRefused = 2,     // the broker refused the key; no retry until Reconnect()
};

struct ClientStats {
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t send_unavailable = 0;
  uint64_t dropped_too_many_frames = 0;
  uint64_t handshakes_succeeded = 0;
  uint64_t handshakes_failed_auth = 0;      // the broker's ZAP said no
  uint64_t handshakes_failed_protocol = 0;  // e.g. wrong server key, bad peer
  uint64_t disconnects = 0;
  int last_auth_status = 0;                 // ZAP status code of the last refusal (e.g. 400)
};

class Client {
 public:
  // Creates the socket and starts connecting (asynchronously).
  // kInvalidArgument for an endpoint libzmq does not accept.
  static Result<std::unique_ptr<Client>> Connect(std::shared_ptr<Context> context,
                                                 const crypto::X25519KeyPair& curve_keys,
                                                 ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Waits until the next handshake outcome (or returns at once if the link
  // is up or was refused): kOk when a CURVE handshake succeeded;
  // kPermissionDenied when the broker refused the key (ZAP status in the
  // message); kUnavailable when nothing was decided within `timeout` (broker
  // down, wrong server key: the broker drops such a handshake unanswered).
  Status WaitForHandshake(std::chrono::milliseconds timeout);

  // After a refusal libzmq does not retry (it treats it as a protocol error
  // and drops the endpoint): once the cause may be gone (a newer directory,
  // an operator's fix), call Reconnect, with the agent's own backoff, to try
  // again. Also usable to force a fresh connection at any time.
  Status Reconnect();

  // Non-blocking: kUnavailable when no connection is up (as last reported by
  // the socket monitor) or the queue is full.
  Status Send(const Frames& frames);
  // nullopt on timeout; kMalformed for a message with too many frames
  // (dropped).
  Result<std::optional<Frames>> Receive(std::chrono::milliseconds timeout);
  // As Receive, but waits until `deadline` with microsecond precision (for a
  // sender on a fixed schedule that must not sleep on a short timer instead).
  // Connection events are handled at the call's start, not while it waits.
  Result<std::optional<Frames>> ReceiveUntil(std::chrono::steady_clock::time_point deadline);
  // A file descriptor (e.g. an eventfd) that Receive also waits on: when it
  // becomes readable, Receive returns nullopt at once without reading it (as
  // Server::set_wake_fd). The caller clears it (reads it) before it reads
  // its own work, or every Receive returns at once. -1 (the default): none.
  void set_wake_fd(int fd);

  // Processes pending monitor events without waiting and returns the state.
  ConnectionState state();
  ClientStats stats() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlahub::transport
