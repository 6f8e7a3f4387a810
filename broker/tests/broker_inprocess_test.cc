// The Broker class in-process (the hook benchmarks use): Create, Start,
// serve real CURVE clients, Stop; and clean failures of Create.
#include <gtest/gtest.h>

#include <thread>

#include "mlahub/broker/broker.h"
#include "mlahub/config/config.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/ops/metrics.h"
#include "test_network.h"

namespace mlahub::broker::testing {
namespace {

TEST(BrokerInProcessTest, StartServeStop) {
  TestNetwork net({"IT-MOJ", "NG-AGF"});
  // The config as a file, as the daemon reads it.
  auto cfg = config::LoadBrokerConfig(net.config_path());
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  ops::Registry registry;
  BrokerOptions options;
  options.registry = &registry;
  auto b = Broker::Create(*cfg, options);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_OK((*b)->Start());
  BrokerInfo info = (*b)->info();
  EXPECT_EQ(info.endpoint, net.endpoint());
  EXPECT_EQ(info.directory_version, 1u);
  EXPECT_EQ(info.ledger_size, 1u);  // DirectoryPublished
  EXPECT_FALSE(info.metrics.empty());

  auto ctx = *transport::Context::Create(1);
  TestAgent it(ctx, net, "IT-MOJ");
  TestAgent ng(ctx, net, "NG-AGF");
  ASSERT_OK(it.Connect());
  ASSERT_OK(ng.Connect());
  Bytes env = net.Seal("IT-MOJ", "NG-AGF");
  auto r = it.SubmitAndWait(env, 1);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->accepted) << r->message;
  auto d = ng.WaitFor<transport::Deliver>();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->envelope, env);
  ASSERT_OK(ng.Receipt(*d, 2));
  auto rr = ng.WaitFor<transport::ReceiptResult>();
  ASSERT_TRUE(rr.has_value());
  EXPECT_TRUE(rr->accepted) << rr->message;
  EXPECT_EQ(registry.counter("mlahub_broker_accepted_total", "").value(), 1u);
  EXPECT_EQ(registry.counter("mlahub_broker_receipts_total", "").value(), 1u);
  ASSERT_OK((*b)->Stop());
  EXPECT_TRUE((*b)->stopped());
}

TEST(BrokerInProcessTest, NodeRefusedTooOftenIsRateLimitedThenServedAgain) {
  TestNetwork net({"IT-MOJ", "NG-AGF"}, {}, [](config::BrokerConfig& c) {
    c.refusals_per_second = 2;
    c.refusal_backoff_ms = 1500;
  });
  ops::Registry registry;
  BrokerOptions options;
  options.registry = &registry;
  auto b = Broker::Create(net.config(), options);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_OK((*b)->Start());
  auto ctx = *transport::Context::Create(1);
  TestAgent it(ctx, net, "IT-MOJ");
  ASSERT_OK(it.Connect());
  // Expired envelopes, refused (and ledgered) one after another, until the
  // broker refuses at once with "rate limited".
  const UnixMillis now = SystemClock::Instance().NowMillis();
  std::optional<transport::SubmitResult> limited;
  uint64_t correlation = 0;
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!limited && std::chrono::steady_clock::now() < deadline) {
    Bytes stale = net.Seal("IT-MOJ", net.keys("NG-AGF").Public(), wire::MessageKind::MlaRequest,
                           now - 7'200'000, now - 3'600'000);
    auto r = it.SubmitAndWait(stale, ++correlation);
    ASSERT_TRUE(r.has_value());
    ASSERT_FALSE(r->accepted);
    if (r->error == Code::kUnavailable) {
      limited = r;
    } else {
      EXPECT_EQ(r->error, Code::kExpired) << r->message;
    }
  }
  ASSERT_TRUE(limited.has_value());
  EXPECT_NE(limited->message.find("rate limited"), std::string::npos) << limited->message;
  EXPECT_EQ(registry.counter("mlahub_broker_rate_limited_total", "").value(), 1u);
  // Limited refusals are not ledgered; once the backoff has passed a good
  // envelope is accepted (the agent resends an unavailable one).
  Bytes good = net.Seal("IT-MOJ", "NG-AGF");
  std::optional<transport::SubmitResult> ok;
  while (std::chrono::steady_clock::now() < deadline) {
    ok = it.SubmitAndWait(good, ++correlation);
    ASSERT_TRUE(ok.has_value());
    if (ok->accepted) break;
    EXPECT_EQ(ok->error, Code::kUnavailable) << ok->message;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(ok.has_value() && ok->accepted) << (ok ? ok->message : "no answer");
  EXPECT_GE(registry.counter("mlahub_broker_rate_limited_frames_total", "").value(), 1u);
  ASSERT_OK((*b)->Stop());
}

// A node may hold several connections at once (an agent and a tool, or a
// load generator): an answer goes back on the connection its request came
// from, never on the node's other (newer) one.
TEST(BrokerInProcessTest, EachConnectionOfANodeGetsTheAnswersToItsOwnRequests) {
  TestNetwork net({"IT-MOJ", "NG-AGF"});
  auto b = Broker::Create(net.config(), BrokerOptions{});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_OK((*b)->Start());
  auto ctx = *transport::Context::Create(1);
  TestAgent first(ctx, net, "IT-MOJ");
  TestAgent second(ctx, net, "IT-MOJ");
  ASSERT_OK(first.Connect());
  ASSERT_OK(second.Connect());
  // Each round: `first` submits, then `second` does at once, so `second` is
  // the node's newest connection when the broker answers `first`.
  for (uint64_t round = 0; round < 10; ++round) {
    const uint64_t c1 = 100 + round, c2 = 200 + round;
    ASSERT_OK(first.Send(transport::Submit{c1, net.Seal("IT-MOJ", "NG-AGF")}));
    ASSERT_OK(second.Send(transport::Submit{c2, net.Seal("IT-MOJ", "NG-AGF")}));
    auto r1 = first.WaitFor<transport::SubmitResult>();
    ASSERT_TRUE(r1.has_value()) << "round " << round << ": no answer on the first connection";
    EXPECT_EQ(r1->correlation, c1);
    EXPECT_TRUE(r1->accepted) << r1->message;
    auto r2 = second.WaitFor<transport::SubmitResult>();
    ASSERT_TRUE(r2.has_value()) << "round " << round << ": no answer on the second connection";
    EXPECT_EQ(r2->correlation, c2);
    EXPECT_TRUE(r2->accepted) << r2->message;
  }
  // Answers read on a worker too (StatusRequest).
  ASSERT_OK(first.Send(transport::StatusRequest{7, "no-such-id"}));
  ASSERT_OK(second.Send(transport::Ping{1, 0}));
  auto st = first.WaitFor<transport::StatusResponse>();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->correlation, 7u);
  // Nothing meant for one connection reached the other.
  for (TestAgent* a : {&first, &second}) {
    for (const auto& c : a->backlog()) {
      EXPECT_FALSE(std::holds_alternative<transport::SubmitResult>(c) ||
                   std::holds_alternative<transport::StatusResponse>(c))
          << "an answer on the wrong connection";
    }
  }
  ASSERT_OK((*b)->Stop());
}

TEST(BrokerInProcessTest, CreateFailsCleanlyWithAMessageNamingTheSetting) {
  TestNetwork net({"IT-MOJ"});
  config::BrokerConfig c = net.config();
  c.directory.root_key = c.keys;  // the hub's key did not sign the directory
  auto b = Broker::Create(c);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kBadSignature);
  EXPECT_NE(b.status().message().find("directory.file"), std::string::npos)
      << b.status().ToString();

  c = net.config();
  c.keys = net.dir() + "/nodes/IT-MOJ/keys";  // another node's keys
  b = Broker::Create(c);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("broker.keys"), std::string::npos) << b.status().ToString();

  // The port is free again after a failed Create: a good one binds it.
  auto good = Broker::Create(net.config());
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  ASSERT_OK((*good)->Stop());
}

}  // namespace
}  // namespace mlahub::broker::testing
