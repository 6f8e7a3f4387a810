// mlahub request template|kinds (and check|new, cmd_request_draft.cc): what each request and answer kind is, its
// legal basis, and a JSON skeleton of its body to fill in and seal
// (mlahub envelope seal --kind KIND < body.json).
//
// Everything here is read from the schemas: kinds from MessageKind, skeletons
// from the reflection schema (schemas::JsonTemplate), descriptions from the
// tables' doc comments. This file adds only the short aliases and the legal
// basis of each kind.
#include <algorithm>
#include <cctype>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli.h"
#include "mlahub/schemas/common_generated.h"
#include "mlahub/schemas/json_codec.h"
#include "mlahub/schemas/kinds.h"

namespace mlahub::cli {

// mlahub request check | new (cmd_request_draft.cc).
void RegisterRequestDraftCommands(CLI::App* req);

namespace {


struct TemplateArgs {
  std::string kind;
  std::string table;
};

int RunTemplate(const TemplateArgs& a) {
  std::string table;
  if (!a.kind.empty()) {
    auto k = schemas::ResolveKind(a.kind);
    if (!k.ok()) return Fail(k.status(), false);
    table = k->name;  // a kind's body table has the kind's name (the Body union)
  } else if (!a.table.empty()) {
    table = a.table;
  } else {
    return Fail(
        Status::InvalidArgument("give --kind KIND (or --table NAME); see: mlahub request kinds"),
        false);
  }
  auto skeleton = schemas::JsonTemplate(table);
  if (!skeleton.ok()) {
    if (a.kind.empty())
      return Fail(skeleton.status().Annotate("--table " + a.table +
                                             " (a table of schemas/*.fbs, e.g. Person)"),
                  false);
    return Fail(skeleton.status(), false);
  }
  std::cout << *skeleton << std::flush;
  return kExitOk;
}

struct KindsArgs {
  bool json = false;
};

int RunKinds(const KindsArgs& a) {
  auto& codec = schemas::JsonCodec::Instance();
  const auto& kinds = schemas::AllKinds();
  if (a.json) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& k : kinds) {
      nlohmann::ordered_json j;
      j["kind"] = k.name;
      j["value"] = static_cast<int>(k.kind);
      j["direction"] = k.is_request ? "request" : "answer";
      j["alias"] = k.alias;
      std::vector<std::string> others;
      for (const auto& n : k.names)
        if (n != k.name && n != k.alias &&
            std::find(others.begin(), others.end(), n) == others.end())
          others.push_back(n);
      j["other_names"] = others;
      j["legal_basis"] = k.legal_basis;
      j["doc"] = codec.Documentation(k.name);
      arr.push_back(j);
    }
    std::cout << arr.dump(2) << std::endl;
    return kExitOk;
  }
  bool requests_done = false;
  std::cout << "Requests (open a case; MessageKind 1-31):\n";
  for (const auto& k : kinds) {
    if (!k.is_request && !requests_done) {
      std::cout << "\nAnswers and later steps (MessageKind 32-63):\n";
      requests_done = true;
    }
    std::string names = k.alias;
    for (size_t i = 3; i < k.names.size(); ++i) names += " | " + k.names[i];
    std::string head = "  " + k.name;
    head.resize(std::max<size_t>(head.size() + 2, 36), ' ');
    std::cout << head << k.legal_basis << "\n      --kind " << names << "\n"
              << Wrap(codec.Documentation(k.name), 6, 100);
  }
  std::cout << "\nKIND is the name or any alias (case-insensitive): mlahub request template --kind "
               "mla > body.json\n"
            << std::flush;
  return kExitOk;
}

}  // namespace

void RegisterRequestCommands(CLI::App& app) {
  CLI::App* req = app.add_subcommand(
      "request", "Request and answer kinds: their legal basis and JSON skeletons of their bodies");
  req->require_subcommand(1);

  auto t = std::make_shared<TemplateArgs>();
  CLI::App* tmpl = req->add_subcommand(
      "template", "Print a JSON skeleton of a kind's body, to fill in and seal");
  tmpl->footer(
      "The skeleton has every field, empty or at its schema default, in schema order; nested\n"
      "tables are expanded and each list holds one example element. Delete what you do not need,\n"
      "fill in the rest and seal it: mlahub envelope seal --kind KIND ... < body.json.\n"
      "Field meanings, legal citations and which fields are mandatory: docs/PROTOCOL_BODIES.md.");
  auto* kind_opt = tmpl->add_option(
      "--kind", t->kind,
      "Kind: a MessageKind name (MlaRequest) or alias (mla, extradition, provisional-arrest, "
      "confiscation, document-verification, nationality-verification, repatriation, "
      "information-exchange, joint-investigation, transfer-of-proceedings, acknowledgement, "
      "decision, execution-report, ...); see 'mlahub request kinds'");
  auto* table_opt = tmpl->add_option(
      "--table", t->table,
      "Instead of a kind: any table of the schemas, e.g. Person, Offence, EvidenceFile");
  kind_opt->excludes(table_opt);
  table_opt->excludes(kind_opt);
  tmpl->callback([t] { ExitCode() = RunTemplate(*t); });

  auto k = std::make_shared<KindsArgs>();
  CLI::App* kinds = req->add_subcommand(
      "kinds", "List every request and answer kind with its aliases, legal basis and description");
  kinds->add_flag(
      "--json", k->json,
      "Machine-readable: [{kind, value, direction, alias, other_names, legal_basis, doc}]");
  kinds->callback([k] { ExitCode() = RunKinds(*k); });

  RegisterRequestDraftCommands(req);
}

}  // namespace mlahub::cli
