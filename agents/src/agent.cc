// mlahub-agent core: start-up, the network thread and the protocol handlers.
// The LocalApi methods are in agent_api.cc.
#include "mlahub/agents/agent.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "evidence_stream.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/init.h"
#include "mlahub/crypto/random.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/envelope/receipt.h"
#include "mlahub/evidence/store.h"
#include "mlahub/ops/log.h"
#include "mlahub/schemas/ledger_generated.h"
#include "internal.h"

namespace mlahub::agents {

using nlohmann::json;
namespace tp = transport;

namespace {

constexpr int64_t kEvidenceTickMs = 1000;
constexpr int64_t kResendMs = 10000;         // an unanswered Submit is sent again
constexpr int64_t kReceiptResendMs = 5000;   // an unanswered SubmitReceipt is sent again
constexpr size_t kMaxSubmitsInflight = 512;  // below the DEALER's send HWM (1000)
constexpr size_t kMaxStatusPerTick = 64;
constexpr int64_t kMaxStatusBackoffMs = 60LL * 60 * 1000;


Result<crypto::SignPublicKey> ParseRootKey(const std::string& spec) {
  if (spec.empty())
    return Status::InvalidArgument(
        "[directory] root_key is not set: give the operator's identity (identity.json or key directory) or "
        "\"ed25519:<base64 public key>\"");
  constexpr std::string_view kPrefix = "ed25519:";
  if (spec.rfind(kPrefix, 0) == 0) {
    auto raw = crypto::FromBase64(std::string_view(spec).substr(kPrefix.size()));
    if (!raw.ok()) return Status::InvalidArgument("[directory] root_key: " + raw.status().message());
    auto pk = crypto::SignPublicKeyFromBytes(*raw);
    if (!pk.ok()) return Status::InvalidArgument("[directory] root_key: " + pk.status().message());
    return *pk;
  }
  auto id = identity::LoadIdentity(spec);
  if (!id.ok()) return id.status().Annotate("[directory] root_key " + spec);
  return id->sign_key;
}

const directory::Entry* HubEntry(const directory::Directory& d) {
  for (const auto& [id, e] : d.entries())
    if (e.identity.role == identity::Role::kHub && !e.revoked) return &e;
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------
// Token and endpoint files.

Result<std::string> LoadOrCreateToken(const std::string& path) {
  if (FileExists(path)) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return Status::IoError("cannot stat " + path);
    if ((st.st_mode & 077) != 0)
      return Status::PermissionDenied(path + " is readable by group or others; chmod 600 it");
    MLAHUB_ASSIGN_OR_RETURN(Bytes b, ReadFile(path, 4096));
    std::string t(b.begin(), b.end());
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    if (t.size() < 16) return Status::InvalidArgument("API token in " + path + " is shorter than 16 characters");
    return t;
  }
  std::string t = crypto::ToHex(crypto::RandomBytes(32));
  std::string text = t + "\n";
  MLAHUB_RETURN_IF_ERROR(WriteFileAtomic(path, AsBytes(text), 0600));
  return t;
}

Result<ApiEndpoint> ApiEndpointFor(const config::AgentConfig& c) {
  ApiEndpoint ep;
  ep.token_file = c.api_token_file.empty() ? c.data + "/api.token" : c.api_token_file;
  std::string listen = c.api_listen;
  std::string ready = c.data + "/ready.json";
  if (FileExists(ready)) {
    auto b = ReadFile(ready, 1 << 16);
    if (b.ok()) {
      json j = json::parse(b->begin(), b->end(), nullptr, false);
      if (j.is_object() && j.contains("api") && j["api"].is_string()) {
        std::string api = j["api"].get<std::string>();
        constexpr std::string_view kHttp = "http://";
        if (api.rfind(kHttp, 0) == 0) listen = api.substr(kHttp.size());
      }
    }
  }
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("api_listen \"" + listen + "\" is not host:port");
  ep.host = listen.substr(0, colon);
  if (ep.host.size() > 2 && ep.host.front() == '[' && ep.host.back() == ']') ep.host = ep.host.substr(1, ep.host.size() - 2);
  std::string port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return Status::InvalidArgument("api_listen \"" + listen + "\" has no valid port");
  unsigned long p = std::stoul(port);
  if (p == 0 || p > 65535) {
    return Status::Unavailable("the agent's API port is chosen at start (api_listen port 0) and " + ready +
                               " does not exist: is the agent running?");
  }
  ep.port = static_cast<uint16_t>(p);
  return ep;
}

// ---------------------------------------------------------------------------
// Start-up.

Agent::Agent(config::AgentConfig config, AgentOptions options)
    : config_(std::move(config)), options_(std::move(options)), timeouts_(EvidenceTimeouts::FromConfig(config_)) {}

Agent::~Agent() { Stop(); }

Result<std::unique_ptr<Agent>> Agent::Create(config::AgentConfig config, AgentOptions options) {
  std::unique_ptr<Agent> a(new Agent(std::move(config), std::move(options)));
  MLAHUB_RETURN_IF_ERROR(a->Init());
  return a;
}

std::shared_ptr<const directory::Directory> Agent::Dir() const {
  std::lock_guard<std::mutex> lock(dir_mu_);
  return dir_;
}

Status Agent::Init() {
  MLAHUB_RETURN_IF_ERROR(crypto::EnsureInit());
  const config::AgentConfig& c = config_;
  auto node = NodeId::Parse(c.node_id);
  if (!node.ok()) return Status::InvalidArgument("[agent] node_id: " + node.status().message());
  if (c.keys.empty()) return Status::InvalidArgument("[agent] keys is not set (the node's key directory)");
  if (c.data.empty()) return Status::InvalidArgument("[agent] data is not set (the agent's data directory)");
  if (c.reconnect_initial_ms < 1 || c.reconnect_max_ms < c.reconnect_initial_ms)
    return Status::InvalidArgument("[reconnect] needs 0 < reconnect_initial_ms <= reconnect_max_ms");
  if (c.clock_rate <= 0) return Status::InvalidArgument("[agent] clock_rate must be > 0");

  // Deadline policy (cases.h): the network's file over the embedded default.
  // A bad file stops the start here, before anything is opened or bound.
  auto policy = LoadCasesPolicy(c.cases_policy);
  if (!policy.ok()) return policy.status().Annotate("[cases] policy");
  ops::Info("cases.policy", {{"source", c.cases_policy.empty() ? "embedded_default" : "file"},
                             {"path", c.cases_policy}, {"sha256", policy->sha256}});

  // Clock.
  if (options_.clock != nullptr) {
    clock_ = options_.clock;
  } else if (c.clock_rate == 1.0) {
    clock_ = &SystemClock::Instance();
  } else {
    // Simulated now = origin + (real now - origin) * rate, with origin the
    // config's clock_origin_ms (0: now), so a restarted agent resumes the
    // simulated time it shares with the broker and the other agents.
    const UnixMillis real_now = SystemClock::Instance().NowMillis();
    const UnixMillis origin = c.clock_origin_ms > 0 ? c.clock_origin_ms : real_now;
    owned_clock_ = std::make_unique<ScaledClock>(
        origin + static_cast<UnixMillis>(static_cast<double>(real_now - origin) * c.clock_rate), c.clock_rate);
    clock_ = owned_clock_.get();
  }
  crash_point_ = options_.crash_point;
  if (crash_point_.empty()) {
    if (const char* v = std::getenv(std::string(kCrashPointEnv).c_str()); v != nullptr) crash_point_ = v;
  }
  if (!crash_point_.empty() && crash_point_ != "after_store")
    return Status::InvalidArgument(std::string(kCrashPointEnv) + " must be \"after_store\" (test-only hook)");

  // Keys.
  std::string pass;
  if (!c.passphrase_env.empty()) {
    if (const char* v = std::getenv(c.passphrase_env.c_str()); v != nullptr) pass = v;
  }
  auto prot = identity::KeyDirIsProtected(c.keys);
  if (!prot.ok()) return prot.status().Annotate("[agent] keys " + c.keys);
  if (*prot && pass.empty()) {
    return Status::BadPassphrase("the key in " + c.keys + " is passphrase-protected: set " +
                                 (c.passphrase_env.empty() ? std::string("[agent] passphrase_env")
                                                           : "the environment variable " + c.passphrase_env));
  }
  auto keys = identity::LoadKeyDir(c.keys, pass);
  if (!keys.ok()) return keys.status().Annotate("[agent] keys " + c.keys);
  keys_ = std::move(*keys);
  if (keys_.id.str() != c.node_id)
    return Status::InvalidArgument("[agent] keys " + c.keys + " belong to " + keys_.id.str() + ", not node_id " +
                                   c.node_id);
  MLAHUB_RETURN_IF_ERROR(LoadPreviousKeys(pass));
  MLAHUB_ASSIGN_OR_RETURN(root_key_, ParseRootKey(c.directory.root_key));

  // Case store.
  MLAHUB_RETURN_IF_ERROR(MakeDirs(c.data, 0700).Annotate("[agent] data " + c.data));
  auto store = CaseStore::Open(c.data + "/store", c.node_id);
  if (!store.ok()) return store.status().Annotate("case store " + c.data + "/store");
  store_ = std::move(*store);

  // Directory: the newest verified of the stored one and the configured file.
  std::optional<directory::Directory> stored, from_file;
  Bytes stored_bytes, file_bytes;
  MLAHUB_ASSIGN_OR_RETURN(std::optional<Bytes> sb, store_->LoadDirectory());
  if (sb) {
    auto d = directory::Directory::Verify(*sb, root_key_);
    if (!d.ok()) {
      return d.status().Annotate("the directory kept in " + c.data +
                                 "/store does not verify with [directory] root_key (was the root key changed?)");
    }
    stored = std::move(*d);
    stored_bytes = std::move(*sb);
  }
  if (!c.directory.file.empty() && FileExists(c.directory.file)) {
    auto fb = ReadFile(c.directory.file, 64u << 20);
    if (!fb.ok()) return fb.status().Annotate("[directory] file " + c.directory.file);
    auto d = directory::Directory::Verify(*fb, root_key_);
    if (!d.ok()) return d.status().Annotate("[directory] file " + c.directory.file + " with [directory] root_key");
    from_file = std::move(*d);
    file_bytes = std::move(*fb);
  } else if (!stored) {
    return Status::NotFound("no directory: [directory] file \"" + c.directory.file +
                            "\" does not exist and none was received before");
  }
  if (from_file && (!stored || (from_file->network() == stored->network() && from_file->version() > stored->version()))) {
    StoreBatch b;
    CaseStore::PutDirectory(b, file_bytes);
    MLAHUB_RETURN_IF_ERROR(store_->Write(b));
    dir_ = std::make_shared<const directory::Directory>(std::move(*from_file));
  } else {
    dir_ = std::make_shared<const directory::Directory>(std::move(*stored));
  }
  const directory::Entry* me = dir_->Find(c.node_id);
  if (me == nullptr)
    return Status::UnknownSender(c.node_id + " is not in directory version " + std::to_string(dir_->version()));
  if (me->identity.sign_key != keys_.sign.public_key() || me->identity.enc_key != keys_.enc.public_key() ||
      me->identity.curve_key != keys_.curve.public_key()) {
    ops::Warn("agent.keys_differ_from_directory",
              {{"node_id", c.node_id}, {"directory_version", dir_->version()},
               {"hint", "the keys in the key directory are not the ones the directory lists; "
                        "the broker will refuse this node until a directory with them is published"}});
  }
  if (HubEntry(*dir_) == nullptr)
    return Status::InvalidArgument("directory version " + std::to_string(dir_->version()) +
                                   " has no Hub entry (needed for the broker's CURVE key)");

  // API token.
  std::string token_file = c.api_token_file.empty() ? c.data + "/api.token" : c.api_token_file;
  auto tok = LoadOrCreateToken(token_file);
  if (!tok.ok()) return tok.status().Annotate("[api] token_file");
  token_ = std::move(*tok);

  // State.
  InboxOptions io;
  io.max_envelope_bytes = config_.max_envelope_bytes;
  io.max_clock_skew_ms = config_.max_clock_skew_ms;
  if (crash_point_ == "after_store") {
    io.after_store = [] {
      // Test-only hook (MLAHUB_AGENT_CRASH_POINT=after_store): die between
      // the durable store and the receipt.
      ops::FlushLogs();
      ::raise(SIGKILL);
    };
  }
  cases_ = std::make_unique<Cases>(*store_, config_.node_id, std::move(*policy));  // cases.h
  auto victims = VictimVault::Open(config_.data + "/victims.key");  // victims' data at rest (victims.h)
  if (!victims.ok()) return victims.status().Annotate("victims' at-rest key");
  cases_->SetVictims(std::move(*victims));
  io.cases = cases_.get();
  io.opening_keys = opening_keys_;
  inbox_ = std::make_unique<Inbox>(*store_, keys_, [this] { return Dir(); }, *clock_, *this, &metrics_, io);
  MLAHUB_RETURN_IF_ERROR(inbox_->Load());
  outbox_ = std::make_unique<Outbox>(*store_, *clock_, &metrics_, config_.max_envelope_bytes);
  MLAHUB_RETURN_IF_ERROR(outbox_->Load());
  UnixMillis now = clock_->NowMillis();
  MLAHUB_ASSIGN_OR_RETURN(std::vector<std::string> open, store_->OpenOutgoing());
  for (const std::string& id : open) {
    MLAHUB_ASSIGN_OR_RETURN(std::optional<OutgoingRecord> rec, store_->GetOutgoing(id));
    if (!rec) return Status::Corruption("case store: open message " + id + " has no record");
    open_[id] = OpenMessage{now, config_.audit_interval_ms, 0};
    NoteOutgoing(*rec);
  }
  // Case steps of refused messages not yet released (a crash between the
  // refusal's write and the case's).
  MLAHUB_ASSIGN_OR_RETURN(std::vector<std::string> refused, store_->RefusedToRelease());
  for (const std::string& id : refused) {
    MLAHUB_ASSIGN_OR_RETURN(std::optional<OutgoingRecord> rec, store_->GetOutgoing(id));
    if (rec && rec->state == OutState::kRejected) {
      ReleaseRefusedStep(*rec);
    } else {
      StoreBatch b;
      CaseStore::ClearRefusedToRelease(b, id);
      MLAHUB_RETURN_IF_ERROR(store_->Write(b));
    }
  }
  MLAHUB_ASSIGN_OR_RETURN(last_alarm_id_, store_->LastAlarmId());
  alarms_count_ = last_alarm_id_;

  // Audit.
  AuditorOptions ao;
  ao.retry_ms = std::max<int64_t>(kResendMs, 3 * config_.audit_interval_ms);
  auditor_ = std::make_unique<Auditor>(
      *store_, *this, *clock_, [this] { return NextCorrelation(); },
      [this](const AuditJob& job, uint64_t size, StoreBatch& b) { OnIncluded(job, size, b); }, &metrics_, ao);
  MLAHUB_RETURN_IF_ERROR(auditor_->Load());
  const directory::Entry* hub = HubEntry(*dir_);
  auditor_->SetHubKey(hub->identity.sign_key);

  // Evidence streams.
  MLAHUB_RETURN_IF_ERROR(InitEvidence());

  // Metrics that should show from the start.
  metrics_.gauge("mlahub_agent_outbox_depth", "Outgoing envelopes without a SubmitResult")
      .Set(double(outbox_->depth()));
  metrics_.gauge("mlahub_agent_connected", "1 while connected to the broker").Set(0);
  metrics_.gauge("mlahub_agent_directory_version", "Version of the directory in force").Set(double(dir_->version()));
  metrics_.counter("mlahub_agent_submitted_total", "Envelopes put in the outbox");
  metrics_.counter("mlahub_agent_accepted_total", "Envelopes the hub accepted (durable)");
  metrics_.counter("mlahub_agent_received_total", "Envelopes received, opened and stored");
  metrics_.counter("mlahub_agent_receipts_sent_total", "Signed receipts sent (including resends)");
  metrics_.counter("mlahub_agent_duplicates_total", "Deliveries of already stored messages (eliminated)");
  metrics_.histogram("mlahub_agent_roundtrip_seconds", "Submit to SubmitResult, first send", ops::LatencyBuckets());
  return Status::Ok();
}

Status Agent::Start() {
  if (started_) return Status::Ok();
  if (wake_.fd() < 0)
    ops::Warn("agent.no_eventfd", {{"effect", "API submissions wait for the network thread's next poll (up to 10 ms)"}});
  // API.
  auto listen = ops::ParseLoopbackListen(config_.api_listen);
  if (!listen.ok()) return listen.status().Annotate("[api] api_listen");
  ApiServer::Options ao;
  ao.host = listen->first;
  ao.port = listen->second;
  ao.token = token_;
  ao.max_body_bytes = config_.max_envelope_bytes + (64u << 10);
  auto api = ApiServer::Start(*this, ao);
  if (!api.ok()) return api.status().Annotate("[api] api_listen " + config_.api_listen);
  api_ = std::move(*api);
  if (listen->second == 0) {
    std::string port = std::to_string(api_->port()) + "\n";
    MLAHUB_RETURN_IF_ERROR(WriteFileAtomic(config_.data + "/api.port", AsBytes(port), 0644));
  }
  // Metrics.
  if (!config_.metrics.listen.empty()) {
    auto ms = ops::MetricsServer::Start(metrics_, config_.metrics.listen);
    if (!ms.ok()) return ms.status().Annotate("[metrics] listen");
    metrics_server_ = std::move(*ms);
  }
  // Transport.
  auto ctx = tp::Context::Create(1);
  if (!ctx.ok()) return ctx.status();
  ctx_ = std::move(*ctx);
  MLAHUB_RETURN_IF_ERROR(Connect());
  started_ = true;
  net_thread_ = std::thread([this] { NetLoop(); });
  // The log line first: whoever sees ready.json finds "agent.ready" in the log.
  ops::Info("agent.ready", {{"node_id", config_.node_id}, {"api_port", uint64_t{api_->port()}},
                            {"broker", config_.broker}, {"directory_version", Dir()->version()},
                            {"outbox", uint64_t{outbox_->depth()}},
                            {"last_delivery_seq", inbox_->last_delivery_seq()}});
  WriteReady();
  return Status::Ok();
}

// [agent] previous_keys: every key directory in it (each a node.key of this
// node from before a rotation), with the same passphrase as the current key.
// One that cannot be read stops the start: mail sealed to it would be refused.
Status Agent::LoadPreviousKeys(const std::string& passphrase) {
  previous_keys_.clear();
  opening_keys_ = {&keys_};
  const std::string& dir = config_.previous_keys;
  if (dir.empty()) return Status::Ok();
  std::error_code ec;
  std::vector<std::string> subdirs;
  std::filesystem::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_directory(type_ec)) subdirs.push_back(it->path().string());
  }
  if (ec) return Status::IoError("[agent] previous_keys " + dir + ": " + ec.message());
  std::sort(subdirs.begin(), subdirs.end());
  const identity::PublicIdentity current = keys_.Public();
  for (const std::string& d : subdirs) {
    auto k = identity::LoadKeyDir(d, passphrase);
    if (!k.ok()) {
      return k.status().Annotate("[agent] previous_keys: " + d +
                                 " (each directory in previous_keys must hold an earlier node.key of " +
                                 config_.node_id + ", protected like the current one)");
    }
    if (k->id.str() != config_.node_id)
      return Status::InvalidArgument("[agent] previous_keys: " + d + " holds the keys of " + k->id.str() + ", not of " +
                                     config_.node_id);
    const identity::PublicIdentity p = k->Public();
    if (p.sign_key == current.sign_key && p.enc_key == current.enc_key && p.curve_key == current.curve_key)
      continue;  // the current keys, copied there too
    previous_keys_.push_back(std::move(*k));
  }
  for (const identity::NodeKeys& k : previous_keys_) opening_keys_.push_back(&k);
  ops::Info("agent.previous_keys", {{"dir", dir}, {"count", uint64_t{previous_keys_.size()}}});
  return Status::Ok();
}

void Agent::WriteReady() {
  json j;
  j["pid"] = static_cast<int64_t>(::getpid());
  j["node_id"] = config_.node_id;
  j["api"] = "http://127.0.0.1:" + std::to_string(api_->port());
  j["metrics"] = metrics_server_ ? "127.0.0.1:" + std::to_string(metrics_server_->port()) : std::string();
  std::string text = j.dump() + "\n";
  Status st = WriteFileAtomic(config_.data + "/ready.json", AsBytes(text), 0644);
  if (!st.ok()) ops::Error("agent.ready_file_failed", {{"error", st.ToString()}});
}

void Agent::Stop() {
  if (!started_ && store_ == nullptr) return;
  stop_ = true;
  if (api_) api_->Stop();
  if (net_thread_.joinable()) net_thread_.join();
  client_.reset();
  ctx_.reset();
  metrics_server_.reset();
  if (started_) {
    ::unlink((config_.data + "/ready.json").c_str());
    ops::Info("agent.stopped", {{"node_id", config_.node_id}});
  }
  api_.reset();
  if (store_) {
    Status st = store_->Close();
    if (!st.ok()) ops::Error("agent.store_close_failed", {{"error", st.ToString()}});
  }
  started_ = false;
}

uint16_t Agent::api_port() const { return api_ ? api_->port() : 0; }

// ---------------------------------------------------------------------------
// Alarms.

void Agent::RaiseAlarm(std::string kind, std::string message, json details) {
  Alarm a;
  {
    std::lock_guard<std::mutex> lock(alarm_mu_);
    a.id = ++last_alarm_id_;
    a.at_ms = clock_->NowMillis();
    a.kind = std::move(kind);
    a.message = std::move(message);
    a.details = std::move(details);
    StoreBatch b;
    CaseStore::PutAlarm(b, a);
    Status st = store_->Write(b);
    if (!st.ok()) ops::Error("agent.store_failed", {{"what", "alarm"}, {"error", st.ToString()}});
    ++alarms_count_;
  }
  metrics_.counter("mlahub_agent_alarms_total", "Alarms raised, by kind", {{"kind", a.kind}}).Inc();
  ops::Error("audit.alarm", {{"alarm_id", a.id}, {"kind", a.kind}, {"message", a.message}});
}

// ---------------------------------------------------------------------------
// Network thread.

Status Agent::Connect() {
  auto dir = Dir();
  const directory::Entry* hub = HubEntry(*dir);
  if (hub == nullptr) return Status::InvalidArgument("the directory has no Hub entry");
  tp::ClientOptions o;
  o.endpoint = config_.broker;
  o.server_key = hub->identity.curve_key;
  o.reconnect_ivl_ms = static_cast<int>(std::clamp<int64_t>(config_.reconnect_initial_ms, 1, 1 << 30));
  o.reconnect_ivl_max_ms = static_cast<int>(std::clamp<int64_t>(config_.reconnect_max_ms, o.reconnect_ivl_ms, 1 << 30));
  o.max_frame_size = static_cast<int64_t>(config_.max_envelope_bytes) + (64 << 10);
  // The new socket first: if it cannot be made (out of file descriptors,
  // say), the old one stays and the network loop keeps a client to poll.
  auto c = tp::Client::Connect(ctx_, keys_.curve, o);
  if (!c.ok()) return c.status().Annotate("[agent] broker " + config_.broker);
  client_ = std::move(*c);
  reconnect_due_ = false;
  client_->set_wake_fd(wake_.fd());
  seen_handshakes_ = 0;
  seen_disconnects_ = 0;
  return Status::Ok();
}

namespace {
int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void Agent::MarkBusy() { busy_until_ns_.store(SteadyNowNs() + 1'000'000'000); }

void Agent::NetLoop() {
  while (!stop_.load()) {
    PollConnection();
    // An API submission signals wake_, which ends this wait at once; other
    // work is looked at every 1 ms while there is traffic, 10 ms when idle.
    bool busy = SteadyNowNs() < busy_until_ns_.load();
    auto in = client_->Receive(std::chrono::milliseconds(busy ? 1 : 10));
    // Up to 256 messages a turn. Nothing is read past the budget: a message
    // read is a message handled.
    bool drained = false;
    for (int handled = 0;;) {
      if (!in.ok()) {
        ops::Warn("agent.receive_failed", {{"error", in.status().ToString()}});
        break;
      }
      if (!in->has_value()) {
        drained = true;
        break;
      }
      if (handled == 0) MarkBusy();
      Guarded("handle", [&] { Handle(**in); });
      if (++handled == 256) break;
      in = client_->Receive(std::chrono::milliseconds(0));
    }
    // Judged only with the socket read empty: what the broker sent is not
    // silence, even when this loop was slow to read it.
    if (drained) CheckBrokerSilence();
    Guarded("deliveries", [&] { FlushDeliveries(); });
    // Clear, then take, with no wait in between: a submission added after
    // the clear signals again and ends the next wait.
    wake_.Clear();
    TakeNewOutbox();
    if (connected_) PumpSubmits();
    Timers();
    // Bulk last: evidence chunks only after envelopes, receipts and control
    // commands (no head-of-line blocking of an urgent request).
    if (connected_) {
      shipper_->Tick(std::chrono::steady_clock::now());
      shipper_->Pump();
    }
  }
  if (connected_) OnDisconnected("stopping");
}

void Agent::PollConnection() {
  tp::ConnectionState st = client_->state();
  tp::ClientStats s = client_->stats();
  UnixMillis now = clock_->NowMillis();
  if (s.disconnects != seen_disconnects_) {
    seen_disconnects_ = s.disconnects;
    if (connected_) OnDisconnected("connection lost");
  }
  if (st == tp::ConnectionState::kReady && s.handshakes_succeeded != seen_handshakes_) {
    seen_handshakes_ = s.handshakes_succeeded;
    if (connected_) OnDisconnected("reconnected");
    OnConnected();
  }
  if (st == tp::ConnectionState::kRefused) {
    if (connected_) OnDisconnected("refused");
    if (conn_state_.load() != 2) {
      conn_state_ = 2;
      backoff_ms_ = backoff_ms_ == 0 ? config_.reconnect_initial_ms : std::min(backoff_ms_ * 2, config_.reconnect_max_ms);
      next_reconnect_ms_ = now + backoff_ms_;
      ops::Warn("agent.refused", {{"node_id", config_.node_id}, {"zap_status", s.last_auth_status},
                                  {"retry_in_ms", backoff_ms_},
                                  {"hint", "the broker's ZAP handler refused this node's CURVE key (not in its "
                                           "directory, revoked or rotated out)"}});
    } else if (now >= next_reconnect_ms_) {
      Status r = client_->Reconnect();
      if (!r.ok()) ops::Warn("agent.reconnect_failed", {{"error", r.ToString()}});
      conn_state_ = 0;
    }
  }
}

void Agent::CheckBrokerSilence() {
  if (!connected_) {
    silence_ping_ms_ = 0;
    return;
  }
  const int64_t now = SteadyNowNs() / 1'000'000;
  // Each reconnection for silence doubles the bound (up to 8x) until the
  // broker is heard again: a broker that is only slow (a long fsync stall)
  // is not flooded with Hellos and resends every broker_silence_ms.
  const int64_t bound = config_.broker_silence_ms << std::min(silence_strikes_, 3);
  const int64_t silent = now - last_from_broker_ms_.load();
  if (silence_ping_ms_ == 0) {
    if (silent >= bound / 2 && Send(tp::Ping{++silence_ping_nonce_, clock_->NowMillis()})) silence_ping_ms_ = now;
    return;
  }
  // A Ping is out: reconnect once it has gone unanswered for half the bound
  // and nothing at all came for the whole of it.
  if (silent < bound || now - silence_ping_ms_ < bound / 2) return;
  OnDisconnected("broker silent");
  silence_ping_ms_ = 0;
  ++silence_strikes_;
  metrics_.counter("mlahub_agent_broker_silent_total", "Reconnections because the broker fell silent").Inc();
  ops::Warn("agent.broker_silent",
            {{"node_id", config_.node_id}, {"silent_ms", silent}, {"action", "reconnecting"},
             {"next_bound_ms", config_.broker_silence_ms << std::min(silence_strikes_, 3)},
             {"hint", "the broker's host holds the connection but its process does not answer (hung, stopped "
                      "or overloaded)"}});
  if (Status r = client_->Reconnect(); !r.ok()) ops::Warn("agent.reconnect_failed", {{"error", r.ToString()}});
}

void Agent::OnConnected() {
  connected_ = true;
  last_from_broker_ms_ = SteadyNowNs() / 1'000'000;
  silence_ping_ms_ = 0;
  conn_state_ = 1;
  backoff_ms_ = 0;
  connected_since_ms_ = clock_->NowMillis();
  metrics_.gauge("mlahub_agent_connected", "1 while connected to the broker").Set(1);
  metrics_.counter("mlahub_agent_connections_total", "CURVE handshakes completed with the broker").Inc();
  ops::Info("agent.connected", {{"node_id", config_.node_id}, {"broker", config_.broker},
                                {"outbox", uint64_t{outbox_->depth()}},
                                {"pending_receipts", uint64_t{inbox_->pending_count()}}});
  SendHello();
  // Receipts whose ReceiptResult never came, and the outbox, again.
  inbox_->OnDisconnect();
  for (uint64_t seq : inbox_->DueReceipts(kReceiptResendMs)) SendReceipt(seq);
  outbox_->OnDisconnect();
  PumpSubmits();
  // Ask for the evidence of every open message soon.
  UnixMillis now = clock_->NowMillis();
  for (auto& [id, o] : open_) {
    o.next_status_ms = now;
    o.status_backoff_ms = config_.audit_interval_ms;
  }
  SendAll(auditor_->Tick());
  // Evidence: where is the broker for each unfinished outgoing transfer?
  shipper_->OnConnected();
}

void Agent::OnDisconnected(const char* why) {
  connected_ = false;
  if (conn_state_.load() == 1) conn_state_ = 0;
  metrics_.gauge("mlahub_agent_connected", "1 while connected to the broker").Set(0);
  auditor_->OnDisconnect();
  inbox_->OnDisconnect();
  outbox_->OnDisconnect();
  status_corr_.clear();
  ops::Info("agent.disconnected", {{"node_id", config_.node_id}, {"reason", why}});
}

bool Agent::Send(const tp::Command& c) {
  if (!connected_) return false;
  auto frames = tp::EncodeCommand(c);
  if (!frames.ok()) {
    ops::Error("agent.encode_failed", {{"command", tp::CommandName(c)}, {"error", frames.status().ToString()}});
    return false;
  }
  Status st = client_->Send(*frames);
  if (!st.ok()) {
    ops::Debug("agent.send_failed", {{"command", tp::CommandName(c)}, {"error", st.ToString()}});
    return false;
  }
  return true;
}

void Agent::SendAll(const std::vector<tp::ProofRequest>& reqs) {
  for (const auto& r : reqs)
    if (!Send(r)) auditor_->Unsent(r.correlation);  // asked again at the next audit tick
}

void Agent::SendHello() {
  tp::Hello h;
  h.node_id = config_.node_id;
  h.directory_version = Dir()->version();
  h.checkpoint_size = auditor_->held_size();
  h.last_delivery_seq = inbox_->last_delivery_seq();
  last_hello_ms_ = clock_->NowMillis();
  Send(h);
}

void Agent::SendReceipt(uint64_t seq) {
  if (!connected_) return;
  auto r = inbox_->ReceiptFor(seq, NextCorrelation());
  // A failed send (no connection, a full queue) leaves it due: the next
  // resend pass (every second) tries again.
  if (r && Send(*r)) inbox_->Sent(seq, r->correlation);
}

void Agent::Handle(const tp::Frames& frames) {
  last_from_broker_ms_ = SteadyNowNs() / 1'000'000;  // anything at all: the broker is alive
  silence_ping_ms_ = 0;
  silence_strikes_ = 0;
  tp::DecodeLimits limits;
  limits.max_attachment_size = config_.max_envelope_bytes + (64u << 10);
  auto cmd = tp::DecodeCommand(frames, limits);
  if (cmd.ok()) {
    metrics_
        .counter("mlahub_agent_commands_received_total", "Commands received from the broker, by command",
                 {{"command", std::string(tp::CommandName(*cmd))}})
        .Inc();
  }
  if (cmd.ok() && std::holds_alternative<tp::Deliver>(*cmd)) {
    // Collected and stored together (FlushDeliveries) at the end of the
    // burst, or before the next command of another kind, to keep the order,
    // or once the burst holds 64 MiB of envelopes (memory stays bounded by
    // bytes, not only by the loop's 256 messages of up to 16 MiB each).
    deliveries_.push_back(std::move(std::get<tp::Deliver>(*cmd)));
    size_t bytes = 0;
    for (const tp::Deliver& d : deliveries_) bytes += d.envelope.size();
    if (bytes >= kMaxDeliveryBurstBytes) FlushDeliveries();
    return;
  }
  FlushDeliveries();
  if (!cmd.ok()) {
    ops::Warn("agent.bad_command", {{"error", cmd.status().ToString()}});
    tp::ErrorReply e;
    e.code = cmd.status().code() == Code::kUnknownKind ? Code::kUnknownKind : Code::kMalformed;
    e.message = cmd.status().message();
    Send(e);
    return;
  }
  std::visit(
      [this](auto&& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, tp::SubmitResult>) {
          OnSubmitResult(c);
        } else if constexpr (std::is_same_v<T, tp::ReceiptResult>) {
          OnReceiptResult(c);
        } else if constexpr (std::is_same_v<T, tp::DirectoryUpdate>) {
          OnDirectoryUpdate(c);
        } else if constexpr (std::is_same_v<T, tp::CheckpointUpdate>) {
          SendAll(auditor_->OnCheckpointUpdate(c));
        } else if constexpr (std::is_same_v<T, tp::ProofResponse>) {
          SendAll(auditor_->OnProofResponse(c));
        } else if constexpr (std::is_same_v<T, tp::Notice>) {
          OnNotice(c);
        } else if constexpr (std::is_same_v<T, tp::StatusResponse>) {
          OnStatusResponse(c);
        } else if constexpr (std::is_same_v<T, tp::ChunkAck>) {
          shipper_->OnAck(c);
          if (chunk_pause_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(chunk_pause_ms_));
        } else if constexpr (std::is_same_v<T, tp::ChunkDeliver>) {
          OnChunkDeliver(c);
        } else if constexpr (std::is_same_v<T, tp::Ping>) {
          Send(tp::Pong{c.nonce, c.sent_ms});
        } else if constexpr (std::is_same_v<T, tp::Pong>) {
          // Liveness only.
        } else if constexpr (std::is_same_v<T, tp::ErrorReply>) {
          ops::Warn("agent.broker_error", {{"code", CodeName(c.code)}, {"message", c.message},
                                           {"correlation", c.correlation}});
          // (A StatusRequest refused: rate limited, or this node revoked.)
          if (c.correlation != 0) status_corr_.erase(c.correlation);
        } else {
          // Agent -> broker commands have no business coming this way.
          tp::ErrorReply e;
          e.code = Code::kMalformed;
          e.message = std::string("unexpected command ") + std::string(tp::CommandName(tp::Command(c))) +
                      " from the broker";
          Send(e);
        }
      },
      *cmd);
}

// ---- outgoing ----

void Agent::TakeNewOutbox() {
  UnixMillis now = clock_->NowMillis();
  for (const auto& [seq, id] : outbox_->TakeNew())
    open_[id] = OpenMessage{now + config_.audit_interval_ms, config_.audit_interval_ms, now};
  open_atomic_ = open_.size();
}

void Agent::PumpSubmits() {
  uint64_t after = 0;
  for (;;) {
    auto next = outbox_->NextDue(kResendMs, kMaxSubmitsInflight, NextCorrelation(), after);
    if (!next) return;
    if (!Send(next->submit)) return;  // no connection or a full queue: later
    outbox_->Sent(next->local_seq, next->submit.correlation);
    after = next->local_seq;
  }
}

void Agent::NoteOutgoing(const OutgoingRecord& o) {
  if (IsFinal(o)) {
    open_.erase(o.message_id);
    if (o.state == OutState::kRejected) ReleaseRefusedStep(o);
  } else {
    auto next = NextTimeout(o, timeouts_);
    open_[o.message_id].next_timeout_ms = next ? *next : INT64_MAX;
  }
  open_atomic_ = open_.size();
}

void Agent::ReleaseRefusedStep(const OutgoingRecord& o) {
  // A request is its case: the case shows the request's refusal through its
  // transport state. An answer is a step of a case: marked refused, the
  // case's state is replayed without it, so the office may send the step
  // again (say, once the directory lets the partner accept the kind) instead
  // of "not allowed now" against a step the partner never received.
  std::lock_guard<std::mutex> lock(cases_->mu());
  StoreBatch b;
  CaseStore::ClearRefusedToRelease(b, o.message_id);
  auto write = [&](const char* what) {
    Status st = store_->Write(b);
    if (!st.ok()) ops::Error("agent.store_failed", {{"what", what}, {"message_id", o.message_id}, {"error", st.ToString()}});
    return st.ok();
  };
  auto case_id = cases_->CaseOf(o.message_id);
  if (!case_id.ok()) return;  // read error: the mark stays, the next start tries again
  if (!case_id->has_value() || **case_id == o.message_id) {
    write("refused message without a case step");
    return;
  }
  auto c = cases_->Get(**case_id);
  if (!c.ok()) return;
  if (!c->has_value()) {
    write("refused message without a case step");
    return;
  }
  CaseRecord& rec = **c;
  bool changed = false;
  for (CaseStepRecord& st : rec.steps) {
    if (st.message_id != o.message_id || st.direction != "out" || !st.refused_code.empty()) continue;
    st.refused_code = o.refusal_code.empty() ? std::string(CodeName(Code::kInternal)) : o.refusal_code;
    st.refused_reason = "not delivered: the hub refused the message (" + o.refusal_message + ")";
    changed = true;
  }
  // Only if the steps after it still apply without it (a later step that
  // needed it was refused by the hub too, or went out anyway: then the case
  // keeps its record as it is, and the timeline shows the refusal).
  if (changed) {
    if (auto replay = Replay(rec); !replay.ok()) {
      ops::Warn("case.refused_step_kept",
                {{"case_id", rec.id}, {"message_id", o.message_id}, {"why", replay.status().ToString()}});
      changed = false;
    }
  }
  if (changed) Cases::Put(b, rec, o.message_id);
  if (!write("case step refused by the hub") || !changed) return;
  ops::Info("case.step_refused_by_hub", {{"case_id", rec.id}, {"message_id", o.message_id}, {"code", o.refusal_code}});
}

void Agent::OnSubmitResult(const tp::SubmitResult& r) {
  auto a = outbox_->OnSubmitResult(r);
  if (!a) return;
  metrics_.gauge("mlahub_agent_outbox_depth", "Outgoing envelopes without a SubmitResult")
      .Set(double(outbox_->depth()));
  NoteOutgoing(a->record);
  if (auto om = open_.find(a->record.message_id); om != open_.end()) {
    om->second.next_status_ms = clock_->NowMillis() + config_.audit_interval_ms;
    om->second.status_backoff_ms = config_.audit_interval_ms;
  }
  if (a->job) SendAll(auditor_->Track(*a->job));
  // The hub holds the envelope carrying the manifest durably: its transfers
  // may go now.
  if (r.accepted) ShipAccepted(a->record.message_id);
}

// ---- incoming ----

void Agent::Guarded(const char* what, const std::function<void()>& step) {
  // A bug or an unforeseen input must not kill the network thread (and, on a
  // message the hub redelivers, again after every restart): the step is
  // abandoned, logged and alarmed; staged store writes were not committed.
  try {
    step();
  } catch (const std::exception& e) {
    ops::Error("agent.internal_error", {{"step", what}, {"error", e.what()}});
    deliveries_.clear();  // (FlushDeliveries took them already) the hub delivers them again
    if (!internal_error_alarmed_.insert(what).second) return;
    try {
      RaiseAlarm("internal_error", std::string("the network thread abandoned a step (") + what + "): " + e.what(),
                 {{"step", what}});
    } catch (const std::exception&) {
      // Logged above; the alarm store itself failed.
    }
  }
}

void Agent::FlushDeliveries() {
  if (deliveries_.empty()) return;
  // Whatever happens below, this burst is done with: what was not stored
  // and receipted, the hub delivers again.
  std::vector<tp::Deliver> burst;
  burst.swap(deliveries_);
  std::vector<const tp::Deliver*> ds;
  for (const tp::Deliver& d : burst) ds.push_back(&d);
  // One fsync'd batch for the whole burst, then the receipts.
  std::vector<Inbox::Outcome> outs;
  try {
    outs = inbox_->OnDeliveries(ds);
  } catch (const std::exception& e) {
    if (ds.size() == 1) throw;  // Guarded logs and alarms it
    // One delivery that cannot be handled must not hold back the others of
    // its burst (the hub sends them together again after a reconnect): each
    // on its own, the failing one left to Guarded.
    ops::Error("agent.internal_error", {{"step", "delivery burst"}, {"error", e.what()}, {"retry", "one by one"}});
    for (const tp::Deliver* d : ds) {
      Guarded("deliveries", [&] { ApplyOutcomes({d}, inbox_->OnDeliveries({d})); });
    }
    return;
  }
  ApplyOutcomes(ds, outs);
}

void Agent::ApplyOutcomes(const std::vector<const tp::Deliver*>& ds, const std::vector<Inbox::Outcome>& outs) {
  for (size_t i = 0; i < outs.size(); ++i) {
    const Inbox::Outcome& o = outs[i];
    const uint64_t seq = ds[i]->delivery_seq;
    switch (o.kind) {
      case Inbox::Outcome::Kind::kStored:
        SendReceipt(seq);
        if (o.job) SendAll(auditor_->Track(*o.job));
        ExpectStreamsOf(o.message_id);  // after the durable store and the receipt
        break;
      case Inbox::Outcome::Kind::kDuplicate:
        SendReceipt(seq);
        break;
      case Inbox::Outcome::Kind::kRefused:
        break;
      case Inbox::Outcome::Kind::kNotHandled:
        ops::Error("delivery.not_handled", {{"delivery_seq", seq}, {"error", o.why.ToString()}});
        break;
    }
  }
}

void Agent::OnReceiptResult(const tp::ReceiptResult& r) {
  auto job = inbox_->OnReceiptResult(r);
  if (job) SendAll(auditor_->Track(*job));
}


// ---- directory ----

void Agent::OnDirectoryUpdate(const tp::DirectoryUpdate& u) {
  auto d = directory::Directory::Verify(u.signed_directory, root_key_);
  if (!d.ok()) {
    std::string digest = HexOf(crypto::Sha256(u.signed_directory));
    if (alarmed_once_.insert("dir:" + digest).second) {
      RaiseAlarm("directory_refused",
                 "the broker sent a directory that does not verify with the operator's root key: " +
                     d.status().ToString(),
                 {{"version", u.version}, {"sha256", digest}});
    }
    return;
  }
  auto cur = Dir();
  Status newer = directory::Directory::AcceptNewer(*cur, *d);
  if (!newer.ok()) {
    if (d->version() < cur->version())
      ops::Warn("directory.older_refused", {{"version", d->version()}, {"held", cur->version()}});
    return;
  }
  const directory::Entry* hub = HubEntry(*d);
  if (hub == nullptr) {
    ops::Error("directory.refused", {{"version", d->version()}, {"reason", "no Hub entry"}});
    return;
  }
  StoreBatch b;
  CaseStore::PutDirectory(b, u.signed_directory);
  Status st = store_->Write(b);
  if (!st.ok()) {
    ops::Error("agent.store_failed", {{"what", "directory"}, {"error", st.ToString()}});
    return;
  }
  const directory::Entry* old_hub = HubEntry(*cur);
  bool hub_transport_changed = old_hub == nullptr || old_hub->identity.curve_key != hub->identity.curve_key;
  {
    std::lock_guard<std::mutex> lock(dir_mu_);
    dir_ = std::make_shared<const directory::Directory>(std::move(*d));
  }
  auto nd = Dir();
  auditor_->SetHubKey(hub->identity.sign_key);
  metrics_.gauge("mlahub_agent_directory_version", "Version of the directory in force").Set(double(nd->version()));
  ops::Info("directory.updated", {{"version", nd->version()}, {"previous", cur->version()}});
  const directory::Entry* me = nd->Find(config_.node_id);
  if (me == nullptr || me->revoked) {
    RaiseAlarm("node_revoked", "directory version " + std::to_string(nd->version()) +
                                   (me == nullptr ? " no longer lists " : " revokes ") + config_.node_id,
               {{"version", nd->version()}});
  }
  if (hub_transport_changed) {
    // The hub's CURVE key rotated: connect anew with the new server key.
    if (connected_) OnDisconnected("hub transport key rotated");
    Status c = Connect();
    if (!c.ok()) {
      ops::Error("agent.reconnect_failed", {{"error", c.ToString()}, {"retry", "in 5 s"}});
      reconnect_due_ = true;
    }
  }
}

// ---- evidence from the hub ----

bool Agent::ApplyEvent(OutgoingRecord& rec, const tp::TransportEvent& ev, const Bytes& receipt, StoreBatch& b) {
  UnixMillis now = clock_->NowMillis();
  switch (ev.event) {
    case tp::EventKind::kDelivered:
      return RecordDelivered(rec, now, ev.at_ms, ev.attempt, ev.ledger_index);
    case tp::EventKind::kReceipt: {
      if (receipt.empty()) return false;  // the StatusResponse carries it
      if (rec.state == OutState::kReceipted) return RecordReceipt(rec, now, rec.receipt_ms, ev.ledger_index);
      auto dir = Dir();
      const directory::Entry* re = dir->Find(rec.recipient);
      Status why;
      envelope::ReceiptInfo info;
      if (re == nullptr) {
        why = Status::UnknownRecipient(rec.recipient + " is not in the directory");
      } else {
        auto v = envelope::VerifyReceipt(receipt, re->identity.sign_key);
        if (!v.ok()) {
          why = v.status();
        } else {
          info = *v;
          if (info.message_id != rec.message_id) {
            why = Status::Malformed("the receipt names message " + info.message_id);
          } else if (HexOf(info.envelope_hash) != rec.envelope_hash) {
            why = Status::Malformed("the receipt names another envelope hash");
          } else if (!info.recipient.empty() && info.recipient != rec.recipient) {
            why = Status::SenderMismatch("the receipt is signed for " + info.recipient);
          }
        }
      }
      if (!why.ok()) {
        if (alarmed_once_.insert("rcpt:" + rec.message_id).second) {
          RaiseAlarm("receipt_invalid",
                     "the receipt the hub forwarded for message " + rec.message_id +
                         " does not verify: " + why.ToString(),
                     {{"message_id", rec.message_id}, {"recipient", rec.recipient},
                      {"code", std::string(CodeName(why.code()))}});
        }
        return false;
      }
      CaseStore::PutOutgoingReceipt(b, rec.message_id, receipt);
      return RecordReceipt(rec, now, info.received_ms, ev.ledger_index);
    }
    case tp::EventKind::kStatusChange:
      if (ev.state == static_cast<uint8_t>(wire::MessageState::Expired))
        return RecordExpired(rec, now, ev.at_ms, ev.ledger_index);
      return false;
    case tp::EventKind::kRejected:
      return RecordRejected(rec, now, ev.error, "rejected (ledger)", ev.ledger_index);
    default:
      return false;  // Accepted: the SubmitResult is authoritative
  }
}

void Agent::OnNotice(const tp::Notice& n) {
  // The hub reports on a message whose SubmitResult never arrived (lost on
  // the way): ask again now rather than after the resend interval.
  if (outbox_->Contains(n.message_id)) outbox_->MarkDue(n.message_id);
  auto rec = store_->GetOutgoing(n.message_id);
  if (!rec.ok() || !rec->has_value()) {
    ops::Debug("agent.notice_ignored", {{"message_id", n.message_id}});
    return;
  }
  OutgoingRecord& o = **rec;
  StoreBatch b;
  if (!ApplyEvent(o, n.event, n.receipt, b)) {
    if (n.event.event == tp::EventKind::kReceipt && n.receipt.empty() && connected_) {
      AskStatus(o.message_id);
    }
    return;
  }
  CaseStore::PutOutgoing(b, o);
  b.set_sync(false);  // evidence the hub repeats on a StatusRequest
  Status st = store_->Write(b);
  if (!st.ok()) {
    ops::Error("agent.store_failed", {{"what", "notice"}, {"error", st.ToString()}});
    return;
  }
  ops::Info("evidence.updated", {{"message_id", o.message_id}, {"evidence", tp::EventKindName(n.event.event)},
                                 {"state", OutStateName(o.state)}});
  NoteOutgoing(o);
}

void Agent::OnStatusResponse(const tp::StatusResponse& r) {
  std::string id = r.message_id;
  if (auto c = status_corr_.find(r.correlation); c != status_corr_.end()) {
    if (id.empty()) id = c->second;
    status_corr_.erase(c);
  }
  auto rec = store_->GetOutgoing(id);
  if (!rec.ok() || !rec->has_value()) return;
  OutgoingRecord& o = **rec;
  if (r.error != Code::kOk) {
    if (r.error == Code::kNotFound && o.ledger_index && o.state != OutState::kRejected &&
        alarmed_once_.insert("lost:" + id).second) {
      RaiseAlarm("status_lost",
                 "the hub says it does not know message " + id + ", which it accepted at ledger index " +
                     std::to_string(*o.ledger_index),
                 {{"message_id", id}, {"ledger_index", *o.ledger_index}});
    }
    return;
  }
  StoreBatch b;
  bool changed = false;
  for (const tp::TransportEvent& ev : r.events) {
    if (ev.event == tp::EventKind::kReceipt) {
      changed |= ApplyEvent(o, ev, r.receipt, b);
    } else {
      changed |= ApplyEvent(o, ev, {}, b);
    }
  }
  if (!changed) return;
  CaseStore::PutOutgoing(b, o);
  b.set_sync(false);  // evidence the hub repeats on a StatusRequest
  Status st = store_->Write(b);
  if (!st.ok()) {
    ops::Error("agent.store_failed", {{"what", "status"}, {"error", st.ToString()}});
    return;
  }
  ops::Info("evidence.updated", {{"message_id", id}, {"state", OutStateName(o.state)}});
  NoteOutgoing(o);
}

void Agent::OnIncluded(const AuditJob& job, uint64_t tree_size, StoreBatch& b) {
  UnixMillis now = clock_->NowMillis();
  if (job.kind == AuditJobKind::kSubmitted) {
    auto rec = store_->GetOutgoing(job.message_id);
    if (rec.ok() && rec->has_value() && RecordIncluded(**rec, now, tree_size)) CaseStore::PutOutgoing(b, **rec);
    return;
  }
  auto rec = store_->GetIncoming(job.message_id);
  if (!rec.ok() || !rec->has_value()) return;
  IncomingRecord& in = **rec;
  if (job.kind == AuditJobKind::kReceived) {
    if (in.included) return;
    in.included = true;
  }
  in.timeline.push_back(EvidenceEvent{job.kind == AuditJobKind::kReceived ? "included" : "receipt_included", now,
                                      "local", job.index, "",
                                      "proved in the hub's ledger at tree size " + std::to_string(tree_size), 0});
  CaseStore::PutIncoming(b, in);
}

// ---- timers ----

void Agent::Timers() {
  UnixMillis now = clock_->NowMillis();
  if (now >= next_evidence_ms_) {
    next_evidence_ms_ = now + kEvidenceTickMs;
    EvidenceTick(now);
  }
  if (reconnect_due_ && now >= next_client_retry_ms_) {
    next_client_retry_ms_ = now + 5000;
    if (Status c = Connect(); !c.ok()) ops::Error("agent.reconnect_failed", {{"error", c.ToString()}, {"retry", "in 5 s"}});
  }
  if (!connected_) return;
  if (now >= next_resend_ms_) {
    next_resend_ms_ = now + 1000;
    for (uint64_t seq : inbox_->DueReceipts(kReceiptResendMs)) SendReceipt(seq);
    PumpSubmits();
  }
  if (now >= next_audit_ms_) {
    next_audit_ms_ = now + config_.audit_interval_ms;
    SendAll(auditor_->Tick());
    if (auditor_->WantsNewerCheckpoint(config_.audit_interval_ms) && now - last_hello_ms_ >= config_.audit_interval_ms) {
      // No CheckpointUpdate came although jobs wait for one: a fresh Hello
      // makes the broker send its latest checkpoint.
      ops::Debug("agent.hello_refresh", {{"checkpoint_size", auditor_->held_size()}});
      SendHello();
    }
  }
  if (now >= next_status_ms_) {
    next_status_ms_ = now + std::max<int64_t>(1000, config_.audit_interval_ms / 4);
    StatusTick(now);
  }
}

void Agent::EvidenceTick(UnixMillis now) {
  // Only records whose next deadline has come are read.
  std::vector<std::string> due;
  for (const auto& [id, o] : open_)
    if (o.next_timeout_ms <= now) due.push_back(id);
  for (const std::string& id : due) {
    auto rec = store_->GetOutgoing(id);
    if (!rec.ok() || !rec->has_value()) {
      open_.erase(id);
      continue;
    }
    OutgoingRecord& o = **rec;
    std::vector<EvidenceEvent> fresh = CheckTimeouts(o, now, timeouts_);
    if (fresh.empty()) {
      NoteOutgoing(o);
      continue;
    }
    StoreBatch b;
    CaseStore::PutOutgoing(b, o);
    b.set_sync(false);  // declared again after a crash if lost
    Status st = store_->Write(b);
    if (!st.ok()) {
      ops::Error("agent.store_failed", {{"what", "evidence"}, {"error", st.ToString()}});
      continue;
    }
    NoteOutgoing(o);
    for (const EvidenceEvent& e : fresh) {
      bool failure = e.event.size() > 8 && e.event.compare(e.event.size() - 8, 8, "_failure") == 0;
      std::string stage = e.event.substr(0, e.event.find('_'));
      metrics_
          .counter(failure ? "mlahub_agent_evidence_failures_total" : "mlahub_agent_evidence_warnings_total",
                   failure ? "Transport evidence failures declared by timeout, by stage"
                           : "Transport evidence warnings declared by timeout, by stage",
                   {{"stage", stage}})
          .Inc();
      ops::Log(failure ? ops::Level::kError : ops::Level::kWarn, failure ? "evidence.failure" : "evidence.warning",
               {{"message_id", id}, {"stage", stage}, {"state", OutStateName(o.state)}});
    }
  }
}

void Agent::AskStatus(const std::string& message_id) {
  // Questions whose answer never came (the broker dropped it, or answered
  // with an ErrorReply that named another correlation) are forgotten beyond
  // kMaxStatusAsked, oldest first: the next tick asks again anyway.
  while (status_corr_.size() >= kMaxStatusAsked) status_corr_.erase(status_corr_.begin());
  tp::StatusRequest s{NextCorrelation(), message_id};
  status_corr_[s.correlation] = message_id;
  if (!Send(s)) status_corr_.erase(s.correlation);
}

void Agent::StatusTick(UnixMillis now) {
  size_t sent = 0;
  for (auto& [id, o] : open_) {
    if (sent >= kMaxStatusPerTick) break;
    if (outbox_->Contains(id)) continue;  // not accepted yet: the SubmitResult comes first
    if (now < o.next_status_ms) continue;
    AskStatus(id);
    ++sent;
    o.status_backoff_ms = std::min<int64_t>(std::max<int64_t>(o.status_backoff_ms, 1000) * 2, kMaxStatusBackoffMs);
    o.next_status_ms = now + o.status_backoff_ms;
  }
}

}  // namespace mlahub::agents
