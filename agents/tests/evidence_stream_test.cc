// Evidence streams end to end through the real mlahub-broker process, with
// the agent-side ChunkShipper and ChunkReceiver over real CURVE clients:
// a file of a few MiB is spooled (encrypted) at the sender, shipped, relayed
// and assembled at the receiver, which is dropped mid-transfer (its objects
// and connection go away without a flush, as after a crash) and reopened from
// disk; the transfer completes and the fetched file is the source, byte for
// byte (Fetch also checks the manifest's SHA-256). Waits are for conditions
// with a generous bound; nothing asserts on timing.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "../../broker/tests/test_network.h"
#include "evidence_stream.h"
#include "mlahub/crypto/random.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/evidence/store.h"

namespace mlahub::agents {
namespace {

using broker::testing::BrokerProcess;
using broker::testing::TestAgent;
using broker::testing::TestNetwork;
using namespace std::chrono_literals;

evidence::AtRestKey Key(uint8_t fill) {
  evidence::AtRestKey k;
  std::memset(k.data(), fill, k.size());
  return k;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Hands every command waiting at `a` to `handle` (at most `wait` for the first).
void Drain(TestAgent& a, const std::function<void(const transport::Command&)>& handle,
           std::chrono::milliseconds wait) {
  auto c = a.WaitFor([](const transport::Command&) { return true; }, wait);
  while (c) {
    handle(*c);
    c = a.WaitFor([](const transport::Command&) { return true; }, 2ms);
  }
}

// Writes `bytes` random bytes to `src` and spools them in `store` in 64 KiB
// chunks (CreateSpool, then Run to seal).
Result<std::unique_ptr<evidence::Spool>> SpoolRandomFile(evidence::EvidenceStore& store, const std::string& src,
                                                         size_t bytes) {
  {
    Bytes data = crypto::RandomBytes(bytes);
    std::ofstream(src, std::ios::binary).write(reinterpret_cast<const char*>(data.data()), data.size());
  }
  evidence::SpoolOptions so;
  so.chunk_size = 64 * 1024;
  MLAHUB_ASSIGN_OR_RETURN(auto spool, store.CreateSpool(src, so));
  MLAHUB_RETURN_IF_ERROR(spool->Run());
  return spool;
}

TEST(EvidenceStreamTest, AFewMiBThroughTheBrokerSurviveAReceiverRestart) {
  auto ctx = transport::Context::Create(1);
  ASSERT_TRUE(ctx.ok());
  TestNetwork net({"IT-MOJ", "NG-AGF"});
  BrokerProcess broker(net.config_path(), net.data_dir(), net.dir() + "/hub/broker.log");
  ASSERT_TRUE(broker.Start());

  // The source: 3 MiB + 1000 random bytes, 64 KiB chunks = 49 chunks.
  const std::string src = net.dir() + "/video.bin";
  auto out_store = evidence::EvidenceStore::Open(net.dir() + "/it-data", Key(1));
  ASSERT_TRUE(out_store.ok()) << out_store.status().ToString();
  auto spool = SpoolRandomFile(**out_store, src, (3u << 20) + 1000);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  const std::string tid = (*spool)->transfer_id();
  const uint64_t count = (*spool)->chunk_count();
  ASSERT_EQ(count, 49u);
  auto spec = (*spool)->Spec();  // travels in the sealed body in real use
  ASSERT_TRUE(spec.ok());
  spool->reset();

  TestAgent it(*ctx, net, "IT-MOJ");
  ASSERT_TRUE(it.Connect().ok());
  bool delivered = false;  // the broker said complete: the shipper forgets the transfer
  ChunkShipper shipper(
      out_store->get(), [&](const transport::Command& c) { return it.Send(c).ok(); }, 8,
      [&](const std::string& t) { delivered = delivered || t == tid; });
  // The envelope carrying the manifest goes first: the broker takes no
  // chunk of a transfer whose envelope it has not accepted.
  Bytes env = net.Seal("IT-MOJ", "NG-AGF");
  auto accepted = it.SubmitAndWait(env, 1);
  ASSERT_TRUE(accepted.has_value() && accepted->accepted);
  auto parsed = envelope::Parse(env, 1 << 20);
  ASSERT_TRUE(parsed.ok());
  ASSERT_TRUE(shipper.Add(tid, "NG-AGF", std::string(parsed->message_id())).ok());
  int seen = 0;
  auto on_sender = [&](const transport::Command& c) {
    ++seen;
    if (auto* a = std::get_if<transport::ChunkAck>(&c)) shipper.OnAck(*a);
  };

  const std::string in_dir = net.dir() + "/ng-data";
  uint64_t durable_at_crash = 0;
  {
    auto in_store = evidence::EvidenceStore::Open(in_dir, Key(2));
    ASSERT_TRUE(in_store.ok());
    auto ng = std::make_unique<TestAgent>(*ctx, net, "NG-AGF");
    ASSERT_TRUE(ng->Connect().ok());
    ChunkReceiver receiver(in_store->get(), [&](const transport::Command& c) { return ng->Send(c).ok(); });
    ASSERT_TRUE(receiver.Expect(*spec).ok());
    // (TestAgent::WaitFor needs a wait of at least 2 ms to read the socket.)
    int turn = 0;
    const auto bound = std::chrono::steady_clock::now() + 120s;
    for (; std::chrono::steady_clock::now() < bound && receiver.durable(tid) < 12; ++turn) {
      Drain(it, on_sender, 5ms);
      shipper.Pump();
      Drain(*ng, [&](const transport::Command& c) {
        // The receiver "crashes" once 12 chunks are durable: what arrives
        // after that is lost with it.
        if (auto* d = std::get_if<transport::ChunkDeliver>(&c); d && receiver.durable(tid) < 12)
          receiver.OnDeliver(*d);
      }, 5ms);
    }
    durable_at_crash = receiver.durable(tid);
    ASSERT_GE(durable_at_crash, 12u) << "broker holds " << shipper.shipped(tid) << "; "
                                     << shipper.failure(tid).ToString() << " turns " << turn << " seen " << seen;
    ASSERT_LT(durable_at_crash, count) << "the transfer should still be running";
    // The receiver goes away here; nothing is flushed on purpose beyond what
    // the assembler made durable.
  }

  // Restart: the receiver's transfer is reopened from disk at its durable
  // mark; the broker resends from there after the Hello.
  auto in_store = evidence::EvidenceStore::Open(in_dir, Key(2));
  ASSERT_TRUE(in_store.ok());
  TestAgent ng(*ctx, net, "NG-AGF");
  ASSERT_TRUE(ng.Connect().ok());
  ChunkReceiver receiver(in_store->get(), [&](const transport::Command& c) { return ng.Send(c).ok(); });
  bool first = true;
  uint64_t first_index = 0;
  const auto bound = std::chrono::steady_clock::now() + 300s;
  while (std::chrono::steady_clock::now() < bound && !receiver.complete(tid)) {
    Drain(it, on_sender, 5ms);
    shipper.Pump();
    Drain(ng, [&](const transport::Command& c) {
      if (auto* d = std::get_if<transport::ChunkDeliver>(&c)) {
        if (first) first_index = d->chunk_index, first = false;
        receiver.OnDeliver(*d);
      }
    }, 5ms);
  }
  ASSERT_TRUE(receiver.complete(tid)) << "durable " << receiver.durable(tid) << " of " << count;
  // Reported complete: the receiver has closed the transfer (its file and
  // buffer), and still answers for it from disk.
  EXPECT_EQ(receiver.open(), 0u);
  EXPECT_EQ(receiver.durable(tid), count);
  EXPECT_GE(first_index, durable_at_crash - std::min<uint64_t>(durable_at_crash, 4))
      << "resumed near the receiver's mark, not from 0";
  EXPECT_GT(first_index, 0u);
  // The receiver can be complete before the sender has read the broker's
  // last ChunkAcks (each is sent after the broker's fsync): read them.
  const auto acked_bound = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < acked_bound && !delivered) {
    Drain(it, on_sender, 5ms);
    shipper.Pump();
  }
  // The recipient's durable report makes the broker say complete.
  EXPECT_TRUE(delivered);
  EXPECT_EQ(shipper.in_progress(), 0u);

  const std::string out = net.dir() + "/out";
  std::filesystem::create_directories(out);
  Status f = (*in_store)->Fetch(tid, out);
  ASSERT_TRUE(f.ok()) << f.ToString();
  EXPECT_EQ(ReadAll(out + "/video.bin"), ReadAll(src));
  broker.Signal(SIGTERM);
  EXPECT_EQ(broker.Wait(), 0) << broker.LogTail();
}

// Without a broker: the shipper's questions when an answer is lost. A fake
// clock (Tick's argument) stands in for the half minutes.
// The receiver's answers to what the broker sends: one refusal report per
// durable mark (each makes the broker send the window again; reporting
// every out-of-order chunk behind a refused one multiplied the resends), and
// chunks accepted since the last mark made durable when the broker sends
// from that mark again (else a window smaller than sync_every never moved).
TEST(ChunkReceiverTest, OneRefusalReportPerMarkAndARepeatMakesAcceptedChunksDurable) {
  char buf[] = "/tmp/mlahub-receiver-XXXXXX";
  ASSERT_NE(::mkdtemp(buf), nullptr);
  const std::string dir = buf;
  auto sender = evidence::EvidenceStore::Open(dir + "/sender", Key(1));
  ASSERT_TRUE(sender.ok()) << sender.status().ToString();
  auto spool = SpoolRandomFile(**sender, dir + "/file.bin", 10 * 64 * 1024 - 1000);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  const std::string tid = (*spool)->transfer_id();
  ASSERT_EQ((*spool)->chunk_count(), 10u);
  auto spec = (*spool)->Spec();
  ASSERT_TRUE(spec.ok());
  std::vector<Bytes> frames;
  for (uint64_t i = 0; i < 10; ++i) {
    auto f = (*spool)->ReadChunkFrame(i);
    ASSERT_TRUE(f.ok());
    frames.push_back(*f);
  }
  auto store = evidence::EvidenceStore::Open(dir + "/receiver", Key(2));
  ASSERT_TRUE(store.ok());
  std::vector<transport::ChunkReceived> reports;
  ChunkReceiver r(
      store->get(),
      [&](const transport::Command& c) {
        if (auto* rc = std::get_if<transport::ChunkReceived>(&c)) reports.push_back(*rc);
        return true;
      },
      4);
  ASSERT_TRUE(r.Expect(*spec).ok());
  auto deliver = [&](uint64_t i, Bytes frame) { r.OnDeliver({tid, "IT-MOJ", i, std::move(frame), ""}); };
  auto refusals = [&] {
    return std::count_if(reports.begin(), reports.end(),
                         [](const transport::ChunkReceived& x) { return x.error != Code::kOk; });
  };

  // A window of 8 whose first chunk is damaged: one refusal, not eight.
  Bytes bad = frames[0];
  bad[bad.size() / 2] ^= 1;
  deliver(0, bad);
  for (uint64_t i = 1; i < 8; ++i) deliver(i, frames[i]);
  EXPECT_EQ(refusals(), 1);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].durable, 0u);
  // The broker sends the window again; the same damage again: still one.
  deliver(0, bad);
  for (uint64_t i = 1; i < 8; ++i) deliver(i, frames[i]);
  EXPECT_EQ(refusals(), 1);

  // Two good chunks (below sync_every: not durable yet), then the broker
  // sends from mark 0 again (its resend timer): both become durable and the
  // mark is reported.
  deliver(0, frames[0]);
  deliver(1, frames[1]);
  EXPECT_EQ(r.durable(tid), 0u);
  deliver(0, frames[0]);
  EXPECT_EQ(r.durable(tid), 2u);
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.back().durable, 2u);
  EXPECT_EQ(reports.back().error, Code::kOk);

  // Progress made, a new gap is news: reported once at the new mark.
  deliver(5, frames[5]);
  deliver(6, frames[6]);
  EXPECT_EQ(refusals(), 2);
  EXPECT_EQ(reports.back().durable, 2u);

  for (uint64_t i = 2; i < 10; ++i) deliver(i, frames[i]);
  EXPECT_TRUE(r.complete(tid));
  EXPECT_EQ(reports.back().durable, 10u);
  EXPECT_EQ(reports.back().error, Code::kOk);
  EXPECT_EQ(r.open(), 0u);
  std::filesystem::remove_all(dir);
}

// Transfers held open are bounded (a file and, while chunks come, a chunk
// buffer each): one message may announce many files. Those beyond kMaxOpen
// are closed, least recently used first, and reopened from disk when their
// chunks come; every file still completes.
TEST(ChunkReceiverTest, OpenTransfersAreBoundedAndAClosedOneResumesFromDisk) {
  char buf[] = "/tmp/mlahub-receiver-XXXXXX";
  ASSERT_NE(::mkdtemp(buf), nullptr);
  const std::string dir = buf;
  auto sender = evidence::EvidenceStore::Open(dir + "/sender", Key(1));
  ASSERT_TRUE(sender.ok());
  auto store = evidence::EvidenceStore::Open(dir + "/receiver", Key(2));
  ASSERT_TRUE(store.ok());
  std::map<std::string, uint64_t> marks;
  ChunkReceiver r(
      store->get(),
      [&](const transport::Command& c) {
        if (auto* rc = std::get_if<transport::ChunkReceived>(&c)) marks[rc->transfer_id] = rc->durable;
        return true;
      },
      4);
  struct File {
    std::string tid;
    std::vector<Bytes> frames;
  };
  std::vector<File> files;
  const size_t n = ChunkReceiver::kMaxOpen + 6;
  for (size_t k = 0; k < n; ++k) {
    auto spool = SpoolRandomFile(**sender, dir + "/f" + std::to_string(k), 100 * 1024);  // 2 chunks
    ASSERT_TRUE(spool.ok()) << spool.status().ToString();
    File f{(*spool)->transfer_id(), {}};
    for (uint64_t i = 0; i < 2; ++i) f.frames.push_back(*(*spool)->ReadChunkFrame(i));
    auto spec = (*spool)->Spec();
    ASSERT_TRUE(spec.ok());
    ASSERT_TRUE(r.Expect(*spec).ok());
    EXPECT_LE(r.open(), ChunkReceiver::kMaxOpen);
    files.push_back(std::move(f));
  }
  EXPECT_EQ(r.open(), ChunkReceiver::kMaxOpen);
  // Chunk 0 of every file (the first ones were closed long ago), then chunk 1.
  for (auto& f : files) r.OnDeliver({f.tid, "IT-MOJ", 0, f.frames[0], ""});
  EXPECT_LE(r.open(), ChunkReceiver::kMaxOpen);
  for (auto& f : files) r.OnDeliver({f.tid, "IT-MOJ", 1, f.frames[1], ""});
  for (auto& f : files) {
    EXPECT_TRUE(r.complete(f.tid)) << f.tid;
    EXPECT_EQ(marks[f.tid], 2u) << f.tid;
  }
  EXPECT_EQ(r.open(), 0u);
  std::filesystem::remove_all(dir);
}

TEST(ChunkShipperTest, AsksAgainWhenTheCompletionAckIsLost) {
  char buf[] = "/tmp/mlahub-shipper-XXXXXX";
  ASSERT_NE(::mkdtemp(buf), nullptr);
  const std::string dir = buf;
  auto store = evidence::EvidenceStore::Open(dir + "/data", Key(1));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto spool = SpoolRandomFile(**store, dir + "/file.bin", 100 * 1024);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  const std::string tid = (*spool)->transfer_id();
  const uint64_t count = (*spool)->chunk_count();
  ASSERT_EQ(count, 2u);
  spool->reset();

  int statuses = 0, puts = 0, completed = 0;
  ChunkShipper shipper(
      store->get(),
      [&](const transport::Command& c) {
        statuses += std::holds_alternative<transport::ChunkStatus>(c) ? 1 : 0;
        puts += std::holds_alternative<transport::ChunkPut>(c) ? 1 : 0;
        return true;
      },
      8, [&](const std::string&) { ++completed; });
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(shipper.Add(tid, "NG-AGF", "m1").ok());
  EXPECT_EQ(statuses, 1);  // where does the broker stand?
  // The answer to that question is lost: asked again after kStatusRetry.
  shipper.Tick(t0 + 5s);
  EXPECT_EQ(statuses, 1);
  shipper.Tick(t0 + ChunkShipper::kStatusRetry + 1s);
  EXPECT_EQ(statuses, 2);

  auto ack = [&](uint64_t stored, bool complete) {
    transport::ChunkAck a;
    a.transfer_id = tid;
    a.stored = stored;
    a.chunk_count = count;
    a.complete = complete;
    shipper.OnAck(a);
  };
  ack(0, false);  // the broker holds nothing: both chunks go
  EXPECT_EQ(puts, 2);
  // Their acks are lost: the window would wait for ever; asked after kStatusRetry.
  const auto t1 = std::chrono::steady_clock::now();
  shipper.Tick(t1 + 5s);
  EXPECT_EQ(statuses, 2);
  shipper.Tick(t1 + ChunkShipper::kStatusRetry + 1s);
  EXPECT_EQ(statuses, 3);

  ack(2, false);  // the answer: it holds both; the completion ack that follows is lost
  EXPECT_TRUE(shipper.done(tid));
  EXPECT_EQ(shipper.in_progress(), 1u);  // not yet complete: still shipped and asked about
  EXPECT_EQ(puts, 2);  // nothing is shipped twice
  const auto t2 = std::chrono::steady_clock::now();
  shipper.Tick(t2 + 5s);
  EXPECT_EQ(statuses, 3);
  shipper.Tick(t2 + ChunkShipper::kStatusRetry + 1s);
  EXPECT_EQ(statuses, 4);
  // Unanswered again: the interval doubles.
  shipper.Tick(t2 + ChunkShipper::kStatusRetry + 2 * ChunkShipper::kStatusRetry);
  EXPECT_EQ(statuses, 4);
  shipper.Tick(t2 + ChunkShipper::kStatusRetry + 2 * ChunkShipper::kStatusRetry + 2s);
  EXPECT_EQ(statuses, 5);
  EXPECT_EQ(puts, 2);

  // "Complete" for another file size (a hub in error): the spool is kept and
  // the transfer goes on.
  ack(1, true);
  EXPECT_EQ(completed, 0);
  EXPECT_EQ(shipper.in_progress(), 1u);
  transport::ChunkAck wrong_count;
  wrong_count.transfer_id = tid;
  wrong_count.stored = 2;
  wrong_count.chunk_count = 3;
  wrong_count.complete = true;
  shipper.OnAck(wrong_count);
  EXPECT_EQ(completed, 0);
  EXPECT_EQ(shipper.in_progress(), 1u);

  ack(2, true);  // the answer: complete
  EXPECT_EQ(completed, 1);
  EXPECT_EQ(shipper.in_progress(), 0u);  // forgotten: no longer walked by Tick or Pump
  ack(2, true);                           // a repeated completion is ignored
  EXPECT_EQ(completed, 1);
  shipper.Tick(t2 + 24h);
  EXPECT_EQ(statuses, 5);  // nothing more to ask
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mlahub::agents
