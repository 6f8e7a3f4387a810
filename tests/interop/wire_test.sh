#!/usr/bin/env bash
# An independent client of the mlahub transport (tests/interop/mlahub_wire.py, written from
# docs/PROTOCOL.md section 13 and the schemas only) against a real mlahub-broker and
# mlahub-agent on a network made by `mlahub network init`. One line per check
# (`ok - ...` / `FAIL - ...`), last line `N passed, M failed`.
#
# Usage: wire_test.sh BINDIR      (BINDIR holds mlahub, mlahub-broker, mlahub-agent)
# Exit: 0 all passed, 1 a check failed, 77 skipped (pyzmq with CURVE, PyNaCl, flatbuffers or
# flatc missing). Environment: PYTHON (default /usr/bin/python3), WIRE_LOAD_COUNT (envelopes
# of the kill -9 phase, default 300; 0 skips that phase).
set -euo pipefail

BIN=${1:-$(dirname "${BASH_SOURCE[0]}")/../../build/bin}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-/usr/bin/python3}

if ! command -v "$PY" >/dev/null ||
   ! "$PY" -c 'import zmq, nacl.bindings, flatbuffers, sys; sys.exit(0 if zmq.has("curve") else 1)' 2>/dev/null; then
  echo "SKIP: interop_wire_client needs Debian's python3-zmq (with CURVE), python3-nacl and python3-flatbuffers"
  exit 77
fi
if ! command -v "${FLATC:-flatc}" >/dev/null; then
  echo "SKIP: interop_wire_client needs flatc (flatbuffers-compiler)"
  exit 77
fi
for p in mlahub mlahub-broker mlahub-agent; do
  if [[ ! -x $BIN/$p ]]; then echo "wire_test.sh: no $p in $BIN" >&2; exit 1; fi
done
BIN=$(cd "$BIN" && pwd)

T=$(mktemp -d "${TMPDIR:-/tmp}/mlahub_wire.XXXXXX")
PIDS=$T/pids
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  local pid
  if [[ -f $PIDS ]]; then
    while read -r pid; do
      if [[ -n $pid ]]; then kill -9 "$pid" 2>/dev/null || true; fi
    done <"$PIDS"
  fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export MLAHUB_PEER_GENDIR="$T/gen"

# Ports: a random base below the kernel's ephemeral range, every port we need bindable.
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range
NODES=IT-MOJ,NG-AGF,TH-OAG,FR-MJ,PH-DOJ
NPORTS=20   # broker P, P+1; agent i: P+10+2i, P+11+2i for 5 nodes
cat >"$T/portcheck.py" <<'PYEOF'
import socket, sys
b, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
try:
    for p in range(b, b + n):
        s = socket.socket()
        s.bind(("127.0.0.1", p))
        socks.append(s)
except OSError:
    sys.exit(1)
PYEOF
base=
span=$((eph_lo - 100 - 10000 - NPORTS))
for _ in $(seq 1 50); do
  cand=$((10000 + (RANDOM * 32768 + RANDOM) % span))
  if "$PY" "$T/portcheck.py" "$cand" "$NPORTS"; then base=$cand; break; fi
done
if [[ -z $base ]]; then echo "wire_test.sh: no free port range found" >&2; exit 1; fi
echo "# network in $T/net, base port $base"

NET=$T/net
# A step the test depends on: on failure, say which and show its output.
step() {
  local log=$1; shift
  "$@" >"$log" 2>&1 || { echo "FAIL - $*"; sed 's/^/    /' "$log" | tail -n 20; echo "0 passed, 1 failed"; exit 1; }
}
step "$T/init.log" "$BIN/mlahub" network init --dir "$NET" --nodes "$NODES" --base-port "$base"
# Directory version 2: FR-MJ accepts MlaRequest only (for kind_not_accepted). The broker
# reads the file when it starts.
if ! "$BIN/mlahub" directory show --directory "$NET/directory.bin" \
  --root "$NET/operator/keys/identity.json" --json >"$T/draft.json" 2>"$T/show.err"; then
  echo "FAIL - mlahub directory show"; sed 's/^/    /' "$T/show.err"; echo "0 passed, 1 failed"; exit 1
fi
cat >"$T/restrict.py" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
for e in d["entries"]:
    if e["identity"]["id"] == "FR-MJ":
        e.setdefault("capabilities", {})["accepts"] = ["MlaRequest"]
json.dump(d, open(sys.argv[1], "w"))
PYEOF
"$PY" "$T/restrict.py" "$T/draft.json"
step "$T/sign.log" "$BIN/mlahub" directory sign --directory "$NET/directory.bin" --operator "$NET/operator/keys" \
  --from-json "$T/draft.json"

start=$(date +%s)
rc=0
"$PY" "$HERE/mlahub_wire.py" selftest --net "$NET" --bindir "$BIN" --work "$T" --pidfile "$PIDS" \
  --count "${WIRE_LOAD_COUNT:-300}" || rc=$?
echo "# runtime $(($(date +%s) - start)) s"
if ((rc != 0)); then
  for f in "$T"/broker.log "$T"/agent.log; do
    if [[ -f $f ]]; then
      echo "# last warnings/errors of $(basename "$f"):"
      grep -v '"level":"info"' "$f" | tail -n 15 | sed 's/^/#   /' || true
    fi
  done
fi
exit "$rc"
