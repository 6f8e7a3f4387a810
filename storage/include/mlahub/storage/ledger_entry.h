// The hub's ledger entries: FlatBuffers `mlahub.wire.LedgerEntry`
// (schemas/ledger.fbs, file identifier "MLAL"). The Ledger itself stores any
// bytes; this is the encoding the hub writes and auditors read.
//
// DecodeLedgerEntry is the only way to read entry bytes: it runs the
// FlatBuffers verifier and the field checks below before handing out a
// pointer into the buffer. Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/schemas/ledger_generated.h"

namespace mlahub::storage {

inline constexpr std::string_view kLedgerEntryType = "mlahub.wire.LedgerEntry";
inline constexpr std::string_view kLedgerEntryIdentifier = "MLAL";
inline constexpr uint8_t kLedgerEntryVersion = 1;

// Plain fields of an entry, for the writer side (the broker, tests, bench).
struct LedgerEntryFields {
  wire::LedgerEvent event = wire::LedgerEvent::Unspecified;
  int64_t ledger_ms = 0;
  std::string message_id;
  std::string sender;
  std::string recipient;
  wire::MessageKind kind = wire::MessageKind::Unspecified;
  std::string in_reply_to;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  wire::HandlingCode handling = wire::HandlingCode::H0;
  wire::LegalBasis legal_basis = wire::LegalBasis::Unspecified;
  wire::Priority priority = wire::Priority::Normal;
  uint64_t envelope_size = 0;
  Bytes envelope_hash;      // 32 bytes or empty
  Bytes sender_key_id;      // 8 bytes or empty
  Bytes origin_signature;   // 64 bytes or empty
  Bytes receipt_signature;  // 64 bytes or empty
  Bytes receipt_hash;       // 32 bytes or empty
  int64_t received_ms = 0;
  wire::ErrorCode error = wire::ErrorCode::Ok;
  wire::MessageState state = wire::MessageState::Unspecified;
  uint32_t attempt = 0;
  uint64_t directory_version = 0;
  Bytes directory_hash;     // 32 bytes or empty
  // EvidenceComplete entries.
  std::string transfer_id;
  uint64_t chunk_count = 0;
  Bytes chunks_root;        // 32 bytes or empty
};

// A finished FlatBuffer with the "MLAL" identifier.
Bytes EncodeLedgerEntry(const LedgerEntryFields& fields);

// Verifies `bytes` (FlatBuffers verifier, identifier, version 1, hash and
// signature fields of their exact sizes, strings of at most 256 printable
// ASCII characters) and
// returns the root table, which points into `bytes`. kMalformed says what is
// wrong; kUnsupportedVersion for a newer version.
Result<const wire::LedgerEntry*> DecodeLedgerEntry(ByteView bytes);

// The entry as FlatBuffers JSON (after DecodeLedgerEntry's checks).
Result<std::string> LedgerEntryToJson(ByteView bytes);

}  // namespace mlahub::storage
