#!/usr/bin/python3
"""An independent Python peer for the mlahub envelope protocol, version 1.

Written from docs/PROTOCOL.md and schemas/*.fbs only (not from mlahub's C++
sources), to check that the document suffices for another implementation.

Debian packages: python3-nacl (libsodium), python3-flatbuffers, flatbuffers-compiler.
The Python FlatBuffers code is generated with `flatc --python` from the
schemas into a temporary directory at run time (never committed).

  keygen  --id XX-YYY --out DIR
  seal    --from KEYDIR --to IDENTITY --kind KIND [--case-ref R] < payload.bin > env.bin
  seal    --from KEYDIR --to IDENTITY --kind MlaRequest --body-json body.json > env.bin
  open    --key KEYDIR --from IDENTITY [--payload-out FILE] [--decode-body] [--at-ms MS] < env.bin
  vector  docs/examples/vector-1                (recompute a published test vector)
  tamper  --op OP < env.bin > env2.bin          (test helper: byte-level damage)
  flipcheck --mlahub BIN --key KEYDIR --from IDENTITY < env.bin   (test helper)

`open` prints {"header": ..., "envelope_sha256": ..., "payload_b64": ...} as JSON.
On a refusal it prints `mlahub_peer: <code>: <message>` to stderr (code as in
PROTOCOL.md section 7) and exits 3; usage errors exit 2; other failures 1.
"""

import argparse
import atexit
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import nacl.bindings as sodium
import nacl.exceptions
import nacl.signing

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMAS = os.path.normpath(os.path.join(HERE, "..", "..", "schemas"))

MAGIC = b"MLE1"
MAX_HEADER = 16384
SIG_CONTEXT = b"mlahub-envelope-v1\x00"
KEY_CONTEXT = b"mlahub-envelope-key-v1\x00"
HEADER_ID = b"MLAH"
PAYLOAD_ID = b"MLAP"
KEYFILE_ID = b"MLAK"
NODE_ID_RE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{2,16}$")
MESSAGE_ID_RE = re.compile(r"^[0-9a-f]{32}$")

MAX_LIFETIME_MS = 400 * 24 * 3600 * 1000  # section 7 step 10
# X25519 points of small order: a shared secret with them is all zero (section 7 step 11).
LOW_ORDER_POINTS = {
    "zero": bytes(32),
    "one": b"\x01" + bytes(31),
    "order8": bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
}

# Section 7: error names and numbers (the peer refuses with 1-8, 14 and 15 only).
ERRORS = {
    "malformed": 1, "too_large": 2, "bad_signature": 3, "tampered_header": 4,
    "tampered_ciphertext": 5, "wrong_recipient": 6, "expired": 7, "unknown_kind": 8,
    "unknown_sender": 9, "unknown_recipient": 10, "kind_not_accepted": 11, "duplicate": 12,
    "revoked": 13, "sender_mismatch": 14, "unsupported_version": 15,
}


class Refusal(Exception):
    """A refusal of a message (PROTOCOL.md section 7)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Failure(Exception):
    """A local failure (bad key file, missing file, ...)."""


# --------------------------------------------------------------------------
# Generated FlatBuffers code (flatc --python, into a temporary directory)

_wire = None


def wire(schemas_dir=None):
    """Import the generated mlahub.wire modules, generating them on first use."""
    global _wire
    if _wire is not None:
        return _wire
    schemas_dir = schemas_dir or os.environ.get("MLAHUB_SCHEMAS", DEFAULT_SCHEMAS)
    gen = os.environ.get("MLAHUB_PEER_GENDIR")
    if not gen or not os.path.isdir(os.path.join(gen, "mlahub", "wire")):
        target = gen or tempfile.mkdtemp(prefix="mlahub_peer_gen.")
        if not gen:
            atexit.register(shutil.rmtree, target, True)
        os.makedirs(target, exist_ok=True)
        flatc = os.environ.get("FLATC", "flatc")
        subprocess.run([flatc, "--python", "--gen-all", "-o", target, "-I", schemas_dir,
                        os.path.join(schemas_dir, "mlahub.fbs")], check=True)
        gen = target
    sys.path.insert(0, gen)
    import importlib

    class W:  # namespace of the modules we use
        pass
    w = W()
    for name in ("Header", "Payload", "KeyFile", "Identity", "MessageKind", "HandlingCode",
                 "LegalBasis", "Priority", "Body", "NodeRole", "KeyProtection"):
        setattr(w, name, importlib.import_module("mlahub.wire." + name))
    w.schemas_dir = schemas_dir
    _wire = w
    return w


def enum_values(module, cls_name):
    cls = getattr(module, cls_name)
    return {k: v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def enum_name(module, cls_name, value):
    for k, v in enum_values(module, cls_name).items():
        if v == value:
            return k
    return str(value)


def parse_enum(module, cls_name, text):
    vals = enum_values(module, cls_name)
    if text.isdigit():
        return int(text)
    for k, v in vals.items():
        if k.lower() == text.lower():
            return v
    raise Failure(f"unknown {cls_name} {text!r} (one of {', '.join(vals)})")


def parse_kind(text):
    """A MessageKind by name, number, or a kebab-case alias (mla, acknowledgement, ...)."""
    w = wire()
    vals = enum_values(w.MessageKind, "MessageKind")
    if text.isdigit():
        return int(text)
    t = text.lower().replace("-", "").replace("_", "")
    for cand in (t, t + "request"):
        for k, v in vals.items():
            if k.lower() == cand and v != 0:
                return v
    raise Failure(f"unknown kind {text!r}")


# --------------------------------------------------------------------------
# A FlatBuffers verifier (the Python runtime has none), following the rules
# that PROTOCOL.md section 7 lists under "The verifier". It is driven by the
# .fbs schemas themselves, read with the small parser below, so that it checks
# every table reachable from the root (the payload's body included), not only
# the fields this peer reads.

class Malformed(Exception):
    pass


SCALAR_SIZES = {"bool": 1, "byte": 1, "ubyte": 1, "int8": 1, "uint8": 1,
                "short": 2, "ushort": 2, "int16": 2, "uint16": 2,
                "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4,
                "long": 8, "ulong": 8, "int64": 8, "uint64": 8, "double": 8, "float64": 8}


class Field:
    """One vtable slot. kind: 'scalar' (size), 'string', 'table' (ref), 'union' (ref, the
    value slot; its type is the slot before), or 'vector' (elem: 'string', 'table' or
    'scalar', with size or ref)."""

    def __init__(self, name, kind, size=4, ref=None, elem=None):
        self.name, self.kind, self.size, self.ref, self.elem = name, kind, size, ref, elem


class Schema:
    """Tables, enums and unions of the .fbs files in one directory (no structs: the
    mlahub schemas have none). A table this parser cannot read is an error only when
    a buffer uses it."""

    def __init__(self, schemas_dir):
        self.tables, self.enums, self.unions, self.broken = {}, {}, {}, {}
        raw_tables = {}
        for fn in sorted(os.listdir(schemas_dir)):
            if not fn.endswith(".fbs"):
                continue
            with open(os.path.join(schemas_dir, fn)) as f:
                text = re.sub(r"//[^\n]*", "", f.read())
            for m in re.finditer(r"\b(table|struct|enum|union)\s+(\w+)\s*(?::\s*(\w+))?\s*\{(.*?)\}",
                                 text, re.S):
                what, name, base, body = m.groups()
                if what == "enum":
                    self.enums[name] = SCALAR_SIZES[base]
                elif what == "union":
                    members, value = {}, 0
                    for item in filter(None, (s.strip() for s in body.split(","))):
                        mname, _, v = item.partition("=")
                        value = int(v) if v.strip() else value + 1
                        members[value] = mname.strip().split(".")[-1]
                    self.unions[name] = members
                elif what == "table":
                    raw_tables[name] = body
                else:
                    self.broken[name] = f"{fn}: structs are not supported by this peer"
        for name, body in raw_tables.items():
            try:
                self.tables[name] = self._table(name, body)
            except Failure as e:
                self.broken[name] = str(e)

    def _table(self, tname, body):
        fields, required = {}, set()
        for decl in filter(None, (s.strip() for s in body.split(";"))):
            decl = re.sub(r'"[^"]*"', '""', decl)  # attribute values may hold any word
            m = re.match(r"(\w+)\s*:\s*(\[?\s*[\w.]+\s*\]?)\s*(?:=\s*[^(]*)?(?:\((.*)\))?$", decl, re.S)
            if not m:
                raise Failure(f"schema table {tname}: cannot parse {decl!r}")
            fname, ftype, attrs = m.group(1), m.group(2).replace(" ", ""), m.group(3) or ""
            idm = re.search(r"\bid\s*:\s*(\d+)", attrs)
            if not idm:
                raise Failure(f"schema table {tname}.{fname}: no explicit id")
            slot = int(idm.group(1))
            if re.search(r"\bdeprecated\b", attrs):
                continue
            if ftype.startswith("["):
                fields[slot] = Field(fname, "vector", elem=self._single("", ftype[1:-1]))
            elif ftype.split(".")[-1] in self.unions:
                fields[slot] = Field(fname, "union", ref=ftype.split(".")[-1])
                fields[slot - 1] = Field(fname + "_type", "scalar", 1)
            else:
                fields[slot] = self._single(fname, ftype)
            if re.search(r"\brequired\b", attrs):
                required.add(slot)
        return fields, required

    def _single(self, fname, ftype):
        ftype = ftype.split(".")[-1]  # mlahub.wire.X -> X (one namespace)
        if ftype in SCALAR_SIZES:
            return Field(fname, "scalar", SCALAR_SIZES[ftype])
        if ftype in self.enums:
            return Field(fname, "scalar", self.enums[ftype])
        if ftype == "string":
            return Field(fname, "string")
        return Field(fname, "table", ref=ftype)  # resolved when verified



_schema = None


def schema():
    global _schema
    if _schema is None:
        _schema = Schema(wire().schemas_dir)
    return _schema


class Verifier:
    """One buffer. Section 7: every offset non-zero, below 2^31 and inside the buffer;
    tables, vtables, fields, strings and vectors inside it and aligned; strings end in
    0x00; unions point to a table of their declared type; required fields present;
    at most `max_tables` tables and `max_depth` nested tables."""

    def __init__(self, buf, max_tables=64, max_depth=16, utf8=False):
        self.utf8 = utf8  # PROTOCOL.md 7: payload strings MUST be valid UTF-8
        self.buf, self.max_tables, self.max_depth = buf, max_tables, max_depth
        self.tables = 0
        self.depth = 0
        self.sch = schema()

    def check(self, ok, what):
        if not ok:
            raise Malformed(what)

    def inside(self, pos, size, align, what):
        self.check(pos >= 0 and pos + size <= len(self.buf), f"{what} out of bounds")
        self.check(pos % align == 0, f"{what} misaligned")

    def offset(self, pos, what, may_be_zero=False):
        """The target of the uoffset at pos. The C++ verifier lets an element of a vector
        of strings or tables be 0 (it then points at itself); README.md, problem E."""
        self.inside(pos, 4, 4, what)
        o = struct.unpack_from("<I", self.buf, pos)[0]
        self.check((o != 0 or may_be_zero) and o < 1 << 31 and pos + o < len(self.buf),
                   f"{what}: bad offset")
        return pos + o

    def vector(self, pos, elem_size, what):
        """(first element, count) of the vector at pos."""
        self.inside(pos, 4, 4, what)
        n = struct.unpack_from("<I", self.buf, pos)[0]
        self.check(pos + 4 + n * elem_size <= len(self.buf), f"{what} out of bounds")
        return pos + 4, n

    def string(self, pos, what):
        start, n = self.vector(pos, 1, what)
        self.check(start + n < len(self.buf) and self.buf[start + n] == 0,
                   f"{what} not terminated by 0x00")
        if self.utf8:
            try:
                bytes(self.buf[start:start + n]).decode("utf-8")
            except UnicodeDecodeError:
                raise Malformed(f"{what} is not valid UTF-8")

    def root(self, table, identifier=None):
        self.check(len(self.buf) >= 8, "buffer shorter than 8 bytes")
        if identifier is not None:
            self.check(bytes(self.buf[4:8]) == identifier,
                       f"file identifier is not {identifier.decode()}")
        root = self.offset(0, "root offset")
        return root, self.table(root, table)

    def table(self, pos, name):
        """Verifies the table `name` at pos; returns {slot: position of its value}."""
        if name not in self.sch.tables:
            raise Failure(f"schema: table {name}: {self.sch.broken.get(name, 'not found')}")
        fields, required = self.sch.tables[name]
        self.tables += 1
        self.depth += 1
        self.check(self.depth <= self.max_depth, "tables nested too deep")
        self.check(self.max_tables is None or self.tables <= self.max_tables, "too many tables")
        self.inside(pos, 4, 4, f"table {name}")
        vt = pos - struct.unpack_from("<i", self.buf, pos)[0]
        self.inside(vt, 2, 2, f"vtable of {name}")
        vt_size = struct.unpack_from("<H", self.buf, vt)[0]
        # Like the C++ verifier, the table's inline size (vt+2) is not checked against the
        # buffer, and a vtable shorter than 4 bytes is accepted (it has no fields), though
        # section 7 says "at least 4" (README.md, problem E).
        self.check(vt_size % 2 == 0 and vt + vt_size <= len(self.buf),
                   f"vtable of {name} out of bounds")
        present = {}
        for slot in sorted(fields):
            f = fields[slot]
            if 4 + 2 * slot >= vt_size:
                continue
            off = struct.unpack_from("<H", self.buf, vt + 4 + 2 * slot)[0]
            if off == 0:
                continue
            what = f"{name}.{f.name}"
            fpos = pos + off
            if f.kind == "scalar":
                self.inside(fpos, f.size, f.size, what)
                present[slot] = fpos
                continue
            target = self.offset(fpos, what)
            present[slot] = target
            if f.kind == "string":
                self.string(target, what)
            elif f.kind == "table":
                self.table(target, f.ref)
            elif f.kind == "union":
                tpos = present.get(slot - 1)
                utype = self.buf[tpos] if tpos is not None else 0
                member = self.sch.unions[f.ref].get(utype)
                if member is not None:  # an unknown member (newer writer) is not followed
                    self.table(target, member)
            else:
                self.vector_field(target, f.elem, what)
        for slot in required:
            self.check(slot in present, f"required field {name}.{fields[slot].name} missing")
        self.depth -= 1
        return present

    def vector_field(self, pos, elem, what):
        size = elem.size if elem.kind == "scalar" else 4
        start, n = self.vector(pos, size, what)
        if elem.kind == "scalar":
            return
        for i in range(n):
            target = self.offset(start + 4 * i, f"{what}[{i}]", may_be_zero=True)
            if elem.kind == "string":
                self.string(target, f"{what}[{i}]")
            else:
                self.table(target, elem.ref)


def verify_root(buf, table, identifier=None, max_tables=64, utf8=False):
    """(root position, {slot: value position}) of a verified buffer; raises Malformed."""
    return Verifier(buf, max_tables, utf8=utf8).root(table, identifier)


PAYLOAD_MAX_TABLES = 1000000


# --------------------------------------------------------------------------
# Keys and identities (PROTOCOL.md section 2)

def key_id(pk):
    return hashlib.sha256(pk).digest()[:8]


def _vec(obj, name):
    """Bytes of a [ubyte] field via the generated accessors."""
    n = getattr(obj, name + "Length")()
    if getattr(obj, name + "IsNone")():
        return b""
    return bytes(getattr(obj, name)(i) for i in range(n))


class NodeKeys:
    def __init__(self, node_id, seed, enc_sk, curve_sk, created_ms=0):
        self.id = node_id
        self.seed = seed
        self.signing = nacl.signing.SigningKey(seed)
        self.sign_pk = bytes(self.signing.verify_key)
        self.enc_sk = enc_sk
        self.enc_pk = sodium.crypto_scalarmult_base(enc_sk)
        self.curve_sk = curve_sk
        self.curve_pk = sodium.crypto_scalarmult_base(curve_sk)
        self.created_ms = created_ms

    def identity(self):
        return Identity(self.id, self.sign_pk, self.enc_pk, self.curve_pk, "Authority",
                        self.created_ms)


class Identity:
    def __init__(self, node_id, sign_pk, enc_pk, curve_pk=b"", role="Authority", created_ms=0):
        self.id, self.sign_pk, self.enc_pk, self.curve_pk = node_id, sign_pk, enc_pk, curve_pk
        self.role, self.created_ms = role, created_ms
        if len(sign_pk) != 32 or len(enc_pk) != 32:
            raise Failure(f"identity {node_id}: keys must be 32 bytes")

    def to_json(self):
        return {"id": self.id, "role": self.role, "sign_key": list(self.sign_pk),
                "enc_key": list(self.enc_pk), "curve_key": list(self.curve_pk),
                "created_ms": self.created_ms}

    def to_binary(self):
        import flatbuffers
        w = wire()
        b = flatbuffers.Builder(256)
        nid = b.CreateString(self.id)
        sk = b.CreateByteVector(self.sign_pk)
        ek = b.CreateByteVector(self.enc_pk)
        ck = b.CreateByteVector(self.curve_pk)
        I = w.Identity
        I.IdentityStart(b)
        I.IdentityAddId(b, nid)
        I.IdentityAddRole(b, parse_enum(w.NodeRole, "NodeRole", self.role))
        I.IdentityAddSignKey(b, sk)
        I.IdentityAddEncKey(b, ek)
        I.IdentityAddCurveKey(b, ck)
        I.IdentityAddCreatedMs(b, self.created_ms)
        b.Finish(I.IdentityEnd(b))  # Identity is not a root_type: no file identifier
        return bytes(b.Output())


def load_identity(path):
    """identity.json (FlatBuffers JSON of wire.Identity), identity.bin, or a key directory."""
    if os.path.isdir(path):
        for name in ("identity.json", "identity.bin"):
            if os.path.exists(os.path.join(path, name)):
                return load_identity(os.path.join(path, name))
        raise Failure(f"{path}: no identity.json or identity.bin")
    with open(path, "rb") as f:
        data = f.read()
    if data.lstrip()[:1] == b"{":
        j = json.loads(data)
        return Identity(j["id"], bytes(j.get("sign_key", [])), bytes(j.get("enc_key", [])),
                        bytes(j.get("curve_key", [])), j.get("role", "Unspecified"),
                        int(j.get("created_ms", 0)))
    w = wire()
    try:
        verify_root(data, "Identity")
    except Malformed as e:
        raise Failure(f"{path}: not a wire.Identity: {e}")
    i = w.Identity.Identity.GetRootAs(data, 0)
    return Identity(i.Id().decode(), _vec(i, "SignKey"), _vec(i, "EncKey"), _vec(i, "CurveKey"),
                    enum_name(w.NodeRole, "NodeRole", i.Role()), i.CreatedMs())


def load_keys(keydir, passphrase_env="MLAHUB_PASSPHRASE"):
    path = os.path.join(keydir, "node.key") if os.path.isdir(keydir) else keydir
    with open(path, "rb") as f:
        data = f.read()
    w = wire()
    try:
        verify_root(data, "KeyFile", KEYFILE_ID)
    except Malformed as e:
        raise Failure(f"{path}: not a wire.KeyFile: {e}")
    kf = w.KeyFile.KeyFile.GetRootAs(data, 0)
    s = _vec(kf, "Secrets")
    if kf.Protection() == 1:  # Argon2idXChaCha20Poly1305 (section 2)
        import nacl.pwhash
        if len(_vec(kf, "KdfSalt")) != 16 or len(_vec(kf, "Nonce")) != 24:
            raise Failure(f"{path}: corruption: kdf_salt must be 16 bytes, nonce 24")
        pw = os.environ.get(passphrase_env)
        if pw is None:
            raise Failure(f"{path} is protected: set ${passphrase_env} to its passphrase")
        try:
            key = nacl.pwhash.argon2id.kdf(32, pw.encode("utf-8"), _vec(kf, "KdfSalt"),
                                           opslimit=kf.KdfOpsLimit(), memlimit=kf.KdfMemLimit())
            s = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
                s, b"mlahub-keyfile-v1\x00" + kf.Id(), _vec(kf, "Nonce"), key)
        except (nacl.exceptions.CryptoError, ValueError) as e:
            raise Failure(f"{path}: bad passphrase or damaged key file ({e})")
    elif kf.Protection() != 0:
        raise Failure(f"{path}: unknown key protection {kf.Protection()}")
    if len(s) != 96:
        raise Failure(f"{path}: secrets must be 96 bytes, not {len(s)}")
    keys = NodeKeys(kf.Id().decode(), s[:32], s[32:64], s[64:], kf.CreatedMs())
    # Section 2: the public keys MUST be present and match the secrets (else `corruption`).
    for name, mine in (("SignKey", keys.sign_pk), ("EncKey", keys.enc_pk),
                       ("CurveKey", keys.curve_pk)):
        stored = _vec(kf, name)
        if stored != mine:
            raise Failure(f"{path}: corruption: {name} is "
                          f"{'missing' if not stored else 'not the key of the secrets'}")
    return keys


def keygen(node_id, out, role="Authority", omit_public_keys=False):
    if not NODE_ID_RE.match(node_id):
        raise Failure(f"bad node id {node_id!r}: CC-AUTHORITY, e.g. IT-MOJ")
    import flatbuffers
    w = wire()
    keys = NodeKeys(node_id, secrets.token_bytes(32), secrets.token_bytes(32),
                    secrets.token_bytes(32), int(time.time() * 1000))
    os.makedirs(out, mode=0o700, exist_ok=True)
    b = flatbuffers.Builder(512)
    nid = b.CreateString(node_id)
    sec = b.CreateByteVector(keys.seed + keys.enc_sk + keys.curve_sk)
    sk = b.CreateByteVector(keys.sign_pk)
    ek = b.CreateByteVector(keys.enc_pk)
    ck = b.CreateByteVector(keys.curve_pk)
    K = w.KeyFile
    K.KeyFileStart(b)
    K.KeyFileAddId(b, nid)
    K.KeyFileAddCreatedMs(b, keys.created_ms)
    K.KeyFileAddProtection(b, 0)
    K.KeyFileAddSecrets(b, sec)
    if not omit_public_keys:  # test-only: section 2 says they MUST be present
        K.KeyFileAddSignKey(b, sk)
        K.KeyFileAddEncKey(b, ek)
        K.KeyFileAddCurveKey(b, ck)
    b.Finish(K.KeyFileEnd(b), file_identifier=KEYFILE_ID)
    kpath = os.path.join(out, "node.key")
    fd = os.open(kpath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(bytes(b.Output()))
    ident = keys.identity()
    ident.role = role
    with open(os.path.join(out, "identity.json"), "w") as f:
        json.dump(ident.to_json(), f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "identity.bin"), "wb") as f:
        f.write(ident.to_binary())
    return keys


# --------------------------------------------------------------------------
# Payloads (section 5)

def payload_from_json(body_json_path, kind):
    """Wrap the body table's JSON into a wire.Payload and let flatc build the binary."""
    w = wire()
    kname = enum_name(w.MessageKind, "MessageKind", kind)
    with open(body_json_path) as f:
        body = json.load(f)
    tmp = tempfile.mkdtemp(prefix="mlahub_peer_body.")
    try:
        jpath = os.path.join(tmp, "payload.json")
        with open(jpath, "w") as f:
            json.dump({"body_type": kname, "body": body}, f)
        flatc = os.environ.get("FLATC", "flatc")
        r = subprocess.run([flatc, "--binary", "-I", w.schemas_dir, "-o", tmp,
                            os.path.join(w.schemas_dir, "envelope.fbs"), jpath],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure("flatc could not build the payload: " + r.stderr.strip())
        with open(os.path.join(tmp, "payload.bin"), "rb") as f:
            return f.read()
    finally:
        shutil.rmtree(tmp, True)


def payload_to_json(payload):
    """Decode a Payload to JSON with flatc (for display and comparison)."""
    w = wire()
    tmp = tempfile.mkdtemp(prefix="mlahub_peer_body.")
    try:
        bpath = os.path.join(tmp, "payload.bin")
        with open(bpath, "wb") as f:
            f.write(payload)
        flatc = os.environ.get("FLATC", "flatc")
        r = subprocess.run([flatc, "--json", "--strict-json", "--defaults-json", "-I",
                            w.schemas_dir, "-o", tmp,
                            os.path.join(w.schemas_dir, "envelope.fbs"), "--", bpath],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure("flatc could not decode the payload: " + r.stderr.strip())
        with open(os.path.join(tmp, "payload.json")) as f:
            return json.load(f)
    finally:
        shutil.rmtree(tmp, True)


def frame_plaintext(payload, pad_extra_blocks=0, pad_byte=0, pad_len=None):
    """Section 5: u32le(len) || payload || the least zeros reaching a multiple of 256.
    The arguments are test-only deviations."""
    body = struct.pack("<I", len(payload)) + payload
    k = (-len(body)) % 256 + 256 * pad_extra_blocks if pad_len is None else pad_len
    pad = bytearray(k)
    if pad_byte and k:
        pad[-1] = pad_byte
    return body + bytes(pad)


def payload_body_type(payload):
    w = wire()
    # PROTOCOL.md section 7 says "at most 64 tables", but mlahub opens payloads with
    # more (README.md, problem A): the limit here is FlatBuffers' default.
    _, present = verify_root(payload, "Payload", PAYLOAD_ID, max_tables=PAYLOAD_MAX_TABLES, utf8=True)
    return w.Payload.Payload.GetRootAs(payload, 0).BodyType(), present


# --------------------------------------------------------------------------
# Sealing (section 6)

def build_header(f):
    import flatbuffers
    w = wire()
    b = flatbuffers.Builder(512)
    mid = b.CreateString(f["message_id"])
    snd = b.CreateString(f["sender"])
    rcp = b.CreateString(f["recipient"])
    cref = b.CreateString(f.get("case_ref", ""))
    irt = b.CreateString(f.get("in_reply_to", ""))
    skid = b.CreateByteVector(f["sender_key_id"])
    rkid = b.CreateByteVector(f["recipient_key_id"])
    eph = b.CreateByteVector(f["ephemeral_key"])
    non = b.CreateByteVector(f["nonce"])
    H = w.Header
    if f.get("extra_field"):
        b.StartObject(17)
    else:
        H.HeaderStart(b)
    # The Python builder omits fields equal to their default; force version so it is explicit.
    b.PrependUint8(f.get("version", 1))
    b.Slot(0)
    H.HeaderAddMessageId(b, mid)
    H.HeaderAddSender(b, snd)
    H.HeaderAddRecipient(b, rcp)
    H.HeaderAddKind(b, f["kind"])
    H.HeaderAddCaseRef(b, cref)
    H.HeaderAddCreatedMs(b, f["created_ms"])
    H.HeaderAddExpiresMs(b, f["expires_ms"])
    H.HeaderAddInReplyTo(b, irt)
    H.HeaderAddHandling(b, f.get("handling", 0))
    H.HeaderAddLegalBasis(b, f.get("legal_basis", 0))
    H.HeaderAddPriority(b, f.get("priority", 0))
    H.HeaderAddSenderKeyId(b, skid)
    H.HeaderAddRecipientKeyId(b, rkid)
    H.HeaderAddEphemeralKey(b, eph)
    H.HeaderAddNonce(b, non)
    if f.get("extra_field"):  # a field id 16 that version 1 does not define (section 11)
        b.PrependUint32(0xC0FFEE)
        b.Slot(16)
    end = H.HeaderEnd(b)
    if f.get("no_identifier"):
        b.Finish(end)
    else:
        b.Finish(end, file_identifier=HEADER_ID)
    return bytes(b.Output())


def resize(value, length):
    """Test-only: cut or extend (with 0xAA) a fixed-size header vector."""
    if length is None:
        return value
    return (value + b"\xaa" * length)[:length]


def payload_key(shared, e_pk, enc_pk):
    """Section 6 step 3."""
    return hashlib.blake2b(KEY_CONTEXT + shared + e_pk + enc_pk, digest_size=32).digest()


def seal(sender, recipient, kind, payload, *, case_ref="", in_reply_to="", message_id=None,
         handling=0, legal_basis=1, priority=0, ttl_ms=720 * 3600 * 1000, created_ms=None,
         expires_ms=None, x=None):
    """Returns the envelope frame. `x` holds test-only deviations (see --x-* options)."""
    x = x or {}
    # 1. ephemeral key pair and nonce
    e_sk = x.get("ephemeral_secret") or secrets.token_bytes(32)
    e_pk = sodium.crypto_scalarmult_base(e_sk)
    nonce = x.get("nonce") or secrets.token_bytes(24)
    # 2-3. shared secret and payload key
    if x.get("low_order"):  # test: a low-order point, the shared secret is all zero
        e_pk, shared = LOW_ORDER_POINTS[x["low_order"]], bytes(32)
    else:
        shared = sodium.crypto_scalarmult(e_sk, recipient.enc_pk)
        if shared == bytes(32):
            raise Failure("X25519 gave an all-zero shared secret")
    key = payload_key(shared, e_pk, recipient.enc_pk)
    # 4. header
    now = int(time.time() * 1000)
    created = now if created_ms is None else created_ms
    n = x.get("lengths", {})  # test: wrong lengths of the fixed-size vectors
    hdr = {
        "version": x.get("version", 1),
        "message_id": message_id or secrets.token_bytes(16).hex(),
        "sender": x.get("sender_id", sender.id),
        "recipient": x.get("recipient_id", recipient.id),
        "kind": kind,
        "case_ref": x.get("case_ref_bytes", case_ref),
        "created_ms": created,
        "expires_ms": created + ttl_ms if expires_ms is None else expires_ms,
        "in_reply_to": in_reply_to,
        "handling": handling,
        "legal_basis": legal_basis,
        "priority": priority,
        "sender_key_id": resize(key_id(sender.sign_pk), n.get("sender_key_id")),
        "recipient_key_id": resize(key_id(recipient.enc_pk), n.get("recipient_key_id")),
        "ephemeral_key": resize(e_pk, n.get("ephemeral_key")),
        "nonce": resize(nonce, n.get("nonce")),
        "no_identifier": x.get("no_identifier", False),
        "extra_field": x.get("extra_field", False),
    }
    header = build_header(hdr)
    if len(header) > MAX_HEADER:
        raise Failure("header larger than 16384 bytes")
    # 5. AEAD with the header as associated data
    plaintext = frame_plaintext(payload, x.get("pad_extra_blocks", 0), x.get("pad_byte", 0),
                                x.get("pad_len"))
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, header, nonce, key)
    # 6-7. hash and signature
    ct_hash = hashlib.blake2b(ct, digest_size=32).digest()
    signer = x.get("sign_with", sender)
    sig = signer.signing.sign(SIG_CONTEXT + header + ct_hash).signature
    # 8. frame
    return (MAGIC + struct.pack("<I", len(header)) + header + struct.pack("<I", len(ct)) + ct
            + ct_hash + sig)


# --------------------------------------------------------------------------
# Opening (section 7)

def split_frame(env):
    """Step 2, the frame part. Returns (header, ciphertext, ct_hash, signature)."""
    if len(env) < 12 or env[:4] != MAGIC:
        raise Refusal("malformed", "not an mlahub envelope (magic)")
    h = struct.unpack_from("<I", env, 4)[0]
    if not 1 <= h <= MAX_HEADER or 8 + h + 4 > len(env):
        raise Refusal("malformed", f"bad header length {h}")
    header = env[8:8 + h]
    c = struct.unpack_from("<I", env, 8 + h)[0]
    if c < 16:
        raise Refusal("malformed", f"ciphertext length {c} < 16")
    if len(env) != 108 + h + c:
        raise Refusal("malformed", f"frame is {len(env)} bytes, lengths say {108 + h + c}")
    ct = env[12 + h:12 + h + c]
    ct_hash = env[12 + h + c:44 + h + c]
    sig = env[44 + h + c:108 + h + c]
    return header, ct, ct_hash, sig


def read_header(header):
    w = wire()
    try:
        verify_root(header, "Header", HEADER_ID, utf8=True)  # PROTOCOL.md 7, step 2
    except Malformed as e:
        raise Refusal("malformed", f"header fails verification: {e}")
    hd = w.Header.Header.GetRootAs(header, 0)

    def s(v):
        return v.decode("utf-8", "replace") if v is not None else ""
    return {
        "version": hd.Version(),
        "message_id": s(hd.MessageId()),
        "sender": s(hd.Sender()),
        "recipient": s(hd.Recipient()),
        "kind": hd.Kind(),
        "case_ref": s(hd.CaseRef()),
        "created_ms": hd.CreatedMs(),
        "expires_ms": hd.ExpiresMs(),
        "in_reply_to": s(hd.InReplyTo()),
        "handling": hd.Handling(),
        "legal_basis": hd.LegalBasis(),
        "priority": hd.Priority(),
        "sender_key_id": _vec(hd, "SenderKeyId"),
        "recipient_key_id": _vec(hd, "RecipientKeyId"),
        "ephemeral_key": _vec(hd, "EphemeralKey"),
        "nonce": _vec(hd, "Nonce"),
    }


FIXED_SIZES = {"sender_key_id": 8, "recipient_key_id": 8, "ephemeral_key": 32, "nonce": 24}


def shared_secret(me, e_pk):
    """Step 11: X25519(enc_sk, ephemeral_key), or None when it is all zero."""
    try:
        shared = sodium.crypto_scalarmult(me.enc_sk, e_pk)
    except Exception:  # libsodium itself refuses an all-zero result
        return None
    return None if shared == bytes(32) else shared


def decrypt(me, h, header, ct, shared):
    """Step 12: the AEAD with the header as associated data. Plaintext or None."""
    key = payload_key(shared, h["ephemeral_key"], me.enc_pk)
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, header, h["nonce"], key)
    except nacl.exceptions.CryptoError:
        return None


def unframe(pt):
    """Step 13, the framing of section 5. Returns the payload; raises Refusal."""
    if len(pt) < 4:
        raise Refusal("malformed", "plaintext shorter than its length prefix")
    n = struct.unpack_from("<I", pt, 0)[0]
    if n > len(pt) - 4:
        raise Refusal("malformed", "payload length exceeds the plaintext")
    if len(pt) != -(-(4 + n) // 256) * 256:
        raise Refusal("malformed", f"padding of {len(pt) - 4 - n} bytes is not the least "
                      "that reaches a multiple of 256")
    if any(pt[4 + n:]):
        raise Refusal("malformed", "padding is not zero")
    return bytes(pt[4:4 + n])


def open_envelope(env, me, sender, max_size=16 * 1024 * 1024, skew_ms=300 * 1000, now_ms=None):
    """Section 7, steps 1-13 in order. Returns (header dict, payload bytes); raises Refusal.
    `sender` is the sender's identity, chosen out of band (the CLI's --from)."""
    w = wire()
    # 1
    if len(env) > max_size:
        raise Refusal("too_large", f"envelope of {len(env)} bytes exceeds {max_size}")
    # 2
    header, ct, ct_hash, sig = split_frame(env)
    h = read_header(header)
    for name, size in FIXED_SIZES.items():
        if len(h[name]) != size:
            raise Refusal("malformed", f"header {name} is {len(h[name])} bytes, not {size}")
    addressed = h["recipient"] == me.id and h["recipient_key_id"] == key_id(me.enc_pk)
    # 3, over the carried ciphertext hash
    try:
        nacl.signing.VerifyKey(sender.sign_pk).verify(SIG_CONTEXT + header + ct_hash, sig)
    except nacl.exceptions.BadSignatureError:
        if addressed:  # try steps 11-12 to tell bad_signature from tampered_header
            shared = shared_secret(me, h["ephemeral_key"])
            if shared is None or decrypt(me, h, header, ct, shared) is None:
                raise Refusal("tampered_header", "signature fails and the payload does not "
                              "decrypt with this header: the header was altered")
        raise Refusal("bad_signature", f"signature does not verify with {sender.id}'s key")
    # 4
    if hashlib.blake2b(ct, digest_size=32).digest() != ct_hash:
        raise Refusal("tampered_ciphertext", "ciphertext does not match its signed hash")
    # 5
    if h["version"] != 1:
        raise Refusal("unsupported_version", f"header version {h['version']}")
    # 6
    if h["sender"] != sender.id or h["sender_key_id"] != key_id(sender.sign_pk):
        raise Refusal("sender_mismatch", f"header names sender {h['sender']}, signed by {sender.id}")
    # 7
    if not addressed:
        raise Refusal("wrong_recipient", f"envelope is for {h['recipient']}, not {me.id}")
    # 8
    kinds = {v for v in enum_values(w.MessageKind, "MessageKind").values() if v != 0}
    if h["kind"] not in kinds:
        raise Refusal("unknown_kind", f"kind {h['kind']}")
    # 9
    if not MESSAGE_ID_RE.match(h["message_id"]):
        raise Refusal("malformed", f"message id {h['message_id']!r}")
    if h["in_reply_to"] and not MESSAGE_ID_RE.match(h["in_reply_to"]):
        raise Refusal("malformed", f"in_reply_to {h['in_reply_to']!r} is not a message id")
    # 10
    now = int(time.time() * 1000) if now_ms is None else now_ms
    c, e = h["created_ms"], h["expires_ms"]
    if not (c > 0 and e > c and e - c <= MAX_LIFETIME_MS and now <= e and c <= now + skew_ms):
        raise Refusal("expired", f"outside its time window (created {c}, expires {e}, now {now})")
    # 11
    shared = shared_secret(me, h["ephemeral_key"])
    if shared is None:
        raise Refusal("malformed", "ephemeral key of small order (all-zero shared secret)")
    # 12
    pt = decrypt(me, h, header, ct, shared)
    if pt is None:
        raise Refusal("tampered_ciphertext", "payload does not decrypt")
    # 13
    payload = unframe(pt)
    try:
        bt, present = payload_body_type(payload)
    except Malformed as ex:
        raise Refusal("malformed", f"payload fails verification: {ex}")
    if 1 not in present:  # section 5: a Payload "holding one body" (the schema cannot say required)
        raise Refusal("malformed", "payload has no body")
    if bt != h["kind"]:
        raise Refusal("malformed", f"payload body type {bt} is not the header kind {h['kind']}")
    return h, payload


def header_json(h):
    w = wire()
    out = dict(h)
    out["kind"] = enum_name(w.MessageKind, "MessageKind", h["kind"])
    out["handling"] = enum_name(w.HandlingCode, "HandlingCode", h["handling"])
    out["legal_basis"] = enum_name(w.LegalBasis, "LegalBasis", h["legal_basis"])
    out["priority"] = enum_name(w.Priority, "Priority", h["priority"])
    for k in ("sender_key_id", "recipient_key_id", "ephemeral_key", "nonce"):
        out[k] = h[k].hex()
    return out


# --------------------------------------------------------------------------
# Test helper: byte-level damage to a frame

def tamper(env, op):
    env = bytearray(env)
    h = struct.unpack_from("<I", env, 4)[0]
    c = struct.unpack_from("<I", env, 8 + h)[0]
    if op == "magic":
        env[0] ^= 0x01
    elif op == "header-length":
        struct.pack_into("<I", env, 4, h + 1)
    elif op.startswith("header-") and op[7:].replace("-", "_") in HEADER_FIELD_IDS:
        # flip the last byte of one header field's value (for a string: its last character)
        fid = HEADER_FIELD_IDS[op[7:].replace("-", "_")]
        pos, size = header_field_bytes(bytes(env[8:8 + h]), fid)
        env[8 + pos + size - 1] ^= 0x01
    elif op == "header-padding":  # a byte of the header that no field reads
        hdr = bytes(env[8:8 + h])
        used = header_used_bytes(hdr)
        spare = [i for i in range(h) if i not in used]
        if not spare:
            raise Failure("header has no padding byte")
        env[8 + spare[0]] ^= 0x01
    elif op == "ciphertext":
        env[12 + h + c // 2] ^= 0x01
    elif op == "hash":
        env[12 + h + c] ^= 0x01
    elif op == "signature":
        env[44 + h + c] ^= 0x01
    elif op == "trailing":
        env += b"\x00"
    elif op == "truncate":
        del env[-1]
    elif op == "ciphertext-length":
        struct.pack_into("<I", env, 8 + h, c - 1)
    else:
        raise Failure(f"unknown tamper op {op}")
    return bytes(env)


def header_fields():
    """{slot: Field} of wire.Header, from the schema."""
    return schema().tables["Header"][0]


HEADER_FIELD_IDS = {"version": 0, "message_id": 1, "sender": 2, "recipient": 3, "kind": 4,
                    "case_ref": 5, "created_ms": 6, "expires_ms": 7, "in_reply_to": 8,
                    "handling": 9, "legal_basis": 10, "priority": 11, "sender_key_id": 12,
                    "recipient_key_id": 13, "ephemeral_key": 14, "nonce": 15}


def header_field_bytes(hdr, fid):
    """(offset, size) of the value bytes of header field `fid` (must be present)."""
    _, present = verify_root(hdr, "Header")
    if fid not in present:
        raise Failure(f"header field {fid} is not present")
    f = header_fields()[fid]
    if f.kind in ("string", "vector"):
        n = struct.unpack_from("<I", hdr, present[fid])[0]
        if n == 0:
            raise Failure(f"header field {fid} is empty")
        return present[fid] + 4, n
    return present[fid], f.size


def header_used_bytes(hdr):
    """Bytes of a header that its decoding depends on (to find padding bytes)."""
    used = set(range(8))
    root = struct.unpack_from("<I", hdr, 0)[0]
    soff = struct.unpack_from("<i", hdr, root)[0]
    vt = root - soff
    vts = struct.unpack_from("<H", hdr, vt)[0]
    used |= set(range(vt, vt + vts))
    used |= set(range(root, root + 4))
    for fid, f in header_fields().items():
        if 4 + 2 * fid >= vts:
            continue
        off = struct.unpack_from("<H", hdr, vt + 4 + 2 * fid)[0]
        if not off:
            continue
        p = root + off
        size = f.size if f.kind == "scalar" else 4
        used |= set(range(p, p + size))
        if f.kind in ("string", "vector"):
            t = p + struct.unpack_from("<I", hdr, p)[0]
            n = struct.unpack_from("<I", hdr, t)[0]
            used |= set(range(t, t + 4 + n + (1 if f.kind == "string" else 0)))
    return used


# --------------------------------------------------------------------------
# Test helper: flip bits across a frame, compare the peer's verdicts with mlahub's

def _mlahub_verdicts(mlahub, key_arg, from_arg, envelopes, extra=()):
    """Runs `mlahub envelope open` on each envelope, as many at a time as there are
    cores (each run is its own process, so the order of the verdicts is that of the
    input). Returns [(verdict, stderr)]: "opened", the refusal code, or "exit N"."""
    from concurrent.futures import ThreadPoolExecutor

    def one(e):
        r = subprocess.run([mlahub, "envelope", "open", "--key", key_arg, "--from", from_arg]
                           + list(extra), input=e, capture_output=True)
        err = r.stderr.decode(errors="replace")
        verdict = "opened" if r.returncode == 0 else (
            err.split(":")[1].strip() if r.returncode == 3 and err.count(":") >= 2
            else f"exit {r.returncode}")
        return verdict, err

    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        return list(pool.map(one, envelopes))


def flipcheck(env, me, sender, mlahub, key_arg, from_arg, bits=(0x01, 0x80), at_ms=None):
    h = struct.unpack_from("<I", env, 4)[0]
    positions = list(range(0, 8 + h + 8)) + list(range(len(env) - 96, len(env)))
    cases, mine = [], []
    for i in positions:
        for bit in bits:
            e = bytearray(env)
            e[i] ^= bit
            e = bytes(e)
            try:
                open_envelope(e, me, sender, now_ms=at_ms)
                mine.append("opened")
            except Refusal as r:
                mine.append(r.code)
            cases.append((i, bit, e))
    at = ["--at-ms", str(at_ms)] if at_ms is not None else []
    theirs = _mlahub_verdicts(mlahub, key_arg, from_arg, [e for _, _, e in cases], at)
    diffs = [f"byte {i} ^0x{bit:02x}: mlahub {t}, peer {m}"
             for (i, bit, _), m, (t, _) in zip(cases, mine, theirs) if t != m]
    return len(cases), diffs


def payload_flipcheck(payload, me, sender_keys, recipient, mlahub, key_arg, from_arg, bit=0x01):
    """Flips one bit in every byte of a wire.Payload, seals each (correctly, with the
    header kind of the unflipped payload) and compares mlahub's verdict with the peer's:
    a check of the two FlatBuffers verifiers on the payload (section 7 step 13)."""
    kind, _ = payload_body_type(payload)
    envs, mine = [], []
    for i in range(len(payload)):
        p = bytearray(payload)
        p[i] ^= bit
        e = seal(sender_keys, recipient, kind, bytes(p))
        try:
            open_envelope(e, me, sender_keys.identity())
            mine.append("opened")
        except Refusal as r:
            mine.append(r.code)
        envs.append(e)
    theirs = _mlahub_verdicts(mlahub, key_arg, from_arg, envs)
    diffs, unprintable = [], 0
    for i, (m, (t, err)) in enumerate(zip(mine, theirs)):
        if t == "exit 1" and "could not print" in err and m == "opened":
            unprintable += 1  # a verified body whose strings are not UTF-8 (README.md, problem G)
        elif t != m:
            diffs.append(f"payload byte {i} ^0x{bit:02x}: mlahub {t}, peer {m}")
    return len(envs), diffs, unprintable


# --------------------------------------------------------------------------
# Published test vectors (section 12)

def check_vector(vdir):
    """Recomputes docs/examples/vector-N from its inputs with the primitives alone.
    Returns [(check, passed, detail)]."""
    with open(os.path.join(vdir, "vector.json")) as f:
        v = json.load(f)
    with open(os.path.join(vdir, "envelope.bin"), "rb") as f:
        env_bin = f.read()
    X = bytes.fromhex
    out = []

    def check(name, got, want):
        out.append((name, got == want, "" if got == want else
                    f"computed {got.hex() if isinstance(got, bytes) else got}, "
                    f"vector {want.hex() if isinstance(want, bytes) else want}"))

    seed, enc_sk, e_sk = X(v["sender"]["ed25519_seed"]), X(v["recipient"]["x25519_enc_secret"]), \
        X(v["ephemeral_secret"])
    sign_pk = bytes(nacl.signing.SigningKey(seed).verify_key)
    enc_pk = sodium.crypto_scalarmult_base(enc_sk)
    e_pk = sodium.crypto_scalarmult_base(e_sk)
    check("sender Ed25519 public key from the seed", sign_pk, X(v["sender"]["ed25519_public"]))
    check("recipient X25519 public key from its secret", enc_pk,
          X(v["recipient"]["x25519_enc_public"]))
    check("recipient encryption key id", key_id(enc_pk), X(v["recipient"]["enc_key_id"]))
    check("ephemeral public key", e_pk, X(v["ephemeral_public"]))
    shared = sodium.crypto_scalarmult(e_sk, enc_pk)
    check("shared secret X25519(e_sk, enc_pk)", shared, X(v["shared_secret"]))
    check("shared secret X25519(enc_sk, e_pk) (the recipient's side)",
          sodium.crypto_scalarmult(enc_sk, e_pk), X(v["shared_secret"]))
    key = payload_key(shared, e_pk, enc_pk)
    check("payload key", key, X(v["payload_key"]))
    header = X(v["header"])
    h = read_header(header)
    for name, want in (("message_id", v["message_id"]), ("sender", v["sender"]["id"]),
                       ("recipient", v["recipient"]["id"]), ("created_ms", v["created_ms"]),
                       ("expires_ms", v["expires_ms"]), ("ephemeral_key", e_pk),
                       ("nonce", X(v["nonce"])), ("sender_key_id", key_id(sign_pk)),
                       ("recipient_key_id", key_id(enc_pk))):
        check(f"header {name}", h[name], want)
    plaintext = frame_plaintext(X(v["payload"]))
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, header, X(v["nonce"]), key)
    ct_hash = hashlib.blake2b(ct, digest_size=32).digest()
    check("ciphertext hash of the recomputed ciphertext", ct_hash, X(v["ciphertext_hash"]))
    try:
        nacl.signing.VerifyKey(sign_pk).verify(SIG_CONTEXT + header + ct_hash, X(v["signature"]))
        out.append(("signature verifies", True, ""))
    except nacl.exceptions.BadSignatureError:
        out.append(("signature verifies", False, "Ed25519 verification failed"))
    check("signature recomputed (Ed25519 is deterministic)",
          nacl.signing.SigningKey(seed).sign(SIG_CONTEXT + header + ct_hash).signature,
          X(v["signature"]))
    frame = (MAGIC + struct.pack("<I", len(header)) + header + struct.pack("<I", len(ct)) + ct
             + ct_hash + X(v["signature"]))
    check("frame rebuilt = vector's envelope", frame, X(v["envelope"]))
    check("frame rebuilt = envelope.bin", frame, env_bin)
    check("envelope hash", hashlib.sha256(env_bin).digest(), X(v["envelope_sha256"]))
    # the key directories hold the same keys
    keys = os.path.join(vdir, "keys")
    snd = load_keys(os.path.join(keys, v["sender"]["id"]))
    rcp = load_keys(os.path.join(keys, v["recipient"]["id"]))
    check("sender key directory holds the seed", snd.seed, seed)
    check("recipient key directory holds the encryption secret", rcp.enc_sk, enc_sk)
    for who, k in (("sender", snd), ("recipient", rcp)):
        for fname in ("identity.json", "identity.bin"):
            ident = load_identity(os.path.join(keys, k.id, fname))
            check(f"{who} {fname} = its node.key", (ident.id, ident.sign_pk, ident.enc_pk),
                  (k.id, k.sign_pk, k.enc_pk))
    # and it opens at now_ms
    try:
        hh, payload = open_envelope(env_bin, rcp, snd.identity(), now_ms=v["now_ms"])
        check("opens at now_ms; payload", payload, X(v["payload"]))
    except Refusal as r:
        out.append(("opens at now_ms", False, f"{r.code}: {r.message}"))
    return out


# --------------------------------------------------------------------------
# CLI

def main(argv=None):
    ap = argparse.ArgumentParser(prog="mlahub_peer", description=__doc__.split("\n")[0])
    ap.add_argument("--schemas", help="directory of the .fbs schemas (default: ../../schemas)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    k = sub.add_parser("keygen", help="create a key directory (node.key, identity.json, identity.bin)")
    k.add_argument("--id", required=True)
    k.add_argument("--out", required=True)
    k.add_argument("--role", default="Authority")
    k.add_argument("--x-omit-public-keys", action="store_true",
                   help="test only: a node.key without sign_key/enc_key/curve_key")

    s = sub.add_parser("seal", help="seal a wire.Payload (stdin) or a JSON body (--body-json)")
    s.add_argument("--from", dest="sender", required=True, help="sender's key directory")
    s.add_argument("--to", required=True, help="recipient identity.json/identity.bin/key dir")
    s.add_argument("--kind", required=True)
    s.add_argument("--case-ref", default="")
    s.add_argument("--in-reply-to", default="")
    s.add_argument("--message-id")
    s.add_argument("--handling", default="H0")
    s.add_argument("--legal-basis", default="Untoc")
    s.add_argument("--urgent", action="store_true")
    s.add_argument("--ttl-hours", type=int, default=720)
    s.add_argument("--body-json", help="JSON of the kind's body table (built with flatc)")
    g = s.add_argument_group("test-only deviations from the protocol")
    g.add_argument("--x-version", type=int)
    g.add_argument("--x-created-ms", type=int)
    g.add_argument("--x-expires-ms", type=int)
    g.add_argument("--x-sender-id")
    g.add_argument("--x-case-ref-hex", help="case_ref as these raw bytes (e.g. not UTF-8)")
    g.add_argument("--x-recipient-id")
    g.add_argument("--x-sign-with", help="key directory whose key signs instead")
    g.add_argument("--x-pad-extra-blocks", type=int, default=0)
    g.add_argument("--x-pad-byte", type=int, default=0)
    g.add_argument("--x-pad-len", type=int, help="number of padding bytes (default: to 256)")
    g.add_argument("--x-no-identifier", action="store_true", help="header without MLAH")
    g.add_argument("--x-len", action="append", default=[], metavar="FIELD=N",
                   help="give a fixed-size header vector (sender_key_id, recipient_key_id, "
                   "ephemeral_key, nonce) N bytes")
    g.add_argument("--x-low-order", choices=sorted(LOW_ORDER_POINTS),
                   help="a small-order ephemeral key (all-zero shared secret)")
    g.add_argument("--x-payload-len", type=int,
                   help="append zero bytes to the payload FlatBuffer up to this length")
    g.add_argument("--x-extra-field", action="store_true", help="header field id 16 (unknown)")
    g.add_argument("--x-payload-no-identifier", action="store_true", help="zero MLAP")
    g.add_argument("--x-no-kind-check", action="store_true",
                   help="allow a header kind that differs from the payload's body type")

    o = sub.add_parser("open", help="verify and decrypt an envelope (stdin)")
    o.add_argument("--key", required=True, help="recipient's key directory")
    o.add_argument("--from", dest="sender", required=True, help="sender's identity")
    o.add_argument("--payload-out", help="write the payload bytes (wire.Payload) here")
    o.add_argument("--decode-body", action="store_true", help="add the body as JSON (flatc)")
    o.add_argument("--max-size", type=int, default=16 * 1024 * 1024)
    o.add_argument("--max-clock-skew", type=int, default=300, help="seconds")
    o.add_argument("--at-ms", type=int, help="evaluate the time window at this instant (Unix ms)")

    v = sub.add_parser("vector", help="recompute a published test vector (docs/examples/vector-N)")
    v.add_argument("dir", help="directory with vector.json, envelope.bin and keys/")

    t = sub.add_parser("tamper", help="test helper: damage an envelope (stdin -> stdout)")
    t.add_argument("--op", required=True)

    fc = sub.add_parser("flipcheck", help="test helper: flip header and trailer bits of an "
                        "envelope (stdin); compare refusals with mlahub's")
    fc.add_argument("--mlahub", required=True)
    fc.add_argument("--key", required=True)
    fc.add_argument("--from", dest="sender", required=True)
    fc.add_argument("--bit", type=lambda v: int(v, 0), action="append",
                    help="bit mask to flip (repeatable; default 0x01 and 0x80)")
    fc.add_argument("--at-ms", type=int, help="evaluate time windows at this instant (both sides)")
    fc.add_argument("--payload", action="store_true",
                    help="stdin is a wire.Payload: flip its bits and seal each from --from "
                    "(a key directory) to --key")

    a = ap.parse_args(argv)
    if a.schemas:
        os.environ["MLAHUB_SCHEMAS"] = a.schemas
    try:
        if a.cmd == "keygen":
            keys = keygen(a.id, a.out, a.role, a.x_omit_public_keys)
            print(json.dumps({"id": keys.id, "dir": a.out,
                              "sign_key": base64.b64encode(keys.sign_pk).decode(),
                              "enc_key": base64.b64encode(keys.enc_pk).decode()}))
        elif a.cmd == "seal":
            w = wire()
            me = load_keys(a.sender)
            to = load_identity(a.to)
            kind = parse_kind(a.kind)
            if a.body_json:
                payload = payload_from_json(a.body_json, kind)
            else:
                payload = sys.stdin.buffer.read()
            if not a.x_no_kind_check:
                try:
                    bt, _ = payload_body_type(payload)
                except Malformed as e:
                    raise Failure(f"payload is not a wire.Payload: {e}")
                if bt != kind:
                    raise Failure(f"payload body type {bt} is not kind {kind}")
            x = {}
            if a.x_version is not None:
                x["version"] = a.x_version
            if a.x_sender_id:
                x["sender_id"] = a.x_sender_id
            if a.x_case_ref_hex is not None:
                x["case_ref_bytes"] = bytes.fromhex(a.x_case_ref_hex)
            if a.x_recipient_id:
                x["recipient_id"] = a.x_recipient_id
            if a.x_sign_with:
                x["sign_with"] = load_keys(a.x_sign_with)
            x["pad_extra_blocks"] = a.x_pad_extra_blocks
            x["pad_byte"] = a.x_pad_byte
            x["pad_len"] = a.x_pad_len
            x["no_identifier"] = a.x_no_identifier
            x["lengths"] = {}
            for spec in a.x_len:
                name, _, n = spec.partition("=")
                if name not in FIXED_SIZES or not n.isdigit():
                    raise Failure(f"--x-len {spec}: FIELD=N with FIELD one of {', '.join(FIXED_SIZES)}")
                x["lengths"][name] = int(n)
            x["low_order"] = a.x_low_order
            if a.x_payload_len is not None:
                payload = payload + bytes(max(0, a.x_payload_len - len(payload)))
            x["extra_field"] = a.x_extra_field
            if a.x_payload_no_identifier:
                payload = payload[:4] + bytes(4) + payload[8:]
            env = seal(me, to, kind, payload, case_ref=a.case_ref, in_reply_to=a.in_reply_to,
                       message_id=a.message_id,
                       handling=parse_enum(w.HandlingCode, "HandlingCode", a.handling),
                       legal_basis=parse_enum(w.LegalBasis, "LegalBasis", a.legal_basis),
                       priority=1 if a.urgent else 0, ttl_ms=a.ttl_hours * 3600 * 1000,
                       created_ms=a.x_created_ms, expires_ms=a.x_expires_ms, x=x)
            sys.stdout.buffer.write(env)
        elif a.cmd == "open":
            me = load_keys(a.key)
            frm = load_identity(a.sender)
            env = sys.stdin.buffer.read()
            h, payload = open_envelope(env, me, frm, a.max_size, a.max_clock_skew * 1000,
                                       a.at_ms)
            out = {"header": header_json(h),
                   "envelope_sha256": hashlib.sha256(env).hexdigest(),
                   "payload_b64": base64.b64encode(payload).decode()}
            if a.payload_out:
                with open(a.payload_out, "wb") as f:
                    f.write(payload)
            if a.decode_body:
                out["body"] = payload_to_json(payload)
            print(json.dumps(out, indent=2))
        elif a.cmd == "flipcheck":
            if a.payload:
                me, data = load_keys(a.key), sys.stdin.buffer.read()
                n, diffs, unprintable = 0, [], 0
                for bit in a.bit or (0x01,):
                    n1, d1, u1 = payload_flipcheck(data, me, load_keys(a.sender), me.identity(),
                                                   a.mlahub, a.key, a.sender, bit)
                    n, diffs, unprintable = n + n1, diffs + d1, unprintable + u1
                print(f"{unprintable} opened by both, but mlahub could not print the body "
                      "(internal, exit 1): strings that are not UTF-8")
            else:
                n, diffs = flipcheck(sys.stdin.buffer.read(), load_keys(a.key),
                                     load_identity(a.sender), a.mlahub, a.key, a.sender,
                                     tuple(a.bit or (0x01, 0x80)), a.at_ms)
            print(f"{n} single-bit flips, {len(diffs)} verdicts differ")
            for d in diffs[:20]:
                print("  " + d)
            return 1 if diffs else 0
        elif a.cmd == "vector":
            results = check_vector(a.dir)
            for name, good, detail in results:
                print(f"{'ok  ' if good else 'FAIL'} {name}" + (f": {detail}" if detail else ""))
            return 0 if all(good for _, good, _ in results) else 1
        elif a.cmd == "tamper":
            sys.stdout.buffer.write(tamper(sys.stdin.buffer.read(), a.op))
    except Refusal as r:
        print(f"mlahub_peer: {r.code}: {r.message}", file=sys.stderr)
        return 3
    except (Failure, OSError, subprocess.CalledProcessError) as e:
        print(f"mlahub_peer: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
