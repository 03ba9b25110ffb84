#!/usr/bin/env bash
# Installs what `npm run bench` drives on Debian 12: the two reference proxies (Caddy, nginx-light,
# which also serves as the shared upstream), the load generators (wrk, h2load), Pebble for the
# on-demand mode's first-handshake figure, openssl for the throwaway certificates and taskset for
# core pinning. Idempotent and non-interactive: apt is
# skipped entirely when every binary is already present. Runs as root (or through sudo).
set -euo pipefail

# package:binary pairs — one binary per package proves it is installed.
BENCH_PACKAGES=(
  caddy:caddy                   # reference proxy the ratios are taken against
  nginx-light:nginx             # second reference proxy and the upstream behind every candidate
  wrk:wrk                       # HTTPS/1.1 keep-alive load and latency percentiles
  nghttp2-client:h2load         # HTTP/2 load
  pebble:pebble                 # ACME test CA: on-demand first handshake → valid certificate
  pebble:pebble-challtestsrv    # its mock DNS server
  openssl:openssl               # certificates
  util-linux:taskset            # pinning candidates and load generators to cores
)

missing=()
for entry in "${BENCH_PACKAGES[@]}"; do
  package=${entry%%:*}
  binary=${entry#*:}
  if command -v "$binary" >/dev/null 2>&1 || [[ -x /usr/sbin/$binary ]]; then
    echo "install-bench-deps: $binary present"
  elif [[ " ${missing[*]} " != *" $package "* ]]; then
    echo "install-bench-deps: $binary missing (package $package)"
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-bench-deps: all system packages present, skipping apt"
  exit 0
fi

sudo=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-bench-deps: need root to install ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-bench-deps: apt-get update"
"${sudo[@]}" apt-get update -q
echo "install-bench-deps: apt-get install ${missing[*]}"
# policy-rc.d keeps the packages' postinst from starting system-wide caddy/nginx services that
# would hold ports 80/443 and add noise to the measurement; the bench starts its own instances.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  created_policy=1
fi
cleanup() { if ((created_policy)); then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
