// Evidence manifests: what a sealed message says about the files that travel
// with it (schemas/content.fbs EvidenceFile / EvidenceManifest), and the
// StreamSpec, the C++ form of one EvidenceFile that travels as a secret
// stream.
//
// A StreamSpec holds the stream key: it is move-only, its key is wiped, and
// it must only ever be written into a sealed body (BuildEvidenceFile) or
// sealed at rest (EncodeSpec's output is secret; EvidenceStore seals it).
//
// Thread-safety: values and pure functions; DescribeFile reads a file.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/secret.h"
#include "mlahub/crypto/secretstream.h"
#include "mlahub/evidence/chunk.h"
#include "mlahub/schemas/content_generated.h"

namespace mlahub::evidence {

// Key that seals an agent's evidence state at rest (spool and transfer
// records, which hold stream keys). The agent derives it from its own secret
// key material (e.g. crypto::DeriveKey("mlahub-evidence-at-rest-v1", {...})).
using AtRestKey = crypto::Secret<32>;

// Name, size, hash and media type of a file on disk (no stream yet): the
// manifest entry of a file that travels some other way, and the first half
// of a StreamSpec.
struct FileDescription {
  std::string file_name;  // base name of the path
  uint64_t size_bytes = 0;
  crypto::Digest32 sha256{};
  std::string media_type;
  std::string chain_of_custody;
};

struct StreamSpec {
  std::string transfer_id;  // 32 lowercase hex
  std::string file_name;
  uint64_t size_bytes = 0;
  crypto::Digest32 sha256{};
  std::string media_type;
  std::string chain_of_custody;
  uint32_t chunk_size = 0;
  uint64_t chunk_count = 0;
  Link chunks_root{};
  crypto::SecretStreamHeader stream_header{};
  crypto::SecretStreamKey stream_key;  // secret

  StreamSpec Clone() const;
  // Everything but the key equal, and the keys equal in constant time.
  bool SameAs(const StreamSpec& o) const;
};

// Media type by file extension (case-insensitive); "application/octet-stream"
// when unknown.
std::string GuessMediaType(std::string_view file_name);

// Reads the file once (bounded memory) for its size and SHA-256.
Result<FileDescription> DescribeFile(const std::string& path, std::string chain_of_custody = {});

// kInvalidArgument unless `name` is safe to create in an output directory:
// not empty, at most 255 bytes, no '/', no NUL, no control characters, not
// "." or "..", not starting with '.'. Names come from the sender: a receiver
// checks them before it writes anything.
Status CheckFileName(std::string_view name);

// kMalformed unless the spec is internally consistent: transfer id, file
// name, chunk size within [kMinChunkSize, kMaxChunkSize], chunk_count ==
// ChunkCountFor(size, chunk_size). (DecodeSpec checks this; specs stored
// before CheckSpecBounds existed are read with it alone.)
Status ValidateSpec(const StreamSpec& spec);

// Bounds of a spec's free texts and size (CheckSpecBounds).
inline constexpr size_t kMaxMediaTypeBytes = 255;
inline constexpr size_t kMaxChainOfCustodyBytes = 64 * 1024;
inline constexpr uint64_t kMaxFileBytes = uint64_t{1} << 50;  // 1 PiB

// ValidateSpec, and media_type and chain_of_custody within their bounds and
// the size at most kMaxFileBytes: for a spec that arrives (a received
// manifest, EvidenceStore::Receive), not for one read back from disk.
Status CheckSpecBounds(const StreamSpec& spec);

// The EvidenceFile table for the sealed body (stream fields included).
flatbuffers::Offset<wire::EvidenceFile> BuildEvidenceFile(flatbuffers::FlatBufferBuilder& b,
                                                          const StreamSpec& spec);
// An EvidenceFile of a file without a stream (no key, no chunks).
flatbuffers::Offset<wire::EvidenceFile> BuildEvidenceFile(flatbuffers::FlatBufferBuilder& b,
                                                          const FileDescription& d);
// The EvidenceManifest of several streamed files (total_size_bytes summed).
flatbuffers::Offset<wire::EvidenceManifest> BuildEvidenceManifest(
    flatbuffers::FlatBufferBuilder& b, const std::vector<const StreamSpec*>& files,
    std::string_view note = {});

// A StreamSpec from a verified EvidenceFile (the receiver, after opening the
// sealed body); kMalformed if a stream field is missing or inconsistent.
Result<StreamSpec> SpecFromWire(const wire::EvidenceFile& f);

// A standalone FlatBuffer (root EvidenceFile) and back, with the verifier;
// the bytes hold the key (secret).
Bytes EncodeSpec(const StreamSpec& spec);
Result<StreamSpec> DecodeSpec(ByteView bytes);

}  // namespace mlahub::evidence
