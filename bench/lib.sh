# Shared by bench/*.sh (sourced, not run): logging, apt, pip and npm installs, a
# local nginx that answers `GET /` with `200 ok`, and the servers of ws.sh and
# grpc.sh.
#
# nginx_start needs WORK (a scratch dir the caller removes), SRV_CPU (CPU for the
# single worker) and NGINX (the binary); NGINX_CONNECTIONS (4096) bounds the
# connections its worker holds; NGINX_TLS=1 serves HTTPS (TLS 1.3, a certificate
# for 127.0.0.1 signed by a CA made for the run, at $WORK/ca.pem); NGINX_UNIX=1
# has the server listen on the Unix socket $WORK/nginx.sock too; NGINX_SERVERS,
# when set, is more configuration put inside its `http` block (more `server`s,
# e.g. HTTP/2 listeners). It sets NGINX_PID, PORT and URL. Call
# nginx_stop from the caller's EXIT trap. server_start/server_stop do the same for
# any other server that prints "listening PORT" when ready.

BENCH_TAG=${BENCH_TAG:-bench}
log() { printf '[%s] %s\n' "$BENCH_TAG" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$BENCH_TAG" "$*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "need $* but apt-get is not available; install it by hand"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        "${sudo[@]}" apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
}

# ensure_nginx: install nginx if $NGINX is missing; may reset NGINX.
ensure_nginx() {
    [[ -x $NGINX ]] || { apt_install nginx-light || apt_install nginx; }
    [[ -x $NGINX ]] || NGINX=$(command -v nginx) || die "nginx not found"
}

NGINX_PID=
nginx_stop() {
    if [[ -n $NGINX_PID ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
}

# pip_install PKG...: install Python packages for the python3 on PATH.
pip_install() {
    log "pip install $*"
    python3 -m pip install --quiet --disable-pip-version-check "$@" ||
        die "pip install $* failed; install them for $(command -v python3) by hand"
}

# ensure_node: node and npm on PATH (apt's nodejs if missing; bench/node needs 18+).
ensure_node() {
    command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
    command -v node >/dev/null || die "node not found"
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    [[ $major -ge 18 ]] || die "node $major is too old for bench/node (18 or later)"
}

# node_deps DIR: `npm install` DIR's package.json when one of its dependencies
# does not resolve (node_modules is gitignored; the first run fetches it).
node_deps() {
    local dir=$1
    if ! (cd "$dir" && node -e 'for (const d of Object.keys(require("./package.json").dependencies)) require.resolve(d)') 2>/dev/null; then
        log "npm install in ${dir#"$ROOT"/}"
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null) || die "npm install in $dir failed"
    fi
}

# ensure_oha: oha on PATH, installed with cargo when missing (several minutes the
# first time, cached afterwards).
ensure_oha() {
    command -v oha >/dev/null && return
    PATH=$HOME/.cargo/bin:$PATH
    if ! command -v oha >/dev/null; then
        log "installing oha with cargo (takes several minutes, cached afterwards)"
        cargo install oha --locked
    fi
}

# build_kaioken: the release binary, built first unless BENCH_NO_BUILD=1; needs
# ROOT, sets KAIOKEN (under CARGO_TARGET_DIR when it is set).
build_kaioken() {
    KAIOKEN=${CARGO_TARGET_DIR:-$ROOT/target}/release/kaioken
    if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
        log "cargo build --release -p kaioken"
        (cd "$ROOT" && cargo build --release -p kaioken)
    fi
    [[ -x $KAIOKEN ]] || die "$KAIOKEN is missing"
}

# free_port: a TCP port free on 127.0.0.1 now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# cpu_seconds PID: user+sys CPU seconds the process has used so far (its threads
# included; not its children).
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

# server_start NAME LOG CMD...: start CMD pinned to SRV_CPU, stdout and stderr to
# LOG, and wait up to 10 s for its "listening" line; sets SERVER_PID and SERVER_LOG.
SERVER_PID=
SERVER_LOG=
server_start() {
    local name=$1 logf=$2
    shift 2
    SERVER_LOG=$logf
    taskset -c "$SRV_CPU" "$@" >"$logf" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q '^listening' "$logf" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logf" >&2; die "$name exited before listening"; }
        sleep 0.1
    done
    cat "$logf" >&2
    die "$name did not start listening in 10 s"
}

# server_alive: die, with the server's log, if the server has exited (it crashed, or
# a Ctrl-C reached it).
server_alive() {
    kill -0 "$SERVER_PID" 2>/dev/null && return 0
    cat "$SERVER_LOG" >&2 2>/dev/null || true
    die "the server exited during the run"
}

# server_stop: SIGTERM the server started by server_start, then wait for it (up to 5 s).
server_stop() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    [[ -n $SERVER_PID ]] && wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# tls_cert DIR: a CA (DIR/ca.pem) and a certificate for 127.0.0.1 it signed
# (DIR/cert.pem, DIR/key.pem), both ECDSA P-256.
tls_cert() {
    local dir=$1
    command -v openssl >/dev/null || apt_install openssl
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=bench-ca -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj /CN=127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/cert.pem" 2>/dev/null
    [[ -s $dir/cert.pem ]] || die "openssl could not make a test certificate"
}

nginx_start() {
    PORT=$(free_port)
    local scheme=http listen_tls=
    if [[ ${NGINX_TLS:-0} == 1 ]]; then
        tls_cert "$WORK"
        scheme=https
        listen_tls=" ssl;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        ssl_protocols TLSv1.3;
        ssl_session_cache off"
    fi
    URL=$scheme://127.0.0.1:$PORT/
    local listen_unix=
    [[ ${NGINX_UNIX:-0} == 1 ]] && listen_unix="listen unix:$WORK/nginx.sock$listen_tls;"

    # worker_cpu_affinity takes a bit mask, highest CPU first: CPU 1 -> "10".
    local affinity=1 user_line=
    for _ in $(seq "$SRV_CPU"); do affinity=${affinity}0; done
    [[ $(id -u) -eq 0 ]] && user_line='user root;'
    cat >"$WORK/nginx.conf" <<EOF
$user_line
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity $affinity;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
worker_rlimit_nofile $(( ${NGINX_CONNECTIONS:-4096} * 2 + 64 < $(ulimit -Hn) ? ${NGINX_CONNECTIONS:-4096} * 2 + 64 : $(ulimit -Hn) ));
events { worker_connections ${NGINX_CONNECTIONS:-4096}; }
http {
    access_log off;
    client_body_temp_path $WORK/client_body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$PORT$listen_tls;
        $listen_unix
        location / { return 200 "ok"; }
        # A small JSON document, for scenarios that check and extract.
        location = /json {
            default_type application/json;
            return 200 '{"id":42,"name":"kaioken","items":[1,2,3]}';
        }
    }
${NGINX_SERVERS:-}
}
EOF
    taskset -c "$SRV_CPU" "$NGINX" -p "$WORK" -e "$WORK/error.log" -c "$WORK/nginx.conf" &
    NGINX_PID=$!
    for _ in $(seq 100); do
        if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2).close()' "$PORT" 2>/dev/null; then
            break
        fi
        kill -0 "$NGINX_PID" 2>/dev/null || { cat "$WORK/error.log" >&2 || true; die "nginx exited"; }
        sleep 0.1
    done
    python3 - "$PORT" "$scheme" "$WORK/ca.pem" <<'EOF' || die "nginx is not answering on port $PORT"
import http.client, ssl, sys
port, scheme, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if scheme == "https":
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=ssl.create_default_context(cafile=ca))
else:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
c.request("GET", "/")
r = c.getresponse()
assert r.status == 200 and r.read() == b"ok"
EOF
    log "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') on $URL, worker on CPU $SRV_CPU"
}
