#include "mlahub/transport/context.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

#include "zmq_internal.h"

namespace mlahub::transport {

std::string Context::Impl::UniqueInproc(std::string_view what) {
  return "inproc://mlahub-" + std::string(what) + "-" +
         std::to_string(reinterpret_cast<uintptr_t>(this)) + "-" + std::to_string(next_name++);
}

Result<std::shared_ptr<Context>> Context::Create(int io_threads) {
  if (io_threads < 1 || io_threads > 64) {
    return Status::InvalidArgument("transport context: io_threads must be 1-64, got " +
                                   std::to_string(io_threads));
  }
  if (!zmq_has("curve")) {
    return Status::Internal("libzmq was built without CURVE support; the transport needs it");
  }
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(io_threads);
  } catch (const zmq::error_t& e) {
    return internal::ZmqError("zmq_ctx_new", e.num());
  }
  // Sockets are closed with linger 0; never let termination wait anyway.
  zmq_ctx_set(impl->ctx.handle(), ZMQ_BLOCKY, 0);
  return std::shared_ptr<Context>(new Context(std::move(impl)));
}

Context::Context(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Context::~Context() = default;

void* Context::native_handle() const { return impl_->ctx.handle(); }

namespace internal {

Status ZmqError(std::string_view what, int err) {
  std::string msg = std::string(what) + ": " + zmq_strerror(err);
  switch (err) {
    case EAGAIN:
    case EHOSTUNREACH:
      return Status::Unavailable(std::move(msg));
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
      return Status::InvalidArgument(std::move(msg));
    case EADDRINUSE:
      return Status::AlreadyExists(std::move(msg));
    case EADDRNOTAVAIL:
    case ENODEV:
      return Status::IoError(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

Status SetInt(zmq::socket_t& s, int option, int value, std::string_view name) {
  if (zmq_setsockopt(s.handle(), option, &value, sizeof value) != 0) {
    return ZmqError("zmq_setsockopt(" + std::string(name) + ")", zmq_errno());
  }
  return Status::Ok();
}

Status SetBytes(zmq::socket_t& s, int option, const void* data, size_t size, std::string_view name) {
  if (zmq_setsockopt(s.handle(), option, data, size) != 0) {
    return ZmqError("zmq_setsockopt(" + std::string(name) + ")", zmq_errno());
  }
  return Status::Ok();
}

Status ApplyCommon(zmq::socket_t& s, const CommonOptions& o) {
  if (o.send_hwm < 1 || o.receive_hwm < 1) {
    return Status::InvalidArgument("transport: send and receive HWMs must be at least 1 (0 would be unbounded)");
  }
  if (o.max_frame_size < 1) {
    return Status::InvalidArgument("transport: max_frame_size must be positive (-1 would be unbounded)");
  }
  MLAHUB_RETURN_IF_ERROR(SetInt(s, ZMQ_LINGER, 0, "ZMQ_LINGER"));
  MLAHUB_RETURN_IF_ERROR(SetInt(s, ZMQ_SNDHWM, o.send_hwm, "ZMQ_SNDHWM"));
  MLAHUB_RETURN_IF_ERROR(SetInt(s, ZMQ_RCVHWM, o.receive_hwm, "ZMQ_RCVHWM"));
  MLAHUB_RETURN_IF_ERROR(
      SetBytes(s, ZMQ_MAXMSGSIZE, &o.max_frame_size, sizeof o.max_frame_size, "ZMQ_MAXMSGSIZE"));
  MLAHUB_RETURN_IF_ERROR(SetInt(s, ZMQ_HANDSHAKE_IVL, o.handshake_ivl_ms, "ZMQ_HANDSHAKE_IVL"));
  MLAHUB_RETURN_IF_ERROR(SetInt(s, ZMQ_TCP_KEEPALIVE, 1, "ZMQ_TCP_KEEPALIVE"));
  MLAHUB_RETURN_IF_ERROR(SetInt(s, ZMQ_TCP_KEEPALIVE_IDLE, o.tcp_keepalive_idle_s, "ZMQ_TCP_KEEPALIVE_IDLE"));
  MLAHUB_RETURN_IF_ERROR(SetInt(s, ZMQ_TCP_KEEPALIVE_INTVL, o.tcp_keepalive_intvl_s, "ZMQ_TCP_KEEPALIVE_INTVL"));
  MLAHUB_RETURN_IF_ERROR(SetInt(s, ZMQ_TCP_KEEPALIVE_CNT, o.tcp_keepalive_cnt, "ZMQ_TCP_KEEPALIVE_CNT"));
  MLAHUB_RETURN_IF_ERROR(SetInt(s, ZMQ_TCP_MAXRT, o.tcp_max_retransmit_ms, "ZMQ_TCP_MAXRT"));
  return Status::Ok();
}

long RemainingMs(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<long>(left.count()) : 0;
}

Result<unsigned> WaitReadable(std::initializer_list<int> fds, std::chrono::steady_clock::time_point deadline) {
  constexpr size_t kMax = 8;
  pollfd p[kMax];
  unsigned bit[kMax];
  nfds_t n = 0;
  unsigned i = 0;
  for (int fd : fds) {
    if (i >= kMax) return Status::InvalidArgument("WaitReadable: at most 8 descriptors");
    if (fd >= 0) {
      p[n] = {fd, POLLIN, 0};
      bit[n++] = 1u << i;
    }
    ++i;
  }
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now()).count();
  if (ns < 0) ns = 0;
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  if (::ppoll(p, n, &ts, nullptr) < 0) {
    if (errno == EINTR) return 0u;
    return Status::IoError(std::string("ppoll: ") + std::strerror(errno));
  }
  unsigned ready = 0;
  for (nfds_t k = 0; k < n; ++k) {
    if (p[k].revents != 0) ready |= bit[k];
  }
  return ready;
}

Result<int> SocketFd(zmq::socket_t& s) {
  int fd = -1;
  size_t len = sizeof fd;
  if (zmq_getsockopt(s.handle(), ZMQ_FD, &fd, &len) != 0) return ZmqError("ZMQ_FD", zmq_errno());
  return fd;
}

int RecvNextFrame(zmq::socket_t& s, zmq_msg_t* msg) {
  for (;;) {
    if (zmq_msg_recv(msg, s.handle(), 0) >= 0) return 0;
    int err = zmq_errno();
    if (err != EINTR) return err;
  }
}

int RecvNoWait(zmq::socket_t& s, zmq_msg_t* msg) {
  for (;;) {
    if (zmq_msg_recv(msg, s.handle(), ZMQ_DONTWAIT) >= 0) return 0;
    int err = zmq_errno();
    if (err != EINTR) return err;
  }
}

Result<std::unique_ptr<Monitor>> Monitor::Attach(Context::Impl& ctx, zmq::socket_t& watched, int events) {
  std::string addr = ctx.UniqueInproc("monitor");
  if (zmq_socket_monitor(watched.handle(), addr.c_str(), events) != 0) {
    return ZmqError("zmq_socket_monitor", zmq_errno());
  }
  try {
    zmq::socket_t pair(ctx.ctx, zmq::socket_type::pair);
    pair.set(zmq::sockopt::linger, 0);
    pair.connect(addr);
    return std::unique_ptr<Monitor>(new Monitor(watched, std::move(pair)));
  } catch (const zmq::error_t& e) {
    zmq_socket_monitor(watched.handle(), nullptr, 0);
    return ZmqError("monitor socket", e.num());
  }
}

Monitor::~Monitor() {
  zmq_socket_monitor(watched_.handle(), nullptr, 0);
  pair_.close();
}

std::optional<Monitor::Event> Monitor::TryRead() {
  zmq_msg_t head;
  zmq_msg_init(&head);
  if (RecvNoWait(pair_, &head) != 0) {
    zmq_msg_close(&head);
    return std::nullopt;
  }
  Event ev;
  bool well_formed = zmq_msg_size(&head) == 6;
  if (well_formed) {
    const auto* p = static_cast<const uint8_t*>(zmq_msg_data(&head));
    std::memcpy(&ev.id, p, 2);     // native byte order, as libzmq writes it
    std::memcpy(&ev.value, p + 2, 4);
  }
  bool more = zmq_msg_more(&head);
  zmq_msg_close(&head);
  while (more) {  // the endpoint frame (and anything a newer libzmq adds)
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, pair_.handle(), 0) < 0) {
      zmq_msg_close(&part);
      break;
    }
    if (ev.endpoint.empty()) {
      ev.endpoint.assign(static_cast<const char*>(zmq_msg_data(&part)), zmq_msg_size(&part));
    }
    more = zmq_msg_more(&part);
    zmq_msg_close(&part);
  }
  if (!well_formed) return Event{};  // id 0: ignored by callers
  return ev;
}

Result<size_t> ReceiveRest(zmq::socket_t& s, bool more, size_t max_frames,
                           std::vector<std::vector<uint8_t>>& out) {
  size_t total = out.size();
  while (more) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (int err = RecvNextFrame(s, &part); err != 0) {
      zmq_msg_close(&part);
      return ZmqError("zmq_msg_recv", err);
    }
    ++total;
    if (total <= max_frames) {
      const auto* p = static_cast<const uint8_t*>(zmq_msg_data(&part));
      out.emplace_back(p, p + zmq_msg_size(&part));
    }
    more = zmq_msg_more(&part);
    zmq_msg_close(&part);
  }
  return total;
}

}  // namespace internal
}  // namespace mlahub::transport
