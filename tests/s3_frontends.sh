#!/usr/bin/env bash
# s3_frontends.sh - two `ft serve` on one bucket behind HAProxy in TCP mode
# (scripts/haproxy.sh), as README's "A store on S3" sets them up: one key
# file and one clients file for both. What one server published the other
# lists, serves, replaces, moves and removes; a client that goes through
# the balancer lands on both servers and its one pin holds on each; a key
# the clients file does not name is refused by both. Needs an S3 engine
# (FT_S3_ENDPOINT, FT_S3_BUCKET and the AWS_* keys: scripts/radosgw.sh
# prints them) and haproxy; without either it skips (77).
# Usage: s3_frontends.sh PATH/TO/ft
set -euo pipefail
FT=$(realpath "$1")
REPO=$(cd "$(dirname "$0")/.." && pwd)
skip() { echo "SKIP: $*" >&2; exit 77; }
[ -n "${FT_S3_ENDPOINT:-}" ] && [ -n "${FT_S3_BUCKET:-}" ] ||
    skip "no S3 engine (eval \"\$(scripts/radosgw.sh start)\" first)"
command -v haproxy >/dev/null || skip "no haproxy (apt-get install haproxy)"

T=$(mktemp -d)
PIDS=()
export FT_HAPROXY_DIR=$T/haproxy FT_HAPROXY_PORT=0
# Every server started, by PID, then the balancer, then the folder.
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    "$REPO/scripts/haproxy.sh" stop || true
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
export HOME=$T XDG_CONFIG_HOME=$T/config
fail() {
    echo "FAIL: $*" >&2
    local f
    for f in a.log b.log haproxy/haproxy.log; do
        [ -f "$f" ] && sed "s|^|  $f: |" "$f" | tail -n 30 >&2
    done
    exit 1
}
wait_for() {
    local i
    for i in $(seq 300); do eval "$1" && return 0; sleep 0.05; done
    fail "timed out waiting for: $1"
}

# A fresh prefix of the bucket, so that runs never see each other's files.
PREFIX=frontends-$(date +%s)-$$-$RANDOM
STORE=s3://$FT_S3_BUCKET/$PREFIX
"$FT" id >/dev/null 2>&1
"$FT" id -i "$T/mallory.id" >/dev/null 2>&1
{
    echo "$("$FT" id | cut -d' ' -f1-2) name=alice"
} >clients

# serve NAME: ft serve on the bucket with the shared key and clients files;
# its port in PORT[NAME].
declare -A PORT
serve() {
    "$FT" serve --store "$STORE" --s3-endpoint "$FT_S3_ENDPOINT" \
        --key-file "$T/server.key" --clients "$T/clients" --port 0 2>"$1.log" &
    PIDS+=($!)
    wait_for "grep -q 'serving .* port [0-9]*\\|has no S3 store' $1.log"
    ! grep -q 'has no S3 store' "$1.log" || skip "this ft has no S3 store"
    PORT[$1]=$(grep -o 'serving .* port [0-9]*' "$1.log" | grep -o '[0-9]*$')
}
# The first server makes the key file; the second reads it.
serve a
serve b
key_a=$(grep -o 'server key b2:[^ ]*' a.log)
key_b=$(grep -o 'server key b2:[^ ]*' b.log)
[ "$key_a" = "$key_b" ] || fail "the two servers have different keys: $key_a, $key_b"
eval "$("$REPO/scripts/haproxy.sh" start "127.0.0.1:${PORT[a]}" "127.0.0.1:${PORT[b]}")"

lb() { "$FT" "$1" -q --port "$FT_HAPROXY_PORT" "${@:2}"; }
on() { "$FT" "$2" -q --port "${PORT[$1]}" "${@:3}"; }

# Published through the balancer: every later connection lists and serves
# it, whichever server it lands on (round robin: they alternate).
head -c 3000000 /dev/urandom >one
lb put one one
for i in 1 2 3 4; do
    lb ls | grep -q ' one$' || fail "listing $i through the balancer lacks 'one'"
    lb get one "one.$i"
    cmp -s one "one.$i" || fail "download $i through the balancer differs"
done
# -P 4 through the balancer: a server on S3 offers no stripes, so the
# connections the client opens early close unused wherever they land, and
# the transfer runs whole over its first.
lb put -P 4 one one.striped
lb get -P 4 one.striped one.s
cmp -s one one.s || fail "a striped transfer through the balancer differs"
lb rm one.striped
grep -q ' ft/s1 ' haproxy/haproxy.log && grep -q ' ft/s2 ' haproxy/haproxy.log ||
    fail "the balancer did not use both servers"
# One pin for the balancer's address, the servers' shared key: it held on
# both (a pin that did not would have failed the commands above).
pins=$(grep -c " $FT_HAPROXY_PORT " config/ft/known_hosts) || true
[ "$pins" = 1 ] || fail "$pins pins for the balancer"
grep -q " $FT_HAPROXY_PORT ${key_a#server key }$" config/ft/known_hosts ||
    fail "the pin is not the servers' key"
grep -q 'alice@127.0.0.1' a.log && grep -q 'alice@127.0.0.1' b.log ||
    fail "alice was not served by both servers"

# Each server on its own: what one writes, the other sees at once.
head -c 7000000 /dev/urandom >two
on a put two two
on b get two two.b
cmp -s two two.b || fail "b serves a's upload differently"
digest() { on "$1" stat "$2" | awk '$1 == "blake2b-256:" { print $2 }'; }
[ "$(digest b two)" = "$(b2sum -l 256 two | cut -d' ' -f1)" ] &&
    [ "$(digest a two)" = "$(digest b two)" ] ||
    fail "the servers report different digests for 'two'"
echo replaced >one.new
on b put one.new one
on a get one one.a
cmp -s one.new one.a || fail "a serves the old 'one' after b replaced it"
on a mkdir -p d/e
on b ls d | grep -q ' e/$' || fail "b does not list the folder a made"
on b mv two d/two
on a get d/two two.moved
cmp -s two two.moved || fail "a does not serve what b moved"
on a stat two >/dev/null 2>&1 && fail "a still has 'two' after b moved it"
on a rm -r d
on b ls | grep -q ' d/$' && fail "b still lists the folder a removed"
on b rm one
lb stat one >/dev/null 2>&1 && fail "'one' is still served after b removed it"

# The clients file is one file: a key it does not name is refused by both.
for s in a b; do
    on "$s" ls -i "$T/mallory.id" >/dev/null 2>&1 && fail "$s admitted a key not in the clients file"
done
grep -q 'refused' a.log && grep -q 'refused' b.log || fail "a refusal was not logged by both"
echo "two servers on $STORE behind haproxy: one store, one key, one clients file"
