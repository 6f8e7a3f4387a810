#!/usr/bin/env bash
# Validates docker-compose.yml, Dockerfile and .dockerignore as far as a
# machine without Docker allows (docs/CONFIG.md "Containers"):
#   - the compose file parses (python3-yaml) and has the expected services;
#   - the init service's command, run with build/bin/mlahub into a temporary
#     directory, makes a network, and every host path a service mounts exists
#     after it;
#   - each daemon's --config file is mounted and parses (tomllib); every path
#     in it (keys, data, directory file, root key, token file) resolves,
#     inside the container, to a mounted path, writable where the daemon
#     writes; node ids match the key directories;
#   - ports: the broker listens on all interfaces inside its container on the
#     published port; agents dial the broker service on that port; metrics and
#     APIs are loopback; healthchecks watch each daemon's <data>/ready.json;
#   - Dockerfile: Debian 12 stages, scripts/deps.sh, the release preset, a
#     non-root runtime user, and runtime packages that exist in Debian 12 and
#     provide every shared library build/bin/* links against;
#   - `docker compose config` and `hadolint` when they are installed (they
#     are not on the development machine: reported as skipped).
# Usage: scripts/check-compose.sh [--bin build/bin]   Exit 0 if all checks pass.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/build/bin"
if [[ "${1:-}" == "--bin" ]]; then BIN="$(cd "$2" && pwd)"; fi

if ! python3 -c 'import yaml, tomllib' 2>/dev/null; then
  echo "check-compose: needs python3 (3.11+) with python3-yaml (scripts/deps.sh installs it)" >&2
  exit 2
fi
if [[ ! -x "$BIN/mlahub" ]]; then
  echo "check-compose: $BIN/mlahub is missing: build first (cmake --preset release && cmake --build --preset release)" >&2
  exit 2
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

status=0
python3 - "$ROOT" "$BIN" "$TMP" <<'PY' || status=1
import json, os, posixpath, re, shlex, subprocess, sys, tomllib
import yaml

root, bindir, tmp = sys.argv[1:4]
failures = 0

def ok(msg):
    print(f"ok    {msg}")

def fail(msg):
    global failures
    failures += 1
    print(f"FAIL  {msg}")

def check(cond, msg):
    (ok if cond else fail)(msg)
    return cond

# ---- compose file ---------------------------------------------------------------
compose_path = os.path.join(root, "docker-compose.yml")
with open(compose_path) as f:
    compose = yaml.safe_load(f)  # SafeLoader resolves anchors and << merge keys
check(isinstance(compose, dict) and "services" in compose, "docker-compose.yml parses as YAML with services")
services = compose["services"]
agents = {"it-moj": "IT-MOJ", "ng-agf": "NG-AGF", "th-oag": "TH-OAG"}
for name in ["init", "broker", *agents]:
    check(name in services, f"service {name} defined")
for name, svc in services.items():
    check(svc.get("image") == "mlahub:latest", f"{name}: image mlahub:latest")
    ctx = (svc.get("build") or {}).get("context")
    check(ctx == "." and os.path.isfile(os.path.join(root, "Dockerfile")), f"{name}: builds from ./Dockerfile")
    user = str(svc.get("user", ""))
    check(user != "" and not user.startswith("0:") and user != "root", f"{name}: runs as a non-root user ({user})")
    check(svc.get("read_only") is True, f"{name}: read-only root file system")
for net in {n for svc in services.values() for n in svc.get("networks", [])}:
    check(net in (compose.get("networks") or {}), f"network {net} declared")

# ---- run the init service's command ------------------------------------------------
init = services["init"]
cmd = list(init["command"])
check(cmd[:3] == ["mlahub", "network", "init"], "init runs `mlahub network init`")
workdir = init.get("working_dir", "/")
work_mount = None
for v in init.get("volumes", []):
    host, cont = v.split(":")[:2]
    if cont == workdir:
        work_mount = host
check(work_mount in ("./", ".", "${PWD}"), f"init mounts the project directory at its working_dir {workdir}")
dir_arg = cmd[cmd.index("--dir") + 1]
# The project dir in the container is `workdir`; here it is a scratch copy.
project = os.path.join(tmp, "project")
os.makedirs(project)
args = [os.path.join(bindir, "mlahub")] + cmd[1:] + ["--json"]
run = subprocess.run(args, cwd=project, capture_output=True, text=True)
if not check(run.returncode == 0, f"`{' '.join(cmd)}` succeeds (exit {run.returncode}) {run.stderr.strip()}"):
    sys.exit(1)
network = json.loads(run.stdout)
netdir = os.path.join(project, dir_arg)
check(os.path.isfile(os.path.join(netdir, "network.json")), f"{dir_arg}/network.json written")
check(sorted(n["id"] for n in network["nodes"]) == sorted(agents.values()),
      "the init's nodes are exactly the agent services " + ", ".join(agents.values()))

def host_path(h):
    """A compose host path (relative to the project) -> the scratch copy."""
    return os.path.normpath(os.path.join(project, h))

broker_cfg = None
broker_service_port = None

for name, svc in services.items():
    if name == "init":
        continue
    # Mounts: container path -> (host path, writable).
    mounts = {}
    for v in svc.get("volumes", []):
        parts = v.split(":")
        host, cont, mode = parts[0], parts[1], (parts[2] if len(parts) > 2 else "rw")
        hp = host_path(host)
        check(os.path.exists(hp), f"{name}: mounted host path {host} exists after init")
        mounts[posixpath.normpath(cont)] = (hp, mode != "ro")

    def resolve(cpath):
        """Container path -> (host path, writable) through the deepest mount."""
        cpath = posixpath.normpath(cpath)
        best = None
        for c in mounts:
            if cpath == c or cpath.startswith(c.rstrip("/") + "/"):
                if best is None or len(c) > len(best):
                    best = c
        if best is None:
            return None, False
        hp, rw = mounts[best]
        return os.path.normpath(os.path.join(hp, posixpath.relpath(cpath, best))), rw

    for c in mounts:
        check(not c.startswith("/net/operator/keys") or c.endswith("identity.json"),
              f"{name}: the operator's secret key is not mounted ({c})")

    command = svc.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    program = command[0]
    check(program in ("mlahub-broker", "mlahub-agent"), f"{name}: runs {program}")
    cfg_c = command[command.index("--config") + 1]
    cfg_h, _ = resolve(cfg_c)
    if not check(cfg_h is not None and os.path.isfile(cfg_h), f"{name}: --config {cfg_c} is mounted and exists"):
        continue
    with open(cfg_h, "rb") as f:
        cfg = tomllib.load(f)
    ok(f"{name}: {cfg_c} parses as TOML")
    section = "broker" if program == "mlahub-broker" else "agent"
    check(section in cfg, f"{name}: {cfg_c} has [{section}]")
    main = cfg[section]
    cdir = posixpath.dirname(cfg_c)

    def cpath_of(p):
        return posixpath.normpath(posixpath.join(cdir, p))

    # Keys: readable, and the node id matches.
    keys_h, _ = resolve(cpath_of(main["keys"]))
    check(keys_h is not None and os.path.isfile(os.path.join(keys_h, "node.key")),
          f"{name}: keys {main['keys']} -> node.key mounted")
    if keys_h and os.path.isfile(os.path.join(keys_h, "identity.json")):
        with open(os.path.join(keys_h, "identity.json")) as f:
            ident = json.load(f)
        check(ident.get("id") == main["node_id"], f"{name}: key directory belongs to {main['node_id']}")
    if name in agents:
        check(main["node_id"] == agents[name], f"{name}: node_id {main['node_id']}")
    # Data: under a writable mount.
    data_c = cpath_of(main["data"])
    data_h, data_rw = resolve(data_c)
    check(data_h is not None and data_rw, f"{name}: data {data_c} is on a writable mount")
    # Directory and root key: mounted and existing.
    d = cfg.get("directory", {})
    for key in ("file", "root_key"):
        c = cpath_of(d[key])
        h, _ = resolve(c)
        check(h is not None and os.path.isfile(h), f"{name}: [directory] {key} {c} is mounted and exists")
    # Token file (agents): default <data>/api.token, writable.
    if section == "agent":
        tok = cfg.get("api", {}).get("token_file") or posixpath.join(data_c, "api.token")
        h, rw = resolve(cpath_of(tok))
        check(h is not None and rw, f"{name}: api token file {tok} is on a writable mount")
        api = cfg.get("api", {}).get("listen", "127.0.0.1:7800")
        check(api.startswith("127.") or api.startswith("[::1]") or api.startswith("localhost"),
              f"{name}: API {api} on loopback")
    metrics = cfg.get("metrics", {}).get("listen", "")
    check(metrics == "" or metrics.startswith("127."), f"{name}: metrics {metrics or '(none)'} on loopback")
    # Healthcheck: the daemon's ready.json.
    hc = svc.get("healthcheck", {}).get("test", [])
    check(posixpath.join(data_c, "ready.json") in hc, f"{name}: healthcheck watches {data_c}/ready.json")

    if section == "broker":
        broker_cfg = cfg
        m = re.fullmatch(r"tcp://([^:]+|\[[^]]+\]):(\d+)", main.get("listen", "tcp://127.0.0.1:7700"))
        check(m is not None and m.group(1) in ("0.0.0.0", "*"),
              f"broker: listens on all interfaces in its container ({main.get('listen')})")
        broker_service_port = int(m.group(2)) if m else None
        published = [str(p) for p in svc.get("ports", [])]
        check(any(p.split(":")[-1] == str(broker_service_port) for p in published),
              f"broker: container port {broker_service_port} is published ({', '.join(published)})")
        check(all(p.startswith("127.0.0.1:") for p in published), "broker: published on the host's loopback only")
    else:
        m = re.fullmatch(r"tcp://([^:]+):(\d+)", main.get("broker", ""))
        check(m is not None and m.group(1) in services,
              f"{name}: dials the broker by service name ({main.get('broker')})")
        if m and broker_service_port is not None:
            check(int(m.group(2)) == broker_service_port, f"{name}: broker port {m.group(2)} matches the broker's")
        dep = svc.get("depends_on", {})
        check(isinstance(dep, dict) and dep.get("broker", {}).get("condition") == "service_healthy",
              f"{name}: starts once the broker is healthy")

# ---- Dockerfile -------------------------------------------------------------
with open(os.path.join(root, "Dockerfile")) as f:
    dockerfile = f.read()
# Join continuation lines, drop comments.
text = re.sub(r"\\\n", " ", dockerfile)
lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
args = {}
for l in lines:
    m = re.match(r"ARG\s+(\w+)=(\S+)", l)
    if m:
        args[m.group(1)] = m.group(2)
def expand(s):
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), s)
froms = [expand(l.split()[1]) for l in lines if l.startswith("FROM ")]
check(len(froms) >= 2, f"Dockerfile is multi-stage ({len(froms)} stages)")
check(all(f.startswith("debian:bookworm") for f in froms), f"every stage is Debian 12 ({', '.join(froms)})")
check("scripts/deps.sh" in dockerfile and os.path.isfile(os.path.join(root, "scripts/deps.sh")),
      "build stage installs with scripts/deps.sh")
check("cmake --preset release" in dockerfile, "build stage uses cmake --preset release")
final = text[text.rfind("\nFROM "):]
users = re.findall(r"^\s*USER\s+(\S+)", final, re.M)
check(bool(users) and users[-1] not in ("root", "0"), f"runtime stage runs as a non-root user ({users[-1] if users else 'none'})")
check(re.search(r"COPY\s+--from=build\s+/src/build/bin/", final) is not None, "runtime stage copies build/bin/*")
pkgs = []
for m in re.finditer(r"apt-get install (.*?)(&&|$)", final, re.M):
    pkgs += [p for p in m.group(1).split() if not p.startswith("-")]
check(bool(pkgs), f"runtime packages: {' '.join(pkgs)}")
for p in pkgs:
    r = subprocess.run(["apt-cache", "show", "--no-all-versions", p], capture_output=True, text=True)
    check(r.returncode == 0 and "Package: " + p in r.stdout, f"{p} is a Debian 12 package")
# Every shared library of build/bin/* comes from a runtime package or a dependency of one.
closure = set()
r = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                    "--no-breaks", "--no-replaces", "--no-enhances", "--no-pre-depends", *pkgs],
                   capture_output=True, text=True)
for l in r.stdout.splitlines():
    if not l.startswith(" "):
        closure.add(l.strip().split(":")[0])
    else:
        m = re.match(r"\s+\|?(?:Depends|PreDepends):\s+<?([^>\s:]+)", l)
        if m:
            closure.add(m.group(1))
base = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libzstd1", "liblz4-1", "libbz2-1.0", "liblzma5"}
libs = set()
for b in sorted(os.listdir(bindir)):
    path = os.path.join(bindir, b)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        continue
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    for l in r.stdout.splitlines():
        m = re.search(r"=>\s+(/\S+)", l)
        if m:
            libs.add(os.path.realpath(m.group(1)))
missing = []
for lib in sorted(libs):
    r = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
    if r.returncode != 0:
        # usrmerge: the package may list /lib/... instead of /usr/lib/...
        alt = lib.replace("/usr/lib/", "/lib/", 1)
        r = subprocess.run(["dpkg", "-S", alt], capture_output=True, text=True)
    owner = r.stdout.split(":")[0].strip() if r.returncode == 0 else "?"
    if owner not in closure and owner not in base:
        missing.append(f"{lib} ({owner})")
check(not missing, f"runtime packages provide all {len(libs)} shared libraries of build/bin/*" +
      (": missing " + ", ".join(missing) if missing else ""))
with open(os.path.join(root, ".dockerignore")) as f:
    ignore = f.read().split()
check("build/" in ignore and "net/" in ignore, ".dockerignore keeps build/ and net/ out of the context")

print(f"\n{failures} failure(s)")
sys.exit(1 if failures else 0)
PY

# ---- tools that are not on this machine -------------------------------------
if docker compose version >/dev/null 2>&1; then
  (cd "$ROOT" && docker compose config --quiet) && echo "ok    docker compose config" \
    || { echo "FAIL  docker compose config"; status=1; }
elif command -v docker-compose >/dev/null 2>&1; then
  (cd "$ROOT" && docker-compose config --quiet) && echo "ok    docker-compose config" \
    || { echo "FAIL  docker-compose config"; status=1; }
else
  echo "skip  docker compose config: no compose plugin here (and no Docker daemon: nothing can be built or run)"
fi
if command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; then
  echo "note  a Docker daemon is reachable: try 'docker compose build && docker compose run --rm init && docker compose up'"
fi
if command -v hadolint >/dev/null 2>&1; then
  hadolint "$ROOT/Dockerfile" && echo "ok    hadolint" || { echo "FAIL  hadolint"; status=1; }
else
  echo "skip  hadolint: not installed (not packaged in Debian 12)"
fi
exit $status
