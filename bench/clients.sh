#!/usr/bin/env bash
# clients.sh - many ft clients at once on 127.0.0.1: for each count in
# COUNTS (default "1 8 64"), that many clients start together, each putting
# its own random file of FILE_SIZE (default 64M) and then getting it back
# (default ft: encrypted, verified). RUNS rounds (default 3), interleaved.
# It prints per count: the median wall time from the first start to the last
# exit, the aggregate MB/s (bytes moved both ways by all clients / wall
# time), that over one client's, the largest client peak RSS and the ft
# server's peak RSS (VmHWM, reset before each run). Every stored and every
# downloaded copy is compared with its source (cmp); failures are counted
# and shown, and make the run exit 1.
#
# Environment: RUNS (3), COUNTS ("1 8 64"), FILE_SIZE (64M; powers of 1024),
# FT_FLAGS (extra ft put/get options, e.g. "--plaintext"; the server allows
# plaintext), BUILD_DIR, TMPDIR (needs about 3.2 x largest count x
# FILE_SIZE free). This measures; it asserts nothing about speed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-3}
read -r -a COUNTS <<<"${COUNTS:-1 8 64}"
FILE_SIZE=${FILE_SIZE:-64M}
read -r -a EXTRA <<<"${FT_FLAGS:-}"
no_args_or_help "$@"
positive_ints RUNS
BYTES=$(size_bytes "$FILE_SIZE") || die "FILE_SIZE must look like 64M, not '$FILE_SIZE'"
MAXN=0
for n in "${COUNTS[@]}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "COUNTS must be positive integers, not '$n'"
    ((n <= MAXN)) || MAXN=$n
done

need_basics
make_work clients
setup_ft
need_mib=$((MAXN * BYTES * 32 / 10 / 1048576 + 256))
avail_mib=$(($(free_kib "$WORK") / 1024))
((avail_mib > need_mib)) ||
    die "$WORK has $avail_mib MiB free; $MAXN x $FILE_SIZE needs about $need_mib MiB: set TMPDIR, or lower FILE_SIZE (and say so)"

mkdir -p "$WORK/src" "$WORK/dl"
say "writing $MAXN random files of $BYTES bytes"
for ((i = 0; i < MAXN; i++)); do
    head -c "$BYTES" /dev/urandom >"$WORK/src/c$i"
done
# The server caps connections with --max-clients (64 by default): raise it
# when more clients than that are asked for.
start_ft_server "$WORK/store" "$WORK/ft-server.log" -H 127.0.0.1 --allow-plaintext \
    --max-clients "$((MAXN > 64 ? MAXN : 64))"

# one client: put its file, then get it back; a script of its own so that
# /usr/bin/time can wrap each ft command (and not charge bash's RSS to ft).
# (The single quotes are meant: these expand in the client script.)
# shellcheck disable=SC2016
{
    echo 'set -e'
    echo 'i=$1'
    for op in put get; do
        if [[ $op == put ]]; then args='"$WORK/src/c$i" "c$i"'; else args='"c$i" "$WORK/dl/c$i"'; fi
        wrap=
        ((HAVE_TIME == 0)) || wrap='/usr/bin/time -f %M -o "$WORK/rss.$i.'$op'"'
        printf 'WORK=%q\n' "$WORK"
        printf '%s %q %s -q -H 127.0.0.1 -p %q' "$wrap" "$FT" "$op" "$FT_PORT"
        ((${#EXTRA[@]} == 0)) || printf ' %q' "${EXTRA[@]}"
        printf ' %s\n' "$args"
    done
} >"$WORK/client.sh"
declare -A FAILS START_RSS
FAILED=0
run_count() {
    local n=$1 i pids=() fails=0 t0 t1 crss=0 r
    rm -f -- "$WORK"/dl/c* "$WORK"/rss.*
    cat "$WORK"/src/c* >/dev/null
    sync
    ft_server_alive
    # What the server holds before the run (memory kept from earlier runs
    # counts in its peak too: VmHWM restarts from the current RSS).
    r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$FT_SERVER_PID/status")
    START_RSS[$n]=$(max_or_dash "${START_RSS[$n]:--}" "$r")
    hwm_reset "$FT_SERVER_PID"
    t0=$EPOCHREALTIME
    for ((i = 0; i < n; i++)); do
        bash "$WORK/client.sh" "$i" 2>"$WORK/client.$i.log" &
        pids+=($!)
    done
    local ok=()
    for i in "${!pids[@]}"; do
        ok[i]=1
        if ! wait "${pids[i]}"; then
            ok[i]=0
            fails=$((fails + 1))
            say "client $i of $n failed: $(tail -n 2 "$WORK/client.$i.log" | tr '\n' ' ')"
        fi
    done
    t1=$EPOCHREALTIME
    for ((i = 0; i < n; i++)); do
        if ((ok[i])) && { ! cmp -s "$WORK/src/c$i" "$WORK/store/c$i" || ! cmp -s "$WORK/src/c$i" "$WORK/dl/c$i"; }; then
            fails=$((fails + 1))
            say "WRONG BYTES: client $i of $n: a copy differs from its source"
        fi
        for r in $(cat "$WORK/rss.$i".* 2>/dev/null | grep -E '^[0-9]+$' || true); do
            ((r <= crss)) || crss=$r
        done
    done
    ((crss > 0)) || crss=-
    FAILS[$n]=$((${FAILS[$n]:-0} + fails))
    ((fails == 0)) || FAILED=1
    record "$n" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')" "$crss" "$(hwm "$FT_SERVER_PID")"
}

START=$SECONDS
for ((round = 1; round <= RUNS; round++)); do
    for n in "${COUNTS[@]}"; do
        run_count "$n"
    done
    say "round $round/$RUNS done ($((SECONDS - START)) s)"
done

channel=plaintext
[[ " ${EXTRA[*]} " == *" --plaintext "* ]] ||
    channel=$(grep -m1 -o -E 'channel Noise_[A-Za-z0-9_]+' "$WORK/ft-server.log" | awk '{ print $2 }' || echo encrypted)
printf '\nft clients: each client puts then gets its own %s file (%d bytes); %d runs each, 127.0.0.1\n' \
    "$FILE_SIZE" "$BYTES" "$RUNS"
printf 'ft %s %s; %s\n' "${EXTRA[*]:-(default options)}" "$TREE" "$(machine_line)"
printf '%-8s %9s %17s %10s %10s %9s %11s %11s %11s\n' clients 'median s' '(min-max)' 'agg MB/s' 'x 1 client' failures 'client KiB' 'server KiB' 'srv before'
one=-
for n in "${KEYS[@]}"; do
    m=$(key_median "$n")
    read -r lo hi < <(key_min_max "$n")
    agg=$(awk -v n="$n" -v b="$BYTES" -v m="$m" 'BEGIN { printf "%.1f", 2 * n * b / 1e6 / m }')
    [[ $one != - ]] || [[ $n != 1 ]] || one=$agg
    printf '%-8s %9.3f %17s %10s %10s %9s %11s %11s %11s\n' "$n" "$m" "($lo-$hi)" "$agg" \
        "$(ratio "$agg" "$one")" "${FAILS[$n]}" "${CLIENT_RSS[$n]}" "${SERVER_RSS[$n]}" "${START_RSS[$n]}"
done
cat <<EOF

median s: from the first client's start to the last one's exit, median of $RUNS.
agg MB/s: 2 x clients x $BYTES bytes (each file goes up and comes back) / median s,
  10^6 bytes per second. x 1 client: over the aggregate of the 1-client row.
channel: $channel; every transfer verified (BLAKE2b-256) unless FT_FLAGS says --no-verify;
  every put is fsynced by the server.
client KiB: the largest peak RSS of any one client (put and get) in any run.
server KiB: VmHWM of the one ft server process, reset before each run,
  largest over the runs. srv before: the server's VmRSS just before a run
  (largest over the runs): the reset peak cannot fall below it.
failures: clients whose put or get failed (their time still counts).
EOF
if ((FAILED)); then
    say "FAILED: some client failed or moved wrong bytes (see above)"
    exit 1
fi
say "every client succeeded and every copy matched its source (cmp)"
