#!/usr/bin/env bash
# s3_list.sh - listings of a store on S3: FILES (default 1000) small files in
# FOLDERS (10) folders put through `ft put -r` to one `ft serve --store
# s3://BUCKET/PREFIX`, then `ft ls -r` of them RUNS (5) times, and `ft ls` of
# one folder as many times; medians, min-max, files per second. A listing
# costs one ListObjectsV2 per 1000 keys and, since a listing carries no
# x-amz-meta-*, one HEAD per file (its mtime and mode): this is their price.
# Every listing's line count is checked against what was put. Measures;
# asserts nothing about speed.
#
# Needs a running engine: FT_S3_ENDPOINT, FT_S3_BUCKET and AWS_* (eval
# "$(scripts/radosgw.sh start)"); the files go under a fresh prefix,
# removed at the end. Environment: FILES, FOLDERS, RUNS, BUILD_DIR, TMPDIR.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

FILES=${FILES:-1000}
FOLDERS=${FOLDERS:-10}
RUNS=${RUNS:-5}
no_args_or_help "$@"
positive_ints FILES FOLDERS RUNS
: "${FT_S3_ENDPOINT:?a running engine: eval \"\$(scripts/radosgw.sh start)\"}"
: "${FT_S3_BUCKET:?}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}"

need_basics
make_work s3list
setup_ft
PREFIX=bench-s3-list-$(date +%s)-$$
log=$WORK/ft-serve.log
bg_start "$FT" serve --store "s3://$FT_S3_BUCKET/$PREFIX" --s3-endpoint "$FT_S3_ENDPOINT" \
    --key-file "$WORK/server.key" --anonymous list,read,write,delete \
    -H 127.0.0.1 --port 0 2>"$log"
SRV=$BG_PID
PORT=$(await_line "$log" 'serving .* port [0-9]+' "$SRV") || {
    cat "$log" >&2
    die "ft serve --store s3://... did not start"
}
ft1() { "$FT" "$1" -q -H 127.0.0.1 -p "$PORT" "${@:2}"; }
CLEANUP_CMDS+=("kill -0 $SRV 2>/dev/null && ft1 rm -r tree >/dev/null 2>&1")

say "writing $FILES files of 100 bytes in $FOLDERS folders"
for ((d = 0; d < FOLDERS; d++)); do
    mkdir -p "$WORK/tree/d$d"
done
for ((i = 0; i < FILES; i++)); do
    printf '%099d\n' "$i" >"$WORK/tree/d$((i % FOLDERS))/f$i"
done
t0=$EPOCHREALTIME
ft1 put -r "$WORK/tree" tree || die "ft put -r failed"
set_elapsed "$t0"
say "put -r: $ELAPSED s"

want_all=$((FILES + FOLDERS))
want_one=$(find "$WORK/tree/d0" -type f | wc -l)
LS=("$FT" ls -H 127.0.0.1 -p "$PORT")
# listed KEY WANT ARGS...: one timed ft ls, its lines checked.
listed() {
    local key=$1 want=$2 got
    shift 2
    timed "${LS[@]}" "$@" >"$WORK/ls.out" || die "ft ls $* failed"
    got=$(wc -l <"$WORK/ls.out")
    ((got == want)) || die "ft ls $* listed $got lines, not $want"
    record "$key ($want)" "$ELAPSED"
}
for ((r = 1; r <= RUNS; r++)); do
    listed "ls -r" "$want_all" -r tree
    listed "ls of one folder" "$want_one" tree/d0
done

printf '\n%-28s %10s %18s %10s\n' "$FILES files, $RUNS runs" "median s" "(min-max)" "entries/s"
for key in "${KEYS[@]}"; do
    n=${key##*(}
    n=${n%% *}
    n=${n%)}
    med=$(key_median "$key")
    printf '%-28s %10.3f %18s %10s\n' "$key" "$med" "($(key_min_max "$key" %.3f | tr ' ' -))" \
        "$(ratio "$n" "$med" %.0f)"
done
printf 'tree %s; engine %s\n' "$TREE" "$FT_S3_ENDPOINT"
machine_line
