// The broker's judgement of a submitted envelope and of a signed receipt:
// every check of DESIGN.md "Envelopes" that needs no state owned by the
// socket thread, with the named refusal of each, and the ledger entry that
// records the outcome. The broker runs these on its verification workers
// (the Ed25519 check dominates the cost), so they are pure functions of their
// inputs: thread-safe, no I/O besides the duplicate-table lookup the caller
// passes in.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "mlahub/broker/state.h"
#include "mlahub/core/bytes.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/status.h"
#include "mlahub/directory/directory.h"
#include "mlahub/envelope/receipt.h"

namespace mlahub::broker {

// Seconds elapsed since t0 on the steady clock (latency metrics).
inline double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct SubmitLimits {
  size_t max_envelope_bytes = 16u << 20;
  int64_t max_clock_skew_ms = 5 * 60 * 1000;
};

// What the socket thread needs before it hands a Submit to a worker: the
// message id, if the frame parses, names a well-formed id and its sender is
// the authenticated node (only such ids belong to that node's id space and
// are tracked as "in flight" and recorded in the duplicate table).
std::optional<std::string> OwnMessageId(std::string_view node, ByteView envelope,
                                        size_t max_envelope_bytes);

enum class VerdictKind : uint8_t { kAccept, kRefuse, kDuplicate };

struct SubmitVerdict {
  VerdictKind kind = VerdictKind::kRefuse;
  // kRefuse: the named code and a human message.
  Status refusal;
  // kRefuse: the refusal answers this sender's own, well-formed message id:
  // the duplicate table records it (a repeat gets the same refusal) and the
  // Rejected entry is indexed by the id. False for refusals that cannot be
  // pinned on the id's owner (unparsable frame, sender mismatch, an id that
  // belongs to another sender).
  bool recorded = false;
  std::string message_id;  // empty if unreadable
  std::string sender;      // the authenticated node
  std::string recipient;   // a well-formed node id from the header, else empty
  uint8_t kind_value = 0;  // wire.MessageKind from the header
  int64_t expires_ms = 0;  // from the header (kAccept: its validity was checked)
  std::array<uint8_t, 32> envelope_hash{};
  // kAccept: the Accepted entry; kRefuse: the Rejected entry.
  Bytes entry;
  // kDuplicate: the first answer, from the duplicate table.
  MessageRecord first;
  // Seconds spent in the origin signature check (0 if not reached).
  double verify_seconds = 0;
};

using DuplicateLookup =
    std::function<Result<std::optional<MessageRecord>>(std::string_view message_id)>;

// Judges one Submit from `node` (the ZAP-authenticated node id), in this
// order; the first failure is the answer:
//   size (too_large), frame structure (malformed), sender = node
//   (sender_mismatch), well-formed message id (malformed), duplicate table
//   (kDuplicate with the first answer; an id recorded for another sender,
//   or another envelope under it: duplicate), well-formed in_reply_to
//   (malformed), sender in the directory and active (unknown_sender /
//   revoked), signing key = the sender's current key (revoked), known kind
//   (unknown_kind), recipient (unknown_recipient / revoked /
//   kind_not_accepted), validity window (expired), origin signature
//   (bad_signature / tampered_ciphertext / unsupported_version).
SubmitVerdict EvaluateSubmit(std::string_view node, ByteView envelope,
                             const directory::Directory& dir, UnixMillis now,
                             const SubmitLimits& limits, const DuplicateLookup& lookup);

// The Rejected entry for a refusal found outside EvaluateSubmit (e.g. a Submit
// of an id whose first Submit is still in flight from another sender).
Bytes RejectedEntry(std::string_view node, ByteView envelope, size_t max_envelope_bytes,
                    const Status& why, UnixMillis now);

// What a queued envelope's receipt must match.
struct ReceiptExpectation {
  std::string message_id;
  std::string sender;
  std::string recipient;  // the node receipting it
  uint8_t kind = 0;
  std::array<uint8_t, 32> envelope_hash{};
  // The message's validity window from its header, and the clock skew
  // allowed: received_ms must lie in [created_ms - skew, min(expires_ms,
  // now) + skew] (an honest agent stores only within the window, on a clock
  // within the skew). 0 = unknown: that bound is not checked.
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  int64_t max_clock_skew_ms = 0;
};

struct ReceiptVerdict {
  Status status;               // OK, or why the receipt is refused
  envelope::ReceiptInfo info;  // OK: the verified receipt
  Bytes entry;                 // OK: the Receipt ledger entry
  double verify_seconds = 0;
};

// Verifies a SignedReceipt with the recipient's current signing key and
// checks it names the expected message and envelope hash: malformed,
// bad_signature, or malformed ("names another message / envelope"); then
// its received_ms against the message's window: expired. `now` 0: no upper
// bound from the clock.
ReceiptVerdict EvaluateReceipt(ByteView signed_receipt, const crypto::SignPublicKey& recipient_key,
                               const ReceiptExpectation& expect, UnixMillis now);

}  // namespace mlahub::broker
