#!/usr/bin/env bash
# memory.sh - peak RSS of the ft client and server moving a small file and a
# stream larger than most machines' memory, on 127.0.0.1.
#
#   SMALL (default 1M): a random file; put, get, put -z, get -z; RUNS (3)
#     runs each, the largest peak of each side.
#   BIG (default 8G): a stream of zeros from 'head -c BIG /dev/zero' piped
#     into 'ft put - big' (so the client's disk need not hold it; zeros are
#     the most compressible stream there is, which makes -z's inflate side
#     work hardest), then 'ft get big -' into /dev/null; the same with -z.
#     Once each. The server stores it, so BIG must fit on the store's disk:
#     the script checks with df first and, if BIG does not fit with a margin
#     (1 GiB + 10%), uses the largest whole GiB that does and says so. The
#     stored file is removed before each put and at the end.
# Peaks: the client's from /usr/bin/time -f %M (ft alone, not the pipe's
# other end), the server's from VmHWM in /proc, reset before each transfer
# (clear_refs). While BIG moves, the server's VmRSS is also sampled each
# second: the table shows its first and last sample, to show growth, if any.
# ft runs with its defaults (encrypted, verified).
#
# Environment: SMALL, BIG, RUNS, BUILD_DIR, TMPDIR (the store goes there).
# This measures; it asserts nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-3}
SMALL=${SMALL:-1M}
BIG=${BIG:-8G}
no_args_or_help "$@"
positive_ints RUNS
SMALL_B=$(size_bytes "$SMALL") || die "SMALL must look like 1M, not '$SMALL'"
BIG_B=$(size_bytes "$BIG") || die "BIG must look like 8G, not '$BIG'"

need_basics
make_work memory
setup_ft

# Room for BIG on the store's disk (one stored copy at a time)?
avail_b=$(($(free_kib "$WORK") * 1024))
fits_b=$(((avail_b - SMALL_B * 4 - (1 << 30)) * 10 / 11))
if ((BIG_B > fits_b)); then
    gib=$((fits_b >> 30))
    ((gib >= 1)) || die "$WORK has $((avail_b >> 20)) MiB free: not even 1 GiB fits (set TMPDIR)"
    say "NOTE: $BIG does not fit in $WORK ($((avail_b >> 20)) MiB free, 1 GiB + 10% kept back): using ${gib}G"
    BIG=${gib}G
    BIG_B=$((gib << 30))
else
    say "$WORK has $((avail_b >> 30)) GiB free: $BIG fits"
fi

head -c "$SMALL_B" /dev/urandom >"$WORK/small.src"
start_ft_server "$WORK/store" "$WORK/ft-server.log" -H 127.0.0.1
ft_cmd() { timed "$FT" "$1" -q -H 127.0.0.1 -p "$FT_PORT" "${@:2}"; }

# Server VmRSS once a second while a big transfer runs.
sample_start() {
    (
        while :; do
            awk '/^VmRSS:/ { print $2 }' "/proc/$FT_SERVER_PID/status" 2>/dev/null || true
            sleep 1
        done
    ) >"$WORK/samples" &
    SAMPLER=$!
    BG_PIDS+=("$SAMPLER")
}
sample_stop() {
    stop_pid "$SAMPLER"
    SAMPLES=$(awk 'NR == 1 { f = $1 } { l = $1; if ($1 > m) m = $1; n++ }
        END { if (n) printf "%s->%s (max %s, %d samples)", f, l, m, n; else print "-" }' "$WORK/samples")
}

declare -A SIZE_OF WHAT NOTE
one() { # one KEY SIZE_LABEL WHAT: after a timed ft command
    SIZE_OF[$1]=$2
    WHAT[$1]=$3
    record "$1" "$ELAPSED" "$RSS_KIB" "$(hwm "$FT_SERVER_PID")"
}

# ---- small -------------------------------------------------------------------
for ((round = 1; round <= RUNS; round++)); do
    for z in "" -z; do
        flags=()
        [[ -z $z ]] || flags=(-z)
        hwm_reset "$FT_SERVER_PID"
        ft_cmd put "${flags[@]}" "$WORK/small.src" small || die "put $SMALL failed"
        one "small put$z" "$SMALL" "ft put${z:+ $z} FILE"
        cmp -s "$WORK/small.src" "$WORK/store/small" || die "stored $SMALL copy differs"
        hwm_reset "$FT_SERVER_PID"
        ft_cmd get "${flags[@]}" small "$WORK/small.dl" || die "get $SMALL failed"
        one "small get$z" "$SMALL" "ft get${z:+ $z} NAME FILE"
        cmp -s "$WORK/small.src" "$WORK/small.dl" || die "downloaded $SMALL copy differs"
        rm -f "$WORK/small.dl"
    done
done
say "$SMALL done"

# ---- big ---------------------------------------------------------------------
# The digest of BIG zeros, to check the download without storing it.
ZERO_DIGEST=$(head -c "$BIG_B" /dev/zero | "$HASHPASS" | awk '{ print $1 }')
for z in "" -z; do
    flags=()
    [[ -z $z ]] || flags=(-z)
    rm -f "$WORK/store/big"
    sync
    hwm_reset "$FT_SERVER_PID"
    sample_start
    ft_cmd put "${flags[@]}" - big < <(head -c "$BIG_B" /dev/zero) || die "put of the $BIG stream failed"
    sample_stop
    one "big put$z" "$BIG" "head -c $BIG /dev/zero | ft put${z:+ $z} - big"
    NOTE["big put$z"]=$SAMPLES
    [[ $(stat -c %s "$WORK/store/big") -eq $BIG_B ]] || die "the stored $BIG stream has the wrong size"
    say "$BIG put${z:+ $z}: $(awk -v t="$ELAPSED" 'BEGIN { printf "%.1f", t }') s"
    hwm_reset "$FT_SERVER_PID"
    sample_start
    ft_cmd get "${flags[@]}" big - > >("$HASHPASS" >"$WORK/big.digest") || die "get of $BIG failed"
    sample_stop
    one "big get$z" "$BIG" "ft get${z:+ $z} big - | ft-hashpass"
    NOTE["big get$z"]=$SAMPLES
    # the process substitution may still be finishing its last read.
    for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -s $WORK/big.digest ]] && break; sleep 0.2; done
    [[ $(awk '{ print $1 }' "$WORK/big.digest") == "$ZERO_DIGEST" ]] ||
        die "the $BIG download's digest is not that of $BIG zeros"
    rm -f "$WORK/big.digest"
    say "$BIG get${z:+ $z}: $(awk -v t="$ELAPSED" 'BEGIN { printf "%.1f", t }') s"
done
rm -f "$WORK/store/big"
ft_server_alive

printf '\nft memory: peak RSS moving %s (random file, %d runs, largest peak) and %s (zeros through a pipe, once), 127.0.0.1\n' \
    "$SMALL" "$RUNS" "$BIG"
printf 'ft %s; %s\n' "$TREE" "$(machine_line)"
printf '%-6s %-42s %9s %8s %11s %11s %8s  %s\n' size what 'median s' 'MB/s' 'client KiB' 'server KiB' 'diff KiB' 'server VmRSS samples, KiB'
for key in "${KEYS[@]}"; do
    m=$(key_median "$key")
    c=${CLIENT_RSS[$key]} s=${SERVER_RSS[$key]}
    d=-
    [[ $c == - || $s == - ]] || d=$((c > s ? c - s : s - c))
    b=$SMALL_B
    [[ $key != big* ]] || b=$BIG_B
    printf '%-6s %-42s %9.3f %8.1f %11s %11s %8s  %s\n' "${SIZE_OF[$key]}" "${WHAT[$key]}" "$m" \
        "$(awk -v b="$b" -v m="$m" 'BEGIN { print b / 1e6 / m }')" "$c" "$s" "$d" "${NOTE[$key]:-}"
done
cat <<EOF

client KiB: peak RSS of the ft client (/usr/bin/time -f %M), largest over the runs.
server KiB: VmHWM of the ft server, reset before each transfer (clear_refs).
diff KiB: |client - server|. ft: encrypted ($(grep -m1 -o -E 'channel Noise_[A-Za-z0-9_]+' "$WORK/ft-server.log" | awk '{ print $2 }' || echo '?')) and verified.
The $BIG put includes the server's fsync of the whole file; the $BIG get's
  bytes are hashed (ft-hashpass) and checked against $BIG zeros, not stored.
EOF
say "every copy checked (cmp, or the digest of the zero stream)"
