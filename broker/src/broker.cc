// mlahub-broker: the socket thread, its state and the flows of every command.
// Design notes (threads, durability, queues, state keys): broker/README.md.
#include "mlahub/broker/broker.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "agent_queue.h"
#include "checks.h"
#include "chunks.h"
#include "rate_limit.h"
#include "reply_queue.h"
#include "mlahub/broker/state.h"
#include "mlahub/core/file.h"
#include "mlahub/core/ids.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/directory/directory.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/envelope/receipt.h"
#include "mlahub/identity/keys.h"
#include "mlahub/ops/log.h"
#include "mlahub/ops/metrics.h"
#include "mlahub/storage/ledger.h"
#include "mlahub/storage/ledger_entry.h"
#include "mlahub/storage/note.h"
#include "mlahub/transport/authenticator.h"
#include "mlahub/transport/command.h"
#include "mlahub/transport/context.h"
#include "mlahub/transport/curve.h"
#include "mlahub/transport/server.h"
#include "worker_pool.h"

namespace mlahub::broker {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;
using transport::Command;
using transport::Frames;

// Bounds on work in progress: beyond them the socket thread stops reading
// (ZeroMQ's receive HWM then pushes back on the agents) until answers drain.
constexpr size_t kMaxPendingOps = 16384;
constexpr size_t kMaxPendingBytes = size_t{256} << 20;
// Resident envelopes per agent are also bounded in bytes (envelopes may be
// up to max_envelope_bytes each).
constexpr size_t kResidentBytesPerAgent = size_t{64} << 20;
constexpr int kReceiveBurst = 64;
constexpr auto kPendingPoll = std::chrono::microseconds(200);
constexpr auto kIdlePoll = 10ms;
constexpr auto kCheckpointPushInterval = 1s;
constexpr auto kMetricsInterval = 1s;
constexpr auto kStallRetry = 50ms;
constexpr auto kDrainLimit = 60s;
constexpr auto kFinalFlush = 100ms;
constexpr auto kMinReloadInterval = 50ms;
constexpr size_t kMaxDirectoryBytes = size_t{64} << 20;
// Expiry sweep (broker/README.md "Expiry"): every interval, at most `batch`
// due entries of the expiry index are expired, reading at most `visit` keys
// from its start; no sweep while `max_in_flight` expiries are not yet durable.
constexpr auto kExpirySweepInterval = 100ms;
constexpr size_t kExpirySweepBatch = 256;
constexpr size_t kExpirySweepVisit = 2048;
constexpr size_t kMaxExpiringInFlight = 4096;

Result<crypto::SignPublicKey> LoadRootKey(const std::string& spec) {
  if (spec.starts_with("ed25519:")) {
    auto raw = crypto::FromBase64(spec.substr(8));
    if (!raw.ok())
      return Status::InvalidArgument("directory.root_key: not base64 after \"ed25519:\"");
    auto key = crypto::SignPublicKeyFromBytes(*raw);
    if (!key.ok()) return Status::InvalidArgument("directory.root_key: " + key.status().message());
    return *key;
  }
  auto id = identity::LoadIdentity(spec);
  if (!id.ok()) return id.status().Annotate("directory.root_key " + spec);
  return id->sign_key;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ---- completions handed to the socket thread -------------------------------

enum class AppendKind : uint8_t {
  kSubmit,
  kReceipt,
  kReceiptRefusal,
  kDelivered,
  kDirectory,
  kEvidence,
  kExpired,
};

struct AppendTag {
  AppendKind kind = AppendKind::kSubmit;
  uint64_t op = 0;
  // kDelivered: for the Notice to the sender.
  std::string sender;
  std::string message_id;
  uint32_t attempt = 0;
  int64_t at_ms = 0;
  // kExpired: whose queue, which sequence.
  std::string recipient;
  uint64_t seq = 0;
  std::string transfer_id;  // kEvidence
};

struct SubmitChecked {
  uint64_t op = 0;
  SubmitVerdict verdict;
};

struct ReceiptChecked {
  uint64_t op = 0;
  ReceiptVerdict verdict;
  // Set by the check of a receipt whose envelope is no longer queued: the
  // receipt repeats one already recorded (answered as a duplicate).
  bool repeat = false;
  uint64_t repeat_index = 0;
  std::string message_id;
  // Set by that check when the envelope expired at the hub undelivered and
  // this receipt verifies: a late receipt, recorded (the receipt is the
  // truth) against the message's record.
  std::optional<MessageRecord> late;
};

struct Appended {
  AppendTag tag;
  Status status;
  uint64_t index = 0;
  uint64_t predicted = 0;
};

struct Reply {
  std::string node;
  std::string peer;  // the connection the request came from
  Frames frames;
};

// Evidence chunk relay: a state write became durable (runs on the socket thread).
struct Task {
  std::function<void()> run;
};

using Completion = std::variant<SubmitChecked, ReceiptChecked, Appended, Reply, Task>;

// Who asked: an answer goes back on the connection its request came from
// (a node may hold several; docs/PROTOCOL.md 13.4).
struct Waiter {
  std::string node;
  std::string peer;
  uint64_t correlation = 0;
  // A Submit waiter whose envelope differs from the one being judged: not a
  // resend but another message under the same id. It is judged on its own
  // once the first is answered (the duplicate table then refuses it, and the
  // refusal is ledgered); until then its bytes count in the op's.
  bool other_envelope = false;
  Bytes envelope;
};

struct SubmitOp {
  std::string node;
  std::string peer;
  uint64_t correlation = 0;
  Bytes envelope;
  std::string tracked_id;  // in submit_by_id_ while in flight
  size_t bytes = 0;        // counted in pending_bytes
  SteadyTime received;
  std::vector<Waiter> waiters;
  // After the verdict:
  transport::SubmitResult answer;
  std::string recipient;
  uint64_t seq = 0;
  QueueRecord record;  // accepted: joins the recipient's queue when durable
};

struct ReceiptOp {
  std::string node;
  std::string peer;
  uint64_t correlation = 0;
  uint64_t seq = 0;
  Bytes receipt;
  bool have_item = false;
  ReceiptExpectation expect;
  uint64_t accepted_index = 0;
  std::vector<Waiter> waiters;
  std::string message_id;
  Status refusal;
  int64_t expires_ms = 0;  // of the queue record (its x/ key goes with it)
  // The envelope's expiry was issued before this receipt was recorded: the
  // receipt is recorded, the queue and its count are the expiry's.
  bool late = false;
};

struct Session {
  bool online = false;   // Hello seen, no send found the connection gone
  bool stalled = false;  // its send queue was full: retry later
  SteadyTime stalled_until{};
  uint64_t checkpoint_sent = 0;
};

// Answers for one node that its full pipe could not take (reply_queue.h).
struct PendingReplies {
  ReplyQueue queue;
  SteadyTime retry_at{};
};

struct Timer {
  int64_t due_ms;
  std::string node;
  uint64_t seq;
  uint32_t attempts;
  bool operator>(const Timer& o) const { return due_ms > o.due_ms; }
};

}  // namespace

// ============================================================================

struct Broker::Impl {
  config::BrokerConfig cfg;
  BrokerOptions options;
  std::unique_ptr<Clock> owned_clock;
  const Clock* clock = nullptr;
  std::unique_ptr<ops::Registry> owned_registry;
  ops::Registry* reg = nullptr;
  SubmitLimits limits;

  identity::NodeKeys hub;
  crypto::SignPublicKey root_key{};

  // The directory: the ZAP thread reads `dir_shared` under dir_mu; the
  // socket thread owns the rest.
  mutable std::mutex dir_mu;
  std::shared_ptr<const directory::Directory> dir_shared;
  std::shared_ptr<const directory::Directory> dir;
  Bytes dir_signed;
  std::shared_ptr<const directory::Directory> dir_newest;  // newest issued (maybe not yet durable)
  fs::file_time_type dir_mtime{};
  uintmax_t dir_size = 0;
  SteadyTime next_reload{};
  std::unordered_map<uint64_t, std::pair<std::shared_ptr<const directory::Directory>, Bytes>>
      pending_dirs;

  std::unique_ptr<storage::Ledger> ledger;
  std::shared_ptr<transport::Context> ctx;
  std::shared_ptr<transport::Authenticator> auth;
  std::unique_ptr<transport::Server> server;
  std::unique_ptr<ops::MetricsServer> metrics_server;
  std::unique_ptr<WorkerPool> pool;
  // Signature checks of the messages read in the current burst, handed out
  // at its end (DispatchChecks). Checks of receipts for queued envelopes go
  // ahead: such a receipt finishes a delivery (and frees its window), a submit adds
  // work; under more submits than the hub can take, deliveries keep flowing
  // and the submitters wait for their acknowledgements instead.
  std::vector<std::function<void()>> checks;
  std::vector<std::function<void()>> receipt_checks;
  Mailbox<Completion> mailbox;

  std::thread loop_thread;
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> loop_done{false};
  bool started = false;
  bool waited = false;
  Status fatal;  // socket thread; read after join
  Status close_status;
  std::string endpoint;
  std::string metrics_listen;
  std::atomic<uint64_t> directory_version{0};

  // Committer-thread only: batch size accounting.
  uint64_t last_committed_size = 0;

  // ---- socket-thread state ----
  uint64_t next_index = 0;  // ledger index of the next entry appended
  uint64_t next_op = 1;
  size_t outstanding = 0;  // jobs and appends whose completion is pending
  size_t pending_bytes = 0;
  bool draining = false;
  std::unordered_map<uint64_t, SubmitOp> submits;
  std::unordered_map<std::string, uint64_t> submit_by_id;
  std::unordered_map<uint64_t, ReceiptOp> receipts;
  std::map<std::pair<std::string, uint64_t>, uint64_t> receipt_by_seq;
  std::map<std::string, std::unique_ptr<AgentQueue>> queues;
  std::map<std::string, Session> sessions;
  std::unique_ptr<ChunkRelay> chunks;  // evidence streams (chunks.h)
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;
  std::map<std::string, PendingReplies> replies;
  RefusalLimiter limiter{0, 0};  // cfg.refusals_per_second, set in Init
  size_t expiring_in_flight = 0;  // expiry appends not yet durable
  // The expiry sweep: the index holds nothing left to do below `sweep_from`
  // (expires_ms), and nothing is due before `sweep_next_due` passes. Both
  // are lowered by every accept once durable; at start, scan everything.
  int64_t sweep_from = 0;
  int64_t sweep_next_due = std::numeric_limits<int64_t>::min();
  SteadyTime next_checkpoint_push{};
  SteadyTime next_metrics{};
  SteadyTime next_expiry_sweep{};

  // ---- metrics ----
  ops::Counter* m_accepted = nullptr;
  ops::Counter* m_delivered = nullptr;
  ops::Counter* m_redelivered = nullptr;
  ops::Counter* m_receipts = nullptr;
  ops::Counter* m_duplicates = nullptr;
  ops::Counter* m_auth_denied = nullptr;
  ops::Counter* m_dropped = nullptr;
  ops::Counter* m_directory_loads = nullptr;
  ops::Counter* m_expired = nullptr;
  ops::Counter* m_replies_queued = nullptr;
  ops::Counter* m_rate_limited_bursts = nullptr;
  ops::Counter* m_rate_limited_frames = nullptr;
  std::map<std::string, ops::Counter*> m_replies_dropped;
  ops::Gauge* m_connected = nullptr;
  ops::Gauge* m_ledger_size = nullptr;
  ops::Gauge* m_directory_version = nullptr;
  ops::Histogram* m_batch = nullptr;
  ops::Histogram* m_submit_latency = nullptr;
  ops::Histogram* m_verify_latency = nullptr;
  std::map<Code, ops::Counter*> m_refused;
  std::map<Code, ops::Counter*> m_bad_commands;
  std::map<std::string, ops::Gauge*> m_depth;

  // ====================================================================
  // Setup
  // ====================================================================

  Status Init();
  Status LoadDirectoryAtStart();
  Status RestoreQueues();
  Status InitChunks();
  void RegisterMetrics();

  // ====================================================================
  // Helpers
  // ====================================================================

  std::shared_ptr<const directory::Directory> CurrentDirectory() const {
    std::lock_guard<std::mutex> lk(dir_mu);
    return dir_shared;
  }
  int64_t Now() const { return clock->NowMillis(); }

  ops::Counter& Refused(Code c) {
    auto it = m_refused.find(c);
    if (it != m_refused.end()) return *it->second;
    auto& ctr =
        reg->counter("mlahub_broker_refused_total", "Envelopes and receipts refused, by error code",
                     {{"code", std::string(CodeName(c))}});
    m_refused.emplace(c, &ctr);
    return ctr;
  }
  ops::Counter& BadCommand(Code c) {
    auto it = m_bad_commands.find(c);
    if (it != m_bad_commands.end()) return *it->second;
    auto& ctr = reg->counter("mlahub_broker_bad_commands_total",
                             "Commands that could not be decoded or processed, by error code",
                             {{"code", std::string(CodeName(c))}});
    m_bad_commands.emplace(c, &ctr);
    return ctr;
  }

  AgentQueue& QueueOf(const std::string& node) {
    auto it = queues.find(node);
    if (it != queues.end()) return *it->second;
    auto q = NewQueue(node);
    q->Restore(1, 0);
    return *queues.emplace(node, std::move(q)).first->second;
  }
  std::unique_ptr<AgentQueue> NewQueue(const std::string& node) {
    storage::Ledger* l = ledger.get();
    return std::make_unique<AgentQueue>(
        node, cfg.queue_memory_per_agent, kResidentBytesPerAgent,
        [l](std::string_view prefix, std::string_view start,
            const std::function<bool(std::string_view, ByteView)>& visit) {
          return l->ScanState(prefix, start, visit);
        },
        [node](uint64_t seq, const Status& why) {
          ops::Error("queue.corrupt", {{"agent", node}, {"seq", seq}, {"error", why.ToString()}});
        });
  }

  size_t MaxInflight() const {
    return std::max<size_t>(
        1, std::min<size_t>(cfg.max_inflight_per_agent, cfg.queue_memory_per_agent));
  }
  int64_t Backoff(uint32_t attempts) const {
    int64_t d = std::max<int64_t>(1, cfg.redeliver_initial_ms);
    for (uint32_t i = 1; i < attempts && d < cfg.redeliver_max_ms; ++i) d *= 2;
    return std::min<int64_t>(d, std::max<int64_t>(cfg.redeliver_max_ms, 1));
  }

  // Refusal rate limit (rate_limit.h), on the steady clock (real time).
  static int64_t SteadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now().time_since_epoch())
        .count();
  }
  void NoteRefusal(const std::string& node) {
    if (node.empty()) return;
    if (limiter.Refused(node, SteadyMs()) == RefusalLimiter::Note::kLimitedNow) {
      m_rate_limited_bursts->Inc();
      ops::Warn("agent.rate_limited", {{"agent", node},
                                       {"refusals_per_second", cfg.refusals_per_second},
                                       {"backoff_ms", cfg.refusal_backoff_ms}});
    }
  }
  void RefuseLimited(const transport::Incoming& in, Command& cmd);

  void Fatal(const Status& s) {
    if (fatal.ok()) {
      fatal = s;
      ops::Error("broker.fatal", {{"error", s.ToString()}});
    }
    stop_requested = true;
  }

  // Sends to a node; on failure notes whether its connection is gone
  // (offline until its next Hello) or just full (retry shortly).
  bool SendTo(const std::string& node, const Command& cmd) {
    auto frames = transport::EncodeCommand(cmd);
    if (!frames.ok()) {
      ops::Error("broker.encode_failed",
                 {{"command", transport::CommandName(cmd)}, {"error", frames.status().ToString()}});
      return false;
    }
    Status s = server->SendToNode(node, *frames);
    if (s.ok()) return true;
    NoteSendFailure(node, s);
    return false;
  }

  // ---- answers (reply_queue.h) ----
  // An answer to a request that came on connection `peer` of `node`: sent
  // now, or kept in the node's bounded queue while that connection's pipe is
  // full and sent before anything else on it once it drains (reply_queue.h);
  // never sent on another connection. What is dropped is counted by reason.
  void SendAnswer(const std::string& node, const std::string& peer, const Command& cmd) {
    auto frames = transport::EncodeCommand(cmd);
    if (!frames.ok()) {
      ops::Error("broker.encode_failed",
                 {{"command", transport::CommandName(cmd)}, {"error", frames.status().ToString()}});
      return;
    }
    SendReplyFrames(node, peer, std::move(*frames));
  }
  // A notice (or an answer that is not tied to one request): to the node's
  // newest connection, kept in order with that connection's answers.
  void SendNotice(const std::string& node, const Command& cmd) {
    std::optional<std::string> peer = server->PeerOf(node);
    if (!peer.has_value()) return RepliesDropped(node, "node_gone", 1);
    SendAnswer(node, *peer, cmd);
  }
  void SendReplyFrames(const std::string& node, std::string peer, Frames frames) {
    if (frames.empty()) return;
    if (peer.empty()) return RepliesDropped(node, "node_gone", 1);  // asked before any connection was known
    PendingReplies& p = replies[node];
    switch (p.queue.Send(std::move(peer), std::move(frames), ReplySender(node))) {
      case ReplyQueue::Result::kSent:
        break;
      case ReplyQueue::Result::kQueued:
        m_replies_queued->Inc();
        break;
      case ReplyQueue::Result::kDroppedFull:
        RepliesDropped(node, "queue_full", 1);
        break;
      case ReplyQueue::Result::kDroppedGone:
        RepliesDropped(node, "node_gone", 1);
        break;
    }
  }
  ReplyQueue::SendFn ReplySender(const std::string& node) {
    return [this, node](const std::string& peer, const Frames& f) {
      bool gone = false;
      Status s = server->SendToPeer(peer, f, &gone);
      if (s.ok()) return SendOutcome::kSent;
      NoteSendFailure(node, s, peer);
      if (gone) return SendOutcome::kGone;
      replies[node].retry_at = SteadyClock::now() + kStallRetry;
      return SendOutcome::kFull;
    };
  }
  // Sends what is kept for `node` (to each of its connections that takes it).
  void FlushReplies(const std::string& node) {
    auto it = replies.find(node);
    if (it == replies.end() || it->second.queue.empty()) return;
    auto r = it->second.queue.Flush(ReplySender(node));
    if (r.dropped_gone > 0) RepliesDropped(node, "node_gone", r.dropped_gone);
  }
  void RepliesDropped(const std::string& node, const std::string& reason, size_t n) {
    auto it = m_replies_dropped.find(reason);
    if (it == m_replies_dropped.end()) {
      it = m_replies_dropped
               .emplace(reason, &reg->counter("mlahub_broker_replies_dropped_total",
                                              "Answers and notices not sent: queue_full (a bound "
                                              "of the reply queue: the node's or the connection's) "
                                              "or node_gone (the connection it was for is gone)",
                                              {{"reason", reason}}))
               .first;
    }
    it->second->Inc(n);
    ops::Warn("reply.dropped", {{"agent", node}, {"reason", reason}, {"count", n}});
  }
  // Answers kept for the connection deliveries use (the node's newest):
  // they go first.
  bool RepliesPending(const std::string& node) const {
    auto it = replies.find(node);
    if (it == replies.end() || it->second.queue.empty()) return false;
    std::optional<std::string> peer = server->PeerOf(node);
    return peer.has_value() && it->second.queue.HasFor(*peer);
  }
  void SendToPeer(const std::string& peer, const Command& cmd) {
    auto frames = transport::EncodeCommand(cmd);
    if (!frames.ok()) return;
    server->SendToPeer(peer, *frames).IgnoreError();  // best effort: the peer may be gone
  }
  // A send to `node` failed: on its newest connection (`peer` empty, or
  // that connection), the node is offline (gone) or stalled (full); a
  // failure on an older connection of the node says nothing about the one
  // deliveries use. (Answers kept for a gone connection are dropped as they
  // come up: each names its own connection, never the next one.)
  void NoteSendFailure(const std::string& node, const Status& s, const std::string& peer = {}) {
    const std::optional<std::string> newest = server->PeerOf(node);
    if (!peer.empty() && newest.has_value() && *newest != peer) return;
    const bool gone = !newest.has_value();
    auto it = sessions.find(node);
    if (it == sessions.end()) return;
    Session& ss = it->second;
    if (gone) {
      if (ss.online) {
        ss.online = false;
        ops::Info("agent.disconnected", {{"agent", node}, {"reason", s.message()}});
      }
      ss.stalled = false;
    } else {
      ss.stalled = true;
      ss.stalled_until = SteadyClock::now() + kStallRetry;
    }
  }

  uint64_t Append(Bytes entry, std::string index_key, std::vector<storage::StateWrite> writes,
                  AppendTag tag, storage::Urgency urgency = storage::Urgency::kPrompt) {
    uint64_t predicted = next_index++;
    ++outstanding;
    ledger->AppendAsync(
        std::move(entry), std::move(index_key), std::move(writes),
        [this, tag = std::move(tag), predicted](const Status& s, uint64_t index) mutable {
          if (s.ok()) ObserveBatch();
          mailbox.Push(Appended{std::move(tag), s, index, predicted});
        },
        urgency);
    return predicted;
  }
  // Committer thread: every callback of a batch sees the same committed
  // size; the first one of a new size records the batch.
  void ObserveBatch() {
    uint64_t size = ledger->Size();
    if (size > last_committed_size) {
      m_batch->Observe(static_cast<double>(size - last_committed_size));
      last_committed_size = size;
    }
  }

  // ====================================================================
  // The loop
  // ====================================================================

  void Loop();
  // Reads and handles up to kReceiveBurst messages, waiting at most
  // `first_timeout` for the first. Returns how many were read.
  int ReceiveBurst(std::chrono::milliseconds first_timeout);
  // Runs the burst's checks: on this thread when there is exactly one, the
  // socket had nothing more to read and the pool is idle; otherwise in the
  // pool, posted together.
  void DispatchChecks(bool input_drained);
  bool OverBudget() const {
    return submits.size() + receipts.size() >= kMaxPendingOps || pending_bytes >= kMaxPendingBytes;
  }
  void ProcessMailbox();
  void Periodic();
  void HandleIncoming(transport::Incoming& in);
  // Answers a command that could not be decoded (or was cut short) with
  // Error{code}, unless the sender is being rate limited for refusals.
  void RefuseCommand(const transport::Incoming& in, const transport::DecodeLimits& dl, Code code,
                     const std::string& reason);

  void OnHello(const transport::Incoming& in, const transport::Hello& h);
  void OnSubmit(const std::string& node, const std::string& peer, transport::Submit&& s);
  void OnSubmitChecked(SubmitChecked&& c);
  void OnSubmitDurable(uint64_t op_id, const Appended& a);
  void AnswerSubmit(SubmitOp& op);
  void FinishSubmit(uint64_t op_id);

  void OnSubmitReceipt(const std::string& node, const std::string& peer, transport::SubmitReceipt&& r);
  void OnReceiptChecked(ReceiptChecked&& c);
  void RefuseReceipt(uint64_t op_id, Status why);
  void OnReceiptDurable(uint64_t op_id, const Appended& a, bool refusal);
  void FinishReceipt(uint64_t op_id);

  void OnStatusRequest(const std::string& node, const std::string& peer, const transport::StatusRequest& r);
  void OnProofRequest(const std::string& node, const std::string& peer, const transport::ProofRequest& r);

  void Pump(const std::string& node);
  bool SendDeliver(const std::string& node, AgentQueue& q, QueueItem* item);
  void RunTimers();
  void OnDelivered(const Appended& a);

  // Expiry of queued envelopes (broker/README.md "Expiry").
  static int64_t ExpiresOf(const QueueRecord& r);
  void SweepExpired();
  bool Expire(const std::string& node, AgentQueue& q, uint64_t seq, const QueueRecord& rec);
  void OnExpiredDurable(const Appended& a);

  void SendCheckpoint(const std::string& node, Session& s, uint64_t from);
  void PushCheckpoints();
  void CheckDirectoryFile();
  void PublishDirectory(std::shared_ptr<const directory::Directory> d, Bytes signed_bytes);
  void OnDirectoryDurable(uint64_t op, const Appended& a);
  void UpdateGauges();
};

// ============================================================================
// Setup
// ============================================================================

void Broker::Impl::RegisterMetrics() {
  m_accepted = &reg->counter("mlahub_broker_accepted_total", "Envelopes accepted (durable)");
  m_delivered = &reg->counter("mlahub_broker_delivered_total",
                              "First Deliver sends of an envelope (this process)");
  m_redelivered =
      &reg->counter("mlahub_broker_redelivered_total", "Repeated Deliver sends without a receipt");
  m_receipts = &reg->counter("mlahub_broker_receipts_total", "Signed receipts recorded");
  m_duplicates = &reg->counter("mlahub_broker_duplicates_total",
                               "Submits answered as duplicates of an earlier id");
  m_auth_denied = &reg->counter("mlahub_broker_auth_denied_total",
                                "CURVE handshakes refused by the ZAP handler");
  m_dropped =
      &reg->counter("mlahub_broker_dropped_messages_total",
                    "Messages dropped by the transport (chosen routing id, no User-Id)");
  m_directory_loads =
      &reg->counter("mlahub_broker_directory_loads_total", "Directory versions published");
  m_expired = &reg->counter("mlahub_broker_expired_total",
                            "Queued envelopes that expired undelivered (StatusChange Expired)");
  m_rate_limited_bursts =
      &reg->counter("mlahub_broker_rate_limited_total",
                    "Times a node crossed refusals_per_second and was limited for refusal_backoff_ms");
  m_rate_limited_frames = &reg->counter("mlahub_broker_rate_limited_frames_total",
                                        "Frames refused at once because their node was rate limited");
  m_replies_queued =
      &reg->counter("mlahub_broker_replies_queued_total",
                    "Answers and notices kept because the node's pipe was full (sent later)");
  m_connected =
      &reg->gauge("mlahub_broker_connected_agents", "Agents connected (Hello seen, connection up)");
  m_ledger_size = &reg->gauge("mlahub_broker_ledger_entries", "Committed ledger entries");
  m_directory_version =
      &reg->gauge("mlahub_broker_directory_version", "Version of the directory in force");
  m_batch = &reg->histogram("mlahub_broker_ledger_batch_entries",
                            "Entries per fsync'd ledger batch", ops::SizeBuckets());
  m_submit_latency =
      &reg->histogram("mlahub_broker_submit_latency_seconds",
                      "Submit received to durable SubmitResult sent", ops::LatencyBuckets());
  m_verify_latency =
      &reg->histogram("mlahub_broker_verify_latency_seconds",
                      "Ed25519 origin and receipt signature checks", ops::LatencyBuckets());
}

Status Broker::Impl::Init() {
  if (cfg.node_id.empty()) return Status::InvalidArgument("broker.node_id is empty");
  if (!NodeId::Parse(cfg.node_id).ok())
    return Status::InvalidArgument("broker.node_id '" + cfg.node_id + "' is not a node id");
  if (cfg.data.empty())
    return Status::InvalidArgument("broker.data is empty: set the broker's data directory");
  if (cfg.keys.empty())
    return Status::InvalidArgument("broker.keys is empty: set the hub's key directory");
  if (cfg.directory.file.empty()) return Status::InvalidArgument("directory.file is empty");
  if (cfg.directory.root_key.empty()) return Status::InvalidArgument("directory.root_key is empty");
  if (cfg.origin.empty()) cfg.origin = Lower(cfg.node_id) + ".mlahub/ledger";
  if (!(cfg.clock_rate > 0)) return Status::InvalidArgument("broker.clock_rate must be > 0");
  if (cfg.max_envelope_bytes < envelope::kFrameOverhead)
    return Status::InvalidArgument("broker.max_envelope_bytes is too small");
  limits.max_envelope_bytes = cfg.max_envelope_bytes;
  limiter = RefusalLimiter(cfg.refusals_per_second, cfg.refusal_backoff_ms);
  limits.max_clock_skew_ms = cfg.max_clock_skew_ms;

  if (options.clock != nullptr) {
    clock = options.clock;
  } else if (cfg.clock_rate == 1.0) {
    clock = &SystemClock::Instance();
  } else {
    // Simulated now = origin + (real now - origin) * rate, with origin the
    // config's clock_origin_ms (0: now), so a restarted broker resumes the
    // simulated time it shares with the agents.
    const UnixMillis real_now = SystemClock::Instance().NowMillis();
    const UnixMillis origin = cfg.clock_origin_ms > 0 ? cfg.clock_origin_ms : real_now;
    owned_clock = std::make_unique<ScaledClock>(
        origin + static_cast<UnixMillis>(static_cast<double>(real_now - origin) * cfg.clock_rate), cfg.clock_rate);
    clock = owned_clock.get();
  }
  if (options.registry != nullptr) {
    reg = options.registry;
  } else {
    owned_registry = std::make_unique<ops::Registry>();
    reg = owned_registry.get();
  }
  RegisterMetrics();

  // Keys.
  std::string passphrase = options.passphrase;
  if (passphrase.empty() && !cfg.passphrase_env.empty()) {
    if (const char* v = std::getenv(cfg.passphrase_env.c_str()); v != nullptr) passphrase = v;
  }
  auto keys = identity::LoadKeyDir(cfg.keys, passphrase);
  if (!keys.ok()) {
    Status s = keys.status();
    if (s.code() == Code::kBadPassphrase && passphrase.empty() && !cfg.passphrase_env.empty())
      return Status::BadPassphrase("broker.keys " + cfg.keys +
                                   " is passphrase-protected: set the environment variable " +
                                   cfg.passphrase_env);
    return s.Annotate("broker.keys " + cfg.keys);
  }
  hub = std::move(*keys);
  if (hub.id.str() != cfg.node_id)
    return Status::InvalidArgument("broker.keys " + cfg.keys + " holds the keys of " +
                                   hub.id.str() + ", but broker.node_id is " + cfg.node_id);
  MLAHUB_ASSIGN_OR_RETURN(root_key, LoadRootKey(cfg.directory.root_key));

  // Ledger.
  MLAHUB_RETURN_IF_ERROR(MakeDirs(cfg.data, 0700).Annotate("broker.data " + cfg.data));
  auto sk =
      crypto::SigningKey::FromBytes(ByteView(hub.sign.secret().data(), hub.sign.secret().size()));
  if (!sk.ok()) return sk.status().Annotate("hub signing key");
  auto signer = storage::Ed25519NoteSigner::Create(cfg.origin, std::move(*sk));
  if (!signer.ok()) return signer.status().Annotate("broker.origin");
  storage::LedgerOptions lo;
  lo.create_if_missing = true;
  lo.origin = cfg.origin;
  lo.signer = std::shared_ptr<const storage::NoteSigner>(std::move(*signer));
  lo.checkpoint_interval_ms = cfg.checkpoint_interval_ms;
  lo.max_batch_entries = std::max<uint64_t>(1, cfg.max_batch_entries);
  lo.max_pending_entries = size_t{1} << 20;  // the broker bounds its own work (kMaxPendingOps)
  lo.block_cache_bytes = size_t{cfg.cache_mib} << 20;
  lo.memtable_bytes = size_t{cfg.memtable_mib} << 20;
  auto l = storage::Ledger::Open(cfg.data + "/ledger", std::move(lo));
  if (!l.ok()) return l.status().Annotate("ledger in " + cfg.data + "/ledger");
  ledger = std::move(*l);
  last_committed_size = ledger->Size();

  MLAHUB_RETURN_IF_ERROR(LoadDirectoryAtStart());
  next_index = ledger->Size();
  MLAHUB_RETURN_IF_ERROR(RestoreQueues());
  MLAHUB_RETURN_IF_ERROR(InitChunks());

  // Transport: the ZAP handler first (the Server refuses to bind without it).
  auto c = transport::Context::Create(1);
  if (!c.ok()) return c.status();
  ctx = std::move(*c);
  transport::Authenticator::Options ao;
  ops::Counter* denied = m_auth_denied;
  ao.observer = [denied](const transport::AuthDecision& d) {
    if (d.admitted) {
      ops::Debug("agent.admitted", {{"agent", d.node_id}, {"address", d.address}});
    } else {
      denied->Inc();
      ops::Warn("agent.refused", {{"mechanism", d.mechanism},
                                  {"address", d.address},
                                  {"curve_key", d.curve_key},
                                  {"reason", d.reason}});
    }
  };
  const Clock* clk = clock;
  std::string hub_id = cfg.node_id;
  auth = std::make_shared<transport::Authenticator>(
      ctx,
      [this, clk, hub_id](const crypto::X25519PublicKey& k) -> std::optional<std::string> {
        auto d = CurrentDirectory();
        if (d == nullptr) return std::nullopt;
        const directory::Entry* e = d->FindByCurveKey(k, clk->NowMillis());
        if (e == nullptr || e->identity.id.str() == hub_id) return std::nullopt;
        return e->identity.id.str();
      },
      std::move(ao));
  MLAHUB_RETURN_IF_ERROR(auth->Start().Annotate("ZAP handler"));
  transport::ServerOptions so;
  so.endpoint = cfg.listen;
  so.max_frame_size = std::max<int64_t>(transport::kDefaultMaxFrameSize,
                                        static_cast<int64_t>(cfg.max_envelope_bytes) + (64 << 10));
  auto srv = transport::Server::Bind(ctx, auth, hub.curve, so);
  if (!srv.ok()) return srv.status().Annotate("broker.listen " + cfg.listen);
  server = std::move(*srv);
  server->set_wake_fd(mailbox.wake_fd());
  endpoint = server->endpoint();

  if (!cfg.metrics.listen.empty()) {
    auto ms = ops::MetricsServer::Start(*reg, cfg.metrics.listen);
    if (!ms.ok()) return ms.status().Annotate("metrics.listen " + cfg.metrics.listen);
    metrics_server = std::move(*ms);
    auto hp = ops::ParseLoopbackListen(cfg.metrics.listen);
    metrics_listen = (hp.ok() ? hp->first : std::string("127.0.0.1")) + ":" +
                     std::to_string(metrics_server->port());
  }

  int threads = cfg.verify_threads > 0
                    ? cfg.verify_threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  pool = std::make_unique<WorkerPool>(threads);
  UpdateGauges();
  return Status::Ok();
}

Status Broker::Impl::LoadDirectoryAtStart() {
  auto bytes = ReadFile(cfg.directory.file, kMaxDirectoryBytes);
  if (!bytes.ok()) return bytes.status().Annotate("directory.file " + cfg.directory.file);
  auto file_dir = directory::Directory::Verify(*bytes, root_key);
  if (!file_dir.ok())
    return file_dir.status().Annotate(
        "directory.file " + cfg.directory.file +
        " (is it signed by the operator key named in directory.root_key?)");
  std::error_code ec;
  dir_mtime = fs::last_write_time(cfg.directory.file, ec);
  dir_size = fs::file_size(cfg.directory.file, ec);

  auto use = std::make_shared<const directory::Directory>(std::move(*file_dir));
  Bytes use_bytes = std::move(*bytes);
  bool publish = true;
  MLAHUB_ASSIGN_OR_RETURN(auto stored_bytes, ledger->GetState(kDirectoryStateKey));
  if (stored_bytes.has_value()) {
    auto stored = directory::Directory::Verify(*stored_bytes, root_key);
    if (!stored.ok()) {
      ops::Warn("directory.stored_unusable", {{"error", stored.status().ToString()}});
    } else if (*stored_bytes == use_bytes) {
      publish = false;
    } else if (Status s = directory::Directory::AcceptNewer(*stored, *use); !s.ok()) {
      ops::Warn("directory.refused",
                {{"version", use->version()},
                 {"current", stored->version()},
                 {"reason",
                  "the file holds an older or equal version than the hub published; "
                  "keeping the hub's: " +
                      s.message()}});
      use = std::make_shared<const directory::Directory>(std::move(*stored));
      use_bytes = std::move(*stored_bytes);
      publish = false;
    }
  }
  const directory::Entry* me = use->Find(cfg.node_id);
  if (me == nullptr)
    return Status::InvalidArgument("the hub " + cfg.node_id + " is not in directory version " +
                                   std::to_string(use->version()) + " (" + cfg.directory.file +
                                   ")");
  if (me->identity.curve_key != hub.curve.public_key())
    return Status::InvalidArgument("the hub's transport key in broker.keys " + cfg.keys +
                                   " does not match its entry in directory version " +
                                   std::to_string(use->version()));
  if (publish) {
    crypto::Digest32 h = crypto::Sha256(use_bytes);
    storage::LedgerEntryFields e;
    e.event = wire::LedgerEvent::DirectoryPublished;
    e.ledger_ms = Now();
    e.directory_version = use->version();
    e.directory_hash.assign(h.begin(), h.end());
    std::promise<std::pair<Status, uint64_t>> done;
    auto fut = done.get_future();
    ledger->AppendAsync(storage::EncodeLedgerEntry(e), "",
                        {storage::StateWrite::Put(std::string(kDirectoryStateKey), use_bytes)},
                        [&done](const Status& s, uint64_t i) {
                          done.set_value({s, i});
                        });
    auto [st, index] = fut.get();
    if (!st.ok())
      return st.Annotate("recording directory version " + std::to_string(use->version()));
    m_directory_loads->Inc();
    ops::Info("directory.loaded",
              {{"version", use->version()}, {"network", use->network()}, {"ledger_index", index}});
  } else {
    ops::Info("directory.loaded", {{"version", use->version()}, {"network", use->network()}});
  }
  dir = use;
  dir_newest = use;
  dir_signed = std::move(use_bytes);
  {
    std::lock_guard<std::mutex> lk(dir_mu);
    dir_shared = dir;
  }
  directory_version = dir->version();
  m_directory_version->Set(static_cast<double>(dir->version()));
  return Status::Ok();
}

Status Broker::Impl::InitChunks() {
  ChunkRelay::Hooks h;
  h.send = [this](const std::string& node, const Command& cmd) {
    if (std::holds_alternative<transport::ChunkAck>(cmd)) {
      SendNotice(node, cmd);  // unasked (a transfer completed): to the newest connection, kept if full
      return true;
    }
    return SendTo(node, cmd);
  };
  h.answer = [this](const std::string& node, const std::string& peer, const Command& cmd) {
    SendAnswer(node, peer, cmd);  // kept if the pipe is full
  };
  h.write_state = [this](std::vector<storage::StateWrite> writes, std::function<void(const Status&)> done) {
    ++outstanding;
    ledger->WriteStateAsync(std::move(writes), [this, done = std::move(done)](const Status& s, uint64_t) mutable {
      if (!s.ok()) {
        mailbox.Push(Task{[this, s, done = std::move(done)] {
          Fatal(s.Annotate("ledger state write (evidence)"));
          done(s);
        }});
        return;
      }
      mailbox.Push(Task{[s, done = std::move(done)] { done(s); }});
    });
  };
  h.online = [this](const std::string& node) {
    auto it = sessions.find(node);
    return it != sessions.end() && it->second.online && !it->second.stalled && !draining &&
           !RepliesPending(node);
  };
  h.check_node = [this](const std::string& node) { return dir->CheckSender(node, Now()); };
  h.check_message = [this](const std::string& sender, const std::string& recipient,
                           const std::string& message_id) -> Status {
    // Answers say nothing about other senders' messages.
    Status none = Status::NotFound("message " + message_id + " is not an accepted envelope of " + sender + " for " +
                                   recipient + ": submit the envelope carrying the manifest first");
    auto b = ledger->GetState(MessageKey(message_id));
    if (!b.ok()) return Status::Unavailable("message record: " + b.status().message());
    if (!b->has_value()) return none;
    auto r = DecodeMessageRecord(**b);
    if (!r.ok() || !r->accepted || r->sender != sender || r->recipient != recipient) return none;
    return Status::Ok();
  };
  h.now_ms = [this] { return Now(); };
  h.ledger_completion = [this](const std::string& tid, const TransferRecord& r,
                               std::vector<storage::StateWrite> writes) {
    // No personal data: ids, the count and the chain root only. Not indexed
    // by message id (StatusResponse carries transport events only).
    storage::LedgerEntryFields e;
    e.event = wire::LedgerEvent::EvidenceComplete;
    e.ledger_ms = Now();
    e.message_id = r.message_id;
    e.sender = r.sender;
    e.recipient = r.recipient;
    e.transfer_id = tid;
    e.chunk_count = r.chunk_count;
    e.chunks_root.assign(r.root.begin(), r.root.end());
    AppendTag tag;
    tag.kind = AppendKind::kEvidence;
    tag.message_id = r.message_id;
    tag.transfer_id = tid;
    Append(storage::EncodeLedgerEntry(e), "", std::move(writes), std::move(tag));
  };
  ChunkRelayOptions chunk_options;
  chunk_options.retention_ms = cfg.evidence_retention_hours * 3600 * 1000;
  chunk_options.window = cfg.evidence_window_chunks;
  if (const char* v = std::getenv("MLAHUB_BROKER_TAMPER_CHUNK"); v != nullptr && *v != '\0') {
    chunk_options.tamper_chunk = std::strtoll(v, nullptr, 10);  // test-only (chunks.h)
    ops::Warn("broker.test_hook", {{"MLAHUB_BROKER_TAMPER_CHUNK", chunk_options.tamper_chunk}});
  }
  chunks = std::make_unique<ChunkRelay>(ledger.get(), std::move(h), chunk_options);
  MLAHUB_RETURN_IF_ERROR(chunks->Restore().Annotate("evidence transfers"));
  if (chunks->transfers() > 0) ops::Info("evidence.restored", {{"transfers", chunks->transfers()}});
  return Status::Ok();
}

Status Broker::Impl::RestoreQueues() {
  std::vector<std::pair<std::string, uint64_t>> found;
  Status inner;
  MLAHUB_RETURN_IF_ERROR(ledger->ScanState("n/", "", [&](std::string_view key, ByteView value) {
    auto next = ParseBe64(value);
    if (!next.ok() || *next == 0) {
      inner = Status::Corruption("state record " + std::string(key) + " is not a sequence number");
      return false;
    }
    found.emplace_back(std::string(key.substr(2)), *next);
    return true;
  }));
  MLAHUB_RETURN_IF_ERROR(inner);
  uint64_t queued = 0;
  for (auto& [node, next] : found) {
    uint64_t receipted = 0;
    MLAHUB_ASSIGN_OR_RETURN(auto c, ledger->GetState(ReceiptCountKey(node)));
    if (c.has_value()) {
      MLAHUB_ASSIGN_OR_RETURN(receipted, ParseBe64(*c));
    }
    if (receipted > next - 1)
      return Status::Corruption("queue state of " + node + ": " + std::to_string(receipted) +
                                " receipts for " + std::to_string(next - 1) + " envelopes");
    auto q = NewQueue(node);
    q->Restore(next, receipted);
    queued += q->depth();
    queues.emplace(node, std::move(q));
  }
  ops::Info("broker.queues_restored", {{"agents", queues.size()}, {"queued", queued}});
  return Status::Ok();
}

// ============================================================================
// The loop
// ============================================================================

void Broker::Impl::Loop() {
  SteadyTime drain_deadline{};
  for (;;) {
    if (stop_requested.load() && !draining) {
      draining = true;
      drain_deadline = SteadyClock::now() + kDrainLimit;
      ops::Info("broker.draining", {{"pending", outstanding}});
    }
    ProcessMailbox();
    if (draining) {
      for (auto& [node, p] : replies) {
        if (!p.queue.empty() && SteadyClock::now() >= p.retry_at) FlushReplies(node);
      }
      if (outstanding == 0) {
        // The last answers are in the socket's queue and ZMQ_LINGER is 0:
        // give the I/O thread a moment to put them on the wire (an answer
        // lost here is repeated as a duplicate when the agent resubmits).
        std::this_thread::sleep_for(kFinalFlush);
        break;
      }
      if (SteadyClock::now() > drain_deadline) {
        ops::Error("broker.drain_timeout", {{"pending", outstanding}});
        break;
      }
      mailbox.WaitFor(5ms);
      continue;
    }
    Periodic();
    if (OverBudget()) {
      mailbox.WaitFor(1ms);
      continue;
    }
    if (mailbox.wake_fd() >= 0 || outstanding == 0) {
      // Read what is there; only if nothing is, sleep on the socket and the
      // mailbox's eventfd together: a message or a completion wakes us at
      // once, and nothing else does before the timers' tick. (A short timed
      // wait here woke this thread thousands of times a second under load;
      // on this project's virtual machines that made the host throttle the
      // whole VM every 100 ms, fsyncs included.) With nothing in flight
      // nothing can complete, so without an eventfd the socket is enough.
      ReceiveBurst(kIdlePoll);
    } else if (ReceiveBurst(0ms) == 0) {
      // No eventfd: completions wake us through the mailbox's condition
      // variable; a new message waits at most kPendingPoll.
      mailbox.WaitFor(kPendingPoll);
    }
  }
  loop_done = true;
}

int Broker::Impl::ReceiveBurst(std::chrono::milliseconds first_timeout) {
  int got = 0;
  for (int i = 0; i < kReceiveBurst; ++i) {
    auto in = server->Receive(i == 0 ? first_timeout : 0ms);
    if (!in.ok()) {
      ++got;
      m_dropped->Inc();
      ops::Warn("transport.dropped",
                {{"code", CodeName(in.status().code())}, {"reason", in.status().message()}});
      continue;
    }
    if (!in->has_value()) {
      DispatchChecks(true);
      return got;
    }
    ++got;
    HandleIncoming(**in);
    if (OverBudget() || stop_requested.load()) break;
  }
  DispatchChecks(false);
  return got;
}

void Broker::Impl::DispatchChecks(bool input_drained) {
  if (checks.empty() && receipt_checks.empty()) return;
  // A lone message at low load: check it here. Handing it to a worker and
  // its result back costs two thread wake-ups, which at a few thousand
  // messages a second were a large part of the broker's CPU (on this
  // project's virtual machines a wake-up costs the host's time too). Under
  // load there is more than one per burst, or the workers are busy, and the
  // checks go to the pool, whose threads run them in parallel.
  if (checks.size() + receipt_checks.size() == 1 && input_drained && pool->Idle()) {
    auto& one = checks.empty() ? receipt_checks : checks;
    auto job = std::move(one.front());
    one.clear();
    job();  // its completion is in the mailbox, handled next turn
    return;
  }
  pool->PostAll(receipt_checks, /*first=*/true);
  pool->PostAll(checks);
}

void Broker::Impl::ProcessMailbox() {
  std::vector<Completion> batch;
  if (mailbox.Drain(&batch) == 0) return;
  for (Completion& c : batch) {
    --outstanding;
    if (auto* s = std::get_if<SubmitChecked>(&c)) {
      OnSubmitChecked(std::move(*s));
    } else if (auto* r = std::get_if<ReceiptChecked>(&c)) {
      OnReceiptChecked(std::move(*r));
    } else if (auto* a = std::get_if<Appended>(&c)) {
      if (!a->status.ok()) {
        Fatal(a->status.Annotate("ledger append"));
        // Nothing more is answered: the ledger stopped; the agents resend.
        if (a->tag.kind == AppendKind::kSubmit) FinishSubmit(a->tag.op);
        if (a->tag.kind == AppendKind::kReceipt || a->tag.kind == AppendKind::kReceiptRefusal)
          FinishReceipt(a->tag.op);
        continue;
      }
      MLAHUB_CHECK_MSG(a->index == a->predicted, "the broker must be the ledger's only appender");
      switch (a->tag.kind) {
        case AppendKind::kSubmit:
          OnSubmitDurable(a->tag.op, *a);
          break;
        case AppendKind::kReceipt:
          OnReceiptDurable(a->tag.op, *a, false);
          break;
        case AppendKind::kReceiptRefusal:
          OnReceiptDurable(a->tag.op, *a, true);
          break;
        case AppendKind::kDelivered:
          OnDelivered(*a);
          break;
        case AppendKind::kDirectory:
          OnDirectoryDurable(a->tag.op, *a);
          break;
        case AppendKind::kEvidence:
          ops::Info("evidence.completion_ledgered", {{"message_id", a->tag.message_id}, {"ledger_index", a->index}});
          if (chunks) chunks->OnCompletionDurable(a->tag.transfer_id);
          break;
        case AppendKind::kExpired:
          OnExpiredDurable(*a);
          break;
      }
    } else if (auto* tk = std::get_if<Task>(&c)) {
      tk->run();
    } else if (auto* rp = std::get_if<Reply>(&c)) {
      SendReplyFrames(rp->node, std::move(rp->peer), std::move(rp->frames));
    }
  }
  // Checks queued by the completions themselves (a Submit that waited on
  // another envelope under the same id, judged once the first is answered):
  // handed out now, since the loop may not read its socket again soon
  // (draining, or over budget).
  DispatchChecks(/*input_drained=*/false);
}

void Broker::Impl::Periodic() {
  SteadyTime now = SteadyClock::now();
  // Kept answers first: they go before any delivery.
  for (auto& [node, p] : replies) {
    if (!p.queue.empty() && now >= p.retry_at) FlushReplies(node);
  }
  RunTimers();
  if (now >= next_expiry_sweep) {
    next_expiry_sweep = now + kExpirySweepInterval;
    SweepExpired();
  }
  for (auto& [node, s] : sessions) {
    if (s.online && s.stalled && now >= s.stalled_until) {
      s.stalled = false;
      Pump(node);
    }
  }
  if (now >= next_reload) {
    auto interval = std::chrono::milliseconds(static_cast<int64_t>(
        static_cast<double>(cfg.directory.reload_interval_ms) / cfg.clock_rate));
    next_reload = now + std::max<std::chrono::milliseconds>(interval, kMinReloadInterval);
    CheckDirectoryFile();
  }
  if (now >= next_checkpoint_push) {
    next_checkpoint_push = now + kCheckpointPushInterval;
    PushCheckpoints();
    chunks->Periodic();
  }
  if (now >= next_metrics) {
    next_metrics = now + kMetricsInterval;
    UpdateGauges();
  }
}

void Broker::Impl::UpdateGauges() {
  size_t online = 0;
  for (auto& [node, s] : sessions) online += s.online ? 1 : 0;
  m_connected->Set(static_cast<double>(online));
  m_ledger_size->Set(static_cast<double>(ledger->Size()));
  for (auto& [node, q] : queues) {
    auto it = m_depth.find(node);
    if (it == m_depth.end()) {
      it = m_depth
               .emplace(node, &reg->gauge("mlahub_broker_queue_depth",
                                          "Envelopes accepted for an agent and not yet receipted",
                                          {{"agent", node}}))
               .first;
    }
    it->second->Set(static_cast<double>(q->depth()));
  }
}

void Broker::Impl::RefuseCommand(const transport::Incoming& in, const transport::DecodeLimits& dl, Code code,
                                  const std::string& reason) {
  BadCommand(code).Inc();
  if (!in.node_id.empty() && limiter.Limited(in.node_id, SteadyMs())) {
    m_rate_limited_frames->Inc();
    SendToPeer(in.peer, transport::ErrorReply{Code::kUnavailable, "rate limited: too many refusals",
                                              transport::RequestCorrelation(in.frames, dl)});
    return;
  }
  NoteRefusal(in.node_id);
  ops::Warn("command.refused", {{"agent", in.node_id}, {"code", CodeName(code)}, {"reason", reason}});
  SendToPeer(in.peer, transport::ErrorReply{code, reason, transport::RequestCorrelation(in.frames, dl)});
}

void Broker::Impl::HandleIncoming(transport::Incoming& in) {
  transport::DecodeLimits dl;
  dl.max_attachment_size = cfg.max_envelope_bytes;
  if (in.frames_total > in.frames.size()) {
    // Cut short by the transport: nothing of it is processed.
    RefuseCommand(in, dl, Code::kMalformed,
                  std::to_string(in.frames_total) + " frames in one message; at most " +
                      std::to_string(in.frames.size()) + " (a command and at most one attachment)");
    return;
  }
  auto cmd = transport::DecodeCommand(in.frames, dl);
  if (!cmd.ok() && cmd.status().code() == Code::kOversize) {
    // The frame is already in memory (bounded by ZMQ_MAXMSGSIZE): decode it
    // anyway so a Submit or SubmitReceipt gets its own named refusal with
    // its correlation (envelope::Parse says too_large).
    dl.max_attachment_size = SIZE_MAX;
    auto again = transport::DecodeCommand(in.frames, dl);
    if (again.ok() && (std::holds_alternative<transport::Submit>(*again) ||
                       std::holds_alternative<transport::SubmitReceipt>(*again)))
      cmd = std::move(again);
  }
  if (!cmd.ok()) {
    Code code = cmd.status().code() == Code::kUnknownKind ? Code::kUnknownKind
                : cmd.status().code() == Code::kOversize  ? Code::kOversize
                                                          : Code::kMalformed;
    RefuseCommand(in, dl, code, cmd.status().message());
    return;
  }
  const std::string& node = in.node_id;
  if (!node.empty() && limiter.Limited(node, SteadyMs()) &&
      !std::holds_alternative<transport::Ping>(*cmd) && !std::holds_alternative<transport::Pong>(*cmd)) {
    RefuseLimited(in, *cmd);
    return;
  }
  std::visit(
      [&](auto&& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, transport::Hello>) {
          OnHello(in, c);
        } else if constexpr (std::is_same_v<T, transport::Submit>) {
          OnSubmit(node, in.peer, std::move(c));
        } else if constexpr (std::is_same_v<T, transport::SubmitReceipt>) {
          OnSubmitReceipt(node, in.peer, std::move(c));
        } else if constexpr (std::is_same_v<T, transport::StatusRequest> ||
                             std::is_same_v<T, transport::ProofRequest>) {
          // A node revoked while connected learns nothing more.
          if (Status st = dir->CheckSender(node, Now()); !st.ok()) {
            SendToPeer(in.peer, transport::ErrorReply{st.code(), st.message(), c.correlation});
          } else if constexpr (std::is_same_v<T, transport::StatusRequest>) {
            OnStatusRequest(node, in.peer, c);
          } else {
            OnProofRequest(node, in.peer, c);
          }
        } else if constexpr (std::is_same_v<T, transport::ChunkPut>) {
          chunks->OnPut(node, std::move(c), in.peer);
        } else if constexpr (std::is_same_v<T, transport::ChunkReceived>) {
          chunks->OnReceived(node, c);
        } else if constexpr (std::is_same_v<T, transport::ChunkStatus>) {
          chunks->OnStatus(node, c, in.peer);
        } else if constexpr (std::is_same_v<T, transport::Ping>) {
          SendToPeer(in.peer, transport::Pong{c.nonce, c.sent_ms});
        } else if constexpr (std::is_same_v<T, transport::Pong>) {
          // Liveness answer to nothing we sent: ignore.
        } else if constexpr (std::is_same_v<T, transport::ErrorReply>) {
          ops::Warn("agent.error",
                    {{"agent", node}, {"code", CodeName(c.code)}, {"correlation", c.correlation}});
        } else {
          BadCommand(Code::kMalformed).Inc();
          SendToPeer(in.peer,
                     transport::ErrorReply{Code::kMalformed,
                                           std::string(transport::CommandName(Command(c))) +
                                               " goes from the broker to agents",
                                           0});
        }
      },
      std::move(*cmd));
}

void Broker::Impl::RefuseLimited(const transport::Incoming& in, Command& cmd) {
  m_rate_limited_frames->Inc();
  const std::string& node = in.node_id;
  const int64_t wait_ms = std::max<int64_t>(0, limiter.LimitedUntil(node) - SteadyMs());
  const std::string why = "rate limited: more than " + std::to_string(cfg.refusals_per_second) +
                          " refusals in a second; send again in " + std::to_string(wait_ms) + " ms";
  if (auto* sub = std::get_if<transport::Submit>(&cmd)) {
    transport::SubmitResult r;
    r.correlation = sub->correlation;
    r.message_id = OwnMessageId(node, sub->envelope, cfg.max_envelope_bytes).value_or("");
    r.accepted = false;
    r.error = Code::kUnavailable;
    r.message = why;
    SendAnswer(node, in.peer, r);
  } else if (auto* rc = std::get_if<transport::SubmitReceipt>(&cmd)) {
    transport::ReceiptResult r;
    r.correlation = rc->correlation;
    r.accepted = false;
    r.error = Code::kUnavailable;
    r.message = why;
    SendAnswer(node, in.peer, r);
  } else {
    uint64_t correlation = std::visit(
        [](const auto& c) -> uint64_t {
          if constexpr (requires { c.correlation; }) {
            return c.correlation;
          } else {
            return 0;
          }
        },
        cmd);
    SendToPeer(in.peer, transport::ErrorReply{Code::kUnavailable, why, correlation});
  }
}

// ---- Hello -------------------------------------------------------------------

void Broker::Impl::OnHello(const transport::Incoming& in, const transport::Hello& h) {
  const std::string& node = in.node_id;
  if (h.node_id != node) {
    BadCommand(Code::kSenderMismatch).Inc();
    ops::Warn("agent.hello_refused", {{"agent", node}, {"reason", "Hello names another node"}});
    SendToPeer(in.peer, transport::ErrorReply{
                            Code::kSenderMismatch,
                            "Hello names node '" +
                                std::string(NodeId::Parse(h.node_id).ok() ? h.node_id : "?") +
                                "' but the connection is authenticated as " + node,
                            0});
    return;
  }
  if (Status s = dir->CheckSender(node, Now()); !s.ok()) {
    SendToPeer(in.peer, transport::ErrorReply{s.code(), s.message(), 0});
    sessions[node].online = false;
    return;
  }
  Session& s = sessions[node];
  bool was_online = s.online;
  s.online = true;
  s.stalled = false;
  // Answers still kept for the node's other connections stay theirs: they
  // are sent if that connection is alive, dropped once it is found gone.
  AgentQueue& q = QueueOf(node);
  ops::Info("agent.connected", {{"agent", node},
                                {"directory_version", h.directory_version},
                                {"checkpoint_size", h.checkpoint_size},
                                {"last_delivery_seq", h.last_delivery_seq},
                                {"queued", q.depth()},
                                {"was_online", was_online}});
  if (dir->version() > h.directory_version)
    SendTo(node, transport::DirectoryUpdate{dir->version(), dir_signed});
  SendCheckpoint(node, s, h.checkpoint_size);
  q.ResetCursor();
  chunks->OnHello(node);
  Pump(node);
  m_connected->Set(static_cast<double>(std::count_if(
      sessions.begin(), sessions.end(), [](const auto& kv) { return kv.second.online; })));
}

void Broker::Impl::SendCheckpoint(const std::string& node, Session& s, uint64_t from) {
  uint64_t size = 0;
  auto note = ledger->LatestCheckpoint(&size);
  if (!note.ok()) {
    ops::Error("ledger.checkpoint_unreadable", {{"error", note.status().ToString()}});
    return;
  }
  transport::CheckpointUpdate cu;
  cu.note = ToBytes(*note);
  if (from > 0 && from <= size) {
    auto proof = ledger->ProveConsistency(from, size);
    if (proof.ok()) {
      cu.old_size = from;
      cu.consistency = std::move(*proof);
    } else {
      ops::Error("ledger.proof_failed",
                 {{"old_size", from}, {"size", size}, {"error", proof.status().ToString()}});
    }
  } else if (from > size) {
    ops::Warn("agent.checkpoint_ahead",
              {{"agent", node}, {"agent_size", from}, {"hub_size", size}});
  }
  if (SendTo(node, cu)) s.checkpoint_sent = size;
}

void Broker::Impl::PushCheckpoints() {
  uint64_t size = 0;
  auto note = ledger->LatestCheckpoint(&size);
  if (!note.ok()) return;
  for (auto& [node, s] : sessions) {
    if (!s.online || s.stalled || s.checkpoint_sent >= size) continue;
    SendCheckpoint(node, s, s.checkpoint_sent);
  }
}

// ---- Submit ------------------------------------------------------------------

void Broker::Impl::OnSubmit(const std::string& node, const std::string& peer, transport::Submit&& s) {
  std::optional<std::string> id = OwnMessageId(node, s.envelope, cfg.max_envelope_bytes);
  if (id.has_value()) {
    auto it = submit_by_id.find(*id);
    if (it != submit_by_id.end()) {
      // The same id is being judged right now: answer this one with the
      // first answer once it is durable.
      SubmitOp& first = submits.at(it->second);
      const Bytes& judged = first.envelope.empty() ? first.record.envelope : first.envelope;
      Waiter w{node, peer, s.correlation};
      if (judged != s.envelope) {
        w.other_envelope = true;
        first.bytes += s.envelope.size();
        pending_bytes += s.envelope.size();
        w.envelope = std::move(s.envelope);
      }
      first.waiters.push_back(std::move(w));
      return;
    }
  }
  uint64_t op_id = next_op++;
  SubmitOp& op = submits[op_id];
  op.node = node;
  op.peer = peer;
  op.correlation = s.correlation;
  op.envelope = std::move(s.envelope);
  op.received = SteadyClock::now();
  op.bytes = op.envelope.size();
  pending_bytes += op.bytes;
  if (id.has_value()) {
    op.tracked_id = *id;
    submit_by_id.emplace(*id, op_id);
  }
  ++outstanding;
  // The worker reads op.envelope in place: the op outlives the job (it is
  // erased only after this job's completion was processed).
  ByteView env(op.envelope);
  checks.push_back([this, op_id, node, env, d = dir, now = Now()] {
    storage::Ledger* l = ledger.get();
    SubmitVerdict v =
        EvaluateSubmit(node, env, *d, now, limits,
                       [l](std::string_view mid) -> Result<std::optional<MessageRecord>> {
                         MLAHUB_ASSIGN_OR_RETURN(auto b, l->GetState(MessageKey(mid)));
                         if (!b.has_value()) return std::optional<MessageRecord>();
                         MLAHUB_ASSIGN_OR_RETURN(MessageRecord r, DecodeMessageRecord(*b));
                         return std::optional<MessageRecord>(std::move(r));
                       });
    if (v.verify_seconds > 0) m_verify_latency->Observe(v.verify_seconds);
    mailbox.Push(SubmitChecked{op_id, std::move(v)});
  });
}

void Broker::Impl::OnSubmitChecked(SubmitChecked&& c) {
  auto it = submits.find(c.op);
  MLAHUB_CHECK(it != submits.end());
  SubmitOp& op = it->second;
  SubmitVerdict& v = c.verdict;
  transport::SubmitResult& ans = op.answer;
  ans.correlation = op.correlation;
  ans.message_id = v.message_id;

  if (v.kind == VerdictKind::kDuplicate) {
    const MessageRecord& f = v.first;
    ans.accepted = f.accepted;
    ans.error = f.error;
    ans.message =
        f.accepted ? "" : (f.message.empty() ? std::string(CodeName(f.error)) : f.message);
    ans.ledger_index = f.ledger_index;
    ans.tree_size = std::max(ledger->Size(), f.ledger_index + 1);
    ans.duplicate = true;
    m_duplicates->Inc();
    ops::Info("envelope.duplicate",
              {{"message_id", v.message_id}, {"sender", op.node}, {"accepted", f.accepted}});
    AnswerSubmit(op);
    FinishSubmit(c.op);
    return;
  }

  if (v.kind == VerdictKind::kRefuse) {
    ans.accepted = false;
    ans.error = v.refusal.code();
    ans.message = v.refusal.message();
    std::vector<storage::StateWrite> writes;
    uint64_t index = next_index;  // the index Append will predict
    if (v.recorded) {
      MessageRecord r;
      r.accepted = false;
      r.error = v.refusal.code();
      r.message = v.refusal.message();
      r.ledger_index = index;
      r.sender = op.node;
      r.recipient = v.recipient;
      r.state = HubState::kRejected;
      r.envelope_hash = v.envelope_hash;
      writes.push_back(storage::StateWrite::Put(MessageKey(v.message_id), EncodeMessageRecord(r)));
    }
    Refused(v.refusal.code()).Inc();
    NoteRefusal(op.node);
    ops::Info("envelope.refused", {{"message_id", v.message_id},
                                   {"sender", op.node},
                                   {"recipient", v.recipient},
                                   {"code", CodeName(v.refusal.code())},
                                   {"reason", v.refusal.message()}});
    Append(std::move(v.entry), v.recorded ? v.message_id : std::string(), std::move(writes),
           AppendTag{AppendKind::kSubmit, c.op});
    return;
  }

  // Accepted: queue it for the recipient under the next delivery sequence,
  // in the same batch as its entry and its duplicate-table record.
  AgentQueue& q = QueueOf(v.recipient);
  op.recipient = v.recipient;
  op.seq = q.AssignSeq();
  uint64_t index = next_index;
  op.record.ledger_index = index;
  op.record.kind = v.kind_value;
  op.record.envelope_hash = v.envelope_hash;
  op.record.expires_ms = v.expires_ms;
  op.record.message_id = v.message_id;
  op.record.sender = op.node;
  MessageRecord r;
  r.accepted = true;
  r.ledger_index = index;
  r.sender = op.node;
  r.recipient = v.recipient;
  r.seq = op.seq;
  r.state = HubState::kQueued;
  r.envelope_hash = v.envelope_hash;
  std::vector<storage::StateWrite> writes;
  writes.reserve(4);
  {
    // Encode with the envelope, then keep the envelope in the op for the
    // resident queue once durable.
    op.record.envelope = std::move(op.envelope);
    writes.push_back(
        storage::StateWrite::Put(QueueKey(v.recipient, op.seq), EncodeQueueRecord(op.record)));
  }
  writes.push_back(storage::StateWrite::Put(NextSeqKey(v.recipient), ToBytes(Be64Key(op.seq + 1))));
  writes.push_back(storage::StateWrite::Put(MessageKey(v.message_id), EncodeMessageRecord(r)));
  // The expiry index (empty value): the sweep finds it when it is due.
  writes.push_back(
      storage::StateWrite::Put(ExpiryKey(v.expires_ms, v.recipient, op.seq), Bytes{}));
  ans.accepted = true;
  ans.error = Code::kOk;
  Append(std::move(v.entry), v.message_id, std::move(writes), AppendTag{AppendKind::kSubmit, c.op});
}

void Broker::Impl::OnSubmitDurable(uint64_t op_id, const Appended& a) {
  auto it = submits.find(op_id);
  MLAHUB_CHECK(it != submits.end());
  SubmitOp& op = it->second;
  op.answer.ledger_index = a.index;
  op.answer.tree_size = std::max(ledger->Size(), a.index + 1);
  // Metrics first: whoever reads the answer may look at them next.
  if (op.answer.accepted) m_accepted->Inc();
  m_submit_latency->Observe(SecondsSince(op.received));
  AnswerSubmit(op);
  if (op.answer.accepted) {
    // Debug: one line per message; the ledger holds every acceptance and the
    // metrics count them (at info this was a quarter of the socket thread).
    ops::Debug("envelope.accepted", {{"message_id", op.record.message_id},
                                    {"sender", op.node},
                                    {"recipient", op.recipient},
                                    {"kind", static_cast<int>(op.record.kind)},
                                    {"size", op.record.envelope.size()},
                                    {"seq", op.seq},
                                    {"ledger_index", a.index}});
    std::string recipient = op.recipient;
    // Its expiry index key is durable now: the sweep must look from there.
    sweep_from = std::min(sweep_from, op.record.expires_ms);
    sweep_next_due = std::min(sweep_next_due, op.record.expires_ms);
    QueueOf(recipient).OnDurable(op.seq, std::move(op.record));
    FinishSubmit(op_id);
    Pump(recipient);
    return;
  }
  FinishSubmit(op_id);
}

void Broker::Impl::AnswerSubmit(SubmitOp& op) {
  SendAnswer(op.node, op.peer, op.answer);
  for (const Waiter& w : op.waiters) {
    transport::SubmitResult dup = op.answer;
    dup.correlation = w.correlation;
    dup.duplicate = true;
    if (w.node != op.node && op.answer.accepted) {
      // Cannot happen for tracked ids (they are the sender's own), but never
      // hand one node's acceptance to another.
      dup.accepted = false;
      dup.error = Code::kDuplicate;
      dup.message = "message id " + op.answer.message_id + " is in use by another sender";
    } else if (w.other_envelope) {
      continue;  // judged on its own in FinishSubmit
    }
    m_duplicates->Inc();
    SendAnswer(w.node, w.peer, dup);
  }
}

void Broker::Impl::FinishSubmit(uint64_t op_id) {
  auto it = submits.find(op_id);
  if (it == submits.end()) return;
  SubmitOp& op = it->second;
  if (!op.tracked_id.empty()) submit_by_id.erase(op.tracked_id);
  pending_bytes -= std::min(pending_bytes, op.bytes);
  std::vector<Waiter> others;
  for (Waiter& w : op.waiters) {
    if (w.other_envelope) others.push_back(std::move(w));
  }
  submits.erase(it);
  if (!fatal.ok()) return;  // the ledger stopped: nothing more is answered
  for (Waiter& w : others) {
    transport::Submit again;
    again.correlation = w.correlation;
    again.envelope = std::move(w.envelope);
    OnSubmit(w.node, w.peer, std::move(again));
  }
}

// ---- Receipts ----------------------------------------------------------------

void Broker::Impl::OnSubmitReceipt(const std::string& node, const std::string& peer,
                                   transport::SubmitReceipt&& r) {
  auto key = std::make_pair(node, r.delivery_seq);
  if (auto it = receipt_by_seq.find(key); it != receipt_by_seq.end()) {
    receipts.at(it->second).waiters.push_back({node, peer, r.correlation});
    return;
  }
  uint64_t op_id = next_op++;
  ReceiptOp& op = receipts[op_id];
  op.node = node;
  op.peer = peer;
  op.correlation = r.correlation;
  op.seq = r.delivery_seq;
  op.receipt = std::move(r.signed_receipt);
  pending_bytes += op.receipt.size();
  receipt_by_seq.emplace(key, op_id);

  if (op.receipt.size() > cfg.max_envelope_bytes)
    return RefuseReceipt(
        op_id, Status::Oversize("receipt of " + std::to_string(op.receipt.size()) + " bytes"));
  if (Status s = dir->CheckSender(node, Now()); !s.ok()) return RefuseReceipt(op_id, s);
  const directory::Entry* me = dir->Find(node);
  if (me == nullptr)
    return RefuseReceipt(op_id, Status::UnknownSender(node + " is not in the directory"));
  crypto::SignPublicKey key_now = me->identity.sign_key;

  // The envelope receipted: resident, or on disk. Read in place (an
  // envelope may be megabytes; only its metadata and creation time are used).
  AgentQueue& q = QueueOf(node);
  std::optional<QueueRecord> from_disk;
  const QueueRecord* rec = nullptr;
  if (QueueItem* item = q.Find(op.seq); item != nullptr) {
    rec = &item->record;
  } else if (op.seq >= 1 && op.seq < q.durable_next()) {
    auto b = ledger->GetState(QueueKey(node, op.seq));
    if (!b.ok())
      return RefuseReceipt(op_id, Status::Unavailable("queue unreadable: " + b.status().message()));
    if (b->has_value()) {
      auto d = DecodeQueueRecord(**b);
      if (!d.ok()) return RefuseReceipt(op_id, d.status());
      from_disk = std::move(*d);
      rec = &*from_disk;
    }
  }
  ++outstanding;
  ByteView receipt(op.receipt);
  if (rec != nullptr) {
    // The receipt's earliest time. Verified when accepted; 0: not checked.
    auto header = envelope::Parse(rec->envelope, rec->envelope.size());
    const int64_t created_ms = header.ok() ? header->header->created_ms() : 0;
    op.have_item = true;
    op.expires_ms = rec->expires_ms;
    // Its expiry was issued first: this receipt is late (recorded all the same).
    op.late = q.IsExpiring(op.seq);
    op.accepted_index = rec->ledger_index;
    op.message_id = rec->message_id;
    op.expect.message_id = rec->message_id;
    op.expect.sender = rec->sender;
    op.expect.recipient = node;
    op.expect.kind = rec->kind;
    op.expect.envelope_hash = rec->envelope_hash;
    op.expect.created_ms = created_ms;
    op.expect.expires_ms = rec->expires_ms;
    op.expect.max_clock_skew_ms = cfg.max_clock_skew_ms;
    receipt_checks.push_back([this, op_id, receipt, key_now, expect = op.expect, now = Now()] {
      ReceiptChecked c;
      c.op = op_id;
      c.verdict = EvaluateReceipt(receipt, key_now, expect, now);
      if (c.verdict.verify_seconds > 0) m_verify_latency->Observe(c.verdict.verify_seconds);
      mailbox.Push(std::move(c));
    });
    return;
  }
  // Not queued: a repeat of a receipt already recorded, a late receipt of an
  // envelope that expired at the hub, or nothing. It finishes no delivery:
  // checked in turn with the submits, not ahead of them.
  checks.push_back([this, op_id, receipt, key_now, node, seq = op.seq, now = Now()] {
    ReceiptChecked c;
    c.op = op_id;
    auto not_found = Status::NotFound("no envelope with delivery_seq " + std::to_string(seq) +
                                      " is queued for " + node);
    auto info = envelope::DecodeReceipt(receipt);
    if (!info.ok()) {
      c.verdict.status = info.status();
      return mailbox.Push(std::move(c));
    }
    auto b = MessageId::Parse(info->message_id).ok()
                 ? ledger->GetState(MessageKey(info->message_id))
                 : Result<std::optional<Bytes>>(std::optional<Bytes>());
    std::optional<MessageRecord> rec;
    if (b.ok() && b->has_value()) {
      if (auto d = DecodeMessageRecord(**b); d.ok()) rec = std::move(*d);
    }
    if (!rec || !rec->accepted || rec->recipient != node || rec->seq != seq ||
        (rec->state != HubState::kReceipted && rec->state != HubState::kExpired)) {
      c.verdict.status = not_found;
      return mailbox.Push(std::move(c));
    }
    const bool late = rec->state == HubState::kExpired;
    ReceiptExpectation expect;
    expect.message_id = info->message_id;
    expect.sender = rec->sender;
    expect.recipient = node;
    expect.envelope_hash = rec->envelope_hash;
    if (late) {
      // The message record has no kind; its Accepted entry has (so the
      // Receipt entry names the kind, as an in-time one does).
      // If it cannot be read the receipt is still recorded (it is the
      // truth), with kind 0, and the failure logged.
      auto accepted = ledger->Entry(rec->ledger_index);
      auto entry = accepted.ok() ? storage::DecodeLedgerEntry(*accepted)
                                 : Result<const wire::LedgerEntry*>(accepted.status());
      if (entry.ok()) {
        expect.kind = static_cast<uint8_t>((*entry)->kind());
        expect.created_ms = (*entry)->created_ms();
        expect.expires_ms = (*entry)->expires_ms();
        expect.max_clock_skew_ms = cfg.max_clock_skew_ms;
      } else {
        ops::Error("receipt.kind_unknown", {{"message_id", info->message_id},
                                            {"accepted_index", rec->ledger_index},
                                            {"error", entry.status().ToString()}});
      }
    }
    ReceiptVerdict v = EvaluateReceipt(receipt, key_now, expect, late ? now : 0);
    if (v.verify_seconds > 0) m_verify_latency->Observe(v.verify_seconds);
    c.message_id = info->message_id;
    if (!v.status.ok()) {
      c.verdict.status = v.status;
    } else if (late) {
      // Delivered before it expired, receipted after: the receipt is the
      // truth, so it is recorded (the message ends Receipted).
      c.verdict = std::move(v);
      c.late = std::move(*rec);
    } else {
      c.repeat = true;
      c.repeat_index = rec->receipt_index;
    }
    mailbox.Push(std::move(c));
  });
}

void Broker::Impl::OnReceiptChecked(ReceiptChecked&& c) {
  auto it = receipts.find(c.op);
  MLAHUB_CHECK(it != receipts.end());
  ReceiptOp& op = it->second;
  if (op.message_id.empty()) op.message_id = c.message_id;
  if (c.repeat) {
    transport::ReceiptResult rr;
    rr.correlation = op.correlation;
    rr.message_id = op.message_id;
    rr.accepted = true;
    rr.ledger_index = c.repeat_index;
    rr.duplicate = true;
    SendAnswer(op.node, op.peer, rr);
    for (const Waiter& w : op.waiters) {
      rr.correlation = w.correlation;
      SendAnswer(w.node, w.peer, rr);
    }
    FinishReceipt(c.op);
    return;
  }
  if (!c.verdict.status.ok()) return RefuseReceipt(c.op, c.verdict.status);
  if (c.late.has_value()) {
    op.late = true;
    op.accepted_index = c.late->ledger_index;
    op.expect.message_id = op.message_id;
    op.expect.sender = c.late->sender;
    op.expect.recipient = op.node;
    op.expect.envelope_hash = c.late->envelope_hash;
  }

  AgentQueue& q = QueueOf(op.node);
  uint64_t index = next_index;
  MessageRecord r;
  r.accepted = true;
  r.ledger_index = op.accepted_index;
  r.sender = op.expect.sender;
  r.recipient = op.node;
  r.seq = op.seq;
  r.state = HubState::kReceipted;
  r.envelope_hash = op.expect.envelope_hash;
  r.receipt_index = index;
  std::vector<storage::StateWrite> writes;
  writes.push_back(storage::StateWrite::Put(ReceiptKey(op.message_id), op.receipt));
  writes.push_back(storage::StateWrite::Put(MessageKey(op.message_id), EncodeMessageRecord(r)));
  if (!op.late) {
    // A late receipt: the expiry already took it out of the queue, its index
    // and its count.
    writes.push_back(storage::StateWrite::Delete(QueueKey(op.node, op.seq)));
    if (op.expires_ms > 0)
      writes.push_back(storage::StateWrite::Delete(ExpiryKey(op.expires_ms, op.node, op.seq)));
    writes.push_back(
        storage::StateWrite::Put(ReceiptCountKey(op.node), ToBytes(Be64Key(q.IssueReceipt()))));
  }
  Append(std::move(c.verdict.entry), op.message_id, std::move(writes),
         AppendTag{AppendKind::kReceipt, c.op});
}

void Broker::Impl::RefuseReceipt(uint64_t op_id, Status why) {
  ReceiptOp& op = receipts.at(op_id);
  op.refusal = why;
  Refused(why.code()).Inc();
  NoteRefusal(op.node);
  ops::Info("receipt.refused", {{"agent", op.node},
                                {"delivery_seq", op.seq},
                                {"message_id", op.message_id},
                                {"code", CodeName(why.code())},
                                {"reason", why.message()}});
  storage::LedgerEntryFields e;
  e.event = wire::LedgerEvent::Rejected;
  e.ledger_ms = Now();
  if (MessageId::Parse(op.message_id).ok()) e.message_id = op.message_id;
  if (op.have_item) {
    e.sender = op.expect.sender;
    e.kind = static_cast<wire::MessageKind>(op.expect.kind);
    e.envelope_hash.assign(op.expect.envelope_hash.begin(), op.expect.envelope_hash.end());
  }
  e.recipient = op.node;
  e.error = static_cast<wire::ErrorCode>(why.code());
  if (!op.receipt.empty()) {
    crypto::Digest32 h = crypto::Sha256(op.receipt);
    e.receipt_hash.assign(h.begin(), h.end());
  }
  // Not indexed by the message id: a refused receipt is not an event of the
  // message (its history stays that of the genuine envelope).
  Append(storage::EncodeLedgerEntry(e), "", {}, AppendTag{AppendKind::kReceiptRefusal, op_id});
}

void Broker::Impl::OnReceiptDurable(uint64_t op_id, const Appended& a, bool refusal) {
  auto it = receipts.find(op_id);
  MLAHUB_CHECK(it != receipts.end());
  ReceiptOp& op = it->second;
  transport::ReceiptResult rr;
  rr.correlation = op.correlation;
  rr.message_id = MessageId::Parse(op.message_id).ok() ? op.message_id : std::string();
  rr.ledger_index = a.index;
  if (refusal) {
    rr.accepted = false;
    rr.error = op.refusal.code();
    rr.message = op.refusal.message();
  } else {
    rr.accepted = true;
    m_receipts->Inc();
  }
  SendAnswer(op.node, op.peer, rr);
  for (const Waiter& w : op.waiters) {
    transport::ReceiptResult d = rr;
    d.correlation = w.correlation;
    d.duplicate = rr.accepted;
    SendAnswer(w.node, w.peer, d);
  }
  if (!refusal) {
    AgentQueue& q = QueueOf(op.node);
    if (!op.late) q.OnReceipted(op.seq);
    ops::Debug("receipt.accepted", {{"message_id", op.message_id},  // per message, as envelope.accepted
                                   {"sender", op.expect.sender},
                                   {"recipient", op.node},
                                   {"delivery_seq", op.seq},
                                   {"ledger_index", a.index},
                                   {"after_expiry", op.late}});
    // Transport evidence for the sender, best effort.
    transport::Notice n;
    n.message_id = op.message_id;
    n.event.event = transport::EventKind::kReceipt;
    n.event.ledger_index = a.index;
    n.event.at_ms = Now();
    n.event.state = static_cast<uint8_t>(wire::MessageState::Receipted);
    n.receipt = op.receipt;
    if (sessions.count(op.expect.sender) != 0 && sessions[op.expect.sender].online)
      SendNotice(op.expect.sender, n);
    std::string node = op.node;
    FinishReceipt(op_id);
    Pump(node);
    return;
  }
  FinishReceipt(op_id);
}

void Broker::Impl::FinishReceipt(uint64_t op_id) {
  auto it = receipts.find(op_id);
  if (it == receipts.end()) return;
  receipt_by_seq.erase({it->second.node, it->second.seq});
  pending_bytes -= std::min(pending_bytes, it->second.receipt.size());
  receipts.erase(it);
}

// ---- Status and proofs (read on a worker) ------------------------------------

void Broker::Impl::OnStatusRequest(const std::string& node, const std::string& peer,
                                   const transport::StatusRequest& r) {
  ++outstanding;
  pool->Post([this, node, peer, r] {
    transport::StatusResponse out;
    out.correlation = r.correlation;
    out.message_id = MessageId::Parse(r.message_id).ok() ? r.message_id : std::string();
    auto not_found = [&] {
      out.error = Code::kNotFound;
      out.message = "no message " +
                    (out.message_id.empty() ? std::string("(malformed id)") : out.message_id) +
                    " sent by or to " + node + " is known to the hub";
      out.events.clear();
      out.receipt.clear();
    };
    std::optional<MessageRecord> rec;
    if (!out.message_id.empty()) {
      auto b = ledger->GetState(MessageKey(out.message_id));
      if (b.ok() && b->has_value()) {
        if (auto d = DecodeMessageRecord(**b); d.ok()) rec = std::move(*d);
      }
    }
    if (!rec || (rec->sender != node && rec->recipient != node)) {
      not_found();
    } else {
      auto indices = ledger->FindByIndexKey(out.message_id);
      if (!indices.ok()) {
        out.error = indices.status().code();
        out.message = indices.status().message();
      } else {
        for (uint64_t i : *indices) {
          if (out.events.size() >= transport::kMaxStatusEvents) break;
          auto bytes = ledger->Entry(i);
          if (!bytes.ok()) continue;
          auto e = storage::DecodeLedgerEntry(*bytes);
          if (!e.ok()) continue;
          transport::TransportEvent ev;
          ev.event = static_cast<transport::EventKind>((*e)->event());
          ev.ledger_index = i;
          ev.at_ms = (*e)->ledger_ms();
          ev.error = static_cast<Code>((*e)->error());
          ev.attempt = (*e)->attempt();
          ev.state = static_cast<uint8_t>((*e)->state());
          out.events.push_back(ev);
        }
        auto rb = ledger->GetState(ReceiptKey(out.message_id));
        if (rb.ok() && rb->has_value()) out.receipt = std::move(**rb);
      }
    }
    auto frames = transport::EncodeCommand(out);
    if (!frames.ok()) {
      frames = transport::EncodeCommand(
          transport::ErrorReply{Code::kInternal, frames.status().message(), r.correlation});
    }
    mailbox.Push(Reply{node, peer, frames.ok() ? std::move(*frames) : Frames{}});
  });
}

void Broker::Impl::OnProofRequest(const std::string& node, const std::string& peer,
                                  const transport::ProofRequest& r) {
  ++outstanding;
  pool->Post([this, node, peer, r] {
    transport::ProofResponse out;
    out.correlation = r.correlation;
    out.kind = r.kind;
    out.index = r.index;
    out.tree_size = r.tree_size;
    out.old_size = r.old_size;
    auto fail = [&](const Status& s) {
      out.error = s.code();
      out.message = s.message();
    };
    if (r.kind == transport::ProofKind::kInclusion) {
      if (r.index >= r.tree_size) {
        fail(Status::NotFound("index " + std::to_string(r.index) + " is not below tree size " +
                              std::to_string(r.tree_size)));
      } else if (auto p = ledger->ProveInclusion(r.index, r.tree_size); !p.ok()) {
        fail(p.status());
      } else {
        out.entry = std::move(p->entry);
        out.proof = std::move(p->path);
      }
    } else if (r.kind == transport::ProofKind::kConsistency) {
      if (r.old_size > r.tree_size) {
        fail(Status::InvalidArgument("old_size " + std::to_string(r.old_size) +
                                     " is larger than tree_size " + std::to_string(r.tree_size)));
      } else if (auto p = ledger->ProveConsistency(r.old_size, r.tree_size); !p.ok()) {
        fail(p.status());
      } else {
        out.proof = std::move(*p);
      }
    } else {
      fail(Status::InvalidArgument("unknown proof kind (expected Inclusion or Consistency)"));
    }
    auto frames = transport::EncodeCommand(out);
    if (!frames.ok()) {
      frames = transport::EncodeCommand(
          transport::ErrorReply{Code::kInternal, frames.status().message(), r.correlation});
    }
    mailbox.Push(Reply{node, peer, frames.ok() ? std::move(*frames) : Frames{}});
  });
}

// ---- Delivery ----------------------------------------------------------------

void Broker::Impl::Pump(const std::string& node) {
  if (draining) return;
  auto sit = sessions.find(node);
  if (sit == sessions.end() || !sit->second.online || sit->second.stalled) return;
  // Kept answers go before any delivery (tried again once the retry time
  // after a full pipe has passed: not a pass over the queue per Pump).
  if (auto rit = replies.find(node); rit != replies.end() && !rit->second.queue.empty() &&
                                     SteadyClock::now() >= rit->second.retry_at) {
    FlushReplies(node);
    if (!sit->second.online || sit->second.stalled) return;
  }
  if (RepliesPending(node)) return;
  auto qit = queues.find(node);
  if (qit == queues.end()) {
    chunks->Pump(node);
    return;
  }
  AgentQueue& q = *qit->second;
  const size_t max_inflight = MaxInflight();
  const int64_t now = Now();
  while (q.in_flight() < max_inflight) {
    auto next = q.NextToSend();
    if (!next.ok()) {
      ops::Error("queue.read_failed", {{"agent", node}, {"error", next.status().ToString()}});
      return;
    }
    if (*next == nullptr) break;
    QueueItem* item = *next;
    if (int64_t exp = ExpiresOf(item->record); exp > 0 && now > exp) {
      // Expired before this send: never delivered (the head of the queue
      // is checked here; the sweep finds the rest, sent or not).
      Expire(node, q, item->seq, item->record);
      q.Skip(item);
      continue;
    }
    if (!SendDeliver(node, q, item)) return;
  }
  // Evidence chunks only after every envelope that may be sent now.
  chunks->Pump(node);
}

bool Broker::Impl::SendDeliver(const std::string& node, AgentQueue& q, QueueItem* item) {
  transport::Deliver d;
  d.delivery_seq = item->seq;
  d.ledger_index = item->record.ledger_index;
  d.envelope = item->record.envelope;
  d.settled_below = std::min(q.settled_below(), item->seq);  // (item is resident)
  if (!SendTo(node, d)) return false;
  int64_t now = Now();
  uint32_t attempt = item->attempts + 1;
  int64_t due = now + Backoff(attempt);
  q.MarkSent(item, due);
  timers.push(Timer{due, node, item->seq, item->attempts});
  if (attempt == 1) {
    m_delivered->Inc();
  } else {
    m_redelivered->Inc();
  }
  storage::LedgerEntryFields e;
  e.event = wire::LedgerEvent::Delivered;
  e.ledger_ms = now;
  e.message_id = item->record.message_id;
  e.sender = item->record.sender;
  e.recipient = node;
  e.kind = static_cast<wire::MessageKind>(item->record.kind);
  e.envelope_size = item->record.envelope.size();
  e.envelope_hash.assign(item->record.envelope_hash.begin(), item->record.envelope_hash.end());
  e.state = wire::MessageState::Delivered;
  e.attempt = attempt;
  AppendTag tag;
  tag.kind = AppendKind::kDelivered;
  tag.sender = item->record.sender;
  tag.message_id = item->record.message_id;
  tag.attempt = attempt;
  tag.at_ms = now;
  // Nobody waits for this entry (the Deliver went out already; the sender's
  // Delivered notice is evidence, not an acknowledgement): it shares the
  // next prompt commit, usually the receipt's, instead of an fsync of its
  // own (docs/LEDGER.md "Deferrable entries").
  Append(storage::EncodeLedgerEntry(e), item->record.message_id, {}, std::move(tag),
         storage::Urgency::kDeferrable);
  return true;
}

void Broker::Impl::OnDelivered(const Appended& a) {
  if (a.tag.attempt != 1) return;
  // First delivery: transport evidence for the sender, best effort.
  auto it = sessions.find(a.tag.sender);
  if (it == sessions.end() || !it->second.online) return;
  transport::Notice n;
  n.message_id = a.tag.message_id;
  n.event.event = transport::EventKind::kDelivered;
  n.event.ledger_index = a.index;
  n.event.at_ms = a.tag.at_ms;
  n.event.attempt = 1;
  n.event.state = static_cast<uint8_t>(wire::MessageState::Delivered);
  SendNotice(a.tag.sender, n);
}

// ---- Expiry -----------------------------------------------------------------

int64_t Broker::Impl::ExpiresOf(const QueueRecord& r) {
  if (r.expires_ms > 0) return r.expires_ms;
  // A version 1 queue record (before the expiry index): read the header.
  auto p = envelope::Parse(r.envelope, r.envelope.size());
  return p.ok() ? p->header->expires_ms() : 0;
}

void Broker::Impl::SweepExpired() {
  if (draining || expiring_in_flight >= kMaxExpiringInFlight) return;
  const int64_t now = Now();
  if (now <= sweep_next_due) return;  // nothing in the index is due yet
  const size_t budget = std::min(kExpirySweepBatch, kMaxExpiringInFlight - expiring_in_flight);
  // The index is in expiry order: read from `sweep_from` (below it nothing is
  // left to do) up to the first entry not yet due. Entries whose expiry is
  // issued (not yet durable) or that wait for a receipt being judged are
  // passed over and keep the start where they are.
  std::vector<std::pair<std::string, ExpiryRef>> due;
  std::vector<std::string> bad;
  size_t visited = 0;
  int64_t resume = std::numeric_limits<int64_t>::max();
  int64_t next_due = std::numeric_limits<int64_t>::max();
  auto again = [&](int64_t at) {  // scan again from `at` at the next tick
    resume = std::min(resume, at);
    next_due = std::numeric_limits<int64_t>::min();
  };
  const std::string from = std::string(kExpiryPrefix) + Be64Key(static_cast<uint64_t>(sweep_from));
  Status st = ledger->ScanState(kExpiryPrefix, from, [&](std::string_view key, ByteView) {
    auto ref = ParseExpiryKey(key);
    if (!ref.ok()) {
      bad.emplace_back(key);
      return bad.size() < kExpirySweepBatch;
    }
    if (ref->expires_ms >= now) {  // expired means now > expires_ms
      resume = std::min(resume, ref->expires_ms);
      next_due = std::min(next_due, ref->expires_ms);
      return false;
    }
    if (++visited > kExpirySweepVisit) {
      again(ref->expires_ms);
      return false;
    }
    auto qit = queues.find(ref->recipient);
    if (qit != queues.end() &&
        (qit->second->IsExpiring(ref->seq) || receipt_by_seq.count({ref->recipient, ref->seq}) != 0)) {
      again(ref->expires_ms);
      return true;
    }
    int64_t exp = ref->expires_ms;
    due.emplace_back(std::string(key), std::move(*ref));
    if (due.size() < budget) return true;
    again(exp);
    return false;
  });
  if (!st.ok()) {
    ops::Error("expiry.scan_failed", {{"error", st.ToString()}});
    return;
  }
  std::vector<storage::StateWrite> stale;
  for (const std::string& k : bad) {
    ops::Error("queue.corrupt", {{"what", "malformed expiry index key (removed)"}});
    stale.push_back(storage::StateWrite::Delete(k));
  }
  for (auto& [key, ref] : due) {
    auto qit = queues.find(ref.recipient);
    AgentQueue* q = qit == queues.end() ? nullptr : qit->second.get();
    std::optional<QueueRecord> rec;
    const QueueItem* item = q != nullptr ? q->Find(ref.seq) : nullptr;
    if (item == nullptr && q != nullptr && ref.seq >= 1 && ref.seq < q->durable_next()) {
      auto b = ledger->GetState(QueueKey(ref.recipient, ref.seq));
      if (!b.ok()) {
        ops::Error("queue.read_failed", {{"agent", ref.recipient}, {"error", b.status().ToString()}});
        again(ref.expires_ms);
        continue;
      }
      if (b->has_value()) {
        auto d = DecodeQueueRecord(**b);
        if (d.ok()) {
          rec = std::move(*d);
        } else {
          ops::Error("queue.corrupt",
                     {{"agent", ref.recipient}, {"seq", ref.seq}, {"error", d.status().ToString()}});
        }
      }
    }
    if (item != nullptr || rec.has_value()) {
      if (!Expire(ref.recipient, *q, ref.seq, item != nullptr ? item->record : *rec))
        again(ref.expires_ms);
    } else {
      // No queued envelope behind the key (its queue record is gone or
      // unreadable): the key alone is removed, nothing is ledgered.
      stale.push_back(storage::StateWrite::Delete(key));
    }
  }
  sweep_from = resume;
  sweep_next_due = next_due;
  if (!stale.empty()) {
    ++outstanding;
    ledger->WriteStateAsync(std::move(stale), [this](const Status& s, uint64_t) {
      mailbox.Push(Task{[this, s] {
        if (!s.ok()) Fatal(s.Annotate("ledger state write (expiry index)"));
      }});
    });
  }
}

bool Broker::Impl::Expire(const std::string& node, AgentQueue& q, uint64_t seq,
                          const QueueRecord& rec) {
  // A receipt being judged decides first; if it is refused, a later sweep
  // expires the envelope.
  if (receipt_by_seq.count({node, seq}) != 0 || !q.MarkExpiring(seq)) return false;
  ++expiring_in_flight;
  const int64_t now = Now();
  const int64_t expires = ExpiresOf(rec);
  storage::LedgerEntryFields e;
  e.event = wire::LedgerEvent::StatusChange;
  e.ledger_ms = now;
  e.message_id = rec.message_id;
  e.sender = rec.sender;
  e.recipient = node;
  e.kind = static_cast<wire::MessageKind>(rec.kind);
  e.expires_ms = expires;
  e.envelope_size = rec.envelope.size();
  e.envelope_hash.assign(rec.envelope_hash.begin(), rec.envelope_hash.end());
  e.state = wire::MessageState::Expired;
  MessageRecord m;
  m.accepted = true;
  m.ledger_index = rec.ledger_index;
  m.sender = rec.sender;
  m.recipient = node;
  m.seq = seq;
  m.state = HubState::kExpired;
  m.envelope_hash = rec.envelope_hash;
  std::vector<storage::StateWrite> writes;
  writes.push_back(storage::StateWrite::Delete(QueueKey(node, seq)));
  if (rec.expires_ms > 0)
    writes.push_back(storage::StateWrite::Delete(ExpiryKey(rec.expires_ms, node, seq)));
  writes.push_back(storage::StateWrite::Put(MessageKey(rec.message_id), EncodeMessageRecord(m)));
  writes.push_back(
      storage::StateWrite::Put(ReceiptCountKey(node), ToBytes(Be64Key(q.IssueRemoval()))));
  AppendTag tag;
  tag.kind = AppendKind::kExpired;
  tag.sender = rec.sender;
  tag.message_id = rec.message_id;
  tag.at_ms = now;
  tag.recipient = node;
  tag.seq = seq;
  Append(storage::EncodeLedgerEntry(e), rec.message_id, std::move(writes), std::move(tag));
  return true;
}

void Broker::Impl::OnExpiredDurable(const Appended& a) {
  --expiring_in_flight;
  m_expired->Inc();
  auto qit = queues.find(a.tag.recipient);
  if (qit != queues.end()) qit->second->OnExpired(a.tag.seq);
  ops::Info("envelope.expired", {{"message_id", a.tag.message_id},
                                 {"sender", a.tag.sender},
                                 {"recipient", a.tag.recipient},
                                 {"delivery_seq", a.tag.seq},
                                 {"ledger_index", a.index}});
  // Transport evidence for the sender, best effort (StatusRequest shows it).
  auto sit = sessions.find(a.tag.sender);
  if (sit != sessions.end() && sit->second.online) {
    transport::Notice n;
    n.message_id = a.tag.message_id;
    n.event.event = transport::EventKind::kStatusChange;
    n.event.ledger_index = a.index;
    n.event.at_ms = a.tag.at_ms;
    n.event.state = static_cast<uint8_t>(wire::MessageState::Expired);
    SendNotice(a.tag.sender, n);
  }
  Pump(a.tag.recipient);  // an expired in-flight envelope frees its window slot
}

void Broker::Impl::RunTimers() {
  if (draining) return;
  int64_t now = Now();
  std::vector<std::string> to_pump;
  while (!timers.empty() && timers.top().due_ms <= now) {
    Timer t = timers.top();
    timers.pop();
    auto sit = sessions.find(t.node);
    if (sit == sessions.end() || !sit->second.online) continue;  // resent after its next Hello
    auto qit = queues.find(t.node);
    if (qit == queues.end()) continue;
    QueueItem* item = qit->second->Find(t.seq);
    if (item == nullptr || !item->in_flight || item->attempts != t.attempts ||
        qit->second->IsExpiring(t.seq))
      continue;  // receipted, superseded or expiring
    if (int64_t exp = ExpiresOf(item->record); exp > 0 && now > exp) {
      Expire(t.node, *qit->second, t.seq, item->record);  // not sent again
      continue;
    }
    if (sit->second.stalled || RepliesPending(t.node)) {
      // Its queue is full: try again when the stall ends.
      timers.push(
          Timer{now + std::max<int64_t>(1, cfg.redeliver_initial_ms), t.node, t.seq, t.attempts});
      continue;
    }
    if (!SendDeliver(t.node, *qit->second, item)) {
      // Still unsent: keep the timer alive for a stalled (not gone) agent.
      if (sit->second.online)
        timers.push(
            Timer{now + std::max<int64_t>(1, cfg.redeliver_initial_ms), t.node, t.seq, t.attempts});
    }
  }
}

// ---- Directory ---------------------------------------------------------------

void Broker::Impl::CheckDirectoryFile() {
  std::error_code ec;
  auto mtime = fs::last_write_time(cfg.directory.file, ec);
  if (ec) return;
  auto size = fs::file_size(cfg.directory.file, ec);
  if (ec) return;
  if (mtime == dir_mtime && size == dir_size) return;
  auto bytes = ReadFile(cfg.directory.file, kMaxDirectoryBytes);
  if (!bytes.ok()) {
    ops::Warn("directory.unreadable",
              {{"file", cfg.directory.file}, {"error", bytes.status().ToString()}});
    return;  // retried on the next check (stamp not updated)
  }
  dir_mtime = mtime;
  dir_size = size;
  if (*bytes == dir_signed) return;
  auto cand = directory::Directory::Verify(*bytes, root_key);
  if (!cand.ok()) {
    ops::Warn("directory.refused",
              {{"file", cfg.directory.file}, {"reason", cand.status().ToString()}});
    return;
  }
  if (Status s = directory::Directory::AcceptNewer(*dir_newest, *cand); !s.ok()) {
    ops::Warn("directory.refused", {{"version", cand->version()},
                                    {"current", dir_newest->version()},
                                    {"reason", s.ToString()}});
    return;
  }
  PublishDirectory(std::make_shared<const directory::Directory>(std::move(*cand)),
                   std::move(*bytes));
}

void Broker::Impl::PublishDirectory(std::shared_ptr<const directory::Directory> d,
                                    Bytes signed_bytes) {
  crypto::Digest32 h = crypto::Sha256(signed_bytes);
  storage::LedgerEntryFields e;
  e.event = wire::LedgerEvent::DirectoryPublished;
  e.ledger_ms = Now();
  e.directory_version = d->version();
  e.directory_hash.assign(h.begin(), h.end());
  uint64_t op = next_op++;
  dir_newest = d;
  std::vector<storage::StateWrite> writes{
      storage::StateWrite::Put(std::string(kDirectoryStateKey), signed_bytes)};
  pending_dirs.emplace(op, std::make_pair(std::move(d), std::move(signed_bytes)));
  Append(storage::EncodeLedgerEntry(e), "", std::move(writes),
         AppendTag{AppendKind::kDirectory, op});
}

void Broker::Impl::OnDirectoryDurable(uint64_t op, const Appended& a) {
  auto it = pending_dirs.find(op);
  MLAHUB_CHECK(it != pending_dirs.end());
  auto [d, bytes] = std::move(it->second);
  pending_dirs.erase(it);
  if (d->version() <= dir->version()) return;
  dir = d;
  dir_signed = std::move(bytes);
  {
    std::lock_guard<std::mutex> lk(dir_mu);
    dir_shared = dir;
  }
  directory_version = dir->version();
  m_directory_version->Set(static_cast<double>(dir->version()));
  m_directory_loads->Inc();
  ops::Info("directory.loaded",
            {{"version", dir->version()}, {"network", dir->network()}, {"ledger_index", a.index}});
  int64_t now = Now();
  for (auto& [node, s] : sessions) {
    if (!s.online) continue;
    if (Status st = dir->CheckSender(node, now); !st.ok()) {
      // Revoked (or removed) while connected: nothing more is delivered to
      // it; its messages are refused (revoked) from now on.
      s.online = false;
      ops::Warn("agent.revoked", {{"agent", node}, {"reason", st.ToString()}});
      continue;
    }
    SendTo(node, transport::DirectoryUpdate{dir->version(), dir_signed});
  }
}

// ============================================================================
// Broker
// ============================================================================

Broker::Broker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Broker::~Broker() { Stop().IgnoreError(); }

Result<std::unique_ptr<Broker>> Broker::Create(const config::BrokerConfig& config,
                                               BrokerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  impl->options = std::move(options);
  Status s = impl->Init();
  if (!s.ok()) {
    // Release in order: sockets before the authenticator, the ledger last.
    impl->server.reset();
    if (impl->auth) impl->auth->Stop().IgnoreError();
    if (impl->ledger) impl->ledger->Close().IgnoreError();
    return s;
  }
  return std::unique_ptr<Broker>(new Broker(std::move(impl)));
}

Status Broker::Start() {
  Impl& m = *impl_;
  if (m.started) return Status::Ok();
  m.started = true;
  m.loop_thread = std::thread([&m] {
    pthread_setname_np(pthread_self(), "broker-socket");
    m.Loop();
  });
  ops::Info("broker.started", {{"node_id", m.cfg.node_id},
                               {"endpoint", m.endpoint},
                               {"metrics", m.metrics_listen},
                               {"directory_version", m.dir->version()},
                               {"ledger_size", m.ledger->Size()},
                               {"verify_threads", m.pool->threads()}});
  return Status::Ok();
}

void Broker::RequestStop() { impl_->stop_requested = true; }

bool Broker::stopped() const { return impl_->loop_done.load(); }

Status Broker::Wait() {
  Impl& m = *impl_;
  if (m.waited) return m.fatal.ok() ? m.close_status : m.fatal;
  m.stop_requested = true;
  if (m.loop_thread.joinable()) m.loop_thread.join();
  m.waited = true;
  if (m.pool) m.pool->Stop();
  m.server.reset();
  if (m.auth) m.auth->Stop().IgnoreError();
  m.metrics_server.reset();
  if (m.ledger) {
    m.close_status = m.ledger->Close();
    // Completions of appends flushed by Close (none expected after a full
    // drain) are dropped with the mailbox.
  }
  ops::Info("broker.stopped", {{"ledger_size", m.ledger ? m.ledger->Size() : 0},
                               {"error", m.fatal.ok() ? std::string() : m.fatal.ToString()}});
  return m.fatal.ok() ? m.close_status : m.fatal;
}

BrokerInfo Broker::info() const {
  BrokerInfo i;
  i.node_id = impl_->cfg.node_id;
  i.endpoint = impl_->endpoint;
  i.metrics = impl_->metrics_listen;
  i.directory_version = impl_->directory_version.load();
  i.ledger_size = impl_->ledger ? impl_->ledger->Size() : 0;
  return i;
}

ops::Registry& Broker::registry() { return *impl_->reg; }

}  // namespace mlahub::broker
