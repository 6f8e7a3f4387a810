#include "mlahub/transport/authenticator.h"

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "mlahub/transport/curve.h"
#include "zmq_internal.h"

namespace mlahub::transport {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";
constexpr size_t kMaxZapFrames = 16;  // RFC 27 requests have 6 + credentials

std::string FrameText(const std::vector<uint8_t>& f) { return std::string(f.begin(), f.end()); }

}  // namespace

struct Authenticator::Impl {
  Authenticator::Lookup lookup;
  const Authenticator::Options* options = nullptr;
  Context::Impl* ctx = nullptr;

  std::mutex mu;  // guards running, thread, control, control_addr
  bool running = false;
  std::thread thread;
  std::unique_ptr<zmq::socket_t> control;  // our end of the stop pipe
  std::atomic<int> guards{0};

  std::atomic<uint64_t> admitted{0}, denied{0}, denied_unknown_key{0}, denied_mechanism{0},
      denied_domain{0}, denied_malformed{0}, denied_lookup_error{0};

  void Run(zmq::socket_t zap, zmq::socket_t stop);
  // Judges one request; fills the reply fields.
  AuthDecision Judge(const std::vector<std::vector<uint8_t>>& req, size_t total_frames,
                     std::string& status_code);
  void Observe(const AuthDecision& d) {
    if (!options->observer) return;
    try {
      options->observer(d);
    } catch (...) {
      // An observer failure must not take the ZAP handler down.
    }
  }
};

AuthDecision Authenticator::Impl::Judge(const std::vector<std::vector<uint8_t>>& req, size_t total_frames,
                                        std::string& status_code) {
  AuthDecision d;
  status_code = "400";
  auto deny = [&](std::atomic<uint64_t>& counter, std::string reason) {
    ++counter;
    ++denied;
    d.reason = std::move(reason);
    return d;
  };
  if (req.size() < 6 || total_frames > kMaxZapFrames) {
    return deny(denied_malformed, "malformed ZAP request");
  }
  if (FrameText(req[0]) != "1.0") return deny(denied_malformed, "ZAP version is not 1.0");
  d.address = FrameText(req[3]);
  d.mechanism = FrameText(req[5]);
  if (FrameText(req[2]) != options->domain) {
    return deny(denied_domain, "ZAP domain '" + FrameText(req[2]) + "' is not '" + options->domain + "'");
  }
  if (d.mechanism != "CURVE") {
    return deny(denied_mechanism, "mechanism " + d.mechanism + " is not admitted (CURVE only)");
  }
  if (req.size() != 7 || req[6].size() != crypto::kX25519KeySize) {
    return deny(denied_malformed, "CURVE credentials are not one 32-byte key");
  }
  crypto::X25519PublicKey key{};
  std::copy(req[6].begin(), req[6].end(), key.begin());
  d.curve_key = Z85EncodePublicKey(key);
  std::optional<std::string> node;
  try {
    node = lookup(key);
  } catch (...) {
    status_code = "500";
    return deny(denied_lookup_error, "directory lookup failed");
  }
  if (!node || node->empty() || node->size() > 255) {
    return deny(denied_unknown_key, "CURVE key is not an active node's transport key");
  }
  ++admitted;
  status_code = "200";
  d.admitted = true;
  d.node_id = std::move(*node);
  return d;
}

void Authenticator::Impl::Run(zmq::socket_t zap, zmq::socket_t stop) {
  zmq_pollitem_t items[2] = {{zap.handle(), 0, ZMQ_POLLIN, 0}, {stop.handle(), 0, ZMQ_POLLIN, 0}};
  for (;;) {
    if (zmq_poll(items, 2, -1) < 0) {
      if (zmq_errno() == EINTR) continue;
      break;  // ETERM: the context is going away
    }
    if (items[1].revents & ZMQ_POLLIN) break;
    if (!(items[0].revents & ZMQ_POLLIN)) continue;

    std::vector<std::vector<uint8_t>> req;
    auto total = internal::ReceiveRest(zap, true, kMaxZapFrames, req);
    if (!total.ok()) continue;
    std::string status_code;
    AuthDecision d = Judge(req, *total, status_code);
    // Observe before replying, so a decision is recorded (logged) before the
    // client can learn of it.
    Observe(d);

    // Reply: version, request id, status code, status text, user id, metadata.
    std::string request_id = req.size() > 1 ? FrameText(req[1]) : std::string();
    std::string status_text = d.admitted ? "OK" : d.reason;
    const std::string* parts[] = {nullptr, &request_id, &status_code, &status_text, &d.node_id};
    static const std::string kVersion = "1.0";
    parts[0] = &kVersion;
    bool ok = true;
    for (const std::string* p : parts) {
      ok = ok && zmq_send(zap.handle(), p->data(), p->size(), ZMQ_SNDMORE) >= 0;
    }
    ok = ok && zmq_send(zap.handle(), "", 0, 0) >= 0;  // metadata: none
    (void)ok;  // a failed reply leaves the handshake to time out (refused)
  }
  // Unbinding inproc is synchronous (closing is not): a restart can bind again
  // at once.
  zmq_unbind(zap.handle(), kZapEndpoint);
  zap.close();
  stop.close();
}

Authenticator::Authenticator(std::shared_ptr<Context> context, Lookup lookup, Options options)
    : context_(std::move(context)), options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  MLAHUB_CHECK(context_ != nullptr);
  impl_->lookup = std::move(lookup);
  impl_->options = &options_;
  impl_->ctx = &context_->impl();
}

Authenticator::~Authenticator() {
  MLAHUB_CHECK_MSG(impl_->guards.load() == 0, "Authenticator destroyed while a Server uses it");
  Stop().IgnoreError();
}

Status Authenticator::Start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->running) return Status::Ok();
  if (!impl_->lookup) return Status::InvalidArgument("ZAP authenticator: no lookup function");
  try {
    zmq::socket_t zap(impl_->ctx->ctx, zmq::socket_type::rep);
    zap.set(zmq::sockopt::linger, 0);
    if (zmq_bind(zap.handle(), kZapEndpoint) != 0) {
      int err = zmq_errno();
      if (err == EADDRINUSE) {
        return Status::AlreadyExists("ZAP authenticator: another handler is bound in this context");
      }
      return internal::ZmqError("ZAP authenticator: bind " + std::string(kZapEndpoint), err);
    }
    std::string stop_addr = impl_->ctx->UniqueInproc("zap-stop");
    zmq::socket_t stop(impl_->ctx->ctx, zmq::socket_type::pair);
    stop.set(zmq::sockopt::linger, 0);
    stop.bind(stop_addr);
    auto control = std::make_unique<zmq::socket_t>(impl_->ctx->ctx, zmq::socket_type::pair);
    control->set(zmq::sockopt::linger, 0);
    control->connect(stop_addr);
    // Both sockets move to the thread (thread start is a full barrier).
    impl_->thread = std::thread([impl = impl_.get(), z = std::move(zap), s = std::move(stop)]() mutable {
      impl->Run(std::move(z), std::move(s));
    });
    impl_->control = std::move(control);
    impl_->running = true;
    return Status::Ok();
  } catch (const zmq::error_t& e) {
    return internal::ZmqError("ZAP authenticator: start", e.num());
  } catch (const std::system_error& e) {
    return Status::Internal(std::string("ZAP authenticator: cannot start thread: ") + e.what());
  }
}

Status Authenticator::Stop() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->running) return Status::Ok();
  if (int n = impl_->guards.load(); n > 0) {
    return Status::InvalidArgument("ZAP authenticator: " + std::to_string(n) +
                                   " server socket(s) still rely on it; close them first (without a "
                                   "ZAP handler libzmq would admit every CURVE client)");
  }
  // The pipe is inproc and empty: this send does not block.
  zmq_send(impl_->control->handle(), "", 0, 0);
  impl_->thread.join();
  impl_->control->close();
  impl_->control.reset();
  impl_->running = false;
  return Status::Ok();
}

bool Authenticator::running() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->running;
}

AuthStats Authenticator::stats() const {
  AuthStats s;
  s.admitted = impl_->admitted.load();
  s.denied = impl_->denied.load();
  s.denied_unknown_key = impl_->denied_unknown_key.load();
  s.denied_mechanism = impl_->denied_mechanism.load();
  s.denied_domain = impl_->denied_domain.load();
  s.denied_malformed = impl_->denied_malformed.load();
  s.denied_lookup_error = impl_->denied_lookup_error.load();
  return s;
}

Result<std::unique_ptr<Authenticator::Guard>> Authenticator::Attach() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->running) {
    return Status::InvalidArgument(
        "ZAP authenticator is not running: start it before binding a server (fail closed)");
  }
  ++impl_->guards;
  return std::make_unique<Guard>(impl_.get());
}

Authenticator::Guard::~Guard() { --impl_->guards; }

}  // namespace mlahub::transport
