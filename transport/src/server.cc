#include "mlahub/transport/server.h"

#include <atomic>
#include <charconv>
#include <map>
#include <vector>

#include "zmq_internal.h"

namespace mlahub::transport {
namespace {

// libzmq's own routing ids are 5 bytes: a zero byte and a 32-bit counter.
// Peers may not choose routing ids (ZeroMQ reserves a leading zero byte for
// libzmq, and the protocol forbids ZMQ_ROUTING_ID altogether).
bool IsAssignedRoutingId(std::string_view id) { return id.size() == 5 && id[0] == '\0'; }

std::string Printable(std::string_view id) {
  std::string out;
  for (unsigned char c : id.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

struct Server::Impl {
  std::shared_ptr<Context> context;
  std::shared_ptr<Authenticator> authenticator;
  ServerOptions options;
  zmq::socket_t socket;
  std::unique_ptr<internal::Monitor> monitor;
  std::unique_ptr<Authenticator::Guard> guard;  // after socket: released after it closes
  std::string endpoint;
  uint16_t port = 0;
  int wake_fd = -1;
  uint32_t reads = 0;  // Receive calls, for the monitor's drain

  std::map<std::string, std::string, std::less<>> peer_of_node;  // node -> latest connection
  std::map<std::string, std::string, std::less<>> node_of_peer;  // connection -> node

  struct Counters {
    std::atomic<uint64_t> received{0}, sent{0}, send_unavailable{0}, dropped_mismatch{0},
        dropped_no_user{0}, dropped_too_many_frames{0}, handshakes_succeeded{0}, handshakes_failed{0},
        disconnects{0};
  } n;

  ~Impl() {
    monitor.reset();
    socket.close();
    guard.reset();
  }

  void DrainMonitor() {
    while (auto ev = monitor->TryRead()) {
      switch (ev->id) {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: ++n.handshakes_succeeded; break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: ++n.handshakes_failed; break;
        case ZMQ_EVENT_DISCONNECTED: ++n.disconnects; break;
        default: break;
      }
    }
  }

  void Forget(std::string_view peer) {
    auto it = node_of_peer.find(peer);
    if (it == node_of_peer.end()) return;
    auto p = peer_of_node.find(it->second);
    if (p != peer_of_node.end() && p->second == peer) peer_of_node.erase(p);
    node_of_peer.erase(it);
  }

  Result<std::optional<Incoming>> ReadOne();
};

Result<std::optional<Incoming>> Server::Impl::ReadOne() {
  zmq_msg_t id_msg;
  zmq_msg_init(&id_msg);
  if (int err = internal::RecvNoWait(socket, &id_msg); err != 0) {
    zmq_msg_close(&id_msg);
    if (err == EAGAIN) return std::optional<Incoming>();
    return internal::ZmqError("server: receive", err);
  }
  Incoming in;
  in.peer.assign(static_cast<const char*>(zmq_msg_data(&id_msg)), zmq_msg_size(&id_msg));
  bool more = zmq_msg_more(&id_msg);
  zmq_msg_close(&id_msg);
  if (!more) return std::optional<Incoming>();  // a ROUTER always adds a part; be safe

  // First payload frame: it carries the connection's metadata (User-Id).
  zmq_msg_t first;
  zmq_msg_init(&first);
  if (int err = internal::RecvNextFrame(socket, &first); err != 0) {
    zmq_msg_close(&first);
    return internal::ZmqError("server: receive", err);
  }
  const char* user = zmq_msg_gets(&first, "User-Id");
  in.node_id = user != nullptr ? user : "";
  {
    const auto* p = static_cast<const uint8_t*>(zmq_msg_data(&first));
    in.frames.emplace_back(p, p + zmq_msg_size(&first));
  }
  more = zmq_msg_more(&first);
  zmq_msg_close(&first);
  MLAHUB_ASSIGN_OR_RETURN(size_t total, internal::ReceiveRest(socket, more, options.max_frames, in.frames));

  if (in.node_id.empty()) {
    ++n.dropped_no_user;
    return Status::UnknownSender("message from a connection without ZAP User-Id dropped");
  }
  if (!IsAssignedRoutingId(in.peer)) {
    ++n.dropped_mismatch;
    return Status::SenderMismatch("message from node " + in.node_id + " dropped: its connection chose routing id '" +
                                  Printable(in.peer) +
                                  "' (ZMQ_ROUTING_ID); only the authenticated User-Id counts and peers must not "
                                  "set a routing id");
  }
  if (auto it = node_of_peer.find(in.peer); it != node_of_peer.end() && it->second != in.node_id) {
    ++n.dropped_mismatch;
    return Status::SenderMismatch("message dropped: connection '" + Printable(in.peer) + "' of node " +
                                  it->second + " now authenticates as " + in.node_id);
  }
  in.frames_total = total;
  if (total > options.max_frames) {
    // Returned cut short so that the caller can answer the sender; the
    // connection is not remembered as the node's newest (nothing was
    // accepted from it).
    ++n.dropped_too_many_frames;
    return std::optional<Incoming>(std::move(in));
  }
  // Remember where this node is now (newest connection wins).
  auto [it, inserted] = peer_of_node.try_emplace(in.node_id, in.peer);
  if (!inserted && it->second != in.peer) {
    node_of_peer.erase(it->second);
    it->second = in.peer;
  }
  node_of_peer[in.peer] = in.node_id;
  ++n.received;
  return std::optional<Incoming>(std::move(in));
}

Result<std::unique_ptr<Server>> Server::Bind(std::shared_ptr<Context> context,
                                             std::shared_ptr<Authenticator> authenticator,
                                             const crypto::X25519KeyPair& curve_keys, ServerOptions options) {
  if (context == nullptr || authenticator == nullptr) {
    return Status::InvalidArgument("server: context and authenticator are required");
  }
  if (authenticator->context().get() != context.get()) {
    return Status::InvalidArgument("server: the authenticator runs in another context and would not guard it");
  }
  if (options.max_frames < 1) return Status::InvalidArgument("server: max_frames must be at least 1");
  auto impl = std::make_unique<Impl>();
  MLAHUB_ASSIGN_OR_RETURN(impl->guard, authenticator->Attach());
  impl->context = context;
  impl->authenticator = authenticator;
  impl->options = options;
  try {
    impl->socket = zmq::socket_t(context->impl().ctx, zmq::socket_type::router);
  } catch (const zmq::error_t& e) {
    return internal::ZmqError("server: socket", e.num());
  }
  zmq::socket_t& s = impl->socket;
  MLAHUB_RETURN_IF_ERROR(internal::ApplyCommon(
      s, {options.send_hwm, options.receive_hwm, options.max_frame_size, options.handshake_ivl_ms,
          options.tcp_keepalive_idle_s, options.tcp_keepalive_intvl_s, options.tcp_keepalive_cnt,
          options.tcp_max_retransmit_ms}));
  MLAHUB_RETURN_IF_ERROR(internal::SetInt(s, ZMQ_ROUTER_MANDATORY, 1, "ZMQ_ROUTER_MANDATORY"));
  // Off: routing ids are libzmq's own, so a peer presenting one that is in use
  // is an impostor and must be turned away, not handed the connection.
  MLAHUB_RETURN_IF_ERROR(internal::SetInt(s, ZMQ_ROUTER_HANDOVER, 0, "ZMQ_ROUTER_HANDOVER"));
  MLAHUB_RETURN_IF_ERROR(internal::SetInt(s, ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER"));
  MLAHUB_RETURN_IF_ERROR(internal::SetBytes(s, ZMQ_CURVE_SECRETKEY, curve_keys.secret().data(),
                                            crypto::kX25519KeySize, "ZMQ_CURVE_SECRETKEY"));
  const std::string& domain = authenticator->domain();
  MLAHUB_RETURN_IF_ERROR(internal::SetBytes(s, ZMQ_ZAP_DOMAIN, domain.data(), domain.size(), "ZMQ_ZAP_DOMAIN"));
  MLAHUB_ASSIGN_OR_RETURN(
      impl->monitor,
      internal::Monitor::Attach(context->impl(), s,
                                ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                    ZMQ_EVENT_DISCONNECTED));
  // A first read of the monitor's PAIR, which finds nothing: from then on
  // its ZMQ_FD is signalled by each new event (Receive sleeps on it).
  impl->DrainMonitor();

  // libzmq takes ":*" for an ephemeral port; accept ":0" as well.
  std::string where = options.endpoint;
  if (where.size() > 2 && where.compare(where.size() - 2, 2, ":0") == 0) where.replace(where.size() - 1, 1, "*");
  if (zmq_bind(s.handle(), where.c_str()) != 0) {
    int err = zmq_errno();
    return Status::IoError("server: cannot bind " + options.endpoint + ": " + zmq_strerror(err));
  }
  char last[256] = {};
  size_t len = sizeof last;
  if (zmq_getsockopt(s.handle(), ZMQ_LAST_ENDPOINT, last, &len) != 0) {
    return internal::ZmqError("server: ZMQ_LAST_ENDPOINT", zmq_errno());
  }
  impl->endpoint = last;
  if (auto colon = impl->endpoint.rfind(':'); colon != std::string::npos) {
    std::string_view digits = std::string_view(impl->endpoint).substr(colon + 1);
    std::from_chars(digits.data(), digits.data() + digits.size(), impl->port);
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

const std::string& Server::endpoint() const { return impl_->endpoint; }
void Server::set_wake_fd(int fd) { impl_->wake_fd = fd; }
uint16_t Server::port() const { return impl_->port; }

Result<std::optional<Incoming>> Server::Receive(std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) {
    // No wait: read the socket directly. zmq_poll here cost three poll(2)
    // and two getpid(2) calls per message (one for the pollset, one
    // ZMQ_EVENTS check per socket), about 8 system calls per message on the
    // broker's socket thread under load; a receive that finds a message
    // makes none, and one that finds nothing runs the socket's pending
    // commands (so ZMQ_FD is signalled by the next arrival) and makes two.
    // The monitor's events are counters; a look at them costs two system
    // calls, so not at every read (a waiting Receive wakes for them too).
    // Still at a steady pace: libzmq's I/O thread blocks once ~2,000 events
    // wait unread (handshake churn under load).
    if (++impl_->reads % 64 == 0) impl_->DrainMonitor();
    return impl_->ReadOne();
  }
  // Wait: read first, then sleep in one ppoll on the socket's ZMQ_FD, the
  // monitor's and the wake fd (see internal::WaitReadable; zmq_poll made
  // ten system calls per sleep and wake-up here).
  auto deadline = std::chrono::steady_clock::now() + timeout;
  MLAHUB_ASSIGN_OR_RETURN(int socket_fd, internal::SocketFd(impl_->socket));
  MLAHUB_ASSIGN_OR_RETURN(int monitor_fd, internal::SocketFd(impl_->monitor->socket()));
  if (++impl_->reads % 64 == 0) impl_->DrainMonitor();
  for (;;) {
    MLAHUB_ASSIGN_OR_RETURN(auto in, impl_->ReadOne());
    if (in) return in;
    if (std::chrono::steady_clock::now() >= deadline) return std::optional<Incoming>();
    MLAHUB_ASSIGN_OR_RETURN(unsigned ready,
                            internal::WaitReadable({socket_fd, monitor_fd, impl_->wake_fd}, deadline));
    if (ready & 2u) impl_->DrainMonitor();  // to EAGAIN, so its ZMQ_FD signals the next event
    if (ready & 4u) return std::optional<Incoming>();  // the wake fd: the caller has work
    // ready == 0: the deadline (checked above) or a signal: look again
  }
}

Status Server::SendToNode(std::string_view node_id, const Frames& frames, bool* gone) {
  if (gone != nullptr) *gone = false;
  auto it = impl_->peer_of_node.find(node_id);
  if (it == impl_->peer_of_node.end()) {
    ++impl_->n.send_unavailable;
    if (gone != nullptr) *gone = true;
    return Status::Unavailable("no connection of " + std::string(node_id) +
                               " is known (not connected, or no Hello yet)");
  }
  std::string peer = it->second;  // SendToPeer may erase the entry
  return SendToPeer(peer, frames, gone);
}

Status Server::SendToPeer(std::string_view peer, const Frames& frames, bool* gone) {
  if (gone != nullptr) *gone = false;
  if (frames.empty()) return Status::InvalidArgument("server: cannot send an empty message");
  if (peer.empty()) return Status::InvalidArgument("server: empty routing id");
  void* s = impl_->socket.handle();
  if (zmq_send(s, peer.data(), peer.size(), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
    int err = zmq_errno();
    ++impl_->n.send_unavailable;
    auto node = impl_->node_of_peer.find(peer);
    std::string who = node != impl_->node_of_peer.end() ? node->second : "peer '" + Printable(peer) + "'";
    if (err == EHOSTUNREACH) {
      impl_->Forget(peer);
      if (gone != nullptr) *gone = true;
      return Status::Unavailable("connection of " + who + " is gone");
    }
    if (err == EAGAIN) return Status::Unavailable("queue to " + who + " is full (slow peer)");
    return internal::ZmqError("server: send", err);
  }
  for (size_t i = 0; i < frames.size(); ++i) {
    int flags = ZMQ_DONTWAIT | (i + 1 < frames.size() ? ZMQ_SNDMORE : 0);
    if (zmq_send(s, frames[i].data(), frames[i].size(), flags) < 0) {
      // After the routing frame was taken the pipe accepts the rest; if not,
      // libzmq drops the partial message (sending it again is no use).
      ++impl_->n.send_unavailable;
      if (gone != nullptr) *gone = true;
      return internal::ZmqError("server: send", zmq_errno()).Annotate("message dropped");
    }
  }
  ++impl_->n.sent;
  return Status::Ok();
}

std::optional<std::string> Server::PeerOf(std::string_view node_id) const {
  auto it = impl_->peer_of_node.find(node_id);
  if (it == impl_->peer_of_node.end()) return std::nullopt;
  return it->second;
}

ServerStats Server::stats() const {
  const auto& n = impl_->n;
  ServerStats s;
  s.received = n.received.load();
  s.sent = n.sent.load();
  s.send_unavailable = n.send_unavailable.load();
  s.dropped_mismatch = n.dropped_mismatch.load();
  s.dropped_no_user = n.dropped_no_user.load();
  s.dropped_too_many_frames = n.dropped_too_many_frames.load();
  s.handshakes_succeeded = n.handshakes_succeeded.load();
  s.handshakes_failed = n.handshakes_failed.load();
  s.disconnects = n.disconnects.load();
  return s;
}

}  // namespace mlahub::transport
