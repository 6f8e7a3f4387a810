#include "test_network.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "mlahub/core/clock.h"
#include "mlahub/core/file.h"
#include "mlahub/ops/process.h"

namespace mlahub::agents::testing {

namespace fs = std::filesystem;

std::string MakeTempDir(const std::string& prefix) {
  const char* t = std::getenv("TMPDIR");
  std::string base = t != nullptr && *t != '\0' ? t : "/tmp";
  std::string templ = base + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  char* d = ::mkdtemp(buf.data());
  MLAHUB_CHECK(d != nullptr);
  return d;
}

void RemoveTree(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
}

namespace {

Status WriteText(const std::string& path, const std::string& text) {
  return WriteFileAtomic(path, AsBytes(text), 0644);
}

}  // namespace

uint16_t PickFreePorts(int count) {
  auto base = ops::FreePortRange(count);
  MLAHUB_CHECK_MSG(base.ok(), base.status().ToString());
  return *base;
}

Result<TestNetwork> BuildTestNetwork(const std::string& dir, const std::vector<std::string>& nodes,
                                     uint16_t base_port) {
  TestNetwork net;
  net.dir = dir;
  net.base_port = base_port;
  net.nodes = nodes;
  UnixMillis now = SystemClock::Instance().NowMillis();
  MLAHUB_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  MLAHUB_ASSIGN_OR_RETURN(NodeId op_id, NodeId::Parse(net.operator_id));
  MLAHUB_ASSIGN_OR_RETURN(NodeId hub_id, NodeId::Parse(net.hub_id));
  identity::NodeKeys op = identity::GenerateNodeKeys(op_id, identity::Role::kOperator, now);
  identity::NodeKeys hub = identity::GenerateNodeKeys(hub_id, identity::Role::kHub, now);
  MLAHUB_RETURN_IF_ERROR(identity::WriteKeyDir(op, net.operator_keys(), ""));
  MLAHUB_RETURN_IF_ERROR(identity::WriteKeyDir(hub, net.hub_keys(), ""));

  directory::Directory d("test-net", 1, now);
  auto entry = [](const identity::PublicIdentity& p) {
    directory::Entry e;
    e.identity = p;
    e.name = p.id.str();
    e.languages = {"en"};
    e.untoc_party = true;
    e.protocol_party = true;
    return e;
  };
  MLAHUB_RETURN_IF_ERROR(d.Add(entry(op.Public())));
  MLAHUB_RETURN_IF_ERROR(d.Add(entry(hub.Public())));
  for (const std::string& n : nodes) {
    MLAHUB_ASSIGN_OR_RETURN(NodeId id, NodeId::Parse(n));
    identity::NodeKeys k = identity::GenerateNodeKeys(id, identity::Role::kAuthority, now);
    MLAHUB_RETURN_IF_ERROR(identity::WriteKeyDir(k, net.agent_keys(n), ""));
    MLAHUB_RETURN_IF_ERROR(d.Add(entry(k.Public())));
  }
  Bytes signed_dir = d.Sign(op.sign, op.id);
  MLAHUB_RETURN_IF_ERROR(WriteFileAtomic(net.directory_file(), signed_dir, 0644));

  config::BrokerConfig b;
  b.node_id = net.hub_id;
  b.keys = net.hub_keys();
  b.listen = "tcp://127.0.0.1:" + std::to_string(base_port);
  b.data = net.broker_data();
  b.directory.file = net.directory_file();
  b.directory.root_key = net.operator_keys();
  b.metrics.listen = "127.0.0.1:" + std::to_string(base_port + 1);
  MLAHUB_RETURN_IF_ERROR(WriteText(net.broker_config(), config::BrokerConfigToToml(b)));
  for (size_t i = 0; i < nodes.size(); ++i) {
    config::AgentConfig a;
    a.node_id = nodes[i];
    a.keys = net.agent_keys(nodes[i]);
    a.broker = b.listen;
    a.data = net.agent_data(nodes[i]);
    a.api_listen = "127.0.0.1:" + std::to_string(net.api_port(i));
    a.metrics.listen = "127.0.0.1:" + std::to_string(base_port + 11 + 2 * i);
    a.directory.file = net.directory_file();
    a.directory.root_key = net.operator_keys();
    MLAHUB_RETURN_IF_ERROR(WriteText(net.agent_config(nodes[i]), config::AgentConfigToToml(a)));
  }
  return net;
}

Result<TestNetwork> InitNetworkWithTool(const std::string& bin_dir, const std::string& dir,
                                        const std::vector<std::string>& nodes, uint16_t base_port) {
  std::string tool = bin_dir + "/mlahub";
  std::string probe = tool + " network init --help >/dev/null 2>&1";
  int rc = std::system(probe.c_str());
  if (rc != 0) return Status::Unavailable("`mlahub network init` is not available");
  std::string list;
  for (const std::string& n : nodes) list += (list.empty() ? "" : ",") + n;
  std::string cmd = tool + " network init --dir '" + dir + "' --nodes " + list + " --base-port " +
                    std::to_string(base_port) + " >/dev/null";
  rc = std::system(cmd.c_str());
  if (rc != 0) return Status::Internal("`" + cmd + "` failed (status " + std::to_string(rc) + ")");
  TestNetwork net;
  net.dir = dir;
  net.base_port = base_port;
  net.nodes = nodes;
  return net;
}

Status TweakAgentConfig(const TestNetwork& net, const std::string& id,
                        const std::function<void(config::AgentConfig&)>& tweak) {
  MLAHUB_ASSIGN_OR_RETURN(config::AgentConfig c, config::LoadAgentConfig(net.agent_config(id)));
  tweak(c);
  return WriteText(net.agent_config(id), config::AgentConfigToToml(c));
}

Status TweakBrokerConfig(const TestNetwork& net, const std::function<void(config::BrokerConfig&)>& tweak) {
  MLAHUB_ASSIGN_OR_RETURN(config::BrokerConfig c, config::LoadBrokerConfig(net.broker_config()));
  tweak(c);
  return WriteText(net.broker_config(), config::BrokerConfigToToml(c));
}

}  // namespace mlahub::agents::testing
