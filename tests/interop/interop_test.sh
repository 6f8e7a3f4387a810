#!/usr/bin/env bash
# Interoperability of mlahub with an independent Python implementation of the
# envelope protocol (tests/interop/mlahub_peer.py, written from docs/PROTOCOL.md
# and schemas/*.fbs only). See tests/interop/README.md.
#
# Usage: interop_test.sh [path/to/mlahub]    (default build/bin/mlahub of this checkout)
# Exit: 0 all passed, 1 a check failed, 77 skipped (python3-nacl,
# python3-flatbuffers or flatc missing).
set -euo pipefail

MLAHUB=${1:-$(dirname "${BASH_SOURCE[0]}")/../../build/bin/mlahub}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-/usr/bin/python3}

if ! command -v "$PY" >/dev/null || ! "$PY" -c 'import nacl.bindings, nacl.pwhash, flatbuffers' 2>/dev/null; then
  echo "SKIP: interop_python_peer needs Debian's python3-nacl and python3-flatbuffers (scripts/deps.sh installs them)"
  exit 77
fi
if ! command -v "${FLATC:-flatc}" >/dev/null; then
  echo "SKIP: interop_python_peer needs flatc (flatbuffers-compiler)"
  exit 77
fi
if [[ ! -x "$MLAHUB" ]]; then
  echo "interop_test.sh: no mlahub binary at $MLAHUB" >&2
  exit 1
fi
MLAHUB=$(cd "$(dirname "$MLAHUB")" && pwd)/$(basename "$MLAHUB")

T=$(mktemp -d "${TMPDIR:-/tmp}/mlahub_interop.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
export MLAHUB_PEER_GENDIR="$T/gen"   # flatc --python output, generated once, removed at exit
# Work on a copy, so that a rebuild during the run does not swap the binary under us.
cp "$MLAHUB" "$T/mlahub.bin"
MLAHUB="$T/mlahub.bin"
PEER=("$PY" "$HERE/mlahub_peer.py")
M=("$MLAHUB")

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() {
  failed=$((failed + 1)); echo "FAIL $1"
  if [[ -n "${2:-}" ]]; then sed 's/^/       /' <<<"$2" | head -n 15; fi
}

# run NAME CMD... : the command must exit 0
run() {
  local name=$1; shift
  local rc=0 err
  err=$("$@" 2>&1 >"$T/last.out") || rc=$?
  if ((rc == 0)); then ok "$name"; else bad "$name (exit $rc)" "$err"; fi
  return 0
}

# refused NAME WHO CODE ENV KEYDIR FROM : WHO (mlahub|peer) must refuse ENV with CODE, exit 3
refused() {
  local name=$1 who=$2 code=$3 env=$4 key=$5 from=$6; shift 6
  local rc=0 err prefix
  if [[ $who == mlahub ]]; then
    prefix="mlahub"
    err=$("${M[@]}" envelope open --key "$key" --from "$from" "$@" <"$env" 2>&1 >/dev/null) || rc=$?
  else
    prefix="mlahub_peer"
    err=$("${PEER[@]}" open --key "$key" --from "$from" "$@" <"$env" 2>&1 >/dev/null) || rc=$?
  fi
  if ((rc == 3)) && grep -q "^$prefix: $code: " <<<"$err"; then
    ok "$name: $who refuses with $code"
  else
    bad "$name: $who should refuse with $code (exit 3), got exit $rc" "$err"
  fi
  return 0
}

# both_refuse NAME CODE ENV KEYDIR FROM [open options]
both_refuse() {
  local name=$1 code=$2 env=$3 key=$4 from=$5; shift 5
  refused "$name" mlahub "$code" "$env" "$key" "$from" "$@"
  refused "$name" peer "$code" "$env" "$key" "$from" "$@"
}

# both_open NAME ENV KEYDIR FROM [open options]: mlahub and the peer must both open ENV
both_open() {
  local name=$1 env=$2 key=$3 from=$4; shift 4
  run "$name: mlahub opens" "${M[@]}" envelope open --key "$key" --from "$from" "$@" <"$env"
  run "$name: peer opens" "${PEER[@]}" open --key "$key" --from "$from" "$@" <"$env"
}

# jcheck NAME FILE PYTHON-EXPR : the expression, over j = the JSON in FILE, must be true
jcheck() {
  local name=$1 file=$2 expr=$3 out
  if out=$("$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($expr) else 1)" "$file" 2>&1); then
    ok "$name"
  else
    bad "$name: $expr" "$out$(echo; head -c 1500 "$file")"
  fi
  return 0
}

# mseal NAME OUT INPUT [seal options]: mlahub envelope seal < INPUT > OUT, must exit 0
mseal() {
  local name=$1 out=$2 in=$3; shift 3
  local rc=0 err
  err=$("${M[@]}" envelope seal "$@" <"$in" 2>&1 >"$out") || rc=$?
  if ((rc == 0)); then ok "$name"; else bad "$name (exit $rc)" "$err"; fi
  return 0
}

now_ms() { "$PY" -c 'import time; print(int(time.time()*1000))'; }

echo "== setup: mlahub keygen IT-MOJ, NG-AGF; peer keygen XX-PYT"
run "mlahub keygen IT-MOJ" "${M[@]}" keygen --id IT-MOJ --out A
run "mlahub keygen NG-AGF" "${M[@]}" keygen --id NG-AGF --out B
run "mlahub keygen ES-OTH" "${M[@]}" keygen --id ES-OTH --out C
run "peer keygen XX-PYT" "${PEER[@]}" keygen --id XX-PYT --out P
for f in node.key identity.json identity.bin; do
  [[ -s P/$f ]] && ok "peer key dir has $f" || bad "peer key dir lacks $f"
done
[[ $(stat -c %a P/node.key) == 600 ]] && ok "peer node.key is mode 0600" || bad "peer node.key mode $(stat -c %a P/node.key)"
echo '{}' >ack.json
run "mlahub request template --kind mla" "${M[@]}" request template --kind mla
cp "$T/last.out" mla_template.json
"$PY" - <<'EOF'
import json
j = json.load(open("mla_template.json"))
j["proceedings_subject"] = "Trafficking in persons, file 2024/117"
j["offences"][0]["name"] = "Trafficking in persons"
j["offences"][0]["organized_criminal_group"] = True
j["requesting_authority"]["node_id"] = "IT-MOJ"
json.dump(j, open("mla.json", "w"), indent=2)
EOF

echo "== (a) mlahub seals, the peer opens"
reply=0123456789abcdef0123456789abcdef
mseal "mlahub seals Acknowledgement (urgent, H2, PalermoProtocol, reply)" a_ack.env ack.json \
  --from A --to B/identity.json --kind acknowledgement --case-ref IT/2024/117 \
  --urgent --handling H2 --legal-basis PalermoProtocol --in-reply-to $reply
run "peer opens mlahub's Acknowledgement" "${PEER[@]}" open --key B --from A/identity.json \
  --payload-out a_ack.payload --decode-body <a_ack.env
cp "$T/last.out" a_ack.json
jcheck "header kind/sender/recipient" a_ack.json \
  'j["header"]["kind"]=="Acknowledgement" and j["header"]["sender"]=="IT-MOJ" and j["header"]["recipient"]=="NG-AGF"'
jcheck "header case_ref/priority/handling/legal_basis/in_reply_to" a_ack.json \
  'j["header"]["case_ref"]=="IT/2024/117" and j["header"]["priority"]=="Urgent" and j["header"]["handling"]=="H2" and j["header"]["legal_basis"]=="PalermoProtocol" and j["header"]["in_reply_to"]=="'$reply'"'
jcheck "envelope hash = SHA-256 of the frame" a_ack.json "j['envelope_sha256']=='$(sha256sum a_ack.env | cut -d' ' -f1)'"
jcheck "payload body type Acknowledgement" a_ack.json 'j["body"]["body_type"]=="Acknowledgement"'
run "peer opens it with the sender's identity.bin" "${PEER[@]}" open --key B --from A/identity.bin <a_ack.env
run "peer opens it with the sender's key directory" "${PEER[@]}" open --key B --from A <a_ack.env

mseal "mlahub seals an MlaRequest from its template" a_mla.env mla.json \
  --from A --to B/identity.json --kind mla --case-ref IT/2024/118
run "peer opens mlahub's MlaRequest" "${PEER[@]}" open --key B --from A/identity.json --decode-body <a_mla.env
cp "$T/last.out" a_mla.json
jcheck "MlaRequest header" a_mla.json \
  'j["header"]["kind"]=="MlaRequest" and j["header"]["sender"]=="IT-MOJ" and j["header"]["recipient"]=="NG-AGF" and j["header"]["case_ref"]=="IT/2024/118"'
"${M[@]}" envelope open --key B --from A/identity.json <a_mla.env >a_mla.mlahub.json 2>/dev/null || true
jcheck "body decoded by flatc equals mlahub's JSON of it" a_mla.json \
  'j["body"]["body"]==json.load(open("a_mla.mlahub.json"))'
jcheck "body is the JSON that was sealed" a_mla.json 'j["body"]["body"]==json.load(open("mla.json"))'

echo "== (b) the peer seals to mlahub key directories, mlahub opens"
run "peer seals Acknowledgement from JSON" "${PEER[@]}" seal --from A --to B/identity.json \
  --kind Acknowledgement --body-json ack.json --case-ref PY/1
cp "$T/last.out" b_ack.env
run "mlahub opens the peer's Acknowledgement" "${M[@]}" envelope open --key B --from A/identity.json --json <b_ack.env
cp "$T/last.out" b_ack.json
jcheck "mlahub sees kind/sender/recipient/case_ref" b_ack.json \
  'j["header"]["kind"]=="Acknowledgement" and j["header"]["sender"]=="IT-MOJ" and j["header"]["recipient"]=="NG-AGF" and j["header"]["case_ref"]=="PY/1"'
run "peer seals a raw wire.Payload from stdin" "${PEER[@]}" seal --from A --to B --kind acknowledgement <a_ack.payload
cp "$T/last.out" b_raw.env
run "mlahub opens it" "${M[@]}" envelope open --key B --from A/identity.json <b_raw.env
run "peer seals MlaRequest from JSON (urgent, H1, EuEio)" "${PEER[@]}" seal --from A --to B/identity.json \
  --kind mla --body-json mla.json --urgent --handling H1 --legal-basis EuEio --in-reply-to $reply
cp "$T/last.out" b_mla.env
run "mlahub opens the peer's MlaRequest" "${M[@]}" envelope open --key B --from A/identity.json --json <b_mla.env
cp "$T/last.out" b_mla.json
jcheck "mlahub prints the body that was sealed" b_mla.json 'j["body"]==json.load(open("mla.json"))'
jcheck "mlahub sees priority/handling/legal_basis/in_reply_to" b_mla.json \
  'j["header"]["priority"]=="Urgent" and j["header"]["handling"]=="H1" and j["header"]["legal_basis"]=="EuEio" and j["header"]["in_reply_to"]=="'$reply'"'
jcheck "mlahub's envelope hash = SHA-256 of the frame" b_mla.json \
  "__import__('base64').b64decode(j['header']['envelope_sha256']).hex()=='$(sha256sum b_mla.env | cut -d' ' -f1)'"
run "peer opens its own envelope" "${PEER[@]}" open --key B --from A <b_mla.env

echo "== (c) the peer's own node and an mlahub node, both ways"
mseal "mlahub seals to the peer's identity.json" c_to_p.env ack.json --from A --to P/identity.json --kind acknowledgement
run "peer (XX-PYT) opens mlahub IT-MOJ's envelope" "${PEER[@]}" open --key P --from A/identity.json <c_to_p.env
jcheck "recipient XX-PYT" "$T/last.out" 'j["header"]["recipient"]=="XX-PYT"'
mseal "mlahub seals to the peer's identity.bin" c_to_p2.env mla.json --from A --to P/identity.bin --kind mla
run "mlahub seals to the peer's identity.bin; peer opens" "${PEER[@]}" open --key P --from A <c_to_p2.env
run "peer XX-PYT seals MlaRequest to IT-MOJ" "${PEER[@]}" seal --from P --to A/identity.json --kind mla --body-json mla.json
cp "$T/last.out" c_from_p.env
run "mlahub IT-MOJ opens XX-PYT's envelope" "${M[@]}" envelope open --key A --from P/identity.json --json <c_from_p.env
jcheck "mlahub sees sender XX-PYT" "$T/last.out" 'j["header"]["sender"]=="XX-PYT" and j["body"]==json.load(open("mla.json"))'
run "mlahub reads the peer's key directory as --from" "${M[@]}" envelope open --key A --from P <c_from_p.env
mseal "mlahub seals with the peer's node.key" c_by_p.env ack.json --from P --to B/identity.json --kind acknowledgement
run "peer opens what mlahub sealed with the peer's key" "${PEER[@]}" open --key B --from P <c_by_p.env
run "mlahub opens what it sealed with the peer's key" "${M[@]}" envelope open --key B --from P/identity.json <c_by_p.env
export MLAHUB_PASSPHRASE="interop passphrase"
run "mlahub keygen --protect FR-PRT" "${M[@]}" keygen --protect --id FR-PRT --out R
run "peer seals with an Argon2id-protected mlahub node.key" "${PEER[@]}" seal --from R --to B --kind acknowledgement --body-json ack.json
cp "$T/last.out" c_by_r.env
run "mlahub opens it" "${M[@]}" envelope open --key B --from R <c_by_r.env
mseal "mlahub seals to a protected node" c_to_r.env ack.json --from A --to R --kind acknowledgement
run "peer opens with an Argon2id-protected node.key" "${PEER[@]}" open --key R --from A <c_to_r.env
unset MLAHUB_PASSPHRASE
run "peer keygen XX-NOP without public keys in node.key" "${PEER[@]}" keygen --id XX-NOP --out N --x-omit-public-keys
rc=0; err=$("${M[@]}" envelope seal --from N --to B --kind acknowledgement <ack.json 2>&1 >/dev/null) || rc=$?
grep -q "^mlahub: corruption: " <<<"$err" && ok "mlahub refuses a node.key without public keys (corruption)" \
  || bad "mlahub should refuse a node.key without public keys with corruption, exit $rc" "$err"
rc=0; err=$("${PEER[@]}" seal --from N --to B --kind acknowledgement --body-json ack.json 2>&1 >/dev/null) || rc=$?
grep -q "corruption" <<<"$err" && ok "peer refuses it too" || bad "peer should refuse it (corruption), exit $rc" "$err"

echo "== (d) tampering by the Python side, refused by mlahub (and by the peer)"
for src in b_ack a_ack; do   # b_ack: sealed by the peer, a_ack: sealed by mlahub
  for spec in magic:malformed trailing:malformed truncate:malformed ciphertext-length:malformed \
              header-sender:tampered_header header-expires-ms:tampered_header header-kind:tampered_header \
              header-nonce:tampered_header header-ephemeral-key:tampered_header header-padding:tampered_header \
              header-recipient:bad_signature ciphertext:tampered_ciphertext hash:bad_signature \
              signature:bad_signature; do
    op=${spec%%:*} code=${spec#*:}
    "${PEER[@]}" tamper --op "$op" <$src.env >t.env || { bad "$src $op: peer tamper failed"; continue; }
    both_refuse "$src $op" "$code" t.env B A/identity.json
  done
done
both_refuse "opened by the wrong node" wrong_recipient b_ack.env A A/identity.json
both_refuse "wrong sender identity" bad_signature b_ack.env B C/identity.json
both_refuse "size limit" too_large b_ack.env B A/identity.json --max-size 100

now=$(now_ms)
deviant() {  # deviant NAME CODE [seal options]: a correctly signed envelope that breaks one rule
  local name=$1 code=$2; shift 2
  if "${PEER[@]}" seal --from A --to B --kind acknowledgement "$@" <a_ack.payload >d.env 2>d.err; then
    both_refuse "$name" "$code" d.env B A/identity.json
  else
    bad "$name: peer could not seal" "$(cat d.err)"
  fi
}
conforming() {  # conforming NAME [seal options]: an envelope at the edge of a rule, opened by both
  local name=$1; shift
  if "${PEER[@]}" seal --from A --to B --kind acknowledgement "$@" <a_ack.payload >d.env 2>d.err; then
    both_open "$name" d.env B A/identity.json
  else
    bad "$name: peer could not seal" "$(cat d.err)"
  fi
}
day=86400000
deviant "header version 2" unsupported_version --x-version 2
deviant "expired" expired --x-created-ms $((now - 7200000)) --x-expires-ms $((now - 3600000))
deviant "dated an hour ahead" expired --x-created-ms $((now + 3600000)) --x-expires-ms $((now + 7200000))
deviant "created_ms 0" expired --x-created-ms 0 --x-expires-ms $((now + 3600000))
deviant "message id in capitals" malformed --message-id 0123456789ABCDEF0123456789ABCDEF
deviant "header names another sender" sender_mismatch --x-sender-id IT-XXX
deviant "case_ref not UTF-8" malformed --x-case-ref-hex 5245462fff
deviant "case_ref a surrogate in UTF-8 form" malformed --x-case-ref-hex eda080
deviant "sender key id 7 bytes" malformed --x-len sender_key_id=7
deviant "header names another recipient" wrong_recipient --x-recipient-id NG-XXX
deviant "signed by another key" bad_signature --x-sign-with C
deviant "header without MLAH" malformed --x-no-identifier
deviant "payload without MLAP" malformed --x-payload-no-identifier
deviant "non-zero padding" malformed --x-pad-byte 1
deviant "kind MlaRequest, body Acknowledgement" malformed --kind MlaRequest --x-no-kind-check
deviant "unknown kind 99" unknown_kind --kind 99 --x-no-kind-check
deviant "kind Unspecified (0)" unknown_kind --kind 0 --x-no-kind-check

echo "== (d+) the rules added in the revised PROTOCOL.md: both refuse with the same name"
# step 2: fixed-size header vectors
deviant "sender key id empty" malformed --x-len sender_key_id=0
deviant "sender key id 9 bytes" malformed --x-len sender_key_id=9
deviant "recipient key id 7 bytes" malformed --x-len recipient_key_id=7
deviant "recipient key id 9 bytes" malformed --x-len recipient_key_id=9
deviant "ephemeral key 31 bytes" malformed --x-len ephemeral_key=31
deviant "ephemeral key 33 bytes" malformed --x-len ephemeral_key=33
deviant "nonce 23 bytes" malformed --x-len nonce=23
deviant "nonce 25 bytes" malformed --x-len nonce=25
deviant "nonce 12 bytes and a 12-byte key id" malformed --x-len nonce=12 --x-len sender_key_id=12
# step 9: in_reply_to
deviant "in_reply_to not a message id" malformed --in-reply-to not-a-message-id
deviant "in_reply_to in capitals" malformed --in-reply-to 0123456789ABCDEF0123456789ABCDEF
deviant "in_reply_to 31 hex characters" malformed --in-reply-to 0123456789abcdef0123456789abcde
conforming "in_reply_to a message id" --in-reply-to 0123456789abcdef0123456789abcdef
# step 10: at most 400 days between created_ms and expires_ms
deviant "lifetime 400 days + 1 ms" expired --x-created-ms $((now - 1000)) --x-expires-ms $((now - 1000 + 400 * day + 1))
deviant "expires in the year 9999" expired --x-created-ms 1 --x-expires-ms 253402300799000
conforming "lifetime exactly 400 days" --x-created-ms $((now - 1000)) --x-expires-ms $((now - 1000 + 400 * day))
# step 11: low-order ephemeral keys (the sealer encrypts under the all-zero shared secret)
deviant "ephemeral key 0 (all-zero shared secret)" malformed --x-low-order zero
deviant "ephemeral key 1 (all-zero shared secret)" malformed --x-low-order one
deviant "ephemeral key of order 8 (all-zero shared secret)" malformed --x-low-order order8
# step 13 / section 5: the least padding reaching a multiple of 256
least=$(( (256 - ($(stat -c %s a_ack.payload) + 4) % 256) % 256 ))
deviant "an extra 256-byte block of padding" malformed --x-pad-extra-blocks 1
deviant "no padding" malformed --x-pad-len 0
deviant "one padding byte short" malformed --x-pad-len $((least - 1))
deviant "one padding byte too many" malformed --x-pad-len $((least + 1))
conforming "payload of 252 bytes, plaintext 256 bytes, no padding" --x-payload-len 252
deviant "payload of 252 bytes with 256 bytes of padding" malformed --x-payload-len 252 --x-pad-len 256
conforming "payload of 253 bytes, 255 bytes of padding" --x-payload-len 253
"$PY" -c '
import flatbuffers
b = flatbuffers.Builder(64)
b.StartObject(2); b.PrependUint8Slot(0, 32, 0)   # body_type Acknowledgement, no body
b.Finish(b.EndObject(), file_identifier=b"MLAP")
open("nobody.payload", "wb").write(bytes(b.Output()))'
if "${PEER[@]}" seal --from A --to B --kind acknowledgement <nobody.payload >d.env 2>d.err; then
  both_refuse "payload with body_type but no body" malformed d.env B A/identity.json
else
  bad "payload with no body: peer could not seal" "$(cat d.err)"
fi

echo "== (d') tampering of mlahub's envelopes, refused by the peer as by mlahub"
for spec in a_mla:header-message-id:tampered_header a_mla:header-created-ms:tampered_header \
            a_mla:header-sender-key-id:tampered_header a_mla:header-recipient-key-id:bad_signature \
            a_ack:header-in-reply-to:tampered_header a_ack:header-priority:tampered_header; do
  src=${spec%%:*} rest=${spec#*:}; op=${rest%%:*} code=${rest#*:}
  "${PEER[@]}" tamper --op "$op" <$src.env >t.env || { bad "$src $op: peer tamper failed"; continue; }
  both_refuse "$src $op" "$code" t.env B A/identity.json
done

echo "== (e) schema evolution (PROTOCOL.md 11): unknown fields and enum values are read, not refused"
"${PEER[@]}" seal --from A --to B --kind acknowledgement --x-extra-field <a_ack.payload >e1.env || true
run "mlahub opens a header with an unknown field (id 16)" "${M[@]}" envelope open --key B --from A <e1.env
run "peer opens it" "${PEER[@]}" open --key B --from A <e1.env
"${PEER[@]}" seal --from A --to B --kind acknowledgement --handling 9 --legal-basis 200 <a_ack.payload >e2.env || true
run "mlahub opens a header with unknown HandlingCode/LegalBasis values" "${M[@]}" envelope open --key B --from A <e2.env

"$PY" -c '
import copy, json
j = json.load(open("mla.json"))
j["offences"] = [copy.deepcopy(j["offences"][0]) for _ in range(70)]
json.dump(j, open("mla70.json", "w"))'
# PROTOCOL.md 7 says "at most 64 tables"; mlahub opens bodies with more (README.md, problem A)
run "peer seals an MlaRequest with 70 offences (over 140 tables)" "${PEER[@]}" seal --from A --to B \
  --kind mla --body-json mla70.json
cp "$T/last.out" e3.env
both_open "MlaRequest with 70 offences" e3.env B A/identity.json

echo "== (f) every header byte and the trailer, one bit flipped: mlahub and the peer name the same error"
run "bit flips of the peer's envelope" "${PEER[@]}" flipcheck --mlahub "$MLAHUB" --key B --from A/identity.json --bit 0x01 <b_mla.env
cat "$T/last.out"
run "bit flips of mlahub's envelope" "${PEER[@]}" flipcheck --mlahub "$MLAHUB" --key B --from A/identity.json --bit 0x80 <a_mla.env
cat "$T/last.out"

echo "== (f') every byte of an MlaRequest payload (every body table), one bit flipped, sealed: same verdict"
"${PEER[@]}" open --key B --from A --payload-out a_mla.payload <a_mla.env >/dev/null 2>&1 || true
run "bit flips of mlahub's MlaRequest payload" "${PEER[@]}" flipcheck --payload --mlahub "$MLAHUB" \
  --key B --from A --bit 0x01 <a_mla.payload
cat "$T/last.out"

echo "== (g) the published test vector docs/examples/vector-1 (PROTOCOL.md 12)"
V="$HERE/../../docs/examples/vector-1"
if [[ -f $V/vector.json && -f $V/envelope.bin ]]; then
  run "peer recomputes vector-1 from its inputs (shared secret, key, hash, signature, frame)" \
    "${PEER[@]}" vector "$V"
  grep -v '^ok' "$T/last.out" || true
  cp -r "$V/keys" vkeys
  chmod 700 vkeys/*; chmod 600 vkeys/*/node.key   # git does not keep the modes
  read -r vnow vcreated vexpires < <("$PY" -c 'import json,sys; v=json.load(open(sys.argv[1])); print(v["now_ms"], v["created_ms"], v["expires_ms"])' "$V/vector.json")
  snd=vkeys/IT-MOJ rcp=vkeys/NG-AGF
  run "peer opens envelope.bin at now_ms" "${PEER[@]}" open --key $rcp --from $snd --at-ms "$vnow" \
    --decode-body <"$V/envelope.bin"
  cp "$T/last.out" g_peer.json
  jcheck "peer: vector header" g_peer.json \
    'j["header"]["message_id"]=="000102030405060708090a0b0c0d0e0f" and j["header"]["sender"]=="IT-MOJ" and j["header"]["recipient"]=="NG-AGF"'
  if "${M[@]}" envelope open --help 2>&1 | grep -q -- '--at-ms'; then
    run "mlahub opens envelope.bin at now_ms" "${M[@]}" envelope open --key $rcp --from $snd \
      --at-ms "$vnow" --json <"$V/envelope.bin"
    cp "$T/last.out" g_mlahub.json
    jcheck "mlahub and the peer decode the same body" g_peer.json \
      'j["body"]["body"]==json.load(open("g_mlahub.json"))["body"]'
    jcheck "mlahub: same message id and kind" g_mlahub.json \
      'j["header"]["message_id"]=="000102030405060708090a0b0c0d0e0f" and j["header"]["kind"]==json.load(open("g_peer.json"))["header"]["kind"]'
    both_open "vector-1 at expires_ms" "$V/envelope.bin" $rcp $snd --at-ms "$vexpires"
    both_open "vector-1 at created_ms - 5 min" "$V/envelope.bin" $rcp $snd --at-ms $((vcreated - 300000))
    both_refuse "vector-1 at expires_ms + 1" expired "$V/envelope.bin" $rcp $snd --at-ms $((vexpires + 1))
    both_refuse "vector-1 at created_ms - 5 min - 1 ms" expired "$V/envelope.bin" $rcp $snd --at-ms $((vcreated - 300001))
    both_refuse "vector-1 opened by its sender" wrong_recipient "$V/envelope.bin" $snd $snd --at-ms "$vnow"
    run "bit flips of vector-1 at now_ms" "${PEER[@]}" flipcheck --mlahub "$MLAHUB" --key $rcp --from $snd \
      --at-ms "$vnow" --bit 0x01 <"$V/envelope.bin"
    cat "$T/last.out"
  else
    echo "note: mlahub envelope open has no --at-ms: mlahub does not open vector-1 here"
  fi
else
  bad "docs/examples/vector-1 is missing"
fi

echo "$passed passed, $failed failed"
((failed == 0))
