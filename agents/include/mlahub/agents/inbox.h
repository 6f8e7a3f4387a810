// The receiving side of an agent: what it does with each Deliver and
// ReceiptResult, independent of the socket (the agent's network thread sends
// what these methods return).
//
//  - A delivery whose sequence number or message id is already stored is a
//    duplicate: nothing is stored again and the STORED receipt is sent again
//    (same bytes), so each message reaches the case store exactly once.
//  - Otherwise the envelope is opened (envelope::Open with the sender's key
//    from the directory in force: Parse, VerifyOrigin, recipient and time
//    checks, decryption), the receipt is signed, and envelope, receipt,
//    record, delivery sequence number, "receipt to send" marker and the audit
//    job are written in ONE fsync'd batch: never a stored message without its
//    receipt or the reverse. Then the receipt is due.
//  - A delivery that cannot be opened is not stored and not receipted (a
//    receipt is a signed statement that we stored it). It is recorded as
//    refused (CaseStore in/x: code, hashes, attempts), raised once as a
//    "delivery_refused" alarm, counted as handled for last_delivery_seq (so
//    it does not hold back everything after it at every reconnect), and
//    opened again if the hub redelivers it (a newer directory may admit it).
//  - last_delivery_seq (Hello) is the highest n such that every sequence
//    number 1..n is handled (stored, duplicate or refused).
//  - Receipts stay "to send" until the hub's ReceiptResult records them; they
//    are resent after every reconnect and when unanswered for a while.
//
// Thread-safety: none; the agent's network thread owns it. The counters
// (stored_count, pending_count, last_delivery_seq) may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "mlahub/agents/case_store.h"
#include "mlahub/agents/records.h"
#include "mlahub/core/clock.h"
#include "mlahub/directory/directory.h"
#include "mlahub/identity/keys.h"
#include "mlahub/ops/metrics.h"
#include "mlahub/transport/command.h"

namespace mlahub::agents {

struct InboxOptions {
  size_t max_envelope_bytes = 16u << 20;
  int64_t max_clock_skew_ms = 5 * 60 * 1000;
  // Called right after a new message's batch is durable, before its receipt
  // is due (the agent's test-only crash hook).
  std::function<void()> after_store;
  // The agent's cases (cases.h): each stored request or step updates its case
  // in the same batch. nullptr: transport only.
  class Cases* cases = nullptr;
  // The keys a delivery may be sealed to: this node's current keys, then
  // those of earlier rotations (envelope::OpenWithAny). Empty: the current
  // keys only. Receipts are always signed with the current keys.
  std::vector<const identity::NodeKeys*> opening_keys;
};

class Inbox {
 public:
  using DirectoryFn = std::function<std::shared_ptr<const directory::Directory>()>;

  Inbox(CaseStore& store, const identity::NodeKeys& keys, DirectoryFn directory, const Clock& clock,
        AlarmSink& alarms, ops::Registry* metrics, InboxOptions options);

  // Reads last_delivery_seq, the handled sequence numbers above it and the
  // receipts still to send.
  Status Load();

  struct Outcome {
    enum class Kind { kStored, kDuplicate, kRefused, kNotHandled } kind = Kind::kNotHandled;
    std::string message_id;
    std::optional<AuditJob> job;  // to Track once it is durable (it is)
    Status why;                   // kRefused / kNotHandled: the reason
  };
  // Handles one delivery. After kStored and kDuplicate a receipt for
  // d.delivery_seq is due (ReceiptFor).
  Outcome OnDeliver(const transport::Deliver& d);
  // Handles several deliveries (in order) with ONE fsync'd batch for all
  // of them: group commit for a burst; the outcomes are as OnDeliver's.
  std::vector<Outcome> OnDeliveries(const std::vector<const transport::Deliver*>& deliveries);

  // The SubmitReceipt to send for `seq` with `correlation`; nullopt if no
  // receipt is due for seq. Call Sent once it is on its way.
  std::optional<transport::SubmitReceipt> ReceiptFor(uint64_t seq, uint64_t correlation);
  void Sent(uint64_t seq, uint64_t correlation);
  // Receipts due: never sent on this connection, or unanswered for resend_ms.
  std::vector<uint64_t> DueReceipts(int64_t resend_ms) const;

  // The hub's answer to a SubmitReceipt. Returns the audit job of the
  // Receipt entry when it was recorded.
  std::optional<AuditJob> OnReceiptResult(const transport::ReceiptResult& r);

  // The connection dropped: every pending receipt is due again.
  void OnDisconnect();

  uint64_t last_delivery_seq() const { return last_seq_atomic_.load(); }
  uint64_t stored_count() const { return stored_.load(); }
  size_t pending_count() const { return pending_atomic_.load(); }

 private:
  struct Pending {
    std::string id;
    uint64_t correlation = 0;
    UnixMillis sent_ms = 0;  // 0: due
  };
  struct Staging;
  Outcome Stage(Staging& st, const transport::Deliver& d);
  Outcome Refuse(Staging& st, const transport::Deliver& d, const Status& why, std::string message_id,
                 std::string sender);
  static void Handled(Staging& st, uint64_t seq);
  // Deliver.settled_below: sequences below it never come again.
  static void Settled(Staging& st, uint64_t below);
  void Count(const char* name, const char* help, const ops::Labels& labels = {});

  CaseStore& store_;
  // A stored receipt signed with an earlier signing key of this node (before
  // a rotation), signed again with the current one; nullopt when it needs
  // no new signature (or verifies with none of the node's keys: logged).
  // The stored copy is never replaced: the hub may have recorded it.
  std::optional<Bytes> SignedAgain(ByteView stored) const;

  const identity::NodeKeys& keys_;
  DirectoryFn directory_;
  const Clock& clock_;
  AlarmSink& alarms_;
  ops::Registry* metrics_;
  InboxOptions options_;

  uint64_t last_seq_ = 0;
  std::set<uint64_t> handled_above_;
  std::map<uint64_t, Pending> pending_;  // by delivery_seq
  std::unordered_map<uint64_t, uint64_t> by_correlation_;
  std::atomic<uint64_t> last_seq_atomic_{0};
  std::atomic<uint64_t> stored_{0};
  std::atomic<size_t> pending_atomic_{0};
};

}  // namespace mlahub::agents
