#include "test_network.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "mlahub/core/file.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/envelope/receipt.h"
#include "mlahub/ops/process.h"

extern char** environ;

namespace mlahub::broker::testing {

namespace fs = std::filesystem;

namespace {

directory::Entry EntryOf(const identity::NodeKeys& k, std::vector<wire::MessageKind> accepts = {}) {
  directory::Entry e;
  e.identity = k.Public();
  e.name = "Test " + k.id.str();
  e.accepts = std::move(accepts);
  e.languages = {"en"};
  e.untoc_party = true;
  e.protocol_party = true;
  return e;
}

std::unique_ptr<identity::NodeKeys> MakeKeys(const std::string& id, identity::Role role,
                                             const std::string& dir) {
  auto k = std::make_unique<identity::NodeKeys>(
      identity::GenerateNodeKeys(*NodeId::Parse(id), role, SystemClock::Instance().NowMillis()));
  Status s = identity::WriteKeyDir(*k, dir, "");
  EXPECT_TRUE(s.ok()) << s.ToString();
  return k;
}

}  // namespace

TestNetwork::TestNetwork(std::vector<std::string> nodes,
                         std::map<std::string, std::vector<wire::MessageKind>> accepts,
                         const std::function<void(config::BrokerConfig&)>& tweak) {
  std::string tmpl = (fs::temp_directory_path() / "mlahub_broker_test_XXXXXX").string();
  char* d = ::mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr);
  dir_ = tmpl;
  UnixMillis now = SystemClock::Instance().NowMillis();
  op_ = MakeKeys("XX-OPS", identity::Role::kOperator, dir_ + "/operator/keys");
  hub_ = MakeKeys("XX-HUB", identity::Role::kHub, dir_ + "/hub/keys");
  dir_value_ = directory::Directory("test-net", 1, now);
  EXPECT_TRUE(dir_value_.Add(EntryOf(*op_)).ok());
  EXPECT_TRUE(dir_value_.Add(EntryOf(*hub_)).ok());
  for (const std::string& n : nodes) {
    keys_[n] = MakeKeys(n, identity::Role::kAuthority, dir_ + "/nodes/" + n + "/keys");
    auto it = accepts.find(n);
    EXPECT_TRUE(dir_value_
                    .Add(EntryOf(*keys_[n], it == accepts.end() ? std::vector<wire::MessageKind>{}
                                                                : it->second))
                    .ok());
  }
  Bytes signed_dir = dir_value_.Sign(op_->sign, op_->id);
  EXPECT_TRUE(WriteFileAtomic(dir_ + "/directory.bin", signed_dir, 0644).ok());

  config_.node_id = "XX-HUB";
  config_.keys = dir_ + "/hub/keys";
  auto port = ops::FreePortRange(1);
  EXPECT_TRUE(port.ok()) << port.status().ToString();
  config_.listen = "tcp://127.0.0.1:" + std::to_string(port.ok() ? *port : 0);
  config_.data = dir_ + "/hub/data";
  config_.directory.file = dir_ + "/directory.bin";
  config_.directory.root_key = dir_ + "/operator/keys";
  config_.directory.reload_interval_ms = 100;
  config_.metrics.listen = "127.0.0.1:0";
  config_.verify_threads = 2;
  if (tweak) tweak(config_);
  config_path_ = dir_ + "/hub/broker.toml";
  std::string toml = config::BrokerConfigToToml(config_);
  EXPECT_TRUE(WriteFileAtomic(config_path_, AsBytes(toml), 0644).ok());
}

TestNetwork::~TestNetwork() {
  if (::testing::Test::HasFailure()) {
    std::cerr << "test network kept for inspection: " << dir_ << std::endl;
    return;
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void TestNetwork::PublishDirectory() {
  dir_value_.NextVersion(SystemClock::Instance().NowMillis());
  Bytes signed_dir = dir_value_.Sign(op_->sign, op_->id);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/directory.bin", signed_dir, 0644).ok());
}

Bytes TestNetwork::Seal(const std::string& from, const identity::PublicIdentity& to,
                        wire::MessageKind kind, UnixMillis created_ms, UnixMillis expires_ms,
                        size_t body_padding) {
  envelope::SealParams p;
  p.kind = kind;
  p.created_ms = created_ms;
  p.expires_ms = expires_ms;
  p.legal_basis = wire::LegalBasis::Untoc;
  std::string body = "{}";
  if (kind == wire::MessageKind::MlaRequest)
    body = R"({"summary_of_facts": ")" + std::string(body_padding, 'x') + R"("})";
  auto payload = envelope::BuildPayloadFromJson(kind, body);
  EXPECT_TRUE(payload.ok()) << payload.status().ToString();
  if (!payload.ok()) return {};
  auto env = envelope::Seal(p, keys(from), to, *payload);
  EXPECT_TRUE(env.ok()) << env.status().ToString();
  return env.ok() ? *env : Bytes{};
}

// ---- BrokerProcess -----------------------------------------------------------

BrokerProcess::BrokerProcess(std::string config_path, std::string data_dir, std::string log_path)
    : config_path_(std::move(config_path)),
      data_dir_(std::move(data_dir)),
      log_path_(std::move(log_path)) {}

BrokerProcess::~BrokerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
}

::testing::AssertionResult BrokerProcess::Start(std::vector<std::string> extra_args) {
  std::vector<std::string> args{std::string(MLAHUB_BIN_DIR) + "/mlahub-broker", "--config",
                                config_path_};
  for (auto& a : extra_args) args.push_back(a);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return ::testing::AssertionFailure() << "posix_spawn " << argv[0] << ": " << strerror(rc);
  pid_ = pid;
  const std::string ready = data_dir_ + "/ready.json";
  const std::string want = "\"pid\":" + std::to_string(pid);
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return ::testing::AssertionFailure()
             << "mlahub-broker exited before ready (status " << st << "):\n"
             << LogTail();
    }
    std::ifstream f(ready);
    if (f) {
      std::stringstream ss;
      ss << f.rdbuf();
      std::string text = ss.str();
      size_t at = text.find(want);
      if (at != std::string::npos &&
          (at + want.size() >= text.size() ||
           !std::isdigit(static_cast<unsigned char>(text[at + want.size()]))))
        return ::testing::AssertionSuccess();
    }
    std::this_thread::sleep_for(20ms);
  }
  return ::testing::AssertionFailure() << "mlahub-broker not ready within the deadline:\n"
                                       << LogTail();
}

void BrokerProcess::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int BrokerProcess::Wait(std::chrono::milliseconds limit) {
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
      return -1;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(10ms);
  }
}

std::string BrokerProcess::LogTail(size_t bytes) const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

int RunProgram(const std::vector<std::string>& args, std::string* output) {
  std::string out_path =
      (fs::temp_directory_path() / ("mlahub_run_" + std::to_string(::getpid()) + ".out")).string();
  std::vector<std::string> a = args;
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (output != nullptr) {
    std::ifstream f(out_path);
    std::stringstream ss;
    ss << f.rdbuf();
    *output = ss.str();
  }
  std::error_code ec;
  fs::remove(out_path, ec);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// ---- TestAgent ---------------------------------------------------------------

TestAgent::TestAgent(std::shared_ptr<transport::Context> ctx, const TestNetwork& net,
                     const std::string& node)
    : TestAgent(std::move(ctx), net.endpoint(), net.hub().curve.public_key(), net.keys(node)) {}

TestAgent::TestAgent(std::shared_ptr<transport::Context> ctx, const std::string& endpoint,
                     const crypto::X25519PublicKey& hub_key, const identity::NodeKeys& keys)
    : node_(keys.id.str()), keys_(keys) {
  transport::ClientOptions o;
  o.endpoint = endpoint;
  o.server_key = hub_key;
  o.reconnect_ivl_ms = 50;
  o.reconnect_ivl_max_ms = 500;
  auto c = transport::Client::Connect(std::move(ctx), keys.curve, o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  if (c.ok()) client_ = std::move(*c);
}

Status TestAgent::Connect(uint64_t directory_version, uint64_t checkpoint_size,
                          uint64_t last_delivery_seq) {
  MLAHUB_RETURN_IF_ERROR(client_->WaitForHandshake(kWait));
  transport::Hello h;
  h.node_id = node_;
  h.directory_version = directory_version;
  h.checkpoint_size = checkpoint_size;
  h.last_delivery_seq = last_delivery_seq;
  return Send(h);
}

Status TestAgent::SendFrames(const transport::Frames& f) {
  // The link may be between a handshake and the first send: retry briefly.
  auto deadline = std::chrono::steady_clock::now() + kWait;
  for (;;) {
    Status s = client_->Send(f);
    if (s.ok() || s.code() != Code::kUnavailable || std::chrono::steady_clock::now() > deadline)
      return s;
    std::this_thread::sleep_for(5ms);
  }
}

Status TestAgent::Send(const transport::Command& c) {
  MLAHUB_ASSIGN_OR_RETURN(transport::Frames f, transport::EncodeCommand(c));
  return SendFrames(f);
}

std::optional<transport::Command> TestAgent::WaitFor(
    const std::function<bool(const transport::Command&)>& pred, std::chrono::milliseconds limit) {
  for (auto it = backlog_.begin(); it != backlog_.end(); ++it) {
    if (pred(*it)) {
      transport::Command c = std::move(*it);
      backlog_.erase(it);
      return c;
    }
  }
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto in = client_->Receive(std::min<std::chrono::milliseconds>(left, 100ms));
    if (!in.ok() || !in->has_value()) continue;
    transport::DecodeLimits dl;
    dl.max_attachment_size = 64u << 20;
    auto c = transport::DecodeCommand(**in, dl);
    if (!c.ok()) {
      ADD_FAILURE() << node_ << " received an undecodable command: " << c.status().ToString();
      continue;
    }
    if (pred(*c)) return std::move(*c);
    backlog_.push_back(std::move(*c));
  }
}

std::optional<transport::SubmitResult> TestAgent::SubmitAndWait(const Bytes& envelope,
                                                                uint64_t correlation,
                                                                std::chrono::milliseconds limit) {
  Status s = Send(transport::Submit{correlation, envelope});
  if (!s.ok()) {
    ADD_FAILURE() << "submit: " << s.ToString();
    return std::nullopt;
  }
  return WaitFor<transport::SubmitResult>(limit, [correlation](const transport::SubmitResult& r) {
    return r.correlation == correlation;
  });
}

Status TestAgent::Receipt(const transport::Deliver& d, uint64_t correlation) {
  MLAHUB_ASSIGN_OR_RETURN(envelope::Parsed p, envelope::Parse(d.envelope, 64u << 20));
  envelope::ReceiptInfo info;
  info.message_id = std::string(p.message_id());
  info.envelope_hash = envelope::EnvelopeHash(d.envelope);
  info.sender = std::string(p.sender());
  info.recipient = node_;
  info.received_ms = SystemClock::Instance().NowMillis();
  Bytes receipt = envelope::SignReceipt(info, keys_.sign);
  return Send(transport::SubmitReceipt{correlation, d.delivery_seq, std::move(receipt)});
}

}  // namespace mlahub::broker::testing
