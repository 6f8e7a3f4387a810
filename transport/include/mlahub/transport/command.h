// The broker <-> agent commands (schemas/transport.fbs) as C++ values, and
// their encoding to and from multipart messages.
//
// Layout: frame 0 is a wire.Command FlatBuffer (identifier "MLAT"); Submit,
// Deliver, SubmitReceipt and DirectoryUpdate carry one more frame, the raw
// attachment (envelope, SignedReceipt, SignedDirectory). Attachments are
// passed through as bytes: their own decoders (envelope::Parse, ...) check
// them.
//
// DecodeCommand runs the FlatBuffers verifier before reading anything, checks
// the frame count and sizes against DecodeLimits, and copies what it reads:
// the result does not refer to the frames. Stateless and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/transport/frames.h"

namespace mlahub::transport {

inline constexpr uint32_t kTransportProtocolVersion = 1;
inline constexpr size_t kHashSize = 32;
// Bounds on frame 0 and on proofs (a Merkle proof of a tree below 2^64
// leaves has at most 64 hashes for inclusion and ~128 for consistency).
inline constexpr size_t kMaxCommandFrameSize = 64 * 1024;
inline constexpr size_t kMaxProofHashes = 130;
// StatusResponse.events bound (a message has a handful of events; redelivery
// attempts are capped by the broker's backoff).
inline constexpr size_t kMaxStatusEvents = 1024;

using Hash = std::array<uint8_t, kHashSize>;

struct Hello {
  std::string node_id;
  uint64_t directory_version = 0;
  uint64_t checkpoint_size = 0;
  uint64_t last_delivery_seq = 0;
  uint32_t protocol_version = kTransportProtocolVersion;
  bool operator==(const Hello&) const = default;
};
struct Submit {
  uint64_t correlation = 0;
  Bytes envelope;  // attachment frame
  bool operator==(const Submit&) const = default;
};
struct SubmitResult {
  uint64_t correlation = 0;
  std::string message_id;
  bool accepted = false;
  Code error = Code::kOk;  // kOk iff accepted
  std::string message;
  uint64_t ledger_index = 0;
  uint64_t tree_size = 0;
  bool duplicate = false;
  bool operator==(const SubmitResult&) const = default;
};
struct Deliver {
  uint64_t delivery_seq = 0;
  uint64_t ledger_index = 0;
  Bytes envelope;  // attachment frame
  // Sequences below this are settled at the hub (receipted or expired) and
  // never delivered again; <= delivery_seq; 0: not said.
  uint64_t settled_below = 0;
  bool operator==(const Deliver&) const = default;
};
struct SubmitReceipt {
  uint64_t correlation = 0;
  uint64_t delivery_seq = 0;
  Bytes signed_receipt;  // attachment frame
  bool operator==(const SubmitReceipt&) const = default;
};
struct ReceiptResult {
  uint64_t correlation = 0;
  std::string message_id;
  bool accepted = false;
  Code error = Code::kOk;  // kOk iff accepted
  std::string message;
  uint64_t ledger_index = 0;
  bool duplicate = false;
  bool operator==(const ReceiptResult&) const = default;
};
struct DirectoryUpdate {
  uint64_t version = 0;
  Bytes signed_directory;  // attachment frame
  bool operator==(const DirectoryUpdate&) const = default;
};
struct CheckpointUpdate {
  Bytes note;  // C2SP signed note, byte for byte
  uint64_t old_size = 0;
  std::vector<Hash> consistency;
  bool operator==(const CheckpointUpdate&) const = default;
};
enum class ProofKind : uint8_t { kUnspecified = 0, kInclusion = 1, kConsistency = 2 };
struct ProofRequest {
  uint64_t correlation = 0;
  ProofKind kind = ProofKind::kUnspecified;
  uint64_t index = 0;
  uint64_t tree_size = 0;
  uint64_t old_size = 0;
  bool operator==(const ProofRequest&) const = default;
};
struct ProofResponse {
  uint64_t correlation = 0;
  ProofKind kind = ProofKind::kUnspecified;
  uint64_t index = 0;
  uint64_t tree_size = 0;
  uint64_t old_size = 0;
  Bytes entry;
  std::vector<Hash> proof;
  Code error = Code::kOk;
  std::string message;
  bool operator==(const ProofResponse&) const = default;
};
struct Ping {
  uint64_t nonce = 0;
  int64_t sent_ms = 0;
  bool operator==(const Ping&) const = default;
};
struct Pong {
  uint64_t nonce = 0;
  int64_t sent_ms = 0;
  bool operator==(const Pong&) const = default;
};
struct ErrorReply {
  Code code = Code::kInternal;  // never kOk
  std::string message;
  uint64_t correlation = 0;
  bool operator==(const ErrorReply&) const = default;
};

// wire.LedgerEvent / wire.MessageState values (schemas/ledger.fbs).
enum class EventKind : uint8_t {
  kUnspecified = 0,
  kAccepted = 1,
  kDelivered = 2,
  kReceipt = 3,
  kRejected = 4,
  kStatusChange = 5,
  kDirectoryPublished = 6,
};
std::string_view EventKindName(EventKind k);  // "accepted", "delivered", ...

struct TransportEvent {
  EventKind event = EventKind::kUnspecified;
  uint64_t ledger_index = 0;
  int64_t at_ms = 0;
  Code error = Code::kOk;
  uint32_t attempt = 0;
  uint8_t state = 0;  // wire.MessageState
  bool operator==(const TransportEvent&) const = default;
};
struct Notice {
  std::string message_id;
  TransportEvent event;
  Bytes receipt;  // SignedReceipt for kReceipt; else empty
  bool operator==(const Notice&) const = default;
};
struct StatusRequest {
  uint64_t correlation = 0;
  std::string message_id;
  bool operator==(const StatusRequest&) const = default;
};
struct StatusResponse {
  uint64_t correlation = 0;
  std::string message_id;
  Code error = Code::kOk;
  std::string message;
  std::vector<TransportEvent> events;
  Bytes receipt;
  bool operator==(const StatusResponse&) const = default;
};

// Evidence streams (evidence/README.md): chunk frames ("MLEC") travel as the
// attachment of ChunkPut and ChunkDeliver. The transport checks the command
// (transfer id 32 lowercase hex, node ids, the attachment's identifier and
// size); the broker and the agents decode the frame (evidence::DecodeChunk).
// Bound on a chunk attachment: evidence::kMaxChunkFrameSize (4 MiB chunk +
// 17 + 1 KiB), asserted equal where both headers are visible.
inline constexpr size_t kMaxChunkAttachmentSize = (4u << 20) + 17 + 1024;
inline constexpr size_t kMaxNodeIdSize = 64;

struct ChunkPut {
  std::string transfer_id;
  std::string recipient;
  uint64_t chunk_index = 0;
  std::string message_id;  // may be empty
  Bytes frame;             // attachment frame (EvidenceChunk)
  bool operator==(const ChunkPut&) const = default;
};
struct ChunkAck {
  std::string transfer_id;
  uint64_t stored = 0;
  uint64_t chunk_count = 0;
  Code error = Code::kOk;
  std::string message;
  // The recipient has every chunk and the completion is durable at the hub.
  bool complete = false;
  bool operator==(const ChunkAck&) const = default;
};
struct ChunkDeliver {
  std::string transfer_id;
  std::string sender;
  uint64_t chunk_index = 0;
  Bytes frame;  // attachment frame (EvidenceChunk)
  std::string message_id;  // the envelope carrying the manifest; may be empty
  bool operator==(const ChunkDeliver&) const = default;
};
struct ChunkReceived {
  std::string transfer_id;
  uint64_t durable = 0;
  Code error = Code::kOk;
  bool operator==(const ChunkReceived&) const = default;
};
struct ChunkStatus {
  std::string transfer_id;
  bool operator==(const ChunkStatus&) const = default;
};

// True for 32 lowercase hex characters (message and transfer ids).
bool IsHexId(std::string_view id);

using Command = std::variant<Hello, Submit, SubmitResult, Deliver, SubmitReceipt, ReceiptResult,
                             DirectoryUpdate, CheckpointUpdate, ProofRequest, ProofResponse, Ping,
                             Pong, ErrorReply, Notice, StatusRequest, StatusResponse, ChunkPut, ChunkAck,
                             ChunkDeliver, ChunkReceived, ChunkStatus>;

// True for the commands that move evidence chunks (ChunkPut, ChunkDeliver):
// bulk traffic, sent after every envelope, receipt and control command.
bool IsBulk(const Command& command);

// The schema name of a command ("Hello", "SubmitResult", ...).
std::string_view CommandName(const Command& command);

struct DecodeLimits {
  size_t max_command_size = kMaxCommandFrameSize;
  // Envelope, SignedReceipt or SignedDirectory; the broker passes its
  // configured maximum envelope size.
  size_t max_attachment_size = static_cast<size_t>(kDefaultMaxFrameSize);
  // EvidenceChunk attachments (ChunkPut, ChunkDeliver).
  size_t max_chunk_attachment_size = kMaxChunkAttachmentSize;
};

// Encodes a command into its frames. kInvalidArgument for values the schema
// forbids (a refusal with error kOk, an accepted result with an error, an
// ErrorReply with kOk, a Code outside ErrorCode, an oversize command frame).
Result<Frames> EncodeCommand(const Command& command);

// Decodes frames received from a peer. kMalformed (with the reason) for
// anything that is not exactly a verified Command with the attachments its
// type calls for, within `limits`; kUnknownKind for a command type this
// implementation does not know (a newer peer): answer it with an ErrorReply.
Result<Command> DecodeCommand(std::span<const Bytes> frames, const DecodeLimits& limits = {});
// For the Error answering a message DecodeCommand refused: the correlation of
// its request (Submit, SubmitReceipt, ProofRequest, StatusRequest) if the
// command frame itself passes the verifier (the attachment or a rule was
// wrong), else 0.
uint64_t RequestCorrelation(std::span<const Bytes> frames, const DecodeLimits& limits = {});

}  // namespace mlahub::transport
