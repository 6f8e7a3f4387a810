// mlahub demo: the README's main command. On one machine, with embedded
// defaults, it creates a network of four central authorities (the same
// `mlahub network init`), starts the hub (mlahub-broker) and one agent
// (mlahub-agent) per authority on free loopback ports, and plays one
// trafficking case end to end through the agents' local HTTP API - the calls
// the `mlahub` commands make:
//
//   Italy -> Nigeria   MLA request (bank records, a witness statement):
//                      acknowledged, further information asked and given,
//                      executed with evidence files (streams, hash-checked)
//   Italy -> Nigeria   provisional arrest, then the extradition request,
//                      refused solely on nationality (grounds and reasons):
//                      the extradite-or-prosecute follow-up stays open until
//                      Nigeria's submission-for-prosecution notice
//   Italy -> Thailand  document verification (Protocol Art. 13)
//   Italy -> UK        a victim's nationality verification (Art. 8(3))
//
// then prints each request's timeline and clocks (the printers of `mlahub
// case` / `mlahub status`), proves one message's ledger entry against the
// hub's signed checkpoint, and stops every daemon with SIGTERM (exit 0 of
// each checked). Exit 0 on success, 1 naming the failed step and the logs.
//
// Driven by one thread; the daemons are child processes (ops::Child).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "cli.h"
#include "demo_bodies.h"
#include "mlahub/agents/api_client.h"
#include "mlahub/agents/auditor.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/crypto/hash.h"
#include "mlahub/directory/directory.h"
#include "mlahub/identity/keys.h"
#include "mlahub/ops/process.h"
#include "mlahub/storage/ledger.h"
#include "mlahub/storage/ledger_entry.h"
#include "mlahub/storage/merkle.h"
#include "mlahub/storage/note.h"

namespace mlahub::cli {
namespace demo {

using Json = nlohmann::json;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

// The authorities of the demo: the requesting state first.
constexpr const char* kIT = "IT-MOJ";
constexpr const char* kNG = "NG-AGF";
constexpr const char* kTH = "TH-OAG";
constexpr const char* kGB = "GB-UKCA";
constexpr int kPortsNeeded = 20;  // P .. P+19 (layout: P+10+2i, P+11+2i for 4 nodes)
constexpr const char* kMarker = ".mlahub-demo";

volatile std::sig_atomic_t g_demo_interrupted = 0;
void OnDemoSignal(int) { g_demo_interrupted = 1; }

struct DemoOptions {
  std::string dir = "demo-out";
  std::string bin_dir;
  bool force = false;
  bool keep_running = false;
  bool json = false;
  int timeout_s = 120;
};

std::string Sha256Hex(ByteView b) {
  crypto::Digest32 d = crypto::Sha256(b);
  return crypto::ToHex(ByteView(d.data(), d.size()));
}

std::string B64Hash(const storage::Hash& h) { return crypto::ToBase64(ByteView(h.data(), h.size())); }

std::string JStr(const Json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string Seconds(Steady::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

// Generated evidence (a few MiB): bank statements of account P1, the branch
// manager's statement, and "scanned" account-opening documents.
Result<std::vector<std::string>> GenerateEvidence(const std::string& dir) {
  MLAHUB_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  std::vector<std::string> paths;
  std::mt19937_64 rng(20260601);
  {
    std::string csv = "date,transaction_id,direction,amount,currency,counterparty_account,narrative\n";
    int day = 0;
    for (uint64_t n = 1; csv.size() < (3u << 20); ++n) {
      if (n % 40 == 0) ++day;
      char line[200];
      uint64_t r = rng();
      std::snprintf(line, sizeof line, "2025-%02d-%02d,TRF-%08llu,%s,%llu.%02llu,NGN,%010llu,%s\n",
                    1 + (day / 28) % 12, 1 + day % 28, static_cast<unsigned long long>(n),
                    (r & 1) ? "credit" : "debit", static_cast<unsigned long long>(20000 + r % 900000),
                    static_cast<unsigned long long>((r >> 20) % 100),
                    static_cast<unsigned long long>((r >> 24) % 10000000000ull),
                    (r & 1) ? "RECRUITMENT FEE" : "CASH WITHDRAWAL");
      csv += line;
    }
    paths.push_back(dir + "/statements-account-P1.csv");
    MLAHUB_RETURN_IF_ERROR(WriteFileAtomic(paths.back(), AsBytes(csv), 0600));
  }
  {
    std::string text =
        "STATEMENT OF WITNESS (item A2 of the request; UNTOC Art. 18(3)(a))\n"
        "Taken before a judge of the Federal High Court, Lagos, with the Italian prosecutor following by "
        "videoconference (UNTOC Art. 18(18)).\n\n"
        "Q: Who opened the account and with which identity documents?\n"
        "A: The account holder came in person with a national identity card and a utility bill.\n\n"
        "Q: Who operated it?\n"
        "A: Mostly by mobile banking; large cash withdrawals were made at the branch by two other persons.\n";
    paths.push_back(dir + "/witness-statement-A2.txt");
    MLAHUB_RETURN_IF_ERROR(WriteFileAtomic(paths.back(), AsBytes(text), 0600));
  }
  {
    Bytes scan(1u << 20);
    for (size_t i = 0; i < scan.size(); i += 8) {
      uint64_t r = rng();
      for (size_t k = 0; k < 8 && i + k < scan.size(); ++k) scan[i + k] = static_cast<uint8_t>(r >> (8 * k));
    }
    paths.push_back(dir + "/account-opening-P1.scan");
    MLAHUB_RETURN_IF_ERROR(WriteFileAtomic(paths.back(), scan, 0600));
  }
  return paths;
}

class Demo {
 public:
  explicit Demo(DemoOptions o) : o_(std::move(o)) {}
  int Run();

 private:
  struct Node {
    std::string id;
    std::string config;
    std::string data;
    std::optional<ops::Child> child;
    std::optional<agents::ApiClient> api;
  };

  // ---- plumbing ----
  bool Human() const { return !o_.json; }
  void Say(const std::string& text) {
    if (Human()) std::cout << text << std::flush;
  }
  bool Step(const std::string& name, const std::string& title, const std::function<Status()>& fn);
  Status WaitFor(const std::string& what, const std::function<Result<bool>(std::string*)>& cond);
  Node& N(const std::string& id) { return nodes_.at(id); }
  Result<Json> Get(const std::string& node, const std::string& path);
  Result<std::string> Send(const std::string& from, const std::string& to, const std::string& kind, Json body,
                           const std::string& label, const std::string& legal_basis, const std::string& priority,
                           const std::string& case_ref);
  Result<std::string> Answer(const std::string& node, const std::string& case_id, const std::string& kind, Json body,
                             const std::string& label);
  Status WaitStage(const std::string& node, const std::string& case_id, const std::string& stage);
  Status WaitReceipt(const std::string& from, const std::string& id);
  Status ShowClocks(const std::string& node, const std::string& label);
  Result<Json> WaitReady(ops::Child& child, const std::string& ready, const std::string& name,
                         const std::string& log);
  void Narrate(const std::string& from, const std::string& to, const std::string& kind, const std::string& id,
               const std::string& note = "");

  // ---- steps ----
  Status PrepareDir();
  Status InitNetwork();
  Status StartDaemons();
  Status MlaRequest();
  Status FurtherInformation();
  Status ExecuteWithEvidence();
  Status ProvisionalArrest();
  Status ExtraditionRefused();
  Status ProsecutionNotice();
  Status DocumentVerification();
  Status NationalityVerification();
  // A verification request (Protocol Arts. 8, 13) from Italy to `to`,
  // answered with `result` (a VerificationResult), until Italy sees it executed.
  Status Verification(const std::string& to, const std::string& kind, Json body, const std::string& label,
                      const std::string& priority, const std::string& case_ref, Json result,
                      const std::string& result_label);
  Status Timelines();
  Status LedgerProof();
  Status StopAll();
  void KeepRunning();
  void StopQuietly();
  int Finish();

  DemoOptions o_;
  fs::path root_, net_dir_, logs_;
  std::string self_, bin_dir_;
  Json network_;
  std::map<std::string, Node> nodes_;
  std::vector<std::string> order_ = {kIT, kNG, kTH, kGB};
  std::optional<ops::Child> broker_;
  std::optional<crypto::SignPublicKey> hub_key_;
  std::string hub_id_;

  int step_no_ = 0;
  std::string failed_step_, failed_error_;
  Json steps_ = Json::array();
  Json messages_ = Json::object();   // label -> {id, kind, from, to}
  Json cases_ = Json::object();      // label -> case id
  Json evidence_ = Json::object();
  Json ledger_proof_ = Json::object();
  Json timelines_ = Json::object();  // label -> {"case": GET /v1/cases/{id} at IT, "status": ...}
  Json daemons_ = Json::array();
  Json clocks_ = Json::object();     // label -> the clocks running at a moment of the case
  std::map<std::string, std::string> sent_hashes_;  // file name -> SHA-256 of what Nigeria sent
};

bool Demo::Step(const std::string& name, const std::string& title, const std::function<Status()>& fn) {
  ++step_no_;
  if (!failed_step_.empty()) return false;
  const bool tty_progress = o_.json && ::isatty(STDERR_FILENO) == 1;
  std::string head = std::to_string(step_no_) + "/" + std::to_string(o_.keep_running ? 14 : 13) + " " + title;
  if (Human()) std::cout << "\n\033[1m== " << head << "\033[0m\n" << std::flush;
  if (tty_progress) std::cerr << "[" << head << "] ..." << std::flush;
  auto t0 = Steady::now();
  Status s = g_demo_interrupted ? Status::Unavailable("interrupted") : fn();
  auto took = Steady::now() - t0;
  Json rec = {{"name", name}, {"title", title}, {"ok", s.ok()}, {"seconds", std::chrono::duration<double>(took).count()}};
  if (!s.ok()) rec["error"] = s.ToString();
  steps_.push_back(rec);
  if (tty_progress) std::cerr << (s.ok() ? " ok (" + Seconds(took) + ")" : " FAILED") << "\n";
  if (!s.ok()) {
    failed_step_ = name;
    failed_error_ = s.ToString();
    if (o_.json) std::cerr << "mlahub demo: step " << step_no_ << " '" << name << "' failed: " << s.ToString() << "\n";
  }
  return s.ok();
}

Status Demo::WaitFor(const std::string& what, const std::function<Result<bool>(std::string*)>& cond) {
  const auto deadline = Steady::now() + std::chrono::seconds(o_.timeout_s);
  std::string last;
  for (;;) {
    if (g_demo_interrupted) return Status::Unavailable("interrupted while waiting for " + what);
    auto r = cond(&last);
    if (r.ok() && *r) return Status::Ok();
    // Unavailable (an agent not answering yet) and not_found (a case not yet
    // there) pass; anything else is the answer.
    if (!r.ok() && r.status().code() != Code::kUnavailable && r.status().code() != Code::kNotFound)
      return r.status().Annotate("while waiting for " + what);
    if (!r.ok()) last = r.status().ToString();
    if (Steady::now() > deadline)
      return Status::Unavailable("waited " + std::to_string(o_.timeout_s) + " s for " + what +
                                 (last.empty() ? "" : "; last seen: " + last));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<Json> Demo::Get(const std::string& node, const std::string& path) { return N(node).api->Get(path); }

void Demo::Narrate(const std::string& from, const std::string& to, const std::string& kind, const std::string& id,
                   const std::string& note) {
  char line[256];
  std::snprintf(line, sizeof line, "  %-8s -> %-8s %-31s %s", from.c_str(), to.c_str(), kind.c_str(), id.c_str());
  Say(std::string(line) + (note.empty() ? "" : "\n      " + note) + "\n");
}

Result<std::string> Demo::Send(const std::string& from, const std::string& to, const std::string& kind, Json body,
                               const std::string& label, const std::string& legal_basis,
                               const std::string& priority, const std::string& case_ref) {
  Json req = {{"to", to}, {"kind", kind}, {"body", std::move(body)}, {"legal_basis", legal_basis},
              {"priority", priority}, {"handling", "H2"}, {"case_ref", case_ref}};
  auto r = N(from).api->PostJson("/v1/messages", req);
  if (!r.ok()) return r.status().Annotate(from + " sending the " + kind);
  std::string id = JStr(*r, "message_id");
  messages_[label] = {{"id", id}, {"kind", kind}, {"from", from}, {"to", to}};
  cases_[label] = id;
  Narrate(from, to, kind, id);
  return id;
}

Result<std::string> Demo::Answer(const std::string& node, const std::string& case_id, const std::string& kind,
                                 Json body, const std::string& label) {
  MLAHUB_ASSIGN_OR_RETURN(Json c, Get(node, "/v1/cases/" + case_id));
  Json req = {{"to", JStr(c, "partner")}, {"kind", kind}, {"body", std::move(body)}, {"in_reply_to", case_id}};
  if (!JStr(c, "case_ref").empty()) req["case_ref"] = JStr(c, "case_ref");
  auto r = N(node).api->PostJson("/v1/messages", req);
  if (!r.ok()) return r.status().Annotate(node + " sending the " + kind);
  std::string id = JStr(*r, "message_id");
  messages_[label] = {{"id", id}, {"kind", kind}, {"from", node}, {"to", JStr(c, "partner")}, {"case", case_id}};
  Narrate(node, JStr(c, "partner"), kind, id);
  return id;
}

Status Demo::WaitStage(const std::string& node, const std::string& case_id, const std::string& stage) {
  MLAHUB_RETURN_IF_ERROR(WaitFor("case " + case_id + " at " + node + " to reach stage '" + stage + "'",
                                 [&](std::string* last) -> Result<bool> {
                                   MLAHUB_ASSIGN_OR_RETURN(Json c, Get(node, "/v1/cases/" + case_id));
                                   *last = "stage " + JStr(c, "stage");
                                   return JStr(c, "stage") == stage;
                                 }));
  Say("      " + node + " sees the case as: " + stage + "\n");
  return Status::Ok();
}

Status Demo::WaitReceipt(const std::string& from, const std::string& id) {
  return WaitFor("the signed receipt of " + id + " at " + from, [&](std::string* last) -> Result<bool> {
    MLAHUB_ASSIGN_OR_RETURN(Json s, Get(from, "/v1/messages/" + id + "/status"));
    *last = "state " + JStr(s, "state");
    return JStr(s, "state") == "receipted";
  });
}

// The last lines of a daemon's log, for an error message.
std::string LogTail(const std::string& path, size_t lines = 6) {
  auto b = ReadFile(path, 16u << 20);
  if (!b.ok()) return "  (no log: " + b.status().ToString() + ")";
  std::vector<std::string> all;
  std::istringstream in(std::string(b->begin(), b->end()));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) all.push_back(line.substr(0, 300));
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "  | " + all[i] + "\n";
  return out;
}

// "6d23h" / "3h12m" / "OVERDUE 1d2h".
std::string TimeLeft(const Json& v) {
  if (!v.is_number_integer()) return "-";
  int64_t ms = v.get<int64_t>();
  const int64_t a = ms < 0 ? -ms : ms, h = a / 3600000, d = h / 24;
  std::string t = d > 0 ? std::to_string(d) + "d" + std::to_string(h % 24) + "h"
                        : std::to_string(h) + "h" + std::to_string(a / 60000 % 60) + "m";
  return ms < 0 ? "OVERDUE " + t : t + " left";
}

// The clocks running now in the case `label` at `node` (GET /v1/cases/{id}).
Status Demo::ShowClocks(const std::string& node, const std::string& label) {
  MLAHUB_ASSIGN_OR_RETURN(Json c, Get(node, "/v1/cases/" + JStr(cases_, label.c_str())));
  Json seen = {{"node", node}, {"stage", JStr(c, "stage")}, {"clocks", c["clocks"]}, {"follow_ups", c["follow_ups"]}};
  clocks_[label + "@" + node] = seen;
  for (const Json& k : c["clocks"]) {
    char line[400];
    std::snprintf(line, sizeof line, "      clock %-26s %-8s due %-25s %-14s %s\n", JStr(k, "name").c_str(),
                  JStr(k, "owner").c_str(), JStr(k, "due").c_str(), TimeLeft(k["time_left_ms"]).c_str(),
                  JStr(k, "citation").c_str());
    Say(line);
  }
  return Status::Ok();
}

Result<Json> Demo::WaitReady(ops::Child& child, const std::string& ready, const std::string& name,
                             const std::string& log) {
  Json out;
  MLAHUB_RETURN_IF_ERROR(WaitFor(name + " to write " + ready, [&](std::string* last) -> Result<bool> {
    if (!child.running()) return Status::Internal(name + " exited during start-up; its log " + log + " ends:\n" + LogTail(log));
    if (!FileExists(ready)) return false;
    auto b = ReadFile(ready, 1 << 16);
    if (!b.ok()) return false;
    Json j = Json::parse(b->begin(), b->end(), nullptr, false);
    if (!j.is_object() || !j.contains("pid") || j["pid"] != child.pid()) {
      *last = "a ready.json of another process";
      return false;
    }
    out = j;
    return true;
  }));
  return out;
}

// ---- steps ----

Status Demo::PrepareDir() {
  std::error_code ec;
  root_ = fs::absolute(o_.dir, ec).lexically_normal();
  if (ec) return Status::InvalidArgument("--dir " + o_.dir + ": " + ec.message());
  if (!root_.has_filename()) root_ = root_.parent_path();
  if (fs::exists(root_, ec)) {
    if (!fs::is_directory(root_, ec)) return Status::AlreadyExists(root_.string() + " exists and is not a directory");
    if (!fs::is_empty(root_, ec)) {
      if (!o_.force)
        return Status::AlreadyExists(root_.string() + " is not empty: give --force to recreate it (only a directory "
                                     "an earlier `mlahub demo` made), or choose another --dir");
      if (!fs::exists(root_ / kMarker, ec))
        return Status::AlreadyExists(root_.string() + " is not empty and was not made by `mlahub demo` (no " +
                                     kMarker + "): --force recreates only a demo's own directory");
      fs::remove_all(root_, ec);
      if (ec) return Status::IoError("cannot remove " + root_.string() + ": " + ec.message());
    }
  }
  net_dir_ = root_ / "net";
  logs_ = root_ / "logs";
  MLAHUB_RETURN_IF_ERROR(MakeDirs(logs_.string(), 0755));
  MLAHUB_RETURN_IF_ERROR(WriteFileAtomic((root_ / kMarker).string(), AsBytes("made by mlahub demo\n"), 0644));
  self_ = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) return Status::IoError("cannot find the running mlahub (/proc/self/exe): " + ec.message());
  bin_dir_ = o_.bin_dir.empty() ? fs::path(self_).parent_path().string() : fs::absolute(o_.bin_dir).string();
  for (const char* d : {"mlahub-broker", "mlahub-agent"})
    if (::access((fs::path(bin_dir_) / d).c_str(), X_OK) != 0)
      return Status::NotFound(
          (fs::path(bin_dir_) / d).string() +
          " is not an executable: build the daemons (ninja -C build mlahub-broker mlahub-agent) or give --bin-dir");
  return Status::Ok();
}

Status Demo::InitNetwork() {
  MLAHUB_ASSIGN_OR_RETURN(uint16_t base, ops::FreePortRange(kPortsNeeded));
  std::string nodes;
  for (const auto& id : order_) nodes += (nodes.empty() ? "" : ",") + id;
  auto run = ops::RunCommand({self_, "network", "init", "--dir", net_dir_.string(), "--nodes", nodes, "--network",
                              "palermo-demo", "--base-port", std::to_string(base), "--json"},
                             (logs_ / "mlahub.log").string(), std::chrono::seconds(120));
  if (!run.ok()) return run.status().Annotate("mlahub network init");
  if (run->exit_code != 0)
    return Status::Internal("mlahub network init exited with " + std::to_string(run->exit_code) + ": " + run->out);
  network_ = Json::parse(run->out, nullptr, false);
  if (!network_.is_object()) return Status::Internal("mlahub network init printed no JSON: " + run->out);
  for (const Json& n : network_["nodes"]) {
    Node node;
    node.id = JStr(n, "id");
    node.config = JStr(n, "config");
    node.data = JStr(n, "data");
    nodes_[node.id] = std::move(node);
  }
  // The signed directory, checked with the operator's root key: every
  // authority a party to UNTOC and the Protocol (the legal bases used here),
  // and the hub's key, which signs the ledger's checkpoints.
  MLAHUB_ASSIGN_OR_RETURN(identity::PublicIdentity op, identity::LoadIdentity(JStr(network_["operator"], "identity")));
  MLAHUB_ASSIGN_OR_RETURN(Bytes signed_dir, ReadFile(JStr(network_["directory"], "file")));
  MLAHUB_ASSIGN_OR_RETURN(directory::Directory dir, directory::Directory::Verify(signed_dir, op.sign_key));
  for (const auto& id : order_) {
    const directory::Entry* e = dir.Find(id);
    if (e == nullptr) return Status::NotFound(id + " is not in the signed directory");
    if (!e->untoc_party || !e->protocol_party)
      return Status::InvalidArgument(id + " is not listed as a party to UNTOC and the Protocol");
  }
  hub_id_ = JStr(network_["hub"], "id");
  const directory::Entry* hub = dir.Find(hub_id_);
  if (hub == nullptr) return Status::NotFound("the hub " + hub_id_ + " is not in the signed directory");
  hub_key_ = hub->identity.sign_key;
  Say("  network 'palermo-demo' in " + net_dir_.string() + " (signed directory version " +
      JStr(network_["directory"], "version") + ", base port " + std::to_string(base) + ")\n");
  Say("  hub " + hub_id_ + " at " + JStr(network_["hub"], "endpoint") + "; authorities:\n");
  for (const Json& n : network_["nodes"])
    Say("    " + (JStr(n, "id") + "        ").substr(0, 8) + " API " + JStr(n, "api") + "  (UNTOC and Palermo Protocol party)\n");
  return Status::Ok();
}

Status Demo::StartDaemons() {
  const std::string blog = (logs_ / "broker.log").string();
  MLAHUB_ASSIGN_OR_RETURN(ops::Child b, ops::Child::Spawn({bin_dir_ + "/mlahub-broker", "--config",
                                                           JStr(network_["hub"], "config")},
                                                          {.log_file = blog}));
  broker_.emplace(std::move(b));
  MLAHUB_ASSIGN_OR_RETURN(Json br, WaitReady(*broker_, JStr(network_["hub"], "ready"), "mlahub-broker", blog));
  Say("  mlahub-broker  pid " + JStr(br, "pid") + "  " + JStr(br, "endpoint") + "\n");
  for (const auto& id : order_) {
    Node& n = N(id);
    const std::string log = (logs_ / (id + ".log")).string();
    MLAHUB_ASSIGN_OR_RETURN(ops::Child c, ops::Child::Spawn({bin_dir_ + "/mlahub-agent", "--config", n.config},
                                                                             {.log_file = log}));
    n.child.emplace(std::move(c));
  }
  for (const auto& id : order_) {
    Node& n = N(id);
    const std::string log = (logs_ / (id + ".log")).string();
    MLAHUB_ASSIGN_OR_RETURN(Json r, WaitReady(*n.child, n.data + "/ready.json", "mlahub-agent " + id, log));
    MLAHUB_ASSIGN_OR_RETURN(agents::ApiClient api, agents::ApiClient::FromConfigFile(n.config));
    n.api.emplace(std::move(api));
    // Connected to the hub before anything is sent.
    MLAHUB_RETURN_IF_ERROR(WaitFor(id + " to connect to the hub", [&](std::string* last) -> Result<bool> {
      MLAHUB_ASSIGN_OR_RETURN(Json h, n.api->Get("/v1/health"));
      *last = "connection " + JStr(h, "connection");
      return JStr(h, "connection") == "connected";
    }));
    Say("  mlahub-agent   pid " + JStr(r, "pid") + "  " + (id + "        ").substr(0, 8) + " " + JStr(r, "api") +
        "  connected\n");
  }
  return Status::Ok();
}

Status Demo::MlaRequest() {
  Say("  Palermo asks Lagos for the statements of account P1 (A1) and the branch manager's statement (A2),\n"
      "  under UNTOC Art. 18; urgent, a child victim (Protocol Art. 6(4)). End-to-end encrypted and signed.\n");
  MLAHUB_ASSIGN_OR_RETURN(std::string id, Send(kIT, kNG, "MlaRequest", demo::MlaRequestBody(), "mla_request",
                                               "Untoc", "Urgent", "IT-MOJ/2026/0042"));
  MLAHUB_RETURN_IF_ERROR(WaitReceipt(kIT, id));
  Say("      delivered; Nigeria's agent signed a receipt\n");
  MLAHUB_RETURN_IF_ERROR(WaitStage(kNG, id, "received"));
  Say("      Nigeria's clocks start at receipt:\n");
  MLAHUB_RETURN_IF_ERROR(ShowClocks(kNG, "mla_request"));
  MLAHUB_ASSIGN_OR_RETURN(
      std::string ack, Answer(kNG, id, "Acknowledgement",
                              {{"received_ms", SystemClock::Instance().NowMillis()}, {"reference", "NG-AGF/MLA/2026/17"}},
                              "mla_acknowledgement"));
  (void)ack;
  return WaitStage(kIT, id, "acknowledged");
}

Status Demo::FurtherInformation() {
  const std::string id = JStr(cases_, "mla_request");
  Say("  Nigeria needs more before it can seek a production order (UNTOC Art. 18(16)).\n");
  Json q = {{"items",
             {{{"label", "Q1"},
               {"item_labels", {"A1"}},
               {"question", "Which branch of the bank holds account P1?"},
               {"reason", "The production order is addressed to the branch that keeps the records."}}}}};
  MLAHUB_RETURN_IF_ERROR(Answer(kNG, id, "FurtherInformationRequest", q, "mla_further_information").status());
  MLAHUB_RETURN_IF_ERROR(WaitStage(kIT, id, "further_information_requested"));
  Json a = {{"answers", {{{"label", "Q1"}, {"answer", "The Marina branch, Lagos Island (sort code on the deposit slips)."}}}}};
  MLAHUB_RETURN_IF_ERROR(Answer(kIT, id, "FurtherInformationReply", a, "mla_further_information_reply").status());
  return WaitStage(kNG, id, "acknowledged");
}

Status Demo::ExecuteWithEvidence() {
  const std::string id = JStr(cases_, "mla_request");
  MLAHUB_RETURN_IF_ERROR(Answer(kNG, id, "Decision",
                                {{"outcome", "Execute"}, {"decided_ms", SystemClock::Instance().NowMillis()},
                                 {"deciding_authority", demo::NigerianAuthority()}},
                                "mla_decision")
                             .status());
  MLAHUB_RETURN_IF_ERROR(WaitStage(kIT, id, "in_execution"));
  MLAHUB_RETURN_IF_ERROR(ShowClocks(kNG, "mla_request"));

  // Nigeria's files: generated here, spooled by Nigeria's agent (POST
  // /v1/evidence, as `mlahub send --evidence` does), sent as encrypted streams.
  const std::string out = (root_ / "evidence" / "sent-by-NG-AGF").string();
  MLAHUB_ASSIGN_OR_RETURN(std::vector<std::string> paths, GenerateEvidence(out));
  uint64_t total = 0;
  for (const auto& p : paths) {
    MLAHUB_ASSIGN_OR_RETURN(Bytes b, ReadFile(p));
    total += b.size();
    sent_hashes_[fs::path(p).filename().string()] = Sha256Hex(b);
  }
  MLAHUB_ASSIGN_OR_RETURN(Json spooled, N(kNG).api->PostJson("/v1/evidence",
                                                             Json{{"paths", paths},
                                                                  {"chain_of_custody",
                                                                   "Produced by the bank under production order "
                                                                   "FHC/L/PO/88/2026; statement taken on 2026-11-20"}}));
  Json report = {{"completeness", "Full"},
                 {"executed_ms", SystemClock::Instance().NowMillis()},
                 {"executing_authority", demo::NigerianAuthority()},
                 {"summary", "A1: certified statements of account P1 and the account-opening file. A2: the branch "
                             "manager's statement, taken before a judge with Palermo following by videoconference."},
                 {"items_executed", {"A1", "A2"}},
                 {"evidence", {{"files", spooled["files"]}}},
                 {"procedures_followed", "Yes: certified copies with the bank's certificate of authenticity."}};
  MLAHUB_ASSIGN_OR_RETURN(std::string rid, Answer(kNG, id, "ExecutionReport", report, "mla_execution_report"));
  char mib[32];
  std::snprintf(mib, sizeof mib, "%.1f MiB", double(total) / (1024.0 * 1024.0));
  Say("      with " + std::to_string(paths.size()) + " evidence files (" + mib +
      ") as encrypted, resumable streams\n");
  MLAHUB_RETURN_IF_ERROR(WaitStage(kIT, id, "executed"));

  // Italy: wait for every stream, have the agent write the files (it checks
  // size and SHA-256), and check them once more against what Nigeria sent.
  MLAHUB_RETURN_IF_ERROR(WaitFor("the evidence streams of " + rid + " at " + kIT, [&](std::string* last) -> Result<bool> {
    MLAHUB_ASSIGN_OR_RETURN(Json ev, Get(kIT, "/v1/evidence/" + rid));
    size_t complete = 0, n = 0;
    for (const Json& f : ev["files"]) {
      if (JStr(f, "direction") != "in") continue;
      ++n;
      if (JStr(f, "state") == "failed")
        return Status::Corruption("transfer of " + JStr(f, "file_name") + " failed: " + JStr(f, "failure"));
      if (JStr(f, "state") == "complete") ++complete;
    }
    *last = std::to_string(complete) + "/" + std::to_string(n) + " files complete";
    return n == paths.size() && complete == n;
  }));
  const std::string dest = (root_ / "evidence" / "received-by-IT-MOJ").string();
  MLAHUB_RETURN_IF_ERROR(MakeDirs(dest, 0700));
  MLAHUB_ASSIGN_OR_RETURN(Json fetched, N(kIT).api->PostJson("/v1/evidence/" + rid + "/fetch", Json{{"out_dir", dest}}));
  Json files = Json::array();
  for (const Json& f : fetched["files"]) {
    std::string name = JStr(f, "file_name"), path = JStr(f, "path");
    MLAHUB_ASSIGN_OR_RETURN(Bytes b, ReadFile(path));
    std::string got = Sha256Hex(b);
    auto it = sent_hashes_.find(name);
    if (it == sent_hashes_.end()) return Status::Corruption("Italy received a file Nigeria did not send: " + name);
    if (it->second != got)
      return Status::Corruption(name + ": SHA-256 " + got + " differs from what Nigeria sent (" + it->second + ")");
    files.push_back({{"file_name", name}, {"size_bytes", b.size()}, {"sha256", got}, {"path", path}, {"match", true}});
    char line[256];
    std::snprintf(line, sizeof line, "      %-28s %9zu bytes  sha256 %.16s...  same as sent\n", name.c_str(), b.size(),
                  got.c_str());
    Say(line);
  }
  if (files.size() != paths.size())
    return Status::Corruption("Italy fetched " + std::to_string(files.size()) + " files, Nigeria sent " +
                              std::to_string(paths.size()));
  evidence_ = {{"message_id", rid}, {"received_dir", dest}, {"files", files}};
  Say("  Italy fetched the files into " + dest + " and checked every hash.\n");
  MLAHUB_RETURN_IF_ERROR(Answer(kIT, id, "CaseClosed",
                                {{"reason", "Executed"}, {"closed_ms", SystemClock::Instance().NowMillis()}},
                                "mla_closed")
                             .status());
  return WaitStage(kNG, id, "closed");
}

Status Demo::ProvisionalArrest() {
  Say("  S1, the organiser, is about to fly out of Lagos: Palermo asks for his provisional arrest (UNTOC 16(9)).\n");
  MLAHUB_ASSIGN_OR_RETURN(std::string id, Send(kIT, kNG, "ProvisionalArrestRequest", demo::ProvisionalArrestBody(),
                                               "provisional_arrest", "Untoc", "Urgent", "IT-MOJ/2026/0042-PA"));
  MLAHUB_RETURN_IF_ERROR(WaitStage(kNG, id, "received"));
  const UnixMillis now = SystemClock::Instance().NowMillis();
  MLAHUB_RETURN_IF_ERROR(
      Answer(kNG, id, "Acknowledgement", {{"received_ms", now}, {"reference", "NG-AGF/EXT/2026/5"}}, "pa_acknowledgement")
          .status());
  MLAHUB_RETURN_IF_ERROR(WaitStage(kIT, id, "acknowledged"));
  MLAHUB_RETURN_IF_ERROR(Answer(kNG, id, "Decision",
                                {{"outcome", "Execute"}, {"decided_ms", now},
                                 {"deciding_authority", demo::NigerianAuthority()},
                                 {"conditions", {"Held in custody pending the full extradition request"}}},
                                "pa_decision")
                             .status());
  MLAHUB_RETURN_IF_ERROR(WaitStage(kIT, id, "in_execution"));
  MLAHUB_RETURN_IF_ERROR(Answer(kNG, id, "ExecutionReport",
                                {{"completeness", "Full"},
                                 {"executed_ms", SystemClock::Instance().NowMillis()},
                                 {"executing_authority", demo::NigerianAuthority()},
                                 {"summary", "S1 was arrested at Murtala Muhammed Airport, Lagos, and is held in "
                                             "custody pending the full extradition request."}},
                                "pa_execution_report")
                             .status());
  MLAHUB_RETURN_IF_ERROR(WaitStage(kIT, id, "executed"));
  Say("      S1 is arrested; Italy's clock for the full extradition request is now running:\n");
  return ShowClocks(kIT, "provisional_arrest");
}

Status Demo::ExtraditionRefused() {
  Say("  Palermo sends the full extradition request (UNTOC Art. 16), naming the provisional arrest it follows:\n"
      "      that stops the clock for the full request at both ends.\n");
  demo::BodyJson body = demo::ExtraditionBody();
  body["provisional_arrest_ref"] = JStr(cases_, "provisional_arrest");
  MLAHUB_ASSIGN_OR_RETURN(std::string id, Send(kIT, kNG, "ExtraditionRequest", body, "extradition",
                                               "Untoc", "Urgent", "IT-MOJ/2026/0042-EXT"));
  MLAHUB_RETURN_IF_ERROR(WaitStage(kNG, id, "received"));
  // The full request is in: the provisional arrest case has served its purpose.
  Say("  The full request is in: Italy closes the provisional arrest case (merged into the extradition request).\n");
  MLAHUB_RETURN_IF_ERROR(Answer(kIT, JStr(cases_, "provisional_arrest"), "CaseClosed",
                                {{"reason", "Merged"}, {"closed_ms", SystemClock::Instance().NowMillis()}},
                                "pa_closed")
                             .status());
  MLAHUB_RETURN_IF_ERROR(WaitStage(kNG, JStr(cases_, "provisional_arrest"), "closed"));
  MLAHUB_RETURN_IF_ERROR(Answer(kNG, id, "Acknowledgement",
                                {{"received_ms", SystemClock::Instance().NowMillis()}, {"reference", "NG-AGF/EXT/2026/6"}},
                                "ext_acknowledgement")
                             .status());
  MLAHUB_RETURN_IF_ERROR(WaitStage(kIT, id, "acknowledged"));
  // A refusal without reasons never leaves Nigeria's agent (UNTOC 18(23), 16).
  auto bare = N(kNG).api->PostJson(
      "/v1/messages", Json{{"to", kIT},
                           {"kind", "Decision"},
                           {"in_reply_to", id},
                           {"body", {{"outcome", "Refuse"}, {"decided_ms", SystemClock::Instance().NowMillis()}}}});
  if (bare.ok()) return Status::Internal("Nigeria's agent sent a refusal without grounds and reasons");
  if (bare.status().message().rfind("step refused: ", 0) != 0)
    return bare.status().Annotate("a refusal without grounds was refused, but not as a workflow step");
  Say("  A refusal without grounds and reasons is stopped by Nigeria's own agent before anything is sent:\n      " +
      bare.status().message().substr(0, 150) + "...\n");
  MLAHUB_RETURN_IF_ERROR(Answer(kNG, id, "Decision",
                                {{"outcome", "Refuse"},
                                 {"decided_ms", SystemClock::Instance().NowMillis()},
                                 {"deciding_authority", demo::NigerianAuthority()},
                                 {"refusal_grounds", {"NationalityOfPerson"}},
                                 {"reasons", "S1 is a Nigerian national; section 3 of the Extradition Act bars the "
                                             "surrender of nationals. Nigeria will submit the case to its own "
                                             "prosecuting authorities without undue delay (UNTOC Art. 16(10))."}},
                                "ext_refusal")
                             .status());
  MLAHUB_RETURN_IF_ERROR(WaitStage(kIT, id, "decided"));
  MLAHUB_RETURN_IF_ERROR(WaitFor("the extradite-or-prosecute follow-up at " + std::string(kIT),
                                 [&](std::string* last) -> Result<bool> {
                                   MLAHUB_ASSIGN_OR_RETURN(Json c, Get(kIT, "/v1/cases/" + id));
                                   *last = c["follow_ups"].dump();
                                   for (const Json& f : c["follow_ups"])
                                     if (f.value("open", false)) return true;
                                   return false;
                                 }));
  Say("      refused solely on nationality: the follow-up 'submission for prosecution' (UNTOC 16(10)) is open\n");
  MLAHUB_RETURN_IF_ERROR(ShowClocks(kNG, "extradition"));
  // Italy may not close the case while it is open.
  auto early = N(kIT).api->PostJson(
      "/v1/messages", Json{{"to", kNG},
                           {"kind", "CaseClosed"},
                           {"in_reply_to", id},
                           {"body", {{"reason", "Refused"}, {"closed_ms", SystemClock::Instance().NowMillis()}}}});
  if (early.ok()) return Status::Internal("Italy's agent closed a case whose extradite-or-prosecute follow-up is open");
  Say("      and Italy cannot close the case yet: " + early.status().message().substr(0, 120) + "...\n");
  return Status::Ok();
}

Status Demo::ProsecutionNotice() {
  const std::string id = JStr(cases_, "extradition");
  Json notice = {{"status", "Submitted"},
                 {"prosecuting_authority",
                  {{"name", "National Agency for the Prohibition of Trafficking in Persons (NAPTIP), Legal and "
                            "Prosecution Department"},
                   {"function", "prosecutor"},
                   {"state", "NG"}}},
                 {"submitted_ms", SystemClock::Instance().NowMillis()},
                 {"reference", "NAPTIP/LPD/2026/311"},
                 {"extradition_request_ref", id},
                 {"offences", {demo::TraffickingOffence()}},
                 {"cooperation_requested", "The evidence gathered in Palermo, and the victims' statements."}};
  MLAHUB_RETURN_IF_ERROR(Answer(kNG, id, "ProsecutionSubmissionNotice", notice, "prosecution_notice").status());
  MLAHUB_RETURN_IF_ERROR(WaitFor("the follow-up to close at " + std::string(kIT), [&](std::string* last) -> Result<bool> {
    MLAHUB_ASSIGN_OR_RETURN(Json c, Get(kIT, "/v1/cases/" + id));
    *last = c["follow_ups"].dump();
    if (c["follow_ups"].empty()) return false;
    for (const Json& f : c["follow_ups"])
      if (f.value("open", false)) return false;
    return true;
  }));
  Say("      the follow-up is closed: Nigeria prosecutes S1 itself, and Italy closes its extradition case\n");
  MLAHUB_RETURN_IF_ERROR(Answer(kIT, id, "CaseClosed",
                                {{"reason", "Refused"}, {"closed_ms", SystemClock::Instance().NowMillis()}},
                                "ext_closed")
                             .status());
  return WaitStage(kNG, id, "closed");
}

Status Demo::Verification(const std::string& to, const std::string& kind, Json body, const std::string& label,
                          const std::string& priority, const std::string& case_ref, Json result,
                          const std::string& result_label) {
  MLAHUB_ASSIGN_OR_RETURN(std::string id,
                          Send(kIT, to, kind, std::move(body), label, "PalermoProtocol", priority, case_ref));
  MLAHUB_RETURN_IF_ERROR(WaitStage(to, id, "received"));
  MLAHUB_RETURN_IF_ERROR(ShowClocks(to, label));
  result["verified_ms"] = SystemClock::Instance().NowMillis();
  MLAHUB_RETURN_IF_ERROR(Answer(to, id, "VerificationResult", std::move(result), result_label).status());
  return WaitStage(kIT, id, "executed");
}

Status Demo::DocumentVerification() {
  Say("  A victim in Ragusa carried a Thai passport the police believe is forged: Italy asks Thailand (Protocol "
      "Art. 13).\n");
  return Verification(kTH, "DocumentVerificationRequest", demo::DocumentVerificationBody(), "document_verification",
                      "Normal", "IT-MOJ/2026/0042-DV",
                      {{"subject", "Document"},
                       {"document_verdict", "Forged"},
                       {"details", "No passport AA1234567 was issued; the data page does not match the 2020 series."},
                       {"verifying_authority",
                        {{"name", "Office of the Attorney General, International Affairs Department"}, {"state", "TH"}}}},
                      "document_verification_result");
}

Status Demo::NationalityVerification() {
  Say("  Another victim says she is British and wants to go home: Italy asks the UK to verify her nationality\n"
      "  without unreasonable delay (Protocol Art. 8(3)), so that travel documents can be issued (Art. 8(4)).\n");
  return Verification(kGB, "NationalityVerificationRequest", demo::NationalityVerificationBody(),
                      "nationality_verification", "Urgent", "IT-MOJ/2026/0042-NV",
                      {{"subject", "Nationality"},
                       {"nationality_verdict", "Confirmed"},
                       {"details", "Birth registration and passport records confirm British citizenship."},
                       {"travel_documents_to_follow", true},
                       {"verifying_authority", {{"name", "UK Central Authority"}, {"state", "GB"}}}},
                      "nationality_verification_result");
}

Status Demo::Timelines() {
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"mla_request", "MLA request (bank records, witness statement)"},
      {"provisional_arrest", "Provisional arrest"},
      {"extradition", "Extradition (refused on nationality; extradite or prosecute)"},
      {"document_verification", "Document verification (Protocol Art. 13)"},
      {"nationality_verification", "Nationality verification (Protocol Art. 8)"}};
  for (const auto& [label, title] : requests) {
    const std::string id = JStr(cases_, label.c_str());
    MLAHUB_ASSIGN_OR_RETURN(Json c, Get(kIT, "/v1/cases/" + id));
    c.erase("request_body");  // the request itself (victims masked): `mlahub case ID` shows it
    MLAHUB_ASSIGN_OR_RETURN(Json s, Get(kIT, "/v1/messages/" + id + "/status"));
    timelines_[label] = {{"case", c}, {"status", s}};
    if (Human()) {
      std::cout << "\n--- " << title << ", as Italy sees it (`mlahub case " << id << "`)\n";
      PrintCaseView(c);
      std::cout << std::flush;
    }
  }
  if (Human()) {
    std::cout << "\n--- Transport evidence of the MLA request (`mlahub status " << JStr(cases_, "mla_request")
              << "`)\n";
    PrintMessageStatus(timelines_["mla_request"]["status"]);
    std::cout << std::flush;
  }
  return Status::Ok();
}

Status Demo::LedgerProof() {
  const std::string id = JStr(cases_, "mla_request");
  const std::string ledger_dir = JStr(network_["hub"], "data") + "/ledger";
  std::string note;
  uint64_t index = 0, size = 0;
  Bytes entry;
  // The hub appends the message's entries and signs a checkpoint after each
  // batch; a read-only view sees the ledger as it is when opened.
  MLAHUB_RETURN_IF_ERROR(WaitFor("a signed checkpoint covering " + id + "'s ledger entry",
                                 [&](std::string* last) -> Result<bool> {
                                   MLAHUB_ASSIGN_OR_RETURN(auto l, storage::Ledger::OpenReadOnly(ledger_dir));
                                   MLAHUB_ASSIGN_OR_RETURN(std::vector<uint64_t> found, l->FindByIndexKey(id));
                                   if (found.empty()) {
                                     *last = "no entry for the message yet";
                                     return false;
                                   }
                                   index = found.front();
                                   MLAHUB_ASSIGN_OR_RETURN(note, l->LatestCheckpoint(&size));
                                   *last = "checkpoint size " + std::to_string(size) + ", entry " + std::to_string(index);
                                   if (size <= index) return false;
                                   MLAHUB_ASSIGN_OR_RETURN(entry, l->Entry(index));
                                   return true;
                                 }));
  // Verify as an outsider would: the checkpoint's signature with the hub's
  // key from the signed directory (the agents' auditor code), then the
  // RFC 9162 inclusion proof of the entry's leaf hash up to its root.
  MLAHUB_ASSIGN_OR_RETURN(std::string key_name, agents::FindNoteKeyName(note, *hub_key_));
  MLAHUB_ASSIGN_OR_RETURN(std::string text, storage::OpenNote(note, key_name, *hub_key_));
  MLAHUB_ASSIGN_OR_RETURN(storage::Checkpoint cp, storage::ParseCheckpointText(text));
  if (cp.size != size)
    return Status::Corruption("checkpoint stored for size " + std::to_string(size) + " says size " +
                              std::to_string(cp.size));
  MLAHUB_ASSIGN_OR_RETURN(auto l, storage::Ledger::OpenReadOnly(ledger_dir));
  MLAHUB_ASSIGN_OR_RETURN(storage::InclusionProof proof, l->ProveInclusion(index, cp.size));
  const storage::Hash leaf = storage::HashLeaf(entry);
  if (leaf != proof.leaf_hash) return Status::Corruption("the proof's leaf hash is not the hash of the entry");
  MLAHUB_RETURN_IF_ERROR(storage::VerifyInclusion(index, cp.size, leaf, proof.path, cp.root));
  auto entry_text = storage::LedgerEntryToJson(entry);
  Json entry_json = entry_text.ok() ? Json::parse(*entry_text, nullptr, false) : Json();
  Json path = Json::array();
  for (const auto& h : proof.path) path.push_back(B64Hash(h));
  ledger_proof_ = {{"message_id", id},
                   {"index", index},
                   {"tree_size", cp.size},
                   {"origin", cp.origin},
                   {"root", B64Hash(cp.root)},
                   {"leaf_hash", B64Hash(leaf)},
                   {"inclusion", path},
                   {"checkpoint", note},
                   {"signed_by", key_name},
                   {"verified", true}};
  if (entry_json.is_object()) ledger_proof_["entry"] = entry_json;
  Say("  The hub's ledger entry " + std::to_string(index) + " for the MLA request " + id + "\n" +
      "  is included in the tree of " + std::to_string(cp.size) + " entries whose root the hub signed:\n\n");
  std::istringstream lines(note);
  for (std::string line; std::getline(lines, line);) Say("    | " + line + "\n");
  Say("\n  checkpoint signature  verified with " + hub_id_ + "'s key from the signed directory (" + key_name + ")\n" +
      "  leaf hash             " + B64Hash(leaf) + "\n" + "  inclusion path        " +
      std::to_string(proof.path.size()) + " hashes, recomputed to the signed root: OK (RFC 9162)\n" +
      "  anyone can check it:  mlahub ledger prove --index " + std::to_string(index) + " --ledger " + ledger_dir +
      "\n");
  // The hub sees routing metadata and hashes only: the suspect's name, which
  // every request carries, is nowhere in its files (store, queues, ledger).
  size_t files = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(JStr(network_["hub"], "data"), ec)) {
    if (!e.is_regular_file(ec)) continue;
    auto b = ReadFile(e.path().string(), size_t{1} << 30);
    if (!b.ok()) continue;  // a file RocksDB removed meanwhile
    ++files;
    if (std::string_view(reinterpret_cast<const char*>(b->data()), b->size()).find("Okafor") != std::string_view::npos)
      return Status::Internal("personal data in clear at the hub: " + e.path().string());
  }
  ledger_proof_["hub_files_without_personal_data"] = files;
  Say("  the hub holds no personal data: the suspect's name is in none of its " + std::to_string(files) + " files\n");
  return Status::Ok();
}

Status Demo::StopAll() {
  Status first = Status::Ok();
  auto stop = [&](ops::Child& c, const std::string& name) {
    c.Signal(SIGTERM);
    auto code = c.Wait(std::chrono::seconds(60));
    daemons_.push_back({{"name", name}, {"exit_code", code ? Json(*code) : Json(nullptr)}});
    if (!code) {
      c.Signal(SIGKILL);
      c.Wait(std::chrono::seconds(10));
      if (first.ok()) first = Status::Unavailable(name + " did not stop within 60 s of SIGTERM (killed)");
    } else if (*code != 0 && first.ok()) {
      first = Status::Internal(name + " exited with code " + std::to_string(*code) + " after SIGTERM");
    }
    Say("  " + name + " stopped (exit code " + (code ? std::to_string(*code) : std::string("none: killed")) + ")\n");
  };
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    Node& n = N(*it);
    if (n.child) stop(*n.child, "mlahub-agent " + *it);
    n.child.reset();
  }
  if (broker_) stop(*broker_, "mlahub-broker");
  broker_.reset();
  return first;
}

// After a failure: SIGTERM everything still running, without judging.
void Demo::StopQuietly() {
  std::vector<ops::Child*> all;
  for (auto& [id, n] : nodes_)
    if (n.child) all.push_back(&*n.child);
  if (broker_) all.push_back(&*broker_);
  for (ops::Child* c : all) c->Signal(SIGTERM);
  for (ops::Child* c : all)
    if (!c->Wait(std::chrono::seconds(30))) c->Signal(SIGKILL);
  for (auto& [id, n] : nodes_) n.child.reset();
  broker_.reset();
}

void Demo::KeepRunning() {
  const std::string mlahub = self_;
  std::cout << "\nThe network stays up. Point `mlahub` at an agent with --agent CONFIG (or MLAHUB_AGENT=CONFIG):\n";
  for (const auto& id : order_)
    std::cout << "  " << id << ":  " << mlahub << " inbox --agent " << N(id).config << "\n";
  std::cout << "e.g.\n"
            << "  export MLAHUB_AGENT=" << N(kIT).config << "\n"
            << "  " << mlahub << " list\n"
            << "  " << mlahub << " case " << JStr(cases_, "mla_request") << "\n"
            << "  " << mlahub << " status " << JStr(cases_, "mla_request") << "\n"
            << "  " << mlahub << " request new --kind mla --to NG-AGF --from IT-MOJ --directory "
            << JStr(network_["directory"], "file") << " --out draft.json\n"
            << "  " << mlahub << " send --to NG-AGF --kind MlaRequest --body BODY.json --case-ref IT-MOJ/2026/0099\n"
            << "  " << mlahub << " respond ID --step acknowledge --agent " << N(kNG).config << "\n"
            << "The hub's ledger: " << mlahub << " ledger verify --ledger " << JStr(network_["hub"], "data")
            << "/ledger\nPress Ctrl-C to stop everything." << std::endl;
  while (!g_demo_interrupted) {
    bool alive = broker_ && broker_->running();
    for (auto& [id, n] : nodes_) alive = alive && n.child && n.child->running();
    if (!alive) {
      std::cerr << "mlahub demo: a daemon exited; stopping (logs in " << logs_.string() << ")\n";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::cout << "\nStopping." << std::endl;
}

int Demo::Finish() {
  const bool ok = failed_step_.empty();
  Json doc = {{"ok", ok},
              {"dir", root_.string()},
              {"network", net_dir_.string()},
              {"logs", logs_.string()},
              {"steps", steps_},
              {"messages", messages_},
              {"cases", cases_},
              {"evidence", evidence_},
              {"ledger_proof", ledger_proof_},
              {"timelines", timelines_},
              {"clocks", clocks_},
              {"daemons", daemons_}};
  if (!ok) doc["failed_step"] = {{"name", failed_step_}, {"error", failed_error_}};
  if (!root_.empty() && fs::exists(root_))
    (void)WriteFileAtomic((root_ / "demo.json").string(), AsBytes(doc.dump(2) + "\n"), 0600);
  if (o_.json) {
    std::cout << doc.dump() << std::endl;
  } else if (ok) {
    std::cout << "\n\033[1mDone.\033[0m Every step passed. Everything is in " << root_.string()
              << " (network in net/, daemon logs in logs/, evidence in evidence/, this run as JSON in demo.json).\n";
  } else {
    std::cout << "\nThe demo FAILED at step '" << failed_step_ << "': " << failed_error_ << "\n"
              << "Daemon logs: " << logs_.string() << " (broker.log, <node>.log, mlahub.log)\n";
  }
  if (!ok && o_.json) std::cerr << "mlahub demo: daemon logs in " << logs_.string() << "\n";
  return ok ? kExitOk : kExitInternal;
}

int Demo::Run() {
  struct sigaction sa {};
  sa.sa_handler = OnDemoSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  {
    Status s = PrepareDir();
    if (!s.ok()) return Fail(s, o_.json);
  }
  Say("mlahub demo: a trafficking case between Italy, Nigeria, Thailand and the United Kingdom,\n"
      "played through four national agents and one hub on this machine. Output in " + root_.string() + "\n");
  Step("network", "A network: operator, hub and four central authorities (mlahub network init)",
       [&] { return InitNetwork(); });
  Step("daemons", "The hub and the four agents start, each from its config file", [&] { return StartDaemons(); });
  // The agent API is HTTP over loopback: a daemon that dies mid-call must not
  // kill the demo with SIGPIPE (set after the daemons inherited the default).
  std::signal(SIGPIPE, SIG_IGN);
  Step("mla_request", "Italy -> Nigeria: MLA request for bank records and a witness statement",
       [&] { return MlaRequest(); });
  Step("further_information", "Nigeria asks for further information; Italy answers", [&] { return FurtherInformation(); });
  Step("evidence", "Nigeria executes the request: evidence files, fetched and hash-checked in Italy",
       [&] { return ExecuteWithEvidence(); });
  Step("provisional_arrest", "Italy -> Nigeria: provisional arrest of the organiser", [&] { return ProvisionalArrest(); });
  Step("extradition_refused", "Italy -> Nigeria: extradition request, refused on nationality with reasons",
       [&] { return ExtraditionRefused(); });
  Step("extradite_or_prosecute", "Nigeria submits the case for prosecution: the follow-up closes",
       [&] { return ProsecutionNotice(); });
  Step("document_verification", "Italy -> Thailand: document verification (Protocol Art. 13)",
       [&] { return DocumentVerification(); });
  Step("nationality_verification", "Italy -> United Kingdom: a victim's nationality (Protocol Art. 8)",
       [&] { return NationalityVerification(); });
  Step("timelines", "Each request's timeline (legal steps and transport evidence) and clocks",
       [&] { return Timelines(); });
  Step("ledger_proof", "The hub's ledger: an inclusion proof against the signed checkpoint",
       [&] { return LedgerProof(); });
  if (failed_step_.empty() && o_.keep_running) {
    Step("keep_running", "The network stays up", [&] {
      KeepRunning();
      return Status::Ok();
    });
  }
  if (failed_step_.empty()) {
    g_demo_interrupted = 0;  // Ctrl-C ended --keep-running: now stop cleanly
    Step("stop", "Everything stops cleanly (SIGTERM, exit code 0 each)", [&] { return StopAll(); });
  } else {
    StopQuietly();
  }
  return Finish();
}

}  // namespace demo

void RegisterDemoCommands(CLI::App& app) {
  auto o = std::make_shared<demo::DemoOptions>();
  CLI::App* d = app.add_subcommand(
      "demo",
      "The end-to-end demonstration on this machine: creates a network of four central authorities (IT-MOJ, NG-AGF,\n"
      "TH-OAG, GB-UKCA) and a hub on free loopback ports, starts mlahub-broker and one mlahub-agent each, and plays\n"
      "a trafficking case through the agents' API: an MLA request (bank records, a witness statement) with a request\n"
      "for further information and evidence files, a provisional arrest and an extradition refused on nationality\n"
      "(extradite or prosecute), a document verification (Protocol Art. 13) and a nationality verification\n"
      "(Art. 8). Prints each request's timeline and clocks, verifies a ledger inclusion proof against the hub's\n"
      "signed checkpoint, and stops every daemon. Exit 0 on success, 1 naming the failed step (logs in DIR/logs).");
  d->add_option("--dir", o->dir,
                "Output directory (network, logs, evidence, demo.json). Must be new or empty; with --force a "
                "directory an earlier demo made is deleted and recreated")
      ->capture_default_str();
  d->add_option("--bin-dir", o->bin_dir,
                "Where mlahub-broker and mlahub-agent are (default: beside this mlahub executable)");
  d->add_flag("--force", o->force, "Delete and recreate --dir if an earlier `mlahub demo` made it");
  d->add_flag("--keep-running", o->keep_running,
              "Leave the network up after the case, print how to point `mlahub` at each agent, stop on Ctrl-C");
  d->add_option("--timeout", o->timeout_s, "Seconds to wait for each condition (a receipt, a state)")
      ->capture_default_str();
  d->add_flag("--json", o->json,
              "One JSON document at the end: steps (ok, error), message ids, evidence hashes, ledger proof, "
              "timelines");
  d->callback([o] {
    demo::Demo run(*o);
    ExitCode() = run.Run();
  });
}

}  // namespace mlahub::cli
