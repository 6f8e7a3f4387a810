// kill -9 of a real process mid-transfer: the child (evidence_crash_child)
// spools a file and receives it, reporting each durable mark; we SIGKILL it
// once while it encrypts and once while it receives, restart it each time,
// and check that it resumes from at least the last mark it reported (never
// from the start) and that the fetched file has the source's SHA-256.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <sstream>
#include <vector>

#include "mlahub/evidence/store.h"
#include "test_util.h"

extern char** environ;

namespace mlahub::evidence {
namespace {

struct Line {
  std::string what;
  uint64_t n = 0;
};

struct ChildRun {
  std::vector<Line> lines;
  bool killed = false;
  int status = 0;
  uint64_t Last(const std::string& what) const {
    uint64_t v = 0;
    for (const auto& l : lines)
      if (l.what == what) v = l.n;
    return v;
  }
  bool Has(const std::string& what) const {
    for (const auto& l : lines)
      if (l.what == what) return true;
    return false;
  }
};

// Runs the child; SIGKILLs it as soon as a line `kill_on` with n >= kill_at
// is read (never, if kill_on is empty).
ChildRun RunChild(const std::vector<std::string>& args, const std::string& kill_on,
                  uint64_t kill_at) {
  int fds[2];
  MLAHUB_CHECK(::pipe(fds) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::string path = MLAHUB_EVIDENCE_CRASH_CHILD;
  std::vector<char*> argv = {path.data()};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  MLAHUB_CHECK(posix_spawn(&pid, path.c_str(), &fa, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  ChildRun run;
  std::string buf;
  char chunk[4096];
  for (;;) {
    ssize_t got = ::read(fds[0], chunk, sizeof chunk);
    if (got <= 0) break;
    buf.append(chunk, static_cast<size_t>(got));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::istringstream in(buf.substr(0, nl));
      Line l;
      in >> l.what >> l.n;
      run.lines.push_back(l);
      buf.erase(0, nl + 1);
      if (!run.killed && !kill_on.empty() && l.what == kill_on && l.n >= kill_at) {
        ::kill(pid, SIGKILL);
        run.killed = true;  // keep reading: lines already written were durable
      }
    }
  }
  ::close(fds[0]);
  ::waitpid(pid, &run.status, 0);
  return run;
}

TEST(CrashTest, KillNineWhileEncryptingAndWhileReceivingResumesFromDurableMarks) {
  testing::TempDir dir;
  const std::string source = dir.path() + "/seized.img";
  // 1024 chunks of 16 KiB, a durable mark every 4: long enough to be killed
  // in the middle of each phase.
  const uint64_t size = uint64_t{16} << 20;
  auto sha = testing::WritePatternFile(source, size, 5);
  const std::string id = NewTransferId();
  const std::vector<std::string> args = {dir.path() + "/agent", source, id};

  ChildRun r1 = RunChild(args, "spooled", 40);
  ASSERT_TRUE(r1.killed) << "child ended before it was killed (status " << r1.status << ")";
  EXPECT_TRUE(WIFSIGNALED(r1.status) && WTERMSIG(r1.status) == SIGKILL);
  EXPECT_EQ(r1.lines.front().what, "spool-resume");
  EXPECT_EQ(r1.lines.front().n, 0u);
  const uint64_t spooled = r1.Last("spooled");

  ChildRun r2 = RunChild(args, "received", 40);
  ASSERT_TRUE(r2.killed) << "child ended before it was killed (status " << r2.status << ")";
  ASSERT_FALSE(r2.lines.empty());
  EXPECT_EQ(r2.lines.front().what, "spool-resume");
  EXPECT_GE(r2.lines.front().n, spooled) << "a durable spool mark was lost";
  EXPECT_GT(r2.lines.front().n, 0u) << "encryption restarted from the start";
  std::cout << "killed while encrypting after mark " << spooled << "; resumed at "
            << r2.lines.front().n << " of 1024\n";
  EXPECT_TRUE(r2.Has("receive-resume"));
  EXPECT_EQ(r2.Last("receive-resume"), 0u);
  const uint64_t received = r2.Last("received");

  ChildRun r3 = RunChild(args, "", 0);
  EXPECT_FALSE(r3.killed);
  EXPECT_TRUE(WIFEXITED(r3.status) && WEXITSTATUS(r3.status) == 0) << "status " << r3.status;
  ASSERT_FALSE(r3.lines.empty());
  EXPECT_EQ(r3.lines.front().what, "spool-resume");
  EXPECT_EQ(r3.lines.front().n, 1024u) << "the sealed spool is reused";
  ASSERT_TRUE(r3.Has("receive-resume"));
  EXPECT_GE(r3.Last("receive-resume"), received) << "a durable receive mark was lost";
  EXPECT_GT(r3.Last("receive-resume"), 0u) << "receiving restarted from the start";
  std::cout << "killed while receiving after mark " << received << "; resumed at "
            << r3.Last("receive-resume") << " of 1024\n";
  EXPECT_TRUE(r3.Has("done"));

  AtRestKey key;
  std::memset(key.data(), 0x5c, key.size());
  auto store = EvidenceStore::Open(dir.path() + "/agent", std::move(key));
  ASSERT_TRUE(store.ok());
  ASSERT_OK(MakeDirs(dir.path() + "/out"));
  ASSERT_OK((*store)->Fetch(id, dir.path() + "/out"));
  auto got = DescribeFile(dir.path() + "/out/seized.img");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size_bytes, size);
  EXPECT_EQ(got->sha256, sha);
}

}  // namespace
}  // namespace mlahub::evidence
