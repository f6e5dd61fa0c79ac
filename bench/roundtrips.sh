#!/usr/bin/env bash
# roundtrips.sh - what one command of many requests costs on a long path:
# ft through delay.py (a relay on 127.0.0.1 holding every byte DELAY_MS
# each way, default 50: a 100 ms round trip, no root needed), with N
# (default 1000) files of FILE_SIZE (default 2000) bytes:
#   ls (connect, handshake and one request: the floor of every command)
#   put -r / get -r of the N files in one folder, ls -r of them
#   put of the N files named one by one (no -r), get of them likewise
#   stat, mkdir -p, mv into a folder and rm of N names
# and prints each command's wall time and that time in round trips. Every
# command must succeed (exit 1 otherwise; a build from before `ft mv` took
# several names says "not taken" on that row); the copies are compared
# with the source (cmp). Environment: N, FILE_SIZE, DELAY_MS, BUILD_DIR
# (a build of another tree gives the before of a before/after), TMPDIR.
# This measures; it asserts nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

N=${N:-1000}
FILE_SIZE=${FILE_SIZE:-2000}
DELAY_MS=${DELAY_MS:-50}
no_args_or_help "$@"
positive_ints N FILE_SIZE DELAY_MS

need_basics
make_work roundtrips
setup_ft
start_ft_server "$WORK/store" "$WORK/ft-server.log" -H 127.0.0.1
RELAY_PORT=$(pick_port)
bg_start python3 "$REPO/bench/delay.py" "$RELAY_PORT" "$FT_PORT" "$DELAY_MS" >"$WORK/relay.out"
await_line "$WORK/relay.out" '^ready' "$BG_PID" >/dev/null || die "delay.py did not start"

SRC=$WORK/src
mkdir -p "$SRC/tree" "$WORK/dl/flat"
for ((i = 0; i < N; i++)); do head -c "$FILE_SIZE" /dev/urandom >"$SRC/tree/f$i"; done
names=() flat=() dirs=() tree=()
for ((i = 0; i < N; i++)); do
    names+=("f$i") flat+=("flat/f$i") dirs+=("made/d$i") tree+=("tree/f$i")
done

say "$N files of $FILE_SIZE bytes through a relay of ${DELAY_MS} ms each way (tree $TREE)"
printf '%-34s %9s %10s\n' command seconds "round trips"
# row LABEL CMD...: times CMD (in the current folder), which must succeed;
# the one mv of many names is a usage error (2) for a build from before
# it, and its row then says so.
row() {
    local label=$1 status=0
    shift
    timed "$@" >/dev/null 2>"$WORK/err" || status=$?
    if ((status == 2)) && [[ $label == mv* ]]; then
        printf '%-34s %9s %10s
' "$label" - "not taken"
        return
    fi
    ((status == 0)) || { cat "$WORK/err" >&2; die "$label failed (exit $status)"; }
    awk -v l="$label" -v s="$ELAPSED" -v d="$DELAY_MS" \
        'BEGIN { printf "%-34s %9.2f %10.1f\n", l, s, s * 1000 / (2 * d) }'
}
P=(--port "$RELAY_PORT")
row "ls (connect + one request)" "$FT" ls "${P[@]}"
row "put -r, $N files" "$FT" put "${P[@]}" -r "$SRC/tree" tree
row "get -r, $N files" "$FT" get "${P[@]}" -r tree "$WORK/dl/tree"
row "ls -r, $N entries" "$FT" ls "${P[@]}" -r
cd "$SRC/tree"
row "put, $N files named" "$FT" put "${P[@]}" "${names[@]}" flat/
cd "$WORK/dl"
row "get, $N files named" "$FT" get "${P[@]}" "${flat[@]}" flat
row "stat, $N names" "$FT" stat "${P[@]}" "${flat[@]}"
row "mkdir -p, $N names" "$FT" mkdir "${P[@]}" -p "${dirs[@]}"
row "mv, $N names into a folder" "$FT" mv "${P[@]}" "${flat[@]}" made/
row "rm, $N names" "$FT" rm "${P[@]}" "${tree[@]}"
for ((i = 0; i < N; i++)); do
    for copy in "$WORK/dl/tree/f$i" "$WORK/dl/flat/f$i"; do
        cmp -s "$SRC/tree/f$i" "$copy" || die "$copy differs from the source"
    done
done
machine_line
