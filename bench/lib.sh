# Shared by bench/*.sh (sourced, not run): logging, apt installs, and a local
# nginx that answers `GET /` with `200 ok`.
#
# nginx_start needs WORK (a scratch dir the caller removes), SRV_CPU (CPU for the
# single worker) and NGINX (the binary); it sets NGINX_PID, PORT and URL. Call
# nginx_stop from the caller's EXIT trap.

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

nginx_start() {
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    URL=http://127.0.0.1:$PORT/

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
events { worker_connections 4096; }
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
        listen 127.0.0.1:$PORT;
        location / { return 200 "ok"; }
    }
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
    python3 - "$PORT" <<'EOF' || die "nginx is not answering on port $PORT"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=2)
c.request("GET", "/")
r = c.getresponse()
assert r.status == 200 and r.read() == b"ok"
EOF
    log "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') on $URL, worker on CPU $SRV_CPU"
}
