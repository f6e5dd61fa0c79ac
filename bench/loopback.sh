#!/usr/bin/env bash
# loopback.sh [SIZE] - how close ft comes to its two ceilings on 127.0.0.1.
#
# With a random file of SIZE (default 1G; suffixes K, M, G, T are powers of
# 1024) in a temporary directory, this times, RUNS times each (default 5):
#   - nc moving the file over loopback (the raw copy ceiling);
#   - ft-hashpass, one BLAKE2b-256 pass over the cached file (the hash ceiling);
#   - ft put and ft get through an ft server it starts on a temporary store,
#     with and without --no-verify, and, when the build encrypts by default,
#     with and without --plaintext;
# then prints the median seconds, MB/s, ratios to both ceilings and the peak
# RSS of client and server. Every copy that arrives is checked with cmp: a
# run that moved wrong bytes fails the benchmark (exit 1).
#
# Environment: RUNS (default 5), BUILD_DIR (default <repo>/build),
# TMPDIR (where the files go; needs about 5 x SIZE free).
# Server keys pinned by the clients go to a temporary XDG_CONFIG_HOME, never
# to ~/.config/ft/known_hosts.
# This measures, it asserts nothing about speed.
set -euo pipefail
# A tighter bound than lib.sh's default for any one timed command.
CMD_TIMEOUT_S=${CMD_TIMEOUT_S:-900}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

readonly RUNS=${RUNS:-5}
readonly SIZE_ARG=${1:-1G}

usage() {
    cat <<EOF
usage: $SELF [SIZE]      (default 1G; e.g. 64M, 1G; powers of 1024)
Times ft put/get (verified and --no-verify) against nc and one BLAKE2b pass
over 127.0.0.1. Environment: RUNS (default 5), BUILD_DIR, TMPDIR.
EOF
}

# ---- arguments -------------------------------------------------------------

case $SIZE_ARG in
-h | --help) usage; exit 0 ;;
esac
[[ $# -le 1 ]] || { usage >&2; exit 2; }
positive_ints RUNS
BYTES=$(size_bytes "$SIZE_ARG") || die "SIZE must look like 64M or 1G, not '$SIZE_ARG'"
PREFAULT_BYTES=$((BYTES + 64 * 1024 * 1024)) # every copy writes the file once
readonly BYTES

# ---- tools, workspace, binaries --------------------------------------------

need_basics
have nc_is_openbsd netcat-openbsd ||
    die "needs OpenBSD netcat (nc with -N): run 'apt-get install netcat-openbsd' as root"
make_work loopback
setup_ft
# Builds with encryption (the default there) offer --plaintext: time both.
if "$FT" put --help 2>&1 | grep -q -- '--plaintext'; then
    CHANNELS=(default plaintext)
    SERVE_FLAGS=(--allow-plaintext)
else
    CHANNELS=(default)
    SERVE_FLAGS=()
fi

# Roughly: the source, the store (plus the upload's temporary file), the nc
# copy and a download.
avail_kib=$(free_kib "$WORK")
if ((avail_kib / 1024 < 5 * BYTES / 1048576 + 64)); then
    die "$WORK has $((avail_kib / 1024)) MiB free; a $SIZE_ARG run needs about $((5 * BYTES / 1048576)) MiB (set TMPDIR)"
fi

FAILED=0
check_same() {
    local what=$1 copy=$2
    if ! cmp -s -- "$SRC" "$copy"; then
        say "WRONG BYTES: $what: $copy differs from the source"
        cmp -- "$SRC" "$copy" >&2 || true
        FAILED=1
        return 1
    fi
}

# ---- the file --------------------------------------------------------------

SRC=$WORK/src.bin
readonly SRC
say "writing $BYTES random bytes ($SIZE_ARG) to $SRC"
head -c "$BYTES" /dev/urandom >"$SRC"
[[ $(stat -c %s "$SRC") -eq $BYTES ]] || die "could not write $BYTES bytes to $SRC"
# Warm-up read: every measurement below starts with the file in page cache.
cat "$SRC" >/dev/null

# ---- the ft server ---------------------------------------------------------

mkdir "$WORK/dl"
start_ft_server "$WORK/store" "$WORK/server.log" -H 127.0.0.1 "${SERVE_FLAGS[@]}"
# The server's peak RSS is its VmHWM, reset before each run (hwm_reset) so
# that each run is charged its own peak; where that is refused, the figure is
# the peak of the whole session so far (HWM_RESETS=0).

# ---- one run of each -------------------------------------------------------

run_nc() {
    local out=$WORK/nc.out
    timed_nc "$SRC" "$out"
    check_same "nc copy" "$out" || true
    record "nc (raw copy)" "$ELAPSED" "$RSS_KIB" "$NC_LISTENER_KIB"
    rm -f -- "$out"
}

run_hashpass() {
    timed "$HASHPASS" "$SRC" >"$WORK/hashpass.out" || die "ft-hashpass failed"
    HASH_DIGEST=$(awk '{ print $1 }' "$WORK/hashpass.out")
    record "ft-hashpass (BLAKE2b)" "$ELAPSED" "$RSS_KIB" -
}

# run_ft put|get default|plaintext verify|noverify
run_ft() {
    local op=$1 channel=$2 mode=$3 label flags=() status=0
    label="ft $op"
    if [[ $channel == plaintext ]]; then
        flags+=(--plaintext)
        label+=" --plaintext"
    fi
    if [[ $mode == noverify ]]; then
        flags+=(--no-verify)
        label+=" --no-verify"
    fi
    ft_server_alive
    hwm_reset "$FT_SERVER_PID"
    if [[ $op == put ]]; then
        timed "$FT" put -H 127.0.0.1 -p "$FT_PORT" -q "${flags[@]}" "$SRC" bench.bin ||
            status=$?
    else
        rm -f -- "$WORK/dl/bench.bin"
        timed "$FT" get -H 127.0.0.1 -p "$FT_PORT" -q "${flags[@]}" bench.bin \
            "$WORK/dl/bench.bin" || status=$?
    fi
    ((status == 0)) || die "'ft $op ${flags[*]}' failed (status $status); server log: $WORK/server.log"
    record "$label" "$ELAPSED" "$RSS_KIB" "$(hwm "$FT_SERVER_PID")"
    if [[ $op == put ]]; then
        check_same "$label: stored copy" "$WORK/store/bench.bin" || true
    else
        check_same "$label: downloaded copy" "$WORK/dl/bench.bin" || true
        rm -f -- "$WORK/dl/bench.bin"
    fi
}

# ---- the runs --------------------------------------------------------------

say "$RUNS rounds of: nc, ft-hashpass, ft put and get with and without --no-verify${SERVE_FLAGS[*]:+, and --plaintext}"
# Rounds interleave the cases so that a noisy spell hits all of them alike.
# An untimed verified put before the gets leaves the file as ft put
# normally does, its digest recorded (the last timed put was --no-verify,
# which records none and would make the first get hash the file).
untimed_put() {
    if ! "$FT" put -H 127.0.0.1 -p "$FT_PORT" -q "$SRC" bench.bin 2>"$WORK/untimed-put.log"; then
        cat "$WORK/untimed-put.log" >&2
        die "an untimed ft put failed"
    fi
}
for ((round = 1; round <= RUNS; round++)); do
    run_nc
    run_hashpass
    for op in put get; do
        [[ $op == get ]] && untimed_put
        for channel in "${CHANNELS[@]}"; do
            run_ft "$op" "$channel" verify
            run_ft "$op" "$channel" noverify
        done
    done
    say "round $round/$RUNS done"
done
ft_server_alive

# ---- the table -------------------------------------------------------------

nc_median=$(key_median "nc (raw copy)")
hash_median=$(key_median "ft-hashpass (BLAKE2b)")

printf '\n'
printf 'ft loopback benchmark: %s (%d bytes), %d runs each, 127.0.0.1, %s, %s CPUs\n' \
    "$SIZE_ARG" "$BYTES" "$RUNS" "$(uname -r)" "$(nproc)"
printf 'ft: %s, source tree %s; load average at the end: %s\n' \
    "$BUILD_DIR/ft" "$TREE" "$(cut -d ' ' -f 1-3 /proc/loadavg)"
printf '%-30s %9s %15s %8s %7s %7s %11s %11s\n' \
    what 'median s' '(min-max)' 'MB/s' '/ nc' '/ hash' 'client KiB' 'server KiB'
slow_rows=()
ceiling=$(awk -v a="$nc_median" -v b="$hash_median" 'BEGIN { print (a > b ? a : b) }')
for label in "${KEYS[@]}"; do
    m=$(key_median "$label")
    read -r lo hi < <(key_min_max "$label" %.6f)
    awk -v l="$label" -v m="$m" -v lo="$lo" -v hi="$hi" -v b="$BYTES" \
        -v nc="$nc_median" -v h="$hash_median" \
        -v c="${CLIENT_RSS[$label]}" -v s="${SERVER_RSS[$label]}" 'BEGIN {
        printf "%-30s %9.3f %15s %8.1f %7.2f %7.2f %11s %11s\n", l, m,
               sprintf("(%.2f-%.2f)", lo, hi), b / 1e6 / m, m / nc, m / h, c, s }'
    if [[ $label == "ft "* && $label != *--no-verify* ]] &&
        awk -v m="$m" -v c="$ceiling" 'BEGIN { exit !(m > 2 * c) }'; then
        slow_rows+=("$label")
    fi
done
printf '\n'
if ((${#slow_rows[@]})); then
    printf 'verified ft rows over 2 x the slower ceiling (%.3f s):' "$ceiling"
    printf ' [%s]' "${slow_rows[@]}"
    printf '\n'
else
    printf 'no verified ft row is over 2 x the slower ceiling (%.3f s)\n' "$ceiling"
fi
cat <<EOF
median s: wall time, median of $RUNS; MB/s = 10^6 bytes per second.
ft rows: end-to-end BLAKE2b-256 check unless --no-verify; encrypted unless
  --plaintext (on builds that encrypt; a build without encryption has no
  --plaintext rows and sends in the clear).
(min-max): the fastest and the slowest run.
/ nc, / hash: median time over nc's and over ft-hashpass's (1.00 = at the ceiling).
nc: the listener is started first; its time runs from the sender's start to
  the listener's exit, i.e. until the last byte is written. No fsync.
ft put: includes the server's fsync and rename of the stored file.
client KiB: peak RSS from /usr/bin/time -f %M (for nc: the sender), largest over the runs.
server KiB: VmHWM of the ft server (for nc: the listener's peak RSS), largest over the runs;
EOF
if ((HWM_RESETS)); then
    echo "  the ft server's VmHWM was reset before each run, so it is that run's peak."
else
    echo "  the ft server's VmHWM could not be reset: it is the whole session's peak."
fi
echo "BLAKE2b-256 of the file: $HASH_DIGEST"
# The server logs every connection; show only what is not routine.
UNUSUAL='serving .* port [0-9]+|^server key |^warning: (no token|--allow-plaintext)'
UNUSUAL+='| connected$| disconnected after [0-9]+ ms$| ok$| answered: no such file$| channel '
channel=$(grep -m1 -o -E ' channel Noise_[A-Za-z0-9_]+' "$WORK/server.log" || true)
[[ -z $channel ]] || echo "encrypted rows used:${channel}"
if grep -v -E "$UNUSUAL" "$WORK/server.log" | grep -q .; then
    say "the ft server logged (routine lines left out):"
    grep -v -E "$UNUSUAL" "$WORK/server.log" | head -n 20 >&2
fi

if ((FAILED)); then
    say "FAILED: some copy differed from the source (see above); these numbers are void"
    exit 1
fi
say "all copies matched the source (cmp)"
