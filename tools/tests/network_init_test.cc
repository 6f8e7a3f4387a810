// `mlahub network init` end to end: runs the built binary into a temporary
// directory and checks the layout contract (docs/CONFIG.md "Network layout").
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mlahub/config/config.h"
#include "mlahub/core/file.h"
#include "mlahub/directory/directory.h"
#include "mlahub/identity/keys.h"
#include "process.h"  // tests/support

namespace mlahub {
namespace {

namespace fs = std::filesystem;

using CliRun = support::CommandRun;



class NetworkInitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() /
           ("mlahub_netinit_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  CliRun Mlahub(const std::string& args) {
    return support::RunCapturing(std::string(MLAHUB_BIN_DIR) + "/mlahub", args, tmp_);
  }

  static unsigned Mode(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 0777;
  }

  fs::path tmp_;
};

TEST_F(NetworkInitTest, CreatesTheContractLayout) {
  fs::path net = tmp_ / "net";
  CliRun r = Mlahub("network init --dir " + support::ShellQuote(net.string()) + " --nodes IT-MOJ,NG-AGF,TH-OAG --base-port 17700");
  ASSERT_EQ(r.code, 0) << r.err;
  // The summary tells how to start each daemon.
  EXPECT_NE(r.out.find("mlahub-broker --config"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hub/broker.toml"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mlahub-agent --config"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nodes/TH-OAG/agent.toml"), std::string::npos) << r.out;

  const std::vector<std::string> nodes = {"IT-MOJ", "NG-AGF", "TH-OAG"};
  // Files and secret key modes.
  for (const fs::path& keys : {net / "operator/keys", net / "hub/keys", net / "nodes/IT-MOJ/keys",
                               net / "nodes/NG-AGF/keys", net / "nodes/TH-OAG/keys"}) {
    ASSERT_TRUE(fs::exists(keys / "node.key")) << keys;
    EXPECT_TRUE(fs::exists(keys / "identity.json")) << keys;
    EXPECT_TRUE(fs::exists(keys / "identity.bin")) << keys;
    EXPECT_EQ(Mode(keys / "node.key"), 0600u) << keys;
  }
  for (const char* f : {"directory.bin", "network.json", "hub/broker.toml", "nodes/IT-MOJ/agent.toml",
                        "nodes/NG-AGF/agent.toml", "nodes/TH-OAG/agent.toml"})
    EXPECT_TRUE(fs::is_regular_file(net / f)) << f;

  // The directory verifies with the operator's key and lists everyone.
  auto op = identity::LoadIdentity((net / "operator/keys").string());
  ASSERT_TRUE(op.ok()) << op.status().ToString();
  EXPECT_EQ(op->id.str(), "XX-OPS");
  EXPECT_EQ(op->role, identity::Role::kOperator);
  auto bytes = ReadFile((net / "directory.bin").string());
  ASSERT_TRUE(bytes.ok());
  auto dir = directory::Directory::Verify(*bytes, op->sign_key);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(dir->version(), 1u);
  EXPECT_EQ(dir->network(), "mlahub-local");
  EXPECT_EQ(dir->entries().size(), 5u);
  ASSERT_NE(dir->Find("XX-HUB"), nullptr);
  EXPECT_EQ(dir->Find("XX-HUB")->identity.role, identity::Role::kHub);
  ASSERT_NE(dir->Find("XX-OPS"), nullptr);
  UnixMillis now = SystemClock::Instance().NowMillis();
  for (const auto& id : nodes) {
    const directory::Entry* e = dir->Find(id);
    ASSERT_NE(e, nullptr) << id;
    EXPECT_EQ(e->identity.role, identity::Role::kAuthority);
    EXPECT_TRUE(e->accepts.empty());  // every kind
    EXPECT_EQ(e->languages, std::vector<std::string>{"en"});
    EXPECT_TRUE(e->untoc_party);
    EXPECT_TRUE(e->protocol_party);
    EXPECT_TRUE(dir->CheckSender(id, now).ok());
    // The directory holds the keys that are on disk.
    auto pub = identity::LoadIdentity((net / "nodes" / id / "keys").string());
    ASSERT_TRUE(pub.ok());
    EXPECT_EQ(e->identity.sign_key, pub->sign_key);
    EXPECT_EQ(e->identity.curve_key, pub->curve_key);
  }
  // Signed by someone else's key it does not verify.
  auto hub_pub = identity::LoadIdentity((net / "hub/keys").string());
  ASSERT_TRUE(hub_pub.ok());
  EXPECT_FALSE(directory::Directory::Verify(*bytes, hub_pub->sign_key).ok());

  // The broker config loads, points at existing keys and uses the ports.
  auto bc = config::LoadBrokerConfig((net / "hub/broker.toml").string());
  ASSERT_TRUE(bc.ok()) << bc.status().ToString();
  EXPECT_EQ(bc->node_id, "XX-HUB");
  EXPECT_EQ(bc->listen, "tcp://127.0.0.1:17700");
  EXPECT_EQ(bc->metrics.listen, "127.0.0.1:17701");
  EXPECT_EQ(fs::path(bc->keys), net / "hub/keys");
  EXPECT_EQ(fs::path(bc->data), net / "hub/data");
  EXPECT_EQ(fs::path(bc->directory.file), net / "directory.bin");
  EXPECT_EQ(bc->passphrase_env, "");
  auto hub_keys = identity::LoadKeyDir(bc->keys, "");
  ASSERT_TRUE(hub_keys.ok()) << hub_keys.status().ToString();
  EXPECT_EQ(hub_keys->id.str(), "XX-HUB");
  auto root = identity::LoadIdentity(bc->directory.root_key);
  ASSERT_TRUE(root.ok()) << bc->directory.root_key;
  EXPECT_EQ(root->sign_key, op->sign_key);

  for (size_t i = 0; i < nodes.size(); ++i) {
    fs::path toml = net / "nodes" / nodes[i] / "agent.toml";
    auto ac = config::LoadAgentConfig(toml.string());
    ASSERT_TRUE(ac.ok()) << ac.status().ToString();
    EXPECT_EQ(ac->node_id, nodes[i]);
    EXPECT_EQ(ac->broker, "tcp://127.0.0.1:17700");
    EXPECT_EQ(ac->api_listen, "127.0.0.1:" + std::to_string(17710 + 2 * i));
    EXPECT_EQ(ac->metrics.listen, "127.0.0.1:" + std::to_string(17711 + 2 * i));
    EXPECT_EQ(fs::path(ac->data), net / "nodes" / nodes[i] / "data");
    EXPECT_EQ(fs::path(ac->api_token_file), net / "nodes" / nodes[i] / "data/api.token");
    EXPECT_EQ(fs::path(ac->directory.file), net / "directory.bin");
    auto keys = identity::LoadKeyDir(ac->keys, "");
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    EXPECT_EQ(keys->id.str(), nodes[i]);
    auto r2 = identity::LoadIdentity(ac->directory.root_key);
    ASSERT_TRUE(r2.ok());
    EXPECT_EQ(r2->sign_key, op->sign_key);
  }

  // network.json summarises the same.
  auto j = nlohmann::json::parse(support::ReadText(net / "network.json"));
  EXPECT_EQ(j["network"], "mlahub-local");
  EXPECT_EQ(j["base_port"], 17700);
  EXPECT_EQ(j["hub"]["id"], "XX-HUB");
  EXPECT_EQ(j["hub"]["endpoint"], "tcp://127.0.0.1:17700");
  EXPECT_EQ(j["hub"]["metrics"], "127.0.0.1:17701");
  EXPECT_EQ(j["hub"]["config"], (net / "hub/broker.toml").string());
  EXPECT_EQ(j["hub"]["ready"], (net / "hub/data/ready.json").string());
  EXPECT_EQ(j["operator"]["id"], "XX-OPS");
  EXPECT_EQ(j["directory"]["version"], 1);
  ASSERT_EQ(j["nodes"].size(), 3u);
  for (size_t i = 0; i < nodes.size(); ++i) {
    EXPECT_EQ(j["nodes"][i]["id"], nodes[i]);
    EXPECT_EQ(j["nodes"][i]["api"], "http://127.0.0.1:" + std::to_string(17710 + 2 * i));
    EXPECT_EQ(j["nodes"][i]["api_port"], 17710 + 2 * i);
    EXPECT_EQ(j["nodes"][i]["metrics_port"], 17711 + 2 * i);
    EXPECT_TRUE(fs::exists(j["nodes"][i]["config"].get<std::string>()));
    EXPECT_TRUE(fs::exists(j["nodes"][i]["keys"].get<std::string>()));
  }

  // `mlahub directory show` reads what init wrote.
  CliRun show = Mlahub("directory show --directory " + support::ShellQuote((net / "directory.bin").string()) + " --root " +
                    support::ShellQuote((net / "operator/keys/identity.json").string()));
  EXPECT_EQ(show.code, 0) << show.err;
  EXPECT_NE(show.out.find("signature verified"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("TH-OAG"), std::string::npos) << show.out;
}

TEST_F(NetworkInitTest, JsonOutputIsNetworkJson) {
  fs::path net = tmp_ / "n";
  CliRun r = Mlahub("network init --json --dir " + support::ShellQuote(net.string()) +
                 " --nodes IT-MOJ --hub ZZ-HUB --operator ZZ-OPS --network test-net --broker-host broker "
                 "--listen-host 0.0.0.0");
  ASSERT_EQ(r.code, 0) << r.err;
  auto printed = nlohmann::json::parse(r.out);
  auto stored = nlohmann::json::parse(support::ReadText(net / "network.json"));
  EXPECT_EQ(printed, stored);
  EXPECT_EQ(stored["network"], "test-net");
  EXPECT_EQ(stored["hub"]["id"], "ZZ-HUB");
  EXPECT_EQ(stored["hub"]["listen"], "tcp://0.0.0.0:7700");      // default base port
  EXPECT_EQ(stored["hub"]["endpoint"], "tcp://broker:7700");
  auto bc = config::LoadBrokerConfig((net / "hub/broker.toml").string());
  ASSERT_TRUE(bc.ok()) << bc.status().ToString();
  EXPECT_EQ(bc->listen, "tcp://0.0.0.0:7700");
  EXPECT_EQ(bc->metrics.listen, "127.0.0.1:7701");  // metrics stay on loopback
  auto ac = config::LoadAgentConfig((net / "nodes/IT-MOJ/agent.toml").string());
  ASSERT_TRUE(ac.ok()) << ac.status().ToString();
  EXPECT_EQ(ac->broker, "tcp://broker:7700");
  EXPECT_EQ(ac->api_listen, "127.0.0.1:7710");
}

TEST_F(NetworkInitTest, RefusesANonEmptyDirectory) {
  fs::path net = tmp_ / "net";
  ASSERT_EQ(Mlahub("network init --dir " + support::ShellQuote(net.string()) + " --nodes IT-MOJ").code, 0);
  std::string before = support::ReadText(net / "directory.bin");
  CliRun again = Mlahub("network init --dir " + support::ShellQuote(net.string()) + " --nodes IT-MOJ");
  EXPECT_EQ(again.code, 5) << again.err;  // already_exists -> 5 (README exit codes)
  EXPECT_NE(again.err.find("is not empty"), std::string::npos) << again.err;
  EXPECT_EQ(support::ReadText(net / "directory.bin"), before);  // nothing overwritten

  // --json reports the error as JSON on stdout.
  CliRun j = Mlahub("network init --json --dir " + support::ShellQuote(net.string()) + " --nodes IT-MOJ");
  EXPECT_EQ(j.code, 5);
  auto err = nlohmann::json::parse(j.out);
  EXPECT_EQ(err["error"]["code"], "already_exists");

  // An empty existing directory is fine.
  fs::create_directories(tmp_ / "empty");
  EXPECT_EQ(Mlahub("network init --dir " + support::ShellQuote((tmp_ / "empty").string()) + " --nodes IT-MOJ").code, 0);
}

TEST_F(NetworkInitTest, RefusesBadArguments) {
  struct Case {
    std::string args;
    std::string needle;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"--nodes it-moj", "not a node id"},
           {"--nodes IT-MOJ,IT-MOJ", "listed twice"},
           {"--nodes IT-MOJ,XX-HUB", "listed twice"},
           {"--nodes ,", "at least one node"},
           {"--nodes IT-MOJ --hub XX-OPS", "must differ"},
           {"--nodes IT-MOJ --base-port 65530", "--base-port"},
           {"--nodes IT-MOJ --broker-host 'a b'", "--broker-host"},
       }) {
    fs::path net = tmp_ / "bad";
    CliRun r = Mlahub("network init --dir " + support::ShellQuote(net.string()) + " " + c.args);
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << c.args << ": " << r.err;
    EXPECT_FALSE(fs::exists(net)) << "nothing may be written for: " << c.args;
  }
  CliRun usage = Mlahub("network init --nodes IT-MOJ");  // --dir missing
  EXPECT_EQ(usage.code, 2);
}

}  // namespace
}  // namespace mlahub
