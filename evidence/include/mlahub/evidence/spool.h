// Spool: the sending side of an evidence transfer.
//
// The file is encrypted once, sequentially, into a spool directory: the
// ciphertext chunks (`chunks`, chunk i at offset i * (chunk_size + 17)), the
// BLAKE2b-256 of each (`hashes`), and, once every chunk is written, the hash
// chain links (`links`, link i = L(i), evidence.fbs). The spool's state
// (stream key and header, the secret stream push state, the running SHA-256
// of the plaintext, the next chunk to encrypt, how many chunks the broker
// has acknowledged) is a record sealed with the AtRestKey and replaced
// atomically at durable marks: every `sync_every` chunks the chunk and hash
// files are fsync'd, then the state record is written. After kill -9,
// Open() truncates anything past the last mark and encryption resumes from
// it, with the saved push state: nothing is encrypted twice under the same
// stream position, nothing is started again.
//
// Once sealed() the spool serves any chunk by index (ReadChunkFrame) for as
// long as the transfer needs it; shipping order and retries are the
// caller's (the agent's), which records the broker's acknowledgements with
// MarkShipped so they survive restarts too.
//
// The source file must not change while it is spooled: its size and mtime
// are recorded at Create and checked at every Open and at the end
// (kSourceChanged otherwise).
//
// Memory: one chunk of plaintext and one of ciphertext (2 x chunk_size).
// Thread-safety: one thread per Spool; one Spool per directory at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/evidence/manifest.h"
#include "mlahub/evidence/progress.h"
#include "mlahub/evidence/transfer.h"

namespace mlahub::evidence {

struct SpoolOptions {
  uint32_t chunk_size = kDefaultChunkSize;
  // Durable mark every this many chunks (and after the last).
  uint32_t sync_every = 64;
  std::string chain_of_custody;
  std::string media_type;   // empty: GuessMediaType(file name)
  std::string transfer_id;  // empty: a new random one
};

class Spool {
 public:
  // Creates the spool directory `dir` (must not exist) for `source` and
  // records its key, header and state; encrypts nothing yet.
  static Result<std::unique_ptr<Spool>> Create(const std::string& dir, const std::string& source,
                                               const AtRestKey& key, SpoolOptions options = {});
  // Reopens a spool (after a restart), discarding anything written after its
  // last durable mark.
  static Result<std::unique_ptr<Spool>> Open(const std::string& dir, const AtRestKey& key);
  // The spool's state for listing, read without opening or changing its files.
  static Result<TransferInfo> Peek(const std::string& dir, const AtRestKey& key);
  ~Spool();

  // Encrypts the rest of the file and seals the spool; a no-op once sealed.
  Status Run(const ProgressFn& progress = {});
  // As Run, but returns after at most `max_chunks` chunks (tests use this
  // to stop at a chosen point; the chunks past the last mark are not
  // durable).
  Status RunFor(uint64_t max_chunks, const ProgressFn& progress = {});

  bool sealed() const;
  const std::string& transfer_id() const;
  uint64_t chunk_count() const;
  // Chunks encrypted and durable (the last mark).
  uint64_t durable_chunks() const;
  // Chunks encrypted in this process, durable or not.
  uint64_t encrypted_chunks() const;

  // The manifest entry (with the key); kUnavailable until sealed().
  Result<StreamSpec> Spec() const;
  // The frame of chunk `index` (EncodeChunk), read from the spool;
  // kUnavailable until sealed().
  Result<Bytes> ReadChunkFrame(uint64_t index) const;

  // Records durably that the broker holds every chunk below `count` (it only
  // grows; a smaller value is ignored).
  Status MarkShipped(uint64_t count);
  uint64_t shipped() const;

  struct Impl;

 private:
  explicit Spool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlahub::evidence
