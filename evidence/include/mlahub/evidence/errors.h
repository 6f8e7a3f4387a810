// The named errors of evidence transfers.
//
// Every failure of this module is a Status whose code is one of the core
// codes (so it can travel as an ErrorCode on the wire) and whose message
// starts with the evidence error's stable name and ": ", e.g.
// "tampered_chunk: chunk 17 of 4b1f... does not match its hash chain link".
// ErrcOf() recovers the name from a Status made here.
//
//   Errc                 core code             meaning, and what the receiver does
//   kTamperedChunk       kTamperedCiphertext   a chunk fails its hash, its chain link or its
//                                              MAC: refused, state unchanged; fetch it again
//   kOutOfOrder          kInvalidArgument      a chunk ahead of the next one expected: the
//                                              chunks before it are missing; ask from next()
//   kMissingChunk        kNotFound             the file is incomplete (fetch before complete)
//   kDuplicateChunk      kDuplicate            a chunk already stored; harmless, acknowledge it
//   kFileHashMismatch    kCorruption           all chunks verified but the whole file's
//                                              SHA-256 (or size) differs from the manifest
//   kMalformedChunk      kMalformed            a frame that fails the verifier or size checks
//   kWrongTransfer       kInvalidArgument      a frame of another transfer or stream geometry
//   kSourceChanged       kCorruption           the sender's file changed while it was spooled
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mlahub/core/status.h"

namespace mlahub::evidence {

enum class Errc : uint8_t {
  kNone = 0,  // not an evidence error (or OK)
  kTamperedChunk,
  kOutOfOrder,
  kMissingChunk,
  kDuplicateChunk,
  kFileHashMismatch,
  kMalformedChunk,
  kWrongTransfer,
  kSourceChanged,
};

// "tampered_chunk", "out_of_order", ...; "" for kNone.
std::string_view ErrcName(Errc e);
Status MakeError(Errc e, std::string_view message);
// The Errc named at the start of status.message(), or kNone.
Errc ErrcOf(const Status& status);

}  // namespace mlahub::evidence
