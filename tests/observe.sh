#!/usr/bin/env bash
# observe.sh - what an operator watches a server with and reacts through,
# each checked through `ft serve` as the README shows it: hooks (no name
# can inject a command, none delays a client's answer, a few run at a
# time, their exit status logged), the metrics port scraped with curl,
# --log-format json lines parsed, and ft serve --scrub finding a byte
# flipped behind ft's back. Usage: observe.sh PATH/TO/ft
set -euo pipefail
FT=$(realpath "$1")
T=$(mktemp -d)
SERVER_PID=
# The server still running (a failed check), then the test's folder.
trap '[ -z "$SERVER_PID" ] || stop; rm -rf "$T"' EXIT
cd "$T"
export HOME=$T XDG_CONFIG_HOME=$T/config
fail() { echo "FAIL: $*" >&2; [ -f serve.log ] && sed 's/^/  log: /' serve.log >&2; exit 1; }
# Waits (bounded: 15 s) until the shell condition holds, evaluated anew
# each time.
wait_for() {
    local i
    for i in $(seq 300); do eval "$1" && return 0; sleep 0.05; done
    fail "timed out waiting for: $1"
}
count() { local n; n=$(grep -c -- "$1" "$2" 2>/dev/null) || true; echo "${n:-0}"; }
# Starts ft serve on store/ with the arguments given; sets PORT (and
# METRICS_PORT when --metrics is among them).
serve() {
    : >serve.log
    "$FT" serve --root store --port 0 "$@" 2>serve.log &
    SERVER_PID=$!
    wait_for "grep -q 'serving store on' serve.log"
    PORT=$(grep -o 'serving store on [^ ]* port [0-9]*' serve.log | grep -o '[0-9]*$')
    METRICS_PORT=$(grep -o 'metrics on [^ ]* port [0-9]*' serve.log | grep -o '[0-9]*$' || true)
}
stop() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
ft() { "$FT" "$1" -q -p "$PORT" "${@:2}"; }

# ------------------------------------------------------------------ hooks
mkdir rec
cat >hook <<HOOK
#!/bin/sh
# Records its arguments and environment, one file per run.
out=$T/rec/\$\$
{ echo "argc=\$#"; echo "arg=\$1"; env | sort; } >"\$out"
case "\$FT_NAME" in
slow*)
    echo "start \$FT_NAME" >>$T/events
    i=0
    while [ ! -e $T/release ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i + 1)); done
    echo "end \$FT_NAME" >>$T/events ;;
fail) exit 3 ;;
esac
exit 0
HOOK
chmod +x hook
serve --on-upload ./hook --on-delete ./hook
names=('a;touch INJECTED' '$(touch INJECTED2)' '`touch INJECTED3`' '-n' "it's \"q\" | x")
for n in "${names[@]}"; do
    printf 'content of %s\n' "$n" >"local-$n"
    ft put -- "local-$n" "$n"
done
head -c 100000 /dev/urandom >big
ft put big
ft rm big
wait_for 'test "$(count "exited with status" serve.log)" -ge 7'
[ -z "$(find "$T" / -maxdepth 1 -name 'INJECTED*' 2>/dev/null)" ] || fail "a name ran a command"
[ -z "$(find "$T" -name 'INJECTED*')" ] || fail "a name ran a command"
[ "$(count "exited with status 0" serve.log)" = 7 ] || fail "a hook failed"
for n in "${names[@]}"; do
    rec=$(grep -lxF -- "FT_NAME=$n" rec/*) || fail "no hook record for '$n'"
    [ "$(echo "$rec" | wc -l)" = 1 ] || fail "more than one record for '$n'"
    grep -qxF "argc=1" "$rec" || fail "'$n': not one argument"
    grep -qxF -- "arg=$n" "$rec" || fail "'$n': its argument is not the name"
    grep -qxF "FT_EVENT=upload" "$rec" || fail "'$n': FT_EVENT"
    grep -qxF "FT_SIZE=$(stat -c %s "local-$n")" "$rec" || fail "'$n': FT_SIZE"
    grep -qxF "FT_DIGEST=$(b2sum -l 256 "local-$n" | cut -d' ' -f1)" "$rec" ||
        fail "'$n': FT_DIGEST"
    grep -q "^FT_CLIENT=b2:.*@127.0.0.1:[0-9]*$" "$rec" || fail "'$n': FT_CLIENT"
    # A minimal environment: nothing of the server's own.
    ! grep -q "^HOME=\|^XDG_CONFIG_HOME=" "$rec" || fail "'$n': the server's environment leaked"
done
del=$(grep -lxF "FT_EVENT=delete" rec/*) || fail "no on-delete record"
grep -qxF "arg=big" "$del" && grep -qxF "FT_SIZE=100000" "$del" && grep -qxF "FT_DIGEST=" "$del" ||
    fail "on-delete's record"
# Every path that publishes tells the hook: pipelined uploads (several
# small files), and a file striped over 3 connections.
printf 1 >p1; printf 22 >p2
ft put p1 p2 multi/
head -c 12000000 /dev/urandom >striped
ft put -P 3 striped
wait_for 'grep -q "put striped 12000000 bytes .* ok" serve.log'
grep -q " join - " serve.log || fail "the striped upload used one connection"
for f in multi/p1 multi/p2 striped; do
    wait_for "grep -qxF 'FT_NAME=$f' rec/*"
    rec=$(grep -lxF "FT_NAME=$f" rec/*)
    grep -qxF "FT_DIGEST=$(b2sum -l 256 "${f#multi/}" | cut -d' ' -f1)" "$rec" ||
        fail "'$f': FT_DIGEST"
done
# Its exit status is logged.
echo x >fail-local
ft put fail-local fail
wait_for "grep -q \"hook on-upload 'fail' (pid [0-9]*) exited with status 3\" serve.log"
# The answer does not wait for the hook: the put returns while the hook,
# which ends only once release exists, has not ended.
echo slow >slow-local
ft put slow-local slow0
[ "$(count '^end slow0' events)" = 0 ] || fail "the put waited for its hook"
touch release
wait_for "grep -q '^end slow0' events"
wait_for "grep -q \"hook on-upload 'slow0' (pid [0-9]*) exited with status 0\" serve.log"
rm release
# At most 4 run at once: 6 uploads, 4 hooks start, 2 wait for a place.
for i in 1 2 3 4 5 6; do ft put slow-local "slow$i"; done
wait_for 'test "$(count "queued: " serve.log)" -ge 2'
wait_for 'test "$(count "^start slow[1-6]" events)" -ge 4'
[ "$(count '^start slow[1-6]' events)" = 4 ] || fail "more than 4 hooks at once"
touch release
wait_for 'test "$(count "^end slow[1-6]" events)" = 6'
awk '/^start/ { n++; if (n > max) max = n } /^end/ { n-- } END { exit max > 4 }' events ||
    fail "more than 4 hooks ran at once"
stop
echo "hooks: names as data, minimal environment, answers first, 4 at a time, status logged"

# ---------------------------------------------------------------- metrics
rm -rf store
serve --metrics 127.0.0.1:0
[ -n "$METRICS_PORT" ] || fail "no metrics port in the log"
scrape() { curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >scrape.txt; }
value() { awk -v k="$1" '$1 == k { print $2 }' scrape.txt; }
scrape
[ "$(value ft_connections_total)" = 0 ] || fail "connections before any"
head -c 300000 /dev/urandom >m
ft put m
ft get m m.back
ft ls >/dev/null
ft stat nothing-here >/dev/null 2>&1 && fail "stat of nothing succeeded"
ft get nothing-here gone 2>/dev/null && fail "get of nothing succeeded"
# A stranger that does not speak ft.
exec 3<>/dev/tcp/127.0.0.1/"$PORT"
printf 'GET / HTTP/1.0\r\n\r\n' >&3
cat <&3 >/dev/null || true
exec 3<&-
wait_for 'test "$(count "disconnected after" serve.log)" -ge 6'
scrape
grep -q '^# TYPE ft_request_duration_seconds histogram$' scrape.txt || fail "no histogram"
for want in 'ft_connections_total 6' 'ft_handshake_failures_total 1' \
    'ft_connections_refused_total{cause="handshake"} 1' \
    'ft_transfers_total{op="put",result="ok"} 1' 'ft_transfers_total{op="get",result="ok"} 1' \
    'ft_transfers_total{op="ls",result="ok"} 1' 'ft_transfers_total{op="stat",result="not_found"} 1' \
    'ft_transfers_total{op="get",result="not_found"} 1' \
    'ft_request_duration_seconds_count{op="put"} 1' \
    'ft_request_duration_seconds_bucket{op="put",le="+Inf"} 1' 'ft_partial_uploads 0'; do
    grep -qxF "$want" scrape.txt || { cat scrape.txt >&2; fail "no '$want' in the scrape"; }
done
[ "$(value ft_bytes_received_total)" -gt 300000 ] || fail "bytes received"
[ "$(value ft_bytes_sent_total)" -gt 300000 ] || fail "bytes sent"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/")" = 404 ] ||
    fail "/ is not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$METRICS_PORT/metrics")" = 405 ] ||
    fail "POST is not 405"
curl -sfI "http://127.0.0.1:$METRICS_PORT/metrics" | grep -qi '^content-type: text/plain; version=0.0.4' ||
    fail "content type"
stop
echo "metrics: counts after put, get, ls, stat and a stranger; 404, 405"

# -------------------------------------------------------------- JSON log
rm -rf store
serve --log-format json
hostile=$'q"uote\\back\xff\xfe \xe2\x80\xae'
echo hostile >h
ft put h "$hostile"
ft stat "$hostile" >/dev/null
stop
python3 - serve.log "$hostile" <<'PY' || fail "the JSON log"
import json, sys
lines = open(sys.argv[1], 'rb').read().split(b'\n')[:-1]
objs = [json.loads(l) for l in lines]          # every line parses
assert all(set(o) >= {'time', 'level', 'msg'} for o in objs), objs
assert all(0x20 <= b < 0x7f or b >= 0x80 for l in lines for b in l), 'a raw control byte'
puts = [o for o in objs if o.get('op') == 'put']
assert len(puts) == 1, puts
p = puts[0]
assert set(p) >= {'client', 'op', 'name', 'bytes', 'ms', 'result'}, p
assert p['result'] == 'ok' and p['bytes'] == 8, p
# The name as the text log quotes it (ft_name_quote): \x.. for backslash
# and bytes that are not UTF-8, the rest as it is.
assert p['name'] == 'q"uote\\x5cback\\xff\\xfe \u202e', repr(p['name'])
PY
echo "json log: every line parses, the hostile name escaped"

# ------------------------------------------------------------------ scrub
rm -rf store
serve
head -c 200000 /dev/urandom >A
head -c 200000 /dev/urandom >B
echo small >C
ft put A docs/A
ft put B B
ft put C C
# Beside the running server, which holds the store's lock. It changes
# nothing, not even the access time (which relatime would set, the file
# being read after its last change).
touch -a -d 2001-01-01 store/docs/A
atime=$(stat -c %X store/docs/A)
"$FT" serve --scrub store >scrub.txt || fail "a healthy store: exit $?"
[ "$(stat -c %X store/docs/A)" = "$atime" ] || fail "the scrub changed an access time"
grep -q '^scrub: 3 files, 2 checked (400000 bytes read), 0 do not match, 0 changed' scrub.txt ||
    fail "healthy: $(cat scrub.txt)"
[ "$(wc -l <scrub.txt)" = 1 ] || fail "findings on a healthy store: $(cat scrub.txt)"
# One byte flipped behind ft's back, size and mtime kept (touch -r sets
# them back with utimensat, to the nanosecond).
touch -r store/docs/A stamp
printf '\x00' | dd of=store/docs/A bs=1 seek=1234 conv=notrunc status=none
cmp -s A store/docs/A && printf '\x01' | dd of=store/docs/A bs=1 seek=1234 conv=notrunc status=none
touch -r stamp store/docs/A
# And one changed since its record: not rot, told apart.
echo more >>store/B
rc=0
"$FT" serve --scrub store >scrub.txt || rc=$?
[ "$rc" = 6 ] || fail "the flipped byte: exit $rc: $(cat scrub.txt)"
grep -q "^mismatch docs/A: its content no longer matches" scrub.txt || fail "no mismatch: $(cat scrub.txt)"
grep -q "^changed B: changed since its digest was recorded" scrub.txt || fail "no changed: $(cat scrub.txt)"
[ "$(grep -c '^mismatch\|^changed' scrub.txt)" = 2 ] || fail "other findings: $(cat scrub.txt)"
rc=0
"$FT" serve --scrub --json store >scrub.json || rc=$?
[ "$rc" = 6 ] || fail "--json: exit $rc"
python3 - scrub.json "$(b2sum -l 256 A | cut -d' ' -f1)" <<'PY' || fail "scrub --json: $(cat scrub.json)"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
kinds = sorted((o['type'], o.get('name')) for o in objs)
assert kinds == [('changed', 'B'), ('mismatch', 'docs/A'), ('summary', None)], kinds
m = [o for o in objs if o['type'] == 'mismatch'][0]
assert m['recorded'] == sys.argv[2] and m['actual'] != m['recorded'] and m['size'] == 200000, m
s = objs[-1]
assert s['type'] == 'summary' and s['mismatched'] == 1 and s['changed'] == 1 and s['checked'] == 1, s
PY
stop
echo "scrub: a healthy store passes, a flipped byte is found, a changed file told apart"
