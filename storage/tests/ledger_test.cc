// The ledger over RocksDB: appends, group commit, checkpoints, proofs checked
// against the reference at every size, reopening, read-only views, and
// corruption that verify must name.
#include "mlahub/storage/ledger.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

#include "ledger_keys.h"
#include "tamper.h"
#include "test_util.h"

namespace mlahub::storage {
namespace {

namespace L = layout;
using testing::Reference;
using testing::TempDir;

class LedgerTest : public ::testing::Test {
 protected:
  LedgerOptions Options() {
    LedgerOptions o;
    o.create_if_missing = true;
    o.origin = "test.mlahub.example/ledger";
    o.signer = testing::TestSigner();
    return o;
  }
  std::unique_ptr<Ledger> OpenLedger(LedgerOptions o) {
    auto l = Ledger::Open(dir_.path(), std::move(o));
    MLAHUB_CHECK_MSG(l.ok(), l.status().ToString());
    return std::move(l).value();
  }
  std::unique_ptr<Ledger> OpenLedger() { return OpenLedger(Options()); }

  static Bytes EntryBytes(uint64_t i) { return ToBytes("entry number " + std::to_string(i) + " of the test"); }

  // Appends `n` entries in batches of varying size; returns the leaves.
  static std::vector<Bytes> Fill(Ledger& l, uint64_t n) {
    std::vector<Bytes> leaves;
    uint64_t start = l.Size();
    for (uint64_t i = start; i < start + n;) {
      uint64_t batch = std::min<uint64_t>(1 + (i % 7) * 3, start + n - i);
      std::vector<std::future<std::pair<Status, uint64_t>>> futs;
      for (uint64_t k = 0; k < batch; ++k) {
        auto p = std::make_shared<std::promise<std::pair<Status, uint64_t>>>();
        futs.push_back(p->get_future());
        l.AppendAsync(EntryBytes(i + k), "id-" + std::to_string((i + k) % 10),
                      [p](const Status& s, uint64_t idx) { p->set_value({s, idx}); });
      }
      for (uint64_t k = 0; k < batch; ++k) {
        auto [s, idx] = futs[k].get();
        MLAHUB_CHECK_MSG(s.ok(), s.ToString());
        MLAHUB_CHECK(idx == i + k);
        leaves.push_back(EntryBytes(i + k));
      }
      i += batch;
    }
    return leaves;
  }

  VerifyReport VerifyReadOnly() {
    auto ro = Ledger::OpenReadOnly(dir_.path());
    MLAHUB_CHECK_MSG(ro.ok(), ro.status().ToString());
    return (*ro)->Verify();
  }

  TempDir dir_;
};

TEST_F(LedgerTest, NewLedgerIsEmptyWithSignedCheckpoint) {
  auto l = OpenLedger();
  EXPECT_EQ(l->Size(), 0u);
  auto root = l->Root(0);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, EmptyRoot());
  uint64_t size = 99;
  auto cp = l->LatestCheckpoint(&size);
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(size, 0u);
  auto text = OpenNote(*cp, l->key_name(), l->public_key());
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "test.mlahub.example/ledger\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
  EXPECT_TRUE(l->Verify().status.ok());
  EXPECT_EQ(l->Entry(0).status().code(), Code::kNotFound);
}

TEST_F(LedgerTest, MissingLedgerIsNotFound) {
  LedgerOptions o = Options();
  o.create_if_missing = false;
  EXPECT_EQ(Ledger::Open(dir_.path() + "/nothing", std::move(o)).status().code(), Code::kNotFound);
  EXPECT_EQ(Ledger::OpenReadOnly(dir_.path() + "/nothing").status().code(), Code::kNotFound);
}

TEST_F(LedgerTest, AppendsAreReadableAndIndexed) {
  auto l = OpenLedger();
  for (uint64_t i = 0; i < 5; ++i) {
    auto idx = l->Append(EntryBytes(i), i % 2 == 0 ? "even" : "odd");
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    EXPECT_EQ(*idx, i);
  }
  EXPECT_EQ(l->Size(), 5u);
  EXPECT_EQ(*l->Entry(3), EntryBytes(3));
  EXPECT_EQ(*l->LeafHash(3), HashLeaf(EntryBytes(3)));
  EXPECT_EQ(*l->FindByIndexKey("even"), (std::vector<uint64_t>{0, 2, 4}));
  EXPECT_EQ(*l->FindByIndexKey("odd"), (std::vector<uint64_t>{1, 3}));
  EXPECT_TRUE(l->FindByIndexKey("none")->empty());
  // An empty index key indexes nothing; any bytes are a valid entry.
  EXPECT_EQ(*l->Append(Bytes{}, ""), 5u);
  EXPECT_EQ(*l->Entry(5), Bytes{});
  // Every batch got a checkpoint (one append per batch here).
  EXPECT_EQ(*l->CheckpointSizes(), (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6}));
}

TEST_F(LedgerTest, RefusesOversizeEntries) {
  LedgerOptions o = Options();
  o.max_entry_bytes = 100;
  auto l = OpenLedger(std::move(o));
  EXPECT_EQ(l->Append(Bytes(101, 'x')).status().code(), Code::kOversize);
  EXPECT_EQ(l->Append(Bytes(10, 'x'), std::string(300, 'k')).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(l->Size(), 0u);
}

TEST_F(LedgerTest, ProofsAndCheckpointsMatchReferenceAtEverySize) {
  auto l = OpenLedger();
  const uint64_t n = 300;
  std::vector<Bytes> leaves = Fill(*l, n);
  ASSERT_EQ(l->Size(), n);
  Reference ref(leaves);
  for (uint64_t s = 0; s <= n; ++s) {
    auto root = l->Root(s);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    ASSERT_EQ(*root, ref.Mth(0, s)) << "size " << s;
    for (uint64_t m = 0; m < s; ++m) {
      auto p = l->ProveInclusion(m, s);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      ASSERT_EQ(p->path, ref.Path(m, 0, s)) << m << "/" << s;
      ASSERT_EQ(p->entry, leaves[m]);
      ASSERT_EQ(p->leaf_hash, HashLeaf(leaves[m]));
    }
    for (uint64_t m = 0; m <= s; ++m) {
      auto c = l->ProveConsistency(m, s);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      ASSERT_EQ(*c, ref.Consistency(m, s)) << m << " -> " << s;
    }
  }
  // Every stored checkpoint is signed, names its size and the right root.
  auto sizes = l->CheckpointSizes();
  ASSERT_TRUE(sizes.ok());
  EXPECT_GT(sizes->size(), 10u);
  for (uint64_t s : *sizes) {
    auto note = l->CheckpointAt(s);
    ASSERT_TRUE(note.ok());
    auto text = OpenNote(*note, l->key_name(), l->public_key());
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    auto cp = ParseCheckpointText(*text);
    ASSERT_TRUE(cp.ok());
    EXPECT_EQ(cp->size, s);
    EXPECT_EQ(cp->origin, l->origin());
    EXPECT_EQ(cp->root, ref.Mth(0, s));
  }
  EXPECT_EQ(l->CheckpointAt(n + 1).status().code(), Code::kNotFound);
  EXPECT_EQ(l->ProveInclusion(n, n).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(l->ProveInclusion(0, n + 1).status().code(), Code::kNotFound);
  EXPECT_EQ(l->ProveConsistency(5, 4).status().code(), Code::kInvalidArgument);
  VerifyReport r = l->Verify();
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.entries, n);
  EXPECT_EQ(r.checkpoints, sizes->size());
}

TEST_F(LedgerTest, GroupCommitFromManyThreads) {
  LedgerOptions o = Options();
  o.max_pending_entries = 256;
  auto l = OpenLedger(std::move(o));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 1500;
  std::atomic<int> acked{0};
  std::mutex mu;
  std::set<uint64_t> indices;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        l->AppendAsync(ToBytes("t" + std::to_string(t) + "-" + std::to_string(i)), "t" + std::to_string(t),
                       [&](const Status& s, uint64_t idx) {
                         MLAHUB_CHECK(s.ok());
                         std::lock_guard<std::mutex> lk(mu);
                         indices.insert(idx);
                         acked.fetch_add(1);
                       });
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_OK(l->Close());
  EXPECT_EQ(acked.load(), kThreads * kPerThread);
  EXPECT_EQ(indices.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*indices.rbegin(), static_cast<uint64_t>(kThreads * kPerThread - 1));
  auto ro = Ledger::OpenReadOnly(dir_.path());
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ((*ro)->Size(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ((*ro)->FindByIndexKey("t2")->size(), static_cast<size_t>(kPerThread));
  VerifyReport r = (*ro)->Verify();
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
}

TEST_F(LedgerTest, StateWritesCommitWithTheirEntry) {
  auto l = OpenLedger();
  auto done = std::make_shared<std::promise<std::pair<Status, uint64_t>>>();
  l->AppendAsync(ToBytes("accepted m1"), "m1",
                 {StateWrite::Put("q/NG-AGF/1", ToBytes("envelope one")), StateWrite::Put("m/m1", ToBytes("answer"))},
                 [done](const Status& s, uint64_t i) { done->set_value({s, i}); });
  auto [st, idx] = done->get_future().get();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(idx, 0u);
  EXPECT_EQ(*l->GetState("q/NG-AGF/1").value(), ToBytes("envelope one"));
  EXPECT_FALSE(l->GetState("q/NG-AGF/2").value().has_value());

  // A state-only write is ordered with the appends and reports the size.
  auto done2 = std::make_shared<std::promise<std::pair<Status, uint64_t>>>();
  l->WriteStateAsync({StateWrite::Delete("q/NG-AGF/1"), StateWrite::Put("q/NG-AGF/2", ToBytes("two")),
                      StateWrite::Put("q/TH-OAG/1", ToBytes("other"))},
                     [done2](const Status& s, uint64_t i) { done2->set_value({s, i}); });
  auto [st2, size] = done2->get_future().get();
  ASSERT_TRUE(st2.ok()) << st2.ToString();
  EXPECT_EQ(size, 1u);
  EXPECT_EQ(l->Size(), 1u);
  EXPECT_FALSE(l->GetState("q/NG-AGF/1").value().has_value());

  std::vector<std::string> keys;
  ASSERT_TRUE(l->ScanState("q/NG-AGF/", "", [&](std::string_view k, ByteView) {
                 keys.emplace_back(k);
                 return true;
               }).ok());
  EXPECT_EQ(keys, std::vector<std::string>{"q/NG-AGF/2"});
  EXPECT_EQ(l->Stats().entries, 1u);

  // Survives a reopen; a read-only view sees it too.
  ASSERT_TRUE(l->Close().ok());
  l = OpenLedger();
  EXPECT_EQ(*l->GetState("m/m1").value(), ToBytes("answer"));
  auto ro = Ledger::OpenReadOnly(dir_.path());
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  EXPECT_EQ(*(*ro)->GetState("q/TH-OAG/1").value(), ToBytes("other"));
  EXPECT_TRUE((*ro)->Verify().status.ok());
  Code empty_key = Code::kOk;
  l->WriteStateAsync({StateWrite::Put("", ToBytes("x"))}, [&](const Status& s, uint64_t) { empty_key = s.code(); });
  EXPECT_EQ(empty_key, Code::kInvalidArgument);
}

// Urgency::kDeferrable: nobody waits for the entry, so it waits for a prompt
// append to share a commit with (or for its delay, or for Close).
TEST_F(LedgerTest, DeferrableEntryWaitsForAPromptOneAndKeepsItsPlace) {
  LedgerOptions o = Options();
  o.deferrable_delay = std::chrono::hours(1);  // only a prompt append or Close commits it
  auto l = OpenLedger(o);
  auto first = std::make_shared<std::promise<std::pair<Status, uint64_t>>>();
  auto f1 = first->get_future();
  l->AppendAsync(EntryBytes(0), "late", {}, [first](const Status& s, uint64_t i) { first->set_value({s, i}); },
                 Urgency::kDeferrable);
  EXPECT_EQ(f1.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  EXPECT_EQ(l->Size(), 0u);
  // A prompt append: both in one commit, in queue order.
  auto second = l->Append(EntryBytes(1), "now");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, 1u);
  auto [s1, i1] = f1.get();
  ASSERT_TRUE(s1.ok()) << s1.ToString();
  EXPECT_EQ(i1, 0u);
  EXPECT_EQ(l->Entry(0).value(), EntryBytes(0));
  EXPECT_EQ(l->FindByIndexKey("late").value(), std::vector<uint64_t>{0});

  // Close commits what still waits.
  auto third = std::make_shared<std::promise<std::pair<Status, uint64_t>>>();
  auto f3 = third->get_future();
  l->AppendAsync(EntryBytes(2), "", {}, [third](const Status& s, uint64_t i) { third->set_value({s, i}); },
                 Urgency::kDeferrable);
  ASSERT_OK(l->Close());
  ASSERT_EQ(f3.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  auto [s3, i3] = f3.get();
  ASSERT_TRUE(s3.ok()) << s3.ToString();
  EXPECT_EQ(i3, 2u);
  l = OpenLedger(o);
  EXPECT_EQ(l->Size(), 3u);
  EXPECT_TRUE(VerifyReadOnly().status.ok());
}

TEST_F(LedgerTest, DeferrableEntryAloneIsCommittedAfterItsDelay) {
  LedgerOptions o = Options();
  o.deferrable_delay = std::chrono::milliseconds(20);
  auto l = OpenLedger(o);
  for (uint64_t i = 0; i < 3; ++i) {
    auto done = std::make_shared<std::promise<std::pair<Status, uint64_t>>>();
    auto f = done->get_future();
    l->AppendAsync(EntryBytes(i), "", {}, [done](const Status& s, uint64_t idx) { done->set_value({s, idx}); },
                   Urgency::kDeferrable);
    ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready) << "deferrable entry " << i;
    auto [st, idx] = f.get();
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(idx, i);
    EXPECT_EQ(l->Size(), i + 1);
  }
}

TEST_F(LedgerTest, AppendsAfterCloseFail) {
  auto l = OpenLedger();
  ASSERT_OK(l->Close());
  ASSERT_OK(l->Close());
  EXPECT_EQ(l->Append(EntryBytes(0)).status().code(), Code::kUnavailable);
  EXPECT_EQ(l->Root(0).status().code(), Code::kUnavailable);
  EXPECT_EQ(l->Verify().status.code(), Code::kUnavailable);
}

TEST_F(LedgerTest, ReopenContinuesAndChecksKey) {
  {
    auto l = OpenLedger();
    Fill(*l, 20);
  }
  {
    auto l = OpenLedger();
    EXPECT_EQ(l->Size(), 20u);
    EXPECT_EQ(*l->Append(EntryBytes(20)), 20u);
  }
  LedgerOptions other = Options();
  other.signer = testing::TestSigner("test.mlahub.example/ledger", 8);
  EXPECT_EQ(Ledger::Open(dir_.path(), std::move(other)).status().code(), Code::kInvalidArgument);
  LedgerOptions origin = Options();
  origin.origin = "elsewhere";
  EXPECT_EQ(Ledger::Open(dir_.path(), std::move(origin)).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(VerifyReadOnly().status.ok());
}

// The upper tree levels are kept in memory: loaded in the background at open
// (writer and read-only view), then extended by the writer. Proofs must match
// the reference before, during and after the load.
TEST_F(LedgerTest, ProofsMatchReferenceAfterReopen) {
  std::vector<Bytes> leaves;
  {
    auto l = OpenLedger();
    leaves = Fill(*l, 700);
  }
  auto check = [&](const Ledger& l, uint64_t n) {
    Reference ref(std::vector<Bytes>(leaves.begin(), leaves.begin() + static_cast<long>(n)));
    for (uint64_t s : {uint64_t{1}, uint64_t{31}, uint64_t{32}, uint64_t{33}, uint64_t{255}, uint64_t{256},
                       uint64_t{513}, uint64_t{699}, uint64_t{700}, n - 1, n}) {
      if (s == 0 || s > n) continue;
      ASSERT_EQ(*l.Root(s), ref.Mth(0, s)) << "size " << s;
      for (uint64_t m = 0; m < s; m += 1 + m / 8) {
        auto p = l.ProveInclusion(m, s);
        ASSERT_TRUE(p.ok()) << p.status().ToString();
        ASSERT_EQ(p->path, ref.Path(m, 0, s)) << m << "/" << s;
        ASSERT_EQ(p->entry, leaves[m]);
        auto c = l.ProveConsistency(m, s);
        ASSERT_TRUE(c.ok()) << c.status().ToString();
        ASSERT_EQ(*c, ref.Consistency(m, s)) << m << " -> " << s;
      }
    }
  };
  {
    auto l = OpenLedger();
    check(*l, 700);  // probably while the upper levels load
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    check(*l, 700);
    auto more = Fill(*l, 333);
    leaves.insert(leaves.end(), more.begin(), more.end());
    check(*l, 1033);
  }
  auto ro = Ledger::OpenReadOnly(dir_.path());
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  check(**ro, 1033);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  check(**ro, 1033);
  EXPECT_TRUE((*ro)->Verify().status.ok());  // drops the view's upper tree
  check(**ro, 1033);
}

TEST_F(LedgerTest, ReadOnlyViewWhileWriterRuns) {
  auto l = OpenLedger();
  Fill(*l, 50);
  auto ro = Ledger::OpenReadOnly(dir_.path());
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  EXPECT_EQ((*ro)->Size(), 50u);
  EXPECT_EQ((*ro)->verifier_key(), l->verifier_key());
  EXPECT_EQ(*(*ro)->Root(50), *l->Root(50));
  EXPECT_EQ((*ro)->Append(EntryBytes(0)).status().code(), Code::kUnavailable);
  Fill(*l, 10);  // the view stays at its snapshot
  EXPECT_EQ((*ro)->Size(), 50u);
  EXPECT_TRUE((*ro)->Verify().status.ok());
  auto ro2 = Ledger::OpenReadOnly(dir_.path());
  ASSERT_TRUE(ro2.ok());
  EXPECT_EQ((*ro2)->Size(), 60u);
  VerifyReport r = (*ro2)->Verify();
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  // A second writer is refused while the first holds the ledger.
  EXPECT_FALSE(Ledger::Open(dir_.path(), Options()).ok());
}

TEST_F(LedgerTest, CheckpointIntervalSignsTailOnClose) {
  LedgerOptions o = Options();
  o.checkpoint_interval_ms = 3600 * 1000;
  {
    auto l = OpenLedger(std::move(o));
    Fill(*l, 40);
    uint64_t s = 0;
    ASSERT_TRUE(l->LatestCheckpoint(&s).ok());
    EXPECT_LT(s, 40u);  // at most the first batch was signed
    ASSERT_OK(l->Close());
  }
  auto ro = Ledger::OpenReadOnly(dir_.path());
  ASSERT_TRUE(ro.ok());
  uint64_t s = 0;
  ASSERT_TRUE((*ro)->LatestCheckpoint(&s).ok());
  EXPECT_EQ(s, 40u);
  EXPECT_TRUE((*ro)->Verify().status.ok());
}

TEST_F(LedgerTest, CheckpointIntervalSignsTailWhenIdle) {
  LedgerOptions o = Options();
  o.checkpoint_interval_ms = 50;
  auto l = OpenLedger(std::move(o));
  Fill(*l, 30);
  // Poll (no fixed sleep decides the outcome): the idle writer signs the tail.
  for (int i = 0; i < 400; ++i) {
    uint64_t s = 0;
    ASSERT_TRUE(l->LatestCheckpoint(&s).ok());
    if (s == 30) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  uint64_t s = 0;
  ASSERT_TRUE(l->LatestCheckpoint(&s).ok());
  EXPECT_EQ(s, 30u);
}

// The message-id index is written by its own thread after each commit; a
// lookup waits for it, so an entry is found as soon as its append returns.
TEST_F(LedgerTest, FindByIndexKeyRightAfterAppend) {
  auto l = OpenLedger();
  for (uint64_t i = 0; i < 200; ++i) {
    std::string key = "msg-" + std::to_string(i % 50);
    auto idx = l->Append(EntryBytes(i), key);
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    auto found = l->FindByIndexKey(key);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    ASSERT_FALSE(found->empty());
    ASSERT_EQ(found->back(), *idx) << "key " << key;
    ASSERT_EQ(found->size(), i / 50 + 1);
  }
  // Also from inside a callback (the committing thread), for async appends
  // from several threads.
  std::atomic<int> bad{0};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        std::string key = "cb-" + std::to_string(t) + "-" + std::to_string(i);
        l->AppendAsync(ToBytes(key), key, [&, key](const Status& s, uint64_t idx) {
          auto found = l->FindByIndexKey(key);
          if (!s.ok() || !found.ok() || *found != std::vector<uint64_t>{idx}) bad.fetch_add(1);
          done.fetch_add(1);
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_OK(l->Close());
  EXPECT_EQ(done.load(), 900);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_TRUE(VerifyReadOnly().status.ok());
}

// ---- corruption: verify names the first bad index ----

class LedgerCorruptionTest : public LedgerTest {
 protected:
  void SetUp() override {
    auto l = OpenLedger();
    Fill(*l, 100);
    ASSERT_OK(l->Close());
    ASSERT_TRUE(VerifyReadOnly().status.ok());
  }
};

TEST_F(LedgerCorruptionTest, FlippedEntryByte) {
  {
    testing::Tamper t(dir_.path());
    t.Flip(L::kCfEntries, L::Be64(37), t.EntryBytesOffset(37) + 3);
  }
  VerifyReport r = VerifyReadOnly();
  EXPECT_EQ(r.status.code(), Code::kCorruption);
  ASSERT_TRUE(r.bad_index.has_value());
  EXPECT_EQ(*r.bad_index, 37u);
  EXPECT_EQ(r.entries, 37u);
  // Serving a proof of the altered entry is refused too.
  auto ro = Ledger::OpenReadOnly(dir_.path());
  EXPECT_EQ((*ro)->ProveInclusion(37, 100).status().code(), Code::kCorruption);
}

TEST_F(LedgerCorruptionTest, FlippedLeafHash) {
  { testing::Tamper(dir_.path()).Flip(L::kCfEntries, L::Be64(12), 0); }
  VerifyReport r = VerifyReadOnly();
  EXPECT_EQ(r.status.code(), Code::kCorruption);
  EXPECT_EQ(r.bad_index.value_or(999), 12u);
}

TEST_F(LedgerCorruptionTest, FlippedNodeHash) {
  // Leaf 63 completes levels 1..6; flip the level-4 hash (entries 48..63),
  // stored with the other nodes of block 32..63 in the `nodes` record of 63.
  { testing::Tamper(dir_.path()).Flip(L::kCfNodes, L::Be64(63), L::NodeSlot(4, 3) * kHashSize + 5); }
  VerifyReport r = VerifyReadOnly();
  EXPECT_EQ(r.status.code(), Code::kCorruption);
  EXPECT_EQ(r.bad_index.value_or(999), 63u);
  EXPECT_NE(r.status.message().find("48..63"), std::string::npos) << r.status.message();
}

TEST_F(LedgerCorruptionTest, FlippedUpperNodeHash) {
  // After the block's 30 nodes, leaf 63's `nodes` record holds levels 5 and
  // 6; flip level 6 (entries 0..63).
  { testing::Tamper(dir_.path()).Flip(L::kCfNodes, L::Be64(63), L::NodeSlot(6, 0) * kHashSize + 7); }
  VerifyReport r = VerifyReadOnly();
  EXPECT_EQ(r.status.code(), Code::kCorruption);
  EXPECT_EQ(r.bad_index.value_or(999), 63u);
  EXPECT_NE(r.status.message().find("entries 0..63"), std::string::npos) << r.status.message();
  // A proof that uses the altered hash does not verify against the signed root.
  auto ro = Ledger::OpenReadOnly(dir_.path());
  ASSERT_TRUE(ro.ok());
  auto p = (*ro)->ProveInclusion(70, 100);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto root = (*ro)->Root(100);
  ASSERT_TRUE(root.ok());
  EXPECT_FALSE(VerifyInclusion(70, 100, p->leaf_hash, p->path, *root).ok());
}

TEST_F(LedgerCorruptionTest, FlippedCheckpoint) {
  std::vector<uint64_t> sizes;
  {
    auto ro = Ledger::OpenReadOnly(dir_.path());
    sizes = *(*ro)->CheckpointSizes();
  }
  uint64_t victim = sizes[sizes.size() / 2];
  { testing::Tamper(dir_.path()).Flip(L::kCfCheckpoints, L::Be64(victim), 2); }
  VerifyReport r = VerifyReadOnly();
  EXPECT_EQ(r.status.code(), Code::kCorruption);
  EXPECT_EQ(r.bad_checkpoint.value_or(999), victim);
  EXPECT_FALSE(r.bad_index.has_value());
}

TEST_F(LedgerCorruptionTest, ResignedCheckpointWithWrongRoot) {
  // A checkpoint properly signed by the hub key but over a wrong root.
  std::string note = SignNote(CheckpointText({"test.mlahub.example/ledger", 50, EmptyRoot()}),
                              *testing::TestSigner());
  { testing::Tamper(dir_.path()).Put(L::kCfCheckpoints, L::Be64(50), note); }
  VerifyReport r = VerifyReadOnly();
  EXPECT_EQ(r.status.code(), Code::kCorruption);
  EXPECT_EQ(r.bad_checkpoint.value_or(999), 50u);
}

TEST_F(LedgerCorruptionTest, DeletedEntry) {
  { testing::Tamper(dir_.path()).Delete(L::kCfEntries, L::Be64(5)); }
  VerifyReport r = VerifyReadOnly();
  EXPECT_EQ(r.status.code(), Code::kCorruption);
  EXPECT_EQ(r.bad_index.value_or(999), 5u);
}

TEST_F(LedgerCorruptionTest, AlteredHeadIsCaught) {
  {
    testing::Tamper t(dir_.path());
    t.Flip(L::kCfDefault, std::string(L::kHead), 8 + 4);  // a byte of the root
  }
  EXPECT_EQ(VerifyReadOnly().status.code(), Code::kCorruption);
  EXPECT_EQ(Ledger::Open(dir_.path(), Options()).status().code(), Code::kCorruption);
}

TEST_F(LedgerCorruptionTest, RecordsBeyondHeadAreCutBackOnOpen) {
  {
    testing::Tamper t(dir_.path());
    t.Put(L::kCfEntries, L::Be64(100), std::string(32, 'h') + "torn");
    t.Put(L::kCfNodes, L::Be64(101), std::string(32, 'n'));
    t.Put(L::kCfIndex, L::IndexKey("stray", 100), "");
  }
  VerifyReport before = VerifyReadOnly();
  EXPECT_EQ(before.status.code(), Code::kCorruption);
  EXPECT_EQ(before.bad_index.value_or(0), 100u);
  {
    auto l = OpenLedger();  // cuts back the tail
    EXPECT_EQ(l->Size(), 100u);
    EXPECT_TRUE(l->FindByIndexKey("stray")->empty());
    EXPECT_EQ(l->Entry(100).status().code(), Code::kNotFound);
    EXPECT_EQ(*l->Append(EntryBytes(100)), 100u);
  }
  VerifyReport after = VerifyReadOnly();
  EXPECT_TRUE(after.status.ok()) << after.status.ToString();
  EXPECT_EQ(after.entries, 101u);
}

TEST_F(LedgerCorruptionTest, VerifyReportsProgress) {
  auto ro = Ledger::OpenReadOnly(dir_.path());
  uint64_t last_done = 0, last_total = 0;
  VerifyReport r = (*ro)->Verify([&](uint64_t done, uint64_t total) {
    last_done = done;
    last_total = total;
  });
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(last_done, 100u);
  EXPECT_EQ(last_total, 100u);
}

// What a crash leaves of the index: the keys of entries below the flushed
// watermark (the rest lived in a memtable written without WAL).
void LoseIndexTail(const std::string& dir, uint64_t keep) {
  testing::Tamper t(dir);
  for (const std::string& k : t.Keys(L::kCfIndex)) {
    std::string_view key;
    uint64_t i = 0;
    if (L::ParseIndexKey(k, &key, &i) && i >= keep) t.Delete(L::kCfIndex, k);
  }
  t.Put(L::kCfIndex, std::string(L::kIndexWatermark), L::Be64(keep));
}

TEST_F(LedgerCorruptionTest, IndexRebuiltFromTheEntriesAfterACrash) {
  LoseIndexTail(dir_.path(), 40);
  std::vector<uint64_t> id3 = {3, 13, 23, 33, 43, 53, 63, 73, 83, 93};
  {
    // A read-only view finds what lies beyond its watermark in the records.
    auto ro = Ledger::OpenReadOnly(dir_.path());
    ASSERT_TRUE(ro.ok());
    EXPECT_EQ(*(*ro)->FindByIndexKey("id-3"), id3);
    EXPECT_TRUE((*ro)->Verify().status.ok());
  }
  {
    // The writer re-indexes the entries from the watermark on.
    auto l = OpenLedger();
    EXPECT_EQ(*l->FindByIndexKey("id-3"), id3);
    EXPECT_EQ(*l->Append(EntryBytes(100), "id-3"), 100u);
    id3.push_back(100);
    EXPECT_EQ(*l->FindByIndexKey("id-3"), id3);
    EXPECT_TRUE(l->Verify().status.ok());
  }
  {
    testing::Tamper t(dir_.path());
    EXPECT_EQ(t.Get(L::kCfIndex, std::string(L::kIndexWatermark)), L::Be64(101));  // complete after Close
    EXPECT_EQ(t.Keys(L::kCfIndex).size(), 102u);  // 101 keys and the watermark
  }
  auto ro = Ledger::OpenReadOnly(dir_.path());
  EXPECT_EQ(*(*ro)->FindByIndexKey("id-3"), id3);
  EXPECT_TRUE((*ro)->Verify().status.ok());
}

TEST_F(LedgerCorruptionTest, IndexWithoutWatermarkIsRebuilt) {
  LoseIndexTail(dir_.path(), 0);
  { testing::Tamper(dir_.path()).Delete(L::kCfIndex, std::string(L::kIndexWatermark)); }
  {
    auto l = OpenLedger();
    EXPECT_EQ(l->FindByIndexKey("id-9")->size(), 10u);
  }
  EXPECT_TRUE(VerifyReadOnly().status.ok());
}

TEST_F(LedgerCorruptionTest, MissingIndexKey) {
  { testing::Tamper(dir_.path()).Delete(L::kCfIndex, L::IndexKey("id-2", 42)); }
  VerifyReport r = VerifyReadOnly();
  EXPECT_EQ(r.status.code(), Code::kCorruption);
  EXPECT_EQ(r.bad_index.value_or(999), 42u);
  EXPECT_NE(r.status.message().find("missing from the message-id index"), std::string::npos)
      << r.status.message();
}

TEST_F(LedgerCorruptionTest, IndexKeyPointingAtAnotherEntry) {
  // Entry 44 was appended under "id-4"; a forged index key lists it under "id-3".
  { testing::Tamper(dir_.path()).Put(L::kCfIndex, L::IndexKey("id-3", 44), ""); }
  VerifyReport r = VerifyReadOnly();
  EXPECT_EQ(r.status.code(), Code::kCorruption);
  EXPECT_EQ(r.bad_index.value_or(999), 44u);
  // Lookups serve only entries whose own record holds the key.
  auto ro = Ledger::OpenReadOnly(dir_.path());
  auto found = (*ro)->FindByIndexKey("id-3");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(std::count(found->begin(), found->end(), 44u), 0);
  EXPECT_EQ(found->size(), 10u);
}

TEST_F(LedgerCorruptionTest, IndexKeyRenamedInTheRecord) {
  // The key held in entry 45's record no longer matches the index.
  {
    testing::Tamper t(dir_.path());
    t.Flip(L::kCfEntries, L::Be64(45), t.IndexKeyOffset(45) + 3, 0x03);  // "id-5" -> "id-6"
  }
  VerifyReport r = VerifyReadOnly();
  EXPECT_EQ(r.status.code(), Code::kCorruption);
  EXPECT_EQ(r.bad_index.value_or(999), 45u);
}

TEST_F(LedgerCorruptionTest, IndexWatermarkBeyondHead) {
  { testing::Tamper(dir_.path()).Put(L::kCfIndex, std::string(L::kIndexWatermark), L::Be64(150)); }
  VerifyReport r = VerifyReadOnly();
  EXPECT_EQ(r.status.code(), Code::kCorruption);
  EXPECT_NE(r.status.message().find("beyond the committed size"), std::string::npos) << r.status.message();
  {
    auto l = OpenLedger();  // cuts the index back to the head
    EXPECT_EQ(l->FindByIndexKey("id-1")->size(), 10u);
  }
  EXPECT_TRUE(VerifyReadOnly().status.ok());
}

TEST_F(LedgerCorruptionTest, RefusesFormatOne) {
  { testing::Tamper(dir_.path()).Put(L::kCfDefault, std::string(L::kMetaFormat), "1"); }
  auto rw = Ledger::Open(dir_.path(), Options());
  EXPECT_EQ(rw.status().code(), Code::kUnsupportedVersion);
  EXPECT_NE(rw.status().message().find("format version 1"), std::string::npos) << rw.status().message();
  EXPECT_EQ(Ledger::OpenReadOnly(dir_.path()).status().code(), Code::kUnsupportedVersion);
}

}  // namespace
}  // namespace mlahub::storage
