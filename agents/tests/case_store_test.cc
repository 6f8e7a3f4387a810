// The case store: ownership, and atomicity of "message + receipt" across a
// kill -9 of a real writing child process.
#include "mlahub/agents/case_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <set>

#include "mlahub/crypto/random.h"
#include "mlahub/storage/store.h"
#include "test_network.h"

namespace mlahub::agents {
namespace {

class CaseStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("agents-store"); }
  void TearDown() override { testing::RemoveTree(dir_); }
  std::string dir_;
};

TEST_F(CaseStoreTest, BelongsToOneNode) {
  {
    auto s = CaseStore::Open(dir_ + "/store", "IT-MOJ");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
  }
  auto again = CaseStore::Open(dir_ + "/store", "IT-MOJ");
  ASSERT_TRUE(again.ok());
  (*again)->Close().IgnoreError();
  again->reset();
  EXPECT_EQ(CaseStore::Open(dir_ + "/store", "NG-AGF").status().code(), Code::kInvalidArgument);
}

TEST_F(CaseStoreTest, OrderedListsAndCursors) {
  auto s = CaseStore::Open(dir_ + "/store", "IT-MOJ");
  ASSERT_TRUE(s.ok());
  for (uint64_t i = 1; i <= 5; ++i) {
    IncomingRecord r;
    r.message_id = std::string(31, 'a') + char('0' + i);
    r.delivery_seq = i;
    StoreBatch b;
    CaseStore::PutNewIncoming(b, r, AsBytes("env"), AsBytes("rcpt"));
    ASSERT_TRUE((*s)->Write(b).ok());
  }
  auto first = (*s)->ListIncoming(0, 2);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[1].delivery_seq, 2u);
  auto rest = (*s)->ListIncoming(2, 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_EQ((*rest)[0].delivery_seq, 3u);
  auto pending = (*s)->PendingReceipts();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->size(), 5u);
  auto handled = (*s)->HandledSeqsAfter(3);
  ASSERT_TRUE(handled.ok());
  EXPECT_EQ(*handled, (std::vector<uint64_t>{4, 5}));
}

// A child process stores messages (record, envelope, receipt, order index,
// receipt marker: one batch each) as fast as it can and reports each
// acknowledged batch on a pipe; the parent kills it with SIGKILL mid-write,
// several times. Afterwards every acknowledged message is there, and no
// message exists without its receipt or the reverse.
TEST_F(CaseStoreTest, MessageAndReceiptSurviveKillTogether) {
  const std::string path = dir_ + "/store";
  uint64_t next_seq = 1;
  std::set<uint64_t> acked;
  for (int round = 0; round < 4; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto s = CaseStore::Open(path, "NG-AGF");
      if (!s.ok()) ::_exit(3);
      for (uint64_t seq = next_seq;; ++seq) {
        IncomingRecord r;
        r.message_id = crypto::NewMessageIdText();
        r.sender = "IT-MOJ";
        r.delivery_seq = seq;
        Bytes env = crypto::RandomBytes(2000 + seq % 5000);
        Bytes rcpt = crypto::RandomBytes(200);
        StoreBatch b;
        CaseStore::PutNewIncoming(b, r, env, rcpt);
        CaseStore::PutLastDeliverySeq(b, seq);
        if (!(*s)->Write(b).ok()) ::_exit(4);
        if (::write(fds[1], &seq, sizeof seq) != sizeof seq) ::_exit(5);
      }
    }
    ::close(fds[1]);
    uint64_t seq = 0;
    int got = 0;
    while (got < 150 + round * 50 && ::read(fds[0], &seq, sizeof seq) == sizeof seq) {
      acked.insert(seq);
      ++got;
    }
    ::kill(pid, SIGKILL);
    // Drain acknowledgements written before the kill.
    while (::read(fds[0], &seq, sizeof seq) == sizeof seq) acked.insert(seq);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child should have been killed, status " << status;

    auto s = CaseStore::Open(path, "NG-AGF");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto last = (*s)->LastDeliverySeq();
    ASSERT_TRUE(last.ok());
    EXPECT_GE(*last, *acked.rbegin()) << "an acknowledged batch was lost";
    next_seq = *last + 1;
    ASSERT_TRUE((*s)->Close().ok());
  }

  // Check every key family against the others with a raw view.
  auto raw = storage::Store::Open(path);
  ASSERT_TRUE(raw.ok());
  std::set<std::string> records, envelopes, receipts, indexed, pending;
  auto collect = [&](const char* prefix, std::set<std::string>& out, bool value_is_id) {
    ASSERT_TRUE((*raw)
                    ->Scan(prefix, "",
                           [&](std::string_view k, std::string_view v) {
                             out.insert(std::string(value_is_id ? v : k.substr(5)));
                             return true;
                           })
                    .ok());
  };
  collect("in/m/", records, false);
  collect("in/e/", envelopes, false);
  collect("in/r/", receipts, false);
  collect("in/s/", indexed, true);
  collect("in/p/", pending, true);
  EXPECT_GE(records.size(), acked.size());
  EXPECT_EQ(records, envelopes);
  EXPECT_EQ(records, receipts);
  EXPECT_EQ(records, indexed);
  EXPECT_EQ(records, pending);
  uint64_t count = 0;
  ASSERT_TRUE((*raw)->Scan("in/s/", "", [&](std::string_view k, std::string_view) {
    ++count;
    EXPECT_EQ(storage::ReadKeyBe64(k.substr(5)), count) << "delivery sequence numbers must have no gaps";
    return true;
  }).ok());
}

}  // namespace
}  // namespace mlahub::agents
