// The process-level tests' common fixture: a network directory (`net_`,
// made by each test's SetUp), the real mlahub-broker and mlahub-agent
// processes started from its configs, SIGTERM and a wait for each at the
// end, and the test directory kept when a test failed. Processes, ready files
// and waits: tests/support/process.h (ops::Child).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "process.h"
#include "test_network.h"

namespace mlahub::agents::testing {

class DaemonsTest : public ::testing::Test {
 protected:
  // How long a daemon may take to write its ready.json.
  explicit DaemonsTest(std::chrono::milliseconds ready_timeout) : ready_timeout_(ready_timeout) {}

  void TearDown() override {
    for (auto& [id, p] : agents_) p.Signal(SIGTERM);
    broker_.Signal(SIGTERM);
    for (auto& [id, p] : agents_) p.Wait(std::chrono::seconds(30));
    broker_.Wait(std::chrono::seconds(30));
    if (HasFailure()) {
      std::cerr << "test directory kept for inspection: " << dir_ << "\n";
    } else if (!dir_.empty()) {
      RemoveTree(dir_);
    }
  }

  void StartBroker(std::vector<std::string> env = {}) {
    auto p = support::Process::Spawn({bin_ + "/mlahub-broker", "--config", net_.broker_config()},
                            {.env = std::move(env), .log_file = dir_ + "/broker.log"});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    broker_ = std::move(*p);
    Status st = support::WaitForReadyFile(net_.broker_data() + "/ready.json", broker_, ready_timeout_).status();
    ASSERT_TRUE(st.ok()) << st.ToString() << "; see " << dir_ << "/broker.log";
  }

  void StartAgent(const std::string& id, std::vector<std::string> env = {}) {
    auto p = support::Process::Spawn({bin_ + "/mlahub-agent", "--config", net_.agent_config(id)},
                            {.env = std::move(env), .log_file = dir_ + "/" + id + ".log"});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    agents_[id] = std::move(*p);
    Status st = support::WaitForReadyFile(net_.agent_data(id) + "/ready.json", agents_[id], ready_timeout_).status();
    ASSERT_TRUE(st.ok()) << st.ToString() << "; see " << dir_ << "/" << id << ".log";
  }

  const std::string bin_ = MLAHUB_BIN_DIR;
  const std::chrono::milliseconds ready_timeout_;
  std::string dir_;
  TestNetwork net_;
  support::Process broker_;
  std::map<std::string, support::Process> agents_;
};

}  // namespace mlahub::agents::testing
