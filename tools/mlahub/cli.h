// Shared plumbing of the mlahub command-line tool: error printing, exit codes,
// stdin/stdout helpers. Only main() and the Run* functions turn a Status into
// an exit code.
//
// Exit codes (README "Exit codes"):
//   0 success                       4 not found
//   1 internal error                5 I/O, permission or unavailable
//   2 usage / invalid argument      6 corruption or failed verification
//   3 refused: a named protocol error (bad_signature, expired, ...)
//   7 bad passphrase
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/directory/directory.h"
#include "mlahub/identity/keys.h"

namespace mlahub::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRefused = 3;
inline constexpr int kExitNotFound = 4;
inline constexpr int kExitIo = 5;
inline constexpr int kExitCorrupt = 6;
inline constexpr int kExitBadPassphrase = 7;

// The largest signed directory file the tool reads.
inline constexpr size_t kMaxDirectoryBytes = 64u << 20;

// `s` padded with spaces to at least `w` characters (table columns).
inline std::string PadRight(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

// A JSON object's member as text for a table: "" when absent or null, a
// string as is, anything else as JSON.
inline std::string Field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

int ExitCodeFor(const Status& s);

// Prints the error ("mlahub: <code>: <message>" on stderr, or a JSON object
// {"error":{"code":"...","message":"..."}} on stdout with --json) and
// returns its exit code.
int Fail(const Status& s, bool json);
// Fail, but a request the agent found incomplete or a step the workflow
// refuses (the agent's 422 / 409, messages "request incomplete: ..." /
// "step refused: ...") is exit 3, with the agent's words; with --json
// {"error":{"code":"incomplete_request"|"step_refused","message"}}.
int FailWorkflow(const Status& s, bool json);

// Whole of standard input (bounded), and binary-safe standard output.
Result<Bytes> ReadStdin(size_t max_bytes);
Status WriteStdout(ByteView data);

// Reads a passphrase: from the environment variable named `env_var` if set,
// else from the terminal without echo (twice if `confirm`). Empty if neither.
Result<std::string> ReadPassphrase(const std::string& env_var, bool confirm);

// Loads a node's key directory, asking for the passphrase (ReadPassphrase)
// only when node.key is protected.
Result<identity::NodeKeys> LoadKeyDirAsking(const std::string& dir, const std::string& passphrase_env);

// "a,b,,c" -> {"a","b","c"} (empty items dropped).
std::vector<std::string> SplitCsv(const std::string& s);

// Moves `d` to its next version (issued now), signs it with the operator's
// key and writes it atomically (mode 0644) to `file`. Used by `mlahub
// directory ...` and `mlahub network init`.
Status SignDirectoryTo(directory::Directory& d, const identity::NodeKeys& op, const std::string& file);

// Percent-encodes a URL query value (RFC 3986 unreserved characters kept).
inline std::string QueryEscape(std::string_view v) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// The query asking the agent to reveal victims' data (agents/README.md
// "Victims' data"): "reveal=1&reason=...&user=<$USER>"; the agent records it.
inline std::string RevealQuery(const std::string& reason) {
  std::string q = "reveal=1&reason=" + QueryEscape(reason);
  if (const char* u = std::getenv("USER"); u != nullptr && *u != 0) q += "&user=" + QueryEscape(u);
  return q;
}

// The process exit code set by whichever subcommand ran.
int& ExitCode();

// Each command group registers its subcommands on the root app.
void RegisterKeyCommands(CLI::App& app);       // keygen
void RegisterEnvelopeCommands(CLI::App& app);  // envelope seal|open|inspect
void RegisterRequestCommands(CLI::App& app);   // request template|kinds
void RegisterLedgerCommands(CLI::App& app);    // ledger ...
// The words of `text` wrapped to `width` columns, each line indented by
// `indent` spaces and ended by a newline (help texts, findings).
std::string Wrap(std::string_view text, size_t indent, size_t width);

void RegisterDirectoryCommands(CLI::App& app); // directory create|add|revoke|rotate|sign|show
void RegisterNetworkCommands(CLI::App& app);   // network init
void RegisterAgentCommands(CLI::App& app);     // send|status|inbox|outbox|show|alarms|agent (agent API)
void RegisterEvidenceCommands(CLI::App& app);  // evidence list|fetch (agent API)
void RegisterCaseCommands(CLI::App& app);      // list|case|respond|withdraw|extend|stats (agent API)
void RegisterDemoCommands(CLI::App& app);      // demo
void RegisterPolicyCommands(CLI::App& app);    // policy show|check

// Printers shared by the commands and `mlahub demo`: the people's view of
// GET /v1/cases/{id} (`mlahub case`, cmd_case.cc) and of
// GET /v1/messages/{id}/status (`mlahub status`, cmd_agent.cc), on stdout.
void PrintCaseView(const nlohmann::json& c);
void PrintMessageStatus(const nlohmann::json& status);

}  // namespace mlahub::cli
