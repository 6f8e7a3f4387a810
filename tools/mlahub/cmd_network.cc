// mlahub network init: a complete local (or test) network in one directory -
// operator root key, hub keys, each authority's keys, the signed directory
// and ready-to-run configuration files for mlahub-broker and every
// mlahub-agent. The layout, ports and network.json are a contract shared with
// the daemons and the integration tests (docs/CONFIG.md "Network layout").
//
// Keys are written without a passphrase: a network made this way is for one
// machine, tests and demonstrations. A real network is assembled office by
// office (mlahub keygen --protect, mlahub directory add/sign), see
// docs/CONFIG.md "A real network".
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "cli.h"
#include "mlahub/agents/cases.h"
#include "mlahub/config/config.h"
#include "mlahub/core/file.h"
#include "mlahub/core/ids.h"
#include "mlahub/directory/directory.h"
#include "mlahub/identity/keys.h"

namespace mlahub::cli {
namespace {

namespace fs = std::filesystem;

struct InitArgs {
  std::string dir;
  std::string nodes;
  std::string hub = "XX-HUB";
  std::string op = "XX-OPS";
  std::string network = "mlahub-local";
  int base_port = 7700;
  std::string broker_host = "127.0.0.1";
  std::string listen_host = "127.0.0.1";
  std::string policy;  // a deadline policy file, copied to DIR/policy.toml
  bool json = false;
};

// Ports of the layout contract, from the base port P.
int BrokerPort(int p) { return p; }
int BrokerMetricsPort(int p) { return p + 1; }
int AgentApiPort(int p, size_t i) { return p + 10 + 2 * static_cast<int>(i); }
int AgentMetricsPort(int p, size_t i) { return p + 11 + 2 * static_cast<int>(i); }

// "127.0.0.1" -> "127.0.0.1", "::1" -> "[::1]" (for HOST:PORT strings).
std::string HostForEndpoint(const std::string& host) {
  if (host.find(':') != std::string::npos && host.front() != '[') return "[" + host + "]";
  return host;
}

Status ValidateHost(const std::string& host, const char* option) {
  if (host.empty()) return Status::InvalidArgument(std::string(option) + " must not be empty");
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_' || c == ':' || c == '*' || c == '[' || c == ']';
    if (!ok)
      return Status::InvalidArgument(std::string(option) + " '" + host +
                                     "' is not a host name or address (letters, digits, '.', '-', ':')");
  }
  return Status::Ok();
}

Result<NodeId> ParseId(const std::string& text, const std::string& what) {
  auto id = NodeId::Parse(text);
  if (!id.ok())
    return Status::InvalidArgument(what + " '" + text + "' is not a node id (country code, '-', authority code, "
                                   "e.g. IT-MOJ): " + id.status().message());
  return id;
}

// The empty (or missing) directory the network goes into; kAlreadyExists if
// it holds anything, so that no key is ever overwritten.
Result<bool> PrepareDir(const std::string& dir) {
  std::error_code ec;
  fs::file_status st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return Status::IoError("cannot inspect " + dir + ": " + ec.message());
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) return Status::AlreadyExists(dir + " exists and is not a directory");
    if (!fs::is_empty(dir, ec) || ec)
      return Status::AlreadyExists(dir + " is not empty: network init writes only into a new or empty directory "
                                   "(it never overwrites keys); choose another --dir or remove this one");
    return false;  // existed, empty
  }
  MLAHUB_RETURN_IF_ERROR(MakeDirs(dir, 0755));
  return true;  // created
}

// Removes what a failed init wrote (the directory was empty before).
void Cleanup(const std::string& dir, bool created) {
  std::error_code ec;
  if (created) {
    fs::remove_all(dir, ec);
    return;
  }
  for (const auto& e : fs::directory_iterator(dir, ec)) fs::remove_all(e.path(), ec);
}

directory::Entry EntryFor(const identity::NodeKeys& k, std::string name) {
  directory::Entry e;
  e.identity = k.Public();
  e.name = std::move(name);
  e.accepts = {};        // every kind
  e.languages = {"en"};
  e.untoc_party = true;
  e.protocol_party = true;
  // Unbounded validity: simulations run on scaled clocks, tests on fake
  // ones; a real network sets --valid-days with `mlahub directory add`.
  e.valid_from_ms = 0;
  e.valid_until_ms = 0;
  return e;
}

std::string Shown(const fs::path& p) {
  std::error_code ec;
  fs::path rel = p.lexically_relative(fs::current_path(ec));
  if (!ec && !rel.empty() && *rel.begin() != "..") return rel.string();
  return p.string();
}

// The daemons are installed beside this mlahub binary (build/bin, or
// /usr/local/bin in the container image). Shown relative to the working
// directory when below it ("build/bin/mlahub-broker").
std::string DaemonPath(const std::string& name) {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return name;
  return Shown(self.parent_path() / name);
}

Result<nlohmann::json> RunInit(const InitArgs& a) {
  // ---- validate everything before writing anything ----
  if (a.dir.empty()) return Status::InvalidArgument("--dir must not be empty");
  MLAHUB_ASSIGN_OR_RETURN(NodeId hub, ParseId(a.hub, "--hub"));
  MLAHUB_ASSIGN_OR_RETURN(NodeId op, ParseId(a.op, "--operator"));
  if (hub == op) return Status::InvalidArgument("--hub and --operator must differ (both are " + hub.str() + ")");
  std::vector<NodeId> nodes;
  std::set<std::string> seen = {hub.str(), op.str()};
  for (const auto& text : SplitCsv(a.nodes)) {
    MLAHUB_ASSIGN_OR_RETURN(NodeId id, ParseId(text, "node"));
    if (!seen.insert(id.str()).second)
      return Status::InvalidArgument("node " + id.str() + " is listed twice (or is the hub or operator id)");
    nodes.push_back(id);
  }
  if (nodes.empty()) return Status::InvalidArgument("--nodes needs at least one node id, e.g. IT-MOJ,NG-AGF");
  if (a.network.empty()) return Status::InvalidArgument("--network must not be empty");
  int last_port = AgentMetricsPort(a.base_port, nodes.size() - 1);
  if (a.base_port < 1 || last_port > 65535)
    return Status::InvalidArgument("--base-port " + std::to_string(a.base_port) + " leaves no room for " +
                                   std::to_string(nodes.size()) + " nodes (ports P .. P+" +
                                   std::to_string(last_port - a.base_port) + " must lie in 1..65535)");
  MLAHUB_RETURN_IF_ERROR(ValidateHost(a.broker_host, "--broker-host"));
  MLAHUB_RETURN_IF_ERROR(ValidateHost(a.listen_host, "--listen-host"));
  // The deadline policy is checked as the agents will read it, before anything is written.
  std::optional<agents::PolicyInEffect> policy;
  Bytes policy_bytes;
  if (!a.policy.empty()) {
    auto p = agents::LoadCasesPolicy(a.policy);
    if (!p.ok()) return p.status().Annotate("--policy");
    auto bytes = ReadFile(a.policy, 1u << 20);
    if (!bytes.ok()) return bytes.status().Annotate("--policy");
    policy = std::move(*p);
    policy_bytes = std::move(*bytes);
  }

  std::error_code ec;
  fs::path root = fs::absolute(a.dir, ec).lexically_normal();
  if (ec) return Status::IoError("cannot resolve " + a.dir + ": " + ec.message());
  if (root.has_filename() == false) root = root.parent_path();  // trailing '/'
  MLAHUB_ASSIGN_OR_RETURN(bool created, PrepareDir(root.string()));

  auto fail = [&](Status s) -> Status {
    Cleanup(root.string(), created);
    return s;
  };

  UnixMillis now = SystemClock::Instance().NowMillis();
  const fs::path op_keys = root / "operator" / "keys";
  const fs::path hub_dir = root / "hub";
  const fs::path dir_file = root / "directory.bin";
  const fs::path op_identity = op_keys / "identity.json";

  // ---- keys ----
  identity::NodeKeys op_k = identity::GenerateNodeKeys(op, identity::Role::kOperator, now);
  if (Status s = MakeDirs((root / "operator").string(), 0755); !s.ok()) return fail(s);
  if (Status s = identity::WriteKeyDir(op_k, op_keys.string(), ""); !s.ok()) return fail(s);
  identity::NodeKeys hub_k = identity::GenerateNodeKeys(hub, identity::Role::kHub, now);
  if (Status s = MakeDirs(hub_dir.string(), 0755); !s.ok()) return fail(s);
  if (Status s = identity::WriteKeyDir(hub_k, (hub_dir / "keys").string(), ""); !s.ok()) return fail(s);

  directory::Directory d(a.network, 0, 0);
  if (Status s = d.Add(EntryFor(op_k, "Network operator")); !s.ok()) return fail(s);
  if (Status s = d.Add(EntryFor(hub_k, "Hub")); !s.ok()) return fail(s);
  for (const NodeId& id : nodes) {
    identity::NodeKeys k = identity::GenerateNodeKeys(id, identity::Role::kAuthority, now);
    fs::path node_dir = root / "nodes" / id.str();
    if (Status s = MakeDirs(node_dir.string(), 0755); !s.ok()) return fail(s);
    if (Status s = identity::WriteKeyDir(k, (node_dir / "keys").string(), ""); !s.ok()) return fail(s);
    if (Status s = d.Add(EntryFor(k, "Authority " + id.str())); !s.ok()) return fail(s);
  }

  // ---- the signed directory (version 1) ----
  if (Status s = SignDirectoryTo(d, op_k, dir_file.string()); !s.ok()) return fail(s);

  // ---- the network's deadline policy (a copy every agent points at) ----
  const fs::path policy_file = root / "policy.toml";
  if (policy) {
    if (Status s = WriteFileAtomic(policy_file.string(), policy_bytes, 0644); !s.ok()) return fail(s);
  }

  // ---- configuration files (paths relative to each file) ----
  const std::string broker_listen = "tcp://" + HostForEndpoint(a.listen_host) + ":" + std::to_string(BrokerPort(a.base_port));
  const std::string broker_endpoint =
      "tcp://" + HostForEndpoint(a.broker_host) + ":" + std::to_string(BrokerPort(a.base_port));
  const std::string loopback = "127.0.0.1:";
  config::BrokerConfig bc;
  bc.node_id = hub.str();
  bc.keys = "keys";
  bc.data = "data";
  bc.listen = broker_listen;
  bc.directory.file = "../directory.bin";
  bc.directory.root_key = "../operator/keys/identity.json";
  bc.metrics.listen = loopback + std::to_string(BrokerMetricsPort(a.base_port));
  const fs::path broker_toml = hub_dir / "broker.toml";
  if (Status s = WriteFileAtomic(broker_toml.string(), AsBytes(config::BrokerConfigToToml(bc)), 0644); !s.ok())
    return fail(s);

  nlohmann::json nodes_json = nlohmann::json::array();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const NodeId& id = nodes[i];
    fs::path node_dir = root / "nodes" / id.str();
    config::AgentConfig ac;
    ac.node_id = id.str();
    ac.keys = "keys";
    ac.data = "data";
    ac.broker = broker_endpoint;
    ac.api_listen = loopback + std::to_string(AgentApiPort(a.base_port, i));
    ac.directory.file = "../../directory.bin";
    ac.directory.root_key = "../../operator/keys/identity.json";
    ac.metrics.listen = loopback + std::to_string(AgentMetricsPort(a.base_port, i));
    if (policy) ac.cases_policy = "../../policy.toml";
    fs::path agent_toml = node_dir / "agent.toml";
    if (Status s = WriteFileAtomic(agent_toml.string(), AsBytes(config::AgentConfigToToml(ac)), 0644); !s.ok())
      return fail(s);
    nodes_json.push_back({
        {"id", id.str()},
        {"index", i},
        {"keys", (node_dir / "keys").string()},
        {"identity", (node_dir / "keys" / "identity.json").string()},
        {"config", agent_toml.string()},
        {"data", (node_dir / "data").string()},
        {"ready", (node_dir / "data" / "ready.json").string()},
        {"api_token_file", (node_dir / "data" / "api.token").string()},
        {"api", "http://" + ac.api_listen},
        {"api_port", AgentApiPort(a.base_port, i)},
        {"metrics", ac.metrics.listen},
        {"metrics_port", AgentMetricsPort(a.base_port, i)},
    });
  }

  nlohmann::json j = {
      {"network", a.network},
      {"dir", root.string()},
      {"base_port", a.base_port},
      {"directory", {{"file", dir_file.string()}, {"version", d.version()}}},
      {"operator",
       {{"id", op.str()}, {"keys", op_keys.string()}, {"identity", op_identity.string()}}},
      {"hub",
       {{"id", hub.str()},
        {"keys", (hub_dir / "keys").string()},
        {"identity", (hub_dir / "keys" / "identity.json").string()},
        {"config", broker_toml.string()},
        {"data", (hub_dir / "data").string()},
        {"ready", (hub_dir / "data" / "ready.json").string()},
        {"listen", broker_listen},
        {"endpoint", broker_endpoint},
        {"port", BrokerPort(a.base_port)},
        {"metrics", bc.metrics.listen},
        {"metrics_port", BrokerMetricsPort(a.base_port)}}},
      {"nodes", nodes_json},
      {"policy", policy ? nlohmann::json{{"file", policy_file.string()}, {"source", a.policy}, {"sha256", policy->sha256}}
                        : nlohmann::json{{"file", nullptr}, {"source", "embedded_default"}}},
  };
  if (Status s = WriteFileAtomic((root / "network.json").string(), AsBytes(j.dump(2) + "\n"), 0644); !s.ok())
    return fail(s);
  return j;
}

void PrintSummary(const nlohmann::json& j) {
  fs::path root = j["dir"].get<std::string>();
  std::cout << "Created network '" << j["network"].get<std::string>() << "' in " << Shown(root)
            << " (signed directory version " << j["directory"]["version"] << ", operator "
            << j["operator"]["id"].get<std::string>() << ").\n\n";
  std::printf("  %-9s %-8s %-28s %-17s %s\n", "role", "id", "endpoint / API", "metrics", "config");
  std::printf("  %-9s %-8s %-28s %-17s %s\n", "operator", j["operator"]["id"].get<std::string>().c_str(), "-", "-",
              (Shown(root / "operator/keys") + " (root key)").c_str());
  std::printf("  %-9s %-8s %-28s %-17s %s\n", "hub", j["hub"]["id"].get<std::string>().c_str(),
              j["hub"]["listen"].get<std::string>().c_str(), j["hub"]["metrics"].get<std::string>().c_str(),
              Shown(j["hub"]["config"].get<std::string>()).c_str());
  for (const auto& n : j["nodes"])
    std::printf("  %-9s %-8s %-28s %-17s %s\n", "authority", n["id"].get<std::string>().c_str(),
                n["api"].get<std::string>().c_str(), n["metrics"].get<std::string>().c_str(),
                Shown(n["config"].get<std::string>()).c_str());
  std::cout << "\nAlso written: " << Shown(root / "directory.bin") << " (signed by the operator), "
            << Shown(root / "network.json") << " (this summary, for scripts).\n";
  if (j["policy"]["file"].is_string())
    std::cout << "Deadline policy: " << Shown(j["policy"]["file"].get<std::string>()) << " (a copy of "
              << j["policy"]["source"].get<std::string>() << "), used by every agent ([cases] policy).\n";
  else
    std::cout << "Deadline policy: the embedded default (`mlahub policy show`; change it with --policy FILE).\n";
  std::cout << "The keys are NOT passphrase-protected: use this network on one machine or for tests only.\n\n"
            << "Start the broker, then each agent (each writes <data>/ready.json once it serves):\n"
            << "  " << DaemonPath("mlahub-broker") << " --config " << Shown(j["hub"]["config"].get<std::string>())
            << "\n";
  for (const auto& n : j["nodes"])
    std::cout << "  " << DaemonPath("mlahub-agent") << " --config " << Shown(n["config"].get<std::string>()) << "\n";
  std::cout << std::flush;
}

}  // namespace

void RegisterNetworkCommands(CLI::App& app) {
  CLI::App* net = app.add_subcommand("network", "Set up networks");
  net->require_subcommand(1);
  auto a = std::make_shared<InitArgs>();
  CLI::App* init = net->add_subcommand(
      "init",
      "Create a local or test network in an empty directory: operator, hub and node keys (unencrypted), the signed\n"
      "directory (version 1), broker.toml and one agent.toml per node, and network.json. Ports, from the base\n"
      "port P: broker P, broker metrics P+1, agent i (0-based, --nodes order) API P+10+2i, metrics P+11+2i.");
  init->add_option("--dir", a->dir, "Directory to create the network in (must be new or empty)")->required();
  init->add_option("--nodes", a->nodes, "Authorities, comma-separated node ids (e.g. IT-MOJ,NG-AGF,TH-OAG)")
      ->required();
  init->add_option("--hub", a->hub, "The hub's node id")->capture_default_str();
  init->add_option("--operator", a->op, "The network operator's node id")->capture_default_str();
  init->add_option("--network", a->network, "Network name (in the signed directory)")->capture_default_str();
  init->add_option("--base-port", a->base_port, "Base TCP port P")->capture_default_str();
  init->add_option("--broker-host", a->broker_host,
                   "Host the agents connect to for the broker (e.g. the compose service name 'broker')")
      ->capture_default_str();
  init->add_option("--listen-host", a->listen_host,
                   "Address the broker listens on (0.0.0.0 inside a container; metrics and agent APIs stay on "
                   "loopback)")
      ->capture_default_str();
  init->add_option("--policy", a->policy,
                   "A deadline policy file (checked first, as `mlahub policy check` does), copied to DIR/policy.toml; "
                   "every agent.toml points at it ([cases] policy). Default: the embedded policy");
  init->add_flag("--json", a->json, "Print network.json instead of the summary");
  init->callback([a] {
    auto j = RunInit(*a);
    if (!j.ok()) return void(ExitCode() = Fail(j.status(), a->json));
    if (a->json) {
      std::cout << j->dump(2) << std::endl;
    } else {
      PrintSummary(*j);
    }
    ExitCode() = kExitOk;
  });
}

}  // namespace mlahub::cli
