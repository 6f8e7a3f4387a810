// mlahub-agent: one national authority's node (DESIGN.md "Trust",
// "Envelopes", "Delivery"; the wire protocol is docs/PROTOCOL.md section 13).
//
// The Agent holds the node's keys, the verified directory, its case store
// and an audit of the hub, keeps one CURVE DEALER connection to the broker,
// and serves the local API (api.h).
//
//  - Receiving: Deliver -> envelope::Open (sender's key from the directory)
//    -> if the message id is stored already, the STORED receipt is sent again
//    (duplicate eliminated); else the signed receipt, the envelope, the
//    record and the delivery sequence number are stored in ONE fsync'd batch,
//    then SubmitReceipt is sent. A delivery that cannot be opened is not
//    stored and not receipted: it is recorded as refused (in/x), alarmed
//    once, counted as handled for Hello.last_delivery_seq, and opened again
//    if the hub redelivers it (a newer directory may make it valid).
//  - Sending: the API seals (or accepts a sealed envelope), stores it in the
//    outbox durably and answers with the message id; the network thread
//    submits it, resending the SAME bytes after a reconnect or restart until
//    a SubmitResult (accepted or refused) arrives.
//  - Evidence (evidence.h) and the hub audit (auditor.h) are updated from
//    SubmitResult, Notice, StatusResponse, CheckpointUpdate, ProofResponse.
//
// Threads: one network thread owns the transport::Client and every
// mutable protocol state; the API server's threads call the LocalApi methods,
// which read the case store (thread-safe) and hand new outbox entries to the
// network thread through a locked queue. Directory swaps are under a mutex.
//
// Test hook (test-only, documented in agents/README.md): with the environment
// variable MLAHUB_AGENT_CRASH_POINT=after_store the process raises SIGKILL
// right after the first received envelope's store batch is durable, before
// SubmitReceipt is sent.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mlahub/agents/api.h"
#include "mlahub/agents/auditor.h"
#include "mlahub/agents/case_store.h"
#include "mlahub/agents/cases.h"
#include "mlahub/agents/evidence.h"
#include "mlahub/agents/inbox.h"
#include "mlahub/agents/outbox.h"
#include "mlahub/config/config.h"
#include "mlahub/core/clock.h"
#include "mlahub/directory/directory.h"
#include "mlahub/identity/keys.h"
#include "mlahub/ops/metrics.h"
#include "mlahub/transport/client.h"
#include "mlahub/transport/command.h"
#include "mlahub/transport/wake_fd.h"

namespace mlahub::evidence {
class EvidenceStore;
}

namespace mlahub::agents {

class ChunkShipper;
class ChunkReceiver;
class RouteIndex;

inline constexpr std::string_view kCrashPointEnv = "MLAHUB_AGENT_CRASH_POINT";

struct AgentOptions {
  // Tests may pass their own clock; otherwise config.clock_rate decides
  // (1: the system clock; else a ScaledClock starting at the real now).
  const Clock* clock = nullptr;
  // "after_store" (see above); empty: read from the environment.
  std::string crash_point;
};

class Agent final : public LocalApi, public AlarmSink {
 public:
  // Loads keys, directory, case store and state; binds nothing. Errors name
  // what to fix: kInvalidArgument (config), kBadPassphrase, kNotFound (a file),
  // kBadSignature (the directory does not verify with the root key), ...
  static Result<std::unique_ptr<Agent>> Create(config::AgentConfig config, AgentOptions options = {});
  ~Agent() override;
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Binds the API and metrics, connects to the broker, starts the network
  // thread and writes <data>/ready.json.
  Status Start();
  // Stops everything, closes the case store, deletes ready.json. Idempotent.
  void Stop();

  uint16_t api_port() const;
  const std::string& api_token() const { return token_; }
  const std::string& node_id() const { return config_.node_id; }
  const std::string& data_dir() const { return config_.data; }

  // LocalApi.
  Result<SubmitOutcome> SubmitMessage(const MessageRequest& request) override;
  Result<SubmitOutcome> SubmitEnvelope(ByteView envelope) override;
  nlohmann::json Health() const override;
  Result<nlohmann::json> List(Box box, uint64_t after, size_t limit) const override;
  Result<nlohmann::json> Show(std::string_view message_id) const override;
  Result<nlohmann::json> MessageStatus(std::string_view message_id) const override;
  Result<nlohmann::json> Alarms(uint64_t after, size_t limit) const override;
  nlohmann::json Audit() const override;
  // Evidence streams (agent_evidence.cc; agents/README.md "Evidence").
  Result<nlohmann::json> AddEvidence(const std::vector<std::string>& paths,
                                     const std::string& chain_of_custody) override;
  Result<nlohmann::json> EvidenceOf(std::string_view message_id) const override;
  Result<nlohmann::json> FetchEvidence(std::string_view message_id, const std::string& out_dir) const override;
  // Cases (case_api.cc).
  Result<nlohmann::json> ListCases(const CaseQuery& q) const override;
  Result<nlohmann::json> ShowCase(std::string_view id, const RevealRequest& r) const override;
  Result<nlohmann::json> ShowMessage(std::string_view id, const RevealRequest& r) const override;
  Result<nlohmann::json> Reveals(uint64_t after, size_t limit) const override;
  Result<nlohmann::json> Stats() const override;
  Result<nlohmann::json> CasesPolicy() const override;

  // AlarmSink: log audit.alarm (error), count, store.
  void RaiseAlarm(std::string kind, std::string message, nlohmann::json details) override;

 private:
  struct OpenMessage {
    UnixMillis next_status_ms = 0;
    int64_t status_backoff_ms = 0;
    UnixMillis next_timeout_ms = 0;  // when CheckTimeouts has something to declare
  };

  Agent(config::AgentConfig config, AgentOptions options);
  Status Init();
  std::shared_ptr<const directory::Directory> Dir() const;

  // Network thread.
  void NetLoop();
  Status Connect();
  void PollConnection();
  // The broker's liveness, in the application ([reconnect]
  // broker_silence_ms): a Ping after half the silence, a new connection
  // after all of it.
  void CheckBrokerSilence();
  void OnConnected();
  void OnDisconnected(const char* why);
  bool Send(const transport::Command& c);
  void SendAll(const std::vector<transport::ProofRequest>& reqs);
  void SendHello();
  void SendReceipt(uint64_t seq);
  void Handle(const transport::Frames& frames);
  void OnSubmitResult(const transport::SubmitResult& r);
  void FlushDeliveries();
  // Receipts, audit jobs and evidence streams for what OnDeliveries decided.
  void ApplyOutcomes(const std::vector<const transport::Deliver*>& ds, const std::vector<Inbox::Outcome>& outs);
  // Runs one step of the network loop; an exception is logged and alarmed
  // (once per step and run) instead of ending the thread.
  void Guarded(const char* what, const std::function<void()>& step);
  void OnReceiptResult(const transport::ReceiptResult& r);
  void OnDirectoryUpdate(const transport::DirectoryUpdate& u);
  void OnNotice(const transport::Notice& n);
  void OnStatusResponse(const transport::StatusResponse& r);
  bool ApplyEvent(OutgoingRecord& rec, const transport::TransportEvent& ev, const Bytes& receipt, StoreBatch& b);
  // After a durable write of `o`: its place in open_ (gone once final).
  void NoteOutgoing(const OutgoingRecord& o);
  // `o` was refused by the hub for good: the case step it carried never
  // reached the partner, and no longer counts in its case (cases.h Replay).
  void ReleaseRefusedStep(const OutgoingRecord& o);
  void PumpSubmits();
  void TakeNewOutbox();
  void Timers();
  void EvidenceTick(UnixMillis now);
  void StatusTick(UnixMillis now);
  // Sends a StatusRequest for one of our messages and remembers its correlation.
  void AskStatus(const std::string& message_id);
  uint64_t NextCorrelation() { return next_correlation_.fetch_add(1) + 1; }
  void OnIncluded(const AuditJob& job, uint64_t tree_size, StoreBatch& b);
  void WriteReady();
  Status LoadPreviousKeys(const std::string& passphrase);
  void MarkBusy();

  // Evidence streams (agent_evidence.cc). A route file per transfer
  // (<data>/evidence/routes/<transfer>.json) ties it to its message and
  // peer; outgoing routes are written before the message enters the outbox,
  // chunks are shipped only once the case store records the message as
  // accepted by the hub.
  Status InitEvidence();
  // API threads: the streamed files a message body announces (JSON objects
  // with transfer_id and stream_key whose spool exists) get an outgoing
  // route. Before the outbox takes the message.
  Status NoteOutgoingStreams(const std::string& message_id, const std::string& recipient,
                             const std::string& body_json);
  // API threads: a submission under a client-chosen message id that is
  // already taken. The stored answer when it is the same message again
  // (recipient and kind); kAlreadyExists when the id is another outgoing
  // message's or a received one's; nullopt when the id is free.
  Result<std::optional<SubmitOutcome>> RepeatedSubmission(const std::string& message_id, const std::string& to,
                                                          const std::string& kind) const;
  // Network thread.
  void ShipAccepted(const std::string& message_id);
  void ExpectStreamsOf(const std::string& message_id);
  void OnChunkDeliver(const transport::ChunkDeliver& d);

  config::AgentConfig config_;
  AgentOptions options_;
  std::unique_ptr<Clock> owned_clock_;
  const Clock* clock_ = nullptr;
  identity::NodeKeys keys_;
  // [agent] previous_keys: this node's keys before its rotations; and the
  // keys an envelope may be sealed to, current first (envelope::OpenWithAny).
  std::vector<identity::NodeKeys> previous_keys_;
  std::vector<const identity::NodeKeys*> opening_keys_;
  crypto::SignPublicKey root_key_{};
  EvidenceTimeouts timeouts_;
  std::string token_;
  std::string crash_point_;

  mutable std::mutex dir_mu_;
  std::shared_ptr<const directory::Directory> dir_;

  std::unique_ptr<CaseStore> store_;
  ops::Registry metrics_;
  std::unique_ptr<ops::MetricsServer> metrics_server_;
  std::unique_ptr<Auditor> auditor_;
  std::unique_ptr<Inbox> inbox_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<Cases> cases_;  // the legal workflow of each case (cases.h)
  std::unique_ptr<ApiServer> api_;
  // Evidence streams: the store is thread-safe per transfer; the shipper and
  // the receiver belong to the network thread.
  std::unique_ptr<evidence::EvidenceStore> evstore_;
  std::unique_ptr<ChunkShipper> shipper_;
  std::unique_ptr<ChunkReceiver> receiver_;
  std::unique_ptr<RouteIndex> routes_;  // the route files by message (any thread)
  // Test-only (MLAHUB_AGENT_CHUNK_PAUSE_MS): a pause after each received
  // chunk, so that a test can interrupt a transfer of a few MiB mid-way.
  int chunk_pause_ms_ = 0;

  // Alarms.
  std::mutex alarm_mu_;
  uint64_t last_alarm_id_ = 0;
  std::atomic<uint64_t> alarms_count_{0};

  // Figures for Health (any thread).
  std::atomic<int> conn_state_{0};  // 0 connecting, 1 connected, 2 refused
  std::atomic<uint64_t> open_atomic_{0};
  std::atomic<int64_t> connected_since_ms_{0};
  std::atomic<uint64_t> next_correlation_{0};
  // Steady-clock ns until which the network thread polls briskly (1 ms)
  // instead of idly (10 ms): set by API submissions and traffic.
  std::atomic<int64_t> busy_until_ns_{0};
  // Steady-clock ms of the last message from the broker (health shows the
  // silence since).
  std::atomic<int64_t> last_from_broker_ms_{0};
  // An eventfd the network thread's receive also waits on: an API submission
  // signals it so that it is sent at once, not at the next poll.
  transport::WakeFd wake_;

  // Network thread only.
  std::thread net_thread_;
  std::atomic<bool> stop_{false};
  bool started_ = false;
  std::shared_ptr<transport::Context> ctx_;
  std::unique_ptr<transport::Client> client_;
  uint64_t seen_handshakes_ = 0;
  uint64_t seen_disconnects_ = 0;
  bool connected_ = false;
  // Steady-clock ms of the last message from the broker, and of the Ping
  // sent for its silence (0: none outstanding).
  int64_t silence_ping_ms_ = 0;
  uint64_t silence_ping_nonce_ = 0;
  int silence_strikes_ = 0;  // reconnections for silence since the broker was last heard
  int64_t backoff_ms_ = 0;
  UnixMillis next_reconnect_ms_ = 0;
  std::set<std::string> internal_error_alarmed_;  // Guarded steps already alarmed
  // A new client (the hub's key rotated) could not be made: retried.
  bool reconnect_due_ = false;
  UnixMillis next_client_retry_ms_ = 0;
  UnixMillis last_hello_ms_ = 0;
  UnixMillis next_evidence_ms_ = 0, next_audit_ms_ = 0, next_status_ms_ = 0, next_resend_ms_ = 0;
  // StatusRequests sent and not answered: correlation -> message id (oldest
  // first; at most kMaxStatusAsked).
  std::map<uint64_t, std::string> status_corr_;
  static constexpr size_t kMaxStatusAsked = 4096;
  std::vector<transport::Deliver> deliveries_;  // this burst's, stored together
  static constexpr size_t kMaxDeliveryBurstBytes = size_t{64} << 20;
  std::map<std::string, OpenMessage> open_;
  std::unordered_set<std::string> alarmed_once_;
};

// Loads the agent's API token from `path`, creating it (0600, 32 random
// bytes as hex) if it is missing. kPermissionDenied if group or others may
// read it.
Result<std::string> LoadOrCreateToken(const std::string& path);

// The token file and API address an agent config implies: the address from
// <data>/ready.json if present (port 0 in the config), else api_listen.
struct ApiEndpoint {
  std::string host;
  uint16_t port = 0;
  std::string token_file;
};
Result<ApiEndpoint> ApiEndpointFor(const config::AgentConfig& config);

}  // namespace mlahub::agents
