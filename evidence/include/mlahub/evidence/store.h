// EvidenceStore: an agent's evidence on disk, under <data_dir>/evidence/.
//
//   evidence/incoming/<transfer_id>/spec     sealed StreamSpec (EncodeSpec)
//                                  /state    sealed receiver state
//                                  /chunks   verified ciphertext chunks
//   evidence/outgoing/<transfer_id>/...      a Spool (spool.h)
//
// Everything is encrypted at rest: chunks stay secret stream ciphertext, and
// the records holding stream keys and states are sealed with the AtRestKey
// (XChaCha20-Poly1305). Plaintext exists only in Fetch's output.
//
// Thread-safety: the store's methods may be called from several threads for
// different transfers; one Assembler (or Spool) per transfer at a time; one
// process per data dir.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mlahub/core/status.h"
#include "mlahub/evidence/assembler.h"
#include "mlahub/evidence/manifest.h"
#include "mlahub/evidence/progress.h"
#include "mlahub/evidence/spool.h"
#include "mlahub/evidence/transfer.h"

namespace mlahub::evidence {

class EvidenceStore {
 public:
  // Creates <data_dir>/evidence/{incoming,outgoing} (mode 0700) if missing.
  // `earlier`: the at-rest keys of the node's earlier key rotations. A
  // transfer keeps the key it was written with; those written under an
  // earlier key are still read (new ones use `key`).
  static Result<std::unique_ptr<EvidenceStore>> Open(const std::string& data_dir, AtRestKey key,
                                                     std::vector<AtRestKey> earlier = {});

  // Starts receiving `spec` (from an opened sealed manifest), or reopens the
  // transfer if it already exists with the same spec (kAlreadyExists if the
  // id is taken by another spec). Reopening resumes from the last durable
  // chunk.
  Result<std::unique_ptr<Assembler>> Receive(const StreamSpec& spec, AssemblerOptions options = {});
  // Reopens an existing incoming transfer (kNotFound if none).
  Result<std::unique_ptr<Assembler>> OpenIncoming(const std::string& transfer_id,
                                                  AssemblerOptions options = {});

  // A new spool for `source` (options.transfer_id or a new id).
  Result<std::unique_ptr<Spool>> CreateSpool(const std::string& source, SpoolOptions options = {});
  Result<std::unique_ptr<Spool>> OpenSpool(const std::string& transfer_id);

  // Every transfer, incoming then outgoing, by id.
  Result<std::vector<TransferInfo>> List() const;
  Result<TransferInfo> Info(const std::string& transfer_id) const;

  // Decrypts a complete incoming transfer into out_dir/<file_name>: written
  // to a temporary file, fsync'd, its size and SHA-256 checked against the
  // manifest, then renamed into place (and the directory fsync'd). Errors:
  // kNotFound, kMissingChunk (not complete), kAlreadyExists (the target
  // exists), kFileHashMismatch / kTamperedChunk (the store was altered; no
  // output is left behind), I/O errors.
  Status Fetch(const std::string& transfer_id, const std::string& out_dir,
               const ProgressFn& progress = {}) const;

  // Deletes a transfer's directory (incoming and/or outgoing): after the
  // receipt and the retention period, or to abandon it.
  Status Purge(const std::string& transfer_id);

  std::string IncomingDir(const std::string& transfer_id) const;
  std::string OutgoingDir(const std::string& transfer_id) const;

 private:
  EvidenceStore(std::string root, AtRestKey key, std::vector<AtRestKey> earlier);
  // An incoming transfer's spec, read with the key it was written with:
  // key_, or the first of earlier_ that opens it (key_'s error when none
  // does). Each key is tried once; the spec is not read again.
  Result<std::pair<const AtRestKey*, StreamSpec>> IncomingSpec(const std::string& dir) const;
  // An outgoing transfer's summary, read the same way.
  Result<TransferInfo> PeekOutgoing(const std::string& dir) const;
  // The key an outgoing transfer was written with (key_ when none opens it).
  const AtRestKey& OutgoingKey(const std::string& dir) const;
  // `read` with key_, then each of earlier_, until one succeeds: that key and
  // its result, or key_'s failure.
  template <typename T>
  Result<std::pair<const AtRestKey*, T>> ReadWithWriterKey(
      const std::function<Result<T>(const AtRestKey&)>& read) const;
  std::string root_;
  AtRestKey key_;
  std::vector<AtRestKey> earlier_;
};

}  // namespace mlahub::evidence
