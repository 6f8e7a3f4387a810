#!/usr/bin/env python3
"""An independent auditor of mlahub's tamper-evident ledger.

Written from the public standards and mlahub's documentation only; mlahub's C++
sources (storage/, crypto/, broker/, tools/) were not read. It implements:

* RFC 9162 section 2.1.1: the Merkle Tree Hash MTH over the entries
  (leaf SHA-256(0x00 || entry), node SHA-256(0x01 || left || right), empty tree
  SHA-256("")); 2.1.3.1 / 2.1.4.1: the audit path PATH(m, D[n]) and the
  consistency proof PROOF(m, D[n]) computed from the leaves (to compare the
  hub's proofs with, element for element); 2.1.3.2 / 2.1.4.2: the verification
  algorithms of inclusion and consistency proofs, step by step as the RFC
  states them (plus, as docs/LEDGER.md "Proofs" says, the empty proof between
  size 0 or m and m).
* C2SP signed-note (https://c2sp.org/signed-note): the verifier key
  `<name>+<8 hex key id>+<base64(0x01 || Ed25519 public key)>`, the key id
  (first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), big-endian),
  opening a note (UTF-8 text, no control characters but newline, text and
  signatures split at the last blank line, signature lines
  "U+2014 SP name SP base64(key id || signature)", Ed25519 over the text
  including its final newline, at least one verified signature by a known key).
  Ed25519 verification is libsodium's, through python3-nacl.
* C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): origin line, tree
  size in decimal without leading zeros, standard padded base64 of the 32-byte
  root; docs/LEDGER.md "Checkpoints" adds: no extension lines, exactly one
  signature, key name = origin by default.
* docs/LEDGER.md "Entries" / "Entry records" and schemas/ledger.fbs: a
  FlatBuffers reader of mlahub.wire.LedgerEntry driven by the .fbs files
  themselves (file identifier MLAL, bounds checked, enum names from the
  schema), and the documented constraints (version 1, hashes of 32 bytes, key
  ids of 8, signatures of 64, strings of at most 256 printable ASCII
  characters, metadata and hashes only).
* docs/LEDGER.md "How an auditor verifies" / ../shared/DESIGN.md "The ledger":
  the outputs of `mlahub ledger public-key | checkpoint [--size S] [--list] |
  prove --index N [--size S] --json | consistency --old M [--new N] --json |
  verify | show`, checked against the above.

Usage (library: import it; CLI):

  ledger_audit.py audit --mlahub BIN --ledger DIR [--label L] [--schemas DIR]
      [--hub-identity FILE] [--directory-bin FILE] [--identities DIR]
      [--note FILE ...] [--secret TEXT ...] [--messages FILE] [--negative]
      [--min-entries N] [--min-checkpoints N]
  ledger_audit.py checkpoint --key VKEY NOTE_FILE         # open + parse, prints JSON
  ledger_audit.py inclusion --key VKEY --checkpoint NOTE_FILE PROVE_JSON_FILE
  ledger_audit.py consistency --key VKEY --old NOTE_FILE --new NOTE_FILE PROOF_JSON_FILE
  ledger_audit.py decode [--schemas DIR] ENTRY_FILE        # LedgerEntry as JSON

`audit` prints one line per check, `ok - ...` or `FAIL - ...`, and exits 1 if
any check failed. The single-purpose commands exit 0 (verified) or 1.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import struct
import subprocess
import sys

try:
    import nacl.bindings as sodium
    import nacl.exceptions
except ImportError:  # pragma: no cover - the test driver skips first
    sodium = None

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMAS = os.path.normpath(os.path.join(HERE, "..", "..", "schemas"))


class AuditError(Exception):
    """A verification failed; the message says which rule."""


def sha256(b):
    return hashlib.sha256(b).digest()


def b64(b):
    return base64.b64encode(b).decode()


def b64dec(s, what, length=None):
    """Strict standard base64 (RFC 4648 section 4, with padding, canonical)."""
    if not isinstance(s, str) or len(s) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", s):
        raise AuditError(f"{what}: not standard padded base64: {s!r}")
    try:
        b = base64.b64decode(s, validate=True)
    except Exception as e:
        raise AuditError(f"{what}: bad base64: {e}")
    if b64(b) != s:
        raise AuditError(f"{what}: non-canonical base64")
    if length is not None and len(b) != length:
        raise AuditError(f"{what}: {len(b)} bytes, expected {length}")
    return b


# --------------------------------------------------------------------------
# RFC 9162 section 2.1

def leaf_hash(entry):
    return sha256(b"\x00" + entry)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def _k(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


class Tree:
    """The leaf hashes D[0:n] of a log, with MTH, PATH and PROOF of 2.1.1, 2.1.3.1, 2.1.4.1."""

    def __init__(self, leaf_hashes):
        self.leaves = list(leaf_hashes)
        self._memo = {}

    def mth(self, lo, hi):
        """MTH(D[lo:hi])."""
        key = (lo, hi)
        if key in self._memo:
            return self._memo[key]
        n = hi - lo
        if n == 0:
            h = sha256(b"")
        elif n == 1:
            h = self.leaves[lo]
        else:
            k = _k(n)
            h = node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))
        self._memo[key] = h
        return h

    def root(self, n):
        return self.mth(0, n)

    def path(self, m, n, lo=0):
        """PATH(m, D[lo:lo+n]) (2.1.3.1), leaf first."""
        if n == 1:
            return []
        k = _k(n)
        if m < k:
            return self.path(m, k, lo) + [self.mth(lo + k, lo + n)]
        return self.path(m - k, n - k, lo + k) + [self.mth(lo, lo + k)]

    def proof(self, m, n):
        """PROOF(m, D[n]) (2.1.4.1) for 0 < m < n; [] for m == 0 or m == n (docs/LEDGER.md)."""
        if m == 0 or m == n:
            return []
        return self._subproof(m, 0, n, True)

    def _subproof(self, m, lo, n, b):
        if m == n:
            return [] if b else [self.mth(lo, lo + n)]
        k = _k(n)
        if m <= k:
            return self._subproof(m, lo, k, b) + [self.mth(lo + k, lo + n)]
        return self._subproof(m - k, lo + k, n - k, False) + [self.mth(lo, lo + k)]


def verify_inclusion(index, size, leaf, path, root):
    """RFC 9162 2.1.3.2. Raises AuditError unless `leaf` is entry `index` of the tree `root`."""
    if index >= size:
        raise AuditError(f"inclusion: index {index} not below tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise AuditError("inclusion: path longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise AuditError("inclusion: path shorter than the tree is deep")
    if r != root:
        raise AuditError("inclusion: computed root differs from the checkpoint's root")


def verify_consistency(first, second, first_hash, second_hash, path):
    """RFC 9162 2.1.4.2 for 0 < first < second; first == second: empty proof, same root;
    first == 0: empty proof (docs/LEDGER.md "Proofs"). Raises AuditError."""
    if first > second:
        raise AuditError(f"consistency: old size {first} > new size {second}")
    if first == second:
        if path:
            raise AuditError("consistency: non-empty proof between equal sizes")
        if first_hash != second_hash:
            raise AuditError("consistency: same size, different roots (a fork)")
        return
    if first == 0:
        if path:
            raise AuditError("consistency: non-empty proof from the empty tree")
        return
    if not path:
        raise AuditError("consistency: empty proof")  # step 1
    path = list(path)
    if first & (first - 1) == 0:  # step 2: first is an exact power of 2
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise AuditError("consistency: proof longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7
        raise AuditError("consistency: proof shorter than needed")
    if fr != first_hash:
        raise AuditError("consistency: proof does not give the old root")
    if sr != second_hash:
        raise AuditError("consistency: proof does not give the new root")


# --------------------------------------------------------------------------
# C2SP signed-note and tlog-checkpoint

EM_DASH_SP = "\u2014 ".encode()


def key_id(name, pubkey):
    """C2SP signed-note Ed25519 key id: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    return sha256(name.encode() + b"\n" + b"\x01" + pubkey)[:4]


def valid_key_name(name):
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


class Verifier:
    def __init__(self, name, kid, pubkey):
        self.name, self.kid, self.pubkey = name, kid, pubkey

    def verify(self, msg, sig):
        if len(sig) != 64:
            return False
        try:
            sodium.crypto_sign_open(sig + msg, self.pubkey)
            return True
        except nacl.exceptions.BadSignatureError:
            return False


def parse_vkey(text, check_id=True):
    """`<name>+<8 hex key id>+<base64(0x01 || public key)>` -> Verifier."""
    text = text.strip("\n")
    parts = text.split("+", 2)  # the name has no '+'; base64 may
    if len(parts) != 3:
        raise AuditError(f"verifier key: expected name+id+key, got {len(parts)} parts")
    name, hexid, key64 = parts
    if not valid_key_name(name):
        raise AuditError(f"verifier key: invalid key name {name!r}")
    if not re.fullmatch(r"[0-9a-fA-F]{8}", hexid):
        raise AuditError(f"verifier key: key id {hexid!r} is not 8 hex digits")
    raw = b64dec(key64, "verifier key", 33)
    if raw[0] != 0x01:
        raise AuditError(f"verifier key: algorithm byte {raw[0]}, expected 0x01 (Ed25519)")
    pub = raw[1:]
    kid = bytes.fromhex(hexid)
    if check_id and key_id(name, pub) != kid:
        raise AuditError(f"verifier key: key id {hexid} != recomputed {key_id(name, pub).hex()}")
    return Verifier(name, kid, pub)


def open_note(msg, verifiers):
    """C2SP signed-note: returns (text, [names verified]); raises AuditError."""
    if not isinstance(msg, bytes):
        msg = msg.encode()
    try:
        s = msg.decode("utf-8")
    except UnicodeDecodeError:
        raise AuditError("note: not UTF-8")
    for ch in s:
        if (ord(ch) < 0x20 and ch != "\n") or ch == "\x7f":
            raise AuditError(f"note: control character U+{ord(ch):04X}")
    split = msg.rfind(b"\n\n")
    if split < 0:
        raise AuditError("note: no blank line before the signatures")
    text, sigs = msg[:split + 1], msg[split + 2:]
    if not sigs or not sigs.endswith(b"\n"):
        raise AuditError("note: signature block missing or not ending in a newline")
    verified, seen, count = [], set(), 0
    for line in sigs[:-1].split(b"\n"):
        if not line.startswith(EM_DASH_SP):
            raise AuditError(f"note: signature line does not start with U+2014 SP: {line[:20]!r}")
        rest = line[len(EM_DASH_SP):].decode()
        name, sp, sig64 = rest.partition(" ")
        if not sp or not valid_key_name(name) or not sig64:
            raise AuditError(f"note: malformed signature line {rest[:60]!r}")
        sig = b64dec(sig64, "note signature")
        if len(sig) < 5:
            raise AuditError("note: signature shorter than 5 bytes")
        count += 1
        if count > 100:
            raise AuditError("note: more than 100 signatures")
        kid, sig = sig[:4], sig[4:]
        for v in verifiers:
            if v.name == name and v.kid == kid:
                if (name, kid) in seen:
                    raise AuditError("note: two signatures by the same key")
                seen.add((name, kid))
                if not v.verify(text, sig):
                    raise AuditError(f"note: invalid signature by {name}+{kid.hex()}")
                verified.append(name)
    if not verified:
        raise AuditError("note: no signature by a known key (unverified note)")
    return text, verified


class Checkpoint:
    def __init__(self, origin, size, root, extensions, note, sig_lines):
        self.origin, self.size, self.root = origin, size, root
        self.extensions, self.note, self.sig_lines = extensions, note, sig_lines


def parse_checkpoint_body(text):
    """C2SP tlog-checkpoint body -> (origin, size, root, extension lines)."""
    if not text.endswith(b"\n"):
        raise AuditError("checkpoint: body does not end in a newline")
    lines = text[:-1].decode().split("\n")
    if len(lines) < 3:
        raise AuditError(f"checkpoint: {len(lines)} body lines, need origin, size and root")
    origin, size_s, root_s = lines[:3]
    if not origin:
        raise AuditError("checkpoint: empty origin")
    if not re.fullmatch(r"0|[1-9][0-9]*", size_s):
        raise AuditError(f"checkpoint: tree size {size_s!r} is not decimal without leading zeros")
    size = int(size_s)
    if size >= 1 << 64:
        raise AuditError("checkpoint: tree size beyond 2^64")
    root = b64dec(root_s, "checkpoint root", 32)
    ext = lines[3:]
    for e in ext:
        if not e:
            raise AuditError("checkpoint: empty extension line")
    return origin, size, root, ext


def open_checkpoint(note, verifier, strict_mlahub=True):
    """Open a signed checkpoint with one verifier; with strict_mlahub also the rules
    docs/LEDGER.md adds (no extension lines, one signature line, key name = origin)."""
    if not isinstance(note, bytes):
        note = note.encode()
    text, _ = open_note(note, [verifier])
    origin, size, root, ext = parse_checkpoint_body(text)
    sig_lines = note[len(text) + 1:].count(b"\n")
    if strict_mlahub:
        if ext:
            raise AuditError(f"checkpoint: extension lines {ext!r} (docs: none)")
        if sig_lines != 1:
            raise AuditError(f"checkpoint: {sig_lines} signature lines (docs: one)")
    return Checkpoint(origin, size, root, ext, note, sig_lines)


# --------------------------------------------------------------------------
# schemas/ledger.fbs: a FlatBuffers reader driven by the schema text

SCALARS = {"bool": ("<?", 1), "byte": ("<b", 1), "ubyte": ("<B", 1), "short": ("<h", 2),
           "ushort": ("<H", 2), "int": ("<i", 4), "uint": ("<I", 4), "long": ("<q", 8),
           "ulong": ("<Q", 8), "float": ("<f", 4), "double": ("<d", 8),
           "int8": ("<b", 1), "uint8": ("<B", 1), "int16": ("<h", 2), "uint16": ("<H", 2),
           "int32": ("<i", 4), "uint32": ("<I", 4), "int64": ("<q", 8), "uint64": ("<Q", 8)}


class EntrySchema:
    """The enums of ledger.fbs and common.fbs and the fields of table LedgerEntry."""

    def __init__(self, schemas_dir=DEFAULT_SCHEMAS):
        self.enums = {}  # name -> (base, {value: member})
        texts = {}
        for fn in ("common.fbs", "ledger.fbs"):
            with open(os.path.join(schemas_dir, fn)) as f:
                texts[fn] = re.sub(r"//[^\n]*", "", f.read())
        for text in texts.values():
            for m in re.finditer(r"\benum\s+(\w+)\s*:\s*(\w+)\s*\{(.*?)\}", text, re.S):
                name, base, body = m.groups()
                members, value = {}, -1
                for item in filter(None, (s.strip() for s in body.split(","))):
                    mname, _, v = item.partition("=")
                    value = int(v.strip(), 0) if v.strip() else value + 1
                    members[value] = mname.strip()
                self.enums[name] = (base, members)
        m = re.search(r"\btable\s+LedgerEntry\s*\{(.*?)\}", texts["ledger.fbs"], re.S)
        if not m:
            raise AuditError("schema: no table LedgerEntry in ledger.fbs")
        self.fields = []  # (id, name, type, default)
        for decl in filter(None, (s.strip() for s in m.group(1).split(";"))):
            d = re.match(r"(\w+)\s*:\s*(\[?\s*\w+\s*\]?)\s*(?:=\s*([^(\s]+))?\s*\((.*)\)$", decl, re.S)
            if not d:
                raise AuditError(f"schema: cannot parse LedgerEntry field {decl!r}")
            fname, ftype, default, attrs = d.groups()
            idm = re.search(r"\bid\s*:\s*(\d+)", attrs)
            self.fields.append((int(idm.group(1)), fname, ftype.replace(" ", ""), default))
        self.fields.sort()
        fid = re.search(r'file_identifier\s+"(\w{4})"', texts["ledger.fbs"])
        self.identifier = fid.group(1).encode() if fid else None


class EntryReader:
    def __init__(self, buf):
        self.buf = bytes(buf)

    def need(self, pos, n, align, what):
        if pos < 0 or pos + n > len(self.buf):
            raise AuditError(f"entry: {what} out of bounds")
        if pos % align:
            raise AuditError(f"entry: {what} misaligned")

    def u32(self, pos, what):
        self.need(pos, 4, 4, what)
        return struct.unpack_from("<I", self.buf, pos)[0]

    def deref(self, pos, what):
        o = self.u32(pos, what)
        if o == 0 or pos + o >= len(self.buf):
            raise AuditError(f"entry: {what}: bad offset")
        return pos + o

    def vector(self, pos, what):
        n = self.u32(pos, what)
        self.need(pos + 4, n, 1, what)
        return self.buf[pos + 4:pos + 4 + n]

    def string(self, pos, what):
        b = self.vector(pos, what)
        end = pos + 4 + len(b)
        if end >= len(self.buf) or self.buf[end] != 0:
            raise AuditError(f"entry: {what} not terminated by 0x00")
        return b


def decode_entry(entry, schema):
    """LedgerEntry bytes -> dict (every scalar, with its default; strings and byte vectors
    that are present; enums by name). Raises AuditError for a malformed buffer."""
    r = EntryReader(entry)
    if len(entry) < 8:
        raise AuditError("entry: shorter than 8 bytes")
    if schema.identifier and entry[4:8] != schema.identifier:
        raise AuditError(f"entry: file identifier {entry[4:8]!r}, expected {schema.identifier!r}")
    table = r.deref(0, "root offset")
    r.need(table, 4, 4, "table")
    vt = table - struct.unpack_from("<i", entry, table)[0]
    r.need(vt, 4, 2, "vtable")
    vt_size, tbl_size = struct.unpack_from("<HH", entry, vt)
    if vt_size < 4 or vt_size % 2 or vt + vt_size > len(entry):
        raise AuditError("entry: bad vtable size")
    r.need(table, tbl_size, 1, "table inline data")
    out = {}
    for fid, name, ftype, default in schema.fields:
        off = 0
        if 4 + 2 * fid < vt_size:
            off = struct.unpack_from("<H", entry, vt + 4 + 2 * fid)[0]
        if off and off >= tbl_size:
            raise AuditError(f"entry: field {name} outside its table")
        pos = table + off
        if ftype == "string":
            if off:
                raw = r.string(r.deref(pos, name), name)
                try:
                    out[name] = raw.decode("ascii")
                except UnicodeDecodeError:
                    raise AuditError(f"entry: {name} is not ASCII")
            continue
        if ftype.startswith("["):
            elem = ftype[1:-1]
            if elem not in ("ubyte", "uint8"):
                raise AuditError(f"schema: vector of {elem} not supported by this auditor")
            if off:
                out[name] = r.vector(r.deref(pos, name), name)
            continue
        if ftype in schema.enums:
            base, members = schema.enums[ftype]
        elif ftype in SCALARS:
            base, members = ftype, None
        else:
            raise AuditError(f"schema: field {name} of type {ftype} not supported by this auditor")
        fmt, size = SCALARS[base]
        if off:
            r.need(pos, size, size, name)
            v = struct.unpack_from(fmt, entry, pos)[0]
        elif default is not None:
            v = int(default, 0) if default.lstrip("-").isdigit() else default
            if members and isinstance(v, str):
                v = {n: k for k, n in members.items()}[v]
        else:
            v = 0
        if members is not None:
            v = members.get(v, v)
        out[name] = v
    return out


HEX32 = re.compile(r"[0-9a-f]{32}")
NODE_ID = re.compile(r"[A-Z]{2}-[A-Z0-9]+")
LENGTHS = {"envelope_hash": 32, "receipt_hash": 32, "directory_hash": 32, "chunks_root": 32,
           "sender_key_id": 8, "origin_signature": 64, "receipt_signature": 64}
EVENTS = {"Accepted", "Delivered", "Receipt", "Rejected", "StatusChange", "DirectoryPublished",
          "EvidenceComplete"}
STATES = {"Unspecified", "Queued", "Delivered", "Receipted", "Rejected", "Expired", "Withdrawn"}


def check_entry(d):
    """The rules of docs/LEDGER.md "Entries" (and broker/README.md "Ledger entries the broker
    writes" for the fields each event carries). Returns a list of problems."""
    p = []
    if d.get("version") != 1:
        p.append(f"version {d.get('version')} (docs: 1)")
    ev = d.get("event")
    if ev not in EVENTS:
        p.append(f"event {ev!r} not one of the documented events")
    if d.get("state") not in STATES:
        p.append(f"state {d.get('state')!r} not a documented state")
    for k, n in LENGTHS.items():
        if k in d and len(d[k]) != n:
            p.append(f"{k} of {len(d[k])} bytes (docs: {n})")
    for k, v in d.items():
        if isinstance(v, str) and k in ("message_id", "sender", "recipient", "in_reply_to", "transfer_id"):
            if len(v) > 256 or not all(0x20 <= ord(c) < 0x7f for c in v):
                p.append(f"{k} is not at most 256 printable ASCII characters")
    if not isinstance(d.get("ledger_ms"), int) or d["ledger_ms"] <= 0:
        p.append("ledger_ms missing")
    mid = d.get("message_id", "")
    if ev == "DirectoryPublished":
        if mid:
            p.append("DirectoryPublished with a message id (schema: empty)")
        if not d.get("directory_version") or "directory_hash" not in d:
            p.append("DirectoryPublished without directory_version/directory_hash")
    elif ev in ("Accepted", "Delivered", "Receipt", "StatusChange", "EvidenceComplete"):
        if not HEX32.fullmatch(mid):
            p.append(f"message_id {mid!r} is not 32 lowercase hex")
        for k in ("sender", "recipient"):
            if not NODE_ID.fullmatch(d.get(k, "")):
                p.append(f"{k} {d.get(k)!r} is not a node id")
    if d.get("in_reply_to") and not HEX32.fullmatch(d["in_reply_to"]):
        p.append("in_reply_to is not a message id")
    need = {"Accepted": ["envelope_hash", "sender_key_id", "origin_signature"],
            "Delivered": ["envelope_hash"],
            "Receipt": ["receipt_signature", "receipt_hash"],
            "EvidenceComplete": ["transfer_id", "chunks_root"]}.get(ev, [])
    for k in need:
        if k not in d:
            p.append(f"{ev} entry without {k}")
    if ev == "Accepted":
        if d.get("state") != "Queued":
            p.append(f"Accepted with state {d.get('state')} (broker/README.md: Queued)")
        if not d.get("envelope_size"):
            p.append("Accepted with envelope_size 0")
        if not d.get("created_ms") or not d.get("expires_ms") or d["expires_ms"] <= d["created_ms"]:
            p.append("Accepted without sane created_ms/expires_ms")
    if ev == "Delivered" and (not d.get("attempt") or d.get("state") != "Delivered"):
        p.append(f"Delivered with attempt {d.get('attempt')} state {d.get('state')}")
    if ev == "Receipt" and (not d.get("received_ms") or d.get("state") != "Receipted"):
        p.append(f"Receipt with received_ms {d.get('received_ms')} state {d.get('state')}")
    if ev == "Rejected" and d.get("error") in (None, "Ok"):
        p.append("Rejected without an error code")
    return p


def table_vectors(buf, identifier):
    """{slot: bytes} of the byte-vector fields of a FlatBuffer's root table (e.g. SignedReceipt)."""
    r = EntryReader(buf)
    if len(buf) < 8 or buf[4:8] != identifier:
        raise AuditError(f"buffer without identifier {identifier!r}")
    table = r.deref(0, "root offset")
    r.need(table, 4, 4, "table")
    vt = table - struct.unpack_from("<i", buf, table)[0]
    r.need(vt, 4, 2, "vtable")
    vt_size = struct.unpack_from("<H", buf, vt)[0]
    out = {}
    for slot in range((vt_size - 4) // 2):
        off = struct.unpack_from("<H", buf, vt + 4 + 2 * slot)[0]
        if off:
            out[slot] = r.vector(r.deref(table + off, f"field {slot}"), f"field {slot}")
    return out


RECEIPT_CONTEXT = b"mlahub-receipt-v1\x00"


def check_receipt(entry, signed_receipt, recipient_pk):
    """A Receipt entry against the SignedReceipt (schemas/receipt.fbs, MLAR) it records:
    receipt_hash = SHA-256(signed receipt bytes); receipt_signature = its signature, which is
    Ed25519(recipient, "mlahub-receipt-v1" || 0x00 || receipt bytes) (docs/PROTOCOL.md 8)."""
    if entry.get("receipt_hash") != sha256(signed_receipt):
        raise AuditError("receipt_hash != SHA-256 of the signed receipt")
    v = table_vectors(signed_receipt, b"MLAR")
    receipt, sig = v.get(0), v.get(1)
    if receipt is None or sig is None:
        raise AuditError("SignedReceipt without receipt or signature")
    if entry.get("receipt_signature") != sig:
        raise AuditError("receipt_signature != the SignedReceipt's signature")
    if recipient_pk is None:
        raise AuditError("recipient's key unknown")
    if not Verifier("", b"", recipient_pk).verify(RECEIPT_CONTEXT + receipt, sig):
        raise AuditError("receipt signature does not verify with the recipient's key")
    if entry.get("envelope_hash") is not None and entry["envelope_hash"] not in receipt:
        raise AuditError("the receipt does not name the entry's envelope hash")


def entry_json_like_show(d):
    """The decoded entry with byte vectors as lists of ints (as FlatBuffers' JSON printer)."""
    return {k: (list(v) if isinstance(v, (bytes, bytearray)) else v) for k, v in d.items()}


# --------------------------------------------------------------------------
# Running the tool

class Tool:
    def __init__(self, mlahub, ledger):
        self.mlahub, self.ledger = mlahub, ledger

    def run(self, *args, check=True):
        p = subprocess.run([self.mlahub, "ledger", *args, "--ledger", self.ledger],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if check and p.returncode != 0:
            msg = (p.stderr.decode(errors="replace").strip() or p.stdout.decode(errors="replace").strip())
            raise AuditError(f"mlahub ledger {' '.join(args)}: exit {p.returncode}: {msg[:300]}")
        return p

    def json(self, *args):
        out = self.run(*args, "--json").stdout
        try:
            return json.loads(out)
        except ValueError:
            raise AuditError(f"mlahub ledger {' '.join(args)} --json: not JSON: {out[:200]!r}")


# --------------------------------------------------------------------------
# The audit

class Report:
    def __init__(self, label):
        self.label, self.passed, self.failed = label, 0, 0

    def ok(self, what):
        self.passed += 1
        print(f"ok - {self.label}: {what}", flush=True)

    def fail(self, what, detail=""):
        self.failed += 1
        print(f"FAIL - {self.label}: {what}" + (f": {detail}" if detail else ""), flush=True)

    def check(self, cond, what, detail=""):
        (self.ok if cond else lambda w: self.fail(w, detail))(what)
        return cond

    def attempt(self, what, fn, *a):
        """Run fn; ok if it returns without AuditError (and not False)."""
        try:
            r = fn(*a)
        except (AuditError, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
            self.fail(what, str(e))
            return None
        if r is False:
            self.fail(what)
            return None
        self.ok(what)
        return True if r is None else r

    def rejects(self, what, fn, *a):
        """Negative check: fn must raise AuditError."""
        try:
            fn(*a)
        except AuditError as e:
            self.ok(f"{what} (rejected: {e})")
            return True
        self.fail(what, "the auditor accepted it")
        return False


def flip(b, i, bit=0x01):
    b = bytearray(b)
    b[i] ^= bit
    return bytes(b)


def audit(args):
    rep = Report(args.label)
    tool = Tool(args.mlahub, args.ledger)
    schema = EntrySchema(args.schemas)

    # 1. the verifier key
    p = tool.run("public-key")
    vkey_text = p.stdout.decode()
    rep.check(vkey_text.endswith("\n") and vkey_text.count("\n") == 1,
              "public-key prints one line", repr(vkey_text))
    vkey = rep.attempt("public-key parses as a C2SP verifier key; key id = SHA-256(name||0x0A||0x01||pk)[:4]",
                       parse_vkey, vkey_text)
    if not vkey:
        print(f"{rep.passed} passed, {rep.failed} failed")
        return rep
    rep.check(re.fullmatch(r"[^+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+\n", vkey_text) is not None,
              "key id printed as 8 lowercase hex digits (docs/LEDGER.md)", vkey_text)
    try:
        pj = tool.json("public-key")
        rep.check(pj.get("verifier_key") == vkey_text.strip() and pj.get("key_name") == vkey.name
                  and b64dec(pj.get("public_key", ""), "public_key", 32) == vkey.pubkey,
                  "public-key --json agrees with the text form", json.dumps(pj))
    except AuditError as e:
        rep.fail("public-key --json", str(e))
    if args.hub_identity:
        with open(args.hub_identity) as f:
            hub = json.load(f)
        rep.check(bytes(hub.get("sign_key", [])) == vkey.pubkey,
                  "checkpoint key is the hub's Ed25519 signing key (its identity.json)",
                  f"{bytes(hub.get('sign_key', [])).hex()} vs {vkey.pubkey.hex()}")

    # 2. the newest checkpoint and every stored one
    raw_cp = tool.run("checkpoint").stdout
    cp = rep.attempt("newest checkpoint: signed note opens with the verifier key, body is a tlog-checkpoint",
                     open_checkpoint, raw_cp, vkey)
    if not cp:
        print(f"{rep.passed} passed, {rep.failed} failed")
        return rep
    rep.check(cp.origin == vkey.name, "origin line = key name (docs: the default)",
              f"{cp.origin!r} vs {vkey.name!r}")
    try:
        cj = tool.json("checkpoint")
        rep.check(cj.get("checkpoint", "").encode() == raw_cp and cj.get("tree_size") == cp.size,
                  "checkpoint --json holds the same note", json.dumps(cj)[:200])
    except AuditError as e:
        rep.fail("checkpoint --json", str(e))
    N = cp.size
    sizes = []
    try:
        sizes = [int(x) for x in tool.run("checkpoint", "--list").stdout.split()]
    except (AuditError, ValueError) as e:
        rep.fail("checkpoint --list", str(e))
    rep.check(sizes == sorted(set(sizes)) and sizes and sizes[-1] == N,
              f"checkpoint --list: ascending, newest = {N}", str(sizes[-5:]))
    rep.check(0 in sizes, "a checkpoint of size 0 is stored (docs: a new ledger starts with one)")
    rep.check(len(sizes) >= args.min_checkpoints, f"at least {args.min_checkpoints} checkpoints stored ({len(sizes)})")
    rep.check(N >= args.min_entries, f"at least {args.min_entries} entries ({N})")

    # 3. every entry: prove --index i --json at the newest size
    entries, leaves, bad = [], [], []
    proofs = {}
    for i in range(N):
        try:
            j = tool.json("prove", "--index", str(i))
            if set(j) != {"index", "tree_size", "leaf_hash", "entry", "inclusion"}:
                raise AuditError(f"keys {sorted(j)} (DESIGN.md: index, tree_size, leaf_hash, entry, inclusion)")
            if j["index"] != i or j["tree_size"] != N:
                raise AuditError(f"index/tree_size {j['index']}/{j['tree_size']}, expected {i}/{N}")
            e = b64dec(j["entry"], "entry")
            lh = b64dec(j["leaf_hash"], "leaf_hash", 32)
            if leaf_hash(e) != lh:
                raise AuditError("SHA-256(0x00 || entry) != leaf_hash")
            path = [b64dec(x, "inclusion element", 32) for x in j["inclusion"]]
            verify_inclusion(i, N, lh, path, cp.root)
            entries.append(e)
            leaves.append(lh)
            proofs[i] = path
        except AuditError as ex:
            bad.append(f"entry {i}: {ex}")
            entries.append(None)
            leaves.append(None)
    rep.check(not bad, f"{N} inclusion proofs (prove --index i --json): JSON form, leaf hash = "
              f"SHA-256(0x00||entry), path verifies against the signed root (RFC 9162 2.1.3.2)",
              "; ".join(bad[:5]))
    if bad:
        print(f"{rep.passed} passed, {rep.failed} failed")
        return rep

    # 5. MTH over all leaves; the hub's paths are exactly PATH(m, D[n])
    tree = Tree(leaves)
    rep.check(tree.root(N) == cp.root, f"MTH of all {N} leaves (RFC 9162 2.1.1) = the checkpoint's root",
              f"{b64(tree.root(N))} vs {b64(cp.root)}")
    diff = [i for i in range(N) if proofs[i] != tree.path(i, N)]
    rep.check(not diff, "every audit path equals PATH(m, D[n]) computed from the leaves (2.1.3.1)",
              f"differs at {diff[:10]}")

    # every stored checkpoint: signature, format, root = MTH at its size
    notes, bad = {N: cp}, []
    for s in sizes:
        try:
            raw = tool.run("checkpoint", "--size", str(s)).stdout
            c = open_checkpoint(raw, vkey)
            if c.size != s or c.origin != cp.origin:
                raise AuditError(f"size/origin {c.size}/{c.origin}")
            if c.root != tree.root(s):
                raise AuditError("root != MTH of the first entries")
            notes[s] = c
        except AuditError as ex:
            bad.append(f"size {s}: {ex}")
    rep.check(not bad, f"all {len(sizes)} stored checkpoints (checkpoint --size S): signature, format, "
              "same origin, root = MTH(D[0:S])", "; ".join(bad[:5]))
    rep.check(notes.get(N) is not None and notes[N].note == raw_cp,
              "checkpoint --size <newest> is byte for byte the default checkpoint")

    # captured checkpoints (an earlier one from the running broker, the agents' copy)
    captured = []
    for fn in args.note or []:
        with open(fn, "rb") as f:
            raw = f.read()
        try:
            c = open_checkpoint(raw, vkey)
            if c.size > N:
                raise AuditError(f"captured size {c.size} beyond the ledger's {N}")
            if c.root != tree.root(c.size):
                raise AuditError("root != MTH of the ledger's first entries")
            stored = tool.run("checkpoint", "--size", str(c.size), check=False)
            if stored.returncode != 0 or stored.stdout != raw:
                raise AuditError(f"not byte for byte the stored checkpoint at size {c.size} "
                                 f"(exit {stored.returncode})")
            rep.ok(f"captured checkpoint {os.path.basename(fn)} (size {c.size}): verifies, "
                   "is the stored one at its size, root = MTH")
            notes.setdefault(c.size, c)
            captured.append(c.size)
        except AuditError as ex:
            rep.fail(f"captured checkpoint {os.path.basename(fn)}", str(ex))

    # inclusion at older sizes, against the older signed roots
    olds = sorted(s for s in captured if 0 < s < N) or sorted(s for s in notes if 0 < s < N)[-1:]
    early = olds[0] if olds else None
    if early:
        bad = []
        for i in range(early):
            try:
                j = tool.json("prove", "--index", str(i), "--size", str(early))
                if j["tree_size"] != early or j["index"] != i:
                    raise AuditError("echo")
                lh = b64dec(j["leaf_hash"], "leaf_hash", 32)
                if lh != leaves[i] or b64dec(j["entry"], "entry") != entries[i]:
                    raise AuditError("entry/leaf differ from the newest proof's")
                path = [b64dec(x, "inclusion", 32) for x in j["inclusion"]]
                verify_inclusion(i, early, lh, path, notes[early].root)
                if path != tree.path(i, early):
                    raise AuditError("path != PATH(m, D[n])")
            except AuditError as ex:
                bad.append(f"{i}: {ex}")
        rep.check(not bad, f"{early} inclusion proofs at the older size {early} (prove --size) verify "
                  "against that older signed root", "; ".join(bad[:5]))

    # 4. consistency
    pairs = {(s, N) for s in sizes} | {(0, N), (N, N)}
    mids = [s for s in sizes if 0 < s < N]
    for a in mids[::max(1, len(mids) // 6)]:
        for b in mids[::max(1, len(mids) // 4)]:
            if a < b:
                pairs.add((a, b))
    if early:
        pairs.add((early, N))
    bad = []
    for m, n in sorted(pairs):
        try:
            args_ = ["consistency", "--old", str(m)] + (["--new", str(n)] if n != N else [])
            j = tool.json(*args_)
            if set(j) != {"old_size", "new_size", "proof"}:
                raise AuditError(f"keys {sorted(j)}")
            if j["old_size"] != m or j["new_size"] != n:
                raise AuditError(f"echo {j['old_size']}/{j['new_size']}")
            proof = [b64dec(x, "proof element", 32) for x in j["proof"]]
            verify_consistency(m, n, notes[m].root if m in notes else tree.root(m),
                               notes[n].root if n in notes else tree.root(n), proof)
            if proof != tree.proof(m, n):
                raise AuditError("proof != PROOF(m, D[n]) (2.1.4.1)")
        except AuditError as ex:
            bad.append(f"{m}->{n}: {ex}")
    rep.check(not bad, f"{len(pairs)} consistency proofs (incl. every stored size -> {N}, 0 -> {N}, "
              f"{N} -> {N}) verify between the signed roots (RFC 9162 2.1.4.2) and equal PROOF(m, D[n])",
              "; ".join(bad[:5]))

    # the tool refuses what does not exist
    r = tool.run("prove", "--index", str(N), "--json", check=False)
    rep.check(r.returncode != 0, f"prove --index {N} (= size) is refused (exit {r.returncode})")
    r = tool.run("consistency", "--old", str(N + 1), "--json", check=False)
    rep.check(r.returncode != 0, f"consistency --old {N + 1} > newest is refused (exit {r.returncode})")
    r = tool.run("consistency", "--old", str(N), "--new", str(N - 1), "--json", check=False)
    rep.check(r.returncode != 0, f"consistency --old {N} --new {N - 1} is refused (exit {r.returncode})")

    # 6. the entries
    decoded, bad, mism = [], [], []
    for i, e in enumerate(entries):
        try:
            d = decode_entry(e, schema)
            probs = check_entry(d)
            if probs:
                bad.append(f"entry {i} ({d.get('event')}): {'; '.join(probs)}")
            decoded.append(d)
        except AuditError as ex:
            bad.append(f"entry {i}: {ex}")
            decoded.append(None)
            continue
        try:
            show = tool.json("show", "--index", str(i))
            mine = entry_json_like_show(d)
            if show != mine:
                keys = sorted(k for k in set(show) | set(mine) if show.get(k) != mine.get(k))
                mism.append(f"entry {i}: {keys}")
        except AuditError as ex:
            mism.append(f"entry {i}: {ex}")
    rep.check(not bad, f"{N} entries decode as LedgerEntry (MLAL) with the documented fields and limits",
              " | ".join(bad[:6]))
    rep.check(not mism, "my decoding equals `mlahub ledger show --index i` (FlatBuffers' JSON) for every entry",
              "; ".join(mism[:5]))
    events = [d.get("event") for d in decoded if d]
    rep.check(events[:1] == ["DirectoryPublished"], "entry 0 is DirectoryPublished (broker/README.md: at first start)",
              str(events[:1]))
    if args.directory_bin and decoded and decoded[0]:
        with open(args.directory_bin, "rb") as f:
            dh = sha256(f.read())
        rep.check(decoded[0].get("directory_hash") == dh and decoded[0].get("directory_version") == 1,
                  "DirectoryPublished: directory_hash = SHA-256 of the signed directory, version 1")
    # ledger_ms: "when the hub recorded the event (hub clock)". Nothing documents that the log is
    # ordered by it (and it is not: see the note); an Accepted entry is recorded after the
    # envelope's creation (less the clock skew allowed, 300 s by default) and before its expiry.
    bad = [i for i, d in enumerate(decoded) if d and d.get("event") == "Accepted"
           and not (d["created_ms"] - 300000 <= d["ledger_ms"] <= d["expires_ms"])]
    rep.check(not bad, "Accepted: created_ms - 300 s <= ledger_ms <= expires_ms", f"entries {bad[:10]}")
    inv = [(i, decoded[i - 1]["ledger_ms"] - decoded[i]["ledger_ms"]) for i in range(1, N)
           if decoded[i] and decoded[i - 1] and decoded[i]["ledger_ms"] < decoded[i - 1]["ledger_ms"]]
    if inv:
        print(f"note - {rep.label}: ledger_ms decreases along the log at {len(inv)} place(s) "
              f"(index, ms earlier than the entry before): {inv[:5]}", flush=True)

    ids = {}
    if args.identities:
        bad = []
        for root, _, files in os.walk(args.identities):
            if "identity.json" in files:
                with open(os.path.join(root, "identity.json")) as f:
                    j = json.load(f)
                ids[j["id"]] = bytes(j["sign_key"])
        for i, d in enumerate(decoded):
            if d and d.get("event") == "Accepted":
                pk = ids.get(d.get("sender"))
                if pk is None or d.get("sender_key_id") != sha256(pk)[:8]:
                    bad.append(str(i))
        rep.check(not bad, "Accepted: sender_key_id = first 8 bytes of SHA-256 of the sender's Ed25519 key",
                  f"entries {bad[:10]}")

    # message histories against what the agents reported
    if args.messages:
        with open(args.messages) as f:
            msgs = json.load(f)
        bad, receipts = [], 0
        for m in msgs:
            mid = m["message_id"]
            hist = [(i, d) for i, d in enumerate(decoded) if d and d.get("message_id") == mid]
            evs = [d["event"] for _, d in hist]
            try:
                if not evs or evs[0] != "Accepted" or "Receipt" not in evs or evs[-1] != "Receipt":
                    raise AuditError(f"history {evs}")
                if evs.count("Accepted") != 1 or evs.count("Receipt") != 1 or "Delivered" not in evs:
                    raise AuditError(f"history {evs}")
                acc = hist[0][1]
                if acc["envelope_hash"].hex() != m["envelope_hash"] or acc["envelope_size"] != m["envelope_size"]:
                    raise AuditError("Accepted envelope hash/size differ from the sender agent's record")
                for k in ("sender", "recipient", "kind", "priority", "handling", "legal_basis", "in_reply_to"):
                    if m.get(k) is not None and acc.get(k, "") != m[k]:
                        raise AuditError(f"Accepted {k} {acc.get(k)!r} vs the agent's {m[k]!r}")
                for i, d in hist:
                    if d.get("envelope_hash") not in (None, acc["envelope_hash"]):
                        raise AuditError(f"entry {i}: another envelope hash")
                for ev, idx in (m.get("ledger_index") or {}).items():
                    want = {"accepted": "Accepted", "delivered": "Delivered", "receipt": "Receipt"}[ev]
                    if idx >= N or not decoded[idx] or decoded[idx]["event"] != want \
                            or decoded[idx].get("message_id") != mid:
                        raise AuditError(f"status says {ev} at {idx}, ledger has {decoded[idx] and decoded[idx]['event']}")
                rc = [d for _, d in hist if d["event"] == "Receipt"][0]
                if m.get("signed_receipt"):
                    check_receipt(rc, b64dec(m["signed_receipt"], "signed_receipt"), ids.get(m["recipient"]))
                    receipts += 1
            except AuditError as ex:
                bad.append(f"{mid[:8]}: {ex}")
        rep.check(not bad, f"{len(msgs)} messages: Accepted -> Delivered -> Receipt, hashes, header fields and "
                  "ledger indices agree with the agents' records", "; ".join(bad[:5]))
        rep.check(receipts == len(msgs) and not bad,
                  f"{receipts} Receipt entries: receipt_hash = SHA-256 of the SignedReceipt the sender holds, "
                  "receipt_signature is its signature and verifies with the recipient's key (PROTOCOL.md 8)")

    # metadata and hashes only
    for s in args.secret or []:
        hits = [i for i, e in enumerate(entries) if s.encode() in e]
        rep.check(not hits, f"no entry contains {s!r}", f"entries {hits[:10]}")

    # `mlahub ledger verify`
    try:
        v = tool.json("verify", "--quiet")
        rep.check(v.get("ok") is True and v.get("tree_size") == N and v.get("root") == b64(cp.root)
                  and v.get("checkpoints_checked") == len(sizes),
                  "mlahub ledger verify --json: ok, same size, root and number of checkpoints", json.dumps(v))
    except AuditError as ex:
        rep.fail("mlahub ledger verify", str(ex))

    if args.ldb_db:
        storage(rep, args, vkey, cp, entries, decoded, tree, notes, sizes, N)

    if args.negative:
        negative(rep, vkey, cp, raw_cp, entries, leaves, proofs, tree, notes, N, schema)
    return rep


def ldb_scan(ldb, db, cf):
    """{key: value} of one column family, read with RocksDB's own `ldb` tool."""
    p = subprocess.run([ldb, f"--db={db}", f"--column_family={cf}", "scan", "--key_hex", "--value_hex"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        raise AuditError(f"ldb scan {cf}: exit {p.returncode}: {p.stderr.decode(errors='replace')[:300]}")
    out = {}
    for line in p.stdout.decode().splitlines():
        k, sep, v = line.partition(" : ")
        if not sep or not k.startswith("0x"):
            continue
        out[bytes.fromhex(k[2:])] = bytes.fromhex(v[2:]) if v.startswith("0x") else b""
    return out


def storage(rep, args, vkey, cp, entries, decoded, tree, notes, sizes, N):
    """docs/LEDGER.md "Entry records (ledger format 2)" and "Storage and key layout", read
    with RocksDB's `ldb` from a copy of a closed ledger (an independent reader of the store)."""
    be = lambda n: struct.pack(">Q", n)
    try:
        fam = {cf: ldb_scan(args.ldb, args.ldb_db, cf) for cf in ("default", "entries", "nodes", "checkpoints", "index")}
    except (AuditError, subprocess.TimeoutExpired, OSError) as e:
        rep.fail("storage: read the column families with ldb", str(e))
        return
    d = fam["default"]
    rep.check(d.get(b"meta/format") == b"2" and d.get(b"meta/origin") == cp.origin.encode()
              and d.get(b"meta/key_name") == vkey.name.encode() and d.get(b"meta/public_key") == vkey.pubkey,
              "storage: meta/format = 2, meta/origin, meta/key_name, meta/public_key as documented",
              str({k: v[:40] for k, v in d.items() if k.startswith(b"meta/")}))
    rep.check(d.get(b"head") == be(N) + tree.root(N) + be(max(sizes)),
              "storage: head = BE64(size) || root || BE64(size of the newest checkpoint)",
              (d.get(b"head") or b"").hex())
    ent, bad, keyed = fam["entries"], [], {}
    rep.check(sorted(ent) == [be(i) for i in range(N)], f"storage: entries holds exactly BE64(0..{N - 1})",
              str(len(ent)))
    for i in range(N):
        v = ent.get(be(i), b"")
        if len(v) < 34:
            bad.append(f"{i}: short record")
            continue
        lh, klen = v[:32], struct.unpack(">H", v[32:34])[0]
        key, body = v[34:34 + klen], v[34 + klen:]
        if body != entries[i] or lh != leaf_hash(body):
            bad.append(f"{i}: leaf hash or entry bytes differ from prove's")
        if klen:
            keyed[i] = key
        ev = decoded[i] and decoded[i].get("event")
        want = decoded[i].get("message_id", "").encode() if ev in ("Accepted", "Delivered", "Receipt", "StatusChange") else None
        if ev == "DirectoryPublished" and klen:
            bad.append(f"{i}: DirectoryPublished with an index key")
        if want is not None and key != want:
            bad.append(f"{i}: {ev} index key {key!r}, expected the message id")
    rep.check(not bad, "storage: every entry record is leaf hash || BE16(len) || index key || entry bytes, "
              "the index key is the message id (none for DirectoryPublished)", "; ".join(bad[:5]))
    cps = fam["checkpoints"]
    bad = [s for s in sizes if cps.get(be(s)) != (notes[s].note if s in notes else None)]
    rep.check(sorted(cps) == [be(s) for s in sizes] and not bad,
              "storage: checkpoints holds BE64(size) -> the signed note, byte for byte, for every listed size",
              f"{bad[:5]}")
    nodes, bad = fam["nodes"], []
    want_keys = [be(32 * b + 31) for b in range(N // 32)]
    for b in range(N // 32):
        lo, last = 32 * b, 32 * b + 31
        want = b""
        for L in range(1, 5):
            w = 1 << L
            want += b"".join(tree.mth(lo + j * w, lo + (j + 1) * w) for j in range(32 // w))
        t = 0
        while (last >> t) & 1:
            t += 1
        for L in range(5, t + 1):
            want += tree.mth(last + 1 - (1 << L), last + 1)
        if nodes.get(be(last)) != want:
            bad.append(f"block {b}")
    rep.check(sorted(nodes) == want_keys and not bad,
              f"storage: nodes holds one record per complete block of 32 ({len(want_keys)}), with the 30 node "
              "hashes of levels 1-4 and those of levels 5..t, as documented", f"{bad[:5]} keys {len(nodes)}")
    idx = fam["index"]
    wm = idx.get(b"\x00\x00")
    rep.check(wm is not None and len(wm) == 8, "storage: index watermark 0x0000 -> BE64(n) present",
              repr(wm))
    if wm is not None and len(wm) == 8:
        n = struct.unpack(">Q", wm)[0]
        got = set()
        for k in idx:
            if k == b"\x00\x00":
                continue
            klen = struct.unpack(">H", k[:2])[0]
            got.add((k[2:2 + klen], struct.unpack(">Q", k[2 + klen:])[0]))
        want = {(key, i) for i, key in keyed.items() if i < n}
        rep.check(n <= N and got == want,
                  f"storage: index holds exactly BE16(len) || key || BE64(i) of the keyed records below the "
                  f"watermark ({n} of {N} after close)", f"{len(got)} vs {len(want)}")


def negative(rep, vkey, cp, raw_cp, entries, leaves, proofs, tree, notes, N, schema):
    """Tampering that the auditor must detect, one check each."""
    i = min(N - 1, max(1, N // 2))
    path = proofs[i]
    e = entries[i]
    # a flipped byte in an entry
    bad_e = flip(e, len(e) // 2)
    rep.check(leaf_hash(bad_e) != leaves[i], "negative: an entry with one flipped byte no longer matches leaf_hash")
    rep.rejects("negative: inclusion of the flipped entry", verify_inclusion, i, N, leaf_hash(bad_e), path, cp.root)
    rep.rejects("negative: an entry with a flipped file identifier", decode_entry, flip(e, 5), schema)
    rep.rejects("negative: an entry with its root offset pointing outside it",
                decode_entry, struct.pack("<I", len(e) + 8) + e[4:], schema)
    # proof path elements
    for k in range(len(path)):
        p2 = list(path)
        p2[k] = flip(p2[k], k % 32)
        rep.rejects(f"negative: inclusion path element {k} of {len(path)} flipped", verify_inclusion,
                    i, N, leaves[i], p2, cp.root)
    rep.rejects("negative: inclusion path with an element dropped", verify_inclusion, i, N, leaves[i], path[:-1], cp.root)
    rep.rejects("negative: inclusion path with an extra element", verify_inclusion, i, N, leaves[i], path + [path[0]], cp.root)
    rep.rejects("negative: inclusion proof checked for the wrong index", verify_inclusion,
                (i + 1) % N, N, leaves[i], path, cp.root)
    # the root
    rep.rejects("negative: inclusion against a flipped root", verify_inclusion, i, N, leaves[i], path, flip(cp.root, 0))
    body_end = raw_cp.index(b"\n\n") + 1
    root_line = raw_cp.rindex(b"\n", 0, body_end - 1) + 1
    rep.rejects("negative: checkpoint with a changed root (one base64 character)", open_checkpoint,
                raw_cp[:root_line] + (b"B" if raw_cp[root_line:root_line + 1] != b"B" else b"C")
                + raw_cp[root_line + 1:], vkey)
    size_line = raw_cp.index(b"\n") + 1
    rep.rejects("negative: checkpoint with another tree size", open_checkpoint,
                raw_cp[:size_line] + str(N + 1).encode() + raw_cp[raw_cp.index(b"\n", size_line):], vkey)
    # the signature
    sig_start = raw_cp.rindex(b" ") + 1
    sig = base64.b64decode(raw_cp[sig_start:-1])
    for pos, what in ((10, "Ed25519 signature"), (1, "key id before the signature")):
        forged = raw_cp[:sig_start] + base64.b64encode(flip(sig, pos)) + b"\n"
        rep.rejects(f"negative: checkpoint with a flipped byte of the {what}", open_checkpoint, forged, vkey)
    # a wrong key
    pk2, _ = sodium.crypto_sign_keypair()
    other = Verifier(vkey.name, key_id(vkey.name, pk2), pk2)
    rep.rejects("negative: checkpoint opened with another key of the same name", open_checkpoint, raw_cp, other)
    same_id = Verifier(vkey.name, vkey.kid, pk2)
    rep.rejects("negative: checkpoint opened with another key claiming the hub's key id", open_checkpoint, raw_cp, same_id)
    vk2 = vkey.name + "+" + vkey.kid.hex() + "+" + b64(bytes([1]) + pk2)
    rep.rejects("negative: verifier key whose key id does not match its key", parse_vkey, vk2)
    rep.rejects("negative: verifier key of another name", open_checkpoint, raw_cp,
                Verifier("other.example/log", key_id("other.example/log", vkey.pubkey), vkey.pubkey))
    # note / checkpoint format
    rep.rejects("negative: signature line with '-' instead of U+2014", open_checkpoint,
                raw_cp.replace("\u2014".encode(), b"-"), vkey)
    rep.rejects("negative: checkpoint without the blank line", open_checkpoint,
                raw_cp.replace(b"\n\n", b"\n", 1), vkey)
    text = raw_cp[:body_end]
    rep.rejects("negative: tree size with a leading zero", parse_checkpoint_body,
                text[:size_line] + b"0" + text[size_line:])
    rep.rejects("negative: root of 31 bytes", parse_checkpoint_body,
                text[:root_line] + base64.b64encode(cp.root[:31]) + b"\n")
    rep.rejects("negative: a note with a control character", open_note, raw_cp.replace(b"\n", b"\r\n", 1), [vkey])
    # consistency: an inconsistent pair
    olds = sorted(s for s in notes if 1 < s < N)
    m = olds[len(olds) // 2] if olds else max(1, N // 2)
    proof = tree.proof(m, N)
    old_root = notes[m].root if m in notes else tree.root(m)
    verify_consistency(m, N, old_root, cp.root, proof)  # sanity: the genuine pair verifies
    rep.rejects(f"negative: consistency {m}->{N} against the root of size {m - 1} as old root",
                verify_consistency, m, N, tree.root(m - 1), cp.root, proof)
    rep.rejects(f"negative: consistency {m}->{N} against a new root of size {N - 1}",
                verify_consistency, m, N, old_root, tree.root(N - 1), proof)
    forked = Tree(leaves[:m - 1] + [leaf_hash(b"forked")] + leaves[m:])
    rep.rejects(f"negative: a fork: old root of a log that differs at entry {m - 1}",
                verify_consistency, m, N, forked.root(m), cp.root, proof)
    rep.rejects(f"negative: a fork: new root of a log that differs at entry {m - 1}",
                verify_consistency, m, N, old_root, forked.root(N), forked.proof(m, N))
    for k in range(len(proof)):
        p2 = list(proof)
        p2[k] = flip(p2[k], 3)
        rep.rejects(f"negative: consistency proof element {k} of {len(proof)} flipped",
                    verify_consistency, m, N, old_root, cp.root, p2)
    if len(proof) > 1:
        rep.rejects("negative: consistency proof with two elements swapped", verify_consistency,
                    m, N, old_root, cp.root, [proof[1], proof[0]] + proof[2:])
    rep.rejects("negative: consistency proof with an element dropped", verify_consistency,
                m, N, old_root, cp.root, proof[:-1])
    rep.rejects("negative: empty consistency proof between different sizes", verify_consistency,
                m, N, old_root, cp.root, [])
    rep.rejects("negative: same size, other root", verify_consistency, N, N, cp.root, flip(cp.root, 1), [])


# --------------------------------------------------------------------------
# CLI

def main(argv=None):
    ap = argparse.ArgumentParser(description="Independent auditor of mlahub's ledger (RFC 9162, C2SP).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("audit", help="audit a ledger through `mlahub ledger ...`")
    a.add_argument("--mlahub", required=True)
    a.add_argument("--ledger", required=True)
    a.add_argument("--label", default="audit")
    a.add_argument("--schemas", default=DEFAULT_SCHEMAS)
    a.add_argument("--hub-identity")
    a.add_argument("--directory-bin")
    a.add_argument("--identities", help="directory searched for identity.json files")
    a.add_argument("--note", action="append", help="a captured signed checkpoint to check too")
    a.add_argument("--secret", action="append", help="a string no entry may contain")
    a.add_argument("--messages", help="JSON list of the agents' records of sent messages")
    a.add_argument("--negative", action="store_true", help="also the tampering checks")
    a.add_argument("--ldb", default="ldb", help="RocksDB's ldb tool (with --ldb-db)")
    a.add_argument("--ldb-db", help="a COPY of a closed ledger's DIR/db, read with ldb (storage layout checks)")
    a.add_argument("--min-entries", type=int, default=1)
    a.add_argument("--min-checkpoints", type=int, default=1)
    c = sub.add_parser("checkpoint", help="open and parse a signed checkpoint")
    c.add_argument("--key", required=True, help="verifier key (text or @file)")
    c.add_argument("note")
    i = sub.add_parser("inclusion", help="verify `mlahub ledger prove --json` output")
    i.add_argument("--key", required=True)
    i.add_argument("--checkpoint", required=True)
    i.add_argument("proof")
    k = sub.add_parser("consistency", help="verify `mlahub ledger consistency --json` output")
    k.add_argument("--key", required=True)
    k.add_argument("--old", required=True)
    k.add_argument("--new", required=True)
    k.add_argument("proof")
    d = sub.add_parser("decode", help="print a LedgerEntry (raw bytes file) as JSON")
    d.add_argument("--schemas", default=DEFAULT_SCHEMAS)
    d.add_argument("entry")
    args = ap.parse_args(argv)

    def key(s):
        if s.startswith("@"):
            with open(s[1:]) as f:
                s = f.read()
        return parse_vkey(s)

    def read(fn):
        with open(fn, "rb") as f:
            return f.read()

    if args.cmd == "audit":
        rep = audit(args)
        return 1 if rep.failed else 0
    try:
        if args.cmd == "checkpoint":
            cp = open_checkpoint(read(args.note), key(args.key))
            print(json.dumps({"origin": cp.origin, "tree_size": cp.size, "root": b64(cp.root)}))
        elif args.cmd == "inclusion":
            cp = open_checkpoint(read(args.checkpoint), key(args.key))
            j = json.loads(read(args.proof))
            e = b64dec(j["entry"], "entry")
            lh = b64dec(j["leaf_hash"], "leaf_hash", 32)
            if leaf_hash(e) != lh:
                raise AuditError("SHA-256(0x00 || entry) != leaf_hash")
            if j["tree_size"] != cp.size:
                raise AuditError(f"proof for size {j['tree_size']}, checkpoint of size {cp.size}")
            verify_inclusion(j["index"], j["tree_size"], lh,
                             [b64dec(x, "inclusion", 32) for x in j["inclusion"]], cp.root)
            print(f"entry {j['index']} is in the tree of size {cp.size}")
        elif args.cmd == "consistency":
            v = key(args.key)
            old, new = open_checkpoint(read(args.old), v), open_checkpoint(read(args.new), v)
            j = json.loads(read(args.proof))
            if (j["old_size"], j["new_size"]) != (old.size, new.size):
                raise AuditError("sizes do not match the checkpoints")
            verify_consistency(old.size, new.size, old.root, new.root,
                               [b64dec(x, "proof", 32) for x in j["proof"]])
            print(f"tree of size {old.size} is a prefix of the tree of size {new.size}")
        elif args.cmd == "decode":
            d = decode_entry(read(args.entry), EntrySchema(args.schemas))
            print(json.dumps(entry_json_like_show(d), indent=2))
            probs = check_entry(d)
            if probs:
                raise AuditError("; ".join(probs))
    except (AuditError, KeyError, ValueError) as e:
        print(f"ledger_audit: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
