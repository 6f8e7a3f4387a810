#!/usr/bin/env bash
# The README's main job: a local multi-country network on embedded defaults,
# end to end, with the real programs:
#   1. `mlahub network init`: an operator root key, the hub's keys, three
#      central authorities (Italy, Nigeria, Thailand), the signed directory
#      and ready-to-run config files;
#   2. the hub (mlahub-broker) and one agent per authority (mlahub-agent),
#      each from its own config file, on loopback ports picked here;
#   3. Italy sends an MLA request in a trafficking case to Nigeria through the
#      hub: end-to-end encrypted, signed, ledgered; Nigeria's agent stores it
#      and signs a receipt; Italy follows the transport evidence;
#   4. Nigeria reads it and acknowledges it (an answer in reply);
#   5. Thailand's agent is offline while a request for it arrives; the hub
#      keeps it and delivers it when the agent returns;
#   6. refusals with named codes (a recipient not in the directory);
#   7. each agent has audited the hub's ledger (checkpoints, consistency and
#      inclusion proofs); the hub's metrics;
#   8. everything stops cleanly, and anyone can verify the ledger with
#      standard RFC 9162 / C2SP tools.
# Usage: scripts/demo.sh [OUT_DIR]   (default: ./demo-out, recreated)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-$ROOT/demo-out}

scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" >/dev/null
BIN=$ROOT/build/bin
MLAHUB=$BIN/mlahub

rm -rf "$OUT"
mkdir -p "$OUT/logs"
cd "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# The first N lines of a command's captured output. Not `cmd | head`: with
# pipefail, head closing the pipe early fails the demo with SIGPIPE (141).
first() { sed -n "1,$1p" <<<"$2"; }

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# A base port with 20 free ports above it (the layout uses P .. P+15).
free_base() {
  python3 - <<'EOF'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 59000)
    try:
        socks = []
        for p in range(base, base + 20):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        for s in socks: s.close()
        print(base); break
    except OSError:
        for s in socks: s.close()
EOF
}

# Waits until DATA/ready.json names PID; fails if the process dies.
wait_ready() {
  local file=$1 pid=$2 name=$3
  for _ in $(seq 1 600); do
    if [[ -f $file ]] && grep -q "\"pid\": *$pid[,}]" "$file"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited; its log:"; tail -n 20 "logs/$name.log"; exit 1
    fi
    sleep 0.1
  done
  echo "$name did not become ready; its log:"; tail -n 20 "logs/$name.log"; exit 1
}

start_broker() {
  "$BIN/mlahub-broker" --config net/hub/broker.toml 2>>logs/broker.log &
  BROKER=$!
  PIDS+=("$BROKER")
  wait_ready net/hub/data/ready.json "$BROKER" broker
}

declare -A AGENT
start_agent() {
  local id=$1
  "$BIN/mlahub-agent" --config "net/nodes/$id/agent.toml" 2>>"logs/$id.log" &
  AGENT[$id]=$!
  PIDS+=("${AGENT[$id]}")
  wait_ready "net/nodes/$id/data/ready.json" "${AGENT[$id]}" "$id"
}

stop() {  # SIGTERM and wait: a clean exit is code 0
  local pid=$1 name=$2
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  echo "$name stopped (exit code $rc)"
  [[ $rc -eq 0 ]] || exit 1
}

# Polls `mlahub status` until the message has reached EVENT (e.g. receipt).
wait_state() {
  local agent=$1 id=$2 want=$3
  for _ in $(seq 1 300); do
    if "$MLAHUB" status --agent "$agent" "$id" --json | grep -q "\"$want\""; then return 0; fi
    sleep 0.1
  done
  echo "message $id did not reach '$want':"
  "$MLAHUB" status --agent "$agent" "$id"
  exit 1
}

IT=net/nodes/IT-MOJ/agent.toml
NG=net/nodes/NG-AGF/agent.toml
TH=net/nodes/TH-OAG/agent.toml

step "1. A local network: operator, hub, and three central authorities"
BASE=$(free_base)
"$MLAHUB" network init --dir net --nodes IT-MOJ,NG-AGF,TH-OAG --network palermo-demo --base-port "$BASE"
ls -l net/nodes/IT-MOJ/keys
first 12 "$("$MLAHUB" directory show --directory net/directory.bin --root net/operator/keys/identity.json)"

step "2. The hub and the three agents, each from its config file"
start_broker
echo "mlahub-broker: $(cat net/hub/data/ready.json)"
for id in IT-MOJ NG-AGF TH-OAG; do
  start_agent "$id"
  echo "mlahub-agent $id: $(cat "net/nodes/$id/data/ready.json")"
done

step "3. Italy sends an MLA request (UNTOC Art. 18) in a trafficking case to Nigeria"
MID=$("$MLAHUB" send --agent "$IT" --to NG-AGF --kind MlaRequest --body "$ROOT/docs/examples/mla-request.json" \
  --case-ref IT-MOJ/2026/0042 --legal-basis Untoc --handling H2)
echo "message id $MID"
wait_state "$IT" "$MID" receipt
echo "Italy's transport evidence (submission accepted, delivered, signed receipt):"
"$MLAHUB" status --agent "$IT" "$MID"
if grep -rqa "Lagos" net/hub/data; then echo "plaintext at the hub!"; exit 1; fi
echo "(the hub holds no personal data: grep for the victim's city in its store and ledger finds nothing)"

step "4. Nigeria reads the request and acknowledges it"
"$MLAHUB" inbox --agent "$NG"
first 24 "$("$MLAHUB" show --agent "$NG" "$MID")"
echo "..."
ACK=$(echo '{}' | "$MLAHUB" send --agent "$NG" --to IT-MOJ --kind Acknowledgement --in-reply-to "$MID" \
  --case-ref NG-AGF/MLA/2026/17 --body -)
wait_state "$NG" "$ACK" receipt
"$MLAHUB" inbox --agent "$IT"

step "5. Thailand's agent is offline while a request for it arrives"
stop "${AGENT[TH-OAG]}" TH-OAG
DOC=$("$MLAHUB" send --agent "$IT" --to TH-OAG --kind DocumentVerificationRequest \
  --case-ref IT-MOJ/2026/0043 --legal-basis PalermoProtocol --body "$ROOT/docs/examples/document-verification.json")
wait_state "$IT" "$DOC" accepted
echo "accepted and stored by the hub, not yet delivered:"
"$MLAHUB" status --agent "$IT" "$DOC"
start_agent TH-OAG
wait_state "$IT" "$DOC" receipt
echo "Thailand is back: delivered and receipted"
"$MLAHUB" status --agent "$IT" "$DOC"

step "6. Refusals carry a named code and say what to do"
set +e
"$MLAHUB" send --agent "$IT" --to FR-MOJ --kind MlaRequest --body "$ROOT/docs/examples/mla-request.json"
echo "exit code $?"
set -e

step "7. Every agent audits the hub's ledger; the hub's metrics"
sleep 2
for id in IT-MOJ NG-AGF TH-OAG; do
  echo "-- $id"
  "$MLAHUB" agent audit --agent "net/nodes/$id/agent.toml"
done
"$MLAHUB" alarms --agent "$IT"
METRICS=$(python3 -c 'import json; print(json.load(open("net/hub/data/ready.json"))["metrics"])')
first 12 "$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://$METRICS/metrics').read().decode())" \
  | grep -E '^mlahub_broker_(accepted|delivered|receipts|refused)')"

step "8. Everything stops cleanly; anyone can check the hub's ledger"
for id in IT-MOJ NG-AGF TH-OAG; do stop "${AGENT[$id]}" "$id"; done
stop "$BROKER" broker
PIDS=()
LEDGER=net/hub/data/ledger
"$MLAHUB" ledger public-key --ledger "$LEDGER"
"$MLAHUB" ledger checkpoint --ledger "$LEDGER"
"$MLAHUB" ledger prove --index 1 --ledger "$LEDGER" --json | cut -c1-300
first 16 "$("$MLAHUB" ledger show --index 1 --ledger "$LEDGER")"
"$MLAHUB" ledger verify --ledger "$LEDGER"

step "Done. Everything is in $OUT (network in net/, daemon logs in logs/)"
