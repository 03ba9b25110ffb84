#!/usr/bin/env bash
# Installs what test/integration/packaging.test.ts needs beyond scripts/install-test-deps.sh:
# systemd-analyze (Debian package `systemd`), which checks systemd/my-server.service offline. No
# systemd needs to be running. Idempotent: apt is skipped when the binary is already present.
# `--check` only reports, exiting 1 when something is missing. Runs as root (or through sudo).
set -euo pipefail

# package:binary pairs — one binary per package proves it is installed.
PACKAGING_PACKAGES=(
  systemd:systemd-analyze   # `verify` and `security --offline` of the unit
)

check_only=false
if [[ "${1:-}" == "--check" ]]; then
  check_only=true
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--check]" >&2
  exit 2
fi

missing=()
for entry in "${PACKAGING_PACKAGES[@]}"; do
  package=${entry%%:*}
  binary=${entry#*:}
  if command -v "$binary" >/dev/null 2>&1; then
    echo "install-packaging-deps: $binary present"
  elif [[ " ${missing[*]} " != *" $package "* ]]; then
    echo "install-packaging-deps: $binary missing (package $package)"
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-packaging-deps: all present, skipping apt"
  exit 0
fi
if $check_only; then
  echo "install-packaging-deps: run 'bash scripts/install-packaging-deps.sh' to install ${missing[*]}" >&2
  exit 1
fi

sudo=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-packaging-deps: need root to install ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-packaging-deps: apt-get update"
"${sudo[@]}" apt-get update -q
echo "install-packaging-deps: apt-get install ${missing[*]}"
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
