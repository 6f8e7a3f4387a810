// The agent's side of evidence streams over the transport (issue 5, part 2;
// docs/PROTOCOL.md 13.10). Network-thread only; no I/O of their own beyond
// the EvidenceStore (files under the agent's data dir) and `send`.
//
// ChunkShipper (sender): ships sealed spools to the broker, in order, with at
// most `window` ChunkPuts without a ChunkAck per transfer; a ChunkAck{stored}
// is made durable with Spool::MarkShipped. After every (re)connection
// (OnConnected) it asks ChunkStatus for each unfinished transfer and resumes
// at the broker's `stored`. Only bulk traffic: the agent calls Pump after its
// envelopes and receipts. A ChunkAck with `complete` (the recipient holds
// every chunk and the hub's completion entry is durable) closes the spool,
// calls `on_complete` (the agent marks the route and purges the spool) and
// forgets the transfer, so that the shipper holds and walks only transfers
// still in progress, however long the agent runs; a transfer all at the
// broker but not yet complete is asked about again after every
// (re)connection.
//
// ChunkReceiver (receiver): an Assembler per transfer (created by Expect from
// the StreamSpec of an opened manifest, or reopened from disk after a
// restart); every ChunkDeliver goes through Assembler::Accept, and each time
// the durable mark moves (every `sync_every` chunks, and at the end) a
// ChunkReceived{durable} returns credit to the broker. A duplicate is
// acknowledged again; a refused chunk is reported with its error (the broker
// sends again from the durable mark). A transfer that is complete or failed
// is closed (its file descriptor and chunk buffer freed) once reported; a
// late duplicate of one of its chunks reopens it from disk for the answer.
//
// Wired into Agent in agent_evidence.cc (routes, Expect from opened bodies,
// ChunkAck / ChunkDeliver routed here).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "mlahub/core/status.h"
#include "mlahub/evidence/store.h"
#include "mlahub/transport/command.h"

namespace mlahub::agents {

using SendFn = std::function<bool(const transport::Command&)>;
// Called once per transfer when the hub confirms it complete (the spool is
// closed by then and may be deleted).
using CompleteFn = std::function<void(const std::string& transfer_id)>;

class ChunkShipper {
 public:
  ChunkShipper(evidence::EvidenceStore* store, SendFn send, uint64_t window = 8, CompleteFn on_complete = {});

  // Ships (or resumes shipping) the sealed spool `transfer_id` to
  // `recipient`. kInvalidArgument if the spool is not sealed.
  Status Add(const std::string& transfer_id, const std::string& recipient, const std::string& message_id = {});
  // After a (re)connection: ask where the broker is for every transfer.
  void OnConnected();
  // Call while connected: asks ChunkStatus again for every transfer not yet
  // complete that heard nothing from the broker for an interval. Any of the
  // broker's ChunkAcks may be lost (a full pipe, a connection replaced): the
  // answer to a ChunkStatus, an ack of a ChunkPut (the window then stalls),
  // or the unasked one saying the transfer is complete (the spool then
  // stayed until the next reconnection). The interval is kStatusRetry after
  // the last ack or question, doubling up to kStatusRetryMax while the
  // broker holds no more than before (a recipient offline for days is asked
  // about every ten minutes); progress or a reconnection resets it.
  void Tick(std::chrono::steady_clock::time_point now);
  static constexpr std::chrono::seconds kStatusRetry{30};
  static constexpr std::chrono::seconds kStatusRetryMax{600};
  void OnAck(const transport::ChunkAck& ack);
  // Sends what the windows allow.
  void Pump();

  // Of a transfer in progress (a complete one is forgotten: 0 / false):
  // chunks the broker holds (0 if unknown); all done when == chunk_count.
  uint64_t shipped(const std::string& transfer_id) const;
  bool done(const std::string& transfer_id) const;
  // The last refusal of a transfer, if any.
  Status failure(const std::string& transfer_id) const;
  // Transfers added and not yet confirmed complete (failed ones included).
  size_t in_progress() const { return out_.size(); }

 private:
  struct Out {
    std::unique_ptr<evidence::Spool> spool;
    uint64_t count = 0;  // the spool's chunk count
    std::string recipient;
    std::string message_id;
    uint64_t acked = 0;  // broker's stored
    uint64_t next = 0;   // next index to put
    bool waiting_status = false;
    Status failure;
    // Tick: when to ask the broker again, and the interval after that.
    std::chrono::steady_clock::time_point ask_at{};
    std::chrono::seconds ask_every = kStatusRetry;
  };
  // Asks the broker where `o` stands (ChunkStatus) and schedules Tick's next question.
  void AskStatus(const std::string& transfer_id, Out& o, std::chrono::steady_clock::time_point now);
  evidence::EvidenceStore* store_;
  SendFn send_;
  uint64_t window_;
  CompleteFn on_complete_;
  std::map<std::string, Out> out_;
};

class ChunkReceiver {
 public:
  ChunkReceiver(evidence::EvidenceStore* store, SendFn send, uint32_t sync_every = 4);

  // A transfer announced by an opened manifest (idempotent: an existing
  // incoming transfer with the same spec is reopened).
  Status Expect(const evidence::StreamSpec& spec);
  void OnDeliver(const transport::ChunkDeliver& d);

  // The state of a transfer (durable chunks), from memory while it is open,
  // else from its state file.
  uint64_t durable(const std::string& transfer_id) const;
  bool complete(const std::string& transfer_id) const;
  // Transfers held open (neither complete nor failed, or not yet reported).
  size_t open() const { return in_.size(); }
  // At most this many transfers are held open (a file and, while chunks
  // come, a chunk buffer each); the least recently used beyond it is made
  // durable and closed, and opened again from disk when a chunk comes.
  static constexpr size_t kMaxOpen = 64;

 private:
  evidence::Assembler* Get(const std::string& transfer_id);
  void Report(const std::string& transfer_id, evidence::Assembler& a, Code error);
  // Closes a complete or failed transfer once its state is reported.
  void CloseIfFinished(const std::string& transfer_id);
  // Holds `a` open for `transfer_id` (most recently used), closing the least
  // recently used other transfer beyond kMaxOpen.
  evidence::Assembler* Hold(const std::string& transfer_id, std::unique_ptr<evidence::Assembler> a);

  evidence::EvidenceStore* store_;
  SendFn send_;
  uint32_t sync_every_;
  struct Open {
    std::unique_ptr<evidence::Assembler> assembler;
    uint64_t used = 0;  // use_clock_ at its last chunk (least recently used: closed first)
  };
  std::map<std::string, Open> in_;
  uint64_t use_clock_ = 0;
  std::map<std::string, uint64_t> reported_;
  // The durable mark each transfer's last refusal was reported at. One
  // refusal report per mark: each makes the broker send the window again,
  // and reporting the rest of that window too (all out of order behind the
  // refused chunk) multiplied the resends by the window at every round.
  std::map<std::string, uint64_t> refusal_reported_;
};

// Which transfers travel with which message: an index of the agent's route
// files (agent_evidence.cc), so that finding a message's transfers (on every
// accepted submission, and for the evidence API) does not read every route
// file the agent ever wrote. Built from the files at start, then kept as
// routes are written. Thread-safe: API threads add outgoing routes, the
// network thread incoming ones.
class RouteIndex {
 public:
  void Add(const std::string& message_id, const std::string& transfer_id);
  // The transfer ids of `message_id`, sorted; empty if none.
  std::vector<std::string> Of(const std::string& message_id) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::set<std::string>, std::less<>> by_message_;
};

}  // namespace mlahub::agents
