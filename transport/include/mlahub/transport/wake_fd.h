// An eventfd that other threads signal to end a Server::Receive or
// Client::Receive wait at once (set_wake_fd), so that the receiving thread
// need not wake on a short timer to look for work they handed over.
//
// Signal() may be called from any thread; Clear() by the receiving thread
// just before it takes the handed-over work (clear, then take: a signal after
// the clear ends the next wait). fd() is -1 if no eventfd could be made;
// Signal and Clear are then no-ops and the receiver must poll.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace mlahub::transport {

class WakeFd {
 public:
  WakeFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~WakeFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;

  int fd() const { return fd_; }

  void Signal() const {
    if (fd_ < 0) return;
    const uint64_t one = 1;
    // Cannot fail short of a full counter (2^64 - 2 signals unread).
    [[maybe_unused]] ssize_t w = ::write(fd_, &one, sizeof one);
  }

  void Clear() const {
    if (fd_ < 0) return;
    uint64_t count;
    [[maybe_unused]] ssize_t r = ::read(fd_, &count, sizeof count);  // EAGAIN when not signalled
  }

 private:
  int fd_;
};

}  // namespace mlahub::transport
