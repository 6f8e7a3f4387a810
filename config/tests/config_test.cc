#include "mlahub/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "mlahub/storage/note.h"

namespace mlahub::config {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mlahub_config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "hub");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& rel, const std::string& text) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

  static constexpr const char* kMinimalBroker =
      "[broker]\n"
      "node_id = \"XX-HUB\"\n"
      "keys = \"keys\"\n"
      "data = \"data\"\n"
      "[directory]\n"
      "file = \"../directory.bin\"\n"
      "root_key = \"../operator/keys\"\n";
  static constexpr const char* kMinimalAgent =
      "[agent]\n"
      "node_id = \"IT-MOJ\"\n"
      "keys = \"keys\"\n"
      "data = \"data\"\n"
      "[directory]\n"
      "file = \"../../directory.bin\"\n"
      "root_key = \"ed25519:AAAA\"\n";

  // Loads a broker file made of the minimal one plus `extra`, expecting an
  // InvalidArgument whose message holds every one of `needles`.
  void ExpectBrokerError(const std::string& text, Code code, std::initializer_list<std::string> needles) {
    auto r = LoadBrokerConfig(Write("hub/broker.toml", text));
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
    for (const auto& n : needles) EXPECT_NE(r.status().message().find(n), std::string::npos)
        << "'" << n << "' not in: " << r.status().message();
  }

  fs::path dir_;
};

TEST_F(ConfigTest, BrokerDefaultsAndDerivedValues) {
  auto r = LoadBrokerConfig(Write("hub/broker.toml", kMinimalBroker));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const BrokerConfig& c = *r;
  BrokerConfig d;  // the embedded defaults
  EXPECT_EQ(c.node_id, "XX-HUB");
  EXPECT_EQ(c.listen, d.listen);
  EXPECT_EQ(c.listen, "tcp://127.0.0.1:7700");
  EXPECT_EQ(c.max_envelope_bytes, d.max_envelope_bytes);
  EXPECT_EQ(c.max_clock_skew_ms, d.max_clock_skew_ms);
  EXPECT_EQ(c.clock_rate, 1.0);
  EXPECT_EQ(c.clock_origin_ms, 0);
  EXPECT_EQ(c.verify_threads, 0);
  EXPECT_EQ(c.redeliver_initial_ms, d.redeliver_initial_ms);
  EXPECT_EQ(c.redeliver_max_ms, d.redeliver_max_ms);
  EXPECT_EQ(c.max_inflight_per_agent, d.max_inflight_per_agent);
  EXPECT_EQ(c.queue_memory_per_agent, d.queue_memory_per_agent);
  EXPECT_EQ(c.checkpoint_interval_ms, d.checkpoint_interval_ms);
  EXPECT_EQ(c.max_batch_entries, d.max_batch_entries);
  EXPECT_EQ(c.directory.reload_interval_ms, 2000);
  EXPECT_EQ(c.metrics.listen, "");
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.format, "json");
  EXPECT_EQ(c.log.file, "");
  EXPECT_EQ(c.passphrase_env, "");
  // Derived: the origin, which must be a valid C2SP key name.
  EXPECT_EQ(c.origin, "xx-hub.mlahub/ledger");
  EXPECT_TRUE(storage::IsValidKeyName(c.origin));
  EXPECT_EQ(c.config_path, (dir_ / "hub/broker.toml").string());
}

TEST_F(ConfigTest, AgentDefaultsAndDerivedValues) {
  auto r = LoadAgentConfig(Write("nodes/IT-MOJ/agent.toml", kMinimalAgent));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const AgentConfig& c = *r;
  AgentConfig d;
  EXPECT_EQ(c.node_id, "IT-MOJ");
  EXPECT_EQ(c.broker, "tcp://127.0.0.1:7700");
  EXPECT_EQ(c.api_listen, "127.0.0.1:7800");
  EXPECT_EQ(c.reconnect_initial_ms, d.reconnect_initial_ms);
  EXPECT_EQ(c.reconnect_max_ms, d.reconnect_max_ms);
  EXPECT_EQ(c.accept_warning_ms, d.accept_warning_ms);
  EXPECT_EQ(c.accept_failure_ms, d.accept_failure_ms);
  EXPECT_EQ(c.delivery_warning_ms, d.delivery_warning_ms);
  EXPECT_EQ(c.delivery_failure_ms, d.delivery_failure_ms);
  EXPECT_EQ(c.receipt_warning_ms, d.receipt_warning_ms);
  EXPECT_EQ(c.receipt_failure_ms, d.receipt_failure_ms);
  EXPECT_EQ(c.audit_interval_ms, d.audit_interval_ms);
  EXPECT_EQ(c.directory.root_key, "ed25519:AAAA");  // not a path: kept as is
  EXPECT_EQ(c.cases_policy, "");                    // the embedded deadline policy
  // Derived: the token file lives in the data directory.
  EXPECT_EQ(c.api_token_file, (dir_ / "nodes/IT-MOJ/data/api.token").string());
}

TEST_F(ConfigTest, RelativePathsResolveAgainstTheFilesDirectory) {
  std::string text = std::string(kMinimalAgent) +
                     "[api]\ntoken_file = \"secret/token\"\n[log]\nfile = \"logs/agent.log\"\n"
                     "[cases]\npolicy = \"../../policy.toml\"\n";
  auto r = LoadAgentConfig(Write("nodes/IT-MOJ/agent.toml", text));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  fs::path base = dir_ / "nodes/IT-MOJ";
  EXPECT_EQ(r->keys, (base / "keys").string());
  EXPECT_EQ(r->data, (base / "data").string());
  EXPECT_EQ(r->directory.file, (dir_ / "directory.bin").string());  // "../../" normalised away
  EXPECT_EQ(r->api_token_file, (base / "secret/token").string());
  EXPECT_EQ(r->log.file, (base / "logs/agent.log").string());
  EXPECT_EQ(r->cases_policy, (dir_ / "policy.toml").string());  // [cases] policy

  auto b = LoadBrokerConfig(Write("hub/broker.toml", kMinimalBroker));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->directory.root_key, (dir_ / "operator/keys").string());

  // Absolute paths stay as they are; a relative config path works from the cwd.
  std::string abs_text = "[broker]\nnode_id = \"XX-HUB\"\nkeys = \"/srv/hub/keys\"\ndata = \"/srv/hub/data\"\n"
                         "[directory]\nfile = \"/srv/directory.bin\"\nroot_key = \"/srv/operator\"\n";
  std::string p = Write("hub/abs.toml", abs_text);
  fs::path old = fs::current_path();
  fs::current_path(dir_);
  auto a = LoadBrokerConfig("hub/abs.toml");
  auto rel = LoadBrokerConfig("hub/broker.toml");
  fs::current_path(old);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->keys, "/srv/hub/keys");
  EXPECT_EQ(a->directory.file, "/srv/directory.bin");
  ASSERT_TRUE(rel.ok()) << rel.status().ToString();
  EXPECT_EQ(rel->keys, (dir_ / "hub/keys").string());
  EXPECT_EQ(rel->config_path, "hub/broker.toml");
}

BrokerConfig EveryBrokerKeySet(const fs::path& dir) {
  BrokerConfig c;
  c.node_id = "ZZ-HUB2";
  c.keys = (dir / "k e y s").string();
  c.passphrase_env = "HUB_PASS";
  c.listen = "tcp://0.0.0.0:9000";
  c.data = (dir / "da\"ta").string();
  c.origin = "hub.example.org/ledger";
  c.max_envelope_bytes = 12345678;
  c.max_clock_skew_ms = 1234;
  c.clock_rate = 0.1 + 0.2;  // not exactly representable in short decimal
  c.clock_origin_ms = 1764400000123;
  c.verify_threads = 3;
  c.redeliver_initial_ms = 5;
  c.redeliver_max_ms = 77;
  c.max_inflight_per_agent = 9;
  c.queue_memory_per_agent = 99;
  c.checkpoint_interval_ms = 1000;
  c.max_batch_entries = 42;
  c.directory.file = (dir / "dir.bin").string();
  c.directory.root_key = "ed25519:Zm9vYmFy";
  c.directory.reload_interval_ms = 333;
  c.metrics.listen = "[::1]:0";
  c.log = {"debug", "text", (dir / "l\\og").string()};
  return c;
}

AgentConfig EveryAgentKeySet(const fs::path& dir) {
  AgentConfig c;
  c.node_id = "NG-AGF";
  c.keys = (dir / "keys").string();
  c.passphrase_env = "_P1";
  c.broker = "tcp://broker:7700";
  c.data = (dir / "data").string();
  c.max_envelope_bytes = 2048;
  c.max_clock_skew_ms = 60000;
  c.clock_rate = 60;
  c.clock_origin_ms = 1;
  c.reconnect_initial_ms = 1;
  c.reconnect_max_ms = 2;
  c.api_listen = "localhost:0";
  c.api_token_file = (dir / "tok").string();
  c.accept_warning_ms = 1;
  c.accept_failure_ms = 2;
  c.delivery_warning_ms = 3;
  c.delivery_failure_ms = 4;
  c.receipt_warning_ms = 5;
  c.receipt_failure_ms = 6;
  c.audit_interval_ms = 7;
  c.cases_policy = (dir / "policy.toml").string();
  c.directory.file = (dir / "directory.bin").string();
  c.directory.root_key = (dir / "operator").string();
  c.directory.reload_interval_ms = 1;
  c.metrics.listen = "127.0.0.2:9101";
  c.log = {"error", "json", ""};
  return c;
}

TEST_F(ConfigTest, BrokerRoundTrip) {
  BrokerConfig c = EveryBrokerKeySet(dir_);
  std::string path = Write("hub/rt.toml", BrokerConfigToToml(c));
  auto r = LoadBrokerConfig(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << "\n" << BrokerConfigToToml(c);
  c.config_path = path;
  EXPECT_EQ(*r, c) << BrokerConfigToToml(c);

  // And a loaded minimal file survives write + load unchanged.
  auto m = LoadBrokerConfig(Write("hub/broker.toml", kMinimalBroker));
  ASSERT_TRUE(m.ok());
  auto m2 = LoadBrokerConfig(Write("hub/broker2.toml", BrokerConfigToToml(*m)));
  ASSERT_TRUE(m2.ok()) << m2.status().ToString();
  m2->config_path = m->config_path;
  EXPECT_EQ(*m2, *m);
}

TEST_F(ConfigTest, AgentRoundTrip) {
  AgentConfig c = EveryAgentKeySet(dir_);
  std::string path = Write("nodes/NG-AGF/rt.toml", AgentConfigToToml(c));
  auto r = LoadAgentConfig(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << "\n" << AgentConfigToToml(c);
  c.config_path = path;
  EXPECT_EQ(*r, c) << AgentConfigToToml(c);
}

TEST_F(ConfigTest, WrittenFileHasEveryKeyWithAComment) {
  std::string toml = AgentConfigToToml(EveryAgentKeySet(dir_));
  for (const char* key : {"node_id =", "keys =", "passphrase_env =", "broker =", "data =", "max_envelope_bytes =",
                          "max_clock_skew_ms =", "clock_rate =", "clock_origin_ms =", "initial_ms =", "max_ms =", "listen =",
                          "token_file =", "accept_warning_ms =", "accept_failure_ms =", "delivery_warning_ms =",
                          "delivery_failure_ms =", "receipt_warning_ms =", "receipt_failure_ms =", "interval_ms =",
                          "file =", "root_key =", "reload_interval_ms =", "level =", "format =", "policy ="})
    EXPECT_NE(toml.find(key), std::string::npos) << key;
  for (const char* sec : {"[agent]", "[reconnect]", "[api]", "[evidence]", "[audit]", "[cases]", "[directory]",
                          "[metrics]", "[log]"})
    EXPECT_NE(toml.find(sec), std::string::npos) << sec;
  // Every key line is preceded by a comment line.
  std::istringstream in(toml);
  std::string prev, line;
  int keys = 0;
  while (std::getline(in, line)) {
    if (line.find(" = ") != std::string::npos && line[0] != '#') {
      ++keys;
      EXPECT_EQ(prev.rfind("# ", 0), 0u) << line;
    }
    prev = line;
  }
  EXPECT_EQ(keys, 30);

  // Relative paths are written as given.
  BrokerConfig b;
  b.node_id = "XX-HUB";
  b.keys = "keys";
  b.data = "data";
  b.directory.file = "../directory.bin";
  b.directory.root_key = "../operator/keys";
  std::string bt = BrokerConfigToToml(b);
  EXPECT_NE(bt.find("keys = \"keys\""), std::string::npos);
  EXPECT_NE(bt.find("file = \"../directory.bin\""), std::string::npos);
  EXPECT_NE(bt.find("\n# origin = \"xx-hub.mlahub/ledger\"\n"), std::string::npos) << bt;  // derived: commented
  auto loaded = LoadBrokerConfig(Write("hub/broker.toml", bt));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->origin, "xx-hub.mlahub/ledger");
}

TEST_F(ConfigTest, MissingFileIsNotFound) {
  auto r = LoadBrokerConfig((dir_ / "nope.toml").string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("nope.toml"), std::string::npos);
}

TEST_F(ConfigTest, SyntaxErrorIsABadConfigurationWithLine) {
  ExpectBrokerError("[broker]\nnode_id = \"XX-HUB\"\nkeys = keys\n", Code::kInvalidArgument, {"broker.toml:3:", "TOML"});
}

TEST_F(ConfigTest, UnknownKeyNamesKeyAndLine) {
  ExpectBrokerError(std::string(kMinimalBroker) + "[delivery]\n\nredeliver_intial_ms = 5\n", Code::kInvalidArgument,
                    {"broker.toml:10:", "unknown key 'redeliver_intial_ms'", "[delivery]", "redeliver_initial_ms"});
}

TEST_F(ConfigTest, UnknownSectionNamesSectionAndLine) {
  // [api] belongs to the agent, not the broker.
  ExpectBrokerError(std::string(kMinimalBroker) + "[api]\nlisten = \"127.0.0.1:1\"\n", Code::kInvalidArgument,
                    {"broker.toml:8:", "unknown section [api]", "mlahub-broker"});
  ExpectBrokerError("verbose = true\n" + std::string(kMinimalBroker), Code::kInvalidArgument,
                    {"broker.toml:1:", "unknown key 'verbose'"});
  ExpectBrokerError("log = 3\n" + std::string(kMinimalBroker), Code::kInvalidArgument,
                    {"broker.toml:1:", "'log' must be a section"});
  ExpectBrokerError(std::string(kMinimalBroker) + "[log.extra]\nx = 1\n", Code::kInvalidArgument,
                    {"unknown key 'extra' in [log]"});
}

TEST_F(ConfigTest, MissingRequiredKeyIsNamed) {
  ExpectBrokerError("[broker]\nnode_id = \"XX-HUB\"\nkeys = \"k\"\n[directory]\nfile = \"d\"\nroot_key = \"r\"\n",
                    Code::kInvalidArgument, {"missing required key 'data' in [broker]"});
  ExpectBrokerError("[broker]\nnode_id = \"XX-HUB\"\nkeys = \"k\"\ndata = \"d\"\n[directory]\nfile = \"d\"\n",
                    Code::kInvalidArgument, {"missing required key 'root_key' in [directory]"});
  auto r = LoadAgentConfig(Write("a.toml", "[agent]\nkeys = \"k\"\ndata = \"d\"\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing required key 'node_id' in [agent]"), std::string::npos)
      << r.status().message();
}

TEST_F(ConfigTest, WrongTypeNamesKeyAndLine) {
  ExpectBrokerError(std::string(kMinimalBroker) + "[delivery]\nredeliver_initial_ms = \"2000\"\n",
                    Code::kInvalidArgument, {"broker.toml:9: [delivery] redeliver_initial_ms", "integer"});
  ExpectBrokerError(std::string(kMinimalBroker) + "[delivery]\nredeliver_initial_ms = 2.5\n", Code::kInvalidArgument,
                    {"broker.toml:9: [delivery] redeliver_initial_ms", "integer"});
  ExpectBrokerError(std::string(kMinimalBroker) + "[log]\nlevel = 3\n", Code::kInvalidArgument,
                    {"broker.toml:9: [log] level", "string"});
  ExpectBrokerError("[broker]\nclock_rate = \"fast\"\n", Code::kInvalidArgument,
                    {"broker.toml:2: [broker] clock_rate", "number"});
}

TEST_F(ConfigTest, BadValuesNameKeyAndLine) {
  struct Case {
    std::string extra;
    std::string needle;
  };
  for (const Case& k : std::initializer_list<Case>{
           {"[log]\nlevel = \"verbose\"\n", "broker.toml:9: [log] level: 'verbose' is not a level"},
           {"[log]\nformat = \"xml\"\n", "broker.toml:9: [log] format"},
           {"[metrics]\nlisten = \"0.0.0.0:9100\"\n", "broker.toml:9: [metrics] listen: '0.0.0.0:9100' is not a loopback"},
           {"[metrics]\nlisten = \"9100\"\n", "broker.toml:9: [metrics] listen"},
           {"[delivery]\nmax_inflight_per_agent = 0\n", "broker.toml:9: [delivery] max_inflight_per_agent: 0 is out of range"},
           {"[delivery]\nmax_inflight_per_agent = -4\n", "out of range"},
       }) {
    ExpectBrokerError(std::string(kMinimalBroker) + k.extra, Code::kInvalidArgument, {k.needle});
  }
  ExpectBrokerError("[broker]\nnode_id = \"it-moj\"\nkeys = \"k\"\ndata = \"d\"\n[directory]\nfile = \"d\"\nroot_key = \"r\"\n",
                    Code::kInvalidArgument, {"broker.toml:2: [broker] node_id", "not a node id"});
  ExpectBrokerError("[broker]\nnode_id = \"XX-HUB\"\nkeys = \"k\"\ndata = \"d\"\nlisten = \"127.0.0.1:7700\"\n"
                    "[directory]\nfile = \"d\"\nroot_key = \"r\"\n",
                    Code::kInvalidArgument, {"broker.toml:5: [broker] listen", "tcp://HOST:PORT"});
  ExpectBrokerError("[broker]\nnode_id = \"XX-HUB\"\nkeys = \"\"\ndata = \"d\"\n[directory]\nfile = \"d\"\nroot_key = \"r\"\n",
                    Code::kInvalidArgument, {"broker.toml:3: [broker] keys: must not be empty"});
  ExpectBrokerError("[broker]\nnode_id = \"XX-HUB\"\norigin = \"my hub\"\nkeys = \"k\"\ndata = \"d\"\n"
                    "[directory]\nfile = \"d\"\nroot_key = \"r\"\n",
                    Code::kInvalidArgument, {"broker.toml:3: [broker] origin"});
  ExpectBrokerError("[broker]\nnode_id = \"XX-HUB\"\npassphrase_env = \"MY-PASS\"\nkeys = \"k\"\ndata = \"d\"\n"
                    "[directory]\nfile = \"d\"\nroot_key = \"r\"\n",
                    Code::kInvalidArgument, {"broker.toml:3: [broker] passphrase_env"});
  ExpectBrokerError(std::string(kMinimalBroker) + "[delivery]\nredeliver_initial_ms = 5000\nredeliver_max_ms = 10\n",
                    Code::kInvalidArgument, {"broker.toml:9: [delivery] redeliver_initial_ms", "redeliver_max_ms"});
  ExpectBrokerError(std::string(kMinimalBroker).replace(std::string(kMinimalBroker).find("[broker]\n") + 9, 0,
                                                         "clock_rate = -1.0\n"),
                    Code::kInvalidArgument, {"broker.toml:2: [broker] clock_rate", "greater than 0"});

  // Agent: API must be loopback; broker endpoint needs a port; evidence order.
  auto agent_err = [&](const std::string& extra, const std::string& needle) {
    auto r = LoadAgentConfig(Write("nodes/IT-MOJ/agent.toml", std::string(kMinimalAgent) + extra));
    ASSERT_FALSE(r.ok()) << extra;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  agent_err("[api]\nlisten = \"0.0.0.0:7800\"\n", "agent.toml:9: [api] listen");
  agent_err("[evidence]\nreceipt_warning_ms = 10\nreceipt_failure_ms = 5\n", "agent.toml:9: [evidence] receipt_warning_ms");
  agent_err("[reconnect]\nmax_ms = 0\n", "agent.toml:9: [reconnect] max_ms: 0 is out of range");
  auto r = LoadAgentConfig(Write("nodes/IT-MOJ/agent.toml",
                                 "[agent]\nnode_id = \"IT-MOJ\"\nbroker = \"tcp://hub:0\"\nkeys = \"k\"\ndata = \"d\"\n"
                                 "[directory]\nfile = \"d\"\nroot_key = \"r\"\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("agent.toml:3: [agent] broker"), std::string::npos) << r.status().message();
}

TEST_F(ConfigTest, ClockOrigin) {
  // Both daemons: an integer of Unix ms, 0 (the default) = the process's start.
  std::string broker = std::string(kMinimalBroker);
  broker.insert(broker.find("[directory]"), "clock_rate = 3600.0\nclock_origin_ms = 1767225600000\n");
  auto b = LoadBrokerConfig(Write("hub/broker.toml", broker));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->clock_origin_ms, 1767225600000);
  EXPECT_EQ(b->clock_rate, 3600.0);
  // Written and read back.
  auto b2 = LoadBrokerConfig(Write("hub/broker2.toml", BrokerConfigToToml(*b)));
  ASSERT_TRUE(b2.ok()) << b2.status().ToString();
  EXPECT_EQ(b2->clock_origin_ms, 1767225600000);
  EXPECT_NE(BrokerConfigToToml(*b).find("clock_origin_ms = 1767225600000\n"), std::string::npos);

  std::string agent = std::string(kMinimalAgent);
  agent.insert(agent.find("[directory]"), "clock_origin_ms = 42\n");
  auto a = LoadAgentConfig(Write("nodes/IT-MOJ/agent.toml", agent));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->clock_origin_ms, 42);
  auto d = LoadAgentConfig(Write("nodes/IT-MOJ/agent.toml", kMinimalAgent));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->clock_origin_ms, 0);
  EXPECT_NE(AgentConfigToToml(*a).find("clock_origin_ms = 42\n"), std::string::npos);

  // Errors name the key and its line.
  std::string neg = std::string(kMinimalBroker);
  neg.insert(neg.find("[directory]"), "clock_origin_ms = -1\n");
  ExpectBrokerError(neg, Code::kInvalidArgument, {"broker.toml:5: [broker] clock_origin_ms", "out of range"});
  std::string huge = std::string(kMinimalBroker);
  huge.insert(huge.find("[directory]"), "clock_origin_ms = 253402300800000\n");
  ExpectBrokerError(huge, Code::kInvalidArgument, {"[broker] clock_origin_ms", "out of range"});
  std::string text = std::string(kMinimalBroker);
  text.insert(text.find("[directory]"), "clock_origin_ms = \"2026-01-01\"\n");
  ExpectBrokerError(text, Code::kInvalidArgument, {"broker.toml:5: [broker] clock_origin_ms", "integer"});
  std::string agent_neg = std::string(kMinimalAgent);
  agent_neg.insert(agent_neg.find("[directory]"), "clock_origin_ms = -5\n");
  auto an = LoadAgentConfig(Write("nodes/IT-MOJ/agent.toml", agent_neg));
  ASSERT_FALSE(an.ok());
  EXPECT_NE(an.status().message().find("agent.toml:5: [agent] clock_origin_ms"), std::string::npos)
      << an.status().message();
}

TEST_F(ConfigTest, AcceptsListenVariants) {
  for (const char* listen : {"tcp://0.0.0.0:7700", "tcp://*:7700", "tcp://[::1]:7700", "tcp://broker:1"}) {
    std::string text = std::string(kMinimalBroker) + "[metrics]\nlisten = \"localhost:0\"\n";
    text.insert(text.find("[directory]"), std::string("listen = \"") + listen + "\"\n");
    auto r = LoadBrokerConfig(Write("hub/broker.toml", text));
    EXPECT_TRUE(r.ok()) << listen << ": " << r.status().ToString();
  }
}

}  // namespace
}  // namespace mlahub::config
