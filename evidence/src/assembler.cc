#include "mlahub/evidence/assembler.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "assembler_impl.h"
#include "io.h"
#include "mlahub/evidence/errors.h"

namespace mlahub::evidence {
namespace {
using internal::RecordReader;
using internal::RecordWriter;
constexpr uint32_t kIncomingVersion = 1;

using internal::EndOffset;
}  // namespace

std::string_view TransferStateName(TransferState s) {
  switch (s) {
    case TransferState::kPending:
      return "pending";
    case TransferState::kReceiving:
      return "receiving";
    case TransferState::kComplete:
      return "complete";
    case TransferState::kFailed:
      return "failed";
  }
  return "unknown";
}

std::string DescribeState(const TransferInfo& i) {
  std::string n = std::to_string(i.chunks_done) + "/" + std::to_string(i.chunk_count);
  if (!i.incoming) {
    switch (i.state) {
      case TransferState::kPending:
        return "pending";
      case TransferState::kReceiving:
        return "encrypting " + n;
      case TransferState::kComplete:
        return "ready, shipped " + std::to_string(i.shipped) + "/" + std::to_string(i.chunk_count);
      case TransferState::kFailed:
        return "failed: " + i.failure;
    }
  }
  switch (i.state) {
    case TransferState::kPending:
      return "pending";
    case TransferState::kReceiving:
      return "receiving " + n;
    case TransferState::kComplete:
      return "complete";
    case TransferState::kFailed:
      return "failed: " + i.failure;
  }
  return "unknown";
}

// ---- persisted receiver state ----
Status IncomingState::Save(const std::string& path, const AtRestKey& key) const {
  internal::WipedBytes rec;
  RecordWriter w(rec.b);
  w.U32(kIncomingVersion);
  w.U8(static_cast<uint8_t>(state));
  w.U64(durable);
  w.Blob(ByteView(pull_state.data(), pull_state.size()));
  w.Blob(sha_state);
  w.Blob(expected);
  w.Str(failure);
  return internal::WriteSealed(path, key, kIncomingLabel, rec.b);
}

Result<IncomingState> IncomingState::Load(const std::string& path, const AtRestKey& key,
                                          const StreamSpec& spec) {
  MLAHUB_ASSIGN_OR_RETURN(Bytes raw, internal::ReadSealed(path, key, kIncomingLabel));
  internal::WipedBytes rec{std::move(raw)};
  RecordReader r(rec.b);
  IncomingState s;
  uint32_t version = r.U32();
  uint8_t st = r.U8();
  s.durable = r.U64();
  r.Fixed(s.pull_state.data(), s.pull_state.size());
  ByteView sha = r.Blob();
  s.sha_state.assign(sha.begin(), sha.end());
  r.Fixed(s.expected.data(), s.expected.size());
  s.failure = r.Str();
  if (!r.ok() || version != kIncomingVersion || st > 3 || s.durable > spec.chunk_count)
    return Status::Corruption(path + ": transfer state record is inconsistent");
  s.state = static_cast<TransferState>(st);
  return s;
}

IncomingState IncomingState::Initial(const StreamSpec& spec) {
  IncomingState s;
  auto pull = crypto::SecretStreamPull::Start(spec.stream_key, spec.stream_header);
  MLAHUB_CHECK(pull.ok());  // libsodium accepts every 24-byte header
  s.pull_state = pull->Export();
  s.sha_state = crypto::Sha256Stream().SaveState();
  s.expected = spec.chunks_root;
  return s;
}

// ---- Assembler ----
struct Assembler::Impl {
  std::string dir;
  AtRestKey at_rest;
  StreamSpec spec;
  AssemblerOptions options;
  IncomingState saved;  // as on disk
  // Runtime.
  uint64_t next = 0;
  Link expected{};
  std::optional<crypto::SecretStreamPull> pull;
  crypto::Sha256Stream sha;
  internal::Fd chunks;
  Bytes plain;
  ProgressFn progress_fn;
  std::optional<ProgressMeter> meter;

  std::string Path(std::string_view name) const { return dir + "/" + std::string(name); }

  Status Mark(TransferState state, std::string failure = {}) {
    MLAHUB_RETURN_IF_ERROR(internal::SyncFd(chunks.get(), Path("chunks")));
    IncomingState s;
    s.state = state;
    s.durable = next;
    s.pull_state = pull->Export();
    s.sha_state = sha.SaveState();
    s.expected = expected;
    s.failure = std::move(failure);
    MLAHUB_RETURN_IF_ERROR(s.Save(Path("state"), at_rest));
    saved = std::move(s);
    return Status::Ok();
  }

  Result<Outcome> AcceptFrame(const ChunkFrame& f, bool hash_checked) {
    if (saved.state == TransferState::kComplete || saved.state == TransferState::kFailed)
      return Status::InvalidArgument("transfer " + spec.transfer_id + " is " +
                                     std::string(TransferStateName(saved.state)));
    const std::string where = "chunk " + std::to_string(f.chunk_index) + " of " + spec.transfer_id;
    if (f.transfer_id != spec.transfer_id || f.chunk_count != spec.chunk_count)
      return MakeError(Errc::kWrongTransfer,
                       where + ": transfer id or chunk count differs from the manifest");
    if (f.chunk_index < next) return MakeError(Errc::kDuplicateChunk, where + ": already stored");
    if (f.chunk_index > next)
      return MakeError(Errc::kOutOfOrder,
                       where + ": expected chunk " + std::to_string(next) + " first");
    const uint64_t i = f.chunk_index;
    const size_t plain_len =
        static_cast<size_t>(PlainLengthOf(spec.size_bytes, spec.chunk_size, i));
    if (f.ciphertext.size() != plain_len + kChunkOverhead)
      return MakeError(Errc::kTamperedChunk, where + ": " + std::to_string(f.ciphertext.size()) +
                                                 " bytes, the manifest says " +
                                                 std::to_string(plain_len + kChunkOverhead));
    if (!hash_checked && HashCiphertext(f.ciphertext) != f.ciphertext_hash)
      return MakeError(Errc::kTamperedChunk, where + ": does not match its ciphertext_hash");
    if (ChainLink(i, f.ciphertext_hash, f.next_link) != expected)
      return MakeError(Errc::kTamperedChunk, where + ": does not match its hash chain link");
    const bool last = i + 1 == spec.chunk_count;
    // The plaintext buffer (up to 4 MiB) is made at the first chunk this
    // Assembler takes and freed when the transfer completes or the Assembler
    // is closed: an open transfer whose chunks have not come costs none.
    if (plain.size() < spec.chunk_size) plain.resize(spec.chunk_size);
    crypto::SecretStreamState before = pull->Export();
    crypto::StreamTag tag;
    Status pulled = pull->Pull(f.ciphertext, ChunkAd(i), plain.data(), &tag);
    if (!pulled.ok()) return MakeError(Errc::kTamperedChunk, where + ": " + pulled.message());
    if (tag != (last ? crypto::StreamTag::kFinal : crypto::StreamTag::kMessage)) {
      pull.emplace(crypto::SecretStreamPull::Resume(before));
      crypto::Wipe(plain.data(), plain_len);
      return MakeError(Errc::kTamperedChunk,
                       where + (last ? ": the last chunk lacks the final tag"
                                     : ": a final tag before the last chunk"));
    }
    // Write before anything in memory moves on: a failed write leaves the
    // state as it was (pull is rewound, the hash not yet updated).
    Status wr =
        internal::PwriteFull(chunks.get(), f.ciphertext.data(), f.ciphertext.size(),
                             EndOffset(spec.size_bytes, spec.chunk_size, i), Path("chunks"));
    if (!wr.ok()) {
      pull.emplace(crypto::SecretStreamPull::Resume(before));
      return wr;
    }
    sha.Update(ByteView(plain.data(), plain_len));
    crypto::Wipe(plain.data(), plain_len);
    ++next;
    expected = f.next_link;
    if (meter) meter->Update(std::min<uint64_t>(next * spec.chunk_size, spec.size_bytes), next);
    if (last) return Finish();
    if (next % options.sync_every == 0) MLAHUB_RETURN_IF_ERROR(Mark(TransferState::kReceiving));
    return Outcome::kStored;
  }

  // Every chunk is in: the file's hash decides complete or failed, made
  // durable. Called again by Flush() when that mark failed the first time.
  Result<Outcome> Finish() {
    crypto::Sha256Stream fin;
    MLAHUB_CHECK(fin.RestoreState(sha.SaveState()));
    if (fin.Final() != spec.sha256) {
      std::string msg = "file_hash_mismatch: " + spec.transfer_id +
                        ": every chunk verified but the file's SHA-256 differs from the manifest";
      MLAHUB_RETURN_IF_ERROR(Mark(TransferState::kFailed, msg));
      return MakeError(Errc::kFileHashMismatch,
                       spec.transfer_id +
                           ": every chunk verified but the file's SHA-256 "
                           "differs from the manifest");
    }
    MLAHUB_RETURN_IF_ERROR(Mark(TransferState::kComplete));
    if (meter) meter->Finish(spec.size_bytes, next);
    Bytes().swap(plain);  // (wiped after every chunk)
    return Outcome::kComplete;
  }
};

Assembler::Assembler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Assembler::~Assembler() = default;

Result<std::unique_ptr<Assembler>> OpenAssembler(const std::string& dir, const AtRestKey& key,
                                                 StreamSpec spec, AssemblerOptions options) {
  if (options.sync_every == 0) return Status::InvalidArgument("sync_every must be >= 1");
  auto impl = std::make_unique<Assembler::Impl>();
  impl->dir = dir;
  std::memcpy(impl->at_rest.data(), key.data(), key.size());
  impl->spec = std::move(spec);
  impl->options = options;
  MLAHUB_ASSIGN_OR_RETURN(impl->saved, IncomingState::Load(impl->Path("state"), key, impl->spec));
  MLAHUB_ASSIGN_OR_RETURN(impl->chunks, internal::OpenFile(impl->Path("chunks"), O_RDWR));
  const uint64_t keep =
      EndOffset(impl->spec.size_bytes, impl->spec.chunk_size, impl->saved.durable);
  MLAHUB_ASSIGN_OR_RETURN(uint64_t have,
                          internal::FileSize(impl->chunks.get(), impl->Path("chunks")));
  if (have < keep)
    return Status::Corruption(dir + ": chunks file shorter than its last durable mark");
  // Chunks written after the last mark were never acknowledged: drop them.
  if (have > keep)
    MLAHUB_RETURN_IF_ERROR(internal::TruncateFd(impl->chunks.get(), keep, impl->Path("chunks")));
  impl->next = impl->saved.durable;
  impl->expected = impl->saved.expected;
  impl->pull.emplace(crypto::SecretStreamPull::Resume(impl->saved.pull_state));
  if (!impl->sha.RestoreState(impl->saved.sha_state))
    return Status::Corruption(dir + ": hash state has the wrong size");
  return std::make_unique<Assembler>(std::move(impl));
}

Result<Assembler::Outcome> Assembler::Accept(ByteView frame) {
  MLAHUB_ASSIGN_OR_RETURN(ChunkFrame f, DecodeChunk(frame));
  return impl_->AcceptFrame(f, /*hash_checked=*/true);
}
Result<Assembler::Outcome> Assembler::Accept(const ChunkFrame& frame) {
  return impl_->AcceptFrame(frame, /*hash_checked=*/false);
}
Status Assembler::Flush() {
  if (impl_->next == impl_->saved.durable) return Status::Ok();
  // The last chunk is in but its mark was not written (an I/O error): the
  // final state, not "receiving".
  if (impl_->next == impl_->spec.chunk_count) {
    auto r = impl_->Finish();
    return r.ok() || impl_->saved.durable == impl_->next ? Status::Ok() : r.status();
  }
  return impl_->Mark(TransferState::kReceiving);
}
uint64_t Assembler::next() const { return impl_->next; }
uint64_t Assembler::durable() const { return impl_->saved.durable; }
TransferState Assembler::state() const {
  if (impl_->saved.state == TransferState::kReceiving ||
      impl_->saved.state == TransferState::kPending)
    return impl_->next == 0 ? TransferState::kPending : TransferState::kReceiving;
  return impl_->saved.state;
}
const StreamSpec& Assembler::spec() const { return impl_->spec; }
void Assembler::set_progress(ProgressFn fn) {
  impl_->progress_fn = std::move(fn);
  impl_->meter.emplace(impl_->spec.size_bytes, impl_->spec.chunk_count, impl_->progress_fn);
}

}  // namespace mlahub::evidence
