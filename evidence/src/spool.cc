#include "mlahub/evidence/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "io.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/secretstream.h"
#include "mlahub/evidence/errors.h"

namespace mlahub::evidence {
namespace {
using internal::Fd;
using internal::RecordReader;
using internal::RecordWriter;

constexpr std::string_view kSpoolLabel = "mlahub-evidence-spool-v1";
constexpr uint32_t kSpoolVersion = 1;
constexpr size_t kLinkBlock = 4096;  // links pass: entries per read/write

struct SourceStamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const SourceStamp&) const = default;
};

Result<SourceStamp> StampOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return MakeError(Errc::kSourceChanged, "source " + path + " is gone");
    return Status::IoError(internal::Errno("stat " + path));
  }
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + " is not a regular file");
  return SourceStamp{static_cast<uint64_t>(st.st_size),
                     int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

// Offset of the end of the first k ciphertext chunks.
using internal::EndOffset;

void CopyKey(const AtRestKey& from, AtRestKey& to) {
  std::memcpy(to.data(), from.data(), from.size());
}
}  // namespace

struct Spool::Impl {
  std::string dir;
  AtRestKey at_rest;
  // Persisted.
  bool sealed = false;
  std::string source;
  SourceStamp stamp;
  std::string transfer_id, file_name, media_type, custody;
  uint32_t chunk_size = 0;
  uint32_t sync_every = 1;
  uint64_t chunk_count = 0;
  uint64_t durable = 0;
  crypto::SecretStreamState push_state;
  Bytes sha_state;
  crypto::SecretStreamKey stream_key;
  crypto::SecretStreamHeader header{};
  crypto::Digest32 sha256{};
  Link root{};
  uint64_t shipped = 0;
  // Runtime.
  uint64_t next = 0;  // encrypted in this process (>= durable)
  std::optional<crypto::SecretStreamPush> push;
  crypto::Sha256Stream sha;
  Fd chunks, hashes, links, src;

  std::string Path(std::string_view name) const { return dir + "/" + std::string(name); }

  Status Save() {
    internal::WipedBytes rec;
    RecordWriter w(rec.b);
    w.U32(kSpoolVersion);
    w.U8(sealed ? 1 : 0);
    w.Str(source);
    w.U64(stamp.size);
    w.U64(static_cast<uint64_t>(stamp.mtime_ns));
    w.Str(transfer_id);
    w.Str(file_name);
    w.Str(media_type);
    w.Str(custody);
    w.U32(chunk_size);
    w.U32(sync_every);
    w.U64(chunk_count);
    w.U64(durable);
    w.Blob(ByteView(push_state.data(), push_state.size()));
    w.Blob(sha_state);
    w.Blob(ByteView(stream_key.data(), stream_key.size()));
    w.Blob(header);
    w.Blob(sha256);
    w.Blob(root);
    w.U64(shipped);
    return internal::WriteSealed(Path("state"), at_rest, kSpoolLabel, rec.b);
  }

  Status Load() {
    MLAHUB_ASSIGN_OR_RETURN(Bytes raw, internal::ReadSealed(Path("state"), at_rest, kSpoolLabel));
    internal::WipedBytes rec{std::move(raw)};
    RecordReader r(rec.b);
    uint32_t version = r.U32();
    sealed = r.U8() == 1;
    source = r.Str();
    stamp.size = r.U64();
    stamp.mtime_ns = static_cast<int64_t>(r.U64());
    transfer_id = r.Str();
    file_name = r.Str();
    media_type = r.Str();
    custody = r.Str();
    chunk_size = r.U32();
    sync_every = r.U32();
    chunk_count = r.U64();
    durable = r.U64();
    r.Fixed(push_state.data(), push_state.size());
    ByteView s = r.Blob();
    sha_state.assign(s.begin(), s.end());
    r.Fixed(stream_key.data(), stream_key.size());
    r.Fixed(header.data(), header.size());
    r.Fixed(sha256.data(), sha256.size());
    r.Fixed(root.data(), root.size());
    shipped = r.U64();
    if (!r.ok() || version != kSpoolVersion || chunk_size < kMinChunkSize ||
        chunk_size > kMaxChunkSize || chunk_count != ChunkCountFor(stamp.size, chunk_size) ||
        durable > chunk_count || sync_every == 0 || !IsValidTransferId(transfer_id))
      return Status::Corruption(Path("state") + ": spool state record is inconsistent");
    return Status::Ok();
  }

  Status Mark() {
    MLAHUB_RETURN_IF_ERROR(internal::SyncFd(chunks.get(), Path("chunks")));
    MLAHUB_RETURN_IF_ERROR(internal::SyncFd(hashes.get(), Path("hashes")));
    durable = next;
    push_state = push->Export();
    sha_state = sha.SaveState();
    return Save();
  }

  Status CheckSource() {
    MLAHUB_ASSIGN_OR_RETURN(SourceStamp now, StampOf(source));
    if (!(now == stamp))
      return MakeError(Errc::kSourceChanged,
                       "source " + source + " changed while it was spooled (size " +
                           std::to_string(stamp.size) + " -> " + std::to_string(now.size) + ")");
    return Status::Ok();
  }

  Status Seal() {
    MLAHUB_RETURN_IF_ERROR(CheckSource());
    crypto::Sha256Stream fin;
    MLAHUB_CHECK(fin.RestoreState(sha_state));
    sha256 = fin.Final();
    // The hash chain, from the last chunk back to the first.
    MLAHUB_ASSIGN_OR_RETURN(links, internal::OpenFile(Path("links"), O_RDWR | O_CREAT | O_TRUNC));
    Bytes block(kLinkBlock * kLinkSize);
    Link next_link{};
    uint64_t end = chunk_count;
    while (end > 0) {
      uint64_t begin = end > kLinkBlock ? end - kLinkBlock : 0;
      size_t n = static_cast<size_t>(end - begin);
      MLAHUB_RETURN_IF_ERROR(internal::PreadFull(hashes.get(), block.data(), n * kLinkSize,
                                                 begin * kLinkSize, Path("hashes")));
      for (size_t j = n; j-- > 0;) {
        Link h;
        std::memcpy(h.data(), block.data() + j * kLinkSize, kLinkSize);
        next_link = ChainLink(begin + j, h, next_link);
        std::memcpy(block.data() + j * kLinkSize, next_link.data(), kLinkSize);
      }
      MLAHUB_RETURN_IF_ERROR(internal::PwriteFull(links.get(), block.data(), n * kLinkSize,
                                                  begin * kLinkSize, Path("links")));
      end = begin;
    }
    MLAHUB_RETURN_IF_ERROR(internal::SyncFd(links.get(), Path("links")));
    root = next_link;
    sealed = true;
    Status st = Save();
    if (!st.ok()) sealed = false;
    return st;
  }

  Status Step(uint64_t max_chunks, const ProgressFn& progress) {
    if (sealed) return Status::Ok();
    if (next < chunk_count) {
      MLAHUB_RETURN_IF_ERROR(CheckSource());
      if (!src.valid()) {
        MLAHUB_ASSIGN_OR_RETURN(src, internal::OpenFile(source, O_RDONLY));
      }
    }
    ProgressMeter meter(stamp.size, chunk_count, progress);
    Bytes plain(chunk_size);
    Bytes ct(chunk_size + kChunkOverhead);
    uint64_t done = 0;
    while (next < chunk_count && done < max_chunks) {
      const uint64_t i = next;
      const size_t len = static_cast<size_t>(PlainLengthOf(stamp.size, chunk_size, i));
      Status rd = internal::PreadFull(src.get(), plain.data(), len, i * chunk_size, source);
      if (rd.code() == Code::kCorruption) return MakeError(Errc::kSourceChanged, rd.message());
      MLAHUB_RETURN_IF_ERROR(rd);
      ByteView pt(plain.data(), len);
      sha.Update(pt);
      auto ad = ChunkAd(i);
      push->Push(pt, ad,
                 i + 1 == chunk_count ? crypto::StreamTag::kFinal : crypto::StreamTag::kMessage,
                 ct.data());
      ByteView c(ct.data(), len + kChunkOverhead);
      MLAHUB_RETURN_IF_ERROR(internal::PwriteFull(
          chunks.get(), c.data(), c.size(), EndOffset(stamp.size, chunk_size, i), Path("chunks")));
      Link h = HashCiphertext(c);
      MLAHUB_RETURN_IF_ERROR(
          internal::PwriteFull(hashes.get(), h.data(), h.size(), i * kLinkSize, Path("hashes")));
      ++next;
      ++done;
      if (next % sync_every == 0 || next == chunk_count) MLAHUB_RETURN_IF_ERROR(Mark());
      meter.Update(std::min<uint64_t>(next * chunk_size, stamp.size), next);
    }
    crypto::Wipe(plain.data(), plain.size());
    if (next == chunk_count && durable == chunk_count) {
      MLAHUB_RETURN_IF_ERROR(Seal());
      meter.Finish(stamp.size, chunk_count);
    }
    return Status::Ok();
  }
};

Spool::Spool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Spool::~Spool() = default;

Result<std::unique_ptr<Spool>> Spool::Create(const std::string& dir, const std::string& source,
                                             const AtRestKey& key, SpoolOptions options) {
  if (options.chunk_size < kMinChunkSize || options.chunk_size > kMaxChunkSize)
    return Status::InvalidArgument("chunk_size outside [" + std::to_string(kMinChunkSize) + ", " +
                                   std::to_string(kMaxChunkSize) + "]");
  if (options.sync_every == 0) return Status::InvalidArgument("sync_every must be >= 1");
  if (options.transfer_id.empty()) options.transfer_id = NewTransferId();
  if (!IsValidTransferId(options.transfer_id))
    return Status::InvalidArgument("transfer_id must be 32 lowercase hex");
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  CopyKey(key, impl->at_rest);
  impl->source = source;
  MLAHUB_ASSIGN_OR_RETURN(impl->stamp, StampOf(source));
  auto slash = source.rfind('/');
  impl->file_name = slash == std::string::npos ? source : source.substr(slash + 1);
  MLAHUB_RETURN_IF_ERROR(CheckFileName(impl->file_name));
  impl->media_type =
      options.media_type.empty() ? GuessMediaType(impl->file_name) : options.media_type;
  impl->custody = options.chain_of_custody;
  impl->transfer_id = options.transfer_id;
  impl->chunk_size = options.chunk_size;
  impl->sync_every = options.sync_every;
  impl->chunk_count = ChunkCountFor(impl->stamp.size, impl->chunk_size);
  impl->stream_key = crypto::NewSecretStreamKey();
  auto push = crypto::SecretStreamPush::Start(impl->stream_key, impl->header);
  impl->push_state = push.Export();
  impl->sha_state = crypto::Sha256Stream().SaveState();

  const size_t slash_at = dir.find_last_of('/');
  const std::string parent = slash_at == std::string::npos ? "." : dir.substr(0, slash_at);
  MLAHUB_RETURN_IF_ERROR(MakeDirs(parent));
  if (FileExists(dir)) return Status::AlreadyExists("spool " + dir + " exists");
  // Built under a temporary name and renamed: a spool directory is either
  // complete (state, chunks, hashes) or absent, whenever the process dies.
  const std::string tmp = dir + ".tmp";
  MLAHUB_RETURN_IF_ERROR(internal::RemoveTree(tmp));
  if (::mkdir(tmp.c_str(), 0700) != 0) return Status::IoError(internal::Errno("mkdir " + tmp));
  impl->dir = tmp;
  for (const char* name : {"chunks", "hashes"}) {
    MLAHUB_ASSIGN_OR_RETURN(Fd f, internal::OpenFile(impl->Path(name), O_RDWR | O_CREAT | O_TRUNC));
    MLAHUB_RETURN_IF_ERROR(internal::SyncFd(f.get(), impl->Path(name)));
  }
  MLAHUB_RETURN_IF_ERROR(impl->Save());  // WriteFileAtomic fsyncs the directory
  if (::rename(tmp.c_str(), dir.c_str()) != 0)
    return Status::IoError(internal::Errno("rename " + tmp));
  MLAHUB_RETURN_IF_ERROR(internal::SyncDir(parent));
  return Open(dir, key);
}

Result<std::unique_ptr<Spool>> Spool::Open(const std::string& dir, const AtRestKey& key) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  CopyKey(key, impl->at_rest);
  MLAHUB_RETURN_IF_ERROR(impl->Load());
  MLAHUB_ASSIGN_OR_RETURN(impl->chunks, internal::OpenFile(impl->Path("chunks"), O_RDWR));
  MLAHUB_ASSIGN_OR_RETURN(impl->hashes, internal::OpenFile(impl->Path("hashes"), O_RDWR));
  if (impl->sealed) {
    MLAHUB_ASSIGN_OR_RETURN(impl->links, internal::OpenFile(impl->Path("links"), O_RDONLY));
    impl->next = impl->chunk_count;
  } else {
    // Discard whatever was written after the last durable mark.
    uint64_t keep = EndOffset(impl->stamp.size, impl->chunk_size, impl->durable);
    MLAHUB_ASSIGN_OR_RETURN(uint64_t have,
                            internal::FileSize(impl->chunks.get(), impl->Path("chunks")));
    MLAHUB_ASSIGN_OR_RETURN(uint64_t have_h,
                            internal::FileSize(impl->hashes.get(), impl->Path("hashes")));
    if (have < keep || have_h < impl->durable * kLinkSize)
      return Status::Corruption(dir + ": spool files shorter than their last durable mark");
    MLAHUB_RETURN_IF_ERROR(internal::TruncateFd(impl->chunks.get(), keep, impl->Path("chunks")));
    MLAHUB_RETURN_IF_ERROR(
        internal::TruncateFd(impl->hashes.get(), impl->durable * kLinkSize, impl->Path("hashes")));
    impl->next = impl->durable;
    impl->push.emplace(crypto::SecretStreamPush::Resume(impl->push_state));
    if (!impl->sha.RestoreState(impl->sha_state))
      return Status::Corruption(dir + ": spool hash state has the wrong size");
  }
  return std::unique_ptr<Spool>(new Spool(std::move(impl)));
}

Status Spool::Run(const ProgressFn& progress) { return impl_->Step(UINT64_MAX, progress); }
Status Spool::RunFor(uint64_t max_chunks, const ProgressFn& progress) {
  return impl_->Step(max_chunks, progress);
}
bool Spool::sealed() const { return impl_->sealed; }
const std::string& Spool::transfer_id() const { return impl_->transfer_id; }
uint64_t Spool::chunk_count() const { return impl_->chunk_count; }
uint64_t Spool::durable_chunks() const { return impl_->durable; }
uint64_t Spool::encrypted_chunks() const { return impl_->next; }
uint64_t Spool::shipped() const { return impl_->shipped; }

Result<StreamSpec> Spool::Spec() const {
  if (!impl_->sealed)
    return Status::Unavailable("spool " + impl_->transfer_id + " is not sealed yet");
  StreamSpec s;
  s.transfer_id = impl_->transfer_id;
  s.file_name = impl_->file_name;
  s.size_bytes = impl_->stamp.size;
  s.sha256 = impl_->sha256;
  s.media_type = impl_->media_type;
  s.chain_of_custody = impl_->custody;
  s.chunk_size = impl_->chunk_size;
  s.chunk_count = impl_->chunk_count;
  s.chunks_root = impl_->root;
  s.stream_header = impl_->header;
  std::memcpy(s.stream_key.data(), impl_->stream_key.data(), s.stream_key.size());
  return s;
}

Result<Bytes> Spool::ReadChunkFrame(uint64_t index) const {
  const Impl& m = *impl_;
  if (!m.sealed) return Status::Unavailable("spool " + m.transfer_id + " is not sealed yet");
  if (index >= m.chunk_count)
    return Status::InvalidArgument("chunk " + std::to_string(index) + " not below " +
                                   std::to_string(m.chunk_count));
  ChunkFrame f;
  f.transfer_id = m.transfer_id;
  f.chunk_index = index;
  f.chunk_count = m.chunk_count;
  size_t len =
      static_cast<size_t>(PlainLengthOf(m.stamp.size, m.chunk_size, index)) + kChunkOverhead;
  f.ciphertext.resize(len);
  MLAHUB_RETURN_IF_ERROR(internal::PreadFull(m.chunks.get(), f.ciphertext.data(), len,
                                             EndOffset(m.stamp.size, m.chunk_size, index),
                                             m.Path("chunks")));
  MLAHUB_RETURN_IF_ERROR(internal::PreadFull(m.hashes.get(), f.ciphertext_hash.data(), kLinkSize,
                                             index * kLinkSize, m.Path("hashes")));
  if (HashCiphertext(f.ciphertext) != f.ciphertext_hash)
    return Status::Corruption("spool " + m.transfer_id + ": chunk " + std::to_string(index) +
                              " no longer matches its hash (the spool was damaged)");
  if (index + 1 < m.chunk_count)
    MLAHUB_RETURN_IF_ERROR(internal::PreadFull(m.links.get(), f.next_link.data(), kLinkSize,
                                               (index + 1) * kLinkSize, m.Path("links")));
  return EncodeChunk(f);
}

Status Spool::MarkShipped(uint64_t count) {
  count = std::min(count, impl_->chunk_count);
  if (count <= impl_->shipped) return Status::Ok();
  uint64_t before = impl_->shipped;
  impl_->shipped = count;
  Status st = impl_->Save();
  if (!st.ok()) impl_->shipped = before;
  return st;
}

}  // namespace mlahub::evidence

namespace mlahub::evidence {

Result<TransferInfo> Spool::Peek(const std::string& dir, const AtRestKey& key) {
  Impl m;
  m.dir = dir;
  std::memcpy(m.at_rest.data(), key.data(), key.size());
  MLAHUB_RETURN_IF_ERROR(m.Load());
  TransferInfo info;
  info.transfer_id = m.transfer_id;
  info.incoming = false;
  info.file_name = m.file_name;
  info.media_type = m.media_type;
  info.size_bytes = m.stamp.size;
  info.chunk_count = m.chunk_count;
  info.chunks_done = m.durable;
  info.bytes_done = std::min<uint64_t>(m.durable * m.chunk_size, m.stamp.size);
  info.shipped = m.shipped;
  info.state = m.sealed         ? TransferState::kComplete
               : m.durable == 0 ? TransferState::kPending
                                : TransferState::kReceiving;
  return info;
}

}  // namespace mlahub::evidence
