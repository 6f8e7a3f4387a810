#!/usr/bin/env bash
# The README's main command: installs what is missing, builds the tool and
# the daemons, and runs `mlahub demo`: a local network of four central
# authorities (Italy, Nigeria, Thailand, the United Kingdom) and a hub on
# loopback ports, and one trafficking case played end to end through the
# agents (MLA request with further information and evidence files,
# provisional arrest, extradition refused on nationality with the
# extradite-or-prosecute follow-up, document and nationality verifications),
# with each request's timeline and clocks and a ledger inclusion proof
# checked against the hub's signed checkpoint.
#
# Usage: scripts/demo.sh [mlahub demo options]
#   --dir DIR        output directory (default ./demo-out; a directory an
#                    earlier demo made is recreated)
#   --keep-running   leave the network up and show how to use `mlahub` on it
#   --json           one JSON document at the end
# See `build/bin/mlahub demo --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

# Dependencies and build: messages on standard error only, so that with
# --json standard output is the demo's JSON document alone.
scripts/deps.sh >&2
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target mlahub mlahub-broker mlahub-agent >/dev/null

# --force: a re-run replaces the previous demo's directory (only a directory
# that `mlahub demo` made itself; anything else is refused).
exec "$ROOT/build/bin/mlahub" demo --force "$@"
