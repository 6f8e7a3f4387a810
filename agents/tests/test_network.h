// A local test network on disk, in the layout of `mlahub network init`
// (docs: the shared brief's "Network layout"): operator, hub and node key
// directories, a signed directory (version 1), a broker.toml and one
// agent.toml per node, with loopback ports from a base port.
//
// Built in code (BuildTestNetwork) or, when the tool has the command, with
// `mlahub network init` (InitNetworkWithTool). Tweak functions rewrite the
// configuration files through the config module.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mlahub/config/config.h"
#include "mlahub/core/status.h"
#include "mlahub/directory/directory.h"
#include "mlahub/identity/keys.h"

namespace mlahub::agents::testing {

struct TestNetwork {
  std::string dir;
  uint16_t base_port = 0;
  std::vector<std::string> nodes;
  std::string hub_id = "XX-HUB";
  std::string operator_id = "XX-OPS";

  std::string broker_config() const { return dir + "/hub/broker.toml"; }
  std::string broker_data() const { return dir + "/hub/data"; }
  std::string agent_config(const std::string& id) const { return dir + "/nodes/" + id + "/agent.toml"; }
  std::string agent_data(const std::string& id) const { return dir + "/nodes/" + id + "/data"; }
  std::string agent_keys(const std::string& id) const { return dir + "/nodes/" + id + "/keys"; }
  std::string operator_keys() const { return dir + "/operator/keys"; }
  std::string hub_keys() const { return dir + "/hub/keys"; }
  std::string directory_file() const { return dir + "/directory.bin"; }
  uint16_t api_port(size_t i) const { return static_cast<uint16_t>(base_port + 10 + 2 * i); }
};

// Everything in code. `dir` must not exist or be empty.
Result<TestNetwork> BuildTestNetwork(const std::string& dir, const std::vector<std::string>& nodes, uint16_t base_port);
// With `<bin>/mlahub network init`; kUnavailable if the tool has no such command.
Result<TestNetwork> InitNetworkWithTool(const std::string& bin_dir, const std::string& dir,
                                        const std::vector<std::string>& nodes, uint16_t base_port);

Status TweakAgentConfig(const TestNetwork& net, const std::string& id,
                        const std::function<void(config::AgentConfig&)>& tweak);
Status TweakBrokerConfig(const TestNetwork& net, const std::function<void(config::BrokerConfig&)>& tweak);

// A base port with `count` consecutive free loopback TCP ports
// (ops::FreePortRange; aborts the test program if there is none).
uint16_t PickFreePorts(int count);

// A fresh empty directory under $TMPDIR (or /tmp).
std::string MakeTempDir(const std::string& prefix);
void RemoveTree(const std::string& dir);

}  // namespace mlahub::agents::testing
