#include "mlahub/evidence/manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "io.h"
#include "mlahub/crypto/secret.h"

namespace mlahub::evidence {
namespace fb = flatbuffers;

StreamSpec StreamSpec::Clone() const {
  StreamSpec s;
  s.transfer_id = transfer_id;
  s.file_name = file_name;
  s.size_bytes = size_bytes;
  s.sha256 = sha256;
  s.media_type = media_type;
  s.chain_of_custody = chain_of_custody;
  s.chunk_size = chunk_size;
  s.chunk_count = chunk_count;
  s.chunks_root = chunks_root;
  s.stream_header = stream_header;
  std::memcpy(s.stream_key.data(), stream_key.data(), stream_key.size());
  return s;
}

bool StreamSpec::SameAs(const StreamSpec& o) const {
  return transfer_id == o.transfer_id && file_name == o.file_name && size_bytes == o.size_bytes &&
         sha256 == o.sha256 && media_type == o.media_type &&
         chain_of_custody == o.chain_of_custody && chunk_size == o.chunk_size &&
         chunk_count == o.chunk_count && chunks_root == o.chunks_root &&
         stream_header == o.stream_header && stream_key == o.stream_key;
}

std::string GuessMediaType(std::string_view file_name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"pdf", "application/pdf"},
      {"txt", "text/plain"},
      {"csv", "text/csv"},
      {"json", "application/json"},
      {"xml", "application/xml"},
      {"html", "text/html"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"png", "image/png"},
      {"tif", "image/tiff"},
      {"tiff", "image/tiff"},
      {"gif", "image/gif"},
      {"mp4", "video/mp4"},
      {"mov", "video/quicktime"},
      {"avi", "video/x-msvideo"},
      {"mkv", "video/x-matroska"},
      {"mp3", "audio/mpeg"},
      {"wav", "audio/wav"},
      {"zip", "application/zip"},
      {"7z", "application/x-7z-compressed"},
      {"tar", "application/x-tar"},
      {"gz", "application/gzip"},
      {"eml", "message/rfc822"},
      {"doc", "application/msword"},
      {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
      {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
      {"e01", "application/octet-stream"},  // EnCase image
  };
  auto dot = file_name.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == file_name.size())
    return "application/octet-stream";
  std::string ext(file_name.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (const auto& [e, type] : kTypes)
    if (e == ext) return std::string(type);
  return "application/octet-stream";
}

Result<FileDescription> DescribeFile(const std::string& path, std::string chain_of_custody) {
  MLAHUB_ASSIGN_OR_RETURN(internal::Fd fd, internal::OpenFile(path, O_RDONLY));
  FileDescription d;
  auto slash = path.rfind('/');
  d.file_name = slash == std::string::npos ? path : path.substr(slash + 1);
  MLAHUB_RETURN_IF_ERROR(CheckFileName(d.file_name));
  d.media_type = GuessMediaType(d.file_name);
  d.chain_of_custody = std::move(chain_of_custody);
  crypto::Sha256Stream h;
  Bytes buf(1 << 20);
  for (;;) {
    ssize_t r = ::read(fd.get(), buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(internal::Errno("read " + path));
    }
    if (r == 0) break;
    h.Update(ByteView(buf.data(), static_cast<size_t>(r)));
    d.size_bytes += static_cast<uint64_t>(r);
  }
  d.sha256 = h.Final();
  return d;
}

Status CheckFileName(std::string_view name) {
  if (name.empty() || name.size() > 255)
    return Status::InvalidArgument("file name must be 1..255 bytes");
  if (name == "." || name == ".." || name.front() == '.')
    return Status::InvalidArgument("file name must not start with '.'");
  for (unsigned char c : name)
    if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
      return Status::InvalidArgument("file name contains '/', '\\' or a control character");
  return Status::Ok();
}

Status ValidateSpec(const StreamSpec& s) {
  if (!IsValidTransferId(s.transfer_id))
    return Status::Malformed("transfer_id must be 32 lowercase hex");
  Status name = CheckFileName(s.file_name);
  if (!name.ok()) return Status::Malformed(name.message());
  if (s.chunk_size < kMinChunkSize || s.chunk_size > kMaxChunkSize)
    return Status::Malformed("chunk_size " + std::to_string(s.chunk_size) + " outside [" +
                             std::to_string(kMinChunkSize) + ", " + std::to_string(kMaxChunkSize) +
                             "]");
  if (s.chunk_count != ChunkCountFor(s.size_bytes, s.chunk_size))
    return Status::Malformed("chunk_count " + std::to_string(s.chunk_count) +
                             " does not fit size " + std::to_string(s.size_bytes) +
                             " and chunk_size " + std::to_string(s.chunk_size));
  return Status::Ok();
}

Status CheckSpecBounds(const StreamSpec& s) {
  MLAHUB_RETURN_IF_ERROR(ValidateSpec(s));
  // The spec is stored with the transfer and read back whole (records up to
  // 1 MiB): its free texts are bounded well below that, so that a file
  // received whole stays fetchable.
  if (s.media_type.size() > kMaxMediaTypeBytes)
    return Status::Malformed("media_type longer than " + std::to_string(kMaxMediaTypeBytes) + " bytes");
  if (s.chain_of_custody.size() > kMaxChainOfCustodyBytes)
    return Status::Malformed("chain_of_custody longer than " + std::to_string(kMaxChainOfCustodyBytes) + " bytes");
  if (s.size_bytes > kMaxFileBytes)
    return Status::Malformed("size_bytes " + std::to_string(s.size_bytes) + " above " + std::to_string(kMaxFileBytes));
  return Status::Ok();
}

fb::Offset<wire::EvidenceFile> BuildEvidenceFile(fb::FlatBufferBuilder& b, const StreamSpec& s) {
  auto name = b.CreateString(s.file_name);
  auto sha = b.CreateVector(s.sha256.data(), s.sha256.size());
  auto media = s.media_type.empty() ? fb::Offset<fb::String>() : b.CreateString(s.media_type);
  auto tid = b.CreateString(s.transfer_id);
  auto custody =
      s.chain_of_custody.empty() ? fb::Offset<fb::String>() : b.CreateString(s.chain_of_custody);
  auto key = b.CreateVector(s.stream_key.data(), s.stream_key.size());
  auto header = b.CreateVector(s.stream_header.data(), s.stream_header.size());
  auto root = b.CreateVector(s.chunks_root.data(), s.chunks_root.size());
  wire::EvidenceFileBuilder f(b);
  f.add_file_name(name);
  f.add_size_bytes(s.size_bytes);
  f.add_sha256(sha);
  if (!media.IsNull()) f.add_media_type(media);
  f.add_transfer_id(tid);
  if (!custody.IsNull()) f.add_chain_of_custody(custody);
  f.add_stream_key(key);
  f.add_stream_header(header);
  f.add_chunk_size(s.chunk_size);
  f.add_chunk_count(s.chunk_count);
  f.add_chunks_root(root);
  return f.Finish();
}

fb::Offset<wire::EvidenceFile> BuildEvidenceFile(fb::FlatBufferBuilder& b,
                                                 const FileDescription& d) {
  auto name = b.CreateString(d.file_name);
  auto sha = b.CreateVector(d.sha256.data(), d.sha256.size());
  auto media = b.CreateString(d.media_type);
  auto custody =
      d.chain_of_custody.empty() ? fb::Offset<fb::String>() : b.CreateString(d.chain_of_custody);
  wire::EvidenceFileBuilder f(b);
  f.add_file_name(name);
  f.add_size_bytes(d.size_bytes);
  f.add_sha256(sha);
  f.add_media_type(media);
  if (!custody.IsNull()) f.add_chain_of_custody(custody);
  return f.Finish();
}

fb::Offset<wire::EvidenceManifest> BuildEvidenceManifest(
    fb::FlatBufferBuilder& b, const std::vector<const StreamSpec*>& files, std::string_view note) {
  std::vector<fb::Offset<wire::EvidenceFile>> offs;
  uint64_t total = 0;
  for (const StreamSpec* s : files) {
    offs.push_back(BuildEvidenceFile(b, *s));
    total += s->size_bytes;
  }
  auto vec = b.CreateVector(offs);
  auto n = note.empty() ? fb::Offset<fb::String>() : b.CreateString(note);
  wire::EvidenceManifestBuilder m(b);
  m.add_files(vec);
  m.add_total_size_bytes(total);
  if (!n.IsNull()) m.add_note(n);
  return m.Finish();
}

namespace {
template <size_t N>
bool CopyFixed(const fb::Vector<uint8_t>* v, uint8_t* out) {
  if (v == nullptr || v->size() != N) return false;
  std::copy(v->begin(), v->end(), out);
  return true;
}
}  // namespace

Result<StreamSpec> SpecFromWire(const wire::EvidenceFile& f) {
  StreamSpec s;
  if (f.file_name() == nullptr) return Status::Malformed("EvidenceFile.file_name missing");
  if (f.transfer_id() == nullptr) return Status::Malformed("EvidenceFile.transfer_id missing");
  s.file_name = f.file_name()->str();
  s.transfer_id = f.transfer_id()->str();
  s.size_bytes = f.size_bytes();
  if (!CopyFixed<32>(f.sha256(), s.sha256.data()))
    return Status::Malformed("EvidenceFile.sha256 must be 32 bytes");
  if (f.media_type() != nullptr) s.media_type = f.media_type()->str();
  if (f.chain_of_custody() != nullptr) s.chain_of_custody = f.chain_of_custody()->str();
  if (!CopyFixed<crypto::kSecretStreamKeySize>(f.stream_key(), s.stream_key.data()))
    return Status::Malformed("EvidenceFile.stream_key must be 32 bytes");
  if (!CopyFixed<crypto::kSecretStreamHeaderSize>(f.stream_header(), s.stream_header.data()))
    return Status::Malformed("EvidenceFile.stream_header must be 24 bytes");
  if (!CopyFixed<kLinkSize>(f.chunks_root(), s.chunks_root.data()))
    return Status::Malformed("EvidenceFile.chunks_root must be 32 bytes");
  s.chunk_size = f.chunk_size();
  s.chunk_count = f.chunk_count();
  MLAHUB_RETURN_IF_ERROR(ValidateSpec(s));
  return s;
}

Bytes EncodeSpec(const StreamSpec& spec) {
  fb::FlatBufferBuilder b(1024);
  b.Finish(BuildEvidenceFile(b, spec));
  Bytes out(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  // The builder's buffer held the key: wipe it before it is freed.
  crypto::Wipe(b.GetBufferPointer(), b.GetSize());
  return out;
}

Result<StreamSpec> DecodeSpec(ByteView bytes) {
  fb::Verifier v(bytes.data(), bytes.size(), 8, 64);
  if (!v.VerifyBuffer<wire::EvidenceFile>(nullptr))
    return Status::Malformed("EvidenceFile fails the verifier");
  return SpecFromWire(*fb::GetRoot<wire::EvidenceFile>(bytes.data()));
}

}  // namespace mlahub::evidence
