#include "mlahub/transport/client.h"

#include <atomic>
#include <cerrno>

#include "zmq_internal.h"

namespace mlahub::transport {

struct Client::Impl {
  std::shared_ptr<Context> context;
  ClientOptions options;
  zmq::socket_t socket;
  std::unique_ptr<internal::Monitor> monitor;
  ConnectionState state = ConnectionState::kConnecting;
  std::string last_failure;  // words for the last failed handshake
  int wake_fd = -1;

  struct Counters {
    std::atomic<uint64_t> sent{0}, received{0}, send_unavailable{0}, dropped_too_many_frames{0},
        handshakes_succeeded{0}, handshakes_failed_auth{0}, handshakes_failed_protocol{0}, disconnects{0};
    std::atomic<int> last_auth_status{0};
  } n;

  ~Impl() {
    monitor.reset();
    socket.close();
  }

  // Applies one monitor event; returns true if it decided a handshake.
  bool Apply(const internal::Monitor::Event& ev) {
    switch (ev.id) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        ++n.handshakes_succeeded;
        state = ConnectionState::kReady;
        return true;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        ++n.handshakes_failed_auth;
        n.last_auth_status = static_cast<int>(ev.value);
        state = ConnectionState::kRefused;
        last_failure = "the broker refused this node's CURVE key (ZAP status " + std::to_string(ev.value) + ")";
        return true;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        ++n.handshakes_failed_protocol;
        last_failure = std::string("CURVE handshake with ") + ev.endpoint + " failed (" +
                       (ev.id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error " : "error ") +
                       std::to_string(ev.value) + "); wrong server key?";
        return false;  // libzmq retries; not a decision by the broker
      case ZMQ_EVENT_DISCONNECTED:
        ++n.disconnects;
        if (state == ConnectionState::kReady) state = ConnectionState::kConnecting;
        return false;
      default:
        return false;
    }
  }

  void Drain() {
    while (auto ev = monitor->TryRead()) Apply(*ev);
  }

  Result<std::optional<Frames>> ReadOne();
};

Result<std::unique_ptr<Client>> Client::Connect(std::shared_ptr<Context> context,
                                                const crypto::X25519KeyPair& curve_keys, ClientOptions options) {
  if (context == nullptr) return Status::InvalidArgument("client: context is required");
  if (options.endpoint.empty()) return Status::InvalidArgument("client: no broker endpoint");
  if (options.max_frames < 1) return Status::InvalidArgument("client: max_frames must be at least 1");
  if (options.reconnect_ivl_ms < 1 || options.reconnect_ivl_max_ms < options.reconnect_ivl_ms) {
    return Status::InvalidArgument("client: need 0 < reconnect_ivl_ms <= reconnect_ivl_max_ms");
  }
  auto impl = std::make_unique<Impl>();
  impl->context = context;
  impl->options = options;
  try {
    impl->socket = zmq::socket_t(context->impl().ctx, zmq::socket_type::dealer);
  } catch (const zmq::error_t& e) {
    return internal::ZmqError("client: socket", e.num());
  }
  zmq::socket_t& s = impl->socket;
  MLAHUB_RETURN_IF_ERROR(internal::ApplyCommon(
      s, {options.send_hwm, options.receive_hwm, options.max_frame_size, options.handshake_ivl_ms,
          options.tcp_keepalive_idle_s, options.tcp_keepalive_intvl_s, options.tcp_keepalive_cnt,
          options.tcp_max_retransmit_ms}));
  // No ZMQ_IMMEDIATE: see client.h (libzmq aborts when it drops a half-read
  // message's pipe). Send checks the connection state itself.
  MLAHUB_RETURN_IF_ERROR(internal::SetInt(s, ZMQ_RECONNECT_IVL, options.reconnect_ivl_ms, "ZMQ_RECONNECT_IVL"));
  MLAHUB_RETURN_IF_ERROR(
      internal::SetInt(s, ZMQ_RECONNECT_IVL_MAX, options.reconnect_ivl_max_ms, "ZMQ_RECONNECT_IVL_MAX"));
  if (!options.routing_id.empty()) {
    MLAHUB_RETURN_IF_ERROR(internal::SetBytes(s, ZMQ_ROUTING_ID, options.routing_id.data(),
                                              options.routing_id.size(), "ZMQ_ROUTING_ID"));
  }
  MLAHUB_RETURN_IF_ERROR(internal::SetBytes(s, ZMQ_CURVE_SERVERKEY, options.server_key.data(),
                                            options.server_key.size(), "ZMQ_CURVE_SERVERKEY"));
  MLAHUB_RETURN_IF_ERROR(internal::SetBytes(s, ZMQ_CURVE_PUBLICKEY, curve_keys.public_key().data(),
                                            crypto::kX25519KeySize, "ZMQ_CURVE_PUBLICKEY"));
  MLAHUB_RETURN_IF_ERROR(internal::SetBytes(s, ZMQ_CURVE_SECRETKEY, curve_keys.secret().data(),
                                            crypto::kX25519KeySize, "ZMQ_CURVE_SECRETKEY"));
  MLAHUB_ASSIGN_OR_RETURN(
      impl->monitor,
      internal::Monitor::Attach(context->impl(), s,
                                ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                    ZMQ_EVENT_DISCONNECTED));
  if (zmq_connect(s.handle(), options.endpoint.c_str()) != 0) {
    return internal::ZmqError("client: connect " + options.endpoint, zmq_errno());
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Status Client::WaitForHandshake(std::chrono::milliseconds timeout) {
  impl_->Drain();
  if (impl_->state == ConnectionState::kReady) return Status::Ok();
  if (impl_->state == ConnectionState::kRefused) {
    return Status::PermissionDenied(impl_->last_failure + "; call Reconnect() to try again");
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  zmq_pollitem_t item = {impl_->monitor->socket().handle(), 0, ZMQ_POLLIN, 0};
  for (;;) {
    int rc = zmq_poll(&item, 1, internal::RemainingMs(deadline));
    if (rc < 0 && zmq_errno() != EINTR) return internal::ZmqError("client: poll", zmq_errno());
    while (auto ev = impl_->monitor->TryRead()) {
      if (impl_->Apply(*ev)) {
        if (impl_->state == ConnectionState::kReady) return Status::Ok();
        return Status::PermissionDenied(impl_->last_failure);
      }
    }
    if (internal::RemainingMs(deadline) == 0) {
      std::string msg = "no CURVE handshake with " + impl_->options.endpoint + " completed within " +
                        std::to_string(timeout.count()) + " ms";
      if (!impl_->last_failure.empty()) msg += "; last failure: " + impl_->last_failure;
      return Status::Unavailable(std::move(msg));
    }
  }
}

Status Client::Reconnect() {
  impl_->Drain();
  const std::string& ep = impl_->options.endpoint;
  zmq_disconnect(impl_->socket.handle(), ep.c_str());  // may already be gone
  impl_->state = ConnectionState::kConnecting;
  impl_->last_failure.clear();
  if (zmq_connect(impl_->socket.handle(), ep.c_str()) != 0) {
    return internal::ZmqError("client: reconnect " + ep, zmq_errno());
  }
  return Status::Ok();
}

Status Client::Send(const Frames& frames) {
  if (frames.empty()) return Status::InvalidArgument("client: cannot send an empty message");
  if (impl_->state != ConnectionState::kReady) {
    impl_->Drain();  // only off the fast path: a handshake may have completed since
    if (impl_->state != ConnectionState::kReady) {
      ++impl_->n.send_unavailable;
      return Status::Unavailable("no connection to the broker is up");
    }
  }
  void* s = impl_->socket.handle();
  for (size_t i = 0; i < frames.size(); ++i) {
    int flags = ZMQ_DONTWAIT | (i + 1 < frames.size() ? ZMQ_SNDMORE : 0);
    if (zmq_send(s, frames[i].data(), frames[i].size(), flags) < 0) {
      int err = zmq_errno();
      ++impl_->n.send_unavailable;
      if (err == EAGAIN) {
        return Status::Unavailable("the send queue to the broker is full");
      }
      return internal::ZmqError("client: send", err);
    }
  }
  ++impl_->n.sent;
  return Status::Ok();
}

// One message if the socket holds one (nullopt if not), without waiting.
Result<std::optional<Frames>> Client::Impl::ReadOne() {
  zmq_msg_t first;
  zmq_msg_init(&first);
  if (int err = internal::RecvNoWait(socket, &first); err != 0) {
    zmq_msg_close(&first);
    if (err == EAGAIN) return std::optional<Frames>();
    return internal::ZmqError("client: receive", err);
  }
  Frames frames;
  const auto* p = static_cast<const uint8_t*>(zmq_msg_data(&first));
  frames.emplace_back(p, p + zmq_msg_size(&first));
  bool more = zmq_msg_more(&first);
  zmq_msg_close(&first);
  MLAHUB_ASSIGN_OR_RETURN(size_t total, internal::ReceiveRest(socket, more, options.max_frames, frames));
  if (total > options.max_frames) {
    ++n.dropped_too_many_frames;
    return Status::Malformed("message from the broker dropped: " + std::to_string(total) + " frames, at most " +
                             std::to_string(options.max_frames) + " allowed");
  }
  ++n.received;
  return std::optional<Frames>(std::move(frames));
}

Result<std::optional<Frames>> Client::Receive(std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) {
    // No wait: read the socket directly (as Server::Receive does; zmq_poll
    // costs several system calls even with nothing to wait for). A receive
    // that finds nothing runs the socket's pending commands, so ZMQ_FD is
    // signalled by the next arrival (ReceiveUntil relies on this).
    MLAHUB_ASSIGN_OR_RETURN(auto got, impl_->ReadOne());
    if (got) return got;
    impl_->Drain();  // only when idle: connection events
    return std::optional<Frames>();
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  zmq_pollitem_t items[3] = {{impl_->socket.handle(), 0, ZMQ_POLLIN, 0},
                             {impl_->monitor->socket().handle(), 0, ZMQ_POLLIN, 0},
                             {nullptr, impl_->wake_fd, ZMQ_POLLIN, 0}};
  const int count = impl_->wake_fd >= 0 ? 3 : 2;
  for (;;) {
    int rc = zmq_poll(items, count, internal::RemainingMs(deadline));
    if (rc < 0) {
      if (zmq_errno() == EINTR) continue;
      return internal::ZmqError("client: poll", zmq_errno());
    }
    if (items[1].revents & ZMQ_POLLIN) impl_->Drain();
    if (items[0].revents & ZMQ_POLLIN) {
      MLAHUB_ASSIGN_OR_RETURN(auto got, impl_->ReadOne());
      if (got) return got;
    }
    if (count == 3 && (items[2].revents & ZMQ_POLLIN)) return std::optional<Frames>();
    if (internal::RemainingMs(deadline) == 0) return std::optional<Frames>();
  }
}

void Client::set_wake_fd(int fd) { impl_->wake_fd = fd; }

Result<std::optional<Frames>> Client::ReceiveUntil(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    // A receive that finds nothing also runs the socket's pending commands,
    // so ZMQ_FD is signalled by the next arrival.
    MLAHUB_ASSIGN_OR_RETURN(auto got, Receive(std::chrono::milliseconds(0)));
    if (got.has_value()) return got;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::optional<Frames>();
    MLAHUB_ASSIGN_OR_RETURN(int fd, internal::SocketFd(impl_->socket));
    MLAHUB_ASSIGN_OR_RETURN(unsigned ready, internal::WaitReadable({fd, impl_->wake_fd}, deadline));
    if (ready & 2u) return std::optional<Frames>();
  }
}

ConnectionState Client::state() {
  impl_->Drain();
  return impl_->state;
}

ClientStats Client::stats() const {
  const auto& n = impl_->n;
  ClientStats s;
  s.sent = n.sent.load();
  s.received = n.received.load();
  s.send_unavailable = n.send_unavailable.load();
  s.dropped_too_many_frames = n.dropped_too_many_frames.load();
  s.handshakes_succeeded = n.handshakes_succeeded.load();
  s.handshakes_failed_auth = n.handshakes_failed_auth.load();
  s.handshakes_failed_protocol = n.handshakes_failed_protocol.load();
  s.disconnects = n.disconnects.load();
  s.last_auth_status = n.last_auth_status.load();
  return s;
}

}  // namespace mlahub::transport
