// The hub audit against a real ledger (storage::Ledger) as the hub keeps
// it: an honest hub passes; a forged checkpoint, a bad consistency proof, a
// forked log, a bad inclusion proof, an entry that does not name our message
// and a refused proof each raise an alarm and are not adopted.
#include "mlahub/agents/auditor.h"

#include <gtest/gtest.h>

#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/storage/ledger.h"
#include "mlahub/storage/ledger_entry.h"
#include "test_keys.h"
#include "test_network.h"

namespace mlahub::agents {
namespace {

using storage::Ledger;
using testing::kTestNow;
using transport::ProofKind;
using transport::ProofRequest;
using transport::ProofResponse;

constexpr const char* kOrigin = "xx-hub.mlahub/ledger";

std::string Id(int i) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%032x", i + 1);
  return buf;
}
std::string HashHex(int i) {
  auto h = crypto::Sha256(AsBytes("envelope " + std::to_string(i)));
  return crypto::ToHex(ByteView(h.data(), h.size()));
}
Bytes AcceptedEntry(int i, const std::string& id) {
  storage::LedgerEntryFields f;
  f.event = wire::LedgerEvent::Accepted;
  f.ledger_ms = kTestNow;
  f.message_id = id;
  f.sender = "IT-MOJ";
  f.recipient = "NG-AGF";
  f.kind = wire::MessageKind::MlaRequest;
  auto h = crypto::Sha256(AsBytes("envelope " + std::to_string(i)));
  f.envelope_hash.assign(h.begin(), h.end());
  f.state = wire::MessageState::Queued;
  return storage::EncodeLedgerEntry(f);
}

// A hub ledger with its signing key.
struct Hub {
  std::string dir;
  std::unique_ptr<Ledger> ledger;
  Hub(const std::string& d, const crypto::SigningKey& key) : dir(d) {
    auto copy = crypto::SigningKey::FromBytes(ByteView(key.secret().data(), 64));
    MLAHUB_CHECK(copy.ok());
    auto signer = storage::Ed25519NoteSigner::Create(kOrigin, std::move(*copy));
    MLAHUB_CHECK(signer.ok());
    storage::LedgerOptions o;
    o.create_if_missing = true;
    o.origin = kOrigin;
    o.signer = std::shared_ptr<const storage::NoteSigner>(std::move(*signer));
    auto l = Ledger::Open(dir, std::move(o));
    MLAHUB_CHECK_MSG(l.ok(), l.status().ToString());
    ledger = std::move(*l);
  }
  // Appends entries for messages [from, to); entry i is for message i
  // unless `other` is set (then it names another message and hash).
  void Append(int from, int to, int other = -1) {
    for (int i = from; i < to; ++i) {
      Bytes e = i == other ? AcceptedEntry(1000 + i, Id(1000 + i)) : AcceptedEntry(i, Id(i));
      auto r = ledger->Append(e, Id(i));
      MLAHUB_CHECK_MSG(r.ok(), r.status().ToString());
    }
  }
  transport::CheckpointUpdate Update(uint64_t old_size) const {
    uint64_t size = 0;
    auto note = ledger->LatestCheckpoint(&size);
    MLAHUB_CHECK(note.ok());
    transport::CheckpointUpdate u;
    u.note = ToBytes(*note);
    u.old_size = old_size;
    if (old_size != 0) {
      auto p = ledger->ProveConsistency(old_size, size);
      MLAHUB_CHECK(p.ok());
      u.consistency.assign(p->begin(), p->end());
    }
    return u;
  }
  // The broker's answer to a ProofRequest, from the real ledger.
  ProofResponse Answer(const ProofRequest& q) const {
    ProofResponse r;
    r.correlation = q.correlation;
    r.kind = q.kind;
    r.index = q.index;
    r.tree_size = q.tree_size;
    r.old_size = q.old_size;
    if (q.kind == ProofKind::kInclusion) {
      auto p = ledger->ProveInclusion(q.index, q.tree_size);
      if (!p.ok()) {
        r.error = p.status().code();
        r.message = p.status().message();
        return r;
      }
      r.entry = p->entry;
      r.proof.assign(p->path.begin(), p->path.end());
    } else {
      auto p = ledger->ProveConsistency(q.old_size, q.tree_size);
      if (!p.ok()) {
        r.error = p.status().code();
        r.message = p.status().message();
        return r;
      }
      r.proof.assign(p->begin(), p->end());
    }
    return r;
  }
};

class AuditorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("agents-audit");
    hub_ = std::make_unique<Hub>(dir_ + "/ledger", k_.hub.sign);
    OpenAgentSide();
  }
  void TearDown() override {
    auditor_.reset();
    store_.reset();
    hub_.reset();
    fork_.reset();
    testing::RemoveTree(dir_);
  }
  void OpenAgentSide() {
    auditor_.reset();
    if (store_) {
      ASSERT_TRUE(store_->Close().ok());
    }
    store_.reset();
    auto s = CaseStore::Open(dir_ + "/store", "IT-MOJ");
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    auditor_ = std::make_unique<Auditor>(
        *store_, alarms_, clock_, [this] { return ++corr_; },
        [this](const AuditJob& j, uint64_t size, StoreBatch&) { included_.emplace_back(j.index, size); });
    ASSERT_TRUE(auditor_->Load().ok());
    auditor_->SetHubKey(k_.hub.sign.public_key());
  }
  // Tracks a job for message i at ledger index i (as a SubmitResult would).
  void Track(int i) {
    AuditJob j{static_cast<uint64_t>(i), AuditJobKind::kSubmitted, Id(i), HashHex(i), clock_.NowMillis()};
    StoreBatch b;
    CaseStore::PutAuditJob(b, j);
    ASSERT_TRUE(store_->Write(b).ok());
    Serve(auditor_->Track(j));
  }
  // Answers requests with `hub` (after `tamper`), until none are left.
  void Serve(std::vector<ProofRequest> reqs, const Hub* hub = nullptr,
             const std::function<void(ProofResponse&)>& tamper = {}) {
    const Hub& h = hub ? *hub : *hub_;
    while (!reqs.empty()) {
      std::vector<ProofRequest> next;
      for (const ProofRequest& q : reqs) {
        ProofResponse r = h.Answer(q);
        if (tamper) tamper(r);
        for (auto& n : auditor_->OnProofResponse(r)) next.push_back(n);
      }
      reqs = std::move(next);
    }
  }

  testing::TestKeys k_;
  FakeClock clock_{kTestNow};
  testing::AlarmCollector alarms_;
  std::string dir_;
  std::unique_ptr<Hub> hub_, fork_;
  std::unique_ptr<CaseStore> store_;
  std::unique_ptr<Auditor> auditor_;
  uint64_t corr_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> included_;
};

TEST_F(AuditorTest, HonestHubPassesEveryCheck) {
  hub_->Append(0, 5);
  Track(1);
  Track(3);
  Track(7);  // not yet in the log
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(0)));
  EXPECT_EQ(auditor_->held_size(), 5u);
  EXPECT_EQ(included_, (std::vector<std::pair<uint64_t, uint64_t>>{{1, 5}, {3, 5}}));
  EXPECT_TRUE(auditor_->WantsNewerCheckpoint(0)) << "job 7 waits for a checkpoint covering it";

  hub_->Append(5, 9);
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(5)));  // with a proof from our size
  EXPECT_EQ(auditor_->held_size(), 9u);
  EXPECT_EQ(included_.back(), (std::pair<uint64_t, uint64_t>{7, 9}));
  EXPECT_EQ(auditor_->pending_jobs(), 0u);

  hub_->Append(9, 12);
  // An update whose proof starts elsewhere (a fresh connection's Hello said
  // 0): the auditor asks for a proof from the size it holds.
  auto reqs = auditor_->OnCheckpointUpdate(hub_->Update(0));
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].kind, ProofKind::kConsistency);
  EXPECT_EQ(reqs[0].old_size, 9u);
  EXPECT_EQ(reqs[0].tree_size, 12u);
  EXPECT_EQ(auditor_->held_size(), 9u) << "not adopted before the proof";
  Serve(reqs);
  EXPECT_EQ(auditor_->held_size(), 12u);
  // The same checkpoint again, and an older one: no alarm.
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(0)));
  auto older = hub_->ledger->CheckpointAt(9);
  ASSERT_TRUE(older.ok());
  transport::CheckpointUpdate old_update;
  old_update.note = ToBytes(*older);
  Serve(auditor_->OnCheckpointUpdate(old_update));
  EXPECT_EQ(auditor_->held_size(), 12u);
  EXPECT_TRUE(alarms_.alarms.empty()) << alarms_.alarms[0].message;

  // The held checkpoint and the jobs survive a restart.
  Track(20);
  OpenAgentSide();
  EXPECT_EQ(auditor_->held_size(), 12u);
  EXPECT_EQ(auditor_->pending_jobs(), 1u);
  auto report = auditor_->Report();
  EXPECT_EQ(report["checkpoint"]["tree_size"], 12);
  EXPECT_EQ(report["jobs_waiting_for_checkpoint"], 1);
}

TEST_F(AuditorTest, AnIndexTheHubsCheckpointsNeverReachIsAnAlarm) {
  hub_->Append(0, 5);
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(0)));
  Track(3);
  Track(1000000);  // the hub named an index its log does not reach
  EXPECT_EQ(included_.size(), 1u);
  // Two newer checkpoints that fall short (they may have been signed before
  // the index was given): no alarm, however much time passes.
  for (uint64_t from : {5, 6}) {
    hub_->Append(from, from + 1);
    Serve(auditor_->OnCheckpointUpdate(hub_->Update(from)));
    clock_.Advance(48LL * 3600 * 1000);
    Serve(auditor_->Tick());
  }
  EXPECT_TRUE(alarms_.alarms.empty());
  // The same checkpoint pushed again is not a newer one.
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(6)));
  Serve(auditor_->Tick());
  EXPECT_TRUE(alarms_.alarms.empty());
  // A third that still falls short: alarmed, once; the job is kept.
  hub_->Append(7, 9);
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(7)));
  Serve(auditor_->Tick());
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"audit_uncovered"}));
  Serve(auditor_->Tick());
  EXPECT_EQ(alarms_.alarms.size(), 1u);
  EXPECT_EQ(auditor_->pending_jobs(), 1u);
  // After a restart the count starts again for the loaded job (an agent that
  // was down long is not a reason): no alarm at once.
  OpenAgentSide();
  Serve(auditor_->Tick());
  EXPECT_EQ(alarms_.alarms.size(), 1u);
  // An index the hub gives and then logs is never alarmed.
  Track(12);
  for (uint64_t from : {9, 10}) {
    hub_->Append(from, from + 1);
    Serve(auditor_->OnCheckpointUpdate(hub_->Update(from)));
  }
  hub_->Append(11, 13);
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(11)));
  Serve(auditor_->Tick());
  EXPECT_EQ(included_.back(), (std::pair<uint64_t, uint64_t>{12, 13}));
  // Meanwhile the loaded job saw three newer checkpoints in this run: alarmed
  // again, once per run.
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"audit_uncovered", "audit_uncovered"}));
}

TEST_F(AuditorTest, ForgedCheckpointIsRefused) {
  hub_->Append(0, 3);
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(0)));
  ASSERT_EQ(auditor_->held_size(), 3u);
  // Someone else's ledger, same origin, another key.
  auto other = crypto::SigningKey::Generate();
  fork_ = std::make_unique<Hub>(dir_ + "/forged", other);
  fork_->Append(0, 6);
  Serve(auditor_->OnCheckpointUpdate(fork_->Update(3)), fork_.get());
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"checkpoint_signature"}));
  EXPECT_EQ(auditor_->held_size(), 3u);
  // A note with a flipped byte in its signature.
  auto u = hub_->Update(0);
  u.note[u.note.size() - 5] ^= 1;
  Serve(auditor_->OnCheckpointUpdate(u));
  EXPECT_EQ(alarms_.alarms.size(), 2u);
  EXPECT_EQ(auditor_->held_size(), 3u);
}

TEST_F(AuditorTest, BadConsistencyProofIsAnAlarm) {
  hub_->Append(0, 5);
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(0)));
  hub_->Append(5, 13);
  auto u = hub_->Update(5);
  ASSERT_FALSE(u.consistency.empty());
  u.consistency[0][0] ^= 1;
  Serve(auditor_->OnCheckpointUpdate(u));
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"consistency_proof"}));
  EXPECT_EQ(auditor_->held_size(), 5u);
  // Asked for the proof, the hub answers a bad one: an alarm again.
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(0)), nullptr, [](ProofResponse& r) {
    if (!r.proof.empty()) r.proof.back()[31] ^= 0x80;
  });
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"consistency_proof", "consistency_proof"}));
  EXPECT_EQ(auditor_->held_size(), 5u);
}

TEST_F(AuditorTest, ForkedLogIsCaught) {
  // The hub shows us one history, then another that rewrote entry 2.
  hub_->Append(0, 5);
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(0)));
  fork_ = std::make_unique<Hub>(dir_ + "/fork", k_.hub.sign);
  fork_->Append(0, 8, /*other=*/2);
  Serve(auditor_->OnCheckpointUpdate(fork_->Update(5)), fork_.get());
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"consistency_proof"}));
  EXPECT_EQ(auditor_->held_size(), 5u);
  // Same size, another root: two signed checkpoints that contradict.
  auto fork5 = std::make_unique<Hub>(dir_ + "/fork5", k_.hub.sign);
  fork5->Append(0, 5, /*other=*/4);
  Serve(auditor_->OnCheckpointUpdate(fork5->Update(0)), fork5.get());
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"consistency_proof", "checkpoint_fork"}));
  // The same forked note again (a hub pushes its latest every second): one
  // alarm per distinct note, not one per push.
  Serve(auditor_->OnCheckpointUpdate(fork5->Update(0)), fork5.get());
  EXPECT_EQ(alarms_.alarms.size(), 2u);
}

TEST_F(AuditorTest, BadInclusionProofIsAnAlarm) {
  hub_->Append(0, 9);
  Track(4);
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(0)), nullptr, [](ProofResponse& r) {
    if (r.kind == ProofKind::kInclusion && !r.proof.empty()) r.proof[1][3] ^= 1;
  });
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"inclusion_proof"}));
  EXPECT_TRUE(included_.empty());
}

TEST_F(AuditorTest, EntryThatDoesNotNameOurMessageIsAnAlarm) {
  // The hub acknowledged message 3 at index 3, but its log holds something
  // else there (a valid proof of the wrong entry).
  hub_->Append(0, 6, /*other=*/3);
  Track(3);
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(0)));
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"ledger_entry_mismatch"}));
  EXPECT_TRUE(included_.empty());
}

// A receipt signed again after a key rotation: the entry may hold either
// copy, so a job with an alt_hash accepts either hash, and only those.
TEST_F(AuditorTest, AJobWithAnAlternativeHashAcceptsEitherCopy) {
  hub_->Append(0, 6);
  auto track = [&](int i, std::string hash, std::string alt) {
    AuditJob j{static_cast<uint64_t>(i), AuditJobKind::kSubmitted, Id(i), std::move(hash), clock_.NowMillis()};
    j.alt_hash = std::move(alt);
    StoreBatch b;
    CaseStore::PutAuditJob(b, j);
    ASSERT_TRUE(store_->Write(b).ok());
    Serve(auditor_->Track(j));
  };
  const std::string other(64, 'a');
  track(2, other, HashHex(2));   // the entry holds the other copy
  track(3, HashHex(3), other);   // the entry holds the stored copy
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(0)));
  EXPECT_TRUE(alarms_.alarms.empty()) << alarms_.alarms[0].message;
  EXPECT_EQ(included_.size(), 2u);
  track(4, other, std::string(64, 'b'));  // neither
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"ledger_entry_mismatch"}));
}

TEST_F(AuditorTest, RefusedProofIsAnAlarmTransientIsRetried) {
  hub_->Append(0, 6);
  Track(2);
  Serve(auditor_->OnCheckpointUpdate(hub_->Update(0)), nullptr, [](ProofResponse& r) {
    r.error = Code::kUnavailable;
    r.proof.clear();
  });
  EXPECT_TRUE(alarms_.alarms.empty());
  EXPECT_EQ(auditor_->pending_jobs(), 1u);
  clock_.Advance(60000);
  Serve(auditor_->Tick(), nullptr, [](ProofResponse& r) {
    r.error = Code::kNotFound;
    r.message = "no such entry";
    r.proof.clear();
  });
  EXPECT_EQ(alarms_.Kinds(), (std::vector<std::string>{"proof_refused"}));
}

TEST_F(AuditorTest, NoteKeyNameFromTheSignatureLine) {
  hub_->Append(0, 1);
  uint64_t size = 0;
  auto note = hub_->ledger->LatestCheckpoint(&size);
  ASSERT_TRUE(note.ok());
  auto name = FindNoteKeyName(*note, k_.hub.sign.public_key());
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  EXPECT_EQ(*name, kOrigin);
  EXPECT_EQ(FindNoteKeyName(*note, k_.it.sign.public_key()).status().code(), Code::kBadSignature);
  EXPECT_EQ(FindNoteKeyName("no signature block", k_.hub.sign.public_key()).status().code(), Code::kMalformed);
}

}  // namespace
}  // namespace mlahub::agents
