// mlahub-bench: the benchmarks. Each subcommand prints one table with every
// figure beside the bound measured in the same run (../docs/BENCHMARKS.md).
#include <CLI/CLI.hpp>

#include "bench.h"

int main(int argc, char** argv) {
  CLI::App app{"mlahub-bench: measure mlahub beside the raw primitives it is built on", "mlahub-bench"};
  app.require_subcommand(1);
  int rc = 0;
  mlahub::bench::RegisterEnvelopeBench(app, rc);
  mlahub::bench::RegisterLedgerBench(app, rc);
  mlahub::bench::RegisterBrokerBench(app, rc);
  mlahub::bench::RegisterEvidenceBench(app, rc);
  mlahub::bench::RegisterHostBench(app, rc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return rc;
}
