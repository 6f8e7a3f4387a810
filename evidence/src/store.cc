#include "mlahub/evidence/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "assembler_impl.h"
#include "io.h"
#include "mlahub/core/file.h"
#include "mlahub/evidence/errors.h"

namespace mlahub::evidence {
namespace {

using internal::EndOffset;

Status CheckId(const std::string& id) {
  if (!IsValidTransferId(id))
    return Status::InvalidArgument("transfer id must be 32 lowercase hex characters");
  return Status::Ok();
}

Result<StreamSpec> LoadSpec(const std::string& dir, const AtRestKey& key) {
  MLAHUB_ASSIGN_OR_RETURN(Bytes raw, internal::ReadSealed(dir + "/spec", key, kSpecLabel));
  internal::WipedBytes rec{std::move(raw)};
  auto spec = DecodeSpec(rec.b);
  if (!spec.ok()) return Status::Corruption(dir + "/spec: " + spec.status().message());
  return spec;
}

Result<std::vector<std::string>> ListIds(const std::string& dir) {
  std::vector<std::string> ids;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::IoError(internal::Errno("opendir " + dir));
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (IsValidTransferId(name)) ids.push_back(name);
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

EvidenceStore::EvidenceStore(std::string root, AtRestKey key, std::vector<AtRestKey> earlier)
    : root_(std::move(root)), key_(std::move(key)), earlier_(std::move(earlier)) {}

Result<std::unique_ptr<EvidenceStore>> EvidenceStore::Open(const std::string& data_dir,
                                                           AtRestKey key,
                                                           std::vector<AtRestKey> earlier) {
  std::string root = data_dir + "/evidence";
  MLAHUB_RETURN_IF_ERROR(MakeDirs(root + "/incoming", 0700));
  MLAHUB_RETURN_IF_ERROR(MakeDirs(root + "/outgoing", 0700));
  return std::unique_ptr<EvidenceStore>(new EvidenceStore(root, std::move(key), std::move(earlier)));
}

template <typename T>
Result<std::pair<const AtRestKey*, T>> EvidenceStore::ReadWithWriterKey(
    const std::function<Result<T>(const AtRestKey&)>& read) const {
  Result<T> first = read(key_);
  if (first.ok()) return std::pair<const AtRestKey*, T>(&key_, std::move(*first));
  for (const AtRestKey& k : earlier_) {
    if (Result<T> r = read(k); r.ok()) return std::pair<const AtRestKey*, T>(&k, std::move(*r));
  }
  return first.status();
}

Result<std::pair<const AtRestKey*, StreamSpec>> EvidenceStore::IncomingSpec(const std::string& dir) const {
  return ReadWithWriterKey<StreamSpec>([&](const AtRestKey& k) { return LoadSpec(dir, k); });
}

Result<TransferInfo> EvidenceStore::PeekOutgoing(const std::string& dir) const {
  MLAHUB_ASSIGN_OR_RETURN(auto keyed,
                          ReadWithWriterKey<TransferInfo>([&](const AtRestKey& k) { return Spool::Peek(dir, k); }));
  return std::move(keyed.second);
}

const AtRestKey& EvidenceStore::OutgoingKey(const std::string& dir) const {
  if (earlier_.empty()) return key_;  // nothing to choose: no read
  auto keyed = ReadWithWriterKey<TransferInfo>([&](const AtRestKey& k) { return Spool::Peek(dir, k); });
  return keyed.ok() ? *keyed->first : key_;
}

std::string EvidenceStore::IncomingDir(const std::string& id) const {
  return root_ + "/incoming/" + id;
}
std::string EvidenceStore::OutgoingDir(const std::string& id) const {
  return root_ + "/outgoing/" + id;
}

Result<std::unique_ptr<Assembler>> EvidenceStore::Receive(const StreamSpec& spec,
                                                          AssemblerOptions options) {
  MLAHUB_RETURN_IF_ERROR(CheckSpecBounds(spec));
  const std::string dir = IncomingDir(spec.transfer_id);
  if (FileExists(dir)) {
    MLAHUB_ASSIGN_OR_RETURN(auto keyed, IncomingSpec(dir));
    if (!keyed.second.SameAs(spec))
      return Status::AlreadyExists("transfer " + spec.transfer_id +
                                   " exists with another manifest entry");
    return OpenAssembler(dir, *keyed.first, std::move(keyed.second), options);
  }
  // Built under a temporary name and renamed: a transfer directory is either
  // complete (spec, state, chunks) or absent.
  const std::string tmp = root_ + "/incoming/.tmp-" + spec.transfer_id;
  MLAHUB_RETURN_IF_ERROR(internal::RemoveTree(tmp));
  if (::mkdir(tmp.c_str(), 0700) != 0) return Status::IoError(internal::Errno("mkdir " + tmp));
  {
    Bytes encoded = EncodeSpec(spec);
    internal::WipedBytes rec{std::move(encoded)};
    MLAHUB_RETURN_IF_ERROR(internal::WriteSealed(tmp + "/spec", key_, kSpecLabel, rec.b));
  }
  MLAHUB_RETURN_IF_ERROR(IncomingState::Initial(spec).Save(tmp + "/state", key_));
  {
    MLAHUB_ASSIGN_OR_RETURN(internal::Fd f,
                            internal::OpenFile(tmp + "/chunks", O_RDWR | O_CREAT | O_TRUNC));
    MLAHUB_RETURN_IF_ERROR(internal::SyncFd(f.get(), tmp + "/chunks"));
  }
  MLAHUB_RETURN_IF_ERROR(internal::SyncDir(tmp));
  if (::rename(tmp.c_str(), dir.c_str()) != 0)
    return Status::IoError(internal::Errno("rename " + tmp));
  MLAHUB_RETURN_IF_ERROR(internal::SyncDir(root_ + "/incoming"));
  return OpenAssembler(dir, key_, spec.Clone(), options);
}

Result<std::unique_ptr<Assembler>> EvidenceStore::OpenIncoming(const std::string& id,
                                                               AssemblerOptions options) {
  MLAHUB_RETURN_IF_ERROR(CheckId(id));
  const std::string dir = IncomingDir(id);
  if (!FileExists(dir)) return Status::NotFound("no incoming transfer " + id);
  MLAHUB_ASSIGN_OR_RETURN(auto keyed, IncomingSpec(dir));
  return OpenAssembler(dir, *keyed.first, std::move(keyed.second), options);
}

Result<std::unique_ptr<Spool>> EvidenceStore::CreateSpool(const std::string& source,
                                                          SpoolOptions options) {
  if (options.transfer_id.empty()) options.transfer_id = NewTransferId();
  MLAHUB_RETURN_IF_ERROR(CheckId(options.transfer_id));
  std::string dir = OutgoingDir(options.transfer_id);
  return Spool::Create(dir, source, key_, std::move(options));
}

Result<std::unique_ptr<Spool>> EvidenceStore::OpenSpool(const std::string& id) {
  MLAHUB_RETURN_IF_ERROR(CheckId(id));
  if (!FileExists(OutgoingDir(id))) return Status::NotFound("no outgoing transfer " + id);
  return Spool::Open(OutgoingDir(id), OutgoingKey(OutgoingDir(id)));
}

Result<TransferInfo> EvidenceStore::Info(const std::string& id) const {
  MLAHUB_RETURN_IF_ERROR(CheckId(id));
  const std::string dir = IncomingDir(id);
  if (!FileExists(dir)) {
    if (FileExists(OutgoingDir(id))) return PeekOutgoing(OutgoingDir(id));
    return Status::NotFound("no transfer " + id);
  }
  MLAHUB_ASSIGN_OR_RETURN(auto keyed, IncomingSpec(dir));
  const AtRestKey& key = *keyed.first;
  const StreamSpec& spec = keyed.second;
  MLAHUB_ASSIGN_OR_RETURN(IncomingState st, IncomingState::Load(dir + "/state", key, spec));
  TransferInfo info;
  info.transfer_id = id;
  info.incoming = true;
  info.file_name = spec.file_name;
  info.media_type = spec.media_type;
  info.size_bytes = spec.size_bytes;
  info.chunk_count = spec.chunk_count;
  info.chunks_done = st.durable;
  info.bytes_done = std::min<uint64_t>(st.durable * spec.chunk_size, spec.size_bytes);
  info.state = st.state;
  if (st.state == TransferState::kPending || st.state == TransferState::kReceiving)
    info.state = st.durable == 0 ? TransferState::kPending : TransferState::kReceiving;
  info.failure = st.failure;
  return info;
}

Result<std::vector<TransferInfo>> EvidenceStore::List() const {
  std::vector<TransferInfo> out;
  MLAHUB_ASSIGN_OR_RETURN(auto in_ids, ListIds(root_ + "/incoming"));
  for (const auto& id : in_ids) {
    MLAHUB_ASSIGN_OR_RETURN(TransferInfo info, Info(id));
    out.push_back(std::move(info));
  }
  MLAHUB_ASSIGN_OR_RETURN(auto out_ids, ListIds(root_ + "/outgoing"));
  for (const auto& id : out_ids) {
    MLAHUB_ASSIGN_OR_RETURN(TransferInfo info, PeekOutgoing(OutgoingDir(id)));
    out.push_back(std::move(info));
  }
  return out;
}

Status EvidenceStore::Fetch(const std::string& id, const std::string& out_dir,
                            const ProgressFn& progress) const {
  MLAHUB_RETURN_IF_ERROR(CheckId(id));
  const std::string dir = IncomingDir(id);
  if (!FileExists(dir)) return Status::NotFound("no incoming transfer " + id);
  MLAHUB_ASSIGN_OR_RETURN(auto keyed, IncomingSpec(dir));
  const AtRestKey& key = *keyed.first;
  const StreamSpec& spec = keyed.second;
  MLAHUB_ASSIGN_OR_RETURN(IncomingState st, IncomingState::Load(dir + "/state", key, spec));
  if (st.state == TransferState::kFailed)
    return Status::Corruption("transfer " + id + " failed: " + st.failure);
  if (st.state != TransferState::kComplete)
    return MakeError(Errc::kMissingChunk, "transfer " + id + " holds " +
                                              std::to_string(st.durable) + " of " +
                                              std::to_string(spec.chunk_count) + " chunks");
  MLAHUB_RETURN_IF_ERROR(CheckFileName(spec.file_name));
  const std::string target = out_dir + "/" + spec.file_name;
  if (FileExists(target)) return Status::AlreadyExists(target + " exists");
  const std::string tmp = out_dir + "/.evidence-" + id + ".partial";
  MLAHUB_ASSIGN_OR_RETURN(internal::Fd in, internal::OpenFile(dir + "/chunks", O_RDONLY));
  MLAHUB_ASSIGN_OR_RETURN(internal::Fd out,
                          internal::OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  auto fail = [&](Status s) {
    ::unlink(tmp.c_str());
    return s;
  };
  auto pull = crypto::SecretStreamPull::Start(spec.stream_key, spec.stream_header);
  if (!pull.ok()) return fail(pull.status());
  crypto::Sha256Stream sha;
  Bytes ct(spec.chunk_size + kChunkOverhead);
  Bytes plain(spec.chunk_size);
  ProgressMeter meter(spec.size_bytes, spec.chunk_count, progress);
  uint64_t written = 0;
  for (uint64_t i = 0; i < spec.chunk_count; ++i) {
    size_t len = static_cast<size_t>(PlainLengthOf(spec.size_bytes, spec.chunk_size, i));
    Status rd =
        internal::PreadFull(in.get(), ct.data(), len + kChunkOverhead,
                            EndOffset(spec.size_bytes, spec.chunk_size, i), dir + "/chunks");
    if (!rd.ok()) return fail(rd);
    crypto::StreamTag tag;
    Status p =
        pull->Pull(ByteView(ct.data(), len + kChunkOverhead), ChunkAd(i), plain.data(), &tag);
    bool last = i + 1 == spec.chunk_count;
    if (!p.ok() || tag != (last ? crypto::StreamTag::kFinal : crypto::StreamTag::kMessage))
      return fail(MakeError(Errc::kTamperedChunk, "stored chunk " + std::to_string(i) + " of " +
                                                      id +
                                                      " does not decrypt (the store was altered)"));
    ByteView pt(plain.data(), len);
    sha.Update(pt);
    Status w = internal::WriteFull(out.get(), pt.data(), pt.size(), tmp);
    crypto::Wipe(plain.data(), len);
    if (!w.ok()) return fail(w);
    written += len;
    meter.Update(written, i + 1);
  }
  Status sync = internal::SyncFd(out.get(), tmp);
  if (!sync.ok()) return fail(sync);
  if (written != spec.size_bytes || sha.Final() != spec.sha256)
    return fail(MakeError(Errc::kFileHashMismatch,
                          id + ": the decrypted file's SHA-256 differs from the manifest"));
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) return fail(Status::AlreadyExists(target + " exists"));
    return fail(Status::IoError(internal::Errno("rename " + tmp)));
  }
  MLAHUB_RETURN_IF_ERROR(internal::SyncDir(out_dir));
  meter.Finish(written, spec.chunk_count);
  return Status::Ok();
}

Status EvidenceStore::Purge(const std::string& id) {
  MLAHUB_RETURN_IF_ERROR(CheckId(id));
  bool any = false;
  for (const std::string& dir : {IncomingDir(id), OutgoingDir(id)}) {
    if (!FileExists(dir)) continue;
    any = true;
    MLAHUB_RETURN_IF_ERROR(internal::RemoveTree(dir));
  }
  if (!any) return Status::NotFound("no transfer " + id);
  MLAHUB_RETURN_IF_ERROR(internal::SyncDir(root_ + "/incoming"));
  return internal::SyncDir(root_ + "/outgoing");
}

}  // namespace mlahub::evidence
