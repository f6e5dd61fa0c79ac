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

readonly SELF=${0##*/}
REPO=$(cd "$(dirname "$0")/.." && pwd)
readonly REPO
readonly BUILD_DIR=${BUILD_DIR:-$REPO/build}
BUILT_FT=$BUILD_DIR/ft
BUILT_HASHPASS=$BUILD_DIR/ft-hashpass
readonly RUNS=${RUNS:-5}
readonly SIZE_ARG=${1:-1G}
readonly READY_TIMEOUT_S=10    # for a listener to say it listens
readonly CMD_TIMEOUT_S=900     # for any one timed command

say() { printf '%s: %s\n' "$SELF" "$*" >&2; }
die() { say "error: $*"; exit 1; }
# set -e stops at a failing command without a word: name it.
set -E
trap 'say "error: line $LINENO: \"$BASH_COMMAND\" failed (status $?)"' ERR

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
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"

# SIZE in bytes: digits and an optional K/M/G/T suffix (powers of 1024).
size_bytes() {
    local text=$1 digits unit shift=0
    [[ $text =~ ^([0-9]+)([kKmMgGtT]?)(i?B)?$ ]] || return 1
    digits=$((10#${BASH_REMATCH[1]}))
    unit=${BASH_REMATCH[2]}
    case $unit in
    k | K) shift=10 ;;
    m | M) shift=20 ;;
    g | G) shift=30 ;;
    t | T) shift=40 ;;
    esac
    ((digits > 0 && digits < (1 << (62 - shift)))) || return 1
    echo $((digits << shift))
}
BYTES=$(size_bytes "$SIZE_ARG") || die "SIZE must look like 64M or 1G, not '$SIZE_ARG'"
readonly BYTES

# ---- tools -----------------------------------------------------------------

is_root() { [[ $(id -u) -eq 0 ]]; }

APT_UPDATED=0
apt_install() {
    if ((APT_UPDATED == 0)); then
        say "running apt-get update"
        apt-get update -qq >&2
        APT_UPDATED=1
    fi
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

if [[ ! -x $BUILT_FT || ! -x $BUILT_HASHPASS ]]; then
    say "building ft and ft-hashpass in $BUILD_DIR"
    cmake -S "$REPO" -B "$BUILD_DIR" >&2
    cmake --build "$BUILD_DIR" -j2 --target ft ft-hashpass >&2
fi
[[ -x $BUILT_FT && -x $BUILT_HASHPASS ]] ||
    die "no $BUILT_FT or $BUILT_HASHPASS after the build"

# OpenBSD's nc: it has -N (shut down the socket at EOF) and -d; the
# traditional netcat has neither.
nc_is_openbsd() { command -v nc >/dev/null && nc -h 2>&1 | grep -q -- '-N'; }
if ! nc_is_openbsd; then
    if is_root; then
        apt_install netcat-openbsd
    fi
    nc_is_openbsd ||
        die "needs OpenBSD netcat (nc with -N): run 'apt-get install netcat-openbsd' as root"
fi

HAVE_TIME=1
if [[ ! -x /usr/bin/time ]]; then
    if is_root; then
        apt_install time
    fi
    if [[ ! -x /usr/bin/time ]]; then
        HAVE_TIME=0
        say "note: no /usr/bin/time (package 'time'): client peak RSS is not measured"
    fi
fi
for tool in timeout cmp awk sort head ps; do
    command -v "$tool" >/dev/null || die "needs '$tool' on PATH"
done

# ---- workspace and cleanup -------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-loopback.XXXXXX")
readonly WORK
BG_PIDS=()

# Ends a process and everything below it (a /usr/bin/time wrapper and its
# nc, say), children first so none is left orphaned and listening.
kill_tree() {
    local pid=$1 child
    # ps fails when there are no children: that is the usual case.
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null || true); do
        kill_tree "$child"
    done
    kill -TERM "$pid" 2>/dev/null || true
}

# Drops a pid that has been waited for from BG_PIDS.
forget_pid() {
    local keep=() p
    for p in "${BG_PIDS[@]}"; do
        [[ $p == "$1" ]] || keep+=("$p")
    done
    BG_PIDS=("${keep[@]}")
}

cleanup() {
    local status=$? pid
    trap - EXIT INT TERM ERR
    for pid in "${BG_PIDS[@]}"; do
        kill_tree "$pid"
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf -- "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Private copies of the binaries: a rebuild during the run (another shell
# in the same tree) must not mix a new client with the running server.
mkdir "$WORK/bin"
cp -- "$BUILT_FT" "$BUILT_HASHPASS" "$WORK/bin/"
readonly FT=$WORK/bin/ft
readonly HASHPASS=$WORK/bin/ft-hashpass
say "using $BUILT_FT ($("$FT" --version 2>&1 | head -n 1)), copied to $WORK/bin"
TREE=unknown
if command -v git >/dev/null && git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    TREE=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
fi
TREE+=", binary built $(date -r "$BUILT_FT" '+%F %T')"
# Where an encrypting client pins the keys of this run's servers.
mkdir "$WORK/config"
export XDG_CONFIG_HOME=$WORK/config
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
avail_kib=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
if ((avail_kib / 1024 < 5 * BYTES / 1048576 + 64)); then
    die "$WORK has $((avail_kib / 1024)) MiB free; a $SIZE_ARG run needs about $((5 * BYTES / 1048576)) MiB (set TMPDIR)"
fi

# Waits until file $1 has a line matching regex $2 while pid $3 lives;
# prints the line's last field. Bounded by READY_TIMEOUT_S.
await_line() {
    local file=$1 regex=$2 pid=$3 line deadline
    deadline=$((SECONDS + READY_TIMEOUT_S))
    while ((SECONDS <= deadline)); do
        line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
        if [[ -n $line ]]; then
            echo "${line##* }"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}

# ---- measuring -------------------------------------------------------------

# Runs a command, storing its wall time in ELAPSED (seconds) and, with
# /usr/bin/time, its peak RSS in KiB in RSS_KIB ("-" without).
# Returns the command's status.
ELAPSED=0
RSS_KIB=-
timed() {
    local t0 t1 status=0
    RSS_KIB=-
    t0=$EPOCHREALTIME
    if ((HAVE_TIME)); then
        timeout "$CMD_TIMEOUT_S" /usr/bin/time -f %M -o "$WORK/rss" "$@" || status=$?
    else
        timeout "$CMD_TIMEOUT_S" "$@" || status=$?
    fi
    t1=$EPOCHREALTIME
    ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    if ((HAVE_TIME && status == 0)); then
        RSS_KIB=$(tail -n 1 "$WORK/rss")
    fi
    return "$status"
}

# Results: per label, the times (one per line) and the largest client and
# server peak RSS seen.
declare -A TIMES CLIENT_RSS SERVER_RSS
LABELS=()
record() {
    local label=$1 secs=$2 crss=$3 srss=$4
    if [[ -z ${TIMES[$label]+set} ]]; then
        LABELS+=("$label")
        TIMES[$label]=
        CLIENT_RSS[$label]=-
        SERVER_RSS[$label]=-
    fi
    TIMES[$label]+="$secs"$'\n'
    CLIENT_RSS[$label]=$(max_or_dash "${CLIENT_RSS[$label]}" "$crss")
    SERVER_RSS[$label]=$(max_or_dash "${SERVER_RSS[$label]}" "$srss")
}
max_or_dash() {
    if [[ $1 == - ]]; then echo "$2"
    elif [[ $2 == - ]]; then echo "$1"
    elif (($1 >= $2)); then echo "$1"
    else echo "$2"; fi
}
# min and max of the numbers on stdin, as "MIN MAX".
min_max() {
    sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.6f %.6f\n", lo, hi }'
}
median() {
    sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) printf "%.6f", v[(NR + 1) / 2];
              else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

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

mkdir "$WORK/store" "$WORK/dl"
"$FT" serve --root "$WORK/store" -H 127.0.0.1 --port 0 "${SERVE_FLAGS[@]}" \
    2>"$WORK/server.log" &
SERVER_PID=$!
BG_PIDS+=("$SERVER_PID")
FT_PORT=$(await_line "$WORK/server.log" 'serving .* port [0-9]+' "$SERVER_PID") || {
    cat "$WORK/server.log" >&2
    die "the ft server did not report listening within ${READY_TIMEOUT_S}s"
}
say "ft server pid $SERVER_PID on 127.0.0.1 port $FT_PORT, store $WORK/store"

# The server's peak RSS is VmHWM in /proc. Writing 5 to clear_refs resets
# it (Linux >= 4.0), so each run can be charged its own peak; where that
# is refused, the figure is the peak of the whole session so far.
SERVER_HWM_RESETS=1
server_hwm_reset() {
    if ((SERVER_HWM_RESETS)) && ! { echo 5 >"/proc/$SERVER_PID/clear_refs"; } 2>/dev/null; then
        SERVER_HWM_RESETS=0
        say "note: cannot reset the server's VmHWM: its RSS column is the session's peak so far"
    fi
}
server_hwm() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo -
}
server_alive() {
    kill -0 "$SERVER_PID" 2>/dev/null || {
        cat "$WORK/server.log" >&2
        die "the ft server (pid $SERVER_PID) has died"
    }
}

# ---- one run of each -------------------------------------------------------

run_nc() {
    local out=$WORK/nc.out log=$WORK/nc.log rss=$WORK/nc.rss pid port t0 t1 status=0
    local srss=-
    rm -f -- "$out"
    # -d: the listener never reads its stdin; it exits once the sender has
    # shut its side down (-N) and the last byte is written to $out.
    if ((HAVE_TIME)); then
        timeout "$CMD_TIMEOUT_S" /usr/bin/time -f %M -o "$rss" \
            nc -d -v -l 127.0.0.1 0 >"$out" 2>"$log" &
    else
        timeout "$CMD_TIMEOUT_S" nc -d -v -l 127.0.0.1 0 >"$out" 2>"$log" &
    fi
    pid=$!
    BG_PIDS+=("$pid")
    port=$(await_line "$log" '^Listening on ' "$pid") || {
        cat "$log" >&2
        die "nc -l did not report listening within ${READY_TIMEOUT_S}s"
    }
    t0=$EPOCHREALTIME
    if ((HAVE_TIME)); then
        timeout "$CMD_TIMEOUT_S" /usr/bin/time -f %M -o "$WORK/rss" \
            nc -N 127.0.0.1 "$port" <"$SRC" || status=$?
    else
        timeout "$CMD_TIMEOUT_S" nc -N 127.0.0.1 "$port" <"$SRC" || status=$?
    fi
    # The copy is complete only when the listener has written it and exited.
    wait "$pid" || status=$?
    t1=$EPOCHREALTIME
    forget_pid "$pid"
    ((status == 0)) || { cat "$log" >&2; die "nc failed (status $status)"; }
    ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    RSS_KIB=-
    if ((HAVE_TIME)); then
        RSS_KIB=$(tail -n 1 "$WORK/rss")
        srss=$(grep -E '^[0-9]+$' "$rss" | tail -n 1 || echo -)
    fi
    check_same "nc copy" "$out" || true
    record "nc (raw copy)" "$ELAPSED" "$RSS_KIB" "$srss"
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
    server_alive
    server_hwm_reset
    if [[ $op == put ]]; then
        timed "$FT" put -H 127.0.0.1 -p "$FT_PORT" -q "${flags[@]}" "$SRC" bench.bin ||
            status=$?
    else
        rm -f -- "$WORK/dl/bench.bin"
        timed "$FT" get -H 127.0.0.1 -p "$FT_PORT" -q "${flags[@]}" bench.bin \
            "$WORK/dl/bench.bin" || status=$?
    fi
    ((status == 0)) || die "'ft $op ${flags[*]}' failed (status $status); server log: $WORK/server.log"
    record "$label" "$ELAPSED" "$RSS_KIB" "$(server_hwm)"
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
# A first untimed put gives the gets a file even if the puts were reordered.
if ! "$FT" put -H 127.0.0.1 -p "$FT_PORT" -q "$SRC" bench.bin 2>"$WORK/first-put.log"; then
    cat "$WORK/first-put.log" >&2
    die "the first (untimed) ft put failed"
fi
for ((round = 1; round <= RUNS; round++)); do
    run_nc
    run_hashpass
    for op in put get; do
        for channel in "${CHANNELS[@]}"; do
            run_ft "$op" "$channel" verify
            run_ft "$op" "$channel" noverify
        done
    done
    say "round $round/$RUNS done"
done
server_alive

# ---- the table -------------------------------------------------------------

nc_median=$(printf '%s' "${TIMES["nc (raw copy)"]}" | median)
hash_median=$(printf '%s' "${TIMES["ft-hashpass (BLAKE2b)"]}" | median)

printf '\n'
printf 'ft loopback benchmark: %s (%d bytes), %d runs each, 127.0.0.1, %s, %s CPUs\n' \
    "$SIZE_ARG" "$BYTES" "$RUNS" "$(uname -r)" "$(nproc)"
printf 'ft: %s, source tree %s; load average at the end: %s\n' \
    "$BUILT_FT" "$TREE" "$(cut -d ' ' -f 1-3 /proc/loadavg)"
printf '%-30s %9s %15s %8s %7s %7s %11s %11s\n' \
    what 'median s' '(min-max)' 'MB/s' '/ nc' '/ hash' 'client KiB' 'server KiB'
slow_rows=()
ceiling=$(awk -v a="$nc_median" -v b="$hash_median" 'BEGIN { print (a > b ? a : b) }')
for label in "${LABELS[@]}"; do
    m=$(printf '%s' "${TIMES[$label]}" | median)
    read -r lo hi < <(printf '%s' "${TIMES[$label]}" | min_max)
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
if ((SERVER_HWM_RESETS)); then
    echo "  the ft server's VmHWM was reset before each run, so it is that run's peak."
else
    echo "  the ft server's VmHWM could not be reset: it is the whole session's peak."
fi
echo "BLAKE2b-256 of the file: $HASH_DIGEST"
# The server logs every connection; show only what is not routine.
UNUSUAL='serving .* port [0-9]+|^server key |^warning: (no token|--allow-plaintext)'
UNUSUAL+='| connected$| disconnected after [0-9]+ ms$| ok$| channel '
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
