#include "cli.h"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mlahub/core/clock.h"
#include "mlahub/core/file.h"

namespace mlahub::cli {

int& ExitCode() {
  static int code = kExitOk;
  return code;
}

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return kExitOk;
    case Code::kInvalidArgument: return kExitUsage;
    case Code::kNotFound: return kExitNotFound;
    case Code::kIoError:
    case Code::kUnavailable:
    case Code::kPermissionDenied:
    case Code::kAlreadyExists: return kExitIo;
    case Code::kCorruption: return kExitCorrupt;
    case Code::kBadPassphrase: return kExitBadPassphrase;
    case Code::kInternal: return kExitInternal;
    default: return static_cast<int>(s.code()) < 100 ? kExitRefused : kExitInternal;
  }
}

int Fail(const Status& s, bool json) {
  if (json) {
    nlohmann::json j;
    j["error"]["code"] = std::string(CodeName(s.code()));
    j["error"]["message"] = s.message();
    std::cout << j.dump() << std::endl;
  } else {
    std::cerr << "mlahub: " << s.ToString() << std::endl;
  }
  return ExitCodeFor(s);
}

Result<Bytes> ReadStdin(size_t max_bytes) {
  Bytes out;
  uint8_t buf[65536];
  for (;;) {
    size_t n = std::fread(buf, 1, sizeof buf, stdin);
    out.insert(out.end(), buf, buf + n);
    if (out.size() > max_bytes)
      return Status::Oversize("input is larger than the limit of " + std::to_string(max_bytes) + " bytes");
    if (n < sizeof buf) {
      if (std::ferror(stdin)) return Status::IoError("cannot read standard input");
      break;
    }
  }
  return out;
}

Status WriteStdout(ByteView data) {
  if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() || std::fflush(stdout) != 0)
    return Status::IoError("cannot write standard output");
  return Status::Ok();
}

namespace {
Result<std::string> PromptNoEcho(const char* prompt) {
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) return std::string();
  std::fputs(prompt, tty);
  std::fflush(tty);
  termios old{};
  int fd = fileno(tty);
  bool have = tcgetattr(fd, &old) == 0;
  if (have) {
    termios t = old;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &t);
  }
  char line[1024];
  std::string out;
  if (std::fgets(line, sizeof line, tty) != nullptr) out = line;
  if (have) tcsetattr(fd, TCSAFLUSH, &old);
  std::fputs("\n", tty);
  std::fclose(tty);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}
}  // namespace

Result<std::string> ReadPassphrase(const std::string& env_var, bool confirm) {
  if (const char* v = std::getenv(env_var.c_str()); v != nullptr) return std::string(v);
  if (!isatty(STDIN_FILENO) && !isatty(STDERR_FILENO)) return std::string();
  MLAHUB_ASSIGN_OR_RETURN(std::string first, PromptNoEcho("Passphrase: "));
  if (confirm && !first.empty()) {
    MLAHUB_ASSIGN_OR_RETURN(std::string second, PromptNoEcho("Passphrase again: "));
    if (first != second) return Status::InvalidArgument("the two passphrases differ");
  }
  return first;
}

Result<identity::NodeKeys> LoadKeyDirAsking(const std::string& dir, const std::string& passphrase_env) {
  MLAHUB_ASSIGN_OR_RETURN(bool prot, identity::KeyDirIsProtected(dir));
  std::string pass;
  if (prot) {
    MLAHUB_ASSIGN_OR_RETURN(pass, ReadPassphrase(passphrase_env, /*confirm=*/false));
  }
  return identity::LoadKeyDir(dir, pass);
}

std::vector<std::string> SplitCsv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

Status SignDirectoryTo(directory::Directory& d, const identity::NodeKeys& op, const std::string& file) {
  d.NextVersion(SystemClock::Instance().NowMillis());
  Bytes signed_dir = d.Sign(op.sign, op.id);
  return WriteFileAtomic(file, signed_dir, 0644);
}

std::string Wrap(std::string_view text, size_t indent, size_t width) {
  std::string out, line;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty()) continue;
    if (!line.empty() && indent + line.size() + 1 + word.size() > width) {
      out += std::string(indent, ' ') + line + "\n";
      line.clear();
    }
    line += line.empty() ? "" : " ";
    line += word;
  }
  if (!line.empty()) out += std::string(indent, ' ') + line + "\n";
  return out;
}

int FailWorkflow(const Status& s, bool as_json) {
  const std::string& m = s.message();
  const bool step = m.rfind("step refused: ", 0) == 0;
  if (!step && m.rfind("request incomplete: ", 0) != 0) return Fail(s, as_json);
  if (as_json) {
    std::cout << nlohmann::json{{"error", {{"code", step ? "step_refused" : "incomplete_request"}, {"message", m}}}}.dump()
              << std::endl;
  } else {
    std::cerr << "mlahub: not sent: " << m << std::endl;
  }
  return kExitRefused;
}

}  // namespace mlahub::cli
