#include "mlahub/broker/state.h"

#include <algorithm>

#include "record_codec.h"

namespace mlahub::broker {
namespace {

using record::PutStr;
using record::PutU16Be;
using record::Reader;

constexpr uint8_t kQueueRecordVersion = 2;  // 2 adds expires_ms; 1 is still read
constexpr uint8_t kMessageRecordVersion = 1;

}  // namespace

std::string Be64Key(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[static_cast<size_t>(i)] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
  return s;
}

Result<uint64_t> ParseBe64(ByteView b) {
  if (b.size() != 8)
    return Status::Corruption("expected an 8-byte big-endian integer, got " +
                              std::to_string(b.size()) + " bytes");
  return GetU64Be(b.data());
}

std::string QueuePrefix(std::string_view recipient) { return "q/" + std::string(recipient) + "/"; }
std::string QueueKey(std::string_view recipient, uint64_t seq) {
  return QueuePrefix(recipient) + Be64Key(seq);
}

Result<uint64_t> QueueKeySeq(std::string_view prefix, std::string_view key) {
  if (key.size() != prefix.size() + 8 || !key.starts_with(prefix))
    return Status::Corruption("malformed queue key under " + std::string(prefix));
  return GetU64Be(reinterpret_cast<const uint8_t*>(key.data() + prefix.size()));
}

std::string NextSeqKey(std::string_view recipient) { return "n/" + std::string(recipient); }
std::string ReceiptCountKey(std::string_view recipient) { return "c/" + std::string(recipient); }
std::string MessageKey(std::string_view message_id) { return "m/" + std::string(message_id); }
std::string ReceiptKey(std::string_view message_id) { return "r/" + std::string(message_id); }

std::string ExpiryKey(int64_t expires_ms, std::string_view recipient, uint64_t seq) {
  std::string k(kExpiryPrefix);
  k += Be64Key(static_cast<uint64_t>(std::max<int64_t>(expires_ms, 0)));
  k += recipient;
  k += '/';
  k += Be64Key(seq);
  return k;
}

Result<ExpiryRef> ParseExpiryKey(std::string_view key) {
  const size_t fixed = kExpiryPrefix.size() + 8 + 1 + 8;
  if (key.size() <= fixed || !key.starts_with(kExpiryPrefix) || key[key.size() - 9] != '/')
    return Status::Corruption("malformed expiry key");
  const auto* b = reinterpret_cast<const uint8_t*>(key.data());
  ExpiryRef r;
  r.expires_ms = static_cast<int64_t>(GetU64Be(b + kExpiryPrefix.size()));
  r.recipient = std::string(key.substr(kExpiryPrefix.size() + 8, key.size() - fixed));
  r.seq = GetU64Be(b + key.size() - 8);
  if (r.expires_ms < 0 || r.recipient.find('/') != std::string::npos)
    return Status::Corruption("malformed expiry key");
  return r;
}

Bytes EncodeQueueRecord(const QueueRecord& r) {
  Bytes out;
  out.reserve(1 + 8 + 1 + 32 + 4 + r.message_id.size() + r.sender.size() + r.envelope.size());
  out.push_back(kQueueRecordVersion);
  PutU64Be(out, r.ledger_index);
  out.push_back(r.kind);
  out.insert(out.end(), r.envelope_hash.begin(), r.envelope_hash.end());
  PutU64Be(out, static_cast<uint64_t>(r.expires_ms));
  PutStr(out, r.message_id);
  PutStr(out, r.sender);
  out.insert(out.end(), r.envelope.begin(), r.envelope.end());
  return out;
}

Result<QueueRecord> DecodeQueueRecord(ByteView b) {
  Reader rd(b, "queue");
  uint8_t version = 0;
  QueueRecord r;
  if (!rd.U8(&version)) return rd.Bad("empty");
  if (version != 1 && version != kQueueRecordVersion)
    return rd.Bad("unknown version " + std::to_string(version));
  uint64_t expires = 0;
  if (!rd.U64(&r.ledger_index) || !rd.U8(&r.kind) || !rd.Fixed(r.envelope_hash.data(), 32) ||
      (version >= 2 && !rd.U64(&expires)) || !rd.Str(&r.message_id) || !rd.Str(&r.sender))
    return rd.Bad("truncated");
  r.expires_ms = static_cast<int64_t>(expires);
  ByteView rest = rd.Rest();
  if (rest.empty()) return rd.Bad("no envelope");
  r.envelope.assign(rest.begin(), rest.end());
  return r;
}

Bytes EncodeMessageRecord(const MessageRecord& r) {
  Bytes out;
  out.reserve(64 + r.message.size() + r.sender.size() + r.recipient.size());
  out.push_back(kMessageRecordVersion);
  out.push_back(r.accepted ? 1 : 0);
  PutU16Be(out, static_cast<uint16_t>(r.error));
  PutU64Be(out, r.ledger_index);
  PutU64Be(out, r.seq);
  out.push_back(static_cast<uint8_t>(r.state));
  out.insert(out.end(), r.envelope_hash.begin(), r.envelope_hash.end());
  PutU64Be(out, r.receipt_index);
  PutStr(out, r.sender);
  PutStr(out, r.recipient);
  PutStr(out, r.message);
  return out;
}

Result<MessageRecord> DecodeMessageRecord(ByteView b) {
  Reader rd(b, "message");
  uint8_t version = 0, accepted = 0, state = 0;
  uint16_t error = 0;
  MessageRecord r;
  if (!rd.U8(&version)) return rd.Bad("empty");
  if (version != kMessageRecordVersion) return rd.Bad("unknown version " + std::to_string(version));
  if (!rd.U8(&accepted) || !rd.U16(&error) || !rd.U64(&r.ledger_index) || !rd.U64(&r.seq) ||
      !rd.U8(&state) || !rd.Fixed(r.envelope_hash.data(), 32) || !rd.U64(&r.receipt_index) ||
      !rd.Str(&r.sender) || !rd.Str(&r.recipient) || !rd.Str(&r.message))
    return rd.Bad("truncated");
  if (!rd.AtEnd()) return rd.Bad("trailing bytes");
  if (accepted > 1) return rd.Bad("bad accepted flag");
  if (state < 1 || state > 5) return rd.Bad("bad state " + std::to_string(state));
  r.accepted = accepted == 1;
  r.error = static_cast<Code>(error);
  if (r.accepted != (r.error == Code::kOk)) return rd.Bad("accepted flag and error code disagree");
  r.state = static_cast<HubState>(state);
  return r;
}

}  // namespace mlahub::broker
