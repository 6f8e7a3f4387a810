#include "cli.h"
namespace mlahub::cli {
void RegisterLedgerCommands(CLI::App&) {}
}  // namespace mlahub::cli
