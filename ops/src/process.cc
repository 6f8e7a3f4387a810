#include "mlahub/ops/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace mlahub::ops {

namespace {

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  return a;
}

// In the child: stdout to `out_fd` (or the log), stderr to the log, then exec.
[[noreturn]] void Exec(const std::vector<std::string>& argv, const std::string& log_file, int out_fd) {
  int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log >= 0) {
    ::dup2(log, STDERR_FILENO);
    ::dup2(out_fd >= 0 ? out_fd : log, STDOUT_FILENO);
  }
  // The daemons stop (SIGTERM: drain and exit) if the simulator dies.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
  auto a = Argv(argv);
  ::execv(a[0], a.data());
  ::_exit(127);
}

std::optional<int> WaitPid(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

Result<Child> Child::Spawn(const std::vector<std::string>& argv, const std::string& log_file) {
  if (argv.empty()) return Status::InvalidArgument("no program to start");
  if (::access(argv[0].c_str(), X_OK) != 0) return Status::NotFound(argv[0] + ": not an executable file");
  pid_t pid = ::fork();
  if (pid < 0) return Status::IoError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) Exec(argv, log_file, -1);
  Child c;
  c.pid_ = pid;
  return c;
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      WaitPid(pid_, std::chrono::milliseconds(5000));
    }
    pid_ = o.pid_;
    o.pid_ = -1;
  }
  return *this;
}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    WaitPid(pid_, std::chrono::milliseconds(5000));
  }
}

bool Child::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  pid_ = -1;  // reaped (or gone)
  return false;
}

void Child::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> Child::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return 0;
  auto r = WaitPid(pid_, timeout);
  if (r) pid_ = -1;
  return r;
}

Result<RunOutput> RunCommand(const std::vector<std::string>& argv, const std::string& log_file,
                             std::chrono::milliseconds timeout) {
  if (argv.empty()) return Status::InvalidArgument("no program to run");
  if (::access(argv[0].c_str(), X_OK) != 0) return Status::NotFound(argv[0] + ": not an executable file");
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
    Exec(argv, log_file, 100);
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
    ::kill(pid, SIGKILL);
    WaitPid(pid, std::chrono::milliseconds(5000));
    return Status::Unavailable(argv[0] + " did not finish in time");
  }
  r.exit_code = *rc;
  return r;
}

}  // namespace mlahub::ops
