// mlahub directory create|add|revoke|rotate|sign|show: the operator's tools for
// the signed network directory (DESIGN.md "Trust").
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/directory/directory.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/identity/keys.h"
#include "mlahub/schemas/json_codec.h"

namespace mlahub::cli {
namespace {


struct Common {
  std::string file;
  std::string operator_dir;
  std::string passphrase_env = "MLAHUB_PASSPHRASE";
  bool json = false;
};

Result<identity::NodeKeys> LoadOperator(const Common& c) {
  MLAHUB_ASSIGN_OR_RETURN(identity::NodeKeys k, LoadKeyDirAsking(c.operator_dir, c.passphrase_env));
  if (k.role != identity::Role::kOperator)
    return Status::InvalidArgument(c.operator_dir + " holds the keys of " + k.id.str() +
                                   ", which is not an operator (keygen --role operator)");
  return k;
}

// Loads the current signed directory, verified with the operator's own key.
Result<directory::Directory> LoadCurrent(const Common& c, const identity::NodeKeys& op) {
  MLAHUB_ASSIGN_OR_RETURN(Bytes data, ReadFile(c.file, kMaxDirectoryBytes));
  auto d = directory::Directory::Verify(data, op.sign.public_key());
  if (!d.ok()) return d.status().Annotate(c.file);
  return d;
}

int SignAndWrite(const Common& c, const identity::NodeKeys& op, directory::Directory& d, const std::string& what) {
  Status st = SignDirectoryTo(d, op, c.file);
  if (!st.ok()) return Fail(st, c.json);
  if (c.json) {
    nlohmann::json j{{"directory", c.file}, {"network", d.network()}, {"version", d.version()},
                     {"entries", d.entries().size()}, {"change", what}};
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << what << "; signed directory version " << d.version() << " of network '" << d.network()
              << "' written to " << c.file << " (" << d.entries().size() << " nodes)" << std::endl;
  }
  return kExitOk;
}

void AddCommon(CLI::App* a, Common& c, bool needs_operator) {
  a->add_option("--directory", c.file, "Signed directory file")->required();
  if (needs_operator)
    a->add_option("--operator", c.operator_dir, "The operator's key directory (its signing key is the root key)")
        ->required();
  a->add_option("--passphrase-env", c.passphrase_env, "Environment variable with the operator key passphrase")
      ->capture_default_str();
  a->add_flag("--json", c.json, "Machine-readable output");
}

struct AddArgs {
  Common c;
  std::string identity_file, name, accepts, languages, untoc_18_14;
  bool untoc = false, protocol = false;
  int valid_days = 0;
};

int RunAdd(const AddArgs& a) {
  auto op = LoadOperator(a.c);
  if (!op.ok()) return Fail(op.status(), a.c.json);
  auto d = LoadCurrent(a.c, *op);
  if (!d.ok()) return Fail(d.status(), a.c.json);
  auto id = identity::LoadIdentity(a.identity_file);
  if (!id.ok()) return Fail(id.status(), a.c.json);
  directory::Entry e;
  e.identity = *id;
  e.name = a.name;
  for (const auto& k : SplitCsv(a.accepts)) {
    auto kind = envelope::ParseKind(k);
    if (!kind.ok()) return Fail(kind.status(), a.c.json);
    e.accepts.push_back(*kind);
  }
  e.languages = SplitCsv(a.languages);
  e.untoc_18_14 = a.untoc_18_14;
  e.untoc_party = a.untoc;
  e.protocol_party = a.protocol;
  UnixMillis now = SystemClock::Instance().NowMillis();
  e.valid_from_ms = now;
  if (a.valid_days > 0) e.valid_until_ms = now + int64_t{a.valid_days} * 86400000;
  Status st = d->Add(std::move(e));
  if (!st.ok()) return Fail(st, a.c.json);
  return SignAndWrite(a.c, *op, *d, "added " + id->id.str());
}

}  // namespace

void RegisterDirectoryCommands(CLI::App& app) {
  CLI::App* dir = app.add_subcommand("directory", "The network directory, signed by the operator's root key");
  dir->require_subcommand(1);

  // create
  auto cr = std::make_shared<std::pair<Common, std::string>>();
  CLI::App* create = dir->add_subcommand("create", "Start a new directory (version 1) holding the operator itself");
  AddCommon(create, cr->first, true);
  create->add_option("--network", cr->second, "Network name, e.g. palermo-net")->required();
  create->callback([cr] {
    Common& c = cr->first;
    if (FileExists(c.file)) {
      ExitCode() = Fail(Status::AlreadyExists(c.file + " exists; use add/revoke/rotate to change it"), c.json);
      return;
    }
    auto op = LoadOperator(c);
    if (!op.ok()) {
      ExitCode() = Fail(op.status(), c.json);
      return;
    }
    directory::Directory d(cr->second, 0, 0);
    directory::Entry e;
    e.identity = op->Public();
    e.name = "Network operator";
    e.accepts = {};
    Status st = d.Add(std::move(e));
    if (!st.ok()) {
      ExitCode() = Fail(st, c.json);
      return;
    }
    ExitCode() = SignAndWrite(c, *op, d, "created network '" + cr->second + "'");
  });

  // add
  auto ad = std::make_shared<AddArgs>();
  CLI::App* add = dir->add_subcommand("add", "Add a node from its public identity file (from mlahub keygen)");
  AddCommon(add, ad->c, true);
  add->add_option("--identity", ad->identity_file, "The node's identity.json (or key directory)")->required();
  add->add_option("--name", ad->name, "Name of the authority, e.g. \"Ministry of Justice, Rome\"");
  add->add_option("--accepts", ad->accepts, "Kinds it accepts, comma-separated (default: all)");
  add->add_option("--languages", ad->languages, "Languages accepted, ISO 639-1, comma-separated (e.g. en,fr)");
  add->add_option("--untoc-18-14", ad->untoc_18_14, "The state's UNTOC Art. 18(14) notification");
  add->add_flag("--untoc-party", ad->untoc, "The state is party to UNTOC");
  add->add_flag("--protocol-party", ad->protocol, "The state is party to the Trafficking in Persons Protocol");
  add->add_option("--valid-days", ad->valid_days, "Days the keys stay valid (default: until revoked)");
  add->callback([ad] { ExitCode() = RunAdd(*ad); });

  // revoke
  auto rv = std::make_shared<std::tuple<Common, std::string, std::string>>();
  CLI::App* revoke = dir->add_subcommand("revoke", "Revoke a node: its keys are refused from the new version on");
  AddCommon(revoke, std::get<0>(*rv), true);
  revoke->add_option("--id", std::get<1>(*rv), "Node id to revoke")->required();
  revoke->add_option("--reason", std::get<2>(*rv), "Why (kept in the directory)")->required();
  revoke->callback([rv] {
    Common& c = std::get<0>(*rv);
    auto op = LoadOperator(c);
    if (!op.ok()) return void(ExitCode() = Fail(op.status(), c.json));
    auto d = LoadCurrent(c, *op);
    if (!d.ok()) return void(ExitCode() = Fail(d.status(), c.json));
    Status st = d->Revoke(std::get<1>(*rv), std::get<2>(*rv), SystemClock::Instance().NowMillis());
    if (!st.ok()) return void(ExitCode() = Fail(st, c.json));
    ExitCode() = SignAndWrite(c, *op, *d, "revoked " + std::get<1>(*rv));
  });

  // rotate
  auto ro = std::make_shared<std::pair<Common, std::string>>();
  CLI::App* rotate = dir->add_subcommand("rotate", "Replace a node's keys with those of a new identity file");
  AddCommon(rotate, ro->first, true);
  rotate->add_option("--identity", ro->second, "The node's new identity.json")->required();
  rotate->callback([ro] {
    Common& c = ro->first;
    auto op = LoadOperator(c);
    if (!op.ok()) return void(ExitCode() = Fail(op.status(), c.json));
    auto d = LoadCurrent(c, *op);
    if (!d.ok()) return void(ExitCode() = Fail(d.status(), c.json));
    auto id = identity::LoadIdentity(ro->second);
    if (!id.ok()) return void(ExitCode() = Fail(id.status(), c.json));
    Status st = d->Rotate(*id);
    if (!st.ok()) return void(ExitCode() = Fail(st, c.json));
    ExitCode() = SignAndWrite(c, *op, *d, "rotated the keys of " + id->id.str());
  });

  // sign
  auto sg = std::make_shared<std::pair<Common, std::string>>();
  CLI::App* sign = dir->add_subcommand(
      "sign", "Sign the next version: of the current file, or of a JSON draft (FlatBuffers JSON of Directory, "
              "as printed by 'show --json')");
  AddCommon(sign, sg->first, true);
  sign->add_option("--from-json", sg->second, "JSON draft to sign as the next version");
  sign->callback([sg] {
    Common& c = sg->first;
    auto op = LoadOperator(c);
    if (!op.ok()) return void(ExitCode() = Fail(op.status(), c.json));
    auto current = LoadCurrent(c, *op);
    if (!current.ok()) return void(ExitCode() = Fail(current.status(), c.json));
    directory::Directory next = *current;
    if (!sg->second.empty()) {
      auto text = ReadFile(sg->second, kMaxDirectoryBytes);
      if (!text.ok()) return void(ExitCode() = Fail(text.status(), c.json));
      auto bin = schemas::JsonCodec::Instance().ToBinary("Directory", AsString(*text));
      if (!bin.ok()) return void(ExitCode() = Fail(bin.status().Annotate(sg->second), c.json));
      auto draft = directory::Directory::DecodeUnsigned(*bin);
      if (!draft.ok()) return void(ExitCode() = Fail(draft.status().Annotate(sg->second), c.json));
      if (draft->network() != current->network())
        return void(ExitCode() = Fail(Status::InvalidArgument("the draft is for another network"), c.json));
      next = *draft;
      // The version always moves forward from the signed one, whatever the draft says.
      next.ContinueFrom(current->version());
    }
    ExitCode() = SignAndWrite(c, *op, next, "signed");
  });

  // show
  auto sh = std::make_shared<std::pair<Common, std::string>>();
  CLI::App* show = dir->add_subcommand("show", "Verify and print a signed directory");
  AddCommon(show, sh->first, false);
  show->add_option("--root", sh->second,
                   "The operator's identity file: verify the signature with its key (recommended)");
  show->callback([sh] {
    Common& c = sh->first;
    auto data = ReadFile(c.file, kMaxDirectoryBytes);
    if (!data.ok()) return void(ExitCode() = Fail(data.status(), c.json));
    Result<directory::Directory> d = Status::Internal("unset");
    bool verified = false;
    if (!sh->second.empty()) {
      auto root = identity::LoadIdentity(sh->second);
      if (!root.ok()) return void(ExitCode() = Fail(root.status(), c.json));
      d = directory::Directory::Verify(*data, root->sign_key);
      verified = true;
    } else {
      d = directory::Directory::DecodeUnverified(*data);
    }
    if (!d.ok()) return void(ExitCode() = Fail(d.status().Annotate(c.file), c.json));
    if (c.json) {
      std::cout << d->ToJson();
      return void(ExitCode() = kExitOk);
    }
    UnixMillis now = SystemClock::Instance().NowMillis();
    std::cout << "network " << d->network() << ", version " << d->version() << ", issued "
              << FormatRfc3339(d->issued_ms()) << (verified ? ", signature verified" : ", signature NOT checked (use --root)")
              << "\n";
    std::printf("%-20s %-10s %-8s %-9s %-7s %s\n", "node", "role", "status", "UNTOC/TIP", "langs", "name");
    for (const auto& [id, e] : d->entries()) {
      std::string langs;
      for (const auto& l : e.languages) langs += (langs.empty() ? "" : ",") + l;
      std::string status = "active";
      if (!d->CheckSender(id, now).ok()) {
        if (e.revoked) status = "revoked";
        else if (e.valid_from_ms != 0 && now < e.valid_from_ms) status = "pending";  // not yet valid
        else status = "expired";
      }
      std::printf("%-20s %-10s %-8s %-9s %-7s %s\n", id.c_str(), std::string(identity::RoleName(e.identity.role)).c_str(),
                  status.c_str(), (std::string(e.untoc_party ? "yes" : "no") + "/" + (e.protocol_party ? "yes" : "no")).c_str(),
                  langs.c_str(), e.name.c_str());
    }
    ExitCode() = kExitOk;
  });
}

}  // namespace mlahub::cli
