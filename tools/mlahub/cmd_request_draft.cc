// mlahub request check | new: drafting and checking requests before they are
// sent. The rules live in workflow/ (mlahub::workflow::CheckRequest); this
// file reads and writes request files, asks questions on a terminal and
// prints the findings for people (a table) or scripts (--json).
//
// Exit codes: 0 the request is complete (warnings may remain), 3 it is
// incomplete or would be refused (a finding blocks sending), 2 usage (bad
// arguments, a file that is not a request file), 4/5 file not found / I/O.
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/file.h"
#include "mlahub/directory/directory.h"
#include "mlahub/schemas/json_codec.h"
#include "mlahub/schemas/kinds.h"
#include "mlahub/workflow/check.h"

namespace mlahub::cli {

void RegisterRequestDraftCommands(CLI::App* req);

namespace {

using ojson = nlohmann::ordered_json;
using workflow::Finding;
using workflow::Severity;

constexpr size_t kMaxRequestBytes = 16u << 20;

// A signed directory file (directory.bin), or the JSON of an unsigned
// Directory table (as `mlahub directory show --json` prints it). The signature
// is not checked here: the check is advice to the drafter; agents and the
// broker verify the directory they route by.
Result<directory::Directory> LoadDirectory(const std::string& path) {
  MLAHUB_ASSIGN_OR_RETURN(Bytes data, ReadFile(path, kMaxDirectoryBytes));
  std::string_view text = AsString(data);
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') {
    MLAHUB_ASSIGN_OR_RETURN(Bytes bin, schemas::JsonCodec::Instance().ToBinary("Directory", text));
    return directory::Directory::DecodeUnsigned(bin);
  }
  return directory::Directory::DecodeUnverified(data);
}

Result<std::string> ReadText(const std::string& path) {
  if (path == "-") {
    MLAHUB_ASSIGN_OR_RETURN(Bytes b, ReadStdin(kMaxRequestBytes));
    return std::string(AsString(b));
  }
  MLAHUB_ASSIGN_OR_RETURN(Bytes b, ReadFile(path, kMaxRequestBytes));
  return std::string(AsString(b));
}

// A file that is not a request file is a usage error (exit 2), whatever the
// parser called it.
Status AsUsage(const Status& s, const std::string& what) {
  if (s.code() == Code::kMalformed || s.code() == Code::kInvalidArgument ||
      s.code() == Code::kUnknownKind)
    return Status::InvalidArgument(what + ": " + s.message());
  return s.Annotate(what);
}

ojson FindingsJson(const workflow::Draft& d, const std::vector<Finding>& fs) {
  ojson j;
  j["kind"] = d.kind == wire::MessageKind::Unspecified ? "" : wire::EnumNameMessageKind(d.kind);
  j["from"] = d.from;
  j["to"] = d.to;
  j["legal_basis"] = wire::EnumNameLegalBasis(d.legal_basis);
  j["language"] = d.language;
  j["complete"] = !workflow::Blocks(fs);
  ojson counts = {{"missing", 0}, {"refused", 0}, {"warning", 0}};
  ojson arr = ojson::array();
  for (const auto& f : fs) {
    std::string sev(workflow::SeverityName(f.severity));
    counts[sev] = counts[sev].get<int>() + 1;
    arr.push_back(
        {{"severity", sev}, {"path", f.path}, {"citation", f.citation}, {"message", f.message}});
  }
  j["counts"] = counts;
  j["findings"] = arr;
  return j;
}

void PrintFindings(std::ostream& os, const workflow::Draft& d, const std::vector<Finding>& fs) {
  struct Group {
    Severity s;
    const char* title;
  };
  const Group groups[] = {
      {Severity::kMissing, "MISSING (mandatory content; blocks sending)"},
      {Severity::kRefused, "REFUSED (the recipient or the law will not take it)"},
      {Severity::kWarning, "WARNINGS (where possible, and advice)"}};
  os << "Request: "
     << (d.kind == wire::MessageKind::Unspecified ? "?" : wire::EnumNameMessageKind(d.kind))
     << " to " << (d.to.empty() ? "?" : d.to) << ", legal basis "
     << wire::EnumNameLegalBasis(d.legal_basis) << ", language "
     << (d.language.empty() ? "?" : d.language) << "\n";
  for (const auto& g : groups) {
    size_t n = 0;
    for (const auto& f : fs) n += f.severity == g.s;
    if (n == 0) continue;
    os << "\n" << g.title << ": " << n << "\n";
    for (const auto& f : fs) {
      if (f.severity != g.s) continue;
      os << "  - " << (f.path.empty() ? "(request)" : f.path);
      if (!f.citation.empty()) os << "  [" << f.citation << "]";
      os << "\n" << Wrap(f.message, 6, 100);
    }
  }
  if (!workflow::Blocks(fs)) {
    os << "\nComplete: nothing mandatory is missing" << (fs.empty() ? "." : " (see the warnings).")
       << "\n";
  } else {
    os << "\nIncomplete: add what is listed above, then check again (mlahub request check FILE).\n";
  }
}

struct CheckArgs {
  std::string file;
  std::string directory;
  std::string from, to, kind;
  bool json = false;
};

Result<std::vector<Finding>> RunChecks(const workflow::Draft& d,
                                       const std::string& directory_path) {
  if (directory_path.empty()) return workflow::CheckRequest(d, nullptr, nullptr);
  MLAHUB_ASSIGN_OR_RETURN(directory::Directory dir, LoadDirectory(directory_path));
  return workflow::CheckRequest(d, dir, SystemClock::Instance().NowMillis());
}

int RunCheck(const CheckArgs& a) {
  auto text = ReadText(a.file);
  if (!text.ok()) return Fail(text.status().Annotate(a.file), a.json);
  wire::MessageKind bare = wire::MessageKind::Unspecified;
  if (!a.kind.empty()) {
    auto k = schemas::ResolveKind(a.kind);
    if (!k.ok()) return Fail(k.status(), a.json);
    bare = k->kind;
  }
  auto d = workflow::ParseDraft(*text, bare);
  if (!d.ok()) return Fail(AsUsage(d.status(), a.file), a.json);
  if (!a.from.empty()) d->from = a.from;
  if (!a.to.empty()) d->to = a.to;
  auto fs = RunChecks(*d, a.directory);
  if (!fs.ok()) return Fail(AsUsage(fs.status(), a.file), a.json);
  if (a.json) {
    std::cout << FindingsJson(*d, *fs).dump(2) << std::endl;
  } else {
    PrintFindings(std::cout, *d, *fs);
    std::cout << std::flush;
  }
  return workflow::Blocks(*fs) ? kExitRefused : kExitOk;
}

// ---- mlahub request new ----

struct NewArgs {
  std::string kind, to, from, from_json, out, directory;
  std::string legal_basis, language, priority, case_ref;
  bool json = false;
};

bool ReadLine(const std::string& prompt, std::string& out) {
  std::cerr << prompt << std::flush;
  if (!std::getline(std::cin, out)) return false;
  size_t b = out.find_first_not_of(" \t\r");
  out = b == std::string::npos ? "" : out.substr(b, out.find_last_not_of(" \t\r") - b + 1);
  return true;
}

// "2026-05-01" or "2026-05-01T10:30" (UTC) -> Unix ms; or a plain number.
bool ParseInstant(const std::string& s, int64_t& ms) {
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M", &tm);
  if (end == nullptr || *end != '\0') {
    tm = std::tm{};
    end = strptime(s.c_str(), "%Y-%m-%d", &tm);
  }
  if (end != nullptr && *end == '\0') {
    ms = static_cast<int64_t>(timegm(&tm)) * 1000;
    return true;
  }
  try {
    size_t pos = 0;
    ms = std::stoll(s, &pos);
    return pos == s.size();
  } catch (...) {
    return false;
  }
}

// Asks for one field; returns false at end of input.
bool AskField(const workflow::FieldInfo& f, ojson& body) {
  std::cerr << "\n"
            << f.name << "  (" << f.presence << (f.personal_data ? ", personal data" : "")
            << (f.citation.empty() ? "" : ", " + f.citation) << ")\n"
            << Wrap(f.doc, 2, 100);
  for (;;) {
    std::string hint;
    if (f.type == "bool")
      hint = "y/n";
    else if (f.type.rfind("enum:", 0) == 0 || f.type.rfind("[enum:", 0) == 0) {
      for (const auto& v : f.enum_values) hint += (hint.empty() ? "" : " | ") + v;
      if (f.type[0] == '[') hint = "comma-separated: " + hint;
    } else if (f.type == "[string]")
      hint = "comma-separated";
    else if (f.type.find("table:") != std::string::npos) {
      std::string t = f.type.substr(f.type.find("table:") + 6);
      if (t.back() == ']') t.pop_back();
      hint = std::string(f.type[0] == '[' ? "a JSON array of " : "a JSON object ") + t +
             " on one line (skeleton: mlahub request template --table " + t + ")";
    } else if (f.name.size() > 3 && f.name.substr(f.name.size() - 3) == "_ms") {
      hint = "date YYYY-MM-DD[THH:MM] UTC, or Unix ms";
    } else if (f.type != "string") {
      hint = "number";
    }
    std::string line;
    if (!ReadLine("  > " + (hint.empty() ? "" : "[" + hint + "] ") + "(empty to skip): ", line))
      return false;
    if (line.empty()) return true;
    if (f.type == "bool") {
      if (line == "y" || line == "yes" || line == "true")
        body[f.name] = true;
      else if (line == "n" || line == "no" || line == "false")
        body[f.name] = false;
      else {
        std::cerr << "  answer y or n\n";
        continue;
      }
      return true;
    }
    if (f.type == "string") {
      body[f.name] = line;
      return true;
    }
    if (f.type.find("table:") != std::string::npos) {
      ojson v = ojson::parse(line, nullptr, false);
      bool want_array = f.type[0] == '[';
      if (v.is_discarded() || (want_array ? !v.is_array() : !v.is_object())) {
        std::cerr << "  not a JSON " << (want_array ? "array" : "object") << "; try again\n";
        continue;
      }
      body[f.name] = v;
      return true;
    }
    if (f.type[0] == '[') {
      ojson arr = ojson::array();
      for (const auto& item : SplitCsv(line)) {
        std::string t = item;
        size_t b = t.find_first_not_of(' ');
        t = b == std::string::npos ? "" : t.substr(b);
        if (!t.empty()) arr.push_back(t);
      }
      body[f.name] = arr;
      return true;
    }
    if (f.type.rfind("enum:", 0) == 0) {
      if (std::find(f.enum_values.begin(), f.enum_values.end(), line) == f.enum_values.end()) {
        std::cerr << "  not one of the values listed; try again\n";
        continue;
      }
      body[f.name] = line;
      return true;
    }
    int64_t n = 0;
    if (!ParseInstant(line, n)) {
      std::cerr << "  not a number or date; try again\n";
      continue;
    }
    body[f.name] = n;
    return true;
  }
}

bool Stated(const ojson& body, const std::string& name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return false;
  if (it->is_string()) return !it->get<std::string>().empty();
  if (it->is_array() || it->is_object()) return !it->empty();
  return true;
}

int RunNew(const NewArgs& a) {
  auto k = schemas::ResolveKind(a.kind);
  if (!k.ok()) return Fail(k.status(), a.json);
  if (!k->is_request)
    return Fail(Status::InvalidArgument(k->name +
                                        " is an answer, not a request; see: mlahub request kinds"),
                a.json);
  workflow::Draft d;
  d.kind = k->kind;
  if (!a.from_json.empty()) {
    auto text = ReadText(a.from_json);
    if (!text.ok()) return Fail(text.status().Annotate(a.from_json), a.json);
    auto parsed = workflow::ParseDraft(*text, k->kind);
    if (!parsed.ok()) return Fail(AsUsage(parsed.status(), a.from_json), a.json);
    if (parsed->kind != k->kind)
      return Fail(
          Status::InvalidArgument(a.from_json + " is a " + wire::EnumNameMessageKind(parsed->kind) +
                                  ", not a " + k->name),
          a.json);
    d = *parsed;
  } else {
    d.body_json = "{}";
  }
  d.to = a.to;
  if (!a.from.empty()) d.from = a.from;
  if (!a.case_ref.empty()) d.case_ref = a.case_ref;
  if (!a.language.empty()) d.language = a.language;
  if (!a.legal_basis.empty()) {
    bool found = false;
    for (int i = 0; wire::EnumNamesLegalBasis()[i] != nullptr; ++i)
      if (a.legal_basis == wire::EnumNamesLegalBasis()[i]) {
        d.legal_basis = static_cast<wire::LegalBasis>(i);
        found = true;
      }
    if (!found)
      return Fail(Status::InvalidArgument("--legal-basis " + a.legal_basis +
                                          ": one of Untoc, PalermoProtocol, BilateralTreaty, "
                                          "Reciprocity, EuEio, EuEaw, EuEEvidence, "
                                          "EuropeanConventionExtradition, EuropeanConventionMla, "
                                          "DomesticLaw"),
                  a.json);
  }
  if (!a.priority.empty()) {
    if (a.priority == "Urgent" || a.priority == "urgent")
      d.priority = wire::Priority::Urgent;
    else if (a.priority == "Normal" || a.priority == "normal")
      d.priority = wire::Priority::Normal;
    else
      return Fail(Status::InvalidArgument("--priority: Normal or Urgent"), a.json);
  }

  bool interactive = a.from_json.empty() && ::isatty(STDIN_FILENO);
  if (interactive) {
    ojson body = ojson::parse(d.body_json, nullptr, false);
    if (!body.is_object()) body = ojson::object();
    auto fields = workflow::DescribeTable(k->name);
    if (!fields.ok()) return Fail(fields.status(), a.json);
    std::cerr << "Drafting a " << k->name << " (" << k->legal_basis << ") to " << d.to
              << ". Mandatory contents first, then those the law asks for where possible.\n"
              << "Press Enter to skip a field; end input (Ctrl-D) to stop and save.\n";
    if (d.legal_basis == wire::LegalBasis::Unspecified) {
      std::string line;
      if (ReadLine(
              "\nlegal basis [Untoc | PalermoProtocol | BilateralTreaty | Reciprocity | EuEio | "
              "EuEaw | EuEEvidence | ...]: ",
              line))
        for (int i = 1; wire::EnumNamesLegalBasis()[i] != nullptr; ++i)
          if (line == wire::EnumNamesLegalBasis()[i])
            d.legal_basis = static_cast<wire::LegalBasis>(i);
    }
    if (d.language.empty()) {
      std::string line;
      if (ReadLine("language of the request (ISO 639-1, e.g. en): ", line)) d.language = line;
    }
    if (d.legal_basis != wire::LegalBasis::Unspecified && !body.contains("legal_basis"))
      body["legal_basis"] = {{"basis", wire::EnumNameLegalBasis(d.legal_basis)}};
    if (!d.language.empty() && !body.contains("language")) body["language"] = d.language;
    bool more = true;
    for (const char* pass : {"mandatory", "conditional", "where_possible"}) {
      for (const auto& f : *fields) {
        if (!more) break;
        if (f.presence != pass || Stated(body, f.name)) continue;
        more = AskField(f, body);
      }
    }
    d.body_json = body.dump(2);
  }

  auto out = workflow::DraftToJson(d);
  if (!out.ok()) return Fail(out.status(), a.json);
  if (a.out.empty()) {
    std::cout << *out << std::flush;
  } else {
    // The draft holds personal data: owner-only.
    Status st = WriteFileAtomic(a.out, AsBytes(*out), 0600);
    if (!st.ok()) return Fail(st, a.json);
    std::cerr << "draft written to " << a.out << "\n";
  }
  auto fs = RunChecks(d, a.directory);
  if (!fs.ok()) return Fail(AsUsage(fs.status(), "the draft"), a.json);
  if (a.json && !a.out.empty()) {
    std::cout << FindingsJson(d, *fs).dump(2) << std::endl;
  } else {
    std::cerr << "\n";
    PrintFindings(std::cerr, d, *fs);
  }
  return workflow::Blocks(*fs) ? kExitRefused : kExitOk;
}

}  // namespace

void RegisterRequestDraftCommands(CLI::App* req) {
  auto c = std::make_shared<CheckArgs>();
  CLI::App* check = req->add_subcommand(
      "check", "Check a request file: every missing mandatory content, refusals, warnings");
  check
      ->add_option("FILE", c->file,
                   "Request file (workflow/README.md \"Request files\"), or - for stdin")
      ->required();
  check->add_option("--directory", c->directory,
                    "Network directory (directory.bin, or its JSON from 'mlahub directory show "
                    "--json'): checks the recipient's kinds, languages and treaty status");
  check->add_option("--from", c->from, "Sender node id (overrides the file's \"from\")");
  check->add_option("--to", c->to, "Recipient node id (overrides the file's \"to\")");
  check->add_option("--kind", c->kind, "Kind, when FILE is a bare body without header fields");
  check->add_flag("--json", c->json,
                  "Machine-readable: {kind, from, to, legal_basis, language, complete, counts, "
                  "findings: [{severity, path, citation, message}]}");
  check->footer(
      "Exit codes: 0 complete (warnings may remain), 3 incomplete or refused, 2 usage or not a\n"
      "request file, 4 file not found. Findings cite the provision each rests on.");
  check->callback([c] { ExitCode() = RunCheck(*c); });

  auto n = std::make_shared<NewArgs>();
  CLI::App* nw = req->add_subcommand(
      "new", "Draft a request: on a terminal, asks for each mandatory and where-possible content");
  nw->add_option("--kind", n->kind, "Request kind (mla, extradition, repatriation, ...)")
      ->required();
  nw->add_option("--to", n->to, "Recipient node id, e.g. NG-AGF")->required();
  nw->add_option("--from", n->from, "Sender node id");
  nw->add_option("--from-json", n->from_json,
                 "Start from this request file or bare body (no questions are asked)");
  nw->add_option("--out", n->out, "Write the draft here (mode 0600) instead of standard output");
  nw->add_option("--directory", n->directory, "Network directory, as for 'request check'");
  nw->add_option("--legal-basis", n->legal_basis, "Untoc, PalermoProtocol, BilateralTreaty, ...");
  nw->add_option("--language", n->language, "Language of the request, ISO 639-1");
  nw->add_option("--priority", n->priority, "Normal or Urgent");
  nw->add_option("--case-ref", n->case_ref, "Your case reference (a number, never a name)");
  nw->add_flag("--json", n->json, "With --out: print the check's findings as JSON");
  nw->footer(
      "Writes a request file, then checks it (as 'mlahub request check'); exit 0 complete,\n"
      "3 incomplete. Send it with 'mlahub send' once complete.");
  nw->callback([n] { ExitCode() = RunNew(*n); });
}

}  // namespace mlahub::cli
