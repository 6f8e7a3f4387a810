#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "mlahub/ops/log.h"
#include "mlahub/ops/metrics.h"

namespace mlahub::ops {
namespace {

namespace fs = std::filesystem;

TEST(MetricsTest, CounterRendersHelpTypeAndLabels) {
  Registry r;
  r.counter("mlahub_test_accepted_total", "Envelopes accepted.").Inc();
  r.counter("mlahub_test_refused_total", "Envelopes refused, by code.", {{"code", "bad_signature"}}).Inc(2);
  r.counter("mlahub_test_refused_total", "Envelopes refused, by code.", {{"code", "expired"}}).Inc(5);
  r.counter("mlahub_test_refused_total", "Envelopes refused, by code.", {{"code", "bad_signature"}}).Inc();
  EXPECT_EQ(r.Render(),
            "# HELP mlahub_test_accepted_total Envelopes accepted.\n"
            "# TYPE mlahub_test_accepted_total counter\n"
            "mlahub_test_accepted_total 1\n"
            "# HELP mlahub_test_refused_total Envelopes refused, by code.\n"
            "# TYPE mlahub_test_refused_total counter\n"
            "mlahub_test_refused_total{code=\"bad_signature\"} 3\n"
            "mlahub_test_refused_total{code=\"expired\"} 5\n");
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameMetric) {
  Registry r;
  Counter& a = r.counter("x_total", "h", {{"a", "1"}, {"b", "2"}});
  Counter& b = r.counter("x_total", "h", {{"b", "2"}, {"a", "1"}});  // order does not matter
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &r.counter("x_total", "h", {{"a", "1"}}));
  Gauge& g = r.gauge("g", "h");
  EXPECT_EQ(&g, &r.gauge("g", "h"));
  EXPECT_NE(r.Render().find("x_total{a=\"1\",b=\"2\"} 0\n"), std::string::npos) << r.Render();
}

TEST(MetricsTest, GaugeRendersValuesAndEscapes) {
  Registry r;
  r.gauge("mlahub_queue_depth", "Queued envelopes per agent.", {{"agent", "IT-MOJ"}}).Set(12);
  Gauge& g = r.gauge("mlahub_queue_depth", "Queued envelopes per agent.", {{"agent", "NG-AGF"}});
  g.Set(1.5);
  g.Add(-3);
  r.gauge("mlahub_weird", "Help with \\ backslash\nand newline.", {{"v", "a\"b\\c\nd"}}).Set(
      std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.Render(),
            "# HELP mlahub_queue_depth Queued envelopes per agent.\n"
            "# TYPE mlahub_queue_depth gauge\n"
            "mlahub_queue_depth{agent=\"IT-MOJ\"} 12\n"
            "mlahub_queue_depth{agent=\"NG-AGF\"} -1.5\n"
            "# HELP mlahub_weird Help with \\\\ backslash\\nand newline.\n"
            "# TYPE mlahub_weird gauge\n"
            "mlahub_weird{v=\"a\\\"b\\\\c\\nd\"} +Inf\n");
}

TEST(MetricsTest, HistogramRendersCumulativeBucketsSumAndCount) {
  Registry r;
  Histogram& h = r.histogram("mlahub_batch_size", "Entries per fsync'd batch.", {1, 2.5, 10}, {{"kind", "ledger"}});
  for (double v : {0.5, 1.0, 2.0, 3.0, 100.0}) h.Observe(v);
  EXPECT_EQ(r.Render(),
            "# HELP mlahub_batch_size Entries per fsync'd batch.\n"
            "# TYPE mlahub_batch_size histogram\n"
            "mlahub_batch_size_bucket{kind=\"ledger\",le=\"1\"} 2\n"
            "mlahub_batch_size_bucket{kind=\"ledger\",le=\"2.5\"} 3\n"
            "mlahub_batch_size_bucket{kind=\"ledger\",le=\"10\"} 4\n"
            "mlahub_batch_size_bucket{kind=\"ledger\",le=\"+Inf\"} 5\n"
            "mlahub_batch_size_sum{kind=\"ledger\"} 106.5\n"
            "mlahub_batch_size_count{kind=\"ledger\"} 5\n");
  Registry u;
  u.histogram("lat_seconds", "Latency.", {0.001}).Observe(0.0005);
  EXPECT_EQ(u.Render(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{le=\"0.001\"} 1\n"
            "lat_seconds_bucket{le=\"+Inf\"} 1\n"
            "lat_seconds_sum 0.0005\n"
            "lat_seconds_count 1\n");
}

TEST(MetricsTest, BucketHelpers) {
  auto lat = LatencyBuckets();
  EXPECT_DOUBLE_EQ(lat.front(), 0.00005);
  EXPECT_DOUBLE_EQ(lat.back(), 10);
  EXPECT_TRUE(std::is_sorted(lat.begin(), lat.end()));
  auto size = SizeBuckets();
  EXPECT_EQ(size.front(), 1);
  EXPECT_EQ(size.back(), 65536);
  EXPECT_EQ(size.size(), 17u);
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r, t] {
      // Registration races too: every thread gets the same objects.
      Counter& c = r.counter("c_total", "c", {{"shared", "yes"}});
      Gauge& g = r.gauge("g", "g");
      Histogram& h = r.histogram("h", "h", SizeBuckets());
      for (int i = 0; i < kPerThread; ++i) {
        c.Inc();
        g.Add(1);
        h.Observe(i % 100);
        if (i % 10000 == 0) (void)r.Render();  // rendering concurrently with updates
      }
      (void)t;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(r.counter("c_total", "c", {{"shared", "yes"}}).value(), uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(r.gauge("g", "g").value(), double{kThreads} * kPerThread);
  auto s = r.histogram("h", "h", SizeBuckets()).snapshot();
  EXPECT_EQ(s.count, uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(s.cumulative.back(), s.count);
  EXPECT_DOUBLE_EQ(s.sum, kThreads * (kPerThread / 100) * (99.0 * 100 / 2));
}

TEST(MetricsServerTest, ServesMetricsOverHttp) {
  Registry r;
  r.counter("mlahub_test_http_total", "Requests.").Inc(7);
  auto server = MetricsServer::Start(r, "127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  uint16_t port = (*server)->port();
  ASSERT_NE(port, 0);

  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(10, 0);
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u)
      << res->get_header_value("Content-Type");
  EXPECT_EQ(res->body, r.Render());
  EXPECT_NE(res->body.find("mlahub_test_http_total 7\n"), std::string::npos);

  // Live values: a later scrape sees the update.
  r.counter("mlahub_test_http_total", "Requests.").Inc();
  res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("mlahub_test_http_total 8\n"), std::string::npos);

  auto missing = client.Get("/");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  missing = client.Get("/metrics/extra");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  // A fixed port that is now in use cannot be bound twice.
  auto second = MetricsServer::Start(r, "127.0.0.1:" + std::to_string(port));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kIoError);

  server->reset();  // stops; the port no longer answers
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(2, 0);
  EXPECT_FALSE(after.Get("/metrics"));
}

TEST(MetricsServerTest, StartStopQuickly) {
  Registry r;
  for (int i = 0; i < 20; ++i) {
    auto server = MetricsServer::Start(r, "localhost:0");
    ASSERT_TRUE(server.ok()) << server.status().ToString();
  }
}

TEST(MetricsServerTest, RefusesNonLoopbackAddresses) {
  Registry r;
  for (const char* bad : {"0.0.0.0:9100", "10.1.2.3:9100", "example.org:9100", "[::]:9100", ":9100", "9100",
                          "127.0.0.1:", "127.0.0.1:70000", "::1:9100", "128.0.0.1:1", "127.0.0.1.5:1"}) {
    auto s = MetricsServer::Start(r, bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.status().message().find(bad), std::string::npos) << s.status().message();
  }
  auto ok = ParseLoopbackListen("[::1]:9100");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->first, "::1");
  EXPECT_EQ(ok->second, 9100);
  EXPECT_TRUE(ParseLoopbackListen("127.0.0.1:0").ok());
  EXPECT_TRUE(ParseLoopbackListen("127.1.2.3:65535").ok());
  EXPECT_TRUE(ParseLoopbackListen("localhost:80").ok());
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mlahub_ops_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    // Back to the default (stderr) so later tests do not write to a removed file.
    ASSERT_TRUE(InitLogging({}, "").ok());
    fs::remove_all(dir_);
  }
  std::vector<std::string> Lines(const std::string& path) {
    FlushLogs();
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  fs::path dir_;
};

TEST_F(LogTest, JsonLinesHaveTheDocumentedShape) {
  std::string path = (dir_ / "broker.log").string();
  ASSERT_TRUE(InitLogging({"info", "json", path}, "mlahub-broker").ok());
  EXPECT_FALSE(Enabled(Level::kDebug));
  EXPECT_TRUE(Enabled(Level::kInfo));
  Debug("not.written", {{"x", 1}});
  Info("envelope.accepted", {{"sender", "IT-MOJ"}, {"size", 1024}, {"index", uint64_t{18446744073709551615u}},
                             {"ms", 1.25}, {"dup", false}, {"note", "quote \" back \\ nl \n tab \t ctl \x01 é"}});
  Warn("agent.disconnected");
  Error("audit.alarm", {{"event", "clash"}, {"bad", std::string("\xff\xfe")}});
  auto lines = Lines(path);
  ASSERT_EQ(lines.size(), 3u);
  std::regex ts_re(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");

  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(), ts_re)) << j["ts"];
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["program"], "mlahub-broker");
  EXPECT_EQ(j["event"], "envelope.accepted");
  EXPECT_EQ(j["sender"], "IT-MOJ");
  EXPECT_EQ(j["size"], 1024);
  EXPECT_EQ(j["index"].get<uint64_t>(), 18446744073709551615u);
  EXPECT_EQ(j["ms"], 1.25);
  EXPECT_EQ(j["dup"], false);
  EXPECT_EQ(j["note"], "quote \" back \\ nl \n tab \t ctl \x01 é");
  // Key order: ts, level, program, event, then fields.
  EXPECT_EQ(lines[0].rfind("{\"ts\":", 0), 0u) << lines[0];
  EXPECT_LT(lines[0].find("\"level\""), lines[0].find("\"event\""));

  auto w = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(w["level"], "warn");
  EXPECT_EQ(w["event"], "agent.disconnected");

  auto e = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(e["level"], "error");
  EXPECT_EQ(e["event"], "audit.alarm");  // a field cannot overwrite the event
  EXPECT_EQ(e["field_event"], "clash");
  EXPECT_TRUE(e["bad"].is_string());  // invalid UTF-8 replaced, line still valid JSON
}

TEST_F(LogTest, TextLinesAndLevels) {
  std::string path = (dir_ / "agent.log").string();
  ASSERT_TRUE(InitLogging({"debug", "text", path}, "mlahub-agent").ok());
  Debug("agent.connected", {{"broker", "tcp://127.0.0.1:7700"}, {"n", 3}});
  Info("x.y", {{"msg", "two words"}, {"b", true}});
  auto lines = Lines(path);
  ASSERT_EQ(lines.size(), 2u);
  std::regex re(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z debug agent\.connected program=mlahub-agent )"
                R"(broker=tcp://127\.0\.0\.1:7700 n=3)");
  EXPECT_TRUE(std::regex_match(lines[0], re)) << lines[0];
  EXPECT_NE(lines[1].find(" info x.y program=mlahub-agent msg=\"two words\" b=true"), std::string::npos) << lines[1];

  ASSERT_TRUE(InitLogging({"error", "json", path}, "p").ok());
  Warn("dropped");
  EXPECT_EQ(Lines(path).size(), 2u);  // appended to, not truncated, and warn filtered
}

// logrotate moves the file away and sends SIGHUP; the daemon reopens the
// file by its name, and later lines go to the new file.
TEST_F(LogTest, ReopenAfterTheFileWasMovedAway) {
  std::string path = (dir_ / "broker.log").string();
  ASSERT_TRUE(InitLogging({"info", "json", path}, "mlahub-broker").ok());
  Info("before.rotation");
  fs::rename(path, path + ".1");
  Info("still.old");  // until the reopen, into the moved file
  ASSERT_TRUE(ReopenLogs().ok());
  Info("after.rotation");
  auto old_lines = Lines(path + ".1");
  auto new_lines = Lines(path);
  ASSERT_EQ(old_lines.size(), 2u);
  EXPECT_NE(old_lines[1].find("still.old"), std::string::npos);
  ASSERT_EQ(new_lines.size(), 1u);
  EXPECT_NE(new_lines[0].find("after.rotation"), std::string::npos);
  EXPECT_NE(new_lines[0].find("\"program\":\"mlahub-broker\""), std::string::npos) << new_lines[0];
  // Logging to standard error: nothing to reopen.
  ASSERT_TRUE(InitLogging({}, "p").ok());
  EXPECT_TRUE(ReopenLogs().ok());
}

TEST_F(LogTest, RejectsBadSettings) {
  auto s = InitLogging({"verbose", "json", ""}, "p");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("verbose"), std::string::npos);
  s = InitLogging({"info", "xml", ""}, "p");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  // A file under a regular file cannot be created.
  std::ofstream(dir_ / "plain") << "x";
  s = InitLogging({"info", "json", (dir_ / "plain/x.log").string()}, "p");
  EXPECT_EQ(s.code(), Code::kIoError) << s.ToString();
}

}  // namespace
}  // namespace mlahub::ops
