// Loading and writing the TOML configuration files (see config.h and
// docs/CONFIG.md).
//
// One table of keys per program drives everything: which sections and keys
// exist, their types and ranges, whether they are paths, their comments in
// the written file. Loading walks the parsed document and refuses anything
// the table does not know, so a typo is an error that names the key and its
// line instead of a silent fallback to a default.
#include "mlahub/config/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <variant>
#include <vector>

#include "mlahub/core/file.h"
#include "mlahub/core/ids.h"

namespace mlahub::config {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxConfigBytes = 1u << 20;

// How a string value is checked (and, for paths, resolved).
enum class Check {
  kNone,
  kNodeId,         // NodeId::Parse
  kPath,           // relative to the config file's directory; required non-empty
  kOptionalPath,   // same, empty allowed (means "default" / "none")
  kRootKey,        // "ed25519:<base64>" or a path
  kBrokerListen,   // tcp://HOST:PORT (PORT may be * or 0 for "any")
  kBrokerConnect,  // tcp://HOST:PORT
  kLoopback,       // HOST:PORT on a loopback address
  kOptLoopback,    // empty or HOST:PORT on a loopback address
  kLevel,          // trace|debug|info|warn|error
  kFormat,         // json|text
  kEnvName,        // empty or an environment variable name
  kOrigin,         // empty (derived) or a C2SP key name
};

using Ref = std::variant<std::string*, int64_t*, uint64_t*, uint32_t*, int*, double*>;

template <typename C>
struct Key {
  const char* section;
  const char* name;
  Ref (*ref)(C&);
  const char* comment;
  Check check = Check::kNone;
  bool required = false;
  // Integer range (inclusive); doubles must be > 0 when min_int > 0.
  int64_t min_int = 0;
  int64_t max_int = std::numeric_limits<int64_t>::max();
};

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr int64_t kDay = 24LL * 60 * 60 * 1000;
constexpr int64_t kMaxClockOriginMs = 253402300799999;  // 9999-12-31T23:59:59.999Z

#define MLAHUB_REF(Type, member) [](Type& c) -> Ref { return &c.member; }

// Shared tail: [directory], [metrics], [log].
template <typename C>
void AppendCommonKeys(std::vector<Key<C>>& keys) {
  keys.push_back({"directory", "file", MLAHUB_REF(C, directory.file),
                  "The signed directory (directory.bin) made and published by the network operator.",
                  Check::kPath, true});
  keys.push_back({"directory", "root_key", MLAHUB_REF(C, directory.root_key),
                  "The operator's root key: its identity (key dir, identity.json/.bin) or \"ed25519:<base64>\".",
                  Check::kRootKey, true});
  keys.push_back({"directory", "reload_interval_ms", MLAHUB_REF(C, directory.reload_interval_ms),
                  "How often (ms) the directory file is checked for a newer version.", Check::kNone, false, 1,
                  kDay});
  keys.push_back({"metrics", "listen", MLAHUB_REF(C, metrics.listen),
                  "Prometheus endpoint (GET /metrics), loopback HOST:PORT; \"\" = none, port 0 = any.",
                  Check::kOptLoopback});
  keys.push_back({"log", "level", MLAHUB_REF(C, log.level), "Lowest level logged: trace, debug, info, warn, error.",
                  Check::kLevel});
  keys.push_back({"log", "format", MLAHUB_REF(C, log.format),
                  "json (one object per line) or text (\"ts level event key=value\").", Check::kFormat});
  keys.push_back({"log", "file", MLAHUB_REF(C, log.file), "Log file (appended); \"\" = standard error.",
                  Check::kOptionalPath});
}

const std::vector<Key<BrokerConfig>>& BrokerKeys() {
  static const std::vector<Key<BrokerConfig>> keys = [] {
    using C = BrokerConfig;
    std::vector<Key<C>> k = {
        {"broker", "node_id", MLAHUB_REF(C, node_id), "The hub's node id (CC-AUTHORITY, e.g. XX-HUB).",
         Check::kNodeId, true},
        {"broker", "keys", MLAHUB_REF(C, keys), "The hub's key directory (node.key, identity.json).", Check::kPath,
         true},
        {"broker", "passphrase_env", MLAHUB_REF(C, passphrase_env),
         "Environment variable holding the key passphrase; \"\" if node.key is not encrypted.", Check::kEnvName},
        {"broker", "listen", MLAHUB_REF(C, listen), "ZeroMQ CURVE endpoint the agents connect to (tcp://HOST:PORT).",
         Check::kBrokerListen},
        {"broker", "data", MLAHUB_REF(C, data), "Data directory: ledger and queues (created if missing).",
         Check::kPath, true},
        {"broker", "origin", MLAHUB_REF(C, origin),
         "Checkpoint origin and note key name; default \"<node_id lowercased>.mlahub/ledger\".", Check::kOrigin},
        {"broker", "max_envelope_bytes", MLAHUB_REF(C, max_envelope_bytes),
         "Largest envelope accepted (bytes); larger ones are refused as too_large.", Check::kNone, false, 1024,
         1LL << 30},
        {"broker", "max_clock_skew_ms", MLAHUB_REF(C, max_clock_skew_ms),
         "Envelopes timestamped further than this (ms) from the hub's clock are refused as expired.", Check::kNone,
         false, 1, kDay * 30},
        {"broker", "clock_rate", MLAHUB_REF(C, clock_rate),
         "Clock rate for simulations: 1.0 = real time, 60.0 = a real second is a simulated minute.", Check::kNone,
         false, 1},
        {"broker", "clock_origin_ms", MLAHUB_REF(C, clock_origin_ms),
         "Simulations: origin (Unix ms) of the scaled clock, now = origin + (real now - origin) * clock_rate; "
         "0 = the process's start. Give every daemon the same origin so restarts keep one simulated time.",
         Check::kNone, false, 0, kMaxClockOriginMs},
        {"broker", "verify_threads", MLAHUB_REF(C, verify_threads),
         "Signature verification threads; 0 = one per core.", Check::kNone, false, 0, 1024},
        {"broker", "refusals_per_second", MLAHUB_REF(C, refusals_per_second),
         "A node refused more often than this in one second has its further frames refused (unavailable, "
         "rate limited, not ledgered) for refusal_backoff_ms; 0 = no limit.",
         Check::kNone, false, 0, 1 << 24},
        {"broker", "refusal_backoff_ms", MLAHUB_REF(C, refusal_backoff_ms),
         "How long (ms, real time) a rate-limited node's frames are refused.", Check::kNone, false, 1, kDay},
        {"delivery", "redeliver_initial_ms", MLAHUB_REF(C, redeliver_initial_ms),
         "First redelivery (ms) of an envelope whose receipt has not arrived.", Check::kNone, false, 1, kDay},
        {"delivery", "redeliver_max_ms", MLAHUB_REF(C, redeliver_max_ms),
         "Cap (ms) of the exponential redelivery backoff.", Check::kNone, false, 1, kDay},
        {"delivery", "max_inflight_per_agent", MLAHUB_REF(C, max_inflight_per_agent),
         "Envelopes sent to one agent whose receipt is outstanding, at most.", Check::kNone, false, 1, 1 << 20},
        {"delivery", "queue_memory_per_agent", MLAHUB_REF(C, queue_memory_per_agent),
         "Envelopes cached in memory per agent; the rest of a backlog stays on disk.", Check::kNone, false, 1,
         1 << 24},
        {"ledger", "checkpoint_interval_ms", MLAHUB_REF(C, checkpoint_interval_ms),
         "Sign a checkpoint at most this often (ms); 0 = after every batch.", Check::kNone, false, 0, kDay},
        {"ledger", "max_batch_entries", MLAHUB_REF(C, max_batch_entries),
         "Most ledger entries committed in one fsync'd batch (group commit).", Check::kNone, false, 1, 1 << 24},
        {"ledger", "cache_mib", MLAHUB_REF(C, cache_mib),
         "Block cache of the ledger database (MiB): proofs, status reads, queue pages.", Check::kNone, false, 8,
         1 << 20},
        {"ledger", "memtable_mib", MLAHUB_REF(C, memtable_mib),
         "Write buffers of the ledger database (MiB, all column families together).", Check::kNone, false, 8,
         1 << 20},
        {"evidence", "retention_hours", MLAHUB_REF(C, evidence_retention_hours),
         "Evidence chunks are kept this long (hours) after the recipient has the whole file, then purged; "
         "0 = at once. The ledger keeps the completion entry.",
         Check::kNone, false, 0, 24 * 3650},
        {"evidence", "window_chunks", MLAHUB_REF(C, evidence_window_chunks),
         "Chunks of one transfer sent to a recipient beyond its durable mark (flow control).", Check::kNone, false,
         1, 1024},
    };
    AppendCommonKeys(k);
    return k;
  }();
  return keys;
}

const std::vector<Key<AgentConfig>>& AgentKeys() {
  static const std::vector<Key<AgentConfig>> keys = [] {
    using C = AgentConfig;
    std::vector<Key<C>> k = {
        {"agent", "node_id", MLAHUB_REF(C, node_id), "This authority's node id (CC-AUTHORITY, e.g. IT-MOJ).",
         Check::kNodeId, true},
        {"agent", "keys", MLAHUB_REF(C, keys), "This authority's key directory (node.key, identity.json).",
         Check::kPath, true},
        {"agent", "previous_keys", MLAHUB_REF(C, previous_keys),
         "After a key rotation: a directory holding this node's earlier key directories (one per rotation), "
         "to open mail sealed to an earlier key and messages stored before; \"\" = none.",
         Check::kOptionalPath},
        {"agent", "passphrase_env", MLAHUB_REF(C, passphrase_env),
         "Environment variable holding the key passphrase; \"\" if node.key is not encrypted.", Check::kEnvName},
        {"agent", "broker", MLAHUB_REF(C, broker), "The broker's ZeroMQ CURVE endpoint (tcp://HOST:PORT).",
         Check::kBrokerConnect},
        {"agent", "data", MLAHUB_REF(C, data), "Data directory: case store, outbox, audit state (created if missing).",
         Check::kPath, true},
        {"agent", "max_envelope_bytes", MLAHUB_REF(C, max_envelope_bytes),
         "Largest envelope sent or accepted (bytes); should equal the broker's.", Check::kNone, false, 1024,
         1LL << 30},
        {"agent", "max_clock_skew_ms", MLAHUB_REF(C, max_clock_skew_ms),
         "Envelopes timestamped further than this (ms) from the local clock are refused as expired.",
         Check::kNone, false, 1, kDay * 30},
        {"agent", "clock_rate", MLAHUB_REF(C, clock_rate),
         "Clock rate for simulations: 1.0 = real time, 60.0 = a real second is a simulated minute.", Check::kNone,
         false, 1},
        {"agent", "clock_origin_ms", MLAHUB_REF(C, clock_origin_ms),
         "Simulations: origin (Unix ms) of the scaled clock, now = origin + (real now - origin) * clock_rate; "
         "0 = the process's start. Give every daemon the same origin so restarts keep one simulated time.",
         Check::kNone, false, 0, kMaxClockOriginMs},
        {"reconnect", "initial_ms", MLAHUB_REF(C, reconnect_initial_ms),
         "First reconnection delay (ms) after the broker is lost.", Check::kNone, false, 1, kDay},
        {"reconnect", "max_ms", MLAHUB_REF(C, reconnect_max_ms), "Cap (ms) of the reconnection backoff.",
         Check::kNone, false, 1, kDay},
        {"reconnect", "broker_silence_ms", MLAHUB_REF(C, broker_silence_ms),
         "With nothing from the broker for half this time (ms) the agent sends it a Ping; after all of it, it "
         "reconnects (a hung broker whose host still holds the connection is not seen by TCP).",
         Check::kNone, false, 1000, kDay},
        {"api", "listen", MLAHUB_REF(C, api_listen),
         "Local API (HTTP/JSON, bearer token), loopback HOST:PORT; port 0 = any (see <data>/ready.json).",
         Check::kLoopback},
        {"api", "token_file", MLAHUB_REF(C, api_token_file),
         "API bearer token file, created (0600) with a random token if missing; default \"<data>/api.token\".",
         Check::kOptionalPath},
        {"evidence", "accept_warning_ms", MLAHUB_REF(C, accept_warning_ms),
         "Warn (ms after submission) when the broker has not yet acknowledged a message.", Check::kNone, false, 1,
         kDay * 365},
        {"evidence", "accept_failure_ms", MLAHUB_REF(C, accept_failure_ms),
         "Declare submission failed (ms after submission) without the broker's acknowledgement.", Check::kNone,
         false, 1, kDay * 365},
        {"evidence", "delivery_warning_ms", MLAHUB_REF(C, delivery_warning_ms),
         "Warn (ms after acceptance) when the message has not been relayed to its recipient.", Check::kNone, false,
         1, kDay * 365},
        {"evidence", "delivery_failure_ms", MLAHUB_REF(C, delivery_failure_ms),
         "Declare delivery failed (ms after acceptance) when it has not been relayed.", Check::kNone, false, 1,
         kDay * 365},
        {"evidence", "receipt_warning_ms", MLAHUB_REF(C, receipt_warning_ms),
         "Warn (ms after acceptance) when no signed receipt has come back.", Check::kNone, false, 1, kDay * 365},
        {"evidence", "receipt_failure_ms", MLAHUB_REF(C, receipt_failure_ms),
         "Declare retrieval failed (ms after acceptance) without a receipt; a later receipt overrides it.",
         Check::kNone, false, 1, kDay * 365},
        {"audit", "interval_ms", MLAHUB_REF(C, audit_interval_ms),
         "How often (ms) the hub is asked for newer checkpoints and proofs.", Check::kNone, false, 1, kDay},
        {"cases", "policy", MLAHUB_REF(C, cases_policy),
         "The network's deadline policy file (TOML, read over the embedded default; `mlahub policy show` prints "
         "it); \"\" = the embedded default.",
         Check::kOptionalPath},
    };
    AppendCommonKeys(k);
    return k;
  }();
  return keys;
}

#undef MLAHUB_REF

// ---- small validators ------------------------------------------------------

std::string Lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string DefaultOrigin(const std::string& node_id) { return Lower(node_id) + ".mlahub/ledger"; }
std::string DefaultTokenFile(const std::string& data) { return (fs::path(data) / "api.token").string(); }

// C2SP signed-note key name rule (storage::IsValidKeyName): non-empty
// printable ASCII without spaces or '+'. Repeated here because config sits
// below storage.
bool IsValidNoteKeyName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == '+' || u >= 0x7f) return false;
  }
  return true;
}

bool IsEnvName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Splits "HOST:PORT" / "[V6]:PORT". Port "*" is returned as -1.
std::optional<std::pair<std::string, int>> SplitHostPort(std::string_view s, bool allow_star) {
  std::string host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
    if (host.find(':') != std::string::npos) return std::nullopt;  // bare IPv6 needs brackets
  }
  if (host.empty()) return std::nullopt;
  for (char c : host)
    if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '"') return std::nullopt;
  if (allow_star && port == "*") return std::pair{host, -1};
  if (port.empty() || port.size() > 5) return std::nullopt;
  int p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p < 0 || p > 65535) return std::nullopt;
  return std::pair{host, p};
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8 in dotted-quad form.
  int parts[4];
  char tail = 0;
  if (std::sscanf(host.c_str(), "%d.%d.%d.%d%c", &parts[0], &parts[1], &parts[2], &parts[3], &tail) != 4)
    return false;
  for (int p : parts)
    if (p < 0 || p > 255) return false;
  return parts[0] == 127;
}

// ---- loading ---------------------------------------------------------------

struct Ctx {
  std::string path;  // as given
  fs::path dir;      // absolute directory of the file
  std::map<std::string, uint32_t> lines;  // "section.key" -> line

  std::string Where(const char* section, const char* key) const {
    auto it = lines.find(std::string(section) + "." + key);
    std::string out = path;
    if (it != lines.end()) out += ":" + std::to_string(it->second);
    return out + ": [" + section + "] " + key;
  }
  std::string Resolve(const std::string& p) const {
    if (p.empty()) return p;
    fs::path fp(p);
    if (fp.is_absolute()) return fp.lexically_normal().string();
    return (dir / fp).lexically_normal().string();
  }
};

std::string JoinKnown(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

template <typename C>
Status ReadValue(const Key<C>& key, const toml::node& node, C& c, const Ctx& ctx) {
  std::string where = ctx.Where(key.section, key.name);
  Ref ref = key.ref(c);
  if (auto** s = std::get_if<std::string*>(&ref)) {
    const auto* v = node.as_string();
    if (v == nullptr) return Status::InvalidArgument(where + ": must be a string (in double quotes)");
    **s = v->get();
    return Status::Ok();
  }
  if (auto** d = std::get_if<double*>(&ref)) {
    double x;
    if (const auto* f = node.as_floating_point()) {
      x = f->get();
    } else if (const auto* i = node.as_integer()) {
      x = static_cast<double>(i->get());
    } else {
      return Status::InvalidArgument(where + ": must be a number");
    }
    if (!std::isfinite(x) || (key.min_int > 0 && x <= 0) || x > 1e9)
      return Status::InvalidArgument(where + ": must be a finite number greater than 0");
    **d = x;
    return Status::Ok();
  }
  const auto* i = node.as_integer();
  if (i == nullptr) {
    std::string unit = std::string_view(key.name).ends_with("_ms") ? " (milliseconds)" : "";
    return Status::InvalidArgument(where + ": must be an integer" + unit + ", without quotes");
  }
  int64_t x = i->get();
  int64_t max = key.max_int;
  if (std::holds_alternative<uint32_t*>(ref)) max = std::min(max, kU32Max);
  if (std::holds_alternative<int*>(ref)) max = std::min<int64_t>(max, std::numeric_limits<int>::max());
  if (x < key.min_int || x > max)
    return Status::InvalidArgument(where + ": " + std::to_string(x) + " is out of range [" +
                                   std::to_string(key.min_int) + ", " + std::to_string(max) + "]");
  std::visit(
      [x](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_integral_v<T>) *p = static_cast<T>(x);
      },
      ref);
  return Status::Ok();
}

template <typename C>
Status CheckString(const Key<C>& key, std::string& v, const Ctx& ctx) {
  auto bad = [&](const std::string& what) { return Status::InvalidArgument(ctx.Where(key.section, key.name) + ": " + what); };
  switch (key.check) {
    case Check::kNone:
      return Status::Ok();
    case Check::kNodeId: {
      auto id = NodeId::Parse(v);
      if (!id.ok()) return bad("'" + v + "' is not a node id (CC-AUTHORITY, e.g. IT-MOJ): " + id.status().message());
      return Status::Ok();
    }
    case Check::kPath:
      if (v.empty()) return bad("must not be empty");
      v = ctx.Resolve(v);
      return Status::Ok();
    case Check::kOptionalPath:
      v = ctx.Resolve(v);
      return Status::Ok();
    case Check::kRootKey:
      if (v.empty()) return bad("must not be empty");
      if (v.starts_with("ed25519:")) {
        if (v.size() == 8) return bad("\"ed25519:\" must be followed by the base64 public key");
        return Status::Ok();
      }
      v = ctx.Resolve(v);
      return Status::Ok();
    case Check::kBrokerListen:
    case Check::kBrokerConnect: {
      bool listen = key.check == Check::kBrokerListen;
      std::optional<std::pair<std::string, int>> hp;
      if (v.starts_with("tcp://")) hp = SplitHostPort(std::string_view(v).substr(6), listen);
      if (!hp) return bad("'" + v + "' is not a ZeroMQ TCP endpoint tcp://HOST:PORT");
      if (!listen && hp->second == 0) return bad("'" + v + "' needs a port (1-65535)");
      return Status::Ok();
    }
    case Check::kOptLoopback:
      if (v.empty()) return Status::Ok();
      [[fallthrough]];
    case Check::kLoopback: {
      auto hp = SplitHostPort(v, false);
      if (!hp) return bad("'" + v + "' is not HOST:PORT (e.g. 127.0.0.1:9100)");
      if (!IsLoopbackHost(hp->first))
        return bad("'" + v + "' is not a loopback address: use 127.0.0.1, [::1] or localhost");
      return Status::Ok();
    }
    case Check::kLevel:
      if (v == "trace" || v == "debug" || v == "info" || v == "warn" || v == "error") return Status::Ok();
      return bad("'" + v + "' is not a level: use trace, debug, info, warn or error");
    case Check::kFormat:
      if (v == "json" || v == "text") return Status::Ok();
      return bad("'" + v + "' is not a log format: use json or text");
    case Check::kEnvName:
      if (v.empty() || IsEnvName(v)) return Status::Ok();
      return bad("'" + v + "' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
    case Check::kOrigin:
      if (v.empty() || IsValidNoteKeyName(v)) return Status::Ok();
      return bad("'" + v + "' is not a valid checkpoint origin: printable ASCII without spaces or '+'");
  }
  return Status::Ok();
}

// `finish` derives defaults and checks relations between keys.
template <typename C>
Result<C> Load(const std::string& path, const std::vector<Key<C>>& keys, const char* program,
               Status (*finish)(C&, const Ctx&)) {
  if (path.empty()) return Status::InvalidArgument("no configuration file given (--config FILE)");
  std::error_code ec;
  if (fs::is_directory(path, ec)) return Status::InvalidArgument(path + " is a directory, not a configuration file");
  if (!FileExists(path)) return Status::NotFound("configuration file " + path + " does not exist");
  auto bytes = ReadFile(path, kMaxConfigBytes);
  if (!bytes.ok()) return bytes.status().Annotate("configuration file");
  std::string text(AsString(*bytes));

  Ctx ctx;
  ctx.path = path;
  fs::path abs = fs::absolute(fs::path(path), ec);
  if (ec) return Status::IoError("cannot resolve the path of " + path + ": " + ec.message());
  ctx.dir = abs.lexically_normal().parent_path();

  toml::table doc;
  try {
    doc = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return Status::InvalidArgument(path + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                             ": TOML syntax error: " + std::string(e.description()));
  }

  std::vector<std::string> sections;
  for (const auto& k : keys)
    if (std::find(sections.begin(), sections.end(), k.section) == sections.end()) sections.push_back(k.section);

  C c;
  for (auto&& [sec_key, sec_node] : doc) {
    std::string sec(sec_key.str());
    uint32_t sec_line = sec_node.source().begin.line;
    if (std::find(sections.begin(), sections.end(), sec) == sections.end()) {
      std::string lead = sec_node.is_table() ? "unknown section [" + sec + "]" : "unknown key '" + sec + "'";
      return Status::InvalidArgument(path + ":" + std::to_string(sec_line) + ": " + lead + " in a " + program +
                                     " configuration (sections: " + JoinKnown(sections) + ")");
    }
    const toml::table* tbl = sec_node.as_table();
    if (tbl == nullptr)
      return Status::InvalidArgument(path + ":" + std::to_string(sec_line) + ": '" + sec +
                                     "' must be a section ([" + sec + "] followed by its keys)");
    for (auto&& [key_key, node] : *tbl) {
      std::string name(key_key.str());
      uint32_t line = node.source().begin.line;
      const Key<C>* found = nullptr;
      std::vector<std::string> known;
      for (const auto& k : keys) {
        if (sec != k.section) continue;
        known.push_back(k.name);
        if (name == k.name) found = &k;
      }
      if (found == nullptr)
        return Status::InvalidArgument(path + ":" + std::to_string(line) + ": unknown key '" + name + "' in [" + sec +
                                       "] (known keys: " + JoinKnown(known) + ")");
      ctx.lines[sec + "." + name] = line;
      MLAHUB_RETURN_IF_ERROR(ReadValue(*found, node, c, ctx));
    }
  }

  for (const auto& k : keys) {
    bool present = ctx.lines.count(std::string(k.section) + "." + k.name) != 0;
    if (k.required && !present)
      return Status::InvalidArgument(path + ": missing required key '" + k.name + "' in [" + k.section +
                                     "]: " + k.comment);
    Ref ref = k.ref(c);
    if (auto** s = std::get_if<std::string*>(&ref)) MLAHUB_RETURN_IF_ERROR(CheckString(k, **s, ctx));
  }
  c.config_path = path;
  MLAHUB_RETURN_IF_ERROR(finish(c, ctx));
  return c;
}

// A pair of durations where the first must not exceed the second.
Status CheckOrder(const Ctx& ctx, const char* section, const char* lo_name, int64_t lo,
                  const char* hi_name, int64_t hi) {
  if (lo <= hi) return Status::Ok();
  return Status::InvalidArgument(ctx.Where(section, lo_name) + ": " + std::to_string(lo) + " is larger than " +
                                 hi_name + " (" + std::to_string(hi) + ")");
}

Status FinishBroker(BrokerConfig& c, const Ctx& ctx) {
  if (c.origin.empty()) c.origin = DefaultOrigin(c.node_id);
  return CheckOrder(ctx, "delivery", "redeliver_initial_ms", c.redeliver_initial_ms, "redeliver_max_ms",
                    c.redeliver_max_ms);
}

Status FinishAgent(AgentConfig& c, const Ctx& ctx) {
  if (c.api_token_file.empty()) c.api_token_file = DefaultTokenFile(c.data);
  MLAHUB_RETURN_IF_ERROR(
      CheckOrder(ctx, "reconnect", "initial_ms", c.reconnect_initial_ms, "max_ms", c.reconnect_max_ms));
  MLAHUB_RETURN_IF_ERROR(CheckOrder(ctx, "evidence", "accept_warning_ms", c.accept_warning_ms, "accept_failure_ms",
                                    c.accept_failure_ms));
  MLAHUB_RETURN_IF_ERROR(CheckOrder(ctx, "evidence", "delivery_warning_ms", c.delivery_warning_ms,
                                    "delivery_failure_ms", c.delivery_failure_ms));
  return CheckOrder(ctx, "evidence", "receipt_warning_ms", c.receipt_warning_ms, "receipt_failure_ms",
                    c.receipt_failure_ms);
}

// ---- writing ---------------------------------------------------------------

std::string TomlString(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto u = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string TomlDouble(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip form
  std::string s(buf, ec == std::errc() ? end : buf);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a TOML float
  return s;
}


// The value a key takes when it is absent and derived from other keys.
std::optional<std::string> DerivedDefault(const BrokerConfig& c, std::string_view section, std::string_view name) {
  if (section == "broker" && name == "origin") return DefaultOrigin(c.node_id);
  return std::nullopt;
}
std::optional<std::string> DerivedDefault(const AgentConfig& c, std::string_view section, std::string_view name) {
  if (section == "api" && name == "token_file") return DefaultTokenFile(c.data);
  return std::nullopt;
}

template <typename C>
std::string ToToml(const C& const_c, const std::vector<Key<C>>& keys, const std::string& title) {
  C c = const_c;  // Key::ref takes a mutable object
  std::string out = title;
  std::string section;
  for (const auto& k : keys) {
    if (section != k.section) {
      section = k.section;
      out += "\n[" + section + "]\n";
    }
    out += "# " + std::string(k.comment) + "\n";
    Ref ref = k.ref(c);
    std::string value;
    bool derived_empty = false;
    if (auto** s = std::get_if<std::string*>(&ref)) {
      value = TomlString(**s);
      if ((**s).empty()) {
        // A derived default is left commented out, showing its value, so the
        // file keeps following node_id / data if those change.
        if (std::optional<std::string> d = DerivedDefault(c, k.section, k.name)) {
          derived_empty = true;
          value = TomlString(*d);
        }
      }
    } else if (auto** d = std::get_if<double*>(&ref)) {
      value = TomlDouble(**d);
    } else {
      std::visit(
          [&value](auto* p) {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_integral_v<T>) value = std::to_string(*p);
          },
          ref);
    }
    out += (derived_empty ? "# " : "") + std::string(k.name) + " = " + value + "\n";
  }
  return out;
}

}  // namespace

Result<BrokerConfig> LoadBrokerConfig(const std::string& path) {
  return Load(path, BrokerKeys(), "mlahub-broker", &FinishBroker);
}

Result<AgentConfig> LoadAgentConfig(const std::string& path) {
  return Load(path, AgentKeys(), "mlahub-agent", &FinishAgent);
}

std::string BrokerConfigToToml(const BrokerConfig& c) {
  return ToToml(c, BrokerKeys(),
                "# mlahub-broker configuration (TOML). Every key is optional except node_id, keys, data,\n"
                "# directory.file and directory.root_key; a missing key takes the default shown in\n"
                "# docs/CONFIG.md. Relative paths are relative to this file's directory. Durations in ms.\n");
}

std::string AgentConfigToToml(const AgentConfig& c) {
  return ToToml(c, AgentKeys(),
                "# mlahub-agent configuration (TOML). Every key is optional except node_id, keys, data,\n"
                "# directory.file and directory.root_key; a missing key takes the default shown in\n"
                "# docs/CONFIG.md. Relative paths are relative to this file's directory. Durations in ms.\n");
}

}  // namespace mlahub::config
