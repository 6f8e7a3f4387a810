// mlahub: the tool for prosecutors, liaison officers and operators.
#include <iostream>

#include "cli.h"

int main(int argc, char** argv) {
  CLI::App app{
      "mlahub: draft, seal and check requests for mutual legal assistance and extradition,\n"
      "manage node keys, and audit the hub's tamper-evident ledger.\n"
      "Exit codes: 0 ok, 1 internal, 2 usage, 3 refused (named protocol error), 4 not found,\n"
      "5 I/O, 6 corruption or failed verification, 7 bad passphrase.",
      "mlahub"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mlahub 0.1.0");
  mlahub::cli::RegisterKeyCommands(app);
  mlahub::cli::RegisterEnvelopeCommands(app);
  mlahub::cli::RegisterRequestCommands(app);
  mlahub::cli::RegisterLedgerCommands(app);
  mlahub::cli::RegisterDirectoryCommands(app);
  mlahub::cli::RegisterNetworkCommands(app);
  mlahub::cli::RegisterAgentCommands(app);
  mlahub::cli::RegisterEvidenceCommands(app);
  mlahub::cli::RegisterCaseCommands(app);
  mlahub::cli::RegisterDemoCommands(app);
  mlahub::cli::RegisterPolicyCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : mlahub::cli::kExitUsage;
  }
  return mlahub::cli::ExitCode();
}
