// The broker's endpoint: a ZeroMQ ROUTER socket, CURVE server with the hub's
// transport key, admitting only the clients its Authenticator admits.
//
// Addressing and trust (docs/PROTOCOL.md, "Transport"):
//  - A client connection is identified by the routing id that libzmq assigns
//    to it (5 bytes, a zero byte and a counter); clients MUST NOT set their
//    own (ZMQ_ROUTING_ID). A message from a peer that chose its own routing id
//    is dropped (kSenderMismatch): otherwise an admitted node could claim
//    another node's routing id and receive its deliveries.
//  - The node a message comes from is the ZAP User-Id of its connection (the
//    authenticated CURVE key), never anything the peer says.
//  - The server remembers, per node, the connection its latest message came
//    from; SendToNode("NG-AGF") goes there. An agent sends Hello first on
//    every connection, so the broker can reach it from then on. An answer to
//    a request goes with SendToPeer to the connection the request came from
//    (a node may hold several connections at once).
//  - Sends never block: ZMQ_ROUTER_MANDATORY with ZMQ_DONTWAIT. kUnavailable
//    when the node has no known connection, the connection is gone
//    (EHOSTUNREACH) or its queue is full (EAGAIN, a slow peer): the broker
//    keeps the message in its own queue and retries later.
//
// Thread-safety: none. One thread owns a Server (it is a ZeroMQ socket); the
// stats() getter is the exception and may be read from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mlahub/core/bytes.h"  // before crypto/x25519.h, which uses ByteView
#include "mlahub/core/status.h"
#include "mlahub/crypto/x25519.h"
#include "mlahub/transport/authenticator.h"
#include "mlahub/transport/context.h"
#include "mlahub/transport/frames.h"

namespace mlahub::transport {

struct ServerOptions {
  // Where to bind. "tcp://127.0.0.1:0" or "tcp://127.0.0.1:*" picks a free
  // port; endpoint() reports the one chosen.
  std::string endpoint = "tcp://127.0.0.1:*";
  // Per-connection queue bounds, in messages (ZMQ_SNDHWM / ZMQ_RCVHWM).
  int send_hwm = 10000;
  int receive_hwm = 10000;
  // Bounds on what a peer may send (ZMQ_MAXMSGSIZE per frame; frame count).
  int64_t max_frame_size = kDefaultMaxFrameSize;
  size_t max_frames = kDefaultMaxFrames;
  // A connection must finish the CURVE handshake within this time.
  int handshake_ivl_ms = 10000;
  // A dead peer is found by TCP: keepalive probes on an idle connection
  // (idle + intvl * cnt seconds: 30 s) and a bound on unacknowledged data
  // (ZMQ_TCP_MAXRT, 30 s). A peer process that dies is seen at once (its
  // kernel closes the connection).
  //
  // No ZMTP heartbeats (ZMQ_HEARTBEAT_*): in libzmq 4.3.4 a heartbeat that
  // falls after the peer died while this end had stopped reading the
  // connection (its receive queue full) aborts the process
  // (stream_engine_base.cpp:331, "!_io_error"; libzmq issue 4841). An
  // admitted peer could crash the broker that way by filling its queue and
  // dropping the connection.
  int tcp_keepalive_idle_s = 10;
  int tcp_keepalive_intvl_s = 5;
  int tcp_keepalive_cnt = 4;
  int tcp_max_retransmit_ms = 30000;
};

// A message received from an authenticated client.
struct Incoming {
  std::string peer;     // the connection's routing id (opaque bytes)
  std::string node_id;  // the authenticated node (ZAP User-Id)
  Frames frames;        // the message, routing id frame removed
  // How many frames the message had. Above frames.size() when it had more
  // than max_frames: only the first max_frames were kept, and the caller
  // answers with a refusal (the peer is known, so it can be told).
  size_t frames_total = 0;
};

struct ServerStats {
  uint64_t received = 0;
  uint64_t sent = 0;
  uint64_t send_unavailable = 0;   // sends refused: no connection / gone / full
  uint64_t dropped_mismatch = 0;   // peer chose its own routing id
  uint64_t dropped_no_user = 0;    // no ZAP User-Id (cannot happen with ZAP on)
  uint64_t dropped_too_many_frames = 0;
  uint64_t handshakes_succeeded = 0;
  uint64_t handshakes_failed = 0;  // any ZMQ_EVENT_HANDSHAKE_FAILED_*
  uint64_t disconnects = 0;
};

class Server {
 public:
  // Binds a ROUTER socket as CURVE server with `curve_keys` (the hub's
  // transport key pair, whose public half is in the directory's hub entry).
  // kInvalidArgument if `authenticator` is not running or belongs to another
  // Context; kIoError if the endpoint cannot be bound.
  static Result<std::unique_ptr<Server>> Bind(std::shared_ptr<Context> context,
                                              std::shared_ptr<Authenticator> authenticator,
                                              const crypto::X25519KeyPair& curve_keys,
                                              ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The endpoint actually bound, e.g. "tcp://127.0.0.1:40123".
  const std::string& endpoint() const;
  uint16_t port() const;

  // Waits up to `timeout` for one message. nullopt on timeout. An error
  // status describes one message that was dropped (the server stays usable):
  // kSenderMismatch (peer-chosen routing id), kUnknownSender (no User-Id).
  // A message with too many frames is returned cut short (frames_total tells;
  // counted in dropped_too_many_frames) for the caller to refuse. Also
  // handles socket monitor events (stats).
  Result<std::optional<Incoming>> Receive(std::chrono::milliseconds timeout);

  // A file descriptor (e.g. an eventfd) that Receive also waits on: when it
  // becomes readable, Receive returns nullopt at once without reading it, so
  // that the caller can handle work handed over by its other threads without
  // polling on a short timer. The caller clears it before it reads that work,
  // or every Receive returns at once. -1 (the default): none.
  void set_wake_fd(int fd);

  // Non-blocking sends (see above). kInvalidArgument for an empty message.
  // If `gone` is given it is set to whether sending again is pointless (the
  // connection is gone or unknown, or the message was broken off) rather
  // than the connection's queue being full (false: try again later).
  Status SendToNode(std::string_view node_id, const Frames& frames, bool* gone = nullptr);
  Status SendToPeer(std::string_view peer, const Frames& frames, bool* gone = nullptr);

  // The connection the node's latest message came from, if any.
  std::optional<std::string> PeerOf(std::string_view node_id) const;

  ServerStats stats() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlahub::transport
