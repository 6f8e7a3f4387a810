// The broker's own durable records, kept as ledger state (storage::StateWrite)
// so that they commit in the same fsync'd batch as the ledger entry they go
// with: an accepted envelope, its queue record and its duplicate-table record
// appear after a crash together or not at all.
//
// Keys (node ids are [A-Z0-9-], message ids 32 lowercase hex, so the '/'
// separators are unambiguous and every prefix scan is exact):
//
//   q/<recipient>/<BE64 seq>  QueueRecord: an accepted envelope waiting for
//                             the recipient's signed receipt (deleted with it)
//   n/<recipient>             BE64: the next delivery sequence to assign
//   c/<recipient>             BE64: how many of that recipient's envelopes
//                             left the queue, receipted or expired (queue
//                             depth = n - 1 - c)
//   m/<message id>            MessageRecord: the first answer to that id and
//                             the message's state at the hub
//   r/<message id>            the recipient's SignedReceipt, byte for byte
//   d/directory               the newest signed directory the hub published
//   x/<BE64 expires_ms><recipient>/<BE64 seq>
//                             empty: the expiry index of the queue (a queued
//                             envelope and when it expires; written and
//                             deleted with its q/ record), so the expiry sweep
//                             reads only what is due, in expiry order
//
// The record encodings are small fixed binary layouts (a version byte, fixed
// fields, length-prefixed strings); decoders check every length and return
// kCorruption for anything else. Pure functions, thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"

namespace mlahub::broker {

inline constexpr std::string_view kDirectoryStateKey = "d/directory";

// BE64 of `seq` as an 8-byte string (key order = numeric order).
std::string Be64Key(uint64_t v);
Result<uint64_t> ParseBe64(ByteView b);

std::string QueuePrefix(std::string_view recipient);             // "q/<r>/"
std::string QueueKey(std::string_view recipient, uint64_t seq);  // "q/<r>/" + BE64
// The sequence number of a queue key with the given prefix; kCorruption if
// the key is not prefix + 8 bytes.
Result<uint64_t> QueueKeySeq(std::string_view prefix, std::string_view key);
std::string NextSeqKey(std::string_view recipient);       // "n/<r>"
std::string ReceiptCountKey(std::string_view recipient);  // "c/<r>"
std::string MessageKey(std::string_view message_id);      // "m/<id>"
std::string ReceiptKey(std::string_view message_id);      // "r/<id>"

// The expiry index: "x/" + BE64(expires_ms) + recipient + "/" + BE64(seq).
inline constexpr std::string_view kExpiryPrefix = "x/";
std::string ExpiryKey(int64_t expires_ms, std::string_view recipient, uint64_t seq);
struct ExpiryRef {
  int64_t expires_ms = 0;
  std::string recipient;
  uint64_t seq = 0;
};
// kCorruption for a key that is not ExpiryKey's layout.
Result<ExpiryRef> ParseExpiryKey(std::string_view key);

// An accepted envelope in its recipient's queue.
struct QueueRecord {
  uint64_t ledger_index = 0;                // of the Accepted entry
  uint8_t kind = 0;                         // wire.MessageKind
  std::array<uint8_t, 32> envelope_hash{};  // SHA-256 of the frame
  // The envelope header's expires_ms (record version 2); 0 in a version 1
  // record (written before the expiry index: no x/ key exists for it).
  int64_t expires_ms = 0;
  std::string message_id;
  std::string sender;
  Bytes envelope;  // the frame, byte for byte as submitted
  bool operator==(const QueueRecord&) const = default;
};
Bytes EncodeQueueRecord(const QueueRecord& r);
Result<QueueRecord> DecodeQueueRecord(ByteView b);

// wire.MessageState values the broker writes into MessageRecord::state.
enum class HubState : uint8_t {
  kQueued = 1,
  kDelivered = 2,
  kReceipted = 3,
  kRejected = 4,
  kExpired = 5,  // left the queue undelivered at its expiry (a late receipt still makes it kReceipted)
};

// The duplicate table: the first answer given to a message id, and what the
// hub knows of the message since.
struct MessageRecord {
  bool accepted = false;
  Code error = Code::kOk;     // kOk iff accepted
  std::string message;        // refusal text
  uint64_t ledger_index = 0;  // the Accepted (or Rejected) entry
  std::string sender;         // the authenticated submitter (= header sender)
  std::string recipient;      // from the header (may be empty for a refusal)
  uint64_t seq = 0;           // delivery sequence (accepted only)
  HubState state = HubState::kQueued;
  std::array<uint8_t, 32> envelope_hash{};
  uint64_t receipt_index = 0;  // the Receipt entry, once receipted
  bool operator==(const MessageRecord&) const = default;
};
Bytes EncodeMessageRecord(const MessageRecord& r);
Result<MessageRecord> DecodeMessageRecord(ByteView b);

}  // namespace mlahub::broker
