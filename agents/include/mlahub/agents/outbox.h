// The sending side of an agent: durable outbox entries and their Submit /
// SubmitResult cycle, independent of the socket.
//
//  - Add (API threads) stores the sealed envelope, its record (evidence:
//    submitted) and its outbox entry in one fsync'd batch and only then
//    answers with the message id; the entry is queued for the network thread.
//  - Due (network thread) yields the Submits to send: entries never sent on
//    the current connection, or unanswered for resend_ms, in submission
//    order, at most `window` unanswered at once. The attachment is always the
//    stored envelope, byte for byte: a resend has the SAME id and bytes, and
//    the hub answers it as a duplicate.
//  - OnSubmitResult: accepted (durable at the hub) or refused with a named
//    code; either way the entry leaves the outbox in the same batch that
//    records the evidence. A transient refusal (unavailable, internal,
//    io_error) keeps the entry for a later resend.
//  - After a restart Load brings every entry back; OnDisconnect makes every
//    entry due again.
//
// Thread-safety: Add and depth() from any thread; the rest from the network
// thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mlahub/agents/api.h"
#include "mlahub/agents/case_store.h"
#include "mlahub/agents/records.h"
#include "mlahub/core/clock.h"
#include "mlahub/ops/metrics.h"
#include "mlahub/transport/command.h"

namespace mlahub::agents {

class Outbox {
 public:
  Outbox(CaseStore& store, const Clock& clock, ops::Registry* metrics, size_t max_envelope_bytes);

  Status Load();

  // Stores a sealed envelope under `message_id` (its header's id). The same
  // id with the same bytes again is a duplicate (answered with the stored
  // record); with other bytes kAlreadyExists. `extra` adds records that must
  // be stored atomically with the message (its case: cases.h).
  Result<SubmitOutcome> Add(ByteView envelope, const std::string& message_id,
                            const std::function<void(StoreBatch&)>& extra = {});

  // Network thread: entries added since the last call (local_seq, id).
  std::vector<std::pair<uint64_t, std::string>> TakeNew();

  struct ToSend {
    uint64_t local_seq = 0;
    transport::Submit submit;
  };
  // The next Submit to send, with a correlation from `correlation`; nullopt
  // when nothing is due or the window is full. Call Sent after a successful
  // send; nothing changes otherwise.
  // `after`: continue the scan after this local_seq (the previous answer's).
  std::optional<ToSend> NextDue(int64_t resend_ms, size_t window, uint64_t correlation, uint64_t after = 0);
  void Sent(uint64_t local_seq, uint64_t correlation);

  struct Answer {
    OutgoingRecord record;        // updated and stored
    std::optional<AuditJob> job;  // accepted: the inclusion check to Track
    double roundtrip_s = -1;      // first send to answer, if known
  };
  // nullopt: not ours, a repeat, a transient refusal, or the store failed.
  std::optional<Answer> OnSubmitResult(const transport::SubmitResult& r);

  void OnDisconnect();
  // Send this entry again at the next NextDue (e.g. the hub reported on it,
  // so its SubmitResult was lost).
  void MarkDue(const std::string& id);

  size_t depth() const { return depth_.load(); }
  uint64_t total() const { return total_.load(); }
  bool Contains(const std::string& id) const { return by_id_.count(id) != 0; }

 private:
  struct Entry {
    std::string id;
    uint64_t correlation = 0;
    UnixMillis sent_ms = 0;     // 0: not sent on this connection
    int64_t first_sent_ns = 0;  // steady clock
  };

  CaseStore& store_;
  const Clock& clock_;
  ops::Registry* metrics_;
  size_t max_envelope_bytes_;

  std::mutex add_mu_;
  uint64_t last_local_seq_ = 0;                // guarded by add_mu_
  std::unordered_set<std::string> adding_;     // ids being written, guarded by add_mu_
  std::mutex queue_mu_;
  std::vector<std::pair<uint64_t, std::string>> fresh_;
  std::atomic<size_t> depth_{0};
  std::atomic<uint64_t> total_{0};

  std::map<uint64_t, Entry> entries_;  // by local_seq
  std::unordered_map<std::string, uint64_t> by_id_;
  std::unordered_map<uint64_t, uint64_t> by_correlation_;
  size_t inflight_ = 0;
};

}  // namespace mlahub::agents
