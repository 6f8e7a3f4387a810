// The agent's audit of the hub (issue 4, "It audits the hub"): a state that
// holds the hub to its own signed ledger, so that a hub that forks its log or
// drops history is caught by the states themselves.
//
//  - Checkpoints. The auditor keeps the latest checkpoint it verified (C2SP
//    signed note, signature by the hub's Ed25519 key from the directory's Hub
//    entry; the key name is the one on the note's signature line whose key id
//    matches that key, and the origin is pinned at the first checkpoint).
//    For every newer CheckpointUpdate it verifies the RFC 9162 consistency
//    proof from the size it holds (using the update's proof if it starts
//    there, else asking ProofRequest{Consistency}); only then does it adopt
//    the new checkpoint. A checkpoint of the same size with another root, a
//    smaller one that is not a prefix, a bad signature, a changed origin or a
//    proof that does not verify raise an alarm and are not adopted.
//  - Inclusion. For each ledger entry the agent has a stake in (its own
//    accepted envelopes, envelopes delivered to it, its receipts), it asks
//    ProofRequest{Inclusion} at the size of the checkpoint it holds once that
//    covers the index, verifies the audit path to the checkpoint's root and
//    decodes the entry (storage::DecodeLedgerEntry): it must be the expected
//    event naming that message id and that envelope (or receipt) hash.
//  - Any failure: AlarmSink::RaiseAlarm (logged as audit.alarm, counted,
//    stored). A refused proof (error other than unavailable/internal) is a
//    failure too: an honest hub can prove anything below a size it signed.
//
// Trust on first use: the first checkpoint an agent ever sees is adopted
// after its signature check alone (there is nothing to be consistent with).
//
// The auditor sends nothing itself: its methods return the ProofRequests to
// send (the caller owns the transport). It persists its state (held
// checkpoint, jobs) through the CaseStore in fsync'd batches.
//
// Thread-safety: all methods may be called from any thread (one mutex); the
// agent calls the mutating ones from its network thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlahub/agents/case_store.h"
#include "mlahub/agents/records.h"
#include "mlahub/core/clock.h"
#include "mlahub/crypto/sign.h"
#include "mlahub/ops/metrics.h"
#include "mlahub/storage/merkle.h"
#include "mlahub/storage/note.h"
#include "mlahub/transport/command.h"

namespace mlahub::agents {

// A job whose index the hub's checkpoints still do not reach is alarmed
// (audit_uncovered) once this many newer checkpoints were adopted since it
// was tracked (Auditor::Tick explains why three).
inline constexpr uint64_t kUncoveredAfterCheckpoints = 3;

struct AuditorOptions {
  // A proof request without an answer for this long is sent again.
  int64_t retry_ms = 30000;
  // At most this many proof requests outstanding at once.
  size_t max_inflight = 256;
};

class Auditor {
 public:
  using NextCorrelation = std::function<uint64_t()>;
  // Called (on the caller's thread, inside the auditor's lock: it must not
  // call back into the auditor) when a job's inclusion was verified at
  // tree_size, with the batch that also deletes the job: the agent adds its
  // evidence update ("included") to it.
  using OnIncluded = std::function<void(const AuditJob& job, uint64_t tree_size, StoreBatch& batch)>;

  Auditor(CaseStore& store, AlarmSink& alarms, const Clock& clock, NextCorrelation next, OnIncluded on_included,
          ops::Registry* metrics = nullptr, AuditorOptions options = {});

  // Reads the held checkpoint and the jobs. kCorruption if the stored
  // checkpoint does not parse.
  Status Load();
  // The hub's checkpoint key (from the directory); nullopt if the directory
  // has no hub entry (then checkpoints cannot be verified and are refused).
  void SetHubKey(std::optional<crypto::SignPublicKey> key);

  std::vector<transport::ProofRequest> OnCheckpointUpdate(const transport::CheckpointUpdate& update);
  std::vector<transport::ProofRequest> OnProofResponse(const transport::ProofResponse& response);

  // A new job. The caller first writes CaseStore::PutAuditJob in the batch
  // that records the event the job checks, then calls Track once it is
  // durable.
  std::vector<transport::ProofRequest> Track(const AuditJob& job);
  // Retries, waiting jobs now covered, a pending candidate checkpoint.
  std::vector<transport::ProofRequest> Tick();
  // The connection dropped: outstanding requests will not be answered.
  void OnDisconnect();
  // The request with this correlation could not be sent: ask again at the
  // next Tick.
  void Unsent(uint64_t correlation);
  // Jobs wait for a checkpoint that covers them and no checkpoint update came
  // for `quiet_ms`: the agent should prompt the broker (a fresh Hello).
  bool WantsNewerCheckpoint(int64_t quiet_ms) const;

  uint64_t held_size() const;
  std::optional<storage::Checkpoint> held() const;
  size_t pending_jobs() const;
  // For GET /v1/audit.
  nlohmann::json Report() const;

 private:
  struct Inflight {
    transport::ProofRequest request;
    UnixMillis sent_ms = 0;
    storage::Hash old_root{};  // consistency
    storage::Hash root{};      // root at request.tree_size
    std::string note;          // consistency: the candidate note (new side)
    bool stale_check = false;  // consistency of an older checkpoint with ours
  };
  struct Candidate {
    std::string note;
    storage::Checkpoint cp;
  };

  Result<storage::Checkpoint> VerifyNote(const std::string& note);
  void Adopt(const std::string& note, const storage::Checkpoint& cp);
  void Alarm(const std::string& kind, const std::string& message, nlohmann::json details);
  void Count(const char* check, bool ok);
  std::vector<transport::ProofRequest> RequestsLocked();
  transport::ProofRequest Issue(Inflight f);
  void FinishJob(const AuditJob& job, bool ok, uint64_t tree_size);
  std::vector<transport::ProofRequest> HandleInclusion(const Inflight& f, const transport::ProofResponse& r);
  std::vector<transport::ProofRequest> HandleConsistency(const Inflight& f, const transport::ProofResponse& r);

  CaseStore& store_;
  AlarmSink& alarms_;
  const Clock& clock_;
  NextCorrelation next_;
  OnIncluded on_included_;
  ops::Registry* metrics_;
  AuditorOptions options_;

  mutable std::mutex mu_;
  std::optional<crypto::SignPublicKey> hub_key_;
  std::optional<storage::Checkpoint> held_;
  std::string held_note_;
  std::string origin_;  // pinned
  UnixMillis last_update_ms_ = 0;
  std::optional<Candidate> candidate_;
  std::map<uint64_t, AuditJob> jobs_;           // by ledger index
  std::set<uint64_t> uncovered_alarmed_;         // jobs alarmed as never covered (Tick)
  std::map<uint64_t, uint64_t> tracked_at_;      // job index -> adoptions_ when tracked (or loaded)
  uint64_t adoptions_ = 0;                       // newer checkpoints adopted since start
  std::map<uint64_t, Inflight> inflight_;       // by correlation
  std::set<uint64_t> inflight_indices_;         // job indices with a request out
  bool consistency_inflight_ = false;
  // SHA-256 of the notes alarmed or checked once, by kind.
  std::set<std::string> refused_notes_, forked_notes_, older_notes_;
  static constexpr size_t kMaxNotesRemembered = 4096;
  static bool FirstTime(std::set<std::string>& seen, const std::string& digest);
  uint64_t consistency_ok_ = 0, inclusion_ok_ = 0, checks_failed_ = 0, checkpoints_seen_ = 0;
};

// The key name on `note`'s signature line whose key id matches `key` (C2SP
// signed note). kBadSignature if there is none, kMalformed if the note has
// no signature block.
Result<std::string> FindNoteKeyName(std::string_view note, const crypto::SignPublicKey& key);

}  // namespace mlahub::agents
