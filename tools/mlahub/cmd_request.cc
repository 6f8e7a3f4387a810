#include "cli.h"
namespace mlahub::cli {
void RegisterRequestCommands(CLI::App&) {}
}  // namespace mlahub::cli
