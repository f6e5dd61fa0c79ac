#!/usr/bin/env bash
# smallfiles.sh - many small files on 127.0.0.1: a tree of DIRS folders of
# PER_DIR random files of FILE_SIZE bytes (default 100 x 100 x 4 KiB =
# 10,000 files, 40 MiB), copied RUNS times (default 3) by:
#   ft put -r / ft get -r       (default: encrypted, verified, over one connection)
#   rsync -r push / pull        to an rsync daemon on a loopback port
#   rsync -r --fsync push       the same, each file flushed to disk before its
#                               rename (ft flushes the renames too)
#   scp -r put / get            to a private sshd on a loopback port
#   sftp put -r / get -r        (batch mode, -b) to the same sshd
# and prints the median seconds, files per second and the ratio of the time
# to ft's in the same direction. Every copy is compared with the
# source tree (diff -r); a difference fails the run (exit 1).
#
# Peers as in compare.sh: installed as root when missing, else skipped with
# a line. Environment: RUNS (default 3), DIRS (100), PER_DIR (100),
# FILE_SIZE (4096), BUILD_DIR, TMPDIR, PEERS (default "rsync ssh": which
# peers run beside ft; "rsync" alone keeps one yardstick and spares the slow
# scp and sftp rounds, as for a before/after of two ft builds).
# This measures; it asserts nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-3}
DIRS=${DIRS:-100}
PER_DIR=${PER_DIR:-100}
FILE_SIZE=${FILE_SIZE:-4096}
no_args_or_help "$@"
positive_ints RUNS DIRS PER_DIR FILE_SIZE
NFILES=$((DIRS * PER_DIR))
TOTAL=$((NFILES * FILE_SIZE))
PREFAULT_BYTES=$((2 * TOTAL)) # the copy, and room for its metadata

need_basics
make_work smallfiles
setup_ft
avail=$(free_kib "$WORK")
((avail > (9 * RUNS + 4) * TOTAL / 512 + 262144)) || die "$WORK has too little space for $((9 * RUNS + 4)) copies of $TOTAL bytes (set TMPDIR)"

SRC=$WORK/src          # the tree
PEER=$WORK/peer        # what rsyncd serves and scp/sftp write to
DL=$WORK/dl
mkdir -p "$SRC" "$PEER" "$DL"
say "making $NFILES files of $FILE_SIZE random bytes in $DIRS folders under $SRC"
for ((d = 0; d < DIRS; d++)); do
    mkdir "$SRC/d$d"
    head -c $((PER_DIR * FILE_SIZE)) /dev/urandom | (cd "$SRC/d$d" && split -b "$FILE_SIZE" -a 4 -d - f)
done
n=$(find "$SRC" -type f | wc -l)
((n == NFILES)) || die "made $n files, not $NFILES"
# What the peers serve for downloads: the same tree (hard links).
cp -al "$SRC" "$PEER/pull"

start_ft_server "$WORK/store" "$WORK/ft-server.log" -H 127.0.0.1
HAVE_RSYNC=0 HAVE_SSH=0
PEERS=${PEERS-rsync ssh}
if [[ " $PEERS " == *" rsync "* ]]; then start_rsyncd "$PEER" 127.0.0.1 && HAVE_RSYNC=1; fi
if [[ " $PEERS " == *" ssh "* ]]; then start_sshd && HAVE_SSH=1; fi
# ft get -r reads this copy on the server.
cp -al "$SRC" "$WORK/store/pull"

FAILED=0
same_tree() {
    if ! diff -r -q -- "$SRC" "$2" >"$WORK/diff.out" 2>&1; then
        say "WRONG COPY: $1: $2 differs from the source tree:"
        head -n 5 "$WORK/diff.out" >&2
        FAILED=1
    fi
}
declare -A DIR TOOL
row() { DIR[$1]=$3; TOOL[$1]=$2; record "$1" "$4" "$5" -; }
# Each copy starts from the same state: the source and the served tree in
# page cache, the destination absent, and nothing deleted just before. Every
# copy gets a fresh name and stays until the end: ext4 skips inodes freed
# in the last 30 s when it allocates, so creating 10,000 files right after
# deleting 10,000 (as 'rm -rf' of the previous copy would) costs up to ten
# times more, whichever tool does it.
warm() { cat "$SRC"/d*/f* "$PEER"/pull/d*/f* >/dev/null; sync; }

run_ft() {
    local op=$1 status=0
    ft_server_alive
    if [[ $op == put ]]; then
        warm
        timed "$FT" put -r -q -H 127.0.0.1 -p "$FT_PORT" "$SRC" "ft-push$round" || status=$?
        ((status == 0)) || die "ft put -r failed (status $status)"
        same_tree "ft put -r" "$WORK/store/ft-push$round"
    else
        mkdir "$DL/ft$round"
        warm
        timed "$FT" get -r -q -H 127.0.0.1 -p "$FT_PORT" pull "$DL/ft$round" || status=$?
        ((status == 0)) || die "ft get -r failed (status $status)"
        same_tree "ft get -r" "$DL/ft$round/pull"
    fi
    row "ft $op" "ft -r" "$op" "$ELAPSED" "$RSS_KIB"
}
run_rsync() {
    local op=$1 status=0
    if [[ $op == put ]]; then
        warm
        timed rsync -r "$SRC/" "rsync://127.0.0.1:$RSYNC_PORT/mod/rsync-push$round/" || status=$?
        ((status == 0)) || die "rsync push failed (status $status)"
        same_tree "rsync push" "$PEER/rsync-push$round"
    else
        warm
        timed rsync -r "rsync://127.0.0.1:$RSYNC_PORT/mod/pull/" "$DL/rsync$round/" || status=$?
        ((status == 0)) || die "rsync pull failed (status $status)"
        same_tree "rsync pull" "$DL/rsync$round"
    fi
    row "rsync $op" "rsync -r (daemon)" "$op" "$ELAPSED" "$RSS_KIB"
}
# rsync's push with ft's durability: each file flushed before it is renamed.
run_rsync_fsync() {
    local status=0
    warm
    timed rsync -r --fsync "$SRC/" "rsync://127.0.0.1:$RSYNC_PORT/mod/rsync-fsync$round/" || status=$?
    ((status == 0)) || die "rsync --fsync push failed (status $status)"
    same_tree "rsync --fsync push" "$PEER/rsync-fsync$round"
    row "rsync fsync put" "rsync -r --fsync" put "$ELAPSED" "$RSS_KIB"
}
run_scp() {
    local op=$1 status=0 remote=$SSH_USER@127.0.0.1
    if [[ $op == put ]]; then
        warm
        timed scp -q -r "${SSH_OPTS[@]}" -P "$SSH_PORT" "$SRC" "$remote:$PEER/scp-push$round" || status=$?
        ((status == 0)) || die "scp -r put failed (status $status)"
        same_tree "scp -r put" "$PEER/scp-push$round"
    else
        warm
        timed scp -q -r "${SSH_OPTS[@]}" -P "$SSH_PORT" "$remote:$PEER/pull" "$DL/scp$round" || status=$?
        ((status == 0)) || die "scp -r get failed (status $status)"
        same_tree "scp -r get" "$DL/scp$round"
    fi
    row "scp $op" "scp -r" "$op" "$ELAPSED" "$RSS_KIB"
}
run_sftp() {
    local op=$1 status=0
    if [[ $op == put ]]; then
        printf 'put -r %s %s\n' "$SRC" "$PEER/sftp-push$round" >"$WORK/sftp.batch"
    else
        printf 'get -r %s %s\n' "$PEER/pull" "$DL/sftp$round" >"$WORK/sftp.batch"
    fi
    warm
    timed sftp -q "${SSH_OPTS[@]}" -P "$SSH_PORT" -b "$WORK/sftp.batch" "$SSH_USER@127.0.0.1" \
        >/dev/null || status=$?
    ((status == 0)) || die "sftp $op -r failed (status $status)"
    if [[ $op == put ]]; then same_tree "sftp put -r" "$PEER/sftp-push$round"; else same_tree "sftp get -r" "$DL/sftp$round"; fi
    row "sftp $op" "sftp put -r / get -r" "$op" "$ELAPSED" "$RSS_KIB"
}

START=$SECONDS
for ((round = 1; round <= RUNS; round++)); do
    for op in put get; do
        run_ft "$op"
        if ((HAVE_RSYNC)); then run_rsync "$op"; fi
        if ((HAVE_RSYNC)) && [[ $op == put ]]; then run_rsync_fsync; fi
        if ((HAVE_SSH)); then run_scp "$op"; run_sftp "$op"; fi
    done
    say "round $round/$RUNS done ($((SECONDS - START)) s)"
done

declare -A FT_REF=([put]=$(key_median "ft put") [get]=$(key_median "ft get"))
printf '\nft smallfiles: %d files of %d bytes in %d folders (%d bytes), %d runs each, 127.0.0.1\n' \
    "$NFILES" "$FILE_SIZE" "$DIRS" "$TOTAL" "$RUNS"
printf 'ft %s; %s\n' "$TREE" "$(machine_line)"
printf '%-22s %-4s %9s %15s %9s %7s %7s %10s\n' tool dir 'median s' '(min-max)' 'files/s' 'MB/s' '/ft' 'client KiB'
for key in "${KEYS[@]}"; do
    m=$(key_median "$key")
    read -r lo hi < <(key_min_max "$key")
    printf '%-22s %-4s %9.3f %15s %9.0f %7.1f %7s %10s\n' "${TOOL[$key]}" "${DIR[$key]}" "$m" "($lo-$hi)" \
        "$(awk -v n="$NFILES" -v m="$m" 'BEGIN { print n / m }')" \
        "$(awk -v b="$TOTAL" -v m="$m" 'BEGIN { print b / 1e6 / m }')" \
        "$(ratio "$m" "${FT_REF[${DIR[$key]}]}")" "${CLIENT_RSS[$key]}"
done
cat <<EOF

dir: put = client to server (push), get = server to client (pull).
median s: wall time of the whole copy, median of $RUNS; files/s = files / median s.
/ft: median time over ft's in the same direction (above 1.00 = slower than
  ft, i.e. fewer files/s).
ft: encrypted and verified (default); on put the server makes every file
  durable before it renames it into place (syncfs per batch of 8 or more,
  else fsync); rsync, scp and sftp flush nothing, but rsync --fsync
  flushes each file it writes (before its rename).
scp/sftp: OpenSSH, cipher ${SSH_CIPHER:-unknown}, sshd with internal-sftp.
client KiB: peak RSS of the client command (largest single process).
Before each copy the trees are read into page cache and 'sync' is run, so
write-back of the previous copy does not land in the next one's time.
EOF
if ((FAILED)); then
    say "FAILED: some copy differed from the source; these numbers are void"
    exit 1
fi
say "all copies matched the source (diff -r)"
