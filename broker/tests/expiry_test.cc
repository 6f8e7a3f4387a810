// Expiry of queued envelopes (broker/README.md "Expiry"), with the Broker
// in-process on a fake clock and real CURVE clients: an envelope for an
// offline agent that expires is never delivered, leaves the queue durably
// with a StatusChange(Expired) entry, and its sender is told; a receipt for
// an envelope delivered before it expired is still recorded.
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "mlahub/broker/broker.h"
#include "mlahub/config/config.h"
#include "mlahub/core/clock.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/ops/metrics.h"
#include "mlahub/storage/ledger.h"
#include "mlahub/storage/ledger_entry.h"
#include "test_network.h"

namespace mlahub::broker::testing {
namespace {

bool ExpiryWaitUntil(const std::function<bool()>& cond) {
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

std::string IdOf(const Bytes& env) {
  auto p = envelope::Parse(env, 64u << 20);
  EXPECT_TRUE(p.ok());
  return p.ok() ? std::string(p->message_id()) : std::string();
}

struct ExpiryBroker {
  ops::Registry registry;
  std::unique_ptr<Broker> broker;
  ExpiryBroker(const config::BrokerConfig& cfg, const Clock* clock) {
    BrokerOptions o;
    o.clock = clock;
    o.registry = &registry;
    auto b = Broker::Create(cfg, o);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    if (b.ok()) {
      broker = std::move(*b);
      EXPECT_TRUE(broker->Start().ok());
    }
  }
  uint64_t Counter(const std::string& name) { return registry.counter(name, "").value(); }
  double Depth(const std::string& node) {
    return registry.gauge("mlahub_broker_queue_depth", "", {{"agent", node}}).value();
  }
};

// The ledger events (event, state) recorded for a message id.
std::vector<std::pair<wire::LedgerEvent, wire::MessageState>> LedgerEventsOf(
    const std::string& data_dir, const std::string& id, std::vector<wire::MessageKind>* kinds = nullptr) {
  std::vector<std::pair<wire::LedgerEvent, wire::MessageState>> out;
  auto l = storage::Ledger::OpenReadOnly(data_dir + "/ledger");
  EXPECT_TRUE(l.ok()) << l.status().ToString();
  if (!l.ok()) return out;
  auto idx = (*l)->FindByIndexKey(id);
  EXPECT_TRUE(idx.ok());
  for (uint64_t i : *idx) {
    auto bytes = (*l)->Entry(i);
    EXPECT_TRUE(bytes.ok());
    auto e = storage::DecodeLedgerEntry(*bytes);
    EXPECT_TRUE(e.ok());
    if (e.ok()) out.emplace_back((*e)->event(), (*e)->state());
    if (e.ok() && kinds != nullptr) kinds->push_back((*e)->kind());
  }
  return out;
}

TEST(BrokerExpiryTest, QueuedEnvelopeExpiresUndeliveredAcrossARestart) {
  TestNetwork net({"IT-MOJ", "NG-AGF"});
  const UnixMillis t0 = SystemClock::Instance().NowMillis();
  FakeClock clock(t0);
  // Short and long validity, for NG-AGF, which stays offline.
  Bytes short_env = net.Seal("IT-MOJ", net.keys("NG-AGF").Public(), wire::MessageKind::MlaRequest,
                             t0 - 1000, t0 + 60'000);
  Bytes long_env = net.Seal("IT-MOJ", net.keys("NG-AGF").Public(), wire::MessageKind::MlaRequest,
                            t0 - 1000, t0 + 86'400'000);
  const std::string short_id = IdOf(short_env), long_id = IdOf(long_env);
  auto ctx = *transport::Context::Create(1);
  {
    ExpiryBroker b(net.config(), &clock);
    ASSERT_NE(b.broker, nullptr);
    TestAgent it(ctx, net, "IT-MOJ");
    ASSERT_OK(it.Connect());
    auto r1 = it.SubmitAndWait(short_env, 1);
    ASSERT_TRUE(r1.has_value() && r1->accepted) << (r1 ? r1->message : "no answer");
    auto r2 = it.SubmitAndWait(long_env, 2);
    ASSERT_TRUE(r2.has_value() && r2->accepted) << (r2 ? r2->message : "no answer");
    EXPECT_TRUE(ExpiryWaitUntil([&] { return b.Depth("NG-AGF") == 2; })) << b.Depth("NG-AGF");
    ASSERT_OK(b.broker->Stop());
  }
  // Restarted: the expiry index is durable; the clock passes the short one's
  // expiry while its recipient is still offline.
  ExpiryBroker b(net.config(), &clock);
  ASSERT_NE(b.broker, nullptr);
  TestAgent it(ctx, net, "IT-MOJ");
  ASSERT_OK(it.Connect());
  ASSERT_TRUE(ExpiryWaitUntil([&] { return b.Depth("NG-AGF") == 2; })) << b.Depth("NG-AGF");
  clock.Advance(120'000);
  auto notice = it.WaitFor<transport::Notice>(kWait, [&](const transport::Notice& n) {
    return n.message_id == short_id && n.event.event == transport::EventKind::kStatusChange;
  });
  ASSERT_TRUE(notice.has_value()) << "the sender was not told";
  EXPECT_EQ(notice->event.state, static_cast<uint8_t>(wire::MessageState::Expired));
  EXPECT_EQ(b.Counter("mlahub_broker_expired_total"), 1u);
  EXPECT_TRUE(ExpiryWaitUntil([&] { return b.Depth("NG-AGF") == 1; })) << b.Depth("NG-AGF");

  // The sender's StatusRequest shows it.
  ASSERT_OK(it.Send(transport::StatusRequest{7, short_id}));
  auto status = it.WaitFor<transport::StatusResponse>(
      kWait, [](const transport::StatusResponse& s) { return s.correlation == 7; });
  ASSERT_TRUE(status.has_value());
  ASSERT_EQ(status->error, Code::kOk) << status->message;
  ASSERT_EQ(status->events.size(), 2u);
  EXPECT_EQ(status->events[0].event, transport::EventKind::kAccepted);
  EXPECT_EQ(status->events[1].event, transport::EventKind::kStatusChange);
  EXPECT_EQ(status->events[1].state, static_cast<uint8_t>(wire::MessageState::Expired));
  EXPECT_EQ(status->events[1].ledger_index, notice->event.ledger_index);

  // The recipient comes back: only the long one is delivered (delivery is
  // in sequence order, so seq 1 would come first).
  TestAgent ng(ctx, net, "NG-AGF");
  ASSERT_OK(ng.Connect());
  auto d = ng.WaitFor<transport::Deliver>();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->delivery_seq, 2u);
  EXPECT_EQ(IdOf(d->envelope), long_id);
  // The recipient learns that 1 is settled (it will never come), so its
  // gap at 1 is final.
  EXPECT_EQ(d->settled_below, 2u);
  ASSERT_OK(ng.Receipt(*d, 3));
  auto rr = ng.WaitFor<transport::ReceiptResult>();
  ASSERT_TRUE(rr.has_value() && rr->accepted) << (rr ? rr->message : "no answer");
  EXPECT_TRUE(ExpiryWaitUntil([&] { return b.Depth("NG-AGF") == 0; })) << b.Depth("NG-AGF");
  for (const auto& c : ng.backlog()) {
    if (auto* dd = std::get_if<transport::Deliver>(&c)) {
      EXPECT_NE(IdOf(dd->envelope), short_id);
    }
  }
  ASSERT_OK(b.broker->Stop());

  // The ledger: Accepted then StatusChange(Expired), nothing else.
  auto events = LedgerEventsOf(net.data_dir(), short_id);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].first, wire::LedgerEvent::Accepted);
  EXPECT_EQ(events[1].first, wire::LedgerEvent::StatusChange);
  EXPECT_EQ(events[1].second, wire::MessageState::Expired);

  // A resubmission of the expired id gets its first answer (accepted).
  ExpiryBroker again(net.config(), &clock);
  ASSERT_NE(again.broker, nullptr);
  TestAgent it2(ctx, net, "IT-MOJ");
  ASSERT_OK(it2.Connect());
  auto dup = it2.SubmitAndWait(short_env, 9);
  ASSERT_TRUE(dup.has_value());
  EXPECT_TRUE(dup->accepted && dup->duplicate) << dup->message;
  ASSERT_OK(again.broker->Stop());
}

TEST(BrokerExpiryTest, ReceiptOfADeliveryMadeBeforeTheExpiryIsStillRecorded) {
  TestNetwork net({"IT-MOJ", "NG-AGF"});
  const UnixMillis t0 = SystemClock::Instance().NowMillis();
  FakeClock clock(t0);
  ExpiryBroker b(net.config(), &clock);
  ASSERT_NE(b.broker, nullptr);
  auto ctx = *transport::Context::Create(1);
  TestAgent it(ctx, net, "IT-MOJ");
  TestAgent ng(ctx, net, "NG-AGF");
  ASSERT_OK(it.Connect());
  ASSERT_OK(ng.Connect());
  Bytes env = net.Seal("IT-MOJ", net.keys("NG-AGF").Public(), wire::MessageKind::MlaRequest,
                       t0 - 1000, t0 + 60'000);
  const std::string id = IdOf(env);
  auto r = it.SubmitAndWait(env, 1);
  ASSERT_TRUE(r.has_value() && r->accepted) << (r ? r->message : "no answer");
  auto d = ng.WaitFor<transport::Deliver>();
  ASSERT_TRUE(d.has_value());
  // The agent holds it but its receipt is late: the envelope expires first.
  clock.Advance(120'000);
  auto expired = it.WaitFor<transport::Notice>(kWait, [&](const transport::Notice& n) {
    return n.message_id == id && n.event.event == transport::EventKind::kStatusChange;
  });
  ASSERT_TRUE(expired.has_value());
  EXPECT_TRUE(ExpiryWaitUntil([&] { return b.Depth("NG-AGF") == 0; })) << b.Depth("NG-AGF");
  // The receipt is the truth: recorded, answered, forwarded to the sender.
  ASSERT_OK(ng.Receipt(*d, 2));
  auto rr = ng.WaitFor<transport::ReceiptResult>();
  ASSERT_TRUE(rr.has_value());
  EXPECT_TRUE(rr->accepted) << rr->message;
  EXPECT_FALSE(rr->duplicate);
  auto receipted = it.WaitFor<transport::Notice>(kWait, [&](const transport::Notice& n) {
    return n.message_id == id && n.event.event == transport::EventKind::kReceipt;
  });
  ASSERT_TRUE(receipted.has_value());
  EXPECT_FALSE(receipted->receipt.empty());
  // Its repeat is a duplicate of it; the queue count is not touched twice.
  ASSERT_OK(ng.Receipt(*d, 3));
  auto again = ng.WaitFor<transport::ReceiptResult>(
      kWait, [](const transport::ReceiptResult& x) { return x.correlation == 3; });
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->accepted && again->duplicate) << again->message;
  EXPECT_EQ(b.Counter("mlahub_broker_receipts_total"), 1u);
  EXPECT_EQ(b.Counter("mlahub_broker_expired_total"), 1u);
  ASSERT_OK(b.broker->Stop());

  std::vector<wire::MessageKind> kinds;
  auto events = LedgerEventsOf(net.data_dir(), id, &kinds);
  ASSERT_GE(events.size(), 4u);
  // Every entry of the message names its kind, the late Receipt included.
  for (size_t i = 0; i < kinds.size(); ++i)
    EXPECT_EQ(kinds[i], wire::MessageKind::MlaRequest) << "entry " << i << " of " << kinds.size();
  EXPECT_EQ(events.front().first, wire::LedgerEvent::Accepted);
  EXPECT_EQ(events[events.size() - 2].first, wire::LedgerEvent::StatusChange);
  EXPECT_EQ(events[events.size() - 2].second, wire::MessageState::Expired);
  EXPECT_EQ(events.back().first, wire::LedgerEvent::Receipt);
  EXPECT_EQ(events.back().second, wire::MessageState::Receipted);
  // The depth stays 0 after a restart (c/ counted the expiry once).
  ExpiryBroker restarted(net.config(), &clock);
  ASSERT_NE(restarted.broker, nullptr);
  EXPECT_EQ(restarted.Depth("NG-AGF"), 0);
  ASSERT_OK(restarted.broker->Stop());
}

}  // namespace
}  // namespace mlahub::broker::testing
