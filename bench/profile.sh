#!/usr/bin/env bash
# profile.sh [SIZE] - where ft's time goes, on 127.0.0.1, for the figures in
# docs/PERFORMANCE.md. With a random file of SIZE (default 64M) and an ft
# server on a temporary store, for each case (ft put / get default,
# --plaintext, --plaintext --no-verify, -z, --cipher chacha20-poly1305, and
# put -r / get -r of 1,000 files of 4 KiB in 10 folders) it times the client
# once, then runs it again under 'perf record -e cpu-clock -g' while a second
# perf records the server, and prints the wall time, each side's CPU time
# and the symbols with 3% or more of each side's samples (self time).
# Then it times the server's fsync calls during a put of SIZE (strace -T,
# seccomp-filtered so only fsync stops) and a 'dd conv=fsync' of the file to
# the same disk, with and without the fsync.
# cpu-clock, not cycles: virtual machines often have no hardware counters.
# Environment: BUILD_DIR, TMPDIR, CASES (default: all, as OP:VARIANT).
# Root (or perf_event_paranoid <= 1) lets perf see the server.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SIZE_ARG=${1:-64M}
help_if_asked "$@"
BYTES=$(size_bytes "$SIZE_ARG") || die "SIZE must look like 64M, not '$SIZE_ARG'"
read -r -a CASES <<<"${CASES:-put:default get:default put:plaintext get:plaintext get:plain-noverify put:z get:z put:chacha get:chacha put:tree get:tree}"
have "command -v perf" linux-perf || die "needs perf (apt-get install linux-perf)"
need_basics
make_work profile
setup_ft
SRC=$WORK/src.bin
head -c "$BYTES" /dev/urandom >"$SRC"
cat "$SRC" >/dev/null
start_ft_server "$WORK/store" "$WORK/ft-server.log" -H 127.0.0.1 --allow-plaintext
"$FT" put -q -H 127.0.0.1 -p "$FT_PORT" "$SRC" bench.bin
for ((d = 0; d < 10; d++)); do
    mkdir -p "$WORK/tree/d$d"
    head -c $((100 * 4096)) /dev/urandom | (cd "$WORK/tree/d$d" && split -b 4096 -a 3 -d - f)
done
"$FT" put -q -r -H 127.0.0.1 -p "$FT_PORT" "$WORK/tree" tree

flags_of() {
    case $1 in
    default) FLAGS=() ;;
    plaintext) FLAGS=(--plaintext) ;;
    plain-noverify) FLAGS=(--plaintext --no-verify) ;;
    z) FLAGS=(-z) ;;
    chacha) FLAGS=(--cipher chacha20-poly1305) ;;
    tree) FLAGS=(-r) ;;
    esac
}
top_symbols() {
    perf report -i "$1" --no-children --sort dso,symbol --stdio -q --percent-limit 3 2>/dev/null |
        grep -E '^ +[0-9.]+%' | sed 's/^ */    /' | head -n 10
}
# CPU seconds in a recording: cpu-clock samples carry their period in ns.
task_clock() {
    perf script -i "$1" -F period 2>/dev/null | awk '{ s += $1 } END { printf "%.3f", s / 1e9 }'
}

# client_cmd CASE: the client command of a case, in CMD.
client_cmd() {
    local c=$1 op=${1%%:*}
    CMD=("$FT" "$op" -q -H 127.0.0.1 -p "$FT_PORT" "${FLAGS[@]}")
    case $c in
    put:tree) CMD+=("$WORK/tree" "tree$SEQ") ;;
    get:tree) CMD+=(tree "$WORK/dl.tree$SEQ") ;;
    put:*) CMD+=("$SRC" bench.bin) ;;
    get:*) CMD+=(bench.bin "$WORK/dl.bin") ;;
    esac
}
# A fresh target name for every run, nothing deleted: ext4 skips inodes
# freed in the last 30 s when it allocates, which would slow the tree cases.
SEQ=0
fresh_target() {
    SEQ=$((SEQ + 1))
    rm -f "$WORK/dl.bin"
    mkdir "$WORK/dl.tree$SEQ"
    client_cmd "$c"
}

for c in "${CASES[@]}"; do
    op=${c%%:*}
    flags_of "${c#*:}"
    client_cmd "$c"
    # The wall time from a run without perf (perf's start and its writing of
    # the samples add about a second), the profile from a second run.
    fresh_target
    timed "${CMD[@]}" || die "${CMD[*]} failed"
    wall=$ELAPSED
    fresh_target
    perf record -q --no-buildid -e cpu-clock -F 1000 -g -p "$FT_SERVER_PID" -o "$WORK/server.data" 2>/dev/null &
    rec=$!
    sleep 0.5
    perf record -q --no-buildid -e cpu-clock -F 1000 -g -o "$WORK/client.data" -- "${CMD[@]}" ||
        die "${CMD[*]} failed under perf"
    kill -INT "$rec"
    wait "$rec" || true
    what=$SIZE_ARG
    [[ ${c#*:} != tree ]] || what="1,000 files of 4 KiB"
    printf '\nft %s %s (%s): wall %.3f s; client CPU %s s, server CPU %s s\n' "$op" "${FLAGS[*]:-(default)}" \
        "$what" "$wall" "$(task_clock "$WORK/client.data")" "$(task_clock "$WORK/server.data")"
    echo "  client (self %, dso, symbol):"
    top_symbols "$WORK/client.data"
    echo "  server:"
    top_symbols "$WORK/server.data"
done

if command -v strace >/dev/null; then
    strace -f -T -e trace=fsync,fdatasync --seccomp-bpf -p "$FT_SERVER_PID" -o "$WORK/strace.out" 2>/dev/null &
    st=$!
    sleep 0.5
    timed "$FT" put -q -H 127.0.0.1 -p "$FT_PORT" "$SRC" bench.bin
    sleep 0.3
    kill -INT "$st"
    wait "$st" || true
    printf '\nft put (default) %s: wall %.3f s; server fsync calls (seconds each): %s\n' "$SIZE_ARG" "$ELAPSED" \
        "$(grep -o '<[0-9.]*>' "$WORK/strace.out" | tr -d '<>' | tr '\n' ' ')"
fi
sync
timed dd if="$SRC" of="$WORK/dd.out" bs=4M conv=fsync status=none
printf 'dd of the file to the same disk with conv=fsync: %.3f s (%.0f MB/s)\n' "$ELAPSED" \
    "$(awk -v b="$BYTES" -v t="$ELAPSED" 'BEGIN { print b / 1e6 / t }')"
rm -f "$WORK/dd.out"
sync
timed dd if="$SRC" of="$WORK/dd.out" bs=4M status=none
printf 'dd of the file without fsync (page cache only): %.3f s\n' "$ELAPSED"
printf '%s\n' "$(machine_line)"
