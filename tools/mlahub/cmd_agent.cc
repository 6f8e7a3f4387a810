// mlahub send | status | inbox | outbox | show | alarms | agent health|audit:
// the people's side of a national agent, over its local API (loopback HTTP,
// bearer token; agents/README.md).
//
// Which agent: --agent CONFIG (the agent's configuration file, from which the
// API address and token file are read), else the environment variable
// MLAHUB_AGENT naming that file.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "mlahub/agents/api_client.h"
#include "mlahub/core/file.h"

namespace mlahub::cli {
namespace {

using nlohmann::json;

struct AgentArgs {
  std::string agent;
  bool json = false;
};

void AddAgentOptions(CLI::App* c, AgentArgs& a) {
  c->add_option("--agent", a.agent,
                "The agent's configuration file (agent.toml); default: the environment variable MLAHUB_AGENT");
  c->add_flag("--json", a.json, "Machine-readable output");
}

Result<agents::ApiClient> ClientFor(const AgentArgs& a) {
  std::string path = a.agent;
  if (path.empty()) {
    if (const char* v = std::getenv("MLAHUB_AGENT"); v != nullptr) path = v;
  }
  if (path.empty()) {
    return Status::InvalidArgument(
        "which agent? give --agent CONFIG (the agent's configuration file) or set MLAHUB_AGENT to it");
  }
  return agents::ApiClient::FromConfigFile(path);
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::string Pad(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

std::string TimeOf(const json& j, const char* ms_key) {
  auto it = j.find(ms_key);
  if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() == 0) return "";
  return FormatRfc3339(it->get<int64_t>());
}

void PrintTimeline(const json& timeline) {
  std::cout << Pad("TIME", 26) << Pad("EVENT", 22) << Pad("SOURCE", 11) << Pad("LEDGER", 8) << "DETAIL\n";
  for (const json& e : timeline) {
    std::string detail = Str(e, "detail");
    std::string code = Str(e, "code");
    if (!code.empty()) detail = code + (detail.empty() ? "" : ": " + detail);
    std::string attempt = Str(e, "attempt");
    if (!attempt.empty()) detail += (detail.empty() ? "" : ", ") + std::string("attempt ") + attempt;
    std::cout << Pad(Str(e, "at"), 26) << Pad(Str(e, "event"), 22) << Pad(Str(e, "source"), 11)
              << Pad(Str(e, "ledger_index"), 8) << detail << "\n";
  }
}

int PrintOrFail(const Result<json>& r, bool as_json, const std::function<void(const json&)>& human) {
  if (!r.ok()) return Fail(r.status(), as_json);
  if (as_json) {
    std::cout << r->dump() << std::endl;
  } else {
    human(*r);
    std::cout << std::flush;
  }
  return kExitOk;
}

// ---- send ----
struct SendArgs : AgentArgs {
  std::string to, kind, body, case_ref, in_reply_to, legal_basis, priority, handling, message_id;
  std::vector<std::string> evidence;  // --evidence FILE...
  std::string custody;                // --custody TEXT
};

// --evidence: the agent spools each file (POST /v1/evidence) and returns its
// manifest entry (with the stream key: it travels only in the sealed body);
// the entries go into the body's evidence list (ExecutionReport:
// evidence.files; VerificationResult: evidence; other kinds: attachments).
// The files follow as encrypted chunks once the hub accepts the message.
Status AddEvidenceToBody(const agents::ApiClient& client, const SendArgs& a, json& body) {
  json paths = json::array();
  uintmax_t total = 0;
  for (const std::string& f : a.evidence) {
    std::error_code ec;
    auto abs = std::filesystem::absolute(f, ec);
    if (ec) return Status::InvalidArgument("--evidence " + f + ": " + ec.message());
    paths.push_back(abs.string());
    uintmax_t size = std::filesystem::file_size(abs, ec);
    if (!ec) total += size;
  }
  json req = {{"paths", paths}};
  if (!a.custody.empty()) req["chain_of_custody"] = a.custody;
  // The agent reads, encrypts and fsyncs every file before it answers: allow
  // 60 s plus a second per 4 MiB (a 2 GiB file: under 10 minutes; the agent
  // spools at tens of MB/s on an idle machine, much less on a loaded one).
  agents::ApiClient spooler = client;
  spooler.set_read_timeout(std::chrono::seconds(60 + static_cast<int64_t>(total >> 22)));
  MLAHUB_ASSIGN_OR_RETURN(json r, spooler.PostJson("/v1/evidence", req));
  json* list = nullptr;
  if (a.kind == "ExecutionReport") {
    if (!body.contains("evidence") || !body["evidence"].is_object()) body["evidence"] = json::object();
    list = &body["evidence"]["files"];
  } else if (a.kind == "VerificationResult") {
    list = &body["evidence"];
  } else {
    list = &body["attachments"];
  }
  if (!list->is_array()) *list = json::array();
  for (const json& f : r["files"]) list->push_back(f);
  return Status::Ok();
}

int RunSend(const SendArgs& a) {
  Bytes body;
  if (a.body == "-") {
    auto in = ReadStdin(16u << 20);
    if (!in.ok()) return Fail(in.status(), a.json);
    body = std::move(*in);
  } else {
    auto f = ReadFile(a.body, 16u << 20);
    if (!f.ok()) return Fail(f.status().Annotate("--body " + a.body), a.json);
    body = std::move(*f);
  }
  json parsed = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Fail(Status::InvalidArgument("--body must be a JSON object: the body of a " + a.kind +
                                        " (see `mlahub request template --kind " + a.kind + "`)"),
                a.json);
  }
  auto client = ClientFor(a);
  if (!client.ok()) return Fail(client.status(), a.json);
  if (!a.evidence.empty()) {
    Status s = AddEvidenceToBody(*client, a, parsed);
    if (!s.ok()) return Fail(s, a.json);
  }
  json req = {{"to", a.to}, {"kind", a.kind}, {"body", parsed}};
  if (!a.case_ref.empty()) req["case_ref"] = a.case_ref;
  if (!a.in_reply_to.empty()) req["in_reply_to"] = a.in_reply_to;
  if (!a.legal_basis.empty()) req["legal_basis"] = a.legal_basis;
  if (!a.priority.empty()) req["priority"] = a.priority;
  if (!a.handling.empty()) req["handling"] = a.handling;
  if (!a.message_id.empty()) req["message_id"] = a.message_id;
  auto sent = client->PostJson("/v1/messages", req);
  // An incomplete request or a step the workflow refuses (agent: 422 / 409): its findings, exit 3.
  if (!sent.ok()) return FailWorkflow(sent.status(), a.json);
  return PrintOrFail(sent, a.json, [](const json& j) {
    std::cout << Str(j, "message_id") << "\n";
    if (j.value("duplicate", false)) std::cerr << "mlahub: this message id was already in the outbox\n";
    // A child victim: the agent treats the case as Urgent (agents/README.md "Victims' data").
    if (j.contains("message") && j["message"].contains("priority_note"))
      std::cerr << "mlahub: " << Str(j["message"], "priority_note") << "\n";
  });
}

// ---- status ----
struct IdArgs : AgentArgs {
  std::string id;
  bool reveal = false;  // show: victims' data in clear (recorded by the agent)
  std::string reason;
};

void PrintStatus(const json& j) {
  bool out = Str(j, "box") == "out";
  std::cout << "message  " << Str(j, "message_id") << (out ? " to " + Str(j, "recipient") : " from " + Str(j, "sender"))
            << " (" << Str(j, "kind") << ")\n"
            << "state    " << Str(j, "state") << ": " << Str(j, "summary") << "\n"
            << "ledger   index " << (Str(j, "ledger_index").empty() ? "-" : Str(j, "ledger_index"))
            << (j.value("included", false) ? ", proved in the hub's ledger" : ", not yet proved in the hub's ledger")
            << "\n\n";
  PrintTimeline(j.value("timeline", json::array()));
}

int RunStatus(const IdArgs& a) {
  auto client = ClientFor(a);
  if (!client.ok()) return Fail(client.status(), a.json);
  return PrintOrFail(client->Get("/v1/messages/" + a.id + "/status"), a.json, PrintStatus);
}

// ---- inbox / outbox ----
struct ListArgs : AgentArgs {
  uint64_t limit = 100;
  uint64_t after = 0;
};

int RunList(const ListArgs& a, bool in) {
  auto client = ClientFor(a);
  if (!client.ok()) return Fail(client.status(), a.json);
  std::string q = std::string("/v1/messages?box=") + (in ? "in" : "out") + "&limit=" + std::to_string(a.limit) +
                  "&after=" + std::to_string(a.after);
  return PrintOrFail(client->Get(q), a.json, [in](const json& j) {
    const json& msgs = j.value("messages", json::array());
    if (msgs.empty()) {
      std::cout << (in ? "inbox is empty\n" : "outbox is empty\n");
      return;
    }
    std::cout << Pad("SEQ", 7) << Pad("MESSAGE ID", 34) << Pad(in ? "FROM" : "TO", 12) << Pad("KIND", 30)
              << Pad("STATE", 11) << (in ? "RECEIVED" : "SUBMITTED") << "\n";
    for (const json& m : msgs) {
      std::cout << Pad(Str(m, "seq"), 7) << Pad(Str(m, "message_id"), 34)
                << Pad(Str(m, in ? "sender" : "recipient"), 12) << Pad(Str(m, "kind"), 30) << Pad(Str(m, "state"), 11)
                << TimeOf(m, in ? "received_ms" : "submitted_ms") << "\n";
    }
    if (!j["next_after"].is_null()) std::cout << "(more: --after " << j["next_after"].dump() << ")\n";
  });
}

// ---- show ----
int RunShow(const IdArgs& a) {
  auto client = ClientFor(a);
  if (!client.ok()) return Fail(client.status(), a.json);
  if (a.reveal != !a.reason.empty())
    return Fail(Status::InvalidArgument("--reveal and --reason TEXT go together (every reveal is recorded)"), a.json);
  std::string q = a.reveal ? "?" + RevealQuery(a.reason) : "";
  return PrintOrFail(client->Get("/v1/messages/" + a.id + q), a.json, [](const json& j) {
    const json& m = j.value("message", json::object());
    bool out = Str(m, "box") == "out";
    std::cout << "message      " << Str(m, "message_id") << "\n"
              << (out ? "to           " + Str(m, "recipient") : "from         " + Str(m, "sender")) << "\n"
              << "kind         " << Str(m, "kind") << "\n"
              << "case ref     " << Str(m, "case_ref") << "\n"
              << "in reply to  " << Str(m, "in_reply_to") << "\n"
              << "legal basis  " << Str(m, "legal_basis") << ", handling " << Str(m, "handling") << ", priority "
              << Str(m, "priority") << "\n"
              << "created      " << TimeOf(m, "created_ms") << ", expires " << TimeOf(m, "expires_ms") << "\n"
              << "state        " << Str(m, "state") << "\n"
              << "envelope     " << Str(m, "envelope_size") << " bytes, sha256 " << Str(m, "envelope_hash") << "\n";
    if (j.contains("receipt")) {
      std::cout << "receipt      signed by " << Str(j["receipt"], "signed_by") << " at " << Str(j["receipt"], "received")
                << "\n";
    }
    if (Str(j, "victim_data") == "masked") std::cout << "victims      " << Str(j, "victim_data_note") << "\n";
    if (Str(j, "victim_data") == "revealed")
      std::cout << "victims      identifying data REVEALED (recorded as reveal #" << Str(j, "reveal_id") << ")\n";
    if (j.contains("body") && !j["body"].is_null()) {
      std::cout << "\n" << j["body"].dump(2) << "\n";
    } else if (!out) {
      std::cout << "\nbody cannot be opened: " << Str(j, "body_error") << "\n";
    }
  });
}

// ---- alarms ----
int RunAlarms(const AgentArgs& a) {
  auto client = ClientFor(a);
  if (!client.ok()) return Fail(client.status(), a.json);
  return PrintOrFail(client->Get("/v1/alarms"), a.json, [](const json& j) {
    const json& alarms = j.value("alarms", json::array());
    if (alarms.empty()) std::cout << "no alarms\n";
    for (const json& x : alarms) {
      std::cout << "#" << Str(x, "id") << "  " << Str(x, "at") << "  " << Str(x, "kind") << "\n    "
                << Str(x, "message") << "\n";
    }
    const json& refused = j.value("refused_deliveries", json::array());
    if (!refused.empty()) {
      std::cout << "\nrefused deliveries (not stored, not receipted):\n";
      for (const json& r : refused) {
        std::cout << "  seq " << Str(r, "delivery_seq") << "  " << Str(r, "message_id") << "  " << Str(r, "code")
                  << "  attempts " << Str(r, "attempts") << "\n";
      }
    }
  });
}

// ---- agent health / audit ----
int RunHealth(const AgentArgs& a) {
  auto client = ClientFor(a);
  if (!client.ok()) return Fail(client.status(), a.json);
  return PrintOrFail(client->Get("/v1/health"), a.json, [](const json& j) {
    std::string cp = j["checkpoint"].is_null() ? "none yet"
                                               : "tree size " + Str(j["checkpoint"], "tree_size") + " (" +
                                                     Str(j["checkpoint"], "origin") + ")";
    std::cout << "node          " << Str(j, "node_id") << " (pid " << Str(j, "pid") << ")\n"
              << "broker        " << Str(j, "broker") << ": " << Str(j, "connection") << "\n"
              << "directory     " << Str(j, "network") << " version " << Str(j, "directory_version") << "\n"
              << "checkpoint    " << cp << "\n"
              << "outbox        " << Str(j, "outbox") << " waiting for the hub, " << Str(j, "open")
              << " with evidence still open, " << Str(j, "sent") << " sent in all\n"
              << "inbox         " << Str(j, "inbox") << " stored, " << Str(j, "pending_receipts")
              << " receipts not yet recorded, last delivery seq " << Str(j, "last_delivery_seq") << "\n"
              << "alarms        " << Str(j, "alarms") << "\n";
  });
}

int RunAudit(const AgentArgs& a) {
  auto client = ClientFor(a);
  if (!client.ok()) return Fail(client.status(), a.json);
  return PrintOrFail(client->Get("/v1/audit"), a.json, [](const json& j) {
    if (j["checkpoint"].is_null()) {
      std::cout << "no verified checkpoint of the hub yet\n";
    } else {
      std::cout << "checkpoint    " << Str(j["checkpoint"], "origin") << " size " << Str(j["checkpoint"], "tree_size")
                << " root " << Str(j["checkpoint"], "root") << "\n";
    }
    std::cout << "verified      " << Str(j, "consistency_verified") << " consistency proofs, "
              << Str(j, "inclusion_verified") << " inclusion proofs\n"
              << "pending       " << Str(j, "jobs_pending") << " inclusion checks ("
              << Str(j, "jobs_waiting_for_checkpoint") << " waiting for a newer checkpoint)\n"
              << "failed        " << Str(j, "checks_failed") << " checks; alarms " << Str(j, "alarms") << "\n";
  });
}

}  // namespace

void PrintMessageStatus(const nlohmann::json& status) { PrintStatus(status); }

void RegisterAgentCommands(CLI::App& app) {
  auto send = std::make_shared<SendArgs>();
  CLI::App* s = app.add_subcommand("send", "Send a request or answer through this authority's agent");
  s->add_option("--to", send->to, "Recipient node id, e.g. NG-AGF")->required();
  s->add_option("--kind", send->kind, "Message kind, e.g. MlaRequest (see `mlahub request kinds`)")->required();
  s->add_option("--body", send->body, "The body as JSON (the kind's table): a file, or - for standard input")
      ->required();
  s->add_option("--case-ref", send->case_ref, "Your own file number (travels in the clear header: no names)");
  s->add_option("--in-reply-to", send->in_reply_to, "Message id this answers");
  s->add_option("--legal-basis", send->legal_basis, "Legal basis, e.g. Untoc (default), PalermoProtocol, EuEio");
  s->add_option("--priority", send->priority, "Normal (default) or Urgent");
  s->add_option("--handling", send->handling, "Handling code H0 (default) to H3");
  s->add_option("--message-id", send->message_id, "Choose the message id (32 lowercase hex) to make retries safe");
  s->add_option("--evidence", send->evidence,
                "Files to send as encrypted, resumable streams with the message (spooled by the agent; their "
                "manifest goes into the sealed body)");
  s->add_option("--custody", send->custody, "Chain-of-custody note for the --evidence files");
  AddAgentOptions(s, *send);
  s->callback([send] { ExitCode() = RunSend(*send); });

  auto status = std::make_shared<IdArgs>();
  CLI::App* st = app.add_subcommand("status", "Transport evidence of a message (submitted ... receipt)");
  st->add_option("ID", status->id, "Message id")->required();
  AddAgentOptions(st, *status);
  st->callback([status] { ExitCode() = RunStatus(*status); });

  auto inbox = std::make_shared<ListArgs>();
  CLI::App* in = app.add_subcommand("inbox", "Messages received, in delivery order");
  in->add_option("--limit", inbox->limit, "At most this many (1-1000)")->capture_default_str();
  in->add_option("--after", inbox->after, "Continue after this sequence number");
  AddAgentOptions(in, *inbox);
  in->callback([inbox] { ExitCode() = RunList(*inbox, true); });

  auto outbox = std::make_shared<ListArgs>();
  CLI::App* out = app.add_subcommand("outbox", "Messages sent, in submission order, with their state");
  out->add_option("--limit", outbox->limit, "At most this many (1-1000)")->capture_default_str();
  out->add_option("--after", outbox->after, "Continue after this sequence number");
  AddAgentOptions(out, *outbox);
  out->callback([outbox] { ExitCode() = RunList(*outbox, false); });

  auto show = std::make_shared<IdArgs>();
  CLI::App* sh = app.add_subcommand("show", "One message: metadata, and for a received one its opened body");
  sh->add_option("ID", show->id, "Message id")->required();
  sh->add_flag("--reveal", show->reveal, "Show victims' identifying data in clear (masked otherwise); needs --reason");
  sh->add_option("--reason", show->reason, "Why the victims' data is needed (the agent records the reveal)");
  AddAgentOptions(sh, *show);
  sh->callback([show] { ExitCode() = RunShow(*show); });

  auto alarms = std::make_shared<AgentArgs>();
  CLI::App* al = app.add_subcommand("alarms", "Alarms raised by the agent (failed hub audits, refused deliveries)");
  AddAgentOptions(al, *alarms);
  al->callback([alarms] { ExitCode() = RunAlarms(*alarms); });

  CLI::App* agent = app.add_subcommand("agent", "The local agent itself");
  agent->require_subcommand(1);
  auto health = std::make_shared<AgentArgs>();
  CLI::App* h = agent->add_subcommand("health", "Connection, directory, checkpoint, queues, alarms");
  AddAgentOptions(h, *health);
  h->callback([health] { ExitCode() = RunHealth(*health); });
  auto audit = std::make_shared<AgentArgs>();
  CLI::App* au = agent->add_subcommand("audit", "The agent's audit of the hub's ledger");
  AddAgentOptions(au, *audit);
  au->callback([audit] { ExitCode() = RunAudit(*audit); });
}

}  // namespace mlahub::cli
