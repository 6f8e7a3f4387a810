// Integration tests with the real programs: build/bin/mlahub-broker and
// build/bin/mlahub-agent as child processes on loopback ports picked here,
// a network from `mlahub network init` (or built in code if the tool lacks
// the command), the agents' local API, and the hub's ledger read afterwards.
// Readiness by <data>/ready.json with the child's pid; every wait is for a
// condition with a generous deadline; nothing asserts on timing.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "mlahub/agents/api_client.h"
#include "mlahub/core/file.h"
#include "mlahub/directory/directory.h"
#include "mlahub/envelope/receipt.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/identity/keys.h"
#include "mlahub/schemas/json_codec.h"
#include "mlahub/storage/ledger.h"
#include "mlahub/storage/ledger_entry.h"
#include "daemons_fixture.h"
#include "process.h"
#include "test_bodies.h"
#include "test_network.h"

namespace mlahub::agents {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using support::Process;
using support::WaitFor;

constexpr milliseconds kLong = seconds(180);
const std::string kBin = MLAHUB_BIN_DIR;

class AgentIntegrationTest : public testing::DaemonsTest {
 protected:
  AgentIntegrationTest() : DaemonsTest(kLong) {}
  void SetUp() override {
    if (!FileExists(kBin + "/mlahub-broker") || !FileExists(kBin + "/mlahub-agent"))
      GTEST_SKIP() << "build mlahub-broker and mlahub-agent first";
    dir_ = testing::MakeTempDir("agents-it");
    uint16_t port = testing::PickFreePorts(20);
    auto net = testing::InitNetworkWithTool(kBin, dir_ + "/net", {"IT-MOJ", "NG-AGF"}, port);
    if (!net.ok()) {
      std::cerr << "(network built in code: " << net.status().ToString() << ")\n";
      net = testing::BuildTestNetwork(dir_ + "/net", {"IT-MOJ", "NG-AGF"}, port);
    }
    ASSERT_TRUE(net.ok()) << net.status().ToString();
    net_ = *net;
    // Faster cadences for a test (all still far above what they wait for).
    for (const std::string& n : net_.nodes) {
      ASSERT_TRUE(testing::TweakAgentConfig(net_, n, [](config::AgentConfig& c) {
                    c.audit_interval_ms = 1000;
                    c.reconnect_max_ms = 2000;
                  }).ok());
    }
    ASSERT_TRUE(testing::TweakBrokerConfig(net_, [](config::BrokerConfig& c) {
                  c.redeliver_initial_ms = 500;
                  c.redeliver_max_ms = 3000;
                }).ok());
  }

  void StopAgent(const std::string& id) {
    agents_[id].Signal(SIGTERM);
    auto rc = agents_[id].Wait(seconds(60));
    ASSERT_TRUE(rc.has_value());
    EXPECT_EQ(*rc, 0) << "SIGTERM must stop the agent cleanly";
  }

  ApiClient Api(const std::string& id) {
    auto c = ApiClient::FromConfigFile(net_.agent_config(id));
    MLAHUB_CHECK_MSG(c.ok(), c.status().ToString());
    return *c;
  }

  json Get(const std::string& id, const std::string& path) {
    auto r = Api(id).Get(path);
    if (!r.ok()) return json{{"error", r.status().ToString()}};
    return *r;
  }

  bool Connected(const std::string& id) { return Get(id, "/v1/health").value("connection", "") == "connected"; }

  std::string Send(const std::string& from, const std::string& to, const std::string& kind, const json& body,
                   const json& extra = json::object()) {
    json req = {{"to", to}, {"kind", kind}, {"body", body}};
    for (auto it = extra.begin(); it != extra.end(); ++it) req[it.key()] = it.value();
    auto r = Api(from).PostJson("/v1/messages", req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? (*r)["message_id"].get<std::string>() : "";
  }

  std::string State(const std::string& at, const std::string& id) {
    return Get(at, "/v1/messages/" + id + "/status").value("state", "");
  }

  bool AllReceiptedAt(const std::string& at, const std::vector<std::string>& ids) {
    for (const auto& id : ids)
      if (State(at, id) != "receipted") return false;
    return true;
  }

  std::vector<json> Inbox(const std::string& id) {
    std::vector<json> all;
    uint64_t after = 0;
    for (;;) {
      json page = Get(id, "/v1/messages?box=in&limit=1000&after=" + std::to_string(after));
      for (const json& m : page.value("messages", json::array())) all.push_back(m);
      if (!page.contains("next_after") || page["next_after"].is_null()) break;
      after = page["next_after"].get<uint64_t>();
    }
    return all;
  }

  // Where an operator's edit of the directory starts: fresh keys for `node`
  // written to `key_dir`, the operator's keys, and the directory now
  // published, verified.
  void BeginDirectoryEdit(const std::string& node, const std::string& key_dir, std::optional<identity::NodeKeys>& keys,
                          std::optional<identity::NodeKeys>& op, std::optional<directory::Directory>& dir) {
    UnixMillis now = SystemClock::Instance().NowMillis();
    keys.emplace(identity::GenerateNodeKeys(*NodeId::Parse(node), identity::Role::kAuthority, now));
    ASSERT_TRUE(identity::WriteKeyDir(*keys, key_dir, "").ok());
    auto o = identity::LoadKeyDir(net_.operator_keys(), "");
    ASSERT_TRUE(o.ok());
    op.emplace(std::move(*o));
    auto published = ReadFile(net_.directory_file());
    ASSERT_TRUE(published.ok());
    auto d = directory::Directory::Verify(*published, op->sign.public_key());
    ASSERT_TRUE(d.ok());
    dir.emplace(std::move(*d));
  }

  uint64_t Alarms(const std::string& id) { return Get(id, "/v1/health").value("alarms", uint64_t{999}); }

  // A complete body of a request kind (the agent refuses incomplete requests).
  // Its legal basis is the header's default (Untoc: Art. 18(4) covers information exchange too).
  static json Complete(const std::string& kind) {
    json b = json::parse(workflow::testing::CompleteBody(kind).dump());
    b["legal_basis"]["basis"] = "Untoc";
    return b;
  }

  static json Template(const std::string& table) {
    auto t = schemas::JsonTemplate("mlahub.wire." + table);
    MLAHUB_CHECK_MSG(t.ok(), t.status().ToString());
    return json::parse(*t);
  }

  // The ledger events recorded for a message id, by name.
  static std::multiset<std::string> LedgerEvents(const storage::Ledger& l, const std::string& id) {
    std::multiset<std::string> out;
    auto idx = l.FindByIndexKey(id);
    if (!idx.ok()) return out;
    for (uint64_t i : *idx) {
      auto e = l.Entry(i);
      if (!e.ok()) continue;
      auto d = storage::DecodeLedgerEntry(*e);
      if (d.ok()) out.insert(wire::EnumNameLedgerEvent((*d)->event()));
    }
    return out;
  }

  // Stops the broker (SIGTERM) and checks its ledger: each of `ids` accepted
  // and receipted exactly once, and the whole log verifies.
  template <typename Ids>
  void StopBrokerAndCheckLedgerOnce(const Ids& ids) {
    broker_.Signal(SIGTERM);
    ASSERT_EQ(broker_.Wait(seconds(60)), 0);
    auto ledger = storage::Ledger::OpenReadOnly(net_.broker_data() + "/ledger");
    ASSERT_TRUE(ledger.ok());
    for (const std::string& id : ids) {
      auto ev = LedgerEvents(**ledger, id);
      EXPECT_EQ(ev.count("Accepted"), 1u) << id << " accepted exactly once";
      EXPECT_EQ(ev.count("Receipt"), 1u) << id << " receipted exactly once";
    }
    EXPECT_TRUE((*ledger)->Verify().status.ok());
  }

};

// A request and its answer between two agents, with signed receipts both
// ways, the hub's ledger holding both, the audit proving them, and the
// `mlahub` commands over the API.
TEST_F(AgentIntegrationTest, RequestAndAnswerWithReceipts) {
  StartBroker();
  StartAgent("IT-MOJ");
  StartAgent("NG-AGF");
  ASSERT_TRUE(WaitFor([&] { return Connected("IT-MOJ") && Connected("NG-AGF"); }, kLong));

  std::string req = Send("IT-MOJ", "NG-AGF", "MlaRequest", Complete("MlaRequest"),
                         {{"case_ref", "IT/PA/2026/114"}, {"legal_basis", "Untoc"}, {"priority", "Urgent"}});
  ASSERT_FALSE(req.empty());
  ASSERT_TRUE(WaitFor([&] { return Inbox("NG-AGF").size() == 1; }, kLong));
  json shown = Get("NG-AGF", "/v1/messages/" + req);
  EXPECT_EQ(shown["message"]["sender"], "IT-MOJ");
  EXPECT_EQ(shown["message"]["kind"], "MlaRequest");
  EXPECT_EQ(shown["message"]["case_ref"], "IT/PA/2026/114");
  EXPECT_TRUE(shown["body"].is_object()) << shown.dump();
  // The received request's id given as the answer's own id (not as its
  // in_reply_to) is refused before anything is stored: it would overwrite
  // the request's case index.
  {
    json mistaken = {{"to", "IT-MOJ"},  {"kind", "Acknowledgement"}, {"body", Template("Acknowledgement")},
                     {"in_reply_to", req}, {"message_id", req}};
    auto r = Api("NG-AGF").PostJson("/v1/messages", mistaken);
    EXPECT_EQ(r.status().code(), Code::kAlreadyExists) << r.status().ToString();
    EXPECT_NE(r.status().message().find("received from IT-MOJ"), std::string::npos) << r.status().ToString();
    EXPECT_EQ(Get("NG-AGF", "/v1/health").value("outbox", -1), 0);
  }

  std::string ans = Send("NG-AGF", "IT-MOJ", "Acknowledgement", Template("Acknowledgement"),
                         {{"in_reply_to", req}, {"case_ref", "NG/AGF/77"}});
  ASSERT_FALSE(ans.empty());
  ASSERT_TRUE(WaitFor([&] { return State("IT-MOJ", req) == "receipted" && State("NG-AGF", ans) == "receipted"; },
                      kLong))
      << Get("IT-MOJ", "/v1/messages/" + req + "/status").dump();
  auto in_it = Inbox("IT-MOJ");
  ASSERT_EQ(in_it.size(), 1u);
  EXPECT_EQ(in_it[0]["in_reply_to"], req);
  // Both sides' receipts were recorded by the hub, and the audit proved the
  // entries in verified checkpoints.
  ASSERT_TRUE(WaitFor(
      [&] {
        return Get("IT-MOJ", "/v1/messages/" + req + "/status").value("included", false) &&
               Get("NG-AGF", "/v1/messages/" + ans + "/status").value("included", false) &&
               Get("NG-AGF", "/v1/messages/" + req + "/status").value("state", "") == "receipted" &&
               Get("IT-MOJ", "/v1/messages/" + ans + "/status").value("state", "") == "receipted";
      },
      kLong));
  json audit = Get("IT-MOJ", "/v1/audit");
  EXPECT_GT(audit.value("inclusion_verified", 0), 0) << audit.dump();
  EXPECT_EQ(Alarms("IT-MOJ"), 0u) << Get("IT-MOJ", "/v1/alarms").dump();
  EXPECT_EQ(Alarms("NG-AGF"), 0u) << Get("NG-AGF", "/v1/alarms").dump();

  // The same through the mlahub tool.
  std::string out;
  std::string agent_it = " --agent '" + net_.agent_config("IT-MOJ") + "'";
  EXPECT_EQ(support::RunShell(kBin + "/mlahub status " + req + agent_it + " --json", &out), 0);
  EXPECT_EQ(json::parse(out, nullptr, false).value("state", ""), "receipted") << out;
  EXPECT_EQ(support::RunShell(kBin + "/mlahub status " + req + agent_it, &out), 0);
  EXPECT_NE(out.find("receipt"), std::string::npos) << out;
  EXPECT_EQ(support::RunShell(kBin + "/mlahub inbox" + agent_it + " --json", &out), 0);
  EXPECT_EQ(json::parse(out, nullptr, false)["messages"].size(), 1u);
  EXPECT_EQ(support::RunShell(kBin + "/mlahub outbox" + agent_it, &out), 0);
  EXPECT_EQ(support::RunShell(kBin + "/mlahub show " + ans + agent_it + " --json", &out), 0);
  EXPECT_TRUE(json::parse(out, nullptr, false)["body"].is_object()) << out;
  EXPECT_EQ(support::RunShell(kBin + "/mlahub alarms" + agent_it, &out), 0);
  EXPECT_EQ(support::RunShell("MLAHUB_AGENT='" + net_.agent_config("IT-MOJ") + "' " + kBin +
                                    "/mlahub agent health --json",
                                &out),
            0);
  EXPECT_EQ(json::parse(out, nullptr, false).value("connection", ""), "connected") << out;
  std::string body_file = dir_ + "/body.json";
  ASSERT_TRUE(WriteFileAtomic(body_file, AsBytes(Template("ProgressEnquiry").dump()), 0600).ok());
  EXPECT_EQ(support::RunShell(kBin + "/mlahub send --to NG-AGF --kind ProgressEnquiry --body '" + body_file +
                                    "' --in-reply-to " + req + agent_it,
                                &out),
            0);
  std::string third = out.substr(0, out.find('\n'));
  EXPECT_EQ(third.size(), 32u) << out;
  EXPECT_EQ(support::RunShell(kBin + "/mlahub status ffffffffffffffffffffffffffffffff" + agent_it + " 2>/dev/null"),
            4);
  EXPECT_EQ(support::RunShell("env -u MLAHUB_AGENT " + kBin + "/mlahub inbox 2>&1", &out), 2);
  EXPECT_NE(out.find("--agent"), std::string::npos) << out;
  ASSERT_TRUE(WaitFor([&] { return State("IT-MOJ", third) == "receipted"; }, kLong));

  // The hub's ledger holds both messages (accepted, delivered, receipted)
  // and verifies.
  StopAgent("IT-MOJ");
  StopAgent("NG-AGF");
  broker_.Signal(SIGTERM);
  ASSERT_EQ(broker_.Wait(seconds(60)), 0);
  auto ledger = storage::Ledger::OpenReadOnly(net_.broker_data() + "/ledger");
  ASSERT_TRUE(ledger.ok()) << ledger.status().ToString();
  for (const std::string& id : {req, ans}) {
    auto ev = LedgerEvents(**ledger, id);
    EXPECT_EQ(ev.count("Accepted"), 1u) << id;
    EXPECT_GE(ev.count("Delivered"), 1u) << id;
    EXPECT_EQ(ev.count("Receipt"), 1u) << id;
  }
  EXPECT_TRUE((*ledger)->Verify().status.ok());
  ledger->reset();
  EXPECT_EQ(support::RunShell(kBin + "/mlahub ledger verify --ledger '" + net_.broker_data() + "/ledger' >/dev/null"),
            0);
}

// An agent offline while messages for it arrive, then back: everything
// delivered once, in order of acceptance.
// SIGHUP (logrotate) does not stop the agent: it opens its [log] file again
// by name and serves on; SIGTERM still stops it cleanly.
TEST_F(AgentIntegrationTest, SighupReopensTheLogFileAndTheAgentServesOn) {
  const std::string log_file = dir_ + "/it-file.log";
  ASSERT_TRUE(testing::TweakAgentConfig(net_, "IT-MOJ", [&](config::AgentConfig& c) { c.log.file = log_file; }).ok());
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  ASSERT_NO_FATAL_FAILURE(StartAgent("IT-MOJ"));
  auto text = [](const std::string& path) {
    auto b = ReadFile(path, 1 << 24);
    return b.ok() ? std::string(b->begin(), b->end()) : std::string();
  };
  ASSERT_NE(text(log_file).find("agent.ready"), std::string::npos) << text(log_file);
  ASSERT_EQ(::rename(log_file.c_str(), (log_file + ".1").c_str()), 0);
  agents_["IT-MOJ"].Signal(SIGHUP);
  const auto bound = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < bound && text(log_file).find("log.reopened") == std::string::npos)
    std::this_thread::sleep_for(milliseconds(20));
  EXPECT_NE(text(log_file).find("log.reopened"), std::string::npos);
  EXPECT_EQ(text(log_file + ".1").find("log.reopened"), std::string::npos);
  EXPECT_EQ(Get("IT-MOJ", "/v1/health").value("node_id", ""), "IT-MOJ");  // still serving
  ASSERT_NO_FATAL_FAILURE(StopAgent("IT-MOJ"));
  EXPECT_NE(text(log_file).find("agent.stopping"), std::string::npos);
}

// A broker process that stops answering while its host still holds the TCP
// connection (here: SIGSTOP) is not seen by TCP. The agent pings it after
// half of [reconnect] broker_silence_ms and reconnects after all of it; an
// idle but live broker answers the Ping and keeps the connection.
TEST_F(AgentIntegrationTest, SilentBrokerIsNoticedAndTheAgentReconnects) {
  ASSERT_TRUE(testing::TweakAgentConfig(net_, "IT-MOJ", [](config::AgentConfig& c) {
                c.broker_silence_ms = 2000;
              }).ok());
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  ASSERT_NO_FATAL_FAILURE(StartAgent("IT-MOJ"));
  ASSERT_TRUE(WaitFor([&] { return Connected("IT-MOJ"); }, kLong));
  const std::string log = dir_ + "/IT-MOJ.log";
  auto text = [](const std::string& path) {
    auto b = ReadFile(path, 1 << 24);
    return b.ok() ? std::string(b->begin(), b->end()) : std::string();
  };
  // Idle for three times the silence bound: Pings keep it alive.
  std::this_thread::sleep_for(seconds(6));
  EXPECT_TRUE(Connected("IT-MOJ"));
  EXPECT_EQ(text(log).find("agent.broker_silent"), std::string::npos) << "a live broker answers the Ping";
  json health = Get("IT-MOJ", "/v1/health");
  ASSERT_TRUE(health["broker_silent_ms"].is_number()) << health.dump();
  EXPECT_LT(health["broker_silent_ms"].get<int64_t>(), 2000) << health.dump();

  broker_.Signal(SIGSTOP);
  struct Resume {  // never leave the broker stopped, whatever fails below
    support::Process& d;
    ~Resume() { d.Signal(SIGCONT); }
  } resume{broker_};
  ASSERT_TRUE(WaitFor([&] { return text(log).find("agent.broker_silent") != std::string::npos; }, seconds(60)))
      << text(log);
  EXPECT_FALSE(Connected("IT-MOJ")) << "a silent broker is reported as not connected";
  broker_.Signal(SIGCONT);
  ASSERT_TRUE(WaitFor([&] { return Connected("IT-MOJ"); }, kLong)) << "reconnects once the broker answers again";
}

// More Delivers waiting at once than the agent handles in one turn of its
// loop (256): every one is handled when first read. (The loop once read the
// 257th message and dropped it; only the broker's redelivery brought it.)
// Redelivery is set far beyond the test's wait, so a dropped Deliver shows.
TEST_F(AgentIntegrationTest, ABacklogBeyondOneTurnIsHandledWithoutRedelivery) {
  std::string broker_metrics;
  ASSERT_TRUE(testing::TweakBrokerConfig(net_, [&](config::BrokerConfig& c) {
                c.redeliver_initial_ms = 120000;
                c.redeliver_max_ms = 120000;
                c.max_inflight_per_agent = 400;  // all sent at the agent's Hello
                broker_metrics = c.metrics.listen;
              }).ok());
  ASSERT_FALSE(broker_metrics.empty());
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  ASSERT_NO_FATAL_FAILURE(StartAgent("IT-MOJ"));
  ASSERT_TRUE(WaitFor([&] { return Connected("IT-MOJ"); }, kLong));
  constexpr size_t kCount = 400;
  for (size_t i = 0; i < kCount; ++i) {
    ASSERT_FALSE(Send("IT-MOJ", "NG-AGF", "InformationExchange", Complete("InformationExchange"),
                      {{"case_ref", "BURST-" + std::to_string(i)}})
                     .empty());
  }
  ASSERT_TRUE(WaitFor([&] { return Get("IT-MOJ", "/v1/health").value("outbox", -1) == 0; }, kLong));

  ASSERT_NO_FATAL_FAILURE(StartAgent("NG-AGF"));
  EXPECT_TRUE(WaitFor([&] { return Inbox("NG-AGF").size() == kCount; }, seconds(90)))
      << Inbox("NG-AGF").size() << " of " << kCount << " stored before any redelivery was due";
  const std::string m = support::HttpGetMetrics(broker_metrics);
  EXPECT_EQ(support::MetricValue(m, "mlahub_broker_redelivered_total"), 0) << m.substr(0, 2000);
}

TEST_F(AgentIntegrationTest, OfflineAgentReceivesEverythingOnceInOrder) {
  StartBroker();
  StartAgent("IT-MOJ");
  ASSERT_TRUE(WaitFor([&] { return Connected("IT-MOJ"); }, kLong));
  constexpr int kCount = 40;
  std::vector<std::string> ids;
  for (int i = 0; i < kCount; ++i) {
    ids.push_back(Send("IT-MOJ", "NG-AGF", "InformationExchange", Complete("InformationExchange"),
                       {{"case_ref", "ORD-" + std::to_string(i)}}));
  }
  // All accepted by the hub while NG-AGF has never been up.
  ASSERT_TRUE(WaitFor([&] { return Get("IT-MOJ", "/v1/health").value("outbox", -1) == 0; }, kLong));
  EXPECT_EQ(State("IT-MOJ", ids[0]), "accepted");

  StartAgent("NG-AGF");
  ASSERT_TRUE(WaitFor([&] { return Inbox("NG-AGF").size() == static_cast<size_t>(kCount); }, kLong));
  // In order of acceptance at the hub: delivery sequence numbers 1..n and
  // ledger indices of the Accepted entries ascending. (The hub verifies in
  // parallel, so acceptance order may differ slightly from submission order.)
  auto in = Inbox("NG-AGF");
  std::set<std::string> unique;
  uint64_t prev_index = 0;
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(in[i]["delivery_seq"], i + 1);
    uint64_t index = in[i]["ledger_index"].get<uint64_t>();
    if (i > 0) {
      EXPECT_GT(index, prev_index) << "delivered in order of acceptance";
    }
    prev_index = index;
    std::string id = in[i]["message_id"];
    unique.insert(id);
    // The sender was told the same Accepted entry.
    EXPECT_EQ(Get("IT-MOJ", "/v1/messages/" + id + "/status")["ledger_index"], index);
  }
  EXPECT_EQ(unique, std::set<std::string>(ids.begin(), ids.end())) << "each exactly once";
  ASSERT_TRUE(WaitFor([&] { return AllReceiptedAt("IT-MOJ", ids); }, kLong));
  // Back again after a restart: nothing twice.
  StopAgent("NG-AGF");
  StartAgent("NG-AGF");
  ASSERT_TRUE(WaitFor([&] { return Connected("NG-AGF"); }, kLong));
  ASSERT_TRUE(WaitFor([&] { return Get("NG-AGF", "/v1/health").value("pending_receipts", 1) == 0; }, kLong));
  EXPECT_EQ(Inbox("NG-AGF").size(), static_cast<size_t>(kCount));
  EXPECT_EQ(Alarms("IT-MOJ"), 0u);
  EXPECT_EQ(Alarms("NG-AGF"), 0u);
}

// kill -9 of the broker under a steady load from an agent, then a restart:
// no acknowledged message lost, none stored twice, the ledger verifies.
TEST_F(AgentIntegrationTest, BrokerKill9UnderLoad) {
  StartBroker();
  StartAgent("IT-MOJ");
  StartAgent("NG-AGF");
  ASSERT_TRUE(WaitFor([&] { return Connected("IT-MOJ") && Connected("NG-AGF"); }, kLong));

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> sent;  // acknowledged by the agent (durable in its outbox)
  std::thread load([&] {
    ApiClient c = Api("IT-MOJ");
    int i = 0;
    while (!stop.load()) {
      json req = {{"to", "NG-AGF"}, {"kind", "InformationExchange"}, {"body", Complete("InformationExchange")},
                  {"case_ref", "LOAD-" + std::to_string(i++)}};
      auto r = c.PostJson("/v1/messages", req);
      if (r.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        sent.push_back((*r)["message_id"]);
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  auto count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return sent.size();
  };
  ASSERT_TRUE(WaitFor([&] { return count() >= 60; }, kLong));
  // Some are accepted by now; kill the hub mid-stream.
  ASSERT_TRUE(WaitFor([&] { return Inbox("NG-AGF").size() >= 10; }, kLong));
  broker_.Signal(SIGKILL);
  ASSERT_EQ(broker_.Wait(seconds(30)), 128 + SIGKILL);
  size_t at_kill = count();
  ASSERT_TRUE(WaitFor([&] { return count() >= at_kill + 30; }, kLong)) << "the agent keeps taking messages";
  StartBroker();
  ASSERT_TRUE(WaitFor([&] { return count() >= at_kill + 80; }, kLong));
  stop = true;
  load.join();

  const size_t total = sent.size();
  ASSERT_TRUE(WaitFor([&] { return Get("IT-MOJ", "/v1/health").value("outbox", -1) == 0; }, kLong));
  ASSERT_TRUE(WaitFor([&] { return Inbox("NG-AGF").size() >= total; }, kLong))
      << Inbox("NG-AGF").size() << " of " << total;
  auto in = Inbox("NG-AGF");
  std::set<std::string> got;
  for (const json& m : in) got.insert(m["message_id"].get<std::string>());
  EXPECT_EQ(in.size(), total) << "nothing stored twice";
  EXPECT_EQ(got, std::set<std::string>(sent.begin(), sent.end())) << "nothing lost";
  ASSERT_TRUE(WaitFor(
      [&] {
        return Get("NG-AGF", "/v1/health").value("pending_receipts", 1) == 0 &&
               Get("IT-MOJ", "/v1/health").value("open", 1) == 0;
      },
      kLong))
      << Get("IT-MOJ", "/v1/health").dump();
  EXPECT_EQ(Alarms("IT-MOJ"), 0u) << Get("IT-MOJ", "/v1/alarms").dump();
  EXPECT_EQ(Alarms("NG-AGF"), 0u) << Get("NG-AGF", "/v1/alarms").dump();

  StopBrokerAndCheckLedgerOnce(sent);
}

// kill -9 of both agents and of the broker, in turn, at moments picked at
// random (seed printed), under a steady load both ways: each agent is
// killed while it sends and while it receives. The clients choose each message id and repeat a POST the kill
// cut off until it is answered (the API's idempotent retry). Counted
// afterwards: every message is stored once at its recipient (lost: 0,
// stored twice: 0, stored but never acknowledged: 0), accepted and
// receipted exactly once in the ledger, and the ledger verifies.
TEST_F(AgentIntegrationTest, AgentsAndBrokerKill9UnderLoadLoseNothingAndStoreNothingTwice) {
  const unsigned seed = static_cast<unsigned>(std::random_device{}());
  std::cout << "seed " << seed << "\n";
  std::mt19937 rng(seed);
  StartBroker();
  StartAgent("IT-MOJ");
  StartAgent("NG-AGF");
  ASSERT_TRUE(WaitFor([&] { return Connected("IT-MOJ") && Connected("NG-AGF"); }, kLong));

  struct Stream {
    std::string from, to;
    std::mutex mu;
    std::vector<std::string> acked;  // the API answered with an id
    size_t size() {
      std::lock_guard<std::mutex> lock(mu);
      return acked.size();
    }
  };
  Stream streams[2];
  streams[0].from = "IT-MOJ", streams[0].to = "NG-AGF";
  streams[1].from = "NG-AGF", streams[1].to = "IT-MOJ";
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (Stream& st : streams) {
    load.emplace_back([&, stp = &st, id_seed = rng()] {
      std::mt19937_64 ids(id_seed);
      for (int i = 0; !stop.load(); ++i) {
        char id[33];
        std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(ids()),
                      static_cast<unsigned long long>(ids()));
        json req = {{"to", stp->to}, {"kind", "InformationExchange"}, {"body", Complete("InformationExchange")},
                    {"case_ref", stp->from + "-" + std::to_string(i)}, {"message_id", id}};
        // Until answered, the same request (a new client each time: the
        // agent's token file and port are read again after a restart).
        const auto give_up = std::chrono::steady_clock::now() + kLong;
        for (;;) {
          auto c = ApiClient::FromConfigFile(net_.agent_config(stp->from));
          auto r = c.ok() ? c->PostJson("/v1/messages", req) : Result<json>(c.status());
          if (r.ok()) {
            EXPECT_EQ((*r)["message_id"], id);
            std::lock_guard<std::mutex> lock(stp->mu);
            stp->acked.push_back(id);
            break;
          }
          if (std::chrono::steady_clock::now() > give_up) {
            ADD_FAILURE() << "no answer from " << stp->from << " for " << id << ": " << r.status().ToString();
            return;
          }
          std::this_thread::sleep_for(milliseconds(50));  // down: the same again
        }
        std::this_thread::sleep_for(milliseconds(4));
      }
    });
  }
  // A failed assertion below returns early: the load stops and is joined.
  struct JoinAll {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~JoinAll() {
      stop = true;
      for (std::thread& t : threads)
        if (t.joinable()) t.join();
    }
  } join_all{stop, load};
  auto total = [&] { return streams[0].size() + streams[1].size(); };
  std::map<std::string, int> kills;
  for (int round = 0; round < 3; ++round) {
    for (const std::string id : {"NG-AGF", "IT-MOJ", "broker"}) {
      const size_t before = total();
      ASSERT_TRUE(WaitFor([&] { return total() >= before + 25; }, kLong)) << "the load goes on";
      std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(0, 400)(rng)));
      Process& p = id == "broker" ? broker_ : agents_[id];
      p.Signal(SIGKILL);
      ASSERT_EQ(p.Wait(seconds(30)), 128 + SIGKILL);
      ++kills[id];
      std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(0, 300)(rng)));
      if (id == "broker") {
        ASSERT_NO_FATAL_FAILURE(StartBroker());
      } else {
        ASSERT_NO_FATAL_FAILURE(StartAgent(id));
      }
    }
  }
  const size_t at_end = total();
  ASSERT_TRUE(WaitFor([&] { return total() >= at_end + 25; }, kLong));
  stop = true;
  for (std::thread& t : load) t.join();

  auto ledger_done = [&] {
    for (const std::string id : {"IT-MOJ", "NG-AGF"}) {
      json h = Get(id, "/v1/health");
      if (h.value("outbox", -1) != 0 || h.value("pending_receipts", 1) != 0 || h.value("open", 1) != 0) return false;
    }
    return true;
  };
  ASSERT_TRUE(WaitFor(ledger_done, kLong)) << Get("IT-MOJ", "/v1/health").dump() << Get("NG-AGF", "/v1/health").dump();
  std::set<std::string> all_stored;
  for (Stream& st : streams) {
    auto in = Inbox(st.to);
    std::map<std::string, int> times;
    for (const json& m : in)
      if (m["sender"] == st.from) ++times[m["message_id"].get<std::string>()];
    size_t lost = 0, twice = 0, extra = 0;
    std::set<std::string> acked(st.acked.begin(), st.acked.end());
    for (const std::string& id : acked) lost += times.count(id) == 0 ? 1 : 0;
    for (const auto& [id, n] : times) {
      twice += n > 1 ? 1 : 0;
      extra += acked.count(id) == 0 ? 1 : 0;
      all_stored.insert(id);
    }
    std::cout << st.from << " -> " << st.to << ": " << acked.size() << " acknowledged, " << times.size()
              << " stored, lost " << lost << ", stored twice " << twice << ", stored never acknowledged " << extra
              << " (kills: " << kills[st.from] << " of the sender, " << kills["broker"] << " of the broker)\n";
    EXPECT_EQ(acked.size(), st.acked.size()) << "one id acknowledged twice";
    EXPECT_EQ(lost, 0u);
    EXPECT_EQ(twice, 0u);
    EXPECT_EQ(extra, 0u);
    // Every message is receipted at its sender.
    for (const std::string& id : acked) EXPECT_EQ(State(st.from, id), "receipted") << id;
  }
  EXPECT_EQ(Alarms("IT-MOJ"), 0u) << Get("IT-MOJ", "/v1/alarms").dump();
  EXPECT_EQ(Alarms("NG-AGF"), 0u) << Get("NG-AGF", "/v1/alarms").dump();

  StopBrokerAndCheckLedgerOnce(all_stored);
}

// kill -9 of an agent between storing a message and sending its receipt
// (the test hook): after the restart, no loss and no duplicate.
TEST_F(AgentIntegrationTest, AgentKilledBetweenStoreAndReceipt) {
  StartBroker();
  StartAgent("IT-MOJ");
  StartAgent("NG-AGF", {"MLAHUB_AGENT_CRASH_POINT=after_store"});
  ASSERT_TRUE(WaitFor([&] { return Connected("IT-MOJ") && Connected("NG-AGF"); }, kLong));
  std::string first = Send("IT-MOJ", "NG-AGF", "InformationExchange", Complete("InformationExchange"), {{"case_ref", "CRASH-1"}});
  auto rc = agents_["NG-AGF"].Wait(kLong);
  ASSERT_TRUE(rc.has_value()) << "the hook should have killed the agent";
  EXPECT_EQ(*rc, 128 + SIGKILL);
  EXPECT_NE(State("IT-MOJ", first), "receipted");

  // More arrive while it is down.
  std::vector<std::string> ids{first};
  for (int i = 0; i < 5; ++i)
    ids.push_back(Send("IT-MOJ", "NG-AGF", "InformationExchange", Complete("InformationExchange"),
                       {{"case_ref", "CRASH-" + std::to_string(i + 2)}}));
  StartAgent("NG-AGF");
  ASSERT_TRUE(WaitFor([&] { return AllReceiptedAt("IT-MOJ", ids); }, kLong));
  auto in = Inbox("NG-AGF");
  ASSERT_EQ(in.size(), ids.size()) << "the message stored before the crash is there once";
  std::set<std::string> got;
  for (const json& m : in) got.insert(m["message_id"].get<std::string>());
  EXPECT_EQ(got, std::set<std::string>(ids.begin(), ids.end()));
  EXPECT_EQ(in[0]["message_id"], first) << "the first accepted is the first delivered";
  // The receipt the sender holds is the one stored before the crash.
  json at_ng = Get("NG-AGF", "/v1/messages/" + first);
  json at_it = Get("IT-MOJ", "/v1/messages/" + first);
  EXPECT_EQ(at_it["receipt"]["envelope_hash"], at_ng["message"]["envelope_hash"]);
  EXPECT_EQ(at_it["receipt"]["received_ms"], at_ng["message"]["received_ms"]);
  EXPECT_EQ(Alarms("NG-AGF"), 0u) << Get("NG-AGF", "/v1/alarms").dump();
}

// An answer the hub refuses for good never reaches the partner: the step it
// carried no longer counts in the sender's case, so the office can send it
// again once the cause is fixed (before, the case had moved on and the same
// step was refused locally as "not allowed now"). Here NG-AGF's
// Acknowledgement waits in its outbox while the hub is down and the operator
// publishes a directory where IT-MOJ accepts only requests; the restarted
// hub refuses it (kind_not_accepted).
TEST_F(AgentIntegrationTest, AnAnswerTheHubRefusesNoLongerCountsInTheCase) {
  StartBroker();
  StartAgent("IT-MOJ");
  StartAgent("NG-AGF");
  ASSERT_TRUE(WaitFor([&] { return Connected("IT-MOJ") && Connected("NG-AGF"); }, kLong));
  std::string req = Send("IT-MOJ", "NG-AGF", "MlaRequest", Complete("MlaRequest"),
                         {{"case_ref", "IT/PA/2026/9"}, {"legal_basis", "Untoc"}});
  ASSERT_FALSE(req.empty());
  ASSERT_TRUE(WaitFor([&] { return Inbox("NG-AGF").size() == 1; }, kLong));
  auto mine = [&] { return Get("NG-AGF", "/v1/cases/" + req)["allowed_steps"]["mine"]; };
  auto allows = [&](const std::string& kind) {
    json m = mine();
    return std::find(m.begin(), m.end(), kind) != m.end();
  };
  ASSERT_TRUE(allows("Acknowledgement")) << mine().dump();

  broker_.Signal(SIGTERM);
  ASSERT_EQ(broker_.Wait(std::chrono::seconds(60)), 0);
  ASSERT_TRUE(WaitFor([&] { return !Connected("NG-AGF"); }, kLong));
  std::string ack = Send("NG-AGF", "IT-MOJ", "Acknowledgement", Template("Acknowledgement"), {{"in_reply_to", req}});
  ASSERT_FALSE(ack.empty());
  EXPECT_FALSE(allows("Acknowledgement")) << "the case counts the step while it is on its way";

  // The operator's version 2: IT-MOJ accepts requests only.
  auto op = identity::LoadKeyDir(net_.operator_keys(), "");
  ASSERT_TRUE(op.ok());
  auto published = ReadFile(net_.directory_file());
  ASSERT_TRUE(published.ok());
  auto v1 = directory::Directory::Verify(*published, op->sign.public_key());
  ASSERT_TRUE(v1.ok());
  UnixMillis now = SystemClock::Instance().NowMillis();
  directory::Directory v2(v1->network(), v1->version(), v1->issued_ms());
  for (const auto& [id, e] : v1->entries()) {
    directory::Entry copy = e;
    if (id == "IT-MOJ") copy.accepts = {wire::MessageKind::MlaRequest};
    ASSERT_TRUE(v2.Add(copy).ok()) << id;
  }
  v2.NextVersion(now);
  ASSERT_TRUE(WriteFileAtomic(net_.directory_file(), v2.Sign(op->sign, op->id), 0644).ok());

  StartBroker();
  ASSERT_TRUE(WaitFor([&] { return State("NG-AGF", ack) == "rejected"; }, kLong))
      << Get("NG-AGF", "/v1/messages/" + ack + "/status").dump();
  EXPECT_EQ(Get("NG-AGF", "/v1/messages/" + ack)["message"].value("refusal_code", ""), "kind_not_accepted");
  ASSERT_TRUE(WaitFor([&] { return allows("Acknowledgement"); }, kLong)) << Get("NG-AGF", "/v1/cases/" + req).dump();
  json timeline = Get("NG-AGF", "/v1/cases/" + req)["timeline"];
  bool shown = false;
  for (const json& t : timeline)
    if (t.value("message_id", "") == ack) shown = t.contains("workflow_refused");
  EXPECT_TRUE(shown) << timeline.dump();
  // After a restart the case is as it was (the release was recorded once).
  agents_["NG-AGF"].Signal(SIGTERM);
  ASSERT_EQ(agents_["NG-AGF"].Wait(std::chrono::seconds(60)), 0);
  StartAgent("NG-AGF");
  EXPECT_TRUE(allows("Acknowledgement")) << Get("NG-AGF", "/v1/cases/" + req).dump();
}

// A node the hub does not know yet is refused by ZAP; the agent keeps
// retrying on its own backoff (Client::Reconnect) and gets in once the
// operator publishes a directory that lists it; the other agents receive
// that directory from the hub and can then send to the new node.
TEST_F(AgentIntegrationTest, RefusedNodeRetriesUntilAdmittedByANewerDirectory) {
  const std::string th = "TH-OAG";
  const std::string th_dir = net_.dir + "/nodes/" + th;
  UnixMillis now = SystemClock::Instance().NowMillis();
  std::optional<identity::NodeKeys> keys, op;
  std::optional<directory::Directory> dir;
  ASSERT_NO_FATAL_FAILURE(BeginDirectoryEdit(th, th_dir + "/keys", keys, op, dir));
  directory::Entry e;
  e.identity = keys->Public();
  e.name = "Office of the Attorney General";
  ASSERT_TRUE(dir->Add(e).ok());
  dir->NextVersion(now);
  Bytes v2 = dir->Sign(op->sign, op->id);
  ASSERT_TRUE(WriteFileAtomic(th_dir + "/directory.bin", v2, 0644).ok());
  // The new node's config: like IT-MOJ's, with its own keys, data, ports
  // and the newer directory.
  auto cfg = config::LoadAgentConfig(net_.agent_config("IT-MOJ"));
  ASSERT_TRUE(cfg.ok());
  cfg->node_id = th;
  cfg->keys = th_dir + "/keys";
  cfg->data = th_dir + "/data";
  cfg->api_token_file = th_dir + "/data/api.token";
  cfg->api_listen = "127.0.0.1:" + std::to_string(net_.base_port + 14);
  cfg->metrics.listen = "";
  cfg->directory.file = th_dir + "/directory.bin";
  ASSERT_TRUE(WriteFileAtomic(th_dir + "/agent.toml", AsBytes(config::AgentConfigToToml(*cfg)), 0644).ok());
  net_.nodes.push_back(th);

  StartBroker();
  StartAgent("IT-MOJ");
  StartAgent(th);
  ASSERT_TRUE(WaitFor([&] { return Get(th, "/v1/health").value("connection", "") == "refused"; }, kLong))
      << Get(th, "/v1/health").dump();
  EXPECT_EQ(Get(th, "/v1/health").value("directory_version", 0), 2);

  // The operator publishes version 2 where the hub reads it.
  ASSERT_TRUE(WriteFileAtomic(net_.directory_file(), v2, 0644).ok());
  ASSERT_TRUE(WaitFor([&] { return Connected(th); }, kLong)) << Get(th, "/v1/health").dump();
  ASSERT_TRUE(WaitFor([&] { return Get("IT-MOJ", "/v1/health").value("directory_version", 0) == 2; }, kLong))
      << "the hub hands connected agents the newer directory";
  // The new node is not listed as a party to UNTOC or the Protocol: reciprocity.
  json welcome = Complete("InformationExchange");
  welcome["legal_basis"]["basis"] = "Reciprocity";
  welcome["legal_basis"]["reciprocity_assurance"] = "Italy will comply with a similar request from Thailand.";
  std::string id = Send("IT-MOJ", th, "InformationExchange", welcome, {{"case_ref", "WELCOME"}, {"legal_basis", "Reciprocity"}});
  ASSERT_TRUE(WaitFor([&] { return State("IT-MOJ", id) == "receipted"; }, kLong));
  EXPECT_EQ(Inbox(th).size(), 1u);
  EXPECT_EQ(Alarms(th), 0u) << Get(th, "/v1/alarms").dump();
  EXPECT_EQ(Alarms("IT-MOJ"), 0u) << Get("IT-MOJ", "/v1/alarms").dump();
}

// A rotation of a node's keys while mail for it is queued at the hub: the
// operator publishes the new keys, the office restarts its agent on them with
// the old key directory under [agent] previous_keys. The queued mail (sealed
// to the old encryption key) is opened and receipted, a receipt signed with
// the old key but never sent is signed again, a message stored before the
// rotation is still readable, new mail is sealed to the new key.
TEST_F(AgentIntegrationTest, KeyRotationOpensQueuedAndStoredMailWithThePreviousKeys) {
  StartBroker();
  StartAgent("IT-MOJ");
  StartAgent("NG-AGF");
  ASSERT_TRUE(WaitFor([&] { return Connected("IT-MOJ") && Connected("NG-AGF"); }, kLong));
  const std::string before = Send("IT-MOJ", "NG-AGF", "InformationExchange", Complete("InformationExchange"),
                                  {{"case_ref", "ROT-0"}});
  ASSERT_TRUE(WaitFor([&] { return State("IT-MOJ", before) == "receipted"; }, kLong));
  ASSERT_NO_FATAL_FAILURE(StopAgent("NG-AGF"));
  // One message stored with its receipt signed under the old key, the
  // receipt never sent: the agent is killed between the two (test hook).
  StartAgent("NG-AGF", {"MLAHUB_AGENT_CRASH_POINT=after_store"});
  const std::string unreceipted = Send("IT-MOJ", "NG-AGF", "InformationExchange", Complete("InformationExchange"),
                                       {{"case_ref", "ROT-S"}});
  auto killed = agents_["NG-AGF"].Wait(kLong);
  ASSERT_TRUE(killed.has_value()) << "the hook should have killed the agent";
  ASSERT_EQ(*killed, 128 + SIGKILL);
  std::vector<std::string> queued;
  for (int i = 1; i <= 3; ++i)
    queued.push_back(Send("IT-MOJ", "NG-AGF", "InformationExchange", Complete("InformationExchange"),
                          {{"case_ref", "ROT-" + std::to_string(i)}}));
  ASSERT_TRUE(WaitFor([&] { return Get("IT-MOJ", "/v1/health").value("outbox", -1) == 0; }, kLong));

  // The office's new keys; the operator rotates them into version 2.
  const std::string node_dir = net_.dir + "/nodes/NG-AGF";
  UnixMillis now = SystemClock::Instance().NowMillis();
  std::optional<identity::NodeKeys> fresh, op;
  std::optional<directory::Directory> dir;
  ASSERT_NO_FATAL_FAILURE(BeginDirectoryEdit("NG-AGF", node_dir + "/keys-2", fresh, op, dir));
  ASSERT_TRUE(dir->Rotate(fresh->Public()).ok());
  dir->NextVersion(now);
  const uint64_t version = dir->version();
  ASSERT_TRUE(WriteFileAtomic(net_.directory_file(), dir->Sign(op->sign, op->id), 0644).ok());
  ASSERT_TRUE(WaitFor([&] { return Get("IT-MOJ", "/v1/health").value("directory_version", uint64_t{0}) == version; },
                      kLong))
      << "the hub hands the rotation to the connected agents";

  // The agent on its new keys, the old ones kept under previous_keys.
  std::filesystem::create_directories(node_dir + "/keys-previous");
  std::filesystem::rename(net_.agent_keys("NG-AGF"), node_dir + "/keys-previous/1");
  ASSERT_TRUE(testing::TweakAgentConfig(net_, "NG-AGF", [&](config::AgentConfig& c) {
                c.keys = node_dir + "/keys-2";
                c.previous_keys = node_dir + "/keys-previous";
              }).ok());
  StartAgent("NG-AGF");
  ASSERT_TRUE(WaitFor([&] { return AllReceiptedAt("IT-MOJ", queued); }, kLong))
      << "mail sealed to the old key is opened and receipted";
  ASSERT_TRUE(WaitFor([&] { return State("IT-MOJ", unreceipted) == "receipted"; }, kLong))
      << "the receipt stored under the old key is signed again with the new one";
  const std::string after = Send("IT-MOJ", "NG-AGF", "InformationExchange", Complete("InformationExchange"),
                                 {{"case_ref", "ROT-4"}});
  ASSERT_TRUE(WaitFor([&] { return State("IT-MOJ", after) == "receipted"; }, kLong));
  EXPECT_EQ(Inbox("NG-AGF").size(), 6u);
  std::vector<std::string> all = queued;
  all.push_back(before);
  all.push_back(unreceipted);
  all.push_back(after);
  for (const std::string& id : all) {
    json m = Get("NG-AGF", "/v1/messages/" + id);
    EXPECT_TRUE(m.contains("body") && m["body"].is_object()) << id << " readable: " << m.dump().substr(0, 400);
    EXPECT_FALSE(m.contains("body_error")) << m.value("body_error", "");
  }
  // The receipts the sender holds verify with the new key, not the old one
  // (the hub checks the key in force): the one stored under the old key
  // was signed again.
  auto old_keys = identity::LoadKeyDir(node_dir + "/keys-previous/1", "");
  ASSERT_TRUE(old_keys.ok());
  for (const std::string& id : {queued[0], unreceipted}) {
    json r = Get("IT-MOJ", "/v1/messages/" + id);
    auto signed_receipt = crypto::FromBase64(r["receipt"].value("signed_receipt", ""));
    ASSERT_TRUE(signed_receipt.ok()) << r.dump().substr(0, 400);
    EXPECT_TRUE(envelope::VerifyReceipt(*signed_receipt, fresh->sign.public_key()).ok()) << id;
    EXPECT_FALSE(envelope::VerifyReceipt(*signed_receipt, old_keys->sign.public_key()).ok()) << id;
  }
  auto ng_log = ReadFile(dir_ + "/NG-AGF.log", 1 << 24);
  ASSERT_TRUE(ng_log.ok());
  EXPECT_NE(std::string(ng_log->begin(), ng_log->end()).find("receipt.signed_again"), std::string::npos);
  EXPECT_EQ(Alarms("NG-AGF"), 0u) << Get("NG-AGF", "/v1/alarms").dump();
  EXPECT_EQ(Alarms("IT-MOJ"), 0u) << Get("IT-MOJ", "/v1/alarms").dump();

  // A previous_keys entry that holds another node's keys stops the start.
  ASSERT_NO_FATAL_FAILURE(StopAgent("NG-AGF"));
  auto other = identity::LoadKeyDir(net_.agent_keys("IT-MOJ"), "");
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(identity::WriteKeyDir(*other, node_dir + "/keys-previous/2", "").ok());
  auto bad = support::Process::Spawn({kBin + "/mlahub-agent", "--config", net_.agent_config("NG-AGF")},
                                     {.log_file = dir_ + "/NG-AGF-bad.log"});
  ASSERT_TRUE(bad.ok());
  auto rc = bad->Wait(seconds(60));
  ASSERT_TRUE(rc.has_value());
  EXPECT_NE(*rc, 0);
  auto log = ReadFile(dir_ + "/NG-AGF-bad.log", 1 << 20);
  ASSERT_TRUE(log.ok());
  EXPECT_NE(std::string(log->begin(), log->end()).find("holds the keys of IT-MOJ"), std::string::npos);
}

}  // namespace
}  // namespace mlahub::agents
