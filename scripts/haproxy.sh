#!/usr/bin/env bash
# haproxy.sh - starts and stops a TCP load balancer in front of several ft
# servers: HAProxy from Debian in TCP mode (the Noise handshake passes
# through untouched), all under one run folder ($FT_HAPROXY_DIR, default
# /tmp/ft-haproxy).
#
#   scripts/haproxy.sh start HOST:PORT...   balance these ft servers (round
#                              robin, each connection to the next) on
#                              127.0.0.1:$FT_HAPROXY_PORT; print its environment
#   scripts/haproxy.sh env     print the environment of a running balancer:
#                              eval "$(scripts/haproxy.sh env)"
#   scripts/haproxy.sh stop    kill exactly the PID it started, remove the folder
#
# Port: FT_HAPROXY_PORT (default 7400; 0 picks a free one). Each connection
# is logged (tcplog, to $FT_HAPROXY_DIR/haproxy.log) with the server it went
# to (ft/s1, ft/s2, ...). A server that refuses connections is tried again
# on another (redispatch) and taken out after two failed checks, one a
# second: the checks only connect, so an ft server logs them as clients
# that closed before their hello. Install: apt-get install haproxy
# (scripts/deps.sh does, with FT_DEPS_TESTS=1).
set -euo pipefail

dir=${FT_HAPROXY_DIR:-/tmp/ft-haproxy}
port=${FT_HAPROXY_PORT:-7400}
limit=${FT_HAPROXY_WAIT:-10}

die() {
    echo "haproxy.sh: $*" >&2
    exit 1
}

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
# Any TCP socket on the port, a client's among them: one may not listen there.
in_use() { ss -Htan "sport = :$1" 2>/dev/null | grep -q .; }

# A port below the kernel's range for clients' ports, so that no
# connection a test opens meanwhile takes it (seen: haproxy failing to bind
# a random port in that range during a parallel test run).
free_port() {
    local low p
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
    ((low > 12000)) || low=32768
    for _ in $(seq 200); do
        p=$((10000 + RANDOM % (low - 10000)))
        in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free port found"
}

write_conf() {
    local i=0 server
    cat <<EOF
global
    maxconn 4096
    log stdout format raw local0 info
defaults
    mode tcp
    log global
    option tcplog
    option redispatch
    retries 2
    timeout connect 5s
    # ft keeps its own idle timeout (300 s by default); a transfer that
    # moves bytes never idles this long.
    timeout client 1h
    timeout server 1h
frontend ft
    bind 127.0.0.1:$port
    default_backend ft
backend ft
    balance roundrobin
EOF
    for server in "$@"; do
        i=$((i + 1))
        echo "    server s$i $server check inter 1s fall 2 rise 1"
    done
}

print_env() {
    cat <<EOF
export FT_HAPROXY_PORT=$port
export FT_HAPROXY_LOG=$dir/haproxy.log
EOF
}

# Starts haproxy on $port for the servers given; false when it ends
# before it listens (its log stays), dies when it neither listens nor ends.
launch() {
    write_conf "$@" >"$dir/haproxy.cfg"
    haproxy -c -q -f "$dir/haproxy.cfg" >"$dir/check.out" 2>&1 ||
        die "haproxy rejects its configuration: $dir/check.out"
    # -db: in the foreground, so that $! is haproxy's own PID.
    haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
    echo $! >"$dir/haproxy.pid"
    local deadline=$((SECONDS + limit))
    until listening "$port"; do
        if ! kill -0 "$(cat "$dir/haproxy.pid")" 2>/dev/null; then
            rm -f "$dir/haproxy.pid"
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            FT_HAPROXY_KEEP=1 stop
            die "haproxy does not listen on 127.0.0.1:$port: $dir/haproxy.log"
        fi
        sleep 0.05
    done
}

start() {
    [ $# -ge 1 ] || die "usage: haproxy.sh start HOST:PORT..."
    command -v haproxy >/dev/null ||
        die "haproxy is missing: apt-get install haproxy (scripts/deps.sh, FT_DEPS_TESTS=1)"
    command -v ss >/dev/null ||
        die "ss is missing (it tells when the balancer listens): apt-get install iproute2"
    [ -e "$dir/haproxy.pid" ] && die "$dir already holds a balancer: stop it first"
    local s
    for s in "$@"; do
        [[ $s =~ ^[^:]+:[0-9]+$ ]] || die "not HOST:PORT: '$s'"
    done
    local picked=
    [ "$port" != 0 ] || picked=1
    mkdir -p "$dir"
    # A port picked here and taken in the meantime is picked again.
    for _ in 1 2 3; do
        [ -z "$picked" ] || port=$(free_port)
        listening "$port" && die "port $port is taken"
        launch "$@" && break
        [ -n "$picked" ] || die "haproxy does not listen on 127.0.0.1:$port: $dir/haproxy.log"
    done
    listening "$port" || die "haproxy does not listen on 127.0.0.1:$port: $dir/haproxy.log"
    print_env >"$dir/env"
    print_env
}

stop() {
    local pid
    if [ -e "$dir/haproxy.pid" ]; then
        pid=$(cat "$dir/haproxy.pid")
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 200); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
            done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$dir/haproxy.pid"
    fi
    if [ -n "${FT_HAPROXY_KEEP:-}" ]; then
        return 0
    elif [ -e "$dir/haproxy.cfg" ]; then
        rm -rf "$dir" # only a folder that start made: it wrote haproxy.cfg
    else
        rmdir "$dir" 2>/dev/null || true
    fi
}

case "${1:-}" in
start)
    shift
    start "$@"
    ;;
stop) stop ;;
env)
    [ -e "$dir/env" ] || die "no balancer running under $dir"
    cat "$dir/env"
    ;;
*) die "usage: haproxy.sh start HOST:PORT...|stop|env" ;;
esac
