#include "relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <list>
#include <vector>

#include "mlahub/ops/process.h"
#include "mlahub/sim/random.h"

namespace mlahub::sim {

namespace {

using RelayTime = std::chrono::steady_clock::time_point;

struct RelayChunk {
  RelayTime release;
  std::string bytes;
  size_t off = 0;
};

// One direction of a pair: bytes read from side `src`, held, written to the other side.
struct RelayFlow {
  std::deque<RelayChunk> held;
  size_t held_bytes = 0;
  bool eof = false;       // the source side will send nothing more
  bool shut = false;      // the destination side was shut down for writing
  RelayTime tx_end{};     // end of the last chunk's transmission (bandwidth)
  RelayTime last_release{};
};

// side 0: the accepted client; side 1: the connection to the target.
// flow 0: client -> target; flow 1: target -> client.
struct RelayPair {
  int fd[2] = {-1, -1};
  bool dead[2] = {false, false};
  bool connecting = true;
  RelayFlow flow[2];
};

void RelayCloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

bool RelaySetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

std::chrono::nanoseconds RelayMs(double ms) {
  return std::chrono::nanoseconds(static_cast<int64_t>(std::max(0.0, ms) * 1e6));
}

}  // namespace

Result<std::unique_ptr<Relay>> Relay::Start(const RelayOptions& options) {
  if (options.target_port == 0) return Status::InvalidArgument("relay: no target port");
  if (options.delay_ms < 0 || options.jitter_mean_ms < 0 || options.bytes_per_ms < 0)
    return Status::InvalidArgument("relay: delay, jitter and bandwidth must not be negative");
  in_addr target{};
  if (::inet_pton(AF_INET, options.target_host.c_str(), &target) != 1)
    return Status::InvalidArgument("relay: target host '" + options.target_host + "' is not an IPv4 address");
  std::unique_ptr<Relay> r(new Relay(options));
  auto fd = ops::ListenLoopback(options.listen_port, 128, &r->port_);
  if (!fd.ok()) return Status::Unavailable("relay: " + fd.status().message());
  r->listen_fd_ = *fd;
  RelaySetNonBlocking(r->listen_fd_);
  if (::pipe2(r->wake_, O_NONBLOCK | O_CLOEXEC) != 0) {
    RelayCloseFd(r->listen_fd_);
    return Status::Unavailable(std::string("relay: pipe: ") + std::strerror(errno));
  }
  r->thread_ = std::thread([p = r.get()] { p->Loop(); });
  return r;
}

Relay::~Relay() {
  if (thread_.joinable()) {
    char c = 'x';
    (void)!::write(wake_[1], &c, 1);
    thread_.join();
  }
  RelayCloseFd(listen_fd_);
  RelayCloseFd(wake_[0]);
  RelayCloseFd(wake_[1]);
}

RelayStats Relay::stats() const {
  RelayStats s;
  s.accepted = counters_.accepted.load();
  s.connected = counters_.connected.load();
  s.refused = counters_.refused.load();
  s.closed = counters_.closed.load();
  s.bytes_up = counters_.bytes_up.load();
  s.bytes_down = counters_.bytes_down.load();
  return s;
}

void Relay::Loop() {
  using Clock = std::chrono::steady_clock;
  Random rng(options_.seed);
  std::list<RelayPair> pairs;
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(options_.target_port);
  ::inet_pton(AF_INET, options_.target_host.c_str(), &target.sin_addr);
  std::vector<char> buf(64 * 1024);

  auto close_pair = [&](RelayPair& p) {
    RelayCloseFd(p.fd[0]);
    RelayCloseFd(p.fd[1]);
    p.dead[0] = p.dead[1] = true;
    counters_.closed.fetch_add(1);
  };
  // A side failed or hung up: nothing more from it, nothing more to it.
  auto kill_side = [&](RelayPair& p, int s) {
    p.dead[s] = true;
    p.flow[s].eof = true;
    RelayFlow& toward = p.flow[1 - s];
    toward.held.clear();
    toward.held_bytes = 0;
  };
  // Reads what side s has (until EAGAIN), holding it for the other side.
  auto read_side = [&](RelayPair& p, int s) {
    RelayFlow& f = p.flow[s];
    while (!f.eof && f.held_bytes < options_.max_held_bytes) {
      ssize_t n = ::recv(p.fd[s], buf.data(), buf.size(), 0);
      if (n > 0) {
        RelayTime now = Clock::now();
        RelayTime start = std::max(now, f.tx_end);
        f.tx_end = start + (options_.bytes_per_ms > 0 ? RelayMs(static_cast<double>(n) / options_.bytes_per_ms)
                                                      : std::chrono::nanoseconds(0));
        double extra = options_.delay_ms + (options_.jitter_mean_ms > 0 ? rng.Exponential(options_.jitter_mean_ms) : 0);
        RelayTime release = std::max(f.tx_end + RelayMs(extra), f.last_release);
        f.last_release = release;
        f.held.push_back(RelayChunk{release, std::string(buf.data(), static_cast<size_t>(n)), 0});
        f.held_bytes += static_cast<size_t>(n);
        continue;
      }
      if (n == 0) {
        f.eof = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) kill_side(p, s);
      break;
    }
  };
  // Writes the due chunks of flow f (from side f to side 1 - f).
  auto write_flow = [&](RelayPair& p, int fi) {
    RelayFlow& f = p.flow[fi];
    int d = 1 - fi;
    if (p.dead[d]) return;
    RelayTime now = Clock::now();
    while (!f.held.empty() && f.held.front().release <= now) {
      RelayChunk& c = f.held.front();
      ssize_t n = ::send(p.fd[d], c.bytes.data() + c.off, c.bytes.size() - c.off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) kill_side(p, d);
        return;
      }
      c.off += static_cast<size_t>(n);
      f.held_bytes -= static_cast<size_t>(n);
      (fi == 0 ? counters_.bytes_up : counters_.bytes_down).fetch_add(static_cast<uint64_t>(n));
      if (c.off < c.bytes.size()) return;  // the socket is full
      f.held.pop_front();
    }
  };
  // Shuts down what is finished; true when the pair is done.
  auto settle = [&](RelayPair& p) {
    bool done = true;
    for (int fi = 0; fi < 2; ++fi) {
      RelayFlow& f = p.flow[fi];
      int d = 1 - fi;
      if (p.dead[d]) continue;
      if (f.eof && f.held.empty()) {
        if (!f.shut && !p.connecting) {
          ::shutdown(p.fd[d], SHUT_WR);
          f.shut = true;
        }
        if (!p.connecting) continue;
      }
      done = false;
    }
    // A side that is dead with the other side's flow finished, or both dead.
    return done || (p.dead[0] && p.dead[1]);
  };

  std::vector<pollfd> pfds;
  std::vector<std::pair<RelayPair*, int>> owners;
  for (;;) {
    RelayTime now = Clock::now();
    pfds.clear();
    owners.clear();
    pfds.push_back({wake_[0], POLLIN, 0});
    pfds.push_back({listen_fd_, POLLIN, 0});
    owners.push_back({nullptr, 0});
    owners.push_back({nullptr, 0});
    int timeout_ms = -1;
    for (RelayPair& p : pairs) {
      for (int s = 0; s < 2; ++s) {
        if (p.dead[s]) continue;
        short ev = 0;
        bool can_read = s == 0 || !p.connecting;
        if (can_read && !p.flow[s].eof && p.flow[s].held_bytes < options_.max_held_bytes) ev |= POLLIN;
        const RelayFlow& toward = p.flow[1 - s];
        if (s == 1 && p.connecting) {
          ev |= POLLOUT;
        } else if (!toward.held.empty()) {
          if (toward.held.front().release <= now) {
            ev |= POLLOUT;
          } else {
            auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(toward.held.front().release - now).count() + 1;
            timeout_ms = timeout_ms < 0 ? static_cast<int>(wait) : std::min(timeout_ms, static_cast<int>(wait));
          }
        }
        pfds.push_back({p.fd[s], ev, 0});
        owners.push_back({&p, s});
      }
    }
    int rc = ::poll(pfds.data(), pfds.size(), timeout_ms);
    if (rc < 0 && errno != EINTR) break;
    if (rc < 0) continue;
    if (pfds[0].revents != 0) break;  // stop
    if (pfds[1].revents & POLLIN) {
      for (;;) {
        int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) break;
        counters_.accepted.fetch_add(1);
        int one = 1;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int u = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (u < 0) {
          ::close(c);
          counters_.refused.fetch_add(1);
          continue;
        }
        ::setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int cr = ::connect(u, reinterpret_cast<sockaddr*>(&target), sizeof target);
        if (cr != 0 && errno != EINPROGRESS) {
          ::close(c);
          ::close(u);
          counters_.refused.fetch_add(1);
          continue;
        }
        RelayPair& p = pairs.emplace_back();
        p.fd[0] = c;
        p.fd[1] = u;
        p.connecting = cr != 0;
        if (!p.connecting) counters_.connected.fetch_add(1);
      }
    }
    for (size_t i = 2; i < pfds.size(); ++i) {
      auto [p, s] = owners[i];
      short re = pfds[i].revents;
      if (re == 0 || p->dead[s]) continue;
      if (s == 1 && p->connecting) {
        if (re & (POLLOUT | POLLERR | POLLHUP)) {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(p->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0 || (re & (POLLERR | POLLHUP))) {
            counters_.refused.fetch_add(1);
            close_pair(*p);
            continue;
          }
          p->connecting = false;
          counters_.connected.fetch_add(1);
        }
        continue;
      }
      if (re & (POLLIN | POLLHUP | POLLERR)) read_side(*p, s);
      if (re & POLLERR) kill_side(*p, s);
      else if ((re & POLLHUP) && !p->dead[s]) kill_side(*p, s);
    }
    for (RelayPair& p : pairs) {
      if (p.dead[0] && p.dead[1]) continue;
      if (!p.connecting) {
        write_flow(p, 0);
        write_flow(p, 1);
      }
    }
    for (auto it = pairs.begin(); it != pairs.end();) {
      bool closed = it->fd[0] < 0 && it->fd[1] < 0;
      if (!closed && settle(*it)) {
        close_pair(*it);
        closed = true;
      }
      it = closed ? pairs.erase(it) : std::next(it);
    }
  }
  for (RelayPair& p : pairs) {
    RelayCloseFd(p.fd[0]);
    RelayCloseFd(p.fd[1]);
  }
}

}  // namespace mlahub::sim
