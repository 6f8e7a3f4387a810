// mlahub policy show | check: the deadline policy (workflow/README.md "Policy
// file"). `show` prints the embedded default for a network to copy and edit
// (or, with --agent, the policy an agent works with: GET /v1/policy);
// `check FILE` reads a network's file over the default, as the agent does
// at start ([cases] policy), and lists every rule in effect.
//
// Exit codes: 0 ok, 1 the file is invalid (the error names file:line),
// 2 usage, 4 the file does not exist, 5 the agent is unreachable.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "mlahub/agents/api_client.h"
#include "mlahub/agents/cases.h"
#include "mlahub/workflow/deadlines.h"

namespace mlahub::cli {
// Named, not anonymous: under a unity build this file shares a translation
// unit with the other cmd_*.cc files.
namespace policy_cmd {

using nlohmann::json;

struct PolicyArgs {
  std::string file;
  std::string agent;
  bool json = false;
};

std::string Col(const json& j, const char* k) { return Field(j, k); }

// The rules as a table for people.
void PrintRules(const json& p) {
  const json& rules = p["rules"];
  size_t wb = 5, wc = 5, wd = 3, wu = 6, we = 9;
  for (const json& r : rules) {
    wb = std::max(wb, Col(r, "basis").size());
    wc = std::max(wc, Col(r, "clock").size());
    wd = std::max(wd, Col(r, "due").size());
    wu = std::max(wu, Col(r, "urgent_due").size());
    we = std::max(we, Col(r, "extension").size());
  }
  std::cout << PadRight("BASIS", wb) << "  " << PadRight("CLOCK", wc) << "  " << PadRight("DUE", wd) << "  "
            << PadRight("URGENT", wu) << "  " << PadRight("EXTENSION", we) << "  CITATION\n";
  for (const json& r : rules) {
    std::string u = Col(r, "urgent_due"), e = Col(r, "extension");
    std::cout << PadRight(Col(r, "basis"), wb) << "  " << PadRight(Col(r, "clock"), wc) << "  "
              << PadRight(Col(r, "due"), wd) << "  " << PadRight(u.empty() ? "-" : u, wu) << "  "
              << PadRight(e.empty() ? "-" : e, we) << "  " << Col(r, "citation")
              << (r.value("changed", false) && p.value("source", "") == "file" ? "   [this file]" : "") << "\n";
    if (!Col(r, "note").empty()) std::cout << PadRight("", wb + wc + 4) << "(" << Col(r, "note") << ")\n";
  }
  std::cout << "\n[default] applies to every legal basis for a clock its own section does not set; \"off\" switches a\n"
               "clock off for that basis. Which clocks exist and when they start and stop: workflow/README.md "
               "\"Clocks\".\n";
}

int RunShow(const PolicyArgs& a) {
  if (!a.agent.empty()) {
    auto c = agents::ApiClient::FromConfigFile(a.agent);
    if (!c.ok()) return Fail(c.status(), a.json);
    auto r = c->Get("/v1/policy");
    if (!r.ok()) return Fail(r.status(), a.json);
    if (a.json) {
      std::cout << r->dump() << std::endl;
      return kExitOk;
    }
    std::cout << "The agent's deadline policy: "
              << (Col(*r, "source") == "file" ? Col(*r, "path") + " over the embedded default"
                                              : std::string("the embedded default"))
              << "\nsha256 " << Col(*r, "sha256") << "\n\n";
    PrintRules(*r);
    return kExitOk;
  }
  if (a.json) {
    auto p = agents::LoadCasesPolicy("");
    if (!p.ok()) return Fail(p.status(), true);
    json j = agents::PolicyJson(*p);
    j["toml"] = std::string(workflow::DefaultPolicyToml());
    std::cout << j.dump() << std::endl;
    return kExitOk;
  }
  std::cout << workflow::DefaultPolicyToml();
  return kExitOk;
}

int RunCheck(const PolicyArgs& a) {
  auto p = agents::LoadCasesPolicy(a.file);
  if (!p.ok()) {
    if (p.status().code() != Code::kInvalidArgument) return Fail(p.status(), a.json);  // 4: no such file, 5: I/O
    if (a.json) {
      std::cout << json{{"ok", false}, {"error", {{"code", "invalid_policy"}, {"message", p.status().message()}}}}.dump()
                << std::endl;
    } else {
      std::cerr << "mlahub: invalid policy: " << p.status().message() << std::endl;
    }
    return kExitInternal;  // 1: invalid
  }
  json j = agents::PolicyJson(*p);
  if (a.json) {
    j["ok"] = true;
    std::cout << j.dump() << std::endl;
    return kExitOk;
  }
  size_t changed = 0;
  for (const json& r : j["rules"]) changed += r.value("changed", false) ? 1 : 0;
  std::cout << a.file << ": valid; " << changed << " rule(s) set by this file, read over the embedded default\n"
            << "sha256 " << p->sha256 << "\n\n";
  PrintRules(j);
  return kExitOk;
}

}  // namespace policy_cmd

void RegisterPolicyCommands(CLI::App& app) {
  using policy_cmd::PolicyArgs;
  CLI::App* pol = app.add_subcommand(
      "policy", "The deadline policy: print the embedded default, check a network's policy file");
  pol->require_subcommand(1);
  auto s = std::make_shared<PolicyArgs>();
  CLI::App* show = pol->add_subcommand(
      "show",
      "Print the embedded default deadline policy (TOML: copy it, edit it, check it with `mlahub policy check`,\n"
      "and give it to `mlahub network init --policy` or [cases] policy in agent.toml); with --agent, the policy\n"
      "that agent works with (path, SHA-256 and every rule).");
  show->add_option("--agent", s->agent, "An agent's configuration file: show the policy that agent uses");
  show->add_flag("--json", s->json, "Machine-readable output (the rules, and the TOML text as \"toml\")");
  show->callback([s] { ExitCode() = policy_cmd::RunShow(*s); });
  auto c = std::make_shared<PolicyArgs>();
  CLI::App* check = pol->add_subcommand(
      "check",
      "Read a network's deadline policy file over the embedded default, as the agent does at start, and list\n"
      "every rule in effect (basis, clock, due, urgent, extension, citation). Exit 0 valid, 1 invalid (the error\n"
      "names the file and line), 4 no such file.");
  check->add_option("FILE", c->file, "The policy file (TOML)")->required();
  check->add_flag("--json", c->json, "Machine-readable output");
  check->callback([c] { ExitCode() = policy_cmd::RunCheck(*c); });
}

}  // namespace mlahub::cli
