#include "checks.h"

#include <chrono>

#include "mlahub/core/clock.h"
#include "mlahub/core/ids.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/identity/keys.h"
#include "mlahub/storage/ledger_entry.h"

namespace mlahub::broker {
namespace {

// Header fields that passed their format checks, for ledger entries.
struct HeaderFacts {
  std::string message_id;   // 32 lowercase hex, else empty
  std::string recipient;    // a well-formed node id, else empty
  std::string in_reply_to;  // 32 lowercase hex, else empty
  uint8_t kind = 0;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  wire::HandlingCode handling = wire::HandlingCode::H0;
  wire::LegalBasis legal_basis = wire::LegalBasis::Unspecified;
  wire::Priority priority = wire::Priority::Normal;
  Bytes sender_key_id;  // 8 bytes or empty
};

HeaderFacts FactsOf(const envelope::Parsed& p) {
  const wire::Header& h = *p.header;
  HeaderFacts f;
  if (MessageId::Parse(p.message_id()).ok()) f.message_id = std::string(p.message_id());
  if (NodeId::Parse(p.recipient()).ok()) f.recipient = std::string(p.recipient());
  if (h.in_reply_to() != nullptr && MessageId::Parse(h.in_reply_to()->string_view()).ok())
    f.in_reply_to = h.in_reply_to()->str();
  f.kind = static_cast<uint8_t>(h.kind());
  f.created_ms = h.created_ms();
  f.expires_ms = h.expires_ms();
  // Enum fields are copied only when they hold a declared value, so an entry
  // always prints with names.
  if (h.handling() <= wire::HandlingCode::MAX) f.handling = h.handling();
  if (h.legal_basis() <= wire::LegalBasis::MAX) f.legal_basis = h.legal_basis();
  if (h.priority() <= wire::Priority::MAX) f.priority = h.priority();
  if (h.sender_key_id() != nullptr && h.sender_key_id()->size() == envelope::kKeyIdSize)
    f.sender_key_id.assign(h.sender_key_id()->begin(), h.sender_key_id()->end());
  return f;
}

storage::LedgerEntryFields BaseFields(wire::LedgerEvent event, UnixMillis now,
                                      std::string_view node, const HeaderFacts& f,
                                      ByteView envelope, const crypto::Digest32& hash) {
  storage::LedgerEntryFields e;
  e.event = event;
  e.ledger_ms = now;
  e.message_id = f.message_id;
  e.sender = std::string(node);
  e.recipient = f.recipient;
  e.kind = static_cast<wire::MessageKind>(f.kind);
  e.in_reply_to = f.in_reply_to;
  e.created_ms = f.created_ms;
  e.expires_ms = f.expires_ms;
  e.handling = f.handling;
  e.legal_basis = f.legal_basis;
  e.priority = f.priority;
  e.envelope_size = envelope.size();
  e.envelope_hash.assign(hash.begin(), hash.end());
  e.sender_key_id = f.sender_key_id;
  return e;
}

bool KeyIdEquals(const flatbuffers::Vector<uint8_t>* v, const identity::KeyId& id) {
  return v != nullptr && v->size() == id.size() && std::equal(v->begin(), v->end(), id.begin());
}

}  // namespace

std::optional<std::string> OwnMessageId(std::string_view node, ByteView envelope,
                                        size_t max_envelope_bytes) {
  auto p = envelope::Parse(envelope, max_envelope_bytes);
  if (!p.ok() || p->sender() != node || !MessageId::Parse(p->message_id()).ok())
    return std::nullopt;
  return std::string(p->message_id());
}

Bytes RejectedEntry(std::string_view node, ByteView envelope, size_t max_envelope_bytes,
                    const Status& why, UnixMillis now) {
  crypto::Digest32 hash = envelope::EnvelopeHash(envelope);
  HeaderFacts f;
  if (auto p = envelope::Parse(envelope, max_envelope_bytes); p.ok()) f = FactsOf(*p);
  storage::LedgerEntryFields e =
      BaseFields(wire::LedgerEvent::Rejected, now, node, f, envelope, hash);
  e.error = static_cast<wire::ErrorCode>(why.code());
  e.state = wire::MessageState::Rejected;
  return storage::EncodeLedgerEntry(e);
}

SubmitVerdict EvaluateSubmit(std::string_view node, ByteView envelope,
                             const directory::Directory& dir, UnixMillis now,
                             const SubmitLimits& limits, const DuplicateLookup& lookup) {
  SubmitVerdict v;
  v.sender = std::string(node);
  crypto::Digest32 hash = envelope::EnvelopeHash(envelope);
  v.envelope_hash = hash;
  HeaderFacts facts;

  auto refuse = [&](Status why, bool recorded) {
    v.kind = VerdictKind::kRefuse;
    v.recorded = recorded && !facts.message_id.empty();
    storage::LedgerEntryFields e =
        BaseFields(wire::LedgerEvent::Rejected, now, node, facts, envelope, hash);
    e.error = static_cast<wire::ErrorCode>(why.code());
    e.state = wire::MessageState::Rejected;
    v.entry = storage::EncodeLedgerEntry(e);
    v.refusal = std::move(why);
    return std::move(v);
  };

  auto parsed = envelope::Parse(envelope, limits.max_envelope_bytes);
  if (!parsed.ok()) return refuse(parsed.status(), false);
  const envelope::Parsed& p = *parsed;
  const wire::Header& h = *p.header;
  facts = FactsOf(p);
  v.message_id = facts.message_id;
  v.recipient = facts.recipient;
  v.kind_value = facts.kind;
  v.expires_ms = facts.expires_ms;

  if (p.sender() != node) {
    return refuse(
        Status::SenderMismatch("the envelope names sender '" +
                               std::string(NodeId::Parse(p.sender()).ok() ? p.sender() : "?") +
                               "' but the connection is authenticated as " + std::string(node)),
        false);
  }
  if (facts.message_id.empty())
    return refuse(Status::Malformed("message_id is not 32 lowercase hex characters"), false);
  // The duplicate table: a repeated id gets the first answer.
  {
    auto first = lookup(facts.message_id);
    if (!first.ok()) {
      return refuse(Status::Unavailable("the duplicate table cannot be read now (" +
                                        first.status().message() + "); submit again later"),
                    false);
    }
    if (first->has_value()) {
      if ((*first)->sender != node) {
        return refuse(Status::Duplicate("message id " + facts.message_id +
                                        " was already used by another sender"),
                      false);
      }
      if ((*first)->envelope_hash != hash) {
        // Not a resend: another envelope under an id already answered. The
        // first answer would tell its sender that bytes the hub does not hold
        // are durable.
        return refuse(Status::Duplicate("message id " + facts.message_id +
                                        " was already used for another envelope; a new message needs a new id"),
                      false);
      }
      v.kind = VerdictKind::kDuplicate;
      v.first = std::move(**first);
      return v;
    }
  }

  if (h.in_reply_to() != nullptr && h.in_reply_to()->size() != 0 && facts.in_reply_to.empty())
    return refuse(Status::Malformed("in_reply_to is neither empty nor 32 lowercase hex characters"),
                  true);
  if (Status s = dir.CheckSender(node, now); !s.ok()) return refuse(s, true);
  const directory::Entry* sender = dir.Find(node);
  if (sender == nullptr)
    return refuse(Status::UnknownSender(std::string(node) + " is not in the directory"), true);
  if (!KeyIdEquals(h.sender_key_id(), sender->identity.sign_key_id())) {
    return refuse(
        Status::Revoked("the envelope is signed with a key that is not " + std::string(node) +
                        "'s current signing key in directory version " +
                        std::to_string(dir.version())),
        true);
  }
  if (!envelope::IsKnownKind(h.kind())) {
    return refuse(Status::UnknownKind("message kind " + std::to_string(static_cast<int>(h.kind())) +
                                      " is not defined by this protocol version"),
                  true);
  }
  if (facts.recipient.empty()) {
    return refuse(Status::UnknownRecipient("the recipient is not a well-formed node id"), true);
  }
  if (Status s = dir.CheckRecipient(facts.recipient, h.kind(), now); !s.ok())
    return refuse(s, true);
  if (Status s = envelope::CheckTimes(h, now, limits.max_clock_skew_ms); !s.ok())
    return refuse(s, true);

  auto t0 = std::chrono::steady_clock::now();
  Status origin = envelope::VerifyOrigin(p, sender->identity.sign_key);
  v.verify_seconds = SecondsSince(t0);
  if (!origin.ok()) return refuse(origin, true);

  storage::LedgerEntryFields e =
      BaseFields(wire::LedgerEvent::Accepted, now, node, facts, envelope, hash);
  e.origin_signature.assign(p.signature.begin(), p.signature.end());
  e.state = wire::MessageState::Queued;
  v.entry = storage::EncodeLedgerEntry(e);
  v.kind = VerdictKind::kAccept;
  return v;
}

namespace {

// received_ms within the message's window (ReceiptExpectation).
Status CheckReceivedTime(int64_t received_ms, const ReceiptExpectation& expect, UnixMillis now) {
  const int64_t skew = expect.max_clock_skew_ms;
  auto what = [&] {
    return "the receipt of " + expect.message_id + " says it was received at " + FormatRfc3339(received_ms) +
           " (received_ms " + std::to_string(received_ms) + "), ";
  };
  auto allowed = [&] { return " (clock skew allowed: " + std::to_string(skew) + " ms)"; };
  if (expect.created_ms > 0 && received_ms < expect.created_ms - skew) {
    return Status::Expired(what() + "before the message was created at " + FormatRfc3339(expect.created_ms) +
                           allowed());
  }
  if (expect.expires_ms > 0 && received_ms > expect.expires_ms + skew) {
    return Status::Expired(what() + "after the message expired at " + FormatRfc3339(expect.expires_ms) + allowed());
  }
  if (now > 0 && received_ms > now + skew) {
    return Status::Expired(what() + "later than the hub's clock (" + FormatRfc3339(now) + ")" + allowed());
  }
  return Status::Ok();
}

}  // namespace

ReceiptVerdict EvaluateReceipt(ByteView signed_receipt, const crypto::SignPublicKey& recipient_key,
                               const ReceiptExpectation& expect, UnixMillis now) {
  ReceiptVerdict v;
  auto t0 = std::chrono::steady_clock::now();
  auto info = envelope::VerifyReceipt(signed_receipt, recipient_key);
  v.verify_seconds = SecondsSince(t0);
  if (!info.ok()) {
    v.status = info.status();
    return v;
  }
  if (info->message_id != expect.message_id) {
    v.status = Status::Malformed(
        "the receipt names message " +
        (MessageId::Parse(info->message_id).ok() ? info->message_id : std::string("?")) +
        ", but that delivery_seq carries " + expect.message_id);
    return v;
  }
  if (info->envelope_hash != expect.envelope_hash) {
    v.status =
        Status::Malformed("the receipt's envelope hash is not that of the envelope delivered as " +
                          expect.message_id);
    return v;
  }
  if (!info->recipient.empty() && info->recipient != expect.recipient) {
    v.status = Status::SenderMismatch(
        "the receipt names recipient '" +
        std::string(NodeId::Parse(info->recipient).ok() ? info->recipient : "?") +
        "' but was submitted by " + expect.recipient);
    return v;
  }
  if (!info->sender.empty() && info->sender != expect.sender) {
    v.status = Status::Malformed(
        "the receipt names sender '" + std::string(NodeId::Parse(info->sender).ok() ? info->sender : "?") +
        "' but " + expect.message_id + " was sent by " + expect.sender);
    return v;
  }
  if (Status s = CheckReceivedTime(info->received_ms, expect, now); !s.ok()) {
    v.status = s;
    return v;
  }
  auto sig = envelope::ReceiptSignature(signed_receipt);
  if (!sig.ok()) {
    v.status = sig.status();
    return v;
  }
  crypto::Digest32 receipt_hash = crypto::Sha256(signed_receipt);
  storage::LedgerEntryFields e;
  e.event = wire::LedgerEvent::Receipt;
  e.ledger_ms = now;
  e.message_id = expect.message_id;
  e.sender = expect.sender;
  e.recipient = expect.recipient;
  e.kind = static_cast<wire::MessageKind>(expect.kind);
  e.envelope_hash.assign(expect.envelope_hash.begin(), expect.envelope_hash.end());
  e.receipt_signature.assign(sig->begin(), sig->end());
  e.receipt_hash.assign(receipt_hash.begin(), receipt_hash.end());
  e.received_ms = info->received_ms;
  e.state = wire::MessageState::Receipted;
  v.entry = storage::EncodeLedgerEntry(e);
  v.info = std::move(*info);
  return v;
}

}  // namespace mlahub::broker
