// mlahub keygen: a node's keys and public identity.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/identity/keys.h"

namespace mlahub::cli {
namespace {

struct KeygenArgs {
  std::string id;
  std::string out;
  std::string role = "authority";
  bool protect = false;
  std::string passphrase_env = "MLAHUB_PASSPHRASE";
  bool json = false;
};

int RunKeygen(const KeygenArgs& a) {
  auto id = NodeId::Parse(a.id);
  if (!id.ok()) return Fail(id.status(), a.json);
  auto role = identity::ParseRole(a.role);
  if (!role.ok()) return Fail(role.status(), a.json);
  std::string passphrase;
  if (a.protect) {
    auto p = ReadPassphrase(a.passphrase_env, /*confirm=*/true);
    if (!p.ok()) return Fail(p.status(), a.json);
    if (p->empty())
      return Fail(Status::InvalidArgument("--protect needs a passphrase: set " + a.passphrase_env +
                                          " or run on a terminal"),
                  a.json);
    passphrase = std::move(*p);
  }
  identity::NodeKeys keys = identity::GenerateNodeKeys(*id, *role, SystemClock::Instance().NowMillis());
  Status st = identity::WriteKeyDir(keys, a.out, passphrase);
  if (!st.ok()) return Fail(st, a.json);
  auto pub = keys.Public();
  if (a.json) {
    nlohmann::json j;
    j["id"] = pub.id.str();
    j["role"] = std::string(identity::RoleName(pub.role));
    j["dir"] = a.out;
    j["protected"] = a.protect;
    j["sign_key"] = crypto::ToBase64(pub.sign_key);
    j["enc_key"] = crypto::ToBase64(pub.enc_key);
    j["curve_key"] = crypto::ToBase64(pub.curve_key);
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "Generated keys for " << pub.id.str() << " (" << identity::RoleName(pub.role) << ") in "
              << a.out << "\n"
              << "  node.key       secret keys, mode 0600" << (a.protect ? ", passphrase-protected (Argon2id)" : "")
              << "\n  identity.json  public identity: send this to the network operator\n"
              << "  signing key    " << crypto::ToBase64(pub.sign_key) << "\n"
              << "  encryption key " << crypto::ToBase64(pub.enc_key) << "\n"
              << "  transport key  " << crypto::ToBase64(pub.curve_key) << std::endl;
  }
  return kExitOk;
}

}  // namespace

void RegisterKeyCommands(CLI::App& app) {
  auto args = std::make_shared<KeygenArgs>();
  CLI::App* k = app.add_subcommand("keygen", "Generate a node's keys (Ed25519 signing, X25519 encryption and "
                                             "transport) and its public identity file");
  k->add_option("--id", args->id, "Node id: country code, '-', authority code (e.g. IT-MOJ)")->required();
  k->add_option("--out", args->out, "Directory to write node.key and identity.json into")->required();
  k->add_option("--role", args->role, "authority, hub or operator")->capture_default_str();
  k->add_flag("--protect", args->protect,
              "Encrypt node.key under a passphrase (Argon2id); read from $MLAHUB_PASSPHRASE or the terminal");
  k->add_option("--passphrase-env", args->passphrase_env, "Environment variable holding the passphrase")
      ->capture_default_str();
  k->add_flag("--json", args->json, "Machine-readable output");
  k->callback([args] { ExitCode() = RunKeygen(*args); });
}

}  // namespace mlahub::cli
