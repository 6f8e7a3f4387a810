#include "process.h"

#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

extern char** environ;

namespace mlahub::support {

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    Kill();
    pid_ = o.pid_;
    exited_ = o.exited_;
    status_ = o.status_;
    o.pid_ = -1;
  }
  return *this;
}

Process::~Process() { Kill(); }

Result<Process> Process::Spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("no program to start");
  if (::access(argv[0].c_str(), X_OK) != 0) return Status::NotFound(argv[0] + " is not an executable");
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) env_store.emplace_back(*e);
  for (const auto& e : options.env) env_store.push_back(e);
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return Status::IoError("fork failed");
  if (pid == 0) {
    if (!options.cpus.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      for (int c : options.cpus) CPU_SET(c, &set);
      ::sched_setaffinity(0, sizeof set, &set);
    }
    if (!options.log_file.empty()) {
      int fd = ::open(options.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
    }
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  Process p;
  p.pid_ = pid;
  return p;
}

bool Process::running() {
  if (pid_ < 0 || exited_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    status_ = st;
    return false;
  }
  return true;
}

void Process::Signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  if (pid_ < 0) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return 255;
}

void Process::Kill() {
  if (pid_ < 0) return;
  if (running()) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    exited_ = true;
    status_ = st;
  }
}

Result<std::string> WaitForReadyFile(const std::string& path, Process& process, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::ifstream in(path);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      auto j = nlohmann::json::parse(ss.str(), nullptr, false);
      if (!j.is_discarded() && j.is_object() && j.value("pid", -1) == process.pid()) return ss.str();
    }
    if (!process.running()) {
      auto code = process.Wait(std::chrono::milliseconds(0));
      return Status::Unavailable("process " + std::to_string(process.pid()) + " exited (" +
                                 std::to_string(code.value_or(-1)) + ") before writing " + path);
    }
    if (std::chrono::steady_clock::now() > deadline)
      return Status::Unavailable("no " + path + " within " + std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<Memory> ReadMemory(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return Status::NotFound("no process " + std::to_string(pid));
  Memory m;
  std::string line;
  while (std::getline(in, line)) {
    auto field = [&](const char* name, uint64_t& out) {
      if (line.rfind(name, 0) == 0) out = std::stoull(line.substr(std::string(name).size())) * 1024;
    };
    field("VmRSS:", m.rss);
    field("VmHWM:", m.peak);
  }
  return m;
}

Result<uint16_t> FreePortRange(int count) {
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(20000, 60000 - count);
  for (int attempt = 0; attempt < 200; ++attempt) {
    int base = pick(rng);
    bool ok = true;
    for (int p = base; p < base + count && ok; ++p) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) return Status::IoError("socket() failed");
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(p));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
    }
    if (ok) return static_cast<uint16_t>(base);
  }
  return Status::Unavailable("no free range of " + std::to_string(count) + " loopback ports found");
}

}  // namespace mlahub::support
