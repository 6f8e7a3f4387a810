#!/usr/bin/env bash
# The README's main job: a local multi-country network on embedded defaults,
# end to end, with what exists today:
#   1. keys and public identities for three central authorities, the hub and
#      the network operator;
#   2. a Palermo Protocol trafficking case: Italy seals an MLA request to
#      Nigeria, Nigeria opens it; the answer travels back;
#   3. an altered envelope and a misdirected one are refused with named errors;
#   4. the operator's signed network directory;
#   5. the hub's tamper-evident ledger: entries appended with group commit,
#      a signed checkpoint, an inclusion and a consistency proof, verification.
# Usage: scripts/demo.sh [OUT_DIR]   (default: ./demo-out, recreated)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-$ROOT/demo-out}

scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" >/dev/null
MLAHUB=$ROOT/build/bin/mlahub
BENCH=$ROOT/build/bin/mlahub-bench

rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Keys for three central authorities, the hub and the operator"
for id in IT-MOJ NG-AGF TH-OAG; do
  "$MLAHUB" keygen --id "$id" --out "keys/$id" | head -1
done
"$MLAHUB" keygen --id XX-HUB --role hub --out keys/XX-HUB | head -1
"$MLAHUB" keygen --id XX-OPS --role operator --out keys/XX-OPS | head -1
ls -l keys/IT-MOJ

step "2. Italy drafts an MLA request (UNTOC Art. 18) in a trafficking case"
"$MLAHUB" request template --kind mla > mla-template.json
echo "template: $(wc -l < mla-template.json) lines in mla-template.json"
cp "$ROOT/docs/examples/mla-request.json" request.json
"$MLAHUB" envelope seal --from keys/IT-MOJ --to keys/NG-AGF/identity.json --kind mla \
  --case-ref IT-MOJ/2026/0042 --legal-basis Untoc --handling H2 < request.json > request.env
echo "the hub sees only the clear header:"
"$MLAHUB" envelope inspect --json < request.env
if grep -q "Lagos" request.env; then echo "plaintext leaked!"; exit 1; fi
echo "(no personal data in the sealed bytes: grep for the victim's city finds nothing)"

step "3. Nigeria opens it: signature, binding to the header, time window, decryption"
"$MLAHUB" envelope open --key keys/NG-AGF --from keys/IT-MOJ/identity.json < request.env > opened.json
head -n 12 opened.json
echo "..."
MID=$("$MLAHUB" envelope inspect --json < request.env | sed -n 's/.*"message_id": "\([0-9a-f]*\)".*/\1/p')

step "4. Nigeria acknowledges receipt (an answer in reply to $MID)"
echo '{}' | "$MLAHUB" envelope seal --from keys/NG-AGF --to keys/IT-MOJ --kind acknowledgement \
  --in-reply-to "$MID" --case-ref NG-AGF/MLA/2026/17 > ack.env
"$MLAHUB" envelope open --key keys/IT-MOJ --from keys/NG-AGF --json < ack.env | head -n 8

step "5. Tampering is refused with a named error"
cp request.env tampered.env
off=$(( $(stat -c %s request.env) / 2 ))
byte=$(od -An -tu1 -j "$off" -N1 request.env | tr -d ' ')
printf "\\x$(printf %02x $(( byte ^ 1 )))" | dd of=tampered.env bs=1 seek="$off" conv=notrunc status=none
set +e
"$MLAHUB" envelope open --key keys/NG-AGF --from keys/IT-MOJ < tampered.env; echo "exit code $?"
"$MLAHUB" envelope open --key keys/TH-OAG --from keys/IT-MOJ < request.env; echo "exit code $?"
"$MLAHUB" envelope open --key keys/NG-AGF --from keys/TH-OAG < request.env; echo "exit code $?"
set -e

step "6. The operator signs the network directory (keys, capabilities, treaty status)"
"$MLAHUB" directory create --directory directory.bin --operator keys/XX-OPS --network palermo-demo
"$MLAHUB" directory add --directory directory.bin --operator keys/XX-OPS --identity keys/XX-HUB \
  --name "mlahub hub" >/dev/null
"$MLAHUB" directory add --directory directory.bin --operator keys/XX-OPS --identity keys/IT-MOJ \
  --name "Ministry of Justice, Rome" --languages it,en,fr --untoc-party --protocol-party >/dev/null
"$MLAHUB" directory add --directory directory.bin --operator keys/XX-OPS --identity keys/NG-AGF \
  --name "Federal Ministry of Justice, Abuja" --languages en --untoc-party --protocol-party >/dev/null
"$MLAHUB" directory add --directory directory.bin --operator keys/XX-OPS --identity keys/TH-OAG \
  --name "Office of the Attorney General, Bangkok" --languages th,en --untoc-party --protocol-party \
  --accepts mla,extradition,document-verification,nationality-verification,acknowledgement >/dev/null
"$MLAHUB" directory show --directory directory.bin --root keys/XX-OPS/identity.json

step "7. The hub's ledger: 20,000 metadata entries appended durably (fsync'd group commit)"
"$BENCH" ledger --entries 20000 --dir ledger --proof-sizes 20000 --proof-samples 200 --skip-raw 2>&1 | tail -n 14

step "8. Anyone can check the ledger with standard RFC 9162 / C2SP tools"
"$MLAHUB" ledger public-key --ledger ledger
"$MLAHUB" ledger checkpoint --ledger ledger
"$MLAHUB" ledger prove --index 4242 --ledger ledger --json | cut -c1-300
"$MLAHUB" ledger consistency --old 5000 --new 20000 --ledger ledger --json | cut -c1-300
"$MLAHUB" ledger show --index 4242 --ledger ledger | head -n 12
"$MLAHUB" ledger verify --ledger ledger

step "Done. Everything is in $OUT"
