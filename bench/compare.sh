#!/usr/bin/env bash
# compare.sh [SIZE] - ft beside nc, BLAKE2b, rsync, scp, sftp and curl on
# 127.0.0.1, with one random file of SIZE (default 1G; K/M/G/T = powers of
# 1024).
#
# Each case runs RUNS times (default 5); rounds interleave the cases so a
# noisy spell hits them all. Cases:
#   nc            raw copy to an 'nc -l' (netcat-openbsd); the clock stops
#                 when the listener has written the last byte and exited
#   ft-hashpass   one BLAKE2b-256 pass over the cached file
#   ft put/get    default (encrypted, verified); --plaintext (server has
#                 --allow-plaintext); --plaintext --no-verify; -z;
#                 --cipher chacha20-poly1305; --cipher aes-256-gcm
#   rsync         push to / pull from an rsync daemon on a loopback port
#   scp, sftp     to a private sshd on a loopback port (own host key, own
#                 client key, own config; sftp in batch mode)
#   curl          download from nginx on a loopback port
# It prints per case: median seconds (fastest-slowest), MB/s (10^6 B/s), the
# ratio of the median time to nc's and to ft default's in the same direction,
# and the peak RSS of each side (see the notes printed under the table).
#
# Peers come from Debian packages (rsync, openssh-server, openssh-client,
# nginx-light, curl, netcat-openbsd, time); as root the script installs what
# is missing, otherwise it skips that peer and says so. Every process it
# starts is ended and its temporary directory removed on exit.
#
# Environment: RUNS (default 5), BUILD_DIR (default <repo>/build), TMPDIR
# (needs about 6 x SIZE free). This measures; it asserts nothing about speed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-5}
SIZE_ARG=${1:-1G}
help_if_asked "$@"
[[ $# -le 1 ]] || die "usage: $SELF [SIZE]"
positive_ints RUNS
BYTES=$(size_bytes "$SIZE_ARG") || die "SIZE must look like 64M or 1G, not '$SIZE_ARG'"
PREFAULT_BYTES=$((BYTES + 64 * 1024 * 1024)) # every copy writes the file once

need_basics
have nc_is_openbsd netcat-openbsd ||
    die "needs OpenBSD netcat (nc with -N): apt-get install netcat-openbsd"

make_work compare
setup_ft
avail=$(free_kib "$WORK")
((avail / 1024 > 6 * BYTES / 1048576 + 256)) ||
    die "$WORK has $((avail / 1024)) MiB free; SIZE $SIZE_ARG needs about $((6 * BYTES / 1048576)) MiB (set TMPDIR)"

SRC=$WORK/src.bin
PEER=$WORK/peer     # the folder rsyncd and nginx serve; scp/sftp write here too
DL=$WORK/dl
mkdir -p "$PEER" "$DL"
say "writing $BYTES random bytes to $SRC"
head -c "$BYTES" /dev/urandom >"$SRC"
[[ $(stat -c %s "$SRC") -eq $BYTES ]] || die "could not write $BYTES bytes to $SRC"
# What the peers serve for downloads: a hard link to the source (same pages).
ln "$SRC" "$PEER/pull.bin"
cat "$SRC" >/dev/null

# ---- peers -------------------------------------------------------------------

start_ft_server "$WORK/store" "$WORK/ft-server.log" -H 127.0.0.1 --allow-plaintext
HAVE_RSYNC=0 HAVE_SSH=0 HAVE_NGINX=0
start_rsyncd "$PEER" 127.0.0.1 && HAVE_RSYNC=1
start_sshd && HAVE_SSH=1
start_nginx "$PEER" && HAVE_NGINX=1

FAILED=0
check_same() {
    if ! cmp -s -- "$SRC" "$2"; then
        say "WRONG BYTES: $1: $2 differs from the source"
        FAILED=1
    fi
}
# DIR[key]: put or get, TOOL[key]: the tool column.
declare -A DIR TOOL
row() { # row KEY TOOL DIR SECONDS CLIENT_KIB SERVER_KIB
    DIR[$1]=$3
    TOOL[$1]=$2
    record "$1" "$4" "$5" "$6"
}

# ---- cases -------------------------------------------------------------------

run_nc() {
    local out=$WORK/nc.out
    timed_nc "$SRC" "$out"
    check_same "nc" "$out"
    row "nc" "nc (raw copy)" "-" "$ELAPSED" "$RSS_KIB" "$NC_LISTENER_KIB"
    rm -f -- "$out"
}

run_hashpass() {
    timed "$HASHPASS" "$SRC" >"$WORK/hashpass.out" || die "ft-hashpass failed"
    row "hash" "ft-hashpass (BLAKE2b)" "-" "$ELAPSED" "$RSS_KIB" -
}

# run_ft put|get VARIANT
ft_flags() {
    case $1 in
    default) FLAGS=() ;;
    plaintext) FLAGS=(--plaintext) ;;
    plain-noverify) FLAGS=(--plaintext --no-verify) ;;
    z) FLAGS=(-z) ;;
    chacha) FLAGS=(--cipher chacha20-poly1305) ;;
    aes) FLAGS=(--cipher aes-256-gcm) ;;
    esac
}
FT_VARIANTS=(default plaintext plain-noverify z chacha aes)
run_ft() {
    local op=$1 variant=$2 status=0 name
    ft_flags "$variant"
    name="ft ${FLAGS[*]}"
    name=${name% }
    [[ $variant != default ]] || name="ft (default: encrypted)"
    ft_server_alive
    hwm_reset "$FT_SERVER_PID"
    if [[ $op == put ]]; then
        timed "$FT" put -H 127.0.0.1 -p "$FT_PORT" -q "${FLAGS[@]}" "$SRC" bench.bin || status=$?
    else
        rm -f -- "$DL/ft.bin"
        timed "$FT" get -H 127.0.0.1 -p "$FT_PORT" -q "${FLAGS[@]}" bench.bin "$DL/ft.bin" || status=$?
    fi
    ((status == 0)) || die "ft $op ${FLAGS[*]} failed (status $status); server log $WORK/ft-server.log"
    row "ft $op $variant" "$name" "$op" "$ELAPSED" "$RSS_KIB" "$(hwm "$FT_SERVER_PID")"
    if [[ $op == put ]]; then
        check_same "$name put" "$WORK/store/bench.bin"
    else
        check_same "$name get" "$DL/ft.bin"
        rm -f -- "$DL/ft.bin"
    fi
}

run_rsync() {
    local op=$1 srss status=0
    tree_poll_start "$RSYNCD_PID" "$WORK/poll"
    if [[ $op == put ]]; then
        rm -f -- "$PEER/push.bin"
        timed rsync "$SRC" "rsync://127.0.0.1:$RSYNC_PORT/mod/push.bin" || status=$?
    else
        rm -f -- "$DL/rsync.bin"
        timed rsync "rsync://127.0.0.1:$RSYNC_PORT/mod/pull.bin" "$DL/rsync.bin" || status=$?
    fi
    srss=$(tree_poll_stop "$WORK/poll")
    ((status == 0)) || die "rsync $op failed (status $status); log $WORK/rsyncd.log"
    row "rsync $op" "rsync (daemon)" "$op" "$ELAPSED" "$RSS_KIB" "$srss"
    if [[ $op == put ]]; then
        check_same "rsync push" "$PEER/push.bin"
        rm -f -- "$PEER/push.bin"
    else
        check_same "rsync pull" "$DL/rsync.bin"
        rm -f -- "$DL/rsync.bin"
    fi
}

# run_ssh scp|sftp put|get
run_ssh() {
    local tool=$1 op=$2 srss status=0 remote=$SSH_USER@127.0.0.1
    rm -f -- "$PEER/push.bin" "$DL/ssh.bin"
    tree_poll_start "$SSHD_PID" "$WORK/poll"
    if [[ $tool == scp ]]; then
        if [[ $op == put ]]; then
            timed scp -q "${SSH_OPTS[@]}" -P "$SSH_PORT" "$SRC" "$remote:$PEER/push.bin" || status=$?
        else
            timed scp -q "${SSH_OPTS[@]}" -P "$SSH_PORT" "$remote:$PEER/pull.bin" "$DL/ssh.bin" || status=$?
        fi
    else
        if [[ $op == put ]]; then
            printf 'put %s %s\n' "$SRC" "$PEER/push.bin" >"$WORK/sftp.batch"
        else
            printf 'get %s %s\n' "$PEER/pull.bin" "$DL/ssh.bin" >"$WORK/sftp.batch"
        fi
        timed sftp -q "${SSH_OPTS[@]}" -P "$SSH_PORT" -b "$WORK/sftp.batch" "$remote" >/dev/null || status=$?
    fi
    srss=$(tree_poll_stop "$WORK/poll")
    ((status == 0)) || die "$tool $op failed (status $status); sshd log $WORK/ssh/sshd.log"
    row "$tool $op" "$tool" "$op" "$ELAPSED" "$RSS_KIB" "$srss"
    if [[ $op == put ]]; then
        check_same "$tool put" "$PEER/push.bin"
    else
        check_same "$tool get" "$DL/ssh.bin"
    fi
    rm -f -- "$PEER/push.bin" "$DL/ssh.bin"
}

run_curl() {
    local status=0
    rm -f -- "$DL/curl.bin"
    hwm_reset "${NGINX_WORKERS[@]}"
    timed curl -sS -o "$DL/curl.bin" "http://127.0.0.1:$NGINX_PORT/pull.bin" || status=$?
    ((status == 0)) || die "curl failed (status $status); log $WORK/nginx/error.log"
    row "curl get" "curl (nginx)" get "$ELAPSED" "$RSS_KIB" "$(hwm "${NGINX_WORKERS[@]}")"
    check_same "curl" "$DL/curl.bin"
    rm -f -- "$DL/curl.bin"
}

# ---- the runs ----------------------------------------------------------------

"$FT" put -H 127.0.0.1 -p "$FT_PORT" -q "$SRC" bench.bin 2>"$WORK/first-put.log" ||
    { cat "$WORK/first-put.log" >&2; die "the first (untimed) ft put failed"; }
START=$SECONDS
for ((round = 1; round <= RUNS; round++)); do
    run_nc
    run_hashpass
    for op in put get; do
        for v in "${FT_VARIANTS[@]}"; do run_ft "$op" "$v"; done
        if ((HAVE_RSYNC)); then run_rsync "$op"; fi
        if ((HAVE_SSH)); then run_ssh scp "$op"; run_ssh sftp "$op"; fi
    done
    if ((HAVE_NGINX)); then run_curl; fi
    say "round $round/$RUNS done ($((SECONDS - START)) s)"
done

# ---- the table ---------------------------------------------------------------

nc_med=$(key_median nc)
declare -A FT_REF=([put]=$(key_median "ft put default") [get]=$(key_median "ft get default"))
channel=$(grep -m1 -o -E 'channel Noise_[A-Za-z0-9_]+' "$WORK/ft-server.log" | awk '{ print $2 }' || true)

printf '\nft compare: %s (%d bytes) random, %d runs each, 127.0.0.1\n' "$SIZE_ARG" "$BYTES" "$RUNS"
printf 'ft %s; %s\n' "$TREE" "$(machine_line)"
printf '%-32s %-4s %9s %13s %8s %6s %6s %10s %10s\n' \
    tool dir 'median s' '(min-max)' 'MB/s' '/nc' '/ft' 'client KiB' 'server KiB'
for key in "${KEYS[@]}"; do
    m=$(key_median "$key")
    read -r lo hi < <(key_min_max "$key")
    d=${DIR[$key]}
    ref=-
    [[ $d == - ]] || ref=${FT_REF[$d]}
    printf '%-32s %-4s %9.3f %13s %8.1f %6s %6s %10s %10s\n' "${TOOL[$key]}" "$d" "$m" \
        "($lo-$hi)" "$(awk -v b="$BYTES" -v m="$m" 'BEGIN { print b / 1e6 / m }')" \
        "$(ratio "$m" "$nc_med")" "$(ratio "$m" "$ref")" \
        "${CLIENT_RSS[$key]}" "${SERVER_RSS[$key]}"
done
cat <<EOF

dir: put = client to server (push), get = server to client (pull).
median s: wall time, median of $RUNS; (min-max): fastest and slowest run.
/nc: median time over nc's; /ft: over ft (default) in the same direction
  (below 1.00 = faster than ft).
ft (default): encrypted (${channel:-channel not logged}) and BLAKE2b-256 verified;
  ft put includes the server's fsync and rename. No other tool here fsyncs.
rsync: to 'rsync --daemon' (no ssh), whole file (the target is removed before
  each push), rsync's own checksum. scp/sftp: OpenSSH, cipher ${SSH_CIPHER:-unknown},
  sshd with internal-sftp; scp uses the SFTP protocol (OpenSSH >= 9.0).
client KiB: peak RSS from /usr/bin/time -f %M (the largest single process
  of the command: for scp/sftp/rsync, ssh or a forked rsync may be it).
server KiB: ft: VmHWM of the ft server, reset before each run (clear_refs);
  nc: the listener's peak RSS; nginx: VmHWM of its one worker, reset;
  rsync daemon and sshd fork per connection: the sum of the peaks of the
  processes forked for the connection, polled every 0.1 s. Largest over runs.
EOF
grep -v -E 'serving .* port|^server key |^warning: (no token|--allow-plaintext)| connected$| disconnected after [0-9]+ ms$| ok$| channel |^ft serve: stopped' \
    "$WORK/ft-server.log" | head -n 20 | sed 's/^/ft server logged: /' >&2 || true
if ((FAILED)); then
    say "FAILED: some copy differed from the source; these numbers are void"
    exit 1
fi
say "all copies matched the source (cmp)"
