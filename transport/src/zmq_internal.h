// Private to transport/: the libzmq plumbing shared by the transport classes.
// The only place (with the .cc files here) that includes ZeroMQ.
#pragma once

#include <zmq.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "mlahub/core/status.h"
#include "mlahub/transport/context.h"

namespace mlahub::transport {

struct Context::Impl {
  zmq::context_t ctx;
  std::atomic<uint64_t> next_name{0};

  explicit Impl(int io_threads) : ctx(io_threads) {}
  // A process-unique inproc endpoint name, e.g. "inproc://mlahub-monitor-3".
  std::string UniqueInproc(std::string_view what);
};

namespace internal {

// "zmq_setsockopt(ZMQ_SNDHWM): Invalid argument" as a Status.
Status ZmqError(std::string_view what, int err);

Status SetInt(zmq::socket_t& s, int option, int value, std::string_view name);
Status SetBytes(zmq::socket_t& s, int option, const void* data, size_t size, std::string_view name);

// The options both ends share: linger 0, HWMs, frame size bound, handshake
// timeout, TCP keepalive and retransmission timeout. No ZMTP heartbeats: see
// ServerOptions in server.h.
struct CommonOptions {
  int send_hwm;
  int receive_hwm;
  int64_t max_frame_size;
  int handshake_ivl_ms;
  int tcp_keepalive_idle_s;
  int tcp_keepalive_intvl_s;
  int tcp_keepalive_cnt;
  int tcp_max_retransmit_ms;
};
Status ApplyCommon(zmq::socket_t& s, const CommonOptions& o);

// Milliseconds left until `deadline` (0 when passed), for zmq_poll.
long RemainingMs(std::chrono::steady_clock::time_point deadline);

// Sleeps in one ppoll(2) until one of `fds` is readable or `deadline`
// passes (fds < 0 are left out). Returns a bit mask of the readable ones
// (bit i for fds[i]; at most 8 fds), 0 at the deadline (or on EINTR).
//
// For a ZeroMQ socket pass its ZMQ_FD (SocketFd), and only after an
// operation on the socket that found nothing (a ZMQ_DONTWAIT receive that
// failed with EAGAIN): that runs the socket's pending commands, so the
// descriptor is signalled by the next arrival. A readable ZMQ_FD means
// "look again", not "a message is there". Unlike zmq_poll, which checks
// ZMQ_EVENTS of every socket before and after it sleeps (two system calls
// each), this costs one system call per wait.
Result<unsigned> WaitReadable(std::initializer_list<int> fds, std::chrono::steady_clock::time_point deadline);

// The socket's ZMQ_FD (see WaitReadable).
Result<int> SocketFd(zmq::socket_t& s);

// zmq_msg_recv(ZMQ_DONTWAIT) into `msg` (initialised by the caller): 0 when a
// frame was read, else the errno (EAGAIN: nothing there). EINTR reads again:
// libzmq can be interrupted after it took in a pipe's "readable" command and
// before it read the pipe; nothing would then signal ZMQ_FD for the message,
// and a sleep on it would miss the message.
int RecvNoWait(zmq::socket_t& s, zmq_msg_t* msg);
// The next frame of a message being read (never waits: the parts of a
// message arrive together). Retries EINTR, so that a signal never leaves a
// message half read; 0 or the errno.
int RecvNextFrame(zmq::socket_t& s, zmq_msg_t* msg);

// A socket monitor (zmq_socket_monitor) read through a PAIR socket.
class Monitor {
 public:
  struct Event {
    uint16_t id = 0;
    uint32_t value = 0;
    std::string endpoint;
  };
  static Result<std::unique_ptr<Monitor>> Attach(Context::Impl& ctx, zmq::socket_t& watched, int events);
  ~Monitor();  // stops monitoring, closes the PAIR
  // The next event if one is pending (never waits).
  std::optional<Event> TryRead();
  zmq::socket_t& socket() { return pair_; }

 private:
  Monitor(zmq::socket_t& watched, zmq::socket_t pair) : watched_(watched), pair_(std::move(pair)) {}
  zmq::socket_t& watched_;
  zmq::socket_t pair_;
};

// Receives the rest of a multipart message after a frame with `more` set,
// appending up to `max_frames` frames to `out` (counting those already
// there) and discarding the others. Returns the total number of frames.
Result<size_t> ReceiveRest(zmq::socket_t& s, bool more, size_t max_frames, std::vector<std::vector<uint8_t>>& out);

}  // namespace internal
}  // namespace mlahub::transport
