// Victims' data: schema walk, sealing at rest, masking, child detection and
// the reveal log (victims.h).
#include "mlahub/agents/victims.h"
#include "internal.h"

#include <sys/stat.h>

#include <cstring>
#include <ctime>
#include <map>

#include "mlahub/core/bytes.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/aead.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/random.h"
#include "mlahub/crypto/secret.h"
#include "mlahub/schemas/content_generated.h"
#include "mlahub/workflow/check.h"

namespace mlahub::agents {

using nlohmann::json;

namespace {

constexpr std::string_view kVictimAad = "mlahub victim v1|";
constexpr std::string_view kRevealPrefix = "reveal/r/";
constexpr std::string_view kRevealCounter = "reveal/n";

// The schema's fields of a table, cached (the schema is immutable).
const std::vector<workflow::FieldInfo>& VictimsTableFields(const std::string& table) {
  static std::mutex mu;
  static std::map<std::string, std::vector<workflow::FieldInfo>, std::less<>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(table);
  if (it != cache.end()) return it->second;
  auto d = workflow::DescribeTable(table);
  return cache.emplace(table, d.ok() ? std::move(*d) : std::vector<workflow::FieldInfo>()).first->second;
}

// "table:X" / "[table:X]" -> X, else "".
std::string VictimsSubTable(const std::string& type) {
  std::string_view t = type;
  if (t.size() > 2 && t.front() == '[' && t.back() == ']') t = t.substr(1, t.size() - 2);
  if (t.rfind("table:", 0) != 0) return "";
  return std::string(t.substr(6));
}

bool VictimsRoleIsVictim(const json& p) {
  auto r = p.find("role");
  if (r == p.end()) return false;
  if (r->is_string()) return r->get<std::string>() == "Victim";
  if (r->is_number_integer()) return r->get<int64_t>() == static_cast<int64_t>(wire::PersonRole::Victim);
  return false;
}

// Protocol Art. 8: the person of these requests is a victim whatever its role says.
bool VictimsByDefinition(const std::string& table, const std::string& field) {
  return (table == "RepatriationRequest" && field == "victim") ||
         (table == "NationalityVerificationRequest" && field == "person");
}

void VictimsWalk(json& node, const std::string& table, const std::function<void(json&)>& fn, int depth) {
  if (depth > 32 || !node.is_object()) return;
  for (const workflow::FieldInfo& f : VictimsTableFields(table)) {
    std::string sub = VictimsSubTable(f.type);
    if (sub.empty()) continue;
    auto it = node.find(f.name);
    if (it == node.end()) continue;
    auto visit = [&](json& v) {
      if (!v.is_object()) return;
      if (sub == "Person") {
        if (VictimsRoleIsVictim(v) || VictimsByDefinition(table, f.name)) fn(v);
      } else {
        VictimsWalk(v, sub, fn, depth + 1);
      }
    };
    if (it->is_array()) {
      for (json& e : *it) visit(e);
    } else {
      visit(*it);
    }
  }
}

bool VictimsAnyChildFlag(const json& j) {
  if (j.is_object()) {
    auto cv = j.find("child_victim");
    if (cv != j.end() && cv->is_boolean() && cv->get<bool>()) return true;
    for (const auto& [k, v] : j.items())
      if (VictimsAnyChildFlag(v)) return true;
  } else if (j.is_array()) {
    for (const json& v : j)
      if (VictimsAnyChildFlag(v)) return true;
  }
  return false;
}

int VictimsDigits(std::string_view s) {
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return s.empty() ? -1 : v;
}

// Under 18 at `now`, from the earliest date "YYYY[-MM[-DD]]" allows.
bool VictimsUnder18(const std::string& dob, UnixMillis now) {
  if (dob.size() < 4) return false;
  int y = VictimsDigits(std::string_view(dob).substr(0, 4)), m = 1, d = 1;
  if (y < 0) return false;
  if (dob.size() >= 7) {
    if (dob[4] != '-' || (m = VictimsDigits(std::string_view(dob).substr(5, 2))) < 1 || m > 12) return false;
  }
  if (dob.size() >= 10) {
    if (dob[7] != '-' || (d = VictimsDigits(std::string_view(dob).substr(8, 2))) < 1 || d > 31) return false;
  }
  std::time_t t = static_cast<std::time_t>(now / 1000);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return false;
  int ny = tm.tm_year + 1900, nm = tm.tm_mon + 1, nd = tm.tm_mday;
  if (y > ny || (y == ny && (m > nm || (m == nm && d > nd)))) return false;  // not born yet: not a date to trust
  int age = ny - y - ((nm < m || (nm == m && nd < d)) ? 1 : 0);
  return age < 18;
}

void VictimsMaskSealed(json& j, size_t* n) {
  if (IsSealedValue(j)) {
    j = std::string(kVictimMask);
    ++*n;
  } else if (j.is_object() || j.is_array()) {
    for (auto& v : j) VictimsMaskSealed(v, n);
  }
}

std::string VictimsBe64(uint64_t v) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) k[i] = static_cast<char>(v & 0xff);
  return k;
}

Result<crypto::AeadKey> VictimsLoadKey(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::IoError("cannot stat the victims' key " + path);
  if ((st.st_mode & 077) != 0)
    return Status::PermissionDenied(path + " is readable by group or others; chmod 600 it");
  MLAHUB_ASSIGN_OR_RETURN(Bytes b, ReadFile(path, 64));
  if (b.size() != crypto::kAeadKeySize) {
    crypto::Wipe(b.data(), b.size());
    return Status::Corruption(path + " is not a 32-byte key");
  }
  crypto::AeadKey key;
  std::memcpy(key.data(), b.data(), key.size());
  crypto::Wipe(b.data(), b.size());
  return key;
}

}  // namespace

const std::vector<std::string>& VictimFieldNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const workflow::FieldInfo& f : VictimsTableFields("Person"))
      if (f.personal_data) out.push_back(f.name);
    return out;
  }();
  return names;
}

void ForEachVictim(json& body, wire::MessageKind kind, const std::function<void(json&)>& fn) {
  VictimsWalk(body, wire::EnumNameMessageKind(kind), fn, 0);
}

bool IsSealedValue(const json& v) {
  if (!v.is_object() || v.size() != 1) return false;
  auto it = v.find("sealed");
  return it != v.end() && it->is_string() && it->get_ref<const std::string&>().rfind(kSealedPrefix, 0) == 0;
}

size_t MaskVictims(json& body, wire::MessageKind kind) {
  size_t n = 0;
  ForEachVictim(body, kind, [&](json& p) {
    for (const std::string& f : VictimFieldNames()) {
      auto it = p.find(f);
      if (it == p.end() || it->is_null() || *it == json(std::string(kVictimMask))) continue;
      *it = std::string(kVictimMask);
      ++n;
    }
  });
  VictimsMaskSealed(body, &n);
  return n;
}

bool HasChildVictim(const json& body, wire::MessageKind kind, UnixMillis now) {
  if (VictimsAnyChildFlag(body)) return true;
  bool child = false;
  json copy = body;
  ForEachVictim(copy, kind, [&](json& p) {
    auto c = p.find("is_child");
    if (c != p.end() && c->is_boolean() && c->get<bool>()) child = true;
    auto d = p.find("date_of_birth");
    if (d != p.end() && d->is_string() && VictimsUnder18(d->get<std::string>(), now)) child = true;
  });
  return child;
}

// ---- VictimVault ----

Result<std::unique_ptr<VictimVault>> VictimVault::Open(std::string key_path) {
  if (!FileExists(key_path)) {
    crypto::AeadKey fresh;
    crypto::RandomBytes(fresh.data(), fresh.size());
    MLAHUB_RETURN_IF_ERROR(WriteFileAtomic(key_path, ByteView(fresh.data(), fresh.size()), 0600));
  }
  MLAHUB_ASSIGN_OR_RETURN(crypto::AeadKey check, VictimsLoadKey(key_path));  // wiped at once
  (void)check;
  return std::unique_ptr<VictimVault>(new VictimVault(std::move(key_path)));
}

Result<std::string> VictimVault::SealText(std::string_view plaintext, std::string_view aad) const {
  MLAHUB_ASSIGN_OR_RETURN(crypto::AeadKey key, VictimsLoadKey(path_));
  crypto::AeadNonce nonce;
  crypto::RandomBytes(nonce.data(), nonce.size());
  Bytes ct = crypto::AeadEncrypt(key, nonce, AsBytes(plaintext), AsBytes(aad));
  Bytes all(nonce.begin(), nonce.end());
  all.insert(all.end(), ct.begin(), ct.end());
  return std::string(kSealedPrefix) + crypto::ToBase64(all);
}

Result<std::string> VictimVault::OpenText(std::string_view sealed, std::string_view aad) const {
  if (sealed.rfind(kSealedPrefix, 0) != 0) return Status::Corruption("a sealed value lacks its \"v1:\" prefix");
  MLAHUB_ASSIGN_OR_RETURN(Bytes all, crypto::FromBase64(sealed.substr(kSealedPrefix.size())));
  if (all.size() < crypto::kAeadNonceSize + crypto::kAeadTagSize) return Status::Corruption("a sealed value is too short");
  crypto::AeadNonce nonce;
  std::memcpy(nonce.data(), all.data(), nonce.size());
  MLAHUB_ASSIGN_OR_RETURN(crypto::AeadKey key, VictimsLoadKey(path_));
  Bytes out;
  if (!crypto::AeadDecrypt(key, nonce, ByteView(all.data() + nonce.size(), all.size() - nonce.size()), AsBytes(aad),
                           out))
    return Status::Corruption("a sealed value does not open with " + path_ + " (another agent's key, or damaged)");
  std::string text(out.begin(), out.end());
  crypto::Wipe(out.data(), out.size());
  return text;
}

Result<size_t> VictimVault::SealVictims(json& body, wire::MessageKind kind) const {
  size_t n = 0;
  Status bad;
  ForEachVictim(body, kind, [&](json& p) {
    for (const std::string& f : VictimFieldNames()) {
      auto it = p.find(f);
      if (it == p.end() || it->is_null() || IsSealedValue(*it) || !bad.ok()) continue;
      auto s = SealText(it->dump(), std::string(kVictimAad) + f);
      if (!s.ok()) {
        bad = s.status();
        return;
      }
      *it = json{{"sealed", *s}};
      ++n;
    }
  });
  MLAHUB_RETURN_IF_ERROR(bad);
  return n;
}

Result<size_t> VictimVault::Unseal(json& v, size_t* failed) const {
  size_t n = 0, bad = 0;
  Status io;
  std::function<void(json&, const std::string&)> walk = [&](json& j, const std::string& key) {
    if (IsSealedValue(j)) {
      auto t = OpenText(j["sealed"].get<std::string>(), std::string(kVictimAad) + key);
      if (!t.ok()) {
        if (t.status().code() != Code::kCorruption) io = t.status();
        j = nullptr;
        ++bad;
        return;
      }
      json clear = json::parse(*t, nullptr, false);
      j = clear.is_discarded() ? json(*t) : clear;
      ++n;
      return;
    }
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) walk(it.value(), it.key());
    } else if (j.is_array()) {
      for (json& e : j) walk(e, key);
    }
  };
  walk(v, "");
  MLAHUB_RETURN_IF_ERROR(io);  // the key file itself cannot be read
  if (failed != nullptr) *failed = bad;
  return n;
}

// ---- reveals ----

json ToJson(const RevealRecord& r) {
  return {{"id", r.id},           {"at_ms", r.at_ms},   {"at", TimeText(r.at_ms)}, {"what", r.what},
          {"target", r.target},   {"reason", r.reason}, {"token", r.token_id},     {"user", r.user},
          {"fields", r.fields}};
}

Result<RevealRecord> RevealLog::Record(RevealRecord r) {
  if (r.reason.empty()) return Status::InvalidArgument("a reveal needs a reason (reason=TEXT, or --reason TEXT)");
  std::lock_guard<std::mutex> lock(mu_);
  MLAHUB_ASSIGN_OR_RETURN(std::optional<std::string> last, store_.GetRaw(kRevealCounter));
  uint64_t n = 0;
  if (last) {
    if (last->size() != 8) return Status::Corruption("the reveal counter is damaged");
    for (unsigned char c : *last) n = (n << 8) | c;
  }
  r.id = n + 1;
  StoreBatch b;
  b.Put(kRevealCounter, VictimsBe64(r.id));
  b.Put(std::string(kRevealPrefix) + VictimsBe64(r.id), StoredJson(ToJson(r)));
  MLAHUB_RETURN_IF_ERROR(store_.Write(b));
  return r;
}

Result<std::vector<RevealRecord>> RevealLog::List(uint64_t after, size_t limit) const {
  std::vector<RevealRecord> out;
  MLAHUB_RETURN_IF_ERROR(store_.ScanRaw(kRevealPrefix, [&](std::string_view, std::string_view v) {
    json j = json::parse(v.begin(), v.end(), nullptr, false);
    if (!j.is_object()) return true;
    RevealRecord r;
    r.id = j.value("id", uint64_t{0});
    if (r.id <= after) return true;
    r.at_ms = j.value("at_ms", int64_t{0});
    r.what = j.value("what", "");
    r.target = j.value("target", "");
    r.reason = j.value("reason", "");
    r.token_id = j.value("token", "");
    r.user = j.value("user", "");
    r.fields = j.value("fields", uint64_t{0});
    out.push_back(std::move(r));
    return out.size() < limit;
  }));
  return out;
}

}  // namespace mlahub::agents
