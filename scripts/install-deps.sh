#!/usr/bin/env bash
# Installs the Debian packages muster needs to build, test, benchmark and fuzz.
# Installs only what is missing; uses sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libsqlite3-dev sqlite3 libcli11-dev nlohmann-json3-dev libtomlplusplus-dev
  libre2-dev tzdata libgtest-dev libgmock-dev libpq-dev postgresql
  python3 python3-yaml procps faketime iproute2 util-linux
)
# examples/phones runs a real Appium when npm can install one
# (examples/phones/install-appium.sh). Only when node or npm is missing: a
# NodeSource nodejs bundles npm and conflicts with Debian's npm package.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi
# Benchmarks compare against these; install them only when asked.
if [[ "${MUSTER_BENCH_DEPS:-0}" == 1 ]]; then
  packages+=(parallel hyperfine time findutils)
fi

# The fuzz targets need clang and its libFuzzer (scripts/fuzz.sh asks for them).
if [[ "${MUSTER_FUZZ_DEPS:-0}" == 1 ]]; then
  packages+=(clang libclang-rt-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
