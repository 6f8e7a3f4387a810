// Sealed envelopes: every request, answer and status change between nodes.
//
// Properties (DESIGN.md "Envelopes"; byte layout in docs/PROTOCOL.md):
//  - origin: Ed25519 signature by the sender over the header and a BLAKE2b-256
//    hash of the ciphertext;
//  - confidentiality: the payload is encrypted with XChaCha20-Poly1305 under a
//    key agreed between a fresh ephemeral X25519 key and the recipient's
//    encryption key; only the recipient can open it;
//  - binding: the header (which names sender and recipient) is the AEAD
//    associated data, so a payload cannot be re-targeted or re-labelled;
//  - every byte of the frame is authenticated or structural: any change is
//    refused with a named error.
// Stateless and thread-safe. Replay (duplicate ids) is the caller's state:
// broker and agents keep the ids they have seen.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "mlahub/core/bytes.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/ids.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/identity/keys.h"
#include "mlahub/schemas/common_generated.h"
#include "mlahub/schemas/header_generated.h"

namespace mlahub::envelope {

inline constexpr uint8_t kMagic[4] = {'M', 'L', 'E', '1'};
inline constexpr uint8_t kHeaderVersion = 1;
inline constexpr size_t kCiphertextHashSize = 32;
inline constexpr size_t kFrameOverhead = 4 + 4 + 4 + kCiphertextHashSize + 64;
inline constexpr size_t kMaxHeaderSize = 16 * 1024;
inline constexpr size_t kDefaultMaxEnvelopeSize = 16u << 20;       // 16 MiB
inline constexpr int64_t kDefaultMaxClockSkewMs = 5 * 60 * 1000;   // 5 minutes
inline constexpr int64_t kDefaultLifetimeMs = 30LL * 24 * 3600 * 1000;  // 30 days
inline constexpr size_t kPaddingBucket = 256;
// The longest validity window an envelope may claim (expires - created).
inline constexpr int64_t kMaxLifetimeMs = 400LL * 24 * 3600 * 1000;  // 400 days
inline constexpr size_t kKeyIdSize = 8;

// What the sender decides about an envelope. message_id empty = a fresh
// random id; created_ms 0 = now; expires_ms 0 = created + kDefaultLifetimeMs.
struct SealParams {
  std::string message_id;
  wire::MessageKind kind = wire::MessageKind::Unspecified;
  std::string case_ref;
  UnixMillis created_ms = 0;
  UnixMillis expires_ms = 0;
  std::string in_reply_to;
  wire::HandlingCode handling = wire::HandlingCode::H0;
  wire::LegalBasis legal_basis = wire::LegalBasis::Unspecified;
  wire::Priority priority = wire::Priority::Normal;
};

// Seals `payload` (a wire.Payload FlatBuffer whose body type equals
// params.kind; it is verified first) from `sender` to `recipient`.
Result<Bytes> Seal(const SealParams& params, const identity::NodeKeys& sender,
                   const identity::PublicIdentity& recipient, ByteView payload,
                   const Clock& clock = SystemClock::Instance());

// Seal with a caller-chosen ephemeral secret and nonce. ONLY for published
// test vectors (docs/examples/vector-1): reusing an ephemeral secret or a
// nonce with the same recipient destroys confidentiality.
Result<Bytes> SealForTestVector(const SealParams& params, const identity::NodeKeys& sender,
                                const identity::PublicIdentity& recipient, ByteView payload,
                                const crypto::Secret<32>& ephemeral_secret, const std::array<uint8_t, 24>& nonce,
                                const Clock& clock);

// A structurally valid frame: views into the caller's bytes (which must
// outlive it) and the verified header table. Nothing here is authenticated
// yet: use VerifyOrigin (broker) or Open (recipient) before trusting it.
struct Parsed {
  ByteView frame;
  ByteView header_bytes;
  ByteView ciphertext;
  ByteView ciphertext_hash;
  ByteView signature;
  const wire::Header* header = nullptr;

  std::string_view message_id() const { return header->message_id()->string_view(); }
  std::string_view sender() const { return header->sender()->string_view(); }
  std::string_view recipient() const { return header->recipient()->string_view(); }
};

// kOversize if frame.size() > max_size; kMalformed for anything that is not a
// well-formed frame with a verified Header.
Result<Parsed> Parse(ByteView frame, size_t max_size = kDefaultMaxEnvelopeSize);

// The broker's check: the signature verifies with the sender's key
// (kBadSignature), the ciphertext matches its signed hash
// (kTamperedCiphertext), the header version is known (kUnsupportedVersion).
Status VerifyOrigin(const Parsed& env, const crypto::SignPublicKey& sender_key);

// Time window: kExpired if now > expires or created is more than
// max_skew_ms in the future, or the header carries no valid times.
Status CheckTimes(const wire::Header& h, UnixMillis now, int64_t max_skew_ms);

struct OpenOptions {
  size_t max_size = kDefaultMaxEnvelopeSize;
  int64_t max_clock_skew_ms = kDefaultMaxClockSkewMs;
  const Clock* clock = &SystemClock::Instance();
};

// A heap buffer that is not zero-filled on allocation and is wiped when it
// dies (it holds decrypted plaintext). Move-only.
class SecureBuffer {
 public:
  SecureBuffer() = default;
  explicit SecureBuffer(size_t n) : data_(new uint8_t[n]), size_(n) {}
  ~SecureBuffer();
  SecureBuffer(SecureBuffer&& o) noexcept : data_(std::move(o.data_)), size_(o.size_) { o.size_ = 0; }
  SecureBuffer& operator=(SecureBuffer&& o) noexcept;
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

struct Opened {
  // Copies of the authenticated header fields.
  std::string message_id;
  std::string sender;
  std::string recipient;
  wire::MessageKind kind = wire::MessageKind::Unspecified;
  std::string case_ref;
  UnixMillis created_ms = 0;
  UnixMillis expires_ms = 0;
  std::string in_reply_to;
  wire::HandlingCode handling = wire::HandlingCode::H0;
  wire::LegalBasis legal_basis = wire::LegalBasis::Unspecified;
  wire::Priority priority = wire::Priority::Normal;
  // The verified wire.Payload FlatBuffer (plaintext), inside `plaintext`.
  ByteView payload() const { return ByteView(plaintext.data() + 4, payload_size); }

  // Decrypted buffer: u32le(length) || payload || padding. Wiped on destruction.
  SecureBuffer plaintext;
  size_t payload_size = 0;
};

// The recipient's check and decryption. Errors, each with its own code:
// kOversize, kMalformed, kBadSignature, kTamperedHeader, kTamperedCiphertext,
// kSenderMismatch, kWrongRecipient, kUnknownKind, kExpired, kUnsupportedVersion.
Result<Opened> Open(ByteView frame, const identity::NodeKeys& recipient,
                    const identity::PublicIdentity& sender, const OpenOptions& options = {});

// Open with whichever of `keys` (a node's current keys first, then those of
// its earlier rotations) holds the encryption key the header's
// recipient_key_id names; with keys[0] when none does (so the answer is
// Open's: wrong_recipient). `keys` must not be empty.
Result<Opened> OpenWithAny(ByteView frame, std::span<const identity::NodeKeys* const> keys,
                           const identity::PublicIdentity& sender, const OpenOptions& options = {});

// SHA-256 of the whole frame: what receipts and the ledger name.
crypto::Digest32 EnvelopeHash(ByteView frame);

// Payload helpers. BuildPayloadJson wraps a body given as JSON (the table of
// `kind`) into a wire.Payload with FlatBuffers' own JSON parser; BodyToJson
// prints the body of a verified payload the same way.
Result<Bytes> BuildPayloadFromJson(wire::MessageKind kind, std::string_view body_json);
Result<std::string> BodyToJson(ByteView payload);
Result<wire::MessageKind> ParseKind(std::string_view name);
bool IsKnownKind(wire::MessageKind kind);

}  // namespace mlahub::envelope
