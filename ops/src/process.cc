#include "mlahub/ops/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "mlahub/core/file.h"
#include "mlahub/ops/log.h"

extern char** environ;

namespace mlahub::ops {

namespace {

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> a;
  for (auto& s : v) a.push_back(s.data());
  a.push_back(nullptr);
  return a;
}

// The parent's environment with `extra` ("KEY=VALUE") added or replacing.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    std::string_view key = kv.substr(0, kv.find('='));
    bool replaced = false;
    for (const auto& x : extra) replaced = replaced || (x.size() > key.size() && x.compare(0, key.size(), key) == 0 &&
                                                        x[key.size()] == '=');
    if (!replaced) env.emplace_back(kv);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// In the child: stdout to `out_fd` (or the log), stderr to the log (both
// inherited without a log), affinity, then exec. Everything it needs is
// prepared before fork.
[[noreturn]] void Exec(std::vector<char*>& argv, std::vector<char*>* envp, const std::string& log_file, int out_fd,
                       const std::vector<int>& cpus) {
  if (!log_file.empty()) {
    int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log >= 0) {
      ::dup2(log, STDERR_FILENO);
      ::dup2(out_fd >= 0 ? out_fd : log, STDOUT_FILENO);
    }
  } else if (out_fd >= 0) {
    ::dup2(out_fd, STDOUT_FILENO);
  }
  if (!cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus) CPU_SET(c, &set);
    ::sched_setaffinity(0, sizeof set, &set);
  }
  // The daemons stop (SIGTERM: drain and exit) if their driver dies.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
  if (envp != nullptr) {
    ::execve(argv[0], argv.data(), envp->data());
  } else {
    ::execv(argv[0], argv.data());
  }
  ::_exit(127);
}

int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 255;
}

std::optional<int> WaitPid(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return ExitCodeOf(status);
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void KillAndReap(pid_t pid) {
  ::kill(pid, SIGKILL);
  WaitPid(pid, std::chrono::milliseconds(5000));
}

}  // namespace

Result<Child> Child::Spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("no program to start");
  if (::access(argv[0].c_str(), X_OK) != 0) return Status::NotFound(argv[0] + ": not an executable file");
  std::vector<std::string> args = argv;
  std::vector<char*> a = CStrings(args);
  std::vector<std::string> env;
  std::vector<char*> e;
  if (!options.env.empty()) {
    env = ChildEnvironment(options.env);
    e = CStrings(env);
  }
  pid_t pid = ::fork();
  if (pid < 0) return Status::IoError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) Exec(a, options.env.empty() ? nullptr : &e, options.log_file, -1, options.cpus);
  Child c;
  c.pid_ = pid;
  return c;
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    Kill();
    pid_ = o.pid_;
    exit_code_ = o.exit_code_;
    o.pid_ = -1;
    o.exit_code_.reset();
  }
  return *this;
}

Child::~Child() { Kill(); }

void Child::Reap(int wait_status) { exit_code_ = ExitCodeOf(wait_status); }

bool Child::running() {
  if (pid_ <= 0 || exit_code_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  if (r == pid_) {
    Reap(status);
  } else {
    exit_code_ = -1;  // not our child any more (reaped elsewhere)
  }
  return false;
}

void Child::Signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> Child::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return 0;
  std::optional<int> r = exit_code_ ? exit_code_ : WaitPid(pid_, timeout);
  if (r) {
    pid_ = -1;
    exit_code_.reset();
  }
  return r;
}

void Child::Kill() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    if (auto r = WaitPid(pid_, std::chrono::milliseconds(5000))) exit_code_ = *r;
  }
}

Result<std::string> WaitForReadyFile(const std::string& path, Child& child, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  const pid_t pid = child.pid();
  for (;;) {
    auto bytes = ReadFile(path, 1 << 16);
    if (bytes.ok()) {
      std::string text(bytes->begin(), bytes->end());
      auto j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_object() && j.value("pid", int64_t{-1}) == pid) return text;
    }
    if (!child.running()) {
      auto code = child.Wait(std::chrono::milliseconds(0));
      return Status::Unavailable("process " + std::to_string(pid) + " exited (code " +
                                 std::to_string(code.value_or(-1)) + ") before writing " + path + " (see its log)");
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return Status::Unavailable("no " + path + " within " + std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<RunOutput> RunCommand(const std::vector<std::string>& argv, const std::string& log_file,
                             std::chrono::milliseconds timeout) {
  if (argv.empty()) return Status::InvalidArgument("no program to run");
  if (::access(argv[0].c_str(), X_OK) != 0) return Status::NotFound(argv[0] + ": not an executable file");
  std::vector<std::string> args = argv;
  std::vector<char*> a = CStrings(args);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::IoError(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::IoError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::dup2(fds[1], 100);  // survives O_CLOEXEC of the original
    Exec(a, nullptr, log_file, 100, {});
  }
  ::close(fds[1]);
  RunOutput r;
  char buf[4096];
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      r.out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno != EAGAIN && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::close(fds[0]);
  auto rc = WaitPid(pid, std::chrono::milliseconds(10000));
  if (!rc) {
    KillAndReap(pid);
    return Status::Unavailable(argv[0] + " did not finish in time");
  }
  r.exit_code = *rc;
  return r;
}

namespace {

// Where FreePortRange picks: below the kernel's ephemeral range (outgoing
// connections take their local port from it, and could take a picked port
// between the probe and the daemon's bind), else above it, else 20000..60000.
std::pair<int, int> PickRange(int count) {
  int eph_low = 32768, eph_high = 60999;  // Linux defaults
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  int lo = 0, hi = 0;
  if (f >> lo >> hi && lo > 0 && hi >= lo && hi <= 65535) {
    eph_low = lo;
    eph_high = hi;
  }
  constexpr int kMinSpan = 2000;
  if (eph_low - count - 10000 >= kMinSpan) return {10000, eph_low - count};
  if (65535 - count - eph_high >= kMinSpan) return {eph_high + 1, 65535 - count + 1};
  return {20000, 60000 - count};
}

}  // namespace

Result<uint16_t> FreePortRange(int count) {
  if (count < 1 || count > 1000) return Status::InvalidArgument("port count must be 1..1000");
  std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  const auto [low, high] = PickRange(count);
  std::uniform_int_distribution<int> pick(low, high);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int base = pick(rng);
    std::vector<int> fds;
    bool ok = true;
    for (int p = base; p < base + count && ok; ++p) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        for (int f : fds) ::close(f);
        return Status::IoError(std::string("socket: ") + std::strerror(errno));
      }
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(p));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      fds.push_back(fd);  // held until the whole range is checked
    }
    for (int f : fds) ::close(f);
    if (ok) return static_cast<uint16_t>(base);
  }
  return Status::Unavailable("found no " + std::to_string(count) + " consecutive free TCP ports on 127.0.0.1");
}

Result<int> ListenLoopback(uint16_t port, int backlog, uint16_t* bound) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Unavailable(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, backlog) != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return Status::Unavailable("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + err);
  }
  if (bound != nullptr) {
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *bound = ntohs(a.sin_port);
  }
  return fd;
}

Result<FdLimit> RaiseFdLimit(uint64_t wanted) {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return Status::Internal(std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  FdLimit out;
  out.before = rl.rlim_cur;
  out.hard = rl.rlim_max;
  const rlim_t target = rl.rlim_max == RLIM_INFINITY ? rlim_t(wanted) : std::min<rlim_t>(rl.rlim_max, wanted);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < target) {
    rl.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0)
      return Status::Internal(std::string("setrlimit(RLIMIT_NOFILE, ") + std::to_string(target) +
                              "): " + std::strerror(errno));
  }
  out.soft = rl.rlim_cur;
  return out;
}

void RaiseFdLimitAndLog() {
  auto fds = RaiseFdLimit();
  if (!fds.ok()) {
    Warn("process.fd_limit", {{"error", fds.status().ToString()}});
    return;
  }
  Info("process.fd_limit", {{"before", fds->before}, {"soft", fds->soft}, {"hard", fds->hard}});
  if (fds->soft < 4096)
    Warn("process.fd_limit_low", {{"soft", fds->soft},
                                  {"hint", "raise the hard limit of open files (LimitNOFILE= in a systemd unit, "
                                           "ulimit -Hn, or --ulimit nofile= for a container) to 65536 or more"}});
}

}  // namespace mlahub::ops
