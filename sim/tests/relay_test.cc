// The live engine's delaying TCP relay on real loopback sockets: bytes
// arrive intact and in order in both directions, never before the configured
// delay (asserted as a lower bound only: no upper bound on timing), EOF is
// passed on after the held bytes, and the relay outlives its target being
// killed (reset) and restarted on the same port, and a target that is down
// (the accepted connection is closed; the next one goes through).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../src/relay.h"
#include "mlahub/ops/process.h"

namespace mlahub::sim {
namespace {

using TestClock = std::chrono::steady_clock;

void SetTimeouts(int fd) {
  timeval tv{60, 0};  // generous: a hang fails the test instead of blocking it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int ConnectTo(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  SetTimeouts(fd);
  return fd;
}

// Accepts one connection, waiting at most 60 s.
int AcceptOne(int listen_fd) {
  pollfd p{listen_fd, POLLIN, 0};
  if (::poll(&p, 1, 60000) != 1) return -1;
  int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd >= 0) SetTimeouts(fd);
  return fd;
}

bool SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads exactly n bytes (false on EOF, error or timeout).
bool RecvExactly(int fd, std::string* out, size_t n) {
  out->clear();
  char buf[4096];
  while (out->size() < n) {
    ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - out->size()), 0);
    if (r <= 0) return false;
    out->append(buf, static_cast<size_t>(r));
  }
  return true;
}

// True when the peer closed (EOF or reset) within the socket's timeout.
bool SeesClose(int fd) {
  char c;
  ssize_t r = ::recv(fd, &c, 1, 0);
  return r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE));
}

struct Range {
  size_t offset, size;
  TestClock::time_point at;
};

TEST(Relay, ForwardsBothWaysIntactInOrderAndNeverBeforeTheDelay) {
  uint16_t target_port = 0;
  auto listening = ops::ListenLoopback(0, 16, &target_port);
  ASSERT_TRUE(listening.ok()) << listening.status().ToString();
  int lfd = *listening;
  RelayOptions o;
  o.target_port = target_port;
  o.delay_ms = 120;
  o.jitter_mean_ms = 15;
  o.bytes_per_ms = 50000;  // 50 MB/s: a little transmission time per chunk
  o.seed = 9;
  auto relay = Relay::Start(o);
  ASSERT_TRUE(relay.ok()) << relay.status().ToString();
  ASSERT_NE((*relay)->port(), 0);
  ASSERT_NE((*relay)->port(), target_port);
  const auto delay = std::chrono::milliseconds(120);

  // 600 KiB of a pattern that shows reordering, sent in 16 KiB chunks.
  const size_t kChunk = 16 * 1024, kTotal = 600 * 1024;
  std::string sent(kTotal, '\0');
  for (size_t i = 0; i < kTotal; ++i) sent[i] = static_cast<char>((i * 131 + i / 251) & 0xff);
  std::vector<TestClock::time_point> sent_before(kTotal / kChunk + 1);

  // The target: records when each range arrives and echoes it back.
  std::string at_target;
  std::vector<Range> target_ranges;
  bool target_saw_eof = false;
  std::thread target([&] {
    int fd = AcceptOne(lfd);
    if (fd < 0) return;
    char buf[8192];
    for (;;) {
      ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) {
        target_saw_eof = r == 0;
        break;
      }
      target_ranges.push_back({at_target.size(), static_cast<size_t>(r), TestClock::now()});
      at_target.append(buf, static_cast<size_t>(r));
      if (!SendAll(fd, buf, static_cast<size_t>(r))) break;
    }
    ::close(fd);
  });

  int c = ConnectTo((*relay)->port());
  ASSERT_GE(c, 0);
  // Reads the echo while sending.
  std::string echoed;
  std::vector<Range> echo_ranges;
  bool client_saw_eof = false;
  std::thread reader([&] {
    char buf[8192];
    for (;;) {
      ssize_t r = ::recv(c, buf, sizeof buf, 0);
      if (r <= 0) {
        client_saw_eof = r == 0;
        break;
      }
      echo_ranges.push_back({echoed.size(), static_cast<size_t>(r), TestClock::now()});
      echoed.append(buf, static_cast<size_t>(r));
    }
  });
  for (size_t off = 0; off < kTotal; off += kChunk) {
    sent_before[off / kChunk] = TestClock::now();
    ASSERT_TRUE(SendAll(c, sent.data() + off, std::min(kChunk, kTotal - off)));
    if ((off / kChunk) % 8 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::shutdown(c, SHUT_WR);  // EOF goes through after the held bytes
  reader.join();
  target.join();
  ::close(c);
  ::close(lfd);

  EXPECT_TRUE(target_saw_eof);
  EXPECT_TRUE(client_saw_eof);
  ASSERT_EQ(at_target.size(), sent.size());
  EXPECT_TRUE(at_target == sent) << "bytes changed or reordered on the way to the target";
  ASSERT_EQ(echoed.size(), sent.size());
  EXPECT_TRUE(echoed == sent) << "bytes changed or reordered on the way back";
  // Not before the delay: a byte sent after time T arrives after T + delay
  // (one hop), its echo after T + 2 * delay (two hops).
  for (const Range& r : target_ranges)
    EXPECT_GE(r.at - sent_before[r.offset / kChunk], delay) << "one-way, offset " << r.offset;
  for (const Range& r : echo_ranges)
    EXPECT_GE(r.at - sent_before[r.offset / kChunk], 2 * delay) << "round trip, offset " << r.offset;

  RelayStats s = (*relay)->stats();
  EXPECT_EQ(s.accepted, 1u);
  EXPECT_EQ(s.connected, 1u);
  EXPECT_EQ(s.refused, 0u);
  EXPECT_EQ(s.bytes_up, kTotal);
  EXPECT_EQ(s.bytes_down, kTotal);
}

TEST(Relay, OutlivesItsTargetBeingKilledAndRestarted) {
  uint16_t target_port = 0;
  auto listening = ops::ListenLoopback(0, 16, &target_port);
  ASSERT_TRUE(listening.ok()) << listening.status().ToString();
  int lfd = *listening;
  RelayOptions o;
  o.target_port = target_port;
  o.delay_ms = 20;
  auto relay = Relay::Start(o);
  ASSERT_TRUE(relay.ok()) << relay.status().ToString();
  const uint16_t port = (*relay)->port();

  // A working pair.
  int c = ConnectTo(port);
  ASSERT_GE(c, 0);
  int t = AcceptOne(lfd);
  ASSERT_GE(t, 0);
  std::string got;
  ASSERT_TRUE(SendAll(c, "hello", 5));
  ASSERT_TRUE(RecvExactly(t, &got, 5));
  EXPECT_EQ(got, "hello");

  // The target is killed: its sockets reset, its port closed.
  linger hard{1, 0};
  ::setsockopt(t, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  ::close(t);
  ::close(lfd);
  EXPECT_TRUE(SeesClose(c)) << "the client's connection is closed with the target's";
  ::close(c);

  // While the target is down, a connection is accepted and closed at once.
  int c2 = ConnectTo(port);
  ASSERT_GE(c2, 0) << "the relay still accepts";
  EXPECT_TRUE(SeesClose(c2));
  ::close(c2);

  // The target restarts on the same port: the relay connects again.
  listening = ops::ListenLoopback(target_port, 16);
  ASSERT_TRUE(listening.ok()) << listening.status().ToString();
  lfd = *listening;
  int c3 = ConnectTo(port);
  ASSERT_GE(c3, 0);
  int t3 = AcceptOne(lfd);
  ASSERT_GE(t3, 0);
  ASSERT_TRUE(SendAll(c3, "again", 5));
  ASSERT_TRUE(RecvExactly(t3, &got, 5));
  EXPECT_EQ(got, "again");
  ASSERT_TRUE(SendAll(t3, "back", 4));
  ASSERT_TRUE(RecvExactly(c3, &got, 4));
  EXPECT_EQ(got, "back");
  ::close(c3);
  EXPECT_TRUE(SeesClose(t3));
  ::close(t3);
  ::close(lfd);

  RelayStats s = (*relay)->stats();
  EXPECT_EQ(s.accepted, 3u);
  EXPECT_EQ(s.connected, 2u);
  EXPECT_EQ(s.refused, 1u);
}

TEST(Relay, RefusesBadOptions) {
  RelayOptions o;
  EXPECT_EQ(Relay::Start(o).status().code(), Code::kInvalidArgument);  // no target port
  o.target_port = 1;
  o.delay_ms = -1;
  EXPECT_EQ(Relay::Start(o).status().code(), Code::kInvalidArgument);
  o.delay_ms = 0;
  o.target_host = "localhost";
  EXPECT_EQ(Relay::Start(o).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace mlahub::sim
