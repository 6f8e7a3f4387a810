#include "mlahub/agents/evidence.h"

#include <algorithm>

namespace mlahub::agents {

EvidenceTimeouts EvidenceTimeouts::FromConfig(const config::AgentConfig& c) {
  EvidenceTimeouts t;
  t.accept_warning_ms = c.accept_warning_ms;
  t.accept_failure_ms = c.accept_failure_ms;
  t.delivery_warning_ms = c.delivery_warning_ms;
  t.delivery_failure_ms = c.delivery_failure_ms;
  t.receipt_warning_ms = c.receipt_warning_ms;
  t.receipt_failure_ms = c.receipt_failure_ms;
  return t;
}

namespace {

bool Has(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

EvidenceEvent Event(std::string name, UnixMillis at, std::string source) {
  EvidenceEvent e;
  e.event = std::move(name);
  e.at_ms = at;
  e.source = std::move(source);
  return e;
}

// Clears a declared failure of `stage`, keeping the record of it.
void Override(OutgoingRecord& r, std::string_view stage, UnixMillis now, std::string_view by) {
  auto it = std::find(r.failures.begin(), r.failures.end(), stage);
  if (it == r.failures.end()) return;
  r.failures.erase(it);
  EvidenceEvent e = Event("failure_overridden", now, "local");
  e.detail = std::string(stage) + " failure overridden by " + std::string(by);
  r.timeline.push_back(std::move(e));
}

// The time the delivery and receipt clocks start from.
UnixMillis AcceptedClock(const OutgoingRecord& r) { return r.accepted_ms != 0 ? r.accepted_ms : r.submitted_ms; }

void Declare(OutgoingRecord& r, std::vector<EvidenceEvent>& out, std::string_view stage, bool failure,
             UnixMillis now, int64_t after_ms) {
  std::vector<std::string>& list = failure ? r.failures : r.warnings;
  // A failure stays declared once (even after an override, the timeline
  // keeps it); warnings likewise.
  std::string name = std::string(stage) + (failure ? "_failure" : "_warning");
  for (const EvidenceEvent& e : r.timeline)
    if (e.event == name) return;
  list.emplace_back(stage);
  EvidenceEvent e = Event(name, now, "local");
  e.detail = "no " + std::string(stage == kStageAcceptance ? "answer from the hub"
                                  : stage == kStageDelivery ? "delivery to the recipient's agent"
                                                            : "signed receipt from the recipient") +
             " within " + std::to_string(after_ms / 1000) + " s";
  r.timeline.push_back(e);
  out.push_back(std::move(e));
}

}  // namespace

void RecordSubmitted(OutgoingRecord& r, UnixMillis now) {
  r.state = OutState::kSubmitted;
  r.submitted_ms = now;
  r.timeline.push_back(Event("submitted", now, "local"));
}

bool RecordAccepted(OutgoingRecord& r, UnixMillis now, uint64_t ledger_index, uint64_t tree_size, bool duplicate) {
  if (r.state == OutState::kRejected) return false;
  bool changed = false;
  if (!r.ledger_index) {
    r.ledger_index = ledger_index;
    r.tree_size = tree_size;
    changed = true;
  }
  if (r.accepted_ms == 0) {
    r.accepted_ms = now;
    EvidenceEvent e = Event("accepted", now, "hub");
    e.ledger_index = ledger_index;
    if (duplicate) e.detail = "answer repeated for a resent envelope";
    r.timeline.push_back(std::move(e));
    Override(r, kStageAcceptance, now, "the hub's acceptance");
    changed = true;
  }
  if (r.state == OutState::kSubmitted) {
    r.state = OutState::kAccepted;
    changed = true;
  }
  return changed;
}

bool RecordRejected(OutgoingRecord& r, UnixMillis now, Code code, std::string_view message,
                    std::optional<uint64_t> ledger_index) {
  if (r.state != OutState::kSubmitted) return false;
  r.state = OutState::kRejected;
  r.refusal_code = std::string(CodeName(code));
  r.refusal_message = std::string(message);
  r.ledger_index = ledger_index;
  EvidenceEvent e = Event("rejected", now, "hub");
  e.code = r.refusal_code;
  e.detail = std::string(message);
  e.ledger_index = ledger_index;
  r.timeline.push_back(std::move(e));
  Override(r, kStageAcceptance, now, "the hub's answer");
  return true;
}

bool RecordDelivered(OutgoingRecord& r, UnixMillis now, UnixMillis hub_at_ms, uint32_t attempt,
                     uint64_t ledger_index) {
  if (r.state == OutState::kRejected) return false;
  // Each delivery attempt the hub ledgered is shown, up to a bound: the
  // hub's word alone (a Notice, a StatusResponse) must not grow a record
  // without limit.
  size_t deliveries = 0;
  for (const EvidenceEvent& e : r.timeline) {
    if (e.event != "delivered") continue;
    if (e.ledger_index == ledger_index) return false;
    ++deliveries;
  }
  if (deliveries >= kMaxDeliveryEvents) return false;
  EvidenceEvent e = Event("delivered", hub_at_ms != 0 ? hub_at_ms : now, "hub");
  e.ledger_index = ledger_index;
  e.attempt = attempt;
  r.timeline.push_back(std::move(e));
  if (r.delivered_ms == 0) r.delivered_ms = hub_at_ms != 0 ? hub_at_ms : now;
  if (r.state == OutState::kSubmitted || r.state == OutState::kAccepted || r.state == OutState::kExpired)
    r.state = OutState::kDelivered;
  Override(r, kStageDelivery, now, "the hub's delivery");
  return true;
}

bool RecordReceipt(OutgoingRecord& r, UnixMillis now, UnixMillis received_ms, std::optional<uint64_t> ledger_index) {
  if (r.state == OutState::kReceipted) {
    if (!r.receipt_ledger_index && ledger_index) {
      r.receipt_ledger_index = ledger_index;
      return true;
    }
    return false;
  }
  r.state = OutState::kReceipted;
  r.receipt_ms = received_ms;
  r.receipt_ledger_index = ledger_index;
  EvidenceEvent e = Event("receipt", received_ms != 0 ? received_ms : now, "recipient");
  e.ledger_index = ledger_index;
  e.detail = "signed receipt verified with the recipient's key";
  r.timeline.push_back(std::move(e));
  // A receipt proves every earlier stage: it overrides all failures.
  for (std::string_view stage : {kStageAcceptance, kStageDelivery, kStageReceipt}) Override(r, stage, now, "the receipt");
  return true;
}

bool RecordExpired(OutgoingRecord& r, UnixMillis now, UnixMillis hub_at_ms, uint64_t ledger_index) {
  if (r.state == OutState::kReceipted || r.state == OutState::kRejected || r.state == OutState::kExpired) return false;
  bool delivered = r.state == OutState::kDelivered;
  r.state = OutState::kExpired;
  EvidenceEvent e = Event("expired", hub_at_ms != 0 ? hub_at_ms : now, "hub");
  e.ledger_index = ledger_index;
  e.detail = delivered ? "expired at the hub without a receipt" : "expired at the hub before delivery";
  r.timeline.push_back(std::move(e));
  std::string_view stage = delivered ? kStageReceipt : kStageDelivery;
  if (!Has(r.failures, stage)) {
    r.failures.emplace_back(stage);
    EvidenceEvent f = Event(std::string(stage) + "_failure", now, "local");
    f.detail = "the hub declared the message expired";
    r.timeline.push_back(std::move(f));
  }
  return true;
}

bool RecordIncluded(OutgoingRecord& r, UnixMillis now, uint64_t tree_size) {
  if (r.included) return false;
  r.included = true;
  EvidenceEvent e = Event("included", now, "local");
  e.ledger_index = r.ledger_index;
  e.detail = "the hub's ledger proved to hold the Accepted entry at tree size " + std::to_string(tree_size);
  r.timeline.push_back(std::move(e));
  return true;
}

std::vector<EvidenceEvent> CheckTimeouts(OutgoingRecord& r, UnixMillis now, const EvidenceTimeouts& t) {
  std::vector<EvidenceEvent> out;
  switch (r.state) {
    case OutState::kSubmitted: {
      int64_t age = now - r.submitted_ms;
      if (age >= t.accept_warning_ms) Declare(r, out, kStageAcceptance, false, now, t.accept_warning_ms);
      if (age >= t.accept_failure_ms) Declare(r, out, kStageAcceptance, true, now, t.accept_failure_ms);
      break;
    }
    case OutState::kAccepted: {
      int64_t age = now - AcceptedClock(r);
      if (age >= t.delivery_warning_ms) Declare(r, out, kStageDelivery, false, now, t.delivery_warning_ms);
      if (age >= t.delivery_failure_ms) Declare(r, out, kStageDelivery, true, now, t.delivery_failure_ms);
      [[fallthrough]];
    }
    case OutState::kDelivered: {
      int64_t age = now - AcceptedClock(r);
      if (age >= t.receipt_warning_ms) Declare(r, out, kStageReceipt, false, now, t.receipt_warning_ms);
      if (age >= t.receipt_failure_ms) Declare(r, out, kStageReceipt, true, now, t.receipt_failure_ms);
      break;
    }
    case OutState::kReceipted:
    case OutState::kRejected:
    case OutState::kExpired:
      break;
  }
  return out;
}

std::optional<UnixMillis> NextTimeout(const OutgoingRecord& r, const EvidenceTimeouts& t) {
  std::optional<UnixMillis> best;
  auto consider = [&](std::string_view stage, bool failure, UnixMillis from, int64_t after) {
    std::string name = std::string(stage) + (failure ? "_failure" : "_warning");
    for (const EvidenceEvent& e : r.timeline)
      if (e.event == name) return;
    UnixMillis at = from + after;
    if (!best || at < *best) best = at;
  };
  switch (r.state) {
    case OutState::kSubmitted:
      consider(kStageAcceptance, false, r.submitted_ms, t.accept_warning_ms);
      consider(kStageAcceptance, true, r.submitted_ms, t.accept_failure_ms);
      break;
    case OutState::kAccepted:
      consider(kStageDelivery, false, AcceptedClock(r), t.delivery_warning_ms);
      consider(kStageDelivery, true, AcceptedClock(r), t.delivery_failure_ms);
      [[fallthrough]];
    case OutState::kDelivered:
      consider(kStageReceipt, false, AcceptedClock(r), t.receipt_warning_ms);
      consider(kStageReceipt, true, AcceptedClock(r), t.receipt_failure_ms);
      break;
    default:
      break;
  }
  return best;
}

bool IsFinal(const OutgoingRecord& r) { return r.state == OutState::kReceipted || r.state == OutState::kRejected; }

std::string Summary(const OutgoingRecord& r) {
  std::string s;
  switch (r.state) {
    case OutState::kSubmitted: s = "waiting for the hub's acceptance"; break;
    case OutState::kAccepted: s = "accepted by the hub, waiting for delivery"; break;
    case OutState::kDelivered: s = "delivered, waiting for the receipt"; break;
    case OutState::kReceipted: s = "receipted by the recipient"; break;
    case OutState::kRejected: s = "rejected by the hub: " + r.refusal_code; break;
    case OutState::kExpired: s = "expired at the hub"; break;
  }
  if (!r.failures.empty()) {
    s += " (failure:";
    for (const auto& f : r.failures) s += " " + f;
    s += ")";
  } else if (!IsFinal(r)) {
    std::vector<std::string> open;
    for (const auto& w : r.warnings)
      if (!(w == kStageAcceptance && r.state != OutState::kSubmitted) &&
          !(w == kStageDelivery && r.state == OutState::kDelivered))
        open.push_back(w);
    if (!open.empty()) {
      s += " (warning:";
      for (const auto& w : open) s += " " + w;
      s += ")";
    }
  }
  return s;
}

}  // namespace mlahub::agents
