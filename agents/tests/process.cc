#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>

#include "mlahub/core/file.h"

extern char** environ;

namespace mlahub::agents::testing {

Result<Process> Process::Spawn(const std::string& binary, const std::vector<std::string>& args,
                               const std::vector<std::string>& extra_env, const std::string& log_path) {
  std::vector<std::string> argv_s{binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) env_s.emplace_back(*e);
  env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
  pid_t pid = ::fork();
  if (pid < 0) return Status::IoError("fork failed");
  if (pid == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    std::vector<char*> argv, envp;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    ::execve(binary.c_str(), argv.data(), envp.data());
    std::fprintf(stderr, "exec %s failed: %s\n", binary.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  Process p;
  p.pid_ = pid;
  return p;
}

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
    pid_ = o.pid_;
    status_ = o.status_;
    o.pid_ = -1;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

bool Process::running() {
  if (pid_ <= 0 || status_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    return false;
  }
  return true;
}

void Process::Signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  WaitFor([this] { return !running(); }, timeout);
  return status_;
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status WaitReady(const std::string& ready_path, Process& proc, std::chrono::milliseconds timeout) {
  bool ok = WaitFor(
      [&] {
        if (!proc.running()) return true;
        auto b = ReadFile(ready_path, 1 << 16);
        if (!b.ok()) return false;
        auto j = nlohmann::json::parse(b->begin(), b->end(), nullptr, false);
        return j.is_object() && j.value("pid", int64_t{-1}) == proc.pid();
      },
      timeout);
  if (!proc.running()) return Status::Unavailable("the process exited before it was ready (see its log)");
  if (!ok) return Status::Unavailable(ready_path + " did not appear in time");
  return Status::Ok();
}

int RunCommand(const std::string& command, std::string* output) {
  FILE* f = ::popen(command.c_str(), "r");
  if (f == nullptr) return -1;
  char buf[4096];
  size_t n;
  std::string out;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int st = ::pclose(f);
  if (output != nullptr) *output = std::move(out);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace mlahub::agents::testing
