#!/usr/bin/env bash
# Run every test: unit, doc and integration.
#
# The integration tests start nginx on loopback (HTTP/1.1, h2c and TLS); on a
# fresh Debian or Ubuntu machine this installs it first. Set NGINX to use an
# nginx binary elsewhere than /usr/sbin/nginx.
set -euo pipefail

cd "$(dirname "$0")/.."

nginx_bin="${NGINX:-/usr/sbin/nginx}"

if [[ ! -x "$nginx_bin" ]]; then
  if ! command -v apt-get >/dev/null; then
    echo "error: nginx is not installed at $nginx_bin and apt-get is unavailable" >&2
    exit 1
  fi
  sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    sudo=(sudo)
  fi
  echo "installing nginx" >&2
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx
  # The package starts a system nginx on port 80; the tests start their own.
  if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
    "${sudo[@]}" systemctl stop nginx || true
  elif command -v service >/dev/null; then
    "${sudo[@]}" service nginx stop >/dev/null 2>&1 || true
  fi
fi

if [[ ! -x "$nginx_bin" ]]; then
  echo "error: no nginx at $nginx_bin (set NGINX to its path)" >&2
  exit 1
fi
"$nginx_bin" -v

cargo test --workspace "$@"
