// ops::Child, WaitForReadyFile, RunCommand, FreePortRange and ListenLoopback
// with real processes (/bin/sh) and real loopback sockets.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "mlahub/core/file.h"
#include "mlahub/ops/process.h"

namespace mlahub::ops {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/ops-process-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string ReadText(const std::string& path) {
    auto b = ReadFile(path);
    return b.ok() ? std::string(b->begin(), b->end()) : std::string();
  }
  std::string dir_;
};

TEST_F(ProcessTest, ExitCodeSurvivesRunningAndIsReturnedOnce) {
  auto c = Child::Spawn({"/bin/sh", "-c", "exit 7"}, {.log_file = dir_ + "/log"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (c->running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
  EXPECT_FALSE(c->running());
  EXPECT_EQ(c->Wait(seconds(5)), 7);  // reaped by running(): the code is kept
  EXPECT_EQ(c->pid(), -1);
  EXPECT_EQ(c->Wait(seconds(5)), 0);  // an empty Child
}

TEST_F(ProcessTest, SignalGives128PlusTheSignal) {
  auto c = Child::Spawn({"/bin/sh", "-c", "exec sleep 60"}, {.log_file = dir_ + "/log"});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->running());
  c->Signal(SIGKILL);
  EXPECT_EQ(c->Wait(seconds(30)), 128 + SIGKILL);
  auto d = Child::Spawn({"/bin/sh", "-c", "exec sleep 60"}, SpawnOptions{});
  ASSERT_TRUE(d.ok());
  d->Kill();
  EXPECT_FALSE(d->running());
  EXPECT_EQ(d->Wait(seconds(1)), 128 + SIGKILL);
}

TEST_F(ProcessTest, EnvironmentAndLogFile) {
  ::setenv("MLAHUB_OPS_TEST_A", "parent", 1);
  SpawnOptions o;
  o.env = {"MLAHUB_OPS_TEST_A=child", "MLAHUB_OPS_TEST_B=added"};
  o.log_file = dir_ + "/env.log";
  auto c = Child::Spawn({"/bin/sh", "-c", "echo $MLAHUB_OPS_TEST_A $MLAHUB_OPS_TEST_B; echo err >&2"}, o);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Wait(seconds(30)), 0);
  EXPECT_EQ(ReadText(dir_ + "/env.log"), "child added\nerr\n");
  ::unsetenv("MLAHUB_OPS_TEST_A");
  EXPECT_EQ(Child::Spawn({dir_ + "/missing"}, o).status().code(), Code::kNotFound);
}

TEST_F(ProcessTest, WaitForReadyFileNamesTheChildOrItsExit) {
  const std::string ready = dir_ + "/ready.json";
  // Another process's ready file first, then the child's own.
  ASSERT_TRUE(WriteFileAtomic(ready, AsBytes(std::string("{\"pid\":1}")), 0644).ok());
  auto c = Child::Spawn({"/bin/sh", "-c", "sleep 0.2; echo \"{\\\"pid\\\":$$}\" > " + ready + "; exec sleep 60"},
                        {.log_file = dir_ + "/log"});
  ASSERT_TRUE(c.ok());
  auto text = WaitForReadyFile(ready, *c, seconds(60));
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_NE(text->find(std::to_string(c->pid())), std::string::npos);

  auto dead = Child::Spawn({"/bin/sh", "-c", "exit 3"}, {.log_file = dir_ + "/log"});
  ASSERT_TRUE(dead.ok());
  auto r = WaitForReadyFile(dir_ + "/never.json", *dead, seconds(60));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("code 3"), std::string::npos) << r.status().ToString();
}

TEST_F(ProcessTest, RunCommandCapturesStdout) {
  auto r = RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; exit 4"}, dir_ + "/run.log", seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 4);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(ReadText(dir_ + "/run.log"), "err\n");
}

// The daemons raise the open-file soft limit to the hard one (at most the
// wanted count) at start.
TEST(FdLimitTest, SoftLimitIsRaisedUpToTheHardOne) {
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 512) GTEST_SKIP() << "hard limit below 512";
  struct rlimit low = saved;
  low.rlim_cur = 256;  // lowering the soft limit is always allowed
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  auto r = RaiseFdLimit(512);
  struct rlimit now {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);  // restore before any assertion can stop the test
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->before, 256u);
  EXPECT_EQ(r->soft, 512u);
  EXPECT_EQ(now.rlim_cur, 512u);
  EXPECT_EQ(r->hard, uint64_t(saved.rlim_max));
  // Already high enough: left as it is.
  auto again = RaiseFdLimit(16);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->soft, again->before);
}

TEST_F(ProcessTest, FreePortRangeIsFreeAndListenLoopbackBindsIt) {
  auto base = FreePortRange(5);
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  EXPECT_GE(*base, 10000);
  // Below the kernel's ephemeral range (where outgoing connections take
  // their local ports), when there is room below it.
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int eph_low = 0, eph_high = 0;
  if (range >> eph_low >> eph_high && eph_low - 5 - 10000 >= 2000) {
    EXPECT_LT(*base + 4, eph_low);
  }
  uint16_t bound = 0;
  auto fd = ListenLoopback(*base, 16, &bound);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  EXPECT_EQ(bound, *base);
  // Taken now: a second listener on it is refused with the port named.
  auto again = ListenLoopback(*base, 16);
  EXPECT_EQ(again.status().code(), Code::kUnavailable);
  EXPECT_NE(again.status().message().find(std::to_string(*base)), std::string::npos);
  ::close(*fd);
  auto any = ListenLoopback(0, 16, &bound);
  ASSERT_TRUE(any.ok());
  EXPECT_GT(bound, 0);
  ::close(*any);
  EXPECT_EQ(FreePortRange(0).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace mlahub::ops
