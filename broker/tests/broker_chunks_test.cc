// Evidence chunks through the real mlahub-broker process (ChunkPut, ChunkAck,
// ChunkDeliver, ChunkReceived, ChunkStatus): durable acknowledgement, the
// sender's and chain checks, kill -9 of the broker, resume of a receiver,
// envelopes before chunks. Frames are real EvidenceChunk frames with a real
// hash chain over random "ciphertext" (the broker never decrypts). Waits are
// for conditions with generous deadlines; nothing asserts on timing.
#include <gtest/gtest.h>
#include <signal.h>

#include "mlahub/crypto/random.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/evidence/chunk.h"
#include "test_network.h"

namespace mlahub::broker::testing {
namespace {

using namespace std::chrono_literals;

struct Stream {
  std::string tid;
  std::vector<Bytes> frames;
  std::string mid;  // the accepted envelope that carries the manifest
};

Stream MakeStream(uint64_t count, size_t chunk = 1024) {
  Stream s;
  s.tid = evidence::NewTransferId();
  std::vector<Bytes> ct(count);
  std::vector<evidence::Link> h(count);
  for (uint64_t i = 0; i < count; ++i) {
    ct[i] = crypto::RandomBytes(chunk + 17);
    h[i] = evidence::HashCiphertext(ct[i]);
  }
  std::vector<evidence::Link> link(count + 1);
  link[count].fill(0);
  for (uint64_t i = count; i-- > 0;) link[i] = evidence::ChainLink(i, h[i], link[i + 1]);
  for (uint64_t i = 0; i < count; ++i) {
    s.frames.push_back(evidence::EncodeChunk({s.tid, i, count, ct[i], h[i], link[i + 1]}));
  }
  return s;
}

class BrokerChunksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = transport::Context::Create(1);
    ASSERT_TRUE(c.ok());
    ctx_ = *c;
    net_ = std::make_unique<TestNetwork>(std::vector<std::string>{"IT-MOJ", "NG-AGF", "TH-OAG"});
    broker_ = std::make_unique<BrokerProcess>(net_->config_path(), net_->data_dir(),
                                              net_->dir() + "/hub/broker.log");
    ASSERT_TRUE(broker_->Start());
  }
  void TearDown() override {
    if (HasFailure() && broker_)
      std::cerr << "---- broker log tail ----\n" << broker_->LogTail(6000) << std::endl;
  }
  std::unique_ptr<TestAgent> Connected(const std::string& node) {
    auto a = std::make_unique<TestAgent>(ctx_, *net_, node);
    Status s = a->Connect(1, 0, 0);
    EXPECT_TRUE(s.ok()) << node << ": " << s.ToString();
    return a;
  }
  // Puts chunk i and waits for the ChunkAck answering it.
  std::optional<transport::ChunkAck> Put(TestAgent& a, const Stream& s, uint64_t i,
                                         const std::string& to = "NG-AGF") {
    EXPECT_TRUE(a.Send(transport::ChunkPut{s.tid, to, i, s.mid, s.frames[i]}).ok());
    return a.WaitFor<transport::ChunkAck>(kWait, [&](const auto& k) { return k.transfer_id == s.tid; });
  }
  // Submits an envelope from `a` to `to` (accepted) and makes it the one
  // the stream's chunks name: the broker takes no chunk without it.
  void Bind(TestAgent& a, const std::string& from, Stream& s, const std::string& to, uint64_t correlation) {
    Bytes env = net_->Seal(from, to);
    auto r = a.SubmitAndWait(env, correlation);
    ASSERT_TRUE(r.has_value() && r->accepted);
    auto p = envelope::Parse(env, 1 << 20);
    ASSERT_TRUE(p.ok());
    s.mid = std::string(p->message_id());
  }
  std::optional<transport::ChunkAck> StatusOf(TestAgent& a, const std::string& tid) {
    EXPECT_TRUE(a.Send(transport::ChunkStatus{tid}).ok());
    return a.WaitFor<transport::ChunkAck>(kWait, [&](const auto& k) { return k.transfer_id == tid; });
  }

  std::shared_ptr<transport::Context> ctx_;
  std::unique_ptr<TestNetwork> net_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(BrokerChunksTest, RefusesWhatIsNotTheSendersConsistentChain) {
  auto it = Connected("IT-MOJ");
  auto th = Connected("TH-OAG");
  Stream s = MakeStream(4);
  // Not starting at 0.
  auto a = Put(*it, s, 2);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->error, Code::kNotFound);
  // Unknown recipient.
  a = Put(*it, s, 0, "XX-NOPE");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->error, Code::kUnknownRecipient) << a->message;
  // A damaged frame (ciphertext hash no longer matches).
  Stream bad = s;
  bad.frames[0][bad.frames[0].size() / 2] ^= 1;
  a = Put(*it, bad, 0);
  ASSERT_TRUE(a.has_value());
  EXPECT_NE(a->error, Code::kOk);
  // No accepted envelope named, or one for another recipient: refused.
  a = Put(*it, s, 0);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->error, Code::kNotFound) << a->message;
  Bind(*it, "IT-MOJ", s, "TH-OAG", 901);
  a = Put(*it, s, 0);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->error, Code::kNotFound) << a->message;
  Bind(*it, "IT-MOJ", s, "NG-AGF", 902);
  // Good chunk 0, then a frame of another chain as chunk 1.
  a = Put(*it, s, 0);
  ASSERT_TRUE(a.has_value());
  ASSERT_EQ(a->error, Code::kOk) << a->message;
  EXPECT_EQ(a->stored, 1u);
  EXPECT_EQ(a->chunk_count, 4u);
  Stream other = MakeStream(4);
  auto f = evidence::DecodeChunk(other.frames[1]);
  ASSERT_TRUE(f.ok());
  f->transfer_id = s.tid;
  Stream spliced = s;
  spliced.frames[1] = evidence::EncodeChunk(*f);
  a = Put(*it, spliced, 1);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->error, Code::kTamperedCiphertext) << a->message;
  EXPECT_EQ(a->stored, 1u);
  // Out of order.
  a = Put(*it, s, 3);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->error, Code::kInvalidArgument);
  // Another node cannot add to it, nor learn about it.
  a = Put(*th, s, 1);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->error, Code::kSenderMismatch);
  a = StatusOf(*th, s.tid);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->stored, 0u);
  // A repeated chunk is acknowledged again; the sender's status is right.
  a = Put(*it, s, 0);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->error, Code::kOk);
  EXPECT_EQ(a->stored, 1u);
  a = StatusOf(*it, s.tid);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->stored, 1u);
  // Garbage in the attachment: a named refusal, the broker keeps serving.
  transport::Frames junk = *transport::EncodeCommand(transport::ChunkPut{s.tid, "NG-AGF", 1, "", s.frames[1]});
  junk[1].resize(40);
  ASSERT_TRUE(it->SendFrames(junk).ok());
  a = it->WaitFor<transport::ChunkAck>(kWait, [&](const auto& k) { return k.transfer_id == s.tid; });
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->error, Code::kMalformed);
  for (uint64_t i = 1; i < 4; ++i) {
    a = Put(*it, s, i);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->error, Code::kOk) << a->message;
    EXPECT_EQ(a->stored, i + 1);
  }
}

TEST_F(BrokerChunksTest, AcknowledgedChunksSurviveKillNineAndReachTheReceiverInOrder) {
  constexpr uint64_t kCount = 30;
  Stream s = MakeStream(kCount);
  {
    auto it = Connected("IT-MOJ");
    Bind(*it, "IT-MOJ", s, "NG-AGF", 900);
    for (uint64_t i = 0; i < 12; ++i) {
      auto a = Put(*it, s, i);
      ASSERT_TRUE(a.has_value());
      ASSERT_EQ(a->error, Code::kOk) << a->message;
      ASSERT_EQ(a->stored, i + 1);
    }
    broker_->Signal(SIGKILL);
    EXPECT_EQ(broker_->Wait(), 128 + SIGKILL);
  }
  ASSERT_TRUE(broker_->Start());
  auto it = Connected("IT-MOJ");
  auto a = StatusOf(*it, s.tid);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->stored, 12u);  // everything acknowledged before the kill
  for (uint64_t i = a->stored; i < kCount; ++i) {
    auto b = Put(*it, s, i);
    ASSERT_TRUE(b.has_value());
    ASSERT_EQ(b->error, Code::kOk) << b->message;
  }
  // An envelope for the same recipient, queued while chunks wait too.
  Bytes env = net_->Seal("IT-MOJ", "NG-AGF");
  auto r = it->SubmitAndWait(env, 1);
  ASSERT_TRUE(r.has_value() && r->accepted);

  // The receiver: envelopes first, then the chunks in order, under credit
  // (30 chunks with a window of 8 complete only if ChunkReceived returns it).
  uint64_t next = 0;
  {
    auto ng = Connected("NG-AGF");
    auto first = ng->WaitFor([](const transport::Command& c) {
      return std::holds_alternative<transport::Deliver>(c) || std::holds_alternative<transport::ChunkDeliver>(c);
    });
    ASSERT_TRUE(first.has_value());
    EXPECT_TRUE(std::holds_alternative<transport::Deliver>(*first)) << "a chunk went before the envelope";
    while (next < 10) {
      auto d = ng->WaitFor<transport::ChunkDeliver>();
      ASSERT_TRUE(d.has_value());
      ASSERT_EQ(d->chunk_index, next);
      EXPECT_EQ(d->frame, s.frames[next]);
      EXPECT_EQ(d->sender, "IT-MOJ");
      EXPECT_EQ(d->message_id, s.mid);
      ++next;
      if (next % 5 == 0) {
        ASSERT_TRUE(ng->Send(transport::ChunkReceived{s.tid, next, Code::kOk}).ok());
      }
    }
    // The ChunkReceived were handled (Pong on the same connection), and their
    // state writes are durable once a later ledger append is (one queue).
    ASSERT_TRUE(ng->Send(transport::Ping{7, 0}).ok());
    ASSERT_TRUE(ng->WaitFor<transport::Pong>(kWait, [](const auto& p) { return p.nonce == 7; }).has_value());
    auto r2 = it->SubmitAndWait(net_->Seal("IT-MOJ", "NG-AGF"), 2);
    ASSERT_TRUE(r2.has_value() && r2->accepted);
    // The receiver goes away having made 10 durable (and maybe received more).
  }
  broker_->Signal(SIGKILL);
  EXPECT_EQ(broker_->Wait(), 128 + SIGKILL);
  ASSERT_TRUE(broker_->Start());
  it = Connected("IT-MOJ");
  auto ng = Connected("NG-AGF");
  // Resumes at the receiver's durable mark, recorded before the kill.
  auto d = ng->WaitFor<transport::ChunkDeliver>();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->chunk_index, 10u);
  next = d->chunk_index;
  EXPECT_EQ(d->frame, s.frames[next]);
  ++next;
  while (next < kCount) {
    if (next % 4 == 0) {
      ASSERT_TRUE(ng->Send(transport::ChunkReceived{s.tid, next, Code::kOk}).ok());
    }
    auto c = ng->WaitFor<transport::ChunkDeliver>();
    ASSERT_TRUE(c.has_value()) << "stalled at " << next;
    ASSERT_EQ(c->chunk_index, next);
    EXPECT_EQ(c->frame, s.frames[next]);
    ++next;
  }
  ASSERT_TRUE(ng->Send(transport::ChunkReceived{s.tid, kCount, Code::kOk}).ok());
  // A receiver error makes the broker send again from the mark it names
  // (here the transfer is complete, so there is nothing to resend); the
  // broker keeps serving and the sender's status says all is held.
  auto st = StatusOf(*it, s.tid);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->stored, kCount);
  broker_->Signal(SIGTERM);
  EXPECT_EQ(broker_->Wait(), 0) << broker_->LogTail();
}

}  // namespace
}  // namespace mlahub::broker::testing
