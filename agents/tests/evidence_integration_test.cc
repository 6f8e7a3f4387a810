// Evidence streams end to end with the real programs (issue 5, part 2):
// `mlahub network init`, build/bin/mlahub-broker and two build/bin/mlahub-agent
// processes on loopback ports picked here. IT-MOJ sends a generated file of a
// few MiB with `mlahub send --evidence`; the receiving agent (NG-AGF) is
// killed with SIGKILL mid-transfer and restarted; the transfer completes from
// its durable marks and `mlahub evidence fetch` writes the file with the
// right SHA-256. Each process's peak RSS (VmHWM) is printed, not asserted.
// Every wait is for a condition with a generous deadline.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <sstream>

#include "mlahub/agents/api_client.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/random.h"
#include "daemons_fixture.h"
#include "process.h"
#include "test_network.h"

namespace mlahub::agents {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Process;
using testing::WaitFor;

constexpr milliseconds kLong = seconds(300);
const std::string kBin = MLAHUB_BIN_DIR;

// VmHWM of a running process, in KiB (0 if unreadable).
uint64_t PeakRssKib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

std::string Sha256File(const std::string& path) {
  crypto::Sha256Stream h;
  std::ifstream f(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (f.gcount() > 0) h.Update(ByteView(reinterpret_cast<const uint8_t*>(buf.data()), size_t(f.gcount())));
  }
  auto d = h.Final();
  return crypto::ToHex(ByteView(d.data(), d.size()));
}

class EvidenceIntegrationTest : public testing::DaemonsTest {
 protected:
  EvidenceIntegrationTest() : DaemonsTest(kLong) {}
  void SetUp() override {
    if (!FileExists(kBin + "/mlahub-broker") || !FileExists(kBin + "/mlahub-agent") || !FileExists(kBin + "/mlahub"))
      GTEST_SKIP() << "build mlahub-broker, mlahub-agent and mlahub first";
    dir_ = testing::MakeTempDir("evidence-it");
    uint16_t port = testing::PickFreePorts(20);
    auto net = testing::InitNetworkWithTool(kBin, dir_ + "/net", {"IT-MOJ", "NG-AGF"}, port);
    ASSERT_TRUE(net.ok()) << net.status().ToString();
    net_ = *net;
    for (const std::string& n : net_.nodes) {
      ASSERT_TRUE(testing::TweakAgentConfig(net_, n, [](config::AgentConfig& c) {
                    c.audit_interval_ms = 1000;
                    c.reconnect_max_ms = 1000;
                  }).ok());
    }
  }

  json Get(const std::string& id, const std::string& path) {
    auto c = ApiClient::FromConfigFile(net_.agent_config(id));
    if (!c.ok()) return json{{"error", c.status().ToString()}};
    auto r = c->Get(path);
    if (!r.ok()) return json{{"error", r.status().ToString()}};
    return *r;
  }

  bool Connected(const std::string& id) { return Get(id, "/v1/health").value("connection", "") == "connected"; }

  void Rss(const std::string& what, pid_t pid) {
    uint64_t kib = PeakRssKib(pid);
    peaks_[what] = std::max(peaks_[what], kib);
    std::cout << "[ peak RSS ] " << what << " (pid " << pid << "): " << kib / 1024.0 << " MiB (VmHWM)" << std::endl;
  }

  std::map<std::string, uint64_t> peaks_;
};

TEST_F(EvidenceIntegrationTest, AFileSurvivesAKillNineOfTheReceiverAndIsFetchedWithItsHash) {
  StartBroker();
  StartAgent("IT-MOJ");
  // The receiver pauses after each chunk (test hook) so that the kill lands
  // mid-transfer.
  StartAgent("NG-AGF", {"MLAHUB_AGENT_CHUNK_PAUSE_MS=40"});
  ASSERT_TRUE(WaitFor([&] { return Connected("IT-MOJ") && Connected("NG-AGF"); }, kLong));

  // 6 MiB + 12345 bytes of generated data: 25 chunks of 256 KiB.
  const std::string src = dir_ + "/cctv-export.bin";
  {
    std::ofstream f(src, std::ios::binary);
    for (int i = 0; i < 6; ++i) {
      Bytes b = crypto::RandomBytes(1 << 20);
      f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    }
    Bytes tail = crypto::RandomBytes(12345);
    f.write(reinterpret_cast<const char*>(tail.data()), std::streamsize(tail.size()));
  }
  const std::string want = Sha256File(src);
  // A complete request (the agent refuses an incomplete one): the example's
  // body; the file goes into its attachments.
  {
    std::ifstream in(std::string(MLAHUB_SOURCE_DIR) + "/examples/requests/mla-trafficking-complete.json");
    json ex = json::parse(in, nullptr, false);
    ASSERT_TRUE(ex.is_object() && ex.contains("body")) << "examples/requests/mla-trafficking-complete.json";
    ex["body"].erase("attachments");
    std::ofstream(dir_ + "/body.json") << ex["body"].dump();
  }

  // Send with the tool: the agent spools the file, the manifest goes into
  // the sealed body, the chunks follow once the hub accepted the message.
  std::string out;
  int rc = testing::RunCommand(kBin + "/mlahub send --agent " + net_.agent_config("IT-MOJ") +
                                   " --to NG-AGF --kind MlaRequest --case-ref IT-2026-0042 --body " + dir_ +
                                   "/body.json --evidence " + src + " --custody 'seized 2026-11-02, copy 1' --json",
                               &out);
  ASSERT_EQ(rc, 0) << out;
  json sent = json::parse(out, nullptr, false);
  ASSERT_TRUE(sent.is_object() && sent.contains("message_id")) << out;
  const std::string mid = sent["message_id"].get<std::string>();

  // The receiver knows the transfer from the opened manifest and receives.
  uint64_t count = 0, at_kill = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        json e = Get("NG-AGF", "/v1/evidence/" + mid);
        if (!e.contains("files") || e["files"].empty()) return false;
        const json& f = e["files"][0];
        count = f.value("chunk_count", uint64_t{0});
        at_kill = f.value("chunks_done", uint64_t{0});
        return at_kill >= 4 && at_kill < count;
      },
      kLong))
      << Get("NG-AGF", "/v1/evidence/" + mid).dump();
  EXPECT_EQ(count, 25u);
  Rss("mlahub-agent NG-AGF (before kill)", agents_["NG-AGF"].pid());
  agents_["NG-AGF"].Signal(SIGKILL);
  auto killed = agents_["NG-AGF"].Wait(seconds(30));
  ASSERT_TRUE(killed.has_value());
  EXPECT_EQ(*killed, -SIGKILL);
  std::cout << "receiver killed with SIGKILL at " << at_kill << "/" << count << " chunks durable\n";

  // Restart: resumes from the durable mark, completes.
  StartAgent("NG-AGF");
  json first = Get("NG-AGF", "/v1/evidence/" + mid);
  ASSERT_TRUE(first.contains("files") && !first["files"].empty()) << first.dump();
  EXPECT_GT(first["files"][0].value("chunks_done", uint64_t{0}), 0u) << "resumed from its durable mark, not 0";

  // `mlahub evidence fetch --wait`: waits for the rest, checks, writes.
  const std::string outdir = dir_ + "/fetched";
  rc = testing::RunCommand(kBin + "/mlahub evidence fetch " + mid + " --out " + outdir + " --wait --timeout 300" +
                               " --json --agent " + net_.agent_config("NG-AGF"),
                           &out);
  ASSERT_EQ(rc, 0) << out;
  std::string last = out.substr(out.rfind('\n', out.size() - 2) + 1);
  json fetched = json::parse(last, nullptr, false);
  ASSERT_TRUE(fetched.is_object() && fetched.contains("files")) << out;
  EXPECT_EQ(Sha256File(outdir + "/cctv-export.bin"), want);

  // `mlahub evidence list` shows complete on both sides (the sender's spool
  // fully acknowledged by the broker).
  rc = testing::RunCommand(kBin + "/mlahub evidence list " + mid + " --json --agent " + net_.agent_config("NG-AGF"),
                           &out);
  ASSERT_EQ(rc, 0) << out;
  json listed = json::parse(out, nullptr, false);
  ASSERT_TRUE(listed.is_object()) << out;
  EXPECT_EQ(listed["files"][0].value("state", ""), "complete");
  ASSERT_TRUE(WaitFor(
      [&] {
        json e = Get("IT-MOJ", "/v1/evidence/" + mid);
        return e.contains("files") && !e["files"].empty() &&
               e["files"][0].value("chunks_shipped", uint64_t{0}) == count;
      },
      kLong))
      << Get("IT-MOJ", "/v1/evidence/" + mid).dump();
  // A second fetch into the same directory refuses to overwrite.
  rc = testing::RunCommand(kBin + "/mlahub evidence fetch " + mid + " --out " + outdir + " --agent " +
                               net_.agent_config("NG-AGF") + " 2>/dev/null",
                           &out);
  EXPECT_NE(rc, 0);

  // The hub ledgered the completion (EvidenceComplete, with the count and L(0)).
  EXPECT_TRUE(WaitFor(
      [&] {
        auto log = ReadFile(dir_ + "/broker.log", 64u << 20);
        if (!log.ok()) return false;
        std::string text(log->begin(), log->end());
        return text.find("evidence.completion_ledgered") != std::string::npos &&
               text.find(mid) != std::string::npos;
      },
      kLong));

  Rss("mlahub-broker", broker_.pid());
  Rss("mlahub-agent IT-MOJ", agents_["IT-MOJ"].pid());
  Rss("mlahub-agent NG-AGF (after restart)", agents_["NG-AGF"].pid());
}

}  // namespace
}  // namespace mlahub::agents
