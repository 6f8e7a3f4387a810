#!/usr/bin/env bash
# Installs the Debian 12 packages mlahub needs, only those missing.
# Usage: scripts/deps.sh [--fuzz]   (--fuzz adds clang for the libFuzzer targets)
set -euo pipefail

PKGS=(build-essential cmake ninja-build pkg-config git lld
      libsodium-dev librocksdb-dev flatbuffers-compiler libflatbuffers-dev
      libzmq3-dev cppzmq-dev libcli11-dev nlohmann-json3-dev
      libtomlplusplus-dev libspdlog-dev libcpp-httplib-dev
      libgtest-dev libgmock-dev
      python3-nacl python3-flatbuffers python3-yaml python3-zmq)
if [[ "${1:-}" == "--fuzz" ]]; then
  PKGS+=(clang libclang-rt-dev)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "mlahub: installing missing Debian packages: ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "mlahub: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
