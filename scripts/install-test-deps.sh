#!/usr/bin/env bash
# Installs what `npm test` needs on Debian 12: the system binaries the integration tests start or
# drive, then the npm dependencies (Node 24 itself comes from the `node` devDependency).
# Idempotent and non-interactive; apt is skipped entirely when every binary is already present,
# so a warm machine only pays for `npm ci`. Runs as root (or through sudo when available).
set -euo pipefail

# package:binary pairs — one binary per package proves it is installed. Add new test clients here.
TEST_PACKAGES=(
  pebble:pebble                 # Let's Encrypt's ACME test CA
  pebble:pebble-challtestsrv    # its mock DNS server
  redis-server:redis-server     # Redis storage tests
  redis-tools:redis-cli
  openssl:openssl               # throwaway CA for Pebble's listener, certificate inspection
  curl:curl                     # HTTP/1.1 and HTTP/2 client checks
  nghttp2-client:h2load         # HTTP/2 load and multiplexing checks
  wrk:wrk                       # HTTP/1.1 load
  systemd:systemd-analyze       # systemd unit verify and security score (packaging tests)
  faketime:faketime             # libfaketime: my-server run with its clock ahead (clock-skew test)
  caddy:caddy                   # Caddy 2.6.2: reference for the Caddyfile corpus and differential tests
  bind9:named                   # authoritative DNS with TSIG updates: DNS-01 tests (test/helpers/bind.ts)
  bind9-dnsutils:nsupdate       # the exec provider's test script; dig signs the TSIG reference query
  php-fpm:php-fpm8.2            # FastCGI server for php_fastcgi tests (test/helpers/php-fpm.ts; Debian 12 ships 8.2)
  chromium:chromium             # headless browser: the admin API refuses a cross-origin POST /load from a real page
  strace:strace                 # counts a process's system calls: file storage's folder-first writes (issue 12)
)

cd "$(dirname "$0")/.."

missing=()
for entry in "${TEST_PACKAGES[@]}"; do
  package=${entry%%:*}
  binary=${entry#*:}
  if command -v "$binary" >/dev/null 2>&1; then
    echo "install-test-deps: $binary present"
  elif [[ " ${missing[*]} " != *" $package "* ]]; then
    echo "install-test-deps: $binary missing (package $package)"
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  sudo=()
  if ((EUID != 0)); then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "install-test-deps: need root to install ${missing[*]}" >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "install-test-deps: apt-get update"
  "${sudo[@]}" apt-get update -q
  echo "install-test-deps: apt-get install ${missing[*]}"
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-test-deps: all system packages present, skipping apt"
fi

echo "install-test-deps: npm ci"
npm ci --no-audit --no-fund
echo "install-test-deps: node $(node_modules/.bin/node --version) from node_modules/.bin"
