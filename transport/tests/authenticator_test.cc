// The ZAP handler on its own: lifecycle, fail-closed binding, and the
// mechanisms it refuses (NULL and PLAIN, tested with raw libzmq sockets in
// the same context, since the transport's own sockets only speak CURVE).
#include "mlahub/transport/authenticator.h"

#include <gtest/gtest.h>

#include <zmq.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "mlahub/transport/server.h"
#include "transport_test_util.h"

namespace mlahub::transport {
namespace {

using namespace std::chrono_literals;
using testing::FakeDirectory;

std::shared_ptr<Context> NewContext() {
  auto ctx = Context::Create();
  MLAHUB_CHECK(ctx.ok());
  return *ctx;
}

TEST(AuthenticatorTest, StartStopAreIdempotentAndRestartable) {
  auto ctx = NewContext();
  FakeDirectory dir;
  Authenticator auth(ctx, dir.AsLookup());
  EXPECT_FALSE(auth.running());
  ASSERT_OK(auth.Start());
  ASSERT_OK(auth.Start());
  EXPECT_TRUE(auth.running());
  ASSERT_OK(auth.Stop());
  ASSERT_OK(auth.Stop());
  EXPECT_FALSE(auth.running());
  ASSERT_OK(auth.Start());  // the ZAP endpoint was released
  EXPECT_TRUE(auth.running());
}

TEST(AuthenticatorTest, OnlyOneHandlerPerContext) {
  auto ctx = NewContext();
  FakeDirectory dir;
  Authenticator a(ctx, dir.AsLookup());
  Authenticator b(ctx, dir.AsLookup());
  ASSERT_OK(a.Start());
  EXPECT_EQ(b.Start().code(), Code::kAlreadyExists);
  // Another context has its own ZAP endpoint.
  Authenticator c(NewContext(), dir.AsLookup());
  EXPECT_OK(c.Start());
}

TEST(AuthenticatorTest, ConcurrentStartStopIsSafe) {
  auto ctx = NewContext();
  FakeDirectory dir;
  Authenticator auth(ctx, dir.AsLookup());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        EXPECT_OK(auth.Start());
        EXPECT_OK(auth.Stop());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(auth.running());
}

TEST(AuthenticatorTest, ServerRefusesToBindWithoutARunningHandler) {
  auto ctx = NewContext();
  FakeDirectory dir;
  auto auth = std::make_shared<Authenticator>(ctx, dir.AsLookup());
  auto hub = crypto::X25519KeyPair::Generate();
  auto s = Server::Bind(ctx, auth, hub);
  EXPECT_EQ(s.status().code(), Code::kInvalidArgument) << s.status().ToString();

  // Nor with a handler that guards another context.
  auto other = std::make_shared<Authenticator>(NewContext(), dir.AsLookup());
  ASSERT_OK(other->Start());
  EXPECT_EQ(Server::Bind(ctx, other, hub).status().code(), Code::kInvalidArgument);
}

TEST(AuthenticatorTest, StopIsRefusedWhileAServerDependsOnIt) {
  auto ctx = NewContext();
  FakeDirectory dir;
  auto auth = std::make_shared<Authenticator>(ctx, dir.AsLookup());
  ASSERT_OK(auth->Start());
  auto hub = crypto::X25519KeyPair::Generate();
  auto server = Server::Bind(ctx, auth, hub);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ(auth->Stop().code(), Code::kInvalidArgument);
  EXPECT_TRUE(auth->running());
  server->reset();
  EXPECT_OK(auth->Stop());
}

// Raw libzmq sockets in the authenticator's context: a server with the
// mechanism under test and the ZAP domain set, and a client whose socket
// monitor reports the handshake outcome.
class RawMechanismTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx_ = NewContext();
    auth_ = std::make_unique<Authenticator>(ctx_, dir_.AsLookup(), Authenticator::Options{
                                                                       kDefaultZapDomain,
                                                                       [this](const AuthDecision& d) {
                                                                         if (!d.admitted) ++observed_denials_;
                                                                       }});
    ASSERT_OK(auth_->Start());
  }
  void TearDown() override {
    for (void* s : sockets_) zmq_close(s);
  }
  void* Socket(int type) {
    void* s = zmq_socket(ctx_->native_handle(), type);
    MLAHUB_CHECK(s != nullptr);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    sockets_.push_back(s);
    return s;
  }
  // Returns the client's first handshake event id; *value gets its value.
  uint16_t Handshake(void* server, void* client, uint32_t* value) {
    zmq_setsockopt(server, ZMQ_ZAP_DOMAIN, kDefaultZapDomain, std::strlen(kDefaultZapDomain));
    MLAHUB_CHECK(zmq_bind(server, "tcp://127.0.0.1:*") == 0);
    char ep[256];
    size_t len = sizeof ep;
    zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, ep, &len);
    std::string mon = "inproc://raw-mon-" + std::to_string(sockets_.size());
    zmq_socket_monitor(client, mon.c_str(), ZMQ_EVENT_ALL);
    void* m = Socket(ZMQ_PAIR);
    zmq_connect(m, mon.c_str());
    MLAHUB_CHECK(zmq_connect(client, ep) == 0);
    zmq_pollitem_t item{m, 0, ZMQ_POLLIN, 0};
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      zmq_poll(&item, 1, 100);
      if (!(item.revents & ZMQ_POLLIN)) continue;
      zmq_msg_t head, addr;
      zmq_msg_init(&head);
      zmq_msg_init(&addr);
      zmq_msg_recv(&head, m, 0);
      zmq_msg_recv(&addr, m, 0);
      uint16_t id;
      std::memcpy(&id, zmq_msg_data(&head), 2);
      std::memcpy(value, static_cast<const uint8_t*>(zmq_msg_data(&head)) + 2, 4);
      zmq_msg_close(&head);
      zmq_msg_close(&addr);
      if (id & (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)) {
        zmq_socket_monitor(client, nullptr, 0);
        return id;
      }
    }
    return 0;
  }

  std::shared_ptr<Context> ctx_;
  FakeDirectory dir_;
  std::unique_ptr<Authenticator> auth_;
  std::atomic<int> observed_denials_{0};
  std::vector<void*> sockets_;
};

TEST_F(RawMechanismTest, NullMechanismIsDenied) {
  void* server = Socket(ZMQ_ROUTER);  // NULL mechanism with a ZAP domain
  void* client = Socket(ZMQ_DEALER);
  uint32_t value = 0;
  EXPECT_EQ(Handshake(server, client, &value), ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  EXPECT_EQ(value, 400u);
  EXPECT_GE(auth_->stats().denied_mechanism, 1u);
  EXPECT_EQ(auth_->stats().admitted, 0u);
}

TEST_F(RawMechanismTest, PlainMechanismIsDenied) {
  void* server = Socket(ZMQ_ROUTER);
  int one = 1;
  zmq_setsockopt(server, ZMQ_PLAIN_SERVER, &one, sizeof one);
  void* client = Socket(ZMQ_DEALER);
  zmq_setsockopt(client, ZMQ_PLAIN_USERNAME, "IT-MOJ", 6);
  zmq_setsockopt(client, ZMQ_PLAIN_PASSWORD, "password", 8);
  uint32_t value = 0;
  EXPECT_EQ(Handshake(server, client, &value), ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  EXPECT_EQ(value, 400u);
  EXPECT_GE(auth_->stats().denied_mechanism, 1u);
  // The observer runs on the handler's thread and may be called just after
  // the client has seen the refusal: wait for it (bounded), never sleep blind.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (observed_denials_.load() < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  EXPECT_GE(observed_denials_.load(), 1);
}

TEST_F(RawMechanismTest, OtherZapDomainIsDenied) {
  void* server = Socket(ZMQ_ROUTER);
  int one = 1;
  zmq_setsockopt(server, ZMQ_CURVE_SERVER, &one, sizeof one);
  auto hub = crypto::X25519KeyPair::Generate();
  zmq_setsockopt(server, ZMQ_CURVE_SECRETKEY, hub.secret().data(), 32);
  auto node = crypto::X25519KeyPair::Generate();
  dir_.Admit(node.public_key(), "IT-MOJ");
  void* client = Socket(ZMQ_DEALER);
  zmq_setsockopt(client, ZMQ_CURVE_SERVERKEY, hub.public_key().data(), 32);
  zmq_setsockopt(client, ZMQ_CURVE_PUBLICKEY, node.public_key().data(), 32);
  zmq_setsockopt(client, ZMQ_CURVE_SECRETKEY, node.secret().data(), 32);
  zmq_setsockopt(server, ZMQ_ZAP_DOMAIN, "other", 5);
  MLAHUB_CHECK(zmq_bind(server, "tcp://127.0.0.1:*") == 0);
  char ep[256];
  size_t len = sizeof ep;
  zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, ep, &len);
  zmq_connect(client, ep);
  testing::Eventually([&] { return auth_->stats().denied_domain >= 1; },
                      [&] { zmq_pollitem_t i{client, 0, ZMQ_POLLIN, 0}; zmq_poll(&i, 1, 20); });
  EXPECT_GE(auth_->stats().denied_domain, 1u);
  EXPECT_EQ(auth_->stats().admitted, 0u);
}

}  // namespace
}  // namespace mlahub::transport
