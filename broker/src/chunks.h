// The broker's evidence chunk relay (issue 5; evidence/README.md, "What the
// broker and the agents need"; docs/PROTOCOL.md, "Evidence chunks").
//
// Socket-thread only. The relay is blind: it sees transfer ids, indices,
// counts, ciphertext, its hash and the chain links, never a key or a name.
// For each transfer it:
//  - accepts ChunkPut from the transfer's first sender only, in order
//    (index == accepted count; a lower index is acknowledged again), after
//    evidence::DecodeChunk and the chain check (frame i's link must be the
//    link frame i-1 announced; the last frame announces the zero link), so a
//    transfer the broker holds is always one consistent chain with root L(0);
//  - stores the frame and the transfer's record in the ledger's state CF
//    (keys "ec/<recipient>/<transfer>/<u64be index>" and "et/<transfer>"),
//    through Ledger::WriteStateAsync (group commit, fsync), and answers
//    ChunkAck{stored} only once that is durable;
//  - forwards stored chunks to the recipient in order with at most `window`
//    in flight per transfer beyond the recipient's durable mark
//    (ChunkReceived), always after the recipient's envelopes (the broker
//    calls Pump after its envelope pump);
//  - once the recipient's durable mark reaches the count, records the
//    completion time together with a ledger completion entry (Hooks::
//    ledger_completion: transfer id, message id, chunk count, L(0)) and,
//    after `retention_ms`, deletes the frames (the transfer record stays,
//    so a repeated put is acknowledged, not stored).
// Memory: only transfers not yet purged are held (a purged one is read from
// its record when a command names it), and the per-recipient set that Pump
// and OnHello walk holds only transfers the recipient has not completed; so
// neither grows with the transfers the broker has ever relayed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mlahub/core/status.h"
#include "mlahub/storage/ledger.h"
#include "mlahub/transport/command.h"

namespace mlahub::broker {

struct ChunkRelayOptions {
  // Chunks sent to a recipient beyond its durable mark, per transfer.
  uint64_t window = 8;
  // Chunks accepted from a sender and not yet durable, per transfer.
  uint64_t max_unstored = 16;
  // Frames are kept this long after the recipient completed.
  int64_t retention_ms = 72LL * 3600 * 1000;
  // Chunks sent and not acknowledged by the recipient for this long are
  // sent again from its durable mark (lost on a live connection).
  int64_t resend_ms = 30 * 1000;
  // Test-only fault injection (MLAHUB_BROKER_TAMPER_CHUNK=K, logged as
  // broker.test_hook): the first delivery of chunk K of each transfer goes
  // out with one ciphertext byte flipped, as if altered on the way; later
  // deliveries are intact. -1: off.
  int64_t tamper_chunk = -1;
};

// One transfer as the broker records it ("et/<transfer>").
struct TransferRecord {
  std::string sender;
  std::string recipient;
  std::string message_id;  // may be empty
  uint64_t chunk_count = 0;
  uint64_t stored = 0;     // durable at the broker
  uint64_t received = 0;   // recipient's durable mark
  std::array<uint8_t, 32> root{};      // L(0), from frame 0
  std::array<uint8_t, 32> expected{};  // link the next frame must have
  int64_t completed_ms = 0;            // recipient complete (0 = not yet)
  bool purged = false;
  bool operator==(const TransferRecord&) const = default;
};
Bytes EncodeTransferRecord(const TransferRecord& r);
Result<TransferRecord> DecodeTransferRecord(ByteView b);
std::string TransferKey(std::string_view transfer_id);
std::string ChunkKey(std::string_view recipient, std::string_view transfer_id, uint64_t index);

class ChunkRelay {
 public:
  struct Hooks {
    // Sends a command to a connected node; false if it could not be sent.
    std::function<bool(const std::string& node, const transport::Command& cmd)> send;
    // Answers on the connection (`peer`, a routing id) a ChunkPut or
    // ChunkStatus came from. Unset: `send` to the node.
    std::function<void(const std::string& node, const std::string& peer, const transport::Command& cmd)> answer;
    // Queues durable state writes; `done` runs later on the socket thread.
    std::function<void(std::vector<storage::StateWrite> writes, std::function<void(const Status&)> done)>
        write_state;
    // Is the node connected and writable now?
    std::function<bool(const std::string& node)> online;
    // Checks the node may send (directory: known, not revoked) / receive.
    std::function<Status(const std::string& node)> check_node;
    // Checks that message `message_id` is an envelope the broker accepted
    // from `sender` for `recipient` (binds a transfer to it). Unset: no check.
    std::function<Status(const std::string& sender, const std::string& recipient, const std::string& message_id)>
        check_message;
    std::function<int64_t()> now_ms;
    // Ledgers the completion of a transfer (the recipient's durable mark
    // reached the count): an EvidenceComplete entry appended together with
    // `writes` (the transfer record saying it is complete) in one durable
    // batch; the broker calls OnCompletionDurable once it is. Unset: the
    // record is only written (and the sender told once it is durable).
    std::function<void(const std::string& transfer_id, const TransferRecord& rec,
                       std::vector<storage::StateWrite> writes)>
        ledger_completion;
  };

  ChunkRelay(const storage::Ledger* ledger, Hooks hooks, ChunkRelayOptions options);

  // Reads the transfer records back after a restart.
  Status Restore();

  // `peer`: the connection the command came from, which the ChunkAck
  // answering it goes to (empty: the node's newest).
  void OnPut(const std::string& node, transport::ChunkPut put, const std::string& peer = {});
  void OnReceived(const std::string& node, const transport::ChunkReceived& r);
  void OnStatus(const std::string& node, const transport::ChunkStatus& s, const std::string& peer = {});
  // The node (re)connected: everything not durable at it is sent again.
  void OnHello(const std::string& node);
  // Sends what the windows allow to `node`.
  void Pump(const std::string& node);
  // The completion of `transfer_id` (ledger_completion's batch) is durable:
  // the sender is told (ChunkAck.complete) so that it can drop its spool.
  void OnCompletionDurable(const std::string& transfer_id);
  // Purges completed transfers past their retention; resends what the
  // recipient has not acknowledged for resend_ms.
  void Periodic();

  // Transfers held in memory (not yet purged).
  size_t transfers() const { return transfers_.size(); }
  // Transfers `node` is receiving and has not completed.
  size_t receiving(const std::string& node) const;
  // The record of a transfer (from memory, else from the state), if any.
  std::optional<TransferRecord> Find(const std::string& transfer_id) const;

 private:
  struct Transfer {
    TransferRecord rec;       // durable view (as last written)
    uint64_t accepted = 0;    // frames accepted, durable or not
    std::array<uint8_t, 32> accepted_expected{};  // link after `accepted`
    uint64_t sent = 0;        // next index to send to the recipient
    int64_t progress_ms = 0;  // last send from the mark or recipient progress
    int64_t rewound_ms = 0;   // last resend from the mark on a receiver's refusal
    bool tampered = false;    // test hook: tamper_chunk already altered once
    bool complete_durable = false;  // the record saying "complete" (and its ledger entry) is durable
    bool purge_durable = false;     // the record saying "purged" is durable
  };
  void Ack(const std::string& node, const std::string& peer, const std::string& tid, const Transfer* t, Code code,
           std::string message);
  void Persist(const std::string& tid, Transfer& t, std::vector<storage::StateWrite> extra,
               std::function<void(const Status&)> then);
  void Purge(const std::string& tid, Transfer& t);
  // The transfer in memory, or one read from its durable record into
  // `scratch` (a purged transfer); null if none.
  Transfer* Lookup(const std::string& tid, Transfer& scratch);
  // The durable record of `tid` in the state, if any.
  std::optional<TransferRecord> ReadRecord(const std::string& tid) const;
  static Transfer FromRecord(const TransferRecord& rec);
  // The recipient completed `tid`: Pump and OnHello need not see it again.
  void DoneReceiving(const std::string& recipient, const std::string& tid);
  // Drops a purged transfer from memory once both its completion (the
  // sender is told) and its purge are durable.
  void EvictIfDone(const std::string& tid);

  const storage::Ledger* ledger_;
  Hooks hooks_;
  ChunkRelayOptions options_;
  std::map<std::string, Transfer> transfers_;
  std::map<std::string, std::set<std::string>> by_recipient_;
  std::map<std::string, std::string> pump_cursor_;  // per recipient: the transfer Pump served last
};

}  // namespace mlahub::broker
