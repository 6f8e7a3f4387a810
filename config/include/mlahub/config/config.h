// Configuration files of mlahub-broker and mlahub-agent (TOML, toml++).
//
// Every key has an embedded default (the values below), so a file holds only
// what differs; `mlahub network init` writes complete, commented files for a
// local network. Relative paths in a file are resolved against the directory
// of that file, so a network directory can be moved as a whole. The format,
// key by key, is in docs/CONFIG.md.
//
// Errors name the file, the key and the line: kInvalidArgument for a wrong
// type or value or an unknown key (a typo must not silently fall back to a
// default), kNotFound for a missing file, kMalformed for a TOML syntax error.
//
// Keys are the field names in their section ([broker] node_id, [delivery]
// redeliver_initial_ms), except where the section already says it: [api]
// listen / token_file, [reconnect] initial_ms / max_ms / broker_silence_ms,
// [audit] interval_ms.
// Required: node_id, keys, data, [directory] file and root_key. Durations
// are integers in ms. HTTP listen addresses ([api], [metrics]) must be
// loopback. A loaded config has its derived defaults filled in (origin,
// api_token_file) and every path absolute.
//
// Thread-safety: plain values; the functions are reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mlahub/core/status.h"

namespace mlahub::config {

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error
  std::string format = "json";  // json (one object per line) or text
  std::string file;             // empty: stderr
  bool operator==(const LogConfig&) const = default;
};

struct MetricsConfig {
  // host:port of the Prometheus endpoint (GET /metrics); loopback only.
  // Empty: no metrics endpoint. Port 0 picks a free port (logged at start).
  std::string listen;
  bool operator==(const MetricsConfig&) const = default;
};

struct DirectoryConfig {
  // The signed directory (SignedDirectory FlatBuffer, "MLAD"). The broker
  // re-reads it when the file changes (the operator publishes by replacing
  // it); agents use it at first start and then keep the newest version the
  // broker sends them in their data directory.
  std::string file;
  // The operator's root key, which the directory must be signed with: a path
  // to the operator's identity (identity.json/.bin or key directory), or
  // "ed25519:<base64 public key>".
  std::string root_key;
  // How often the broker checks `file` for a new version.
  int64_t reload_interval_ms = 2000;
  bool operator==(const DirectoryConfig&) const = default;
};

struct BrokerConfig {
  std::string config_path;  // the file this was read from (set by the loader)
  // [broker]
  std::string node_id;             // the hub's node id, e.g. "XX-HUB"
  std::string keys;                // key directory of the hub (node.key)
  std::string passphrase_env;      // env var with the key passphrase, if protected
  std::string listen = "tcp://127.0.0.1:7700";
  std::string data;                // ledger and queues
  std::string origin;              // checkpoint origin; default "<node_id lowercased>.mlahub/ledger"
  uint64_t max_envelope_bytes = 16u << 20;
  int64_t max_clock_skew_ms = 5 * 60 * 1000;
  // Clock rate for simulations (mlahub-sim live engine): 1 = real time;
  // 60 = one real second is a simulated minute. Timeouts scale with it.
  double clock_rate = 1.0;
  // Origin of the scaled clock (Unix ms; 0 = the process's start): simulated
  // now = origin + (real now - origin) * clock_rate, so daemons restarted
  // with the same origin resume one common simulated time.
  int64_t clock_origin_ms = 0;
  // Verification worker threads; 0 = one per core.
  int verify_threads = 0;
  // A node whose commands are refused more than this many times in a second
  // has its further frames refused (unavailable, "rate limited") for
  // refusal_backoff_ms, without ledger entries; 0 = no limit.
  uint32_t refusals_per_second = 1000;
  int64_t refusal_backoff_ms = 10000;
  // [delivery]
  int64_t redeliver_initial_ms = 2000;   // first redelivery without a receipt
  int64_t redeliver_max_ms = 60000;      // backoff cap
  uint32_t max_inflight_per_agent = 256; // Deliver sent, receipt outstanding
  uint32_t queue_memory_per_agent = 1024;// envelopes cached in memory per agent
  // [ledger]
  int64_t checkpoint_interval_ms = 0;    // 0: after every batch
  uint64_t max_batch_entries = 16384;
  uint32_t cache_mib = 64;      // RocksDB block cache of the ledger database
  uint32_t memtable_mib = 64;   // RocksDB memtables of the ledger database, all families
  // [evidence] chunk streams (docs/PROTOCOL.md 13.10)
  int64_t evidence_retention_hours = 72;  // frames kept after the recipient completed; 0 = purge at once
  uint32_t evidence_window_chunks = 8;    // chunks sent to a recipient beyond its durable mark
  // [directory], [metrics], [log]
  DirectoryConfig directory;
  MetricsConfig metrics;
  LogConfig log;
  bool operator==(const BrokerConfig&) const = default;
};

struct AgentConfig {
  std::string config_path;
  // [agent]
  std::string node_id;
  std::string keys;
  // A directory holding this node's earlier key directories (one per
  // rotation, any names): mail sealed to an earlier encryption key, and
  // messages stored before a rotation, are opened with them. "" = none.
  std::string previous_keys;
  std::string passphrase_env;
  std::string broker = "tcp://127.0.0.1:7700";
  std::string data;                 // case store, outbox, audit state
  uint64_t max_envelope_bytes = 16u << 20;
  int64_t max_clock_skew_ms = 5 * 60 * 1000;
  double clock_rate = 1.0;
  int64_t clock_origin_ms = 0;  // as for the broker
  // [reconnect] the agent's own backoff (on top of libzmq's)
  int64_t reconnect_initial_ms = 100;
  int64_t reconnect_max_ms = 30000;
  // Silence from the broker (ms): a Ping after half of it, a new connection
  // after all of it (a hung broker process whose host still holds the TCP
  // connection is not seen by TCP).
  int64_t broker_silence_ms = 30000;
  // [api] the local API (HTTP/JSON, loopback only, bearer token)
  std::string api_listen = "127.0.0.1:7800";  // port 0 picks one (written to <data>/api.port)
  std::string api_token_file;                // created (0600) with a random token if missing;
                                             // default "<data>/api.token"
  // [evidence] transport evidence timeouts (e-CODEX style): a warning, then
  // a failure; a later receipt overrides a declared failure.
  int64_t accept_warning_ms = 60 * 1000;             // no SubmitResult yet
  int64_t accept_failure_ms = 15 * 60 * 1000;
  // Defaults follow e-CODEX's relay 12 h, delivery 24 h, retrieval 36 h.
  int64_t delivery_warning_ms = 12 * 60 * 60 * 1000;  // accepted, not handed to the recipient's agent
  int64_t delivery_failure_ms = 24 * 60 * 60 * 1000;
  int64_t receipt_warning_ms = 24 * 60 * 60 * 1000;   // accepted, no signed receipt
  int64_t receipt_failure_ms = 36 * 60 * 60 * 1000;
  // [audit]
  int64_t audit_interval_ms = 10000;  // how often to ask for newer checkpoints / proofs
  // [cases] the network's deadline policy file (workflow/README.md "Policy
  // file"), read over the embedded default; "" = the embedded default.
  std::string cases_policy;
  // [directory], [metrics], [log]
  DirectoryConfig directory;
  MetricsConfig metrics;
  LogConfig log;
  bool operator==(const AgentConfig&) const = default;
};

Result<BrokerConfig> LoadBrokerConfig(const std::string& path);
Result<AgentConfig> LoadAgentConfig(const std::string& path);

// TOML text of a configuration (every key, with a comment), as
// `mlahub network init` writes it. Paths are written as given.
std::string BrokerConfigToToml(const BrokerConfig& c);
std::string AgentConfigToToml(const AgentConfig& c);

}  // namespace mlahub::config
