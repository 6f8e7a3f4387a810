// The ZeroMQ context shared by the transport objects of one process.
//
// A Context owns one libzmq context (its I/O threads). Authenticator, Server
// and Client each hold a shared_ptr to the Context they were made in, so the
// context is terminated only after the last of them is gone. The ZAP handler
// (Authenticator) guards only the server sockets of its own Context: create
// it and the Server in the same one.
//
// Thread-safety: a Context may be shared by any number of threads; the
// sockets made from it are not (see Server and Client).
#pragma once

#include <memory>

#include "mlahub/core/status.h"

namespace mlahub::transport {

class Context {
 public:
  // `io_threads` libzmq I/O threads (1 is enough for tens of thousands of
  // messages per second; CURVE encryption runs on them).
  static Result<std::shared_ptr<Context>> Create(int io_threads = 1);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // The underlying `void*` libzmq context, for tests and diagnostics that
  // need a raw socket in this context. Other modules must not use it.
  void* native_handle() const;

  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  explicit Context(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlahub::transport
