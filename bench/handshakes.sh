#!/usr/bin/env bash
# handshakes.sh - new connections per second, before and after a change to
# the handshake, in one run: the ft of BUILD_DIR against the ft of BASE_REF
# (default 8297069~1, the last commit with the NX handshake, in which the
# client proves no key), each client against its own build's server on
# 127.0.0.1. One connection is the whole handshake and one quick STAT
# (bench/connect.c, built against each build's library; the new one proves
# one key pair, made once, as a program that keeps its key does). Rounds alternate old and new, RUNS
# rounds (default 5) of SECONDS_EACH seconds each (default 5), without a
# token. It prints the median connections per second of each and their
# ratio new/old. This measures; it asserts nothing about speed.
#
# Environment: RUNS (5), SECONDS_EACH (5), BASE_REF (8297069~1), BUILD_DIR.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-5}
SECONDS_EACH=${SECONDS_EACH:-5}
BASE_REF=${BASE_REF:-8297069~1}
no_args_or_help "$@"
positive_ints RUNS SECONDS_EACH
need_basics
make_work handshakes
setup_ft
git -C "$REPO" rev-parse --verify -q "$BASE_REF^{commit}" >/dev/null ||
    die "BASE_REF $BASE_REF is not a commit of $REPO"

# The old build, from the commit's own tree, and a client for each build.
say "building $BASE_REF in $WORK/base"
mkdir -p "$WORK/base-src"
git -C "$REPO" archive "$BASE_REF" | tar -x -C "$WORK/base-src"
cmake -S "$WORK/base-src" -B "$WORK/base" -DCMAKE_BUILD_TYPE=Release -DFT_TESTS=OFF >/dev/null
cmake --build "$WORK/base" -j2 --target ft ftcore >/dev/null
read -r -a LIBS <<<"$(pkg-config --libs libsodium zlib) -lpthread"
build_client() { # SRC_DIR BUILD OUT
    cc -O2 -std=c11 -I"$1/include" "$REPO/bench/connect.c" "$2/libftcore.a" \
        "${LIBS[@]}" -o "$3"
}
build_client "$WORK/base-src" "$WORK/base" "$WORK/bin/connect-old"
build_client "$REPO" "$BUILD_DIR" "$WORK/bin/connect-new"
cp -- "$WORK/base/ft" "$WORK/bin/ft-old"
cp -- "$FT" "$WORK/bin/ft-new"

# one_run WHICH: connections per second on stdout.
one_run() {
    local which=$1 root=$WORK/store-$1 out
    rm -rf -- "$root"
    mkdir -p "$root"
    printf 'x\n' >"$root/x"
    FT=$WORK/bin/ft-$which start_ft_server "$root" "$WORK/serve-$which.log"
    out=$("$WORK/bin/connect-$which" "$FT_PORT" "$SECONDS_EACH" x 2>&1) ||
        die "connect-$which: $out"
    stop_pid "$FT_SERVER_PID"
    [[ $out =~ ([0-9]+)\ per\ second ]] || die "connect-$which: $out"
    echo "${BASH_REMATCH[1]}"
}

declare -A RATES
for ((r = 1; r <= RUNS; r++)); do
    for which in old new; do
        RATES[$which]+="$(one_run "$which")"$'\n'
    done
    say "round $r of $RUNS done"
done

old=$(printf '%s' "${RATES[old]}" | median)
new=$(printf '%s' "${RATES[new]}" | median)
printf '\nNew connections per second, one client, 127.0.0.1, median of %d runs of %d s\n' "$RUNS" "$SECONDS_EACH"
printf 'old: %s (%s)   new: %s (tree %s)\n' "$BASE_REF" "$(git -C "$REPO" rev-parse --short "$BASE_REF")" "$BUILD_DIR" "$TREE"
printf '%-8s %10s %10s %s\n' build "conn/s" "min-max" ""
for which in old new; do
    printf '%-8s %10.0f %10s\n' "$which" "$(printf '%s' "${RATES[$which]}" | median)" \
        "$(printf '%s' "${RATES[$which]}" | min_max %.0f | tr ' ' -)"
done
printf 'new/old: %s\n' "$(ratio "$new" "$old")"
