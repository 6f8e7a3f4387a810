// mlahub evidence list | fetch: the evidence files that travel as streams
// with a message (issue 5; agents/README.md "Evidence"), over the agent's
// local API.
//
//   mlahub evidence list ID               per file: state, bytes and chunks done
//   mlahub evidence fetch ID --out DIR    writes the received files into DIR,
//                                         each after its SHA-256 check
//
// On a terminal, fetch shows a progress bar with rate and time left (while
// it waits for the transfer with --wait, and while it writes); with --json it
// prints JSON progress lines ({"file":..,"phase":..,"bytes":..}) and then the
// result object, one JSON object per line.
//
// Which agent: --agent CONFIG, else the environment variable MLAHUB_AGENT.
// The API is loopback-only, so DIR is on the agent's machine.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli.h"
#include "mlahub/agents/api_client.h"
#include "mlahub/evidence/progress.h"

namespace mlahub::cli {
namespace {

using nlohmann::json;

struct EvidenceArgs {
  std::string agent;
  bool json = false;
  std::string id;
  std::string out;
  bool wait = false;
  int timeout_s = 0;
};

Result<agents::ApiClient> EvidenceClient(const EvidenceArgs& a) {
  std::string path = a.agent;
  if (path.empty()) {
    if (const char* v = std::getenv("MLAHUB_AGENT"); v != nullptr) path = v;
  }
  if (path.empty())
    return Status::InvalidArgument(
        "which agent? give --agent CONFIG (the agent's configuration file) or set MLAHUB_AGENT to it");
  return agents::ApiClient::FromConfigFile(path);
}

uint64_t FieldU(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

std::string Mib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / (1024.0 * 1024.0));
  return buf;
}

int RunEvidenceList(const EvidenceArgs& a) {
  auto client = EvidenceClient(a);
  if (!client.ok()) return Fail(client.status(), a.json);
  auto r = client->Get("/v1/evidence/" + a.id);
  if (!r.ok()) return Fail(r.status(), a.json);
  if (a.json) {
    std::cout << r->dump() << std::endl;
    return kExitOk;
  }
  const json& files = (*r)["files"];
  if (files.empty()) {
    std::cout << "message " << a.id << " carries no evidence streams\n";
    return kExitOk;
  }
  std::cout << PadRight("FILE", 32) << PadRight("DIR", 4) << PadRight("SIZE", 12) << PadRight("DONE", 12) << PadRight("CHUNKS", 12)
            << "STATE\n";
  for (const json& f : files) {
    std::string name = Field(f, "file_name");
    if (name.empty()) name = Field(f, "transfer_id");
    std::cout << PadRight(name, 32) << PadRight(Field(f, "direction"), 4) << PadRight(Mib(FieldU(f, "size_bytes")), 12)
              << PadRight(Mib(FieldU(f, "bytes_done")), 12)
              << PadRight(Field(f, "chunks_done") + "/" + Field(f, "chunk_count"), 12) << Field(f, "summary") << "\n";
  }
  return kExitOk;
}

// One progress line (JSON) or the bar (terminal, on stderr).
void Show(const EvidenceArgs& a, bool tty, const std::string& name, const char* phase, const evidence::Progress& p) {
  if (a.json) {
    json j = json::parse(evidence::ProgressJson(p), nullptr, false);
    if (j.is_discarded()) j = json::object();
    j["file"] = name;
    j["phase"] = phase;
    std::cout << j.dump() << std::endl;
  } else if (tty) {
    std::cerr << "\r" << PadRight(name.substr(0, 24), 25) << PadRight(phase, 10) << evidence::ProgressBar(p) << "   "
              << std::flush;
    if (p.finished) std::cerr << "\n";
  }
}

int RunFetch(const EvidenceArgs& a) {
  auto client = EvidenceClient(a);
  if (!client.ok()) return Fail(client.status(), a.json);
  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  auto abs = std::filesystem::absolute(a.out, ec);
  if (ec) return Fail(Status::InvalidArgument("--out " + a.out + ": " + ec.message()), a.json);
  const std::string out = std::filesystem::weakly_canonical(abs, ec).string();
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.timeout_s > 0 ? a.timeout_s : 1);

  // 1. The transfers (with --wait: until every one is complete).
  json files;
  std::map<std::string, std::unique_ptr<evidence::ProgressMeter>> meters;
  for (;;) {
    auto r = client->Get("/v1/evidence/" + a.id);
    if (!r.ok()) return Fail(r.status(), a.json);
    files = (*r)["files"];
    bool all = true, any_in = false;
    for (const json& f : files) {
      if (Field(f, "direction") != "in") continue;
      any_in = true;
      std::string name = Field(f, "file_name");
      bool complete = Field(f, "state") == "complete";
      if (Field(f, "state") == "failed")
        return Fail(Status::Corruption("transfer " + Field(f, "transfer_id") + " failed: " + Field(f, "failure")), a.json);
      if (a.wait) {
        auto& m = meters[Field(f, "transfer_id")];
        if (!m)
          m = std::make_unique<evidence::ProgressMeter>(FieldU(f, "size_bytes"), FieldU(f, "chunk_count"),
                                                        [&, name](const evidence::Progress& p) {
                                                          Show(a, tty, name, "receiving", p);
                                                        });
        if (complete) {
          m->Finish(FieldU(f, "size_bytes"), FieldU(f, "chunk_count"));
        } else {
          m->Update(FieldU(f, "bytes_done"), FieldU(f, "chunks_done"));
        }
      }
      all = all && complete;
    }
    if (!any_in && !files.empty())
      return Fail(Status::InvalidArgument("message " + a.id + " was sent by this agent: its files are the sender's"),
                  a.json);
    if (files.empty() && !a.wait)
      return Fail(Status::NotFound("message " + a.id + " brought no evidence streams here"), a.json);
    if (all && !files.empty()) break;
    if (!a.wait) {
      return Fail(Status::Unavailable("the evidence of " + a.id +
                                      " is not complete yet (see `mlahub evidence list`; or fetch --wait)"),
                  a.json);
    }
    if (a.timeout_s > 0 && std::chrono::steady_clock::now() > deadline)
      return Fail(Status::Unavailable("timed out waiting for the evidence of " + a.id), a.json);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }

  // 2. The agent writes the files (hash-checked); the progress is the size
  // of each temporary file it writes.
  auto fut = std::async(std::launch::async, [&] {
    return client->PostJson("/v1/evidence/" + a.id + "/fetch", json{{"out_dir", out}});
  });
  uint64_t total = 0, chunks = 0;
  for (const json& f : files) {
    if (Field(f, "direction") != "in") continue;
    total += FieldU(f, "size_bytes");
    chunks += FieldU(f, "chunk_count");
  }
  evidence::ProgressMeter meter(total, chunks, [&](const evidence::Progress& p) { Show(a, tty, a.id, "writing", p); });
  uint64_t done_before = 0;
  while (fut.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) {
    uint64_t now_bytes = done_before;
    for (const json& f : files) {
      struct stat st {};
      std::string tmp = out + "/.evidence-" + Field(f, "transfer_id") + ".partial";
      std::string fin = out + "/" + Field(f, "file_name");
      if (::stat(tmp.c_str(), &st) == 0) {
        now_bytes += static_cast<uint64_t>(st.st_size);
      } else if (::stat(fin.c_str(), &st) == 0) {
        now_bytes += static_cast<uint64_t>(st.st_size);
      }
    }
    meter.Update(std::min(now_bytes, total), 0);
  }
  auto r = fut.get();
  if (!r.ok()) {
    if (tty && !a.json) std::cerr << "\n";
    return Fail(r.status(), a.json);
  }
  meter.Finish(total, chunks);
  if (a.json) {
    std::cout << r->dump() << std::endl;
  } else {
    for (const json& f : (*r)["files"]) std::cout << Field(f, "path") << "  " << Mib(FieldU(f, "size_bytes")) << "  sha256 ok\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterEvidenceCommands(CLI::App& app) {
  CLI::App* ev = app.add_subcommand("evidence", "Evidence files that travel as encrypted streams with a message");
  ev->require_subcommand(1);
  auto add_common = [](CLI::App* c, EvidenceArgs& a) {
    c->add_option("ID", a.id, "Message id (32 lowercase hex)")->required();
    c->add_option("--agent", a.agent,
                  "The agent's configuration file (agent.toml); default: the environment variable MLAHUB_AGENT");
    c->add_flag("--json", a.json, "Machine-readable output");
  };
  auto list = std::make_shared<EvidenceArgs>();
  CLI::App* l = ev->add_subcommand("list", "Files of a message: state (receiving 12/40, complete, ...), bytes, chunks");
  add_common(l, *list);
  l->callback([list] { ExitCode() = RunEvidenceList(*list); });

  auto fetch = std::make_shared<EvidenceArgs>();
  CLI::App* f = ev->add_subcommand(
      "fetch", "Write the received files of a message into a directory, each after its SHA-256 check");
  add_common(f, *fetch);
  f->add_option("--out", fetch->out, "Output directory (created if missing; on the agent's machine)")->required();
  f->add_flag("--wait", fetch->wait, "Wait until every file has arrived (progress bar on a terminal)");
  f->add_option("--timeout", fetch->timeout_s, "With --wait: give up after this many seconds (0: never)");
  f->callback([fetch] { ExitCode() = RunFetch(*fetch); });
}

}  // namespace mlahub::cli
