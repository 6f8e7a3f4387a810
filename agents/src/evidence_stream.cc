#include "evidence_stream.h"

#include <algorithm>

#include "mlahub/evidence/errors.h"
#include "mlahub/ops/log.h"

namespace mlahub::agents {

// ---- ChunkShipper -----------------------------------------------------------

ChunkShipper::ChunkShipper(evidence::EvidenceStore* store, SendFn send, uint64_t window, CompleteFn on_complete)
    : store_(store),
      send_(std::move(send)),
      window_(std::max<uint64_t>(1, window)),
      on_complete_(std::move(on_complete)) {}

Status ChunkShipper::Add(const std::string& transfer_id, const std::string& recipient,
                         const std::string& message_id) {
  if (out_.count(transfer_id) != 0) return Status::Ok();
  MLAHUB_ASSIGN_OR_RETURN(auto spool, store_->OpenSpool(transfer_id));
  if (!spool->sealed()) return Status::InvalidArgument("spool " + transfer_id + " is not sealed yet");
  Out o;
  o.acked = spool->shipped();
  o.next = o.acked;
  o.count = spool->chunk_count();
  o.recipient = recipient;
  o.message_id = message_id;
  o.spool = std::move(spool);
  // Where the broker is may differ from what the spool recorded (an ack
  // lost before MarkShipped): ask first.
  auto& ref = out_.emplace(transfer_id, std::move(o)).first->second;
  AskStatus(transfer_id, ref, std::chrono::steady_clock::now());
  return Status::Ok();
}

void ChunkShipper::AskStatus(const std::string& transfer_id, Out& o, std::chrono::steady_clock::time_point now) {
  // Pump waits for the answer (it says where to resume); if the question
  // cannot be sent now, OnConnected or Tick asks again.
  o.waiting_status = true;
  o.ask_at = now + o.ask_every;
  send_(transport::ChunkStatus{transfer_id});
}

void ChunkShipper::OnConnected() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [tid, o] : out_) {
    // Also when all is at the broker: the answer says whether it is complete.
    if (!o.failure.ok()) continue;
    o.ask_every = kStatusRetry;
    AskStatus(tid, o, now);
  }
}

void ChunkShipper::Tick(std::chrono::steady_clock::time_point now) {
  for (auto& [tid, o] : out_) {
    // Every ack moves ask_at on, so a transfer whose chunks flow is never
    // asked about; one that heard nothing for an interval is.
    if (!o.failure.ok() || now < o.ask_at) continue;
    o.ask_every = std::min<std::chrono::seconds>(o.ask_every * 2, kStatusRetryMax);
    ops::Info("evidence.status_asked_again", {{"transfer", tid}, {"shipped", o.acked}, {"chunks", o.count}});
    AskStatus(tid, o, now);
  }
}

void ChunkShipper::OnAck(const transport::ChunkAck& ack) {
  auto it = out_.find(ack.transfer_id);
  if (it == out_.end()) return;
  Out& o = it->second;
  const uint64_t count = o.count;
  if (ack.error == Code::kOk && ack.complete && (ack.stored != count || ack.chunk_count != count)) {
    // "Complete" for a file of another size: a hub in error. The spool is
    // the only way to resume, so it is kept and the transfer goes on.
    ops::Error("evidence.bad_completion", {{"transfer", ack.transfer_id}, {"chunks", count},
                                           {"hub_stored", ack.stored}, {"hub_chunk_count", ack.chunk_count}});
  } else if (ack.error == Code::kOk && ack.complete) {
    // The recipient has the whole file and the hub's completion entry is
    // durable: the spool is no longer needed, nor the transfer's entry (a
    // later ack of it finds nothing and is ignored).
    out_.erase(it);
    ops::Info("evidence.delivered", {{"transfer", ack.transfer_id}, {"chunks", count}});
    if (on_complete_) on_complete_(ack.transfer_id);
    return;
  }
  if (ack.error != Code::kOk) {
    // A refusal names what the broker holds; resend from there unless the
    // refusal is permanent (the chunk itself or the transfer is wrong).
    ops::Warn("evidence.chunk_refused",
              {{"transfer", ack.transfer_id}, {"code", CodeName(ack.error)}, {"reason", ack.message}});
    if (ack.error == Code::kUnavailable || ack.error == Code::kInvalidArgument) {
      o.next = std::min(ack.stored, count);
    } else {
      o.failure = Status(ack.error, ack.message);
      return;
    }
  }
  uint64_t stored = std::min(ack.stored, count);
  if (o.waiting_status) {
    o.waiting_status = false;
    o.next = stored;
  }
  // The next question (if one is needed) comes an interval after this
  // answer: the first one again if the broker holds more than before.
  if (stored > o.acked) o.ask_every = kStatusRetry;
  o.ask_at = std::chrono::steady_clock::now() + o.ask_every;
  if (stored > o.acked) {
    o.acked = stored;
    if (Status s = o.spool->MarkShipped(stored); !s.ok())
      ops::Error("evidence.mark_shipped_failed", {{"transfer", ack.transfer_id}, {"error", s.ToString()}});
  }
  o.next = std::max(o.next, o.acked);
  if (o.acked == count) ops::Info("evidence.shipped", {{"transfer", ack.transfer_id}, {"chunks", count}});
  Pump();
}

void ChunkShipper::Pump() {
  for (auto& [tid, o] : out_) {
    if (o.waiting_status || !o.failure.ok()) continue;
    const uint64_t count = o.count;
    while (o.next < count && o.next < o.acked + window_) {
      auto frame = o.spool->ReadChunkFrame(o.next);
      if (!frame.ok()) {
        o.failure = frame.status();
        ops::Error("evidence.spool_unreadable", {{"transfer", tid}, {"error", frame.status().ToString()}});
        break;
      }
      if (!send_(transport::ChunkPut{tid, o.recipient, o.next, o.message_id, std::move(*frame)})) return;
      ++o.next;
      // Its ack is due: if none comes for kStatusRetry, Tick asks.
      o.ask_every = kStatusRetry;
      o.ask_at = std::chrono::steady_clock::now() + kStatusRetry;
    }
  }
}

uint64_t ChunkShipper::shipped(const std::string& transfer_id) const {
  auto it = out_.find(transfer_id);
  return it == out_.end() ? 0 : it->second.acked;
}

bool ChunkShipper::done(const std::string& transfer_id) const {
  auto it = out_.find(transfer_id);
  return it != out_.end() && it->second.acked == it->second.count;
}

Status ChunkShipper::failure(const std::string& transfer_id) const {
  auto it = out_.find(transfer_id);
  return it == out_.end() ? Status::NotFound("transfer " + transfer_id) : it->second.failure;
}

// ---- ChunkReceiver ----------------------------------------------------------

ChunkReceiver::ChunkReceiver(evidence::EvidenceStore* store, SendFn send, uint32_t sync_every)
    : store_(store), send_(std::move(send)), sync_every_(std::max<uint32_t>(1, sync_every)) {}

Status ChunkReceiver::Expect(const evidence::StreamSpec& spec) {
  if (in_.count(spec.transfer_id) != 0) return Status::Ok();
  evidence::AssemblerOptions ao;
  ao.sync_every = sync_every_;
  auto a = store_->Receive(spec, ao);
  if (!a.ok()) return a.status();
  // Already finished (another message names it again): nothing to hold
  // open; a chunk that still comes reopens it for the answer.
  const evidence::TransferState st = (*a)->state();
  if (st == evidence::TransferState::kComplete || st == evidence::TransferState::kFailed) return Status::Ok();
  Hold(spec.transfer_id, std::move(*a));
  return Status::Ok();
}

evidence::Assembler* ChunkReceiver::Get(const std::string& transfer_id) {
  auto it = in_.find(transfer_id);
  if (it != in_.end()) {
    it->second.used = ++use_clock_;
    return it->second.assembler.get();
  }
  // After a restart, or closed as the least recently used: the transfer is
  // on disk (Expect ran before).
  evidence::AssemblerOptions ao;
  ao.sync_every = sync_every_;
  auto a = store_->OpenIncoming(transfer_id, ao);
  if (!a.ok()) return nullptr;
  return Hold(transfer_id, std::move(*a));
}

evidence::Assembler* ChunkReceiver::Hold(const std::string& transfer_id, std::unique_ptr<evidence::Assembler> a) {
  while (in_.size() >= kMaxOpen) {
    auto lru = std::min_element(in_.begin(), in_.end(),
                                [](const auto& x, const auto& y) { return x.second.used < y.second.used; });
    // Chunks accepted since its last mark are made durable first (else
    // they would be sent again); its reported mark stays known.
    Status f = lru->second.assembler->Flush();
    if (!f.ok()) ops::Warn("evidence.mark_failed", {{"transfer", lru->first}, {"error", f.ToString()}});
    in_.erase(lru);
  }
  Open& o = in_[transfer_id];
  o.assembler = std::move(a);
  o.used = ++use_clock_;
  return o.assembler.get();
}

void ChunkReceiver::Report(const std::string& transfer_id, evidence::Assembler& a, Code error) {
  auto it = reported_.find(transfer_id);
  if (error == Code::kOk && it != reported_.end() && it->second == a.durable()) return;
  if (error != Code::kOk) {
    auto r = refusal_reported_.find(transfer_id);
    if (r != refusal_reported_.end() && r->second == a.durable()) return;  // the broker is already resending
  }
  if (!send_(transport::ChunkReceived{transfer_id, a.durable(), error})) return;
  reported_[transfer_id] = a.durable();
  if (error != Code::kOk) refusal_reported_[transfer_id] = a.durable();
}

void ChunkReceiver::OnDeliver(const transport::ChunkDeliver& d) {
  evidence::Assembler* a = Get(d.transfer_id);
  if (a == nullptr) {
    // No manifest for it (yet): nothing is acknowledged; the broker sends it
    // again after the next Hello.
    ops::Warn("evidence.chunk_unexpected", {{"transfer", d.transfer_id}, {"sender", d.sender}});
    return;
  }
  if (a->state() == evidence::TransferState::kComplete) {
    Report(d.transfer_id, *a, Code::kOk);
    CloseIfFinished(d.transfer_id);
    return;
  }
  auto r = a->Accept(d.frame);
  if (!r.ok()) {
    auto errc = evidence::ErrcOf(r.status());
    if (errc == evidence::Errc::kDuplicateChunk) {
      // The broker sends again from the last mark it heard. Chunks accepted
      // since that mark but not yet durable (fewer than sync_every of them,
      // or a mark whose write failed) are made durable now: otherwise a
      // window smaller than sync_every, or a failed mark, would be resent
      // forever with the mark never moving.
      if (a->next() > a->durable()) {
        Status f = a->Flush();
        if (!f.ok()) ops::Warn("evidence.mark_failed", {{"transfer", d.transfer_id}, {"error", f.ToString()}});
      }
      reported_.erase(d.transfer_id);  // repeat the mark
      Report(d.transfer_id, *a, Code::kOk);
      CloseIfFinished(d.transfer_id);
      return;
    }
    ops::Warn("evidence.chunk_refused",
              {{"transfer", d.transfer_id}, {"index", d.chunk_index}, {"error", r.status().ToString()}});
    Code c = r.status().code();
    if (c == Code::kOk) c = Code::kInternal;
    // Out of order (a chunk before it was lost) or refused: the broker
    // sends again from the durable mark.
    Report(d.transfer_id, *a, c);
    CloseIfFinished(d.transfer_id);
    return;
  }
  refusal_reported_.erase(d.transfer_id);  // progress: a later refusal is news
  if (*r == evidence::Assembler::Outcome::kComplete)
    ops::Info("evidence.received", {{"transfer", d.transfer_id}, {"sender", d.sender}});
  Report(d.transfer_id, *a, Code::kOk);
  CloseIfFinished(d.transfer_id);
}

void ChunkReceiver::CloseIfFinished(const std::string& transfer_id) {
  auto it = in_.find(transfer_id);
  if (it == in_.end()) return;
  const evidence::TransferState st = it->second.assembler->state();
  if (st != evidence::TransferState::kComplete && st != evidence::TransferState::kFailed) return;
  // Only once the broker has been told (a report that could not be sent is
  // sent again with the next chunk, which finds the transfer still open).
  auto rep = reported_.find(transfer_id);
  if (rep == reported_.end() || rep->second != it->second.assembler->durable()) return;
  in_.erase(it);
  reported_.erase(rep);
  refusal_reported_.erase(transfer_id);
}

uint64_t ChunkReceiver::durable(const std::string& transfer_id) const {
  if (auto it = in_.find(transfer_id); it != in_.end()) return it->second.assembler->durable();
  auto info = store_->Info(transfer_id);
  return info.ok() && info->incoming ? info->chunks_done : 0;
}

bool ChunkReceiver::complete(const std::string& transfer_id) const {
  if (auto it = in_.find(transfer_id); it != in_.end())
    return it->second.assembler->state() == evidence::TransferState::kComplete;
  auto info = store_->Info(transfer_id);
  return info.ok() && info->incoming && info->state == evidence::TransferState::kComplete;
}

// ---- RouteIndex -------------------------------------------------------------

void RouteIndex::Add(const std::string& message_id, const std::string& transfer_id) {
  std::lock_guard<std::mutex> lk(mu_);
  by_message_[message_id].insert(transfer_id);
}

std::vector<std::string> RouteIndex::Of(const std::string& message_id) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = by_message_.find(message_id);
  if (it == by_message_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

}  // namespace mlahub::agents
