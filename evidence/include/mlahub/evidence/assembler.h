// Assembler: the receiving side of an evidence transfer.
//
// Chunks are accepted strictly in order (the secret stream is sequential).
// For each frame the Assembler checks, before it changes anything: the frame
// (DecodeChunk: verifier, sizes, ciphertext_hash), that it belongs to this
// transfer and geometry, its index (below next(): kDuplicateChunk; above:
// kOutOfOrder), its size for its index, its hash chain link against the
// link it holds (L(0) = chunks_root from the sealed manifest), and then its
// MAC and tag by pulling it from the secret stream (kTamperedChunk for any
// of these). A refused chunk leaves every state as it was, so the right
// chunk can be accepted next.
//
// Accepted ciphertext is written to the transfer's `chunks` file (encrypted
// at rest; the plaintext is only hashed). Every `sync_every` chunks, and
// after the last, the file is fsync'd and the state record (next index,
// pull state, running plaintext SHA-256, the link expected next) is sealed
// and replaced atomically: durable() is that mark, the index to acknowledge
// to the broker and to resume from after a crash (EvidenceStore reopens the
// Assembler there and truncates anything after it).
//
// After the last chunk the whole file's SHA-256 and size are checked against
// the manifest: complete, or failed with kFileHashMismatch.
//
// Memory: one chunk (frame, plaintext). Thread-safety: one thread per
// Assembler; one Assembler per transfer at a time (EvidenceStore hands out
// one per call; the caller keeps it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/evidence/chunk.h"
#include "mlahub/evidence/manifest.h"
#include "mlahub/evidence/progress.h"
#include "mlahub/evidence/transfer.h"

namespace mlahub::evidence {

struct AssemblerOptions {
  uint32_t sync_every = 16;  // durable mark every this many chunks
};

class Assembler {
 public:
  enum class Outcome { kStored, kComplete };

  ~Assembler();
  // Checks and stores the next chunk. Errors (all leave the state as it
  // was): kMalformedChunk, kWrongTransfer, kDuplicateChunk (index below
  // next(): already stored, acknowledge again), kOutOfOrder (index above
  // next(): the ones before it are missing), kTamperedChunk, an I/O error;
  // kFileHashMismatch after the last chunk (the transfer is then failed).
  // kInvalidArgument once complete or failed.
  Result<Outcome> Accept(ByteView frame);
  Result<Outcome> Accept(const ChunkFrame& frame);
  // Makes every accepted chunk durable now (e.g. on disconnect).
  Status Flush();

  uint64_t next() const;     // index of the next chunk expected
  uint64_t durable() const;  // chunks durable (acknowledge these)
  TransferState state() const;
  const StreamSpec& spec() const;
  void set_progress(ProgressFn fn);

  struct Impl;
  explicit Assembler(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlahub::evidence
