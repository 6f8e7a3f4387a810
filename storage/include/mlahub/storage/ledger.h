// The hub's tamper-evident ledger: an append-only log of entries (opaque
// bytes to this class) in an RFC 9162 Merkle tree, kept in RocksDB, with a
// C2SP checkpoint signed by the hub after every committed batch.
//
// Durability: an append is acknowledged (Append returns, the AppendAsync
// callback fires) only after the RocksDB WriteBatch holding it was written
// with sync=true. A builder thread drains the queue into an open batch (node
// hashes, puts) while a committer thread writes and fsyncs the previous one
// (a batch of at most 64 appends the builder writes itself); everything
// queued during that fsync forms the next batch (group commit), so a lone
// append is written at once (unless it is Urgency::kDeferrable) and a busy
// hub writes large batches.
// Each batch carries the entries (each with its index key), their Merkle node
// hashes, the state writes, the new tree head and the new checkpoint, so a
// crash exposes either all of a batch or none of it; Open() cuts back
// anything found beyond the committed head. The message-id index is derived
// from the entries' index keys by a background indexer (rebuilt from them
// after a crash). Formats and key layout: docs/LEDGER.md.
//
// Reads: any root, inclusion proof and consistency proof is a fold of
// O(log n) perfect-subtree hashes; those of subtrees of 32 leaves and more
// are kept in memory (n/16 hashes, loaded in the background at open, then
// extended by the writer), so a proof reads at most a handful of RocksDB
// records in one MultiGet. Proofs are served only for sizes <= the committed
// size.
//
// Thread-safety: all methods may be called from any thread. Callbacks run on
// the thread that committed the batch (the committer, or the builder for a
// small batch), in index order; they must be quick and must not block on the
// ledger (no blocking Append, no Close) inside them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/sign.h"
#include "mlahub/storage/merkle.h"
#include "mlahub/storage/note.h"

namespace mlahub::storage {

struct LedgerOptions {
  // Create the ledger if `dir` holds none. Creation needs `origin` and
  // `signer`; both are recorded in the ledger (the public key only).
  bool create_if_missing = false;
  // Checkpoint origin line, e.g. "hub.mlahub.example/ledger". If set when
  // opening an existing ledger it must match the recorded one.
  std::string origin;
  // Signs checkpoints. Required to append; its key name and public key must
  // match the ones recorded at creation.
  std::shared_ptr<const NoteSigner> signer;
  // 0: sign a checkpoint after every batch. Otherwise at most one per
  // interval (the tail is signed when the interval has passed, and on Close).
  int64_t checkpoint_interval_ms = 0;
  // Largest batch the writer forms, in entries.
  size_t max_batch_entries = 16384;
  // AppendAsync blocks while this many entries wait for the writer.
  size_t max_pending_entries = 65536;
  // Largest accepted entry and index key, bytes.
  size_t max_entry_bytes = 1 << 20;
  size_t max_index_key_bytes = 256;
  // RocksDB block cache for reads (proofs, entries).
  size_t block_cache_bytes = size_t{1} << 30;
  // Memtable memory of all column families together (RocksDB
  // db_write_buffer_size; the largest family is flushed when it is reached).
  // 0: per-family sizes only (entries 128 MiB, state and nodes 64 MiB each,
  // two of each at most).
  size_t memtable_bytes = 0;
  // How long an append of Urgency::kDeferrable may wait for company: it is
  // committed with the next prompt append, or after this delay.
  std::chrono::microseconds deferrable_delay{2000};
};

// When an append's batch is committed.
enum class Urgency {
  // As soon as the writer can: someone waits for it (an acknowledgement).
  kPrompt,
  // Nobody waits for it: it may wait up to LedgerOptions::deferrable_delay
  // for a prompt append to share one commit (one fsync) with. It is still
  // durable before its callback runs, and keeps its place in the order.
  kDeferrable,
};

// Called with the entry's index once its batch is durable, or with the error
// that kept it from being written (then index is 0).
using AppendCallback = std::function<void(const Status& status, uint64_t index)>;

// The owner's own records (the broker's queues, its duplicate table), kept in
// the ledger's database so that they commit in the same fsync'd WriteBatch as
// the entries they go with: a crash exposes an entry and its state writes
// together or neither. Not part of the Merkle tree, not checked by Verify.
struct StateWrite {
  std::string key;
  std::optional<Bytes> value;  // nullopt: delete the key
  static StateWrite Put(std::string k, Bytes v) { return {std::move(k), std::move(v)}; }
  static StateWrite Delete(std::string k) { return {std::move(k), std::nullopt}; }
};

struct InclusionProof {
  uint64_t index = 0;
  uint64_t tree_size = 0;
  Hash leaf_hash{};
  Bytes entry;
  std::vector<Hash> path;
};

struct LedgerStats {
  uint64_t batches = 0;       // committed write batches since open
  uint64_t entries = 0;       // entries appended since open
  uint64_t checkpoints = 0;   // checkpoints signed since open
  uint64_t max_batch = 0;     // largest batch, entries
};

struct VerifyReport {
  Status status;                          // OK, or what failed first
  uint64_t entries = 0;                   // entries checked
  uint64_t checkpoints = 0;               // checkpoints checked
  std::optional<uint64_t> bad_index;      // first entry index found bad
  std::optional<uint64_t> bad_checkpoint; // size of the first bad checkpoint
};

class Ledger {
 public:
  // Opens (or creates) the ledger in `dir` for appending; the process holds
  // RocksDB's lock on it. kNotFound if none exists and !create_if_missing;
  // kInvalidArgument if the signer or origin does not match the ledger;
  // kCorruption if the stored head disagrees with the stored hashes.
  static Result<std::unique_ptr<Ledger>> Open(const std::string& dir, LedgerOptions options);
  // Opens a consistent read-only view (RocksDB OpenForReadOnly): the ledger
  // as it was committed when this call ran. Safe while another process
  // appends; reopen to see newer entries. Appends fail with kUnavailable.
  static Result<std::unique_ptr<Ledger>> OpenReadOnly(const std::string& dir);

  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Writes everything queued, signs a final checkpoint if the tail is not
  // yet signed, stops the writer and closes the database. Idempotent.
  Status Close();

  // Queues one entry. `index_key` (e.g. the message id) may be empty; else
  // FindByIndexKey(index_key) will list this entry. Blocks only while
  // max_pending_entries are already queued. The callback always fires once.
  void AppendAsync(Bytes entry, std::string index_key, AppendCallback callback);
  // The same, with state writes committed atomically with the entry.
  void AppendAsync(Bytes entry, std::string index_key, std::vector<StateWrite> state,
                   AppendCallback callback, Urgency urgency = Urgency::kPrompt);
  // State writes alone (no entry), group-committed and fsync'd in the same
  // pipeline, in queue order with the appends; the callback gets the ledger
  // size at the commit as `index`.
  void WriteStateAsync(std::vector<StateWrite> state, AppendCallback callback);
  // Appends and waits until durable; returns the entry's index.
  Result<uint64_t> Append(ByteView entry, std::string_view index_key = {});

  // Committed state records. GetState: nullopt if absent. ScanState visits
  // keys starting with `prefix` in byte order from `start` (inclusive; empty:
  // the first), until `visit` returns false. A read-only view of a ledger
  // written before state records existed has none.
  Result<std::optional<Bytes>> GetState(std::string_view key) const;
  Status ScanState(std::string_view prefix, std::string_view start,
                   const std::function<bool(std::string_view key, ByteView value)>& visit) const;

  // Committed (durable) number of entries.
  uint64_t Size() const;
  Result<Hash> Root(uint64_t size) const;
  Result<Bytes> Entry(uint64_t index) const;
  Result<Hash> LeafHash(uint64_t index) const;
  Result<InclusionProof> ProveInclusion(uint64_t index, uint64_t tree_size) const;
  Result<std::vector<Hash>> ProveConsistency(uint64_t old_size, uint64_t new_size) const;

  // The signed checkpoint note stored for exactly `size`; kNotFound if none
  // was signed at that size.
  Result<std::string> CheckpointAt(uint64_t size) const;
  // The newest stored checkpoint (its size in *size if not null).
  Result<std::string> LatestCheckpoint(uint64_t* size = nullptr) const;
  // Sizes of all stored checkpoints, ascending (for tools; O(#checkpoints)).
  Result<std::vector<uint64_t>> CheckpointSizes() const;

  // Indices of the committed entries appended with this index key, ascending:
  // every entry committed when the call starts (on the writer it may wait,
  // briefly, for the indexer to take the latest batches).
  Result<std::vector<uint64_t>> FindByIndexKey(std::string_view index_key) const;

  const std::string& origin() const;
  const std::string& key_name() const;
  const crypto::SignPublicKey& public_key() const;
  // The C2SP verifier key of the checkpoint signer.
  std::string verifier_key() const;
  bool read_only() const;
  LedgerStats Stats() const;

  // Recomputes every leaf hash from its entry bytes and every stored node
  // hash, checks every stored checkpoint's signature, origin and root, the
  // head and the index. Streams: memory is O(log n). Stops at the first
  // problem (status kCorruption, with bad_index / bad_checkpoint set).
  // `progress(done, total)` is called every few thousand entries. On a
  // read-only view it drops the in-memory upper tree first (later proofs on
  // that view read RocksDB only).
  VerifyReport Verify(const std::function<void(uint64_t, uint64_t)>& progress = {}) const;

  struct Impl;

 private:
  explicit Ledger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlahub::storage
