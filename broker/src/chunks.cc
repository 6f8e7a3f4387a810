#include "chunks.h"

#include <algorithm>

#include "mlahub/core/bytes.h"
#include "mlahub/evidence/chunk.h"
#include "mlahub/ops/log.h"
#include "record_codec.h"

namespace mlahub::broker {
namespace {

static_assert(transport::kMaxChunkAttachmentSize == evidence::kMaxChunkFrameSize,
              "the transport's chunk attachment bound must be the evidence frame bound");

// Version 2: strings with a 16-bit length (the broker's shared record codec).
constexpr uint8_t kRecordVersion = 2;
constexpr int64_t kMinRewindMs = 1000;  // resends on refusals, at most this often per transfer
constexpr uint64_t kMaxChunksInFlight = 64;  // to one recipient, all its transfers together

bool IsZero(const std::array<uint8_t, 32>& a) {
  return std::all_of(a.begin(), a.end(), [](uint8_t x) { return x == 0; });
}

}  // namespace

Bytes EncodeTransferRecord(const TransferRecord& r) {
  Bytes out;
  out.push_back(kRecordVersion);
  record::PutStr(out, r.sender);
  record::PutStr(out, r.recipient);
  record::PutStr(out, r.message_id);
  PutU64Be(out, r.chunk_count);
  PutU64Be(out, r.stored);
  PutU64Be(out, r.received);
  out.insert(out.end(), r.root.begin(), r.root.end());
  out.insert(out.end(), r.expected.begin(), r.expected.end());
  PutU64Be(out, static_cast<uint64_t>(r.completed_ms));
  out.push_back(r.purged ? 1 : 0);
  return out;
}

Result<TransferRecord> DecodeTransferRecord(ByteView b) {
  record::Reader rd(b, "transfer");
  uint8_t version = 0, purged = 0;
  uint64_t completed = 0;
  TransferRecord r;
  if (!rd.U8(&version)) return rd.Bad("empty");
  if (version != kRecordVersion) return rd.Bad("unknown version " + std::to_string(version));
  if (!rd.Str(&r.sender) || !rd.Str(&r.recipient) || !rd.Str(&r.message_id) || !rd.U64(&r.chunk_count) ||
      !rd.U64(&r.stored) || !rd.U64(&r.received) || !rd.Fixed(r.root.data(), r.root.size()) ||
      !rd.Fixed(r.expected.data(), r.expected.size()) || !rd.U64(&completed) || !rd.U8(&purged))
    return rd.Bad("truncated");
  if (!rd.AtEnd() || purged > 1) return rd.Bad("malformed");
  r.completed_ms = static_cast<int64_t>(completed);
  r.purged = purged == 1;
  if (r.chunk_count == 0 || r.stored > r.chunk_count || r.received > r.stored) return rd.Bad("inconsistent counts");
  return r;
}

std::string TransferKey(std::string_view transfer_id) { return "et/" + std::string(transfer_id); }

std::string ChunkKey(std::string_view recipient, std::string_view transfer_id, uint64_t index) {
  std::string k = "ec/" + std::string(recipient) + "/" + std::string(transfer_id) + "/";
  Bytes be;
  PutU64Be(be, index);
  k.append(reinterpret_cast<const char*>(be.data()), be.size());
  return k;
}

ChunkRelay::ChunkRelay(const storage::Ledger* ledger, Hooks hooks, ChunkRelayOptions options)
    : ledger_(ledger), hooks_(std::move(hooks)), options_(options) {
  options_.window = std::max<uint64_t>(1, options_.window);
  options_.max_unstored = std::max<uint64_t>(1, options_.max_unstored);
}

Status ChunkRelay::Restore() {
  Status bad;
  Status s = ledger_->ScanState("et/", "", [&](std::string_view key, ByteView value) {
    std::string tid(key.substr(3));
    auto rec = DecodeTransferRecord(value);
    if (!rec.ok() || !transport::IsHexId(tid)) {
      bad = Status::Corruption("transfer record " + tid + ": " + rec.status().message());
      return false;
    }
    if (rec->purged) return true;  // read from the state when named
    if (rec->received < rec->chunk_count) by_recipient_[rec->recipient].insert(tid);
    transfers_.emplace(tid, FromRecord(*rec));
    return true;
  });
  if (!s.ok()) return s;
  return bad;
}

ChunkRelay::Transfer ChunkRelay::FromRecord(const TransferRecord& rec) {
  Transfer t;
  t.rec = rec;
  t.accepted = rec.stored;
  t.accepted_expected = rec.expected;
  t.sent = rec.received;
  // A record saying "complete" is only written with its ledger entry (or
  // after it): durable now.
  t.complete_durable = rec.completed_ms != 0;
  return t;
}

std::optional<TransferRecord> ChunkRelay::ReadRecord(const std::string& tid) const {
  if (!transport::IsHexId(tid)) return std::nullopt;
  auto b = ledger_->GetState(TransferKey(tid));
  if (!b.ok() || !b->has_value()) return std::nullopt;
  auto rec = DecodeTransferRecord(**b);
  if (!rec.ok()) {
    ops::Error("evidence.record_unreadable", {{"transfer", tid}, {"error", rec.status().ToString()}});
    return std::nullopt;
  }
  return *rec;
}

ChunkRelay::Transfer* ChunkRelay::Lookup(const std::string& tid, Transfer& scratch) {
  if (auto it = transfers_.find(tid); it != transfers_.end()) return &it->second;
  auto rec = ReadRecord(tid);
  if (!rec) return nullptr;
  scratch = FromRecord(*rec);
  return &scratch;
}

std::optional<TransferRecord> ChunkRelay::Find(const std::string& transfer_id) const {
  if (auto it = transfers_.find(transfer_id); it != transfers_.end()) return it->second.rec;
  return ReadRecord(transfer_id);
}

size_t ChunkRelay::receiving(const std::string& node) const {
  auto it = by_recipient_.find(node);
  return it == by_recipient_.end() ? 0 : it->second.size();
}

void ChunkRelay::DoneReceiving(const std::string& recipient, const std::string& tid) {
  auto it = by_recipient_.find(recipient);
  if (it == by_recipient_.end()) return;
  it->second.erase(tid);
  if (it->second.empty()) by_recipient_.erase(it);
}

void ChunkRelay::Ack(const std::string& node, const std::string& peer, const std::string& tid, const Transfer* t,
                     Code code, std::string message) {
  transport::ChunkAck a;
  a.transfer_id = tid;
  if (t != nullptr) {
    a.stored = t->rec.purged ? t->rec.chunk_count : t->rec.stored;
    a.chunk_count = t->rec.chunk_count;
    a.complete = t->complete_durable;
  }
  a.error = code;
  a.message = std::move(message);
  if (code != Code::kOk)
    ops::Warn("evidence.chunk_refused",
              {{"agent", node}, {"transfer", tid}, {"code", CodeName(code)}, {"reason", a.message}});
  if (!peer.empty() && hooks_.answer) return hooks_.answer(node, peer, a);
  hooks_.send(node, a);
}

void ChunkRelay::Persist(const std::string& tid, Transfer& t, std::vector<storage::StateWrite> extra,
                         std::function<void(const Status&)> then) {
  // Writes commit in queue order: when this one is durable, so is every
  // chunk accepted before it.
  TransferRecord r = t.rec;
  r.stored = t.accepted;
  r.expected = t.accepted_expected;
  extra.push_back(storage::StateWrite::Put(TransferKey(tid), EncodeTransferRecord(r)));
  hooks_.write_state(std::move(extra), std::move(then));
}

void ChunkRelay::OnPut(const std::string& node, transport::ChunkPut put, const std::string& peer) {
  const std::string tid = put.transfer_id;
  if (Status s = hooks_.check_node(node); !s.ok()) return Ack(node, peer, tid, nullptr, s.code(), s.message());
  Transfer scratch;  // a purged transfer, read from its record
  Transfer* t = Lookup(tid, scratch);
  if (t != nullptr && t->rec.sender != node) {
    // Someone else's transfer: say nothing about it.
    return Ack(node, peer, tid, nullptr, Code::kSenderMismatch, "transfer " + tid + " belongs to another sender");
  }
  auto frame = evidence::DecodeChunk(put.frame);
  if (!frame.ok()) {
    Code c = frame.status().code() == Code::kTamperedCiphertext ? Code::kTamperedCiphertext : Code::kMalformed;
    return Ack(node, peer, tid, t, c, "chunk " + std::to_string(put.chunk_index) + ": " + frame.status().message());
  }
  if (frame->transfer_id != tid || frame->chunk_index != put.chunk_index) {
    return Ack(node, peer, tid, t, Code::kMalformed, "ChunkPut names another transfer or index than its frame");
  }
  if (t == nullptr) {
    if (put.chunk_index != 0) {
      return Ack(node, peer, tid, nullptr, Code::kNotFound,
                 "unknown transfer " + tid + ": start at chunk 0, got " + std::to_string(put.chunk_index));
    }
    if (Status s = hooks_.check_node(put.recipient); !s.ok()) {
      Code c = s.code() == Code::kUnknownSender ? Code::kUnknownRecipient : s.code();
      return Ack(node, peer, tid, nullptr, c, "recipient " + put.recipient + ": " + s.message());
    }
    if (put.recipient == node) return Ack(node, peer, tid, nullptr, Code::kWrongRecipient, "a transfer to oneself");
    if (hooks_.check_message) {
      // The transfer's quota is tied to an envelope the broker accepted
      // from this sender for this recipient (its sealed manifest announced
      // the transfer): no chunks without an accepted envelope.
      if (put.message_id.empty())
        return Ack(node, peer, tid, nullptr, Code::kNotFound,
                   "chunk 0 must name the accepted message that carries the manifest (message_id)");
      if (Status s = hooks_.check_message(node, put.recipient, put.message_id); !s.ok())
        return Ack(node, peer, tid, nullptr, s.code(), s.message());
    }
    Transfer nt;
    nt.rec.sender = node;
    nt.rec.recipient = put.recipient;
    nt.rec.message_id = put.message_id;
    nt.rec.chunk_count = frame->chunk_count;
    t = &transfers_.emplace(tid, std::move(nt)).first->second;
    by_recipient_[put.recipient].insert(tid);
    ops::Info("evidence.transfer_opened", {{"sender", node},
                                           {"recipient", put.recipient},
                                           {"transfer", tid},
                                           {"chunks", frame->chunk_count},
                                           {"message_id", put.message_id}});
  }
  if (t->rec.recipient != put.recipient || t->rec.chunk_count != frame->chunk_count) {
    // Permanent for this transfer id (kInvalidArgument means "resend from stored").
    return Ack(node, peer, tid, t, Code::kAlreadyExists, "ChunkPut disagrees with the transfer's recipient or count");
  }
  if (t->rec.purged || put.chunk_index < t->accepted) {
    // Already held (a resend after a lost ChunkAck): acknowledge again. An
    // ack for a chunk not yet durable comes with the write in flight.
    if (put.chunk_index < t->rec.stored || t->rec.purged) Ack(node, peer, tid, t, Code::kOk, "");
    return;
  }
  if (put.chunk_index > t->accepted) {
    return Ack(node, peer, tid, t, Code::kInvalidArgument,
               "chunk " + std::to_string(put.chunk_index) + " out of order: the broker holds " +
                   std::to_string(t->accepted));
  }
  if (t->accepted - t->rec.stored >= options_.max_unstored) {
    return Ack(node, peer, tid, t, Code::kUnavailable, "too many chunks in flight; wait for ChunkAck");
  }
  evidence::Link link = evidence::ChainLink(frame->chunk_index, frame->ciphertext_hash, frame->next_link);
  const bool last = frame->chunk_index + 1 == frame->chunk_count;
  if ((frame->chunk_index > 0 && link != t->accepted_expected) || (last != IsZero(frame->next_link))) {
    return Ack(node, peer, tid, t, Code::kTamperedCiphertext,
               "chunk " + std::to_string(put.chunk_index) + " does not continue the hash chain");
  }
  if (frame->chunk_index == 0) t->rec.root = link;
  t->accepted = frame->chunk_index + 1;
  t->accepted_expected = frame->next_link;
  // The record written with this chunk says what is durable once it is.
  TransferRecord after = t->rec;
  after.stored = t->accepted;
  after.expected = frame->next_link;
  std::vector<storage::StateWrite> writes;
  writes.push_back(storage::StateWrite::Put(ChunkKey(t->rec.recipient, tid, put.chunk_index), std::move(put.frame)));
  writes.push_back(storage::StateWrite::Put(TransferKey(tid), EncodeTransferRecord(after)));
  const uint64_t stored = t->accepted;
  const evidence::Link expected = frame->next_link;
  hooks_.write_state(std::move(writes), [this, node, peer, tid, stored, expected](const Status& s) {
    if (!s.ok()) return;  // the broker stops (Fatal); the sender resends after its restart
    auto it = transfers_.find(tid);
    if (it == transfers_.end()) return;
    Transfer& tr = it->second;
    if (stored > tr.rec.stored) {
      tr.rec.stored = stored;
      tr.rec.expected = expected;
    }
    Ack(node, peer, tid, &tr, Code::kOk, "");
    if (tr.rec.stored == tr.rec.chunk_count)
      ops::Info("evidence.transfer_stored", {{"transfer", tid}, {"chunks", tr.rec.chunk_count}});
    Pump(tr.rec.recipient);
  });
}

void ChunkRelay::OnReceived(const std::string& node, const transport::ChunkReceived& r) {
  auto it = transfers_.find(r.transfer_id);
  if (it == transfers_.end() || it->second.rec.recipient != node) {
    // (A purged transfer is complete at its recipient: a repeated mark
    // changes nothing.)
    if (auto rec = Find(r.transfer_id); rec.has_value() && rec->recipient == node) return Pump(node);
    ops::Warn("evidence.receipt_unknown", {{"agent", node}, {"transfer", r.transfer_id}});
    return;
  }
  Transfer& t = it->second;
  uint64_t durable = std::min(r.durable, t.rec.stored);
  if (r.error != Code::kOk) {
    ops::Warn("evidence.receiver_error",
              {{"agent", node}, {"transfer", r.transfer_id}, {"durable", r.durable}, {"code", CodeName(r.error)}});
    // Send again from the receiver's mark (the receiver refused what came
    // after it and kept its state); at most once a second per transfer, so
    // that refusals of the same chunks (every chunk of a window refused
    // behind a bad one, or a receiver that refuses each time) cannot make
    // the resends multiply. The resend timer still covers a lost refusal.
    const int64_t now = hooks_.now_ms();
    if (now - t.rewound_ms >= kMinRewindMs) {
      t.sent = std::max(durable, t.rec.received);
      t.rewound_ms = now;
    }
  }
  if (durable > t.rec.received) {
    t.rec.received = durable;
    t.progress_ms = hooks_.now_ms();
    t.sent = std::max(t.sent, durable);
    bool ledgered = false;
    if (durable == t.rec.chunk_count) DoneReceiving(node, r.transfer_id);
    if (durable == t.rec.chunk_count && t.rec.completed_ms == 0) {
      t.rec.completed_ms = hooks_.now_ms();
      ops::Info("evidence.transfer_complete",
                {{"transfer", r.transfer_id}, {"recipient", node}, {"chunks", t.rec.chunk_count}});
      if (hooks_.ledger_completion) {
        // The completion entry and the record saying "complete" commit in
        // one batch: after a crash either both are there or neither (and
        // the receiver's repeated mark completes it again).
        TransferRecord rec = t.rec;
        rec.stored = t.accepted;
        rec.expected = t.accepted_expected;
        std::vector<storage::StateWrite> writes;
        writes.push_back(storage::StateWrite::Put(TransferKey(r.transfer_id), EncodeTransferRecord(rec)));
        hooks_.ledger_completion(r.transfer_id, rec, std::move(writes));
        ledgered = true;
      }
    }
    if (!ledgered) {
      bool completing = t.rec.completed_ms != 0 && !t.complete_durable;
      std::string tid = r.transfer_id;
      Persist(r.transfer_id, t, {}, [this, completing, tid](const Status& s) {
        if (s.ok() && completing) OnCompletionDurable(tid);
      });
    }
    if (t.rec.completed_ms != 0 && options_.retention_ms <= 0) Purge(r.transfer_id, t);
  }
  Pump(node);
}

void ChunkRelay::OnCompletionDurable(const std::string& transfer_id) {
  auto it = transfers_.find(transfer_id);
  if (it == transfers_.end() || it->second.complete_durable) return;
  it->second.complete_durable = true;
  // Best effort: an offline sender learns it from its next ChunkStatus.
  Ack(it->second.rec.sender, {}, transfer_id, &it->second, Code::kOk, "");  // unasked: the newest connection
  EvictIfDone(transfer_id);  // (purged at once: retention 0)
}

void ChunkRelay::OnStatus(const std::string& node, const transport::ChunkStatus& s, const std::string& peer) {
  Transfer scratch;
  const Transfer* t = Lookup(s.transfer_id, scratch);
  if (t == nullptr || (t->rec.sender != node && t->rec.recipient != node)) {
    return Ack(node, peer, s.transfer_id, nullptr, Code::kOk, "");  // nothing held: start at 0
  }
  Ack(node, peer, s.transfer_id, t, Code::kOk, "");
}

void ChunkRelay::OnHello(const std::string& node) {
  auto bit = by_recipient_.find(node);
  if (bit == by_recipient_.end()) return;
  for (const auto& tid : bit->second) {
    auto it = transfers_.find(tid);
    if (it != transfers_.end()) it->second.sent = it->second.rec.received;
  }
}

void ChunkRelay::Pump(const std::string& node) {
  auto bit = by_recipient_.find(node);
  if (bit == by_recipient_.end() || !hooks_.online(node)) return;
  const std::set<std::string>& tids = bit->second;
  // Chunks in flight to this recipient, all transfers together (sent, not
  // yet durable at the receiver): at most kMaxChunksInFlight. The window
  // bounds each transfer; this bounds the sum, which would otherwise be the
  // window times the transfers (a thousand files: 8,000 chunks in the
  // recipient's receive queue).
  uint64_t in_flight = 0;
  for (const auto& tid : tids) {
    auto it = transfers_.find(tid);
    if (it != transfers_.end() && !it->second.rec.purged && it->second.sent > it->second.rec.received)
      in_flight += it->second.sent - it->second.rec.received;
  }
  // Round robin over the node's transfers, one chunk each per round, each
  // round starting after the transfer served last (so that the first
  // transfers in id order cannot take every slot, pump after pump).
  std::string& cursor = pump_cursor_[node];
  bool progress = true;
  while (progress && in_flight < kMaxChunksInFlight) {
    progress = false;
    auto next = tids.upper_bound(cursor);
    for (size_t n = 0; n < tids.size() && in_flight < kMaxChunksInFlight; ++n) {
      if (next == tids.end()) next = tids.begin();
      const std::string tid = *next++;
      auto it = transfers_.find(tid);
      if (it == transfers_.end()) continue;
      Transfer& t = it->second;
      if (t.rec.purged || t.sent >= t.rec.stored || t.sent >= t.rec.received + options_.window) continue;
      auto frame = ledger_->GetState(ChunkKey(node, tid, t.sent));
      if (!frame.ok() || !frame->has_value()) {
        ops::Error("evidence.chunk_unreadable",
                   {{"transfer", tid}, {"index", t.sent}, {"error", frame.ok() ? "missing" : frame.status().ToString()}});
        continue;
      }
      transport::ChunkDeliver d{tid, t.rec.sender, t.sent, std::move(**frame), t.rec.message_id};
      if (options_.tamper_chunk >= 0 && t.sent == uint64_t(options_.tamper_chunk) && !t.tampered &&
          !d.frame.empty()) {
        d.frame[d.frame.size() / 2] ^= 0x01;  // inside the ciphertext of a full chunk
        t.tampered = true;
        ops::Warn("broker.test_hook", {{"tampered_chunk", options_.tamper_chunk}, {"transfer", tid}});
      }
      if (!hooks_.send(node, d)) return;
      if (t.sent == t.rec.received) t.progress_ms = hooks_.now_ms();
      ++t.sent;
      ++in_flight;
      cursor = tid;
      progress = true;
    }
  }
}

void ChunkRelay::Purge(const std::string& tid, Transfer& t) {
  std::vector<storage::StateWrite> writes;
  for (uint64_t i = 0; i < t.rec.stored; ++i) writes.push_back(storage::StateWrite::Delete(ChunkKey(t.rec.recipient, tid, i)));
  t.rec.purged = true;
  DoneReceiving(t.rec.recipient, tid);
  ops::Info("evidence.transfer_purged", {{"transfer", tid}, {"chunks", t.rec.stored}});
  // Once the record saying "purged" is durable, commands naming the
  // transfer read it from the state: the memory goes.
  Persist(tid, t, std::move(writes), [this, tid](const Status& s) {
    auto it = transfers_.find(tid);
    if (!s.ok() || it == transfers_.end()) return;
    it->second.purge_durable = true;
    EvictIfDone(tid);
  });
}

void ChunkRelay::EvictIfDone(const std::string& tid) {
  auto it = transfers_.find(tid);
  if (it != transfers_.end() && it->second.rec.purged && it->second.purge_durable && it->second.complete_durable)
    transfers_.erase(it);
}

void ChunkRelay::Periodic() {
  int64_t now = hooks_.now_ms();
  std::set<std::string> pump;
  std::vector<std::string> purge;  // (Purge may drop the entry: not while walking)
  for (auto& [tid, t] : transfers_) {
    if (!t.rec.purged && t.rec.completed_ms != 0 && now - t.rec.completed_ms >= options_.retention_ms)
      purge.push_back(tid);
    if (!t.rec.purged && t.sent > t.rec.received && now - t.progress_ms >= options_.resend_ms) {
      ops::Info("evidence.resend", {{"transfer", tid}, {"from", t.rec.received}, {"sent", t.sent}});
      t.sent = t.rec.received;
      pump.insert(t.rec.recipient);
    }
  }
  for (const auto& tid : purge) {
    auto it = transfers_.find(tid);
    if (it != transfers_.end()) Purge(tid, it->second);
  }
  for (const auto& node : pump) Pump(node);
}

}  // namespace mlahub::broker
