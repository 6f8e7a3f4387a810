#!/usr/bin/env bash
# The hub's ledger checked by an independent auditor (tests/interop/ledger_audit.py, written
# from docs/LEDGER.md, ../shared/DESIGN.md, schemas/*.fbs, RFC 9162 and C2SP alone) against a
# real network: `mlahub network init`, a real mlahub-broker and two real mlahub-agents on
# loopback ports picked here, traffic through the agents, then every `mlahub ledger ...` output
# verified: while the broker runs (the ledger directory read beside it, and the checkpoint the
# broker pushed to an agent) and again after it stopped. See ledger_audit.py's docstring.
#
# Usage: ledger_audit_test.sh [BINDIR]   (default build/bin of this checkout: mlahub, mlahub-broker,
#        mlahub-agent)
# Output: one line per check, `ok - ...` or `FAIL - ...`; last line `N passed, M failed`.
# Exit: 0 all passed, 1 a check failed, 77 skipped (python3 or python3-nacl missing).
set -uo pipefail

BIN=${1:-$(dirname "${BASH_SOURCE[0]}")/../../build/bin}
BIN=$(cd "$BIN" 2>/dev/null && pwd) || { echo "ledger_audit_test.sh: no directory ${1:-}" >&2; exit 1; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-/usr/bin/python3}
AUDITOR="$HERE/ledger_audit.py"

if ! command -v "$PY" >/dev/null 2>&1 || ! "$PY" -c 'import nacl.bindings, nacl.exceptions' 2>/dev/null; then
  echo "SKIP: interop_ledger_audit needs python3 with Debian's python3-nacl (scripts/deps.sh installs it)"
  exit 77
fi
for b in mlahub mlahub-broker mlahub-agent; do
  if [[ ! -x "$BIN/$b" ]]; then
    echo "ledger_audit_test.sh: no $b in $BIN" >&2
    exit 1
  fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/mlahub_ledger_audit.XXXXXX")
PIDS=()
passed=0
failed=0
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if ((failed > 0)) || [[ -n ${KEEP_LEDGER_AUDIT:-} ]]; then
    echo "# logs and ledger kept in $T"
  else
    rm -rf "$T"
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cd "$T" || exit 1
mkdir -p bin logs

# Copies, so that a rebuild during the run does not swap the binaries under us.
for b in mlahub mlahub-broker mlahub-agent; do cp "$BIN/$b" bin/; done
M="$T/bin/mlahub"

ok() { passed=$((passed + 1)); echo "ok - $1"; }
bad() {
  failed=$((failed + 1)); echo "FAIL - $1"
  if [[ -n "${2:-}" ]]; then sed 's/^/    /' <<<"$2" | head -n 20; fi
}
die() {  # a step the rest depends on failed: report, show the logs, stop
  bad "$1" "${2:-}"
  for f in logs/*.log; do [[ -s $f ]] && { echo "# tail $f"; tail -n 15 "$f" | sed 's/^/    /'; }; done
  echo "$passed passed, $failed failed"
  exit 1
}
jget() {  # jget FILE PYTHON-EXPR over j
  "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}

# ---------------------------------------------------------------------------
echo "# setup: ports, network, daemons"
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range
hi=$((eph_lo - 100 - 14))
((hi > 10100)) || die "ephemeral port range starts at $eph_lo: no room below it"
P=""
for _ in $(seq 1 60); do
  cand=$((10000 + (RANDOM * 32768 + RANDOM) % (hi - 10000)))
  if "$PY" - "$cand" <<'EOF'
import socket, sys
p = int(sys.argv[1])
for q in [p, p + 1] + list(range(p + 10, p + 14)):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", q))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
  then P=$cand; break; fi
done
[[ -n $P ]] || die "no free loopback port block below $eph_lo"
echo "# base port $P (ephemeral range starts at $eph_lo)"

out=$("$M" network init --dir net --nodes IT-MOJ,NG-AGF --base-port "$P" 2>&1) \
  || die "mlahub network init" "$out"
ok "mlahub network init --nodes IT-MOJ,NG-AGF --base-port $P"
A=net/nodes/IT-MOJ/agent.toml
B=net/nodes/NG-AGF/agent.toml
L=net/hub/data/ledger

wait_ready() {  # wait_ready FILE PID NAME: the daemon wrote FILE naming its pid
  local f=$1 pid=$2 name=$3 deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -s $f ]] && [[ $(jget "$f" 'j.get("pid")' 2>/dev/null) == "$pid" ]]; then return 0; fi
    sleep 0.1
  done
  return 1
}
bin/mlahub-broker --config net/hub/broker.toml >logs/broker.log 2>&1 &
BROKER=$!
PIDS+=("$BROKER")
wait_ready net/hub/data/ready.json "$BROKER" broker || die "mlahub-broker ready (ready.json with its pid)"
ok "mlahub-broker runs (pid $BROKER)"
AGENTS=()
for n in IT-MOJ NG-AGF; do
  bin/mlahub-agent --config "net/nodes/$n/agent.toml" >"logs/$n.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  AGENTS+=("$pid")
  wait_ready "net/nodes/$n/data/ready.json" "$pid" "$n" || die "mlahub-agent $n ready"
done
connected() {  # connected CFG
  local deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    if "$M" agent health --agent "$1" --json >health.json 2>/dev/null \
      && [[ $(jget health.json 'j.get("connection")') == connected ]]; then return 0; fi
    sleep 0.2
  done
  return 1
}
connected "$A" && connected "$B" || die "both agents connected to the broker"
ok "agents IT-MOJ and NG-AGF run and are connected"

# ---------------------------------------------------------------------------
echo "# traffic"
TAG=$("$PY" -c 'import secrets; print(secrets.token_hex(6))')
SECRET="PLAINTEXT-$TAG-Agadez-route"     # in request bodies (end-to-end encrypted)
NAME="Zqxwerty$TAG"                      # a person's name in an MLA request body
CASEREF="IT-AUDIT-$TAG"                  # the case reference (travels in the clear header)
"$PY" - "$HERE/../../docs/examples/information-exchange.json" "$HERE/../../examples/requests/mla-trafficking-complete.json" \
  "$SECRET" "$NAME" <<'EOF' || die "make request bodies"
import json, sys
ie, mla, secret, name = sys.argv[1:]
j = json.load(open(ie))
j["content"] = "Victims are moved along the " + secret + " to Tripoli."
json.dump(j, open("ie_it.json", "w"))
j["sending_authority"] = {"name": "Attorney General of the Federation", "function": "central authority", "state": "NG"}
json.dump(j, open("ie_ng.json", "w"))
m = json.load(open(mla))["body"]
for p in m.get("persons", []):
    p["family_name"] = name
json.dump(m, open("mla.json", "w"))
EOF

: >sent.txt   # "CFG MESSAGE_ID" per message sent
send() {  # send CFG TO KIND BODY [options]: through the agent; records the id (also run with &)
  local cfg=$1 to=$2 kind=$3 body=$4; shift 4
  local f
  f=$(mktemp send.XXXXXX)
  if "$M" send --agent "$cfg" --to "$to" --kind "$kind" --body "$body" --json "$@" >"$f" 2>"$f.err"; then
    echo "$cfg $(jget "$f" 'j["message_id"]')" >>sent.txt
  else
    { echo "mlahub send $kind to $to"; cat "$f" "$f.err"; } >"$f.failed"
  fi
}
send_failures() {  # count the sends that failed (in this shell or in background jobs)
  local f
  for f in send.*.failed; do
    [[ -e $f ]] || continue
    bad "$(head -n 1 "$f")" "$(tail -n +2 "$f")"
    rm -f "$f"
  done
}
wait_all_receipted() {  # every message in sent.txt receipted (status of the sender's agent)
  local deadline=$((SECONDS + 90)) cfg id pending
  while ((SECONDS < deadline)); do
    pending=0
    while read -r cfg id; do
      if ! "$M" status "$id" --agent "$cfg" --json >st.json 2>/dev/null \
        || [[ $(jget st.json 'j.get("state")') != receipted ]]; then
        pending=$((pending + 1))
      fi
    done <sent.txt
    ((pending == 0)) && return 0
    sleep 0.3
  done
  echo "$pending message(s) not receipted"
  return 1
}

for i in 1 2 3; do
  send "$A" NG-AGF InformationExchange ie_it.json --legal-basis PalermoProtocol
done
send_failures
msg=$(wait_all_receipted) && ok "phase 1: 3 messages IT-MOJ -> NG-AGF receipted" \
  || die "phase 1: messages receipted" "$msg"

# Captured while the broker runs: the verifier key and an early checkpoint, read from the
# ledger directory beside the broker, and the checkpoint the broker pushed to an agent.
"$M" ledger public-key --ledger "$L" >vkey.txt 2>vkey.err || die "ledger public-key (broker running)" "$(cat vkey.err)"
"$M" ledger checkpoint --ledger "$L" >early.note 2>early.err || die "ledger checkpoint (broker running)" "$(cat early.err)"
ok "captured the verifier key and an early checkpoint while the broker runs"
echo "# verifier key: $(cat vkey.txt)"
# "A verifier key obtained out of band": the hub's Ed25519 key is in its identity (and the
# signed directory); compare the printed key with it.
vk_ok=$("$PY" - vkey.txt net/hub/keys/identity.json <<'EOF'
import base64, json, sys
vk = open(sys.argv[1]).read().strip()
name, kid, key = vk.split("+", 2)
pk = base64.b64decode(key)[1:]
print(pk == bytes(json.load(open(sys.argv[2]))["sign_key"]))
EOF
)
[[ $vk_ok == True ]] && ok "verifier key's public key = the hub's Ed25519 key (net/hub/keys/identity.json)" \
  || bad "verifier key's public key is not the hub's identity key"

# the agent's copy of the broker's newest checkpoint (pushed every second)
early_size=$(sed -n 2p early.note)
deadline=$((SECONDS + 60)); got=""
while ((SECONDS < deadline)); do
  if "$M" agent audit --agent "$A" --json >audit.json 2>/dev/null \
    && [[ $(jget audit.json '(j.get("checkpoint") or {}).get("tree_size", -1) >= '"$early_size") == True ]]; then
    "$PY" -c 'import json,sys; sys.stdout.write(json.load(open("audit.json"))["checkpoint"]["note"])' >agent.note
    got=1; break
  fi
  sleep 0.3
done
[[ -n $got ]] && ok "the checkpoint the running broker pushed to IT-MOJ (mlahub agent audit --json), size $(sed -n 2p agent.note)" \
  || bad "agent IT-MOJ did not report a checkpoint of size >= $early_size" "$(cat audit.json 2>/dev/null)"
if [[ -n $got ]]; then
  jget audit.json '"consistency=%s inclusion=%s failed=%s alarms=%s" % (j.get("consistency_verified"), j.get("inclusion_verified"), j.get("checks_failed"), j.get("alarms"))' >audit.txt
  [[ $(jget audit.json 'j.get("checks_failed") == 0 and j.get("alarms") == 0') == True ]] \
    && ok "agent's own audit of the hub: no failed check, no alarm ($(cat audit.txt))" \
    || bad "agent's own audit reports failures" "$(cat audit.json)"
fi

echo "# phase 2: requests, answers, both directions, partly concurrent"
send "$A" NG-AGF MlaRequest mla.json --priority Urgent --handling H2 --case-ref "$CASEREF"
send "$A" NG-AGF MlaRequest mla.json --handling H1 --case-ref "$CASEREF-B"
for i in 1 2 3 4 5 6 7 8; do
  send "$B" IT-MOJ InformationExchange ie_ng.json --legal-basis PalermoProtocol --handling H2 &
done
for i in 1 2 3 4 5 6 7; do
  send "$A" NG-AGF InformationExchange ie_it.json --legal-basis PalermoProtocol --handling H1 &
done
wait_jobs() { local j; for j in $(jobs -p); do [[ " ${PIDS[*]} " == *" $j "* ]] || wait "$j"; done; }
wait_jobs
send_failures
msg=$(wait_all_receipted) || bad "phase 2: messages receipted" "$msg"
# NG-AGF acknowledges both MLA requests (answers with in_reply_to)
for id in $(awk 'NR==4||NR==5 {print $2}' sent.txt); do
  if "$M" respond "$id" --agent "$B" --step acknowledge --reference "2026-$RANDOM" --json >resp.json 2>resp.err; then
    echo "$B $(jget resp.json 'j["message_id"]')" >>sent.txt
  else
    bad "NG-AGF acknowledges $id" "$(cat resp.json resp.err)"
  fi
done
msg=$(wait_all_receipted) && ok "phase 2: $(($(wc -l <sent.txt) - 3)) more messages receipted ($(wc -l <sent.txt) in all)" \
  || bad "phase 2: messages receipted" "$msg"

# The agents' records of what they sent, for the auditor to compare with the entries.
"$PY" - "$M" <<'EOF' >messages.json || bad "collect the agents' records"
import base64, hashlib, json, subprocess, sys
m = sys.argv[1]
out = []
for line in open("sent.txt"):
    cfg, mid = line.split()
    show = json.loads(subprocess.run([m, "show", mid, "--agent", cfg, "--json"], capture_output=True, check=True).stdout)
    st = json.loads(subprocess.run([m, "status", mid, "--agent", cfg, "--json"], capture_output=True, check=True).stdout)
    rec = show["message"]
    idx = {}
    for ev in st.get("timeline", []):
        if ev.get("event") in ("accepted", "delivered", "receipt") and "ledger_index" in ev:
            idx.setdefault(ev["event"], ev["ledger_index"])
    r = show.get("receipt") or {}
    out.append({"message_id": mid, "sender": cfg.split("/")[2], "recipient": rec["recipient"],
                "kind": rec["kind"], "priority": rec["priority"], "handling": rec["handling"],
                "legal_basis": rec["legal_basis"], "in_reply_to": rec.get("in_reply_to", ""),
                "envelope_hash": rec["envelope_hash"], "envelope_size": rec["envelope_size"],
                "ledger_index": idx, "signed_receipt": r.get("signed_receipt")})
json.dump(out, sys.stdout)
EOF

"$M" ledger checkpoint --ledger "$L" >late.note 2>late.err || bad "ledger checkpoint (broker running)" "$(cat late.err)"

# ---------------------------------------------------------------------------
echo "# audit of the ledger directory while the broker runs"
AUD=("$PY" "$AUDITOR" audit --mlahub "$M" --ledger "$L" --hub-identity net/hub/keys/identity.json
     --directory-bin net/directory.bin --identities net/nodes --messages messages.json
     --secret "$SECRET" --secret "$NAME" --secret "$CASEREF" --secret "Agadez"
     --note early.note --note late.note --min-entries 64 --min-checkpoints 5)
[[ -s agent.note ]] && AUD+=(--note agent.note)
count() {  # count OUTPUT-FILE: add the auditor's ok/FAIL lines to ours
  local o f
  o=$(grep -c '^ok - ' "$1"); f=$(grep -c '^FAIL - ' "$1")
  passed=$((passed + o)); failed=$((failed + f))
}
"${AUD[@]}" --label live >audit_live.out 2>&1
rc=$?
grep -v '^[0-9]* passed, [0-9]* failed$' audit_live.out
count audit_live.out
((rc == 0 || $(grep -c '^FAIL - ' audit_live.out) > 0)) || bad "auditor (live) exit $rc without a FAIL line"

# Literally as docs/LEDGER.md "How an auditor verifies with standard tools" step 2, where Go and
# Debian's golang-golang-x-mod-dev are installed: note.Open with note.NewVerifier(vkey).
GONOTE=/usr/share/gocode/src/golang.org/x/mod/sumdb/note
if command -v go >/dev/null 2>&1 && [[ -d $GONOTE ]]; then
  mkdir -p gopath/src/notecheck
  cat >gopath/src/notecheck/main.go <<'EOF'
package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

func main() {
	vkey, _ := os.ReadFile(os.Args[1])
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		fmt.Println("NewVerifier:", err)
		os.Exit(1)
	}
	for _, f := range os.Args[2:] {
		msg, _ := os.ReadFile(f)
		n, err := note.Open(msg, note.VerifierList(v))
		if err != nil {
			fmt.Printf("%s: Open: %v\n", f, err)
			os.Exit(1)
		}
		fmt.Printf("%s: verified by %s+%08x\n", f, n.Sigs[0].Name, n.Sigs[0].Hash)
	}
}
EOF
  if GO111MODULE=off GOPATH="$T/gopath:/usr/share/gocode" GOCACHE="$T/gocache" go build -o notecheck notecheck >go.err 2>&1; then
    notes=(early.note late.note); [[ -s agent.note ]] && notes+=(agent.note)
    out=$(./notecheck vkey.txt "${notes[@]}" 2>&1) && ok "Go golang.org/x/mod/sumdb/note: NewVerifier(public-key) + Open verifies ${notes[*]}" \
      || bad "Go note.Open refuses mlahub's checkpoint" "$out"
    "$PY" -c '
import base64, sys
n = open("late.note", "rb").read(); i = n.rindex(b" ") + 1
s = bytearray(base64.b64decode(n[i:-1])); s[20] ^= 1
open("forged.note", "wb").write(n[:i] + base64.b64encode(bytes(s)) + b"\n")'
    out=$(./notecheck vkey.txt forged.note 2>&1) && bad "Go note.Open accepts a flipped signature" "$out" \
      || ok "Go note.Open refuses the checkpoint with a flipped signature byte ($out)"
  else
    echo "skip - Go note check: go build failed: $(head -c 300 go.err)"
  fi
else
  echo "skip - Go note check (docs/LEDGER.md step 2 literally): no go or no golang-golang-x-mod-dev here"
fi

# ---------------------------------------------------------------------------
echo "# stop the daemons (SIGTERM), then audit the closed ledger"
# exit_within PID SECONDS: the daemon's exit code, or 124 (and kill -9) if it is still running
# after SECONDS: a daemon that hangs on SIGTERM fails the check instead of stalling the test.
exit_within() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2>/dev/null; then kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; return 124; fi
  wait "$1"
}
for p in "${AGENTS[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${AGENTS[@]}"; do exit_within "$p" 30; rc=$?; ((rc == 0)) && ok "agent pid $p exits 0 on SIGTERM" || bad "agent pid $p exit $rc on SIGTERM"; done
kill -TERM "$BROKER"
exit_within "$BROKER" 90; rc=$?
((rc == 0)) && ok "mlahub-broker exits 0 on SIGTERM" || bad "mlahub-broker exit $rc on SIGTERM" "$(tail -n 5 logs/broker.log)"
PIDS=()

"$M" ledger checkpoint --ledger "$L" >final.note 2>final.err || bad "ledger checkpoint (closed)" "$(cat final.err)"
# The documented storage layout, read with RocksDB's own ldb (Debian rocksdb-tools) from a copy.
LDB=()
if command -v ldb >/dev/null 2>&1; then
  cp -r "$L" ledger-copy && LDB=(--ldb "$(command -v ldb)" --ldb-db ledger-copy/db)
else
  echo "skip - storage layout checks (docs/LEDGER.md \"Entry records\", key layout): no ldb (rocksdb-tools) here"
fi
"${AUD[@]}" --note final.note --label closed --negative "${LDB[@]}" >audit_closed.out 2>&1
rc=$?
grep -v '^[0-9]* passed, [0-9]* failed$' audit_closed.out
count audit_closed.out
((rc == 0 || $(grep -c '^FAIL - ' audit_closed.out) > 0)) || bad "auditor (closed) exit $rc without a FAIL line"

# A ledger tampered on disk (one entry byte changed in a copy, with ldb): the tool and the
# auditor must both notice.
if ((${#LDB[@]} > 0)); then
  cp -r "$L" tampered
  v=$(ldb --db=tampered/db --column_family=entries get --key_hex --value_hex 0x0000000000000005 2>&1)
  nv=$("$PY" -c 'import sys; v=bytearray.fromhex(sys.argv[1][2:]); v[-20]^=1; print("0x"+v.hex().upper())' "$v" 2>&1)
  if ldb --db=tampered/db --column_family=entries put --key_hex --value_hex 0x0000000000000005 "$nv" >/dev/null 2>&1; then
    "$M" ledger verify --ledger tampered --quiet >tv.out 2>&1; rc=$?
    ((rc == 6)) && ok "mlahub ledger verify exits 6 on a copy with one entry byte changed ($(tail -n 1 tv.out))" \
      || bad "mlahub ledger verify on a tampered copy: exit $rc" "$(cat tv.out)"
    "$PY" "$AUDITOR" audit --mlahub "$M" --ledger tampered --label tampered >ta.out 2>&1; rc=$?
    ((rc == 1)) && grep -q '^FAIL - tampered: .*entry 5' ta.out \
      && ok "the auditor fails the tampered copy at entry 5 ($(grep -m1 -o 'entry 5: .*' ta.out | head -c 120))" \
      || bad "the auditor should fail the tampered copy (exit $rc)" "$(grep FAIL ta.out)"
  else
    bad "ldb put into the ledger copy"
  fi
fi

# The single-purpose commands, as an auditor would use them with the tool's outputs.
late_size=$(sed -n 2p late.note)
mid=$((late_size / 2))
"$M" ledger prove --ledger "$L" --index "$mid" --size "$late_size" --json >prove.json 2>/dev/null
out=$("$PY" "$AUDITOR" inclusion --key @vkey.txt --checkpoint late.note prove.json 2>&1) \
  && ok "ledger_audit.py inclusion: prove --index $mid --size $late_size against the live late checkpoint ($out)" \
  || bad "ledger_audit.py inclusion" "$out"
"$M" ledger consistency --ledger "$L" --old "$early_size" --new "$late_size" --json >cons.json 2>/dev/null
out=$("$PY" "$AUDITOR" consistency --key @vkey.txt --old early.note --new late.note cons.json 2>&1) \
  && ok "ledger_audit.py consistency: early ($early_size) -> late ($late_size), both captured live ($out)" \
  || bad "ledger_audit.py consistency" "$out"
"$M" ledger consistency --ledger "$L" --old "$late_size" --json >cons2.json 2>/dev/null
out=$("$PY" "$AUDITOR" consistency --key @vkey.txt --old late.note --new final.note cons2.json 2>&1) \
  && ok "ledger_audit.py consistency: live late ($late_size) -> after stop ($(sed -n 2p final.note))" \
  || bad "ledger_audit.py consistency late -> final" "$out"
"$PY" -c 'import json; j=json.load(open("cons.json")); j["proof"][0]=j["proof"][-1][:-2]+("A=" if j["proof"][-1][-2]!="A" else "B="); json.dump(j,open("cons_bad.json","w"))' 2>/dev/null
out=$("$PY" "$AUDITOR" consistency --key @vkey.txt --old early.note --new late.note cons_bad.json 2>&1) \
  && bad "ledger_audit.py consistency accepts a tampered proof" "$out" \
  || ok "ledger_audit.py consistency refuses a tampered proof file ($out)"

# Nothing of the plaintext anywhere in the hub's files (the broker never sees it).
hits=$(grep -rl -a -F -e "$SECRET" -e "$NAME" net/hub 2>/dev/null)
[[ -z $hits ]] && ok "the body plaintext and the person's name are in none of the hub's files" \
  || bad "plaintext found in the hub's files" "$hits"

echo "$passed passed, $failed failed"
((failed == 0))
