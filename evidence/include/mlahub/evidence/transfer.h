// The state of one transfer as EvidenceStore::List shows it.
//
//   incoming: pending (no chunk yet), receiving n/N, complete, failed
//   outgoing: pending (nothing encrypted), receiving = encrypting n/N,
//             complete = sealed (ready to ship; `shipped` of N acknowledged)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mlahub::evidence {

enum class TransferState : uint8_t { kPending = 0, kReceiving = 1, kComplete = 2, kFailed = 3 };
// "pending", "receiving", "complete", "failed"
std::string_view TransferStateName(TransferState s);

struct TransferInfo {
  std::string transfer_id;
  bool incoming = true;  // false: a spool (outgoing)
  std::string file_name;
  std::string media_type;
  uint64_t size_bytes = 0;
  uint64_t chunk_count = 0;
  uint64_t chunks_done = 0;  // durable chunks (incoming) / encrypted (outgoing)
  uint64_t bytes_done = 0;   // plaintext bytes they hold
  uint64_t shipped = 0;      // outgoing: chunks the broker acknowledged
  TransferState state = TransferState::kPending;
  std::string failure;  // for kFailed
};

// "pending", "receiving 12/40", "complete", "failed: file_hash_mismatch: ...";
// outgoing: "encrypting 12/40", "ready, shipped 3/40".
std::string DescribeState(const TransferInfo& info);

}  // namespace mlahub::evidence
