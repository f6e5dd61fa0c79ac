#!/usr/bin/env bash
# ratelimit.sh [SIZE] [RATE] - how close to a rate limit ft runs.
#
# Puts and gets a random file of SIZE (default 64M) through a server on
# 127.0.0.1 with --limit-rate RATE (default 16M, bytes per second, powers of
# 1024), then through a server started with --max-rate RATE, and prints the
# achieved rate as a fraction of the limit (1.00 = exactly at the limit; a
# limit is never exceeded by construction, so the figure shows the slack).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${1:-64M}
RATE=${2:-16M}
FT=$PWD/build/ft
[ -x "$FT" ] || { echo "ratelimit: build first (cmake --build build)" >&2; exit 1; }

to_bytes() {
    local v=${1%[kKmMgG]} unit=${1#"${1%[kKmMgG]}"}
    case $unit in
        k|K) echo $((v * 1024)) ;;
        m|M) echo $((v * 1024 * 1024)) ;;
        g|G) echo $((v * 1024 * 1024 * 1024)) ;;
        *) echo "$v" ;;
    esac
}
bytes=$(to_bytes "$SIZE")
rate=$(to_bytes "$RATE")

work=$(mktemp -d "${TMPDIR:-/tmp}/ft-ratelimit.XXXXXX")
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
export XDG_CONFIG_HOME=$work/config

head -c "$bytes" /dev/urandom >"$work/src"

start_server() { # extra serve flags...
    : >"$work/log"
    "$FT" serve --root "$work/store" --port 0 "$@" 2>"$work/log" &
    server=$!
    for _ in $(seq 200); do
        port=$(sed -n 's/.* serving .* port \([0-9][0-9]*\).*/\1/p' "$work/log")
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    echo "ratelimit: the server did not start" >&2
    exit 1
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }

timed() { # prints seconds taken by the command
    local t0 t1
    t0=$(date +%s.%N)
    "$@"
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

report() { # label seconds
    awk -v l="$1" -v s="$2" -v b="$bytes" -v r="$rate" 'BEGIN {
        printf "%-28s %8.2f s  %8.2f MB/s  %5.2f of the limit\n", l, s, b / s / 1e6, (b / s) / r }'
}

echo "ratelimit: $SIZE at $RATE/s ($rate bytes/s) over 127.0.0.1"
start_server
report "put --limit-rate" "$(timed "$FT" put -q -p "$port" --limit-rate "$RATE" "$work/src" f)"
report "get --limit-rate" "$(timed "$FT" get -q -p "$port" --limit-rate "$RATE" f "$work/dst")"
cmp "$work/src" "$work/dst"
stop_server
start_server --max-rate "$RATE"
report "put, serve --max-rate" "$(timed "$FT" put -q -p "$port" "$work/src" g)"
report "get, serve --max-rate" "$(timed "$FT" get -q -p "$port" g "$work/dst2")"
cmp "$work/src" "$work/dst2"
stop_server
