// Test scaffolding for the broker's integration tests: a network built in
// code (operator, hub, authorities, signed directory, broker.toml in a temp
// directory, the layout of `mlahub network init`), the real mlahub-broker
// process, and protocol clients over real CURVE sockets.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mlahub/config/config.h"
#include "mlahub/core/clock.h"
#include "mlahub/directory/directory.h"
#include "mlahub/identity/keys.h"
#include "mlahub/transport/client.h"
#include "mlahub/transport/command.h"
#include "mlahub/transport/context.h"

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    ::mlahub::Status _s = (expr);                           \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

namespace mlahub::broker::testing {

using namespace std::chrono_literals;

// Generous: the CI also runs these under ASan.
inline constexpr auto kWait = std::chrono::seconds(60);

class TestNetwork {
 public:
  // Creates DIR with operator, hub and the given authorities (all kinds
  // accepted unless `accepts` says otherwise), directory version 1 and
  // broker.toml from `tweak(config)`.
  TestNetwork(std::vector<std::string> nodes,
              std::map<std::string, std::vector<wire::MessageKind>> accepts = {},
              const std::function<void(config::BrokerConfig&)>& tweak = {});
  ~TestNetwork();

  const std::string& dir() const { return dir_; }
  const std::string& config_path() const { return config_path_; }
  const config::BrokerConfig& config() const { return config_; }
  std::string endpoint() const { return config_.listen; }
  std::string data_dir() const { return config_.data; }
  const identity::NodeKeys& keys(const std::string& node) const { return *keys_.at(node); }
  const identity::NodeKeys& hub() const { return *hub_; }
  const identity::NodeKeys& op() const { return *op_; }
  directory::Directory& directory() { return dir_value_; }

  // Signs the current directory() as the next version and replaces
  // directory.bin atomically (as an operator publishes).
  void PublishDirectory();

  // Seals a request from `from` to the public identity `to` (default: the
  // node of that name).
  Bytes Seal(const std::string& from, const identity::PublicIdentity& to,
             wire::MessageKind kind = wire::MessageKind::MlaRequest, UnixMillis created_ms = 0,
             UnixMillis expires_ms = 0, size_t body_padding = 0);
  Bytes Seal(const std::string& from, const std::string& to,
             wire::MessageKind kind = wire::MessageKind::MlaRequest) {
    return Seal(from, keys(to).Public(), kind);
  }

 private:
  std::string dir_;
  std::string config_path_;
  config::BrokerConfig config_;
  std::unique_ptr<identity::NodeKeys> op_, hub_;
  std::map<std::string, std::unique_ptr<identity::NodeKeys>> keys_;
  directory::Directory dir_value_;
};

// The real mlahub-broker process.
class BrokerProcess {
 public:
  explicit BrokerProcess(std::string config_path, std::string data_dir, std::string log_path);
  ~BrokerProcess();  // SIGKILL if still running

  // Spawns the broker and waits for <data>/ready.json naming its pid.
  // Returns false (with the log tail in the failure) if it exits first.
  ::testing::AssertionResult Start(std::vector<std::string> extra_args = {});
  void Signal(int sig);
  // Waits for exit; the exit code (or 128 + signal).
  int Wait(std::chrono::milliseconds limit = kWait);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string LogTail(size_t bytes = 4000) const;

 private:
  std::string config_path_, data_dir_, log_path_;
  pid_t pid_ = -1;
};

// Runs a program to completion, capturing stdout+stderr; returns exit code.
int RunProgram(const std::vector<std::string>& argv, std::string* output);

// An agent's side of the protocol over a real CURVE DEALER, with a backlog
// of commands received but not yet asked for.
class TestAgent {
 public:
  TestAgent(std::shared_ptr<transport::Context> ctx, const TestNetwork& net,
            const std::string& node);
  TestAgent(std::shared_ptr<transport::Context> ctx, const std::string& endpoint,
            const crypto::X25519PublicKey& hub_key, const identity::NodeKeys& keys);

  // Handshake, then Hello; OK once the handshake is done.
  Status Connect(uint64_t directory_version = 1, uint64_t checkpoint_size = 0,
                 uint64_t last_delivery_seq = 0);
  Status WaitForHandshake(std::chrono::milliseconds limit = kWait) {
    return client_->WaitForHandshake(limit);
  }
  Status Send(const transport::Command& c);
  Status SendFrames(const transport::Frames& f);
  transport::Client& client() { return *client_; }

  // The next command matching `pred` (others are kept in the backlog).
  std::optional<transport::Command> WaitFor(
      const std::function<bool(const transport::Command&)>& pred,
      std::chrono::milliseconds limit = kWait);
  template <typename T>
  std::optional<T> WaitFor(std::chrono::milliseconds limit = kWait,
                           const std::function<bool(const T&)>& pred = {}) {
    auto c = WaitFor(
        [&](const transport::Command& c) {
          auto* t = std::get_if<T>(&c);
          return t != nullptr && (!pred || pred(*t));
        },
        limit);
    if (!c) return std::nullopt;
    return std::get<T>(std::move(*c));
  }
  // Submits and waits for the SubmitResult with this correlation.
  std::optional<transport::SubmitResult> SubmitAndWait(const Bytes& envelope, uint64_t correlation,
                                                       std::chrono::milliseconds limit = kWait);
  // Signs the receipt of a Deliver with this agent's keys and submits it.
  Status Receipt(const transport::Deliver& d, uint64_t correlation);
  const identity::NodeKeys& keys() const { return keys_; }
  std::deque<transport::Command>& backlog() { return backlog_; }

 private:
  std::string node_;
  const identity::NodeKeys& keys_;
  std::unique_ptr<transport::Client> client_;
  std::deque<transport::Command> backlog_;
};

}  // namespace mlahub::broker::testing
